//! HTTP Basic authentication for `/engine-rest`, and the password helpers the web layer uses
//! (the hashing itself is [`crypto::password`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

pub use crypto::password::{DEFAULT_ITERATIONS, generate_password, hash_password, verify_password};

/// A hash of no one's password, checked when a user name does not exist so that the answer takes
/// as long as for a real user.
pub static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password(&generate_password(), DEFAULT_ITERATIONS));

/// Remembers recently verified Basic credentials for a short time, so machine clients that send
/// them with every request do not pay for PBKDF2 each time. Keyed by an SM3 digest of the
/// credentials, never the password itself. Losing it (restart, another node) only costs time.
#[derive(Default)]
pub struct CredentialCache {
    verified: Mutex<HashMap<[u8; 32], (String, Instant)>>,
}

const CACHE_TTL: Duration = Duration::from_secs(60);

impl CredentialCache {
    fn key(username: &str, password: &str) -> [u8; 32] {
        crypto::sm3(&[username.as_bytes(), &[0], password.as_bytes()].concat())
    }

    pub fn get(&self, username: &str, password: &str) -> Option<String> {
        let key = Self::key(username, password);
        let verified = self.verified.lock().ok()?;
        verified.get(&key).filter(|(_, at)| at.elapsed() < CACHE_TTL).map(|(user, _)| user.clone())
    }

    pub fn put(&self, username: &str, password: &str) {
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() > 10_000 {
                verified.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            }
            verified.insert(Self::key(username, password), (username.to_string(), Instant::now()));
        }
    }
}

/// Parses an `Authorization: Basic …` header value into (user, password).
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let encoded = header.strip_prefix("Basic ").or_else(|| header.strip_prefix("basic "))?;
    let decoded = BASE64.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_is_parsed() {
        assert_eq!(parse_basic("Basic ZGVtbzpkZW1vOjE="), Some(("demo".into(), "demo:1".into())));
        assert_eq!(parse_basic("Bearer x"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }
}
