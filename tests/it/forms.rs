//! The dynamic forms over real HTTP (issue 13), on the shipped SVC-01 律师 form: every field
//! type read into its stored form, every validation failure named at its field, the data scope
//! on list, detail, update, delete and export, a stale edit, uniqueness under a race, the
//! change history, the recycle bin, and the generated console screens.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::identity::{PASSWORD, Session, add_account, login, try_login};
use crate::support::{TestApp, each_backend};

/// A district staff member of 黄浦区 and of 徐汇区, and a city staff member.
pub(crate) async fn staff(app: &TestApp) -> (Session, Session, Session) {
    add_account(app, "hp1", "310101", &["district-staff"], "staff").await;
    add_account(app, "xh1", "310104", &["district-staff"], "staff").await;
    add_account(app, "city1", "310000", &["city-staff"], "staff").await;
    let hp = login(app, "hp1", PASSWORD).await;
    let xh = login(app, "xh1", PASSWORD).await;
    let city = login(app, "city1", PASSWORD).await;
    (hp, xh, city)
}

/// A complete 黄浦区 lawyer, typed the way people type (full-width digits, spaces, a ¥ sign).
pub(crate) fn lawyer() -> Value {
    json!({
        "name": " 王建国 ",
        "gender": "男",
        "id_number": "３１０１０１１９８００１０１００１８",
        "licence_number": "13101200910123456",
        "firm": "上海市黄浦区拥军律师事务所",
        "firm_credit_code": "91310000MA1FL4CT3U",
        "specialities": ["veteran-rights", "劳动争议"],
        "years": "15",
        "district": "310101",
        "phone": "138-1623-4567",
        "email": "wangjg@example.cn",
        "fee": "¥1,234.5",
        "volunteer": "是",
        "status": "active",
        "joined_on": "2021年3月1日",
        "remark": "擅长军人军属权益案件\n周三下午坐班"
    })
}

pub(crate) async fn create(app: &TestApp, session: &Session, body: Value) -> (StatusCode, Value) {
    create_in(app, session, "lawyer", body).await
}

async fn create_in(app: &TestApp, session: &Session, form: &str, body: Value) -> (StatusCode, Value) {
    let response = session.post(app, &format!("/api/forms/{form}/records"), body).send().await.expect("sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn get(app: &TestApp, session: &Session, path: &str) -> (StatusCode, Value) {
    let response = session.get(app, path).send().await.expect("sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The codes of a 422's `errors`, by field.
fn codes(body: &Value) -> Vec<(String, String)> {
    let mut codes: Vec<(String, String)> = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|error| {
            (error["field"].as_str().unwrap_or("").to_string(), error["code"].as_str().unwrap_or("").to_string())
        })
        .collect();
    codes.sort();
    codes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_field_type_is_read_into_its_stored_form_and_sensitive_values_are_masked() {
    each_backend(|app| async move {
        let (hp, _, city) = staff(&app).await;
        let (status, created) = create(&app, &hp, lawyer()).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().expect("id").to_string();
        assert_eq!(created["version"], 1);
        assert_eq!(created["district"], "310101");
        assert_eq!(created["title"], "王建国");

        // What is stored, read back by someone allowed to see it in full (and audited).
        let (status, full) = get(&app, &city, &format!("/api/forms/lawyer/records/{id}?unmask=1")).await;
        assert_eq!(status, StatusCode::OK, "{full}");
        let values = &full["values"];
        assert_eq!(values["name"], "王建国", "trimmed");
        assert_eq!(values["gender"], "male", "a label is stored as its code");
        assert_eq!(values["id_number"], "310101198001010018", "full-width digits made half-width");
        assert_eq!(values["specialities"], json!(["veteran-rights", "labour"]));
        assert_eq!(values["years"], 15, "an integer is a number");
        assert_eq!(values["phone"], "13816234567");
        assert_eq!(values["fee"], "1234.50", "money is exact text with two places");
        assert_eq!(values["volunteer"], true);
        assert_eq!(values["joined_on"], "2021-03-01");
        assert_eq!(values["remark"], "擅长军人军属权益案件\n周三下午坐班", "a textarea keeps its line break");
        assert!(values.get("left_on").is_none(), "a field hidden by visible_when is not stored");
        assert_eq!(full["display"]["specialities"], "退役军人权益保障、劳动争议");
        assert_eq!(full["display"]["district"], "黄浦区");
        let rows = app.executor.store().audit_rows(0, 10_000).await.expect("audit");
        assert!(
            rows.iter().any(|row| row.entry.action == "pii.unmask"
                && row.entry.result == "success"
                && row.entry.target.as_deref() == Some(&format!("lawyer/{id}"))),
            "unmasking is audited"
        );

        // Everyone else, and every list, sees sensitive values masked.
        let (_, masked) = get(&app, &hp, &format!("/api/forms/lawyer/records/{id}")).await;
        assert_eq!(masked["values"]["id_number"], "310***********0018");
        assert_eq!(masked["values"]["phone"], "138****4567");
        let (_, list) = get(&app, &city, "/api/forms/lawyer/records").await;
        assert_eq!(list["total"], 1);
        assert_eq!(list["items"][0]["values"]["phone"], "138****4567");

        // The description a client builds its form from.
        let (status, described) = get(&app, &hp, "/api/forms/lawyer").await;
        assert_eq!(status, StatusCode::OK);
        let fields = described["fields"].as_array().expect("fields");
        let field = |key: &str| fields.iter().find(|field| field["key"] == key).cloned().unwrap_or(Value::Null);
        assert_eq!(field("id_number")["type"], "id-card");
        assert_eq!(field("id_number")["sensitive"], true);
        assert_eq!(field("specialities")["options"][0], json!({ "code": "marriage", "label": "婚姻家事" }));
        assert_eq!(field("left_on")["visibleWhen"], "status == \"left\"");
        let (_, forms) = get(&app, &hp, "/api/forms").await;
        assert!(
            forms
                .as_array()
                .expect("forms")
                .iter()
                .any(|form| form["key"] == "lawyer" && form["may"]["create"] == true)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_validation_failure_is_named_at_its_field_with_a_stable_code() {
    each_backend(|app| async move {
        let (hp, _, _) = staff(&app).await;
        let bad = json!({
            "gender": "unknown",
            "id_number": "310101198001010019",
            "licence_number": "1310",
            "firm": "律所",
            "firm_credit_code": "91310000MA1FL4CT3X",
            "specialities": ["marriage", "space-law"],
            "years": 99,
            "district": "310101",
            "phone": "12345",
            "email": "not-an-email",
            "fee": "12.345",
            "status": "left",
            "joined_on": "2021-02-30",
            "nickname": "x"
        });
        let (status, body) = create(&app, &hp, bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["code"], "validation-failed");
        let expected: Vec<(String, String)> = [
            ("email", "not-email"),
            ("fee", "too-many-decimals"),
            ("firm_credit_code", "id-check"),
            ("gender", "not-option"),
            ("id_number", "id-check"),
            ("joined_on", "not-date"),
            ("left_on", "required"),
            ("licence_number", "pattern"),
            ("name", "required"),
            ("nickname", "unknown-field"),
            ("phone", "not-phone"),
            ("specialities", "not-option"),
            ("years", "too-large"),
        ]
        .iter()
        .map(|(field, code)| (field.to_string(), code.to_string()))
        .collect();
        assert_eq!(codes(&body), expected, "{body}");
        assert!(
            body["errors"]
                .as_array()
                .expect("errors")
                .iter()
                .all(|error| error["message"].as_str().is_some_and(|m| !m.is_empty()))
        );

        // A cross-field rule, once every field it names is filled.
        let mut early = lawyer();
        early["status"] = json!("left");
        early["left_on"] = json!("2020-01-01");
        let (status, body) = create(&app, &hp, early).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(codes(&body), [("left_on".to_string(), "left-before-joined".to_string())]);

        // Nothing was stored by any refusal.
        let (_, list) = get(&app, &hp, "/api/forms/lawyer/records").await;
        assert_eq!(list["total"], 0);

        // Unique values: two saves of the same licence number at the same moment, exactly one
        // wins; the loser is told which field.
        let (first, second) = tokio::join!(create(&app, &hp, lawyer()), create(&app, &hp, lawyer()));
        let mut statuses = [first.0, second.0];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::CREATED, StatusCode::UNPROCESSABLE_ENTITY], "{first:?} {second:?}");
        let loser = if first.0 == StatusCode::CREATED { second.1 } else { first.1 };
        let duplicate = codes(&loser);
        assert!(duplicate.iter().all(|(_, code)| code == "duplicate") && !duplicate.is_empty(), "{loser}");
        let (_, list) = get(&app, &hp, "/api/forms/lawyer/records").await;
        assert_eq!(list["total"], 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_district_never_sees_exports_or_overwrites_another_districts_records() {
    each_backend(|app| async move {
        let (hp, xh, city) = staff(&app).await;
        let (_, created) = create(&app, &hp, lawyer()).await;
        let id = created["id"].as_str().expect("id").to_string();
        let path = format!("/api/forms/lawyer/records/{id}");

        // 徐汇区: not in the list, whatever the filter; not by id; not writable, not deletable.
        for query in ["", "?f.district=310101", "?q=王建国", &format!("?ids={id}")] {
            let (status, list) = get(&app, &xh, &format!("/api/forms/lawyer/records{query}")).await;
            assert_eq!(status, StatusCode::OK, "{list}");
            assert_eq!(list["total"], 0, "{query}: {list}");
        }
        assert_eq!(get(&app, &xh, &path).await.0, StatusCode::NOT_FOUND);
        let put = xh
            .send(&app, reqwest::Method::PUT, &path, json!({ "version": 1, "values": { "firm": "改了" } }))
            .send()
            .await
            .expect("sent");
        assert_eq!(put.status(), StatusCode::NOT_FOUND);
        let delete =
            xh.send(&app, reqwest::Method::DELETE, &format!("{path}?version=1"), json!({})).send().await.expect("sent");
        assert_eq!(delete.status(), StatusCode::NOT_FOUND);
        let export = xh.get(&app, "/api/forms/lawyer/export").send().await.expect("sent");
        assert_eq!(export.status(), StatusCode::OK);
        let csv = export.text().await.expect("csv");
        assert!(!csv.contains("王建国") && csv.lines().count() == 1, "{csv}");
        // …and cannot file a record under 黄浦区, nor move its own there.
        let (status, body) = create(&app, &xh, lawyer()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(codes(&body), [("district".to_string(), "district-out-of-scope".to_string())]);

        // The city sees it, exports it with labels (and in full: city staff may unmask), and the
        // export is audited with its filter and row count.
        let export = city.get(&app, "/api/forms/lawyer/export?f.specialities=labour").send().await.expect("sent");
        assert_eq!(export.status(), StatusCode::OK);
        assert!(export.headers()["content-type"].to_str().unwrap_or("").starts_with("text/csv"));
        let bytes = export.bytes().await.expect("csv");
        assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "a UTF-8 BOM for Excel");
        let csv = String::from_utf8_lossy(&bytes[3..]).to_string();
        let mut lines = csv.lines();
        assert!(lines.next().is_some_and(|head| head.starts_with("姓名,性别,身份证号")), "{csv}");
        let row = lines.next().expect("the record");
        assert!(
            row.contains("王建国")
                && row.contains("退役军人权益保障、劳动争议")
                && row.contains("黄浦区")
                && row.contains("13816234567"),
            "{row}"
        );
        let mut audited = None;
        for _ in 0..50 {
            let rows = app.executor.store().audit_rows(0, 10_000).await.expect("audit");
            audited = rows
                .into_iter()
                .find(|row| row.entry.action == "form.export" && row.entry.user_id.as_deref() == Some("city1"));
            if audited.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let detail: Value =
            serde_json::from_str(&audited.expect("the export is audited").entry.detail.expect("detail")).expect("json");
        assert_eq!(detail["rows"], 1);
        assert_eq!(detail["filter"], "f.specialities=labour");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_edit_is_refused_and_the_history_names_every_change() {
    each_backend(|app| async move {
        let (hp, _, _) = staff(&app).await;
        let (_, created) = create(&app, &hp, lawyer()).await;
        let id = created["id"].as_str().expect("id").to_string();
        let path = format!("/api/forms/lawyer/records/{id}");
        let put = |version: i64, values: Value| {
            hp.send(&app, reqwest::Method::PUT, &path, json!({ "version": version, "values": values })).send()
        };
        let first = put(1, json!({ "firm": "上海新律所", "years": 16 })).await.expect("sent");
        assert_eq!(first.status(), StatusCode::OK);
        let first: Value = first.json().await.expect("json");
        assert_eq!(first["version"], 2);
        assert_eq!(first["values"]["phone"], "138****4567", "fields left out keep their values");
        // The same edit from a page drawn at version 1: refused, nothing changed.
        let stale = put(1, json!({ "firm": "旧页面的修改" })).await.expect("sent");
        assert_eq!(stale.status(), StatusCode::CONFLICT);
        let stale: Value = stale.json().await.expect("json");
        assert_eq!(stale["code"], "stale-version");
        let (_, now) = get(&app, &hp, &path).await;
        assert_eq!(now["values"]["firm"], "上海新律所");

        let (_, history) = get(&app, &hp, &format!("{path}/history")).await;
        let history = history.as_array().expect("history");
        assert_eq!(history.len(), 2);
        assert_eq!(history[0]["action"], "create");
        assert_eq!(history[1]["action"], "update");
        assert_eq!(history[1]["actor"], "hp1");
        let changes = &history[1]["changes"];
        assert_eq!(
            changes,
            &json!([
                { "field": "firm", "old": "上海市黄浦区拥军律师事务所", "new": "上海新律所" },
                { "field": "years", "old": 15, "new": 16 },
            ])
        );

        // Delete is soft and restorable; it releases the unique values meanwhile.
        let delete =
            hp.send(&app, reqwest::Method::DELETE, &format!("{path}?version=1"), json!({})).send().await.expect("sent");
        assert_eq!(delete.status(), StatusCode::CONFLICT, "a delete names the version it saw");
        let delete =
            hp.send(&app, reqwest::Method::DELETE, &format!("{path}?version=2"), json!({})).send().await.expect("sent");
        assert_eq!(delete.status(), StatusCode::NO_CONTENT);
        let (_, list) = get(&app, &hp, "/api/forms/lawyer/records").await;
        assert_eq!(list["total"], 0);
        let (_, bin) = get(&app, &hp, "/api/forms/lawyer/records?deleted=1").await;
        assert_eq!(bin["total"], 1);
        let (status, _) = create(&app, &hp, lawyer()).await;
        assert_eq!(status, StatusCode::CREATED, "the deleted record's licence number is free again");
        let restore = hp.post(&app, &format!("{path}/restore"), json!({})).send().await.expect("sent");
        assert_eq!(restore.status(), StatusCode::UNPROCESSABLE_ENTITY, "…so restoring it would duplicate it");
        let body: Value = restore.json().await.expect("json");
        assert!(codes(&body).iter().any(|(_, code)| code == "duplicate"), "{body}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lists_filter_sort_and_page_on_the_server() {
    each_backend(|app| async move {
        let (_, _, city) = staff(&app).await;
        let people = [
            ("甲", "13101200910000001", "310101", 3, &["marriage"][..], "active"),
            ("乙", "13101200910000002", "310104", 12, &["labour", "contract"][..], "active"),
            ("丙", "13101200910000003", "310105", 25, &["labour"][..], "paused"),
            ("丁", "13101200910000004", "310101", 8, &["criminal"][..], "active"),
        ];
        for (name, licence, district, years, specialities, status) in people {
            let mut body = lawyer();
            body["name"] = json!(name);
            body["licence_number"] = json!(licence);
            body["district"] = json!(district);
            body["years"] = json!(years);
            body["specialities"] = json!(specialities);
            body["status"] = json!(status);
            body.as_object_mut().expect("object").remove("id_number");
            // One line per record in the CSV below (a remark with a line break is quoted across two).
            body.as_object_mut().expect("object").remove("remark");
            let (status, created) = create(&app, &city, body).await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
        }
        let names = |list: &Value| -> Vec<String> {
            list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|item| item["values"]["name"].as_str().unwrap_or("").to_string())
                .collect()
        };
        let (_, list) = get(&app, &city, "/api/forms/lawyer/records?sort=years").await;
        assert_eq!(names(&list), ["甲", "丁", "乙", "丙"], "numbers sort as numbers (3 < 8 < 12 < 25)");
        let (_, list) =
            get(&app, &city, "/api/forms/lawyer/records?sort=-years&f.specialities=labour&f.specialities=criminal")
                .await;
        assert_eq!(names(&list), ["丙", "乙", "丁"]);
        let (_, list) =
            get(&app, &city, "/api/forms/lawyer/records?f.district=310101&f.district=310105&sort=name").await;
        assert_eq!(list["total"], 3);
        let (_, list) = get(&app, &city, "/api/forms/lawyer/records?f.years.from=8&f.years.to=12&sort=years").await;
        assert_eq!(names(&list), ["丁", "乙"]);
        let (_, list) = get(&app, &city, "/api/forms/lawyer/records?f.status=paused").await;
        assert_eq!(names(&list), ["丙"]);
        let (_, list) = get(&app, &city, "/api/forms/lawyer/records?sort=years&page=2&pageSize=3").await;
        assert_eq!((names(&list), list["total"].clone()), (vec!["丙".to_string()], json!(4)));
        let (status, body) = get(&app, &city, "/api/forms/lawyer/records?f.years.from=many&sort=remark").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            codes(&body),
            [("remark".to_string(), "bad-sort".to_string()), ("years".to_string(), "bad-filter".to_string())]
        );
        // The export follows the same filter and sort, every page.
        let export = city.get(&app, "/api/forms/lawyer/export?sort=-years&f.status=active").send().await.expect("sent");
        let csv = export.text().await.expect("csv");
        let firsts: Vec<&str> = csv.lines().skip(1).map(|line| line.split(',').next().unwrap_or("")).collect();
        assert_eq!(firsts, ["乙", "丁", "甲"]);
    })
    .await;
}

/// A console form post as `session`.
pub(crate) async fn submit(app: &TestApp, session: &Session, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = fields.to_vec();
    form.push(("csrf_token", &session.csrf));
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(format!("{}{path}", app.base))
        .header("cookie", &session.cookie)
        .header("accept", "text/html")
        .form(&form)
        .send()
        .await
        .expect("posted")
}

pub(crate) async fn page(app: &TestApp, session: &Session, path: &str) -> (StatusCode, String) {
    let response = session.get(app, path).header("accept", "text/html").send().await.expect("sent");
    (response.status(), response.text().await.expect("html"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_generated_screens_create_edit_and_refuse_like_the_api() {
    each_backend(|app| async move {
        let (hp, xh, _) = staff(&app).await;
        // Navigation and the empty list.
        let (status, list) = page(&app, &hp, "/admin/forms/lawyer").await;
        assert_eq!(status, StatusCode::OK);
        assert!(list.contains("href=\"/admin/forms/lawyer\"") && list.contains("没有符合条件的记录"), "{list}");

        // A form with problems: 422, each problem at its field, what was typed kept.
        let bad = submit(
            &app,
            &hp,
            "/admin/forms/lawyer",
            &[("v.name", "张三<b>"), ("v.phone", "12345"), ("v.district", "310101")],
        )
        .await;
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = bad.text().await.expect("html");
        assert!(html.contains("请填写 11 位手机号码") || html.contains("请填写手机号码或固定电话"), "{html}");
        assert!(html.contains("请填写执业证号"), "{html}");
        assert!(html.contains("value=\"张三&lt;b&gt;\""), "typed values are kept, escaped");

        let fields = [
            ("v.name", "李晓梅"),
            ("v.licence_number", "13101201410234567"),
            ("v.firm", "上海申江律师事务所"),
            ("v.specialities", "marriage"),
            ("v.specialities", "housing"),
            ("v.district", "310101"),
            ("v.phone", "021-63211234"),
            ("v.status", "active"),
            ("v.volunteer", "true"),
        ];
        let created = submit(&app, &hp, "/admin/forms/lawyer", &fields).await;
        assert_eq!(created.status(), StatusCode::SEE_OTHER);
        let location = created.headers()["location"].to_str().expect("location").to_string();
        assert!(location.starts_with("/admin/forms/lawyer/"), "{location}");
        let id = location.trim_start_matches("/admin/forms/lawyer/").split('?').next().unwrap_or("").to_string();
        let (status, detail) = page(&app, &hp, &location).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            detail.contains("婚姻家事、房产物业") && detail.contains("021****1234") && detail.contains("已脱敏"),
            "{detail}"
        );

        // Unticking every speciality clears the field (required: refused); a stale page is 409.
        let mut edited: Vec<(&str, &str)> =
            fields.iter().filter(|(name, _)| *name != "v.specialities").cloned().collect();
        edited.push(("version", "1"));
        let refused = submit(&app, &hp, &format!("/admin/forms/lawyer/{id}"), &edited).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let mut edited: Vec<(&str, &str)> = fields.to_vec();
        edited.retain(|(name, _)| *name != "v.firm" && *name != "v.phone");
        edited.extend([("v.firm", "上海申江律师事务所（浦西）"), ("v.phone", "021****1234"), ("version", "1")]);
        let saved = submit(&app, &hp, &format!("/admin/forms/lawyer/{id}"), &edited).await;
        assert_eq!(saved.status(), StatusCode::SEE_OTHER);
        let (_, detail) = page(&app, &hp, &format!("/admin/forms/lawyer/{id}")).await;
        assert!(detail.contains("上海申江律师事务所（浦西）"), "{detail}");
        assert!(
            !detail.contains("<ins>021****1234</ins>"),
            "the masked phone sent back unchanged kept the stored number"
        );
        let stale = submit(&app, &hp, &format!("/admin/forms/lawyer/{id}"), &edited).await;
        assert_eq!(stale.status(), StatusCode::CONFLICT);
        assert!(stale.text().await.expect("html").contains("已被他人修改"));

        // 徐汇区 gets the 404 page for it, and its list is empty.
        let (status, _) = page(&app, &xh, &format!("/admin/forms/lawyer/{id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, list) = page(&app, &xh, "/admin/forms/lawyer").await;
        assert!(!list.contains("李晓梅"));

        // Delete from the detail page (with its version), then restore from the recycle bin.
        let deleted = submit(&app, &hp, &format!("/admin/forms/lawyer/{id}/delete"), &[("version", "2")]).await;
        assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
        let (_, bin) = page(&app, &hp, "/admin/forms/lawyer?deleted=1").await;
        assert!(bin.contains("李晓梅") && bin.contains("恢复"), "{bin}");
        let restored = submit(&app, &hp, &format!("/admin/forms/lawyer/{id}/restore"), &[]).await;
        assert_eq!(restored.status(), StatusCode::SEE_OTHER);
        let (_, detail) = page(&app, &hp, &format!("/admin/forms/lawyer/{id}")).await;
        assert!(
            detail.contains("恢复") && detail.contains("删除") && detail.contains("修改"),
            "the history lists every step"
        );

        // A reader without the forms menu gets the 403 page; without the form's permission, 404.
        add_account(&app, "op1", "310101", &["operator"], "staff").await;
        let operator = login(&app, "op1", PASSWORD).await;
        let (status, _) = page(&app, &operator, "/admin/forms/lawyer").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, body) = get(&app, &operator, "/api/forms/lawyer/records").await;
        assert_eq!((status, body["code"].clone()), (StatusCode::NOT_FOUND, json!("form-not-found")));
    })
    .await;
}

/// A 黄浦区 liaison record linked to login account `account`.
fn liaison(account: &str) -> Value {
    json!({
        "name": "陈联络",
        "id_number": "310101198001010018",
        "mobile": "13916234567",
        "level": "street",
        "organisation": "南京东路街道",
        "district": "310101",
        "account": account,
    })
}

async fn act(app: &TestApp, session: &Session, id: &str, action: &str, version: i64) -> (StatusCode, Value) {
    let path = format!("/api/forms/liaison/records/{id}/actions/{action}");
    let response = session.post(app, &path, json!({ "version": version })).send().await.expect("sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// SVC-12: 冻结 / 解冻 / 注销 on a liaison record change the linked account's status (its login
/// stops and comes back), need the action's own permission, the version read, a state in which
/// the action applies, and the record's district; the read-only 账号状态 starts at its default and
/// cannot be set by an edit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn record_actions_freeze_and_cancel_the_linked_account_and_read_only_fields_refuse_edits() {
    each_backend(|app| async move {
        let (hp, xh, city) = staff(&app).await;
        add_account(&app, "chen", "310101", &["liaison"], "liaison").await;
        login(&app, "chen", PASSWORD).await;

        let mut forged = liaison("chen");
        forged["account_status"] = json!("frozen");
        let (status, body) = create_in(&app, &hp, "liaison", forged).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(codes(&body), vec![("account_status".to_string(), "read-only".to_string())]);
        let (status, created) = create_in(&app, &hp, "liaison", liaison("chen")).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["values"]["account_status"], "active", "the default");
        let id = created["id"].as_str().expect("id").to_string();
        let path = format!("/api/forms/liaison/records/{id}");
        let edit = hp
            .send(
                &app,
                reqwest::Method::PUT,
                &path,
                json!({ "version": 1, "values": { "account_status": "cancelled" } }),
            )
            .send()
            .await
            .expect("sent");
        assert_eq!(edit.status(), StatusCode::UNPROCESSABLE_ENTITY, "an edit cannot set a read-only field");

        // The action's own permission: city staff may edit liaisons but not freeze them.
        let (status, _) = act(&app, &city, &id, "freeze", 1).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = act(&app, &xh, &id, "freeze", 1).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "another district's record does not exist for it");
        let (status, body) = act(&app, &hp, &id, "unfreeze", 1).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(codes(&body), vec![("_form".to_string(), "action-not-allowed".to_string())]);
        let (status, _) = act(&app, &hp, &id, "no-such-action", 1).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(try_login(&app, "chen", PASSWORD, None).await.map(|_| ()).err(), None, "nothing happened yet");

        let (status, frozen) = act(&app, &hp, &id, "freeze", 1).await;
        assert_eq!(status, StatusCode::OK, "{frozen}");
        assert_eq!(
            (frozen["version"].as_i64(), frozen["values"]["account_status"].as_str()),
            (Some(2), Some("frozen"))
        );
        let (status, body) = try_login(&app, "chen", PASSWORD, None).await.err().expect("frozen");
        assert_eq!((status, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("account-frozen")));
        let (status, _) = act(&app, &hp, &id, "unfreeze", 1).await;
        assert_eq!(status, StatusCode::CONFLICT, "a page drawn before the freeze is stale");
        let (status, _) = act(&app, &hp, &id, "unfreeze", 2).await;
        assert_eq!(status, StatusCode::OK);
        login(&app, "chen", PASSWORD).await;
        let (status, _) = act(&app, &hp, &id, "cancel", 3).await;
        assert_eq!(status, StatusCode::OK);
        let (_, body) = try_login(&app, "chen", PASSWORD, None).await.err().expect("cancelled");
        assert_eq!(body["error"], "account-cancelled");
        let (status, _) = act(&app, &hp, &id, "cancel", 4).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "cancelling is final");

        let (_, history) = get(&app, &hp, &format!("{path}/history")).await;
        let actions: Vec<&str> =
            history.as_array().expect("history").iter().filter_map(|entry| entry["action"].as_str()).collect();
        assert_eq!(actions, vec!["create", "action:freeze", "action:unfreeze", "action:cancel"]);
        assert_eq!(history[1]["changes"], json!([{ "field": "account_status", "old": "active", "new": "frozen" }]));
        add_account(&app, "auditor1", "310000", &["auditor"], "staff").await;
        let auditor = login(&app, "auditor1", PASSWORD).await;
        let (_, audit) = get(&app, &auditor, "/api/audit?limit=1000").await;
        let freezes = audit
            .as_array()
            .into_iter()
            .flatten()
            .filter(|row| {
                (row["action"].as_str(), row["target"].as_str(), row["user"].as_str())
                    == (Some("user.freeze"), Some("chen"), Some("hp1"))
            })
            .count();
        assert_eq!(freezes, 1, "the freeze is in the audit log once: {audit}");

        // A record without a linked account only changes its own status.
        let mut unlinked = liaison("");
        unlinked["id_number"] = json!("310104199001010011");
        unlinked["mobile"] = json!("13916234568");
        unlinked["district"] = json!("310104");
        unlinked.as_object_mut().expect("object").remove("account");
        let (status, other) = create_in(&app, &xh, "liaison", unlinked).await;
        assert_eq!(status, StatusCode::CREATED, "{other}");
        let (status, body) = act(&app, &xh, other["id"].as_str().expect("id"), "freeze", 1).await;
        assert_eq!((status, body["values"]["account_status"].as_str()), (StatusCode::OK, Some("frozen")));
    })
    .await;
}

/// Every shipped form's demo records pass its own checks, so `serve` on a fresh database
/// starts with every admin screen filled; loading again adds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_records_of_every_shipped_form_load() {
    each_backend(|app| async move {
        web::demo::load_forms(&app.executor, crate::support::test_keys()).await.expect("the demo records are valid");
        web::demo::load_forms(&app.executor, crate::support::test_keys()).await.expect("loading again is a no-op");
        let (_, _, city) = staff(&app).await;
        let catalog = web::shipped_forms();
        let mut empty = Vec::new();
        // The forms whose demo records the demo flows make are checked with the demo start.
        for form in catalog.forms().filter(|form| !web::demo::FLOW_FORMS.contains(&form.key.as_str())) {
            let (status, list) = get(&app, &city, &format!("/api/forms/{}/records", form.key)).await;
            assert_eq!(status, StatusCode::OK, "{}: {list}", form.key);
            let demo: Value =
                serde_json::from_str(include_str!("../../definitions/demo/form-records.json")).expect("demo JSON");
            let expected = demo[&form.key].as_array().map_or(0, Vec::len);
            if expected == 0 {
                empty.push(form.key.clone());
            }
            assert_eq!(list["total"].as_u64(), Some(expected as u64), "{}", form.key);
        }
        assert!(empty.is_empty(), "forms without demo records: {empty:?}");
    })
    .await;
}

/// Sensitive values at rest (issue 13): sealed with SM4 in the record's document, absent from
/// its search text, found by their blind index for uniqueness and import matching, masked in
/// the history; values a database holds in clear from before are sealed at the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sensitive_values_are_sealed_at_rest_and_found_by_their_blind_index() {
    each_backend(|app| async move {
        let (hp, _, _) = staff(&app).await;
        let (status, created) = create(&app, &hp, lawyer()).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().expect("id").to_string();
        let store = app.executor.store().clone();
        let row = store.form_record("lawyer", &id, &store::DataScope::All).await.expect("read").expect("row");
        for clear in ["310101198001010018", "13816234567"] {
            assert!(!row.data.contains(clear) && !row.search.contains(clear), "{clear} is stored in clear: {row:?}");
        }
        assert!(row.data.contains("\"$sealed\""));
        assert!(row.data.contains("王建国"), "what is not sensitive stays readable");
        // The unique value is held as its blind index, not as the number.
        let clear = store.unique_owners("lawyer", "id_number", &["310101198001010018".into()]).await.expect("owners");
        assert!(clear.is_empty(), "{clear:?}");
        // The same number again is still a duplicate.
        let mut again = lawyer();
        again["licence_number"] = json!("13101200910123457");
        let (status, body) = create(&app, &hp, again).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(codes(&body).contains(&("id_number".into(), "duplicate".into())), "{body}");
        // A changed phone number is in the history, masked.
        let response = hp
            .send(&app, reqwest::Method::PUT, &format!("/api/forms/lawyer/records/{id}"), json!({ "version": 1, "values": { "phone": "13900001111" } }))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::OK);
        let (_, history) = get(&app, &hp, &format!("/api/forms/lawyer/records/{id}/history")).await;
        let text = history.to_string();
        assert!(text.contains("139****1111") && !text.contains("13900001111") && !text.contains("13816234567"), "{text}");

        // A record written in clear by an earlier version: sealed by the start-up pass, and
        // its unique value moved to the index.
        let catalog = forms::Catalog::embedded().expect("catalog");
        let form = catalog.form("lawyer").expect("form");
        let old_id = store::new_id();
        let data = json!({ "name": "旧记录", "id_number": "310104199001010013", "licence_number": "13101200910000001", "firm": "旧律所", "specialities": ["labour"], "district": "310104", "phone": "13700000000", "status": "active" });
        let mut keys = vec![String::new(); store::forms::KEY_COLUMNS];
        keys[0] = "旧记录".into();
        let old = store::forms::FormRecord {
            id: old_id.clone(),
            form: "lawyer".into(),
            version: 1,
            district: Some("310104".into()),
            unit_id: None,
            created_by: "admin".into(),
            created_at: store::now_millis(),
            updated_by: "admin".into(),
            updated_at: store::now_millis(),
            deleted_at: None,
            deleted_by: None,
            title: "旧记录".into(),
            search: "旧记录 13700000000".into(),
            data: data.to_string(),
            keys,
        };
        let change = store::forms::RecordChange {
            id: store::new_id(),
            record_id: old_id.clone(),
            form: "lawyer".into(),
            at: store::now_millis(),
            actor: "admin".into(),
            action: "create".into(),
            changes: json!([{ "field": "phone", "old": null, "new": "13700000000" }]).to_string(),
            task_id: None,
            files: Vec::new(),
        };
        store.insert_form_record(&old, &[], &change).await.expect("inserted in clear, with its history");
        store.reindex_form_records("lawyer", &[], Some("an earlier layout")).await.expect("old layout");
        forms::records::reindex(store.as_ref(), crate::support::test_keys(), &catalog).await.expect("reindexed");
        let row = store.form_record("lawyer", &old_id, &store::DataScope::All).await.expect("read").expect("row");
        assert!(!row.data.contains("310104199001010013") && !row.search.contains("13700000000"), "{row:?}");
        let history = store.form_record_changes(&old_id).await.expect("history");
        assert!(history.iter().all(|change| !change.changes.contains("13700000000")), "{history:?}");
        assert!(history.iter().any(|change| change.changes.contains("137****0000")), "{history:?}");
        let actor = forms::records::Actor { user: "admin".into(), unit: None, scope: store::DataScope::All };
        let record = forms::records::get(store.as_ref(), crate::support::test_keys(), form, &actor, &old_id).await.expect("opens");
        assert_eq!(record.values["id_number"], "310104199001010013");
        let mut same = lawyer();
        same["id_number"] = json!("310104199001010013");
        same["licence_number"] = json!("13101200910123458");
        let (status, body) = create(&app, &hp, same).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the sealed record's number is still taken: {body}");
    })
    .await;
}

/// A reference field (PREF-05 优待服务 → its 入驻单位, PREF-04): chosen by id on the screens and
/// the API, by title in an import; only a live record the caller can see is accepted (a
/// 黄浦区 user cannot point at a 徐汇区 institution, even by its id); lists and exports show
/// the title.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reference_names_a_record_the_caller_can_see() {
    each_backend(|app| async move {
        let (hp, xh, _) = staff(&app).await;
        let institution = |name: &str, code: &str, district: &str| {
            json!({ "name": name, "credit_code": code, "industry": "catering", "district": district,
                    "contact": "何经理", "contact_phone": "13811110000", "address": "上海市福州路100号" })
        };
        let (status, hp_inst) = create_in(&app, &hp, "provider-institution", institution("黄浦拥军餐厅", "91310000MA1FL4CT3U", "310101")).await;
        assert_eq!(status, StatusCode::CREATED, "{hp_inst}");
        let (status, xh_inst) = create_in(&app, &xh, "provider-institution", institution("徐汇拥军餐厅", "91310104MA1FL5XX6Y", "310104")).await;
        assert_eq!(status, StatusCode::CREATED, "{xh_inst}");
        let service = |institution: Value| {
            json!({ "name": "持证就餐八折", "provider": "黄浦拥军餐厅", "institution": institution, "mode": "offline",
                    "category": "catering", "holders": ["veteran"], "discount": "凭优待证享受 8 折", "district": "310101",
                    "address": "黄浦区福州路100号", "valid_until": "2027-12-31" })
        };
        let (status, created) = create_in(&app, &hp, "preferential-service", service(hp_inst["id"].clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["values"]["institution"], json!({ "id": hp_inst["id"], "title": "黄浦拥军餐厅" }));
        assert_eq!(created["display"]["institution"], "黄浦拥军餐厅");
        // By title, as an import names it.
        let (status, by_title) = create_in(&app, &hp, "preferential-service", service(json!("黄浦拥军餐厅"))).await;
        assert_eq!(status, StatusCode::CREATED, "{by_title}");
        assert_eq!(by_title["values"]["institution"]["id"], hp_inst["id"]);
        // Another district's record, by id or by title: not found.
        for named in [xh_inst["id"].clone(), json!("徐汇拥军餐厅"), json!("no-such-record")] {
            let (status, refused) = create_in(&app, &hp, "preferential-service", service(named.clone())).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{named}: {refused}");
            assert!(codes(&refused).contains(&("institution".into(), "not-reference".into())), "{refused}");
        }
        // The edit page shows the chosen one; its picker suggests the caller's records only,
        // by part of the name.
        let id = created["id"].as_str().expect("id");
        let page = hp.get(&app, &format!("/admin/forms/preferential-service/{id}/edit")).send().await.expect("sent").text().await.expect("page");
        assert!(page.contains("value=\"黄浦拥军餐厅\"") && page.contains("data-ref-picker"), "the picker shows the chosen title");
        let suggest = |session: &Session, q: &str| {
            let request = session.get(&app, &format!("/admin/forms/preferential-service/choices/institution?q={q}"));
            async move { request.send().await.expect("sent").text().await.expect("fragment") }
        };
        let offered = suggest(&hp, "%E6%8B%A5%E5%86%9B").await; // 拥军
        assert!(offered.contains(&format!("data-ref-pick=\"{}\"", hp_inst["id"].as_str().expect("id"))), "{offered}");
        assert!(!offered.contains("徐汇拥军餐厅"), "another district's institution is not offered: {offered}");
        let offered = suggest(&xh, "%E6%8B%A5%E5%86%9B").await;
        assert!(offered.contains("徐汇拥军餐厅") && !offered.contains("黄浦拥军餐厅"), "{offered}");
        assert!(suggest(&hp, "%E6%B2%A1%E6%9C%89").await.contains("没有找到"), "nothing matches 没有");
        // A field that is no reference, or a form the caller may not read, suggests nothing.
        let response = hp.get(&app, "/admin/forms/preferential-service/choices/name?q=a").send().await.expect("sent");
        assert!(!response.text().await.expect("fragment").contains("data-ref-pick"));
        // The export shows the title.
        let csv = hp.get(&app, "/api/forms/preferential-service/export?format=csv").send().await.expect("sent").text().await.expect("csv");
        assert!(csv.contains("黄浦拥军餐厅"), "{csv}");
    })
    .await;
}

/// A date range on the generated screens (SVC-08 咨询室's 暂停开放期间): its two dates posted
/// as parts, a reversed range refused at the field with what was typed kept, the stored range
/// shown as one text.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_date_range_is_entered_as_two_dates_and_checked_on_the_server() {
    each_backend(|app| async move {
        let (hp, _, _) = staff(&app).await;
        let room = |from: &'static str, to: &'static str| {
            [
                ("v.name", "黄浦区心理咨询室（三）"),
                ("v.kind", "psychological"),
                ("v.district", "310101"),
                ("v.location", "黄浦区退役军人服务中心 3 楼 302"),
                ("v.status", "open"),
                ("v.closure.from", from),
                ("v.closure.to", to),
            ]
        };
        let form = page(&app, &hp, "/admin/forms/consultation-room/new").await.1;
        assert!(form.contains("name=\"v.closure.from\"") && form.contains("name=\"v.closure.to\""), "two date inputs");
        let refused = submit(&app, &hp, "/admin/forms/consultation-room", &room("2026-12-31", "2026-12-01")).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = refused.text().await.expect("html");
        assert!(html.contains("结束日期不能早于开始日期") && html.contains("value=\"2026-12-31\""), "{html}");
        let created = submit(&app, &hp, "/admin/forms/consultation-room", &room("2026-12-01", "2026-12-31")).await;
        assert_eq!(created.status(), StatusCode::SEE_OTHER);
        let location = created.headers()["location"].to_str().expect("location").to_string();
        let id =
            location.trim_start_matches("/admin/forms/consultation-room/").split('?').next().unwrap_or("").to_string();
        let (_, record) = get(&app, &hp, &format!("/api/forms/consultation-room/records/{id}")).await;
        assert_eq!(record["values"]["closure"], json!({ "from": "2026-12-01", "to": "2026-12-31" }));
        assert_eq!(record["display"]["closure"], "2026-12-01 至 2026-12-31");
        // Left empty, it is no value.
        let created = submit(&app, &hp, "/admin/forms/consultation-room", &room("", "")).await;
        assert_eq!(created.status(), StatusCode::SEE_OTHER);
        let location = created.headers()["location"].to_str().expect("location").to_string();
        let id =
            location.trim_start_matches("/admin/forms/consultation-room/").split('?').next().unwrap_or("").to_string();
        let (_, record) = get(&app, &hp, &format!("/api/forms/consultation-room/records/{id}")).await;
        assert!(record["values"].get("closure").is_none(), "{record}");
    })
    .await;
}

/// User and unit fields (SVC-02 服务资源's 经办人 and 经办单位): an account or unit of the
/// caller's data scope, by id or by name; another district's account or unit is refused at
/// the field; the city may name any.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn user_and_unit_fields_name_people_and_units_the_caller_can_see() {
    each_backend(|app| async move {
        let (hp, _, city) = staff(&app).await;
        let resource = |handler: &str, unit: &str| {
            json!({ "name": "拥军观影专场", "category": "culture", "provider": "上海大光明电影院", "district": "310101",
                    "handler": handler, "handling_unit": unit })
        };
        let (status, created) = create_in(&app, &hp, "service-resource", resource("hp1", "黄浦区")).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["values"]["handler"]["id"], "hp1");
        assert_eq!(created["values"]["handling_unit"], json!({ "id": "310101", "title": "黄浦区" }));
        assert_eq!(created["display"]["handling_unit"], "黄浦区");
        let (status, refused) = create_in(&app, &hp, "service-resource", resource("xh1", "徐汇区")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        let found = codes(&refused);
        assert!(found.contains(&("handler".into(), "not-user".into())), "{refused}");
        assert!(found.contains(&("handling_unit".into(), "not-unit".into())), "{refused}");
        let (status, created) = create_in(&app, &city, "service-resource", resource("xh1", "徐汇区")).await;
        assert_eq!(status, StatusCode::CREATED, "the city names any: {created}");
        // The account picker suggests the district's own people only, by part of a name or id.
        let page =
            hp.get(&app, "/admin/forms/service-resource/new").send().await.expect("sent").text().await.expect("page");
        assert!(page.contains("/admin/forms/service-resource/choices/handler"), "a picker, not a list of everyone");
        let suggest = |q: &str| {
            let request = hp.get(&app, &format!("/admin/forms/service-resource/choices/handler?q={q}"));
            async move { request.send().await.expect("sent").text().await.expect("fragment") }
        };
        let offered = suggest("1").await;
        assert!(offered.contains("data-ref-pick=\"hp1\""), "{offered}");
        assert!(!offered.contains("xh1"), "only 黄浦区's accounts are offered: {offered}");
        assert!(suggest("xh").await.contains("没有找到"), "another district's account is not found by its id");
    })
    .await;
}

/// Saved views and the column chooser (issue 13): a view keeps the list's filters, sort and
/// columns on the server; a personal view is its owner's, a shared one everyone's who reads the
/// form — and a shared view opened by another district still shows only that district's
/// records; the chosen columns are what the list and the export show.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn saved_views_and_chosen_columns_follow_the_reader() {
    each_backend(|app| async move {
        let (hp, xh, city) = staff(&app).await;
        for (session, name, licence, district) in
            [(&hp, "甲", "13101200910000001", "310101"), (&xh, "乙", "13101200910000002", "310104")]
        {
            let mut body = lawyer();
            body["name"] = json!(name);
            body["licence_number"] = json!(licence);
            body["district"] = json!(district);
            body.as_object_mut().expect("object").remove("id_number");
            let (status, created) = create(&app, session, body).await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
        }
        let query = "f.status=active&sort=-years&cols=name&cols=firm&cols=years";
        let (status, shared) = post_json(
            &app,
            &city,
            "/api/forms/lawyer/views",
            json!({ "name": "在册律师", "query": query, "shared": true }),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{shared}");
        let (status, mine) =
            post_json(&app, &hp, "/api/forms/lawyer/views", json!({ "name": "我的", "query": "q=甲&page=3" })).await;
        assert_eq!(status, StatusCode::CREATED, "{mine}");
        assert_eq!(mine["query"], "q=%E7%94%B2", "the page is not part of a view");
        // Refusals at their field.
        let (status, bad) = post_json(&app, &hp, "/api/forms/lawyer/views", json!({ "name": "", "query": "" })).await;
        assert_eq!((status, codes(&bad)), (StatusCode::UNPROCESSABLE_ENTITY, vec![("name".into(), "bad-name".into())]));
        let (status, bad) =
            post_json(&app, &hp, "/api/forms/lawyer/views", json!({ "name": "坏", "query": "sort=phone" })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let (status, _) = post_json(&app, &hp, "/api/forms/lawyer/views", json!({ "name": "我的", "query": "" })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a second view of the same name");

        // Who sees what: the owner their own and the shared; 徐汇区 only the shared one.
        let (_, hp_views) = get(&app, &hp, "/api/forms/lawyer/views").await;
        let names = |views: &Value| -> Vec<String> {
            views
                .as_array()
                .expect("views")
                .iter()
                .map(|view| view["name"].as_str().unwrap_or("").to_string())
                .collect()
        };
        assert_eq!(names(&hp_views), ["在册律师", "我的"]);
        let (_, xh_views) = get(&app, &xh, "/api/forms/lawyer/views").await;
        assert_eq!(names(&xh_views), ["在册律师"]);
        // Another's view cannot be deleted.
        let mine_id = mine["id"].as_str().expect("id");
        let response = xh
            .send(&app, reqwest::Method::DELETE, &format!("/api/forms/lawyer/views/{mine_id}"), json!({}))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);

        // The shared view opened by 徐汇区: its own records only, in the chosen columns.
        let list = page(
            &app,
            &xh,
            &format!(
                "/admin/forms/lawyer?{}&view={}",
                shared["query"].as_str().expect("query"),
                shared["id"].as_str().expect("id")
            ),
        )
        .await
        .1;
        assert!(list.contains(">乙<") && !list.contains(">甲<"), "the reader's scope applies to a shared view");
        assert!(list.contains("所在律师事务所") && !list.contains(">联系电话<"), "the chosen columns");
        assert!(list.contains("class=\"view-chip current\""), "the view is marked");
        // The export of the same screen: the same columns.
        let csv = city
            .get(&app, &format!("/api/forms/lawyer/export?{query}"))
            .send()
            .await
            .expect("sent")
            .text()
            .await
            .expect("csv");
        let header = csv.lines().next().unwrap_or_default().trim_start_matches('\u{feff}').to_string();
        assert_eq!(header, "姓名,所在律师事务所,执业年限,创建时间,更新时间");

        // Deleting one's own.
        let response = hp
            .send(&app, reqwest::Method::DELETE, &format!("/api/forms/lawyer/views/{mine_id}"), json!({}))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let (_, hp_views) = get(&app, &hp, "/api/forms/lawyer/views").await;
        assert_eq!(names(&hp_views), ["在册律师"]);
        // Sharing needs the right to edit the form's records (a 区级负责人 reads them only).
        add_account(&app, "leader1", "310101", &["district-leader"], "staff").await;
        let leader = login(&app, "leader1", PASSWORD).await;
        let (status, refused) = post_json(
            &app,
            &leader,
            "/api/forms/lawyer/views",
            json!({ "name": "领导视图", "query": "", "shared": true }),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
        let (status, _) =
            post_json(&app, &leader, "/api/forms/lawyer/views", json!({ "name": "领导视图", "query": "" })).await;
        assert_eq!(status, StatusCode::CREATED, "a personal view is anyone's who reads the form");
    })
    .await;
}

async fn post_json(app: &TestApp, session: &Session, path: &str, body: Value) -> (StatusCode, Value) {
    let response = session.post(app, path, body).send().await.expect("sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Review fixes around sealing and references: an import job prepared before sealing (its
/// rows hold a sensitive value in clear) is failed at start instead of being committed; an
/// edit keeps a reference whose record was deleted since; a reference with an empty id is
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn old_import_jobs_fail_and_references_survive_their_target() {
    each_backend(|app| async move {
        let (hp, _, _) = staff(&app).await;
        let store = app.executor.store().clone();
        let catalog = forms::Catalog::embedded().expect("catalog");
        let job = |id: &str| store::forms::FormImport {
            id: id.into(),
            form: "lawyer".into(),
            created_by: "hp1".into(),
            created_at: store::now_millis(),
            updated_at: store::now_millis(),
            status: "ready".into(),
            file_name: "old.csv".into(),
            headers: "[]".into(),
            total: 1,
            processed: 1,
            counts: "{}".into(),
            error: None,
            committed_rows: None,
        };
        let prepared = |data: Value| {
            json!({ "version": 1, "district": "310101", "unit_id": null, "created_by": "hp1", "created_at": 0, "title": "旧",
                    "search": "旧", "data": data.to_string(), "keys": vec![""; 8], "unique": [], "changes": "[]" })
            .to_string()
        };
        let row = |job: &str, data: Value| store::forms::ImportRow {
            import_id: job.into(),
            row_no: 2,
            outcome: "new".into(),
            record_id: Some(store::new_id()),
            expected_version: None,
            raw: "[]".into(),
            errors: "[]".into(),
            prepared: Some(prepared(data)),
        };
        store.insert_form_import(&job("clear-job")).await.expect("job");
        store.insert_form_import_rows(&[row("clear-job", json!({ "name": "旧", "phone": "13700000000" }))]).await.expect("rows");
        store.insert_form_import(&job("sealed-job")).await.expect("job");
        store
            .insert_form_import_rows(&[row("sealed-job", json!({ "name": "新", "phone": { "$sealed": "AAAA" } }))])
            .await
            .expect("rows");
        assert_eq!(forms::import::fail_unsealed(store.as_ref(), &catalog).await.expect("checked"), 1);
        let clear = store.form_import("clear-job").await.expect("read").expect("job");
        assert_eq!((clear.status.as_str(), clear.error.as_deref()), ("failed", Some("系统升级后需要重新校验，请重新上传文件")));
        assert_eq!(store.form_import("sealed-job").await.expect("read").expect("job").status, "ready");

        // A reference to a record deleted since: an edit of another field keeps it.
        let institution = json!({ "name": "黄浦拥军餐厅", "credit_code": "91310000MA1FL4CT3U", "industry": "catering", "district": "310101",
                                  "contact": "何经理", "contact_phone": "13811110000", "address": "上海市福州路100号" });
        let (status, target) = create_in(&app, &hp, "provider-institution", institution).await;
        assert_eq!(status, StatusCode::CREATED, "{target}");
        let service = |institution: Value| {
            json!({ "name": "持证就餐八折", "provider": "黄浦拥军餐厅", "institution": institution, "mode": "offline",
                    "category": "catering", "holders": ["veteran"], "discount": "凭优待证享受 8 折", "district": "310101",
                    "address": "黄浦区福州路100号", "valid_until": "2027-12-31" })
        };
        let (status, created) = create_in(&app, &hp, "preferential-service", service(target["id"].clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let target_id = target["id"].as_str().expect("id");
        let response = hp
            .send(&app, reqwest::Method::DELETE, &format!("/api/forms/provider-institution/records/{target_id}?version=1"), json!({}))
            .send()
            .await
            .expect("sent");
        assert!(response.status().is_success(), "{:?}", response.status());
        let id = created["id"].as_str().expect("id");
        let mut edit = created["values"].clone();
        edit["discount"] = json!("凭优待证享受 7 折");
        let response = hp
            .send(&app, reqwest::Method::PUT, &format!("/api/forms/preferential-service/records/{id}"), json!({ "version": 1, "values": edit }))
            .send()
            .await
            .expect("sent");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["values"]["institution"]["title"], "黄浦拥军餐厅");
        // A forged reference without an id.
        let (status, refused) =
            create_in(&app, &hp, "preferential-service", service(json!({ "id": "", "title": "随便写" }))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    })
    .await;
}

/// Bulk actions on the checked rows (issue 13): a confirmation page lists what will be done to
/// which records (only those the caller can see, whatever ids were sent), then each record is
/// handled as one by one, a refusal on its own row; the checked rows alone can be exported.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bulk_actions_confirm_then_report_each_record() {
    each_backend(|app| async move {
        let (hp, xh, _) = staff(&app).await;
        let mut ids = Vec::new();
        for (name, licence) in [("甲", "13101200910000001"), ("乙", "13101200910000002"), ("丙", "13101200910000003")]
        {
            let mut body = lawyer();
            body["name"] = json!(name);
            body["licence_number"] = json!(licence);
            body.as_object_mut().expect("object").remove("id_number");
            let (status, created) = create(&app, &hp, body).await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
            ids.push(created["id"].as_str().expect("id").to_string());
        }
        let mut other = lawyer();
        other["district"] = json!("310104");
        other.as_object_mut().expect("object").remove("id_number");
        let (status, foreign) = create(&app, &xh, other).await;
        assert_eq!(status, StatusCode::CREATED, "{foreign}");
        let foreign = foreign["id"].as_str().expect("id").to_string();

        // Confirmation: 黄浦区 sent its two records and 徐汇区's; only its own are listed.
        let fields = [
            ("action", "delete"),
            ("do", "action"),
            ("ids", ids[0].as_str()),
            ("ids", ids[1].as_str()),
            ("ids", foreign.as_str()),
        ];
        let asked = submit(&app, &hp, "/admin/forms/lawyer/bulk", &fields).await;
        assert_eq!(asked.status(), StatusCode::OK);
        let html = asked.text().await.expect("html");
        assert!(
            html.contains("将对以下 2 条记录执行“删除”") && html.contains(">甲<") && html.contains(">乙<"),
            "{html}"
        );
        assert!(!html.contains(&foreign), "another district's record is not offered");
        let (_, list) = get(&app, &hp, "/api/forms/lawyer/records").await;
        assert_eq!(list["total"], 3, "nothing is deleted before the confirmation");
        let fields = [
            ("action", "delete"),
            ("confirm", "1"),
            ("ids", ids[0].as_str()),
            ("ids", ids[1].as_str()),
            ("ids", foreign.as_str()),
        ];
        let done = submit(&app, &hp, "/admin/forms/lawyer/bulk", &fields).await;
        let html = done.text().await.expect("html");
        assert!(html.contains("共 2 条，删除成功 2 条"), "{html}");
        let (_, list) = get(&app, &hp, "/api/forms/lawyer/records").await;
        assert_eq!(list["total"], 1);
        let (_, theirs) = get(&app, &xh, "/api/forms/lawyer/records").await;
        assert_eq!(theirs["total"], 1, "徐汇区's record is untouched");

        // Over the API, with a record action that applies to one record and not the other.
        add_account(&app, "chen", "310101", &["liaison"], "liaison").await;
        add_account(&app, "zhou", "310101", &["liaison"], "liaison").await;
        let (_, first) = create_in(&app, &hp, "liaison", liaison("chen")).await;
        let mut second_body = liaison("zhou");
        second_body["id_number"] = json!("310101199001010020");
        second_body["mobile"] = json!("13916230000");
        let (status, second) = create_in(&app, &hp, "liaison", second_body).await;
        assert_eq!(status, StatusCode::CREATED, "{second}");
        let second_id = second["id"].as_str().expect("id");
        let (status, _) = act(&app, &hp, second_id, "freeze", 1).await;
        assert_eq!(status, StatusCode::OK);
        let body = json!({ "action": "action:freeze", "ids": [first["id"], second_id] });
        let response = hp.post(&app, "/api/forms/liaison/bulk", body).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::OK);
        let results: Value = response.json().await.expect("json");
        let outcome: Vec<(bool, Option<&str>)> = results["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|result| (result["ok"].as_bool().unwrap_or(false), result["code"].as_str()))
            .collect();
        assert!(outcome.contains(&(true, None)) && outcome.contains(&(false, Some("validation-failed"))), "{results}");

        // Exporting the checked rows only.
        let fields = [("do", "export"), ("ids", first["id"].as_str().expect("id"))];
        let csv = submit(&app, &hp, "/admin/forms/liaison/bulk", &fields).await.text().await.expect("csv");
        assert_eq!(csv.lines().count(), 2, "the header and the one checked row: {csv}");
    })
    .await;
}
