//! SMS verification codes for citizens (SVC-18): the code's life (6 digits, a few minutes, single
//! use, at most 5 tries, only its digest stored), citizen registration with it, and who may log
//! in with a code alone. Phone numbers are stored sealed and found by a blind index.

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

/// A citizen who proved their phone with a `register` code: a citizen account (kind and role
/// `citizen`, at the city unit), its phone sealed, its access record signed. Returns the
/// account id, derived from the phone's blind index.
pub async fn register_citizen(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    policy: &crate::policy::PasswordPolicy,
    citizen: (&str, &str, &str, Option<String>),
) -> crate::Result<String> {
    let (phone, code, password, display_name) = citizen;
    let phone = parse_phone(phone)?;
    let index = phone_index(crypto, &phone)?;
    let username = format!("c{}", &index[..16.min(index.len())]);
    crate::password::require_policy(policy, &username, password)?;
    consume(store, &index, "register", code).await?;
    if store.account_by_phone(&index).await?.is_some() {
        return Err(Error::refused(Refusal::Conflict, "conflict", "该手机号已注册 (already registered)"));
    }
    let account = NewAccount {
        id: username.clone(),
        display_name,
        unit_id: Some(crate::org::CITY_UNIT.into()),
        kind: "citizen".into(),
        password_hash: crate::password::hash(password, policy.iterations).await?,
        must_change_password: false,
        roles: vec!["citizen".into()],
        phone_index: Some(index),
        phone_sealed: Some(crypto::encrypt_text(crypto, &phone, &phone_aad(&username))?),
        created_at: store::now_millis(),
    };
    store.create_account(&account).await?;
    crate::access::sign_access(store, crypto, &username).await?;
    Ok(username)
}

/// Whether a verified account may sign in with an SMS code alone. A code is one factor: only a
/// plain, active citizen account (no staff or administrator role, no second factor to skip).
pub fn may_log_in_with_code(require_totp: bool, principal: &Principal) -> bool {
    let account = &principal.account;
    account.status == "active"
        && account.kind == "citizen"
        && account.roles.iter().all(|role| role == "citizen" || role == "card-holder")
        && !crate::policy::must_use_second_factor(require_totp, principal)
}
