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
        .get("/security/totp", Need::Page, totp_page)
        .post("/security/totp", Need::Page, totp_form)
        .with_router(|router| router.layer(axum::extract::DefaultBodyLimit::max(16 * 1024)))
}

fn redirect(to: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

/// Where the login page sends a person back to (`?next=`): a path of this site only — one
/// slash, no scheme, no host, no backslash or control character — so the login page can never
/// be used to send someone elsewhere (an open redirect). Anything else is the home page.
pub(crate) fn safe_next(next: &str) -> Option<&str> {
    let safe = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 2048
        && !next.chars().any(|c| c == '\\' || c.is_control() || c.is_whitespace())
        && !next.starts_with("/login")
        && !next.starts_with("/m/login");
    safe.then_some(next)
}

/// The login page's address for a person who asked for `path` (`/login?next=…`); the phone
/// pages (`/m…`) have the light app's own (`/m/login?next=…`).
pub(crate) fn login_for(path_and_query: &str) -> String {
    let phone = path_and_query == "/m" || path_and_query.starts_with("/m/") || path_and_query.starts_with("/m?");
    let login = if phone { "/m/login" } else { "/login" };
    match safe_next(path_and_query) {
        Some(next) if next != "/" && next != "/m" => {
            format!("{login}?next={}", form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>())
        }
        _ => login.into(),
    }
}

/// A 303 to a path already checked by [`safe_next`] (or one of ours).
fn redirect_to(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        Err(_) => redirect("/"),
    }
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

fn login_response(state: &AppState, status: StatusCode, error: &str, username: &str, next: &str) -> Response {
    let csrf = random_token();
    let mut context = Context::new();
    context.insert("next", safe_next(next).unwrap_or_default());
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

#[derive(Deserialize, Default)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

async fn login_page(
    State(state): State<AppState>,
    query: Result<axum::extract::Query<NextQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let next = query.map(|axum::extract::Query(query)| query.next).unwrap_or_default();
    login_response(&state, StatusCode::OK, "", "", &next)
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    totp: String,
    #[serde(default)]
    csrf_token: String,
    /// The page the person asked for before signing in.
    #[serde(default)]
    next: String,
}

async fn login_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !crypto::constant_time_eq(expected.as_bytes(), form.csrf_token.as_bytes()) {
        let expired = "页面已过期，请重新登录 (form expired)";
        return login_response(&state, StatusCode::FORBIDDEN, expired, &form.username, &form.next);
    }
    let credentials = Credentials {
        username: form.username.clone(),
        password: form.password,
        totp: Some(form.totp).filter(|code| !code.trim().is_empty()),
    };
    match login(&state, &ip, &credentials).await {
        Ok((token, _, principal)) => {
            let to = if password_change_due(&state.security, &principal) {
                "/password"
            } else if super::totp_enrolment_due(&state.security, &principal) {
                "/security/totp"
            } else {
                safe_next(&form.next).unwrap_or("/")
            };
            let mut response = redirect_to(to);
            response.headers_mut().insert(header::SET_COOKIE, session_cookie(&state.security, &token));
            response
        }
        Err(error) => {
            let status = match &error {
                ApiError::Coded { status, .. } => *status,
                ApiError::Internal(_) => return error_page(StatusCode::INTERNAL_SERVER_ERROR),
                _ => StatusCode::UNAUTHORIZED,
            };
            login_response(&state, status, &error.to_string(), &form.username, &form.next)
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

/// The enrolment page. After a wrong code the same secret is shown again (the app holds it
/// already); a secret that is not one of ours is replaced by a new one.
fn totp_response(state: &AppState, auth: &Auth, status: StatusCode, error: &str, again: Option<&str>) -> Response {
    let account = &auth.principal.account;
    let secret = match again.filter(|secret| super::api::valid_totp_secret(secret)) {
        Some(secret) => secret.to_string(),
        None => crypto::totp::new_secret(),
    };
    let uri = super::api::totp_uri(&account.id, &secret);
    // Drawn here: the secret never leaves the server for a third-party QR service.
    let Some(qr) = crate::templates::qr_image(&uri) else { return error_page(StatusCode::INTERNAL_SERVER_ERROR) };
    let mut context = Context::new();
    context.insert("csrf", csrf_of(auth));
    context.insert("secret", &secret);
    // Grouped by four for typing it by hand.
    let grouped: Vec<String> =
        secret.as_bytes().chunks(4).map(|chunk| String::from_utf8_lossy(chunk).into_owned()).collect();
    context.insert("secret_grouped", &grouped.join(" "));
    context.insert("qr", &qr);
    context.insert("enrolled", &account.totp_secret.is_some());
    context.insert("due", &super::totp_enrolment_due(&state.security, &auth.principal));
    context.insert("error", error);
    page(status, "totp.html", &context)
}

/// `GET /security/totp`: enrol (or replace) the second factor — a new secret as a QR code drawn
/// on the server and as text, confirmed by a code from the app. Open while enrolment is pending.
async fn totp_page(State(state): State<AppState>, ClientIp(ip): ClientIp, headers: HeaderMap) -> Response {
    let Some(auth) = session_of(&state, &headers, &ip).await else { return redirect("/login") };
    if password_change_due(&state.security, &auth.principal) {
        return redirect("/password");
    }
    totp_response(&state, &auth, StatusCode::OK, "", None)
}

#[derive(Deserialize)]
struct TotpForm {
    #[serde(default)]
    secret: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    current_code: String,
    #[serde(default)]
    csrf_token: String,
}

async fn totp_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: Result<Form<TotpForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Some(auth) = session_of(&state, &headers, &ip).await else { return redirect("/login") };
    let Ok(Form(form)) = form else { return error_page_with(StatusCode::BAD_REQUEST, "提交的内容无效") };
    if !crypto::constant_time_eq(csrf_of(&auth).as_bytes(), form.csrf_token.as_bytes()) {
        return error_page(StatusCode::FORBIDDEN);
    }
    if password_change_due(&state.security, &auth.principal) {
        return redirect("/password");
    }
    let current_code = Some(form.current_code).filter(|code| !code.trim().is_empty());
    let password = Some(form.current_password.as_str());
    match super::api::enrol_totp(&state, &auth, &ip, form.secret.trim(), &form.code, password, current_code).await {
        Ok(()) => redirect("/?notice=totp"),
        Err(ApiError::Internal(_)) => error_page(StatusCode::INTERNAL_SERVER_ERROR),
        Err(error) => {
            let message = error.to_string();
            let message = message.split(" (").next().unwrap_or(&message).to_string();
            totp_response(&state, &auth, error.status(), &message, Some(form.secret.trim()))
        }
    }
}
