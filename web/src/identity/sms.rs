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
use runtime::executor::now_millis;
use serde::Deserialize;
use serde_json::json;
use store::Store;

use super::{ClientIp, audit, entry, rate_limit, session_cookie};
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

pub use ::identity::sms::phone_aad;

fn parse_phone(phone: &str) -> ApiResult<String> {
    Ok(::identity::sms::parse_phone(phone)?)
}

/// The blind index of a phone number under this node's provider.
pub fn phone_index(state: &AppState, phone: &str) -> ApiResult<String> {
    Ok(::identity::sms::phone_index(state.security.crypto.as_ref(), phone)?)
}

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
    send_code_to(&state, &ip, &request.phone, &request.purpose).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Sends a `purpose` code to `phone`, rate-limited per address and per number, audited (the API
/// and the light app's sign-in page).
pub(crate) async fn send_code_to(state: &AppState, ip: &str, phone: &str, purpose: &str) -> ApiResult<()> {
    let phone = parse_phone(phone)?;
    ::identity::sms::check_purpose(purpose)?;
    let index = phone_index(state, &phone)?;
    rate_limit(state, "sms-ip", ip, state.security.sms_per_ip_per_hour, 3600).await?;
    rate_limit(state, "sms-phone-minute", &index, 1, 60).await?;
    rate_limit(state, "sms-phone", &index, state.security.sms_per_phone_per_hour, 3600).await?;
    let minutes = state.security.sms_code_minutes;
    let code = ::identity::sms::issue_code(state.store().as_ref(), &index, purpose, minutes).await?;
    let message =
        format!("【上海双拥】您的验证码是 {code}，{} 分钟内有效，请勿告诉他人。", state.security.sms_code_minutes);
    state.sms.send(&phone, &message).await.map_err(ApiError::Internal)?;
    audit(state, entry(None, ip, "sms.code", Some(&index), "success")).await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct Registration {
    pub phone: String,
    pub code: String,
    pub password: String,
    #[serde(default, rename = "displayName")]
    pub display_name: Option<String>,
}

/// `POST /api/citizens {phone, code, password}`: a citizen account (kind `citizen`, role
/// `citizen`) after the phone proved itself with a `register` code.
pub async fn register_citizen(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(registration): Json<Registration>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    register(&state, &ip, ::identity::sms::PhoneAccount::Citizen, registration).await
}

/// `POST /api/applicants {phone, code, password, displayName}`: the account of someone applying
/// for an institution to join (kind `provider`, role `provider-applicant`, PREF-03).
pub async fn register_applicant(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(registration): Json<Registration>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    register(&state, &ip, ::identity::sms::PhoneAccount::Applicant, registration).await
}

async fn register(
    state: &AppState,
    ip: &str,
    kind: ::identity::sms::PhoneAccount,
    registration: Registration,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let username = register_person(state, ip, kind, registration).await?;
    Ok((StatusCode::CREATED, Json(json!({ "username": username }))))
}

/// Registers a person with a phone code (the API and the light app's page), audited.
pub(crate) async fn register_person(
    state: &AppState,
    ip: &str,
    kind: ::identity::sms::PhoneAccount,
    registration: Registration,
) -> ApiResult<String> {
    let (store, crypto) = (state.store().as_ref(), state.security.crypto.as_ref());
    let person = (
        registration.phone.as_str(),
        registration.code.as_str(),
        registration.password.as_str(),
        registration.display_name,
    );
    let username = ::identity::sms::register(store, crypto, &state.security.password, kind, person).await?;
    let action = match kind {
        ::identity::sms::PhoneAccount::Citizen => "citizen.register",
        ::identity::sms::PhoneAccount::Applicant => "applicant.register",
    };
    audit(state, entry(Some(&username), ip, action, Some(&username), "success")).await?;
    Ok(username)
}

#[derive(Deserialize)]
pub struct CodeLogin {
    phone: String,
    code: String,
}

/// `POST /api/session/sms {phone, code}`: a citizen or an institution logs in with a `login`
/// code.
pub async fn login_with_code(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(login): Json<CodeLogin>,
) -> ApiResult<Response> {
    let (token, session, principal) = code_login(&state, &ip, &login.phone, &login.code).await?;
    let mut response =
        Json(json!({ "username": principal.account.id, "csrfToken": session.csrf_token })).into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&state.security, &token));
    Ok(response)
}

/// Signs in with a `login` code sent to `phone` (the API and the light app's page): a session
/// for an account that may use a code alone ([`::identity::sms::may_log_in_with_code`]).
pub(crate) async fn code_login(
    state: &AppState,
    ip: &str,
    phone: &str,
    code: &str,
) -> ApiResult<(String, store::identity::SessionRecord, store::identity::Principal)> {
    rate_limit(state, "login", ip, state.security.login_rate_per_minute, 60).await?;
    let phone = parse_phone(phone)?;
    let index = phone_index(state, &phone)?;
    ::identity::sms::consume(state.store().as_ref(), &index, "login", code).await?;
    let user = state.store().account_by_phone(&index).await?;
    let principal = match user {
        Some(user) => super::load_principal(state, &user).await?,
        None => None,
    };
    // A code by SMS is one factor: only a plain citizen or institution account signs in with it.
    let plain = |p: &store::identity::Principal| ::identity::sms::may_log_in_with_code(state.security.require_totp, p);
    let Some(principal) = principal.filter(plain) else {
        audit(state, entry(None, ip, "login.sms", Some(&index), "failure")).await?;
        return Err(ApiError::Unauthorized("该手机号未注册或账户不可用 (no active account for this number)".into()));
    };
    let (token, session) = super::api::open_session(state, &principal, ip).await?;
    audit(state, entry(Some(&principal.account.id), ip, "login.sms", Some(&principal.account.id), "success")).await?;
    Ok((token, session, principal))
}
