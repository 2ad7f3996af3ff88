//! Who is asking and what they may do: security settings, first-start seeding of the
//! organisation tree and roles, authentication (sessions, Basic, API keys), the per-request data
//! scope, permission and CSRF checks, security headers and the audit helper.
//!
//! Architecture invariant: every check here is backed by the database (sessions, lockout, rate
//! limits, the audit chain), so any node can serve any request.

pub mod api;
pub mod commands;
pub mod config;
pub mod pages;
pub mod password;
pub mod phone;
pub mod sms;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use store::DataScope;
use store::identity::{AuditEntry, OrgUnit, Principal, SessionRecord};

pub use config::Security;

use crate::error::{ApiError, ApiResult};
use crate::{AppState, CurrentUser, auth};

/// The session cookie. HttpOnly and SameSite=Strict always; Secure behind TLS.
pub const SESSION_COOKIE: &str = "sy_session";
/// Header carrying the CSRF token of a session on state-changing API calls.
pub const CSRF_HEADER: &str = "x-csrf-token";

tokio::task_local! {
    /// The data scope of the request being handled (set by [`require_user`]).
    static SCOPE: DataScope;
}

/// The current request's data scope. Outside an authenticated request it is
/// [`DataScope::Nothing`]: forgetting to set it hides data instead of showing it.
pub fn scope() -> DataScope {
    SCOPE.try_with(Clone::clone).unwrap_or(DataScope::Nothing)
}

/// The caller's scope for changing instances other than through their tasks
/// ([`DataScope::for_change`]).
pub fn change_scope() -> DataScope {
    scope().for_change()
}

/// The source address of a request (the TCP peer; proxies are not trusted blindly). An
/// extractor that never fails ("unknown" when the server runs without connection info).
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(&parts.extensions)))
    }
}

pub fn client_ip(request_extensions: &axum::http::Extensions) -> String {
    if let Some(SourceAddress(address)) = request_extensions.get::<SourceAddress>() {
        return address.clone();
    }
    request_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The source address of a request as [`source_address`] decided it.
#[derive(Debug, Clone)]
struct SourceAddress(String);

/// Decides each request's source address once: the TCP peer, or — only when the peer is one of
/// the configured reverse proxies (`--trusted-proxy`) — the last address in `X-Forwarded-For`
/// that is not itself a trusted proxy. Lockout, rate limits and the audit log count by it, so
/// behind a proxy one guesser does not lock a name for everyone (`docs/security.md` T-LOCK),
/// while a client that is not a proxy cannot choose its address by sending the header.
pub async fn source_address(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(address)| address.ip());
    let trusted = &state.security.trusted_proxies;
    if let Some(peer) = peer.filter(|peer| trusted.contains(peer)) {
        let forwarded = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|part| part.trim().parse::<std::net::IpAddr>().ok())
            .collect::<Vec<_>>();
        let client = forwarded.iter().rev().find(|address| !trusted.contains(address)).copied().unwrap_or(peer);
        request.extensions_mut().insert(SourceAddress(client.to_string()));
    }
    next.run(request).await
}

/// How a request proved who it is.
#[derive(Debug, Clone)]
pub enum Via {
    Session(SessionRecord),
    Basic,
    ApiKey,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Auth {
    pub principal: Principal,
    pub via: Via,
}

// Identity policy without HTTP lives in the `identity` crate; these are its parts the handlers use.
pub use ::identity::access::{
    ADMIN_ROLES, bootstrap_access_signatures, check_key_file, check_role_set, holds_admin_role, key_fingerprint,
    sign_access,
};
pub use ::identity::audit::entry;
pub use ::identity::org::{CITY_UNIT, seed};
pub use ::identity::policy::{needs_second_factor, random_token, token_digest};

/// Adds a unit below an existing unit ([`::identity::org::add_unit`], audited). Shared by
/// `POST /api/org-units` and `shuangyong unit add`.
pub async fn add_unit(
    state: &AppState,
    actor: &str,
    id: &str,
    parent: &str,
    name: &str,
    ip: &str,
) -> ApiResult<OrgUnit> {
    Ok(::identity::org::add_unit(state.store().as_ref(), state.security.crypto.as_ref(), actor, (id, parent, name), ip)
        .await?)
}

/// Appends an audit row; a failure to audit is a 500 (an action that cannot be recorded must
/// not look successful).
pub async fn audit(state: &AppState, entry: AuditEntry) -> ApiResult<()> {
    Ok(::identity::audit::record(state.store().as_ref(), state.security.crypto.as_ref(), entry).await?)
}

/// Audit retention on this node ([`::identity::audit::spawn_retention`]).
pub fn spawn_retention(state: AppState) {
    ::identity::audit::spawn_retention(
        state.store().clone(),
        state.security.crypto.clone(),
        state.security.audit_retention_days,
    );
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|value| value.to_str().ok()).find_map(|cookies| {
        cookies.split(';').find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then(|| value.to_string())
        })
    })
}

/// `Set-Cookie` for the session (or clearing it when `token` is empty).
pub fn session_cookie(security: &Security, token: &str) -> HeaderValue {
    let secure = if security.behind_tls { "; Secure" } else { "" };
    let value = if token.is_empty() {
        format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
    } else {
        format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}")
    };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("sy_session=; Max-Age=0"))
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Checks a user name and password ([`::identity::login::check_password`]: lockout, the
/// account's state, the cost limit and the credential cache).
pub async fn check_password(state: &AppState, username: &str, password: &str, ip: &str) -> ApiResult<Principal> {
    let (store, crypto) = (state.store().as_ref(), state.security.crypto.as_ref());
    let lockout = lockout(&state.security);
    Ok(::identity::login::check_password(store, crypto, &state.credentials, lockout, (username, password), ip).await?)
}

pub use ::identity::second_factor::StepUp;

/// The node's lockout rules, from its settings.
fn lockout(security: &Security) -> ::identity::login::Lockout {
    ::identity::login::Lockout {
        max_failures: security.max_failures,
        lock_minutes: security.lock_minutes,
        checks_per_minute: security.login_rate_per_minute * 2,
    }
}

/// A fresh TOTP code of the account ([`::identity::second_factor::fresh_totp`]).
pub async fn fresh_totp(state: &AppState, account: &store::identity::Account, code: &str) -> ApiResult<bool> {
    let (store, crypto) = (state.store().as_ref(), state.security.crypto.as_ref());
    Ok(::identity::second_factor::fresh_totp(store, crypto, account, code).await?)
}

/// Checks a [`StepUp`] proof for `auth` ([`::identity::second_factor::step_up`]).
pub async fn step_up(state: &AppState, auth: &Auth, proof: &StepUp, ip: &str) -> ApiResult<()> {
    let (store, crypto) = (state.store().as_ref(), state.security.crypto.as_ref());
    let asker = ::identity::second_factor::Asker {
        account: &auth.principal.account,
        by_api_key: matches!(auth.via, Via::ApiKey),
        ip,
    };
    let lockout = lockout(&state.security);
    Ok(::identity::second_factor::step_up(store, crypto, &state.credentials, lockout, asker, proof).await?)
}

/// Whether the account must change its password before doing anything else
/// ([`::identity::policy::password_change_due`]).
pub fn password_change_due(security: &Security, principal: &Principal) -> bool {
    ::identity::policy::password_change_due(&security.password, principal)
}

/// Whether the account still has to enrol a second factor.
pub fn totp_enrolment_due(security: &Security, principal: &Principal) -> bool {
    ::identity::policy::totp_enrolment_due(security.require_totp, principal)
}

/// A user's principal, its access-control record's signature checked
/// ([`::identity::access::verified_principal`]).
pub async fn load_principal(state: &AppState, id: &str) -> ApiResult<Option<Principal>> {
    Ok(::identity::access::verified_principal(state.store().as_ref(), state.security.crypto.as_ref(), id).await?)
}

/// Finds the caller: a session cookie, `Authorization: Basic`, or an API key
/// (`Authorization: Bearer KEY` / `X-API-Key: KEY`). `None`: no credentials at all.
pub async fn resolve(state: &AppState, headers: &HeaderMap, ip: &str) -> ApiResult<Option<Auth>> {
    let (store, crypto) = (state.store().as_ref(), state.security.crypto.as_ref());
    if let Some(token) = cookie(headers, SESSION_COOKIE).filter(|token| !token.is_empty()) {
        let idle = state.security.idle_timeout_minutes * 60_000;
        let (principal, session) = ::identity::session::by_token(store, crypto, &token, idle).await?;
        return Ok(Some(Auth { principal, via: Via::Session(session) }));
    }
    let authorization = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    if let Some((username, password)) = authorization.and_then(auth::parse_basic) {
        let security = &state.security;
        let rules = (&security.password, security.require_totp);
        let credentials = (username.as_str(), password.as_str());
        let principal = ::identity::session::by_password(
            store,
            crypto,
            &state.credentials,
            lockout(security),
            rules,
            credentials,
            ip,
        )
        .await?;
        return Ok(Some(Auth { principal, via: Via::Basic }));
    }
    let key = authorization
        .and_then(|value| value.strip_prefix("Bearer "))
        .or_else(|| headers.get("x-api-key").and_then(|value| value.to_str().ok()));
    if let Some(key) = key {
        let principal = ::identity::session::by_api_key(store, crypto, key).await?;
        return Ok(Some(Auth { principal, via: Via::ApiKey }));
    }
    Ok(None)
}

/// Paths a user with a pending password change or second-factor enrolment may still use.
fn allowed_while_pending(path: &str) -> bool {
    path == "/api/session" || path.starts_with("/api/session/")
}

/// Authentication, the pending-step gate, the route's permissions (`any_of`, declared with the
/// route: [`crate::routes::Need`]), CSRF and the data scope; every state-changing request is
/// audited with its outcome.
pub async fn require_user(
    state: &AppState,
    any_of: Option<&'static [&'static str]>,
    request: Request,
    next: Next,
) -> Response {
    let ip = client_ip(request.extensions());
    let auth = match resolve(state, request.headers(), &ip).await {
        Ok(Some(auth)) => auth,
        Ok(None) => {
            return ApiError::Unauthorized(
                "请先登录：需要会话、HTTP Basic 或 API 密钥 (authentication required)".into(),
            )
            .into_response();
        }
        Err(error) => return error.into_response(),
    };
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let user = auth.principal.account.id.clone();
    let method_text = method.to_string();
    let refuse = |error: ApiError| {
        let state = state.clone();
        let (ip, path, user, method) = (ip.clone(), path.clone(), user.clone(), method_text.clone());
        async move {
            let mut denied = entry(Some(&user), &ip, "access", Some(&path), "denied");
            denied.detail = Some(format!("{method} {path}: {error}"));
            if let Err(audit_error) = audit(&state, denied).await {
                return audit_error.into_response();
            }
            error.into_response()
        }
    };
    if !allowed_while_pending(&path) {
        if password_change_due(&state.security, &auth.principal) {
            return refuse(ApiError::coded(
                StatusCode::FORBIDDEN,
                "password-change-required",
                "请先修改密码 (the password must be changed first)",
            ))
            .await;
        }
        if totp_enrolment_due(&state.security, &auth.principal) {
            return refuse(ApiError::coded(
                StatusCode::FORBIDDEN,
                "totp-enrolment-required",
                "请先绑定动态口令 (enrol a second factor first)",
            ))
            .await;
        }
    }
    if let Some(any_of) = any_of
        && !any_of.iter().any(|permission| auth.principal.can(permission))
    {
        return refuse(ApiError::forbidden(format!("没有权限 (needs permission {})", any_of.join(" or ")))).await;
    }
    if let Via::Session(session) = &auth.via
        && is_unsafe(&method)
    {
        let sent = request.headers().get(CSRF_HEADER).and_then(|value| value.to_str().ok());
        if !sent.is_some_and(|sent| crypto::constant_time_eq(sent.as_bytes(), session.csrf_token.as_bytes())) {
            return refuse(ApiError::coded(
                StatusCode::FORBIDDEN,
                "csrf",
                "请求校验失败，请刷新页面后重试 (missing or wrong CSRF token)",
            ))
            .await;
        }
    }
    run_as(state, auth, &ip, request, next).await
}

/// Runs the request as `auth`: its identity in the extensions, its data scope set, and a
/// state-changing request audited with its outcome.
async fn run_as(state: &AppState, auth: Auth, ip: &str, mut request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let user = auth.principal.account.id.clone();
    let scope = auth.principal.scope.clone();
    request.extensions_mut().insert(CurrentUser(user.clone()));
    request.extensions_mut().insert(auth);
    let response = SCOPE.scope(scope, next.run(request)).await;
    if is_unsafe(&method) {
        let status = response.status();
        let result = if status.is_success() || status.is_redirection() { "success" } else { "failure" };
        let mut change = entry(Some(&user), ip, &format!("{method} {path}"), Some(&path), result);
        change.detail = Some(status.as_u16().to_string());
        if let Err(error) = audit(state, change).await {
            return error.into_response();
        }
    }
    response
}

/// The form field that carries the session's CSRF token on console forms.
pub const CSRF_FIELD: &str = "csrf_token";
/// The largest console form body (operation forms; files go through `/api/files`).
const MAX_SCREEN_FORM: usize = 64 * 1024;
/// The largest upload a screen takes (a BPMN model to deploy).
pub const MAX_SCREEN_UPLOAD: usize = 4 * 1024 * 1024;
/// The screens whose forms are uploads (multipart, up to [`MAX_SCREEN_UPLOAD`]); every other
/// screen takes plain forms of at most 64 KiB, so no session can make a node buffer more.
const UPLOAD_SCREENS: &[&str] = &["/admin/processes/deploy"];

/// The guard of a console screen ([`crate::routes::Need::Screen`]): a browser session (a
/// stranger goes to the login page, a pending password change to `/password`), the screen's
/// permissions (the 403 page), CSRF on every form post (the `csrf_token` field or the
/// `X-CSRF-Token` header), then [`run_as`]: scope and audit as for the API.
pub async fn require_screen(
    state: &AppState,
    any_of: &'static [&'static str],
    request: Request,
    next: Next,
) -> Response {
    let ip = client_ip(request.extensions());
    // A page asked for without a session: the login page, which comes back here afterwards
    // (a form post cannot be replayed, so it goes back to the home page). A request htmx makes
    // for a part of a page (a picker's list, the next cards) cannot follow a redirect into the
    // part: it gets 401 with `HX-Redirect`, and the whole page goes to the login page, which
    // comes back to the page the person was on (`HX-Current-URL`).
    let htmx = request.headers().contains_key("hx-request");
    let login = if htmx {
        let current = request.headers().get("hx-current-url").and_then(|value| value.to_str().ok()).unwrap_or("/");
        // `http://host/path?query` → `/path?query`.
        let path = current.split_once("://").and_then(|(_, rest)| rest.find('/').map(|at| &rest[at..])).unwrap_or("/");
        pages::login_for(path)
    } else if request.method() == axum::http::Method::GET {
        pages::login_for(request.uri().path_and_query().map(|path| path.as_str()).unwrap_or("/"))
    } else {
        "/login".to_string()
    };
    let to_login = |login: &str| {
        if htmx {
            match HeaderValue::from_str(login) {
                Ok(to) => (StatusCode::UNAUTHORIZED, [("hx-redirect", to)]).into_response(),
                Err(_) => StatusCode::UNAUTHORIZED.into_response(),
            }
        } else {
            see_other(login)
        }
    };
    let auth = match resolve(state, request.headers(), &ip).await {
        Ok(Some(auth)) if matches!(auth.via, Via::Session(_)) => auth,
        Ok(_) => return to_login(&login),
        // An expired, idle or revoked session: back to the login page, the stale cookie cleared.
        Err(error) if error.status() == StatusCode::UNAUTHORIZED => {
            let mut response = to_login(&login);
            response.headers_mut().insert(header::SET_COOKIE, session_cookie(&state.security, ""));
            return response;
        }
        Err(error) => return error.into_response(),
    };
    if password_change_due(&state.security, &auth.principal) {
        return see_other("/password");
    }
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let denied = |error: ApiError, why: String| {
        let mut denied = entry(Some(&auth.principal.account.id), &ip, "access", Some(&path), "denied");
        denied.detail = Some(format!("{method} {path}: {why}"));
        async move {
            match audit(state, denied).await {
                Ok(()) => error.into_response(),
                Err(audit_error) => audit_error.into_response(),
            }
        }
    };
    if totp_enrolment_due(&state.security, &auth.principal) {
        return see_other("/security/totp");
    }
    if !any_of.is_empty() && !any_of.iter().any(|permission| auth.principal.can(permission)) {
        let refusal = ApiError::forbidden("您没有访问该页面的权限 (missing permission)");
        return denied(refusal, format!("needs {}", any_of.join(" or "))).await;
    }
    let request = if is_unsafe(request.method()) {
        let Via::Session(session) = &auth.via else { unreachable!("matched above") };
        let expected = session.csrf_token.clone();
        let uploads = UPLOAD_SCREENS.contains(&path.as_str()) || crate::forms::import::is_upload_screen(&path);
        match csrf_checked(request, &expected, uploads).await {
            Ok(request) => request,
            Err(refusal) => return denied(refusal, "csrf".into()).await,
        }
    } else {
        request
    };
    run_as(state, auth, &ip, request, next).await
}

/// The request again, when its `X-CSRF-Token` header or its form's `csrf_token` field (an
/// urlencoded form, or on an upload screen a multipart text field) is the session's token; the
/// refusal otherwise.
async fn csrf_checked(request: Request, expected: &str, uploads: bool) -> Result<Request, ApiError> {
    let refused =
        || ApiError::coded(StatusCode::FORBIDDEN, "csrf", "页面已过期，请刷新后重试 (missing or wrong CSRF token)");
    let matches = |sent: &str| crypto::constant_time_eq(sent.as_bytes(), expected.as_bytes());
    if let Some(sent) = request.headers().get(CSRF_HEADER).and_then(|value| value.to_str().ok()) {
        return if matches(sent) { Ok(request) } else { Err(refused()) };
    }
    let content_type =
        request.headers().get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or_default();
    let boundary = (uploads && content_type.starts_with("multipart/form-data"))
        .then(|| multer::parse_boundary(content_type).ok())
        .flatten();
    if boundary.is_none() && !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(refused());
    }
    // An import's upload is larger than a model's.
    let limit = match boundary {
        Some(_) if crate::forms::import::is_upload_screen(request.uri().path()) => crate::forms::import::MAX_REQUEST,
        Some(_) => MAX_SCREEN_UPLOAD,
        None => MAX_SCREEN_FORM,
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return Err(ApiError::coded(StatusCode::PAYLOAD_TOO_LARGE, "too-large", "提交的内容过大 (form too large)"));
    };
    let sent = match boundary {
        // An upload form: its `csrf_token` text field (the form puts it first).
        Some(boundary) => {
            let chunk = bytes.clone();
            let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(chunk) });
            let mut fields = multer::Multipart::new(stream, boundary);
            let mut sent = None;
            while let Ok(Some(field)) = fields.next_field().await {
                if field.name() == Some(CSRF_FIELD) {
                    sent = field.text().await.ok();
                    break;
                }
            }
            sent
        }
        None => {
            form_urlencoded::parse(&bytes).find(|(name, _)| name == CSRF_FIELD).map(|(_, value)| value.into_owned())
        }
    };
    if !sent.is_some_and(|sent| matches(&sent)) {
        return Err(refused());
    }
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

fn see_other(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        Err(_) => (StatusCode::SEE_OTHER, [(header::LOCATION, HeaderValue::from_static("/login"))]).into_response(),
    }
}

/// Security headers on every response (CSP, framing, sniffing, referrer; HSTS behind TLS).
pub async fn security_headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "x-frame-options", "DENY");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "cache-control", "no-store");
    if state.security.behind_tls {
        set(headers, "strict-transport-security", "max-age=31536000; includeSubDomains");
    }
    response
}

/// A 401 on `/engine-rest` invites Basic (`WWW-Authenticate`) only for clients that are not
/// browsers: a browser that was shown the prompt would cache the credentials and send them on
/// every cross-site request to this origin. Browsers say who they are with `Sec-Fetch-Mode`;
/// `/api` and the pages never invite Basic (`docs/security.md` T-CSRF).
pub async fn basic_challenge(request: Request, next: Next) -> Response {
    let invite = request.uri().path().starts_with("/engine-rest") && !request.headers().contains_key("sec-fetch-mode");
    let mut response = next.run(request).await;
    if invite && response.status() == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"shuangyong\""));
    }
    response
}

/// A request body under `/api` or `/engine-rest` is read as JSON only when it says it is JSON
/// (`application/json` or `application/…+json`); uploads are `multipart/form-data`. Anything
/// else with a body is 415 before a handler sees it, so a cross-site form (`text/plain`,
/// form-encoded) can never pass as a JSON request.
pub async fn require_json_bodies(request: Request, next: Next) -> Response {
    use axum::body::HttpBody as _;
    let path = request.uri().path();
    let ours = path.starts_with("/api/") || path.starts_with("/engine-rest/");
    let headers = request.headers();
    // Whatever the protocol says about the length (HTTP/1 headers, an HTTP/2 stream): a body
    // that is not known to be empty is a body.
    let has_body = request.body().size_hint().exact() != Some(0)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok())
            .is_some_and(|length| length > 0);
    if ours && has_body {
        let media = headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
            .unwrap_or_default();
        let json = media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"));
        if !json && media != "multipart/form-data" {
            return ApiError::coded(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "json-required",
                "请求正文须为 JSON (Content-Type: application/json) 或文件上传 (multipart/form-data)",
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// Rate limit on `kind` for `subject` (an IP, a phone): `max` hits per `window_seconds`.
pub async fn rate_limit(state: &AppState, kind: &str, subject: &str, max: i64, window_seconds: i64) -> ApiResult<()> {
    Ok(::identity::login::rate_limit(state.store().as_ref(), kind, subject, max, window_seconds).await?)
}

pub use ::identity::accounts::account_in_scope;
