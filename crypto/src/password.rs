//! Password hashes: PBKDF2-HMAC-SM3 (GB/T 32905 hash, per-user salt). The stored format names
//! its algorithm and iteration count, so the count can be raised later without breaking
//! existing hashes: `pbkdf2-sm3$<iterations>$<salt base64>$<hash base64>`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::RngExt;

/// Iterations for new hashes.
pub const DEFAULT_ITERATIONS: u32 = 100_000;

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
    crate::constant_time_eq(&actual, &expected)
}

/// A random password for the first admin: 20 characters from an unambiguous alphabet.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..20).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
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
}
