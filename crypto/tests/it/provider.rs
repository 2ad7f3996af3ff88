//! The provider's behaviour: sealed values, rotation, blind indexes, configuration errors.

use crypto::{CryptoProvider, Error, KeyConfig, SoftwareCrypto, decrypt_text, encrypt_text, sealed};

use crate::{fixed_config, random_provider};

const AAD: &[u8] = b"person.id_number/42";

#[test]
fn round_trip_and_fresh_nonce_per_value() {
    let provider = random_provider();
    let first = provider.encrypt(b"11010519491231002X", AAD).expect("encrypts");
    let second = provider.encrypt(b"11010519491231002X", AAD).expect("encrypts");
    assert_ne!(first, second, "equal plaintexts give different ciphertexts");
    assert_eq!(provider.decrypt(&first, AAD).expect("decrypts"), b"11010519491231002X");
    assert_eq!(provider.decrypt(&second, AAD).expect("decrypts"), b"11010519491231002X");
    assert_eq!(sealed::key_id(&first).ok(), Some("k1"));
    // version, key-id length, "k1", nonce, 18 bytes of ciphertext, tag
    assert_eq!(first.len(), 1 + 1 + 2 + 12 + 18 + 16);

    let empty = provider.encrypt(b"", b"").expect("encrypts nothing");
    assert_eq!(provider.decrypt(&empty, b"").expect("decrypts"), b"");
}

#[test]
fn tampering_is_detected() {
    let provider = random_provider();
    let sealed = provider.encrypt(b"13812345678", AAD).expect("encrypts");
    for index in 0..sealed.len() {
        let mut tampered = sealed.clone();
        tampered[index] ^= 0x01;
        assert!(provider.decrypt(&tampered, AAD).is_err(), "flipped a bit of byte {index}");
    }
    assert!(matches!(provider.decrypt(&sealed, b"person.id_number/43"), Err(Error::Decrypt)));
    assert!(matches!(provider.decrypt(&sealed, b""), Err(Error::Decrypt)));
    assert!(matches!(provider.decrypt(&sealed[..sealed.len() - 1], AAD), Err(Error::Decrypt)));
    assert!(matches!(provider.decrypt(&sealed[..20], AAD), Err(Error::Malformed(_))));
    assert!(matches!(provider.decrypt(b"", AAD), Err(Error::Malformed(_))));
}

#[test]
fn another_installation_cannot_decrypt() {
    let sealed = random_provider().encrypt(b"secret", AAD).expect("encrypts");
    assert!(matches!(random_provider().decrypt(&sealed, AAD), Err(Error::Decrypt)));
}

#[test]
fn rotation_keeps_old_values_readable_and_rewraps_them() {
    let mut config = KeyConfig::generate().expect("random keys");
    let before = SoftwareCrypto::from_config(&config).expect("valid keys");
    let old = before.encrypt(b"310101199001011234", AAD).expect("encrypts");

    config.rotate_data_key("k2").expect("rotates");
    let after = SoftwareCrypto::from_config(&config).expect("valid keys");
    assert_eq!(after.current_key_id(), "k2");
    assert_eq!(after.decrypt(&old, AAD).expect("old key still configured"), b"310101199001011234");
    let new = after.encrypt(b"x", AAD).expect("encrypts");
    assert_eq!(sealed::key_id(&new).ok(), Some("k2"), "new values use the current key");

    let rewrapped = after.reencrypt(&old, AAD).expect("re-encrypts");
    assert_eq!(sealed::key_id(&rewrapped).ok(), Some("k2"));
    assert_eq!(after.decrypt(&rewrapped, AAD).expect("decrypts"), b"310101199001011234");
    assert!(after.reencrypt(&old, b"other aad").is_err(), "re-encryption checks the associated data");

    // Once the old key is gone, old values name it in a clear error; rewrapped ones still work.
    config.data_keys.remove("k1");
    let later = SoftwareCrypto::from_config(&config).expect("valid keys");
    match later.decrypt(&old, AAD) {
        Err(Error::UnknownKeyId(key_id)) => assert_eq!(key_id, "k1"),
        other => panic!("expected UnknownKeyId, got {other:?}"),
    }
    assert_eq!(later.decrypt(&rewrapped, AAD).expect("decrypts"), b"310101199001011234");
}

#[test]
fn text_helpers() {
    let provider = random_provider();
    let sealed = encrypt_text(&provider, "张三丰", AAD).expect("encrypts");
    assert_eq!(decrypt_text(&provider, &sealed, AAD).expect("decrypts"), "张三丰");
    assert!(matches!(decrypt_text(&provider, "not base64!", AAD), Err(Error::Malformed(_))));
}

#[test]
fn blind_index() {
    let provider = random_provider();
    let index = |domain: &str, value: &str| provider.blind_index(domain, value).expect("index");
    let id = index("person.id_number", "11010519491231002X");
    assert_eq!(id.len(), 64);
    assert_eq!(id, index("person.id_number", " 11010519491231002x "), "normalised before hashing");
    assert_ne!(id, index("person.id_number", "110105194912310021"));
    assert_ne!(id, index("guardian.id_number", "11010519491231002X"), "domains separate fields");
    assert_eq!(index("person.phone", "138 1234-5678"), index("person.phone", "１３８１２３４５６７８"));
    // The length prefix keeps domain and value apart: ("ab", "C") and ("a", "BC") differ.
    assert_ne!(index("ab", "C"), index("a", "BC"));
    assert_ne!(id, random_provider().blind_index("person.id_number", "11010519491231002X").expect("index"));
}

#[test]
fn audit_mac() {
    let provider = random_provider();
    let tag = provider.mac(b"record").expect("mac");
    assert!(provider.verify_mac(b"record", &tag).expect("verifies"));
    assert!(!provider.verify_mac(b"recorD", &tag).expect("verifies"));
    assert!(!provider.verify_mac(b"record", &tag[..31]).expect("verifies"));
    assert_ne!(tag, random_provider().mac(b"record").expect("mac"), "depends on the key");
    // The audit key must not be the index key.
    let mut same_keys = fixed_config();
    same_keys.audit_key = same_keys.index_key.clone();
    assert!(matches!(SoftwareCrypto::from_config(&same_keys), Err(Error::InvalidKey { .. })));
}

fn config_error(change: impl FnOnce(&mut KeyConfig)) -> String {
    let mut config = fixed_config();
    change(&mut config);
    match SoftwareCrypto::from_config(&config) {
        Err(error @ Error::InvalidKey { .. }) => error.to_string(),
        other => panic!("expected InvalidKey, got {other:?}"),
    }
}

#[test]
fn bad_key_material_is_a_clear_error_that_never_shows_the_key() {
    let message = config_error(|c| c.index_key = "00".repeat(31));
    assert!(message.contains("index_key"), "{message}");
    let message = config_error(|c| c.audit_key = "zz".repeat(32));
    assert!(message.contains("audit_key") && message.contains("hex"), "{message}");
    let message = config_error(|c| c.current_data_key = "k9".to_owned());
    assert!(message.contains("current_data_key"), "{message}");
    let message = config_error(|c| c.data_keys.clear());
    assert!(message.contains("data_keys"), "{message}");
    let message = config_error(|c| {
        c.data_keys.insert("bad id".to_owned(), "00".repeat(16));
    });
    assert!(message.contains("bad id"), "{message}");
    let message = config_error(|c| {
        c.data_keys.insert("k2".to_owned(), "0123456789abcdef".to_owned());
    });
    assert!(message.contains("data_keys.k2") && !message.contains("0123456789abcdef"), "{message}");
    // Zero and the curve order itself are not SM2 private keys.
    let message = config_error(|c| c.sm2_private_key = "00".repeat(32));
    assert!(message.contains("sm2_private_key"), "{message}");
    let order = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123";
    let message = config_error(|c| c.sm2_private_key = order.to_owned());
    assert!(message.contains("sm2_private_key") && !message.contains(order), "{message}");
}

#[test]
fn generated_keys_survive_the_key_file() {
    let config = KeyConfig::generate().expect("random keys");
    let provider = SoftwareCrypto::from_config(&config).expect("valid keys");
    let sealed = provider.encrypt(b"value", AAD).expect("encrypts");
    let signature = provider.sign(b"value").expect("signs");

    let reread =
        SoftwareCrypto::from_config(&KeyConfig::from_json(&config.to_json()).expect("reads")).expect("valid keys");
    assert_eq!(reread.decrypt(&sealed, AAD).expect("decrypts"), b"value");
    assert!(reread.verify(b"value", &signature));
    assert_eq!(reread.public_key_hex(), provider.public_key_hex());
    assert_eq!(reread.blind_index("d", "v").expect("index"), provider.blind_index("d", "v").expect("index"));
    assert!(!format!("{provider:?}").contains(&config.index_key));
}

#[test]
fn usable_as_a_shared_trait_object() {
    let provider: std::sync::Arc<dyn CryptoProvider> = std::sync::Arc::new(random_provider());
    let threads: Vec<_> = (0..4)
        .map(|n| {
            let provider = provider.clone();
            std::thread::spawn(move || {
                let plaintext = format!("value {n}");
                let sealed = provider.encrypt(plaintext.as_bytes(), AAD).expect("encrypts");
                assert_eq!(provider.decrypt(&sealed, AAD).expect("decrypts"), plaintext.as_bytes());
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("no panic");
    }
}
