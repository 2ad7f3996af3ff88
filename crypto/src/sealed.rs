//! The self-describing format of an encrypted value.
//!
//! ```text
//! byte 0        format version, 0x01 = SM4-GCM, 96-bit nonce, 128-bit tag
//! byte 1        n = length of the key id (1..=32)
//! bytes 2..2+n  key id, ASCII [A-Za-z0-9._-]
//! next 12       nonce (random per value)
//! rest          ciphertext || 16-byte tag
//! ```
//!
//! The header (version, length and key id) is authenticated too: it is prepended to the caller's
//! associated data, so a value cannot be relabelled with another key id or format version.

use crate::error::{Error, Result};

/// Format version 1: SM4-GCM with a 12-byte nonce and a 16-byte tag.
pub const VERSION_SM4_GCM: u8 = 1;
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
pub const MAX_KEY_ID_LEN: usize = 32;

/// The parts of a sealed value, borrowed from it.
pub(crate) struct Parts<'a> {
    /// Version, key-id length and key id: authenticated as a prefix of the associated data.
    pub header: &'a [u8],
    pub key_id: &'a str,
    pub nonce: &'a [u8],
    /// Ciphertext followed by the tag.
    pub body: &'a [u8],
}

/// A key id is 1 to 32 ASCII letters, digits, `.`, `_` or `-`, so it fits the one-byte length
/// and is safe to print in logs and errors.
pub fn valid_key_id(key_id: &str) -> bool {
    (1..=MAX_KEY_ID_LEN).contains(&key_id.len())
        && key_id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub(crate) fn header(key_id: &str) -> Vec<u8> {
    debug_assert!(valid_key_id(key_id), "key ids are validated when the configuration is loaded");
    let mut header = Vec::with_capacity(2 + key_id.len());
    header.push(VERSION_SM4_GCM);
    // Cannot truncate: valid key ids are at most 32 bytes long.
    header.push(key_id.len() as u8);
    header.extend_from_slice(key_id.as_bytes());
    header
}

pub(crate) fn parse(sealed: &[u8]) -> Result<Parts<'_>> {
    let [version, key_id_len, rest @ ..] = sealed else { return Err(Error::Malformed("too short")) };
    if *version != VERSION_SM4_GCM {
        return Err(Error::Malformed("unknown format version"));
    }
    let key_id_len = usize::from(*key_id_len);
    if rest.len() < key_id_len + NONCE_LEN + TAG_LEN {
        return Err(Error::Malformed("too short"));
    }
    let (key_id, rest) = rest.split_at(key_id_len);
    let key_id = std::str::from_utf8(key_id).map_err(|_| Error::Malformed("key id is not text"))?;
    if !valid_key_id(key_id) {
        return Err(Error::Malformed("invalid key id"));
    }
    let (nonce, body) = rest.split_at(NONCE_LEN);
    Ok(Parts { header: &sealed[..2 + key_id_len], key_id, nonce, body })
}

/// The id of the data key a sealed value was encrypted with, without decrypting it. A rotation
/// job uses it to find values still under an old key.
pub fn key_id(sealed: &[u8]) -> Result<&str> {
    parse(sealed).map(|parts| parts.key_id)
}

/// The associated data actually given to SM4-GCM: the sealed header, then the caller's data.
/// The header is self-delimiting, so the concatenation is unambiguous.
pub(crate) fn full_aad(header: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(header.len() + aad.len());
    full.extend_from_slice(header);
    full.extend_from_slice(aad);
    full
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rejects_short_and_foreign_values() {
        assert!(matches!(key_id(b""), Err(Error::Malformed(_))));
        assert!(matches!(key_id(&[1]), Err(Error::Malformed(_))));
        let mut sealed = header("k1");
        sealed.extend_from_slice(&[0; NONCE_LEN + TAG_LEN]);
        assert_eq!(key_id(&sealed).ok(), Some("k1"));
        sealed[0] = 2;
        assert!(matches!(key_id(&sealed), Err(Error::Malformed("unknown format version"))));
        sealed[0] = 1;
        assert!(key_id(&sealed[..sealed.len() - 1]).is_err(), "a value without a whole tag is refused");
        sealed[2] = b' ';
        assert!(matches!(key_id(&sealed), Err(Error::Malformed("invalid key id"))));
    }

    #[test]
    fn key_ids() {
        assert!(valid_key_id("k1"));
        assert!(valid_key_id("2026-01_a.b"));
        assert!(!valid_key_id(""));
        assert!(!valid_key_id("has space"));
        assert!(!valid_key_id("密钥"));
        assert!(!valid_key_id(&"a".repeat(33)));
    }
}
