//! Users and group memberships.

use store::UserRecord;

use crate::support::{assert_conflict, each_backend};

fn user(id: &str) -> UserRecord {
    UserRecord {
        id: id.into(),
        password_hash: format!("hash-of-{id}"),
        first_name: Some("Xiao".into()),
        last_name: Some("王".into()),
        email: Some(format!("{id}@example.org")),
        must_change_password: true,
        created_at: 1_700_000_000_000,
    }
}

#[tokio::test]
async fn users_and_memberships() {
    each_backend(|cx| async move {
        assert_eq!(cx.store.user_count().await.expect("counts"), 0);
        let wang = user("wang");
        cx.store.insert_user(&wang).await.expect("inserts");
        assert_eq!(cx.store.user("wang").await.expect("loads"), Some(wang.clone()), "every field round-trips");
        let plain =
            UserRecord { first_name: None, last_name: None, email: None, must_change_password: false, ..user("li") };
        cx.store.insert_user(&plain).await.expect("inserts");
        assert_eq!(cx.store.user("li").await.expect("loads"), Some(plain));
        assert_eq!(cx.store.user("nobody").await.expect("loads"), None);

        let duplicate = UserRecord { password_hash: "other".into(), ..user("wang") };
        assert_conflict(cx.store.insert_user(&duplicate).await, "duplicate user id");
        assert_eq!(cx.store.user("wang").await.expect("loads"), Some(wang), "the first user is unchanged");
        assert_eq!(cx.store.user_count().await.expect("counts"), 2);

        assert!(cx.store.user_groups("wang").await.expect("loads").is_empty());
        for group in ["reviewers", "admins", "reviewers"] {
            cx.store.add_membership("wang", group).await.expect("membership is added (idempotently)");
        }
        cx.store.add_membership("li", "clerks").await.expect("adds");
        assert_eq!(cx.store.user_groups("wang").await.expect("loads"), vec!["admins", "reviewers"]);
        assert_eq!(cx.store.user_groups("li").await.expect("loads"), vec!["clerks"]);
        assert!(cx.store.user_groups("nobody").await.expect("loads").is_empty());
        assert!(
            cx.store.add_membership("nobody", "reviewers").await.is_err(),
            "{}: a membership needs an existing user",
            cx.backend
        );
        assert!(cx.store.user_groups("nobody").await.expect("loads").is_empty());
    })
    .await;
}
