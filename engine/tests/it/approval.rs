//! 退回 (`Runtime::return_to`) and the return targets the model offers.

use engine::{Event, Variables};

use crate::harness::{Env, bpmn, flows, tokens};

/// apply → (district review ‖ finance check) → join → city review → end.
fn parallel_model() -> String {
    bpmn(&format!(
        r#"<bpmn:startEvent id="start"/>
           <bpmn:userTask id="apply" camunda:assignee="applicant"/>
           <bpmn:parallelGateway id="split"/>
           <bpmn:userTask id="district" camunda:candidateGroups="district-staff"/>
           <bpmn:userTask id="finance" camunda:candidateGroups="finance"/>
           <bpmn:parallelGateway id="join"/>
           <bpmn:userTask id="city" camunda:candidateGroups="city-staff"/>
           <bpmn:endEvent id="end"/>{}"#,
        flows(
            "f1: start -> apply\nf2: apply -> split\nf3: split -> district\nf4: split -> finance\n\
             f5: district -> join\nf6: finance -> join\nf7: join -> city\nf8: city -> end"
        )
    ))
}

fn token_at(state: &engine::InstanceState, element: &str) -> u64 {
    state.tokens.iter().find(|token| token.element == element).map(|token| token.id).expect("token at element")
}

#[test]
fn return_to_the_applicant_cancels_both_parallel_branches() {
    let env = Env::new();
    let model = env.deploy(&parallel_model());
    let runtime = env.runtime(&model, 0);
    let (mut state, _) = runtime.start(Variables::new()).expect("starts");
    let apply = token_at(&state, "apply");
    runtime.complete_task(&mut state, apply, Variables::new()).expect("applies");
    let finance = token_at(&state, "finance");
    runtime.complete_task(&mut state, finance, Variables::new()).expect("finance done");
    assert_eq!(tokens(&state), ["district#4 Waiting", "join#6 Joining"]);
    assert_eq!(runtime.return_candidates(&state, 4), ["apply"]);

    let events = runtime.return_to(&mut state, 4, "apply", Some("applicant".into())).expect("returns");
    assert_eq!(tokens(&state), ["apply#7 Waiting"]);
    let created: Vec<_> = events
        .iter()
        .filter_map(|event| match event {
            Event::TaskCreated(spec) => Some((spec.element_id.as_str(), spec.assignee.as_deref())),
            _ => None,
        })
        .collect();
    assert_eq!(created, [("apply", Some("applicant"))]);
    let canceled = events.iter().filter(|event| matches!(event, Event::ActivityEnded { canceled: true, .. })).count();
    assert_eq!(canceled, 2, "the open branch task and the parked join arrival");
}

#[test]
fn return_inside_a_branch_leaves_the_other_branch_alone() {
    let xml = bpmn(&format!(
        r#"<bpmn:startEvent id="start"/>
           <bpmn:parallelGateway id="split"/>
           <bpmn:userTask id="a1"/><bpmn:userTask id="a2"/>
           <bpmn:userTask id="b1"/>
           <bpmn:parallelGateway id="join"/>
           <bpmn:endEvent id="end"/>{}"#,
        flows(
            "f1: start -> split\nf2: split -> a1\nf3: a1 -> a2\nf4: a2 -> join\nf5: split -> b1\n\
             f6: b1 -> join\nf7: join -> end"
        )
    ));
    let env = Env::new();
    let model = env.deploy(&xml);
    let runtime = env.runtime(&model, 0);
    let (mut state, _) = runtime.start(Variables::new()).expect("starts");
    let a1 = token_at(&state, "a1");
    runtime.complete_task(&mut state, a1, Variables::new()).expect("a1 done");
    let b1 = token_at(&state, "b1");
    runtime.complete_task(&mut state, b1, Variables::new()).expect("b1 done");
    let a2 = token_at(&state, "a2");
    assert_eq!(runtime.return_candidates(&state, a2), ["a1"]);
    runtime.return_to(&mut state, a2, "a1", None).expect("returns");
    let mut now = tokens(&state);
    now.sort();
    assert_eq!(now, ["a1#7 Waiting", "join#6 Joining"], "b1's arrival at the join stays");
    let a1 = token_at(&state, "a1");
    runtime.complete_task(&mut state, a1, Variables::new()).expect("a1 again");
    let a2 = token_at(&state, "a2");
    runtime.complete_task(&mut state, a2, Variables::new()).expect("a2 again");
    assert!(!state.is_active(), "the join fires with b1's earlier arrival");
}

#[test]
fn return_to_a_later_or_unknown_task_is_refused() {
    let env = Env::new();
    let model = env.deploy(&parallel_model());
    let runtime = env.runtime(&model, 0);
    let (mut state, _) = runtime.start(Variables::new()).expect("starts");
    let apply = token_at(&state, "apply");
    assert!(runtime.return_to(&mut state, apply, "nowhere", None).is_err());
    assert!(runtime.return_to(&mut state, 999, "apply", None).is_err());
}

/// 三人会签, two votes decide (pass ratio 2/3): the completion condition reads the vote counts,
/// the gateway after it the process-level copy.
fn voting_model() -> String {
    bpmn(
        r#"<bpmn:startEvent id="start"/>
           <bpmn:userTask id="vote" camunda:assignee="${voter}">
             <bpmn:multiInstanceLoopCharacteristics camunda:collection="${voters}" camunda:elementVariable="voter">
               <bpmn:completionCondition>${nrOfApproved &gt;= 2 || nrOfRejected &gt;= 2}</bpmn:completionCondition>
             </bpmn:multiInstanceLoopCharacteristics>
           </bpmn:userTask>
           <bpmn:exclusiveGateway id="decide" default="no"/>
           <bpmn:endEvent id="passed"/><bpmn:endEvent id="failed"/>
           <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="vote"/>
           <bpmn:sequenceFlow id="f2" sourceRef="vote" targetRef="decide"/>
           <bpmn:sequenceFlow id="yes" sourceRef="decide" targetRef="passed">
             <bpmn:conditionExpression>${vote_approved &gt;= 2}</bpmn:conditionExpression>
           </bpmn:sequenceFlow>
           <bpmn:sequenceFlow id="no" sourceRef="decide" targetRef="failed"/>"#,
    )
}

fn run_vote(votes: &[bool]) -> (bool, Vec<String>) {
    let env = Env::new();
    let model = env.deploy(&voting_model());
    let runtime = env.runtime(&model, 0);
    let voters = engine::Value::Json(serde_json::json!(["a", "b", "c"]));
    let (mut state, _) = runtime.start(Variables::from([("voters".to_string(), voters)])).expect("starts");
    let mut ended = Vec::new();
    for &approved in votes {
        let Some(token) = state
            .tokens
            .iter()
            .find(|token| {
                token.element == "vote"
                    && token.state == engine::state::TokenState::Waiting
                    && state
                        .scope(token.scope)
                        .is_some_and(|scope| scope.kind == engine::state::ScopeKind::MultiInstanceItem)
            })
            .map(|token| token.id)
        else {
            break;
        };
        runtime.count_vote(&mut state, token, approved).expect("counts");
        for event in runtime.complete_task(&mut state, token, Variables::new()).expect("completes") {
            if let Event::ActivityEnded { element_id, canceled: false, .. } = event
                && (element_id == "passed" || element_id == "failed")
            {
                ended.push(element_id);
            }
        }
    }
    (state.is_active(), ended)
}

#[test]
fn pass_ratio_voting_decides_after_two_matching_votes() {
    assert_eq!(run_vote(&[true, true]), (false, vec!["passed".to_string()]));
    assert_eq!(run_vote(&[true, false, false]), (false, vec!["failed".to_string()]));
    assert_eq!(run_vote(&[false, true, true]), (false, vec!["passed".to_string()]));
    assert!(run_vote(&[true]).0, "one vote decides nothing");
}
