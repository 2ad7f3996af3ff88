//! Embedded sub-processes, terminate end events, cancellation, commands that are refused, and the
//! step limit.

use engine::state::ROOT_SCOPE;
use engine::{InstanceStatus, Value};

use crate::harness::{Cmd, Env, Scenario, assert_lines, bpmn, complete, flows, int, start, tokens, vars};

/// start → sub [s_start → inner (user task) → calc (script) → s_end] → after (script) → end.
fn sub_process() -> String {
    bpmn(&format!(
        r#"<bpmn:startEvent id="start"/>
        <bpmn:subProcess id="sub" name="Inner work">
          <bpmn:startEvent id="s_start"/>
          <bpmn:userTask id="inner"/>
          <bpmn:scriptTask id="calc" scriptFormat="rhai"><bpmn:script>inner_done = true</bpmn:script></bpmn:scriptTask>
          <bpmn:endEvent id="s_end"/>
          {}
        </bpmn:subProcess>
        <bpmn:scriptTask id="after" scriptFormat="rhai"><bpmn:script>copied = inner_done</bpmn:script></bpmn:scriptTask>
        <bpmn:endEvent id="end"/>
        {}"#,
        flows("s1: s_start -> inner\ns2: inner -> calc\ns3: calc -> s_end"),
        flows("f1: start -> sub\nf2: sub -> after\nf3: after -> end")
    ))
}

#[test]
fn embedded_sub_process_runs_in_a_child_scope() {
    let env = Env::new();
    let mut run = env.run(&sub_process(), &[start(vars(&[]))]);
    assert_lines(
        &run.log,
        &[
            "> start",
            "start start#1",
            "end start#1",
            "start sub#2",
            "start s_start#3 in #2",
            "end s_start#3",
            "start inner#4 in #2",
            "task inner#4",
        ],
    );
    let state = run.state();
    assert_eq!(tokens(state), ["sub#2 InScope", "inner#4 Waiting in #2"]);
    let scopes: Vec<_> = state.scopes.iter().map(|scope| (scope.id, scope.parent, scope.activity)).collect();
    assert_eq!(scopes, [(ROOT_SCOPE, None, None), (2, Some(ROOT_SCOPE), Some(2))]);

    let done = run.apply(&env, complete("inner", vars(&[])));
    assert_lines(
        &done,
        &[
            "> complete inner#4",
            "end inner#4",
            "start calc#5 in #2",
            // A new variable written inside the sub-process lands on the process (Camunda's setVariable).
            "var inner_done=Boolean(true)",
            "end calc#5",
            "start s_end#6 in #2",
            "end s_end#6",
            "end sub#2",
            "start after#7",
            "var copied=Boolean(true)",
            "end after#7",
            "start end#8",
            "end end#8",
            "instance Completed",
        ],
    );
    assert_eq!(run.state().scopes.len(), 1);
    assert!(run.state().tokens.is_empty());
}

#[test]
fn terminate_end_event_in_a_parallel_branch_cancels_everything() {
    let xml = bpmn(&format!(
        r#"<bpmn:startEvent id="start"/>
        <bpmn:parallelGateway id="fork"/>
        <bpmn:userTask id="a"/>
        <bpmn:subProcess id="sub">
          <bpmn:startEvent id="s_start"/>
          <bpmn:userTask id="inner"/>
          {}
        </bpmn:subProcess>
        <bpmn:endEvent id="kill"><bpmn:terminateEventDefinition/></bpmn:endEvent>
        <bpmn:endEvent id="end"/>
        {}"#,
        flows("s1: s_start -> inner"),
        flows("f0: start -> fork\nf1: fork -> a\nf2: fork -> sub\nf3: fork -> kill\nf4: a -> end\nf5: sub -> end")
    ));
    let env = Env::new();
    let mut run = env.run(&xml, &[start(vars(&[]))]);
    assert_lines(
        &run.log,
        &[
            "> start",
            "start start#1",
            "end start#1",
            "start fork#2",
            "end fork#2",
            "start a#3",
            "start sub#4",
            "start kill#5",
            "task a#3",
            "start s_start#6 in #4",
            "end kill#5",
            "end a#3 canceled",
            // The sub-process's start event was still queued: it is canceled, never run.
            "end s_start#6 canceled",
            "end sub#4 canceled",
            "instance Terminated",
        ],
    );
    assert_eq!(run.state().status, InstanceStatus::Terminated);
    assert!(run.state().tokens.is_empty());
    assert_eq!(run.state().scopes.len(), 1);
    let refused = run.apply(&env, complete("a", vars(&[])));
    assert_lines(&refused, &["> complete a#0", "error InvalidCommand(\"the process instance has ended\")"]);
}

#[test]
fn terminate_end_event_inside_a_sub_process_ends_only_the_sub_process() {
    let xml = bpmn(&format!(
        r#"<bpmn:startEvent id="start"/>
        <bpmn:subProcess id="sub">
          <bpmn:startEvent id="s_start"/>
          <bpmn:parallelGateway id="sfork"/>
          <bpmn:userTask id="inner"/>
          <bpmn:endEvent id="kill"><bpmn:terminateEventDefinition/></bpmn:endEvent>
          {}
        </bpmn:subProcess>
        <bpmn:userTask id="after"/>
        <bpmn:endEvent id="end"/>
        {}"#,
        flows("s1: s_start -> sfork\ns2: sfork -> inner\ns3: sfork -> kill"),
        flows("f1: start -> sub\nf2: sub -> after\nf3: after -> end")
    ));
    let env = Env::new();
    let mut run = env.run(&xml, &[start(vars(&[]))]);
    assert_lines(
        &run.log,
        &[
            "> start",
            "start start#1",
            "end start#1",
            "start sub#2",
            "start s_start#3 in #2",
            "end s_start#3",
            "start sfork#4 in #2",
            "end sfork#4",
            "start inner#5 in #2",
            "start kill#6 in #2",
            "task inner#5",
            "end kill#6",
            "end inner#5 canceled",
            "end sub#2",
            "start after#7",
            "task after#7",
        ],
    );
    assert_eq!(run.state().status, InstanceStatus::Active);
    let done = run.apply(&env, complete("after", vars(&[])));
    assert_eq!(done.last().map(String::as_str), Some("instance Completed"));
}

#[test]
fn cancel_ends_every_token_and_commands_on_an_ended_instance_are_refused() {
    let env = Env::new();
    let mut run = env.run(&sub_process(), &[start(vars(&[("x", int(1))]))]);
    assert_eq!(tokens(run.state()), ["sub#2 InScope", "inner#4 Waiting in #2"]);

    // Unknown ids are NotFound while the instance runs.
    let commands = [Cmd::CompleteToken(99, vars(&[])), Cmd::RetryToken(99)];
    let lines: Vec<String> = commands.into_iter().flat_map(|command| run.apply(&env, command)).collect();
    assert_lines(
        &lines,
        &[
            "> complete #99",
            "error NotFound(\"no active task with id 99\")",
            "> retry #99",
            "error NotFound(\"no incident on element instance 99\")",
        ],
    );

    let canceled = run.apply(&env, Cmd::Cancel);
    assert_lines(&canceled, &["> cancel", "end inner#4 canceled", "end sub#2 canceled", "instance Canceled"]);
    assert_eq!(run.state().status, InstanceStatus::Canceled);
    assert!(run.state().tokens.is_empty());
    assert_eq!(run.state().scopes.len(), 1);
    let before = run.state().clone();

    let commands = [
        Cmd::CompleteToken(4, vars(&[])),
        Cmd::CompleteToken(99, vars(&[])),
        Cmd::SetVariables(vars(&[("x", int(2))]), vec![]),
        Cmd::RetryToken(4),
        Cmd::Cancel,
    ];
    let lines: Vec<String> = commands.into_iter().flat_map(|command| run.apply(&env, command)).collect();
    let ended = "error InvalidCommand(\"the process instance has ended\")";
    assert_lines(
        &lines,
        &[
            "> complete #4",
            ended,
            "> complete #99",
            ended,
            "> set x=Integer(2)",
            ended,
            "> retry #4",
            ended,
            "> cancel",
            ended,
        ],
    );
    assert_eq!(run.state(), &before, "a refused command changes nothing");
}

#[test]
fn a_completed_instance_refuses_commands() {
    let env = Env::new();
    let xml = bpmn(&format!(r#"<bpmn:startEvent id="s"/><bpmn:endEvent id="e"/>{}"#, flows("f: s -> e")));
    let mut run: Scenario = env.run(&xml, &[start(vars(&[]))]);
    assert_lines(&run.log, &["> start", "start s#1", "end s#1", "start e#2", "end e#2", "instance Completed"]);
    let lines = run.apply(&env, Cmd::CompleteToken(2, vars(&[])));
    assert_lines(&lines, &["> complete #2", "error InvalidCommand(\"the process instance has ended\")"]);
}

#[test]
fn a_loop_without_wait_state_hits_the_step_limit_and_becomes_an_incident() {
    // start → a (i = i + 1) → b → a → …: each round is 4 steps (enter/leave a, enter/leave b).
    let xml = bpmn(&format!(
        r#"<bpmn:startEvent id="start"/>
        <bpmn:scriptTask id="a" scriptFormat="rhai"><bpmn:script>i = i + 1</bpmn:script></bpmn:scriptTask>
        <bpmn:task id="b"/>
        {}"#,
        flows("f0: start -> a\nf1: a -> b\nf2: b -> a")
    ));
    let env = Env::new();
    let mut run = env.run(&xml, &[start(vars(&[("i", int(0))]))]);
    // Steps 1-2 are the start event; `a` is entered at steps 3, 7, …, 9999 (2500 times); step
    // 10 001 would enter b's token #5001.
    let incident = "incident b#5001: more than 10000 steps without a wait state: is there a loop?";
    assert_eq!(run.log.last().map(String::as_str), Some(incident));
    assert_eq!(run.log.iter().filter(|line| line.starts_with("incident")).count(), 1);
    assert_eq!(run.state().status, InstanceStatus::Active);
    assert_eq!(tokens(run.state()), ["b#5001 Incident(Enter)"]);
    assert_eq!(run.state().variables().get("i"), Some(&Value::Integer(2500)));

    // A retry gets a fresh budget and stops again, 10 000 steps later.
    let retried = run.apply(&env, Cmd::Retry("b"));
    assert_eq!(retried[..2], ["> retry b#5001", "resolved b#5001"]);
    assert_eq!(
        retried.last().map(String::as_str),
        Some("incident b#10001: more than 10000 steps without a wait state: is there a loop?")
    );
    assert_eq!(run.state().variables().get("i"), Some(&Value::Integer(5000)));
}
