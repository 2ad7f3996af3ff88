//! Racing commands: exactly one wins, the other gets a conflict, and the instance moves once.

use std::sync::Arc;

use engine::Value;
use runtime::Executor;
use runtime::executor::now_millis;
use store::TaskHistoryQuery;
use tokio::sync::Barrier;

use crate::models::APPROVAL;
use crate::support::{Cx, approval_vars, decision, each_backend, executor_for};

const ROUNDS: usize = 10;

/// Two `complete_task` calls on one task, released together. Returns the winner's actor.
async fn race_complete(cx: &Cx, executors: [Arc<Executor>; 2], task_id: &str) -> String {
    let barrier = Arc::new(Barrier::new(2));
    let mut handles = Vec::new();
    for (executor, user) in executors.into_iter().zip(["alice", "bob"]) {
        let barrier = barrier.clone();
        let task_id = task_id.to_string();
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut variables = decision(false);
            variables.insert("decidedBy".into(), Value::String(user.into()));
            (user, executor.complete_task(&task_id, variables, Some(user)).await)
        }));
    }
    let mut winners = Vec::new();
    for handle in handles {
        let (user, result) = handle.await.expect("racer does not panic");
        match result {
            Ok(instance) => winners.push((user, instance)),
            Err(store::Error::Conflict(_)) => {}
            Err(other) => panic!("{}: the losing completion must be a conflict, got {other:?}", cx.backend),
        }
    }
    assert_eq!(winners.len(), 1, "{}: exactly one completion succeeds", cx.backend);
    let (winner, instance) = winners.remove(0);
    assert_eq!(instance.version, 2);
    winner.to_string()
}

/// After a race on the first review of a fresh `approval` instance: it moved exactly once.
async fn assert_moved_once(cx: &Cx, instance_id: &str, review_id: &str, winner: &str) {
    let instance = cx.instance(instance_id).await;
    assert_eq!(instance.version, 2, "{}: one save", cx.backend);
    assert_eq!(instance.state.variables().get("decidedBy"), Some(&Value::String(winner.into())));
    let tasks = cx.tasks_of(instance_id).await;
    assert_eq!(tasks.len(), 1, "{}: one next task: {tasks:?}", cx.backend);
    assert_eq!(tasks[0].task_definition_key, "revise");
    let history = cx.task_history_of(instance_id).await;
    assert_eq!(history.len(), 2, "{}: the review and one revise in history: {history:?}", cx.backend);
    let review = history.iter().find(|t| t.id == review_id).expect("the review is in history");
    assert_eq!(review.delete_reason.as_deref(), Some("completed"));
    assert_eq!(review.completed_by.as_deref(), Some(winner));
    let revise = cx
        .task_history(TaskHistoryQuery {
            instance_id: Some(instance_id.into()),
            task_definition_key: Some("revise".into()),
            ..TaskHistoryQuery::new(store::DataScope::All)
        })
        .await;
    assert_eq!(revise.len(), 1, "{}: exactly one next task was ever created", cx.backend);
    let decided: Vec<_> = cx
        .store
        .variable_history(instance_id)
        .await
        .expect("loads")
        .into_iter()
        .filter(|v| v.name == "decidedBy")
        .collect();
    assert_eq!(decided.len(), 1, "{}: only the winner's variables were written", cx.backend);
    let activities = cx.activities(instance_id).await;
    assert_eq!(activities.iter().filter(|a| a.activity_id == "decide").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_completions_on_one_executor() {
    each_backend(|cx| async move {
        let definition = cx.deploy_one("approval.bpmn", APPROVAL).await;
        for _ in 0..ROUNDS {
            let instance = cx.start(&definition, None, approval_vars("sam", "alice", &["reviewers"], 50), None).await;
            let review = cx.only_task(&instance.id).await;
            let winner = race_complete(&cx, [cx.executor.clone(), cx.executor.clone()], &review.id).await;
            assert_moved_once(&cx, &instance.id, &review.id, &winner).await;
        }
    })
    .await;
}

/// Two nodes: separate stores (own pools, own SQLite writer connection) on one database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_completions_across_two_nodes() {
    each_backend(|cx| async move {
        let definition = cx.deploy_one("approval.bpmn", APPROVAL).await;
        let second_store = store::connect(&cx.url).await.expect("a second node opens the database");
        let second_node = executor_for(second_store);
        for _ in 0..ROUNDS {
            let instance = cx.start(&definition, None, approval_vars("sam", "alice", &["reviewers"], 50), None).await;
            let review = cx.only_task(&instance.id).await;
            let winner = race_complete(&cx, [cx.executor.clone(), second_node.clone()], &review.id).await;
            assert_moved_once(&cx, &instance.id, &review.id, &winner).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_claims_have_one_winner() {
    each_backend(|cx| async move {
        let definition = cx.deploy_one("approval.bpmn", APPROVAL).await;
        let instance = cx.start(&definition, None, approval_vars("sam", "alice", &["reviewers"], 50), None).await;
        let task = cx.only_task(&instance.id).await;
        for _ in 0..ROUNDS {
            let barrier = Arc::new(Barrier::new(2));
            let handles: Vec<_> = ["alice", "carol"]
                .into_iter()
                .map(|user| {
                    let (store, barrier, task_id) = (cx.store.clone(), barrier.clone(), task.id.clone());
                    tokio::spawn(async move {
                        barrier.wait().await;
                        (user, store.set_assignee(&task_id, Some(None), Some(user), now_millis(), user).await)
                    })
                })
                .collect();
            let mut winners = Vec::new();
            for handle in handles {
                match handle.await.expect("claimer does not panic") {
                    (user, Ok(())) => winners.push(user),
                    (_, Err(store::Error::Conflict(_))) => {}
                    (_, Err(other)) => panic!("{}: a lost claim must be a conflict, got {other:?}", cx.backend),
                }
            }
            assert_eq!(winners.len(), 1, "{}: exactly one claim succeeds", cx.backend);
            let current = cx.store.task(&task.id).await.expect("loads").expect("exists");
            assert_eq!(current.assignee.as_deref(), Some(winners[0]));
            cx.store
                .set_assignee(&task.id, Some(Some(winners[0])), None, now_millis(), winners[0])
                .await
                .expect("unclaims");
        }
    })
    .await;
}

/// Commands on different instances do not conflict with each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_commands_on_different_instances_all_succeed() {
    each_backend(|cx| async move {
        let definition = cx.deploy_one("approval.bpmn", APPROVAL).await;
        let mut reviews = Vec::new();
        for index in 0..8 {
            let instance = cx
                .start(
                    &definition,
                    Some(&format!("order-{index}")),
                    approval_vars("sam", "alice", &["reviewers"], 50),
                    None,
                )
                .await;
            reviews.push(cx.only_task(&instance.id).await);
        }
        let barrier = Arc::new(Barrier::new(reviews.len()));
        let handles: Vec<_> = reviews
            .iter()
            .map(|review| {
                let (executor, barrier, task_id) = (cx.executor.clone(), barrier.clone(), review.id.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    executor.complete_task(&task_id, decision(true), Some("alice")).await
                })
            })
            .collect();
        for handle in handles {
            let instance = handle
                .await
                .expect("does not panic")
                .unwrap_or_else(|error| panic!("{}: independent completions must not fail: {error:?}", cx.backend));
            assert_eq!(instance.status, engine::InstanceStatus::Completed);
        }
        for review in &reviews {
            assert_eq!(cx.instance(&review.instance_id).await.status, engine::InstanceStatus::Completed);
        }
    })
    .await;
}

/// A review with a time limit that is already due (`sy:timeout` = `approve`): the job that
/// approves it as `system` races the reviewer approving it.
const TIME_LIMITED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="limited" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:userTask id="review" camunda:assignee="alice"/>
    <bpmn:boundaryEvent id="limit" attachedToRef="review" cancelActivity="false">
      <bpmn:extensionElements><camunda:properties>
        <camunda:property name="sy:timeout" value="approve"/>
      </camunda:properties></bpmn:extensionElements>
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT0S</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="next"/>
    <bpmn:userTask id="next" camunda:assignee="bob"/>
    <bpmn:sequenceFlow id="f3" sourceRef="next" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_limit_racing_the_reviewer_approves_once() {
    use runtime::operations::OperationInput;
    each_backend(|cx| async move {
        let definition = cx.deploy_one("limited.bpmn", TIME_LIMITED).await;
        let other_node = executor_for(cx.store.clone());
        let mut winners = std::collections::BTreeMap::new();
        for round in 0..ROUNDS {
            let instance = cx.start(&definition, None, Default::default(), Some("starter")).await;
            let review = cx.only_task(&instance.id).await;
            let now = now_millis();
            let jobs = cx.store.acquire_jobs("racer", now + 1_000, now + 60_000, 100).await.expect("jobs lock");
            let job = jobs.into_iter().find(|job| job.instance_id.as_deref() == Some(instance.id.as_str()));
            let job = job.unwrap_or_else(|| panic!("{}: round {round}: the due time limit is a job", cx.backend));
            // A third of the rounds start together; in the others one side gets a head start,
            // so both "the timer first" and "the reviewer first" are seen to be handled.
            let head_start = |side: usize| std::time::Duration::from_millis(if round % 3 == side { 30 } else { 0 });
            let barrier = Arc::new(Barrier::new(2));
            let timer = {
                let (executor, barrier, delay) = (cx.executor.clone(), barrier.clone(), head_start(2));
                tokio::spawn(async move {
                    barrier.wait().await;
                    tokio::time::sleep(delay).await;
                    executor.run_job(&job).await
                })
            };
            let person = {
                let (executor, barrier, review, delay) =
                    (other_node.clone(), barrier.clone(), review.clone(), head_start(1));
                tokio::spawn(async move {
                    barrier.wait().await;
                    tokio::time::sleep(delay).await;
                    executor.approve(&review, OperationInput::by("alice")).await
                })
            };
            timer.await.expect("the job does not panic").expect("the job settles either way");
            match person.await.expect("the approval does not panic") {
                Ok(_) | Err(store::Error::Conflict(_)) => {}
                Err(other) => panic!("{}: a late approval is a conflict, got {other:?}", cx.backend),
            }
            // Exactly one 通过 of the review, by whoever came first; the next step once; no job left.
            let records = cx.store.approval_records(&instance.id).await.expect("records load");
            let approvals: Vec<_> = records
                .iter()
                .filter(|record| record.operation == "approve" && record.task_id.as_deref() == Some(review.id.as_str()))
                .collect();
            assert_eq!(approvals.len(), 1, "{}: round {round}: {records:?}", cx.backend);
            *winners.entry(approvals[0].actor.clone().unwrap_or_default()).or_insert(0) += 1;
            let open = cx.tasks_of(&instance.id).await;
            assert_eq!(open.iter().map(|task| task.task_definition_key.as_str()).collect::<Vec<_>>(), ["next"]);
            let (left, _) = cx
                .store
                .jobs(&store::JobQuery {
                    instance_id: Some(instance.id.clone()),
                    ..store::JobQuery::new(store::DataScope::All)
                })
                .await
                .expect("jobs list");
            assert!(left.is_empty(), "{}: round {round}: {left:?}", cx.backend);
        }
        assert!(winners.contains_key("system") && winners.contains_key("alice"), "{}: {winners:?}", cx.backend);
    })
    .await;
}
