//! The web console over real HTTP (issue 12): screens need a browser session and their menu
//! permission, show only the caller's district, act through the same rules as `/api`, escape
//! what people typed, and answer refusals with the Chinese error page.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, LOCATION};

use crate::approval::{apply, people, todo_task};
use crate::identity::{PASSWORD, Session, add_account, login};
use crate::support::{TestApp, each_backend};

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// A console page as `session`: its status and HTML.
async fn screen(app: &TestApp, session: &Session, path: &str) -> (StatusCode, String) {
    let response = no_redirects()
        .get(format!("{}{path}", app.base))
        .header("cookie", &session.cookie)
        .header("accept", "text/html")
        .send()
        .await
        .expect("page is fetched");
    (response.status(), response.text().await.expect("HTML"))
}

/// A console form post as `session` (`csrf`: the token the form carries, if any).
async fn submit(
    app: &TestApp,
    session: &Session,
    path: &str,
    csrf: Option<&str>,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = fields.to_vec();
    if let Some(csrf) = csrf {
        form.push(("csrf_token", csrf));
    }
    no_redirects()
        .post(format!("{}{path}", app.base))
        .header("cookie", &session.cookie)
        .header("accept", "text/html")
        .form(&form)
        .send()
        .await
        .expect("form is posted")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_district_reviewer_approves_from_the_console_and_another_district_sees_nothing() {
    each_backend(|app| async move {
        people(&app).await;
        apply(&app).await;
        let task = todo_task(&app, "hp1").await.expect("the district review");
        let hp1 = login(&app, "hp1", PASSWORD).await;
        let xh1 = login(&app, "xh1", PASSWORD).await;

        // Home and inbox: the count and the row with its business key and a link to the task.
        let (status, home) = screen(&app, &hp1, "/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(home.contains(r#"id="count-todo">1<"#), "home counts the task: {home}");
        let (status, inbox) = screen(&app, &hp1, "/inbox?tab=todo").await;
        assert_eq!(status, StatusCode::OK);
        assert!(inbox.contains(&format!(r#"href="/tasks/{task}""#)) && inbox.contains("YD-1"), "{inbox}");
        assert!(inbox.contains(r#"<td class="nowrap">黄浦区</td>"#), "the district by its name: {inbox}");
        // The district filter offers the districts and keeps the chosen one.
        let (_, chosen) = screen(&app, &hp1, "/inbox?tab=todo&district=310101").await;
        assert!(chosen.contains(r#"<option value="310101" selected>黄浦区</option>"#), "{chosen}");
        assert!(chosen.contains(&task), "黄浦区's task is in 黄浦区's list");
        let (_, elsewhere) = screen(&app, &hp1, "/inbox?tab=todo&district=310104").await;
        assert!(!elsewhere.contains(&task), "and not in 徐汇区's");
        // Filters are applied and kept: a business key that matches nothing shows the empty state.
        let (_, filtered) = screen(&app, &hp1, "/inbox?tab=todo&businessKey=NOPE").await;
        assert!(filtered.contains(r#"id="empty""#) && !filtered.contains(&task), "{filtered}");
        assert!(filtered.contains(r#"value="NOPE""#), "the filter stays in its field");

        // 徐汇 sees neither the row nor the task: its URL is the 404 page.
        let (_, other) = screen(&app, &xh1, "/inbox?tab=todo").await;
        assert!(!other.contains(&task) && other.contains(r#"id="empty""#), "{other}");
        let (status, page) = screen(&app, &xh1, &format!("/tasks/{task}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(page.contains("页面不存在"), "{page}");

        // The task page offers the operations the API lists, as forms.
        let (status, page) = screen(&app, &hp1, &format!("/tasks/{task}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains(&format!(r#"action="/tasks/{task}/approve""#)), "{page}");
        assert!(page.contains(&format!(r#"action="/tasks/{task}/reject""#)), "{page}");
        assert!(page.contains("区级审核") && page.contains(r#"id="diagram""#), "{page}");

        // A form without the session's token is refused and changes nothing.
        let refused = submit(&app, &hp1, &format!("/tasks/{task}/approve"), None, &[("comment", "同意")]).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let wrong = submit(&app, &hp1, &format!("/tasks/{task}/approve"), Some("forged"), &[]).await;
        assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
        // Nor a wrong header, nor a body the guard cannot read a token from.
        let approve = format!("{}/tasks/{task}/approve", app.base);
        let header = no_redirects()
            .post(&approve)
            .header("cookie", &hp1.cookie)
            .header("x-csrf-token", "forged")
            .form(&[("csrf_token", hp1.csrf.as_str())])
            .send()
            .await
            .expect("sent");
        assert_eq!(header.status(), StatusCode::FORBIDDEN, "a wrong header is not saved by a right field");
        // Only an upload screen reads the token from a multipart body; elsewhere it is refused.
        let multipart = reqwest::multipart::Form::new().text("csrf_token", hp1.csrf.clone());
        let multipart = no_redirects()
            .post(&approve)
            .header("cookie", &hp1.cookie)
            .multipart(multipart)
            .send()
            .await
            .expect("sent");
        assert_eq!(multipart.status(), StatusCode::FORBIDDEN, "not an upload screen");
        let plain = no_redirects()
            .post(&approve)
            .header("cookie", &hp1.cookie)
            .header("content-type", "text/plain")
            .body(format!("csrf_token={}", hp1.csrf))
            .send()
            .await
            .expect("sent");
        assert_eq!(plain.status(), StatusCode::FORBIDDEN);
        assert_eq!(todo_task(&app, "hp1").await.as_deref(), Some(task.as_str()), "still open");

        // 通过 goes back to the inbox with the notice; the task has moved to the city.
        let done = submit(&app, &hp1, &format!("/tasks/{task}/approve"), Some(&hp1.csrf), &[("comment", "同意")]).await;
        assert_eq!(done.status(), StatusCode::SEE_OTHER);
        assert_eq!(done.headers()[LOCATION], "/inbox?notice=approve");
        let (_, inbox) = screen(&app, &hp1, "/inbox?notice=approve").await;
        assert!(inbox.contains("已通过") && !inbox.contains(&format!(r#"href="/tasks/{task}""#)), "{inbox}");
        assert!(todo_task(&app, "city1").await.is_some(), "the city has it");

        // Acting again on the handled task: the 409 page says someone acted first.
        let again =
            submit(&app, &hp1, &format!("/tasks/{task}/approve"), Some(&hp1.csrf), &[("comment", "再次")]).await;
        assert_eq!(again.status(), StatusCode::CONFLICT);
        let page = again.text().await.expect("HTML");
        assert!(page.contains("已被他人处理") && page.contains("任务已被处理"), "{page}");
        // 已办 lists it, and its page shows the comment in the timeline.
        let (_, done_tab) = screen(&app, &hp1, "/inbox?tab=done").await;
        assert!(done_tab.contains(&task), "{done_tab}");
        let (_, page) = screen(&app, &hp1, &format!("/tasks/{task}")).await;
        assert!(page.contains("同意") && page.contains("已结束"), "{page}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn screens_need_a_session_and_their_menu_permission() {
    each_backend(|app| async move {
        add_account(&app, "nobody", "310101", &[], "staff").await;
        add_account(&app, "hp1", "310101", &["district-staff"], "staff").await;
        // A stranger goes to the login page, also when sending HTTP Basic (screens are for browsers).
        for (path, login) in
            [("/", "/login"), ("/inbox", "/login?next=%2Finbox"), ("/tasks/x-1", "/login?next=%2Ftasks%2Fx-1")]
        {
            let response = no_redirects().get(format!("{}{path}", app.base)).send().await.expect("sent");
            assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
            assert_eq!(response.headers()[LOCATION], login, "{path}");
            let basic = no_redirects()
                .get(format!("{}{path}", app.base))
                .basic_auth("hp1", Some(PASSWORD))
                .send()
                .await
                .expect("sent");
            assert_eq!(basic.headers()[LOCATION], login, "{path} with Basic");
        }
        // Without menu:tasks: home works, the inbox is the 403 page, and the menu does not offer it.
        let nobody = login(&app, "nobody", PASSWORD).await;
        let (status, home) = screen(&app, &nobody, "/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(!home.contains(r#"href="/inbox""#) && !home.contains("count-todo"), "{home}");
        for path in ["/inbox", "/tasks/x-1"] {
            let (status, page) = screen(&app, &nobody, path).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
            assert!(page.contains("没有权限"), "{page}");
        }
        let post = submit(&app, &nobody, "/tasks/x-1/approve", Some(&nobody.csrf), &[]).await;
        assert_eq!(post.status(), StatusCode::FORBIDDEN, "an operation needs the menu permission too");
        // Each refusal left an audit row.
        let rows = app.executor.store().audit_rows(0, 10_000).await.expect("audit rows read");
        let denied: Vec<_> = rows
            .iter()
            .filter(|row| {
                row.entry.user_id.as_deref() == Some("nobody")
                    && row.entry.action == "access"
                    && row.entry.result == "denied"
            })
            .filter_map(|row| row.entry.target.clone())
            .collect();
        assert_eq!(denied, ["/inbox", "/tasks/x-1", "/tasks/x-1/approve"], "{denied:?}");
        let hp1 = login(&app, "hp1", PASSWORD).await;
        let (_, home) = screen(&app, &hp1, "/").await;
        assert!(home.contains(r#"href="/inbox""#), "staff see 我的事项");
        // A tab that does not exist and a bad date are Chinese pages, not crashes.
        let (status, page) = screen(&app, &hp1, "/inbox?tab=secret").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
        let (status, page) = screen(&app, &hp1, "/inbox?from=2026-13-45").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.contains("日期格式应为"), "{page}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_people_type_is_shown_as_text() {
    each_backend(|app| async move {
        people(&app).await;
        apply(&app).await;
        let task = todo_task(&app, "hp1").await.expect("the district review");
        let hp1 = login(&app, "hp1", PASSWORD).await;
        let attack = r#"<script>alert(1)</script><img src=x onerror=alert(2)>"#;
        let response =
            submit(&app, &hp1, &format!("/tasks/{task}/comment"), Some(&hp1.csrf), &[("comment", attack)]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[LOCATION], format!("/tasks/{task}?notice=comment"));
        let (_, page) = screen(&app, &hp1, &format!("/tasks/{task}?notice=comment")).await;
        assert!(page.contains("意见已保存"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;"), "the comment is shown escaped: {page}");
        assert!(!page.contains("<script>alert") && !page.contains("<img src=x"), "{page}");
        // A business key in the filter field is escaped too.
        let (status, inbox) = screen(&app, &hp1, "/inbox?businessKey=%22%3E%3Cscript%3Ex%3C%2Fscript%3E").await;
        assert_eq!(status, StatusCode::OK);
        assert!(!inbox.contains("\"><script>x"), "{inbox}");
        assert!(inbox.contains("&quot;&gt;&lt;script&gt;x"), "the filter value is shown escaped: {inbox}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn assets_are_served_under_hashed_names_with_a_long_cache() {
    each_backend(|app| async move {
        let login_page = app.client.get(format!("{}/login", app.base)).send().await.expect("sent");
        let html = login_page.text().await.expect("HTML");
        let start = html.find("/assets/console-").expect("the stylesheet is linked by its hashed name");
        let end = start + html[start..].find('"').expect("attribute ends");
        let path = &html[start..end];
        assert!(path.ends_with(".css") && path.len() > "/assets/console-.css".len() + 8, "{path}");
        let response = app.client.get(format!("{}{path}", app.base)).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CACHE_CONTROL], "public, max-age=31536000, immutable");
        assert!(response.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/css"));
        assert!(response.headers().get("content-encoding").is_none(), "no gzip unless asked for");
        let plain = response.text().await.expect("CSS");
        assert!(plain.contains(".sidebar"), "our stylesheet");
        // Asked for gzip: the pre-compressed bytes (gzip's magic number, smaller), marked so.
        let packed = app.client.get(format!("{}{path}", app.base)).header("accept-encoding", "br, gzip").send().await;
        let packed = packed.expect("sent");
        assert_eq!(packed.headers()["content-encoding"], "gzip");
        assert_eq!(packed.headers()["vary"], "accept-encoding");
        let bytes = packed.bytes().await.expect("body");
        assert!(bytes.starts_with(&[0x1f, 0x8b]) && bytes.len() < plain.len(), "{} of {}", bytes.len(), plain.len());
        let refused = app.client.get(format!("{}{path}", app.base)).header("accept-encoding", "gzip;q=0").send().await;
        assert!(refused.expect("sent").headers().get("content-encoding").is_none(), "q=0 refuses gzip");
        let missing = app.client.get(format!("{}/assets/console-0000.css", app.base)).send().await.expect("sent");
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    })
    .await;
}

/// A pending second factor (`require_totp`) sends every screen to the enrolment page: a new
/// secret as a QR code drawn on the server and as text; a wrong code is refused and nothing is
/// stored; the right one enrols it (audited) and opens the console. Replacing it later needs
/// the password and a code of the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pending_second_factor_is_enrolled_from_its_page_before_any_screen() {
    for backend in store::testing::backends() {
        let url = store::testing::fresh_database_url(&backend).await;
        let mut security = crate::support::test_security();
        security.require_totp = true;
        let app = crate::support::spawn_node_with(&backend, &url, security).await;
        add_account(&app, "sun", "310101", &["district-staff"], "staff").await;
        let sun = login(&app, "sun", PASSWORD).await;
        let (status, _) = screen(&app, &sun, "/inbox").await;
        assert_eq!(status, StatusCode::SEE_OTHER, "the inbox waits for the second factor");
        let (status, page) = screen(&app, &sun, "/security/totp").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("请先完成绑定") && page.contains(r#"src="data:image/svg+xml;base64,"#), "{page}");
        let secret =
            page.split(r#"name="secret" value=""#).nth(1).and_then(|rest| rest.split('"').next()).expect("secret");
        let qr = page.split("data:image/svg+xml;base64,").nth(1).and_then(|rest| rest.split('"').next()).expect("QR");
        let svg = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, qr).expect("base64");
        assert!(String::from_utf8_lossy(&svg).contains("<svg"), "an SVG image");

        let wrong =
            submit(&app, &sun, "/security/totp", Some(&sun.csrf), &[("secret", secret), ("code", "000000")]).await;
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
        let again = wrong.text().await.expect("HTML");
        assert!(again.contains("动态口令错误"), "{again}");
        assert!(again.contains(&format!(r#"name="secret" value="{secret}""#)), "the app's secret is shown again");
        let weak =
            submit(&app, &sun, "/security/totp", Some(&sun.csrf), &[("secret", "AAAAAAAA"), ("code", "000000")]).await;
        assert_eq!(weak.status(), StatusCode::BAD_REQUEST, "a short secret is no second factor");
        assert_eq!(screen(&app, &sun, "/inbox").await.0, StatusCode::SEE_OTHER, "nothing was stored");
        let forged =
            submit(&app, &sun, "/security/totp", Some("forged"), &[("secret", secret), ("code", "000000")]).await;
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);

        let steps = crate::security::Steps::now();
        let code = steps.code(secret, 0);
        let done = submit(&app, &sun, "/security/totp", Some(&sun.csrf), &[("secret", secret), ("code", &code)]).await;
        assert_eq!(done.status(), StatusCode::SEE_OTHER);
        assert_eq!(done.headers()[LOCATION], "/?notice=totp");
        let (status, home) = screen(&app, &sun, "/?notice=totp").await;
        assert_eq!(status, StatusCode::OK);
        assert!(home.contains("动态口令已绑定"), "{home}");
        assert_eq!(screen(&app, &sun, "/inbox").await.0, StatusCode::OK);

        // Replacing it: the page asks for the password and the old code; without them, refused.
        let sealed_before = app.executor.store().account("sun").await.expect("read").expect("sun").totp_secret;
        let (_, page) = screen(&app, &sun, "/security/totp").await;
        assert!(page.contains("更换动态口令") && page.contains(r#"name="current_code""#), "{page}");
        let next =
            page.split(r#"name="secret" value=""#).nth(1).and_then(|rest| rest.split('"').next()).expect("secret");
        let new_code = steps.code(next, 0);
        let refused =
            submit(&app, &sun, "/security/totp", Some(&sun.csrf), &[("secret", next), ("code", &new_code)]).await;
        assert!(refused.status().is_client_error(), "{}", refused.status());
        let fields =
            [("secret", next), ("code", new_code.as_str()), ("current_password", PASSWORD), ("current_code", "999999")];
        let wrong_old = submit(&app, &sun, "/security/totp", Some(&sun.csrf), &fields).await;
        assert!(wrong_old.status().is_client_error(), "a wrong old code: {}", wrong_old.status());
        // With the password and the old app's next code, the new secret replaces the old one.
        let old_code = steps.code(secret, 1);
        let fields = [
            ("secret", next),
            ("code", new_code.as_str()),
            ("current_password", PASSWORD),
            ("current_code", old_code.as_str()),
        ];
        let replaced = submit(&app, &sun, "/security/totp", Some(&sun.csrf), &fields).await;
        assert_eq!(replaced.status(), StatusCode::SEE_OTHER, "{}", replaced.text().await.unwrap_or_default());
        // (Signing in with it would wait for the next 30-second step: each step counts once per
        // account, and the old app's code just used this one.) The stored factor is the new one.
        let stored = app.executor.store().account("sun").await.expect("read").expect("sun").totp_secret;
        assert!(stored.is_some() && stored != sealed_before, "the second factor was replaced");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_that_ended_goes_back_to_the_login_page() {
    each_backend(|app| async move {
        add_account(&app, "hp1", "310101", &["district-staff"], "staff").await;
        let hp1 = login(&app, "hp1", PASSWORD).await;
        assert_eq!(screen(&app, &hp1, "/inbox").await.0, StatusCode::OK);
        let out = submit(&app, &hp1, "/logout", Some(&hp1.csrf), &[]).await;
        assert_eq!(out.status(), StatusCode::SEE_OTHER);
        let response = no_redirects()
            .get(format!("{}/inbox", app.base))
            .header("cookie", &hp1.cookie)
            .header("accept", "text/html")
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[LOCATION], "/login?next=%2Finbox", "back to the inbox after signing in again");
        let cleared = response.headers()["set-cookie"].to_str().unwrap_or_default();
        assert!(cleared.contains("Max-Age=0"), "the stale cookie is cleared: {cleared}");
    })
    .await;
}

/// 待认领 (issue 12): a task offered to a role is in the 待认领 list of each holder of the role,
/// with its count on home; 认领 makes it one person's (the others lose it, a second claim is the
/// 409 page), 取消认领 gives it back, and both are in the timeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn candidates_claim_a_pooled_task_and_give_it_back() {
    each_backend(|app| async move {
        people(&app).await;
        apply(&app).await;
        let task = todo_task(&app, "hp1").await.expect("the district review");
        let hp1 = login(&app, "hp1", PASSWORD).await;
        let hp2 = login(&app, "hp2", PASSWORD).await;

        let (_, home) = screen(&app, &hp1, "/").await;
        assert!(home.contains(r#"id="count-claimable">1<"#), "home counts 待认领: {home}");
        let (_, pool) = screen(&app, &hp2, "/inbox?tab=claimable").await;
        assert!(pool.contains(&format!(r#"action="/tasks/{task}/claim""#)), "a 认领 button per row: {pool}");
        let (_, todo) = screen(&app, &hp2, "/inbox?tab=todo").await;
        assert!(todo.contains(&task) && todo.contains(r#"<span class="tag warn">待认领</span>"#), "{todo}");
        let (_, page) = screen(&app, &hp1, &format!("/tasks/{task}")).await;
        assert!(page.contains(r#"id="op-claim""#) && !page.contains(r#"id="op-unclaim""#), "{page}");

        // hp1 claims from the list: back to the list, which no longer has it, for either of them.
        let claimed =
            submit(&app, &hp1, &format!("/tasks/{task}/claim"), Some(&hp1.csrf), &[("back", "claimable")]).await;
        assert_eq!(claimed.status(), StatusCode::SEE_OTHER);
        assert_eq!(claimed.headers()[LOCATION], "/inbox?tab=claimable&notice=claim");
        let (_, pool) = screen(&app, &hp1, "/inbox?tab=claimable&notice=claim").await;
        assert!(pool.contains("已认领") && !pool.contains(&task) && pool.contains(r#"id="empty""#), "{pool}");
        let (_, todo) = screen(&app, &hp2, "/inbox?tab=todo").await;
        assert!(!todo.contains(&task), "hp2 lost it: {todo}");
        assert_eq!(todo_task(&app, "hp1").await.as_deref(), Some(task.as_str()), "hp1 holds it");
        // hp2, with the page still open, claims too late.
        let late = submit(&app, &hp2, &format!("/tasks/{task}/claim"), Some(&hp2.csrf), &[]).await;
        assert_eq!(late.status(), StatusCode::CONFLICT, "someone else was first");
        let late = late.text().await.expect("HTML");
        assert!(late.contains("已被他人处理") && late.contains("已被 hp1 认领"), "{late}");
        // hp1's page now offers 取消认领 and the decisions, not 认领.
        let (_, page) = screen(&app, &hp1, &format!("/tasks/{task}")).await;
        assert!(page.contains(r#"id="op-unclaim""#) && !page.contains(r#"id="op-claim""#), "{page}");
        assert!(page.contains(&format!(r#"action="/tasks/{task}/approve""#)), "{page}");
        let timeline = &page[page.find(r#"id="timeline""#).expect("a timeline")..];
        assert!(timeline.contains("<strong>测试hp1</strong> 认领"), "the timeline has the claim, by name: {timeline}");

        // Only the one who holds it may give it back.
        let (status, _) =
            crate::approval::post(&app, "hp2", &format!("/tasks/{task}/unclaim"), serde_json::json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "hp2 does not hold it");

        // 取消认领: back in everyone's pool.
        let released = submit(&app, &hp1, &format!("/tasks/{task}/unclaim"), Some(&hp1.csrf), &[]).await;
        assert_eq!(released.status(), StatusCode::SEE_OTHER);
        assert_eq!(released.headers()[LOCATION], "/inbox?tab=claimable&notice=unclaim");
        let (_, pool) = screen(&app, &hp2, "/inbox?tab=claimable").await;
        assert!(pool.contains(&task), "{pool}");
        // The records, in order, through the API the page reads.
        let (status, detail) = crate::approval::get(&app, "hp2", &format!("/tasks/{task}")).await;
        assert_eq!(status, StatusCode::OK, "{detail}");
        let records: Vec<&str> = detail["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .filter(|step| step["kind"] == "operation")
            .filter_map(|step| step["operation"].as_str())
            .filter(|operation| operation.contains("claim"))
            .collect();
        assert_eq!(records, ["claim", "unclaim"]);
        assert_eq!(detail["operations"][0], "claim", "{detail}");

        // The API counts the pool too, and nobody outside the role may claim.
        let (_, counts) = crate::approval::get(&app, "hp2", "/inbox/counts").await;
        assert_eq!((counts["todo"].as_i64(), counts["claimable"].as_i64()), (Some(1), Some(1)), "{counts}");
        let claim = format!("/tasks/{task}/claim");
        let (status, body) = crate::approval::post(&app, "city1", &claim, serde_json::json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "the city sees it but is no candidate: {body}");
        let (status, _) = crate::approval::post(&app, "xh1", &claim, serde_json::json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "outside the district the task does not exist");
        // While 加签 is under way (hp1 claims again and asks hp2 to sign first), the signer holds
        // the task but may not release it: the pending signature would be lost.
        let (status, _) =
            crate::approval::post(&app, "hp1", &format!("/tasks/{task}/claim"), serde_json::json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) = crate::approval::post(
            &app,
            "hp1",
            &format!("/tasks/{task}/add-signers"),
            serde_json::json!({ "users": ["hp2"], "position": "before" }),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (_, signing) = crate::approval::get(&app, "hp2", &format!("/tasks/{task}")).await;
        assert!(!signing["operations"].as_array().expect("operations").iter().any(|op| op == "unclaim"), "{signing}");
        let (status, _) =
            crate::approval::post(&app, "hp2", &format!("/tasks/{task}/unclaim"), serde_json::json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "not while signing");
    })
    .await;
}

/// The auditor's screen (三员分立, issue 12): only the auditor opens it; filters narrow the log and
/// stay in their fields; the chain check says intact, and after a row is edited in the database
/// names that row; what people typed is shown as text there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_auditor_filters_the_log_and_the_check_names_an_edited_row() {
    each_backend(|app| async move {
        add_account(&app, "aud1", "310000", &["auditor"], "staff").await;
        add_account(&app, "sys1", "310000", &["sysadmin"], "staff").await;
        add_account(&app, "hp1", "310101", &["district-staff"], "staff").await;
        let hp1 = login(&app, "hp1", PASSWORD).await;
        let sys1 = login(&app, "sys1", PASSWORD).await;
        assert!(crate::identity::try_login(&app, "hp1", "<b>wrong</b>", None).await.is_err());
        let auditor = login(&app, "aud1", PASSWORD).await;
        for session in [&hp1, &sys1] {
            let (status, page) = screen(&app, session, "/admin/audit").await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
        }
        let (_, home) = screen(&app, &auditor, "/").await;
        assert!(home.contains(r#"href="/admin/audit""#) && !home.contains(r#"href="/inbox""#), "{home}");

        let (status, page) = screen(&app, &auditor, "/admin/audit").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("登录") && page.contains("hp1") && page.contains("sys1"), "{page}");
        let (_, failed) = screen(&app, &auditor, "/admin/audit?user=hp1&result=failure").await;
        assert!(failed.contains(r#"<option value="failure" selected>失败</option>"#), "{failed}");
        assert!(failed.contains("共 1 条") && !failed.contains("sys1"), "{failed}");
        let (_, none) = screen(&app, &auditor, "/admin/audit?user=nobody").await;
        assert!(none.contains(r#"id="empty""#), "{none}");
        let (status, _) = screen(&app, &auditor, "/admin/audit?from=2026-02-30").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a bad date is refused, not ignored");

        let (_, intact) = screen(&app, &auditor, "/admin/audit?verify=1").await;
        assert!(intact.contains(r#"id="verdict">审计链完整"#), "{intact}");
        // Someone with database access turns hp1's failed login into a success.
        let rows = app.executor.store().audit_rows(0, 10_000).await.expect("audit rows read");
        let failed = rows
            .iter()
            .find(|row| row.entry.result == "failure" && row.entry.user_id.as_deref() == Some("hp1"))
            .expect("the failed login is audited");
        let seq = failed.seq;
        crate::identity::raw(&app, &format!("UPDATE audit_log SET result = 'success' WHERE seq = {seq}")).await;
        let (_, broken) = screen(&app, &auditor, "/admin/audit?verify=1").await;
        assert!(broken.contains(&format!("审计链已被破坏：第 {seq} 条记录的内容与其校验码不符")), "{broken}");
        assert!(broken.contains(r#"<tr class="broken">"#), "the row is marked in the table");
        assert!(broken.contains(&format!(r#"href="/admin/audit?upto={seq}&amp;verify=1""#)), "a link to the row");
        let (_, upto) = screen(&app, &auditor, &format!("/admin/audit?upto={seq}&verify=1")).await;
        assert!(
            upto.contains(&format!(r#"href="/admin/audit?upto={seq}&amp;verify=1">校验审计链"#)),
            "upto is kept: {upto}"
        );
        assert!(
            upto.contains(&format!("<td>{seq}</td>")) && !upto.contains(&format!("<td>{}</td>", seq + 1)),
            "{upto}"
        );
        // Reading the log was audited, as the API's reading is.
        let rows = app.executor.store().audit_rows(0, 10_000).await.expect("audit rows read");
        assert!(
            rows.iter().any(|row| row.entry.action == "audit.read" && row.entry.user_id.as_deref() == Some("aud1"))
        );
    })
    .await;
}

/// The mobile 待办 (SVC-24, issue 12): cards with 通过 / 驳回 inline and 认领 on the pool, the task
/// page with every operation, forms that come back to the mobile pages, the district's data
/// only, and a next page when there is more.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_mobile_todo_approves_rejects_and_claims_on_a_phone() {
    each_backend(|app| async move {
        people(&app).await;
        apply(&app).await;
        let task = todo_task(&app, "hp1").await.expect("the district review");
        let hp1 = login(&app, "hp1", PASSWORD).await;
        let xh1 = login(&app, "xh1", PASSWORD).await;

        let (status, cards) = screen(&app, &hp1, "/m/todo").await;
        assert_eq!(status, StatusCode::OK, "{cards}");
        assert!(cards.contains(&format!(r#"href="/m/tasks/{task}""#)) && cards.contains("YD-1"), "{cards}");
        assert!(cards.contains(&format!(r#"action="/tasks/{task}/approve""#)), "通过 on the card: {cards}");
        assert!(cards.contains(&format!(r#"action="/tasks/{task}/reject""#)), "驳回 on the card");
        assert!(cards.contains(r#"name="back" value="m""#) && !cards.contains(r#"id="more""#), "{cards}");
        let (_, pool) = screen(&app, &hp1, "/m/todo?tab=claimable").await;
        assert!(pool.contains(&format!(r#"action="/tasks/{task}/claim""#)), "{pool}");
        let (_, other) = screen(&app, &xh1, "/m/todo").await;
        assert!(!other.contains(&task) && other.contains(r#"id="empty""#), "{other}");
        let (status, _) = screen(&app, &xh1, &format!("/m/tasks/{task}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // The task page offers every operation the API lists, each coming back to /m.
        let (status, page) = screen(&app, &hp1, &format!("/m/tasks/{task}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let (_, detail) = crate::approval::get(&app, "hp1", &format!("/tasks/{task}")).await;
        for operation in detail["operations"].as_array().expect("operations") {
            let operation = operation.as_str().expect("name");
            assert!(page.contains(&format!(r#"action="/tasks/{task}/{operation}""#)), "{operation} offered: {page}");
        }
        assert!(page.contains("data-sign") && page.contains(r#"data-upload="attachments""#), "signature and photos");
        // 认领 from the phone comes back to the phone's task page.
        let claimed = submit(&app, &hp1, &format!("/tasks/{task}/claim"), Some(&hp1.csrf), &[("back", "m")]).await;
        assert_eq!(claimed.headers()[LOCATION].to_str().expect("text"), format!("/m/tasks/{task}?notice=claim"));
        // 退回 needs a target and 驳回 a reason; 通过 from the card goes back to the cards.
        let bare = submit(&app, &hp1, &format!("/tasks/{task}/return"), Some(&hp1.csrf), &[("back", "m")]).await;
        assert_eq!(bare.status(), StatusCode::UNPROCESSABLE_ENTITY, "a 退回 without a target is refused");
        let bare = submit(&app, &hp1, &format!("/tasks/{task}/reject"), Some(&hp1.csrf), &[("back", "m")]).await;
        assert_eq!(bare.status(), StatusCode::UNPROCESSABLE_ENTITY, "a 驳回 without a reason is refused");
        // A photo and a drawn signature, uploaded by the page's script, go with the 通过.
        let png = b"\x89PNG\r\n\x1a\n pixels".to_vec();
        let (_, photo) = crate::approval::upload(&app, "hp1", "现场照片.png", png.clone()).await;
        let (_, signature) = crate::approval::upload(&app, "hp1", "signature.png", png).await;
        let (photo, signature) = (photo["id"].as_str().expect("id"), signature["id"].as_str().expect("id"));
        let approved = submit(
            &app,
            &hp1,
            &format!("/tasks/{task}/approve"),
            Some(&hp1.csrf),
            &[("back", "m"), ("attachments", photo), ("signature", signature)],
        )
        .await;
        assert_eq!(approved.status(), StatusCode::SEE_OTHER);
        assert_eq!(approved.headers()[LOCATION], "/m/todo?notice=approve");
        let (_, cards) = screen(&app, &hp1, "/m/todo?notice=approve").await;
        assert!(cards.contains("已通过") && !cards.contains(&task), "{cards}");
        let (_, page) = screen(&app, &hp1, &format!("/m/tasks/{task}")).await;
        assert!(page.contains(&format!(r#"<a href="/api/files/{photo}">现场照片.png</a>"#)), "{page}");
        assert!(page.contains(&format!(r#"<img class="signature" src="/api/files/{signature}""#)), "{page}");
        let city = todo_task(&app, "city1").await.expect("the city review");
        let city1 = login(&app, "city1", PASSWORD).await;
        let rejected = submit(
            &app,
            &city1,
            &format!("/tasks/{city}/reject"),
            Some(&city1.csrf),
            &[("back", "m"), ("comment", "材料不全")],
        )
        .await;
        assert_eq!(rejected.headers()[LOCATION], "/m/todo?notice=reject");

        // More than a page: the next one is a link (loaded as the list scrolls, with htmx).
        for _ in 0..11 {
            apply(&app).await;
        }
        let (_, first) = screen(&app, &hp1, "/m/todo").await;
        assert_eq!(first.matches(r#"<article class="m-card""#).count(), 10, "{first}");
        assert!(first.contains(r#"id="more" href="/m/todo?tab=todo&amp;page=2""#), "{first}");
        let (_, second) = screen(&app, &hp1, "/m/todo?tab=todo&page=2").await;
        assert_eq!(second.matches(r#"<article class="m-card""#).count(), 1, "{second}");
        assert!(!second.contains(r#"id="more""#) && !second.contains(r#"id="empty""#), "{second}");
    })
    .await;
}

/// The system and security administrators' screens (三员分立, issue 12): the system
/// administrator creates an account (with roles from checkboxes; a weak password is a Chinese
/// refusal), freezes and unfreezes it, and is offered nothing on administrators' accounts; the
/// security administrator assigns roles (an administrator role only with its password again)
/// and sees the policy; neither reaches the other's screen, and staff reach neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_administrators_manage_accounts_and_roles_from_their_screens() {
    each_backend(|app| async move {
        add_account(&app, "sys1", "310000", &["sysadmin"], "staff").await;
        add_account(&app, "sec1", "310000", &["secadmin"], "staff").await;
        add_account(&app, "aud1", "310000", &["auditor"], "staff").await;
        add_account(&app, "hp1", "310101", &["district-staff"], "staff").await;
        let sys1 = login(&app, "sys1", PASSWORD).await;
        let sec1 = login(&app, "sec1", PASSWORD).await;
        let hp1 = login(&app, "hp1", PASSWORD).await;
        for (session, path) in
            [(&hp1, "/admin/users"), (&hp1, "/admin/security"), (&sec1, "/admin/users"), (&sys1, "/admin/security")]
        {
            let (status, _) = screen(&app, session, path).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        }
        let (status, page) = screen(&app, &sys1, "/admin/users").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains(r#"id="account-hp1""#) && page.contains(r#"action="/admin/users/hp1/freeze""#), "{page}");
        assert!(!page.contains(r#"action="/admin/users/aud1/freeze""#), "nothing on an administrator: {page}");

        let account = [
            ("username", "hp9"),
            ("displayName", "<script>alert(1)</script>"),
            ("unit", "310101"),
            ("kind", "staff"),
            ("roles", "district-staff"),
            ("roles", "district-leader"),
        ];
        let weak =
            submit(&app, &sys1, "/admin/users", Some(&sys1.csrf), &[&account[..], &[("password", "short")]].concat())
                .await;
        assert_eq!(weak.status(), StatusCode::BAD_REQUEST);
        assert!(weak.text().await.expect("HTML").contains("密码"), "the refusal names the password");
        let created = submit(
            &app,
            &sys1,
            "/admin/users",
            Some(&sys1.csrf),
            &[&account[..], &[("password", "Initial-Pass-2026")]].concat(),
        )
        .await;
        assert_eq!(created.status(), StatusCode::SEE_OTHER);
        assert_eq!(created.headers()[LOCATION], "/admin/users?notice=created");
        let stored = app.executor.store().account("hp9").await.expect("read").expect("created");
        assert_eq!(stored.roles, ["district-leader", "district-staff"], "both checkboxes");
        assert!(stored.must_change_password);
        let (_, page) = screen(&app, &sys1, "/admin/users?text=hp9&notice=created").await;
        assert!(page.contains("账号已创建") && page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{page}");
        assert!(!page.contains("<script>alert(1)"), "the name is text");

        let frozen = submit(&app, &sys1, "/admin/users/hp9/freeze", Some(&sys1.csrf), &[]).await;
        assert_eq!(frozen.headers()[LOCATION], "/admin/users?notice=freeze");
        assert!(crate::identity::try_login(&app, "hp9", "Initial-Pass-2026", None).await.is_err(), "frozen");
        let (_, page) = screen(&app, &sys1, "/admin/users?status=frozen").await;
        assert!(page.contains(r#"action="/admin/users/hp9/unfreeze""#) && !page.contains("account-hp1"), "{page}");
        submit(&app, &sys1, "/admin/users/hp9/unfreeze", Some(&sys1.csrf), &[]).await;
        assert_eq!(app.executor.store().account("hp9").await.expect("read").expect("there").status, "active");
        let refused = submit(&app, &sys1, "/admin/users/aud1/freeze", Some(&sys1.csrf), &[]).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "an administrator's account is not the sysadmin's");
        let nothing = submit(&app, &sys1, "/admin/users/hp9/delete", Some(&sys1.csrf), &[]).await;
        assert_eq!(nothing.status(), StatusCode::NOT_FOUND);

        // The security administrator: the policy, role assignment, never its own account.
        let (status, page) = screen(&app, &sec1, "/admin/security").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains(r#"id="policy""#) && page.contains("至少 10 位"), "{page}");
        assert!(
            page.contains(r#"action="/admin/users/hp9/roles""#)
                && !page.contains(r#"action="/admin/users/sec1/roles""#)
        );
        let creating = submit(&app, &sec1, "/admin/users", Some(&sec1.csrf), &[("username", "x")]).await;
        assert_eq!(creating.status(), StatusCode::FORBIDDEN, "the security administrator creates no accounts");
        let roles = submit(&app, &sec1, "/admin/users/hp9/roles", Some(&sec1.csrf), &[("roles", "city-staff")]).await;
        assert_eq!(roles.headers()[LOCATION], "/admin/security?notice=roles");
        assert_eq!(app.executor.store().account("hp9").await.expect("read").expect("there").roles, ["city-staff"]);
        let admin = [("roles", "auditor"), ("password", PASSWORD)];
        let initial = submit(&app, &sec1, "/admin/users/hp9/roles", Some(&sec1.csrf), &admin).await;
        assert_eq!(initial.status(), StatusCode::UNPROCESSABLE_ENTITY, "not while the initial password stands");
        assert!(initial.text().await.expect("HTML").contains("初始密码"));
        let unproven = submit(&app, &sec1, "/admin/users/hp1/roles", Some(&sec1.csrf), &admin[..1]).await;
        assert!(unproven.status().is_client_error(), "an administrator role needs the password again");
        assert_eq!(app.executor.store().account("hp1").await.expect("read").expect("there").roles, ["district-staff"]);
        let proven = submit(&app, &sec1, "/admin/users/hp1/roles", Some(&sec1.csrf), &admin).await;
        assert_eq!(proven.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.executor.store().account("hp1").await.expect("read").expect("there").roles, ["auditor"]);
        let own = submit(&app, &sec1, "/admin/users/sec1/roles", Some(&sec1.csrf), &[("roles", "secadmin")]).await;
        assert!(own.status().is_client_error(), "never one's own roles");
        let unlocked = submit(&app, &sec1, "/admin/users/hp9/unlock", Some(&sec1.csrf), &[("back", "security")]).await;
        assert_eq!(unlocked.headers()[LOCATION], "/admin/security?notice=unlocked");
    })
    .await;
}

/// A review with a time limit (`camunda:dueDate`, a date or a duration) and a 摘要
/// (`sy:summary`), started as the 黄浦区 applicant.
const LIMITED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="http://example.org/it">
  <bpmn:process id="limited" isExecutable="true">
    <bpmn:extensionElements><camunda:properties><camunda:property name="sy:summary" value="institutionName,amount,missing"/></camunda:properties></bpmn:extensionElements>
    <bpmn:startEvent id="s"/>
    <bpmn:userTask id="review" name="限时审核" camunda:candidateGroups="district-staff" camunda:dueDate="${due}"/>
    <bpmn:endEvent id="e"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// Due dates and 摘要 (issue 12): the inbox shows each task's time limit, marks the overdue and
/// the nearly due, sorts due first (tasks without a limit last), and shows the variables the
/// model names as the row's 摘要 — in the API and on the desktop and phone pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_inbox_marks_overdue_tasks_sorts_due_first_and_shows_the_summary() {
    each_backend(|app| async move {
        people(&app).await;
        let (status, body) = app.deploy("limited", LIMITED).await;
        assert_eq!(status, 200, "{body}");
        for (key, due, name) in [("LATE", "2020-01-01T09:00:00", "<b>逾期</b>餐厅"), ("SOON", "PT2H", "将到期餐厅"), ("LATER", "P30D", "宽松餐厅")] {
            let response = app
                .client
                .post(format!("{}/engine-rest/process-definition/key/limited/start", app.base))
                .basic_auth("shenqing", Some(PASSWORD))
                .json(&serde_json::json!({ "businessKey": key, "variables": {
                    "due": { "value": due, "type": "String" },
                    "institutionName": { "value": name, "type": "String" },
                    "amount": { "value": 1200, "type": "Integer" } } }))
                .send()
                .await
                .expect("start is sent");
            assert_eq!(response.status(), 200);
        }
        apply(&app).await; // a PREF-03-like task without a limit

        let (_, list) = crate::approval::get(&app, "hp1", "/inbox/todo?sort=due").await;
        let keys: Vec<&str> = list["items"].as_array().expect("items").iter().filter_map(|i| i["businessKey"].as_str()).collect();
        assert_eq!(keys, ["LATE", "SOON", "LATER", "YD-1"], "due first, none last: {list}");
        let late = &list["items"][0];
        assert_eq!(late["due"], "2020-01-01T09:00:00.000+0800", "one stored form");
        assert_eq!(late["summary"], serde_json::json!([{ "name": "institutionName", "value": "<b>逾期</b>餐厅" }, { "name": "amount", "value": 1200 }]));
        let (_, list) = crate::approval::get(&app, "hp1", "/inbox/todo?sort=-due").await;
        assert_eq!(list["items"][0]["businessKey"], "LATER", "descending, still none last: {list}");
        assert_eq!(list["items"][3]["businessKey"], "YD-1");

        let hp1 = login(&app, "hp1", PASSWORD).await;
        let (_, page) = screen(&app, &hp1, "/inbox?tab=todo&sort=due").await;
        assert_eq!(page.matches("已超期").count(), 1, "{page}");
        assert_eq!(page.matches("即将到期").count(), 1, "{page}");
        assert!(page.contains("2020-01-01 09:00") && page.contains("办理时限 ↑"), "{page}");
        assert!(page.contains("&lt;b&gt;逾期&lt;/b&gt;餐厅") && page.contains("1200"), "the 摘要, as text: {page}");
        let first = page.find("LATE").expect("LATE listed");
        assert!(first < page.find("SOON").expect("SOON") && page.find("LATER").expect("LATER") < page.find("YD-1").expect("YD-1"));
        let (_, cards) = screen(&app, &hp1, "/m/todo").await;
        assert!(cards.contains("已超期") && cards.contains("宽松餐厅"), "{cards}");
        let late_task = crate::approval::get(&app, "hp1", "/inbox/todo?sort=due").await.1["items"][0]["taskId"]
            .as_str()
            .expect("task")
            .to_string();
        let (_, page) = screen(&app, &hp1, &format!("/tasks/{late_task}")).await;
        assert!(page.contains(r#"<dd id="due"><span class="tag danger-tag">已超期</span>"#), "{page}");
        let (status, _) = crate::approval::get(&app, "hp1", "/inbox/started?sort=due").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "instances have no due date");
    })
    .await;
}

/// 批量通过 (issue 12): only rows whose node allows it (`sy:batchApprove`) can be ticked; the
/// batch approves each as one by one would, a task that may not be batch-approved is refused on
/// its own row without stopping the others, and the page lists every result.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_approval_approves_what_the_model_allows_and_reports_each_row() {
    each_backend(|app| async move {
        people(&app).await;
        let batchable = LIMITED
            .replace(r#"id="limited""#, r#"id="batchable""#)
            .replace(r#"camunda:dueDate="${due}"/>"#, r#"camunda:dueDate="${due}"><bpmn:extensionElements><camunda:properties><camunda:property name="sy:batchApprove" value="true"/></camunda:properties></bpmn:extensionElements></bpmn:userTask>"#);
        let (status, body) = app.deploy("batchable", &batchable).await;
        assert_eq!(status, 200, "{body}");
        for key in ["B-1", "B-2"] {
            let response = app
                .client
                .post(format!("{}/engine-rest/process-definition/key/batchable/start", app.base))
                .basic_auth("shenqing", Some(PASSWORD))
                .json(&serde_json::json!({ "businessKey": key, "variables": { "due": { "value": "P1D", "type": "String" } } }))
                .send()
                .await
                .expect("start is sent");
            assert_eq!(response.status(), 200);
        }
        apply(&app).await; // YD-1: its review does not allow a batch
        let (_, list) = crate::approval::get(&app, "hp1", "/inbox/todo").await;
        let id = |key: &str| {
            list["items"].as_array().expect("items").iter().find(|item| item["businessKey"] == key).expect(key)["taskId"]
                .as_str()
                .expect("id")
                .to_string()
        };
        let (b1, b2, single) = (id("B-1"), id("B-2"), id("YD-1"));
        let hp1 = login(&app, "hp1", PASSWORD).await;
        let (_, page) = screen(&app, &hp1, "/inbox?tab=todo").await;
        assert!(page.contains(&format!(r#"name="task" value="{b1}""#)) && page.contains(&format!(r#"name="task" value="{b2}""#)), "{page}");
        assert!(!page.contains(&format!(r#"name="task" value="{single}""#)), "no box where the node forbids it");

        let answer = submit(
            &app,
            &hp1,
            "/inbox/batch-approve",
            Some(&hp1.csrf),
            &[("task", &b1), ("task", &single), ("task", &b2), ("comment", "批量同意")],
        )
        .await;
        assert_eq!(answer.status(), StatusCode::OK);
        let page = answer.text().await.expect("HTML");
        assert!(page.contains("共 3 件，已通过 2 件，1 件未通过"), "{page}");
        assert!(page.contains("该环节不允许批量通过"), "{page}");
        let (_, left) = crate::approval::get(&app, "hp1", "/inbox/todo").await;
        assert_eq!(left["total"], 1, "only YD-1 is left: {left}");
        let (_, done) = crate::approval::get(&app, "hp1", "/inbox/done").await;
        assert_eq!(done["total"], 2, "the batch is in 已办 like any 通过");
        let (_, detail) = crate::approval::get(&app, "hp1", &format!("/tasks/{b1}")).await;
        assert!(detail["timeline"].as_array().expect("timeline").iter().any(|step| step["comment"] == "批量同意"));

        // The API: the same rule, a result per task; an empty batch is refused.
        let (status, results) = crate::approval::post(&app, "hp1", "/inbox/batch-approve", serde_json::json!({ "taskIds": [single, "nope-1"] })).await;
        assert_eq!(status, StatusCode::OK, "{results}");
        assert_eq!(results[0]["code"], "invalid-state");
        assert_eq!((results[1]["ok"].as_bool(), results[1]["code"].as_str()), (Some(false), Some("not-found")), "{results}");
        let (status, _) = crate::approval::post(&app, "hp1", "/inbox/batch-approve", serde_json::json!({ "taskIds": [] })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    })
    .await;
}

/// The process administrator's screens (issue 12): a model deployed by upload (the form's token
/// in the upload; a model the checks refuse is a page naming the problem), its versions with the
/// XML to download, the instance search, an incident retried and an instance ended with a
/// recorded reason; staff reach none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_process_admin_deploys_searches_retries_and_cancels() {
    each_backend(|app| async move {
        add_account(&app, "pa1", "310000", &["process-admin"], "staff").await;
        add_account(&app, "hp1", "310101", &["district-staff"], "staff").await;
        let pa1 = login(&app, "pa1", PASSWORD).await;
        let hp1 = login(&app, "hp1", PASSWORD).await;
        for path in ["/admin/processes", "/admin/instances"] {
            assert_eq!(screen(&app, &hp1, path).await.0, StatusCode::FORBIDDEN, "{path}");
        }
        let upload = |csrf: &str, name: &str, xml: &str| {
            reqwest::multipart::Form::new()
                .text("csrf_token", csrf.to_string())
                .part("file", reqwest::multipart::Part::text(xml.to_string()).file_name(name.to_string()))
        };
        let deploy = |form: reqwest::multipart::Form| {
            no_redirects()
                .post(format!("{}/admin/processes/deploy", app.base))
                .header("cookie", &pa1.cookie)
                .header("accept", "text/html")
                .multipart(form)
                .send()
        };
        let forged = deploy(upload("forged", "fragile.bpmn", crate::engine_rest::FAILING_SCRIPT)).await.expect("sent");
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);
        let broken = crate::engine_rest::FAILING_SCRIPT.replace(r#"targetRef="check""#, r#"targetRef="nowhere""#);
        let refused = deploy(upload(&pa1.csrf, "broken.bpmn", &broken)).await.expect("sent");
        assert!(refused.status().is_client_error(), "{}", refused.status());
        assert!(refused.text().await.expect("HTML").contains("nowhere"), "the problem is named");
        let deployed = deploy(upload(&pa1.csrf, "fragile.bpmn", crate::engine_rest::FAILING_SCRIPT)).await.expect("sent");
        assert_eq!(deployed.status(), StatusCode::SEE_OTHER);
        assert_eq!(deployed.headers()[LOCATION], "/admin/processes/fragile?notice=deployed");
        let (_, list) = screen(&app, &pa1, "/admin/processes").await;
        assert!(list.contains(r#"href="/admin/processes/fragile""#), "{list}");
        let (status, versions) = screen(&app, &pa1, "/admin/processes/fragile?notice=deployed").await;
        assert_eq!(status, StatusCode::OK);
        assert!(versions.contains("已部署新版本") && versions.contains("v1"), "{versions}");
        let again = deploy(upload(&pa1.csrf, "fragile.bpmn", crate::engine_rest::FAILING_SCRIPT)).await.expect("sent");
        assert_eq!(again.headers()[LOCATION], "/admin/processes/fragile?notice=unchanged", "the same model: no version");
        let download = versions
            .split(r#"href=""#)
            .find(|part| part.contains("/data"))
            .and_then(|part| part.split('"').next())
            .expect("a download link")
            .to_string();
        let xml = app.client.get(format!("{}{download}", app.base)).header("cookie", &pa1.cookie).send().await.expect("sent");
        assert_eq!(xml.status(), StatusCode::OK);
        assert!(xml.text().await.expect("text").contains(r#"id="compute""#));

        // An instance stops at the failing script: retry after the data is fixed, then 终止.
        let instance = app
            .start("fragile", serde_json::json!({ "businessKey": "F-1", "variables": { "price": { "value": 3, "type": "Integer" } } }))
            .await;
        let id = instance["id"].as_str().expect("id").to_string();
        let (_, found) = screen(&app, &pa1, "/admin/instances?process=fragile&state=active").await;
        assert!(found.contains(&format!(r#"href="/admin/instances/{id}""#)) && found.contains("F-1"), "{found}");
        let (_, none) = screen(&app, &pa1, "/admin/instances?process=fragile&state=ended").await;
        assert!(none.contains(r#"id="empty""#));
        // The start date filter: from a day long past it is there, from a day to come it is not.
        let (_, since) = screen(&app, &pa1, "/admin/instances?process=fragile&from=2000-01-01").await;
        assert!(since.contains("F-1") && since.contains(r#"value="2000-01-01""#), "{since}");
        let (_, future) = screen(&app, &pa1, "/admin/instances?process=fragile&from=2999-01-01").await;
        assert!(future.contains(r#"id="empty""#), "{future}");
        let (_, before) = screen(&app, &pa1, "/admin/instances?process=fragile&to=2000-01-01").await;
        assert!(before.contains(r#"id="empty""#), "started after that day: {before}");
        let (_, until) = screen(&app, &pa1, "/admin/instances?process=fragile&to=2999-01-01").await;
        assert!(until.contains("F-1"), "{until}");
        let (status, _) = screen(&app, &pa1, "/admin/instances?to=2026-13-01").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a bad date is refused, not ignored");
        let (_, page) = screen(&app, &pa1, &format!("/admin/instances/{id}")).await;
        assert!(page.contains(r#"id="incidents""#) && page.contains("quantity"), "{page}");
        // The diagram paints the flow the engine took (history's arrived_by), not a guess.
        assert!(page.contains(r#"data-taken="{&quot;f1&quot;:1}""#), "{page}");
        let incident = app.json(&format!("/incident?processInstanceId={id}")).await[0]["id"].as_str().expect("id").to_string();
        let put = app
            .client
            .put(app.url(&format!("/process-instance/{id}/variables/quantity")))
            .basic_auth("admin", Some(crate::support::ADMIN_PASSWORD))
            .json(&serde_json::json!({ "value": 4, "type": "Integer" }))
            .send()
            .await
            .expect("sent");
        assert_eq!(put.status(), 204);
        let retried = submit(&app, &pa1, &format!("/admin/instances/{id}/incidents/{incident}/retry"), Some(&pa1.csrf), &[]).await;
        assert_eq!(retried.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.json("/incident/count").await, serde_json::json!({ "count": 0 }));
        let (_, page) = screen(&app, &pa1, &format!("/admin/instances/{id}?notice=retry")).await;
        assert!(!page.contains(r#"id="incidents""#) && page.contains("已重试"), "{page}");
        let bare = submit(&app, &pa1, &format!("/admin/instances/{id}/cancel"), Some(&pa1.csrf), &[("reason", " ")]).await;
        assert_eq!(bare.status(), StatusCode::UNPROCESSABLE_ENTITY, "a reason is required");
        let staff = submit(&app, &hp1, &format!("/admin/instances/{id}/cancel"), Some(&hp1.csrf), &[("reason", "x")]).await;
        assert_eq!(staff.status(), StatusCode::FORBIDDEN);
        let ended = submit(&app, &pa1, &format!("/admin/instances/{id}/cancel"), Some(&pa1.csrf), &[("reason", "重复申请")]).await;
        assert_eq!(ended.status(), StatusCode::SEE_OTHER);
        let (_, page) = screen(&app, &pa1, &format!("/admin/instances/{id}")).await;
        assert!(page.contains("已终止") && page.contains("重复申请") && !page.contains(r#"id="cancel""#), "{page}");
        let twice = submit(&app, &pa1, &format!("/admin/instances/{id}/cancel"), Some(&pa1.csrf), &[("reason", "再次")]).await;
        assert_eq!(twice.status(), StatusCode::CONFLICT);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_process_admin_edits_checks_saves_drafts_and_deploys_from_the_editor() {
    each_backend(|app| async move {
        add_account(&app, "pa2", "310000", &["process-admin"], "staff").await;
        add_account(&app, "pa3", "310000", &["process-admin"], "staff").await;
        add_account(&app, "hp2", "310101", &["district-staff"], "staff").await;
        let pa2 = login(&app, "pa2", PASSWORD).await;
        let pa3 = login(&app, "pa3", PASSWORD).await;
        let hp2 = login(&app, "hp2", PASSWORD).await;
        app.deploy("fragile", crate::engine_rest::FAILING_SCRIPT).await;

        // The editor opens the latest version, with the people and roles its selects offer;
        // staff without engine:deploy see neither the page nor the API.
        let (status, page) = screen(&app, &pa2, "/admin/processes/fragile/editor").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(
            page.contains(r#"<textarea id="editor-xml" hidden>"#) && page.contains("id=&quot;compute&quot;"),
            "{page}"
        );
        assert!(page.contains("基于已部署的 v1") && page.contains("hp2") && page.contains("district-staff"), "{page}");
        assert_eq!(screen(&app, &hp2, "/admin/processes/fragile/editor").await.0, StatusCode::FORBIDDEN);
        assert_eq!(screen(&app, &hp2, "/admin/processes/new").await.0, StatusCode::FORBIDDEN);
        let (status, new_model) = screen(&app, &pa2, "/admin/processes/new").await;
        assert!(status == StatusCode::OK && new_model.contains("Process_") && new_model.contains("新模型，尚未保存"));
        let sent = hp2
            .post(&app, "/api/process-models/check", serde_json::json!({ "xml": "<x/>" }))
            .send()
            .await
            .expect("sent");
        assert_eq!(sent.status(), StatusCode::FORBIDDEN);

        // 校验 names the element that is wrong, and stores nothing.
        let broken = crate::engine_rest::FAILING_SCRIPT.replace(r#"targetRef="check""#, r#"targetRef="nowhere""#);
        let check = |xml: String| {
            let pa2 = &pa2;
            let app = &app;
            async move {
                let response =
                    pa2.post(app, "/api/process-models/check", serde_json::json!({ "xml": xml })).send().await;
                let response = response.expect("sent");
                assert_eq!(response.status(), StatusCode::OK);
                response.json::<serde_json::Value>().await.expect("json")
            }
        };
        let answer = check(broken.clone()).await;
        assert_eq!(answer["valid"], false, "{answer}");
        assert_eq!(answer["processes"][0]["id"], "fragile");
        let problem = &answer["problems"][0];
        assert_eq!(problem["elementId"], "f2", "{answer}");
        // In Chinese for the editor, with the engine's own words beside it.
        assert!(problem["message"].as_str().expect("message").contains("终点“nowhere”不是本流程中的元素"), "{answer}");
        assert!(problem["detail"].as_str().expect("detail").contains("targetRef 'nowhere'"), "{answer}");
        assert_eq!(check(crate::engine_rest::FAILING_SCRIPT.to_string()).await["valid"], true);
        let unreadable = check("<bpmn:definitions".into()).await;
        assert_eq!(
            (unreadable["valid"].clone(), unreadable["problems"][0]["elementType"].clone()),
            (false.into(), "xml".into())
        );

        // A draft, saved again by its revision; a save over a newer save is a 409 in Chinese.
        let renamed = crate::engine_rest::FAILING_SCRIPT
            .replace(r#"<bpmn:userTask id="check" />"#, r#"<bpmn:userTask id="check" name="复核" />"#);
        let created =
            pa2.post(&app, "/api/process-drafts", serde_json::json!({ "xml": broken })).send().await.expect("sent");
        assert_eq!(created.status(), StatusCode::CREATED);
        let created: serde_json::Value = created.json().await.expect("json");
        let id = created["id"].as_str().expect("id").to_string();
        assert_eq!((created["processKey"].as_str(), created["revision"].as_i64()), (Some("fragile"), Some(1)));
        assert_eq!(created["createdBy"], "pa2");
        let by_pa3 = pa3
            .post(&app, "/api/process-drafts", serde_json::json!({ "id": id, "revision": 1, "xml": renamed }))
            .send()
            .await
            .expect("sent");
        assert_eq!(by_pa3.status(), StatusCode::OK);
        let by_pa3: serde_json::Value = by_pa3.json().await.expect("json");
        assert_eq!((by_pa3["revision"].as_i64(), by_pa3["savedBy"].as_str()), (Some(2), Some("pa3")));
        let stale = pa2
            .post(&app, "/api/process-drafts", serde_json::json!({ "id": id, "revision": 1, "xml": broken }))
            .send()
            .await
            .expect("sent");
        assert_eq!(stale.status(), StatusCode::CONFLICT);
        let stale: serde_json::Value = stale.json().await.expect("json");
        assert_eq!(stale["error"], "conflict");
        assert!(stale["message"].as_str().expect("message").contains("已被他人保存"), "{stale}");
        let two_processes = crate::engine_rest::FAILING_SCRIPT
            .replace("</bpmn:definitions>", r#"<bpmn:process id="second" /></bpmn:definitions>"#);
        let refused = pa2
            .post(&app, "/api/process-drafts", serde_json::json!({ "xml": two_processes }))
            .send()
            .await
            .expect("sent");
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let listed = pa2.get(&app, "/api/process-drafts?key=fragile").send().await.expect("sent");
        let listed: serde_json::Value = listed.json().await.expect("json");
        assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
        assert!(listed[0].get("xml").is_none(), "lists leave the model out");
        let (_, page) = screen(&app, &pa2, &format!("/admin/processes/fragile/editor?draft={id}")).await;
        assert!(
            page.contains(&format!(r#"data-draft="{id}""#))
                && page.contains(r#"data-revision="2""#)
                && page.contains("复核"),
            "{page}"
        );

        // A draft that fails the checks is not deployed; the saved one becomes v2, by pa3's hand.
        let deploy = |body: serde_json::Value| pa3.post(&app, &format!("/api/process-drafts/{id}/deploy"), body);
        let older = deploy(serde_json::json!({ "revision": 1, "baseVersion": 1 })).send().await.expect("sent");
        assert_eq!(older.status(), StatusCode::CONFLICT, "an older revision");
        // A draft begun before someone else's version (here: as if opened as a new model) is refused.
        let behind = deploy(serde_json::json!({ "revision": 2 })).send().await.expect("sent");
        assert_eq!(behind.status(), StatusCode::CONFLICT);
        let behind: serde_json::Value = behind.json().await.expect("json");
        assert_eq!(behind["error"], "newer-version", "{behind}");
        assert!(behind["message"].as_str().expect("message").contains("v1"), "{behind}");
        let deployed = deploy(serde_json::json!({ "revision": 2, "baseVersion": 1 })).send().await.expect("sent");
        assert_eq!(deployed.status(), StatusCode::OK);
        let deployed: serde_json::Value = deployed.json().await.expect("json");
        assert_eq!(
            (deployed["key"].as_str(), deployed["version"].as_i64(), deployed["created"].as_bool()),
            (Some("fragile"), Some(2), Some(true))
        );
        let listed = pa2.get(&app, "/api/process-drafts?key=fragile").send().await.expect("sent");
        let listed: serde_json::Value = listed.json().await.expect("json");
        assert_eq!(
            listed[0]["deployedDefinitionId"], deployed["definitionId"],
            "the draft knows its version: {listed}"
        );
        let (_, versions) = screen(&app, &pa2, "/admin/processes/fragile").await;
        assert!(versions.contains("<td>pa3</td>") && versions.contains("控制台编辑器"), "{versions}");
        let xml =
            app.json(&format!("/process-definition/{}/xml", deployed["definitionId"].as_str().expect("id"))).await;
        assert!(xml["bpmn20Xml"].as_str().expect("xml").contains("复核"));
        let bad_draft =
            pa2.post(&app, "/api/process-drafts", serde_json::json!({ "xml": broken })).send().await.expect("sent");
        let bad_id = bad_draft.json::<serde_json::Value>().await.expect("json")["id"].as_str().expect("id").to_string();
        let invalid = pa2
            .post(
                &app,
                &format!("/api/process-drafts/{bad_id}/deploy"),
                serde_json::json!({ "revision": 1, "baseVersion": 2 }),
            )
            .send()
            .await;
        let invalid = invalid.expect("sent");
        assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(invalid.json::<serde_json::Value>().await.expect("json")["error"], "invalid-model");
        assert_eq!(app.json("/process-definition/count?key=fragile").await["count"], 2, "nothing deployed");

        // Deleting: gone from the list, a second delete is a 404.
        let delete = |draft: &str| {
            pa2.send(&app, reqwest::Method::DELETE, &format!("/api/process-drafts/{draft}"), serde_json::json!({}))
        };
        assert_eq!(delete(&bad_id).send().await.expect("sent").status(), StatusCode::NO_CONTENT);
        let again = delete(&bad_id).send().await.expect("sent");
        assert_eq!(again.status(), StatusCode::NOT_FOUND);
        let again: serde_json::Value = again.json().await.expect("json");
        assert!(again["message"].as_str().expect("message").contains("草稿不存在"), "{again}");
        for (method, path) in
            [(reqwest::Method::GET, "/api/process-drafts?key=fragile"), (reqwest::Method::POST, "/api/process-drafts")]
        {
            let refused =
                hp2.send(&app, method, path, serde_json::json!({ "xml": "<x/>" })).send().await.expect("sent");
            assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{path}");
        }
        // `new` is the new-model page's address, never a process id.
        let reserved = crate::engine_rest::FAILING_SCRIPT.replace(r#"id="fragile""#, r#"id="new""#);
        let reserved = pa2.post(&app, "/api/process-drafts", serde_json::json!({ "xml": reserved })).send().await;
        assert_eq!(reserved.expect("sent").status(), StatusCode::UNPROCESSABLE_ENTITY);
    })
    .await;
}

const STARTABLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="venue" name="场地申请" isExecutable="true" camunda:candidateStarterGroups="district-staff">
    <bpmn:startEvent id="start">
      <bpmn:documentation>区工作人员申请使用场地</bpmn:documentation>
      <bpmn:extensionElements><camunda:formData>
        <camunda:formField id="venueName" label="场地名称" type="string"><camunda:validation><camunda:constraint name="required"/><camunda:constraint name="maxlength" config="40"/></camunda:validation></camunda:formField>
        <camunda:formField id="seats" label="人数" type="long"><camunda:validation><camunda:constraint name="min" config="1"/></camunda:validation></camunda:formField>
        <camunda:formField id="district" label="所属区" type="district"><camunda:validation><camunda:constraint name="required"/></camunda:validation></camunda:formField>
        <camunda:formField id="kind" label="用途" type="enum"><camunda:value id="meeting" name="会议"/><camunda:value id="training" name="培训"/></camunda:formField>
        <camunda:formField id="day" label="日期" type="date"/>
      </camunda:formData></bpmn:extensionElements>
    </bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:userTask id="review" name="市级审核" camunda:candidateGroups="city-staff"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// 发起流程 (issue 12): the list offers what the model's starters allow (none named: any staff),
/// the start form is the model's `camunda:formData`, checked on the server with every problem at
/// its field, a district user may start only for their district, and the new instance's page
/// (participants only; 404 to others) offers 撤回申请 and a print view.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn staff_start_a_process_from_its_start_form_and_withdraw_it() {
    each_backend(|app| async move {
        people(&app).await;
        let (status, body) = app.deploy("venue", STARTABLE).await;
        assert_eq!(status, 200, "{body}");
        let hp1 = login(&app, "hp1", PASSWORD).await;
        let liaison = login(&app, "shenqing", PASSWORD).await;

        // The liaison may start 优待申请 (no starters named) but not 场地申请 (district staff).
        let (status, list) = screen(&app, &liaison, "/processes/start").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert!(list.contains(r#"href="/processes/start/allowance""#), "{list}");
        assert!(!list.contains("/processes/start/venue"), "{list}");
        assert_eq!(screen(&app, &liaison, "/processes/start/venue").await.0, StatusCode::NOT_FOUND);
        let refused = submit(&app, &liaison, "/processes/start/venue", Some(&liaison.csrf), &[]).await;
        assert_eq!(refused.status(), StatusCode::NOT_FOUND, "nor by posting the form");

        // hp1 sees it with its description; the form asks for the model's fields, the district
        // preset to 黄浦区 and no other district offered.
        let (_, list) = screen(&app, &hp1, "/processes/start").await;
        assert!(list.contains("/processes/start/venue") && list.contains("区工作人员申请使用场地"), "{list}");
        let (status, form) = screen(&app, &hp1, "/processes/start/venue").await;
        assert_eq!(status, StatusCode::OK, "{form}");
        for wanted in
            ["场地名称", r#"name="v.venueName""#, r#"maxlength="40""#, r#"type="number""#, r#"type="date""#, "会议"]
        {
            assert!(form.contains(wanted), "{wanted}: {form}");
        }
        assert!(form.contains(r#"<option value="黄浦区" selected>黄浦区</option>"#), "{form}");
        assert!(!form.contains("徐汇区"), "{form}");

        // Bad input: every problem at its field, the values kept, nothing started.
        let path = "/processes/start/venue";
        let bad = submit(
            &app,
            &hp1,
            path,
            Some(&hp1.csrf),
            &[
                ("v.venueName", ""),
                ("v.seats", "abc"),
                ("v.district", "徐汇区"),
                ("v.kind", "party"),
                ("v.day", "2026-02-30"),
            ],
        )
        .await;
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = bad.text().await.expect("HTML");
        for wanted in
            ["此项为必填项", "请填写整数", "请选择本人可发起的区", "请从列表中选择", "请填写有效日期", r#"value="abc""#]
        {
            assert!(page.contains(wanted), "{wanted}: {page}");
        }
        let zero = submit(
            &app,
            &hp1,
            path,
            Some(&hp1.csrf),
            &[("v.venueName", "礼堂"), ("v.seats", "0"), ("v.district", "黄浦区")],
        )
        .await;
        assert!(zero.text().await.expect("HTML").contains("不能小于 1"));
        let (_, started) = screen(&app, &hp1, "/inbox?tab=started").await;
        assert!(started.contains(r#"id="empty""#), "nothing was started: {started}");

        // A good form starts the instance (what people typed stays text) and opens its page.
        let name = "<script>alert(1)</script>礼堂";
        let fields = [
            ("v.venueName", name),
            ("v.seats", "30"),
            ("v.district", "黄浦区"),
            ("v.kind", "meeting"),
            ("v.day", "2026-12-24"),
            ("businessKey", "CD-1"),
        ];
        let done = submit(&app, &hp1, path, Some(&hp1.csrf), &fields).await;
        assert_eq!(done.status(), StatusCode::SEE_OTHER, "{}", done.text().await.unwrap_or_default());
        let location = done.headers()[LOCATION].to_str().expect("location").to_string();
        let instance = location
            .strip_prefix("/instances/")
            .and_then(|rest| rest.strip_suffix("?notice=started"))
            .expect(&location)
            .to_string();
        let (status, page) = screen(&app, &hp1, &location).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for wanted in [
            "已提交，流程已发起",
            "场地申请",
            "CD-1",
            "场地名称",
            "&lt;script&gt;alert(1)&lt;/script&gt;礼堂",
            "市级审核",
            "撤回申请",
            r#"id="diagram""#,
        ] {
            assert!(page.contains(wanted), "{wanted}: {page}");
        }
        assert!(!page.contains("<script>alert"), "{page}");
        let (_, started) = screen(&app, &hp1, "/inbox?tab=started").await;
        assert!(
            started.contains(&format!(r#"href="/instances/{instance}""#)),
            "我发起的 links the instance: {started}"
        );
        // The process administrators' search finds it by its district.
        let admin = login(&app, "admin", crate::support::ADMIN_PASSWORD).await;
        let (_, here) = screen(&app, &admin, "/admin/instances?district=310101").await;
        assert!(here.contains("CD-1") && here.contains(r#"<option value="310101" selected>"#), "{here}");
        let (_, elsewhere) = screen(&app, &admin, "/admin/instances?district=310104").await;
        assert!(!elsewhere.contains("CD-1"), "{elsewhere}");

        // Who may open it: the starter and the candidates; a colleague not involved and another
        // district get the 404 page.
        let city1 = login(&app, "city1", PASSWORD).await;
        assert_eq!(screen(&app, &city1, &format!("/instances/{instance}")).await.0, StatusCode::OK);
        let hp2 = login(&app, "hp2", PASSWORD).await;
        assert_eq!(screen(&app, &hp2, &format!("/instances/{instance}")).await.0, StatusCode::NOT_FOUND);
        let xh1 = login(&app, "xh1", PASSWORD).await;
        assert_eq!(screen(&app, &xh1, &format!("/instances/{instance}/print")).await.0, StatusCode::NOT_FOUND);
        let (_, city_page) = screen(&app, &city1, &format!("/instances/{instance}")).await;
        assert!(!city_page.contains("撤回申请"), "only the starter withdraws");
        let stolen = submit(&app, &city1, &format!("/instances/{instance}/withdraw"), Some(&city1.csrf), &[]).await;
        assert_eq!(stolen.status(), StatusCode::FORBIDDEN);

        // The print view: the same facts without the console, who printed it and when.
        let (status, print) = screen(&app, &hp1, &format!("/instances/{instance}/print")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(print.contains("打印人") && print.contains("CD-1") && print.contains("场地名称"), "{print}");
        assert!(!print.contains("class=\"sidebar\"") && !print.contains("<script>alert"), "{print}");

        // 撤回申请: the instance ends, the reason is in the timeline, a second try is refused.
        let out =
            submit(&app, &hp1, &format!("/instances/{instance}/withdraw"), Some(&hp1.csrf), &[("comment", "填错了")])
                .await;
        assert_eq!(out.status(), StatusCode::SEE_OTHER);
        let (_, page) = screen(&app, &hp1, &format!("/instances/{instance}?notice=withdrawn")).await;
        assert!(page.contains("已撤回申请") && page.contains("填错了") && !page.contains("确定撤回"), "{page}");
        assert!(todo_task(&app, "city1").await.is_none(), "the review is gone");
        let again = submit(&app, &hp1, &format!("/instances/{instance}/withdraw"), Some(&hp1.csrf), &[]).await;
        assert!(again.status().is_client_error(), "{}", again.status());
    })
    .await;
}

/// The people pickers of 转办 / 委派 / 加签 / 抄送 (issue 12) search the accounts the task may be
/// handed to — active staff who can see the instance, never the caller or another district —
/// and 抄送 offers the console's roles as checkboxes, sent as repeated fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_people_pickers_offer_only_whom_the_operation_accepts() {
    each_backend(|app| async move {
        people(&app).await;
        apply(&app).await;
        let task = todo_task(&app, "hp1").await.expect("the district review");
        let hp1 = login(&app, "hp1", PASSWORD).await;
        let claimed = submit(&app, &hp1, &format!("/tasks/{task}/claim"), Some(&hp1.csrf), &[]).await;
        assert_eq!(claimed.status(), StatusCode::SEE_OTHER);
        let (_, page) = screen(&app, &hp1, &format!("/tasks/{task}")).await;
        assert!(page.contains(&format!(r#"hx-get="/tasks/{task}/people""#)), "{page}");
        assert!(page.contains(r#"name="roles" value="city-staff""#) && page.contains("市级工作人员"), "{page}");
        assert!(!page.contains(r#"name="roles" value="sysadmin""#), "no administrator role to copy to");

        let picks = |query: &'static str| {
            let task = task.clone();
            let hp1 = &hp1;
            let app = &app;
            async move { screen(app, hp1, &format!("/tasks/{task}/people?{query}")).await }
        };
        let (status, found) = picks("user=hp").await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert!(found.contains(r#"data-pick="hp2""#), "{found}");
        assert!(!found.contains(r#"data-pick="hp1""#), "not the caller: {found}");
        let (_, found) = picks("user=").await;
        assert!(found.contains(r#"data-pick="city1""#) && !found.contains(r#"data-pick="xh1""#), "{found}");
        // A list field searches what is typed after the last comma.
        let (_, found) = picks("users=hp2%2C%20city2").await;
        assert!(found.contains(r#"data-pick="city2""#) && !found.contains(r#"data-pick="hp2""#), "{found}");
        // Sixty matching accounts of another district sort before 黄浦区's: the picker looks
        // past them and still offers hp2.
        for index in 0..60 {
            add_account(&app, &format!("a-xh-{index:02}"), "310104", &["district-staff"], "staff").await;
        }
        let (_, found) = picks("user=%E6%B5%8B%E8%AF%95").await;
        assert!(found.contains(r#"data-pick="hp2""#) && !found.contains("a-xh-"), "{found}");
        let (_, found) = picks("user=%25_%5C").await;
        assert!(found.contains("没有找到可选的人员"), "LIKE wildcards are text: {found}");
        // Another district cannot ask.
        let xh1 = login(&app, "xh1", PASSWORD).await;
        assert_eq!(screen(&app, &xh1, &format!("/tasks/{task}/people?user=hp")).await.0, StatusCode::NOT_FOUND);

        // 抄送 with two role checkboxes and a picked user: each is copied.
        let fields = [("roles", "city-staff"), ("roles", "district-leader"), ("users", "hp2, "), ("comment", "请知悉")];
        let copied = submit(&app, &hp1, &format!("/tasks/{task}/cc"), Some(&hp1.csrf), &fields).await;
        assert_eq!(copied.status(), StatusCode::SEE_OTHER, "{}", copied.text().await.unwrap_or_default());
        for user in ["city1", "hp2"] {
            let session = login(&app, user, PASSWORD).await;
            let (_, cc) = screen(&app, &session, "/inbox?tab=cc").await;
            assert!(cc.contains("YD-1"), "{user} has the copy: {cc}");
        }
    })
    .await;
}

/// Stored XSS, swept across the console (issue 12): a payload goes into every text people can
/// enter on these pages — a model's names and start-form labels and options, start-form values
/// and the business key, comments, a withdrawal and a cancellation reason, a display name, a
/// draft — and into the filters; every page that shows them prints it escaped, never as markup.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_text_people_enter_is_escaped_on_every_page() {
    const RAW: &str = r#""><svg onload=alert(1)>"#;
    const XML: &str = "&quot;&gt;&lt;svg onload=alert(1)&gt;";
    each_backend(|app| async move {
        people(&app).await;
        add_account(&app, "aud", "310000", &["auditor"], "staff").await;
        crate::identity::add_named_account(&app, "evil", RAW, "310101", &["district-staff"], "staff").await;
        let model = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="xss" name="{XML}" isExecutable="true">
    <bpmn:extensionElements><camunda:properties><camunda:property name="sy:summary" value="note"/></camunda:properties></bpmn:extensionElements>
    <bpmn:startEvent id="start"><bpmn:documentation>{XML}</bpmn:documentation><bpmn:extensionElements><camunda:formData>
      <camunda:formField id="note" label="{XML}" type="string"/>
      <camunda:formField id="kind" label="类别" type="enum"><camunda:value id="a" name="{XML}"/></camunda:formField>
    </camunda:formData></bpmn:extensionElements></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:userTask id="review" name="{XML}" camunda:candidateGroups="district-staff"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"#
        );
        let (status, body) = app.deploy("xss", &model).await;
        assert_eq!(status, 200, "{body}");
        let hp1 = login(&app, "hp1", PASSWORD).await;
        let admin = login(&app, "admin", crate::support::ADMIN_PASSWORD).await;
        let auditor = login(&app, "aud", PASSWORD).await;
        let start = |business_key: &'static str| {
            let hp1 = &hp1;
            let app = &app;
            async move {
                let fields = [("v.note", RAW), ("v.kind", "a"), ("v.district", "黄浦区"), ("businessKey", business_key)];
                let started = submit(app, hp1, "/processes/start/xss", Some(&hp1.csrf), &fields).await;
                assert_eq!(started.status(), StatusCode::SEE_OTHER);
                let location = started.headers()[LOCATION].to_str().expect("location").to_string();
                location.trim_start_matches("/instances/").split('?').next().expect("id").to_string()
            }
        };
        let instance = start(RAW).await;
        let cancelled = start("XSS-2").await;
        let withdrawn = start("XSS-3").await;
        let (_, todo) = crate::approval::get(&app, "hp1", "/inbox/todo").await;
        let task = todo["items"]
            .as_array()
            .and_then(|items| items.iter().find(|item| item["processInstanceId"] == instance.as_str()))
            .and_then(|item| item["taskId"].as_str())
            .expect("the first instance's review")
            .to_string();
        for (operation, fields) in [
            ("comment", vec![("comment", RAW)]),
            ("cc", vec![("users", "evil"), ("comment", RAW)]),
        ] {
            let done = submit(&app, &hp1, &format!("/tasks/{task}/{operation}"), Some(&hp1.csrf), &fields).await;
            assert_eq!(done.status(), StatusCode::SEE_OTHER, "{operation}: {}", done.text().await.unwrap_or_default());
        }
        let out = submit(&app, &hp1, &format!("/instances/{withdrawn}/withdraw"), Some(&hp1.csrf), &[("comment", RAW)]).await;
        assert_eq!(out.status(), StatusCode::SEE_OTHER);
        let cancel = submit(&app, &admin, &format!("/admin/instances/{cancelled}/cancel"), Some(&admin.csrf), &[("reason", RAW)]).await;
        assert_eq!(cancel.status(), StatusCode::SEE_OTHER);
        let draft = admin.post(&app, "/api/process-drafts", serde_json::json!({ "xml": model })).send().await.expect("sent");
        assert!(draft.status().is_success(), "{}", draft.status());

        let encoded: String = form_urlencoded::byte_serialize(RAW.as_bytes()).collect();
        let pages: Vec<(&Session, String)> = vec![
            (&hp1, "/".into()),
            (&hp1, "/inbox?tab=todo".into()),
            (&hp1, "/inbox?tab=started".into()),
            (&hp1, "/inbox?tab=done".into()),
            (&hp1, format!("/inbox?tab=todo&businessKey={encoded}&text={encoded}")),
            (&hp1, format!("/tasks/{task}")),
            (&hp1, format!("/tasks/{task}/people?user={encoded}")),
            (&hp1, format!("/tasks/{task}/people?user=evil")),
            (&hp1, "/m/todo".into()),
            (&hp1, format!("/m/tasks/{task}")),
            (&hp1, format!("/instances/{instance}")),
            (&hp1, format!("/instances/{instance}/print")),
            (&hp1, format!("/instances/{withdrawn}")),
            (&hp1, "/processes/start".into()),
            (&hp1, "/processes/start/xss".into()),
            (&admin, "/admin/processes".into()),
            (&admin, "/admin/processes/xss".into()),
            (&admin, "/admin/processes/xss/editor".into()),
            (&admin, format!("/admin/instances?businessKey={encoded}")),
            (&admin, format!("/admin/instances/{instance}")),
            (&admin, format!("/admin/instances/{cancelled}")),
            (&admin, "/admin/users".into()),
            (&auditor, format!("/admin/audit?user={encoded}&action={encoded}")),
        ];
        let mut shown = 0;
        for (session, path) in &pages {
            let (status, html) = screen(&app, session, path).await;
            assert!(status.is_success(), "{path}: {status}");
            assert!(!html.to_lowercase().contains("<svg onload"), "{path} prints the payload as markup: {html}");
            if html.contains("&lt;svg onload=alert(1)&gt;") {
                shown += 1;
            }
        }
        // The payload really is on the pages (escaped), so the sweep looked at it.
        assert!(shown >= pages.len() - 3, "the payload is shown escaped on {shown} of {} pages", pages.len());
        let evil = login(&app, "evil", PASSWORD).await;
        let (_, cc) = screen(&app, &evil, "/inbox?tab=cc").await;
        assert!(cc.contains("&lt;svg") && !cc.contains("<svg onload"), "{cc}");
    })
    .await;
}

/// A part of a page htmx asks for (a picker's list) when the session has ended: not a redirect
/// the request would follow into the part, but 401 with `HX-Redirect`, so the whole page goes to
/// the login page, which comes back to the page the person was on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ended_session_sends_htmx_parts_to_the_login_page_as_a_whole() {
    each_backend(|app| async move {
        let response = no_redirects()
            .get(format!("{}/tasks/x-1/people?user=hp", app.base))
            .header("hx-request", "true")
            .header("hx-current-url", format!("{}/tasks/x-1?notice=claim", app.base))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["hx-redirect"], "/login?next=%2Ftasks%2Fx-1%3Fnotice%3Dclaim");
    })
    .await;
}

/// The system administrator's organisation screen (三员分立, issue 12): the city, the districts
/// and their units as a tree with their accounts; a new unit below a district through the API's
/// function (audited); nobody else opens it, and a bad or duplicate unit is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_system_administrator_keeps_the_units_under_the_districts() {
    each_backend(|app| async move {
        add_account(&app, "sys1", "310000", &["sysadmin"], "staff").await;
        add_account(&app, "hp1", "310101", &["district-staff"], "staff").await;
        let sys1 = login(&app, "sys1", PASSWORD).await;
        let hp1 = login(&app, "hp1", PASSWORD).await;
        assert_eq!(screen(&app, &hp1, "/admin/units").await.0, StatusCode::FORBIDDEN);
        let forbidden =
            submit(&app, &hp1, "/admin/units", Some(&hp1.csrf), &[("id", "x"), ("parent", "310101"), ("name", "x")])
                .await;
        assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
        let (status, page) = screen(&app, &sys1, "/admin/units").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(
            page.contains("黄浦区") && page.contains("徐汇区") && page.contains(r#"href="/admin/units""#),
            "{page}"
        );
        assert!(page.contains(r#"href="/admin/users?unit=310101""#), "黄浦区 has an account: {page}");
        let name = "黄浦区<b>示范</b>街道";
        let fields = [("id", "hp-001"), ("parent", "310101"), ("name", name)];
        let created = submit(&app, &sys1, "/admin/units", Some(&sys1.csrf), &fields).await;
        assert_eq!(created.status(), StatusCode::SEE_OTHER, "{}", created.text().await.unwrap_or_default());
        let (_, page) = screen(&app, &sys1, "/admin/units?notice=created").await;
        assert!(page.contains("单位已新增") && page.contains("黄浦区&lt;b&gt;示范&lt;/b&gt;街道"), "{page}");
        // Indented under its district: the row comes right after 黄浦区's.
        let district = page.find("<td>310101</td>").expect("黄浦区's row");
        let unit = page.find("<td>hp-001</td>").expect("the new unit's row");
        let row = &page[page[..unit].rfind("<tr>").expect("its row")..unit];
        assert!(row.contains(r#"data-depth="2""#), "one level below its district: {row}");
        let next_district = page.find("<td>310104</td>").expect("徐汇区's row");
        assert!(district < unit && unit < next_district, "the unit is listed under its district");
        let again = submit(&app, &sys1, "/admin/units", Some(&sys1.csrf), &fields).await;
        assert!(again.status().is_client_error(), "a unit id is used once: {}", again.status());
        let orphan = submit(
            &app,
            &sys1,
            "/admin/units",
            Some(&sys1.csrf),
            &[("id", "u-2"), ("parent", "nowhere"), ("name", "孤儿")],
        )
        .await;
        assert!(orphan.status().is_client_error(), "the parent must exist: {}", orphan.status());
        let rows = app.executor.store().audit_rows(0, 10_000).await.expect("audit rows");
        assert!(
            rows.iter().any(|row| row.entry.action == "unit.create" && row.entry.user_id.as_deref() == Some("sys1"))
        );

        // The settings it may see, read-only: this node's database, sizes, key fingerprint and
        // security settings; not the security administrator's (三员分立) nor staff's.
        let (status, system) = screen(&app, &sys1, "/admin/system").await;
        assert_eq!(status, StatusCode::OK, "{system}");
        let database = if app.backend == "sqlite" { "SQLite" } else { "PostgreSQL" };
        for wanted in [database, "密钥指纹", "会话超时", "审计日志保留", r#"href="/admin/system""#] {
            assert!(system.contains(wanted), "{wanted}: {system}");
        }
        assert!(!system.contains("<form method=\"post\" action=\"/admin/system"), "nothing to change here");
        add_account(&app, "sec1", "310000", &["secadmin"], "staff").await;
        let sec1 = login(&app, "sec1", PASSWORD).await;
        for session in [&hp1, &sec1] {
            assert_eq!(screen(&app, session, "/admin/system").await.0, StatusCode::FORBIDDEN);
        }
    })
    .await;
}

/// 首页's 通知 (issue 12): the newest messages the system sent the account — a 催办 from the
/// applicant reaches the reviewer who holds the task — newest first; nobody else sees them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn home_shows_the_newest_notices_sent_to_the_account() {
    each_backend(|app| async move {
        people(&app).await;
        apply(&app).await;
        let task = todo_task(&app, "hp1").await.expect("the district review");
        let hp1 = login(&app, "hp1", PASSWORD).await;
        let (_, home) = screen(&app, &hp1, "/").await;
        assert!(home.contains("暂无通知"), "{home}");
        let (status, _) =
            crate::approval::post(&app, "hp1", &format!("/tasks/{task}/claim"), serde_json::json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) =
            crate::approval::post(&app, "shenqing", &format!("/tasks/{task}/urge"), serde_json::json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (_, home) = screen(&app, &hp1, "/").await;
        assert!(home.contains(r#"id="notices""#) && home.contains("您有待办任务“区级审核”需要尽快处理"), "{home}");
        let hp2 = login(&app, "hp2", PASSWORD).await;
        let (_, other) = screen(&app, &hp2, "/").await;
        assert!(other.contains("暂无通知"), "hp2 was not urged: {other}");
    })
    .await;
}
