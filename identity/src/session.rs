//! Who is asking: a session, a user name and password (HTTP Basic for machine clients), or an
//! API key, each turned into a verified principal with the rules that apply to it. Reading the
//! cookie or header is the web layer's business.

use store::Store;
use store::identity::{Principal, SessionRecord};

use crate::audit::{entry, record};
use crate::login::{CredentialCache, Lockout, check_password};
use crate::policy::{must_use_second_factor, password_change_due, random_token, token_digest};
use crate::{Error, Refusal};

/// Opens a session for a principal that has just proved itself; returns the token the client
/// keeps (only its digest is stored) and the session.
pub async fn open(store: &dyn Store, principal: &Principal, ip: &str) -> crate::Result<(String, SessionRecord)> {
    let token = random_token();
    let now = store::now_millis();
    let session = SessionRecord {
        id: token_digest(&token),
        user_id: principal.account.id.clone(),
        csrf_token: random_token(),
        created_at: now,
        last_seen_at: now,
        source_ip: Some(ip.to_string()),
        second_factor_done: principal.account.totp_secret.is_some(),
    };
    store.insert_session(&session).await?;
    Ok((token, session))
}

/// The session of `token`, touched now, with its active account; a session idle longer than
/// `idle_ms`, ended, or of an account no longer active is refused (`session-expired`).
pub async fn by_token(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    token: &str,
    idle_ms: i64,
) -> crate::Result<(Principal, SessionRecord)> {
    if let Some(session) = store.touch_session(&token_digest(token), store::now_millis(), idle_ms).await?
        && let Some(principal) = crate::access::verified_principal(store, crypto, &session.user_id).await?
        && principal.account.status == "active"
    {
        return Ok((principal, session));
    }
    Err(Error::refused(Refusal::Unauthenticated, "session-expired", "会话已过期或已退出，请重新登录 (session expired)"))
}

/// A user name and password sent with every request (HTTP Basic): the login's rules, and
/// neither an account that must use a second factor (Basic has no place for a code:
/// `docs/security.md` T-2FA) nor one whose password must be changed first.
#[allow(clippy::too_many_arguments)]
pub async fn by_password(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    cache: &CredentialCache,
    lockout: Lockout,
    rules: (&crate::policy::PasswordPolicy, bool),
    credentials: (&str, &str),
    ip: &str,
) -> crate::Result<Principal> {
    let (policy, require_totp) = rules;
    let username = credentials.0;
    let principal = check_password(store, crypto, cache, lockout, credentials, ip).await?;
    if must_use_second_factor(require_totp, &principal) {
        record(store, crypto, entry(Some(username), ip, "login", Some(username), "denied")).await?;
        return Err(Error::refused(
            Refusal::Unauthenticated,
            "basic-not-allowed",
            "该账户须使用动态口令登录，不能使用 HTTP Basic (this account signs in with a second factor; HTTP Basic is refused)",
        ));
    }
    if password_change_due(policy, &principal) {
        return Err(Error::refused(
            Refusal::Forbidden,
            "password-change-required",
            "请先登录页面修改初始密码 (the password must be changed first)",
        ));
    }
    Ok(principal)
}

/// The account of an API key. Keys are for active machine accounts that hold no administrator
/// role, whenever they were made.
pub async fn by_api_key(store: &dyn Store, crypto: &dyn crypto::CryptoProvider, key: &str) -> crate::Result<Principal> {
    let invalid = || Error::refused(Refusal::WrongCredentials, "unauthenticated", "API 密钥无效 (invalid API key)");
    let user = store.api_key_user(&token_digest(key.trim()), store::now_millis()).await?.ok_or_else(invalid)?;
    let principal = crate::access::verified_principal(store, crypto, &user).await?.filter(|principal| {
        let account = &principal.account;
        account.status == "active" && account.kind == "machine" && !crate::access::holds_admin_role(&account.roles)
    });
    principal.ok_or_else(invalid)
}
