//! PREF-03 / PREF-15 机构入驻 end to end over real HTTP, on both databases (issue 14): an
//! institution's applicant registers on the light app with an SMS code, applies (the
//! provider-institution record, 提交入驻申请 at once), 黄浦区 returns it, the applicant revises
//! it in their task and submits again, both levels approve, and `sy-institution-activate` makes
//! the record 已入驻 with the applicant's account as the institution's, a merchant code signed by
//! the node, and messages (in the message centre, once each; the SMS once). District staff
//! applying on an institution's behalf get a new institution account that signs in by SMS code;
//! either level may reject, and the applicant hears why. The district scope holds throughout.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::forms::{get, staff};
use crate::identity::Session;
use crate::support::{TestApp, each_backend, test_keys};

const MODEL: &str = include_str!("../../definitions/processes/institution-onboarding.bpmn");
const FORM: &str = "/api/forms/provider-institution/records";

/// The newest SMS code sent to `phone` (the local outbox is the carrier here).
async fn code_sent_to(app: &TestApp, phone: &str) -> String {
    let outbox = app.executor.store().sms_outbox(phone).await.expect("outbox reads");
    let last = outbox.last().expect("a code was sent");
    last.chars().filter(char::is_ascii_digit).take(6).collect()
}

/// Sends a code; the one-code-a-minute limit per number (tested with the identity tests) is
/// lifted first, as a minute passing would.
async fn send_code(app: &TestApp, phone: &str, purpose: &str) {
    crate::identity::raw(app, "DELETE FROM rate_limits").await;
    let response = app
        .client
        .post(format!("{}/api/sms/code", app.base))
        .json(&json!({ "phone": phone, "purpose": purpose }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

/// Signs in with an SMS code, as the light app does.
async fn code_login(app: &TestApp, phone: &str) -> Result<Session, (StatusCode, Value)> {
    send_code(app, phone, "login").await;
    let code = code_sent_to(app, phone).await;
    let response = app
        .client
        .post(format!("{}/api/session/sms", app.base))
        .json(&json!({ "phone": phone, "code": code }))
        .send()
        .await
        .expect("sent");
    let status = response.status();
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .map(|cookie| cookie.split(';').next().unwrap_or_default().to_string())
        .unwrap_or_default();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status != StatusCode::OK {
        return Err((status, body));
    }
    let csrf = body["csrfToken"].as_str().expect("csrf").to_string();
    Ok(Session { cookie, csrf, body })
}

/// An applicant registered with `phone` and signed in: (session, account id).
async fn applicant(app: &TestApp, phone: &str, name: &str) -> (Session, String) {
    send_code(app, phone, "register").await;
    let code = code_sent_to(app, phone).await;
    let response = app
        .client
        .post(format!("{}/api/applicants", app.base))
        .json(&json!({ "phone": phone, "code": code, "password": "Apply-Pass-2026", "displayName": name }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::CREATED);
    let account = response.json::<Value>().await.expect("JSON")["username"].as_str().expect("id").to_string();
    let session = crate::identity::login(app, &account, "Apply-Pass-2026").await;
    (session, account)
}

/// A complete application for a 黄浦区 restaurant.
fn restaurant(credit_code: &str, phone: &str) -> Value {
    json!({
        "name": "黄浦区拥军示范餐厅",
        "credit_code": credit_code,
        "industry": "餐饮",
        "district": "310101",
        "address": "上海市黄浦区南京东路 100 号",
        "contact": "李经理",
        "contact_phone": phone
    })
}

async fn messages(app: &TestApp, session: &Session) -> Value {
    let (status, messages) = get(app, session, "/api/messages").await;
    assert_eq!(status, StatusCode::OK, "{messages}");
    messages
}

fn titles(messages: &Value) -> Vec<String> {
    messages["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| item["title"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The one open task of an instance.
async fn open_task(app: &TestApp, instance: &str) -> (String, String) {
    let tasks = app.tasks_of(instance).await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    (tasks[0]["id"].as_str().expect("id").to_string(), tasks[0]["taskDefinitionKey"].as_str().expect("key").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_institution_applies_from_the_light_app_is_returned_revises_and_is_onboarded() {
    each_backend(|app| async move {
        let (status, deployed) = app.deploy("institution-onboarding", MODEL).await;
        assert_eq!(status, 200, "{deployed}");
        let (hp, xh, city) = staff(&app).await;
        let phone = "13912345678";
        let (me, account) = applicant(&app, phone, "李经理").await;
        assert!(account.starts_with('p'), "{account}");

        // 申请入驻: the record and the submission in one go; the applicant's own first task
        // (sy:submit) is done by the submission, so the application waits at 黄浦区.
        let (status, created) = me.post_json(&app, FORM, restaurant("91310101MA1FL4CT3F", phone)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["values"]["status"], "applying", "a new institution is 申请中 whatever it sends");
        let id = created["id"].as_str().expect("id").to_string();
        let record = format!("{FORM}/{id}");
        let (status, started) = me.post_json(&app, &format!("{record}/submit"), json!({ "version": 1 })).await;
        assert_eq!(status, StatusCode::CREATED, "{started}");
        let instance = started["instanceId"].as_str().expect("instance").to_string();
        let (task, key) = open_task(&app, &instance).await;
        assert_eq!(key, "districtReview");
        let history =
            app.json(&format!("/history/task?processInstanceId={instance}&taskDefinitionKey=application")).await;
        assert_eq!(history[0]["assignee"], account.as_str(), "{history}");
        assert!(history[0]["endTime"].is_string(), "the submission completed the application task: {history}");
        // An applicant may not set what staff decide, nor read anyone else's institutions.
        let (status, refused) = me.post_json(&app, FORM, json!({ "name": "x", "status": "active" })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        let (status, list) = get(&app, &xh, &format!("{FORM}?size=50")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!list.to_string().contains(&id), "徐汇区 does not see 黄浦区's institution");
        let (status, _) = get(&app, &xh, &format!("/api/tasks/{task}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "nor its review");

        // 黄浦区 returns it to the applicant with a reason: they hear of it, with their task.
        let (status, _) = hp.post_json(&app, &format!("/api/tasks/{task}/claim"), json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let returned = json!({ "target": "application", "comment": "营业执照照片不清晰，请补充经营场所门牌号" });
        let (status, body) = hp.post_json(&app, &format!("/api/tasks/{task}/return"), returned).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (revise, key) = open_task(&app, &instance).await;
        assert_eq!(key, "application");
        let inbox = messages(&app, &me).await;
        assert_eq!(inbox["unread"], 1, "{inbox}");
        let message = &inbox["items"][0];
        assert!(message["title"].as_str().unwrap_or("").contains("已退回"), "{message}");
        assert!(message["body"].as_str().unwrap_or("").contains("门牌号"), "the reason is in it: {message}");
        assert_eq!(message["link"], format!("/m/tasks/{revise}").as_str());

        // The applicant revises in their task (the record takes it with the approval) and
        // submits again; what staff decide stays out of their reach.
        let (status, detail) = get(&app, &me, &format!("/api/tasks/{revise}")).await;
        assert_eq!(status, StatusCode::OK, "{detail}");
        assert_eq!(detail["task"]["taskForm"]["view"], "application");
        let (status, refused) = me
            .post_json(
                &app,
                &format!("/api/tasks/{revise}/approve"),
                json!({ "variables": { "review_note": "自己写的意见" } }),
            )
            .await;
        assert_eq!((status, refused["code"].as_str()), (StatusCode::FORBIDDEN, Some("field-not-editable")));
        // Nor who started it (the initiator is set once), nor the district under review.
        let hijack = json!({ "variables": { "starter": "hp1" } });
        let (status, refused) = me.post_json(&app, &format!("/api/tasks/{revise}/approve"), hijack).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
        let moved = json!({ "variables": { "district": "310104" } });
        let (status, refused) = me.post_json(&app, &format!("/api/tasks/{revise}/approve"), moved).await;
        assert_eq!((status, refused["code"].as_str()), (StatusCode::FORBIDDEN, Some("field-not-editable")));
        // Only 重新提交 and 意见 on their own application: no 转办, no 驳回.
        let (status, _) = me.post_json(&app, &format!("/api/tasks/{revise}/transfer"), json!({ "user": "hp1" })).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // The Camunda REST API is for staff and machines, not for self-registered people.
        let response = me.get(&app, "/engine-rest/process-definition").send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let revised = json!({ "variables": { "address": "上海市黄浦区南京东路 100 号 1 楼" }, "comment": "已补充" });
        let (status, body) = me.post_json(&app, &format!("/api/tasks/{revise}/approve"), revised).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (_, now) = get(&app, &me, &record).await;
        assert_eq!(now["values"]["address"], "上海市黄浦区南京东路 100 号 1 楼");

        // Both levels approve; the activation runs on the node's workers.
        let (task, key) = open_task(&app, &instance).await;
        assert_eq!(key, "districtReview");
        hp.post_json(&app, &format!("/api/tasks/{task}/claim"), json!({})).await;
        let note = json!({ "variables": { "review_note": "材料齐全，同意入驻" } });
        let (status, body) = hp.post_json(&app, &format!("/api/tasks/{task}/approve"), note).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (task, key) = open_task(&app, &instance).await;
        assert_eq!(key, "cityReview");
        city.post_json(&app, &format!("/api/tasks/{task}/claim"), json!({})).await;
        let (status, body) = city.post_json(&app, &format!("/api/tasks/{task}/approve"), json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let history = app.ended(&instance).await;
        assert_eq!(history["state"], "COMPLETED", "{history}");

        // 已入驻: the applicant's account is the institution's, moved to its district, with
        // the provider role; the merchant code is this node's signature over the record.
        let (_, done) = get(&app, &hp, &record).await;
        let values = &done["values"];
        assert_eq!(values["status"], "active", "{done}");
        assert_eq!(values["account"]["id"], account.as_str());
        assert_eq!(values["joined_on"].as_str().map(str::len), Some(10), "today: {values}");
        let code = values["merchant_code"].as_str().expect("merchant code");
        assert_eq!(services::institution::verify_merchant_code(test_keys(), code).as_deref(), Some(id.as_str()));
        let forged = format!("{}x", &code[..code.len() - 1]);
        assert_eq!(services::institution::verify_merchant_code(test_keys(), &forged), None, "a changed code fails");
        let holder = app.executor.store().account(&account).await.expect("reads").expect("account");
        assert_eq!(holder.roles, ["provider"]);
        assert_eq!(holder.unit_id.as_deref(), Some("310101"));
        assert_eq!(holder.display_name.as_deref(), Some("黄浦区拥军示范餐厅"));
        let inbox = messages(&app, &me).await;
        let titles = titles(&inbox);
        assert_eq!(titles.iter().filter(|title| title.contains("入驻审核已通过")).count(), 1, "{titles:?}");
        assert_eq!(titles.iter().filter(|title| title.contains("已办结")).count(), 1, "{titles:?}");
        let sms = app.executor.store().sms_outbox(&format!("account:{account}")).await.expect("reads");
        assert_eq!(sms.iter().filter(|text| text.contains("审核通过")).count(), 1, "{sms:?}");
        // The institution still reads its own record (its data scope is its own) and now
        // signs in by SMS code as an institution.
        let me = code_login(&app, phone).await.expect("an institution signs in by code");
        let (status, mine) = get(&app, &me, &record).await;
        assert_eq!(status, StatusCode::OK, "{mine}");

        // An institution already in is not submitted again.
        let (_, record_now) = get(&app, &hp, &record).await;
        let version = record_now["version"].clone();
        let (status, again) = hp.post_json(&app, &format!("{record}/submit"), json!({ "version": version })).await;
        assert_eq!((status, again["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("submit-not-allowed")));

        // Reading a message marks it; another account cannot touch it.
        let first = inbox["items"][0]["id"].as_str().expect("id").to_string();
        let (status, _) = hp.post_json(&app, &format!("/api/messages/{first}/read"), json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "another account's message is not there");
        let (status, _) = me.post_json(&app, &format!("/api/messages/{first}/read"), json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let unread = messages(&app, &me).await["unread"].as_i64().expect("count");
        assert_eq!(unread, inbox["unread"].as_i64().expect("count") - 1);
        let (status, all) = me.post_json(&app, "/api/messages/read", json!({})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(all["changed"], unread);
        assert_eq!(messages(&app, &me).await["unread"], 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn staff_apply_for_an_institution_it_gets_its_own_account_and_either_level_may_reject() {
    each_backend(|app| async move {
        let (status, deployed) = app.deploy("institution-onboarding", MODEL).await;
        assert_eq!(status, 200, "{deployed}");
        let (hp, _xh, city) = staff(&app).await;
        crate::identity::add_account(&app, "hp2", "310101", &["district-staff"], "staff").await;
        let hp2 = crate::identity::login(&app, "hp2", crate::identity::PASSWORD).await;

        // Rejected by the city: the application ends with the reason, and the applicant (黄浦区's
        // staff member who applied on its behalf) hears why.
        let (status, created) = hp.post_json(&app, FORM, restaurant("91310101MA1FL4CT4J", "13600001111")).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let rejected_id = created["id"].as_str().expect("id").to_string();
        let (status, started) =
            hp.post_json(&app, &format!("{FORM}/{rejected_id}/submit"), json!({ "version": 1 })).await;
        assert_eq!(status, StatusCode::CREATED, "{started}");
        let instance = started["instanceId"].as_str().expect("instance").to_string();
        let (task, _) = open_task(&app, &instance).await;
        // Who applied on the institution's behalf does not review it (sy:selfReview = false):
        // it is not offered to them, and claiming it is refused.
        let (_, mine) = get(&app, &hp, "/api/inbox/counts").await;
        let (_, theirs) = get(&app, &hp2, "/api/inbox/counts").await;
        assert_eq!((mine["claimable"].as_i64(), theirs["claimable"].as_i64()), (Some(0), Some(1)), "{mine} {theirs}");
        let (status, refused) = hp.post_json(&app, &format!("/api/tasks/{task}/claim"), json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
        hp2.post_json(&app, &format!("/api/tasks/{task}/claim"), json!({})).await;
        let (status, _) = hp2.post_json(&app, &format!("/api/tasks/{task}/approve"), json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (task, key) = open_task(&app, &instance).await;
        assert_eq!(key, "cityReview");
        city.post_json(&app, &format!("/api/tasks/{task}/claim"), json!({})).await;
        let (status, refused) = city.post_json(&app, &format!("/api/tasks/{task}/reject"), json!({})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "驳回 needs a reason: {refused}");
        let reason = json!({ "comment": "该店已不在经营场所营业" });
        let (status, body) = city.post_json(&app, &format!("/api/tasks/{task}/reject"), reason).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let history = app.ended(&instance).await;
        assert_ne!(history["state"], "COMPLETED");
        let inbox = messages(&app, &hp).await;
        let message = &inbox["items"][0];
        assert!(message["title"].as_str().unwrap_or("").contains("未通过"), "{inbox}");
        assert!(message["body"].as_str().unwrap_or("").contains("不在经营场所"), "{message}");
        let (_, record) = get(&app, &hp, &format!("{FORM}/{rejected_id}")).await;
        assert_eq!(record["values"]["status"], "applying", "a rejected application never went in");
        let (_, instances) = get(&app, &hp, &format!("{FORM}/{rejected_id}/instances")).await;
        assert_eq!(instances[0]["statusText"], "已驳回", "{instances}");

        // Approved: the institution gets an account of its own, named by its credit code,
        // that signs in by SMS code on its contact phone; the staff member is told.
        let phone = "13600002222";
        let (_, created) = hp.post_json(&app, FORM, restaurant("91310101MA1FL4CT6Q", phone)).await;
        let id = created["id"].as_str().expect("id").to_string();
        let (_, started) = hp.post_json(&app, &format!("{FORM}/{id}/submit"), json!({ "version": 1 })).await;
        let instance = started["instanceId"].as_str().expect("instance").to_string();
        for reviewer in [&hp2, &city] {
            let (task, _) = open_task(&app, &instance).await;
            reviewer.post_json(&app, &format!("/api/tasks/{task}/claim"), json!({})).await;
            let (status, body) = reviewer.post_json(&app, &format!("/api/tasks/{task}/approve"), json!({})).await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        }
        assert_eq!(app.ended(&instance).await["state"], "COMPLETED");
        let account = "inst-91310101ma1fl4ct6q";
        let (_, record) = get(&app, &hp, &format!("{FORM}/{id}")).await;
        assert_eq!(record["values"]["account"]["id"], account, "{record}");
        let created = app.executor.store().account(account).await.expect("reads").expect("created");
        assert_eq!((created.kind.as_str(), created.unit_id.as_deref()), ("provider", Some("310101")));
        let institution = code_login(&app, phone).await.expect("the institution signs in by SMS code");
        // Its record is its own now: it reads it (and its QR code) though staff made it.
        let (status, own) = get(&app, &institution, &format!("{FORM}/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{own}");
        let titles = titles(&messages(&app, &institution).await);
        assert!(titles.iter().any(|title| title.contains("入驻审核已通过")), "{titles:?}");
        let titles = crate::onboarding::titles(&messages(&app, &hp).await);
        assert!(titles.iter().any(|title| title.contains("代为申请的机构已入驻")), "{titles:?}");
        // 暂停服务 freezes the institution's account with the record (a district action).
        let (status, paused) =
            hp.post_json(&app, &format!("{FORM}/{id}/actions/pause"), json!({ "version": record["version"] })).await;
        assert_eq!(status, StatusCode::OK, "{paused}");
        let frozen = app.executor.store().account(account).await.expect("reads").expect("account");
        assert_eq!(frozen.status, "frozen");
        assert!(code_login(&app, phone).await.is_err(), "a paused institution cannot sign in");
    })
    .await;
}
