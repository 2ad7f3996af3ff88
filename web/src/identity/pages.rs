//! Server-rendered pages for people: login, home, password change, logout. Minimal Chinese
//! pages; every value is escaped by [`render`], the only way to put text into a template.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::api::{Credentials, login};
use super::{
    Auth, ClientIp, Via, audit, constant_time_eq, cookie, entry, password, password_change_due, random_token, resolve,
    session_cookie,
};
use crate::AppState;
use crate::error::ApiError;

/// Markup that is already safe (a rendered template). Text never becomes `Html` unescaped.
pub struct Html(String);

impl Html {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Fills `{{name}}` slots of a template with escaped values. `{{content}}` may take nested
/// markup through [`layout`] only.
pub fn render(template: &'static str, values: &[(&str, &str)]) -> Html {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{{{name}}}}}"), &escape(value));
    }
    Html(out)
}

/// The page frame around rendered content.
pub fn layout(title: &str, content: Html) -> Html {
    let frame = render(LAYOUT, &[("title", title)]);
    Html(frame.0.replace("<!--content-->", &content.0))
}

const LAYOUT: &str = r#"<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}} - 上海市双拥服务综合管理大系统</title>
<style>body{font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.4rem}button{margin-top:1rem;padding:.5rem 1.5rem}.error{color:#b00020}</style>
</head><body><h1>上海市双拥服务综合管理大系统</h1>
<!--content-->
</body></html>"#;

const LOGIN: &str = r#"<h2>登录</h2>
<p class="error" id="error">{{error}}</p>
<form method="post" action="/login">
<input type="hidden" name="csrf_token" value="{{csrf}}">
<label for="username">用户名</label><input id="username" name="username" value="{{username}}" autocomplete="username" required>
<label for="password">密码</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<label for="totp">动态口令（如已绑定）</label><input id="totp" name="totp" inputmode="numeric" autocomplete="one-time-code">
<button type="submit">登录</button>
</form>"#;

const HOME: &str = r#"<h2>欢迎，<span id="name">{{name}}</span></h2>
<p>单位：<span id="unit">{{unit}}</span></p>
<form method="post" action="/logout"><input type="hidden" name="csrf_token" value="{{csrf}}"><button type="submit">退出登录</button></form>
<p><a href="/password">修改密码</a></p>"#;

const PASSWORD: &str = r#"<h2>修改密码</h2>
<p>{{notice}}</p>
<p class="error" id="error">{{error}}</p>
<form method="post" action="/password">
<input type="hidden" name="csrf_token" value="{{csrf}}">
<label for="current">当前密码</label><input id="current" name="current_password" type="password" required>
<label for="new">新密码</label><input id="new" name="new_password" type="password" required>
<label for="confirm">确认新密码</label><input id="confirm" name="confirm_password" type="password" required>
<button type="submit">保存</button>
</form>"#;

const ERROR: &str = r#"<h2>{{title}}</h2><p>{{message}}</p><p><a href="/">返回首页</a></p>"#;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login_form))
        .route("/logout", post(logout_form))
        .route("/password", get(password_page).post(password_form))
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024))
}

fn page(status: StatusCode, title: &str, content: Html) -> Response {
    let mut response = (status, layout(title, content).0).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response
}

fn redirect(to: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

/// The uniform error page: a status and a message that leaks nothing.
pub fn error_page(status: StatusCode) -> Response {
    let (title, message) = match status {
        StatusCode::NOT_FOUND => ("页面不存在", "您访问的页面不存在。"),
        StatusCode::FORBIDDEN => ("没有权限", "您没有访问该页面的权限。"),
        StatusCode::TOO_MANY_REQUESTS => ("请求过于频繁", "请稍后再试。"),
        _ => ("出错了", "请求未能完成，请稍后重试。"),
    };
    page(status, title, render(ERROR, &[("title", title), ("message", message)]))
}

/// The login form's CSRF token: a double-submit cookie (there is no session yet).
const LOGIN_CSRF_COOKIE: &str = "sy_login_csrf";

fn login_response(state: &AppState, status: StatusCode, error: &str, username: &str) -> Response {
    let csrf = random_token();
    let mut response =
        page(status, "登录", render(LOGIN, &[("error", error), ("csrf", &csrf), ("username", username)]));
    let secure = if state.security.behind_tls { "; Secure" } else { "" };
    if let Ok(value) =
        HeaderValue::from_str(&format!("{LOGIN_CSRF_COOKIE}={csrf}; Path=/login; HttpOnly; SameSite=Strict{secure}"))
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

async fn login_page(State(state): State<AppState>) -> Response {
    login_response(&state, StatusCode::OK, "", "")
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    totp: String,
    #[serde(default)]
    csrf_token: String,
}

async fn login_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), form.csrf_token.as_bytes()) {
        return login_response(&state, StatusCode::FORBIDDEN, "页面已过期，请重新登录 (form expired)", &form.username);
    }
    let credentials = Credentials {
        username: form.username.clone(),
        password: form.password,
        totp: Some(form.totp).filter(|code| !code.trim().is_empty()),
    };
    match login(&state, &ip, &credentials).await {
        Ok((token, _, principal)) => {
            let mut response =
                redirect(if password_change_due(&state.security, &principal) { "/password" } else { "/" });
            response.headers_mut().insert(header::SET_COOKIE, session_cookie(&state.security, &token));
            response
        }
        Err(error) => {
            let status = match &error {
                ApiError::Denied { status, .. } => *status,
                ApiError::Internal(_) => return error_page(StatusCode::INTERNAL_SERVER_ERROR),
                _ => StatusCode::UNAUTHORIZED,
            };
            login_response(&state, status, &error.to_string(), &form.username)
        }
    }
}

/// The signed-in session of a page request, or `None` (→ the login page).
async fn session_of(state: &AppState, headers: &HeaderMap, ip: &str) -> Option<Auth> {
    match resolve(state, headers, ip).await {
        Ok(Some(auth)) if matches!(auth.via, Via::Session(_)) => Some(auth),
        _ => None,
    }
}

fn csrf_of(auth: &Auth) -> &str {
    match &auth.via {
        Via::Session(session) => &session.csrf_token,
        _ => "",
    }
}

async fn home(State(state): State<AppState>, ClientIp(ip): ClientIp, headers: HeaderMap) -> Response {
    let Some(auth) = session_of(&state, &headers, &ip).await else { return redirect("/login") };
    if password_change_due(&state.security, &auth.principal) {
        return redirect("/password");
    }
    let account = &auth.principal.account;
    let name = account.display_name.clone().unwrap_or_else(|| account.id.clone());
    let unit = match &account.unit_id {
        Some(unit) => state.store().org_unit(unit).await.ok().flatten().map(|unit| unit.name).unwrap_or_default(),
        None => String::new(),
    };
    page(StatusCode::OK, "首页", render(HOME, &[("name", &name), ("unit", &unit), ("csrf", csrf_of(&auth))]))
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /logout`: from the page's form (`csrf_token` field, answered with a redirect to the
/// login page) or from a script (`X-CSRF-Token` header, answered 204).
async fn logout_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let header_token = headers.get(super::CSRF_HEADER).and_then(|value| value.to_str().ok()).map(str::to_string);
    let Some(auth) = session_of(&state, &headers, &ip).await else {
        return if header_token.is_some() { StatusCode::NO_CONTENT.into_response() } else { redirect("/login") };
    };
    let sent = header_token.clone().or_else(|| form.ok().map(|Form(form)| form.csrf_token)).unwrap_or_default();
    if !constant_time_eq(csrf_of(&auth).as_bytes(), sent.as_bytes()) {
        return error_page(StatusCode::FORBIDDEN);
    }
    if let Via::Session(session) = &auth.via
        && state.store().delete_session(&session.id).await.is_err()
    {
        return error_page(StatusCode::INTERNAL_SERVER_ERROR);
    }
    if audit(&state, entry(Some(&auth.principal.account.id), &ip, "logout", None, "success")).await.is_err() {
        return error_page(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let mut response = if header_token.is_some() { StatusCode::NO_CONTENT.into_response() } else { redirect("/login") };
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&state.security, ""));
    response
}

fn password_response(auth: &Auth, status: StatusCode, error: &str, due: bool) -> Response {
    let notice = if due { "首次登录或密码已过期：请先设置新密码。" } else { "" };
    page(status, "修改密码", render(PASSWORD, &[("notice", notice), ("error", error), ("csrf", csrf_of(auth))]))
}

async fn password_page(State(state): State<AppState>, ClientIp(ip): ClientIp, headers: HeaderMap) -> Response {
    let Some(auth) = session_of(&state, &headers, &ip).await else { return redirect("/login") };
    let due = password_change_due(&state.security, &auth.principal);
    password_response(&auth, StatusCode::OK, "", due)
}

#[derive(Deserialize)]
struct PasswordForm {
    current_password: String,
    new_password: String,
    confirm_password: String,
    #[serde(default)]
    csrf_token: String,
}

async fn password_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    let Some(auth) = session_of(&state, &headers, &ip).await else { return redirect("/login") };
    let due = password_change_due(&state.security, &auth.principal);
    if !constant_time_eq(csrf_of(&auth).as_bytes(), form.csrf_token.as_bytes()) {
        return error_page(StatusCode::FORBIDDEN);
    }
    if form.new_password != form.confirm_password {
        return password_response(&auth, StatusCode::BAD_REQUEST, "两次输入的新密码不一致", due);
    }
    let username = auth.principal.account.id.clone();
    if let Err(error) = super::check_password(&state, &username, &form.current_password, &ip).await {
        return password_response(&auth, StatusCode::BAD_REQUEST, &error.to_string(), due);
    }
    match password::change(&state, &username, &form.new_password, false).await {
        Ok(()) => {
            let _ = audit(&state, entry(Some(&username), &ip, "password.change", Some(&username), "success")).await;
            let mut response = redirect("/login");
            response.headers_mut().insert(header::SET_COOKIE, session_cookie(&state.security, ""));
            response
        }
        Err(ApiError::Internal(_)) => error_page(StatusCode::INTERNAL_SERVER_ERROR),
        Err(error) => password_response(&auth, StatusCode::BAD_REQUEST, &error.to_string(), due),
    }
}
