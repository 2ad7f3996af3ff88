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

/// The bytes an audit row's MAC covers are part of the stored format: audit logs written before
/// the chain moved to `crypto::audit` (issue 11) must keep verifying. The expected MAC was
/// computed outside Rust (Python's `hmac` with OpenSSL's SM3) from the encoding of the earlier
/// `store::identity::audit_canonical`: every part length-prefixed (u64, big-endian) — `audit-v1`,
/// the previous MAC, seq, time, user, source address, action, target, result, detail, with a
/// NUL byte for a missing value.
#[test]
fn the_audit_mac_covers_the_row_as_it_always_has() {
    let keys = crypto::KeyConfig {
        current_data_key: "k1".into(),
        data_keys: [("k1".to_string(), "0123456789abcdeffedcba9876543210".to_string())].into(),
        index_key: "00".repeat(32),
        audit_key: (32u8..64).map(|byte| format!("{byte:02x}")).collect(),
        sm2_private_key: "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8".into(),
    };
    let provider = crypto::SoftwareCrypto::from_config(&keys).expect("valid keys");
    let entry = store::identity::AuditEntry {
        at: 1_700_000_000_123,
        user_id: Some("管理员admin".into()),
        source_ip: None,
        action: "user.freeze".into(),
        target: Some("zhang".into()),
        result: "success".into(),
        detail: None,
    };
    let mac = store::identity::audit_mac(&provider, 7, &entry, &"5f".repeat(32)).expect("mac");
    assert_eq!(mac, "d3bc92bcdbd78de05ad086c77212e303725849a884cf90035ebd8a2cfb3de8a4");
}
