//! Approval operations and the inbox over real HTTP, on a two-level 区 → 市 model: the
//! applicant (a liaison of 黄浦区) applies, 区级审核 goes to the district staff of the
//! applicant's district, 市级审核 to city staff. Includes attacker-style access from another
//! district and concurrent misuse (two people acting on one task; withdraw racing an approval).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::identity::{PASSWORD, add_account};
use crate::support::{TestApp, each_backend};

/// The former demo model (a start form, an applicant's task, two reviews).
const PREF03: (&str, &str) =
    ("pref03-institution-onboarding.bpmn", include_str!("../fixtures/pref03-institution-onboarding.bpmn"));

const MODEL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="allowance" name="优待申请" isExecutable="true">
    <bpmn:startEvent id="start" camunda:initiator="starter"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="apply"/>
    <bpmn:userTask id="apply" name="提交申请" camunda:assignee="${starter}"/>
    <bpmn:sequenceFlow id="f2" sourceRef="apply" targetRef="district"/>
    <bpmn:userTask id="district" name="区级审核" camunda:candidateGroups="district-staff">
      <bpmn:extensionElements><camunda:properties>
        <camunda:property name="sy:reject" value="submitter"/>
      </camunda:properties></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f3" sourceRef="district" targetRef="city"/>
    <bpmn:userTask id="city" name="市级审核" camunda:candidateGroups="city-staff">
      <bpmn:extensionElements><camunda:properties>
        <camunda:property name="sy:cc" value="user:hp2"/>
      </camunda:properties></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f4" sourceRef="city" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// An `/api` call as `user` (HTTP Basic, so no CSRF header is needed).
async fn call(
    app: &TestApp,
    user: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method, format!("{}/api{path}", app.base)).basic_auth(user, Some(PASSWORD));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request is sent");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub(crate) async fn get(app: &TestApp, user: &str, path: &str) -> (StatusCode, Value) {
    call(app, user, reqwest::Method::GET, path, None).await
}

pub(crate) async fn post(app: &TestApp, user: &str, path: &str, body: Value) -> (StatusCode, Value) {
    call(app, user, reqwest::Method::POST, path, Some(body)).await
}

/// An `/engine-rest` request as `user` (Camunda's API, limited to the user's data scope).
fn engine_rest(app: &TestApp, user: &str, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    app.client.request(method, format!("{}/engine-rest{path}", app.base)).basic_auth(user, Some(PASSWORD))
}

/// Accounts: the applicant and two district staff of 黄浦, one of 徐汇, two city staff.
pub(crate) async fn people(app: &TestApp) {
    add_account(app, "shenqing", "310101", &["liaison"], "staff").await;
    add_account(app, "hp1", "310101", &["district-staff"], "staff").await;
    add_account(app, "hp2", "310101", &["district-staff"], "staff").await;
    add_account(app, "xh1", "310104", &["district-staff"], "staff").await;
    add_account(app, "city1", "310000", &["city-staff"], "staff").await;
    add_account(app, "city2", "310000", &["city-staff"], "staff").await;
    let (status, body) = app.deploy("allowance", MODEL).await;
    assert_eq!(status, 200, "{body}");
}

/// The applicant starts an instance and submits the application; returns the instance id.
pub(crate) async fn apply(app: &TestApp) -> String {
    let response = app
        .client
        .post(format!("{}/engine-rest/process-definition/key/allowance/start", app.base))
        .basic_auth("shenqing", Some(PASSWORD))
        .json(&json!({ "businessKey": "YD-1", "variables": { "applicant": { "value": "申请人", "type": "String" } } }))
        .send()
        .await
        .expect("start is sent");
    assert_eq!(response.status(), 200);
    let instance: Value = response.json().await.expect("JSON");
    let id = instance["id"].as_str().expect("id").to_string();
    let task = todo_task(app, "shenqing").await.expect("the application task");
    let (status, body) = post(app, "shenqing", &format!("/tasks/{task}/approve"), json!({ "comment": "申请" })).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    id
}

/// Deploys `xml` (process id `key`) and starts it as the applicant.
async fn deploy_and_start(app: &TestApp, key: &str, xml: &str) {
    let (status, body) = app.deploy(key, xml).await;
    assert_eq!(status, 200, "{body}");
    let response = app
        .client
        .post(format!("{}/engine-rest/process-definition/key/{key}/start", app.base))
        .basic_auth("shenqing", Some(PASSWORD))
        .json(&json!({}))
        .send()
        .await
        .expect("start is sent");
    assert_eq!(response.status(), 200);
}

/// The first task in `user`'s 待办.
pub(crate) async fn todo_task(app: &TestApp, user: &str) -> Option<String> {
    let (status, body) = get(app, user, "/inbox/todo").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"]
        .as_array()
        .and_then(|items| items.first())
        .and_then(|item| item["taskId"].as_str())
        .map(str::to_string)
}

async fn todo_total(app: &TestApp, user: &str) -> i64 {
    get(app, user, "/inbox/todo").await.1["total"].as_i64().unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn district_then_city_approval_with_inbox_detail_and_isolation() {
    each_backend(|app| async move {
        people(&app).await;
        let instance = apply(&app).await;

        // 区级审核 reaches the applicant's district only.
        let task = todo_task(&app, "hp1").await.expect("hp1 sees the district task");
        assert_eq!(todo_total(&app, "hp2").await, 1);
        assert_eq!(todo_total(&app, "xh1").await, 0, "another district sees nothing");
        assert_eq!(todo_total(&app, "city1").await, 0);
        for (method, path) in [
            (reqwest::Method::GET, format!("/tasks/{task}")),
            (reqwest::Method::POST, format!("/tasks/{task}/approve")),
        ] {
            let (status, body) = call(&app, "xh1", method, &path, Some(json!({}))).await;
            assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("not-found")), "{path}");
        }
        // The applicant sees its own instance (scope: own) but is no candidate: 403.
        let (status, body) = post(&app, "shenqing", &format!("/tasks/{task}/approve"), json!({})).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));

        // Detail: form data, timeline, operations, return targets.
        let (status, detail) = get(&app, "hp1", &format!("/tasks/{task}")).await;
        assert_eq!(status, StatusCode::OK, "{detail}");
        assert_eq!(
            (detail["form"]["applicant"].as_str(), detail["form"]["starter"].as_str()),
            (Some("申请人"), Some("shenqing")),
            "camunda:initiator"
        );
        assert_eq!(detail["returnTargets"], json!(["apply"]));
        let operations: Vec<&str> =
            detail["operations"].as_array().expect("operations").iter().filter_map(Value::as_str).collect();
        for expected in ["approve", "reject", "return", "transfer", "delegate", "cc"] {
            assert!(operations.contains(&expected), "{expected} in {operations:?}");
        }
        assert!(!operations.contains(&"withdraw"));

        let (status, body) = post(
            &app,
            "hp1",
            &format!("/tasks/{task}/approve"),
            json!({ "comment": "同意", "variables": { "level": 2 } }),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert_eq!(todo_total(&app, "hp2").await, 0);
        let city_task = todo_task(&app, "city1").await.expect("city staff see it");
        // hp1 sees the instance (their district) but the city's task is not theirs to complete,
        // through /engine-rest no more than through /api.
        let complete = engine_rest(&app, "hp1", reqwest::Method::POST, &format!("/task/{city_task}/complete"))
            .json(&json!({}))
            .send()
            .await
            .expect("sent");
        assert_eq!(complete.status(), StatusCode::FORBIDDEN);
        let (_, detail) = get(&app, "city1", &format!("/tasks/{city_task}")).await;
        assert_eq!(detail["returnTargets"], json!(["district", "apply"]));
        let comments: Vec<&Value> = detail["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .filter(|entry| entry["kind"] == "operation" && entry["operation"] != "cc")
            .collect();
        assert_eq!(comments.len(), 2, "{detail}");
        assert_eq!((comments[1]["actor"].as_str(), comments[1]["comment"].as_str()), (Some("hp1"), Some("同意")));
        assert_eq!(detail["form"]["level"], 2);

        let (status, _) =
            post(&app, "city1", &format!("/tasks/{city_task}/approve"), json!({ "comment": "通过" })).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, done) = get(&app, "hp1", "/inbox/done").await;
        assert_eq!(done["total"], 1);
        assert_eq!(done["items"][0]["processInstanceId"], instance.as_str());
        let (_, started) = get(&app, "shenqing", "/inbox/started?process=allowance&text=YD").await;
        assert_eq!((started["total"].as_i64(), started["items"][0]["status"].as_str()), (Some(1), Some("COMPLETED")));
        let (_, counts) = get(&app, "hp1", "/inbox/counts").await;
        assert_eq!(counts, json!({ "todo": 0, "claimable": 0, "done": 1, "started": 0, "cc": 0 }));
        // 市级审核 copies the instance to hp2 (sy:cc in the model).
        let (_, counts) = get(&app, "hp2", "/inbox/counts").await;
        assert_eq!(counts, json!({ "todo": 0, "claimable": 0, "done": 0, "started": 0, "cc": 1 }));
        let (status, body) = get(&app, "hp1", "/inbox/todo?pageSize=1000").await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid-input")));
        // Found by schemathesis: a page number whose offset does not fit 64 bits.
        let (status, body) = get(&app, "hp1", "/inbox/done?page=9223372036854775807&pageSize=100").await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid-input")));
        let (status, _) = get(&app, "hp1", "/inbox/done?page=-9223372036854775808").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, body) = get(&app, "hp1", "/inbox/todo?sort=password").await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid-input")));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reject_returns_to_the_submitter_or_ends_the_instance() {
    each_backend(|app| async move {
        people(&app).await;
        let instance = apply(&app).await;
        // 区级审核 rejects to the submitter (sy:reject = submitter).
        let task = todo_task(&app, "hp1").await.expect("district task");
        let (status, body) =
            post(&app, "hp1", &format!("/tasks/{task}/reject"), json!({ "comment": "材料不全" })).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let again = todo_task(&app, "shenqing").await.expect("back with the applicant");
        let (_, detail) = get(&app, "shenqing", &format!("/tasks/{again}")).await;
        assert_eq!(detail["task"]["taskKey"], "apply");
        let (status, _) =
            post(&app, "shenqing", &format!("/tasks/{again}/approve"), json!({ "comment": "已补充" })).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let task = todo_task(&app, "hp2").await.expect("district task again");
        assert_eq!(post(&app, "hp2", &format!("/tasks/{task}/approve"), json!({})).await.0, StatusCode::NO_CONTENT);
        // 市级审核 rejects: the instance ends as rejected (the default).
        let task = todo_task(&app, "city1").await.expect("city task");
        let (status, _) =
            post(&app, "city1", &format!("/tasks/{task}/reject"), json!({ "comment": "不符合条件" })).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, started) = get(&app, "shenqing", "/inbox/started").await;
        assert_eq!(started["items"][0]["status"], "CANCELED");
        let instance_json = app.json(&format!("/history/process-instance/{instance}")).await;
        assert_eq!(instance_json["deleteReason"], "rejected");
        // The rejected task counts as done for the city reviewer.
        assert_eq!(get(&app, "city1", "/inbox/done").await.1["total"], 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn return_goes_back_to_the_previous_handler_and_refuses_later_targets() {
    each_backend(|app| async move {
        people(&app).await;
        apply(&app).await;
        let task = todo_task(&app, "hp2").await.expect("district task");
        assert_eq!(post(&app, "hp2", &format!("/tasks/{task}/approve"), json!({})).await.0, StatusCode::NO_CONTENT);
        let city_task = todo_task(&app, "city1").await.expect("city task");
        let (status, body) =
            post(&app, "city1", &format!("/tasks/{city_task}/return"), json!({ "target": "city", "comment": "退回" }))
                .await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid-state")));
        let (status, body) = post(&app, "city1", &format!("/tasks/{city_task}/return"), json!({})).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid-input")));
        let (status, body) = post(
            &app,
            "city1",
            &format!("/tasks/{city_task}/return"),
            json!({ "target": "district", "comment": "请复核" }),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        // Re-created for hp2, who handled it before; hp1 does not see it any more.
        assert_eq!(todo_total(&app, "hp1").await, 0);
        let back = todo_task(&app, "hp2").await.expect("back with hp2");
        let (_, detail) = get(&app, "hp2", &format!("/tasks/{back}")).await;
        assert_eq!(detail["task"]["assignee"], "hp2");
        let returned = detail["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .find(|entry| entry["operation"] == "return")
            .cloned()
            .expect("the return is in the timeline");
        assert_eq!(
            (returned["actor"].as_str(), returned["detail"]["target"].as_str()),
            (Some("city1"), Some("district"))
        );
        // The returned-from task is gone: acting on it is a conflict.
        let (status, body) = post(&app, "city1", &format!("/tasks/{city_task}/approve"), json!({})).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transfer_delegate_and_resolve() {
    each_backend(|app| async move {
        people(&app).await;
        apply(&app).await;
        let task = todo_task(&app, "hp1").await.expect("district task");
        // Transfer to someone who cannot see the instance: refused.
        let (status, body) = post(&app, "hp1", &format!("/tasks/{task}/transfer"), json!({ "user": "xh1" })).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid-input")));
        let (status, body) = post(&app, "hp1", &format!("/tasks/{task}/transfer"), json!({ "user": "hp2" })).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert_eq!(todo_total(&app, "hp1").await, 0, "the original loses it");
        let (status, body) = post(&app, "hp1", &format!("/tasks/{task}/approve"), json!({})).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
        // hp2 delegates to hp1; hp1 must resolve, not approve.
        let (status, _) = post(&app, "hp2", &format!("/tasks/{task}/delegate"), json!({ "user": "hp1" })).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, detail) = get(&app, "hp1", &format!("/tasks/{task}")).await;
        assert_eq!(detail["operations"], json!(["resolve", "cc", "comment"]));
        let (status, body) = post(&app, "hp1", &format!("/tasks/{task}/approve"), json!({})).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid-state")));
        let (status, _) = post(&app, "hp1", &format!("/tasks/{task}/resolve"), json!({ "comment": "已核实" })).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(todo_task(&app, "hp2").await.as_deref(), Some(task.as_str()), "back with its owner");
        assert_eq!(post(&app, "hp2", &format!("/tasks/{task}/approve"), json!({})).await.0, StatusCode::NO_CONTENT);
        let (_, detail) =
            get(&app, "city1", &format!("/tasks/{}", todo_task(&app, "city1").await.expect("city"))).await;
        let operations: Vec<String> = detail["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .filter_map(|entry| entry["operation"].as_str().map(str::to_string))
            .collect();
        assert_eq!(operations, ["approve", "transfer", "delegate", "resolve", "approve", "cc"], "the last: sy:cc");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn withdraw_by_the_starter_and_take_back_by_the_last_approver() {
    each_backend(|app| async move {
        people(&app).await;
        let first = apply(&app).await;
        let (status, body) = post(&app, "hp1", &format!("/process-instances/{first}/withdraw"), json!({})).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
        let (status, body) =
            post(&app, "shenqing", &format!("/process-instances/{first}/withdraw"), json!({ "comment": "填错了" }))
                .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert_eq!(todo_total(&app, "hp1").await, 0);

        let second = apply(&app).await;
        let task = todo_task(&app, "hp1").await.expect("district task");
        // The task detail says which 撤回 each may do now.
        let withdrawals = |user: &'static str, task: String| {
            let app = &app;
            async move {
                let (status, detail) = get(app, user, &format!("/tasks/{task}")).await;
                assert_eq!(status, StatusCode::OK, "{detail}");
                let operations = detail["operations"].as_array().cloned().unwrap_or_default();
                operations
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|operation| operation.starts_with("withdraw"))
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(withdrawals("shenqing", task.clone()).await, ["withdraw", "withdraw-instance"], "nobody acted yet");
        assert!(withdrawals("hp1", task.clone()).await.is_empty());
        assert_eq!(post(&app, "hp1", &format!("/tasks/{task}/approve"), json!({})).await.0, StatusCode::NO_CONTENT);
        assert_eq!(withdrawals("hp1", task.clone()).await, ["withdraw"], "hp1's ended task, from 已办");
        assert!(withdrawals("shenqing", task.clone()).await.is_empty(), "hp1 acted");
        let (status, body) = post(&app, "shenqing", &format!("/process-instances/{second}/withdraw"), json!({})).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "acted on already");
        // hp1 takes the task back while the city has not acted.
        let city_task = todo_task(&app, "city1").await.expect("city task");
        let (status, body) = post(&app, "hp1", &format!("/tasks/{city_task}/withdraw"), json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert_eq!(todo_total(&app, "city1").await, 0);
        let back = todo_task(&app, "hp1").await.expect("back with hp1");
        assert_eq!(post(&app, "hp1", &format!("/tasks/{back}/approve"), json!({})).await.0, StatusCode::NO_CONTENT);
        let city_task = todo_task(&app, "city1").await.expect("city task again");
        assert_eq!(
            post(&app, "city1", &format!("/tasks/{city_task}/approve"), json!({})).await.0,
            StatusCode::NO_CONTENT
        );
        // Too late now: the next step was acted on.
        assert!(withdrawals("hp1", back.clone()).await.is_empty());
        let (status, _) = post(&app, "hp1", &format!("/tasks/{city_task}/withdraw"), json!({})).await;
        assert!(status == StatusCode::CONFLICT || status == StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copies_are_read_only_and_urging_is_rate_limited() {
    each_backend(|app| async move {
        people(&app).await;
        let instance = apply(&app).await;
        let task = todo_task(&app, "hp1").await.expect("district task");
        let (status, body) = post(&app, "hp1", &format!("/tasks/{task}/cc"), json!({ "users": ["xh1"] })).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid-input")));
        let (status, body) =
            post(&app, "hp1", &format!("/tasks/{task}/cc"), json!({ "users": ["city2"], "comment": "请知悉" })).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (_, cc) = get(&app, "city2", "/inbox/cc").await;
        assert_eq!(
            (cc["total"].as_i64(), cc["items"][0]["processInstanceId"].as_str()),
            (Some(1), Some(instance.as_str()))
        );
        let (status, detail) = get(&app, "city2", &format!("/tasks/{task}")).await;
        assert_eq!((status, detail["operations"].clone()), (StatusCode::OK, json!([])), "read-only");
        let (status, _) = post(&app, "city2", &format!("/tasks/{task}/approve"), json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // An uninvolved city user sees the instance by scope but not the task detail.
        let (status, _) = get(&app, "city1", &format!("/tasks/{task}")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // 催办 by the applicant: once, then rate-limited.
        let (status, body) = post(&app, "shenqing", &format!("/tasks/{task}/urge"), json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (status, body) = post(&app, "shenqing", &format!("/tasks/{task}/urge"), json!({})).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate-limited")));
        let (status, _) = post(&app, "hp2", &format!("/tasks/{task}/urge"), json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // Unassigned task: the record names the candidate role.
        let (_, detail) = get(&app, "hp1", &format!("/tasks/{task}")).await;
        let urge = detail["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .find(|entry| entry["operation"] == "urge")
            .cloned()
            .expect("urge recorded");
        assert_eq!(urge["detail"]["recipients"], json!(["role:district-staff"]));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_people_approving_one_task_and_withdraw_racing_an_approval() {
    each_backend(|app| async move {
        people(&app).await;
        for _ in 0..3 {
            apply(&app).await;
            let task = todo_task(&app, "hp1").await.expect("district task");
            let path = format!("/tasks/{task}/approve");
            let (first, second) =
                tokio::join!(post(&app, "hp1", &path, json!({})), post(&app, "hp2", &path, json!({})));
            let mut statuses = [first.0, second.0];
            statuses.sort();
            assert_eq!(statuses, [StatusCode::NO_CONTENT, StatusCode::CONFLICT], "{first:?} {second:?}");
            let city_task = todo_task(&app, "city1").await.expect("one city task");
            assert_eq!(todo_total(&app, "city1").await, 1, "exactly one approval went through");
            assert_eq!(
                post(&app, "city1", &format!("/tasks/{city_task}/approve"), json!({})).await.0,
                StatusCode::NO_CONTENT
            );
        }
        for _ in 0..3 {
            let instance = apply(&app).await;
            let task = todo_task(&app, "hp1").await.expect("district task");
            let (approve_path, withdraw_path) =
                (format!("/tasks/{task}/approve"), format!("/process-instances/{instance}/withdraw"));
            let (approval, withdrawal) = tokio::join!(
                post(&app, "hp1", &approve_path, json!({})),
                post(&app, "shenqing", &withdraw_path, json!({}))
            );
            let statuses = [approval.0, withdrawal.0];
            let wins = statuses.iter().filter(|status| **status == StatusCode::NO_CONTENT).count();
            assert_eq!(wins, 1, "exactly one of approval and withdrawal wins: {approval:?} {withdrawal:?}");
            assert!(statuses.contains(&StatusCode::CONFLICT), "the loser is told: {statuses:?}");
            // Clean up whichever state remains.
            if approval.0 == StatusCode::NO_CONTENT {
                let city_task = todo_task(&app, "city1").await.expect("city task");
                assert_eq!(
                    post(&app, "city1", &format!("/tasks/{city_task}/approve"), json!({})).await.0,
                    StatusCode::NO_CONTENT
                );
            } else {
                assert_eq!(todo_total(&app, "city1").await, 0);
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_nobody_can_take_follows_its_empty_candidates_rule() {
    each_backend(|app| async move {
        people(&app).await;
        // 徐汇 has no staff with this role; 黄浦's liaison applies: 区级审核 is auto-approved, and
        // the 市级审核 step, for a role nobody holds, goes to the process admin.
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="empty" isExecutable="true">
    <bpmn:extensionElements><camunda:properties>
      <camunda:property name="sy:emptyCandidates" value="admin"/>
      <camunda:property name="sy:admin" value="city2"/>
    </camunda:properties></bpmn:extensionElements>
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="first"/>
    <bpmn:userTask id="first" name="初审" camunda:candidateGroups="nobody-has-this">
      <bpmn:extensionElements><camunda:properties>
        <camunda:property name="sy:emptyCandidates" value="autoApprove"/>
      </camunda:properties></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="first" targetRef="second"/>
    <bpmn:userTask id="second" name="复审" camunda:candidateGroups="nobody-has-this-either"/>
    <bpmn:sequenceFlow id="f3" sourceRef="second" targetRef="staffed"/>
    <bpmn:userTask id="staffed" name="区级审核" camunda:candidateGroups="district-staff"/>
    <bpmn:sequenceFlow id="f4" sourceRef="staffed" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"#;
        deploy_and_start(&app, "empty", xml).await;
        let task = todo_task(&app, "city2").await.expect("复审 went to the process admin");
        let (_, detail) = get(&app, "city2", &format!("/tasks/{task}")).await;
        assert_eq!(detail["task"]["taskKey"], "second");
        let automatic: Vec<(String, String)> = detail["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .filter(|entry| entry["kind"] == "operation")
            .map(|entry| {
                (
                    entry["operation"].as_str().unwrap_or_default().into(),
                    entry["actor"].as_str().unwrap_or_default().into(),
                )
            })
            .collect();
        assert_eq!(automatic, [("approve".to_string(), "system".to_string()), ("transfer".into(), "system".into())]);
        // The staffed step stays with the district staff.
        assert_eq!(post(&app, "city2", &format!("/tasks/{task}/approve"), json!({})).await.0, StatusCode::NO_CONTENT);
        assert!(todo_task(&app, "hp1").await.is_some());
        assert_eq!(todo_total(&app, "city2").await, 0);
    })
    .await;
}

/// hp1 claims the open 区级审核 task through the Camunda API.
async fn claim_district_task(app: &TestApp) -> String {
    let task = todo_task(app, "hp1").await.expect("district task");
    let response = app
        .client
        .post(format!("{}/engine-rest/task/{task}/claim", app.base))
        .basic_auth("hp1", Some(PASSWORD))
        .json(&json!({ "userId": "hp1" }))
        .send()
        .await
        .expect("claim is sent");
    assert_eq!(response.status(), 204);
    task
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signers_added_before_after_and_alongside_and_removed() {
    each_backend(|app| async move {
        people(&app).await;
        // After: hp1 approves, then hp2 signs, then the city gets it.
        apply(&app).await;
        let task = claim_district_task(&app).await;
        let (status, body) =
            post(&app, "hp1", &format!("/tasks/{task}/add-signers"), json!({ "users": ["hp2"], "position": "after" }))
                .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (status, body) =
            post(&app, "hp2", &format!("/tasks/{task}/add-signers"), json!({ "users": ["hp1"] })).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "only the holder adds signers: {body}");
        assert_eq!(post(&app, "hp1", &format!("/tasks/{task}/approve"), json!({})).await.0, StatusCode::NO_CONTENT);
        assert_eq!(todo_total(&app, "city1").await, 0, "not complete before the added signer");
        assert_eq!(todo_task(&app, "hp2").await.as_deref(), Some(task.as_str()));
        assert_eq!(post(&app, "hp2", &format!("/tasks/{task}/approve"), json!({})).await.0, StatusCode::NO_CONTENT);
        let city = todo_task(&app, "city1").await.expect("complete after both");
        assert_eq!(post(&app, "city1", &format!("/tasks/{city}/approve"), json!({})).await.0, StatusCode::NO_CONTENT);

        // Before: hp2 signs first, then it comes back to hp1.
        apply(&app).await;
        let task = claim_district_task(&app).await;
        let (status, _) =
            post(&app, "hp1", &format!("/tasks/{task}/add-signers"), json!({ "users": ["hp2"], "position": "before" }))
                .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(todo_total(&app, "hp1").await, 0);
        assert_eq!(post(&app, "hp2", &format!("/tasks/{task}/approve"), json!({})).await.0, StatusCode::NO_CONTENT);
        assert_eq!(todo_task(&app, "hp1").await.as_deref(), Some(task.as_str()), "back with the holder");
        assert_eq!(todo_total(&app, "city1").await, 0);
        assert_eq!(post(&app, "hp1", &format!("/tasks/{task}/approve"), json!({})).await.0, StatusCode::NO_CONTENT);
        let city = todo_task(&app, "city1").await.expect("complete");
        assert_eq!(post(&app, "city1", &format!("/tasks/{city}/approve"), json!({})).await.0, StatusCode::NO_CONTENT);

        // Alongside: both sign, in any order; the added signer sees it in 待办.
        apply(&app).await;
        let task = claim_district_task(&app).await;
        let (status, _) = post(
            &app,
            "hp1",
            &format!("/tasks/{task}/add-signers"),
            json!({ "users": ["hp2"], "position": "alongside" }),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(todo_task(&app, "hp2").await.as_deref(), Some(task.as_str()));
        assert_eq!(post(&app, "hp1", &format!("/tasks/{task}/approve"), json!({})).await.0, StatusCode::NO_CONTENT);
        assert_eq!(todo_total(&app, "city1").await, 0, "hp2 has not signed");
        assert_eq!(post(&app, "hp2", &format!("/tasks/{task}/approve"), json!({})).await.0, StatusCode::NO_CONTENT);
        let city = todo_task(&app, "city1").await.expect("complete after both");
        assert_eq!(post(&app, "city1", &format!("/tasks/{city}/approve"), json!({})).await.0, StatusCode::NO_CONTENT);

        // Removed before signing: the holder's approval completes the task.
        apply(&app).await;
        let task = claim_district_task(&app).await;
        post(&app, "hp1", &format!("/tasks/{task}/add-signers"), json!({ "users": ["hp2"], "position": "after" }))
            .await;
        let (status, body) =
            post(&app, "hp1", &format!("/tasks/{task}/remove-signers"), json!({ "users": ["hp2"] })).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (status, body) =
            post(&app, "hp1", &format!("/tasks/{task}/remove-signers"), json!({ "users": ["hp2"] })).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid-state")));
        assert_eq!(post(&app, "hp1", &format!("/tasks/{task}/approve"), json!({})).await.0, StatusCode::NO_CONTENT);
        assert_eq!(todo_total(&app, "city1").await, 1);
    })
    .await;
}

/// Completes a task through Camunda's `/engine-rest/task/{id}/complete`, as `user`.
async fn engine_complete(app: &TestApp, user: &str, task: &str) -> StatusCode {
    let response = app
        .client
        .post(format!("{}/engine-rest/task/{task}/complete", app.base))
        .basic_auth(user, Some(PASSWORD))
        .json(&json!({}))
        .send()
        .await
        .expect("complete is sent");
    response.status()
}

/// Issue 10, finding 7 (`docs/security.md` T-RULES): 加签 holds on Camunda's complete too — an
/// `after` signer still signs after the holder, an `alongside` signer completes only its own
/// part, and a `before` signer's completion hands the task back to the holder.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn camunda_complete_keeps_the_added_signers() {
    each_backend(|app| async move {
        people(&app).await;
        // After.
        apply(&app).await;
        let task = claim_district_task(&app).await;
        let added = json!({ "users": ["hp2"], "position": "after" });
        assert_eq!(post(&app, "hp1", &format!("/tasks/{task}/add-signers"), added).await.0, StatusCode::NO_CONTENT);
        assert_eq!(engine_complete(&app, "hp1", &task).await, StatusCode::NO_CONTENT);
        assert_eq!(todo_total(&app, "city1").await, 0, "the after signer has not signed");
        assert_eq!(todo_task(&app, "hp2").await.as_deref(), Some(task.as_str()));
        assert_eq!(engine_complete(&app, "hp2", &task).await, StatusCode::NO_CONTENT);
        let city = todo_task(&app, "city1").await.expect("complete after both");
        assert_eq!(engine_complete(&app, "city1", &city).await, StatusCode::NO_CONTENT);
        // Alongside: the signer's completion is its part only.
        apply(&app).await;
        let task = claim_district_task(&app).await;
        let added = json!({ "users": ["hp2"], "position": "alongside" });
        assert_eq!(post(&app, "hp1", &format!("/tasks/{task}/add-signers"), added).await.0, StatusCode::NO_CONTENT);
        assert_eq!(engine_complete(&app, "hp2", &task).await, StatusCode::NO_CONTENT);
        assert_eq!(todo_total(&app, "city1").await, 0, "the holder has not signed");
        assert_eq!(engine_complete(&app, "hp1", &task).await, StatusCode::NO_CONTENT);
        let city = todo_task(&app, "city1").await.expect("complete after both");
        assert_eq!(engine_complete(&app, "city1", &city).await, StatusCode::NO_CONTENT);
        // Before: the signer's completion goes back to the holder, not on.
        apply(&app).await;
        let task = claim_district_task(&app).await;
        let added = json!({ "users": ["hp2"], "position": "before" });
        assert_eq!(post(&app, "hp1", &format!("/tasks/{task}/add-signers"), added).await.0, StatusCode::NO_CONTENT);
        assert_eq!(engine_complete(&app, "hp2", &task).await, StatusCode::NO_CONTENT);
        assert_eq!(todo_total(&app, "city1").await, 0, "the holder has not signed");
        assert_eq!(todo_task(&app, "hp1").await.as_deref(), Some(task.as_str()), "back with the holder");
        assert_eq!(engine_complete(&app, "hp1", &task).await, StatusCode::NO_CONTENT);
        assert_eq!(todo_total(&app, "city1").await, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_starters_district_leader_and_combined_candidates() {
    each_backend(|app| async move {
        people(&app).await;
        add_account(&app, "hp-leader", "310101", &["district-leader"], "staff").await;
        add_account(&app, "xh-leader", "310104", &["district-leader"], "staff").await;
        // 区级负责人 of the starter's district, or a reviewer named in a form field.
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="leader" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sign"/>
    <bpmn:userTask id="sign" name="负责人签批" camunda:candidateGroups="district-leader" camunda:candidateUsers="${reviewer}"/>
    <bpmn:sequenceFlow id="f2" sourceRef="sign" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"#;
        let (status, body) = app.deploy("leader", xml).await;
        assert_eq!(status, 200, "{body}");
        let response = app
            .client
            .post(format!("{}/engine-rest/process-definition/key/leader/start", app.base))
            .basic_auth("shenqing", Some(PASSWORD))
            .json(&json!({ "variables": { "reviewer": { "value": "city2", "type": "String" } } }))
            .send()
            .await
            .expect("start is sent");
        assert_eq!(response.status(), 200);
        assert_eq!(todo_total(&app, "hp-leader").await, 1, "the starter's district leader");
        assert_eq!(todo_total(&app, "xh-leader").await, 0, "another district's leader");
        assert_eq!(todo_total(&app, "city2").await, 1, "the reviewer from the form field");
        assert_eq!(todo_total(&app, "city1").await, 0);
        let task = todo_task(&app, "hp-leader").await.expect("task");
        assert_eq!(post(&app, "hp-leader", &format!("/tasks/{task}/approve"), json!({})).await.0, StatusCode::NO_CONTENT);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_overdue_district_review_escalates_to_the_city() {
    each_backend(|app| async move {
        people(&app).await;
        // The documented timeout pattern: an interrupting timer boundary event leads to the
        // next level (escalate); a non-interrupting one would only remind.
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="overdue" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="district"/>
    <bpmn:userTask id="district" name="区级审核" camunda:candidateGroups="district-staff"/>
    <bpmn:boundaryEvent id="late" attachedToRef="district">
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT1S</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="district" targetRef="end"/>
    <bpmn:sequenceFlow id="f3" sourceRef="late" targetRef="escalated"/>
    <bpmn:userTask id="escalated" name="超时上报市级" camunda:candidateGroups="city-staff"/>
    <bpmn:sequenceFlow id="f4" sourceRef="escalated" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"#;
        deploy_and_start(&app, "overdue", xml).await;
        let district_task = todo_task(&app, "hp1").await.expect("district task");
        let escalated = await_todo(&app, "city1").await;
        assert_eq!(todo_total(&app, "hp1").await, 0, "the overdue task left the district inbox");
        // The timeline says why the district task ended.
        let timeout = operations(&app, "city1", &escalated).await;
        assert_eq!(timeout, [("timeout".to_string(), "system".to_string(), Some("district".to_string()))]);
        let (status, body) = post(&app, "hp1", &format!("/tasks/{district_task}/approve"), json!({})).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "too late");
        assert_eq!(
            post(&app, "city1", &format!("/tasks/{escalated}/approve"), json!({})).await.0,
            StatusCode::NO_CONTENT
        );
    })
    .await;
}

/// The first task in `user`'s 待办, waiting up to 10 s for a timer to put it there.
async fn await_todo(app: &TestApp, user: &str) -> String {
    for _ in 0..100 {
        if let Some(task) = todo_task(app, user).await {
            return task;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("nothing reached {user}'s 待办 within 10 s");
}

/// The operations in a task's timeline: (operation, actor, task key).
async fn operations(app: &TestApp, user: &str, task: &str) -> Vec<(String, String, Option<String>)> {
    let (status, detail) = get(app, user, &format!("/tasks/{task}")).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    detail["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|entry| entry["kind"] == "operation")
        .map(|entry| {
            (
                entry["operation"].as_str().unwrap_or_default().to_string(),
                entry["actor"].as_str().unwrap_or_default().to_string(),
                entry["taskKey"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// A model whose 区级审核 has a 1 s time limit with `sy:timeout` = `action`; `reviewers`
/// makes it a sequential 依次审批 over them.
fn time_limited(key: &str, action: &str, reviewers: Option<&str>) -> String {
    let (assignment, loop_characteristics) = match reviewers {
        Some(list) => (
            r#"camunda:assignee="${reviewer}""#.to_string(),
            format!(
                r#"<bpmn:multiInstanceLoopCharacteristics isSequential="true" camunda:collection="${{[{list}]}}" camunda:elementVariable="reviewer"/>"#
            ),
        ),
        None => (r#"camunda:candidateGroups="district-staff""#.to_string(), String::new()),
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="{key}" isExecutable="true">
    <bpmn:startEvent id="start" camunda:initiator="starter"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="apply"/>
    <bpmn:userTask id="apply" name="提交申请" camunda:assignee="${{starter}}"/>
    <bpmn:sequenceFlow id="f2" sourceRef="apply" targetRef="district"/>
    <bpmn:userTask id="district" name="区级审核" {assignment}>
      <bpmn:extensionElements><camunda:properties>
        <camunda:property name="sy:reject" value="submitter"/>
      </camunda:properties></bpmn:extensionElements>
      {loop_characteristics}
    </bpmn:userTask>
    <bpmn:boundaryEvent id="limit" attachedToRef="district" cancelActivity="false">
      <bpmn:extensionElements><camunda:properties>
        <camunda:property name="sy:timeout" value="{action}"/>
      </camunda:properties></bpmn:extensionElements>
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT1S</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="district" targetRef="city"/>
    <bpmn:userTask id="city" name="市级审核" camunda:candidateGroups="city-staff"/>
    <bpmn:sequenceFlow id="f4" sourceRef="city" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_time_limit_approves_every_open_signer_as_the_system() {
    each_backend(|app| async move {
        people(&app).await;
        // 依次审批 by hp1 then hp2; nobody acts; after 1 s each is approved in turn.
        let reviewers = "&quot;hp1&quot;, &quot;hp2&quot;";
        deploy_and_start(&app, "limited", &time_limited("limited", "approve", Some(reviewers))).await;
        let application = todo_task(&app, "shenqing").await.expect("application");
        assert_eq!(
            post(&app, "shenqing", &format!("/tasks/{application}/approve"), json!({})).await.0,
            StatusCode::NO_CONTENT
        );
        assert!(todo_task(&app, "hp1").await.is_some(), "the first signer has it");
        let city = await_todo(&app, "city1").await;
        assert_eq!((todo_total(&app, "hp1").await, todo_total(&app, "hp2").await), (0, 0));
        let system = |operation: &str| (operation.to_string(), "system".to_string(), Some("district".to_string()));
        let timeline = operations(&app, "city1", &city).await;
        assert_eq!(timeline[1..], [system("approve"), system("approve")], "{timeline:?}");
        let (_, detail) = get(&app, "city1", &format!("/tasks/{city}")).await;
        let comments: Vec<&str> = detail["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .filter(|entry| entry["actor"] == "system")
            .filter_map(|entry| entry["comment"].as_str())
            .collect();
        assert_eq!(comments, ["超时自动通过", "超时自动通过"]);
        // Nothing of the timer is left behind.
        let jobs: Value = app.get("/job").send().await.expect("sent").json().await.expect("JSON");
        assert_eq!(jobs, json!([]));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_time_limit_rejects_as_the_model_says_and_a_timely_approval_cancels_it() {
    each_backend(|app| async move {
        people(&app).await;
        // A new version of the two-level model, which `apply` starts.
        let (status, body) = app.deploy("allowance", &time_limited("allowance", "reject", None)).await;
        assert_eq!(status, 200, "{body}");
        apply(&app).await;
        // sy:reject = submitter: the overdue review goes back to the applicant, by the system.
        let back = await_todo(&app, "shenqing").await;
        assert_eq!(todo_total(&app, "hp1").await, 0);
        let timeline = operations(&app, "shenqing", &back).await;
        assert_eq!(
            timeline.last(),
            Some(&("reject".to_string(), "system".to_string(), Some("district".to_string()))),
            "{timeline:?}"
        );
        // Resubmitted and approved in time: the next time limit never fires.
        let (status, _) = post(&app, "shenqing", &format!("/tasks/{back}/approve"), json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let review = todo_task(&app, "hp1").await.expect("review again");
        assert_eq!(post(&app, "hp1", &format!("/tasks/{review}/approve"), json!({})).await.0, StatusCode::NO_CONTENT);
        let city = todo_task(&app, "city1").await.expect("city review");
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let timeline = operations(&app, "city1", &city).await;
        assert_eq!(timeline.iter().filter(|(_, actor, _)| actor == "system").count(), 1, "{timeline:?}");
        assert_eq!(todo_task(&app, "city1").await.as_deref(), Some(city.as_str()));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approval_settings_with_typos_are_refused_at_deploy() {
    each_backend(|app| async move {
        let typo = time_limited("typo", "aprove", None);
        let (status, body) = app.deploy("typo", &typo).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["message"].as_str().unwrap_or_default().contains("sy:timeout must be one of approve, reject"),
            "{body}"
        );
        let misplaced = MODEL.replace(r#"name="sy:cc""#, r#"name="sy:vot""#);
        let (status, body) = app.deploy("allowance", &misplaced).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["message"].as_str().unwrap_or_default().contains("unknown approval setting 'sy:vot'"), "{body}");
    })
    .await;
}

/// `user`'s 已办 as (task key, action, still open) in the tab's order, after checking its total.
async fn done(app: &TestApp, user: &str) -> Vec<(String, String, bool)> {
    let (status, body) = get(app, user, "/inbox/done").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(body["total"].as_u64(), Some(items.len() as u64), "{body}");
    items
        .iter()
        .map(|item| {
            (
                item["taskKey"].as_str().unwrap_or_default().to_string(),
                item["action"].as_str().unwrap_or_default().to_string(),
                item["taskEndedAt"].is_null(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn done_lists_every_task_i_acted_on_with_my_latest_action() {
    each_backend(|app| async move {
        people(&app).await;
        apply(&app).await;
        let row = |key: &str, action: &str, open: bool| (key.to_string(), action.to_string(), open);
        assert_eq!(done(&app, "shenqing").await, [row("apply", "approve", false)]);
        let task = todo_task(&app, "hp1").await.expect("district task");
        // 转办: the task is still open, with hp2, and in hp1's 已办.
        assert_eq!(
            post(&app, "hp1", &format!("/tasks/{task}/transfer"), json!({ "user": "hp2" })).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(done(&app, "hp1").await, [row("district", "transfer", true)]);
        let (status, detail) = get(&app, "hp1", &format!("/tasks/{task}")).await;
        assert_eq!(status, StatusCode::OK, "what I handled stays open to me: {detail}");
        // 委派 back to hp1 and 归还: one row each, with the latest action.
        assert_eq!(
            post(&app, "hp2", &format!("/tasks/{task}/delegate"), json!({ "user": "hp1" })).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(post(&app, "hp1", &format!("/tasks/{task}/resolve"), json!({})).await.0, StatusCode::NO_CONTENT);
        assert_eq!(done(&app, "hp1").await, [row("district", "resolve", true)]);
        assert_eq!(done(&app, "hp2").await, [row("district", "delegate", true)]);
        // Urging or copying is not handling.
        assert_eq!(post(&app, "shenqing", &format!("/tasks/{task}/urge"), json!({})).await.0, StatusCode::NO_CONTENT);
        assert_eq!(done(&app, "shenqing").await.len(), 1);
        assert_eq!(post(&app, "hp2", &format!("/tasks/{task}/approve"), json!({})).await.0, StatusCode::NO_CONTENT);
        assert_eq!(done(&app, "hp2").await, [row("district", "approve", false)]);
        assert_eq!(done(&app, "hp1").await, [row("district", "resolve", false)], "ended now");
        // A completion through /engine-rest counts too.
        let city = todo_task(&app, "city1").await.expect("city task");
        let claimed = app
            .client
            .post(format!("{}/engine-rest/task/{city}/complete", app.base))
            .basic_auth("city1", Some(PASSWORD))
            .json(&json!({}))
            .send()
            .await
            .expect("sent");
        assert_eq!(claimed.status(), StatusCode::NO_CONTENT);
        assert_eq!(done(&app, "city1").await, [row("city", "complete", false)]);
        assert_eq!(get(&app, "hp1", "/inbox/counts").await.1["done"], 1);
        assert!(done(&app, "xh1").await.is_empty());
        // Deleting the deployment with its instances empties 已办 with them.
        let deployments: Value = app.get("/deployment").send().await.expect("sent").json().await.expect("JSON");
        for deployment in deployments.as_array().expect("deployments") {
            let id = deployment["id"].as_str().expect("id");
            let url = app.url(&format!("/deployment/{id}?cascade=true"));
            let response =
                app.client.delete(url).basic_auth("admin", Some(crate::support::ADMIN_PASSWORD)).send().await;
            assert_eq!(response.expect("sent").status(), StatusCode::NO_CONTENT);
        }
        assert!(done(&app, "hp1").await.is_empty());
    })
    .await;
}

/// Uploads `content` as `name` through `POST /api/files` as `user`.
pub(crate) async fn upload(app: &TestApp, user: &str, name: &str, content: Vec<u8>) -> (StatusCode, Value) {
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(content).file_name(name.to_string()));
    let response = app
        .client
        .post(format!("{}/api/files", app.base))
        .basic_auth(user, Some(PASSWORD))
        .multipart(form)
        .send()
        .await
        .expect("upload is sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `GET /api/files/{id}` as `user`: status, content disposition and bytes.
async fn download(app: &TestApp, user: &str, id: &str) -> (StatusCode, String, Vec<u8>) {
    let response = app
        .client
        .get(format!("{}/api/files/{id}", app.base))
        .basic_auth(user, Some(PASSWORD))
        .send()
        .await
        .expect("download is sent");
    let status = response.status();
    let disposition = response
        .headers()
        .get("content-disposition")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, disposition, response.bytes().await.map(|bytes| bytes.to_vec()).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approvals_carry_attachments_and_a_signature_image_that_participants_can_open() {
    each_backend(|app| async move {
        people(&app).await;
        add_account(&app, "auditor1", "310000", &["auditor"], "staff").await;
        apply(&app).await;
        let task = todo_task(&app, "hp1").await.expect("district task");
        let pdf = "%PDF-1.7\n% 审核意见书\n".as_bytes().to_vec();
        let png = b"\x89PNG\r\n\x1a\n signature pixels".to_vec();
        let (status, report) = upload(&app, "hp1", "审核意见.pdf", pdf.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{report}");
        assert_eq!(
            (report["contentType"].as_str(), report["size"].as_u64()),
            (Some("application/pdf"), Some(pdf.len() as u64))
        );
        let (_, signature) = upload(&app, "hp1", "sign.png", png.clone()).await;
        // What is refused: a type we do not take, content that lies about its type, too big.
        let (status, body) = upload(&app, "hp1", "page.html", b"<script>alert(1)</script>".to_vec()).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid-input")));
        let (status, _) = upload(&app, "hp1", "photo.png", pdf.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let mut big = b"%PDF-".to_vec();
        big.resize(9 * 1024 * 1024, b'x');
        let (status, body) = upload(&app, "hp1", "big.pdf", big).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("too-large")));
        // Somebody else's upload, or a PDF as a signature, cannot be used.
        let (_, foreign) = upload(&app, "hp2", "other.pdf", pdf.clone()).await;
        let id = |file: &Value| file["id"].as_str().expect("file id").to_string();
        let approve = format!("/tasks/{task}/approve");
        let (status, body) = post(&app, "hp1", &approve, json!({ "attachments": [id(&foreign)] })).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid-input")));
        let (status, _) = post(&app, "hp1", &approve, json!({ "signature": id(&report) })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        // Before it is used, only the uploader can open it.
        assert_eq!(download(&app, "shenqing", &id(&report)).await.0, StatusCode::NOT_FOUND);
        // An operation that is refused binds nothing: the file stays free for another instance.
        let (_, spare) = upload(&app, "hp1", "备用.pdf", pdf.clone()).await;
        let (status, _) = post(&app, "hp1", &format!("/tasks/{task}/cc"), json!({ "attachments": [id(&spare)] })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "no one to copy to");
        let body = json!({ "comment": "同意", "attachments": [id(&report)], "signature": id(&signature) });
        assert_eq!(post(&app, "hp1", &approve, body).await.0, StatusCode::NO_CONTENT);
        // The next reviewer sees them in the timeline and opens them.
        let city = todo_task(&app, "city1").await.expect("city task");
        let (_, detail) = get(&app, "city1", &format!("/tasks/{city}")).await;
        let approval = detail["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .find(|entry| entry["operation"] == "approve" && entry["actor"] == "hp1")
            .cloned()
            .expect("hp1's approval");
        assert_eq!(approval["detail"]["attachments"][0]["name"], "审核意见.pdf");
        assert_eq!(approval["detail"]["signature"]["contentType"], "image/png");
        let (status, disposition, bytes) = download(&app, "city1", &id(&report)).await;
        assert_eq!((status, bytes), (StatusCode::OK, pdf.clone()));
        assert!(disposition.starts_with("attachment;") && disposition.contains("%E5%AE%A1"), "{disposition}");
        let (status, disposition, bytes) = download(&app, "shenqing", &id(&signature)).await;
        assert_eq!((status, bytes), (StatusCode::OK, png));
        assert!(disposition.starts_with("inline;"), "{disposition}");
        // Another district, or a file id that does not exist: the same 404.
        assert_eq!(download(&app, "xh1", &id(&report)).await.0, StatusCode::NOT_FOUND);
        assert_eq!(download(&app, "city1", "no-such-file").await.0, StatusCode::NOT_FOUND);
        // Used once, a file stays with its instance: it cannot be attached to another one.
        apply(&app).await;
        let second = todo_task(&app, "hp1").await.expect("second district task");
        let (status, _) =
            post(&app, "hp1", &format!("/tasks/{second}/approve"), json!({ "attachments": [id(&report)] })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, _) =
            post(&app, "hp1", &format!("/tasks/{second}/approve"), json!({ "attachments": [id(&spare)] })).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "the spare file was never bound");
        // Every download and every refusal is in the audit log.
        let (_, log) = get(&app, "auditor1", "/audit?limit=1000").await;
        let downloads: Vec<(&str, &str)> = log
            .as_array()
            .expect("audit items")
            .iter()
            .filter(|row| row["action"] == "file.download")
            .map(|row| (row["user"].as_str().unwrap_or_default(), row["result"].as_str().unwrap_or_default()))
            .collect();
        assert_eq!(
            downloads,
            [
                ("shenqing", "denied"),
                ("city1", "success"),
                ("shenqing", "success"),
                ("xh1", "denied"),
                ("city1", "denied")
            ]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn camunda_task_comments_are_the_approval_comments() {
    each_backend(|app| async move {
        people(&app).await;
        apply(&app).await;
        let task = todo_task(&app, "hp1").await.expect("district task");
        let rest = |user: &str, method: reqwest::Method, path: String| engine_rest(&app, user, method, &path);
        let created = rest("hp1", reqwest::Method::POST, format!("/task/{task}/comment/create"))
            .json(&json!({ "message": "请补充收入证明" }))
            .send()
            .await
            .expect("sent");
        assert_eq!(created.status(), StatusCode::OK);
        // The same through /api; an empty comment is refused.
        let (status, body) = post(&app, "hp1", &format!("/tasks/{task}/comment"), json!({ "comment": " " })).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid-input")));
        let (status, _) = post(&app, "xh1", &format!("/tasks/{task}/comment"), json!({ "comment": "x" })).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "another district");
        assert_eq!(
            post(&app, "hp1", &format!("/tasks/{task}/comment"), json!({ "comment": "已电话核实" })).await.0,
            StatusCode::NO_CONTENT
        );
        // It is in the approval timeline, and 通过's comment is a Camunda comment.
        assert_eq!(
            operations(&app, "hp1", &task).await.last(),
            Some(&("comment".into(), "hp1".into(), Some("district".into())))
        );
        assert_eq!(
            post(&app, "hp1", &format!("/tasks/{task}/approve"), json!({ "comment": "同意" })).await.0,
            StatusCode::NO_CONTENT
        );
        let listed: Value = rest("hp1", reqwest::Method::GET, format!("/task/{task}/comment"))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("JSON");
        let messages: Vec<(&str, &str)> = listed
            .as_array()
            .expect("comments")
            .iter()
            .map(|comment| {
                (comment["userId"].as_str().unwrap_or_default(), comment["message"].as_str().unwrap_or_default())
            })
            .collect();
        assert_eq!(messages, [("hp1", "请补充收入证明"), ("hp1", "已电话核实"), ("hp1", "同意")]);
        // Another district's user cannot read them, nor comment.
        let foreign = rest("xh1", reqwest::Method::GET, format!("/task/{task}/comment")).send().await.expect("sent");
        assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
        let city = todo_task(&app, "city1").await.expect("city task");
        let foreign = rest("xh1", reqwest::Method::POST, format!("/task/{city}/comment/create"))
            .json(&json!({ "message": "x" }))
            .send()
            .await
            .expect("sent");
        assert_eq!(foreign.status(), StatusCode::BAD_REQUEST);
        let empty = rest("city1", reqwest::Method::POST, format!("/task/{city}/comment/create"))
            .json(&json!({ "message": " " }))
            .send()
            .await
            .expect("sent");
        assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn own_scope_accounts_see_the_instances_they_are_asked_to_act_on_and_no_others() {
    each_backend(|app| async move {
        people(&app).await;
        // Own-scope accounts with the Camunda REST API (volunteer-team contacts; institutions
        // work through the system's own API and pages, issue 14).
        add_account(&app, "prov1", "310101", &["volunteer-contact"], "volunteer-contact").await;
        add_account(&app, "prov2", "310101", &["volunteer-contact"], "volunteer-contact").await;
        // SVC-14's shape: a liaison submits, a service unit (own scope) confirms.
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="service" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="confirm"/>
    <bpmn:userTask id="confirm" name="服务确认" camunda:assignee="${unit}"/>
    <bpmn:sequenceFlow id="f2" sourceRef="confirm" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"#;
        let (status, body) = app.deploy("service", xml).await;
        assert_eq!(status, 200, "{body}");
        let start = |unit: &'static str| {
            let app = &app;
            async move {
                let response = app
                    .client
                    .post(format!("{}/engine-rest/process-definition/key/service/start", app.base))
                    .basic_auth("shenqing", Some(PASSWORD))
                    .json(&json!({ "variables": { "unit": { "value": unit, "type": "String" } } }))
                    .send()
                    .await
                    .expect("start is sent");
                assert_eq!(response.status(), StatusCode::OK);
                let instance: Value = response.json().await.expect("JSON");
                instance["id"].as_str().expect("id").to_string()
            }
        };
        let mine = start("prov1").await;
        let theirs = start("prov2").await;
        let instance = |user: &'static str, id: String| {
            let app = &app;
            async move {
                app.client
                    .get(format!("{}/engine-rest/process-instance/{id}", app.base))
                    .basic_auth(user, Some(PASSWORD))
                    .send()
                    .await
                    .expect("sent")
                    .status()
            }
        };
        assert_eq!(instance("prov1", mine.clone()).await, StatusCode::OK, "asked to act on it");
        assert_eq!(instance("prov1", theirs.clone()).await, StatusCode::NOT_FOUND, "not theirs");
        let task = todo_task(&app, "prov1").await.expect("prov1's confirmation");
        assert_eq!(todo_total(&app, "prov1").await, 1);
        assert_eq!(get(&app, "prov2", &format!("/tasks/{task}")).await.0, StatusCode::NOT_FOUND);
        // Seeing an instance is not acting on it, through /engine-rest either: the liaison who
        // started it cannot complete the provider's confirmation, nor make themselves a candidate.
        let complete = engine_rest(&app, "shenqing", reqwest::Method::POST, &format!("/task/{task}/complete"))
            .json(&json!({}))
            .send()
            .await
            .expect("sent");
        assert_eq!(complete.status(), StatusCode::FORBIDDEN);
        let link = engine_rest(&app, "shenqing", reqwest::Method::POST, &format!("/task/{task}/identity-links"))
            .json(&json!({ "userId": "shenqing", "type": "candidate" }))
            .send()
            .await
            .expect("sent");
        assert_eq!(link.status(), StatusCode::FORBIDDEN);
        // Nor can a holder hand the task to an account that could not see the instance.
        let delegate = engine_rest(&app, "prov1", reqwest::Method::POST, &format!("/task/{task}/delegate"))
            .json(&json!({ "userId": "xh1" }))
            .send()
            .await
            .expect("sent");
        assert_eq!(delegate.status(), StatusCode::BAD_REQUEST, "xh1 is another district's staff");
        // Taking part lets prov1 see the instance and act on its task, not change the instance.
        let delete = engine_rest(&app, "prov1", reqwest::Method::DELETE, &format!("/process-instance/{mine}"))
            .send()
            .await
            .expect("sent");
        assert_eq!(delete.status(), StatusCode::NOT_FOUND);
        let variables =
            engine_rest(&app, "prov1", reqwest::Method::POST, &format!("/process-instance/{mine}/variables"))
                .json(&json!({ "modifications": { "unit": { "value": "prov2", "type": "String" } } }))
                .send()
                .await
                .expect("sent");
        assert_eq!(variables.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            post(&app, "prov1", &format!("/tasks/{task}/approve"), json!({ "comment": "已安排" })).await.0,
            StatusCode::NO_CONTENT
        );
        // Afterwards: in 已办 and still open to them, the other instance still not.
        assert_eq!(done(&app, "prov1").await.len(), 1);
        assert_eq!(get(&app, "prov1", &format!("/tasks/{task}")).await.0, StatusCode::OK);
        assert_eq!(instance("prov1", theirs).await, StatusCode::NOT_FOUND);
        // The liaison sees what they started.
        assert_eq!(get(&app, "shenqing", "/inbox/started").await.1["total"], 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn camunda_identity_links_change_who_sees_a_task_and_are_recorded() {
    each_backend(|app| async move {
        people(&app).await;
        apply(&app).await;
        let task = todo_task(&app, "hp1").await.expect("district task");
        assert_eq!(todo_total(&app, "hp2").await, 1, "district staff are candidates by role");
        let link = |path: &str, body: Value| {
            engine_rest(&app, "hp1", reqwest::Method::POST, &format!("/task/{task}/{path}")).json(&body).send()
        };
        // A named reviewer from the same district is added, then the role is taken away.
        let added = link("identity-links", json!({ "userId": "hp2", "type": "candidate" })).await.expect("sent");
        assert_eq!(added.status(), StatusCode::NO_CONTENT);
        let removed = link("identity-links/delete", json!({ "groupId": "district-staff", "type": "candidate" }))
            .await
            .expect("sent");
        assert_eq!(removed.status(), StatusCode::NO_CONTENT);
        assert_eq!((todo_total(&app, "hp1").await, todo_total(&app, "hp2").await), (0, 1));
        let timeline = operations(&app, "hp2", &task).await;
        let candidates: Vec<_> = timeline.iter().filter(|(operation, _, _)| operation == "candidates").collect();
        assert_eq!(candidates.len(), 2, "{timeline:?}");
        let bad = link("identity-links", json!({ "userId": "hp2", "groupId": "x", "type": "candidate" }))
            .await
            .expect("sent");
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    })
    .await;
}

/// The PREF-03 model that shipped before issue 14 (`tests/fixtures/`): 区 → 市 review with 驳回
/// back to the applicant, started bare with a start form.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_former_pref03_model_runs_district_then_city_review_with_returns() {
    each_backend(|app| async move {
        people(&app).await;
        let (name, xml) = PREF03;
        let (status, body) = app.deploy(name.trim_end_matches(".bpmn"), xml).await;
        assert_eq!(status, 200, "{body}");
        let response = app
            .client
            .post(format!("{}/engine-rest/process-definition/key/pref03-institution-onboarding/start", app.base))
            .basic_auth("shenqing", Some(PASSWORD))
            .json(&json!({ "businessKey": "PREF03-T1", "variables": { "institutionName": { "value": "示例餐厅", "type": "String" } } }))
            .send()
            .await
            .expect("start is sent");
        assert_eq!(response.status(), StatusCode::OK);
        let submit = |user: &'static str| {
            let app = &app;
            async move {
                let task = todo_task(app, user).await.expect("a task to act on");
                (task.clone(), post(app, user, &format!("/tasks/{task}/approve"), json!({ "comment": "提交" })).await.0)
            }
        };
        assert_eq!(submit("shenqing").await.1, StatusCode::NO_CONTENT, "the application");
        assert_eq!(todo_total(&app, "xh1").await, 0, "another district's staff never see it");
        // 区级审核 by 黄浦's staff: 驳回 goes back to the applicant.
        let review = todo_task(&app, "hp1").await.expect("district review");
        let (status, _) = post(&app, "hp1", &format!("/tasks/{review}/reject"), json!({ "comment": "缺少营业执照" })).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(submit("shenqing").await.1, StatusCode::NO_CONTENT, "revised and submitted again");
        assert_eq!(submit("hp2").await.1, StatusCode::NO_CONTENT, "district review");
        let (city, status) = submit("city1").await;
        assert_eq!(status, StatusCode::NO_CONTENT, "city review");
        let (_, detail) = get(&app, "city1", &format!("/tasks/{city}")).await;
        assert_eq!(detail["processInstance"]["status"], "COMPLETED");
        assert_eq!(detail["form"]["onboarded"], true);
        let steps: Vec<&str> = detail["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .filter(|entry| entry["kind"] == "task")
            .filter_map(|entry| entry["taskKey"].as_str())
            .collect();
        assert_eq!(steps, ["application", "districtReview", "application", "districtReview", "cityReview"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn camunda_task_attachments_are_checked_sealed_files_in_the_timeline() {
    each_backend(|app| async move {
        people(&app).await;
        apply(&app).await;
        let task = todo_task(&app, "hp1").await.expect("district task");
        let rest = |user: &str, method: reqwest::Method, path: String| {
            engine_rest(&app, user, method, &format!("/task/{task}{path}"))
        };
        let pdf = b"%PDF-1.7 licence scan".to_vec();
        let form = |content: Option<(&str, Vec<u8>)>, url: Option<&str>| {
            let mut form = reqwest::multipart::Form::new()
                .text("attachment-name", "营业执照")
                .text("attachment-description", "扫描件")
                .text("attachment-type", "application/pdf");
            if let Some((file, bytes)) = content {
                form = form.part("content", reqwest::multipart::Part::bytes(bytes).file_name(file.to_string()));
            }
            if let Some(url) = url {
                form = form.text("url", url.to_string());
            }
            form
        };
        let created = rest("hp1", reqwest::Method::POST, "/attachment/create".into())
            .multipart(form(Some(("licence.pdf", pdf.clone())), None))
            .send()
            .await
            .expect("sent");
        assert_eq!(created.status(), StatusCode::OK);
        let file: Value = created.json().await.expect("JSON");
        let linked = rest("hp1", reqwest::Method::POST, "/attachment/create".into())
            .multipart(form(None, Some("https://example.gov.cn/licence/123")))
            .send()
            .await
            .expect("sent");
        assert_eq!(linked.status(), StatusCode::OK);
        let linked: Value = linked.json().await.expect("JSON");
        let refused = rest("hp1", reqwest::Method::POST, "/attachment/create".into())
            .multipart(form(Some(("page.html", b"<script>alert(1)</script>".to_vec())), None))
            .send()
            .await
            .expect("sent");
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "the same type check as /api/files");
        let listed: Value = rest("hp1", reqwest::Method::GET, "/attachment".into())
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("JSON");
        assert_eq!(listed.as_array().map(Vec::len), Some(2));
        assert_eq!((listed[0]["name"].as_str(), listed[0]["description"].as_str()), (Some("营业执照"), Some("扫描件")));
        let data = rest("hp2", reqwest::Method::GET, format!("/attachment/{}/data", file["id"].as_str().expect("id")))
            .send()
            .await
            .expect("sent");
        assert_eq!(data.status(), StatusCode::OK);
        assert_eq!(data.bytes().await.expect("bytes").to_vec(), pdf);
        let url_only = format!("/attachment/{}", linked["id"].as_str().expect("id"));
        let no_data = rest("hp1", reqwest::Method::GET, format!("{url_only}/data")).send().await.expect("sent");
        assert_eq!(no_data.status(), StatusCode::NOT_FOUND, "a URL attachment has no content");
        let deleted = rest("hp1", reqwest::Method::DELETE, url_only.clone()).send().await.expect("sent");
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        let listed: Value = rest("hp1", reqwest::Method::GET, "/attachment".into())
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("JSON");
        assert_eq!(listed.as_array().map(Vec::len), Some(1));
        let foreign = rest("xh1", reqwest::Method::GET, "/attachment".into()).send().await.expect("sent");
        assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
        // In the approval timeline, removal included: nothing is rewritten.
        let kinds: Vec<String> =
            operations(&app, "hp1", &task).await.into_iter().map(|(operation, _, _)| operation).collect();
        assert_eq!(kinds[1..], ["attachment", "attachment", "attachment-removed"], "{kinds:?}");
    })
    .await;
}

/// PREF-03 in a district with no reviewers yet: the review goes to admin (a routing by the
/// system, which is nobody acting), so the applicant can still withdraw.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_review_routed_to_the_admin_still_lets_the_applicant_withdraw() {
    each_backend(|app| async move {
        people(&app).await;
        let (name, xml) = PREF03;
        assert_eq!(app.deploy(name.trim_end_matches(".bpmn"), xml).await.0, 200);
        // A liaison of 静安区, where nobody holds district-staff yet.
        add_account(&app, "jingan", "310106", &["liaison"], "staff").await;
        let started = engine_rest(
            &app,
            "jingan",
            reqwest::Method::POST,
            "/process-definition/key/pref03-institution-onboarding/start",
        )
        .json(&json!({}))
        .send()
        .await
        .expect("sent");
        assert_eq!(started.status(), StatusCode::OK);
        let instance: Value = started.json().await.expect("JSON");
        let instance = instance["id"].as_str().expect("id").to_string();
        let application = todo_task(&app, "jingan").await.expect("the application");
        assert_eq!(
            post(&app, "jingan", &format!("/tasks/{application}/approve"), json!({})).await.0,
            StatusCode::NO_CONTENT
        );
        let routed = operations(&app, "jingan", &application).await;
        assert!(
            routed.contains(&("transfer".to_string(), "system".to_string(), Some("districtReview".to_string()))),
            "{routed:?}"
        );
        let (_, detail) = get(&app, "jingan", &format!("/tasks/{application}")).await;
        assert!(
            detail["operations"].as_array().is_some_and(|ops| ops.contains(&json!("withdraw-instance"))),
            "{detail}"
        );
        let (status, body) = post(&app, "jingan", &format!("/process-instances/{instance}/withdraw"), json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    })
    .await;
}
