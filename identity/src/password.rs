//! The password policy and password changes.

use store::Store;

use crate::policy::PasswordPolicy;
use crate::{Error, Refusal};

/// Checks a new password against the policy; the message says what is wrong, in Chinese.
pub fn check_policy(policy: &PasswordPolicy, username: &str, password: &str) -> Result<(), String> {
    if password.chars().count() < policy.min_length {
        return Err(format!("密码至少 {} 个字符 (at least {} characters)", policy.min_length, policy.min_length));
    }
    let classes = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ]
    .iter()
    .filter(|present| **present)
    .count();
    if classes < policy.min_classes {
        return Err(format!(
            "密码须包含小写字母、大写字母、数字、符号中的至少 {} 类 (at least {} character classes)",
            policy.min_classes, policy.min_classes
        ));
    }
    let lower = password.to_lowercase();
    let name = username.to_lowercase();
    if !name.is_empty() && (lower.contains(&name) || lower.chars().rev().collect::<String>().contains(&name)) {
        return Err("密码不能包含用户名 (the password may not contain the user name)".into());
    }
    Ok(())
}

/// The policy check as an [`Error`] (`invalid-input`).
pub fn require_policy(policy: &PasswordPolicy, username: &str, password: &str) -> crate::Result<()> {
    check_policy(policy, username, password)
        .map_err(|message| Error::refused(Refusal::Invalid, "invalid-input", message))
}

/// A new hash of `password` (PBKDF2-SM3, off the async threads).
pub async fn hash(password: &str, iterations: u32) -> crate::Result<String> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || crypto::password::hash_password(&password, iterations))
        .await
        .map_err(|error| Error::Crypto(error.to_string()))
}

/// Sets a new password for `username` after the policy and history checks; ends every session
/// of the user. `must_change` marks it as an initial password (a reset by an administrator).
pub async fn change(
    store: &dyn Store,
    policy: &PasswordPolicy,
    username: &str,
    new_password: &str,
    must_change: bool,
) -> crate::Result<()> {
    require_policy(policy, username, new_password)?;
    let history = store.password_history(username, policy.history.max(1)).await?;
    let candidate = new_password.to_string();
    let reused = tokio::task::spawn_blocking(move || {
        history.iter().any(|old| crypto::password::verify_password(&candidate, old))
    })
    .await
    .map_err(|error| Error::Crypto(error.to_string()))?;
    if reused {
        return Err(Error::refused(
            Refusal::Invalid,
            "invalid-input",
            format!("不能使用最近 {} 次用过的密码 (the password was used recently)", policy.history),
        ));
    }
    let hashed = hash(new_password, policy.iterations).await?;
    store.set_password(username, &hashed, store::now_millis(), must_change).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_what_is_wrong() {
        let policy = PasswordPolicy::default();
        assert!(check_policy(&policy, "wang", "Short1!").is_err());
        assert!(check_policy(&policy, "wang", "alllowercaseletters").is_err());
        assert!(check_policy(&policy, "wang", "Wang-2026-password").is_err_and(|message| message.contains("用户名")));
        assert!(check_policy(&policy, "wang", "Gnaw-2026-reversed").is_err(), "reversed user name");
        assert!(check_policy(&policy, "wang", "Shanghai-2026").is_ok());
        assert!(check_policy(&policy, "wang", "双拥服务Abc12345").is_ok());
    }
}
