//! The IDOR suite: a district-A user attacks district-B records by id, through list filters,
//! counts, history, variables and task actions, over Basic and a session. Every attempt gets
//! 403/404 (or an empty list), and district B's records are unchanged afterwards.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::identity::{PASSWORD, add_account, login};
use crate::support::{APPROVAL, TestApp, each_backend};

/// A request as `user` over HTTP Basic.
fn as_user(app: &TestApp, user: &str, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    app.client.request(method, app.url(path)).basic_auth(user, Some(PASSWORD))
}

async fn status_and_json(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn start_as(app: &TestApp, user: &str, key: &str) -> String {
    let body = json!({ "businessKey": format!("{user}-1"), "variables": { "applicant": { "value": user, "type": "String" } } });
    let (status, instance) = status_and_json(
        as_user(app, user, reqwest::Method::POST, &format!("/process-definition/key/{key}/start")).json(&body),
    )
    .await;
    assert_eq!(status, 200, "{user} starts: {instance}");
    instance["id"].as_str().expect("id").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn district_a_cannot_reach_district_b() {
    each_backend(|app| async move {
        add_account(&app, "huangpu", "310101", &["district-staff"], "staff").await;
        add_account(&app, "xuhui", "310104", &["district-staff"], "staff").await;
        // Both review for their district in the `approval` model (its candidate group).
        for reviewer in ["huangpu", "xuhui"] {
            app.executor.store().add_membership(reviewer, "district-reviewers").await.expect("member");
        }
        add_account(&app, "city", "310000", &["city-staff"], "staff").await;
        let (status, _) = app.deploy("approval", APPROVAL).await;
        assert_eq!(status, 200);
        let mine = start_as(&app, "huangpu", "approval").await;
        let theirs = start_as(&app, "xuhui", "approval").await;
        let their_task = app.tasks_of(&theirs).await[0]["id"].as_str().expect("task").to_string();
        let my_task = app.tasks_of(&mine).await[0]["id"].as_str().expect("task").to_string();

        use reqwest::Method as M;
        let get = |path: String| as_user(&app, "huangpu", M::GET, &path);
        let denied = |status: StatusCode| status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN;

        // Details, variables, history by id.
        for path in [
            format!("/process-instance/{theirs}"),
            format!("/process-instance/{theirs}/variables"),
            format!("/process-instance/{theirs}/variables/applicant"),
            format!("/task/{their_task}"),
            format!("/task/{their_task}/variables"),
            format!("/task/{their_task}/variables/applicant"),
            format!("/task/{their_task}/form-variables"),
            format!("/history/process-instance/{theirs}"),
        ] {
            let (status, body) = status_and_json(get(path.clone())).await;
            assert!(denied(status), "{}: GET {path} → {status} {body}", app.backend);
        }
        // Lists and counts filtered to B's ids come back empty.
        for path in [
            format!("/process-instance?processInstanceIds={theirs}"),
            format!("/task?processInstanceId={theirs}"),
            format!("/task?taskId={their_task}"),
            "/task?processInstanceBusinessKey=xuhui-1".to_string(),
            format!("/history/process-instance?processInstanceId={theirs}"),
            format!("/history/task?processInstanceId={theirs}"),
            format!("/history/activity-instance?processInstanceId={theirs}"),
            format!("/history/variable-instance?processInstanceId={theirs}"),
            format!("/incident?processInstanceId={theirs}"),
        ] {
            let (status, body) = status_and_json(get(path.clone())).await;
            assert_eq!((status, body.clone()), (StatusCode::OK, json!([])), "{}: GET {path}", app.backend);
        }
        for path in ["/process-instance/count", "/task/count", "/history/process-instance/count", "/history/task/count"]
        {
            let (_, body) = status_and_json(get(path.to_string())).await;
            assert_eq!(body["count"], 1, "{path}: only huangpu's own");
        }
        let (_, all) = status_and_json(get("/process-instance".into())).await;
        assert_eq!(all.as_array().map(|list| list.len()), Some(1));
        assert_eq!(all[0]["id"], mine.as_str());

        // Actions on B's records.
        let actions: Vec<(M, String, Value)> = vec![
            (
                M::POST,
                format!("/task/{their_task}/complete"),
                json!({ "variables": { "approved": { "value": true, "type": "Boolean" } } }),
            ),
            (M::POST, format!("/task/{their_task}/submit-form"), json!({})),
            (M::POST, format!("/task/{their_task}/claim"), json!({ "userId": "huangpu" })),
            (M::POST, format!("/task/{their_task}/unclaim"), json!({})),
            (M::POST, format!("/task/{their_task}/assignee"), json!({ "userId": "huangpu" })),
            (
                M::POST,
                format!("/task/{their_task}/variables"),
                json!({ "modifications": { "x": { "value": 1, "type": "Integer" } } }),
            ),
            (M::PUT, format!("/task/{their_task}/variables/x"), json!({ "value": 1, "type": "Integer" })),
            (M::DELETE, format!("/task/{their_task}/variables/applicant"), json!({})),
            (
                M::POST,
                format!("/process-instance/{theirs}/variables"),
                json!({ "modifications": { "x": { "value": 1, "type": "Integer" } } }),
            ),
            (M::PUT, format!("/process-instance/{theirs}/variables/x"), json!({ "value": 1, "type": "Integer" })),
            (M::DELETE, format!("/process-instance/{theirs}/variables/applicant"), json!({})),
            (M::DELETE, format!("/process-instance/{theirs}"), json!({})),
            (M::DELETE, format!("/process-instance/{theirs}?failIfNotExists=false"), json!({})),
        ];
        for (method, path, body) in &actions {
            let (status, answer) = status_and_json(as_user(&app, "huangpu", method.clone(), path).json(body)).await;
            let quiet_delete = path.ends_with("failIfNotExists=false") && status == StatusCode::NO_CONTENT;
            assert!(denied(status) || quiet_delete, "{}: {method} {path} → {status} {answer}", app.backend);
        }
        // Starting for another district is refused; for one's own it works.
        let for_b = json!({ "variables": { "district": { "value": "徐汇区", "type": "String" } } });
        let (status, _) =
            status_and_json(as_user(&app, "huangpu", M::POST, "/process-definition/key/approval/start").json(&for_b))
                .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let for_a = json!({ "variables": { "district": { "value": "310101", "type": "String" } } });
        let (status, _) =
            status_and_json(as_user(&app, "huangpu", M::POST, "/process-definition/key/approval/start").json(&for_a))
                .await;
        assert_eq!(status, StatusCode::OK);
        // The city starts for 徐汇: then it belongs to 徐汇, not to the city's starter's district.
        let (status, city_started) =
            status_and_json(as_user(&app, "city", M::POST, "/process-definition/key/approval/start").json(&for_b))
                .await;
        assert_eq!(status, StatusCode::OK);
        let city_started = city_started["id"].as_str().expect("id").to_string();
        assert_eq!(status_and_json(get(format!("/process-instance/{city_started}"))).await.0, StatusCode::NOT_FOUND);
        let (status, _) =
            status_and_json(as_user(&app, "xuhui", M::GET, &format!("/process-instance/{city_started}"))).await;
        assert_eq!(status, StatusCode::OK, "徐汇 sees what the city started for it");

        // The same through a browser session.
        let session = login(&app, "huangpu", PASSWORD).await;
        let response = session.get(&app, &format!("/engine-rest/task/{their_task}")).send().await.expect("sent");
        assert_eq!(response.status(), 404);
        let response = session
            .post(&app, &format!("/engine-rest/task/{their_task}/complete"), json!({}))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 404);

        // B's instance and task are untouched; A can still work on its own.
        let (status, instance) =
            status_and_json(as_user(&app, "xuhui", M::GET, &format!("/process-instance/{theirs}"))).await;
        assert_eq!((status, instance["ended"].as_bool()), (StatusCode::OK, Some(false)));
        let (_, variables) =
            status_and_json(as_user(&app, "xuhui", M::GET, &format!("/process-instance/{theirs}/variables"))).await;
        assert_eq!(variables["applicant"]["value"], "xuhui");
        assert!(variables.get("x").is_none(), "no variable was written into B");
        let (_, task) = status_and_json(as_user(&app, "xuhui", M::GET, &format!("/task/{their_task}"))).await;
        assert!(task["assignee"].is_null(), "nobody claimed B's task");
        let completed = as_user(&app, "huangpu", M::POST, &format!("/task/{my_task}/complete"))
            .json(&json!({ "variables": { "approved": { "value": true, "type": "Boolean" } } }))
            .send()
            .await
            .expect("sent");
        assert_eq!(completed.status(), 204, "huangpu works on its own task");
        // Below the district: a unit with an operator (unit scope) and a liaison (own records).
        let admin = login(&app, "admin", crate::support::ADMIN_PASSWORD).await;
        let unit = admin
            .post(&app, "/api/org-units", json!({ "id": "310101-01", "parent": "310101", "name": "黄浦区某街道" }))
            .send()
            .await
            .expect("sent");
        assert_eq!(unit.status(), 201);
        assert_eq!(
            unit.json::<Value>().await.expect("JSON")["district"],
            "310101",
            "a unit belongs to its parent's district"
        );
        let refused = login(&app, "huangpu", PASSWORD)
            .await
            .post(&app, "/api/org-units", json!({ "id": "x", "parent": "310101", "name": "x" }))
            .send()
            .await
            .expect("sent");
        assert_eq!(refused.status(), 403, "only system configuration adds units");
        add_account(&app, "operator1", "310101-01", &["operator"], "operator").await;
        add_account(&app, "liaison1", "310101-01", &["liaison"], "liaison").await;
        let by_operator = start_as(&app, "operator1", "approval").await;
        let by_liaison = start_as(&app, "liaison1", "approval").await;
        let count_for = |user: &'static str| {
            let request = as_user(&app, user, M::GET, "/process-instance");
            async move {
                let (_, list) = status_and_json(request).await;
                let mut ids: Vec<String> = list
                    .as_array()
                    .expect("list")
                    .iter()
                    .filter_map(|i| i["id"].as_str().map(str::to_string))
                    .collect();
                ids.sort();
                ids
            }
        };
        let mut unit_instances = vec![by_operator.clone(), by_liaison.clone()];
        unit_instances.sort();
        assert_eq!(count_for("operator1").await, unit_instances, "the operator sees its unit's instances");
        assert_eq!(count_for("liaison1").await, vec![by_liaison.clone()], "a liaison sees only its own");
        assert!(count_for("huangpu").await.contains(&by_operator), "the district sees its units' instances");
        assert!(!count_for("xuhui").await.contains(&by_operator));
        assert_eq!(
            status_and_json(as_user(&app, "liaison1", M::GET, &format!("/process-instance/{by_operator}"))).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status_and_json(as_user(&app, "operator1", M::GET, &format!("/process-instance/{mine}"))).await.0,
            StatusCode::NOT_FOUND
        );

        // The city sees both districts.
        let (_, everything) = status_and_json(as_user(&app, "city", M::GET, "/process-instance/count")).await;
        assert_eq!(everything["count"], 6);
    })
    .await;
}

/// Issue 3's endpoints under the same rule: external tasks, jobs, messages and signals of
/// district B are out of district A's reach.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn district_a_cannot_reach_district_b_jobs_external_tasks_and_messages() {
    each_backend(|app| async move {
        add_account(&app, "huangpu", "310101", &["district-staff"], "staff").await;
        add_account(&app, "xuhui", "310104", &["district-staff"], "staff").await;
        let model = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:message id="m" name="材料补正"/>
  <bpmn:signal id="s" name="全市暂停"/>
  <bpmn:process id="jobs" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:parallelGateway id="fork"/>
    <bpmn:serviceTask id="mail" camunda:type="external" camunda:topic="idor-mail"/>
    <bpmn:intermediateCatchEvent id="later"><bpmn:timerEventDefinition><bpmn:timeDuration>P1D</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:receiveTask id="docs" messageRef="m"/>
    <bpmn:intermediateCatchEvent id="pause"><bpmn:signalEventDefinition signalRef="s"/></bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="fork"/>
    <bpmn:sequenceFlow id="f1" sourceRef="fork" targetRef="mail"/>
    <bpmn:sequenceFlow id="f2" sourceRef="fork" targetRef="later"/>
    <bpmn:sequenceFlow id="f3" sourceRef="fork" targetRef="docs"/>
    <bpmn:sequenceFlow id="f4" sourceRef="fork" targetRef="pause"/>
  </bpmn:process>
</bpmn:definitions>"#;
        let (status, _) = app.deploy("jobs", model).await;
        assert_eq!(status, 200);
        let theirs = start_as(&app, "xuhui", "jobs").await;
        use reqwest::Method as M;
        let denied = |status: StatusCode| status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN;

        // A worker (a machine account) of district A is offered nothing of B's.
        add_account(&app, "hp-worker", "310101", &["district-staff"], "machine").await;
        let fetch = json!({ "workerId": "a", "maxTasks": 10, "topics": [{ "topicName": "idor-mail", "lockDuration": 60000 }] });
        let (status, locked) =
            status_and_json(as_user(&app, "hp-worker", M::POST, "/external-task/fetchAndLock").json(&fetch)).await;
        assert_eq!((status, locked), (StatusCode::OK, json!([])), "{}", app.backend);
        for path in ["/external-task", "/job", &format!("/job?processInstanceId={theirs}")] {
            let (status, body) = status_and_json(as_user(&app, "huangpu", M::GET, path)).await;
            assert_eq!((status, body), (StatusCode::OK, json!([])), "{}: GET {path}", app.backend);
        }
        let (_, count) = status_and_json(as_user(&app, "huangpu", M::GET, "/external-task/count")).await;
        assert_eq!(count["count"], 0);

        // By id: B's external task and job do not exist for A.
        let (_, tasks) = status_and_json(as_user(&app, "xuhui", M::GET, "/external-task")).await;
        let task = tasks[0]["id"].as_str().expect("B sees its own external task").to_string();
        let (_, jobs) = status_and_json(as_user(&app, "xuhui", M::GET, "/job")).await;
        let job = jobs[0]["id"].as_str().expect("B sees its own timer job").to_string();
        for (method, path, body) in [
            (M::GET, format!("/external-task/{task}"), json!({})),
            (M::POST, format!("/external-task/{task}/complete"), json!({ "workerId": "a" })),
            (M::POST, format!("/external-task/{task}/failure"), json!({ "workerId": "a", "retries": 0 })),
            (M::POST, format!("/external-task/{task}/bpmnError"), json!({ "workerId": "a", "errorCode": "X" })),
            (M::POST, format!("/external-task/{task}/unlock"), json!({})),
            (M::PUT, format!("/external-task/{task}/retries"), json!({ "retries": 0 })),
            (M::GET, format!("/job/{job}"), json!({})),
            (M::PUT, format!("/job/{job}/retries"), json!({ "retries": 0 })),
            (M::POST, format!("/job/{job}/execute"), json!({})),
        ] {
            let (status, answer) = status_and_json(as_user(&app, "huangpu", method.clone(), &path).json(&body)).await;
            assert!(denied(status), "{}: {method} {path} → {status} {answer}", app.backend);
        }

        // Messages and signals from A do not reach B's instance.
        let message = json!({ "messageName": "材料补正", "businessKey": "xuhui-1" });
        let (status, _) = status_and_json(as_user(&app, "huangpu", M::POST, "/message").json(&message)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "no instance of A's scope matches");
        let (status, _) = status_and_json(as_user(&app, "huangpu", M::POST, "/signal").json(&json!({ "name": "全市暂停" }))).await;
        assert_eq!(status, StatusCode::NO_CONTENT);

        // B's instance is untouched: all four waits still there.
        let (_, tasks) = status_and_json(as_user(&app, "xuhui", M::GET, "/external-task")).await;
        assert_eq!(tasks[0]["retries"], Value::Null, "not failed by A");
        assert!(tasks[0]["workerId"].is_null(), "not locked by A");
        let (_, jobs) = status_and_json(as_user(&app, "xuhui", M::GET, "/job")).await;
        assert_eq!(jobs[0]["retries"], 3, "retries untouched");
        let state = app.executor.store().instance(&theirs).await.expect("read").expect("exists");
        assert_eq!(state.state.waits.len(), 3, "timer, message and signal waits are all still open");
        assert_eq!(state.state.tokens.len(), 4);
    })
    .await;
}
