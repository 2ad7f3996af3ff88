//! Imports and XLSX exports of form records over real HTTP (issue 13), on the shipped SVC-01
//! 律师 form, on every backend: the generated template, a CSV with bad rows validated without
//! writing (each error at its row and column with the raw value and a stable code), the
//! preview's outcomes (new / update by the match key / unchanged / error), both commit modes,
//! the error workbook, the district scope, a commit refused as a whole when a record changed
//! after the preview, an XLSX upload with Excel's number and date cells, recovery after a
//! stop, and the XLSX export of a filtered list.

use std::time::Duration;

use forms::import::{Cell, read_upload};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::forms::{create, get, lawyer, page, staff, submit};
use crate::identity::Session;
use crate::support::{TestApp, each_backend};

/// Uploads `bytes` as `name` to the lawyer form's imports.
async fn upload(app: &TestApp, session: &Session, name: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let response = session.upload(app, "/api/forms/lawyer/imports", name, bytes).await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The job once it is no longer working (validating or committing).
async fn settled(app: &TestApp, session: &Session, id: &str) -> Value {
    for _ in 0..400 {
        let (status, job) = get(app, session, &format!("/api/forms/lawyer/imports/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{job}");
        if !matches!(job["status"].as_str(), Some("validating" | "committing")) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("import {id} did not settle");
}

async fn commit(app: &TestApp, session: &Session, id: &str, mode: &str) -> (StatusCode, Value) {
    let path = format!("/api/forms/lawyer/imports/{id}/commit");
    let response = session.post(app, &path, json!({ "mode": mode })).send().await.expect("sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn bytes(app: &TestApp, session: &Session, path: &str) -> (StatusCode, String, Vec<u8>) {
    let response = session.get(app, path).send().await.expect("sent");
    let status = response.status();
    let kind = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (status, kind, response.bytes().await.expect("body").to_vec())
}

const HEADER: &str = "姓名,性别,身份证号,执业证号,所在律师事务所,执业领域,所属区,联系电话,状态,入库日期,不存在的列";

/// A CSV of the lawyer form: `rows` after [`HEADER`].
fn csv(rows: &[&str]) -> Vec<u8> {
    let mut text = String::from(HEADER);
    for row in rows {
        text.push_str("\r\n");
        text.push_str(row);
    }
    text.into_bytes()
}

async fn records(app: &TestApp, session: &Session, query: &str) -> Value {
    let (status, list) = get(app, session, &format!("/api/forms/lawyer/records?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list
}

/// The rows of a job with one outcome.
async fn rows(app: &TestApp, session: &Session, id: &str, outcome: &str) -> Vec<Value> {
    let (status, body) = get(app, session, &format!("/api/forms/lawyer/imports/{id}/rows?outcome={outcome}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

/// A bad-row CSV is checked without writing; each error names its row, column, raw value and
/// code; all-or-nothing is refused; the valid rows commit in one go (new and updated by the
/// 身份证号 match key, unchanged ones left alone), with the history naming the import; the error
/// workbook holds the bad rows with 错误原因; a job is its uploader's only.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_csv_with_bad_rows_is_previewed_then_only_its_valid_rows_are_committed() {
    each_backend(|app| async move {
        let (hp, xh, _) = staff(&app).await;
        // An existing record the import updates (by 身份证号) and one it leaves unchanged.
        let (status, existing) = create(&app, &hp, lawyer()).await;
        assert_eq!(status, StatusCode::CREATED, "{existing}");
        let mut same = lawyer();
        same["id_number"] = json!("310101198805050066");
        same["licence_number"] = json!("13101200910999999");
        let (status, unchanged) = create(&app, &hp, same).await;
        assert_eq!(status, StatusCode::CREATED, "{unchanged}");
        let unchanged_row = "王建国,男,310101198805050066,13101200910999999,上海市黄浦区拥军律师事务所,\"退役军人权益保障、劳动争议\",黄浦区,13816234567,在册,2021-03-01,x";
        let file = csv(&[
            // 2: new, with labels, full-width digits and an Excel serial for the date.
            "李明,男,３１０１０１１９８５０２０２００３８,13101201011111111,上海明德律师事务所,婚姻家事,黄浦区,021-63210000,在册,45292,",
            // 3: updates the existing record (new firm).
            "王建国,男,310101198001010018,13101200910123456,上海新律师事务所,退役军人权益保障、劳动争议,黄浦区,13816234567,active,2021-03-01,",
            // 4: wrong check digit, unknown option, missing phone.
            "赵六,女,310101198603030041,13101201022222222,某所,不存在的领域,黄浦区,,在册,,",
            // 5: the same 身份证号 as row 2.
            "李明二,男,310101198502020038,13101201033333333,某所,婚姻家事,黄浦区,13900000001,在册,,",
            // 6: another district's record.
            "孙七,男,310104198704040052,13101201044444444,某所,婚姻家事,徐汇区,13900000002,在册,,",
            // 7: nothing differs from the stored record.
            unchanged_row,
        ]);
        let before = records(&app, &hp, "").await["total"].clone();
        let (status, job) = upload(&app, &hp, "律师名录.csv", file).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{job}");
        let id = job["id"].as_str().expect("id").to_string();
        let job = settled(&app, &hp, &id).await;
        assert_eq!(job["status"], "ready", "{job}");
        assert_eq!(job["counts"], json!({ "new": 1, "update": 1, "unchanged": 1, "error": 3 }), "{job}");
        assert_eq!(job["ignoredColumns"], json!(["不存在的列"]));
        assert_eq!(records(&app, &hp, "").await["total"], before, "validation writes nothing");

        let errors = rows(&app, &hp, &id, "error").await;
        let found: Vec<(i64, String, String, String)> = errors
            .iter()
            .flat_map(|row| {
                let number = row["row"].as_i64().unwrap_or(0);
                row["errors"].as_array().cloned().unwrap_or_default().into_iter().map(move |error| {
                    (
                        number,
                        error["column"].as_str().unwrap_or("").to_string(),
                        error["value"].as_str().unwrap_or("").to_string(),
                        error["code"].as_str().unwrap_or("").to_string(),
                    )
                })
            })
            .collect();
        let expect = |row: i64, column: &str, value: &str, code: &str| {
            assert!(
                found.contains(&(row, column.to_string(), value.to_string(), code.to_string())),
                "row {row} {column} {code} in {found:?}"
            );
        };
        // A sensitive cell's value is kept masked with its error.
        let masked = crypto::mask::mask_id_number;
        expect(4, "身份证号", &masked("310101198603030041"), "id-check");
        expect(4, "执业领域", "不存在的领域", "not-option");
        expect(4, "联系电话", "", "required");
        expect(5, "身份证号", &masked("310101198502020038"), "duplicate-in-file");
        expect(6, "所属区", "徐汇区", "district-out-of-scope");
        assert_eq!(found.len(), 5, "{found:?}");
        assert_eq!(errors[0]["cells"][0], "赵六", "the row as uploaded");
        assert_eq!(errors[0]["cells"][2], masked("310101198603030041").as_str(), "its 身份证号 masked");
        // The uploaded cells wait for the commit sealed: no 身份证号 in clear in the database.
        let stored = app.executor.store().form_import_rows(&id, &[], 0, 100).await.expect("rows");
        assert_eq!(stored.len(), 6);
        for row in &stored {
            let text = format!("{} {}", row.raw, row.errors);
            for number in ["310101198603030041", "310101198502020038", "310101198805050066", "3101011985020200"] {
                assert!(!text.contains(number), "{number} in clear in row {}: {text}", row.row_no);
            }
        }

        // Another account does not see the job; all-or-nothing refuses while a row is bad.
        let (status, _) = get(&app, &xh, &format!("/api/forms/lawyer/imports/{id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = commit(&app, &xh, &id, "valid-only").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = commit(&app, &hp, &id, "all-or-nothing").await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("import-has-errors")));

        let (status, body) = commit(&app, &hp, &id, "valid-only").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let job = settled(&app, &hp, &id).await;
        assert_eq!((job["status"].as_str(), job["committedRows"].as_i64()), (Some("done"), Some(2)), "{job}");
        let (status, body) = commit(&app, &hp, &id, "valid-only").await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("import-not-ready")), "once only");

        let list = records(&app, &hp, "q=李明").await;
        assert_eq!(list["total"], 1);
        let path = format!("/api/forms/lawyer/records/{}?unmask=1", list["items"][0]["id"].as_str().expect("id"));
        let (_, record) = get(&app, &hp, &path).await;
        let new = &record["values"];
        assert_eq!(
            (new["joined_on"].as_str(), new["phone"].as_str(), new["specialities"].clone()),
            (Some("2024-01-01"), Some("02163210000"), json!(["marriage"]))
        );
        let path = format!("/api/forms/lawyer/records/{}", existing["id"].as_str().expect("id"));
        let (_, updated) = get(&app, &hp, &path).await;
        assert_eq!((updated["values"]["firm"].as_str(), updated["version"].as_i64()), (Some("上海新律师事务所"), Some(2)));
        assert_eq!(updated["values"]["email"], "wangjg@example.cn", "a column the file lacks keeps its value");
        let (_, history) = get(&app, &hp, &format!("{path}/history")).await;
        assert_eq!(history[1]["action"], format!("import:{id}"));
        assert_eq!(history[1]["changes"], json!([{ "field": "firm", "old": "上海市黄浦区拥军律师事务所", "new": "上海新律师事务所" }]));
        let path = format!("/api/forms/lawyer/records/{}", unchanged["id"].as_str().expect("id"));
        assert_eq!(get(&app, &hp, &path).await.1["version"], 1, "an unchanged row writes nothing");

        // The error workbook: the bad rows as uploaded, with 错误原因, readable again.
        let (status, kind, workbook) =
            bytes(&app, &hp, &format!("/api/forms/lawyer/imports/{id}/errors.xlsx")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(kind.starts_with("application/vnd.openxmlformats"), "{kind}");
        let sheet = read_upload(&workbook).expect("the error workbook reads");
        assert_eq!(sheet.headers.last().map(String::as_str), Some("错误原因"));
        assert_eq!(sheet.rows.len(), 3);
        assert_eq!(
            sheet.rows[0].1.get(2).map(Cell::raw).as_deref(),
            Some("310101198603030041"),
            "the uploader gets back what they uploaded"
        );
        let reasons = sheet.rows[0].1.last().map(Cell::raw).unwrap_or_default();
        assert!(reasons.contains("身份证号：") && reasons.contains("请填写联系电话"), "{reasons}");
    })
    .await;
}

/// A 黄浦区 account's import can neither see nor overwrite a 徐汇区 record, whatever match key
/// it sends; an update that another edit overtook after the preview refuses the whole commit,
/// and nothing of the file is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn imports_keep_to_the_district_and_a_stale_preview_writes_nothing() {
    each_backend(|app| async move {
        let (hp, xh, _) = staff(&app).await;
        let mut xuhui = lawyer();
        xuhui["district"] = json!("310104");
        xuhui["id_number"] = json!("310104198704040052");
        xuhui["licence_number"] = json!("13101200910000002");
        let (status, other) = create(&app, &xh, xuhui).await;
        assert_eq!(status, StatusCode::CREATED, "{other}");
        let file = csv(&["孙七,男,310104198704040052,13101201044444444,黄浦所,婚姻家事,黄浦区,13900000002,在册,,"]);
        let (_, job) = upload(&app, &hp, "a.csv", file).await;
        let job = settled(&app, &hp, job["id"].as_str().expect("id")).await;
        assert_eq!(job["counts"]["error"], 1, "{job}");
        let errors = rows(&app, &hp, job["id"].as_str().expect("id"), "error").await;
        assert_eq!(errors[0]["errors"][0]["code"], "duplicate", "{errors:?}");
        let path = format!("/api/forms/lawyer/records/{}", other["id"].as_str().expect("id"));
        assert_eq!(get(&app, &xh, &path).await.1["version"], 1, "the 徐汇区 record is untouched");

        // A preview with one new and one updated row; the record is edited before the commit.
        let (status, mine) = create(&app, &hp, lawyer()).await;
        assert_eq!(status, StatusCode::CREATED);
        let file = csv(&[
            "王建国,男,310101198001010018,13101200910123456,预览时的律所,退役军人权益保障,黄浦区,13816234567,在册,,",
            "周八,男,310101198906060079,13101201055555555,某所,婚姻家事,黄浦区,13900000003,在册,,",
        ]);
        let (_, job) = upload(&app, &hp, "b.csv", file).await;
        let id = job["id"].as_str().expect("id").to_string();
        let job = settled(&app, &hp, &id).await;
        assert_eq!(job["counts"], json!({ "new": 1, "update": 1, "unchanged": 0, "error": 0 }), "{job}");
        let path = format!("/api/forms/lawyer/records/{}", mine["id"].as_str().expect("id"));
        let edit = hp
            .send(&app, reqwest::Method::PUT, &path, json!({ "version": 1, "values": { "firm": "另一个律所" } }))
            .send()
            .await
            .expect("sent");
        assert_eq!(edit.status(), StatusCode::OK);
        let (status, _) = commit(&app, &hp, &id, "all-or-nothing").await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let job = settled(&app, &hp, &id).await;
        assert_eq!(job["status"], "ready", "{job}");
        assert!(job["error"].as_str().is_some_and(|error| error.contains("第 2 行")), "{job}");
        assert_eq!(records(&app, &hp, "q=周八").await["total"], 0, "nothing half-imported");
        assert_eq!(get(&app, &hp, &path).await.1["values"]["firm"], "另一个律所");
    })
    .await;
}

/// An XLSX upload (the generated template filled in, with number and date cells as Excel
/// stores them) imports; a job a stopped node left `committing` is ready again after the
/// restart's recovery, with nothing written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_template_filled_in_as_xlsx_imports_and_an_interrupted_commit_is_recovered() {
    each_backend(|app| async move {
        let (hp, _, _) = staff(&app).await;
        let (status, kind, template) = bytes(&app, &hp, "/api/forms/lawyer/import-template.xlsx").await;
        assert_eq!(status, StatusCode::OK);
        assert!(kind.starts_with("application/vnd.openxmlformats"), "{kind}");
        let sheet = read_upload(&template).expect("the template reads");
        assert_eq!(sheet.headers.first().map(String::as_str), Some("*姓名"));
        assert!(sheet.headers.contains(&"身份证号".to_string()) && sheet.headers.contains(&"*执业证号".to_string()));
        assert!(!sheet.headers.iter().any(|header| header.contains("创建时间")), "only fields are columns");
        assert!(sheet.rows.is_empty(), "the template has no data rows");

        let mut workbook = rust_xlsxwriter::Workbook::new();
        let worksheet = workbook.add_worksheet();
        let date = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
        for (column, header) in sheet.headers.iter().enumerate() {
            worksheet.write_string(0, column as u16, header).expect("header");
        }
        let column = |label: &str| -> u16 {
            sheet.headers.iter().position(|header| header.trim_start_matches('*') == label).expect(label) as u16
        };
        worksheet.write_string(1, column("姓名"), "吴九").expect("cell");
        worksheet.write_string(1, column("身份证号"), "310101198906060079").expect("cell");
        worksheet.write_string(1, column("执业证号"), "13101201066666666").expect("cell");
        worksheet.write_string(1, column("所在律师事务所"), "某所").expect("cell");
        worksheet.write_string(1, column("执业领域"), "合同纠纷").expect("cell");
        worksheet.write_string(1, column("所属区"), "黄浦区").expect("cell");
        worksheet.write_number(1, column("联系电话"), 13_900_000_004.0).expect("cell");
        worksheet.write_string(1, column("状态"), "在册").expect("cell");
        worksheet.write_number(1, column("执业年限"), 7.0).expect("cell");
        worksheet.write_boolean(1, column("是否公益服务"), true).expect("cell");
        worksheet.write_number_with_format(1, column("入库日期"), 45_000.0, &date).expect("cell");
        let file = workbook.save_to_buffer().expect("xlsx");
        let (status, job) = upload(&app, &hp, "律师.xlsx", file).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{job}");
        let id = job["id"].as_str().expect("id").to_string();
        let job = settled(&app, &hp, &id).await;
        assert_eq!(job["counts"]["new"], 1, "{job} {:?}", rows(&app, &hp, &id, "error").await);

        // The node stops while committing: the claim is taken, the transaction never ran.
        let store = app.executor.store();
        let now = store::now_millis();
        assert!(store.claim_form_import(&id, "ready", "committing", now, None).await.expect("claims"));
        let recovered = web::recover_imports(store.as_ref()).await.expect("recovers");
        if app.backend == "sqlite" {
            assert_eq!(recovered, 1, "a single node's restart resets its commit at once");
        } else {
            // Another node may still be committing a fresh claim: only an old one is reset.
            assert_eq!(recovered, 0);
            assert_eq!(get(&app, &hp, &format!("/api/forms/lawyer/imports/{id}")).await.1["status"], "committing");
            assert!(
                store
                    .claim_form_import(&id, "committing", "committing", now - 31 * 60 * 1000, None)
                    .await
                    .expect("ages")
            );
            assert_eq!(web::recover_imports(store.as_ref()).await.expect("recovers"), 1);
        }
        let job = settled(&app, &hp, &id).await;
        assert_eq!(job["status"], "ready", "{job}");
        assert_eq!(records(&app, &hp, "q=吴九").await["total"], 0);
        let (status, _) = commit(&app, &hp, &id, "all-or-nothing").await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(settled(&app, &hp, &id).await["status"], "done");
        let list = records(&app, &hp, "q=吴九").await;
        let path = format!("/api/forms/lawyer/records/{}?unmask=1", list["items"][0]["id"].as_str().expect("id"));
        let (_, record) = get(&app, &hp, &path).await;
        let values = &record["values"];
        assert_eq!(
            (
                values["phone"].as_str(),
                values["years"].as_i64(),
                values["volunteer"].as_bool(),
                values["joined_on"].as_str()
            ),
            (Some("13900000004"), Some(7), Some(true), Some("2023-03-15"))
        );
    })
    .await;
}

/// The XLSX export holds exactly the filtered list of the caller's district, with labels.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_xlsx_export_holds_the_filtered_list_of_the_callers_district() {
    each_backend(|app| async move {
        let (hp, xh, _) = staff(&app).await;
        let (status, _) = create(&app, &hp, lawyer()).await;
        assert_eq!(status, StatusCode::CREATED);
        let mut paused = lawyer();
        paused["id_number"] = json!("310101198502020038");
        paused["licence_number"] = json!("13101200910000001");
        paused["status"] = json!("paused");
        let (status, _) = create(&app, &hp, paused).await;
        assert_eq!(status, StatusCode::CREATED);
        let mut xuhui = lawyer();
        xuhui["district"] = json!("310104");
        xuhui["id_number"] = json!("310104198704040052");
        xuhui["licence_number"] = json!("13101200910000002");
        let (status, _) = create(&app, &xh, xuhui).await;
        assert_eq!(status, StatusCode::CREATED);

        let (status, kind, file) = bytes(&app, &hp, "/api/forms/lawyer/export?format=xlsx&f.status=active").await;
        assert_eq!(status, StatusCode::OK);
        assert!(kind.starts_with("application/vnd.openxmlformats"), "{kind}");
        let sheet = read_upload(&file).expect("the export reads");
        assert_eq!(sheet.rows.len(), 1, "only the active 黄浦区 lawyer");
        let cell = |label: &str| {
            let index = sheet.headers.iter().position(|header| header == label).expect(label);
            sheet.rows[0].1.get(index).map(Cell::raw).unwrap_or_default()
        };
        assert_eq!((cell("状态"), cell("所属区")), ("在册".to_string(), "黄浦区".to_string()));
        assert_eq!(cell("身份证号"), "310101198001010018", "in full: district staff hold pii:unmask");
        let (_, _, all) = bytes(&app, &hp, "/api/forms/lawyer/export?format=xlsx").await;
        assert_eq!(read_upload(&all).expect("reads").rows.len(), 2);
    })
    .await;
}

/// An upload through the console screen (multipart, its CSRF field first).
async fn upload_page(app: &TestApp, session: &Session, csrf: &str, bytes: Vec<u8>) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .text("csrf_token", csrf.to_string())
        .part("file", reqwest::multipart::Part::bytes(bytes).file_name("律师.csv"));
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(format!("{}/admin/forms/lawyer/import", app.base))
        .header("cookie", &session.cookie)
        .header("accept", "text/html")
        .multipart(form)
        .send()
        .await
        .expect("posted")
}

/// The console: the list links to the import, the upload screen explains the match key, a
/// file the screen cannot read is answered on the screen in Chinese, a good one leads to its
/// job page with the counts, each bad cell and the commit buttons, and the commit from there
/// writes the valid rows; a forged upload without the CSRF field is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_console_screens_upload_preview_and_commit_an_import() {
    each_backend(|app| async move {
        let (hp, _, _) = staff(&app).await;
        let (_, list) = page(&app, &hp, "/admin/forms/lawyer").await;
        assert!(list.contains("href=\"/admin/forms/lawyer/import\"") && list.contains("format=xlsx"), "{list}");
        let (status, screen) = page(&app, &hp, "/admin/forms/lawyer/import").await;
        assert_eq!(status, StatusCode::OK);
        assert!(screen.contains("按“身份证号”匹配已有记录") && screen.contains("import-template.xlsx"), "{screen}");

        let refused = upload_page(&app, &hp, "wrong", csv(&[])).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "the CSRF field is checked on uploads");
        let bad = upload_page(&app, &hp, &hp.csrf, "甲,乙\r\n1,2\r\n".as_bytes().to_vec()).await;
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = bad.text().await.expect("html");
        assert!(html.contains("表头中没有“律师”的字段"), "{html}");

        let file = csv(&[
            "李明,男,310101198502020038,13101201011111111,上海明德律师事务所,婚姻家事,黄浦区,13900000001,在册,,",
            "赵六,女,310101198603030041,13101201022222222,某所,婚姻家事,黄浦区,13900000002,在册,,",
        ]);
        let started = upload_page(&app, &hp, &hp.csrf, file).await;
        assert_eq!(started.status(), StatusCode::SEE_OTHER);
        let location = started.headers()["location"].to_str().expect("location").to_string();
        let id = location.rsplit('/').next().unwrap_or("").to_string();
        settled(&app, &hp, &id).await;
        let (status, job) = page(&app, &hp, &location).await;
        assert_eq!(status, StatusCode::OK);
        assert!(job.contains("id=\"count-new\">1<") && job.contains("id=\"count-error\">1<"), "{job}");
        assert!(job.contains("第 3 行") && job.contains("校验位不正确"), "{job}");
        assert!(job.contains("id=\"commit-valid\"") && !job.contains("id=\"commit-all\""), "{job}");
        assert!(job.contains("errors.xlsx"), "{job}");

        let committed = submit(&app, &hp, &format!("{location}/commit"), &[("mode", "all-or-nothing")]).await;
        assert_eq!(committed.status(), StatusCode::SEE_OTHER);
        let back = committed.headers()["location"].to_str().expect("location").to_string();
        let (_, refusal) = page(&app, &hp, &back).await;
        assert!(refusal.contains("有 1 行错误，不能全部导入"), "{refusal}");
        let committed = submit(&app, &hp, &format!("{location}/commit"), &[("mode", "valid-only")]).await;
        assert_eq!(committed.status(), StatusCode::SEE_OTHER);
        assert_eq!(settled(&app, &hp, &id).await["status"], "done");
        let (_, done) = page(&app, &hp, &location).await;
        assert!(done.contains("导入完成，共写入 1 条记录"), "{done}");
        assert_eq!(records(&app, &hp, "q=李明").await["total"], 1);
    })
    .await;
}
