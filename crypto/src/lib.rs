//! Commercial cryptography (商用密码) for shuangyong: field encryption, blind indexes, the audit
//! chain's MAC and SM2 signatures, behind one trait so that a hardware security module or a cloud
//! 密码服务 can replace the software implementation without touching callers.
//!
//! # What is here
//!
//! - [`CryptoProvider`]: the port. [`SoftwareCrypto`] implements it with keys from a
//!   [`KeyConfig`] (a JSON key file, never the database).
//! - Encryption at rest: SM4-GCM (GB/T 32907 block cipher in NIST SP 800-38D GCM, as in
//!   RFC 8998), a random 96-bit nonce per value, and a self-describing output (see [`sealed`]):
//!   format version, key id, nonce, ciphertext and tag. Decryption picks the key by id, so keys
//!   rotate without a flag day: add a key, make it current ([`KeyConfig::rotate_data_key`]),
//!   re-encrypt old values at leisure ([`CryptoProvider::reencrypt`], [`sealed::key_id`]), then
//!   drop the old key. Callers should pass associated data that names where a value lives (e.g.
//!   `"person.id_number"` plus the record id), so a ciphertext copied to another row or field
//!   does not decrypt. Random 96-bit nonces are safe for up to 2^32 values under one key
//!   (NIST SP 800-38D §8.3); rotate long before that.
//! - Blind index: HMAC-SM3 under a separate index key over a domain (the field) and the value
//!   after [`normalize_for_index`], so exact-match search works on encrypted columns and equal
//!   values in different fields do not share an index.
//! - The audit chain: [`CryptoProvider::mac`] (HMAC-SM3 under the audit key) and the one link
//!   formula and encoding in [`audit`].
//! - Password hashes (PBKDF2-HMAC-SM3, [`password`]), TOTP codes (RFC 6238, [`totp`]), the SM3
//!   digest ([`sm3`], [`sm3_hex`]) and the one constant-time comparison ([`constant_time_eq`]):
//!   every hash, MAC, KDF and secret comparison of the system is in this crate.
//! - SM2 signatures (GB/T 32918.2, SM3 digest, default distinguishing ID `1234567812345678`
//!   of GM/T 0009-2012 and GB/T 35276-2017), 64-byte `r || s`, hedged (RFC 6979 nonce mixed
//!   with fresh randomness), and [`verify_sm2`] for other parties' keys.
//! - [`mask`]: pure display masking (`310***********1234`) and the GB 11643 check digit.
//!
//! # What it must never do
//!
//! Print, log, serialise (other than [`KeyConfig::to_json`] for the key file) or return key
//! material; panic on configuration or stored input; or do I/O other than reading the operating
//! system's random number generator. Deciding who may see an unmasked value, and auditing each
//! unmasked view, is the caller's job (the web layer); this crate only supplies the masks.
//!
//! # Why every operation returns `Result`
//!
//! The software provider cannot fail except for its random number generator, but an HSM or a
//! cloud service can fail on every call, so the trait says so. `verify` returns `bool`: it needs
//! only the public key, so every provider can do it locally.
//!
//! # Performance
//!
//! Nothing is benchmarked here. SM4-GCM and HMAC-SM3 on a form field, and an SM2 signature, cost
//! microseconds to a fraction of a millisecond — far below a database commit. The only slow path is
//! PBKDF2 for passwords ([`password`]); the one place for measurements is
//! `shuangyong-bench`, never timed assertions in tests.
//!
//! # Crates
//!
//! RustCrypto's `sm4` 0.6, `sm2` 0.14 and the generic GCM of `aes-gcm` 0.11 (without its AES
//! feature), all of the `cipher` 0.5 / `digest` 0.11 / `signature` 3 / `rand_core` 0.10
//! generation that the workspace's `sm3` 0.5, `hmac` 0.13 and `rand` 0.10 already use, so there
//! is one copy of each trait crate.

pub mod audit;
mod config;
mod error;
pub mod mask;
pub mod password;
pub mod sealed;
mod software;
pub mod totp;

pub use config::{DATA_KEY_LEN, KeyConfig, MAC_KEY_LEN, SM2_PRIVATE_KEY_LEN};
pub use error::{Error, Result};
pub use software::SoftwareCrypto;

/// SM4 in Galois/Counter Mode with a 96-bit nonce and a 128-bit tag (RFC 8998's
/// `TLS_SM4_GCM_SM3` construction), from RustCrypto's generic GCM over the `sm4` block cipher.
pub type Sm4Gcm = aes_gcm::AesGcm<sm4::Sm4, aes_gcm::aead::consts::U12>;

/// The default SM2 distinguishing identifier (GM/T 0009-2012, GB/T 35276-2017).
pub const DEFAULT_DIST_ID: &str = "1234567812345678";

/// The cryptographic services shuangyong needs, implemented in software now and by an HSM or a
/// cloud 密码服务 later. Every method is safe to call from many threads.
pub trait CryptoProvider: Send + Sync {
    /// The key id new values are encrypted with.
    fn current_key_id(&self) -> &str;

    /// Encrypts `plaintext` with the current data key (SM4-GCM, random nonce). `aad` is
    /// authenticated but not stored: the same bytes must be passed to [`Self::decrypt`].
    fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>>;

    /// Decrypts a value produced by [`Self::encrypt`] with whichever configured key it names.
    fn decrypt(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>>;

    /// Decrypts with the value's own key and encrypts again with the current key (fresh nonce):
    /// the step of a key rotation. Values already under the current key are re-encrypted too;
    /// check [`sealed::key_id`] first to skip them.
    fn reencrypt(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let plaintext = zeroize::Zeroizing::new(self.decrypt(sealed, aad)?);
        self.encrypt(&plaintext, aad)
    }

    /// The blind index of `value` in `domain` (for example `"person.id_number"`): lowercase hex
    /// of HMAC-SM3(index key, len(domain) ‖ domain ‖ normalize_for_index(value)). Equal after
    /// normalisation ⇒ equal index; different domains ⇒ unrelated indexes.
    fn blind_index(&self, domain: &str, value: &str) -> Result<String>;

    /// HMAC-SM3 of `data` under the audit key.
    fn mac(&self, data: &[u8]) -> Result<[u8; 32]>;

    /// Checks a MAC from [`Self::mac`] in constant time.
    fn verify_mac(&self, data: &[u8], tag: &[u8]) -> Result<bool> {
        Ok(constant_time_eq(&self.mac(data)?, tag))
    }

    /// SM2 signature of `message` (SM3 with the default distinguishing ID), 64 bytes `r || s`.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>>;

    /// Verifies a signature from [`Self::sign`] against this provider's public key. Malformed
    /// signatures are simply invalid.
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool;

    /// The SM2 public key, uncompressed SEC1 (`04 ‖ x ‖ y`), as 130 lowercase hex digits.
    fn public_key_hex(&self) -> String;
}

/// The SM3 digest (GB/T 32905) of `data`.
pub fn sm3(data: &[u8]) -> [u8; 32] {
    use sm3::Digest;
    sm3::Sm3::digest(data).into()
}

/// The SM3 digest of `data` as 64 lowercase hex digits (content hashes, file digests).
pub fn sm3_hex(data: &[u8]) -> String {
    hex::encode(sm3(data))
}

/// Equality of two byte strings in time that depends only on their lengths: for MACs, tokens,
/// codes and every other secret compared with what someone sent. The only such comparison in
/// the workspace.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// Verifies an SM2 signature (64 bytes `r || s`) made by someone else: `public_key` is SEC1
/// (uncompressed `04 ‖ x ‖ y` or compressed), `dist_id` usually [`DEFAULT_DIST_ID`].
pub fn verify_sm2(public_key: &[u8], dist_id: &str, message: &[u8], signature: &[u8]) -> Result<bool> {
    let key = sm2::dsa::VerifyingKey::from_sec1_bytes(dist_id, public_key).map_err(|_| Error::InvalidPublicKey)?;
    Ok(software::verify_with_key(&key, message, signature))
}

/// The normal form a value is indexed in, so that what a person considers the same value finds
/// the same record: surrounding and inner whitespace (including the ideographic space U+3000)
/// and hyphens are removed, full-width ASCII (as typed with a Chinese input method, `１３８`) is
/// made half-width, and ASCII letters are upper-cased (the `x` check digit of a 身份证 number).
///
/// Changing this function changes every index: it is part of the stored format.
pub fn normalize_for_index(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            // Full-width forms U+FF01..=U+FF5E are ASCII 0x21..=0x7E shifted by 0xFEE0.
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '\u{2010}'..='\u{2015}' | '\u{2212}'))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Encrypts text and returns the sealed value as standard base64, for text columns and JSON.
pub fn encrypt_text(provider: &dyn CryptoProvider, plaintext: &str, aad: &[u8]) -> Result<String> {
    use base64::Engine as _;
    Ok(base64::engine::general_purpose::STANDARD.encode(provider.encrypt(plaintext.as_bytes(), aad)?))
}

/// Reverses [`encrypt_text`].
pub fn decrypt_text(provider: &dyn CryptoProvider, sealed: &str, aad: &[u8]) -> Result<String> {
    use base64::Engine as _;
    let sealed =
        base64::engine::general_purpose::STANDARD.decode(sealed).map_err(|_| Error::Malformed("not base64"))?;
    let plaintext = provider.decrypt(&sealed, aad)?;
    String::from_utf8(plaintext).map_err(|_| Error::Malformed("plaintext is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::normalize_for_index;

    #[test]
    fn normalisation() {
        assert_eq!(normalize_for_index(" 11010519491231002x "), "11010519491231002X");
        assert_eq!(normalize_for_index("138-1234 5678"), "13812345678");
        assert_eq!(normalize_for_index("１３８１２３４５６７８"), "13812345678");
        assert_eq!(normalize_for_index("张\u{3000}三"), "张三");
        assert_eq!(normalize_for_index(""), "");
    }
}
