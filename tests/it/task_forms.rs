//! Task forms and the workflow binding (issue 13) over real HTTP, on both databases, with the
//! shipped SVC-01 律师 form and its 律师入库审核 model: a record submitted to its process
//! (提交入库审核), each review task showing its view of the form, the server refusing a field
//! the task does not let the reviewer edit (also through Camunda's complete), bad values at
//! their field, the record updated in the completing command's transaction (its history naming
//! the task), a stale record refusing the whole approval, and the deploy check of form keys.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::forms::{create, get, lawyer, staff};
use crate::identity::Session;
use crate::support::{TestApp, each_backend};

const MODEL: &str = include_str!("../../definitions/processes/svc01-lawyer-admission.bpmn");

async fn post(app: &TestApp, session: &Session, path: &str, body: Value) -> (StatusCode, Value) {
    let response = session.post(app, path, body).send().await.expect("sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The open task of an instance (there is one at a time in this model).
async fn open_task(app: &TestApp, instance: &str) -> Value {
    let tasks = app.tasks_of(instance).await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    tasks[0].clone()
}

/// A 黄浦区 lawyer submitted to the admission process by 黄浦区's staff: (record id, instance id).
async fn submitted(app: &TestApp, hp: &Session) -> (String, String) {
    let (status, deployed) = app.deploy("svc01", MODEL).await;
    assert_eq!(status, 200, "{deployed}");
    let (status, created) = create(app, hp, lawyer()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    let (status, started) =
        post(app, hp, &format!("/api/forms/lawyer/records/{id}/submit"), json!({ "version": 1 })).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    assert_eq!(started["businessKey"], id.as_str());
    (id, started["instanceId"].as_str().expect("instance").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_record_submitted_to_its_process_is_updated_by_each_task_form() {
    each_backend(|app| async move {
        let (hp, xh, city) = staff(&app).await;
        let (id, instance) = submitted(&app, &hp).await;
        let record_path = format!("/api/forms/lawyer/records/{id}");

        // The submission is in the record's history, and a second one is refused while the
        // first runs; one of an old version is stale.
        let (_, record) = get(&app, &hp, &record_path).await;
        assert_eq!(record["version"], 2, "the submission moved the version");
        let (status, again) = post(&app, &hp, &format!("{record_path}/submit"), json!({ "version": 2 })).await;
        assert_eq!((status, again["code"].as_str()), (StatusCode::CONFLICT, Some("already-submitted")), "{again}");
        let (status, stale) = post(&app, &hp, &format!("{record_path}/submit"), json!({ "version": 1 })).await;
        assert_eq!((status, stale["code"].as_str()), (StatusCode::CONFLICT, Some("stale-version")), "{stale}");
        let (_, history) = get(&app, &hp, &format!("{record_path}/history")).await;
        assert!(history.to_string().contains("\"submit\""), "{history}");
        let (_, instances) = get(&app, &hp, &format!("{record_path}/instances")).await;
        assert_eq!(instances[0]["status"], "ACTIVE", "{instances}");
        assert_eq!(instances[0]["statusText"], "审批中");
        // The process variables carry the record's values, never its sensitive ones.
        let variables = app.json(&format!("/process-instance/{instance}/variables")).await;
        assert_eq!(variables["name"]["value"], "王建国");
        assert_eq!(variables["recordId"]["value"], id.as_str());
        assert_eq!(variables["district"]["value"], "310101");
        assert!(variables.get("id_number").is_none() && variables.get("phone").is_none(), "{variables}");

        // 区级审核: 黄浦区's staff sees the district view — the read-only facts, the editable
        // subsidy, nothing of what the view leaves out; 徐汇区's staff sees no task at all.
        let task = open_task(&app, &instance).await;
        let task_id = task["id"].as_str().expect("task id").to_string();
        let (status, _) = get(&app, &xh, &format!("/api/tasks/{task_id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "another district's task is not there");
        let (status, _) = post(&app, &hp, &format!("/api/tasks/{task_id}/claim"), json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, detail) = get(&app, &hp, &format!("/api/tasks/{task_id}")).await;
        assert_eq!(status, StatusCode::OK, "{detail}");
        let form = &detail["task"]["taskForm"];
        assert_eq!(form["form"], "lawyer");
        assert_eq!(form["view"], "district-review");
        assert_eq!(form["recordId"], id.as_str());
        let field =
            |key: &str| form["fields"].as_array().expect("fields").iter().find(|field| field["key"] == key).cloned();
        assert_eq!(field("name").expect("name")["access"], "readonly");
        assert_eq!(field("name").expect("name")["value"], "王建国");
        assert_eq!(field("fee").expect("fee")["access"], "editable");
        assert_eq!(field("phone").expect("phone")["value"], "138****4567", "sensitive values stay masked");
        assert!(field("id_number").is_none() && field("status").is_none(), "hidden fields are not shown");

        // A field the task does not let the reviewer edit: 403 naming it, nothing changed.
        let approve = format!("/api/tasks/{task_id}/approve");
        let (status, refused) = post(&app, &hp, &approve, json!({ "variables": { "name": "李四" } })).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
        assert_eq!(refused["code"], "field-not-editable");
        assert!(refused["message"].as_str().unwrap_or_default().contains("姓名"), "{refused}");
        let (status, refused) = post(&app, &hp, &approve, json!({ "variables": { "status": "left" } })).await;
        assert_eq!((status, refused["code"].as_str()), (StatusCode::FORBIDDEN, Some("field-not-editable")));
        // Also through Camunda's complete.
        let response = app
            .post(&format!("/task/{task_id}/complete"), json!({ "variables": { "firm": { "value": "别的律所" } } }))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        // A bad value: 422 at its field.
        let (status, invalid) = post(&app, &hp, &approve, json!({ "variables": { "fee": "八百" } })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{invalid}");
        assert_eq!(invalid["errors"][0]["field"], "fee");
        let (_, unchanged) = get(&app, &hp, &record_path).await;
        assert_eq!(unchanged["version"], 2, "nothing was written by a refused approval");
        assert_eq!(open_task(&app, &instance).await["id"], task_id.as_str(), "the task is still open");

        // The same value it was shown is no write; the editable ones are checked and stored.
        let body = json!({ "variables": { "name": "王建国", "fee": "¥800", "remark": "同意入库" }, "comment": "同意" });
        let (status, done) = post(&app, &hp, &approve, body).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{done}");
        let (_, record) = get(&app, &hp, &record_path).await;
        assert_eq!(record["version"], 3);
        assert_eq!(record["values"]["fee"], "800.00");
        assert_eq!(record["values"]["remark"], "同意入库");
        assert_eq!(record["values"]["name"], "王建国");
        let variables = app.json(&format!("/process-instance/{instance}/variables")).await;
        assert_eq!(variables["fee"]["value"], "800.00", "the normalised value is the variable");
        let (_, history) = get(&app, &hp, &format!("{record_path}/history")).await;
        let by_task = history
            .as_array()
            .expect("history")
            .iter()
            .find(|entry| entry["taskId"] == task_id.as_str())
            .cloned()
            .unwrap_or(Value::Null);
        assert_eq!(by_task["action"], "update", "{history}");
        assert!(by_task.to_string().contains("800.00"), "{by_task}");

        // 市级审核 sets the status and the admission date, and the process ends.
        let task = open_task(&app, &instance).await;
        let city_task = task["id"].as_str().expect("task id").to_string();
        let (status, _) = post(&app, &city, &format!("/api/tasks/{city_task}/claim"), json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, refused) =
            post(&app, &city, &format!("/api/tasks/{city_task}/approve"), json!({ "variables": { "fee": "1" } })).await;
        assert_eq!((status, refused["code"].as_str()), (StatusCode::FORBIDDEN, Some("field-not-editable")));
        let body = json!({ "variables": { "status": "paused", "joined_on": "2026/12/1" } });
        let (status, done) = post(&app, &city, &format!("/api/tasks/{city_task}/approve"), body).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{done}");
        let (_, record) = get(&app, &hp, &record_path).await;
        assert_eq!(record["values"]["status"], "paused");
        assert_eq!(record["values"]["joined_on"], "2026-12-01");
        assert_eq!(record["values"]["fee"], "800.00", "what the city could not edit is as the district left it");
        let (_, instances) = get(&app, &hp, &format!("{record_path}/instances")).await;
        assert_eq!(instances[0]["status"], "COMPLETED", "{instances}");
        assert_eq!(instances[0]["statusText"], "已完成");
        // A new submission is possible once the last one ended.
        let (status, _) = post(&app, &hp, &format!("{record_path}/submit"), json!({ "version": 4 })).await;
        assert_eq!(status, StatusCode::CREATED);
    })
    .await;
}

/// The record write travels in the approval's own transaction: a record changed after the
/// task form was checked refuses the whole approval (409), and the task stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_record_changed_meanwhile_refuses_the_whole_approval() {
    each_backend(|app| async move {
        let (hp, _, _) = staff(&app).await;
        let (id, instance) = submitted(&app, &hp).await;
        let task_id = open_task(&app, &instance).await["id"].as_str().expect("task").to_string();
        let (status, _) = post(&app, &hp, &format!("/api/tasks/{task_id}/claim"), json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);

        // The write the task form prepares at version 2 …
        let catalog = forms::Catalog::embedded().expect("catalog");
        let form = catalog.form("lawyer").expect("form");
        let actor = forms::records::Actor { user: "hp1".into(), unit: None, scope: store::DataScope::All };
        let store = app.executor.store().clone();
        let record =
            forms::records::get(store.as_ref(), crate::support::test_keys(), form, &actor, &id).await.expect("record");
        let task_form = catalog.task_form(Some("form:lawyer/district-review")).expect("task form");
        let given = json!({ "fee": "600" }).as_object().cloned().expect("object");
        let submitted = forms::task::submit(
            crate::support::test_keys(),
            &catalog,
            task_form,
            &actor,
            &given,
            &record.values,
            Some(&record),
            &task_id,
        )
        .expect("valid");
        let write = submitted.write.expect("a record write");
        assert_eq!(write.expected_version, 2);

        // … while someone edits the record.
        let response = hp
            .send(
                &app,
                reqwest::Method::PUT,
                &format!("/api/forms/lawyer/records/{id}"),
                json!({ "version": 2, "values": { "remark": "先改了" } }),
            )
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "{:?}", response.text().await);

        let task = store.task(&task_id).await.expect("read").expect("open task");
        let input = runtime::operations::OperationInput {
            record_writes: vec![write],
            ..runtime::operations::OperationInput::by("hp1")
        };
        let refused = app.executor.approve(&task, input).await;
        assert!(matches!(refused, Err(store::Error::Conflict(_))), "{refused:?}");
        let record =
            forms::records::get(store.as_ref(), crate::support::test_keys(), form, &actor, &id).await.expect("record");
        assert_eq!(record.version, 3, "only the edit was written");
        assert_eq!(record.values.get("remark"), Some(&json!("先改了")));
        assert_ne!(record.values.get("fee"), Some(&json!("600.00")));
        assert_eq!(open_task(&app, &instance).await["id"], task_id.as_str(), "the task is still open");
    })
    .await;
}

/// A form key naming a form or view that does not exist fails the deploy, at its task.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_form_key_naming_no_form_or_view_fails_the_deploy() {
    each_backend(|app| async move {
        for (key, problem) in
            [("form:lawyer/nope", "has no view 'nope'"), ("form:no-such-form", "there is no form 'no-such-form'")]
        {
            let xml = MODEL.replace("form:lawyer/district-review", key);
            let (status, body) = app.deploy("broken", &xml).await;
            assert_eq!(status, 400, "{body}");
            let message = body["message"].as_str().unwrap_or_default();
            assert!(message.contains("districtReview") && message.contains(problem), "{message}");
        }
    })
    .await;
}

/// The task page draws the editable fields as inputs of 通过 and the read-only ones as text;
/// a refused value comes back on the page at its field, the other values kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_task_page_shows_the_view_and_keeps_what_was_typed_when_refused() {
    each_backend(|app| async move {
        let (hp, _, _) = staff(&app).await;
        let (id, instance) = submitted(&app, &hp).await;
        let task_id = open_task(&app, &instance).await["id"].as_str().expect("task").to_string();
        let (status, _) = post(&app, &hp, &format!("/api/tasks/{task_id}/claim"), json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let page = hp.get(&app, &format!("/tasks/{task_id}")).send().await.expect("sent").text().await.expect("text");
        assert!(page.contains("id=\"task-form\""), "the task form card");
        assert!(
            page.contains("form=\"op-form-approve\"") && page.contains("name=\"v.fee\""),
            "fee is an input of 通过"
        );
        assert!(page.contains("上海市黄浦区拥军律师事务所"), "read-only facts are shown");
        assert!(!page.contains("name=\"v.firm\""), "a read-only field is no input");
        assert!(!page.contains("name=\"v.status\""), "a hidden field is not there");

        let send = |fee: &str| {
            let form = [
                ("csrf_token", hp.csrf.as_str()),
                ("v.fee", fee),
                ("v.remark", "材料齐全"),
                ("comment", "同意"),
                ("v.firm", "改了律所"),
            ];
            app.client
                .post(format!("{}/tasks/{task_id}/approve", app.base))
                .header("cookie", &hp.cookie)
                .form(&form)
                .send()
        };
        // A page posts only its inputs: a smuggled read-only field is ignored, never written.
        let refused = send("很多").await.expect("sent");
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = refused.text().await.expect("text");
        assert!(page.contains("id=\"task-form-error\""), "the error summary");
        assert!(page.contains("很多") && page.contains("材料齐全"), "what was typed is kept");
        let done = send("300").await.expect("sent");
        assert_eq!(done.status(), StatusCode::OK);
        assert_eq!(done.url().path(), "/inbox", "back to the inbox after 通过");
        assert_eq!(done.url().query(), Some("notice=approve"));
        let (_, record) = get(&app, &hp, &format!("/api/forms/lawyer/records/{id}")).await;
        assert_eq!(record["values"]["fee"], "300.00");
        assert_eq!(record["values"]["remark"], "材料齐全");
        assert_eq!(record["values"]["firm"], "上海市黄浦区拥军律师事务所", "the smuggled field was not written");
    })
    .await;
}

/// The record binding cannot be forged: clients cannot set `recordForm` / `recordId` (on
/// `/api`, Camunda's start, complete or variable endpoints), and an instance binds a record
/// only when it is the form's own process started for that record (its business key).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_cannot_bind_an_instance_to_another_record() {
    each_backend(|app| async move {
        let (hp, _, _) = staff(&app).await;
        let (id, instance) = submitted(&app, &hp).await;
        let task_id = open_task(&app, &instance).await["id"].as_str().expect("task").to_string();
        let (status, _) = post(&app, &hp, &format!("/api/tasks/{task_id}/claim"), json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, refused) =
            post(&app, &hp, &format!("/api/tasks/{task_id}/approve"), json!({ "variables": { "recordId": "x" } }))
                .await;
        assert_eq!((status, refused["code"].as_str()), (StatusCode::FORBIDDEN, Some("reserved-variable")), "{refused}");
        for (path, body) in [
            (format!("/process-instance/{instance}/variables/recordId"), json!({ "value": "x", "type": "String" })),
            (format!("/task/{task_id}/variables/recordForm"), json!({ "value": "x", "type": "String" })),
        ] {
            let response = app
                .client
                .put(app.url(&path))
                .basic_auth("admin", Some(crate::support::ADMIN_PASSWORD))
                .json(&body)
                .send()
                .await
                .expect("sent");
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        }
        // Another process (here the same model under another key) started by hand with the
        // binding's business key binds nothing, and no variable can carry the binding.
        let other = MODEL.replace("svc01-lawyer-admission", "svc01-copy");
        let (status, _) = app.deploy("copy", &other).await;
        assert_eq!(status, 200);
        let response = app
            .post(
                "/process-definition/key/svc01-copy/start",
                json!({ "businessKey": id, "variables": { "recordId": { "value": id } } }),
            )
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let started = app
            .start("svc01-copy", json!({ "businessKey": id, "variables": { "district": { "value": "310101" } } }))
            .await;
        let copy_task =
            open_task(&app, started["id"].as_str().expect("id")).await["id"].as_str().expect("task").to_string();
        let (status, _) = post(&app, &hp, &format!("/api/tasks/{copy_task}/claim"), json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, detail) = get(&app, &hp, &format!("/api/tasks/{copy_task}")).await;
        assert!(detail["task"]["taskForm"]["recordId"].is_null(), "{detail}");
        let (status, _) =
            post(&app, &hp, &format!("/api/tasks/{copy_task}/approve"), json!({ "variables": { "fee": "1" } })).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, record) = get(&app, &hp, &format!("/api/forms/lawyer/records/{id}")).await;
        assert_eq!(record["values"]["fee"], "1234.50", "the record was not written by another process");

        // Even the form's own process, started inside the system with the binding variables
        // and the record's id (a model's script could do it), binds nothing: the record's
        // history does not name that instance as its submission.
        let definition = app.executor.latest_definition("svc01-lawyer-admission").await.expect("deployed");
        let variables = [
            ("recordForm".to_string(), engine::Value::String("lawyer".into())),
            ("recordId".to_string(), engine::Value::String(id.clone())),
            ("district".to_string(), engine::Value::String("310101".into())),
        ]
        .into_iter()
        .collect();
        let forged =
            app.executor.start(&definition, Some(id.clone()), variables, Some("admin")).await.expect("started");
        let forged_task = open_task(&app, &forged.id).await["id"].as_str().expect("task").to_string();
        let (status, _) = post(&app, &hp, &format!("/api/tasks/{forged_task}/claim"), json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, detail) = get(&app, &hp, &format!("/api/tasks/{forged_task}")).await;
        assert!(detail["task"]["taskForm"]["recordId"].is_null(), "{detail}");
        let (status, _) =
            post(&app, &hp, &format!("/api/tasks/{forged_task}/approve"), json!({ "variables": { "fee": "2" } })).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, record) = get(&app, &hp, &format!("/api/forms/lawyer/records/{id}")).await;
        assert_eq!(record["values"]["fee"], "1234.50", "the record was not written by a forged binding");
    })
    .await;
}

/// A task form read at one version of its record refuses an approval over a record changed
/// since (409), and while added signers (加签) are to sign the form is read-only: an approval
/// then only moves the task between signers, so a typed value would be lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_page_and_a_signing_step_write_nothing() {
    each_backend(|app| async move {
        let (hp, _, _) = staff(&app).await;
        crate::identity::add_account(&app, "hp2", "310101", &["district-staff"], "staff").await;
        let (id, instance) = submitted(&app, &hp).await;
        let task_id = open_task(&app, &instance).await["id"].as_str().expect("task").to_string();
        let (status, _) = post(&app, &hp, &format!("/api/tasks/{task_id}/claim"), json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, detail) = get(&app, &hp, &format!("/api/tasks/{task_id}")).await;
        assert_eq!(detail["task"]["taskForm"]["recordVersion"], 2);

        // Someone edits the record after the page was read.
        let response = hp
            .send(
                &app,
                reqwest::Method::PUT,
                &format!("/api/forms/lawyer/records/{id}"),
                json!({ "version": 2, "values": { "remark": "先改了" } }),
            )
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::OK);
        let approve = format!("/api/tasks/{task_id}/approve");
        let (status, stale) =
            post(&app, &hp, &approve, json!({ "variables": { "remark": "旧页面上写的" }, "recordVersion": 2 })).await;
        assert_eq!((status, stale["code"].as_str()), (StatusCode::CONFLICT, Some("stale-version")), "{stale}");
        let (_, record) = get(&app, &hp, &format!("/api/forms/lawyer/records/{id}")).await;
        assert_eq!(record["values"]["remark"], "先改了");

        // 加签 after the holder: the form is locked until the task completes.
        let (status, body) = post(
            &app,
            &hp,
            &format!("/api/tasks/{task_id}/add-signers"),
            json!({ "users": ["hp2"], "position": "before" }),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (_, detail) = get(&app, &hp, &format!("/api/tasks/{task_id}")).await;
        assert_eq!(detail["task"]["taskForm"]["locked"], true, "{detail}");
        let hp2 = crate::identity::login(&app, "hp2", crate::identity::PASSWORD).await;
        let (status, refused) = post(&app, &hp2, &approve, json!({ "variables": { "fee": "1" } })).await;
        assert_eq!(
            (status, refused["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("field-not-editable")),
            "{refused}"
        );
        let (status, body) = post(&app, &hp2, &approve, json!({ "comment": "同意" })).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (_, record) = get(&app, &hp, &format!("/api/forms/lawyer/records/{id}")).await;
        assert_eq!(record["values"]["fee"], "1234.50");
    })
    .await;
}
