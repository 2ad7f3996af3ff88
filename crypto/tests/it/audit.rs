//! The audit chain.

use crypto::audit::{GENESIS, link, verify_chain};
use crypto::{CryptoProvider, Error, SoftwareCrypto};

use crate::{fixed_config, random_provider};

fn chain(provider: &dyn CryptoProvider, records: &[&[u8]]) -> Vec<[u8; 32]> {
    let mut previous = GENESIS;
    records
        .iter()
        .map(|record| {
            previous = link(provider, &previous, record).expect("mac");
            previous
        })
        .collect()
}

// Known answer with the fixed audit key 20 21 … 3f: HMAC-SM3(key, 32 zero bytes ‖ "record 1"),
// computed independently like the other HMAC-SM3 answers (`crypto/tests/known_answers.py`).
#[test]
fn first_link_known_answer() {
    let provider = SoftwareCrypto::from_config(&fixed_config()).expect("valid keys");
    let first = link(&provider, &GENESIS, b"record 1").expect("mac");
    assert_eq!(hex::encode(first), "0ce1b4b884656b46ea56f5dba5a65aa5528078e039a5fb19c66d9aec6ea8a4f5");
}

fn pairs<'a>(records: &[&'a [u8]], links: &'a [[u8; 32]]) -> Vec<(&'a [u8], &'a [u8; 32])> {
    records.iter().copied().zip(links).collect()
}

#[test]
fn intact_chain_verifies_and_any_change_breaks_it() {
    let provider = random_provider();
    let records: Vec<&[u8]> = vec![b"login admin", b"view id_number of 42", b"complete task 7"];
    let links = chain(&provider, &records);
    let last = verify_chain(&provider, GENESIS, pairs(&records, &links)).expect("intact");
    assert_eq!(last, links[2]);
    // Continuing from a checkpoint.
    assert_eq!(verify_chain(&provider, links[0], pairs(&records[1..], &links[1..])).ok(), Some(links[2]));

    let mut changed = records.clone();
    changed[1] = b"view id_number of 43";
    assert!(matches!(verify_chain(&provider, GENESIS, pairs(&changed, &links)), Err(Error::ChainBroken { index: 1 })));

    let removed = [records[0], records[2]];
    let removed_links = [links[0], links[2]];
    assert!(matches!(
        verify_chain(&provider, GENESIS, pairs(&removed, &removed_links)),
        Err(Error::ChainBroken { index: 1 })
    ));

    // Re-linking a forged record needs the key: another key's links do not verify.
    let forged = chain(&random_provider(), &records);
    assert!(matches!(verify_chain(&provider, GENESIS, pairs(&records, &forged)), Err(Error::ChainBroken { index: 0 })));
}
