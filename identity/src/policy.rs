//! The rules of passwords, second factors and secret tokens. Pure, apart from the clock and
//! the random number generator.

use base64::Engine as _;
use rand::RngExt;
use store::identity::Principal;

/// Password rules. Defaults follow 等保三级 practice.
#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    pub min_length: usize,
    /// How many of: lower case, upper case, digits, other characters.
    pub min_classes: usize,
    /// A new password may not be one of the last N.
    pub history: i64,
    /// Days until a password must be changed; 0 = never.
    pub max_age_days: i64,
    pub iterations: u32,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_length: 10,
            min_classes: 3,
            history: 5,
            max_age_days: 90,
            iterations: crypto::password::DEFAULT_ITERATIONS,
        }
    }
}

/// Whether the account must change its password before doing anything else: the generated
/// initial password, a reset, or an expired password.
pub fn password_change_due(policy: &PasswordPolicy, principal: &Principal) -> bool {
    let account = &principal.account;
    let expired = policy.max_age_days > 0
        && account
            .password_changed_at
            .is_some_and(|changed| store::now_millis() - changed > policy.max_age_days * 24 * 3_600_000);
    account.must_change_password || expired
}

/// Whether the account's kind or roles call for a second factor: staff, operators and the
/// three administrator roles.
pub fn needs_second_factor(principal: &Principal) -> bool {
    matches!(principal.account.kind.as_str(), "staff" | "operator")
        || crate::access::holds_admin_role(&principal.account.roles)
}

/// Whether the account still has to enrol a second factor (`require_totp`: the configuration
/// requires one for those who need it).
pub fn totp_enrolment_due(require_totp: bool, principal: &Principal) -> bool {
    require_totp && needs_second_factor(principal) && principal.account.totp_secret.is_none()
}

/// Whether the account signs in only with a second factor: it has one enrolled, or the
/// configuration requires one for it. Such an account cannot use HTTP Basic at all.
pub fn must_use_second_factor(require_totp: bool, principal: &Principal) -> bool {
    principal.account.totp_secret.is_some() || (require_totp && needs_second_factor(principal))
}

/// A random URL-safe token of 32 bytes (session ids, API keys, CSRF tokens).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored id of a session or API key: SM3 of the secret the client holds.
pub fn token_digest(token: &str) -> String {
    crypto::sm3_hex(token.as_bytes())
}
