//! User tasks, service tasks and script tasks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use engine::{Event, HandlerRegistry, InstanceStatus, ParseError, Problem, TaskSpec, Value};

use crate::harness::{Cmd, Env, assert_lines, bpmn, flows, int, start, text, tokens, vars};

fn single_task(task: &str) -> String {
    bpmn(&format!(
        r#"<bpmn:startEvent id="start"/>{task}<bpmn:endEvent id="end"/>{}"#,
        flows("f1: start -> t\nf2: t -> end")
    ))
}

fn created_tasks(events: &[Event]) -> Vec<TaskSpec> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::TaskCreated(spec) => Some(spec.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn user_task_attributes_are_evaluated_into_the_task_spec() {
    let xml = single_task(
        r#"<bpmn:userTask id="t" name="Review" camunda:assignee="${starter}" camunda:candidateUsers="a, b"
              camunda:candidateGroups="${dept}, audit" camunda:priority="${prio}"
              camunda:formKey="embedded:app:forms/review.html" camunda:dueDate="${due}"
              camunda:followUpDate="2030-01-01">
             <bpmn:documentation> Check the application </bpmn:documentation>
           </bpmn:userTask>"#,
    );
    let env = Env::new();
    let model = env.deploy(&xml);
    let runtime = env.runtime(&model, 0);
    let (state, events) = runtime
        .start(vars(&[
            ("starter", text("li")),
            ("dept", text("district")),
            ("prio", int(80)),
            ("due", Value::Date("2030-02-01T00:00:00".into())),
        ]))
        .expect("starts");
    assert_eq!(
        created_tasks(&events),
        [TaskSpec {
            token: 2,
            element_id: "t".into(),
            name: Some("Review".into()),
            documentation: Some("Check the application".into()),
            assignee: Some("li".into()),
            candidate_users: vec!["a".into(), "b".into()],
            candidate_groups: vec!["district".into(), "audit".into()],
            form_key: Some("embedded:app:forms/review.html".into()),
            due_date: Some("2030-02-01T00:00:00".into()),
            follow_up_date: Some("2030-01-01".into()),
            priority: 80,
        }]
    );
    assert_eq!(tokens(&state), ["t#2 Waiting"]);
}

#[test]
fn user_task_lists_from_json_arrays_and_empty_values() {
    let xml = single_task(
        r#"<bpmn:userTask id="t" camunda:assignee="${boss}" camunda:candidateUsers="${users}"
              camunda:candidateGroups="${groups}"/>"#,
    );
    let run = Env::new().run(
        &xml,
        &[start(vars(&[
            ("boss", text("")),
            ("users", Value::Json(serde_json::json!(["x", " y ", "", 7]))),
            ("groups", text("g1,,g2 , ")),
        ]))],
    );
    // An empty assignee is no assignee; list items are trimmed, empty ones dropped; no priority is 50.
    assert_eq!(run.tasks(), ["task t#2 users=x,y,7 groups=g1,g2"]);
}

#[test]
fn a_bad_user_task_expression_is_an_incident_that_can_be_retried() {
    let xml = single_task(r#"<bpmn:userTask id="t" camunda:assignee="${starter}" camunda:priority="${prio}"/>"#);
    let env = Env::new();
    let mut run = env.run(&xml, &[start(vars(&[("starter", text("li")), ("prio", text("high"))]))]);
    assert_eq!(run.log.last().map(String::as_str), Some("incident t#2: task priority 'high' is not a whole number"));
    assert_eq!(tokens(run.state()), ["t#2 Incident(Enter)"]);
    // A task with an incident cannot be completed.
    let refused = run.apply(&env, Cmd::Complete("t", vars(&[])));
    assert_lines(
        &refused,
        &["> complete t#2", "error InvalidCommand(\"element instance 2 is not a waiting user task\")"],
    );
    run.apply(&env, Cmd::SetVariables(vars(&[("prio", int(7))]), vec![]));
    let retried = run.apply(&env, Cmd::Retry("t"));
    assert_lines(&retried, &["> retry t#2", "resolved t#2", "task t#2 assignee=li priority=7"]);
    assert_eq!(tokens(run.state()), ["t#2 Waiting"]);
}

#[test]
fn an_assignee_naming_a_missing_variable_is_an_incident() {
    let xml = single_task(r#"<bpmn:userTask id="t" camunda:assignee="${starter}"/>"#);
    let run = Env::new().run(&xml, &[start(vars(&[]))]);
    assert_lines(
        &run.log,
        &[
            "> start",
            "start start#1",
            "end start#1",
            "start t#2",
            "incident t#2: expression 'starter' failed: Variable not found: starter*",
        ],
    );
}

/// Records every call as `handler@element`.
fn recording_handlers() -> (HandlerRegistry, Arc<Mutex<Vec<String>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let mut handlers = HandlerRegistry::new();
    let log = calls.clone();
    handlers.register("score", move |call| {
        log.lock().expect("lock").push(format!("{}@{}", call.handler, call.element_id));
        let amount = match call.variables.get("amount") {
            Some(Value::Integer(amount)) => i64::from(*amount),
            other => return Err(format!("amount missing: {other:?}").into()),
        };
        Ok(vars(&[("score", Value::from_i64(amount * 2))]))
    });
    let log = calls.clone();
    handlers.register("notify", move |call| {
        log.lock().expect("lock").push(format!("{}@{}", call.handler, call.element_id));
        Ok(vars(&[("notified", Value::Boolean(true))]))
    });
    let log = calls.clone();
    let attempts = Arc::new(AtomicUsize::new(0));
    handlers.register("flaky", move |call| {
        log.lock().expect("lock").push(format!("{}@{}", call.handler, call.element_id));
        match attempts.fetch_add(1, Ordering::SeqCst) {
            0 => Err("upstream down".into()),
            n => Ok(vars(&[("attempts", Value::from_i64(n as i64 + 1))])),
        }
    });
    (handlers, calls)
}

#[test]
fn service_tasks_call_registered_handlers_and_a_failure_is_an_incident() {
    let (handlers, calls) = recording_handlers();
    let xml = bpmn(&format!(
        r#"<bpmn:startEvent id="start"/>
        <bpmn:serviceTask id="s1" sy:handler="score"/>
        <bpmn:serviceTask id="s2" camunda:delegateExpression="${{notify}}"/>
        <bpmn:serviceTask id="s3" sy:handler="flaky" camunda:delegateExpression="${{notify}}"/>
        <bpmn:endEvent id="end"/>
        {}"#,
        flows("f1: start -> s1\nf2: s1 -> s2\nf3: s2 -> s3\nf4: s3 -> end")
    ));
    let env = Env::with_handlers(handlers);
    let mut run = env.run(&xml, &[start(vars(&[("amount", int(21))]))]);
    assert_lines(
        &run.log,
        &[
            "> start amount=Integer(21)",
            "var amount=Integer(21)",
            "start start#1",
            "end start#1",
            "start s1#2",
            "var score=Integer(42)",
            "end s1#2",
            "start s2#3",
            "var notified=Boolean(true)",
            "end s2#3",
            "start s3#4",
            "incident s3#4: upstream down",
        ],
    );
    assert_eq!(run.state().status, InstanceStatus::Active);
    assert_eq!(tokens(run.state()), ["s3#4 Incident(Enter)"]);
    let retried = run.apply(&env, Cmd::Retry("s3"));
    assert_lines(
        &retried,
        &[
            "> retry s3#4",
            "resolved s3#4",
            "var attempts=Integer(2)",
            "end s3#4",
            "start end#5",
            "end end#5",
            "instance Completed",
        ],
    );
    // sy:handler wins over camunda:delegateExpression; a failed call is called again on retry.
    assert_eq!(*calls.lock().expect("lock"), ["score@s1", "notify@s2", "flaky@s3", "flaky@s3"]);
}

#[test]
fn service_tasks_without_a_registered_handler_are_refused_at_parse() {
    let (handlers, _) = recording_handlers();
    let env = Env::with_handlers(handlers);
    let cases = [
        (r#"sy:handler="nope""#, "no service-task handler named 'nope' is registered"),
        (r#"camunda:delegateExpression="${nope}""#, "no service-task handler named 'nope' is registered"),
        (
            r#"camunda:class="org.example.Delegate""#,
            "Java delegates and expressions cannot run here: name a registered handler with sy:handler or camunda:delegateExpression=\"${handlerName}\"",
        ),
        (
            r#"camunda:expression="${bean.run()}""#,
            "Java delegates and expressions cannot run here: name a registered handler with sy:handler or camunda:delegateExpression=\"${handlerName}\"",
        ),
        (
            "",
            "the service task has no implementation: set sy:handler (or camunda:delegateExpression) to a registered handler name",
        ),
        (r#"camunda:type="external" camunda:topic=" ""#, "an external task needs camunda:topic"),
    ];
    for (attributes, message) in cases {
        let xml = single_task(&format!(r#"<bpmn:serviceTask id="t" {attributes}/>"#));
        assert_eq!(
            env.parse(&xml).map(|_| ()),
            Err(ParseError::Invalid(vec![Problem {
                element_id: Some("t".into()),
                element_type: "serviceTask".into(),
                message: message.into(),
            }])),
            "{attributes}"
        );
    }
}

#[test]
fn script_failures_are_incidents_not_panics() {
    let env = Env::new();
    let cases = [
        ("x = 1 / 0;", "incident t#2: script failed: Division by zero*"),
        ("let i = 0; loop { i += 1; }", "incident t#2: script failed: Too many operations*"),
        ("throw \"boom\";", "incident t#2: script failed: Runtime error: boom*"),
        ("x = undefined_function(1);", "incident t#2: script failed: Function not found: undefined_function*"),
        ("x = missing + 1;", "incident t#2: script failed: Variable not found: missing*"),
        ("f = Fn(\"abs\");", "incident t#2: a script produced a value of type 'Fn' that cannot be stored"),
        ("let s = \"x\"; loop { s += s; }", "incident t#2: script failed: *"),
    ];
    for (script, incident) in cases {
        let xml = single_task(&format!(
            r#"<bpmn:scriptTask id="t" scriptFormat="rhai"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>"#
        ));
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| env.run(&xml, &[start(vars(&[]))])))
            .unwrap_or_else(|_| panic!("script {script:?} panicked the engine"));
        assert_lines(&run.log, &["> start", "start start#1", "end start#1", "start t#2", incident]);
        assert_eq!(run.state().status, InstanceStatus::Active, "{script}");
        assert_eq!(tokens(run.state()), ["t#2 Incident(Enter)"], "{script}");
        // Nothing the failed script assigned was written.
        assert!(run.state().variables().is_empty(), "{script}");
    }
}

#[test]
fn a_script_incident_can_be_retried_after_fixing_variables() {
    let xml = single_task(
        r#"<bpmn:scriptTask id="t" scriptFormat="rhai"><bpmn:script>share = total / parts</bpmn:script></bpmn:scriptTask>"#,
    );
    let env = Env::new();
    let mut run = env.run(&xml, &[start(vars(&[("total", int(10)), ("parts", int(0))]))]);
    assert!(run.log.last().is_some_and(|line| line.starts_with("incident t#2: script failed: Division by zero")));
    run.apply(&env, Cmd::SetVariables(vars(&[("parts", int(4))]), vec![]));
    let retried = run.apply(&env, Cmd::Retry("t"));
    assert_lines(
        &retried,
        &[
            "> retry t#2",
            "resolved t#2",
            "var share=Integer(2)",
            "end t#2",
            "start end#3",
            "end end#3",
            "instance Completed",
        ],
    );
}

#[test]
fn scripts_do_not_rewrite_variables_they_do_not_touch() {
    // rhai has one integer type and no JSON scalars: a variable the script leaves alone must keep
    // its value and type (and produce no VariableSet event); a Long it changes stays a Long.
    let xml = single_task(
        r#"<bpmn:scriptTask id="t" scriptFormat="rhai"><bpmn:script>big = big + 1; y = when.len()</bpmn:script></bpmn:scriptTask>"#,
    );
    let initial = vars(&[
        ("big", Value::Long(5)),
        ("small", Value::Long(6)),
        ("huge", Value::Json(serde_json::json!({"id": u64::MAX, "f": 1.5, "n": null}))),
        ("scalar", Value::Json(serde_json::json!("s"))),
        ("when", Value::Date("2030-01-01".into())),
        ("ratio", Value::Double(2.0)),
        ("nothing", Value::Null),
    ]);
    let run = Env::new().run(&xml, &[start(initial.clone())]);
    let during: Vec<&String> =
        run.log.iter().skip_while(|line| *line != "start t#2").filter(|line| line.starts_with("var ")).collect();
    assert_eq!(during, ["var big=Long(6)", "var y=Integer(10)"]);
    let mut expected = initial;
    expected.insert("big".into(), Value::Long(6));
    expected.insert("y".into(), Value::Integer(10));
    assert_eq!(run.state().variables(), &expected);
}

#[test]
fn a_script_that_does_not_compile_is_refused_at_parse() {
    let xml = single_task(
        r#"<bpmn:scriptTask id="t" scriptFormat="rhai"><bpmn:script>x = (1 +</bpmn:script></bpmn:scriptTask>"#,
    );
    match Env::new().parse(&xml) {
        Err(ParseError::Invalid(problems)) => {
            assert_eq!(problems.len(), 1);
            assert_eq!(
                (problems[0].element_id.as_deref(), problems[0].element_type.as_str()),
                (Some("t"), "scriptTask")
            );
            assert!(problems[0].message.starts_with("the script does not compile: "), "{}", problems[0].message);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
