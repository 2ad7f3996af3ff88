//! The identity part of `/api`: sessions (`/api/session`), accounts (`/api/users`), the audit
//! log (`/api/audit`), second-factor enrolment, and SMS codes for citizens.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use runtime::executor::now_millis;
use serde::Deserialize;
use serde_json::{Value, json};
use store::identity::{Account, AccountQuery, Principal, SessionRecord};

use super::{
    Auth, ClientIp, Via, audit, check_password, entry, password, password_change_due, random_token, rate_limit,
    session_cookie, token_digest, totp_enrolment_due,
};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::routes::{Need, Routes};

/// Routes that need no session (login, citizen registration).
pub fn public_router() -> Routes {
    Routes::new()
        .post("/api/session", Need::Public, create_session)
        .post("/api/sms/code", Need::Public, super::sms::send_code)
        .post("/api/citizens", Need::Public, super::sms::register_citizen)
        .post("/api/applicants", Need::Public, super::sms::register_applicant)
        .post("/api/session/sms", Need::Public, super::sms::login_with_code)
        .with_router(|router| router.layer(axum::extract::DefaultBodyLimit::max(16 * 1024)))
}

/// Reading accounts (the lists and one account).
const READ_USERS: Need = Need::AnyOf(&["user:manage", "user:read", "liaison:manage"]);
/// Creating and changing accounts (a liaison manager for liaison accounts, checked again by
/// the handler).
const MANAGE_USERS: Need = Need::AnyOf(&["user:manage", "liaison:manage"]);

/// Routes for signed-in callers (nested under `/api`). `phone` and `api-keys` are
/// [`Need::SignedIn`] because the handler decides with the record in hand: `pii:unmask` for a
/// phone number (refusals audited too); the owner (a machine account) or `apikey:manage` for
/// API keys.
pub fn router() -> Routes {
    Routes::new()
        .get("/session", Need::SignedIn, current_session)
        .delete("/session", Need::SignedIn, delete_session)
        .post("/session/password", Need::SignedIn, change_password)
        .post("/session/totp/setup", Need::SignedIn, totp_setup)
        .post("/session/totp/confirm", Need::SignedIn, totp_confirm)
        .get("/users", READ_USERS, list_users)
        .post("/users", MANAGE_USERS, create_user)
        .get("/users/{id}", READ_USERS, one_user)
        .get("/users/{id}/phone", Need::SignedIn, unmasked_phone)
        .post("/users/{id}/freeze", MANAGE_USERS, |s, a, i, p| set_status(s, a, i, p, "frozen"))
        .post("/users/{id}/unfreeze", MANAGE_USERS, |s, a, i, p| set_status(s, a, i, p, "active"))
        .post("/users/{id}/cancel", MANAGE_USERS, |s, a, i, p| set_status(s, a, i, p, "cancelled"))
        .post("/users/{id}/password", MANAGE_USERS, reset_password)
        .post("/users/{id}/unlock", Need::AnyOf(&["user:unlock", "user:manage"]), unlock_user)
        .put("/users/{id}/roles", Need::AnyOf(&["role:assign"]), set_roles)
        .get("/users/{id}/api-keys", Need::SignedIn, list_api_keys)
        .post("/users/{id}/api-keys", Need::SignedIn, create_api_key)
        .delete("/users/{id}/api-keys/{key}", Need::SignedIn, revoke_api_key)
        .get("/org-units", Need::SignedIn, list_units)
        .post("/org-units", Need::AnyOf(&["system:config"]), create_unit)
        .get("/audit", Need::AnyOf(&["audit:read"]), list_audit)
        .get("/audit/verify", Need::AnyOf(&["audit:read"]), verify_audit)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub totp: Option<String>,
}

/// Signs a user in: rate limit per address, password (lockout), second factor, then a new
/// server-side session. Returns the cookie token and the session.
pub async fn login(
    state: &AppState,
    ip: &str,
    credentials: &Credentials,
) -> ApiResult<(String, SessionRecord, Principal)> {
    rate_limit(state, "login", ip, state.security.login_rate_per_minute, 60).await?;
    let username = credentials.username.trim();
    let principal = check_password(state, username, &credentials.password, ip).await?;
    if principal.account.totp_secret.is_some() {
        let code = credentials.totp.as_deref().unwrap_or("").trim();
        if code.is_empty() {
            return Err(ApiError::coded(
                StatusCode::UNAUTHORIZED,
                "totp-required",
                "请输入动态口令 (second factor required)",
            ));
        }
        // A code counts once: its step must be later than the last one this user signed in with.
        if !super::fresh_totp(state, &principal.account, code).await? {
            let lock = state
                .store()
                .record_login_failure(
                    username,
                    ip,
                    now_millis(),
                    state.security.max_failures,
                    state.security.lock_minutes * 60_000,
                )
                .await?
                .locked_until;
            audit(state, entry(Some(username), ip, "login", Some(username), "failure")).await?;
            return Err(match lock {
                Some(until) => ::identity::login::locked(until, now_millis()).into(),
                None => ApiError::coded(StatusCode::UNAUTHORIZED, "totp-invalid", "动态口令错误 (wrong second factor)"),
            });
        }
    }
    let (token, session) = open_session(state, &principal, ip).await?;
    audit(state, entry(Some(username), ip, "login", Some(username), "success")).await?;
    Ok((token, session, principal))
}

/// A new server-side session for `principal`: a fresh random token (no fixation), stored as its
/// digest with a CSRF token. Returns the cookie token and the session.
pub async fn open_session(state: &AppState, principal: &Principal, ip: &str) -> ApiResult<(String, SessionRecord)> {
    Ok(::identity::session::open(state.store().as_ref(), principal, ip).await?)
}

fn session_json(state: &AppState, principal: &Principal, csrf: &str) -> Value {
    let account = &principal.account;
    json!({
        "username": account.id,
        "displayName": account.display_name,
        "unit": account.unit_id,
        "district": account.district,
        "kind": account.kind,
        "roles": account.roles,
        "permissions": principal.permissions,
        "scope": scope_text(&principal.scope),
        "mustChangePassword": password_change_due(&state.security, principal),
        "totpEnrolmentRequired": totp_enrolment_due(&state.security, principal),
        "csrfToken": csrf,
    })
}

fn scope_text(scope: &store::DataScope) -> String {
    match scope {
        store::DataScope::All => "all".into(),
        store::DataScope::District(code) => format!("district:{code}"),
        store::DataScope::Unit(unit) => format!("unit:{unit}"),
        store::DataScope::Own(user) => format!("own:{user}"),
        store::DataScope::Started(user) => format!("started:{user}"),
        store::DataScope::Nothing => "none".into(),
    }
}

/// `POST /api/session` `{username, password, totp?}` → the session cookie and who you are.
async fn create_session(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    // Only JSON: a cross-site form cannot send it without a CORS preflight, so another site
    // cannot log a visitor into an account of its choosing.
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !json {
        return Err(ApiError::coded(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "json-required",
            "请求须为 JSON (Content-Type: application/json)",
        ));
    }
    let credentials: Credentials = serde_json::from_slice(&body)
        .map_err(|_| ApiError::BadRequest("请求格式错误：需要 {username, password} (bad request body)".into()))?;
    let (token, session, principal) = login(&state, &ip, &credentials).await?;
    let mut response = Json(session_json(&state, &principal, &session.csrf_token)).into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&state.security, &token));
    Ok(response)
}

async fn current_session(State(state): State<AppState>, Extension(auth): Extension<Auth>) -> Json<Value> {
    let csrf = match &auth.via {
        Via::Session(session) => session.csrf_token.clone(),
        _ => String::new(),
    };
    Json(session_json(&state, &auth.principal, &csrf))
}

/// `DELETE /api/session`: log out (the session row is deleted, so the cookie is dead everywhere).
async fn delete_session(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
) -> ApiResult<Response> {
    if let Via::Session(session) = &auth.via {
        state.store().delete_session(&session.id).await?;
    }
    audit(&state, entry(Some(&auth.principal.account.id), &ip, "logout", None, "success")).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&state.security, ""));
    Ok(response)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `POST /api/session/password`: change one's own password (ends every session; log in again).
async fn change_password(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Json(change): Json<PasswordChange>,
) -> ApiResult<Response> {
    let username = auth.principal.account.id.clone();
    check_password(&state, &username, &change.current_password, &ip).await?;
    password::change(&state, &username, &change.new_password, false).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&state.security, ""));
    Ok(response)
}

/// `POST /api/session/totp/setup`: a new secret to enrol (not stored until confirmed).
async fn totp_setup(Extension(auth): Extension<Auth>) -> Json<Value> {
    let secret = crypto::totp::new_secret();
    let uri = totp_uri(&auth.principal.account.id, &secret);
    Json(json!({ "secret": secret, "uri": uri }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TotpConfirm {
    secret: String,
    code: String,
    /// Replacing an enrolled second factor: the password …
    #[serde(default)]
    password: Option<String>,
    /// … and a current code of the secret being replaced.
    #[serde(default)]
    current_code: Option<String>,
}

/// `POST /api/session/totp/confirm {secret, code}`: stores the secret once a code from it works.
/// Replacing one already enrolled also needs the password and a current code of the old one,
/// so a session left open (or stolen) cannot move the second factor to another phone.
async fn totp_confirm(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Json(confirm): Json<TotpConfirm>,
) -> ApiResult<StatusCode> {
    enrol_totp(&state, &auth, &ip, &confirm.secret, &confirm.code, confirm.password.as_deref(), confirm.current_code)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A secret as [`crypto::totp::new_secret`] makes them: base32 of at least 160 bits (RFC 4226's
/// recommendation), at most 512; anything else is refused before it could become a weak factor.
pub(super) fn valid_totp_secret(secret: &str) -> bool {
    secret.len() <= 128 && crypto::totp::decode_secret(secret).is_some_and(|key| key.len() >= 20)
}

/// The `otpauth://` address an authenticator app reads from the QR code.
pub(super) fn totp_uri(account: &str, secret: &str) -> String {
    let account: String = form_urlencoded::byte_serialize(account.as_bytes()).collect();
    format!("otpauth://totp/shuangyong:{account}?secret={secret}&issuer=shuangyong")
}

/// Stores `secret` as the account's second factor once `code` from it works (the API and the
/// enrolment page). Replacing one already enrolled also needs the password and a current code
/// of the old one.
pub(super) async fn enrol_totp(
    state: &AppState,
    auth: &Auth,
    ip: &str,
    secret: &str,
    code: &str,
    password: Option<&str>,
    current_code: Option<String>,
) -> ApiResult<()> {
    let id = &auth.principal.account.id;
    if !valid_totp_secret(secret) {
        return Err(ApiError::BadRequest(
            "动态口令密钥无效，请重新扫码 (the secret must be base32 of at least 160 bits)".into(),
        ));
    }
    if auth.principal.account.totp_secret.is_some() {
        let proof = super::StepUp { password: None, totp: current_code };
        super::step_up(state, auth, &proof, ip).await?;
        check_password(state, id, password.unwrap_or_default(), ip).await.map_err(|_| {
            ApiError::coded(StatusCode::FORBIDDEN, "step-up-failed", "请输入正确的密码 (your password is required)")
        })?;
    }
    let Some(step) = crypto::totp::verify(secret, code.trim(), now_millis() / 1000) else {
        return Err(ApiError::BadRequest("动态口令错误 (the code does not match the secret)".into()));
    };
    let sealed = crypto::encrypt_text(state.security.crypto.as_ref(), secret, &totp_aad(id))
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    state.store().set_totp_secret(id, Some(&sealed)).await?;
    // The confirming code cannot then sign in.
    state.store().use_totp_step(id, step as i64).await?;
    let action = if auth.principal.account.totp_secret.is_some() { "totp.replace" } else { "totp.enrol" };
    audit(state, entry(Some(id), ip, action, Some(id), "success")).await?;
    Ok(())
}

pub use ::identity::second_factor::totp_aad;

/// An account's phone number, masked (`138****5678`); `None` when it has none or it cannot be
/// opened (a key that is gone: logged, never shown).
fn masked_phone(state: &AppState, account: &Account) -> Option<String> {
    let sealed = account.phone_sealed.as_ref()?;
    match crypto::decrypt_text(state.security.crypto.as_ref(), sealed, &super::sms::phone_aad(&account.id)) {
        Ok(phone) => Some(crypto::mask::mask_phone(&phone)),
        Err(error) => {
            tracing::warn!(%error, user = %account.id, "a sealed phone number cannot be opened");
            None
        }
    }
}

pub fn account_json(state: &AppState, account: &Account) -> Value {
    json!({
        "phone": masked_phone(state, account),
        "username": account.id,
        "displayName": account.display_name,
        "unit": account.unit_id,
        "district": account.district,
        "kind": account.kind,
        "status": account.status,
        "roles": account.roles,
        "locked": account.locked_until.is_some_and(|until| until > now_millis()),
        "totp": account.totp_secret.is_some(),
        "createdAt": crate::camunda::format_time(account.created_at),
    })
}

#[derive(Deserialize)]
struct UserFilter {
    unit: Option<String>,
    kind: Option<String>,
    status: Option<String>,
}

async fn list_users(
    Extension(auth): Extension<Auth>,
    State(state): State<AppState>,
    Query(filter): Query<UserFilter>,
) -> ApiResult<Json<Value>> {
    // A liaison manager (district staff) sees liaisons only, whatever kind it asks for.
    let kind = if auth.principal.can("user:manage") || auth.principal.can("user:read") {
        filter.kind
    } else {
        Some("liaison".to_string())
    };
    let query = AccountQuery {
        unit_id: filter.unit,
        kind,
        status: filter.status,
        ..AccountQuery::new(manageable_scope(&auth.principal))
    };
    let accounts = state.store().accounts(&query).await?;
    Ok(Json(Value::Array(accounts.iter().map(|account| account_json(&state, account)).collect())))
}

/// The accounts a user manager sees: their data scope; a liaison manager only liaisons.
fn manageable_scope(principal: &Principal) -> store::DataScope {
    principal.scope.clone()
}

use ::identity::accounts::may_manage;

async fn find_account(state: &AppState, principal: &Principal, id: &str) -> ApiResult<Account> {
    Ok(::identity::accounts::find_account(state.store().as_ref(), principal, id).await?)
}

async fn one_user(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(account_json(&state, &find_account(&state, &auth.principal, &id).await?)))
}

/// `GET /api/users/{id}/phone`: the whole phone number, for roles allowed to see personal data
/// unmasked (`pii:unmask`), within their data scope. Every view is audited.
async fn unmasked_phone(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if !auth.principal.can("pii:unmask") {
        audit(&state, entry(Some(&auth.principal.account.id), &ip, "pii.unmask", Some(&id), "denied")).await?;
        return Err(ApiError::coded(
            StatusCode::FORBIDDEN,
            "pii-unmask-denied",
            "无权查看完整个人信息 (not allowed to see unmasked personal data)",
        ));
    }
    let account = find_account(&state, &auth.principal, &id).await?;
    let phone = match &account.phone_sealed {
        None => None,
        Some(sealed) => Some(
            crypto::decrypt_text(state.security.crypto.as_ref(), sealed, &super::sms::phone_aad(&account.id))
                .map_err(|error| ApiError::Internal(error.to_string()))?,
        ),
    };
    audit(&state, entry(Some(&auth.principal.account.id), &ip, "pii.unmask", Some(&id), "success")).await?;
    Ok(Json(json!({ "username": account.id, "phone": phone })))
}

pub use ::identity::accounts::NewUser;

/// Validates and creates an account ([`::identity::accounts::create`], shared by `/api/users`
/// and `shuangyong user add`).
pub async fn add_user(state: &AppState, actor: Option<&Principal>, user: &NewUser, ip: &str) -> ApiResult<()> {
    let (store, crypto) = (state.store().as_ref(), state.security.crypto.as_ref());
    Ok(::identity::accounts::create(store, crypto, &state.security.password, actor, user, ip).await?)
}

async fn create_user(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Json(user): Json<NewUser>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    add_user(&state, Some(&auth.principal), &user, &ip).await?;
    let account = state
        .store()
        .account(user.username.trim())
        .await?
        .ok_or_else(|| ApiError::Internal("created user vanished".into()))?;
    Ok((StatusCode::CREATED, Json(account_json(&state, &account))))
}

/// Freeze, unfreeze or cancel an account ([`::identity::accounts::change_status`], shared with
/// the CLI).
pub async fn change_status(
    state: &AppState,
    actor: Option<&Principal>,
    id: &str,
    status: &str,
    ip: &str,
) -> ApiResult<()> {
    let (store, crypto) = (state.store().as_ref(), state.security.crypto.as_ref());
    Ok(::identity::accounts::change_status(store, crypto, actor, id, status, ip).await?)
}

async fn set_status(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    status: &'static str,
) -> ApiResult<StatusCode> {
    change_status(&state, Some(&auth.principal), &id, status, &ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct Reset {
    password: String,
}

/// `POST /api/users/{id}/password {password}`: an administrator sets a new initial password
/// (the user must change it at next login).
async fn reset_password(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    Json(reset): Json<Reset>,
) -> ApiResult<StatusCode> {
    let account = find_account(&state, &auth.principal, &id).await?;
    if !may_manage(&auth.principal, &account) {
        return Err(ApiError::forbidden("不能管理该账户 (outside what you may manage)"));
    }
    password::change(&state, &id, &reset.password, true).await?;
    audit(&state, entry(Some(&auth.principal.account.id), &ip, "user.password-reset", Some(&id), "success")).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/users/{id}/unlock`: ends a login lockout (security administrator).
async fn unlock_user(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    find_account(&state, &auth.principal, &id).await?;
    state.store().clear_login_failures(&id).await?;
    audit(&state, entry(Some(&auth.principal.account.id), &ip, "user.unlock", Some(&id), "success")).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct Roles {
    roles: Vec<String>,
    #[serde(flatten)]
    proof: super::StepUp,
}

/// `PUT /api/users/{id}/roles {roles}`: replaces a user's roles (security administrator; never
/// one's own, so nobody can raise their own rights).
async fn set_roles(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    Json(roles): Json<Roles>,
) -> ApiResult<StatusCode> {
    if !auth.principal.can("role:assign") {
        return Err(ApiError::forbidden("没有权限 (needs permission role:assign)"));
    }
    let account = find_account(&state, &auth.principal, &id).await?;
    let known: Vec<String> = state.store().roles().await?.into_iter().map(|role| role.id).collect();
    let admin_change = ::identity::accounts::check_roles(&auth.principal, &account, &roles.roles, &known)?;
    if admin_change {
        super::step_up(&state, &auth, &roles.proof, &ip).await?;
    }
    let (store, crypto) = (state.store().as_ref(), state.security.crypto.as_ref());
    ::identity::accounts::apply_roles(store, crypto, &auth.principal, &account, &roles.roles, admin_change, &ip)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewKey {
    name: String,
    /// At most the configured lifetime (`--api-key-days`), which is also the default.
    #[serde(default)]
    expires_in_days: Option<i64>,
    #[serde(flatten)]
    proof: super::StepUp,
}

/// The machine account whose keys `auth` may see and change: its owner (signed in as itself),
/// or the security administrator (`apikey:manage`) for machine accounts that hold no
/// administrator role. Nobody acquires a person's credentials (`docs/security.md` T-ADMIN).
async fn key_owner(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Account> {
    let account = find_account(state, &auth.principal, id).await?;
    let own = account.id == auth.principal.account.id;
    if !own && !auth.principal.can("apikey:manage") {
        return Err(ApiError::coded(
            StatusCode::FORBIDDEN,
            "api-key-not-yours",
            "只有账户本人或安全管理员可以管理 API 密钥 (only the owner or the security administrator)",
        ));
    }
    if account.kind != "machine" || super::holds_admin_role(&account.roles) {
        return Err(ApiError::coded(
            StatusCode::FORBIDDEN,
            "machine-accounts-only",
            "API 密钥只能发给不持有管理员角色的机器账户 (API keys are for machine accounts without administrator roles)",
        ));
    }
    Ok(account)
}

fn key_json(key: &store::identity::ApiKey) -> Value {
    json!({
        "id": key.public_id,
        "name": key.name,
        "user": key.user_id,
        "createdAt": crate::camunda::format_time(key.created_at),
        "expiresAt": crate::camunda::format_time(key.expires_at),
        "revokedAt": crate::camunda::format_optional_time(key.revoked_at),
        "active": key.revoked_at.is_none() && key.expires_at > now_millis(),
    })
}

/// `POST /api/users/{id}/api-keys {name, expiresInDays?, password | totp}`: a new API key for a
/// machine account, shown once. Needs a fresh second-factor check (or the password) of the
/// person creating it; it expires.
async fn create_api_key(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    Json(request): Json<NewKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let account = key_owner(&state, &auth, &id).await?;
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ApiError::BadRequest("密钥名称须为 1 到 64 个字符 (name: 1 to 64 characters)".into()));
    }
    let days = request.expires_in_days.unwrap_or(state.security.api_key_days);
    if !(1..=state.security.api_key_days).contains(&days) {
        return Err(ApiError::BadRequest(format!(
            "有效期须为 1 到 {} 天 (expiresInDays: 1 to {})",
            state.security.api_key_days, state.security.api_key_days
        )));
    }
    super::step_up(&state, &auth, &request.proof, &ip).await?;
    let secret = format!("sy_{}", random_token());
    let now = now_millis();
    let key = store::identity::ApiKey {
        public_id: uuid::Uuid::new_v4().simple().to_string()[..16].to_string(),
        user_id: account.id.clone(),
        name: name.to_string(),
        created_at: now,
        expires_at: now + days * 86_400_000,
        revoked_at: None,
    };
    state.store().insert_api_key(&key, &token_digest(&secret)).await?;
    let mut record = entry(Some(&auth.principal.account.id), &ip, "apikey.create", Some(&account.id), "success");
    record.detail = Some(format!("key={} days={days}", key.public_id));
    audit(&state, record).await?;
    let mut body = key_json(&key);
    body["key"] = json!(secret);
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /api/users/{id}/api-keys`: the account's keys (never their secrets).
async fn list_api_keys(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let account = key_owner(&state, &auth, &id).await?;
    let keys = state.store().api_keys(&account.id).await?;
    Ok(Json(Value::Array(keys.iter().map(key_json).collect())))
}

/// `DELETE /api/users/{id}/api-keys/{key}`: revokes a key at once, on every node.
async fn revoke_api_key(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let account = key_owner(&state, &auth, &id).await?;
    let revoked = state.store().revoke_api_key(&account.id, &key, now_millis()).await?;
    let mut record = entry(
        Some(&auth.principal.account.id),
        &ip,
        "apikey.revoke",
        Some(&account.id),
        if revoked { "success" } else { "failure" },
    );
    record.detail = Some(format!("key={key}"));
    audit(&state, record).await?;
    if !revoked {
        return Err(ApiError::NotFound(format!("没有可吊销的密钥 '{key}' (no such active key)")));
    }
    Ok(StatusCode::NO_CONTENT)
}

fn unit_json(unit: &store::identity::OrgUnit) -> Value {
    json!({ "id": unit.id, "parent": unit.parent_id, "name": unit.name, "kind": unit.kind, "district": unit.district })
}

/// `GET /api/org-units`: the organisation tree (every signed-in user may read it).
async fn list_units(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(Value::Array(state.store().org_units().await?.iter().map(unit_json).collect())))
}

#[derive(Deserialize)]
struct NewUnit {
    id: String,
    parent: String,
    name: String,
}

/// `POST /api/org-units {id, parent, name}`: a unit below a district or another unit.
async fn create_unit(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Json(unit): Json<NewUnit>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let created = super::add_unit(&state, &auth.principal.account.id, &unit.id, &unit.parent, &unit.name, &ip).await?;
    Ok((StatusCode::CREATED, Json(unit_json(&created))))
}

#[derive(Deserialize)]
struct AuditPage {
    after: Option<i64>,
    limit: Option<i64>,
}

/// `GET /api/audit?after=SEQ&limit=N` (auditors only). Reading the log is itself audited.
async fn list_audit(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Query(page): Query<AuditPage>,
) -> ApiResult<Json<Value>> {
    let rows = state.store().audit_rows(page.after.unwrap_or(0), page.limit.unwrap_or(100).clamp(1, 1000)).await?;
    audit(&state, entry(Some(&auth.principal.account.id), &ip, "audit.read", None, "success")).await?;
    let items = rows
        .iter()
        .map(|row| {
            json!({
                "seq": row.seq,
                "time": crate::camunda::format_time(row.entry.at),
                "user": row.entry.user_id,
                "sourceIp": row.entry.source_ip,
                "action": row.entry.action,
                "target": row.entry.target,
                "result": row.entry.result,
                "detail": row.entry.detail,
            })
        })
        .collect();
    Ok(Json(Value::Array(items)))
}

async fn verify_audit(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    match store::identity::verify_audit(state.store().as_ref(), state.security.crypto.as_ref()).await? {
        Ok(rows) => Ok(Json(json!({ "intact": true, "rows": rows }))),
        Err(problem) => Ok(Json(json!({ "intact": false, "problem": problem.to_string() }))),
    }
}
