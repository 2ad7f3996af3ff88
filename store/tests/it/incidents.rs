//! Failures inside a process become incidents; fixing the cause and retrying continues it.

use engine::{InstanceStatus, Value};
use store::IncidentQuery;

use crate::models::{FLAKY, SCRIPTED};
use crate::support::{assert_not_found, each_backend, vars};

#[tokio::test]
async fn a_failing_script_raises_an_incident_that_a_retry_resolves() {
    each_backend(|cx| async move {
        let definition = cx.deploy_one("scripted.bpmn", SCRIPTED).await;
        // No `bonus`: the script `total = doubled + bonus` fails after the service task ran.
        let instance =
            cx.start(&definition, Some("order-1"), vars(&[("amount", Value::Integer(21))]), Some("sam")).await;
        assert_eq!(instance.status, InstanceStatus::Active, "an incident does not end the instance");
        let stored = cx.instance(&instance.id).await;
        assert_eq!(stored, instance);
        assert_eq!(stored.state.variables().get("doubled"), Some(&Value::Integer(42)), "the handler's output is kept");
        assert_eq!(cx.variable(&instance.id, "doubled").await, Some(Value::Integer(42)));
        assert!(cx.tasks_of(&instance.id).await.is_empty());

        let open = cx.incidents(&instance.id, true).await;
        assert_eq!(open.len(), 1);
        let incident = open[0].clone();
        assert_eq!(incident.activity_id, "calc");
        assert_eq!(incident.instance_id, instance.id);
        assert_eq!(incident.definition_id, definition.id);
        assert_eq!(incident.incident_type, "failedExecution");
        assert!(incident.message.contains("bonus"), "the message says what is missing: {}", incident.message);
        assert_eq!(incident.resolved_at, None);
        assert_eq!(incident.created_at, instance.started_at);
        let calc = cx.activities(&instance.id).await.into_iter().find(|a| a.activity_id == "calc").expect("calc ran");
        assert_eq!(incident.token, calc.seq);
        assert_eq!(calc.ended_at, None, "the failed activity stays open");

        // The runtime incident list, with its filters.
        let listed = |query: IncidentQuery| {
            let cx = &cx;
            async move { cx.store.incidents(&query).await.expect("incidents load") }
        };
        let all_open = listed(IncidentQuery { open: true, ..IncidentQuery::new(store::DataScope::All) }).await;
        assert_eq!(all_open, (vec![incident.clone()], 1));
        assert_eq!(
            listed(IncidentQuery { id: Some(incident.id.clone()), ..IncidentQuery::new(store::DataScope::All) })
                .await
                .1,
            1
        );
        assert_eq!(
            listed(IncidentQuery { activity_id: Some("calc".into()), ..IncidentQuery::new(store::DataScope::All) })
                .await
                .1,
            1
        );
        assert_eq!(
            listed(IncidentQuery { activity_id: Some("double".into()), ..IncidentQuery::new(store::DataScope::All) })
                .await
                .1,
            0
        );
        assert_eq!(
            listed(IncidentQuery {
                definition_id: Some(definition.id.clone()),
                ..IncidentQuery::new(store::DataScope::All)
            })
            .await
            .1,
            1
        );

        // Retrying without fixing anything: the old incident is resolved, a new one opens.
        let retried = cx.executor.retry_incident(&incident.id, Some("admin")).await.expect("retry runs");
        assert_eq!(retried.status, InstanceStatus::Active);
        let open = cx.incidents(&instance.id, true).await;
        assert_eq!(open.len(), 1);
        assert_ne!(open[0].id, incident.id, "a fresh incident for the fresh failure");
        let all = cx.incidents(&instance.id, false).await;
        assert_eq!(all.len(), 2);
        let first = all.iter().find(|i| i.id == incident.id).expect("the first incident is kept");
        assert!(first.resolved_at.is_some());
        assert_not_found(cx.executor.retry_incident(&incident.id, None).await, "retrying a resolved incident");

        // Fix the cause, retry: the instance moves on to the user task.
        cx.executor
            .set_variables(&instance.id, vars(&[("bonus", Value::Integer(8))]), Vec::new(), Some("admin"))
            .await
            .expect("variables are set");
        let bonus = cx.store.variable_history(&instance.id).await.expect("loads");
        let bonus = bonus.iter().find(|v| v.name == "bonus").expect("bonus is recorded");
        assert_eq!((bonus.value.clone(), bonus.actor.as_deref()), (Value::Integer(8), Some("admin")));
        let fixed = cx.executor.retry_incident(&open[0].id, Some("admin")).await.expect("retry runs");
        assert_eq!(fixed.state.variables().get("total"), Some(&Value::Integer(50)));
        assert!(cx.incidents(&instance.id, true).await.is_empty(), "no open incident is left");
        assert!(cx.incidents(&instance.id, false).await.iter().all(|i| i.resolved_at.is_some()));
        assert_eq!(cx.variable(&instance.id, "total").await, Some(Value::Integer(50)));
        let check = cx.only_task(&instance.id).await;
        assert_eq!(check.task_definition_key, "check");
        assert_eq!(check.candidate_groups, vec!["clerks"]);
        let calc = cx.activities(&instance.id).await.into_iter().find(|a| a.activity_id == "calc").expect("calc");
        assert!(calc.ended_at.is_some(), "the retried activity completed");

        cx.executor.complete_task(&check.id, Default::default(), Some("clerk")).await.expect("completes");
        assert_eq!(cx.instance(&instance.id).await.status, InstanceStatus::Completed);
    })
    .await;
}

#[tokio::test]
async fn ending_an_instance_closes_its_incidents() {
    each_backend(|cx| async move {
        let definition = cx.deploy_one("flaky.bpmn", FLAKY).await;
        let failing = cx.start(&definition, None, Default::default(), None).await;
        let other = cx.start(&definition, None, Default::default(), None).await;
        let open = cx.incidents(&failing.id, true).await;
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].activity_id, "fetch");
        assert!(open[0].message.contains("the tax office is unavailable"), "handler message: {}", open[0].message);

        let canceled =
            cx.executor.cancel_instance(&failing.id, Some("gave up".into()), Some("admin")).await.expect("cancels");
        assert_eq!(canceled.status, InstanceStatus::Canceled);
        assert!(cx.incidents(&failing.id, true).await.is_empty(), "a canceled instance has no open incident");
        let closed = cx.incidents(&failing.id, false).await;
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].resolved_at, canceled.ended_at);
        assert_eq!(cx.incidents(&other.id, true).await.len(), 1, "other instances keep theirs");
        assert_not_found(cx.executor.retry_incident(&open[0].id, None).await, "retrying a closed incident");
    })
    .await;
}
