//! The rhai benchmark workloads (`tests/fixtures/workloads/rhai/`, copied from the shared benchmark
//! harness) run to the results their
//! README documents.

use std::path::PathBuf;

use engine::{InstanceStatus, Value};

use crate::harness::{Cmd, Env, assert_lines, boolean, bpmn, complete, flows, int, start, tokens, vars};

fn workload(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/workloads/rhai").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn linear_counts_to_ten() {
    let env = Env::new();
    let run = env.run(&workload("linear.bpmn"), &[start(vars(&[]))]);
    let mut expected = vec!["> start".to_string(), "start start#1".into(), "end start#1".into()];
    for k in 1..=10 {
        let token = k + 1;
        expected.push(format!("start task{k}#{token}"));
        expected.push(format!("var counter=Integer({k})"));
        expected.push(format!("end task{k}#{token}"));
    }
    expected.extend(["start end#12".into(), "end end#12".into(), "instance Completed".into()]);
    assert_lines(&run.log, &expected.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.state().status, InstanceStatus::Completed);
    assert_eq!(run.state().variables().get("counter"), Some(&int(10)));
    assert!(run.state().tokens.is_empty());
}

#[test]
fn script_result_variable_and_locals() {
    // resultVariable takes the script's value; `let` locals are not written back.
    let xml = bpmn(&format!(
        r#"<bpmn:startEvent id="s"/>
        <bpmn:scriptTask id="calc" scriptFormat="rhai" camunda:resultVariable="sum">
          <bpmn:script>let tmp = 40; counter = counter + 1; tmp + counter</bpmn:script>
        </bpmn:scriptTask>
        <bpmn:endEvent id="e"/>
        {}"#,
        flows("f1: s -> calc\nf2: calc -> e")
    ));
    let run = Env::new().run(&xml, &[start(vars(&[("counter", int(1))]))]);
    assert_lines(
        &run.log,
        &[
            "> start counter=Integer(1)",
            "var counter=Integer(1)",
            "start s#1",
            "end s#1",
            "start calc#2",
            "var counter=Integer(2)",
            "var sum=Integer(42)",
            "end calc#2",
            "start e#3",
            "end e#3",
            "instance Completed",
        ],
    );
    assert!(!run.state().variables().contains_key("tmp"));
}

fn expected_route(n: i64) -> &'static str {
    let amount = (n * 7919) % 2000;
    if amount < 100 {
        "low"
    } else if amount < 1000 {
        "mid"
    } else {
        "high"
    }
}

#[test]
fn xor_routes_one_instance() {
    // n = 3: amount = 23757 % 2000 = 1757 → no condition holds → default flow fHigh.
    let run = Env::new().run(&workload("xor.bpmn"), &[start(vars(&[("n", int(3))]))]);
    assert_lines(
        &run.log,
        &[
            "> start n=Integer(3)",
            "var n=Integer(3)",
            "start start#1",
            "end start#1",
            "start setAmount#2",
            "var amount=Integer(1757)",
            "end setAmount#2",
            "start split#3",
            "end split#3",
            "start route_high#4",
            "var route=String(\"high\")",
            "end route_high#4",
            "start merge#5",
            "end merge#5",
            "start end#6",
            "end end#6",
            "instance Completed",
        ],
    );
}

#[test]
fn xor_routes_by_amount_over_a_full_period() {
    // 7919 is prime to 2000, so n = 0..2000 gives every amount once: exactly 5% / 45% / 50%.
    let env = Env::new();
    let model = env.deploy(&workload("xor.bpmn"));
    let runtime = env.runtime(&model, 0);
    let mut counts = std::collections::BTreeMap::new();
    for n in 0..2000i64 {
        let (state, events) = runtime.start(vars(&[("n", Value::from_i64(n))])).expect("starts");
        let route = expected_route(n);
        assert_eq!(state.status, InstanceStatus::Completed, "n={n}");
        assert_eq!(state.variables().get("amount"), Some(&Value::from_i64((n * 7919) % 2000)), "n={n}");
        assert_eq!(state.variables().get("route"), Some(&Value::String(route.into())), "n={n}");
        let visited: Vec<String> = events
            .iter()
            .filter_map(|event| match event {
                engine::Event::ActivityStarted { element_id, .. } if element_id.starts_with("route_") => {
                    Some(element_id.clone())
                }
                _ => None,
            })
            .collect();
        assert_eq!(visited, vec![format!("route_{route}")], "n={n}");
        *counts.entry(route).or_insert(0) += 1;
    }
    assert_eq!(counts, [("high", 1000), ("low", 100), ("mid", 900)].into_iter().collect());
}

#[test]
fn parallel_sets_all_branches_and_joins_once() {
    let run = Env::new().run(&workload("parallel.bpmn"), &[start(vars(&[]))]);
    assert_lines(
        &run.log,
        &[
            "> start",
            "start start#1",
            "end start#1",
            "start fork#2",
            "end fork#2",
            "start branch1#3",
            "start branch2#4",
            "start branch3#5",
            "start branch4#6",
            "var b1=Integer(1)",
            "var b2=Integer(2)",
            "var b3=Integer(3)",
            "var b4=Integer(4)",
            "end branch1#3",
            "start join#7",
            "end branch2#4",
            "start join#8",
            "end branch3#5",
            "start join#9",
            "end branch4#6",
            "start join#10",
            "end join#7",
            "end join#8",
            "end join#9",
            "end join#10",
            "start end#11",
            "end end#11",
            "instance Completed",
        ],
    );
    let variables = run.state().variables();
    for k in 1..=4 {
        assert_eq!(variables.get(&format!("b{k}")), Some(&int(k)));
    }
    assert_eq!(run.log.iter().filter(|line| line.starts_with("start end#")).count(), 1, "the join fires once");
}

#[test]
fn approval_happy_path() {
    let yes = || vars(&[("approved", boolean(true))]);
    let run = Env::new().run(
        &workload("approval.bpmn"),
        &[start(vars(&[])), complete("districtReview", yes()), complete("cityReview", yes())],
    );
    assert_lines(
        &run.log,
        &[
            "> start",
            "start start#1",
            "end start#1",
            "start mergeDistrict#2",
            "end mergeDistrict#2",
            "start districtReview#3",
            "task districtReview#3",
            "> complete districtReview#3 approved=Boolean(true)",
            "var approved=Boolean(true)",
            "end districtReview#3",
            "start districtApproved#4",
            "end districtApproved#4",
            "start cityReview#5",
            "task cityReview#5",
            "> complete cityReview#5 approved=Boolean(true)",
            "end cityReview#5",
            "start cityApproved#6",
            "end cityApproved#6",
            "start end#7",
            "end end#7",
            "instance Completed",
        ],
    );
}

#[test]
fn approval_reject_revise_approve() {
    let decide = |approved: bool| vars(&[("approved", boolean(approved))]);
    let mut commands = vec![start(vars(&[]))];
    commands.extend([
        complete("districtReview", decide(false)),
        complete("applicantRevise", vars(&[])),
        complete("districtReview", decide(true)),
        complete("cityReview", decide(false)),
        complete("applicantRevise", vars(&[])),
        complete("districtReview", decide(true)),
        complete("cityReview", decide(true)),
    ]);
    let run = Env::new().run(&workload("approval.bpmn"), &commands);
    let visited: Vec<String> = run
        .tasks()
        .iter()
        .map(|line| line.trim_start_matches("task ").split('#').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        visited,
        [
            "districtReview",
            "applicantRevise",
            "districtReview",
            "cityReview",
            "applicantRevise",
            "districtReview",
            "cityReview"
        ]
    );
    assert_eq!(run.state().status, InstanceStatus::Completed);
    assert!(run.log.iter().all(|line| !line.starts_with("error") && !line.starts_with("incident")));
    assert_eq!(tokens(run.state()), Vec::<String>::new());
}

#[test]
fn approval_waits_at_each_task() {
    // After each command exactly one user task is waiting.
    let env = Env::new();
    let mut run = env.run(&workload("approval.bpmn"), &[start(vars(&[]))]);
    assert_eq!(tokens(run.state()), ["districtReview#3 Waiting"]);
    run.apply(&env, Cmd::Complete("districtReview", vars(&[("approved", boolean(false))])));
    assert_eq!(tokens(run.state()), ["applicantRevise#6 Waiting"]);
    assert_eq!(run.state().status, InstanceStatus::Active);
}
