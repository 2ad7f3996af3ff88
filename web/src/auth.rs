//! Passwords and HTTP Basic authentication for `/engine-rest`.
//!
//! Passwords are hashed with PBKDF2-HMAC-SM3 (GB/T 32905 hash, per-user salt). The stored
//! format names its algorithm and iteration count, so the count can be raised later without
//! breaking existing hashes: `pbkdf2-sm3$<iterations>$<salt base64>$<hash base64>`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::RngExt;

/// Iterations for new hashes.
pub const DEFAULT_ITERATIONS: u32 = 100_000;

/// A hash of no one's password, checked when a user name does not exist so that the answer takes
/// as long as for a real user.
pub static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password(&generate_password(), DEFAULT_ITERATIONS));

pub fn hash_password(password: &str, iterations: u32) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill(&mut salt);
    let hash = derive(password.as_bytes(), &salt, iterations);
    format!("pbkdf2-sm3${iterations}${}${}", BASE64.encode(salt), BASE64.encode(hash))
}

fn derive(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut output = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sm3::Sm3>(password, salt, iterations, &mut output);
    output
}

/// Checks a password against a stored hash in constant time. A malformed hash never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    let parts: Vec<&str> = stored.split('$').collect();
    let [algorithm, iterations, salt, hash] = parts.as_slice() else { return false };
    if *algorithm != "pbkdf2-sm3" {
        return false;
    }
    let (Ok(iterations), Ok(salt), Ok(expected)) =
        (iterations.parse::<u32>(), BASE64.decode(salt), BASE64.decode(hash))
    else {
        return false;
    };
    let actual = derive(password.as_bytes(), &salt, iterations);
    actual.len() == expected.len() && actual.iter().zip(&expected).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
}

/// A random password for the first admin: 20 characters from an unambiguous alphabet.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..20).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

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
        use sm3::Digest;
        let mut hasher = sm3::Sm3::new();
        hasher.update(username.as_bytes());
        hasher.update([0u8]);
        hasher.update(password.as_bytes());
        hasher.finalize().into()
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
    fn a_hash_verifies_only_its_own_password() {
        let stored = hash_password("正确的密码 correct", 1_000);
        assert!(stored.starts_with("pbkdf2-sm3$1000$"));
        assert!(verify_password("正确的密码 correct", &stored));
        assert!(!verify_password("wrong", &stored));
        assert!(!verify_password("正确的密码 correct", "pbkdf2-sm3$1000$bad"));
    }

    #[test]
    fn salts_differ_between_hashes() {
        assert_ne!(hash_password("same", 10), hash_password("same", 10));
    }

    #[test]
    fn basic_header_is_parsed() {
        assert_eq!(parse_basic("Basic ZGVtbzpkZW1vOjE="), Some(("demo".into(), "demo:1".into())));
        assert_eq!(parse_basic("Bearer x"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }
}
