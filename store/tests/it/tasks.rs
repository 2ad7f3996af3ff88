//! Task queries (the task list and the candidate inbox) and claiming.

use engine::Value;
use runtime::executor::now_millis;
use store::{ActivityQuery, Page, TaskHistoryQuery, TaskQuery};

use crate::models::{APPROVAL, SCRIPTED};
use crate::support::{
    approval_vars, assert_conflict, assert_invalid, assert_not_found, decision, each_backend, next_millisecond,
    task_ids, vars,
};

#[tokio::test]
async fn task_queries_filter_sort_and_page() {
    each_backend(|cx| async move {
        let approval = cx.deploy_one("approval.bpmn", APPROVAL).await;
        let scripted = cx.deploy_one("scripted.bpmn", SCRIPTED).await;
        // (business key, starter, reviewer, candidate groups, priority)
        let setups = [
            ("order-1", "sam", "alice", vec!["reviewers"], 10),
            ("order-2", "sam", "bob", vec!["managers"], 90),
            ("order-3", "tom", "alice", vec!["reviewers", "managers"], 50),
        ];
        let mut review = Vec::new();
        for (key, starter, reviewer, groups, priority) in &setups {
            let instance =
                cx.start(&approval, Some(key), approval_vars(starter, reviewer, groups, *priority), None).await;
            review.push(cx.only_task(&instance.id).await);
            next_millisecond().await;
        }
        let clerk_instance = cx
            .start(
                &scripted,
                Some("order-4"),
                vars(&[("amount", Value::Integer(1)), ("bonus", Value::Integer(2))]),
                None,
            )
            .await;
        let clerk = cx.only_task(&clerk_instance.id).await;
        assert_eq!((clerk.task_definition_key.as_str(), clerk.priority), ("check", 50));
        // alice claims the third review.
        cx.store.set_assignee(&review[2].id, Some(None), Some("alice"), now_millis(), "alice").await.expect("claims");
        let (r1, r2, r3, c) = (review[0].id.clone(), review[1].id.clone(), review[2].id.clone(), clerk.id.clone());
        assert_eq!(review[2].candidate_groups, vec!["managers", "reviewers"]);

        let found = |query: TaskQuery| {
            let cx = &cx;
            async move {
                let (tasks, total) = cx.tasks(query).await;
                (task_ids(&tasks), total)
            }
        };
        let q = || TaskQuery::new(store::DataScope::All);
        assert_eq!(
            found(q()).await,
            (vec![r1.clone(), r2.clone(), r3.clone(), c.clone()], 4),
            "default order: created"
        );
        assert_eq!(
            found(TaskQuery { instance_id: Some(clerk_instance.id.clone()), ..q() }).await,
            (vec![c.clone()], 1)
        );
        assert_eq!(
            found(TaskQuery {
                instance_ids: Some(vec![review[1].instance_id.clone(), clerk.instance_id.clone()]),
                ..q()
            })
            .await,
            (vec![r2.clone(), c.clone()], 2)
        );
        assert_eq!(found(TaskQuery { definition_key: Some("approval".into()), ..q() }).await.1, 3);
        assert_eq!(found(TaskQuery { definition_id: Some(scripted.id.clone()), ..q() }).await, (vec![c.clone()], 1));
        assert_eq!(found(TaskQuery { task_definition_key: Some("check".into()), ..q() }).await, (vec![c.clone()], 1));
        assert_eq!(
            found(TaskQuery { task_definition_keys: Some(vec!["review".into(), "check".into()]), ..q() }).await.1,
            4
        );
        assert_eq!(found(TaskQuery { name: Some("Review".into()), ..q() }).await.1, 3);
        assert_eq!(found(TaskQuery { name_like: Some("Che%".into()), ..q() }).await, (vec![c.clone()], 1));
        assert_eq!(found(TaskQuery { assignee: Some("alice".into()), ..q() }).await, (vec![r3.clone()], 1));
        assert_eq!(found(TaskQuery { assignee_like: Some("ali%".into()), ..q() }).await, (vec![r3.clone()], 1));
        assert_eq!(found(TaskQuery { assigned: Some(true), ..q() }).await, (vec![r3.clone()], 1));
        assert_eq!(
            found(TaskQuery { assigned: Some(false), ..q() }).await,
            (vec![r1.clone(), r2.clone(), c.clone()], 3)
        );
        assert_eq!(found(TaskQuery { business_key: Some("order-2".into()), ..q() }).await, (vec![r2.clone()], 1));
        assert_eq!(found(TaskQuery { business_key: Some("order-0".into()), ..q() }).await, (vec![], 0));
        assert_eq!(
            found(TaskQuery { min_priority: Some(50), ..q() }).await,
            (vec![r2.clone(), r3.clone(), c.clone()], 3)
        );
        assert_eq!(found(TaskQuery { max_priority: Some(10), ..q() }).await, (vec![r1.clone()], 1));

        // The candidate inbox: named as candidate user, or in a candidate group; claimed tasks only
        // with include_assigned.
        let user = |name: &str, groups: &[&str], include_assigned: bool| TaskQuery {
            candidate_user: Some(name.into()),
            candidate_user_groups: groups.iter().map(|g| g.to_string()).collect(),
            include_assigned,
            ..q()
        };
        assert_eq!(found(user("alice", &[], false)).await, (vec![r1.clone()], 1), "r3 is claimed");
        assert_eq!(found(user("alice", &[], true)).await, (vec![r1.clone(), r3.clone()], 2));
        assert_eq!(found(user("bob", &[], false)).await, (vec![r2.clone()], 1));
        assert_eq!(found(user("carol", &[], false)).await, (vec![r1.clone(), r2.clone()], 2));
        assert_eq!(found(user("carol", &[], true)).await, (vec![r1.clone(), r2.clone(), r3.clone()], 3));
        assert_eq!(found(user("dave", &[], true)).await, (vec![], 0));
        assert_eq!(found(user("dave", &["managers"], false)).await, (vec![r2.clone()], 1));
        assert_eq!(found(user("dave", &["managers"], true)).await, (vec![r2.clone(), r3.clone()], 2));
        assert_eq!(found(user("dave", &["clerks", "reviewers"], false)).await, (vec![r1.clone(), c.clone()], 2));
        // A task that matches as user and through a group is listed once.
        assert_eq!(
            found(user("alice", &["reviewers", "managers"], true)).await,
            (vec![r1.clone(), r2.clone(), r3.clone()], 3)
        );
        let groups = |names: &[&str], include_assigned: bool| TaskQuery {
            candidate_groups: Some(names.iter().map(|g| g.to_string()).collect()),
            include_assigned,
            ..q()
        };
        assert_eq!(found(groups(&["reviewers"], false)).await, (vec![r1.clone()], 1));
        assert_eq!(found(groups(&["reviewers"], true)).await, (vec![r1.clone(), r3.clone()], 2));
        assert_eq!(found(groups(&["managers", "clerks"], false)).await, (vec![r2.clone(), c.clone()], 2));
        assert_eq!(found(groups(&[], true)).await, (vec![], 0));
        // Candidate filters combine with the others.
        assert_eq!(
            found(TaskQuery { definition_key: Some("approval".into()), ..groups(&["managers", "clerks"], true) }).await,
            (vec![r2.clone(), r3.clone()], 2)
        );

        // Sorting.
        let sorted = |sorting: &[(&str, bool)], page: Page| TaskQuery {
            definition_key: Some("approval".into()),
            sorting: sorting.iter().map(|(name, ascending)| (name.to_string(), *ascending)).collect(),
            page,
            ..q()
        };
        let all = Page::default;
        assert_eq!(found(sorted(&[("priority", false)], all())).await.0, vec![r2.clone(), r3.clone(), r1.clone()]);
        assert_eq!(found(sorted(&[("priority", true)], all())).await.0, vec![r1.clone(), r3.clone(), r2.clone()]);
        assert_eq!(found(sorted(&[("created", false)], all())).await.0, vec![r3.clone(), r2.clone(), r1.clone()]);
        assert_eq!(found(sorted(&[("created", true)], all())).await.0, vec![r1.clone(), r2.clone(), r3.clone()]);
        assert_eq!(
            found(TaskQuery { sorting: vec![("priority".into(), true), ("created".into(), false)], ..q() }).await.0,
            vec![r1.clone(), c.clone(), r3.clone(), r2.clone()],
            "ties on priority fall to the next sort key"
        );
        assert_invalid(cx.store.tasks(&sorted(&[("candidate", true)], all())).await, "unknown sort column");

        // Paging: `total` counts the whole result; candidates are complete on every page.
        let page = |first_result, max_results| Page { first_result, max_results };
        let by_priority = [("priority", false)];
        assert_eq!(found(sorted(&by_priority, page(0, Some(2)))).await, (vec![r2.clone(), r3.clone()], 3));
        assert_eq!(found(sorted(&by_priority, page(1, Some(1)))).await, (vec![r3.clone()], 3));
        assert_eq!(found(sorted(&by_priority, page(2, Some(5)))).await, (vec![r1.clone()], 3));
        assert_eq!(found(sorted(&by_priority, page(0, Some(3)))).await, (vec![r2.clone(), r3.clone(), r1.clone()], 3));
        assert_eq!(found(sorted(&by_priority, page(5, None))).await, (vec![], 3));
        assert_eq!(found(sorted(&by_priority, page(0, Some(0)))).await, (vec![], 3));
        let (paged, _) = cx.tasks(sorted(&by_priority, page(1, Some(1)))).await;
        assert_eq!(paged[0].candidate_users, vec!["alice", "carol"]);
        assert_eq!(paged[0].candidate_groups, vec!["managers", "reviewers"]);
        let (candidates_paged, total) =
            cx.tasks(TaskQuery { page: page(1, Some(1)), ..user("carol", &[], true) }).await;
        assert_eq!((task_ids(&candidates_paged), total), (vec![r2.clone()], 3));
    })
    .await;
}

#[tokio::test]
async fn claim_unclaim_and_set_assignee() {
    each_backend(|cx| async move {
        let definition = cx.deploy_one("approval.bpmn", APPROVAL).await;
        let instance = cx.start(&definition, None, approval_vars("sam", "alice", &["reviewers"], 50), None).await;
        let task = cx.only_task(&instance.id).await;
        let assignee_everywhere = |expected: Option<&'static str>| {
            let cx = &cx;
            let task_id = task.id.clone();
            async move {
                let current = cx.store.task(&task_id).await.expect("loads").expect("task exists");
                assert_eq!(current.assignee.as_deref(), expected, "{}: task row", cx.backend);
                let history = cx
                    .task_history(TaskHistoryQuery {
                        task_id: Some(task_id.clone()),
                        ..TaskHistoryQuery::new(store::DataScope::All)
                    })
                    .await;
                assert_eq!(history[0].assignee.as_deref(), expected, "{}: task history", cx.backend);
                let query =
                    ActivityQuery { activity_id: Some("review".into()), ..ActivityQuery::new(store::DataScope::All) };
                let (activities, _) = cx.store.activity_history(&query).await.expect("loads");
                assert_eq!(activities[0].assignee.as_deref(), expected, "{}: activity history", cx.backend);
            }
        };

        cx.store.set_assignee(&task.id, Some(None), Some("alice"), now_millis(), "alice").await.expect("alice claims");
        assignee_everywhere(Some("alice")).await;
        assert_conflict(
            cx.store.set_assignee(&task.id, Some(None), Some("bob"), now_millis(), "bob").await,
            "second claimer",
        );
        assignee_everywhere(Some("alice")).await;
        assert_conflict(
            cx.store.set_assignee(&task.id, Some(Some("bob")), None, now_millis(), "bob").await,
            "unclaiming someone else's task",
        );
        assignee_everywhere(Some("alice")).await;

        cx.store.set_assignee(&task.id, Some(Some("alice")), None, now_millis(), "alice").await.expect("unclaims");
        assignee_everywhere(None).await;
        cx.store.set_assignee(&task.id, Some(None), Some("bob"), now_millis(), "bob").await.expect("bob claims");
        assignee_everywhere(Some("bob")).await;
        // Without an expectation the assignee is simply set (an admin reassigning).
        cx.store.set_assignee(&task.id, None, Some("carol"), now_millis(), "admin").await.expect("reassigns");
        assignee_everywhere(Some("carol")).await;
        cx.store.set_assignee(&task.id, None, None, now_millis(), "admin").await.expect("clears");
        assignee_everywhere(None).await;
        // Each change (not the refused ones) is in the approval timeline, by whom it was made.
        let records = cx.store.approval_records(&task.instance_id).await.expect("records load");
        let changes: Vec<(&str, &str)> = records
            .iter()
            .map(|record| (record.operation.as_str(), record.actor.as_deref().unwrap_or_default()))
            .collect();
        assert_eq!(
            changes,
            [("claim", "alice"), ("unclaim", "alice"), ("claim", "bob"), ("assignee", "admin"), ("unclaim", "admin")],
            "{}",
            cx.backend
        );

        for expected in [None, Some(None), Some(Some("alice"))] {
            assert_not_found(
                cx.store.set_assignee("no-such-task", expected, Some("alice"), now_millis(), "alice").await,
                "unknown task",
            );
        }
        // Completing keeps the last assignee in history; the task row is gone afterwards.
        cx.store.set_assignee(&task.id, Some(None), Some("dave"), now_millis(), "dave").await.expect("claims");
        cx.executor.complete_task(&task.id, decision(true), Some("dave")).await.expect("completes");
        let history = cx
            .task_history(TaskHistoryQuery {
                assignee: Some("dave".into()),
                ..TaskHistoryQuery::new(store::DataScope::All)
            })
            .await;
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].completed_by.as_deref(), Some("dave"));
        assert_not_found(
            cx.store.set_assignee(&task.id, Some(None), Some("erin"), now_millis(), "erin").await,
            "claiming a completed task",
        );
    })
    .await;
}

/// Sorting by a nullable column gives the same order on every backend: NULLs sort as larger than
/// any value (last ascending, first descending).
#[tokio::test]
async fn unassigned_tasks_sort_the_same_on_every_backend() {
    each_backend(|cx| async move {
        let definition = cx.deploy_one("approval.bpmn", APPROVAL).await;
        let mut tasks = Vec::new();
        for assignee in [Some("bob"), None, Some("alice"), None] {
            let instance = cx.start(&definition, None, approval_vars("sam", "alice", &["reviewers"], 50), None).await;
            let task = cx.only_task(&instance.id).await;
            if let Some(user) = assignee {
                cx.store.set_assignee(&task.id, None, Some(user), now_millis(), user).await.expect("assigns");
            }
            tasks.push(task.id);
            next_millisecond().await;
        }
        let sorted = |ascending: bool| {
            let cx = &cx;
            async move {
                let query = TaskQuery {
                    sorting: vec![("assignee".into(), ascending)],
                    ..TaskQuery::new(store::DataScope::All)
                };
                task_ids(&cx.tasks(query).await.0)
            }
        };
        // Ties (the two unassigned tasks) fall back to creation order.
        let expected = |order: [usize; 4]| order.iter().map(|&index| tasks[index].clone()).collect::<Vec<_>>();
        assert_eq!(sorted(true).await, expected([2, 0, 1, 3]), "{}: ascending, unassigned last", cx.backend);
        assert_eq!(sorted(false).await, expected([1, 3, 0, 2]), "{}: descending, unassigned first", cx.backend);
        let page = TaskQuery {
            sorting: vec![("assignee".into(), true)],
            page: Page { first_result: 1, max_results: Some(2) },
            ..TaskQuery::new(store::DataScope::All)
        };
        let (paged, total) = cx.tasks(page).await;
        assert_eq!((task_ids(&paged), total), (vec![tasks[0].clone(), tasks[1].clone()], 4));
    })
    .await;
}
