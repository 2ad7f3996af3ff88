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
