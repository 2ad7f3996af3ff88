//! [`SoftwareCrypto`]: the provider that holds its keys in process memory.

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use hmac::{Hmac, Mac};
use sm2::dsa::signature::{RandomizedSigner, Verifier};
use sm2::dsa::{Signature, SigningKey, VerifyingKey};
use sm3::Sm3;
use zeroize::Zeroizing;

use crate::config::{DATA_KEY_LEN, KeyConfig, MAC_KEY_LEN, SM2_PRIVATE_KEY_LEN, decode_key, invalid, random_bytes};
use crate::error::{Error, Result};
use crate::sealed::{self, NONCE_LEN, valid_key_id};
use crate::{CryptoProvider, DEFAULT_DIST_ID, Sm4Gcm, normalize_for_index};

type HmacSm3 = Hmac<Sm3>;

/// The software implementation of [`CryptoProvider`], built from a [`KeyConfig`].
///
/// SM4 key schedules and the HMAC keys are zeroized on drop. The SM2 scalar is not: the `sm2`
/// crate's `SigningKey` has no zeroizing `Drop` (an HSM provider is the answer to that).
pub struct SoftwareCrypto {
    current_data_key: String,
    data_keys: BTreeMap<String, Sm4Gcm>,
    index_key: Zeroizing<[u8; MAC_KEY_LEN]>,
    audit_key: Zeroizing<[u8; MAC_KEY_LEN]>,
    signing_key: SigningKey,
}

impl SoftwareCrypto {
    /// Checks every key and builds the provider. Errors name the configuration entry at fault,
    /// never its value.
    pub fn from_config(config: &KeyConfig) -> Result<SoftwareCrypto> {
        if config.data_keys.is_empty() {
            return Err(invalid("data_keys", "at least one data key is needed"));
        }
        let mut data_keys = BTreeMap::new();
        for (key_id, key) in &config.data_keys {
            if !valid_key_id(key_id) {
                return Err(invalid(
                    &format!("data_keys.{}", key_id.escape_debug()),
                    "a key id is 1 to 32 characters of A-Z a-z 0-9 . _ -",
                ));
            }
            let key = decode_key::<DATA_KEY_LEN>(&format!("data_keys.{key_id}"), key)?;
            data_keys.insert(key_id.clone(), Sm4Gcm::new((&*key).into()));
        }
        if !data_keys.contains_key(&config.current_data_key) {
            return Err(invalid("current_data_key", "names no key in data_keys"));
        }
        let index_key = decode_key::<MAC_KEY_LEN>("index_key", &config.index_key)?;
        let audit_key = decode_key::<MAC_KEY_LEN>("audit_key", &config.audit_key)?;
        if index_key == audit_key {
            return Err(invalid("audit_key", "must differ from index_key"));
        }
        let private_key = decode_key::<SM2_PRIVATE_KEY_LEN>("sm2_private_key", &config.sm2_private_key)?;
        let signing_key = SigningKey::from_slice(DEFAULT_DIST_ID, private_key.as_slice())
            .map_err(|_| invalid("sm2_private_key", "not a scalar between 1 and the SM2 curve order"))?;
        Ok(SoftwareCrypto {
            current_data_key: config.current_data_key.clone(),
            data_keys,
            index_key,
            audit_key,
            signing_key,
        })
    }

    /// A provider with fresh random keys, for tests and development. Keys that must survive a
    /// restart come from [`KeyConfig::generate`], written to a key file.
    pub fn generate() -> Result<SoftwareCrypto> {
        SoftwareCrypto::from_config(&KeyConfig::generate()?)
    }

    fn hmac(key: &[u8; MAC_KEY_LEN], parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = HmacSm3::new_from_slice(key).expect("HMAC accepts keys of any length");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

impl CryptoProvider for SoftwareCrypto {
    fn current_key_id(&self) -> &str {
        &self.current_data_key
    }

    fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let cipher = self.data_keys.get(&self.current_data_key).expect("from_config checked the current key exists");
        let nonce = random_bytes::<NONCE_LEN>()?;
        let header = sealed::header(&self.current_data_key);
        let body = cipher
            .encrypt((&*nonce).into(), Payload { msg: plaintext, aad: &sealed::full_aad(&header, aad) })
            .map_err(|_| Error::Encrypt)?;
        let mut out = header;
        out.extend_from_slice(nonce.as_slice());
        out.extend_from_slice(&body);
        Ok(out)
    }

    fn decrypt(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let parts = sealed::parse(sealed)?;
        let cipher = self.data_keys.get(parts.key_id).ok_or_else(|| Error::UnknownKeyId(parts.key_id.to_owned()))?;
        let nonce: &[u8; NONCE_LEN] = parts.nonce.try_into().expect("parse returns exactly NONCE_LEN nonce bytes");
        cipher
            .decrypt(nonce.into(), Payload { msg: parts.body, aad: &sealed::full_aad(parts.header, aad) })
            .map_err(|_| Error::Decrypt)
    }

    fn blind_index(&self, domain: &str, value: &str) -> Result<String> {
        let normalized = Zeroizing::new(normalize_for_index(value));
        let domain_len = u32::try_from(domain.len()).map_err(|_| Error::Malformed("domain longer than 4 GiB"))?;
        let tag = Self::hmac(&self.index_key, &[&domain_len.to_be_bytes(), domain.as_bytes(), normalized.as_bytes()]);
        Ok(hex::encode(tag))
    }

    fn mac(&self, data: &[u8]) -> Result<[u8; 32]> {
        Ok(Self::hmac(&self.audit_key, &[data]))
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        // Hedged signing: RFC 6979 nonces mixed with fresh OS randomness, so neither a weak RNG
        // nor a repeated message leaks the key.
        let signature: Signature =
            self.signing_key.try_sign_with_rng(&mut rand::rngs::SysRng, message).map_err(|_| Error::Sign)?;
        Ok(signature.to_vec())
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        verify_with_key(self.signing_key.verifying_key(), message, signature)
    }

    fn public_key_hex(&self) -> String {
        hex::encode(self.signing_key.verifying_key().to_sec1_bytes())
    }
}

impl fmt::Debug for SoftwareCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareCrypto")
            .field("current_data_key", &self.current_data_key)
            .field("data_keys", &self.data_keys.keys().collect::<Vec<_>>())
            .field("public_key", &self.public_key_hex())
            .finish_non_exhaustive()
    }
}

pub(crate) fn verify_with_key(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    Signature::from_slice(signature).is_ok_and(|signature| key.verify(message, &signature).is_ok())
}

/// A random SM2 private key: 32 random bytes, redrawn in the (about 2^-32) case that they are
/// zero or not below the curve order.
pub(crate) fn random_sm2_private_key() -> Result<Zeroizing<[u8; SM2_PRIVATE_KEY_LEN]>> {
    for _ in 0..64 {
        let candidate = random_bytes::<SM2_PRIVATE_KEY_LEN>()?;
        if SigningKey::from_slice(DEFAULT_DIST_ID, candidate.as_slice()).is_ok() {
            return Ok(candidate);
        }
    }
    Err(Error::Random("no valid SM2 private key in 64 draws".to_owned()))
}
