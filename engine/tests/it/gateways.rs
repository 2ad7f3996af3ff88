//! Exclusive and parallel gateways.

use engine::state::{Phase, TokenState};
use engine::{InstanceStatus, Value};

use crate::harness::{Cmd, Env, assert_lines, bpmn, complete, flows, int, start, text, tokens, vars};

/// start → gw: `${amount > 1000}` → big, `${amount > 100}` → medium, default → small; each a
/// script task writing `size`, then end.
fn xor_with_default() -> String {
    let tasks: String = ["big", "medium", "small"]
        .iter()
        .map(|size| {
            format!(
                r#"<bpmn:scriptTask id="{size}" scriptFormat="rhai"><bpmn:script>size = "{size}"</bpmn:script></bpmn:scriptTask>
                <bpmn:sequenceFlow id="to_end_{size}" sourceRef="{size}" targetRef="end"/>"#
            )
        })
        .collect();
    bpmn(&format!(
        r#"<bpmn:startEvent id="start"/>
        <bpmn:exclusiveGateway id="gw" default="toSmall"/>
        {tasks}
        <bpmn:endEvent id="end"/>
        {}"#,
        // The default flow is listed first: it must still only be taken when nothing else holds.
        flows(
            "f1: start -> gw
             toSmall: gw -> small
             toBig: gw -> big if ${amount > 1000}
             toMedium: gw -> medium if ${amount gt 100 and amount le 1000}"
        )
    ))
}

#[test]
fn exclusive_gateway_takes_the_first_true_condition_or_the_default() {
    let env = Env::new();
    let xml = xor_with_default();
    for (amount, expected) in
        [(5000, "big"), (1001, "big"), (1000, "medium"), (101, "medium"), (100, "small"), (-3, "small")]
    {
        let run = env.run(&xml, &[start(vars(&[("amount", int(amount))]))]);
        assert_lines(
            &run.log,
            &[
                &format!("> start amount=Integer({amount})"),
                &format!("var amount=Integer({amount})"),
                "start start#1",
                "end start#1",
                "start gw#2",
                "end gw#2",
                &format!("start {expected}#3"),
                &format!("var size=String(\"{expected}\")"),
                &format!("end {expected}#3"),
                "start end#4",
                "end end#4",
                "instance Completed",
            ],
        );
    }
}

/// start → gw (no default): `${kind == "a"}` → a, `${kind == 'b'}` → b; user tasks a / b → end.
fn xor_without_default() -> String {
    bpmn(&format!(
        r#"<bpmn:startEvent id="start"/>
        <bpmn:exclusiveGateway id="gw"/>
        <bpmn:userTask id="a"/>
        <bpmn:userTask id="b"/>
        <bpmn:endEvent id="end"/>
        {}"#,
        flows(
            r#"f1: start -> gw
               toA: gw -> a if ${kind == "a"}
               toB: gw -> b if ${kind eq 'b'}
               fa: a -> end
               fb: b -> end"#
        )
    ))
}

#[test]
fn no_true_condition_and_no_default_is_an_incident_that_can_be_retried() {
    let env = Env::new();
    let mut run = env.run(&xor_without_default(), &[start(vars(&[("kind", text("c"))]))]);
    assert_lines(
        &run.log,
        &[
            "> start kind=String(\"c\")",
            "var kind=String(\"c\")",
            "start start#1",
            "end start#1",
            "start gw#2",
            "incident gw#2: exclusive gateway 'gw': no condition is true and there is no default flow",
        ],
    );
    // The instance stays active and keeps the token, marked with the incident.
    let state = run.state();
    assert_eq!(state.status, InstanceStatus::Active);
    assert_eq!(tokens(state), ["gw#2 Incident(Enter)"]);
    let incidents: Vec<_> = state.incidents().map(|(token, message)| (token.id, message.to_string())).collect();
    assert_eq!(
        incidents,
        [(2, "exclusive gateway 'gw': no condition is true and there is no default flow".to_string())]
    );

    // Retrying without fixing anything fails the same way, on the same token.
    let again = run.apply(&env, Cmd::Retry("gw"));
    assert_lines(
        &again,
        &[
            "> retry gw#2",
            "resolved gw#2",
            "incident gw#2: exclusive gateway 'gw': no condition is true and there is no default flow",
        ],
    );

    // Fix the variable, retry: the gateway moves on.
    let fixed = run.apply(&env, Cmd::SetVariables(vars(&[("kind", text("b"))]), vec![]));
    assert_lines(&fixed, &["> set kind=String(\"b\")", "var kind=String(\"b\")"]);
    let retried = run.apply(&env, Cmd::Retry("gw"));
    assert_lines(&retried, &["> retry gw#2", "resolved gw#2", "end gw#2", "start b#3", "task b#3"]);
    assert_eq!(tokens(run.state()), ["b#3 Waiting"]);
    assert_eq!(run.state().incidents().count(), 0);

    // Retrying a token that has no incident is refused.
    let refused = run.apply(&env, Cmd::Retry("b"));
    assert_lines(&refused, &["> retry b#3", "error InvalidCommand(\"element instance 3 has no incident\")"]);

    let done = run.apply(&env, complete("b", vars(&[])));
    assert_lines(&done, &["> complete b#3", "end b#3", "start end#4", "end end#4", "instance Completed"]);
}

#[test]
fn a_failing_condition_is_an_incident_and_deleting_a_variable_can_cause_one() {
    let env = Env::new();
    // `kind` is missing: evaluating the condition fails.
    let mut run = env.run(&xor_without_default(), &[start(vars(&[]))]);
    assert_lines(
        &run.log,
        &[
            "> start",
            "start start#1",
            "end start#1",
            "start gw#2",
            "incident gw#2: expression '${kind == \"a\"}' failed: *",
        ],
    );
    assert!(matches!(
        run.state().token(2).map(|token| &token.state),
        Some(TokenState::Incident { phase: Phase::Enter, .. })
    ));
    let fixed = run.apply(&env, Cmd::SetVariables(vars(&[("kind", text("a"))]), vec![]));
    assert_lines(&fixed, &["> set kind=String(\"a\")", "var kind=String(\"a\")"]);
    let retried = run.apply(&env, Cmd::Retry("gw"));
    assert_lines(&retried, &["> retry gw#2", "resolved gw#2", "end gw#2", "start a#3", "task a#3"]);
    // Deleting a variable is reported as set to Null with the previous value.
    let deleted = run.apply(&env, Cmd::SetVariables(vars(&[]), vec!["kind".into(), "never_set".into()]));
    assert_lines(&deleted, &["> set -kind -never_set", "var kind=Null"]);
    assert!(run.state().variables().is_empty());
}

#[test]
fn a_non_boolean_condition_is_an_incident() {
    let xml = bpmn(&format!(
        r#"<bpmn:startEvent id="start"/><bpmn:exclusiveGateway id="gw" default="fd"/>
        <bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>{}"#,
        flows("f1: start -> gw\nfc: gw -> e1 if ${amount + 1}\nfd: gw -> e2")
    ));
    let run = Env::new().run(&xml, &[start(vars(&[("amount", int(1))]))]);
    assert_eq!(
        run.log.last().map(String::as_str),
        Some("incident gw#2: condition '${amount + 1}' evaluated to Integer instead of a boolean")
    );
}

#[test]
fn conditional_flows_out_of_an_activity_take_every_true_one() {
    // Outside gateways, every flow whose condition holds is taken (and the default only when none).
    let xml = bpmn(&format!(
        r#"<bpmn:startEvent id="start"/><bpmn:task id="t" default="fd"/>
        <bpmn:userTask id="x"/><bpmn:userTask id="y"/><bpmn:userTask id="z"/>{}"#,
        flows("f1: start -> t\nfx: t -> x if ${n > 1}\nfy: t -> y if ${n > 2}\nfd: t -> z")
    ));
    let env = Env::new();
    for (n, expected) in [(5, vec!["x#3 Waiting", "y#4 Waiting"]), (2, vec!["x#3 Waiting"]), (0, vec!["z#3 Waiting"])] {
        let run = env.run(&xml, &[start(vars(&[("n", int(n))]))]);
        assert_eq!(tokens(run.state()), expected, "n={n}");
    }
}

/// start → fork → user tasks a, b and script c → join → end.
fn parallel_user_tasks() -> String {
    bpmn(&format!(
        r#"<bpmn:startEvent id="start"/>
        <bpmn:parallelGateway id="fork"/>
        <bpmn:userTask id="a"/>
        <bpmn:userTask id="b"/>
        <bpmn:scriptTask id="c" scriptFormat="rhai"><bpmn:script>c = true</bpmn:script></bpmn:scriptTask>
        <bpmn:parallelGateway id="join"/>
        <bpmn:endEvent id="end"/>
        {}"#,
        // A condition on a flow out of a parallel gateway is ignored (BPMN 2.0 §13.3.2).
        flows(
            "f0: start -> fork
             fa: fork -> a if ${false}
             fb: fork -> b
             fc: fork -> c
             ja: a -> join
             jb: b -> join
             jc: c -> join
             fe: join -> end"
        )
    ))
}

#[test]
fn parallel_join_waits_for_every_branch() {
    let env = Env::new();
    let mut run = env.run(&parallel_user_tasks(), &[start(vars(&[]))]);
    assert_lines(
        &run.log,
        &[
            "> start",
            "start start#1",
            "end start#1",
            "start fork#2",
            "end fork#2",
            "start a#3",
            "start b#4",
            "start c#5",
            "task a#3",
            "task b#4",
            "var c=Boolean(true)",
            "end c#5",
            "start join#6",
        ],
    );
    assert_eq!(tokens(run.state()), ["a#3 Waiting", "b#4 Waiting", "join#6 Joining"]);

    let after_b = run.apply(&env, complete("b", vars(&[("b", int(2))])));
    assert_lines(&after_b, &["> complete b#4 b=Integer(2)", "var b=Integer(2)", "end b#4", "start join#7"]);
    assert_eq!(tokens(run.state()), ["a#3 Waiting", "join#6 Joining", "join#7 Joining"]);
    assert_eq!(run.state().status, InstanceStatus::Active);

    // The joining token is not a user task; the completed one is gone.
    let not_a_task = run.apply(&env, Cmd::CompleteToken(6, vars(&[])));
    assert_lines(
        &not_a_task,
        &["> complete #6", "error InvalidCommand(\"element instance 6 is not a waiting user task\")"],
    );
    let gone = run.apply(&env, Cmd::CompleteToken(4, vars(&[])));
    assert_lines(&gone, &["> complete #4", "error NotFound(\"no active task with id 4\")"]);

    let after_a = run.apply(&env, complete("a", vars(&[])));
    assert_lines(
        &after_a,
        &[
            "> complete a#3",
            "end a#3",
            "start join#8",
            // The join consumes one arrival per incoming flow, in the order of its incoming flows
            // (ja: #8, jb: #7, jc: #6), and moves on with the arriving token.
            "end join#7",
            "end join#6",
            "end join#8",
            "start end#9",
            "end end#9",
            "instance Completed",
        ],
    );
    assert!(run.state().tokens.is_empty());
    assert_eq!(run.state().variables().get("c"), Some(&Value::Boolean(true)));
}

#[test]
fn a_join_counts_arrivals_per_flow_not_tokens() {
    // Two branches merge through an exclusive gateway, so two tokens reach the join by the same
    // flow `m`. The join needs one token per incoming flow (`m` and `s`): it must wait for `slow`,
    // fire once, and leave the second `m` token waiting for a next round.
    let xml = bpmn(&format!(
        r#"<bpmn:startEvent id="start"/>
        <bpmn:parallelGateway id="fork"/>
        <bpmn:task id="t1"/>
        <bpmn:task id="t2"/>
        <bpmn:userTask id="slow"/>
        <bpmn:exclusiveGateway id="xm"/>
        <bpmn:parallelGateway id="join"/>
        <bpmn:endEvent id="end"/>
        {}"#,
        flows(
            "f0: start -> fork
             f1: fork -> t1
             f2: fork -> t2
             f3: fork -> slow
             x1: t1 -> xm
             x2: t2 -> xm
             m: xm -> join
             s: slow -> join
             fe: join -> end"
        )
    ));
    let env = Env::new();
    let mut run = env.run(&xml, &[start(vars(&[]))]);
    assert_eq!(tokens(run.state()), ["slow#5 Waiting", "join#8 Joining", "join#9 Joining"]);
    let lines = run.apply(&env, complete("slow", vars(&[])));
    assert_lines(
        &lines,
        &[
            "> complete slow#5",
            "end slow#5",
            "start join#10",
            "end join#8",
            "end join#10",
            "start end#11",
            "end end#11",
        ],
    );
    assert_eq!(tokens(run.state()), ["join#9 Joining"]);
    assert_eq!(run.state().status, InstanceStatus::Active);
}
