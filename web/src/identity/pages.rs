//! Server-rendered pages for people: login, home, password change, logout (templates in
//! `web/templates/`, rendered by [`crate::templates`]).

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::api::{Credentials, login};
use super::{
    Auth, ClientIp, Via, audit, cookie, entry, password, password_change_due, random_token, resolve, session_cookie,
};
use crate::AppState;
use crate::error::ApiError;
use crate::routes::{Need, Routes};
use crate::templates::{Context, page};

pub fn router() -> Routes {
    Routes::new()
        .get("/login", Need::Page, login_page)
        .post("/login", Need::Page, login_form)
        .post("/logout", Need::Page, logout_form)
        .get("/password", Need::Page, password_page)
        .post("/password", Need::Page, password_form)
        .with_router(|router| router.layer(axum::extract::DefaultBodyLimit::max(16 * 1024)))
}

fn redirect(to: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

/// The uniform error page: a status and a message that leaks nothing.
pub fn error_page(status: StatusCode) -> Response {
    error_page_with(status, "")
}

/// [`error_page`] with a sentence for the person (a refusal's own message; never a cause).
pub fn error_page_with(status: StatusCode, message: &str) -> Response {
    let mut context = Context::new();
    context.insert("status", &status.as_u16());
    // The Chinese part of a bilingual message ("任务不存在 (no such task)").
    let message = message.split(" (").next().unwrap_or(message);
    context.insert("message", message);
    page(status, "error.html", &context)
}

/// The login form's CSRF token: a double-submit cookie (there is no session yet).
const LOGIN_CSRF_COOKIE: &str = "sy_login_csrf";

fn login_response(state: &AppState, status: StatusCode, error: &str, username: &str) -> Response {
    let csrf = random_token();
    let mut context = Context::new();
    context.insert("error", error);
    context.insert("csrf", &csrf);
    context.insert("username", username);
    let mut response = page(status, "login.html", &context);
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
    if expected.is_empty() || !crypto::constant_time_eq(expected.as_bytes(), form.csrf_token.as_bytes()) {
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
                ApiError::Coded { status, .. } => *status,
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
    if !crypto::constant_time_eq(csrf_of(&auth).as_bytes(), sent.as_bytes()) {
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
    let mut context = Context::new();
    context.insert("due", &due);
    context.insert("error", error);
    context.insert("csrf", csrf_of(auth));
    page(status, "password.html", &context)
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
    if !crypto::constant_time_eq(csrf_of(&auth).as_bytes(), form.csrf_token.as_bytes()) {
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
