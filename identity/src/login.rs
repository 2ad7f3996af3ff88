//! Login with a password: the lockout after repeated failures, the account's state, the cost
//! limit on password checks, and the cache of recently verified credentials.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use store::Store;
use store::identity::Principal;

use crate::audit::{entry, record};
use crate::{Error, Refusal};

/// The lockout rules of a node.
#[derive(Debug, Clone, Copy)]
pub struct Lockout {
    /// Failures in a row that lock an account.
    pub max_failures: i64,
    pub lock_minutes: i64,
    /// Password checks (PBKDF2 runs) per source address per minute.
    pub checks_per_minute: i64,
}

/// A hash of no one's password, checked when a user name does not exist so that the answer takes
/// as long as for a real user.
pub static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    crypto::password::hash_password(&crypto::password::generate_password(), crypto::password::DEFAULT_ITERATIONS)
});

/// Remembers recently verified credentials for a short time, so machine clients that send them
/// with every request do not pay for PBKDF2 each time. Keyed by an SM3 digest of the user, the
/// stored hash and the password (so a changed password is never served from it), never the
/// password itself. Losing it (restart, another node) only costs time.
#[derive(Default)]
pub struct CredentialCache {
    verified: Mutex<HashMap<[u8; 32], Instant>>,
}

const CACHE_TTL: Duration = Duration::from_secs(60);

impl CredentialCache {
    fn key(username: &str, stored_hash: &str, password: &str) -> [u8; 32] {
        crypto::sm3(&[username.as_bytes(), &[0], stored_hash.as_bytes(), &[0], password.as_bytes()].concat())
    }

    fn holds(&self, username: &str, stored_hash: &str, password: &str) -> bool {
        let key = Self::key(username, stored_hash, password);
        self.verified
            .lock()
            .ok()
            .and_then(|verified| verified.get(&key).copied())
            .is_some_and(|at| at.elapsed() < CACHE_TTL)
    }

    fn put(&self, username: &str, stored_hash: &str, password: &str) {
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() > 10_000 {
                verified.retain(|_, at| at.elapsed() < CACHE_TTL);
            }
            verified.insert(Self::key(username, stored_hash, password), Instant::now());
        }
    }
}

/// Counts `subject` against a fixed window of `window_seconds`; refused (`rate-limited`) past
/// `max`. The window is in the database, so every node shares it.
pub async fn rate_limit(
    store: &dyn Store,
    kind: &str,
    subject: &str,
    max: i64,
    window_seconds: i64,
) -> crate::Result<()> {
    let key = format!("{kind}:{subject}");
    if store.rate_limit_hit(&key, store::now_millis(), window_seconds * 1000, max).await? {
        Ok(())
    } else {
        Err(Error::refused(Refusal::Limited, "rate-limited", "请求过于频繁，请稍后再试 (too many requests)"))
    }
}

/// The refusal of a locked account, with the minutes left.
pub fn locked(until: i64, now: i64) -> Error {
    let minutes = ((until - now) as f64 / 60_000.0).ceil().max(1.0) as i64;
    Error::refused(
        Refusal::Forbidden,
        "account-locked",
        format!("登录失败次数过多，账户已锁定，请 {minutes} 分钟后再试 (account locked)"),
    )
}

/// Checks a user name and password from `ip`, and returns the account's verified principal.
/// Every refusal is audited (the caller audits the success of what it does with it). The attempt is counted before the password is tried (an attempt
/// while locked is not), so attempts sent at the same moment cannot all be tried before the
/// lock lands; a success clears the count.
pub async fn check_password(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    cache: &CredentialCache,
    lockout: Lockout,
    credentials: (&str, &str),
    ip: &str,
) -> crate::Result<Principal> {
    let (username, password) = credentials;
    let wrong = || {
        Error::refused(Refusal::WrongCredentials, "unauthenticated", "用户名或密码错误 (wrong user name or password)")
    };
    let audit =
        |result: &'static str| record(store, crypto, entry(Some(username), ip, "login", Some(username), result));
    let now = store::now_millis();
    let attempt =
        store.record_login_failure(username, ip, now, lockout.max_failures, lockout.lock_minutes * 60_000).await?;
    if attempt.was_locked {
        audit("locked").await?;
        return Err(locked(attempt.locked_until.unwrap_or(now), now));
    }
    // Every PBKDF2 run counts against the source address (password spraying over Basic, and
    // CPU exhaustion); verified credentials served from the cache do not.
    let principal = crate::access::verified_principal(store, crypto, username).await?;
    // `None`: an unknown name, checked against a hash of no one's password so that the answer
    // takes as long as for a real user (the hash is made off the async threads, too).
    let verify = |stored: Option<String>| {
        let candidate = password.to_string();
        async move {
            rate_limit(store, "verify", ip, lockout.checks_per_minute, 60).await?;
            tokio::task::spawn_blocking(move || {
                let stored = stored.unwrap_or_else(|| DUMMY_HASH.clone());
                crypto::password::verify_password(&candidate, &stored)
            })
            .await
            .map_err(|error| Error::Crypto(error.to_string()))
        }
    };
    let valid = match &principal {
        None => {
            verify(None).await?;
            false
        }
        Some(principal) => {
            let stored = &principal.account.password_hash;
            cache.holds(username, stored, password) || verify(Some(stored.clone())).await?
        }
    };
    let Some(principal) = principal.filter(|_| valid) else {
        audit("failure").await?;
        return Err(match attempt.locked_until {
            Some(until) => locked(until, now),
            None => wrong(),
        });
    };
    match principal.account.status.as_str() {
        "active" => {}
        status => {
            audit("denied").await?;
            return Err(if status == "frozen" {
                Error::refused(Refusal::Forbidden, "account-frozen", "账户已冻结，请联系管理员 (account frozen)")
            } else {
                Error::refused(Refusal::Forbidden, "account-cancelled", "账户已注销 (account cancelled)")
            });
        }
    }
    store.record_login_success(username, ip).await?;
    cache.put(username, &principal.account.password_hash, password);
    Ok(principal)
}
