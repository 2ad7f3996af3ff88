//! Standard test vectors (each with its source) and cross-checked known answers.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use crypto::{CryptoProvider, DEFAULT_DIST_ID, Sm4Gcm, SoftwareCrypto, verify_sm2};
use hmac::{Hmac, Mac};
use sm2::dsa::Signature;
use sm2::dsa::signature::hazmat::PrehashVerifier;
use sm2::elliptic_curve::PrimeField;
use sm2::elliptic_curve::ops::Reduce;
use sm2::elliptic_curve::point::AffineCoordinates;
use sm2::{FieldBytes, ProjectivePoint, Scalar};
use sm3::{Digest, Sm3};
use sm4::Sm4;
use sm4::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt};

use crate::{fixed_config, unhex};

fn sm3(data: &[u8]) -> String {
    hex::encode(Sm3::digest(data))
}

// GB/T 32905-2016 Appendix A, example 1: the 24-bit message "abc".
#[test]
fn sm3_abc() {
    assert_eq!(sm3(b"abc"), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
}

// GB/T 32905-2016 Appendix A, example 2: the 512-bit message "abcd" repeated 16 times.
#[test]
fn sm3_abcd_times_16() {
    assert_eq!(sm3(&b"abcd".repeat(16)), "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732");
}

fn sm4(key: &[u8]) -> Sm4 {
    sm4::cipher::KeyInit::new_from_slice(key).expect("16-byte key")
}

fn block(bytes: &[u8]) -> Array<u8, sm4::cipher::consts::U16> {
    Array::try_from(bytes).expect("16-byte block")
}

// GB/T 32907-2016 Appendix A, example 1: key = plaintext = 0123456789abcdeffedcba9876543210.
#[test]
fn sm4_single_block() {
    let key = unhex("0123456789abcdeffedcba9876543210");
    let cipher = sm4(&key);
    let mut data = block(&key);
    cipher.encrypt_block(&mut data);
    assert_eq!(hex::encode(data), "681edf34d206965e86b3e94f536e4246");
    cipher.decrypt_block(&mut data);
    assert_eq!(data.as_slice(), key.as_slice());
}

// GB/T 32907-2016 Appendix A, example 2: the same block encrypted 1,000,000 times with the same
// key. (The sm4 crate is built with opt-level 3 in the dev profile, so this takes well under a
// second.)
#[test]
fn sm4_one_million_iterations() {
    let key = unhex("0123456789abcdeffedcba9876543210");
    let cipher = sm4(&key);
    let mut data = block(&key);
    for _ in 0..1_000_000 {
        cipher.encrypt_block(&mut data);
    }
    assert_eq!(hex::encode(data), "595298c7c6fd271f0402f804c33d3f66");
}

// RFC 8998 Appendix A.1, SM4-GCM.
#[test]
fn sm4_gcm_rfc8998() {
    let key = unhex("0123456789ABCDEFFEDCBA9876543210");
    let nonce = unhex("00001234567800000000ABCD");
    let aad = unhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2");
    let plaintext = unhex(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB CCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD
         EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFF EEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA",
    );
    let ciphertext = unhex(
        "17F399F08C67D5EE19D0DC9969C4BB7D 5FD46FD3756489069157B282BB200735
         D82710CA5C22F0CCFA7CBF93D496AC15 A56834CBCF98C397B4024A2691233B8D",
    );
    let tag = unhex("83DE3541E4C2B58177E065A9BF7B62EC");

    let cipher = Sm4Gcm::new_from_slice(&key).expect("16-byte key");
    let nonce = nonce.as_slice().try_into().expect("12-byte nonce");
    let sealed = cipher.encrypt(nonce, Payload { msg: &plaintext, aad: &aad }).expect("encrypts");
    assert_eq!(hex::encode_upper(&sealed[..plaintext.len()]), hex::encode_upper(&ciphertext));
    assert_eq!(hex::encode_upper(&sealed[plaintext.len()..]), hex::encode_upper(&tag));

    let opened = cipher.decrypt(nonce, Payload { msg: &sealed, aad: &aad }).expect("decrypts");
    assert_eq!(opened, plaintext);
    let mut tampered = sealed.clone();
    tampered[0] ^= 1;
    assert!(cipher.decrypt(nonce, Payload { msg: &tampered, aad: &aad }).is_err());
    assert!(cipher.decrypt(nonce, Payload { msg: &sealed, aad: &aad[1..] }).is_err());
}

/// GB/T 32918.5-2017 (= GM/T 0003.5-2012) Annex A: SM2 signature on the recommended curve with
/// ID "1234567812345678" and message "message digest".
mod sm2_standard_example {
    pub const PRIVATE_KEY: &str = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8";
    pub const PUBLIC_X: &str = "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020";
    pub const PUBLIC_Y: &str = "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13";
    pub const MESSAGE: &[u8] = b"message digest";
    pub const Z: &str = "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3";
    pub const E: &str = "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640";
    pub const K: &str = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21";
    pub const R: &str = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3";
    pub const S: &str = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA";
    // The recommended curve, GB/T 32918.5-2017 §3.
    pub const A: &str = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC";
    pub const B: &str = "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93";
    pub const GX: &str = "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7";
    pub const GY: &str = "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0";
}

fn public_key() -> Vec<u8> {
    use sm2_standard_example::*;
    unhex(&format!("04{PUBLIC_X}{PUBLIC_Y}"))
}

fn standard_signature() -> Vec<u8> {
    use sm2_standard_example::*;
    unhex(&format!("{R}{S}"))
}

#[test]
fn sm2_public_key_from_private_key() {
    let provider = SoftwareCrypto::from_config(&fixed_config()).expect("valid keys");
    assert_eq!(provider.public_key_hex(), hex::encode(public_key()));
}

#[test]
fn sm2_user_hash_and_message_digest() {
    use sm2_standard_example::*;
    // Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA), ENTL = bit length of the ID as 16 bits.
    let mut z = Sm3::new();
    z.update(((DEFAULT_DIST_ID.len() * 8) as u16).to_be_bytes());
    z.update(DEFAULT_DIST_ID);
    for part in [A, B, GX, GY, PUBLIC_X, PUBLIC_Y] {
        z.update(unhex(part));
    }
    let z = z.finalize();
    assert_eq!(hex::encode_upper(z), Z);
    let e = Sm3::new().chain_update(z).chain_update(MESSAGE).finalize();
    assert_eq!(hex::encode_upper(e), E);
}

#[test]
fn sm2_verifies_the_standard_signature() {
    use sm2_standard_example::*;
    let signature = standard_signature();
    assert_eq!(verify_sm2(&public_key(), DEFAULT_DIST_ID, MESSAGE, &signature).ok(), Some(true));
    let provider = SoftwareCrypto::from_config(&fixed_config()).expect("valid keys");
    assert!(provider.verify(MESSAGE, &signature));

    // The same signature over the standard's digest e, through the sm2 crate directly.
    let key = sm2::dsa::VerifyingKey::from_sec1_bytes(DEFAULT_DIST_ID, &public_key()).expect("valid point");
    let parsed = Signature::from_slice(&signature).expect("64 bytes");
    assert!(key.verify_prehash(&unhex(E), &parsed).is_ok());

    // Tampering with the message, the signature or the ID fails.
    assert!(!provider.verify(b"message digesT", &signature));
    for index in [0, 31, 32, 63] {
        let mut tampered = signature.clone();
        tampered[index] ^= 0x01;
        assert!(!provider.verify(MESSAGE, &tampered), "flipped a bit of byte {index}");
    }
    assert_eq!(verify_sm2(&public_key(), "ALICE123@YAHOO.COM", MESSAGE, &signature).ok(), Some(false));
    assert!(!provider.verify(MESSAGE, &signature[..63]));
    assert!(!provider.verify(MESSAGE, &[]));
}

// The sm2 crate derives k deterministically (RFC 6979), so its signer cannot reproduce the
// standard's k. This test recomputes steps A4–A7 of GB/T 32918.2 with the standard's k on the
// crate's curve arithmetic, so the example signature is also checked in the signing direction.
#[test]
fn sm2_signing_equation_with_the_standard_k() {
    use sm2_standard_example::*;
    let scalar = |text: &str| {
        let bytes = FieldBytes::try_from(unhex(text).as_slice()).expect("32 bytes");
        Option::<Scalar>::from(Scalar::from_repr(bytes)).expect("below the curve order")
    };
    let (d, k) = (scalar(PRIVATE_KEY), scalar(K));
    let e = <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::try_from(unhex(E).as_slice()).expect("32 bytes"));
    let point = (ProjectivePoint::GENERATOR * k).to_affine();
    let r = e + <Scalar as Reduce<FieldBytes>>::reduce(&point.x());
    let s = Option::<Scalar>::from((d + Scalar::ONE).invert()).expect("1 + d is invertible") * (k - r * d);
    assert_eq!(hex::encode_upper(r.to_repr()), R);
    assert_eq!(hex::encode_upper(s.to_repr()), S);
}

#[test]
fn sm2_sign_then_verify() {
    let provider = SoftwareCrypto::from_config(&fixed_config()).expect("valid keys");
    let signature = provider.sign(b"access record 42").expect("signs");
    assert_eq!(signature.len(), 64);
    assert!(provider.verify(b"access record 42", &signature));
    assert!(!provider.verify(b"access record 43", &signature));
    assert_eq!(verify_sm2(&public_key(), DEFAULT_DIST_ID, b"access record 42", &signature).ok(), Some(true));
    let other = crate::random_provider();
    assert!(!other.verify(b"access record 42", &signature), "another key does not verify it");
    assert!(verify_sm2(b"\x04not a point", DEFAULT_DIST_ID, b"", &signature).is_err());
}

// HMAC-SM3 known answers. The inputs follow the shapes of RFC 4231's HMAC-SHA-2 cases 1–4 and 6
// (there is no standard HMAC-SM3 vector set). Each expected value was computed twice,
// independently of the Rust crates: with OpenSSL's SM3 through Python's `hmac`, and with the
// pure-Python SM3 of the `gmssl` package under a hand-written RFC 2104 HMAC
// (`crypto/tests/known_answers.py`); both agreed.
#[test]
fn hmac_sm3_known_answers() {
    let cases: [(Vec<u8>, Vec<u8>, &str); 6] = [
        (vec![0x0b; 20], b"Hi There".to_vec(), "51b00d1fb49832bfb01c3ce27848e59f871d9ba938dc563b338ca964755cce70"),
        (
            b"Jefe".to_vec(),
            b"what do ya want for nothing?".to_vec(),
            "2e87f1d16862e6d964b50a5200bf2b10b764faa9680a296a2405f24bec39f882",
        ),
        (vec![0xaa; 20], vec![0xdd; 50], "dd9421e1c725bdf52ec1aa34edadb3c97f5951a83a2fa93f73a7902bc1dcc777"),
        ((1u8..=25).collect(), vec![0xcd; 50], "b57c79be03472aeb8cada581dea332cb2ba83d19cb1b052dd07194def75fb8cd"),
        (
            vec![0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
            "b4fd844e13342002f0b2e0690ea7741f1497d993a70494cea601e657bedf67a0",
        ),
        (vec![], vec![], "0d23f72ba15e9c189a879aefc70996b06091de6e64d31b7a84004356dd915261"),
    ];
    for (key, data, expected) in cases {
        let mut mac = Hmac::<Sm3>::new_from_slice(&key).expect("any key length");
        mac.update(&data);
        assert_eq!(hex::encode(mac.finalize().into_bytes()), expected, "key {}", hex::encode(&key));
    }
}

// The provider's MAC and blind index over the same HMAC-SM3, with the fixed keys of
// `fixed_config` (index key 00 01 … 1f, audit key 20 21 … 3f); expected values cross-checked like `hmac_sm3_known_answers`.
#[test]
fn provider_mac_and_blind_index_known_answers() {
    let provider = SoftwareCrypto::from_config(&fixed_config()).expect("valid keys");
    assert_eq!(
        hex::encode(provider.mac(b"shuangyong audit").expect("mac")),
        "e83f3d5eab071eb4a275c6ae2ec57914025ad94e2e0f2848e715b909879d3882"
    );
    // HMAC(index key, be32(16) ‖ "person.id_number" ‖ "11010519491231002X")
    assert_eq!(
        provider.blind_index("person.id_number", " 11010519491231002x").expect("index"),
        "2932a5b54f0a8fc2f136c2716368b3794a205b22b5827c584b38757e381739d5"
    );
}

// PBKDF2-HMAC-SM3 (RFC 8018) known answers, as used for passwords in web/src/auth.rs. Inputs are
// RFC 6070's; the expected values were computed independently with OpenSSL
// (`hashlib.pbkdf2_hmac("sm3", …)`) and with a hand-written PBKDF2 over gmssl's pure-Python SM3,
// which agreed (`crypto/tests/known_answers.py`).
#[test]
fn pbkdf2_hmac_sm3_known_answers() {
    let cases: [(&[u8], &[u8], u32, &str); 4] = [
        (b"password", b"salt", 1, "4612f922a1fdcefaf4312fc6f8f3322b489cbf24f2ea361b44c2bd8fa2c6dcb0"),
        (b"password", b"salt", 2, "fee723a2bc966e11dffb66133f4e8df577383c78ade30e3298edbd3e54ed85b7"),
        (b"password", b"salt", 4096, "b6e8f2074c87432b78f62e5ced980fdff89e86af2f693dab1638e2b3683045dd"),
        (
            b"passwordPASSWORDpassword",
            b"saltSALTsaltSALTsaltSALTsaltSALTsalt",
            4096,
            "3b6282ac8519f059e465abff0ea37b0dbfe6c672a76e6b805312d53900db630732ccc1a88fa5512a",
        ),
    ];
    for (password, salt, iterations, expected) in cases {
        let mut output = vec![0u8; expected.len() / 2];
        pbkdf2::pbkdf2_hmac::<Sm3>(password, salt, iterations, &mut output);
        assert_eq!(hex::encode(output), expected, "{iterations} iterations");
    }
}
