//! Issue 10: what an outside probe broke, one test per finding (`docs/security.md` names them
//! T-…), on every backend. Each of these failed before its fix.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use axum::response::IntoResponse as _;

use crate::identity::{PASSWORD, Session, add_account, login, raw};
use crate::support::{APPROVAL, TestApp, each_backend, spawn_node};

/// A request as `user` over HTTP Basic.
pub fn as_user(app: &TestApp, user: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
    app.client.request(method, app.url(path)).basic_auth(user, Some(PASSWORD))
}

pub async fn status_and_json(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn nested(depth: usize) -> Value {
    let mut value = json!(1);
    for _ in 0..depth {
        value = Value::Array(vec![value]);
    }
    value
}

/// T-DATA (finding 3): a variable nested 126 deep is refused at the start, with a stable code;
/// an instance already damaged in the database is left out of every list, does not stop a
/// node from starting, and a process administrator sees and ends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_request_cannot_poison_the_database() {
    each_backend(|app| async move {
        add_account(&app, "hp", "310101", &["district-staff"], "staff").await;
        app.executor.store().add_membership("hp", "district-reviewers").await.expect("member");
        assert_eq!(app.deploy("approval", APPROVAL).await.0, 200);
        let poisoned = json!({ "variables": { "doc": { "value": nested(126).to_string(), "type": "Json" } } });
        let (status, body) = status_and_json(
            as_user(&app, "hp", Method::POST, "/process-definition/key/approval/start").json(&poisoned),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["message"].as_str().unwrap_or_default().contains("doc"), "{body}");
        // The same through a task completion and a variable update.
        let healthy = app.start("approval", json!({})).await["id"].as_str().expect("id").to_string();
        let task = app.tasks_of(&healthy).await[0]["id"].as_str().expect("task").to_string();
        let deep = json!({ "variables": { "doc": { "value": nested(60), "type": "Json" } } });
        let (status, _) = status_and_json(app.post(&format!("/task/{task}/complete"), deep)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

        // A document damaged behind the system's back (an older build, a hand edit).
        let damaged = app.start("approval", json!({})).await["id"].as_str().expect("id").to_string();
        raw(&app, &format!("UPDATE process_instances SET state = '{}' WHERE id = '{damaged}'", nested(200))).await;
        let list = app.json("/process-instance").await;
        let ids: Vec<&str> = list.as_array().expect("list").iter().filter_map(|i| i["id"].as_str()).collect();
        assert!(ids.contains(&healthy.as_str()) && !ids.contains(&damaged.as_str()), "{ids:?}");
        assert_eq!(app.tasks_of(&healthy).await.len(), 1, "the healthy instance still works");
        // A node starts on this database, demo loading included.
        let second = spawn_node(&app.backend, &app.url).await;
        web::demo::deploy_shipped(&second.executor).await.expect("deploying does not fail on existing data");
        let keys = crate::support::test_keys();
        web::demo::load_flows(&second.executor, keys).await.expect("demo loading does not fail on existing data");
        // The administrator sees it and ends it; the district user may not.
        let admin = |method: Method, path: &str| {
            app.client
                .request(method, format!("{}{path}", app.base))
                .basic_auth("admin", Some(crate::support::ADMIN_PASSWORD))
        };
        let (status, listed) = status_and_json(admin(Method::GET, "/api/damaged-instances")).await;
        assert_eq!(status, 200);
        assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
        assert_eq!(listed[0]["id"], damaged.as_str());
        let (status, _) = status_and_json(
            app.client.delete(format!("{}/api/damaged-instances/{damaged}", app.base)).basic_auth("hp", Some(PASSWORD)),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, body) = status_and_json(admin(Method::DELETE, &format!("/api/damaged-instances/{healthy}"))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a healthy instance is not discarded: {body}");
        let (status, _) = status_and_json(admin(Method::DELETE, &format!("/api/damaged-instances/{damaged}"))).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(status_and_json(admin(Method::GET, "/api/damaged-instances")).await.1, json!([]));
        assert!(app.tasks_of(&damaged).await.is_empty(), "its tasks are gone");
    })
    .await;
}

fn api(app: &TestApp, path: &str) -> String {
    format!("{}{path}", app.base)
}

/// The audit rows with this action, as the auditor reads them.
async fn audit_rows(app: &TestApp, auditor: &Session, action: &str) -> Vec<Value> {
    let rows: Value = auditor.get(app, "/api/audit?limit=1000").send().await.expect("sent").json().await.expect("JSON");
    rows.as_array().cloned().unwrap_or_default().into_iter().filter(|row| row["action"] == action).collect()
}

/// T-ADMIN (finding 1): nobody acquires another administrator's credentials, and the three
/// administrator roles never meet in one account, over the API, the CLI's code path or a
/// signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_three_administrators_stay_separate() {
    each_backend(|app| async move {
        add_account(&app, "aud1", "310000", &["auditor"], "staff").await;
        add_account(&app, "sec1", "310000", &["secadmin"], "staff").await;
        add_account(&app, "bot", "310000", &["city-staff"], "machine").await;
        add_account(&app, "zhang", "310101", &["district-staff"], "staff").await;
        let admin = login(&app, "admin", crate::support::ADMIN_PASSWORD).await;
        let secadmin = login(&app, "sec1", PASSWORD).await;
        let auditor = login(&app, "aud1", PASSWORD).await;
        let key_body = json!({ "name": "k", "password": crate::support::ADMIN_PASSWORD });
        // The system administrator mints no key for anybody: not the auditor, the security
        // administrator, nor a machine account.
        for user in ["aud1", "sec1", "bot"] {
            let (status, body) =
                status_and_json(admin.post(&app, &format!("/api/users/{user}/api-keys"), key_body.clone())).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "sysadmin mints a key for {user}: {body}");
        }
        // The security administrator mints none for a person either, only for machines.
        let (status, body) = status_and_json(
            secadmin.post(&app, "/api/users/aud1/api-keys", json!({ "name": "k", "password": PASSWORD })),
        )
        .await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("machine-accounts-only")));
        // The system administrator neither resets nor freezes another administrator.
        for path in ["/api/users/aud1/password", "/api/users/sec1/freeze", "/api/users/aud1/cancel"] {
            let (status, _) =
                status_and_json(admin.post(&app, path, json!({ "password": "Another-Pass-2026x" }))).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        }
        assert_eq!(login(&app, "aud1", PASSWORD).await.body["username"], "aud1", "its password is unchanged");
        // One account holding all three: refused at creation …
        let triple = json!({ "username": "triple", "unit": "310000", "roles": ["sysadmin", "secadmin", "auditor"], "password": "Initial-Pass-2026" });
        let (status, body) = status_and_json(admin.post(&app, "/api/users", triple)).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("admin-roles-combined")));
        // … and an administrator role comes only from the security administrator.
        let one = json!({ "username": "aud2", "unit": "310000", "roles": ["auditor"], "password": "Initial-Pass-2026" });
        let (status, body) = status_and_json(admin.post(&app, "/api/users", one)).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("admin-role-assignment")));
        // … by role assignment, never two of them, and only with a step-up.
        let put = |roles: Value| secadmin.send(&app, Method::PUT, "/api/users/zhang/roles", roles);
        let (status, body) = status_and_json(put(json!({ "roles": ["sysadmin", "auditor"], "password": PASSWORD }))).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("admin-roles-combined")));
        let (status, body) = status_and_json(put(json!({ "roles": ["auditor"] }))).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("step-up-required")));
        let (status, body) = status_and_json(put(json!({ "roles": ["auditor"], "password": "wrong" }))).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("step-up-failed")));
        let (status, _) = status_and_json(put(json!({ "roles": ["auditor"], "password": PASSWORD }))).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let changes = audit_rows(&app, &auditor, "user.roles.admin").await;
        assert!(changes.iter().any(|row| row["user"] == "sec1" && row["target"] == "zhang"), "{changes:?}");
        // The CLI path (no actor) refuses the combination too, and so does the signature.
        let state = web::AppState::with_security(app.executor.clone(), crate::support::test_security());
        let user = web::identity::api::NewUser {
            username: "cli-triple".into(),
            display_name: None,
            unit: "310000".into(),
            kind: "staff".into(),
            roles: vec!["sysadmin".into(), "auditor".into()],
            password: "Initial-Pass-2026".into(),
        };
        let refused = web::identity::api::add_user(&state, None, &user, "cli").await;
        assert!(refused.is_err_and(|error| error.to_string().contains("三员")), "the CLI refuses it");
        app.executor.store().set_account_roles("bot", &["sysadmin".into(), "auditor".into()]).await.expect("raw");
        let signed = web::identity::sign_access(app.executor.store().as_ref(), crate::support::test_keys(), "bot").await;
        assert!(signed.is_err(), "no signature over a combined record");
    })
    .await;
}

/// T-2FA (finding 2): with a second factor enrolled or required, HTTP Basic is refused; API keys
/// are for machine accounts, need a step-up to create, expire, are listed and revocable.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn basic_and_keys_do_not_skip_the_second_factor() {
    for backend in store::testing::backends() {
        let url = store::testing::fresh_database_url(&backend).await;
        let mut security = crate::support::test_security();
        security.require_totp = true;
        let app = crate::support::spawn_node_with(&backend, &url, security).await;
        add_account(&app, "staff1", "310000", &["city-staff"], "staff").await;
        add_account(&app, "sec1", "310000", &["secadmin"], "staff").await;
        add_account(&app, "bot", "310000", &["city-staff"], "machine").await;
        // Staff must use a second factor here: Basic is refused, before and after enrolment.
        let basic = as_user(&app, "staff1", Method::GET, "/task").send().await.expect("sent");
        assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(basic.json::<Value>().await.expect("JSON")["type"], "AuthorizationException");
        let (status, body) =
            status_and_json(app.client.get(api(&app, "/api/users")).basic_auth("sec1", Some(PASSWORD))).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("basic-not-allowed")));
        // A machine account needs no second factor and may use Basic.
        assert_eq!(as_user(&app, "bot", Method::GET, "/task").send().await.expect("sent").status(), 200);

        // The security administrator enrols TOTP, then creates a key only with a fresh code.
        let secret = enrol_totp(&app, "sec1").await;
        let steps = Steps::now();
        let sec = crate::identity::try_login(&app, "sec1", PASSWORD, Some(&steps.code(&secret, 0))).await.expect("in");
        let create = |body: Value| sec.post(&app, "/api/users/bot/api-keys", body);
        let (status, body) = status_and_json(create(json!({ "name": "ci", "password": PASSWORD }))).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("step-up-required")), "{body}");
        let (status, body) = status_and_json(create(json!({ "name": "ci", "totp": steps.code(&secret, 0) }))).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("totp-invalid")), "a used code");
        let (status, body) =
            status_and_json(create(json!({ "name": "ci", "totp": steps.code(&secret, 1), "expiresInDays": 400 })))
                .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "longer than allowed: {body}");
        let (status, created) =
            status_and_json(create(json!({ "name": "ci", "totp": steps.code(&secret, 1), "expiresInDays": 30 }))).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let key = created["key"].as_str().expect("the key, once").to_string();
        let key_id = created["id"].as_str().expect("public id").to_string();
        let bearer = || app.client.get(app.url("/task")).bearer_auth(&key);
        assert_eq!(bearer().send().await.expect("sent").status(), 200);
        // Listed without its secret; a key cannot mint another key.
        let (_, listed) = status_and_json(sec.get(&app, "/api/users/bot/api-keys")).await;
        assert_eq!(listed[0]["id"], key_id.as_str());
        assert!(listed.to_string().find(&key).is_none(), "the secret is never listed");
        let (status, _) = status_and_json(
            app.client.post(api(&app, "/api/users/bot/api-keys")).bearer_auth(&key).json(&json!({ "name": "again" })),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // Expired keys stop working.
        let now = runtime::executor::now_millis();
        raw(&app, &format!("UPDATE api_keys SET expires_at = {now} WHERE public_id = '{key_id}'")).await;
        assert_eq!(bearer().send().await.expect("sent").status(), 401, "expired");
        raw(&app, &format!("UPDATE api_keys SET expires_at = {} WHERE public_id = '{key_id}'", now + 3_600_000)).await;
        assert_eq!(bearer().send().await.expect("sent").status(), 200);
        // Revoked keys stop working at once.
        let revoke = sec.send(&app, Method::DELETE, &format!("/api/users/bot/api-keys/{key_id}"), json!({}));
        assert_eq!(revoke.send().await.expect("sent").status(), 204);
        assert_eq!(bearer().send().await.expect("sent").status(), 401, "revoked");
        // A key issued earlier to a person stops working too.
        let digest = web::identity::token_digest("sy_old-staff-key");
        raw(&app, &format!("INSERT INTO api_keys (id, user_id, name, created_at, expires_at, public_id) VALUES ('{digest}', 'staff1', 'old', 0, {}, 'oldkey')", now + 3_600_000)).await;
        let old = app.client.get(app.url("/task")).bearer_auth("sy_old-staff-key").send().await.expect("sent");
        assert_eq!(old.status(), 401);
    }
}

/// Enrols a TOTP secret for `user` directly (sealed as the server does); returns the secret.
async fn enrol_totp(app: &TestApp, user: &str) -> String {
    let secret = crypto::totp::new_secret();
    let sealed = crypto::encrypt_text(crate::support::test_keys(), &secret, &web::identity::api::totp_aad(user))
        .expect("sealed");
    app.executor.store().set_totp_secret(user, Some(&sealed)).await.expect("stored");
    secret
}

/// TOTP codes counted from the 30-second step a test began in, not from the clock at each call:
/// a test that crosses a step boundary still sends the code it means (a used code stays used, the
/// next step's code stays the next). The server accepts one step either side, so a test has ~30 s.
#[derive(Clone, Copy)]
pub(crate) struct Steps(u64);

impl Steps {
    pub(crate) fn now() -> Self {
        Steps((runtime::executor::now_millis() / 1000 / 30) as u64)
    }

    /// The code of `secret` for the starting step plus `offset` steps.
    pub(crate) fn code(self, secret: &str, offset: u64) -> String {
        let key = crypto::totp::decode_secret(secret).expect("base32");
        crypto::totp::hotp(&key, self.0 + offset, 6)
    }
}

/// T-LOCK (finding 10): failures lock a name only for the source they come from; an unknown
/// name answers exactly like a locked or wrong one; the CLI's unlock is the way back in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lockout_is_per_source_and_reveals_no_names() {
    each_backend(|app| async move {
        let state = web::AppState::with_security(app.executor.clone(), crate::support::test_security());
        let attempt = |name: &'static str, password: &'static str, source: &'static str| {
            let state = state.clone();
            async move { web::identity::check_password(&state, name, password, source).await.err() }
        };
        for _ in 0..4 {
            attempt("admin", "guess", "203.0.113.9").await.expect("refused");
            attempt("nobody", "guess", "203.0.113.9").await.expect("refused");
        }
        let locked_admin = attempt("admin", "guess", "203.0.113.9").await.expect("refused").into_response();
        let locked_nobody = attempt("nobody", "guess", "203.0.113.9").await.expect("refused").into_response();
        let (admin_status, admin_body) = (locked_admin.status(), body_of(locked_admin).await);
        let (nobody_status, nobody_body) = (locked_nobody.status(), body_of(locked_nobody).await);
        assert_eq!(admin_status, nobody_status, "an account and a non-account answer alike");
        assert_eq!(admin_body["error"], nobody_body["error"]);
        assert_eq!(admin_body["error"], "account-locked");
        // The right password from the attacker's address is still refused …
        let from_attacker = attempt("admin", crate::support::ADMIN_PASSWORD, "203.0.113.9").await;
        assert!(from_attacker.is_some(), "locked for that source");
        // … while the administrator logs in from anywhere else (over real HTTP, from 127.0.0.1).
        login(&app, "admin", crate::support::ADMIN_PASSWORD).await;
        // The trusted path: the CLI's unlock ends every lock of the name.
        app.executor.store().clear_login_failures("admin").await.expect("unlocked");
        assert!(attempt("admin", crate::support::ADMIN_PASSWORD, "203.0.113.9").await.is_none());
    })
    .await;
}

async fn body_of(response: axum::response::Response) -> Value {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// T-STEP (finding 11): a signed-in session cannot replace the enrolled second factor without
/// the password and a current code of the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replacing_the_second_factor_needs_password_and_current_code() {
    each_backend(|app| async move {
        add_account(&app, "li", "310101", &["district-staff"], "staff").await;
        let old = enrol_totp(&app, "li").await;
        let steps = Steps::now();
        let session = crate::identity::try_login(&app, "li", PASSWORD, Some(&steps.code(&old, 0))).await.expect("in");
        let new = crypto::totp::new_secret();
        let confirm = |body: Value| session.post(&app, "/api/session/totp/confirm", body);
        let (status, body) = status_and_json(confirm(json!({ "secret": new, "code": steps.code(&new, 0) }))).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("step-up-required")), "{body}");
        let (status, body) = status_and_json(confirm(
            json!({ "secret": new, "code": steps.code(&new, 0), "currentCode": steps.code(&old, 1), "password": "wrong" }),
        ))
        .await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("step-up-failed")), "{body}");
        // The code above was used: the next step's code and the password replace it.
        let stored = |app: &TestApp| {
            let store = app.executor.store().clone();
            async move { store.account("li").await.expect("reads").and_then(|account| account.totp_secret) }
        };
        let before = stored(&app).await;
        raw(&app, "UPDATE users SET totp_last_step = 0 WHERE id = 'li'").await;
        let (status, body) = status_and_json(confirm(
            json!({ "secret": new, "code": steps.code(&new, 0), "currentCode": steps.code(&old, 0), "password": PASSWORD }),
        ))
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert_ne!(stored(&app).await, before, "replaced");
    })
    .await;
}

/// T-RIGHTS (finding 5): a same-district colleague who may not act on the instance neither
/// rewrites its variables nor deletes it; its starter may (while 撤回 is allowed), and every
/// such change is in the approval timeline with its actor.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changing_an_instance_needs_a_right_to_it() {
    each_backend(|app| async move {
        add_account(&app, "hp1", "310101", &["district-staff"], "staff").await;
        add_account(&app, "hp2", "310101", &["district-staff"], "staff").await;
        assert_eq!(app.deploy("approval", APPROVAL).await.0, 200);
        let start = json!({ "variables": { "applicant": { "value": "hp1", "type": "String" } } });
        let (status, started) =
            status_and_json(as_user(&app, "hp1", Method::POST, "/process-definition/key/approval/start").json(&start))
                .await;
        assert_eq!(status, 200, "{started}");
        let id = started["id"].as_str().expect("id").to_string();
        let value = json!({ "value": "hp2", "type": "String" });
        let attempts = [
            (
                Method::POST,
                format!("/process-instance/{id}/variables"),
                json!({ "modifications": { "applicant": value } }),
            ),
            (Method::PUT, format!("/process-instance/{id}/variables/applicant"), value.clone()),
            (Method::DELETE, format!("/process-instance/{id}/variables/applicant"), json!({})),
            (Method::DELETE, format!("/process-instance/{id}"), json!({})),
        ];
        for (method, path, body) in &attempts {
            let (status, answer) = status_and_json(as_user(&app, "hp2", method.clone(), path).json(body)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "hp2 {method} {path}: {answer}");
        }
        let (_, variables) =
            status_and_json(as_user(&app, "hp1", Method::GET, &format!("/process-instance/{id}/variables"))).await;
        assert_eq!(variables["applicant"]["value"], "hp1", "unchanged");
        // The starter changes a variable and withdraws by deleting; both are in the timeline.
        let (status, _) = status_and_json(
            as_user(&app, "hp1", Method::PUT, &format!("/process-instance/{id}/variables/note"))
                .json(&json!({ "value": "补充说明", "type": "String" })),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = status_and_json(as_user(
            &app,
            "hp1",
            Method::DELETE,
            &format!("/process-instance/{id}?deleteReason=不再需要"),
        ))
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let records = app.executor.store().approval_records(&id).await.expect("records");
        let seen: Vec<(&str, Option<&str>)> =
            records.iter().map(|record| (record.operation.as_str(), record.actor.as_deref())).collect();
        assert!(seen.contains(&("variables", Some("hp1"))), "{seen:?}");
        assert!(seen.contains(&("cancel", Some("hp1"))), "{seen:?}");
        assert!(
            records.iter().any(|record| record.operation == "cancel" && record.comment.as_deref() == Some("不再需要"))
        );
    })
    .await;
}

const STARTS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:message id="m" name="申请提交"/>
  <bpmn:signal id="s" name="全市通知"/>
  <bpmn:process id="starts" isExecutable="true">
    <bpmn:startEvent id="byMessage"><bpmn:messageEventDefinition messageRef="m"/></bpmn:startEvent>
    <bpmn:startEvent id="bySignal"><bpmn:signalEventDefinition signalRef="s"/></bpmn:startEvent>
    <bpmn:userTask id="work"/>
    <bpmn:sequenceFlow id="f1" sourceRef="byMessage" targetRef="work"/>
    <bpmn:sequenceFlow id="f2" sourceRef="bySignal" targetRef="work"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// T-OWNER (finding 6): every way an instance comes into being passes one owner check — a
/// district user's message or signal start for another district is refused like a direct one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn message_and_signal_starts_check_the_district() {
    each_backend(|app| async move {
        add_account(&app, "hp", "310101", &["district-staff"], "staff").await;
        assert_eq!(app.deploy("starts", STARTS).await.0, 200);
        let district = |name: &str| json!({ "district": { "value": name, "type": "String" } });
        let message = |name: &str| json!({ "messageName": "申请提交", "processVariables": district(name), "resultEnabled": true });
        let (status, body) = status_and_json(as_user(&app, "hp", Method::POST, "/message").json(&message("徐汇区"))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (status, body) = status_and_json(as_user(&app, "hp", Method::POST, "/message").json(&message("不存在区"))).await;
        assert!(status.is_client_error() && status != StatusCode::FORBIDDEN, "unknown district: {status} {body}");
        // A district user's signal reaches only its district's instances (start events have
        // none, so it starts nothing); the owner check holds for a signal start all the same.
        let signal = json!({ "name": "全市通知", "variables": district("徐汇区") });
        let (status, body) = status_and_json(as_user(&app, "hp", Method::POST, "/signal").json(&signal)).await;
        assert!(status == StatusCode::NO_CONTENT || status == StatusCode::FORBIDDEN, "{status} {body}");
        let variables = [("district".to_string(), engine::Value::String("徐汇区".into()))].into_iter().collect();
        let started = app.executor.broadcast_signal("全市通知", variables, &store::DataScope::All, Some("hp")).await;
        assert!(matches!(started, Err(store::Error::Forbidden(_))), "{started:?}");
        assert_eq!(app.json("/process-instance").await, json!([]), "nothing was started");
        // Its own district works, and the instance is its district's.
        let (status, body) = status_and_json(as_user(&app, "hp", Method::POST, "/message").json(&message("黄浦区"))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, mine) = status_and_json(as_user(&app, "hp", Method::GET, "/process-instance")).await;
        assert_eq!(mine.as_array().map(Vec::len), Some(1), "{mine}");
    })
    .await;
}

/// T-CSRF (finding 9): no 401 invites a browser to cache Basic credentials, and JSON bodies
/// are read only when sent as JSON, so a cross-site form or `text/plain` request changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn browsers_are_not_invited_to_basic_and_json_means_json() {
    each_backend(|app| async move {
        assert_eq!(app.deploy("approval", APPROVAL).await.0, 200);
        for path in ["/api/inbox/todo", "/engine-rest/task", "/api/users"] {
            let browser = app
                .client
                .get(api(&app, path))
                .header("sec-fetch-mode", "navigate")
                .header("accept", "text/html")
                .send()
                .await
                .expect("sent");
            assert_eq!(browser.status(), StatusCode::UNAUTHORIZED, "{path}");
            assert!(browser.headers().get("www-authenticate").is_none(), "{path} invites Basic");
        }
        let api_401 = app.client.get(api(&app, "/api/inbox/todo")).send().await.expect("sent");
        assert!(api_401.headers().get("www-authenticate").is_none(), "/api never invites Basic");
        let start = app.url("/process-definition/key/approval/start");
        for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/mixed; boundary=x"] {
            let response = app
                .client
                .post(&start)
                .basic_auth("admin", Some(crate::support::ADMIN_PASSWORD))
                .header("content-type", content_type)
                .body("{}")
                .send()
                .await
                .expect("sent");
            assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type}");
            let body: Value = response.json().await.expect("Camunda's error shape");
            assert!(body["type"].is_string(), "{body}");
        }
        let plain = app.client.post(api(&app, "/api/session")).header("content-type", "text/plain").body("{}");
        assert_eq!(plain.send().await.expect("sent").status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(app.json("/process-instance").await, json!([]), "nothing was started");
        let response = app.post("/process-definition/key/approval/start", json!({})).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "JSON works");
    })
    .await;
}

const ENDLESS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="endless" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:scriptTask id="count" scriptFormat="rhai"><bpmn:script>n = if n == () { 1 } else { n + 1 }</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="again"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="count"/>
    <bpmn:sequenceFlow id="f2" sourceRef="count" targetRef="again"/>
    <bpmn:sequenceFlow id="f3" sourceRef="again" targetRef="count"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// T-DATA (finding 12): a loop without a wait state is an incident on the instance, committed
/// with every row it wrote, not a 500 about too many SQL variables.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_loop_without_a_wait_state_is_an_incident() {
    each_backend(|app| async move {
        assert_eq!(app.deploy("endless", ENDLESS).await.0, 200);
        let response = app.post("/process-definition/key/endless/start", json!({})).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap_or_default());
        let incidents = app.json("/incident").await;
        assert_eq!(incidents.as_array().map(Vec::len), Some(1), "{incidents}");
        let at = incidents[0]["activityId"].as_str().unwrap_or_default();
        assert!(["count", "again"].contains(&at), "{incidents}");
    })
    .await;
}

/// T-SHAPE (finding 14): every error is `{code, message}` under `/api` and Camunda's shape under
/// `/engine-rest`, axum's own rejections included; every string input has a maximum.
/// The answer to an over-large body. The server answers 413 before it has read the whole body;
/// when the machine is busy the client may still be writing then and see the connection closed
/// (EPIPE) instead of the answer. Such a send is tried again: the answer, once read, is what
/// the caller checks.
async fn oversized(request: impl Fn() -> reqwest::RequestBuilder) -> (StatusCode, Value) {
    for _ in 0..5 {
        if let Ok(response) = request().send().await {
            return (response.status(), response.json::<Value>().await.unwrap_or(Value::Null));
        }
    }
    panic!("the server never answered an over-large body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_error_has_the_documented_shape_and_inputs_have_maxima() {
    each_backend(|app| async move {
        let admin = login(&app, "admin", crate::support::ADMIN_PASSWORD).await;
        // A field of the wrong type, and a body over the limit.
        let wrong_type = admin.post(
            &app,
            "/api/users",
            json!({ "username": "x", "unit": "310101", "roles": "city-staff", "password": 1 }),
        );
        let (status, body) = status_and_json(wrong_type).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["code"].is_string() && body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        // Bodies over the limit: the server answers before reading them and closes the
        // connection, so each goes on a client of its own (a pooled connection would be dead).
        let huge = "x".repeat(11 * 1024 * 1024);
        let (status, body) = oversized(|| {
            reqwest::Client::new()
                .post(api(&app, "/api/users"))
                .header("cookie", &admin.cookie)
                .header("x-csrf-token", &admin.csrf)
                .json(&json!({ "username": huge }))
        })
        .await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("too-large")), "{body}");
        let wrong_method = admin.send(&app, Method::PATCH, "/api/inbox/todo", json!({}));
        let (status, body) = status_and_json(wrong_method).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::METHOD_NOT_ALLOWED, Some("method-not-allowed")));
        // The same under /engine-rest, in Camunda's shape.
        let (status, body) = oversized(|| {
            reqwest::Client::new()
                .post(app.url("/process-definition/key/approval/start"))
                .basic_auth("admin", Some(crate::support::ADMIN_PASSWORD))
                .json(&json!({ "x": huge }))
        })
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert!(body["type"].is_string() && body["code"].is_number(), "{body}");

        // A 5 MB business key, an over-long variable name and an over-large text are refused.
        assert_eq!(app.deploy("approval", APPROVAL).await.0, 200);
        let start = |body: Value| app.post("/process-definition/key/approval/start", body);
        let long_key = "K".repeat(5 * 1024 * 1024);
        let (status, body) = status_and_json(start(json!({ "businessKey": long_key }))).await;
        assert!(status.is_client_error(), "{status}");
        assert!(body["type"].is_string(), "{body}");
        let (status, _) = status_and_json(start(json!({ "businessKey": "K".repeat(256) }))).await;
        assert!(status.is_client_error(), "256 characters: {status}");
        let (status, _) = status_and_json(start(json!({ "businessKey": "业".repeat(255) }))).await;
        assert_eq!(status, StatusCode::OK, "255 characters, Chinese ones too");
        let name = "v".repeat(256);
        let (status, _) =
            status_and_json(start(json!({ "variables": { name: { "value": 1, "type": "Integer" } } }))).await;
        assert!(status.is_client_error(), "a 256-character name: {status}");
        let text = "字".repeat(400_000);
        let (status, body) =
            status_and_json(start(json!({ "variables": { "text": { "value": text, "type": "String" } } }))).await;
        assert!(status.is_client_error() && body["message"].as_str().unwrap_or_default().contains("text"), "{body}");
        let count = app.json("/process-instance/count").await;
        assert_eq!(count["count"], 1, "only the valid start made an instance");
    })
    .await;
}

const WAITING: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:message id="m" name="材料补正"/>
  <bpmn:process id="waiting" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:receiveTask id="wait" messageRef="m"/>
    <bpmn:serviceTask id="mail" camunda:type="external" camunda:topic="review-mail"/>
    <bpmn:userTask id="done"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="mail"/>
    <bpmn:sequenceFlow id="f3" sourceRef="mail" targetRef="done"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// What the review of issue 10 found in the first fixes (`docs/security.md`): a user id that
/// looks like a sub-resource, administrator roles for an account whose password someone else
/// set, colleagues' accounts read by id, step-up codes guessed without limit, and messages and
/// external tasks that move a colleague's instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn side_doors_found_in_review_are_shut() {
    each_backend(|app| async move {
        add_account(&app, "wu", "310101", &["district-staff"], "staff").await;
        add_account(&app, "zhou", "310101", &["district-staff"], "staff").await;
        add_account(&app, "sec1", "310000", &["secadmin"], "staff").await;
        let wu = login(&app, "wu", PASSWORD).await;
        // A liaison named like a sub-resource gives its creator no way around the permissions.
        let created = wu.post(&app, "/api/users", json!({ "username": "api-keys", "unit": "310101", "kind": "liaison", "roles": ["liaison"], "password": "Liaison-Pass-2026" }));
        assert_eq!(status_and_json(created).await.0, StatusCode::CREATED);
        let grant = wu.send(&app, Method::PUT, "/api/users/api-keys/roles", json!({ "roles": ["sysadmin"], "password": PASSWORD }));
        assert_eq!(status_and_json(grant).await.0, StatusCode::FORBIDDEN);
        // A liaison manager reads liaisons and itself, not its colleagues.
        assert_eq!(status_and_json(wu.get(&app, "/api/users/zhou")).await.0, StatusCode::NOT_FOUND);
        assert_eq!(status_and_json(wu.get(&app, "/api/users/zhou/phone")).await.0, StatusCode::NOT_FOUND);
        assert_eq!(status_and_json(wu.get(&app, "/api/users/api-keys")).await.0, StatusCode::OK);
        // No administrator role for an account whose initial password someone else knows.
        let secadmin = login(&app, "sec1", PASSWORD).await;
        let new = app.executor.store().clone();
        web::identity::api::add_user(
            &web::AppState::with_security(app.executor.clone(), crate::support::test_security()),
            None,
            &web::identity::api::NewUser {
                username: "fresh".into(),
                display_name: None,
                unit: "310000".into(),
                kind: "staff".into(),
                roles: vec!["city-staff".into()],
                password: "Initial-Pass-2026".into(),
            },
            "cli",
        )
        .await
        .expect("created");
        let (status, body) = status_and_json(secadmin.send(&app, Method::PUT, "/api/users/fresh/roles", json!({ "roles": ["auditor"], "password": PASSWORD }))).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("initial-password")), "{body}");
        assert!(new.account("fresh").await.expect("reads").expect("exists").roles == vec!["city-staff".to_string()]);
        // An administrator-role change ends the account's sessions.
        let zhou = login(&app, "zhou", PASSWORD).await;
        let (status, _) = status_and_json(secadmin.send(&app, Method::PUT, "/api/users/zhou/roles", json!({ "roles": ["auditor"], "password": PASSWORD }))).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(status_and_json(zhou.get(&app, "/api/session")).await.0, StatusCode::UNAUTHORIZED);
        // Step-up codes count like failed logins: a stolen session cannot try them all.
        let secret = enrol_totp(&app, "sec1").await;
        let steps = Steps::now();
        let sec = crate::identity::try_login(&app, "sec1", PASSWORD, Some(&steps.code(&secret, 0))).await.expect("in");
        let mut last = Value::Null;
        let valid = [steps.code(&secret, 0), steps.code(&secret, 1), steps.code(&secret, 2)];
        let guesses = (0..20).map(|n| format!("{n:06}")).filter(|code| !valid.contains(code)).take(6);
        for guess in guesses {
            let body = json!({ "roles": ["district-staff"], "totp": guess });
            last = status_and_json(sec.send(&app, Method::PUT, "/api/users/zhou/roles", body)).await.1;
        }
        assert_eq!(last["code"], "account-locked", "{last}");

        // A colleague's message or external-task work does not move hp's instance.
        add_account(&app, "hp", "310101", &["district-staff"], "staff").await;
        assert_eq!(app.deploy("waiting", WAITING).await.0, 200);
        let (status, started) = status_and_json(as_user(&app, "hp", Method::POST, "/process-definition/key/waiting/start").json(&json!({ "businessKey": "HP-1" }))).await;
        assert_eq!(status, StatusCode::OK, "{started}");
        let message = json!({ "messageName": "材料补正", "businessKey": "HP-1", "processVariables": { "x": { "value": 1, "type": "Integer" } } });
        let (status, _) = status_and_json(as_user(&app, "wu", Method::POST, "/message").json(&message)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "no instance the colleague may move matches");
        let (status, _) = status_and_json(as_user(&app, "hp", Method::POST, "/message").json(&message)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "its starter's message arrives");
        let fetch = json!({ "workerId": "w", "maxTasks": 1, "topics": [{ "topicName": "review-mail", "lockDuration": 60000 }] });
        let (status, body) = status_and_json(as_user(&app, "wu", Method::POST, "/external-task/fetchAndLock").json(&fetch)).await;
        assert_eq!((status, body["type"].as_str()), (StatusCode::FORBIDDEN, Some("AuthorizationException")), "{body}");
    })
    .await;
}

/// T-LOCK behind a reverse proxy: with `--trusted-proxy`, the proxy's `X-Forwarded-For` names
/// the client, so one guesser behind the proxy locks a name only for itself; without it (every
/// other test) the header is ignored and cannot be used to pick an address.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn behind_a_trusted_proxy_the_forwarded_client_is_the_source() {
    for backend in store::testing::backends() {
        let url = store::testing::fresh_database_url(&backend).await;
        let mut security = crate::support::test_security();
        security.trusted_proxies = vec!["127.0.0.1".parse().expect("address")];
        let app = crate::support::spawn_node_with(&backend, &url, security).await;
        add_account(&app, "li", "310101", &["district-staff"], "staff").await;
        let attempt = |password: &str, forwarded: &str| {
            app.client
                .post(api(&app, "/api/session"))
                .header("x-forwarded-for", forwarded)
                .json(&json!({ "username": "li", "password": password }))
        };
        // The client's own claim before the proxy's entry does not count: the proxy appends.
        for _ in 0..5 {
            attempt("wrong", "10.9.9.9, 203.0.113.5").send().await.expect("sent");
        }
        let (status, body) = status_and_json(attempt(PASSWORD, "203.0.113.5")).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("account-locked")), "{body}");
        let (status, body) = status_and_json(attempt(PASSWORD, "198.51.100.7")).await;
        assert_eq!(status, StatusCode::OK, "another client behind the same proxy signs in: {body}");
        let (status, _) = status_and_json(attempt(PASSWORD, "10.9.9.9")).await;
        assert_eq!(status, StatusCode::OK, "the address the guesser claimed was never locked");
    }
}
