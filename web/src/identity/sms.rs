//! SMS verification codes for citizens (SVC-18): send a code, register with it, log in with it.
//! Codes are 6 digits, valid for a few minutes, single use, at most 5 tries, and sending is
//! rate-limited per phone and per source address. Messages go through an [`SmsGateway`]; the
//! built-in [`OutboxGateway`] writes them to the `sms_outbox` table (a real carrier adapter
//! replaces it in production; tests read the outbox).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::RngExt;
use runtime::executor::now_millis;
use serde::Deserialize;
use serde_json::json;
use store::Store;
use store::identity::NewAccount;

use super::{ClientIp, audit, entry, password, rate_limit, session_cookie};
use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// Sends a text message to a phone.
#[async_trait::async_trait]
pub trait SmsGateway: Send + Sync {
    async fn send(&self, phone: &str, message: &str) -> Result<(), String>;
}

/// Writes messages to the database outbox instead of sending them.
pub struct OutboxGateway(pub Arc<dyn Store>);

#[async_trait::async_trait]
impl SmsGateway for OutboxGateway {
    async fn send(&self, phone: &str, message: &str) -> Result<(), String> {
        self.0.sms_outbox_push(phone, message, None, now_millis()).await.map(|_| ()).map_err(|error| error.to_string())
    }
}

/// A mainland mobile number: 11 digits starting with 1.
fn parse_phone(phone: &str) -> ApiResult<String> {
    let phone = phone.trim();
    if phone.len() == 11 && phone.starts_with('1') && phone.bytes().all(|b| b.is_ascii_digit()) {
        Ok(phone.to_string())
    } else {
        Err(ApiError::BadRequest("手机号码格式不正确 (invalid phone number)".into()))
    }
}

/// The searchable stand-in for a phone number: the crypto provider's blind index (HMAC-SM3
/// under the index key), so exact-match lookups work while the number itself is stored only
/// sealed (`users.phone_sealed`) and nowhere in the code tables.
pub fn phone_index(state: &AppState, phone: &str) -> ApiResult<String> {
    state.security.crypto.blind_index("phone", phone).map_err(|error| ApiError::Internal(error.to_string()))
}

/// The additional data a sealed phone number is bound to: its account, so a sealed value
/// copied to another row does not decrypt.
pub fn phone_aad(username: &str) -> Vec<u8> {
    format!("users.phone:{username}").into_bytes()
}

fn code_digest(id: &str, code: &str) -> String {
    store::content_hash(&format!("{id}:{code}"))
}

const PURPOSES: &[&str] = &["register", "login", "reset"];

#[derive(Deserialize)]
pub struct CodeRequest {
    phone: String,
    purpose: String,
}

/// `POST /api/sms/code {phone, purpose}`: sends a code (202). The answer is the same whether or
/// not the number has an account.
pub async fn send_code(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(request): Json<CodeRequest>,
) -> ApiResult<StatusCode> {
    let phone = parse_phone(&request.phone)?;
    if !PURPOSES.contains(&request.purpose.as_str()) {
        return Err(ApiError::BadRequest("purpose 须为 register、login 或 reset (unknown purpose)".into()));
    }
    let index = phone_index(&state, &phone)?;
    rate_limit(&state, "sms-ip", &ip, state.security.sms_per_ip_per_hour, 3600).await?;
    rate_limit(&state, "sms-phone-minute", &index, 1, 60).await?;
    rate_limit(&state, "sms-phone", &index, state.security.sms_per_phone_per_hour, 3600).await?;
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    let id = store::new_id();
    let now = now_millis();
    let expires = now + state.security.sms_code_minutes * 60_000;
    state.store().insert_sms_code(&id, &index, &request.purpose, &code_digest(&id, &code), now, expires).await?;
    let message =
        format!("【上海双拥】您的验证码是 {code}，{} 分钟内有效，请勿告诉他人。", state.security.sms_code_minutes);
    state.sms.send(&phone, &message).await.map_err(ApiError::Internal)?;
    audit(&state, entry(None, &ip, "sms.code", Some(&index), "success")).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Checks and spends a code (single use, 5 tries).
async fn consume(state: &AppState, index: &str, purpose: &str, code: &str) -> ApiResult<()> {
    let invalid =
        || ApiError::coded(StatusCode::BAD_REQUEST, "sms-code-invalid", "验证码错误或已失效 (invalid or expired code)");
    let now = now_millis();
    let (id, digest, attempts) = state.store().sms_code(index, purpose, now).await?.ok_or_else(invalid)?;
    if attempts >= 5 {
        return Err(invalid());
    }
    let matches = crypto::constant_time_eq(code_digest(&id, code.trim()).as_bytes(), digest.as_bytes());
    if !state.store().use_sms_code(&id, now, matches).await? || !matches {
        return Err(invalid());
    }
    Ok(())
}

#[derive(Deserialize)]
pub struct Registration {
    phone: String,
    code: String,
    password: String,
    #[serde(default, rename = "displayName")]
    display_name: Option<String>,
}

/// `POST /api/citizens {phone, code, password}`: a citizen account (kind `citizen`, role
/// `citizen`) after the phone proved itself with a `register` code.
pub async fn register_citizen(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(registration): Json<Registration>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let phone = parse_phone(&registration.phone)?;
    let index = phone_index(&state, &phone)?;
    let username = format!("c{}", &index[..16]);
    password::check_policy(&state.security.password, &username, &registration.password)
        .map_err(ApiError::BadRequest)?;
    consume(&state, &index, "register", &registration.code).await?;
    if state.store().account_by_phone(&index).await?.is_some() {
        return Err(ApiError::Conflict("该手机号已注册 (already registered)".into()));
    }
    let account = NewAccount {
        id: username.clone(),
        display_name: registration.display_name,
        unit_id: Some(super::CITY_UNIT.into()),
        kind: "citizen".into(),
        password_hash: password::hash(&registration.password, state.security.password.iterations).await?,
        must_change_password: false,
        roles: vec!["citizen".into()],
        phone_index: Some(index),
        phone_sealed: Some(
            crypto::encrypt_text(state.security.crypto.as_ref(), &phone, &phone_aad(&username))
                .map_err(|error| ApiError::Internal(error.to_string()))?,
        ),
        created_at: now_millis(),
    };
    state.store().create_account(&account).await?;
    super::sign_access(state.store().as_ref(), state.security.crypto.as_ref(), &username).await?;
    audit(&state, entry(Some(&username), &ip, "citizen.register", Some(&username), "success")).await?;
    Ok((StatusCode::CREATED, Json(json!({ "username": username }))))
}

#[derive(Deserialize)]
pub struct CodeLogin {
    phone: String,
    code: String,
}

/// `POST /api/session/sms {phone, code}`: a citizen logs in with a `login` code.
pub async fn login_with_code(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(login): Json<CodeLogin>,
) -> ApiResult<Response> {
    rate_limit(&state, "login", &ip, state.security.login_rate_per_minute, 60).await?;
    let phone = parse_phone(&login.phone)?;
    let index = phone_index(&state, &phone)?;
    consume(&state, &index, "login", &login.code).await?;
    let user = state.store().account_by_phone(&index).await?;
    let principal = match user {
        Some(user) => super::load_principal(&state, &user).await?,
        None => None,
    };
    // A code by SMS is one factor: only a plain citizen account (no staff or administrator role,
    // no second factor to skip) signs in with it alone.
    let plain_citizen = |p: &store::identity::Principal| {
        p.account.status == "active"
            && p.account.kind == "citizen"
            && p.account.roles.iter().all(|role| role == "citizen" || role == "card-holder")
            && !super::must_use_second_factor(&state.security, p)
    };
    let Some(principal) = principal.filter(plain_citizen) else {
        audit(&state, entry(None, &ip, "login.sms", Some(&index), "failure")).await?;
        return Err(ApiError::Unauthorized("该手机号未注册或账户不可用 (no active citizen account)".into()));
    };
    let (token, session) = super::api::open_session(&state, &principal, &ip).await?;
    audit(&state, entry(Some(&principal.account.id), &ip, "login.sms", Some(&principal.account.id), "success")).await?;
    let mut response =
        Json(json!({ "username": principal.account.id, "csrfToken": session.csrf_token })).into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&state.security, &token));
    Ok(response)
}
