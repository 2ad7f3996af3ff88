//! TOTP (RFC 6238): HMAC-SHA1, 6 digits, 30-second steps, one step of clock drift either way.
//! SHA-1 because that is what every authenticator app implements; the secret never leaves the
//! server except at enrolment.

use hmac::{KeyInit, Mac};

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

pub fn encode_base32(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

pub fn decode_secret(text: &str) -> Option<Vec<u8>> {
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for character in text.chars().filter(|c| !matches!(c, ' ' | '=' | '-')) {
        let value = ALPHABET.iter().position(|a| *a as char == character.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            out.push(((buffer >> (bits - 8)) & 0xff) as u8);
            bits -= 8;
        }
    }
    (out.len() >= 10).then_some(out)
}

/// A new 160-bit secret, base32.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::RngExt::fill(&mut rand::rng(), &mut bytes);
    encode_base32(&bytes)
}

/// The code for `key` at step `counter` (RFC 4226 HOTP), `digits` long.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let mut mac = <hmac::Hmac<sha1::Sha1> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[digest.len() - 1] & 0x0f) as usize;
    let value = u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
    format!("{:0width$}", value % 10u32.pow(digits), width = digits as usize)
}

/// The time step `code` is valid for with the base32 `secret` at `unix_seconds` (±1 step), if
/// any. The caller refuses a step already used (the store records used steps).
pub fn verify(secret: &str, code: &str, unix_seconds: i64) -> Option<u64> {
    let key = decode_secret(secret)?;
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let step = unix_seconds.max(0) as u64 / 30;
    [step.saturating_sub(1), step, step + 1]
        .into_iter()
        .find(|counter| crate::constant_time_eq(hotp(&key, *counter, 6).as_bytes(), code.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows (8 digits, key "12345678901234567890").
    #[test]
    fn rfc_6238_test_vectors() {
        let key = b"12345678901234567890";
        for (time, expected) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(hotp(key, time / 30, 8), expected, "T = {time}");
        }
    }

    #[test]
    fn verify_accepts_one_step_of_drift_only() {
        let secret = encode_base32(b"12345678901234567890");
        assert_eq!(decode_secret(&secret).as_deref(), Some(&b"12345678901234567890"[..]));
        let key = b"12345678901234567890";
        let now = 1_234_567_890;
        let step = now as u64 / 30;
        assert_eq!(verify(&secret, &hotp(key, step, 6), now), Some(step));
        assert_eq!(verify(&secret, &hotp(key, step - 1, 6), now), Some(step - 1));
        assert_eq!(verify(&secret, &hotp(key, step - 2, 6), now), None);
        assert_eq!(verify(&secret, "12345", now), None);
        assert_eq!(verify("not base32!", "123456", now), None);
    }
}
