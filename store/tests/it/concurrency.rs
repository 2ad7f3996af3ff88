//! Racing commands: exactly one wins, the other gets a conflict, and the instance moves once.

use std::sync::Arc;

use engine::Value;
use store::executor::now_millis;
use store::{Executor, TaskHistoryQuery};
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
            ..TaskHistoryQuery::default()
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
