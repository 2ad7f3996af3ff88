//! SMS verification codes for citizens (SVC-18) and institution applicants (PREF-03): the code's
//! life (6 digits, a few minutes, single use, at most 5 tries, only its digest stored),
//! registration with it, and who may log in with a code alone. Phone numbers are stored sealed
//! and found by a blind index.

use rand::RngExt;
use store::Store;
use store::identity::{NewAccount, Principal};

use crate::{Error, Refusal};

/// What a code is for.
pub const PURPOSES: &[&str] = &["register", "login", "reset"];

/// A mainland mobile number: 11 digits starting with 1.
pub fn parse_phone(phone: &str) -> crate::Result<String> {
    let phone = phone.trim();
    if phone.len() == 11 && phone.starts_with('1') && phone.bytes().all(|b| b.is_ascii_digit()) {
        Ok(phone.to_string())
    } else {
        Err(Error::refused(Refusal::Invalid, "invalid-input", "手机号码格式不正确 (invalid phone number)"))
    }
}

/// The searchable stand-in for a phone number: the crypto provider's blind index (HMAC-SM3
/// under the index key), so exact-match lookups work while the number itself is stored only
/// sealed (`users.phone_sealed`) and nowhere in the code tables.
pub fn phone_index(crypto: &dyn crypto::CryptoProvider, phone: &str) -> crate::Result<String> {
    Ok(crypto.blind_index("phone", phone)?)
}

/// The additional data a sealed phone number is bound to: its account, so a sealed value
/// copied to another row does not decrypt.
pub fn phone_aad(username: &str) -> Vec<u8> {
    format!("users.phone:{username}").into_bytes()
}

fn code_digest(id: &str, code: &str) -> String {
    crypto::sm3_hex(format!("{id}:{code}").as_bytes())
}

/// Refuses a purpose that is not one of [`PURPOSES`].
pub fn check_purpose(purpose: &str) -> crate::Result<()> {
    if PURPOSES.contains(&purpose) {
        return Ok(());
    }
    Err(Error::refused(Refusal::Invalid, "invalid-input", "purpose 须为 register、login 或 reset (unknown purpose)"))
}

/// Stores a new code for the phone `index` and returns it (to be sent); valid `minutes`.
pub async fn issue_code(store: &dyn Store, index: &str, purpose: &str, minutes: i64) -> crate::Result<String> {
    check_purpose(purpose)?;
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    let id = store::new_id();
    let now = store::now_millis();
    store.insert_sms_code(&id, index, purpose, &code_digest(&id, &code), now, now + minutes * 60_000).await?;
    Ok(code)
}

/// Checks and spends a code (single use, 5 tries).
pub async fn consume(store: &dyn Store, index: &str, purpose: &str, code: &str) -> crate::Result<()> {
    let invalid =
        || Error::refused(Refusal::Invalid, "sms-code-invalid", "验证码错误或已失效 (invalid or expired code)");
    let now = store::now_millis();
    let (id, digest, attempts) = store.sms_code(index, purpose, now).await?.ok_or_else(invalid)?;
    if attempts >= 5 {
        return Err(invalid());
    }
    let matches = crypto::constant_time_eq(code_digest(&id, code.trim()).as_bytes(), digest.as_bytes());
    if !store.use_sms_code(&id, now, matches).await? || !matches {
        return Err(invalid());
    }
    Ok(())
}

/// Who registers with a phone number, and so which account they get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneAccount {
    /// A citizen (SVC-18): kind and role `citizen`.
    Citizen,
    /// Someone applying for an institution to join (PREF-03, issue 14): kind `provider`, role
    /// `provider-applicant` (apply, follow the application, revise a returned one); the
    /// approval makes the account the institution's (role `provider`).
    Applicant,
}

impl PhoneAccount {
    /// (kind, role, the user-name prefix).
    fn parts(self) -> (&'static str, &'static str, char) {
        match self {
            PhoneAccount::Citizen => ("citizen", "citizen", 'c'),
            PhoneAccount::Applicant => ("provider", "provider-applicant", 'p'),
        }
    }
}

/// A person who proved their phone with a `register` code: an account of `kind` (at the city
/// unit), its phone sealed, its access record signed. Returns the account id, derived from the
/// phone's blind index. One account per phone number.
pub async fn register(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    policy: &crate::policy::PasswordPolicy,
    kind: PhoneAccount,
    person: (&str, &str, &str, Option<String>),
) -> crate::Result<String> {
    let (phone, code, password, display_name) = person;
    let phone = parse_phone(phone)?;
    let index = phone_index(crypto, &phone)?;
    let (account_kind, role, prefix) = kind.parts();
    let username = format!("{prefix}{}", &index[..16.min(index.len())]);
    if display_name.as_ref().is_some_and(|name| name.trim().is_empty() || name.chars().count() > 64) {
        return Err(Error::refused(Refusal::Invalid, "invalid-input", "姓名须为 1 到 64 个字 (display name 1–64)"));
    }
    crate::password::require_policy(policy, &username, password)?;
    consume(store, &index, "register", code).await?;
    if store.account_by_phone(&index).await?.is_some() {
        return Err(Error::refused(Refusal::Conflict, "conflict", "该手机号已注册 (already registered)"));
    }
    let account = NewAccount {
        id: username.clone(),
        display_name: display_name.map(|name| name.trim().to_string()),
        unit_id: Some(crate::org::CITY_UNIT.into()),
        kind: account_kind.into(),
        password_hash: crate::password::hash(password, policy.iterations).await?,
        must_change_password: false,
        roles: vec![role.into()],
        phone_index: Some(index),
        phone_sealed: Some(crypto::encrypt_text(crypto, &phone, &phone_aad(&username))?),
        created_at: store::now_millis(),
    };
    store.create_account(&account).await.map_err(|error| match error {
        // Two registrations of one number racing: the second finds the name taken.
        store::Error::Conflict(_) => {
            Error::refused(Refusal::Conflict, "conflict", "该手机号已注册 (already registered)")
        }
        other => other.into(),
    })?;
    crate::access::sign_access(store, crypto, &username).await?;
    Ok(username)
}

/// Whether a verified account may sign in with an SMS code alone. A code is one factor: only a
/// plain, active account of someone outside the administration — a citizen or card holder, an
/// institution or its applicant — with no staff or administrator role and no second factor to
/// skip.
pub fn may_log_in_with_code(require_totp: bool, principal: &Principal) -> bool {
    let account = &principal.account;
    let plain_roles: &[&str] = match account.kind.as_str() {
        "citizen" => &["citizen", "card-holder"],
        "provider" => &["provider", "provider-applicant"],
        _ => &[],
    };
    account.status == "active"
        && !account.roles.is_empty()
        && account.roles.iter().all(|role| plain_roles.contains(&role.as_str()))
        && !crate::policy::must_use_second_factor(require_totp, principal)
}
