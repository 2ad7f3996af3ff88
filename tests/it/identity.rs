//! Identity end to end over real HTTP: sessions and cookies, CSRF, lockout, idle timeout, the
//! first-login password change, account management, separation of the three administrators,
//! the audit log, API keys, TOTP and SMS codes.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;
use store::identity::NewAccount;

use crate::support::{ADMIN_PASSWORD, TestApp, each_backend};

pub const PASSWORD: &str = "Shuang-Yong-2026";

/// Creates an account directly in the store (password [`PASSWORD`]).
pub async fn add_account(app: &TestApp, id: &str, unit: &str, roles: &[&str], kind: &str) {
    add_named_account(app, id, &format!("测试{id}"), unit, roles, kind).await;
}

/// [`add_account`] with a chosen display name.
pub async fn add_named_account(app: &TestApp, id: &str, name: &str, unit: &str, roles: &[&str], kind: &str) {
    let executor = web::cli::executor(&app.url).await.expect("database opens");
    executor
        .store()
        .create_account(&NewAccount {
            id: id.into(),
            display_name: Some(name.into()),
            unit_id: Some(unit.into()),
            kind: kind.into(),
            password_hash: web::auth::hash_password(PASSWORD, 1_000),
            must_change_password: false,
            roles: roles.iter().map(|role| role.to_string()).collect(),
            phone_index: None,
            phone_sealed: None,
            created_at: runtime::executor::now_millis(),
        })
        .await
        .expect("account is created");
    // As the system does after every change of an access-control record.
    web::identity::sign_access(executor.store().as_ref(), crate::support::test_keys(), id).await.expect("signed");
}

/// Raw SQL on the app's database (what an attacker or an operator with database access does).
pub async fn raw(app: &TestApp, statement: &str) {
    let statement = sqlx::AssertSqlSafe(statement.to_string());
    if app.backend == "sqlite" {
        let mut connection = sqlx::SqliteConnection::connect(&app.url).await.expect("opens");
        sqlx::query(statement).execute(&mut connection).await.expect("raw SQL runs");
    } else {
        let mut connection = sqlx::PgConnection::connect(&app.url).await.expect("opens");
        sqlx::query(statement).execute(&mut connection).await.expect("raw SQL runs");
    }
}

/// A signed-in browser session: the cookie and the CSRF token.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
    pub body: Value,
}

pub async fn try_login(
    app: &TestApp,
    username: &str,
    password: &str,
    totp: Option<&str>,
) -> Result<Session, (StatusCode, Value)> {
    let response = app
        .client
        .post(format!("{}/api/session", app.base))
        .json(&json!({ "username": username, "password": password, "totp": totp }))
        .send()
        .await
        .expect("sent");
    let status = response.status();
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
        .unwrap_or_default();
    let body: Value = response.json().await.expect("JSON body");
    if status != StatusCode::OK {
        return Err((status, body));
    }
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let cookie = cookie.split(';').next().unwrap_or_default().to_string();
    let csrf = body["csrfToken"].as_str().expect("csrf token").to_string();
    Ok(Session { cookie, csrf, body })
}

pub async fn login(app: &TestApp, username: &str, password: &str) -> Session {
    match try_login(app, username, password, None).await {
        Ok(session) => session,
        Err((status, body)) => panic!("{username} logs in: {status} {body}"),
    }
}

impl Session {
    pub fn get(&self, app: &TestApp, path: &str) -> reqwest::RequestBuilder {
        app.client.get(format!("{}{path}", app.base)).header("cookie", &self.cookie)
    }

    /// A state-changing request with the CSRF header.
    pub fn send(&self, app: &TestApp, method: reqwest::Method, path: &str, body: Value) -> reqwest::RequestBuilder {
        app.client
            .request(method, format!("{}{path}", app.base))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .json(&body)
    }

    pub fn post(&self, app: &TestApp, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.send(app, reqwest::Method::POST, path, body)
    }

    /// A JSON POST: its status and body (`null` when there is none).
    pub async fn post_json(&self, app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self.post(app, path, body).send().await.expect("sent");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A multipart upload of `bytes` as the file `name` in the field `file`, with the CSRF header.
    pub async fn upload(&self, app: &TestApp, path: &str, name: &str, bytes: Vec<u8>) -> reqwest::Response {
        let form = reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()));
        app.client
            .post(format!("{}{path}", app.base))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .multipart(form)
            .send()
            .await
            .expect("sent")
    }
}

async fn error_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["error"].as_str().unwrap_or_default().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_csrf_logout_and_idle_timeout() {
    each_backend(|app| async move {
        add_account(&app, "huangpu", "310101", &["district-staff"], "staff").await;
        let (status, body) = try_login(&app, "huangpu", "wrong", None).await.err().expect("refused");
        assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")));
        assert!(body["message"].as_str().unwrap_or_default().contains("用户名或密码错误"));
        let form_post = app
            .client
            .post(format!("{}/api/session", app.base))
            .header("content-type", "text/plain")
            .body(json!({ "username": "huangpu", "password": PASSWORD }).to_string())
            .send()
            .await
            .expect("sent");
        assert_eq!(
            error_of(form_post).await,
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "json-required".into()),
            "no login CSRF"
        );
        let (status, _) = try_login(&app, "nobody", "wrong", None).await.err().expect("refused");
        assert_eq!(status, StatusCode::UNAUTHORIZED, "an unknown user gets the same answer");

        let session = login(&app, "huangpu", PASSWORD).await;
        assert_eq!(session.body["scope"], "district:310101");
        assert_eq!(session.body["district"], "310101");
        let me = session.get(&app, "/api/session").send().await.expect("sent");
        assert_eq!(me.status(), 200);
        assert_eq!(me.json::<Value>().await.expect("JSON")["username"], "huangpu");

        // A state-changing request without the CSRF token is refused, even with the cookie.
        let forged = app
            .client
            .post(format!("{}/engine-rest/process-definition/key/none/start", app.base))
            .header("cookie", &session.cookie)
            .json(&json!({}))
            .send()
            .await
            .expect("sent");
        assert_eq!(error_of(forged).await, (StatusCode::FORBIDDEN, "csrf".into()));
        let wrong_token = app
            .client
            .delete(format!("{}/api/session", app.base))
            .header("cookie", &session.cookie)
            .header("x-csrf-token", "guess")
            .send()
            .await
            .expect("sent");
        assert_eq!(error_of(wrong_token).await, (StatusCode::FORBIDDEN, "csrf".into()));

        // The session lives in the database: a second node accepts it.
        let other = crate::support::spawn_node(&app.backend, &app.url).await;
        let elsewhere = other
            .client
            .get(format!("{}/api/session", other.base))
            .header("cookie", &session.cookie)
            .send()
            .await
            .expect("sent");
        assert_eq!(elsewhere.status(), 200, "another node knows the session");

        // Logout kills the session everywhere.
        let logout = session.send(&app, reqwest::Method::DELETE, "/api/session", json!({})).send().await.expect("sent");
        assert_eq!(logout.status(), 204);
        assert!(
            logout.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default().contains("Max-Age=0")
        );
        for node in [&app, &other] {
            let after = node
                .client
                .get(format!("{}/api/session", node.base))
                .header("cookie", &session.cookie)
                .send()
                .await
                .expect("sent");
            assert_eq!(error_of(after).await, (StatusCode::UNAUTHORIZED, "session-expired".into()));
        }

        // Idle for longer than the timeout (30 minutes by default): the session is gone.
        let idle = login(&app, "huangpu", PASSWORD).await;
        assert_eq!(idle.get(&app, "/api/session").send().await.expect("sent").status(), 200);
        let back = runtime::executor::now_millis() - 31 * 60_000;
        raw(&app, &format!("UPDATE sessions SET last_seen_at = {back}")).await;
        let expired = idle.get(&app, "/api/session").send().await.expect("sent");
        assert_eq!(error_of(expired).await, (StatusCode::UNAUTHORIZED, "session-expired".into()));
        let fresh = login(&app, "huangpu", PASSWORD).await;
        let back = runtime::executor::now_millis() - 29 * 60_000;
        raw(&app, &format!("UPDATE sessions SET last_seen_at = {back}")).await;
        assert_eq!(
            fresh.get(&app, "/api/session").send().await.expect("sent").status(),
            200,
            "29 minutes is not idle enough"
        );
        // POST /logout from a script: the header carries the CSRF token.
        let refused = app
            .client
            .post(format!("{}/logout", app.base))
            .header("cookie", &fresh.cookie)
            .header("x-csrf-token", "guess")
            .send()
            .await
            .expect("sent");
        assert_eq!(refused.status(), 403);
        let out = app
            .client
            .post(format!("{}/logout", app.base))
            .header("cookie", &fresh.cookie)
            .header("x-csrf-token", &fresh.csrf)
            .send()
            .await
            .expect("sent");
        assert_eq!(out.status(), 204);
        assert_eq!(fresh.get(&app, "/api/session").send().await.expect("sent").status(), 401, "logged out");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_failures_lock_the_account_for_fifteen_minutes() {
    each_backend(|app| async move {
        add_account(&app, "xuhui", "310104", &["district-staff"], "staff").await;
        for attempt in 1..=4 {
            let (status, body) = try_login(&app, "xuhui", "wrong", None).await.err().expect("refused");
            assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}: {body}");
        }
        let (status, body) = try_login(&app, "xuhui", "wrong", None).await.err().expect("refused");
        assert_eq!((status, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("account-locked")), "{body}");
        assert!(body["message"].as_str().unwrap_or_default().contains("15 分钟"), "{body}");
        // The right password does not help while locked, over any way in.
        let (status, body) = try_login(&app, "xuhui", PASSWORD, None).await.err().expect("locked");
        assert_eq!((status, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("account-locked")));
        let basic = app.client.get(app.url("/task")).basic_auth("xuhui", Some(PASSWORD)).send().await.expect("sent");
        assert_eq!(error_of(basic).await, (StatusCode::FORBIDDEN, "account-locked".into()));
        // When the lock has run out, the right password works and the count starts again.
        raw(
            &app,
            &format!(
                "UPDATE login_failures SET locked_until = {} WHERE user_id = 'xuhui'",
                runtime::executor::now_millis() - 1
            ),
        )
        .await;
        login(&app, "xuhui", PASSWORD).await;
        let account = web::cli::executor(&app.url)
            .await
            .expect("opens")
            .store()
            .account("xuhui")
            .await
            .expect("loads")
            .expect("exists");
        assert_eq!((account.failed_logins, account.locked_until), (0, None));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn password_guessing_from_one_address_is_rate_limited() {
    for backend in store::testing::backends() {
        let url = store::testing::fresh_database_url(&backend).await;
        let mut security = crate::support::test_security();
        security.login_rate_per_minute = 3;
        let app = crate::support::spawn_node_with(&backend, &url, security).await;
        add_account(&app, "target", "310101", &["district-staff"], "staff").await;
        // Spraying over Basic: every guess is a password check; the seventh in a minute is refused.
        let mut statuses = Vec::new();
        for number in 0..7 {
            let user = format!("user{number}");
            let response =
                app.client.get(app.url("/task")).basic_auth(&user, Some("guess")).send().await.expect("sent");
            statuses.push(response.status().as_u16());
        }
        assert_eq!(statuses, vec![401, 401, 401, 401, 401, 401, 429], "{backend}");
        // The login endpoint has its own limit per address.
        let (status, body) = try_login(&app, "target", PASSWORD, None).await.err().expect("limited");
        assert_eq!((status, body["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate-limited")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_account_must_change_its_password_under_the_policy() {
    each_backend(|app| async move {
        let admin = login(&app, "admin", ADMIN_PASSWORD).await;
        let created = admin
            .post(&app, "/api/users", json!({ "username": "li", "displayName": "李<b>四</b>", "unit": "310101", "roles": ["district-staff"], "password": "Initial-Pass-2026" }))
            .send()
            .await
            .expect("sent");
        assert_eq!(created.status(), 201);
        let created: Value = created.json().await.expect("JSON");
        assert_eq!((created["district"].as_str(), created["status"].as_str()), (Some("310101"), Some("active")));
        let weak = admin.post(&app, "/api/users", json!({ "username": "weak", "unit": "310101", "roles": [], "password": "short" })).send().await.expect("sent");
        assert_eq!(weak.status(), 400);
        let unknown = admin.post(&app, "/api/users", json!({ "username": "u2", "unit": "999999", "roles": [], "password": "Initial-Pass-2026" })).send().await.expect("sent");
        assert_eq!(unknown.status(), 400, "unknown unit");
        let duplicate = admin.post(&app, "/api/users", json!({ "username": "li", "unit": "310101", "roles": [], "password": "Initial-Pass-2026" })).send().await.expect("sent");
        assert_eq!(duplicate.status(), 409);

        let li = login(&app, "li", "Initial-Pass-2026").await;
        assert_eq!(li.body["mustChangePassword"], true);
        let blocked = li.get(&app, "/engine-rest/task").send().await.expect("sent");
        assert_eq!(error_of(blocked).await, (StatusCode::FORBIDDEN, "password-change-required".into()));
        let basic = app.client.get(app.url("/task")).basic_auth("li", Some("Initial-Pass-2026")).send().await.expect("sent");
        assert_eq!(error_of(basic).await, (StatusCode::FORBIDDEN, "password-change-required".into()));

        for (new, why) in [("Initial-Pass-2026", "reused"), ("li-Password-2026", "contains the user name"), ("alllowercase", "weak")] {
            let refused = li.post(&app, "/api/session/password", json!({ "currentPassword": "Initial-Pass-2026", "newPassword": new })).send().await.expect("sent");
            assert_eq!(refused.status(), 400, "{why}");
        }
        let wrong_current = li.post(&app, "/api/session/password", json!({ "currentPassword": "nope", "newPassword": "Better-Pass-2027" })).send().await.expect("sent");
        assert_eq!(wrong_current.status(), 401);
        let changed = li.post(&app, "/api/session/password", json!({ "currentPassword": "Initial-Pass-2026", "newPassword": "Better-Pass-2027" })).send().await.expect("sent");
        assert_eq!(changed.status(), 204);
        assert_eq!(li.get(&app, "/api/session").send().await.expect("sent").status(), 401, "a password change ends the session");
        let li = login(&app, "li", "Better-Pass-2027").await;
        assert_eq!(li.body["mustChangePassword"], false);
        assert_eq!(li.get(&app, "/engine-rest/task").send().await.expect("sent").status(), 200);
        // A password older than 90 days must be changed again.
        let old = runtime::executor::now_millis() - 91 * 86_400_000;
        raw(&app, &format!("UPDATE users SET password_changed_at = {old} WHERE id = 'li'")).await;
        let expired = login(&app, "li", "Better-Pass-2027").await;
        assert_eq!(expired.body["mustChangePassword"], true);
        let blocked = expired.get(&app, "/engine-rest/task").send().await.expect("sent");
        assert_eq!(error_of(blocked).await, (StatusCode::FORBIDDEN, "password-change-required".into()));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_administrators_are_separate_and_the_audit_log_records_everything() {
    each_backend(|app| async move {
        add_account(&app, "auditor1", "310000", &["auditor"], "staff").await;
        add_account(&app, "secadmin1", "310000", &["secadmin"], "staff").await;
        add_account(&app, "zhang", "310101", &["district-staff"], "staff").await;
        let _ = try_login(&app, "zhang", "wrong-password", None).await;
        let admin = login(&app, "admin", ADMIN_PASSWORD).await;
        let auditor = login(&app, "auditor1", PASSWORD).await;
        let secadmin = login(&app, "secadmin1", PASSWORD).await;

        // The system administrator cannot read the audit log (and nobody can delete it).
        let read = admin.get(&app, "/api/audit").send().await.expect("sent");
        assert_eq!(error_of(read).await, (StatusCode::FORBIDDEN, "forbidden".into()));
        let delete = admin.send(&app, reqwest::Method::DELETE, "/api/audit", json!({})).send().await.expect("sent");
        assert!(matches!(delete.status().as_u16(), 403 | 405), "{}", delete.status());
        let delete = auditor.send(&app, reqwest::Method::DELETE, "/api/audit", json!({})).send().await.expect("sent");
        assert_eq!(delete.status(), 405, "there is no way to delete audit rows");
        // The auditor cannot change users or use the engine; the security admin cannot create users.
        for (session, who) in [(&auditor, "auditor"), (&secadmin, "secadmin")] {
            let create = session
                .post(
                    &app,
                    "/api/users",
                    json!({ "username": "x", "unit": "310101", "roles": [], "password": "Initial-Pass-2026" }),
                )
                .send()
                .await
                .expect("sent");
            assert_eq!(create.status(), 403, "{who} creates a user");
            let freeze = session.post(&app, "/api/users/zhang/freeze", json!({})).send().await.expect("sent");
            assert_eq!(freeze.status(), 403, "{who} freezes a user");
        }
        assert_eq!(auditor.get(&app, "/engine-rest/task").send().await.expect("sent").status(), 403);
        // The security administrator unlocks and assigns roles (not its own); the others cannot.
        let roles = json!({ "roles": ["district-staff", "operator"] });
        let put = |session: &crate::identity::Session, user: &str| {
            session.send(&app, reqwest::Method::PUT, &format!("/api/users/{user}/roles"), roles.clone()).send()
        };
        assert_eq!(put(&admin, "zhang").await.expect("sent").status(), 403, "admin assigns roles");
        assert_eq!(put(&auditor, "zhang").await.expect("sent").status(), 403, "auditor assigns roles");
        assert_eq!(put(&secadmin, "secadmin1").await.expect("sent").status(), 403, "own roles");
        assert_eq!(put(&secadmin, "zhang").await.expect("sent").status(), 204);
        let bad = secadmin
            .send(&app, reqwest::Method::PUT, "/api/users/zhang/roles", json!({ "roles": ["king"] }))
            .send()
            .await
            .expect("sent");
        assert_eq!(bad.status(), 400);
        let zhang: Value =
            secadmin.get(&app, "/api/users/zhang").send().await.expect("sent").json().await.expect("JSON");
        assert_eq!(zhang["roles"], json!(["district-staff", "operator"]));
        assert_eq!(secadmin.post(&app, "/api/users/zhang/unlock", json!({})).send().await.expect("sent").status(), 204);
        assert_eq!(auditor.post(&app, "/api/users/zhang/unlock", json!({})).send().await.expect("sent").status(), 403);

        let rows: Value =
            auditor.get(&app, "/api/audit?limit=1000").send().await.expect("sent").json().await.expect("JSON");
        let rows = rows.as_array().expect("rows").clone();
        let has = |action: &str, user: &str, result: &str| {
            rows.iter().any(|row| row["action"] == action && row["user"] == user && row["result"] == result)
        };
        assert!(has("login", "zhang", "failure"), "failed login is audited: {rows:?}");
        assert!(has("login", "admin", "success"));
        assert!(has("access", "admin", "denied"), "the refused audit read is audited");
        assert!(has("access", "auditor1", "denied"));
        assert!(
            rows.iter()
                .all(|row| row["sourceIp"] == "127.0.0.1" || row["user"].is_null() || row["sourceIp"].is_string())
        );
        assert!(rows.iter().any(|row| row["sourceIp"] == "127.0.0.1"));
        let verified: Value =
            auditor.get(&app, "/api/audit/verify").send().await.expect("sent").json().await.expect("JSON");
        assert_eq!(verified["intact"], true, "{verified}");

        // Changes are audited too: freeze, and any engine write.
        let frozen = admin.post(&app, "/api/users/zhang/freeze", json!({})).send().await.expect("sent");
        assert_eq!(frozen.status(), 204);
        let rows: Value =
            auditor.get(&app, "/api/audit?limit=1000").send().await.expect("sent").json().await.expect("JSON");
        assert!(
            rows.as_array()
                .expect("rows")
                .iter()
                .any(|row| row["action"] == "user.freeze" && row["target"] == "zhang" && row["user"] == "admin")
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn freeze_unfreeze_cancel_and_liaisons_managed_by_their_district() {
    each_backend(|app| async move {
        add_account(&app, "wu", "310101", &["district-staff"], "staff").await;
        add_account(&app, "zhao", "310104", &["district-staff"], "staff").await;
        let admin = login(&app, "admin", ADMIN_PASSWORD).await;
        let wu = login(&app, "wu", PASSWORD).await;

        // SVC-12: a district manages its liaisons, and only liaisons, only in its district.
        let liaison = wu.post(&app, "/api/users", json!({ "username": "liaison1", "unit": "310101", "kind": "liaison", "roles": ["liaison"], "password": "Liaison-Pass-2026" })).send().await.expect("sent");
        assert_eq!(liaison.status(), 201);
        let elsewhere = wu.post(&app, "/api/users", json!({ "username": "liaison2", "unit": "310104", "kind": "liaison", "roles": ["liaison"], "password": "Liaison-Pass-2026" })).send().await.expect("sent");
        assert_eq!(elsewhere.status(), 403, "another district's liaison");
        let staff = wu.post(&app, "/api/users", json!({ "username": "boss", "unit": "310101", "roles": ["sysadmin"], "password": "Liaison-Pass-2026" })).send().await.expect("sent");
        assert_eq!(staff.status(), 403, "a district cannot create administrators");
        let listed: Value = wu.get(&app, "/api/users").send().await.expect("sent").json().await.expect("JSON");
        let names: Vec<&str> = listed.as_array().expect("list").iter().filter_map(|user| user["username"].as_str()).collect();
        assert_eq!(names, vec!["liaison1"], "only its own district's liaisons");
        assert_eq!(wu.post(&app, "/api/users/zhao/freeze", json!({})).send().await.expect("sent").status(), 404, "another district's user does not exist for it");
        assert_eq!(wu.get(&app, "/api/users/zhao").send().await.expect("sent").status(), 404);
        assert_eq!(wu.post(&app, "/api/users/liaison1/freeze", json!({})).send().await.expect("sent").status(), 204);
        assert_eq!(wu.post(&app, "/api/users/liaison1/unfreeze", json!({})).send().await.expect("sent").status(), 204);

        // Freezing cuts the user off at once; unfreezing lets them back; cancelling is final.
        let zhao = login(&app, "zhao", PASSWORD).await;
        assert_eq!(admin.post(&app, "/api/users/zhao/freeze", json!({})).send().await.expect("sent").status(), 204);
        assert_eq!(zhao.get(&app, "/api/session").send().await.expect("sent").status(), 401);
        let (status, body) = try_login(&app, "zhao", PASSWORD, None).await.err().expect("frozen");
        assert_eq!((status, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("account-frozen")));
        assert_eq!(admin.post(&app, "/api/users/zhao/unfreeze", json!({})).send().await.expect("sent").status(), 204);
        login(&app, "zhao", PASSWORD).await;
        assert_eq!(admin.post(&app, "/api/users/zhao/cancel", json!({})).send().await.expect("sent").status(), 204);
        assert_eq!(admin.post(&app, "/api/users/zhao/unfreeze", json!({})).send().await.expect("sent").status(), 422);
        let (_, body) = try_login(&app, "zhao", PASSWORD, None).await.err().expect("cancelled");
        assert_eq!(body["error"], "account-cancelled");
        let users: Value = admin.get(&app, "/api/users?status=cancelled").send().await.expect("sent").json().await.expect("JSON");
        assert_eq!(users[0]["username"], "zhao");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn machines_use_basic_or_api_keys() {
    each_backend(|app| async move {
        add_account(&app, "worker", "310000", &["city-staff"], "machine").await;
        add_account(&app, "sec", "310000", &["secadmin"], "staff").await;
        let admin = login(&app, "admin", ADMIN_PASSWORD).await;
        // The security administrator issues keys to machine accounts, confirming with its password.
        let secadmin = login(&app, "sec", PASSWORD).await;
        let created = secadmin
            .post(&app, "/api/users/worker/api-keys", json!({ "name": "ci", "password": PASSWORD }))
            .send()
            .await
            .expect("sent");
        assert_eq!(created.status(), 201);
        let key = created.json::<Value>().await.expect("JSON")["key"].as_str().expect("key").to_string();
        let bearer = app.client.get(app.url("/task")).bearer_auth(&key).send().await.expect("sent");
        assert_eq!(bearer.status(), 200);
        let header = app.client.get(app.url("/task")).header("x-api-key", &key).send().await.expect("sent");
        assert_eq!(header.status(), 200);
        let wrong = app.client.get(app.url("/task")).bearer_auth("sy_guess").send().await.expect("sent");
        assert_eq!(wrong.status(), 401);
        let basic = app.client.get(app.url("/task")).basic_auth("worker", Some(PASSWORD)).send().await.expect("sent");
        assert_eq!(basic.status(), 200);
        // Freezing the account revokes its keys.
        assert_eq!(admin.post(&app, "/api/users/worker/freeze", json!({})).send().await.expect("sent").status(), 204);
        assert_eq!(app.client.get(app.url("/task")).bearer_auth(&key).send().await.expect("sent").status(), 401);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn totp_is_required_once_enrolled_and_enrolment_when_configured() {
    for backend in store::testing::backends() {
        let url = store::testing::fresh_database_url(&backend).await;
        let mut security = crate::support::test_security();
        security.require_totp = true;
        let app = crate::support::spawn_node_with(&backend, &url, security).await;
        add_account(&app, "sun", "310101", &["district-staff"], "staff").await;
        let sun = login(&app, "sun", PASSWORD).await;
        assert_eq!(sun.body["totpEnrolmentRequired"], true);
        let blocked = sun.get(&app, "/engine-rest/task").send().await.expect("sent");
        assert_eq!(error_of(blocked).await, (StatusCode::FORBIDDEN, "totp-enrolment-required".into()));
        let setup: Value = sun
            .post(&app, "/api/session/totp/setup", json!({}))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("JSON");
        let secret = setup["secret"].as_str().expect("secret").to_string();
        let key = crypto::totp::decode_secret(&secret).expect("base32");
        // Codes of this time step and the next, fixed now: each is valid for a minute or more.
        let step = (runtime::executor::now_millis() / 1000 / 30) as u64;
        let (this_step, next_step) = (crypto::totp::hotp(&key, step, 6), crypto::totp::hotp(&key, step + 1, 6));
        let code = |offset: i64| if offset == 0 { this_step.clone() } else { next_step.clone() };
        let bad = sun
            .post(&app, "/api/session/totp/confirm", json!({ "secret": secret, "code": "000000" }))
            .send()
            .await
            .expect("sent");
        assert!(bad.status() == 400 || code(0) == "000000");
        let good = sun
            .post(&app, "/api/session/totp/confirm", json!({ "secret": secret, "code": code(0) }))
            .send()
            .await
            .expect("sent");
        assert_eq!(good.status(), 204);
        let stored = web::cli::executor(&app.url).await.expect("opens").store().account("sun").await.expect("reads");
        let stored = stored.and_then(|account| account.totp_secret).expect("enrolled");
        assert!(!stored.contains(secret.as_str()), "the TOTP secret is stored sealed, not in clear");
        assert_eq!(sun.get(&app, "/engine-rest/task").send().await.expect("sent").status(), 200);

        let (status, body) = try_login(&app, "sun", PASSWORD, None).await.err().expect("needs the code");
        assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("totp-required")));
        let (_, body) = try_login(&app, "sun", PASSWORD, Some("12345x")).await.err().expect("wrong code");
        assert_eq!(body["error"], "totp-invalid");
        // The code that confirmed enrolment has been used; so has a code that signed in.
        let (_, body) = try_login(&app, "sun", PASSWORD, Some(&code(0))).await.err().expect("replayed");
        assert_eq!(body["error"], "totp-invalid");
        try_login(&app, "sun", PASSWORD, Some(&code(30))).await.expect("password and a fresh code log in");
        let (_, body) = try_login(&app, "sun", PASSWORD, Some(&code(30))).await.err().expect("replayed");
        assert_eq!(body["error"], "totp-invalid");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn citizens_register_and_log_in_with_single_use_sms_codes() {
    each_backend(|app| async move {
        let executor = web::cli::executor(&app.url).await.expect("opens");
        let phone = "13800138000";
        let send = |purpose: &'static str| {
            app.client
                .post(format!("{}/api/sms/code", app.base))
                .json(&json!({ "phone": phone, "purpose": purpose }))
                .send()
        };
        assert_eq!(send("register").await.expect("sent").status(), 202);
        let again = send("register").await.expect("sent");
        assert_eq!(
            error_of(again).await,
            (StatusCode::TOO_MANY_REQUESTS, "rate-limited".into()),
            "one code a minute per phone"
        );
        let outbox = executor.store().sms_outbox(phone).await.expect("reads");
        assert_eq!(outbox.len(), 1);
        let code: String = outbox[0].chars().filter(char::is_ascii_digit).take(6).collect();
        assert_eq!(code.len(), 6, "{}", outbox[0]);

        let register = |code: String| {
            app.client
                .post(format!("{}/api/citizens", app.base))
                .json(
                    &json!({ "phone": phone, "code": code, "password": "Citizen-Pass-1", "displayName": "王<script>" }),
                )
                .send()
        };
        let wrong = if code == "000000" { "111111".to_string() } else { "000000".to_string() };
        assert_eq!(
            error_of(register(wrong).await.expect("sent")).await,
            (StatusCode::BAD_REQUEST, "sms-code-invalid".into())
        );
        let registered = register(code.clone()).await.expect("sent");
        assert_eq!(registered.status(), 201);
        let username = registered.json::<Value>().await.expect("JSON")["username"].as_str().expect("name").to_string();
        assert!(!username.contains(phone), "the phone number is not the user name");
        assert_eq!(error_of(register(code).await.expect("sent")).await.1, "sms-code-invalid", "a code works once");

        // At rest the number is sealed (SM4-GCM) and indexed blindly; nowhere in clear.
        let account = executor.store().account(&username).await.expect("reads").expect("exists");
        let sealed = account.phone_sealed.clone().expect("the phone is stored sealed");
        assert!(!sealed.contains(phone) && !sealed.contains("138001"), "{sealed}");
        // Shown masked; whole only to roles allowed to see personal data, and every view audited.
        add_account(&app, "city-pii", "310000", &["city-staff"], "staff").await;
        add_account(&app, "huangpu-pii", "310101", &["district-staff"], "staff").await;
        let as_user = |user: &str, path: String| {
            app.client.get(format!("{}/api{path}", app.base)).basic_auth(user, Some(PASSWORD)).send()
        };
        let listed: Value = app
            .client
            .get(format!("{}/api/users/{username}", app.base))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("JSON");
        assert_eq!(listed["phone"], "138****8000", "{listed}");
        let admin_view = app
            .client
            .get(format!("{}/api/users/{username}/phone", app.base))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .send()
            .await
            .expect("sent");
        assert_eq!(
            error_of(admin_view).await,
            (StatusCode::FORBIDDEN, "pii-unmask-denied".into()),
            "三员分立: the system admin does not read personal data"
        );
        let other_district = as_user("huangpu-pii", format!("/users/{username}/phone")).await.expect("sent");
        assert_eq!(other_district.status(), StatusCode::NOT_FOUND, "outside the district's scope");
        let whole: Value =
            as_user("city-pii", format!("/users/{username}/phone")).await.expect("sent").json().await.expect("JSON");
        assert_eq!(whole["phone"], phone);
        let audit = executor.store().audit_rows(0, 10_000).await.expect("reads");
        let views: Vec<(&str, &str)> = audit
            .iter()
            .filter(|row| row.entry.action == "pii.unmask")
            .map(|row| (row.entry.user_id.as_deref().unwrap_or_default(), row.entry.result.as_str()))
            .collect();
        assert!(views.contains(&("city-pii", "success")), "{views:?}");
        assert!(views.contains(&("admin", "denied")), "{views:?}");

        // Log in with a fresh code (after the per-minute limit).
        raw(&app, "DELETE FROM rate_limits").await;
        assert_eq!(send("login").await.expect("sent").status(), 202);
        let outbox = executor.store().sms_outbox(phone).await.expect("reads");
        let code: String = outbox[1].chars().filter(char::is_ascii_digit).take(6).collect();
        let logged_in = app
            .client
            .post(format!("{}/api/session/sms", app.base))
            .json(&json!({ "phone": phone, "code": code }))
            .send()
            .await
            .expect("sent");
        assert_eq!(logged_in.status(), 200);
        let body: Value = logged_in.json().await.expect("JSON");
        assert_eq!(body["username"], username.as_str());
        // A citizen has no business in the engine API.
        let citizen_cookie = format!("sy_session={}", "invalid");
        let refused = app.client.get(app.url("/task")).header("cookie", citizen_cookie).send().await.expect("sent");
        assert_eq!(refused.status(), 401);
        let bad_phone = app
            .client
            .post(format!("{}/api/sms/code", app.base))
            .json(&json!({ "phone": "12345", "purpose": "login" }))
            .send()
            .await
            .expect("sent");
        assert_eq!(bad_phone.status(), 400);
    })
    .await;
}

/// The login page's CSRF cookie (`name=value`, as a client sends it back) and its token.
fn login_form_csrf(headers: &reqwest::header::HeaderMap) -> (String, String) {
    let cookie = headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("sy_login_csrf="))
        .and_then(|value| value.split(';').next())
        .expect("csrf cookie")
        .to_string();
    let token = cookie.trim_start_matches("sy_login_csrf=").to_string();
    (cookie, token)
}

/// Submits the login form with the page's CSRF cookie and token.
async fn post_login_form(
    client: &reqwest::Client,
    app: &TestApp,
    (cookie, token): (&str, &str),
    username: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(format!("{}/login", app.base))
        .header("cookie", cookie)
        .form(&[("username", username), ("password", password), ("csrf_token", token)])
        .send()
        .await
        .expect("sent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_escape_input_carry_security_headers_and_need_csrf() {
    each_backend(|app| async move {
        let page = app.client.get(format!("{}/login", app.base)).send().await.expect("sent");
        assert_eq!(page.status(), 200);
        let headers = page.headers().clone();
        for name in ["content-security-policy", "x-content-type-options", "referrer-policy", "x-frame-options"] {
            assert!(headers.contains_key(name), "{name} on the login page");
        }
        assert!(headers["content-security-policy"].to_str().unwrap_or_default().contains("frame-ancestors 'none'"));
        let api = app.get("/task").send().await.expect("sent");
        assert_eq!(api.headers()["x-content-type-options"], "nosniff");

        // The login form needs its CSRF cookie and token.
        let no_token = app
            .client
            .post(format!("{}/login", app.base))
            .form(&[("username", "admin"), ("password", ADMIN_PASSWORD)])
            .send()
            .await
            .expect("sent");
        assert_eq!(no_token.status(), 403);
        let (cookie, token) = login_form_csrf(&headers);
        let evil = "<script>alert(1)</script>";
        let failed = post_login_form(&app.client, &app, (&cookie, &token), evil, "x").await;
        assert_eq!(failed.status(), 401);
        let html = failed.text().await.expect("text");
        assert!(!html.contains(evil) && html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "escaped");

        let redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let ok = post_login_form(&redirect, &app, (&cookie, &token), "admin", ADMIN_PASSWORD).await;
        assert_eq!(ok.status(), 303);
        assert_eq!(ok.headers()["location"], "/");
        let session =
            ok.headers()["set-cookie"].to_str().unwrap_or_default().split(';').next().unwrap_or_default().to_string();
        let home = redirect.get(format!("{}/", app.base)).header("cookie", &session).send().await.expect("sent");
        assert_eq!(home.status(), 200);
        let home = home.text().await.expect("text");
        assert!(home.contains("欢迎，<span id=\"name\">admin</span>"));
        let csrf = home
            .split("name=\"csrf_token\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("logout form token");
        let forged = redirect
            .post(format!("{}/logout", app.base))
            .header("cookie", &session)
            .form(&[("csrf_token", "guess")])
            .send()
            .await
            .expect("sent");
        assert_eq!(forged.status(), 403);
        let out = redirect
            .post(format!("{}/logout", app.base))
            .header("cookie", &session)
            .form(&[("csrf_token", csrf)])
            .send()
            .await
            .expect("sent");
        assert_eq!((out.status().as_u16(), out.headers()["location"].to_str().unwrap_or_default()), (303, "/login"));
        let after = redirect.get(format!("{}/", app.base)).header("cookie", &session).send().await.expect("sent");
        assert_eq!(after.headers()["location"], "/login", "the session is gone");
        let missing = app.client.get(format!("{}/no/such/page", app.base)).send().await.expect("sent");
        assert_eq!(missing.status(), 404);
        assert!(missing.text().await.expect("text").contains("页面不存在"));
    })
    .await;
}

/// Issue 11, point 7: the hand-written template filled slots one after another, so a display
/// name containing `{{csrf}}` received the session's CSRF token. Values never become markup.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_display_name_cannot_fill_a_template_slot() {
    each_backend(|app| async move {
        let name = "{{csrf}}<b>{{unit}}</b>{% block content %}";
        add_named_account(&app, "slotty", name, "310101", &["district-staff"], "staff").await;
        let page = app.client.get(format!("{}/login", app.base)).send().await.expect("sent");
        let (cookie, token) = login_form_csrf(page.headers());
        let redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let ok = post_login_form(&redirect, &app, (&cookie, &token), "slotty", PASSWORD).await;
        assert_eq!(ok.status(), 303);
        let session =
            ok.headers()["set-cookie"].to_str().unwrap_or_default().split(';').next().unwrap_or_default().to_string();
        let home = redirect.get(format!("{}/", app.base)).header("cookie", &session).send().await.expect("sent");
        assert_eq!(home.status(), 200);
        let home = home.text().await.expect("text");
        let csrf = home
            .split("name=\"csrf_token\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("logout form token");
        assert_eq!(home.matches(csrf).count(), 1, "the token is in the logout form and nowhere else: {home}");
        let shown = home.split("<span id=\"name\">").nth(1).and_then(|rest| rest.split("</span>").next());
        assert_eq!(shown, Some("{{csrf}}&lt;b&gt;{{unit}}&lt;/b&gt;{% block content %}"), "{home}");
    })
    .await;
}

/// Access-control records are signed with SM2: a role granted by writing to the database
/// directly (an attacker, or an operator bypassing the system) is refused and audited, while
/// roles assigned through the system keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn roles_written_behind_the_systems_back_are_refused() {
    each_backend(|app| async move {
        add_account(&app, "mallory", "310101", &["district-staff"], "staff").await;
        add_account(&app, "sec", "310000", &["secadmin"], "staff").await;
        let tasks = |user: &'static str| app.client.get(app.url("/task")).basic_auth(user, Some(PASSWORD)).send();
        assert_eq!(tasks("mallory").await.expect("sent").status(), 200);

        raw(&app, "INSERT INTO user_roles (user_id, role_id) VALUES ('mallory', 'sysadmin')").await;
        let escalated = tasks("mallory").await.expect("sent");
        assert_eq!(error_of(escalated).await, (StatusCode::FORBIDDEN, "access-record-invalid".into()));
        let executor = web::cli::executor(&app.url).await.expect("opens");
        let audit = executor.store().audit_rows(0, 10_000).await.expect("reads");
        assert!(
            audit.iter().any(|row| row.entry.action == "access.verify"
                && row.entry.target.as_deref() == Some("mallory")
                && row.entry.result == "denied"),
            "the refusal is audited"
        );
        // Undoing the tampering restores the signed record.
        raw(&app, "DELETE FROM user_roles WHERE user_id = 'mallory' AND role_id = 'sysadmin'").await;
        assert_eq!(tasks("mallory").await.expect("sent").status(), 200);

        // A role assigned by the security administrator is signed and takes effect.
        let sec = login(&app, "sec", PASSWORD).await;
        let assigned = sec
            .send(
                &app,
                reqwest::Method::PUT,
                "/api/users/mallory/roles",
                json!({ "roles": ["district-staff", "operator"] }),
            )
            .send()
            .await
            .expect("sent");
        assert_eq!(assigned.status(), 204);
        assert_eq!(tasks("mallory").await.expect("sent").status(), 200, "the new record is signed");
        // Unfreezing behind the system's back does not work either.
        let frozen = app
            .client
            .post(format!("{}/api/users/mallory/freeze", app.base))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .send()
            .await
            .expect("sent");
        assert_eq!(frozen.status(), 204);
        raw(&app, "UPDATE users SET status = 'active' WHERE id = 'mallory'").await;
        assert_eq!(error_of(tasks("mallory").await.expect("sent")).await.1, "access-record-invalid");
    })
    .await;
}

/// Every error under `/api` has one shape, `{code, message}` with a stable string code, whether
/// authentication, identity, the inbox or routing produced it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_errors_share_one_shape() {
    each_backend(|app| async move {
        add_account(&app, "auditor2", "310000", &["auditor"], "staff").await;
        let anonymous = app.client.get(format!("{}/api/inbox/todo", app.base)).send().await.expect("sent");
        let forbidden = app
            .client
            .get(format!("{}/api/users", app.base))
            .basic_auth("auditor2", Some(PASSWORD))
            .send()
            .await
            .expect("sent");
        let missing = app
            .client
            .get(format!("{}/api/no-such-thing", app.base))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .send()
            .await
            .expect("sent");
        for (response, status, code) in [
            (anonymous, StatusCode::UNAUTHORIZED, "unauthenticated"),
            (forbidden, StatusCode::FORBIDDEN, "forbidden"),
            (missing, StatusCode::NOT_FOUND, "not-found"),
        ] {
            assert_eq!(response.status(), status);
            let body: Value = response.json().await.expect("JSON");
            assert_eq!(body["code"], code, "{body}");
            assert!(body["message"].as_str().is_some_and(|message| !message.is_empty()), "{body}");
        }
        // /engine-rest keeps Camunda's shape.
        let camunda = app.client.get(app.url("/task")).send().await.expect("sent");
        let body: Value = camunda.json().await.expect("JSON");
        assert!(body["type"].is_string() && body["code"].is_number(), "{body}");
    })
    .await;
}

/// The login page sends a person back to the page they asked for (`?next=`, kept through a
/// failed attempt), and only to a page of this site: an absolute or protocol-relative address,
/// a backslash trick or the login page itself ends at home, so the login page is no open
/// redirect.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_login_page_returns_to_the_page_asked_for_and_nowhere_else() {
    each_backend(|app| async move {
        let redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let asked = redirect.get(format!("{}/inbox?tab=done&page=2", app.base)).send().await.expect("sent");
        assert_eq!(asked.status(), 303);
        let location = asked.headers()["location"].to_str().expect("location").to_string();
        assert_eq!(location, "/login?next=%2Finbox%3Ftab%3Ddone%26page%3D2");
        // A form post without a session cannot be replayed: plain login page.
        let posted = redirect.post(format!("{}/inbox/batch-approve", app.base)).send().await.expect("sent");
        assert_eq!(posted.headers()["location"], "/login");

        let login = |next: &str| {
            let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
            redirect.get(format!("{}/login?next={next}", app.base)).send()
        };
        let page = login("/inbox?tab=done&page=2").await.expect("sent");
        let headers = page.headers().clone();
        let html = page.text().await.expect("HTML");
        assert!(html.contains(r#"name="next" value="/inbox?tab=done&amp;page=2""#), "{html}");
        let (cookie, token) = login_form_csrf(&headers);
        let form = |password: &'static str, next: &'static str| {
            redirect
                .post(format!("{}/login", app.base))
                .header("cookie", &cookie)
                .form(&[("username", "admin"), ("password", password), ("csrf_token", &token), ("next", next)])
                .send()
        };
        let failed = form("wrong", "/inbox?tab=done&page=2").await.expect("sent");
        assert_eq!(failed.status(), 401);
        assert!(failed.text().await.expect("HTML").contains(r#"name="next" value="/inbox?tab=done&amp;page=2""#));
        let ok = form(ADMIN_PASSWORD, "/inbox?tab=done&page=2").await.expect("sent");
        assert_eq!(ok.status(), 303);
        assert_eq!(ok.headers()["location"], "/inbox?tab=done&page=2");
        for evil in [
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "/login?next=//evil",
            "javascript:alert(1)",
            "/a\tb",
        ] {
            let ok = form(ADMIN_PASSWORD, evil).await.expect("sent");
            assert_eq!(ok.headers()["location"], "/", "{evil} is not followed");
            let page = login(evil).await.expect("sent").text().await.expect("HTML");
            assert!(!page.contains(r#"name="next""#), "{evil} is not carried: {page}");
        }
    })
    .await;
}
