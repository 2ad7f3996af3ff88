//! Jobs, timers, messages, signals and external tasks end to end: the job executor every node
//! runs, Camunda's `/message`, `/signal`, `/job` and `/external-task`, on every backend.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{TestApp, each_backend, spawn_node};

const NS: &str = r#"xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance""#;

fn model(extra: &str, id: &str, body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {NS} id="d" targetNamespace="t">{extra}
  <bpmn:process id="{id}" isExecutable="true">{body}</bpmn:process>
</bpmn:definitions>"#
    )
}

fn flow(id: &str, from: &str, to: &str) -> String {
    format!(r#"<bpmn:sequenceFlow id="{id}" sourceRef="{from}" targetRef="{to}"/>"#)
}

/// Polls `check` every 50 ms until it holds or `limit` passes; returns whether it held.
async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn deploy(app: &TestApp, name: &str, xml: &str) {
    let (status, body) = app.deploy(name, xml).await;
    assert_eq!(status, 200, "{body}");
}

async fn instance_ended(app: &TestApp, id: &str) -> bool {
    let response = app.get(&format!("/history/process-instance/{id}")).send().await.expect("sent");
    let body: Value = response.json().await.expect("JSON");
    body["state"] == "COMPLETED"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_boundary_timer_escalates_through_the_job_executor() {
    each_backend(|app| async move {
        let body = format!(
            r#"<bpmn:startEvent id="start"/>
            <bpmn:userTask id="review" name="审核"/>
            <bpmn:boundaryEvent id="late" attachedToRef="review"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1S</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
            <bpmn:userTask id="escalated" name="督办"/>
            <bpmn:endEvent id="end"/>{}{}{}"#,
            flow("f1", "start", "review"),
            flow("f2", "review", "end"),
            flow("f3", "late", "escalated")
        );
        deploy(&app, "escalation", &model("", "escalation", &body)).await;
        let instance = app.start("escalation", json!({})).await;
        let id = instance["id"].as_str().expect("id").to_string();
        let jobs = app.json(&format!("/job?processInstanceId={id}")).await;
        assert_eq!(jobs.as_array().map(Vec::len), Some(1), "{jobs}");
        assert!(jobs[0]["dueDate"].as_str().is_some_and(|due| due.ends_with("+0800")), "{jobs}");

        let escalated = eventually(Duration::from_secs(10), || async {
            app.tasks_of(&id).await.iter().any(|task| task["taskDefinitionKey"] == "escalated")
        })
        .await;
        assert!(escalated, "the timer fired within 10 s");
        let tasks = app.tasks_of(&id).await;
        assert_eq!(tasks.len(), 1, "the review task was canceled: {tasks:?}");
        assert_eq!(app.json(&format!("/job/count?processInstanceId={id}")).await["count"], 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_correlate_by_business_key_and_keys_and_start_processes() {
    each_backend(|app| async move {
        let waiting = format!(
            r#"<bpmn:startEvent id="start"/><bpmn:receiveTask id="wait" messageRef="m"/><bpmn:endEvent id="end"/>{}{}"#,
            flow("f1", "start", "wait"),
            flow("f2", "wait", "end")
        );
        deploy(&app, "payment", &model(r#"<bpmn:message id="m" name="已缴费"/>"#, "payment", &waiting)).await;
        let starting = format!(
            r#"<bpmn:startEvent id="apply"><bpmn:messageEventDefinition messageRef="a"/></bpmn:startEvent><bpmn:userTask id="check"/>{}"#,
            flow("f1", "apply", "check")
        );
        deploy(&app, "application", &model(r#"<bpmn:message id="a" name="申请"/>"#, "application", &starting)).await;

        let first = app.start("payment", json!({ "businessKey": "B-1", "variables": { "order": { "value": 1, "type": "Integer" } } })).await;
        let second = app.start("payment", json!({ "businessKey": "B-2", "variables": { "order": { "value": 2, "type": "Integer" } } })).await;

        // By business key, with the result and variables Camunda returns.
        let response = app
            .post("/message", json!({
                "messageName": "已缴费", "businessKey": "B-1",
                "processVariables": { "amount": { "value": 30, "type": "Integer" } },
                "resultEnabled": true, "variablesInResultEnabled": true
            }))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200);
        let results: Value = response.json().await.expect("JSON");
        assert_eq!(results[0]["resultType"], "Execution", "{results}");
        assert_eq!(results[0]["processInstance"]["id"], first["id"]);
        assert_eq!(results[0]["variables"]["amount"]["value"], 30);
        assert!(instance_ended(&app, first["id"].as_str().expect("id")).await);

        // By correlation keys (process variables); no result asked for: 204.
        let response = app
            .post("/message", json!({ "messageName": "已缴费", "correlationKeys": { "order": { "value": 2, "type": "Integer" } } }))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 204);
        assert!(instance_ended(&app, second["id"].as_str().expect("id")).await);

        // Nothing waits any more: Camunda's 400 with its exception type.
        let response = app.post("/message", json!({ "messageName": "已缴费", "businessKey": "B-1" })).send().await.expect("sent");
        assert_eq!(response.status(), 400);
        let error: Value = response.json().await.expect("JSON");
        assert_eq!(error["type"], "MismatchingMessageCorrelationException", "{error}");

        // A message start event starts a process, with the business key.
        let response = app
            .post("/message", json!({ "messageName": "申请", "businessKey": "K-9", "resultEnabled": true }))
            .send()
            .await
            .expect("sent");
        let results: Value = response.json().await.expect("JSON");
        assert_eq!(results[0]["resultType"], "ProcessDefinition", "{results}");
        assert_eq!(results[0]["processInstance"]["businessKey"], "K-9");
        let started = results[0]["processInstance"]["id"].as_str().expect("id");
        assert_eq!(app.tasks_of(started).await.len(), 1);

        let response = app.post("/message", json!({ "businessKey": "B-1" })).send().await.expect("sent");
        assert_eq!(response.status(), 400, "a message needs a name");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_signal_reaches_every_waiting_instance() {
    each_backend(|app| async move {
        let body = format!(
            r#"<bpmn:startEvent id="start"/><bpmn:intermediateCatchEvent id="alarm"><bpmn:signalEventDefinition signalRef="s"/></bpmn:intermediateCatchEvent><bpmn:endEvent id="end"/>{}{}"#,
            flow("f1", "start", "alarm"),
            flow("f2", "alarm", "end")
        );
        deploy(&app, "drill", &model(r#"<bpmn:signal id="s" name="演练"/>"#, "drill", &body)).await;
        let a = app.start("drill", json!({})).await;
        let b = app.start("drill", json!({})).await;
        let response = app.post("/signal", json!({ "name": "演练" })).send().await.expect("sent");
        assert_eq!(response.status(), 204);
        for instance in [a, b] {
            assert!(instance_ended(&app, instance["id"].as_str().expect("id")).await);
        }
    })
    .await;
}

fn external_model() -> String {
    let body = format!(
        r#"<bpmn:startEvent id="start"/>
        <bpmn:serviceTask id="mail" camunda:type="external" camunda:topic="send-mail"/>
        <bpmn:boundaryEvent id="bounced" attachedToRef="mail"><bpmn:errorEventDefinition errorRef="e"/></bpmn:boundaryEvent>
        <bpmn:userTask id="call" name="电话联系"/>
        <bpmn:endEvent id="end"/>{}{}{}"#,
        flow("f1", "start", "mail"),
        flow("f2", "mail", "end"),
        flow("f3", "bounced", "call")
    );
    model(r#"<bpmn:error id="e" errorCode="BOUNCED"/>"#, "notify", &body)
}

async fn fetch(app: &TestApp, worker: &str, wait_ms: u64) -> Vec<Value> {
    let body = json!({
        "workerId": worker, "maxTasks": 5, "asyncResponseTimeout": wait_ms,
        "topics": [{ "topicName": "send-mail", "lockDuration": 60000, "variables": ["to"] }]
    });
    let response = app.post("/external-task/fetchAndLock", body).send().await.expect("sent");
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.expect("JSON").as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn external_task_workers_fetch_lock_complete_fail_and_throw() {
    each_backend(|app| async move {
        deploy(&app, "notify", &external_model()).await;
        let vars = json!({ "variables": { "to": { "value": "li@example.org", "type": "String" }, "secret": { "value": "x", "type": "String" } } });
        let instance = app.start("notify", vars.clone()).await;
        let id = instance["id"].as_str().expect("id").to_string();

        let locked = fetch(&app, "w1", 0).await;
        assert_eq!(locked.len(), 1);
        let task = &locked[0];
        assert_eq!(task["topicName"], "send-mail");
        assert_eq!(task["workerId"], "w1");
        assert_eq!(task["variables"]["to"]["value"], "li@example.org");
        assert!(task["variables"].get("secret").is_none(), "only the variables asked for: {task}");
        let task_id = task["id"].as_str().expect("id").to_string();
        assert!(fetch(&app, "w2", 0).await.is_empty(), "a locked task goes to one worker");

        // Another worker cannot complete it; the holder can.
        let wrong = app.post(&format!("/external-task/{task_id}/complete"), json!({ "workerId": "w2" })).send().await.expect("sent");
        assert!(wrong.status().is_client_error(), "{}", wrong.status());
        let extend = app.post(&format!("/external-task/{task_id}/extendLock"), json!({ "workerId": "w1", "newDuration": 120000 })).send().await.expect("sent");
        assert_eq!(extend.status(), 204);
        let done = app
            .post(&format!("/external-task/{task_id}/complete"), json!({ "workerId": "w1", "variables": { "sent": { "value": true, "type": "Boolean" } } }))
            .send()
            .await
            .expect("sent");
        assert_eq!(done.status(), 204);
        assert!(instance_ended(&app, &id).await);

        // Failure with retries left: hidden until the retry timeout; at 0: an incident, and
        // raising the retries offers it again.
        let instance = app.start("notify", vars.clone()).await;
        let id = instance["id"].as_str().expect("id").to_string();
        let task_id = fetch(&app, "w1", 0).await[0]["id"].as_str().expect("id").to_string();
        let failed = app
            // The longest timeout there is: later than anything, never an overflow.
            .post(&format!("/external-task/{task_id}/failure"), json!({ "workerId": "w1", "errorMessage": "SMTP 超时", "retries": 1, "retryTimeout": i64::MAX }))
            .send()
            .await
            .expect("sent");
        assert_eq!(failed.status(), 204);
        assert!(fetch(&app, "w1", 0).await.is_empty(), "not before the retry timeout");
        let listed = app.json(&format!("/external-task?processInstanceId={id}")).await;
        assert_eq!(listed[0]["retries"], 1);
        assert_eq!(listed[0]["errorMessage"], "SMTP 超时");
        let unlock = app.post(&format!("/external-task/{task_id}/unlock"), json!({})).send().await.expect("sent");
        assert_eq!(unlock.status(), 204);
        let again = fetch(&app, "w1", 0).await;
        assert_eq!(again.len(), 1);
        let last = app
            .post(&format!("/external-task/{task_id}/failure"), json!({ "workerId": "w1", "errorMessage": "SMTP 拒绝", "retries": 0 }))
            .send()
            .await
            .expect("sent");
        assert_eq!(last.status(), 204);
        let incidents = app.json(&format!("/incident?processInstanceId={id}")).await;
        assert_eq!(incidents[0]["incidentMessage"], "SMTP 拒绝", "{incidents}");
        // Camunda's type for a worker's failure, and the type filter finds it under that name only.
        assert_eq!(incidents[0]["incidentType"], "failedExternalTask", "{incidents}");
        let by_type = |kind: &str| format!("/incident/count?processInstanceId={id}&incidentType={kind}");
        assert_eq!(app.json(&by_type("failedExternalTask")).await["count"], 1);
        assert_eq!(app.json(&by_type("failedJob")).await["count"], 0);
        assert!(fetch(&app, "w1", 0).await.is_empty());
        let retries = app.client.put(app.url(&format!("/external-task/{task_id}/retries")))
            .basic_auth("admin", Some(crate::support::ADMIN_PASSWORD)).json(&json!({ "retries": 2 })).send().await.expect("sent");
        assert_eq!(retries.status(), 204);
        assert_eq!(app.json(&format!("/incident/count?processInstanceId={id}")).await["count"], 0);
        let offered = fetch(&app, "w1", 0).await;
        assert_eq!(offered.len(), 1, "offered again after the retries were raised");

        // A BPMN error is caught by the boundary event.
        let task_id = offered[0]["id"].as_str().expect("id");
        let thrown = app
            .post(&format!("/external-task/{task_id}/bpmnError"), json!({ "workerId": "w1", "errorCode": "BOUNCED", "errorMessage": "退信" }))
            .send()
            .await
            .expect("sent");
        assert_eq!(thrown.status(), 204);
        let tasks = app.tasks_of(&id).await;
        assert_eq!(tasks[0]["taskDefinitionKey"], "call", "{tasks:?}");

        // Bad requests.
        let bad = app.post("/external-task/fetchAndLock", json!({ "maxTasks": 1, "topics": [] })).send().await.expect("sent");
        assert_eq!(bad.status(), 400, "workerId is required");
        let missing = app.post("/external-task/nope-1/complete", json!({ "workerId": "w1" })).send().await.expect("sent");
        assert_eq!(missing.status(), 404);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_long_poll_answers_as_soon_as_a_task_appears() {
    each_backend(|app| async move {
        deploy(&app, "notify", &external_model()).await;
        let app = std::sync::Arc::new(app);
        let poller = {
            let app = app.clone();
            tokio::spawn(async move { fetch(&app, "w1", 20_000).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.start("notify", json!({})).await;
        let locked = tokio::time::timeout(Duration::from_secs(15), poller)
            .await
            .expect("answered before its timeout")
            .expect("joined");
        assert_eq!(locked.len(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_async_job_is_retried_then_becomes_an_incident() {
    each_backend(|app| async move {
        let body = format!(
            r#"<bpmn:startEvent id="start"/>
            <bpmn:scriptTask id="calc" scriptFormat="rhai" camunda:asyncBefore="true">
              <bpmn:extensionElements><camunda:failedJobRetryTimeCycle>R2/PT1S</camunda:failedJobRetryTimeCycle></bpmn:extensionElements>
              <bpmn:script>if fail {{ throw "接口不可用" }}</bpmn:script>
            </bpmn:scriptTask>
            <bpmn:endEvent id="end"/>{}{}"#,
            flow("f1", "start", "calc"),
            flow("f2", "calc", "end")
        );
        deploy(&app, "retrying", &model("", "retrying", &body)).await;
        let ok = app.start("retrying", json!({ "variables": { "fail": { "value": false, "type": "Boolean" } } })).await;
        let ok_id = ok["id"].as_str().expect("id").to_string();
        assert!(eventually(Duration::from_secs(10), || instance_ended(&app, &ok_id)).await, "the continuation ran");

        let failing = app.start("retrying", json!({ "variables": { "fail": { "value": true, "type": "Boolean" } } })).await;
        let id = failing["id"].as_str().expect("id").to_string();
        let retried = eventually(Duration::from_secs(10), || async {
            let jobs = app.json(&format!("/job?processInstanceId={id}")).await;
            jobs[0]["retries"] == 1 && jobs[0]["exceptionMessage"].as_str().is_some_and(|m| m.contains("接口不可用"))
        })
        .await;
        assert!(retried, "the first failure leaves one retry and the message");
        let incident = eventually(Duration::from_secs(10), || async {
            app.json(&format!("/incident/count?processInstanceId={id}")).await["count"] == 1
        })
        .await;
        assert!(incident, "the last failure becomes an incident");
        // As in Camunda, the failed job stays visible with 0 retries and its exception.
        let jobs = app.json(&format!("/job?processInstanceId={id}&noRetriesLeft=true")).await;
        assert_eq!(jobs.as_array().map(Vec::len), Some(1), "{jobs}");
        let job = jobs[0]["id"].as_str().expect("id").to_string();
        assert!(jobs[0]["exceptionMessage"].as_str().is_some_and(|m| m.contains("接口不可用")));

        // Fix the cause, then raise the retries: the incident is resolved and the step runs.
        let put = |path: String, body: Value| {
            app.client.put(app.url(&path)).basic_auth("admin", Some(crate::support::ADMIN_PASSWORD)).json(&body).send()
        };
        let fixed = put(format!("/process-instance/{id}/variables/fail"), json!({ "value": false, "type": "Boolean" }));
        assert_eq!(fixed.await.expect("sent").status(), 204);
        assert_eq!(put(format!("/job/{job}/retries"), json!({ "retries": 1 })).await.expect("sent").status(), 204);
        // The step is async, so it runs again in a fresh job, moments later.
        let completed = eventually(Duration::from_secs(10), || instance_ended(&app, &id)).await;
        assert!(completed, "the failed step ran again and the instance completed");
        assert_eq!(app.json(&format!("/incident/count?processInstanceId={id}")).await["count"], 0);
        assert_eq!(app.json(&format!("/job/count?processInstanceId={id}")).await["count"], 0);

        // Resolving through /incident does the same.
        let again = app.start("retrying", json!({ "variables": { "fail": { "value": true, "type": "Boolean" } } })).await;
        let again_id = again["id"].as_str().expect("id").to_string();
        let mut incident_id = String::new();
        for _ in 0..200 {
            let incidents = app.json(&format!("/incident?processInstanceId={again_id}")).await;
            if let Some(found) = incidents[0]["id"].as_str() {
                incident_id = found.to_string();
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!incident_id.is_empty(), "a second incident");
        let fixed = put(format!("/process-instance/{again_id}/variables/fail"), json!({ "value": false, "type": "Boolean" }));
        assert_eq!(fixed.await.expect("sent").status(), 204);
        let resolved = app
            .client
            .delete(app.url(&format!("/incident/{incident_id}")))
            .basic_auth("admin", Some(crate::support::ADMIN_PASSWORD))
            .send()
            .await
            .expect("sent");
        assert_eq!(resolved.status(), 204);
        assert!(eventually(Duration::from_secs(10), || instance_ended(&app, &again_id)).await);
        assert_eq!(app.json(&format!("/job/count?processInstanceId={again_id}")).await["count"], 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_run_each_due_job_once() {
    each_backend(|app| async move {
        let other = spawn_node(&app.backend, &app.url).await;
        let body = format!(
            r#"<bpmn:startEvent id="start"/>
            <bpmn:scriptTask id="calc" scriptFormat="rhai" camunda:asyncBefore="true"><bpmn:script>done = true</bpmn:script></bpmn:scriptTask>
            <bpmn:endEvent id="end"/>{}{}"#,
            flow("f1", "start", "calc"),
            flow("f2", "calc", "end")
        );
        deploy(&app, "async", &model("", "async", &body)).await;
        let before = app.executor.jobs_run() + other.executor.jobs_run();
        const N: usize = 40;
        let mut ids = Vec::new();
        for index in 0..N {
            // Alternate the nodes, so each wakes its own executor and both compete.
            let node = if index % 2 == 0 { &app } else { &other };
            ids.push(node.start("async", json!({})).await["id"].as_str().expect("id").to_string());
        }
        let all_done = eventually(Duration::from_secs(30), || async {
            app.json("/job/count").await["count"] == 0
        })
        .await;
        assert!(all_done, "every job ran");
        for id in &ids {
            assert!(instance_ended(&app, id).await, "{id} completed");
        }
        let ran = app.executor.jobs_run() + other.executor.jobs_run() - before;
        assert_eq!(ran, N as u64, "each job ran exactly once across the two nodes");
    })
    .await;
}

/// The first open task at `key`, waiting up to 10 s for one to appear.
async fn first_task(app: &TestApp, key: &str) -> Option<Value> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        let tasks = app.json(&format!("/task?taskDefinitionKey={key}")).await;
        if !tasks[0].is_null() {
            return Some(tasks[0].clone());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn call_activities_start_wait_for_and_cancel_the_called_process() {
    each_backend(|app| async move {
        let child = format!(
            r#"<bpmn:startEvent id="s"/><bpmn:userTask id="assess" name="评估"/><bpmn:endEvent id="e"/>{}{}"#,
            flow("c1", "s", "assess"),
            flow("c2", "assess", "e")
        );
        deploy(&app, "assessment", &model("", "assessment", &child)).await;
        let parent = format!(
            r#"<bpmn:startEvent id="start"/>
            <bpmn:callActivity id="call" calledElement="assessment">
              <bpmn:extensionElements>
                <camunda:in source="applicant" target="who"/>
                <camunda:in businessKey="${{execution.processBusinessKey}}"/>
                <camunda:out source="score" target="score"/>
              </bpmn:extensionElements>
            </bpmn:callActivity>
            <bpmn:userTask id="decide" name="决定"/>
            <bpmn:endEvent id="end"/>{}{}{}"#,
            flow("f1", "start", "call"),
            flow("f2", "call", "decide"),
            flow("f3", "decide", "end")
        );
        deploy(&app, "application", &model("", "application", &parent)).await;
        let caller = app
            .start(
                "application",
                json!({ "businessKey": "A-7", "variables": { "applicant": { "value": "李四", "type": "String" } } }),
            )
            .await;
        let caller_id = caller["id"].as_str().expect("id").to_string();

        // The called instance starts in a job: find its task.
        let called_task = first_task(&app, "assess").await.expect("the called process started");
        let called_id = called_task["processInstanceId"].as_str().expect("id").to_string();
        assert_ne!(called_id, caller_id);
        let called = app.json(&format!("/process-instance/{called_id}")).await;
        assert_eq!(called["businessKey"], "A-7", "the business key is inherited: {called} / caller {caller}");
        let who = app.json(&format!("/process-instance/{called_id}/variables/who")).await;
        assert_eq!(who["value"], "李四");

        let done = app
            .post(
                &format!("/task/{}/complete", called_task["id"].as_str().expect("id")),
                json!({ "variables": { "score": { "value": 88, "type": "Integer" } } }),
            )
            .send()
            .await
            .expect("sent");
        assert_eq!(done.status(), 204);
        let resumed = eventually(Duration::from_secs(10), || async {
            app.tasks_of(&caller_id).await.iter().any(|task| task["taskDefinitionKey"] == "decide")
        })
        .await;
        assert!(resumed, "the caller continued after the called process ended");
        let score = app.json(&format!("/process-instance/{caller_id}/variables/score")).await;
        assert_eq!(score["value"], 88, "camunda:out brought the result back");

        // Deleting a caller cancels the instance it called.
        let second = app.start("application", json!({})).await;
        let second_id = second["id"].as_str().expect("id").to_string();
        let called = first_task(&app, "assess").await.expect("the second called process started");
        let called_id = called["processInstanceId"].as_str().expect("id").to_string();
        let deleted = app
            .client
            .delete(app.url(&format!("/process-instance/{second_id}")))
            .basic_auth("admin", Some(crate::support::ADMIN_PASSWORD))
            .send()
            .await
            .expect("sent");
        assert_eq!(deleted.status(), 204);
        let canceled = eventually(Duration::from_secs(10), || async {
            let history = app.json(&format!("/history/process-instance/{called_id}")).await;
            history["state"] == "EXTERNALLY_TERMINATED" || history["state"] == "INTERNALLY_TERMINATED"
        })
        .await;
        assert!(canceled, "the called instance was canceled with its caller");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calling_a_process_that_is_not_deployed_is_an_incident() {
    each_backend(|app| async move {
        let parent = format!(
            r#"<bpmn:startEvent id="start"/>
            <bpmn:callActivity id="call" calledElement="missing">
              <bpmn:extensionElements><camunda:failedJobRetryTimeCycle>R1/PT1S</camunda:failedJobRetryTimeCycle></bpmn:extensionElements>
            </bpmn:callActivity>
            <bpmn:endEvent id="end"/>{}{}"#,
            flow("f1", "start", "call"),
            flow("f2", "call", "end")
        );
        deploy(&app, "dangling", &model("", "dangling", &parent)).await;
        let caller = app.start("dangling", json!({})).await;
        let id = caller["id"].as_str().expect("id").to_string();
        let incident = eventually(Duration::from_secs(10), || async {
            let incidents = app.json(&format!("/incident?processInstanceId={id}")).await;
            incidents[0]["activityId"] == "call"
                && incidents[0]["incidentMessage"].as_str().is_some_and(|m| m.contains("missing"))
        })
        .await;
        assert!(incident, "the call activity has an incident naming the process");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_event_sub_process_withdraws_an_application() {
    each_backend(|app| async move {
        let body = format!(
            r#"<bpmn:startEvent id="start"/><bpmn:userTask id="review" name="审核"/><bpmn:endEvent id="end"/>
            <bpmn:subProcess id="withdraw" triggeredByEvent="true">
              <bpmn:startEvent id="w_start"><bpmn:messageEventDefinition messageRef="m"/></bpmn:startEvent>
              <bpmn:userTask id="archive" name="归档"/>
              {}
            </bpmn:subProcess>{}{}"#,
            flow("w1", "w_start", "archive"),
            flow("f1", "start", "review"),
            flow("f2", "review", "end")
        );
        deploy(&app, "withdrawable", &model(r#"<bpmn:message id="m" name="申请撤回"/>"#, "withdrawable", &body)).await;
        let instance = app.start("withdrawable", json!({ "businessKey": "W-1" })).await;
        let id = instance["id"].as_str().expect("id").to_string();
        let response = app
            .post("/message", json!({ "messageName": "申请撤回", "businessKey": "W-1" }))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 204);
        let tasks = app.tasks_of(&id).await;
        assert_eq!(tasks.len(), 1, "{tasks:?}");
        assert_eq!(tasks[0]["taskDefinitionKey"], "archive", "the review was interrupted");
        let again = app
            .post("/message", json!({ "messageName": "申请撤回", "businessKey": "W-1" }))
            .send()
            .await
            .expect("sent");
        assert_eq!(again.status(), 400, "the subscription ended with the interruption");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_async_after_task_leaves_the_inbox_when_completed() {
    each_backend(|app| async move {
        let body = format!(
            r#"<bpmn:startEvent id="start"/><bpmn:userTask id="sign" name="签批" camunda:asyncAfter="true"/>
            <bpmn:userTask id="file" name="归档"/>{}{}"#,
            flow("f1", "start", "sign"),
            flow("f2", "sign", "file")
        );
        deploy(&app, "async-after", &model("", "async-after", &body)).await;
        let instance = app.start("async-after", json!({})).await;
        let id = instance["id"].as_str().expect("id").to_string();
        let task = app.tasks_of(&id).await[0]["id"].as_str().expect("task").to_string();
        let done = app.post(&format!("/task/{task}/complete"), json!({})).send().await.expect("sent");
        assert_eq!(done.status(), 204);
        // Gone from the inbox in the completing transaction, before the continuation runs.
        let inbox = app.tasks_of(&id).await;
        assert!(inbox.iter().all(|t| t["taskDefinitionKey"] != "sign"), "{inbox:?}");
        let again = app.post(&format!("/task/{task}/complete"), json!({})).send().await.expect("sent");
        assert_eq!(again.status(), 409, "completed once only");
        let next = eventually(Duration::from_secs(10), || async {
            app.tasks_of(&id).await.iter().any(|t| t["taskDefinitionKey"] == "file")
        })
        .await;
        assert!(next, "the continuation ran");
        let history = app.json(&format!("/history/task?taskId={task}")).await;
        assert_eq!(history[0]["deleteReason"], "completed");
        assert_eq!(history[0]["assignee"], Value::Null);
        let tasks = app.tasks_of(&id).await;
        assert_eq!(tasks.len(), 1, "the signed task is not in the inbox any more: {tasks:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fetch_and_lock_honours_use_priority() {
    each_backend(|app| async move {
        let body = format!(
            r#"<bpmn:startEvent id="start"/><bpmn:serviceTask id="mail" camunda:type="external" camunda:topic="ranked" camunda:taskPriority="${{rank}}"/><bpmn:endEvent id="end"/>{}{}"#,
            flow("f1", "start", "mail"),
            flow("f2", "mail", "end")
        );
        deploy(&app, "ranked", &model("", "ranked", &body)).await;
        for rank in [1, 9, 5] {
            app.start("ranked", json!({ "variables": { "rank": { "value": rank, "type": "Integer" } } })).await;
        }
        let fetch = |use_priority: bool, worker: &'static str| {
            app.post(
                "/external-task/fetchAndLock",
                json!({ "workerId": worker, "maxTasks": 1, "usePriority": use_priority,
                        "topics": [{ "topicName": "ranked", "lockDuration": 60000 }] }),
            )
            .send()
        };
        let first: Value = fetch(true, "a").await.expect("sent").json().await.expect("JSON");
        assert_eq!(first[0]["priority"], 9, "usePriority: the highest first");
        let next: Value = fetch(false, "b").await.expect("sent").json().await.expect("JSON");
        assert_eq!(next[0]["priority"], 1, "otherwise the oldest first");
    })
    .await;
}

/// The *remind* timeout pattern: a non-interrupting timer on a user task leads to an external
/// task of the built-in reminder topic; the node's reminder worker sends 催办 to the assignee
/// through the message outbox and the task stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_timed_reminder_urges_the_assignee_and_keeps_the_task() {
    each_backend(|app| async move {
        let body = format!(
            r#"<bpmn:startEvent id="start"/>
            <bpmn:userTask id="review" name="资格审核" camunda:assignee="admin"/>
            <bpmn:boundaryEvent id="overdue" attachedToRef="review" cancelActivity="false"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1S</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
            <bpmn:serviceTask id="remind" camunda:type="external" camunda:topic="sy-remind"/>
            <bpmn:endEvent id="reminded"/>
            <bpmn:endEvent id="end"/>{}{}{}"#,
            flow("f1", "start", "review"),
            flow("f2", "review", "end"),
            flow("f3", "overdue", "remind") + flow("f4", "remind", "reminded").as_str()
        );
        deploy(&app, "reminded", &model("", "reminded", &body)).await;
        let instance = app.start("reminded", json!({})).await;
        let id = instance["id"].as_str().expect("id").to_string();
        let sent = eventually(Duration::from_secs(15), || async {
            let outbox = app.executor.store().sms_outbox("account:admin").await.expect("reads");
            outbox.iter().any(|message| message.contains("资格审核"))
        })
        .await;
        assert!(sent, "the assignee was reminded");
        let done = eventually(Duration::from_secs(10), || async {
            app.json(&format!("/external-task/count?processInstanceId={id}")).await["count"] == 0
        })
        .await;
        assert!(done, "the reminder's external task was completed");
        let tasks = app.tasks_of(&id).await;
        assert_eq!(tasks.len(), 1, "the task stays open");
        assert_eq!(tasks[0]["taskDefinitionKey"], "review");
    })
    .await;
}
