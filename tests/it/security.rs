//! Issue 10: what an outside probe broke, one test per finding (`docs/security.md` names them
//! T-…), on every backend. Each of these failed before its fix.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::identity::{PASSWORD, add_account, raw};
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
        web::demo::load(&second.executor).await.expect("demo loading does not fail on existing data");
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
