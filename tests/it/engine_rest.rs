//! `/engine-rest` end to end: the calls a Camunda 7 client makes, their shapes, statuses and
//! error bodies, on every backend.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::support::{ADMIN_PASSWORD, APPROVAL, each_backend};

fn variable(value: Value, kind: &str) -> Value {
    json!({ "value": value, "type": kind })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deploy_start_work_and_finish_an_approval() {
    each_backend(|app| async move {
        let (status, deployment) = app.deploy("approval", APPROVAL).await;
        assert_eq!(status, 200, "{deployment}");
        let definitions = deployment["deployedProcessDefinitions"].as_object().expect("definitions map");
        assert_eq!(definitions.len(), 1);
        let definition = definitions.values().next().expect("one definition");
        assert_eq!(definition["key"], "approval");
        assert_eq!(definition["version"], 1);
        assert_eq!(definition["name"], "两级审批");

        let instance = app
            .start("approval", json!({ "businessKey": "PREF03-0001", "variables": { "applicant": variable(json!("li"), "String"), "amount": variable(json!(1200), "Integer") } }))
            .await;
        let instance_id = instance["id"].as_str().expect("instance id").to_string();
        assert_eq!(instance["businessKey"], "PREF03-0001");
        assert_eq!(instance["ended"], false);

        // wang is a district reviewer: the task is claimable by him, not by admin.
        let for_wang = app.json("/task?candidateUser=wang").await;
        assert_eq!(for_wang.as_array().map(Vec::len), Some(1), "{for_wang}");
        assert_eq!(for_wang[0]["taskDefinitionKey"], "districtReview");
        assert_eq!(for_wang[0]["formKey"], "forms/review");
        assert_eq!(app.json("/task?candidateUser=admin").await, json!([]));
        assert_eq!(app.json("/task/count?candidateGroup=district-reviewers").await, json!({ "count": 1 }));
        let task_id = for_wang[0]["id"].as_str().expect("task id").to_string();

        let claim = app.post(&format!("/task/{task_id}/claim"), json!({ "userId": "wang" })).send().await.expect("claim");
        assert_eq!(claim.status(), 204);
        let stolen = app.post(&format!("/task/{task_id}/claim"), json!({ "userId": "zhao" })).send().await.expect("claim");
        assert_eq!(stolen.status(), 409, "a claimed task cannot be claimed by someone else");
        assert_eq!(app.json("/task?assignee=wang").await[0]["id"], task_id);

        // District rejects: the applicant named in `${applicant}` gets the revise task.
        let rejected = app.post(&format!("/task/{task_id}/complete"), json!({ "variables": { "approved": variable(json!(false), "Boolean") } })).send().await.expect("complete");
        assert_eq!(rejected.status(), 204);
        let revise = app.tasks_of(&instance_id).await;
        assert_eq!(revise.len(), 1);
        assert_eq!(revise[0]["taskDefinitionKey"], "revise");
        assert_eq!(revise[0]["assignee"], "li");
        let revise_id = revise[0]["id"].as_str().expect("id").to_string();
        assert_eq!(app.post(&format!("/task/{revise_id}/complete"), json!({})).send().await.expect("complete").status(), 204);

        // District approves, city approves with variables in return.
        let district = app.tasks_of(&instance_id).await;
        assert_eq!(district[0]["taskDefinitionKey"], "districtReview");
        let district_id = district[0]["id"].as_str().expect("id");
        assert_eq!(app.post(&format!("/task/{district_id}/complete"), json!({ "variables": { "approved": variable(json!(true), "Boolean") } })).send().await.expect("complete").status(), 204);
        let city = app.tasks_of(&instance_id).await;
        assert_eq!(city[0]["taskDefinitionKey"], "cityReview");
        let city_id = city[0]["id"].as_str().expect("id");
        let form = app.json(&format!("/task/{city_id}/form-variables")).await;
        assert_eq!(form["amount"], json!({ "value": 1200, "type": "Integer", "valueInfo": {} }));
        let finished = app
            .post(&format!("/task/{city_id}/complete"), json!({ "variables": { "comment": variable(json!("同意"), "String") }, "withVariablesInReturn": true }))
            .send()
            .await
            .expect("complete");
        assert_eq!(finished.status(), 200);
        let returned: Value = finished.json().await.expect("variables");
        assert_eq!(returned["comment"]["value"], "同意");
        assert_eq!(returned["approved"]["value"], true);

        // The instance is over: no runtime instance, a COMPLETED history entry, ordered history.
        let gone = app.get(&format!("/process-instance/{instance_id}")).send().await.expect("get");
        assert_eq!(gone.status(), 404);
        let history = app.json(&format!("/history/process-instance/{instance_id}")).await;
        assert_eq!(history["state"], "COMPLETED");
        assert_eq!(history["startUserId"], "admin");
        assert_eq!(history["processDefinitionVersion"], 1);
        let activities = app.json(&format!("/history/activity-instance?processInstanceId={instance_id}&sortBy=occurrence&sortOrder=asc")).await;
        let visited: Vec<&str> = activities.as_array().expect("list").iter().filter_map(|a| a["activityId"].as_str()).collect();
        assert_eq!(visited, ["start", "districtReview", "decision", "revise", "districtReview", "decision", "cityReview", "end"]);
        assert!(activities.as_array().expect("list").iter().all(|a| !a["endTime"].is_null()));
        let tasks = app.json(&format!("/history/task?processInstanceId={instance_id}&finished=true")).await;
        assert_eq!(tasks.as_array().map(Vec::len), Some(4));
        assert_eq!(tasks[0]["assignee"], "wang");
        assert_eq!(tasks[0]["deleteReason"], "completed");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_completions_one_wins_the_other_gets_409() {
    each_backend(|app| async move {
        app.deploy("approval", APPROVAL).await;
        let app = Arc::new(app);
        for round in 0..5 {
            let instance =
                app.start("approval", json!({ "variables": { "applicant": variable(json!("li"), "String") } })).await;
            let instance_id = instance["id"].as_str().expect("id").to_string();
            let task_id = app.tasks_of(&instance_id).await[0]["id"].as_str().expect("id").to_string();
            let barrier = Arc::new(tokio::sync::Barrier::new(2));
            let attempts: Vec<_> = (0..2)
                .map(|_| {
                    let (app, barrier, task_id) = (app.clone(), barrier.clone(), task_id.clone());
                    tokio::spawn(async move {
                        let request = app.post(
                            &format!("/task/{task_id}/complete"),
                            json!({ "variables": { "approved": variable(json!(true), "Boolean") } }),
                        );
                        barrier.wait().await;
                        let response = request.send().await.expect("sent");
                        let status = response.status().as_u16();
                        (status, response.text().await.unwrap_or_default())
                    })
                })
                .collect();
            let mut statuses = Vec::new();
            for attempt in attempts {
                statuses.push(attempt.await.expect("joined"));
            }
            statuses.sort();
            assert_eq!(statuses[0].0, 204, "round {round} on {}: {statuses:?}", app.backend);
            assert_eq!(statuses[1].0, 409, "round {round} on {}: {statuses:?}", app.backend);
            assert!(statuses[1].1.contains("\"type\""), "Camunda error body: {}", statuses[1].1);
            // The instance moved exactly once: one city review, never two.
            let open = app.tasks_of(&instance_id).await;
            assert_eq!(open.len(), 1);
            assert_eq!(open[0]["taskDefinitionKey"], "cityReview");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identical_redeploys_keep_the_version_and_changes_make_a_new_one() {
    each_backend(|app| async move {
        let (_, first) = app.deploy("approval", APPROVAL).await;
        let (_, again) = app.deploy("approval", APPROVAL).await;
        assert_eq!(first["id"], again["id"], "identical content returns the earlier deployment");
        let running =
            app.start("approval", json!({ "variables": { "applicant": variable(json!("li"), "String") } })).await;
        let changed = APPROVAL.replace("两级审批", "两级审批（第二版）");
        let (status, second) = app.deploy("approval", &changed).await;
        assert_eq!(status, 200);
        assert_ne!(first["id"], second["id"]);
        let latest = app.json("/process-definition/key/approval").await;
        assert_eq!(latest["version"], 2);
        assert_eq!(latest["name"], "两级审批（第二版）");
        assert_eq!(app.json("/process-definition/count?key=approval").await, json!({ "count": 2 }));
        assert_eq!(app.json("/process-definition?latestVersion=true").await.as_array().map(Vec::len), Some(1));
        // The running instance keeps version 1.
        let instance = app.json(&format!("/process-instance/{}", running["id"].as_str().expect("id"))).await;
        assert!(instance["definitionId"].as_str().expect("id").starts_with("approval:1:"));
        let xml = app.json("/process-definition/key/approval/xml").await;
        assert!(xml["bpmn20Xml"].as_str().expect("xml").contains("第二版"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_gets_clear_camunda_errors() {
    each_backend(|app| async move {
        // A model with an unsupported element names the element and is not stored.
        let unsupported = APPROVAL.replace(r#"<bpmn:endEvent id="end" />"#, r#"<bpmn:endEvent id="end" /><bpmn:boundaryEvent id="timeout" attachedToRef="cityReview"><bpmn:timerEventDefinition /></bpmn:boundaryEvent>"#);
        let (status, body) = app.deploy("broken", &unsupported).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["type"], "InvalidRequestException");
        assert!(body["message"].as_str().expect("message").contains("boundaryEvent 'timeout'"), "{body}");
        let (status, body) = app.deploy("malformed", "<bpmn:definitions").await;
        assert_eq!(status, 400);
        assert!(body["message"].as_str().expect("message").contains("XML"), "{body}");
        assert_eq!(app.json("/deployment/count").await, json!({ "count": 0 }));

        app.deploy("approval", APPROVAL).await;
        let wrong_type = app.post("/process-definition/key/approval/start", json!({ "variables": { "amount": variable(json!("many"), "Integer") } })).send().await.expect("sent");
        assert_eq!(wrong_type.status(), 400);
        let unknown_type = app.post("/process-definition/key/approval/start", json!({ "variables": { "x": variable(json!(1), "Banana") } })).send().await.expect("sent");
        assert_eq!(unknown_type.status(), 400);
        let not_json = app.client.post(app.url("/process-definition/key/approval/start")).basic_auth("admin", Some(ADMIN_PASSWORD)).header("content-type", "application/json").body("{not json").send().await.expect("sent");
        assert_eq!(not_json.status(), 400);
        // Without `Content-Type: application/json` a body is not read at all, as Camunda's
        // JAX-RS layer answers (issue 10, finding 9).
        let untyped = app.client.post(app.url("/process-definition/key/approval/start")).basic_auth("admin", Some(ADMIN_PASSWORD)).body("{}").send().await.expect("sent");
        assert_eq!(untyped.status(), 415);
        let missing = app.post("/process-definition/key/nope/start", json!({})).send().await.expect("sent");
        assert_eq!(missing.status(), 404);
        let body: Value = missing.json().await.expect("json");
        assert_eq!(body["type"], "InvalidRequestException");
        assert_eq!(app.post("/task/no-such-task/complete", json!({})).send().await.expect("sent").status(), 404);
        assert_eq!(app.get("/task?sortBy=banana&sortOrder=asc").send().await.expect("sent").status(), 400);
        assert_eq!(app.get("/task?sortBy=created").send().await.expect("sent").status(), 400);
        assert_eq!(app.get("/task?maxResults=lots").send().await.expect("sent").status(), 400);
        // A Camunda filter we do not implement is refused, never silently dropped.
        let unsupported = app.get("/task?assigneeIn=li,wang").send().await.expect("sent");
        assert_eq!(unsupported.status(), 400);
        let body: Value = unsupported.json().await.expect("json");
        assert!(body["message"].as_str().expect("message").contains("assigneeIn"), "{body}");
        assert_eq!(app.get("/process-definition?createdAfter=2020-01-01T00:00:00.000%2B0800").send().await.expect("sent").status(), 400);
        // Parameters that cannot change the result here are accepted.
        assert_eq!(app.get("/task?withoutTenantId=true&deserializeValues=false").send().await.expect("sent").status(), 200);
        // No instance was started by any of the bad requests.
        assert_eq!(app.json("/process-instance/count").await, json!({ "count": 0 }));

        let anonymous = app.client.get(app.url("/task")).send().await.expect("sent");
        assert_eq!(anonymous.status(), 401);
        assert!(anonymous.headers().contains_key("www-authenticate"));
        let wrong = app.client.get(app.url("/task")).basic_auth("admin", Some("guess")).send().await.expect("sent");
        assert_eq!(wrong.status(), 401);
    })
    .await;
}

pub(crate) const FAILING_SCRIPT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="fragile" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:scriptTask id="compute" scriptFormat="rhai"><bpmn:script>total = price * quantity;</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="check" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="compute" />
    <bpmn:sequenceFlow id="f2" sourceRef="compute" targetRef="check" />
  </bpmn:process>
</bpmn:definitions>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_script_becomes_an_incident_that_can_be_retried() {
    each_backend(|app| async move {
        app.deploy("fragile", FAILING_SCRIPT).await;
        let instance = app.start("fragile", json!({ "variables": { "price": variable(json!(3), "Integer") } })).await;
        let instance_id = instance["id"].as_str().expect("id").to_string();
        assert_eq!(instance["ended"], false, "the instance waits at the incident");
        let incidents = app.json(&format!("/incident?processInstanceId={instance_id}")).await;
        assert_eq!(incidents.as_array().map(Vec::len), Some(1), "{incidents}");
        assert_eq!(incidents[0]["activityId"], "compute");
        assert!(incidents[0]["incidentMessage"].as_str().expect("message").contains("quantity"), "{incidents}");
        assert!(app.tasks_of(&instance_id).await.is_empty());

        // Fix the data, retry: the script runs and the instance reaches the user task.
        let put = app
            .client
            .put(app.url(&format!("/process-instance/{instance_id}/variables/quantity")))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .json(&variable(json!(4), "Integer"))
            .send()
            .await
            .expect("sent");
        assert_eq!(put.status(), 204);
        let incident_id = incidents[0]["id"].as_str().expect("id");
        let retry = app
            .client
            .post(format!("{}/api/incidents/{incident_id}/retry", app.base))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .send()
            .await
            .expect("sent");
        assert_eq!(retry.status(), 204);
        assert_eq!(app.json("/incident/count").await, json!({ "count": 0 }));
        assert_eq!(app.json(&format!("/process-instance/{instance_id}/variables/total")).await["value"], 12);
        assert_eq!(app.tasks_of(&instance_id).await[0]["taskDefinitionKey"], "check");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_can_be_listed_modified_and_deleted() {
    each_backend(|app| async move {
        app.deploy("approval", APPROVAL).await;
        for number in 0..3 {
            app.start("approval", json!({ "businessKey": format!("BK-{number}"), "variables": { "applicant": variable(json!("li"), "String") } })).await;
        }
        assert_eq!(app.json("/process-instance/count?processDefinitionKey=approval").await, json!({ "count": 3 }));
        let page = app.json("/process-instance?firstResult=1&maxResults=1").await;
        assert_eq!(page.as_array().map(Vec::len), Some(1));
        let one = app.json("/process-instance?businessKey=BK-2").await;
        let id = one[0]["id"].as_str().expect("id").to_string();

        let modify = app.post(&format!("/process-instance/{id}/variables"), json!({ "modifications": { "note": variable(json!("{\"a\":1}"), "Json"), "due": variable(json!("2026-12-01T09:00:00.000+0800"), "Date") }, "deletions": ["applicant"] })).send().await.expect("sent");
        assert_eq!(modify.status(), 204);
        let variables = app.json(&format!("/process-instance/{id}/variables")).await;
        assert_eq!(variables["note"]["type"], "Json");
        assert_eq!(variables["due"]["type"], "Date");
        assert!(variables.get("applicant").is_none());

        let delete = app.client.delete(app.url(&format!("/process-instance/{id}"))).basic_auth("admin", Some(ADMIN_PASSWORD)).send().await.expect("sent");
        assert_eq!(delete.status(), 204);
        assert_eq!(app.json("/process-instance/count").await, json!({ "count": 2 }));
        assert_eq!(app.json(&format!("/history/process-instance/{id}")).await["state"], "EXTERNALLY_TERMINATED");
        assert!(app.tasks_of(&id).await.is_empty(), "the deleted instance's task is gone");
        let canceled = app.json(&format!("/history/task?processInstanceId={id}")).await;
        assert_eq!(canceled[0]["deleteReason"], "deleted");

        // A deployment with running instances needs cascade.
        let deployment = app.json("/deployment").await[0]["id"].as_str().expect("id").to_string();
        let refused = app.client.delete(app.url(&format!("/deployment/{deployment}"))).basic_auth("admin", Some(ADMIN_PASSWORD)).send().await.expect("sent");
        assert_eq!(refused.status(), 422);
        let cascade = app.client.delete(app.url(&format!("/deployment/{deployment}?cascade=true"))).basic_auth("admin", Some(ADMIN_PASSWORD)).send().await.expect("sent");
        assert_eq!(cascade.status(), 204);
        assert_eq!(app.json("/process-definition/count").await, json!({ "count": 0 }));
        assert_eq!(app.json("/task/count").await, json!({ "count": 0 }));
    })
    .await;
}

#[tokio::test]
async fn health_reports_the_database() {
    each_backend(|app| async move {
        let health: Value =
            app.client.get(format!("{}/healthz", app.base)).send().await.expect("sent").json().await.expect("json");
        assert_eq!(health["status"], "UP");
        assert_eq!(health["database"], app.backend.as_str());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_one_database_behave_like_one() {
    each_backend(|first| async move {
        let second = crate::support::spawn_node(&first.backend, &first.url).await;
        // Deployed through one node, visible and startable through the other.
        first.deploy("approval", APPROVAL).await;
        let instance =
            second.start("approval", json!({ "variables": { "applicant": variable(json!("li"), "String") } })).await;
        let instance_id = instance["id"].as_str().expect("id").to_string();
        let task_id = first.tasks_of(&instance_id).await[0]["id"].as_str().expect("id").to_string();
        // Both nodes complete the same task at once: exactly one wins.
        let body = json!({ "variables": { "approved": variable(json!(true), "Boolean") } });
        let (a, b) = tokio::join!(
            first.post(&format!("/task/{task_id}/complete"), body.clone()).send(),
            second.post(&format!("/task/{task_id}/complete"), body.clone()).send()
        );
        let mut statuses = [a.expect("sent").status().as_u16(), b.expect("sent").status().as_u16()];
        statuses.sort();
        assert_eq!(statuses, [204, 409], "on {}", first.backend);
        // Both see the same single next task.
        for node in [&first, &second] {
            let open = node.tasks_of(&instance_id).await;
            assert_eq!(open.len(), 1);
            assert_eq!(open[0]["taskDefinitionKey"], "cityReview");
        }
        // A deployment deleted through one node is gone for the other.
        let deployment = second.json("/deployment").await[0]["id"].as_str().expect("id").to_string();
        let deleted = first
            .client
            .delete(first.url(&format!("/deployment/{deployment}?cascade=true")))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .send()
            .await
            .expect("sent");
        assert_eq!(deleted.status(), 204);
        assert_eq!(
            second.post("/process-definition/key/approval/start", json!({})).send().await.expect("sent").status(),
            404
        );
    })
    .await;
}
