//! The light app's sign-in (issue 14): `/m/login` — a mobile number and an SMS code, or a
//! number (or user name) and a password — and `/m/register`, where someone applying for an
//! institution to join (PREF-03) registers with their number. Plain forms that work without
//! script; the code is sent by a separate post that draws the page again with the number kept.
//! The same functions as the API (`sms::send_code_to`, `sms::code_login`,
//! `sms::register_person`, `api::login`), so the rules, limits and audit rows are the API's.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::api::{Credentials, login};
use super::pages::{error_page, safe_next};
use super::{ClientIp, cookie, random_token, session_cookie};
use crate::AppState;
use crate::error::ApiError;
use crate::routes::{Need, Routes};
use crate::templates::{Context, page};

pub fn router() -> Routes {
    Routes::new()
        .get("/m/login", Need::Page, login_page)
        .post("/m/login", Need::Page, login_form)
        .get("/m/register", Need::Page, register_page)
        .post("/m/register", Need::Page, register_form)
        .with_router(|router| router.layer(axum::extract::DefaultBodyLimit::max(16 * 1024)))
}

/// The sign-in forms' CSRF token: a double-submit cookie (there is no session yet).
const CSRF_COOKIE: &str = "sy_m_csrf";

/// Where the light app starts after signing in.
const HOME: &str = "/m";

#[derive(Deserialize, Default)]
struct PageQuery {
    #[serde(default)]
    next: String,
    #[serde(default)]
    mode: String,
}

/// What the page draws: which form, what was typed, what happened.
#[derive(Default)]
struct View<'a> {
    register: bool,
    /// `code` (SMS code) or `password`.
    mode: &'a str,
    phone: &'a str,
    name: &'a str,
    next: &'a str,
    notice: &'a str,
    error: String,
}

fn draw(state: &AppState, status: StatusCode, view: View<'_>) -> Response {
    let csrf = random_token();
    let mut context = Context::new();
    context.insert("register", &view.register);
    context.insert("mode", if view.mode == "password" { "password" } else { "code" });
    context.insert("phone", view.phone);
    context.insert("name", view.name);
    let next = safe_next(view.next).unwrap_or_default();
    context.insert("next", next);
    // For the links between the sign-in pages (tera has no urlencode).
    context.insert("next_query", &form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>());
    context.insert("notice", view.notice);
    // The Chinese part of a bilingual message.
    context.insert("error", view.error.split(" (").next().unwrap_or_default());
    context.insert("csrf", &csrf);
    let policy = &state.security.password;
    let rule = format!(
        "密码至少 {} 位，须包含小写字母、大写字母、数字、符号中的至少 {} 类。",
        policy.min_length, policy.min_classes
    );
    context.insert("password_rule", &rule);
    let mut response = page(status, "m_login.html", &context);
    let secure = if state.security.behind_tls { "; Secure" } else { "" };
    if let Ok(value) =
        HeaderValue::from_str(&format!("{CSRF_COOKIE}={csrf}; Path=/m; HttpOnly; SameSite=Strict{secure}"))
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// A refused attempt: the form again with the refusal's words (a server fault: the error page).
fn refused(state: &AppState, error: ApiError, view: View<'_>) -> Response {
    match error {
        ApiError::Internal(_) => error_page(StatusCode::INTERNAL_SERVER_ERROR),
        error => draw(state, error.status(), View { error: error.to_string(), ..view }),
    }
}

/// The 获取验证码 step of either form: a `purpose` code to the number, the form again.
async fn send_code(state: &AppState, ip: &str, phone: &str, purpose: &str, view: View<'_>) -> Response {
    match super::sms::send_code_to(state, ip, phone, purpose).await {
        Ok(()) => draw(state, StatusCode::OK, View { notice: "验证码已发送，请查收短信", ..view }),
        Err(error) => refused(state, error, view),
    }
}

fn signed_in(state: &AppState, token: &str, to: &str) -> Response {
    let location = HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static(HOME));
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&state.security, token));
    response
}

fn csrf_ok(headers: &HeaderMap, sent: &str) -> bool {
    let expected = cookie(headers, CSRF_COOKIE).unwrap_or_default();
    !expected.is_empty() && crypto::constant_time_eq(expected.as_bytes(), sent.as_bytes())
}

type PageQueryResult = Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>;

async fn login_page(State(state): State<AppState>, query: PageQueryResult) -> Response {
    let Query(query) = query.unwrap_or_default();
    draw(&state, StatusCode::OK, View { mode: &query.mode, next: &query.next, ..View::default() })
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    next: String,
    /// `code` or `password`.
    #[serde(default)]
    mode: String,
    /// `send` asks for a code; anything else signs in.
    #[serde(default)]
    step: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
}

async fn login_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let view = |error: String, notice: &'static str| View {
        mode: if form.mode == "password" { "password" } else { "code" },
        phone: form.phone.trim(),
        next: &form.next,
        notice,
        error,
        ..View::default()
    };
    if !csrf_ok(&headers, &form.csrf_token) {
        return draw(&state, StatusCode::FORBIDDEN, view("页面已过期，请重新操作".into(), ""));
    }
    let to = safe_next(&form.next).unwrap_or(HOME).to_string();
    if form.mode == "password" {
        // A mobile number stands for its account; anything else is a user name.
        let username = match super::sms::phone_index(&state, form.phone.trim()) {
            Ok(index) if ::identity::sms::parse_phone(&form.phone).is_ok() => {
                match state.store().account_by_phone(&index).await {
                    Ok(Some(account)) => account,
                    Ok(None) => form.phone.trim().to_string(),
                    Err(_) => return error_page(StatusCode::INTERNAL_SERVER_ERROR),
                }
            }
            _ => form.phone.trim().to_string(),
        };
        let credentials = Credentials { username, password: form.password.clone(), totp: None };
        return match login(&state, &ip, &credentials).await {
            Ok((token, _, principal)) => {
                let to = if super::password_change_due(&state.security, &principal) { "/password" } else { &to };
                signed_in(&state, &token, to)
            }
            Err(error) => refused(&state, error, view(String::new(), "")),
        };
    }
    if form.step == "send" {
        return send_code(&state, &ip, &form.phone, "login", view(String::new(), "")).await;
    }
    match super::sms::code_login(&state, &ip, &form.phone, &form.code).await {
        Ok((token, _, _)) => signed_in(&state, &token, &to),
        Err(error) => refused(&state, error, view(String::new(), "")),
    }
}

async fn register_page(State(state): State<AppState>, query: PageQueryResult) -> Response {
    let Query(query) = query.unwrap_or_default();
    draw(&state, StatusCode::OK, View { register: true, next: &query.next, ..View::default() })
}

#[derive(Deserialize)]
struct RegisterForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    step: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm_password: String,
}

async fn register_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<RegisterForm>,
) -> Response {
    let view = |error: String, notice: &'static str| View {
        register: true,
        phone: form.phone.trim(),
        name: form.name.trim(),
        next: &form.next,
        notice,
        error,
        ..View::default()
    };
    if !csrf_ok(&headers, &form.csrf_token) {
        return draw(&state, StatusCode::FORBIDDEN, view("页面已过期，请重新操作".into(), ""));
    }
    if form.step == "send" {
        return send_code(&state, &ip, &form.phone, "register", view(String::new(), "")).await;
    }
    if form.password != form.confirm_password {
        return draw(&state, StatusCode::BAD_REQUEST, view("两次输入的密码不一致".into(), ""));
    }
    let registration = super::sms::Registration {
        phone: form.phone.clone(),
        code: form.code.clone(),
        password: form.password.clone(),
        display_name: Some(form.name.clone()),
    };
    let kind = ::identity::sms::PhoneAccount::Applicant;
    let username = match super::sms::register_person(&state, &ip, kind, registration).await {
        Ok(username) => username,
        Err(error) => return refused(&state, error, view(String::new(), "")),
    };
    // Registered: signed in at once with the password just chosen.
    let credentials = Credentials { username, password: form.password.clone(), totp: None };
    match login(&state, &ip, &credentials).await {
        Ok((token, _, _)) => signed_in(&state, &token, safe_next(&form.next).unwrap_or(HOME)),
        Err(_) => draw(&state, StatusCode::OK, View { notice: "注册成功，请登录", ..View::default() }),
    }
}
