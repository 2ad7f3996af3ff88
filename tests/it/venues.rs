//! SVC-22 场地预定 end to end over real HTTP, on both databases (issue 14): a request for a venue
//! is checked against the schedule when submitted, reviewed by someone other than the requester,
//! and booked on approval; a request for a taken time ends at once with whose booking holds it;
//! two requests approved for one free time are booked once (the database refuses the second);
//! 场地排期 shows the week by venue and for one venue, within the district, and 取消 frees the
//! time, marks the request and tells the requester.

use reqwest::StatusCode;
use serde_json::json;

use crate::forms::{get, page, staff, submit};
use crate::identity::{PASSWORD, Session, add_account, login};
use crate::support::{TestApp, each_backend};

const MODEL: &str = include_str!("../../definitions/processes/venue-booking.bpmn");
const REQUESTS: &str = "/api/forms/venue-booking/records";

/// The request's instance once its schedule check has run: at 运营审批 (its task), or ended.
async fn after_check(app: &TestApp, instance: &str) -> Option<String> {
    for _ in 0..200 {
        if let Some(task) = app.tasks_of(instance).await.first() {
            return Some(task["id"].as_str().expect("id").to_string());
        }
        let history = app.json(&format!("/history/process-instance/{instance}")).await;
        if history["state"] != "ACTIVE" {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the schedule check of {instance} did not run");
}

/// A request by `session` for the hall on 2026-12-09 from `start` to `end`, submitted:
/// (record id, instance id).
async fn request(
    app: &TestApp,
    session: &Session,
    venue: &str,
    purpose: &str,
    start: &str,
    end: &str,
) -> (String, String) {
    let body = json!({
        "kind": "venue", "venue": venue, "purpose": purpose, "attendees": 40,
        "time": { "date": "2026-12-09", "start": start, "end": end },
        "contact": "王干事", "contact_phone": "13900001111", "district": "310101"
    });
    let (status, created) = session.post_json(app, REQUESTS, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    let (status, started) = session.post_json(app, &format!("{REQUESTS}/{id}/submit"), json!({ "version": 1 })).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    (id, started["instanceId"].as_str().expect("instance").to_string())
}

async fn approve(app: &TestApp, reviewer: &Session, task: &str) {
    let (status, body) = reviewer.post_json(app, &format!("/api/tasks/{task}/claim"), json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = reviewer.post_json(app, &format!("/api/tasks/{task}/approve"), json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

async fn titles(app: &TestApp, session: &Session) -> Vec<String> {
    let (_, messages) = get(app, session, "/api/messages").await;
    messages["items"].as_array().into_iter().flatten().map(|m| m["title"].as_str().unwrap_or("").to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_venue_is_booked_once_a_taken_time_is_refused_and_cancelling_frees_it() {
    each_backend(|app| async move {
        let (status, deployed) = app.deploy("venue-booking", MODEL).await;
        assert_eq!(status, 200, "{deployed}");
        let (hp, xh, _) = staff(&app).await;
        add_account(&app, "hp2", "310101", &["district-staff"], "staff").await;
        let hp2 = login(&app, "hp2", PASSWORD).await;
        let hall = json!({ "name": "黄浦区双拥活动厅", "kind": "hall", "capacity": 80, "district": "310101",
                           "address": { "address": "黄浦区延安东路 300 号" }, "bookable": true });
        let (status, hall) = hp.post_json(&app, "/api/forms/venue/records", hall).await;
        assert_eq!(status, StatusCode::CREATED, "{hall}");
        let hall = hall["id"].as_str().expect("id").to_string();

        // Booked: checked, reviewed by someone else, written into the schedule.
        let (first, instance) = request(&app, &hp, &hall, "老兵座谈会", "09:00", "11:00").await;
        let task = after_check(&app, &instance).await.expect("the time is free: to review");
        let (status, _) = hp.post_json(&app, &format!("/api/tasks/{task}/claim"), json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "the requester does not review their own request");
        approve(&app, &hp2, &task).await;
        assert_eq!(app.ended(&instance).await["state"], "COMPLETED");
        let (_, record) = get(&app, &hp, &format!("{REQUESTS}/{first}")).await;
        assert_eq!(record["values"]["status"], "confirmed", "{record}");
        let booking = record["values"]["booking"].as_str().expect("the schedule's booking").to_string();
        assert!(titles(&app, &hp).await.iter().any(|title| title == "场地预定已确认"));

        // A request for a time the schedule holds ends at the check, and says whose it is.
        let (second, instance) = request(&app, &hp, &hall, "重叠的活动", "10:30", "12:00").await;
        assert_eq!(after_check(&app, &instance).await, None, "no review for a taken time");
        let history = app.ended(&instance).await;
        assert_eq!(history["state"], "COMPLETED", "{history}");
        let (_, messages) = get(&app, &hp, "/api/messages").await;
        let refused =
            messages["items"].as_array().expect("items").iter().find(|m| m["title"] == "场地预定未成功").cloned();
        assert!(refused.expect("told").to_string().contains("老兵座谈会"), "{messages}");
        let (_, record) = get(&app, &hp, &format!("{REQUESTS}/{second}")).await;
        assert_eq!(record["values"]["status"], "conflict", "the request says so");
        let (status, again) =
            hp.post_json(&app, &format!("{REQUESTS}/{second}/submit"), json!({ "version": record["version"] })).await;
        assert_eq!((status, again["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("submit-not-allowed")));
        // A request is not edited once made: what was submitted is what is reviewed and booked.
        let edit = json!({ "version": record["version"], "purpose": "改了" });
        let response =
            hp.send(&app, reqwest::Method::PUT, &format!("{REQUESTS}/{second}"), edit).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);

        // A venue that is not bookable: the request ends at the check, saying so.
        let closed = json!({ "name": "维修中的会议室", "kind": "meeting", "capacity": 20, "district": "310101",
                             "address": { "address": "黄浦区延安东路 300 号" }, "bookable": false });
        let (_, closed) = hp.post_json(&app, "/api/forms/venue/records", closed).await;
        let closed = closed["id"].as_str().expect("id").to_string();
        let (unavailable, instance) = request(&app, &hp, &closed, "会议", "09:00", "10:00").await;
        assert_eq!(after_check(&app, &instance).await, None);
        let (_, record) = get(&app, &hp, &format!("{REQUESTS}/{unavailable}")).await;
        assert_eq!(record["values"]["status"], "unavailable");
        assert!(titles(&app, &hp).await.iter().filter(|title| *title == "场地预定未成功").count() >= 2);

        // Two requests for one free time, both checked and approved: booked once.
        let (third, one) = request(&app, &hp, &hall, "拥军文艺演出", "14:00", "16:00").await;
        let (fourth, two) = request(&app, &hp, &hall, "军属联谊会", "15:00", "17:00").await;
        let (task_one, task_two) =
            (after_check(&app, &one).await.expect("free"), after_check(&app, &two).await.expect("free"));
        approve(&app, &hp2, &task_one).await;
        approve(&app, &hp2, &task_two).await;
        app.ended(&one).await;
        app.ended(&two).await;
        let mut statuses = Vec::new();
        for id in [&third, &fourth] {
            let (_, record) = get(&app, &hp, &format!("{REQUESTS}/{id}")).await;
            statuses.push(record["values"]["status"].as_str().unwrap_or_default().to_string());
        }
        statuses.sort();
        assert_eq!(statuses, ["confirmed", "conflict"], "one of two approved requests for one time is booked");

        // 场地排期: the week by venue, one venue by half hour; 徐汇区 sees none of it.
        let (status, board) = page(&app, &hp, "/admin/venues/schedule?week=2026-12-09").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            board.contains("黄浦区双拥活动厅") && board.contains("老兵座谈会") && board.contains("09:00–11:00"),
            "{board}"
        );
        let (_, calendar) = page(&app, &hp, &format!("/admin/venues/schedule?week=2026-12-09&venue={hall}")).await;
        assert!(calendar.contains("id=\"calendar\"") && calendar.contains("老兵座谈会"), "{calendar}");
        let (_, theirs) = page(&app, &xh, "/admin/venues/schedule?week=2026-12-09").await;
        assert!(!theirs.contains("老兵座谈会"), "another district's schedule is not shown");
        let (status, _) = page(&app, &xh, &format!("/admin/venues/schedule?week=2026-12-09&venue={hall}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let refused = submit(&app, &xh, &format!("/admin/venues/bookings/{booking}/cancel"), &[]).await;
        assert_eq!(refused.status(), StatusCode::NOT_FOUND, "another district cannot cancel it");

        // 取消: the time is free again, the request says so, the requester is told.
        let cancelled = submit(&app, &hp2, &format!("/admin/venues/bookings/{booking}/cancel"), &[]).await;
        assert_eq!(cancelled.status(), StatusCode::SEE_OTHER);
        let (_, record) = get(&app, &hp, &format!("{REQUESTS}/{first}")).await;
        assert_eq!(record["values"]["status"], "cancelled");
        assert!(titles(&app, &hp).await.iter().any(|title| title == "场地预定已取消"));
        let again = submit(&app, &hp2, &format!("/admin/venues/bookings/{booking}/cancel"), &[]).await;
        assert_eq!(again.status(), StatusCode::CONFLICT, "cancelled once");
        let (_, retry) = request(&app, &hp, &hall, "改期后的座谈会", "09:00", "10:00").await;
        assert!(after_check(&app, &retry).await.is_some(), "the freed time is free");
    })
    .await;
}
