//! Key material as it is configured: a small JSON document of hex strings, kept outside the
//! database (a key file, an environment variable or a secret store).

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::TryRng as _;
use rand::rngs::SysRng;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::sealed::valid_key_id;

/// Length of an SM4 data key.
pub const DATA_KEY_LEN: usize = 16;
/// Length of the blind-index and audit HMAC-SM3 keys (the SM3 output size).
pub const MAC_KEY_LEN: usize = 32;
/// Length of an SM2 private key (a scalar below the curve order).
pub const SM2_PRIVATE_KEY_LEN: usize = 32;

/// The keys of a [`crate::SoftwareCrypto`]. Every key is a hex string (or, when read, standard
/// base64 of the same bytes); [`KeyConfig::generate`] and serialisation always use hex.
///
/// ```json
/// {
///   "current_data_key": "k2",
///   "data_keys": { "k1": "…32 hex…", "k2": "…32 hex…" },
///   "index_key": "…64 hex…",
///   "audit_key": "…64 hex…",
///   "sm2_private_key": "…64 hex…"
/// }
/// ```
///
/// Old data keys stay in `data_keys` until every value sealed with them has been re-encrypted
/// ([`crate::CryptoProvider::reencrypt`]); new values always use `current_data_key`.
///
/// `Debug` prints key ids only, and the strings are overwritten with zeros when dropped.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// The id of the SM4 key that encrypts new values.
    pub current_data_key: String,
    /// SM4 keys (16 bytes) by key id, the current one and old ones still needed for decryption.
    pub data_keys: BTreeMap<String, String>,
    /// HMAC-SM3 key (32 bytes) of the blind indexes. Changing it means recomputing every index.
    pub index_key: String,
    /// HMAC-SM3 key (32 bytes) of the audit chain. Changing it starts a new chain.
    pub audit_key: String,
    /// SM2 private key (32 bytes, big-endian scalar) of the signing service.
    pub sm2_private_key: String,
}

impl KeyConfig {
    /// Fresh random keys from the operating system, for a first start or development. The data
    /// key gets the id `k1`.
    pub fn generate() -> Result<KeyConfig> {
        let data_key = random_hex::<DATA_KEY_LEN>()?;
        Ok(KeyConfig {
            current_data_key: "k1".to_owned(),
            data_keys: BTreeMap::from([("k1".to_owned(), data_key)]),
            index_key: random_hex::<MAC_KEY_LEN>()?,
            audit_key: random_hex::<MAC_KEY_LEN>()?,
            sm2_private_key: hex::encode(crate::software::random_sm2_private_key()?.as_slice()),
        })
    }

    /// Adds a fresh random data key under `new_key_id` and makes it the current one. The old
    /// keys stay, so existing values still decrypt.
    pub fn rotate_data_key(&mut self, new_key_id: &str) -> Result<()> {
        if !valid_key_id(new_key_id) {
            return Err(invalid("current_data_key", "a key id is 1 to 32 characters of A-Z a-z 0-9 . _ -"));
        }
        if self.data_keys.contains_key(new_key_id) {
            return Err(invalid(&format!("data_keys.{new_key_id}"), "this key id is already used"));
        }
        self.data_keys.insert(new_key_id.to_owned(), random_hex::<DATA_KEY_LEN>()?);
        self.current_data_key = new_key_id.to_owned();
        Ok(())
    }

    /// Fresh random keys in place of the index key, the audit key and the SM2 signing key (a
    /// key file that was exposed). Unlike data keys, none of them is kept: the caller recomputes
    /// every blind index, re-MACs the audit chain and re-signs every record with the new ones.
    pub fn rotate_secrets(&mut self) -> Result<()> {
        self.index_key = random_hex::<MAC_KEY_LEN>()?;
        self.audit_key = random_hex::<MAC_KEY_LEN>()?;
        self.sm2_private_key = hex::encode(crate::software::random_sm2_private_key()?.as_slice());
        Ok(())
    }

    /// Reads a key file written by [`KeyConfig::to_json`].
    pub fn from_json(text: &str) -> Result<KeyConfig> {
        // serde_json's messages can quote a value (`invalid type: string "…"`), and a value here
        // may be a key, so only the kind of error and its position are reported.
        serde_json::from_str(text).map_err(|error| {
            let kind = match error.classify() {
                serde_json::error::Category::Syntax => "not valid JSON",
                serde_json::error::Category::Eof => "truncated",
                serde_json::error::Category::Data | serde_json::error::Category::Io => {
                    "expected exactly the fields current_data_key, data_keys, index_key, audit_key, \
                     sm2_private_key, with string values (data_keys: an object of strings)"
                }
            };
            Error::ConfigFormat(format!("{kind} (line {} column {})", error.line(), error.column()))
        })
    }

    /// The key file: pretty-printed JSON. Write it with owner-only permissions.
    pub fn to_json(&self) -> Zeroizing<String> {
        Zeroizing::new(serde_json::to_string_pretty(self).expect("a map of strings always serialises"))
    }
}

impl fmt::Debug for KeyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyConfig")
            .field("current_data_key", &self.current_data_key)
            .field("data_keys", &self.data_keys.keys().collect::<Vec<_>>())
            .field("index_key", &"<redacted>")
            .field("audit_key", &"<redacted>")
            .field("sm2_private_key", &"<redacted>")
            .finish()
    }
}

impl Drop for KeyConfig {
    fn drop(&mut self) {
        for key in self.data_keys.values_mut() {
            key.zeroize();
        }
        self.index_key.zeroize();
        self.audit_key.zeroize();
        self.sm2_private_key.zeroize();
    }
}

pub(crate) fn invalid(field: &str, reason: &str) -> Error {
    Error::InvalidKey { field: field.to_owned(), reason: reason.to_owned() }
}

/// Decodes a key of exactly `N` bytes from hex (`2N` characters) or standard base64. The length
/// decides which: hex of `N` bytes is never as long as base64 of `N` bytes.
pub(crate) fn decode_key<const N: usize>(field: &str, text: &str) -> Result<Zeroizing<[u8; N]>> {
    let text = text.trim();
    let mut key = Zeroizing::new([0u8; N]);
    if text.len() == 2 * N {
        hex::decode_to_slice(text, key.as_mut_slice()).map_err(|_| invalid(field, "not valid hex"))?;
        return Ok(key);
    }
    let decoded = Zeroizing::new(
        BASE64.decode(text).map_err(|_| invalid(field, &format!("expected {N} bytes as {} hex digits", 2 * N)))?,
    );
    if decoded.len() != N {
        return Err(invalid(field, &format!("expected {N} bytes, found {}", decoded.len())));
    }
    key.copy_from_slice(&decoded);
    Ok(key)
}

pub(crate) fn random_bytes<const N: usize>() -> Result<Zeroizing<[u8; N]>> {
    let mut bytes = Zeroizing::new([0u8; N]);
    SysRng.try_fill_bytes(bytes.as_mut_slice()).map_err(|error| Error::Random(error.to_string()))?;
    Ok(bytes)
}

fn random_hex<const N: usize>() -> Result<String> {
    // Encode from the slice: dereferencing would copy the array out of its zeroizing wrapper.
    Ok(hex::encode(random_bytes::<N>()?.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_decode_from_hex_or_base64_of_the_exact_length() {
        let hex_key = "0123456789abcdeffedcba9876543210";
        let expected = hex::decode(hex_key).expect("literal");
        assert_eq!(decode_key::<16>("k", hex_key).expect("hex").as_slice(), expected);
        assert_eq!(decode_key::<16>("k", &BASE64.encode(&expected)).expect("base64").as_slice(), expected);
        assert!(decode_key::<16>("k", "0123").is_err());
        assert!(decode_key::<16>("k", &"zz".repeat(16)).is_err());
        assert!(decode_key::<32>("k", hex_key).is_err(), "16 bytes where 32 are needed");
    }

    #[test]
    fn debug_never_prints_keys() {
        let config = KeyConfig::generate().expect("random keys");
        let printed = format!("{config:?}");
        assert!(!printed.contains(&config.index_key));
        assert!(!printed.contains(&config.audit_key));
        assert!(!printed.contains(&config.sm2_private_key));
        assert!(!printed.contains(&config.data_keys["k1"]));
        assert!(printed.contains("k1"));
    }

    #[test]
    fn json_round_trip_and_rotation() {
        let mut config = KeyConfig::generate().expect("random keys");
        config.rotate_data_key("k2").expect("new key id");
        assert_eq!(config.current_data_key, "k2");
        assert_eq!(config.data_keys.len(), 2);
        assert!(config.rotate_data_key("k2").is_err(), "a key id is never reused");
        assert!(config.rotate_data_key("bad id").is_err());
        let read = KeyConfig::from_json(&config.to_json()).expect("own output");
        assert_eq!(read, config);
        assert!(matches!(KeyConfig::from_json("{"), Err(Error::ConfigFormat(_))));
        // A key in the wrong place is reported without being quoted.
        let misplaced = r#"{"current_data_key": "k1", "data_keys": "00112233445566778899aabbccddeeff"}"#;
        let message = KeyConfig::from_json(misplaced).expect_err("data_keys is not a string").to_string();
        assert!(!message.contains("0011223344"), "{message}");
    }
}
