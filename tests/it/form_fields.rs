//! The compound field types of the dynamic forms (issue 13) over real HTTP, on both databases:
//! file and image fields (an upload bound to the record that first names it, its type and count
//! held to the definition, served only inside the record's data scope or through a task that
//! shows it), formatted text (sanitised on the server whatever the client sent) and sub-tables
//! (every cell checked by its column, errors at `<table>.<row>.<column>`, a task that may change
//! only some columns).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::forms::{create, get, lawyer, page, staff, submit};
use crate::identity::{PASSWORD, Session, add_account, login};
use crate::support::{TestApp, each_backend};

const MODEL: &str = include_str!("../../definitions/processes/svc01-lawyer-admission.bpmn");
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00";
const PDF: &[u8] = b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF";

/// `POST /api/files` as a signed-in console user: the new file's id.
async fn upload(app: &TestApp, session: &Session, name: &str, content: &[u8]) -> String {
    let response = session.upload(app, "/api/files", name, content.to_vec()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    body["id"].as_str().expect("id").to_string()
}

/// `GET` of a file route as `session`: status and bytes.
async fn fetch(app: &TestApp, session: &Session, path: &str) -> (StatusCode, Vec<u8>) {
    let response = session.get(app, path).send().await.expect("sent");
    let status = response.status();
    (status, response.bytes().await.expect("bytes").to_vec())
}

fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
        base.extend(extra.clone());
    }
    base
}

/// Another lawyer (the licence number and identity number are unique).
fn second_lawyer() -> Value {
    with(lawyer(), json!({ "licence_number": "13101200910654321", "id_number": "11010519491231002X" }))
}

fn codes(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|error| {
            (error["field"].as_str().unwrap_or_default().to_string(), error["code"].as_str().unwrap_or_default().into())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_belongs_to_the_record_that_names_it_and_follows_its_scope() {
    each_backend(|app| async move {
        let (hp, xh, city) = staff(&app).await;
        let photo = upload(&app, &hp, "执业证.png", PNG).await;
        let (status, created) = create(&app, &hp, with(lawyer(), json!({ "licence_photo": [photo] }))).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().expect("id").to_string();
        let stored = &created["values"]["licence_photo"][0];
        assert_eq!(stored["id"], photo.as_str());
        assert_eq!(stored["name"], "执业证.png");
        assert_eq!(stored["contentType"], "image/png", "the type is what the bytes say");
        assert_eq!(created["display"]["licence_photo"], "执业证.png");

        // Served inside the record's scope, byte for byte; another district gets 404.
        let path = format!("/api/forms/lawyer/files/{photo}");
        assert_eq!(fetch(&app, &hp, &path).await, (StatusCode::OK, PNG.to_vec()));
        assert_eq!(fetch(&app, &city, &path).await, (StatusCode::OK, PNG.to_vec()));
        assert_eq!(fetch(&app, &xh, &path).await.0, StatusCode::NOT_FOUND, "徐汇区 cannot see 黄浦区's record");
        assert_eq!(
            fetch(&app, &xh, &format!("/api/forms/lawyer/files/{photo}?task=nope")).await.0,
            StatusCode::NOT_FOUND
        );

        // What a field does not take, at the field with a stable code.
        let pdf = upload(&app, &hp, "执业证.pdf", PDF).await;
        let (status, refused) = create(&app, &hp, with(second_lawyer(), json!({ "licence_photo": [pdf] }))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(codes(&refused), vec![("licence_photo".to_string(), "file-type".to_string())]);
        let three = [
            upload(&app, &hp, "1.png", PNG).await,
            upload(&app, &hp, "2.png", PNG).await,
            upload(&app, &hp, "3.png", PNG).await,
        ];
        let (status, refused) = create(&app, &hp, with(second_lawyer(), json!({ "licence_photo": three }))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(codes(&refused), vec![("licence_photo".to_string(), "too-many-files".to_string())]);

        // Nobody takes a file that is not theirs to give: another person's upload, or one a
        // record already holds.
        let theirs = upload(&app, &xh, "别人的.png", PNG).await;
        assert_eq!(fetch(&app, &hp, &format!("/api/forms/lawyer/files/{theirs}")).await.0, StatusCode::NOT_FOUND);
        assert_eq!(
            fetch(&app, &xh, &format!("/api/forms/lawyer/files/{theirs}")).await.0,
            StatusCode::OK,
            "the uploader's own"
        );
        for taken in [&theirs, &photo] {
            let (status, refused) = create(&app, &hp, with(second_lawyer(), json!({ "licence_photo": [taken] }))).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
            assert_eq!(codes(&refused), vec![("licence_photo".to_string(), "not-file".to_string())]);
        }
        // Far more ids than the field holds: refused as such, nothing looked up.
        let many: Vec<String> =
            (0..40_000).map(|n| if n % 2 == 0 { "a".to_string() } else { "b".to_string() }).collect();
        let (status, refused) =
            create(&app, &hp, with(second_lawyer(), json!({ "licence_photo": many.join(",") }))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        let (status, refused) = create(
            &app,
            &hp,
            with(second_lawyer(), json!({ "licence_photo": (0..5_000).map(|n| format!("id{n}")).collect::<Vec<_>>() })),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(codes(&refused), vec![("licence_photo".to_string(), "too-many-files".to_string())]);
        // Once a record holds it, a file is the record's: not its uploader's through /api/files.
        assert_eq!(fetch(&app, &hp, &format!("/api/files/{photo}")).await.0, StatusCode::NOT_FOUND);
        // A forged description is looked up by its id like any other.
        let forged =
            json!({ "licence_photo": [{ "id": theirs, "name": "x.png", "contentType": "image/png", "size": 1 }] });
        let (status, refused) = create(&app, &hp, with(second_lawyer(), forged)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(codes(&refused), vec![("licence_photo".to_string(), "not-file".to_string())]);

        // An edit keeps the file it names by id, adds another, and the history says so.
        let second = upload(&app, &hp, "年度考核.png", PNG).await;
        let record_path = format!("/api/forms/lawyer/records/{id}");
        let response = hp
            .send(
                &app,
                reqwest::Method::PUT,
                &record_path,
                json!({ "version": 1, "values": { "licence_photo": [photo, second] } }),
            )
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::OK);
        let (_, record) = get(&app, &hp, &record_path).await;
        assert_eq!(record["display"]["licence_photo"], "执业证.png、年度考核.png");
        // Removed from the record, a file stays the record's (its history names it).
        let response = hp
            .send(
                &app,
                reqwest::Method::PUT,
                &record_path,
                json!({ "version": 2, "values": { "licence_photo": [second] } }),
            )
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::OK);
        let (_, history) = get(&app, &hp, &format!("{record_path}/history")).await;
        assert!(history.to_string().contains("执业证.png"), "{history}");
        assert_eq!(fetch(&app, &hp, &path).await.0, StatusCode::OK);
        assert_eq!(fetch(&app, &xh, &path).await.0, StatusCode::NOT_FOUND);

        // A sensitive picture (an identity card's scan) opens only with `pii:unmask`, audited as
        // such; without it the record shows how many files there are, not which.
        let scan = upload(&app, &hp, "身份证正面.png", PNG).await;
        let response = hp
            .send(&app, reqwest::Method::PUT, &record_path, json!({ "version": 3, "values": { "id_scan": [scan] } }))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::OK);
        add_account(&app, "hp-leader", "310101", &["district-leader"], "staff").await;
        let leader = login(&app, "hp-leader", PASSWORD).await;
        let scan_path = format!("/api/forms/lawyer/files/{scan}");
        assert_eq!(fetch(&app, &leader, &scan_path).await.0, StatusCode::FORBIDDEN, "no pii:unmask");
        assert_eq!(
            fetch(&app, &leader, &format!("/api/forms/lawyer/files/{second}")).await.0,
            StatusCode::OK,
            "not sensitive"
        );
        assert_eq!(fetch(&app, &hp, &scan_path).await, (StatusCode::OK, PNG.to_vec()));
        let (_, seen) = get(&app, &leader, &record_path).await;
        assert_eq!(seen["values"]["id_scan"], "1 个文件（已脱敏）", "{seen}");
        assert!(!seen.to_string().contains(&scan), "no id to fetch it by");
        let (_, html) = page(&app, &leader, &format!("/admin/forms/lawyer/{id}")).await;
        assert!(!html.contains(&scan), "no link on the record page");
        let query = store::identity::AuditQuery { action: Some("pii.unmask".into()), ..Default::default() };
        let (rows, _) = app.executor.store().audit_search(&query).await.expect("audit");
        let outcomes: Vec<(&str, &str)> =
            rows.iter().map(|row| (row.entry.user_id.as_deref().unwrap_or(""), row.entry.result.as_str())).collect();
        assert!(outcomes.contains(&("hp-leader", "denied")) && outcomes.contains(&("hp1", "success")), "{outcomes:?}");

        // The record page shows the pictures through the form's file route.
        let (status, html) = page(&app, &hp, &format!("/admin/forms/lawyer/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains(&format!("src=\"/api/forms/lawyer/files/{second}\"")), "a thumbnail");
        // The edit page carries the ids the form posts back.
        let (_, edit) = page(&app, &hp, &format!("/admin/forms/lawyer/{id}/edit")).await;
        assert!(edit.contains(&format!("name=\"v.licence_photo\" value=\"{second}\"")), "the hidden field of the ids");
        assert!(edit.contains("accept=\".png,.jpg,.jpeg\""), "the chooser offers pictures only");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn formatted_text_is_sanitised_on_the_server() {
    each_backend(|app| async move {
        let (_, _, city) = staff(&app).await;
        let body = "<h3 style=\"color:red\">通知</h3><p onclick=\"steal()\">双拥<b>正文</b><script>alert(1)</script>\
                    <a href=\"javascript:alert(1)\">坏链接</a> <a href=\"https://www.example.gov.cn/x\">好链接</a>\
                    <img src=\"x\" onerror=\"alert(1)\"><iframe src=\"https://evil.example\"></iframe></p>\
                    <p>落款&nbsp;<a href=\"//evil.example/x\">相对链接</a></p>";
        let article = json!({ "title": "关于双拥工作的通知", "column": "notice", "status": "draft", "body": body });
        let response = city.post(&app, "/api/forms/article/records", article).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::CREATED);
        let created: Value = response.json().await.expect("json");
        let stored = created["values"]["body"].as_str().expect("body").to_string();
        for gone in ["script", "onclick", "javascript:", "<img", "onerror", "iframe", "style=", "alert"] {
            assert!(!stored.contains(gone), "{gone} was removed: {stored}");
        }
        for kept in [
            "<h3>通知</h3>",
            "<b>正文</b>",
            "坏链接",
            "href=\"https://www.example.gov.cn/x\"",
            "rel=\"noopener noreferrer nofollow\"",
        ] {
            assert!(stored.contains(kept), "{kept} was kept: {stored}");
        }
        assert!(!stored.contains("evil.example"), "a link without its own scheme is dropped: {stored}");
        assert_eq!(
            created["display"]["body"], "通知 双拥正文坏链接 好链接 落款 相对链接",
            "lists and exports read the words"
        );

        // Found by its words; shown as formatted text on the record page, never as a script.
        let (_, found) = get(&app, &city, "/api/forms/article/records?q=%E5%8F%8C%E6%8B%A5%E6%AD%A3%E6%96%87").await;
        assert_eq!(found["total"], 1, "{found}");
        let id = created["id"].as_str().expect("id");
        let (_, html) = page(&app, &city, &format!("/admin/forms/article/{id}")).await;
        assert!(html.contains("<div class=\"rich-text\"><h3>通知</h3>"), "rendered as formatted text");
        assert!(!html.contains("steal()") && !html.contains("alert(1)"));

        // Only tags is nothing: a required body is missing.
        let empty =
            json!({ "title": "空", "column": "notice", "status": "draft", "body": "<p> </p><script>x</script>" });
        let response = city.post(&app, "/api/forms/article/records", empty).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let refused: Value = response.json().await.expect("json");
        assert_eq!(codes(&refused), vec![("body".to_string(), "required".to_string())]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sub_table_is_checked_cell_by_cell() {
    each_backend(|app| async move {
        let (hp, _, _) = staff(&app).await;
        let cases = json!({ "cases": [
            { "year": "２０２３", "cause": "军属劳动争议", "outcome": "调解结案", "verified": "否" },
            { "year": "", "cause": "", "outcome": "" },
            { "year": 1800, "outcome": "胜诉" },
            { "year": "去年", "cause": "退役安置" },
        ] });
        let (status, refused) = create(&app, &hp, with(lawyer(), cases)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        // The empty row is dropped before rows are numbered.
        assert_eq!(
            codes(&refused),
            vec![
                ("cases.1.year".to_string(), "too-small".to_string()),
                ("cases.1.cause".to_string(), "required".to_string()),
                ("cases.2.year".to_string(), "not-integer".to_string()),
            ]
        );
        assert!(refused.to_string().contains("第 2 行“案由”：请填写案由"), "{refused}");

        let good = json!({ "cases": [
            { "year": "２０２３", "cause": "军属劳动争议", "outcome": "调解结案", "verified": "否" },
            { "year": 2024, "cause": "退役安置", "extra": "ignored" },
        ] });
        let (status, created) = create(&app, &hp, with(lawyer(), good)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        // An unticked box is not kept (a row's box is 否 until ticked), so it never counts as a
        // change, nor keeps a blank row.
        assert_eq!(
            created["values"]["cases"],
            json!([
                { "year": 2023, "cause": "军属劳动争议", "outcome": "调解结案" },
                { "year": 2024, "cause": "退役安置" },
            ])
        );
        let too_many: Vec<Value> = (0..21).map(|n| json!({ "year": 2000 + n, "cause": "案件" })).collect();
        let (status, refused) = create(&app, &hp, with(second_lawyer(), json!({ "cases": too_many }))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(codes(&refused), vec![("cases".to_string(), "too-many-rows".to_string())]);

        // The console's form posts rows by number (gaps where rows were removed) and shows a
        // refused cell at its place.
        let required = [
            ("v.name", "李卫东"),
            ("v.licence_number", "13101200910999999"),
            ("v.firm", "上海市黄浦区拥军律师事务所"),
            ("v.specialities", "veteran-rights"),
            ("v.district", "310101"),
            ("v.phone", "13816234568"),
            ("v.status", "active"),
        ];
        let rows = |year: &'static str| {
            let mut fields = required.to_vec();
            fields.extend([
                ("v.cases.0.year", "2023"),
                ("v.cases.0.cause", "军属劳动争议"),
                ("v.cases.0.verified", "false"),
                ("v.cases.0.verified", "true"),
                // A row added and left blank: only its unticked box is posted.
                ("v.cases.3.verified", "false"),
                ("v.cases.5.year", year),
                ("v.cases.5.cause", "新案件"),
                ("v.cases.5.verified", "false"),
            ]);
            fields
        };
        let posted = submit(&app, &hp, "/admin/forms/lawyer", &rows("1800")).await;
        assert_eq!(posted.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = posted.text().await.expect("html");
        assert!(html.contains("第 2 行“年份”：不能小于 1990"), "the message names the row and column");
        assert!(html.contains("name=\"v.cases.1.year\" value=\"1800\""), "the row as typed");
        assert!(html.contains("aria-invalid=\"true\""), "the cell is marked");
        let posted = submit(&app, &hp, "/admin/forms/lawyer", &rows("2025")).await;
        assert_eq!(posted.status(), StatusCode::SEE_OTHER);
        let location = posted.headers()["location"].to_str().expect("location").to_string();
        let id = location.trim_start_matches("/admin/forms/lawyer/").split('?').next().expect("id").to_string();
        let (_, record) = get(&app, &hp, &format!("/api/forms/lawyer/records/{id}")).await;
        assert_eq!(
            record["values"]["cases"],
            json!([
                { "year": 2023, "cause": "军属劳动争议", "verified": true },
                { "year": 2025, "cause": "新案件" },
            ])
        );
        let (_, html) = page(&app, &hp, &format!("/admin/forms/lawyer/{id}")).await;
        assert!(
            html.contains("<table class=\"table sub-table\">") && html.contains("<td>新案件</td>"),
            "a table of rows"
        );
    })
    .await;
}

/// 区级审核 may tick 已核实 on the lawyer's cases and nothing else of them: the same rows, the
/// other cells as they were (403 naming the column or the rows otherwise), on the API and the
/// task page; the task's handler opens the record's pictures through the task.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_may_change_only_the_sub_table_columns_its_view_names() {
    each_backend(|app| async move {
        let (hp, xh, _) = staff(&app).await;
        let (status, deployed) = app.deploy("svc01", MODEL).await;
        assert_eq!(status, 200, "{deployed}");
        let photo = upload(&app, &hp, "执业证.png", PNG).await;
        let cases = json!({ "licence_photo": [photo], "cases": [
            { "year": 2023, "cause": "军属劳动争议" },
            { "year": 2024, "cause": "退役安置", "verified": false },
        ] });
        let (status, created) = create(&app, &hp, with(lawyer(), cases)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().expect("id").to_string();
        let response = hp
            .post(&app, &format!("/api/forms/lawyer/records/{id}/submit"), json!({ "version": 1 }))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::CREATED);
        let started: Value = response.json().await.expect("json");
        let instance = started["instanceId"].as_str().expect("instance");
        let tasks = app.tasks_of(instance).await;
        let task_id = tasks[0]["id"].as_str().expect("task").to_string();
        let response = hp.post(&app, &format!("/api/tasks/{task_id}/claim"), json!({})).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::NO_CONTENT);

        let approve = format!("/api/tasks/{task_id}/approve");
        let attempt = |cases: Value| {
            let request = hp.post(&app, &approve, json!({ "variables": { "cases": cases } }));
            async move {
                let response = request.send().await.expect("sent");
                let status = response.status();
                (status, response.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let (status, refused) = attempt(json!([
            { "year": 2023, "cause": "改了案由", "verified": true },
            { "year": 2024, "cause": "退役安置", "verified": false },
        ]))
        .await;
        assert_eq!(
            (status, refused["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("field-not-editable")),
            "{refused}"
        );
        assert!(refused["message"].as_str().unwrap_or_default().contains("“案由”列"), "{refused}");
        let (status, refused) = attempt(json!([
            { "year": 2023, "cause": "军属劳动争议", "verified": true },
            { "year": 2024, "cause": "退役安置" },
            { "year": 2025, "cause": "多加一行" },
        ]))
        .await;
        assert_eq!(
            (status, refused["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("field-not-editable")),
            "{refused}"
        );

        // The handler sees the picture through the task; 徐汇区 does not.
        let through_task = format!("/api/forms/lawyer/files/{photo}?task={task_id}");
        assert_eq!(fetch(&app, &hp, &through_task).await, (StatusCode::OK, PNG.to_vec()));
        assert_eq!(fetch(&app, &xh, &through_task).await.0, StatusCode::NOT_FOUND);

        // The task page: 已核实 a check box, the other cells text sent back as they were, no
        // rows to add.
        let (status, html) = page(&app, &hp, &format!("/tasks/{task_id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("type=\"checkbox\" name=\"v.cases.0.verified\""), "the editable column");
        assert!(html.contains("type=\"hidden\" name=\"v.cases.0.cause\" value=\"军属劳动争议\""), "a fixed cell");
        assert!(!html.contains("data-add-row"), "no rows to add at this task");
        assert!(
            html.contains(&through_task.replace('&', "&amp;")) || html.contains(&through_task),
            "the picture through the task"
        );
        let posted = app
            .client
            .post(format!("{}/tasks/{task_id}/approve", app.base))
            .header("cookie", &hp.cookie)
            .form(&[
                ("csrf_token", hp.csrf.as_str()),
                ("comment", "案件已核实"),
                ("v.cases.0.year", "2023"),
                ("v.cases.0.cause", "军属劳动争议"),
                ("v.cases.0.outcome", ""),
                ("v.cases.0.verified", "false"),
                ("v.cases.0.verified", "true"),
                ("v.cases.1.year", "2024"),
                ("v.cases.1.cause", "退役安置"),
                ("v.cases.1.outcome", ""),
                ("v.cases.1.verified", "false"),
            ])
            .send()
            .await
            .expect("sent");
        let landed = posted.url().path().to_string();
        assert_eq!(landed, "/inbox", "{:?}", posted.text().await);
        let (_, record) = get(&app, &hp, &format!("/api/forms/lawyer/records/{id}")).await;
        assert_eq!(
            record["values"]["cases"],
            json!([
                { "year": 2023, "cause": "军属劳动争议", "verified": true },
                { "year": 2024, "cause": "退役安置" },
            ])
        );
    })
    .await;
}

/// A definition change of a unique field between sensitive and not: the start-up pass stores
/// its values (and the unique values it is held by) the way the definition now says, so
/// uniqueness keeps comparing like with like; two records that already hold one value do not
/// stop the node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_unique_field_changed_between_sensitive_and_not_keeps_its_uniqueness() {
    each_backend(|app| async move {
        let definition = |code: &str| {
            forms::Catalog::from_files(vec![(
                "forms/test/person.toml".into(),
                format!(
                    "key = \"person\"\nname = \"人\"\ntitle = \"name\"\n[[fields]]\nkey = \"name\"\nlabel = \"姓名\"\ntype = \"text\"\n[[fields]]\nkey = \"code\"\nlabel = \"证件号\"\ntype = \"text\"\n{code}\n"
                ),
            )])
            .expect("valid")
        };
        let store = app.executor.store().clone();
        let keys = crate::support::test_keys();
        let sensitive = definition("unique = true\nsensitive = true");
        person(store.clone(), &sensitive, "甲", "AB123").await.expect("created");
        let plain = definition("unique = true");
        forms::records::reindex(store.as_ref(), keys, &plain).await.expect("reindexed");
        let mut query = store::forms::RecordQuery::new(store::DataScope::All);
        query.form = "person".into();
        let (rows, _) = store.form_records(&query).await.expect("rows");
        assert!(!rows[0].data.contains("$sealed") && rows[0].data.contains("AB123"), "stored in clear again: {}", rows[0].data);
        let refused = person(store.clone(), &plain, "乙", "ab123").await;
        assert!(
            matches!(&refused, Err(forms::records::RecordError::Invalid(errors)) if errors[0].code == "duplicate"),
            "{refused:?}"
        );

        // Two records holding one value before the field became unique and sensitive: the pass
        // seals one, logs the other, and the node starts.
        let loose = definition("");
        person(store.clone(), &loose, "丙", "DUP").await.expect("created");
        person(store.clone(), &loose, "丁", "DUP").await.expect("created");
        forms::records::reindex(store.as_ref(), keys, &sensitive).await.expect("the node starts");
        let refused = person(store.clone(), &sensitive, "戊", "dup").await;
        assert!(
            matches!(&refused, Err(forms::records::RecordError::Invalid(errors)) if errors[0].code == "duplicate"),
            "{refused:?}"
        );
    })
    .await;
}

/// Creates a record of the test form `person` as a city-wide actor.
async fn person(
    store: std::sync::Arc<dyn store::Store>,
    catalog: &forms::Catalog,
    name: &str,
    code: &str,
) -> forms::records::Result<forms::records::Record> {
    let input = json!({ "name": name, "code": code }).as_object().cloned().expect("object");
    let form = catalog.form("person").expect("form");
    let actor = forms::records::Actor { user: "admin".into(), unit: None, scope: store::DataScope::All };
    let keys = crate::support::test_keys();
    forms::records::create(store.as_ref(), keys, catalog, form, &actor, &input, forms::Mode::Strict, None).await
}

/// A task form with a file field but no record behind the instance (a model that uses the
/// form without 提交审批): an upload could only be named by a process variable, so it is
/// refused at the field instead of being lost a day later.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_form_without_a_record_refuses_files() {
    each_backend(|app| async move {
        let (hp, _, _) = staff(&app).await;
        let xml = MODEL
            .replace("svc01-lawyer-admission", "svc01-unbound")
            .replace("form:lawyer/district-review", "form:lawyer");
        let (status, deployed) = app.deploy("unbound", &xml).await;
        assert_eq!(status, 200, "{deployed}");
        let started = app.start("svc01-unbound", json!({ "variables": { "district": { "value": "310101" } } })).await;
        let tasks = app.tasks_of(started["id"].as_str().expect("id")).await;
        let task = tasks[0]["id"].as_str().expect("task").to_string();
        let response = hp.post(&app, &format!("/api/tasks/{task}/claim"), json!({})).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let photo = upload(&app, &hp, "执业证.png", PNG).await;
        let response = hp
            .post(&app, &format!("/api/tasks/{task}/approve"), json!({ "variables": { "licence_photo": [photo] } }))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let refused: Value = response.json().await.expect("json");
        assert_eq!(codes(&refused), vec![("licence_photo".to_string(), "no-record".to_string())]);
        // Without a file, the same task is approved (the whole form is asked for here).
        let response = hp
            .post(&app, &format!("/api/tasks/{task}/approve"), json!({ "variables": lawyer() }))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    })
    .await;
}

/// The same definitions on a phone (`/m/forms`): a district's staff list their records as
/// cards, create one in one column (refusals at their fields, as on the console), open it with
/// its values masked, and submit it to its approval from the phone; another district and a
/// citizen without the form's rights get nothing of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_forms_on_a_phone_follow_the_same_definitions_and_rights() {
    each_backend(|app| async move {
        let (hp, xh, _) = staff(&app).await;
        let (status, deployed) = app.deploy("svc01", MODEL).await;
        assert_eq!(status, 200, "{deployed}");
        let (status, html) = page(&app, &hp, "/m/forms").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("href=\"/m/forms/lawyer\""), "the forms the caller may read");
        let (status, html) = page(&app, &hp, "/m/forms/lawyer/new").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.contains("action=\"/m/forms/lawyer\"") && html.contains("name=\"v.cases.__row__.year\""),
            "one form, every type"
        );
        let fields = [
            ("v.name", "陈立"),
            ("v.licence_number", "13101200910888888"),
            ("v.firm", "上海市黄浦区拥军律师事务所"),
            ("v.specialities", "veteran-rights"),
            ("v.district", "310101"),
            ("v.phone", "13816239999"),
            ("v.status", "active"),
        ];
        let refused = submit(&app, &hp, "/m/forms/lawyer", &fields[..3]).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = refused.text().await.expect("html");
        assert!(
            html.contains("id=\"form-error\"") && html.contains("陈立"),
            "refused at the fields, what was typed kept"
        );
        let created = submit(&app, &hp, "/m/forms/lawyer", &fields).await;
        assert_eq!(created.status(), StatusCode::SEE_OTHER);
        let location = created.headers()["location"].to_str().expect("location").to_string();
        assert!(location.starts_with("/m/forms/lawyer/") && location.ends_with("?notice=created"), "{location}");
        let id = location.trim_start_matches("/m/forms/lawyer/").split('?').next().expect("id").to_string();

        let (status, html) = page(&app, &hp, &location).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.contains("已新建") && html.contains("陈立") && html.contains("138****9999"),
            "masked on the phone"
        );
        assert!(!html.contains("13816239999"), "never in clear");
        assert!(html.contains("name=\"back\" value=\"m\""), "提交入库审核 from the phone");
        let (_, list) = page(&app, &hp, "/m/forms/lawyer?q=%E9%99%88%E7%AB%8B").await;
        assert!(
            list.contains(&format!("href=\"/m/forms/lawyer/{id}\"")) && list.contains("共 1 条"),
            "found by its name"
        );

        // Submitted from the phone, back on the phone.
        let submitted =
            submit(&app, &hp, &format!("/admin/forms/lawyer/{id}/submit"), &[("version", "1"), ("back", "m")]).await;
        assert_eq!(submitted.status(), StatusCode::SEE_OTHER);
        assert_eq!(submitted.headers()["location"], format!("/m/forms/lawyer/{id}?notice=submitted").as_str());
        let (_, html) = page(&app, &hp, &format!("/m/forms/lawyer/{id}")).await;
        assert!(html.contains("审批中") && !html.contains("id=\"submit-workflow\""), "one approval at a time");

        // Another district, and a citizen without the form's rights.
        assert_eq!(page(&app, &xh, &format!("/m/forms/lawyer/{id}")).await.0, StatusCode::NOT_FOUND);
        let (_, list) = page(&app, &xh, "/m/forms/lawyer").await;
        assert!(!list.contains(&id), "not in another district's list");
        add_account(&app, "citizen1", "310101", &["citizen"], "citizen").await;
        let citizen = login(&app, "citizen1", PASSWORD).await;
        let (status, html) = page(&app, &citizen, "/m/forms").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("没有可以办理的业务"), "no form is a citizen's here");
        assert_eq!(page(&app, &citizen, "/m/forms/lawyer").await.0, StatusCode::NOT_FOUND);
        assert_eq!(page(&app, &citizen, &format!("/m/forms/lawyer/{id}")).await.0, StatusCode::NOT_FOUND);
    })
    .await;
}
