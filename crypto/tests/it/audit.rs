//! The audit chain's link: its encoding is frozen (existing audit logs must keep verifying), it
//! covers every part, parts cannot be shifted into each other, and it needs the key.

use crypto::SoftwareCrypto;
use crypto::audit::{link, verify_link};

use crate::{fixed_config, random_provider};

const AT: [u8; 8] = 1_700_000_000_000i64.to_be_bytes();
const SEQ: [u8; 8] = 1i64.to_be_bytes();

// Known answer with the fixed audit key 20 21 … 3f, computed independently of the Rust crates
// (`crypto/tests/known_answers.py`, "audit link 1").
#[test]
fn link_known_answer() {
    let provider = SoftwareCrypto::from_config(&fixed_config()).expect("valid keys");
    let fields: [&[u8]; 5] = [&SEQ, &AT, b"admin", b"\0", b"user.create"];
    let first = link(&provider, "", &fields).expect("mac");
    assert_eq!(first, "2a3cf88a5436a6d3a4e39e8d3533b7a0627547cc78fa35b7fc385760f9a4a885");
    assert!(verify_link(&provider, "", &fields, &first).expect("checks"));
}

#[test]
fn every_part_counts_and_parts_do_not_shift() {
    let provider = random_provider();
    let fields: [&[u8]; 3] = [b"login", b"admin", b"success"];
    let stored = link(&provider, "previous", &fields).expect("mac");
    assert!(verify_link(&provider, "previous", &fields, &stored).expect("checks"));
    // A changed field, another previous link, or the same bytes split differently: no match.
    assert!(!verify_link(&provider, "previous", &[b"login", b"admin", b"failure"], &stored).expect("checks"));
    assert!(!verify_link(&provider, "other", &fields, &stored).expect("checks"));
    assert!(!verify_link(&provider, "previous", &[b"logina", b"dmin", b"success"], &stored).expect("checks"));
    assert!(!verify_link(&provider, "previous", &[b"login", b"admin", b"success", b""], &stored).expect("checks"));
    // A stored link that is not hex, or is cut short, never matches.
    assert!(!verify_link(&provider, "previous", &fields, "not hex").expect("checks"));
    assert!(!verify_link(&provider, "previous", &fields, &stored[..62]).expect("checks"));
}

#[test]
fn a_link_needs_the_audit_key() {
    let fields: [&[u8]; 2] = [b"user.freeze", b"zhangsan"];
    let forged = link(&random_provider(), "", &fields).expect("mac");
    assert!(!verify_link(&random_provider(), "", &fields, &forged).expect("checks"));
}
