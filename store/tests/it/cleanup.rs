//! Deleting deployments: refused while instances run, unless cascading; a cascade removes the
//! deployment's instances with their history and nothing else.

use engine::Value;
use store::{
    ActivityQuery, DefinitionQuery, DeploymentQuery, IncidentQuery, InstanceQuery, TaskHistoryQuery, TaskQuery,
};

use crate::models::{self, APPROVAL, FLAKY};
use crate::support::{Cx, approval_vars, assert_invalid, assert_not_found, decision, each_backend};

/// Row counts of everything an instance leaves behind, for the given instances.
async fn footprint(cx: &Cx, instance_ids: &[String]) -> Vec<(String, usize)> {
    let mut counts = Vec::new();
    for id in instance_ids {
        let some = Some(id.clone());
        let instance = cx.store.instance(id).await.expect("loads").map_or(0, |_| 1);
        let tasks = cx.tasks_of(id).await.len();
        let (activities, _) = cx
            .store
            .activity_history(&ActivityQuery { instance_id: some.clone(), ..ActivityQuery::new(store::DataScope::All) })
            .await
            .expect("loads");
        let task_history = cx.task_history_of(id).await.len();
        let variables = cx.store.variable_history(id).await.expect("loads").len();
        let (incidents, _) = cx
            .store
            .incidents(&IncidentQuery { instance_id: some, ..IncidentQuery::new(store::DataScope::All) })
            .await
            .expect("loads");
        counts.push((id.clone(), instance + tasks + activities.len() + task_history + variables + incidents.len()));
    }
    counts
}

#[tokio::test]
async fn delete_deployment_refuses_running_instances_unless_cascading() {
    each_backend(|cx| async move {
        let doomed = cx.deploy("doomed", &[("approval.bpmn", APPROVAL), ("flaky.bpmn", FLAKY)]).await;
        let approval = doomed.definitions.iter().find(|d| d.key == "approval").expect("approval").clone();
        let flaky = doomed.definitions.iter().find(|d| d.key == "flaky").expect("flaky").clone();
        let kept = cx.deploy("kept", &[("approval.bpmn", &APPROVAL.replace("Review", "Review v2"))]).await;
        let kept_definition = kept.definitions[0].clone();
        let other = cx.deploy("other", &[("other.bpmn", &models::linear("other", "Other", &["t"]))]).await;

        let running =
            cx.start(&approval, Some("order-1"), approval_vars("sam", "alice", &["reviewers"], 50), None).await;
        let finished =
            cx.start(&approval, Some("order-2"), approval_vars("sam", "alice", &["reviewers"], 50), None).await;
        let task = cx.only_task(&finished.id).await;
        cx.executor.complete_task(&task.id, decision(true), None).await.expect("completes");
        let with_incident = cx.start(&flaky, None, Default::default(), None).await;
        let survivor =
            cx.start(&kept_definition, Some("order-3"), approval_vars("sam", "alice", &["reviewers"], 50), None).await;
        let unrelated =
            cx.start(&other.definitions[0], None, [("x".to_string(), Value::Integer(1))].into(), None).await;
        let doomed_ids = vec![running.id.clone(), finished.id.clone(), with_incident.id.clone()];
        let kept_ids = vec![survivor.id.clone(), unrelated.id.clone()];
        let doomed_before = footprint(&cx, &doomed_ids).await;
        let kept_before = footprint(&cx, &kept_ids).await;
        assert!(doomed_before.iter().all(|(_, rows)| *rows > 0));

        assert_invalid(cx.store.delete_deployment(&doomed.deployment.id, false).await, "running instances");
        assert_eq!(footprint(&cx, &doomed_ids).await, doomed_before, "a refused delete removes nothing");
        assert!(cx.store.deployment(&doomed.deployment.id).await.expect("loads").is_some());
        let doomed_definitions =
            DefinitionQuery { deployment_id: Some(doomed.deployment.id.clone()), ..DefinitionQuery::default() };
        assert_eq!(cx.store.definitions(&doomed_definitions).await.expect("loads").1, 2);

        cx.store.delete_deployment(&doomed.deployment.id, true).await.expect("cascading delete");
        assert_eq!(cx.store.deployment(&doomed.deployment.id).await.expect("loads"), None);
        assert!(cx.store.resources(&doomed.deployment.id).await.expect("loads").is_empty());
        assert!(cx.store.resource(&approval.resource_id).await.expect("loads").is_none());
        assert_eq!(cx.store.definitions(&doomed_definitions).await.expect("loads").1, 0);
        for (id, rows) in footprint(&cx, &doomed_ids).await {
            assert_eq!(rows, 0, "{}: instance {id} left rows behind", cx.backend);
        }
        let flaky_incidents =
            IncidentQuery { definition_id: Some(flaky.id.clone()), ..IncidentQuery::new(store::DataScope::All) };
        assert_eq!(cx.store.incidents(&flaky_incidents).await.expect("loads").1, 0);
        let by_key = TaskHistoryQuery {
            definition_key: Some("approval".into()),
            ..TaskHistoryQuery::new(store::DataScope::All)
        };
        assert_eq!(cx.task_history(by_key).await.len(), 1, "only the kept version's task history remains");

        // Everything of the other deployments is untouched.
        assert_eq!(footprint(&cx, &kept_ids).await, kept_before);
        assert_eq!(cx.tasks(TaskQuery::new(store::DataScope::All)).await.1, 2);
        let (remaining, total) = cx.store.deployments(&DeploymentQuery::default()).await.expect("loads");
        assert_eq!(total, 2);
        assert!(remaining.iter().all(|d| d.id != doomed.deployment.id));
        let latest = cx.executor.latest_definition("approval").await.expect("version 2 is still deployed");
        assert_eq!(latest.id, kept_definition.id);
        let (instances, _) = cx.store.instances(&InstanceQuery::new(store::DataScope::All)).await.expect("loads");
        let mut left: Vec<_> = instances.into_iter().map(|i| i.id).collect();
        left.sort();
        let mut expected = kept_ids.clone();
        expected.sort();
        assert_eq!(left, expected);

        // Only ended instances: no cascade needed, and their history goes with the deployment.
        let task = cx.only_task(&unrelated.id).await;
        cx.executor.complete_task(&task.id, Default::default(), None).await.expect("completes");
        cx.store.delete_deployment(&other.deployment.id, false).await.expect("nothing is running");
        assert_eq!(footprint(&cx, std::slice::from_ref(&unrelated.id)).await[0].1, 0);
        assert_not_found(cx.store.delete_deployment(&other.deployment.id, false).await, "deleting twice");
        assert_not_found(cx.store.delete_deployment("no-such-deployment", true).await, "unknown deployment");
        assert_eq!(cx.store.deployments(&DeploymentQuery::default()).await.expect("loads").1, 1);
    })
    .await;
}
