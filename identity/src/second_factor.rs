//! The second factor (TOTP) and step-up: what a sensitive change asks of the person making it.

use store::Store;
use store::identity::Account;

use crate::login::{CredentialCache, Lockout, check_password, locked};
use crate::{Error, Refusal};

/// The associated data a TOTP secret is sealed with: bound to its account.
pub fn totp_aad(username: &str) -> Vec<u8> {
    format!("users.totp:{username}").into_bytes()
}

/// A TOTP code of the account's enrolled secret, counted once: its step must be later than the
/// last one used (a login, an enrolment, a step-up). False for a wrong or replayed code.
pub async fn fresh_totp(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    account: &Account,
    code: &str,
) -> crate::Result<bool> {
    let Some(sealed) = &account.totp_secret else { return Ok(false) };
    let secret = crypto::decrypt_text(crypto, sealed, &totp_aad(&account.id))
        .map_err(|error| Error::Crypto(format!("the TOTP secret cannot be opened: {error}")))?;
    Ok(match crypto::totp::verify(&secret, code.trim(), store::now_millis() / 1000) {
        Some(step) => store.use_totp_step(&account.id, step as i64).await?,
        None => false,
    })
}

/// What a sensitive change asks of the person making it, now: the TOTP code when they have one
/// enrolled, otherwise their password.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct StepUp {
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub totp: Option<String>,
}

/// Who asks for a step-up, and how they signed in.
pub struct Asker<'a> {
    pub account: &'a Account,
    /// Signed in with an API key: a step-up is never possible then.
    pub by_api_key: bool,
    pub ip: &'a str,
}

/// Checks a [`StepUp`] proof (creating an API key, changing administrator roles, replacing a
/// second factor): never over an API key, a fresh TOTP code when one is enrolled (each code
/// counts once, and wrong codes count like failed logins), otherwise the password.
/// `docs/security.md` T-STEP.
pub async fn step_up(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    cache: &CredentialCache,
    lockout: Lockout,
    asker: Asker<'_>,
    proof: &StepUp,
) -> crate::Result<()> {
    let required = |message: &str| Error::refused(Refusal::Forbidden, "step-up-required", message);
    let Asker { account, by_api_key, ip } = asker;
    if by_api_key {
        return Err(required("该操作须本人登录确认，不能使用 API 密钥 (not with an API key)"));
    }
    if account.totp_secret.is_some() {
        let code = proof.totp.as_deref().filter(|code| !code.trim().is_empty());
        let Some(code) = code else {
            return Err(required("请输入动态口令以确认该操作 (a current TOTP code is required)"));
        };
        // Wrong codes count like failed logins of the account from this address: a stolen
        // session cannot try every code.
        let now = store::now_millis();
        if let Some(until) = store.login_lock(&account.id, ip, now).await? {
            return Err(locked(until, now));
        }
        if !fresh_totp(store, crypto, account, code).await? {
            let attempt = store
                .record_login_failure(&account.id, ip, now, lockout.max_failures, lockout.lock_minutes * 60_000)
                .await?;
            let failure = crate::audit::entry(Some(&account.id), ip, "step-up", Some(&account.id), "failure");
            crate::audit::record(store, crypto, failure).await?;
            return Err(match attempt.locked_until {
                Some(until) => locked(until, now),
                None => Error::refused(Refusal::Forbidden, "totp-invalid", "动态口令错误 (wrong second factor)"),
            });
        }
        return Ok(());
    }
    let Some(password) = proof.password.as_deref().filter(|password| !password.is_empty()) else {
        return Err(required("请输入密码以确认该操作 (your password is required)"));
    };
    match check_password(store, crypto, cache, lockout, (&account.id, password), ip).await {
        Err(Error::Refused { kind: Refusal::WrongCredentials, .. }) => {
            Err(Error::refused(Refusal::Forbidden, "step-up-failed", "密码错误，操作未执行 (wrong password)"))
        }
        other => other.map(|_| ()),
    }
}
