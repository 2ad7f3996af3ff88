//! What was acknowledged is still there after reopening the database.

use engine::InstanceStatus;
use store::{DefinitionQuery, TaskHistoryQuery};

use crate::models::APPROVAL;
use crate::support::{Cx, approval_vars, decision, each_backend, executor_for};

#[tokio::test]
async fn reopening_the_database_keeps_everything() {
    each_backend(|cx| async move {
        let definition = cx.deploy_one("approval.bpmn", APPROVAL).await;
        let instance = cx
            .start(&definition, Some("order-1"), approval_vars("sam", "alice", &["reviewers"], 60), Some("sam"))
            .await;
        let review = cx.only_task(&instance.id).await;
        let moved = cx.executor.complete_task(&review.id, decision(false), Some("alice")).await.expect("completes");
        let (tasks_before, _) = cx.tasks(store::TaskQuery::new(store::DataScope::All)).await;
        let history_before = cx.store.variable_history(&instance.id).await.expect("loads");
        let user = store::UserRecord {
            id: "wang".into(),
            password_hash: "h".into(),
            first_name: None,
            last_name: None,
            email: None,
            must_change_password: false,
            created_at: 1,
        };
        cx.store.insert_user(&user).await.expect("user is stored");
        let (backend, url) = (cx.backend.clone(), cx.url.clone());
        drop(cx);

        // Reopen (this also runs the migrations again, which must be a no-op).
        let store = store::connect(&url).await.expect("the database opens again");
        store.ping().await.expect("ping");
        assert_eq!(store.backend(), backend);
        let cx = Cx { backend, url: url.clone(), executor: executor_for(store.clone()), store };
        assert_eq!(cx.instance(&instance.id).await, moved);
        assert_eq!(cx.tasks(store::TaskQuery::new(store::DataScope::All)).await.0, tasks_before);
        assert_eq!(cx.store.variable_history(&instance.id).await.expect("loads"), history_before);
        let (definitions, _) = cx.store.definitions(&DefinitionQuery::default()).await.expect("loads");
        assert_eq!(definitions, vec![definition.clone()]);
        assert_eq!(cx.store.user_count().await.expect("counts"), 1);
        let ended = cx
            .task_history(TaskHistoryQuery {
                task_id: Some(review.id.clone()),
                ..TaskHistoryQuery::new(store::DataScope::All)
            })
            .await;
        assert_eq!(ended[0].completed_by.as_deref(), Some("alice"));

        // The reopened store carries on: the model is parsed again from the stored resource.
        let revise = cx.only_task(&instance.id).await;
        cx.executor.complete_task(&revise.id, Default::default(), Some("sam")).await.expect("completes");
        let review = cx.only_task(&instance.id).await;
        cx.executor.complete_task(&review.id, decision(true), Some("bob")).await.expect("completes");
        assert_eq!(cx.instance(&instance.id).await.status, InstanceStatus::Completed);

        // And a third opening sees that too.
        let again = store::connect(&url).await.expect("opens a third time");
        let reread = again.instance(&instance.id).await.expect("loads").expect("exists");
        assert_eq!(reread.status, InstanceStatus::Completed);
        assert_eq!(reread.version, 4);
    })
    .await;
}

#[tokio::test]
async fn two_open_stores_see_each_others_writes() {
    each_backend(|cx| async move {
        let definition = cx.deploy_one("approval.bpmn", APPROVAL).await;
        let second = store::connect(&cx.url).await.expect("a second store opens");
        let second_executor = executor_for(second.clone());
        let instance = second_executor
            .start(&definition, None, approval_vars("sam", "alice", &["reviewers"], 50), None)
            .await
            .expect("the second node starts an instance");
        let task = cx.only_task(&instance.id).await;
        cx.executor.complete_task(&task.id, decision(false), Some("alice")).await.expect("the first node completes");
        let seen = second.instance(&instance.id).await.expect("loads").expect("exists");
        assert_eq!(seen.version, 2, "{}: the second node sees the first node's commit", cx.backend);
        let stale = second_executor.complete_task(&task.id, decision(false), Some("bob")).await;
        assert!(matches!(stale, Err(store::Error::Conflict(_))), "{}: stale command: {stale:?}", cx.backend);
    })
    .await;
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    for url in ["mysql://localhost/db", "", "file:///tmp/x.db"] {
        let result = store::connect(url).await;
        assert!(matches!(result, Err(store::Error::UnsupportedUrl(_))), "{url}: {:?}", result.err());
    }
}

/// A user task with copies (`sy:cc`) and no one to take it (`sy:emptyCandidates`), after a
/// thrown signal that starts a second process.
const FOLLOWED_UP: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:signal id="notice" name="follow-up-notice"/>
  <bpmn:process id="followed" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="announce"/>
    <bpmn:intermediateThrowEvent id="announce"><bpmn:signalEventDefinition signalRef="notice"/></bpmn:intermediateThrowEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="announce" targetRef="review"/>
    <bpmn:userTask id="review" name="审核" camunda:candidateGroups="nobody-holds-this">
      <bpmn:extensionElements><camunda:properties>
        <camunda:property name="sy:cc" value="user:copied"/>
        <camunda:property name="sy:emptyCandidates" value="admin"/>
      </camunda:properties></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
  <bpmn:process id="noticed" isExecutable="true">
    <bpmn:startEvent id="heard"><bpmn:signalEventDefinition signalRef="notice"/></bpmn:startEvent>
    <bpmn:sequenceFlow id="g1" sourceRef="heard" targetRef="read"/>
    <bpmn:userTask id="read" name="阅知"/>
    <bpmn:sequenceFlow id="g2" sourceRef="read" targetRef="done"/>
    <bpmn:endEvent id="done"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// Issue 11: cc, the empty-candidate rule and signal deliveries are job rows written in the
/// command's own transaction. A node that commits the command and dies before running them
/// (here: one that defers them and is then dropped) loses none: another node's job executor
/// runs them, and running one again (its first runner died after the effect, before deleting
/// the job) does nothing twice.
#[tokio::test]
async fn follow_ups_survive_the_node_that_committed_them() {
    each_backend(|cx| async move {
        let outcome = cx.deploy("followed.bpmn", &[("followed.bpmn", FOLLOWED_UP)]).await;
        let followed = outcome.definitions.iter().find(|d| d.key == "followed").expect("deployed").clone();
        cx.executor.defer_follow_ups(true);
        let instance = cx.start(&followed, None, Default::default(), None).await;
        let task = cx.only_task(&instance.id).await;

        // Committed with the instance: two follow-up jobs, neither run.
        let (jobs, _) = cx.store.jobs(&store::JobQuery::new(store::DataScope::All)).await.expect("jobs");
        let mut kinds: Vec<(&str, Option<&str>)> =
            jobs.iter().map(|job| (job.kind.as_str(), job.payload.as_deref())).collect();
        kinds.sort();
        assert_eq!(
            kinds,
            [(store::JOB_SIGNAL, Some("follow-up-notice")), (store::JOB_TASK_STAFFING, Some(task.id.as_str()))]
        );
        assert_eq!(task.assignee, None);
        assert!(!cx.store.is_cc(&instance.id, "copied", &[]).await.expect("reads"));
        let noticed = || store::InstanceQuery {
            definition_key: Some("noticed".into()),
            ..store::InstanceQuery::new(store::DataScope::All)
        };
        assert_eq!(cx.store.instances(&noticed()).await.expect("reads").1, 0);

        // A process that starts on the signal, deployed after it was thrown: a late delivery
        // does not reach it.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let late = FOLLOWED_UP.replace(r#"id="noticed""#, r#"id="late""#).replace(r#"id="followed""#, r#"id="unused""#);
        cx.deploy("late.bpmn", &[("late.bpmn", late.as_str())]).await;

        // The node is gone; another one opens the database and runs what is due.
        let other = executor_for(store::connect(&cx.url).await.expect("opens"));
        let config = runtime::job_executor::JobExecutorConfig::default();
        while runtime::job_executor::run_due_jobs(&other, &config).await.expect("runs") > 0 {}
        assert_eq!(other.store().jobs(&store::JobQuery::new(store::DataScope::All)).await.expect("jobs").1, 0);
        let staffed = cx.only_task(&instance.id).await;
        assert_eq!(staffed.assignee.as_deref(), Some("admin"), "no candidate: to the process admin");
        assert!(cx.store.is_cc(&instance.id, "copied", &[]).await.expect("reads"));
        assert_eq!(cx.store.instances(&noticed()).await.expect("reads").1, 1, "the signal started one");
        let late = store::InstanceQuery {
            definition_key: Some("late".into()),
            ..store::InstanceQuery::new(store::DataScope::All)
        };
        assert_eq!(cx.store.instances(&late).await.expect("reads").1, 0, "subscribed after the throw");

        // Each follow-up run a second time changes nothing.
        for job in &jobs {
            other.run_job(job).await.expect("a second run settles");
        }
        let operations: Vec<String> = cx
            .store
            .approval_records(&instance.id)
            .await
            .expect("reads")
            .into_iter()
            .map(|record| record.operation)
            .collect();
        assert_eq!(operations, ["cc", "transfer"]);
        assert_eq!(cx.store.instances(&noticed()).await.expect("reads").1, 1, "not started twice");
        assert_eq!(cx.only_task(&instance.id).await.assignee.as_deref(), Some("admin"));
    })
    .await;
}
