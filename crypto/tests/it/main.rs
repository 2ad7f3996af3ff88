//! The crypto crate's test suite: standard test vectors for the algorithms, cross-checked known
//! answers for HMAC-SM3 and PBKDF2-HMAC-SM3, and the provider's behaviour.

mod audit;
mod mask;
mod provider;
mod vectors;

use crypto::{KeyConfig, SoftwareCrypto};

/// Hex literal to bytes; test data only.
pub fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text.replace([' ', '\n'], "")).expect("test vector is valid hex")
}

/// A configuration with fixed, well-known keys, so known answers through the provider can be
/// checked. The SM2 key is the one of GB/T 32918.5-2017 Annex A.
pub fn fixed_config() -> KeyConfig {
    KeyConfig {
        current_data_key: "k1".to_owned(),
        data_keys: [("k1".to_owned(), "0123456789abcdeffedcba9876543210".to_owned())].into(),
        // 00 01 02 … 1f
        index_key: hex::encode((0u8..32).collect::<Vec<_>>()),
        // 20 21 22 … 3f, in upper-case hex (either case is accepted)
        audit_key: hex::encode_upper((32u8..64).collect::<Vec<_>>()),
        sm2_private_key: "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8".to_owned(),
    }
}

pub fn random_provider() -> SoftwareCrypto {
    SoftwareCrypto::generate().expect("the OS has random numbers")
}
