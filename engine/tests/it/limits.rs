//! Bounded input (issue 10, findings 3 and 4; `docs/security.md` T-DATA): no value, script
//! result or model of any size or depth ends the process, and nothing is stored that cannot be
//! read back.

use engine::{MAX_VALUE_DEPTH, Value};
use serde_json::json;

use crate::harness::{Env, bpmn, flows, start, vars};

/// A JSON document nested `depth` levels deep: `[[[…]]]`.
fn nested(depth: usize) -> serde_json::Value {
    let mut value = json!(1);
    for _ in 0..depth {
        value = serde_json::Value::Array(vec![value]);
    }
    value
}

fn script_process(script: &str) -> String {
    bpmn(&format!(
        r#"<bpmn:startEvent id="s"/>
        <bpmn:scriptTask id="deep" scriptFormat="rhai"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
        <bpmn:userTask id="after"/>
        {}"#,
        flows("f1: s -> deep\nf2: deep -> after")
    ))
}

/// A variable deeper than the limit is refused with the command, naming the variable; one at
/// the limit is stored and the state it is in serialises and reads back.
#[test]
fn a_variable_nested_too_deep_is_refused_at_the_command() {
    let env = Env::new();
    let xml = bpmn(&format!(r#"<bpmn:startEvent id="s"/><bpmn:userTask id="t"/>{}"#, flows("f1: s -> t")));
    let refused = env.run(&xml, &[start(vars(&[("doc", Value::Json(nested(126)))]))]);
    let last = refused.log.last().cloned().unwrap_or_default();
    assert!(last.starts_with("error InvalidCommand") && last.contains("doc"), "{last}");
    assert!(refused.state.is_none(), "nothing was started");

    let accepted = env.run(&xml, &[start(vars(&[("doc", Value::Json(nested(MAX_VALUE_DEPTH - 1)))]))]);
    let state = accepted.state();
    let text = serde_json::to_string(state).expect("the state serialises");
    let back: engine::InstanceState = serde_json::from_str(&text).expect("and reads back");
    assert_eq!(&back, state);
}

/// A variable set later (task completion, set variables) is held to the same limit.
#[test]
fn every_command_that_sets_variables_checks_depth() {
    let env = Env::new();
    let xml = bpmn(&format!(r#"<bpmn:startEvent id="s"/><bpmn:userTask id="t"/>{}"#, flows("f1: s -> t")));
    let deep = vars(&[("doc", Value::Json(nested(MAX_VALUE_DEPTH + 1)))]);
    let scenario = env.run(
        &xml,
        &[
            start(vars(&[])),
            crate::harness::Cmd::SetVariables(deep.clone(), Vec::new()),
            crate::harness::Cmd::Complete("t", deep),
        ],
    );
    let errors: Vec<&String> = scenario.log.iter().filter(|line| line.starts_with("error")).collect();
    assert_eq!(errors.len(), 2, "{:#?}", scenario.log);
    assert!(errors.iter().all(|line| line.contains("InvalidCommand")), "{errors:?}");
    assert_eq!(scenario.tasks().len(), 1, "the task is still open");
}

/// A script that builds a value nested deeper than the limit is an incident on its token; a
/// script that builds one 9 000 deep (which used to overflow the stack and abort the server)
/// is an incident too, on a thread with the stack `serve` gives its runtime.
#[test]
fn a_script_building_deep_values_is_an_incident_not_a_crash() {
    std::thread::Builder::new()
        .stack_size(engine::RUNTIME_STACK_BYTES)
        .spawn(deep_scripts)
        .expect("thread starts")
        .join()
        .expect("no panic");
}

fn deep_scripts() {
    let env = Env::new();
    for depth in [MAX_VALUE_DEPTH + 1, 2_000, 9_000] {
        let script = format!("let a = []; for i in 0..{depth} {{ a = [a]; }} result = a;");
        let scenario = env.run(&script_process(&script), &[start(vars(&[]))]);
        let incident = scenario.log.iter().find(|line| line.starts_with("incident deep"));
        assert!(incident.is_some_and(|line| line.contains("nested")), "depth {depth}: {:#?}", scenario.log);
        let text = serde_json::to_string(scenario.state()).expect("the state serialises");
        let _: engine::InstanceState = serde_json::from_str(&text).expect("and reads back");
    }
}

/// A model with 50 000 nested elements inside `extensionElements` is refused at parse, with
/// the element named, instead of overflowing the stack.
#[test]
fn a_model_nested_too_deep_is_refused_not_a_crash() {
    let env = Env::new();
    let depth = 50_000;
    let mut junk = String::with_capacity(depth * 12);
    for _ in 0..depth {
        junk.push_str("<x:a>");
    }
    for _ in 0..depth {
        junk.push_str("</x:a>");
    }
    let xml = bpmn(&format!(
        r#"<bpmn:startEvent id="s"><bpmn:extensionElements xmlns:x="urn:x">{junk}</bpmn:extensionElements></bpmn:startEvent>"#
    ));
    let Err(error) = env.parse(&xml) else { panic!("a model nested {depth} deep was accepted") };
    assert!(error.to_string().contains("nested"), "{error}");
}
