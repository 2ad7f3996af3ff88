//! Starting, completing and canceling instances, and the version guard of `save_instance`.

use engine::{InstanceStatus, Value};
use runtime::executor::now_millis;
use store::{
    ActivityQuery, ActivityRecord, Changes, InstanceQuery, Page, TaskHistoryQuery, TaskQuery, TaskRecord,
    VariableRecord,
};

use crate::models::APPROVAL;
use crate::support::{
    Cx, approval_vars, assert_conflict, assert_invalid, assert_not_found, decision, each_backend, ids, text,
};

#[tokio::test]
async fn start_writes_the_instance_its_task_and_history() {
    each_backend(|cx| async move {
        let definition = cx.deploy_one("approval.bpmn", APPROVAL).await;
        let mut variables = approval_vars("sam", "alice", &["reviewers", "managers"], 70);
        variables.insert("amount".into(), Value::Long(5_000_000_000));
        variables.insert("ratio".into(), Value::Double(1.5));
        variables.insert("due".into(), Value::Date("2030-01-31T12:00:00.000+0800".into()));
        variables.insert("urgent".into(), Value::Boolean(true));
        variables.insert("note".into(), Value::Null);
        variables.insert("address".into(), Value::Json(serde_json::json!({"city": "上海", "lines": ["a", "b"]})));
        let started = cx.start(&definition, Some("order-1"), variables.clone(), Some("sam")).await;

        assert_eq!(started.status, InstanceStatus::Active);
        assert_eq!(started.version, 1);
        assert_eq!(started.business_key.as_deref(), Some("order-1"));
        assert_eq!(started.start_user.as_deref(), Some("sam"));
        assert_eq!(started.definition_id, definition.id);
        assert_eq!(started.definition_key, "approval");
        assert_eq!(started.ended_at, None);
        let stored = cx.instance(&started.id).await;
        assert_eq!(stored, started, "the stored row (state JSON included) reads back as written");
        assert_eq!(stored.state.variables(), &variables, "typed variables survive the round trip");

        let task = cx.only_task(&started.id).await;
        assert_eq!(task.id, runtime::executor::task_id(&started.id, task.token as u64));
        assert_eq!(task.instance_id, started.id);
        assert_eq!(task.definition_id, definition.id);
        assert_eq!(task.definition_key, "approval");
        assert_eq!(task.task_definition_key, "review");
        assert_eq!(task.name.as_deref(), Some("Review"));
        assert_eq!(task.description.as_deref(), Some("Check the order"));
        assert_eq!(task.form_key.as_deref(), Some("review-form"));
        assert_eq!(task.priority, 70);
        assert_eq!(task.assignee, None);
        assert_eq!(task.created_at, started.started_at);
        assert_eq!(task.candidate_users, vec!["alice", "carol"]);
        assert_eq!(task.candidate_groups, vec!["managers", "reviewers"]);
        assert_eq!(cx.store.task(&task.id).await.expect("task loads").as_ref(), Some(&task));

        let activities = cx.activities(&started.id).await;
        let summary: Vec<_> = activities
            .iter()
            .map(|a| (a.activity_id.as_str(), a.activity_type.as_str(), a.ended_at.is_some(), a.canceled))
            .collect();
        assert_eq!(summary, vec![("start", "startEvent", true, false), ("review", "userTask", false, false)]);
        let (start, review) = (&activities[0], &activities[1]);
        assert_eq!(start.activity_name.as_deref(), Some("Order received"));
        assert_eq!(start.task_id, None);
        assert_eq!(review.id, task.id, "the user task's activity instance is the task");
        assert_eq!(review.task_id.as_deref(), Some(task.id.as_str()));
        for activity in &activities {
            assert_eq!((&activity.instance_id, &activity.definition_id), (&started.id, &definition.id));
            assert_eq!(activity.started_at, started.started_at);
            assert_eq!(activity.actor.as_deref(), Some("sam"));
        }

        let history = cx.task_history_of(&started.id).await;
        assert_eq!(history.len(), 1);
        let row = &history[0];
        assert_eq!((row.id.as_str(), row.activity_instance_id.as_str()), (task.id.as_str(), task.id.as_str()));
        assert_eq!((row.ended_at, row.delete_reason.as_deref(), row.completed_by.as_deref()), (None, None, None));
        assert_eq!((row.priority, row.created_at, row.name.as_deref()), (70, task.created_at, Some("Review")));
        assert_eq!(row.description.as_deref(), Some("Check the order"));

        let recorded = cx.store.variable_history(&started.id).await.expect("variable history loads");
        let mut names: Vec<_> = recorded.iter().map(|v| v.name.clone()).collect();
        names.sort();
        let mut expected: Vec<_> = variables.keys().cloned().collect();
        expected.sort();
        assert_eq!(names, expected, "one history row per start variable");
        for record in &recorded {
            assert_eq!(Some(&record.value), variables.get(&record.name), "{} keeps its type", record.name);
            assert_eq!((record.scope, record.actor.as_deref(), record.at), (0, Some("sam"), started.started_at));
        }
        assert!(cx.store.variable_history("no-such-instance").await.expect("loads").is_empty());
        assert_eq!(cx.store.instance("no-such-instance").await.expect("loads"), None);
    })
    .await;
}

#[tokio::test]
async fn completing_tasks_moves_the_instance_to_its_end() {
    each_backend(|cx| async move {
        let definition = cx.deploy_one("approval.bpmn", APPROVAL).await;
        let started = cx
            .start(&definition, Some("order-7"), approval_vars("sam", "alice", &["reviewers"], 50), Some("sam"))
            .await;
        let first_review = cx.only_task(&started.id).await;

        let after =
            cx.executor.complete_task(&first_review.id, decision(false), Some("alice")).await.expect("completes");
        assert_eq!((after.status, after.version), (InstanceStatus::Active, 2));
        assert_eq!(cx.instance(&started.id).await, after);
        let revise = cx.only_task(&started.id).await;
        assert_eq!(revise.task_definition_key, "revise");
        assert_eq!(revise.assignee.as_deref(), Some("sam"), "assignee=${{starter}} is evaluated");
        assert!(revise.candidate_users.is_empty() && revise.candidate_groups.is_empty());
        assert_eq!(cx.store.task(&first_review.id).await.expect("loads"), None, "the completed task is gone");

        let ended = cx
            .task_history(TaskHistoryQuery {
                task_id: Some(first_review.id.clone()),
                ..TaskHistoryQuery::new(store::DataScope::All)
            })
            .await;
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].delete_reason.as_deref(), Some("completed"));
        assert_eq!(ended[0].completed_by.as_deref(), Some("alice"));
        assert!(ended[0].ended_at.is_some_and(|at| at >= first_review.created_at));
        let open = cx
            .task_history(TaskHistoryQuery {
                instance_id: Some(started.id.clone()),
                finished: Some(false),
                ..TaskHistoryQuery::new(store::DataScope::All)
            })
            .await;
        assert_eq!(ids(&open, |t| &t.id), vec![revise.id.clone()]);
        assert_eq!(open[0].assignee.as_deref(), Some("sam"));

        let activities = cx.activities(&started.id).await;
        let summary: Vec<_> =
            activities.iter().map(|a| (a.activity_id.as_str(), a.ended_at.is_some(), a.canceled)).collect();
        assert_eq!(
            summary,
            vec![("start", true, false), ("review", true, false), ("decide", true, false), ("revise", false, false)]
        );
        assert_eq!(activities[1].actor.as_deref(), Some("alice"), "the ending actor is recorded");
        assert_eq!(activities[2].activity_type, "exclusiveGateway");
        assert_eq!(activities[3].assignee.as_deref(), Some("sam"));
        assert_eq!(activities[3].task_id.as_deref(), Some(revise.id.as_str()));

        cx.executor.complete_task(&revise.id, Default::default(), Some("sam")).await.expect("revise completes");
        let second_review = cx.only_task(&started.id).await;
        assert_eq!(second_review.task_definition_key, "review");
        assert_ne!(second_review.id, first_review.id, "a new activation is a new task");
        assert_eq!(second_review.candidate_users, vec!["alice", "carol"]);

        let done = cx.executor.complete_task(&second_review.id, decision(true), Some("bob")).await.expect("completes");
        assert_eq!(done.status, InstanceStatus::Completed);
        assert_eq!(done.version, 4);
        assert!(done.ended_at.is_some());
        let stored = cx.instance(&started.id).await;
        assert_eq!(stored, done);
        assert!(cx.tasks_of(&started.id).await.is_empty(), "no task outlives its instance");
        let open_activities = ActivityQuery {
            instance_id: Some(started.id.clone()),
            finished: Some(false),
            ..ActivityQuery::new(store::DataScope::All)
        };
        assert_eq!(cx.store.activity_history(&open_activities).await.expect("loads").1, 0);
        // Each activity records the sequence flow it was reached by (issue 12: the diagram's
        // taken path): none for the start, the loop's flows once per round.
        let arrived: Vec<_> = cx
            .activities(&started.id)
            .await
            .iter()
            .map(|a| (a.activity_id.clone(), a.arrived_by.clone().unwrap_or_default()))
            .collect();
        let expected = [
            ("start", ""),
            ("review", "f1"),
            ("decide", "f2"),
            ("revise", "toRevise"),
            ("review", "f3"),
            ("decide", "f2"),
            ("end", "toEnd"),
        ];
        assert_eq!(arrived, expected.map(|(a, f)| (a.to_string(), f.to_string())), "{}", cx.backend);
        let last = cx.activities(&started.id).await.pop().expect("activities");
        assert_eq!((last.activity_id.as_str(), last.activity_type.as_str()), ("end", "noneEndEvent"));
        assert_eq!(last.ended_at, done.ended_at);
        let history = cx.task_history_of(&started.id).await;
        let by: Vec<_> = history.iter().map(|t| (t.delete_reason.as_deref(), t.completed_by.as_deref())).collect();
        assert_eq!(
            by,
            vec![
                (Some("completed"), Some("alice")),
                (Some("completed"), Some("sam")),
                (Some("completed"), Some("bob"))
            ]
        );
        assert_eq!(cx.variable(&started.id, "approved").await, Some(Value::Boolean(true)));

        // Nothing more can happen to an ended instance.
        assert_conflict(
            cx.executor.complete_task(&second_review.id, decision(true), Some("carol")).await,
            "completing a completed task",
        );
        let ghost = runtime::executor::task_id(&started.id, 99);
        assert_not_found(cx.executor.complete_task(&ghost, decision(true), None).await, "unknown token");
        assert_not_found(cx.executor.complete_task("not-a-task", decision(true), None).await, "malformed id");
        assert_invalid(
            cx.executor.set_variables(&started.id, decision(false), Vec::new(), None).await,
            "variables of an ended instance",
        );
        assert_invalid(cx.executor.cancel_instance(&started.id, None, None).await, "canceling an ended instance");
        assert_eq!(cx.instance(&started.id).await, done, "refused commands write nothing");
    })
    .await;
}

#[tokio::test]
async fn cancel_ends_the_instance_and_deletes_its_tasks() {
    each_backend(|cx| async move {
        let definition = cx.deploy_one("approval.bpmn", APPROVAL).await;
        let doomed =
            cx.start(&definition, Some("order-1"), approval_vars("sam", "alice", &["reviewers"], 50), None).await;
        let bystander =
            cx.start(&definition, Some("order-2"), approval_vars("sam", "alice", &["reviewers"], 50), None).await;
        let review = cx.only_task(&doomed.id).await;
        let revise_instance =
            cx.start(&definition, Some("order-3"), approval_vars("tom", "alice", &["reviewers"], 50), None).await;
        let first = cx.only_task(&revise_instance.id).await;
        cx.executor.complete_task(&first.id, decision(false), Some("alice")).await.expect("completes");
        let revise = cx.only_task(&revise_instance.id).await;

        let canceled = cx
            .executor
            .cancel_instance(&doomed.id, Some("withdrawn by applicant".into()), Some("admin"))
            .await
            .expect("cancels");
        assert_eq!(canceled.status, InstanceStatus::Canceled);
        assert_eq!(canceled.delete_reason.as_deref(), Some("withdrawn by applicant"));
        assert!(canceled.ended_at.is_some());
        assert_eq!(canceled.version, doomed.version + 1);
        assert_eq!(cx.instance(&doomed.id).await, canceled);
        assert!(cx.tasks_of(&doomed.id).await.is_empty());
        let candidate = TaskQuery { candidate_user: Some("alice".into()), ..TaskQuery::new(store::DataScope::All) };
        let (visible, _) = cx.tasks(candidate).await;
        assert_eq!(
            ids(&visible, |t| &t.instance_id),
            vec![bystander.id.clone()],
            "the candidate rows went with the task"
        );

        let history = cx.task_history_of(&doomed.id).await;
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].id, review.id);
        assert_eq!(history[0].delete_reason.as_deref(), Some("deleted"));
        assert_eq!(history[0].ended_at, canceled.ended_at);
        let activities = cx.activities(&doomed.id).await;
        let summary: Vec<_> =
            activities.iter().map(|a| (a.activity_id.as_str(), a.ended_at.is_some(), a.canceled)).collect();
        assert_eq!(summary, vec![("start", true, false), ("review", true, true)]);
        assert_eq!(activities[1].actor.as_deref(), Some("admin"));

        // An assigned task is deleted the same way.
        cx.executor.cancel_instance(&revise_instance.id, None, Some("admin")).await.expect("cancels");
        let ended = cx
            .task_history(TaskHistoryQuery {
                task_id: Some(revise.id.clone()),
                ..TaskHistoryQuery::new(store::DataScope::All)
            })
            .await;
        assert_eq!(ended[0].delete_reason.as_deref(), Some("deleted"));
        assert_eq!(
            cx.tasks(TaskQuery { assignee: Some("tom".into()), ..TaskQuery::new(store::DataScope::All) }).await.1,
            0
        );

        // The other instance is untouched, and the canceled one refuses further commands.
        assert_eq!(cx.instance(&bystander.id).await, bystander);
        assert_eq!(cx.tasks_of(&bystander.id).await.len(), 1);
        assert_conflict(
            cx.executor.complete_task(&review.id, decision(true), None).await,
            "task of a canceled instance",
        );
        assert_invalid(cx.executor.cancel_instance(&doomed.id, None, None).await, "canceling twice");
        assert_not_found(cx.executor.cancel_instance("no-such-instance", None, None).await, "unknown instance");
        let active = InstanceQuery { active: Some(true), ..InstanceQuery::new(store::DataScope::All) };
        let (running, _) = cx.store.instances(&active).await.expect("instances load");
        assert_eq!(ids(&running, |i| &i.id), vec![bystander.id.clone()]);
    })
    .await;
}

fn ghost_task(cx_instance: &store::InstanceRecord, token: i64, at: i64) -> TaskRecord {
    TaskRecord {
        id: runtime::executor::task_id(&cx_instance.id, token as u64),
        instance_id: cx_instance.id.clone(),
        token,
        definition_id: cx_instance.definition_id.clone(),
        definition_key: cx_instance.definition_key.clone(),
        task_definition_key: "ghost".into(),
        name: Some("Ghost".into()),
        description: None,
        assignee: None,
        owner: None,
        priority: 1,
        created_at: at,
        due: None,
        follow_up: None,
        form_key: None,
        delegation: None,
        candidate_users: vec!["ghost".into()],
        candidate_groups: vec!["ghosts".into()],
    }
}

fn ghost_activity(instance: &store::InstanceRecord, token: i64, at: i64) -> ActivityRecord {
    ActivityRecord {
        id: runtime::executor::task_id(&instance.id, token as u64),
        instance_id: instance.id.clone(),
        definition_id: instance.definition_id.clone(),
        definition_key: instance.definition_key.clone(),
        activity_id: "ghost".into(),
        activity_name: None,
        activity_type: "userTask".into(),
        parent_id: None,
        task_id: None,
        assignee: None,
        started_at: at,
        ended_at: None,
        canceled: false,
        actor: Some("ghost".into()),
        seq: token,
        arrived_by: None,
    }
}

/// Everything a save may touch, to compare before and after a refused write.
async fn snapshot(cx: &Cx, instance_id: &str) -> impl PartialEq + std::fmt::Debug {
    (
        cx.store.instance(instance_id).await.expect("loads"),
        cx.tasks_of(instance_id).await,
        cx.activities(instance_id).await,
        cx.task_history_of(instance_id).await,
        cx.store.variable_history(instance_id).await.expect("loads"),
        cx.incidents(instance_id, false).await,
        cx.tasks(TaskQuery { candidate_user: Some("ghost".into()), ..TaskQuery::new(store::DataScope::All) }).await,
    )
}

#[tokio::test]
async fn a_stale_version_writes_nothing() {
    each_backend(|cx| async move {
        let definition = cx.deploy_one("approval.bpmn", APPROVAL).await;
        let started = cx.start(&definition, None, approval_vars("sam", "alice", &["reviewers"], 50), None).await;
        let review = cx.only_task(&started.id).await;
        let stored = cx.instance(&started.id).await;
        let before = snapshot(&cx, &started.id).await;

        let at = now_millis();
        let mut next = stored.clone();
        next.version = stored.version + 1;
        next.state.scopes[0].variables.insert("extra".into(), text("x"));
        let extra = VariableRecord {
            instance_id: started.id.clone(),
            scope: 0,
            name: "extra".into(),
            value: text("x"),
            at,
            actor: Some("ghost".into()),
        };
        let changes = Changes {
            new_tasks: vec![ghost_task(&stored, 900, at)],
            started_activities: vec![ghost_activity(&stored, 900, at)],
            variables: vec![extra],
            at,
            actor: Some("ghost".into()),
            ..Changes::default()
        };
        // A stale write would also end the real task and close an activity.
        let stale_changes = Changes {
            ended_tasks: vec![(review.id.clone(), "completed".into())],
            ended_activities: vec![(review.id.clone(), false)],
            ..changes.clone()
        };
        for wrong in [stored.version - 1, stored.version + 1, stored.version + 100] {
            let result = cx.store.save_instance(&next, wrong, &stale_changes).await;
            assert_conflict(result, &format!("{}: save expecting version {wrong}", cx.backend));
            assert_eq!(snapshot(&cx, &started.id).await, before, "a refused save leaves no trace");
        }

        cx.store.save_instance(&next, stored.version, &changes).await.expect("the right version saves");
        assert_eq!(cx.instance(&started.id).await, next);
        let ghost = cx.store.task(&changes.new_tasks[0].id).await.expect("loads").expect("the new task is there");
        assert_eq!((ghost.candidate_users, ghost.candidate_groups), (vec!["ghost".into()], vec!["ghosts".into()]));
        assert_eq!(cx.variable(&started.id, "extra").await, Some(text("x")));
        let after = snapshot(&cx, &started.id).await;

        // Replaying the same write is a conflict (checked before any row is inserted), not a
        // duplicate-key error, and again leaves no trace.
        assert_conflict(cx.store.save_instance(&next, stored.version, &changes).await, "replayed save");
        assert_eq!(snapshot(&cx, &started.id).await, after);

        // The connection is usable after the refusals: the executor carries on.
        let moved = cx.executor.complete_task(&review.id, decision(false), Some("alice")).await.expect("completes");
        assert_eq!(moved.version, next.version + 1);
        assert_eq!(moved.state.variables().get("extra"), Some(&text("x")));
    })
    .await;
}

#[tokio::test]
async fn a_failed_insert_leaves_no_partial_instance() {
    each_backend(|cx| async move {
        let definition = cx.deploy_one("approval.bpmn", APPROVAL).await;
        let started = cx.start(&definition, None, approval_vars("sam", "alice", &["reviewers"], 50), None).await;
        let review = cx.only_task(&started.id).await;

        let at = now_millis();
        let twin = store::InstanceRecord { id: store::new_id(), ..started.clone() };
        // The instance row and the activity row come first; the task row then collides with an
        // existing task id, which must undo the whole write.
        let mut colliding = ghost_task(&twin, 2, at);
        colliding.id = review.id.clone();
        let changes = Changes {
            started_activities: vec![ghost_activity(&twin, 1, at)],
            new_tasks: vec![colliding],
            variables: vec![VariableRecord {
                instance_id: twin.id.clone(),
                scope: 0,
                name: "x".into(),
                value: Value::Integer(1),
                at,
                actor: None,
            }],
            at,
            ..Changes::default()
        };
        let result = cx.store.insert_instance(&twin, &changes).await;
        assert!(result.is_err(), "{}: a duplicate task id fails the insert", cx.backend);
        assert_eq!(cx.store.instance(&twin.id).await.expect("loads"), None, "no instance row");
        assert!(cx.activities(&twin.id).await.is_empty(), "no activity row");
        assert!(cx.store.variable_history(&twin.id).await.expect("loads").is_empty());
        assert_eq!(
            cx.store.task(&review.id).await.expect("loads"),
            Some(review.clone()),
            "the existing task is intact"
        );

        // The same instance id again also fails, and the writer is still usable afterwards.
        assert!(cx.store.insert_instance(&started, &Changes { at, ..Changes::default() }).await.is_err());
        cx.executor.complete_task(&review.id, decision(true), Some("alice")).await.expect("completes");
        assert_eq!(cx.instance(&started.id).await.status, InstanceStatus::Completed);
    })
    .await;
}

#[tokio::test]
async fn instance_queries_filter_sort_and_page() {
    each_backend(|cx| async move {
        let definition = cx.deploy_one("approval.bpmn", APPROVAL).await;
        let other = cx.deploy_one("other.bpmn", &crate::models::linear("other", "Other", &["t"])).await;
        let mut started = Vec::new();
        for (key, user) in [("order-1", "sam"), ("order-2", "tom"), ("invoice-1", "sam")] {
            started.push(
                cx.start(&definition, Some(key), approval_vars(user, "alice", &["reviewers"], 50), Some(user)).await,
            );
            crate::support::next_millisecond().await;
        }
        let unrelated = cx.start(&other, Some("order-9"), Default::default(), Some("sam")).await;
        let finished = cx.only_task(&started[1].id).await;
        cx.executor.complete_task(&finished.id, decision(true), None).await.expect("completes");
        let id = |index: usize| started[index].id.clone();

        let query = |query: InstanceQuery| {
            let cx = &cx;
            async move {
                let (found, total) = cx.store.instances(&query).await.expect("instances load");
                (ids(&found, |i| &i.id), total)
            }
        };
        let approval =
            || InstanceQuery { definition_key: Some("approval".into()), ..InstanceQuery::new(store::DataScope::All) };
        assert_eq!(query(approval()).await, (vec![id(0), id(1), id(2)], 3), "default order: start time");
        assert_eq!(
            query(InstanceQuery { definition_id: Some(other.id.clone()), ..InstanceQuery::new(store::DataScope::All) })
                .await,
            (vec![unrelated.id.clone()], 1)
        );
        assert_eq!(query(InstanceQuery { business_key: Some("order-2".into()), ..approval() }).await, (vec![id(1)], 1));
        assert_eq!(
            query(InstanceQuery {
                business_key_like: Some("order-%".into()),
                ..InstanceQuery::new(store::DataScope::All)
            })
            .await,
            (vec![id(0), id(1), unrelated.id.clone()], 3)
        );
        assert_eq!(
            query(InstanceQuery { started_by: Some("sam".into()), ..approval() }).await,
            (vec![id(0), id(2)], 2)
        );
        assert_eq!(query(InstanceQuery { active: Some(true), ..approval() }).await, (vec![id(0), id(2)], 2));
        assert_eq!(
            query(InstanceQuery { active: Some(false), ..InstanceQuery::new(store::DataScope::All) }).await,
            (vec![id(1)], 1)
        );
        assert_eq!(
            query(InstanceQuery { ids: Some(vec![id(2), id(0)]), ..InstanceQuery::new(store::DataScope::All) }).await,
            (vec![id(0), id(2)], 2)
        );
        assert_eq!(
            query(InstanceQuery { id: Some(id(2)), ..InstanceQuery::new(store::DataScope::All) }).await,
            (vec![id(2)], 1)
        );
        let sorted = InstanceQuery { sorting: vec![("businessKey".into(), false)], ..approval() };
        assert_eq!(query(sorted.clone()).await, (vec![id(1), id(0), id(2)], 3));
        let paged = InstanceQuery { page: Page { first_result: 1, max_results: Some(1) }, ..sorted };
        assert_eq!(query(paged).await, (vec![id(0)], 3));
        let bad = InstanceQuery { sorting: vec![("state".into(), true)], ..InstanceQuery::new(store::DataScope::All) };
        assert_invalid(cx.store.instances(&bad).await, "unknown sort column");
    })
    .await;
}
