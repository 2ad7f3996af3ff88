//! The audit log's hash chain: each record's link is HMAC-SM3 (audit key) over the previous
//! link and the record, so removing, reordering or changing any record — or forging one without
//! the key — breaks every later link. The first record's previous link is [`GENESIS`].
//!
//! How a record is serialised is the audit log's business; it must be canonical (the same record
//! always gives the same bytes), and this module only defines the chain over those bytes.

use crate::{CryptoProvider, Error, Result};

/// The "previous link" of the first record in a chain.
pub const GENESIS: [u8; 32] = [0; 32];

/// The link of `record`: HMAC-SM3(audit key, `previous` ‖ `record`). `previous` has a fixed
/// length, so the concatenation is unambiguous.
pub fn link(provider: &dyn CryptoProvider, previous: &[u8; 32], record: &[u8]) -> Result<[u8; 32]> {
    let mut data = Vec::with_capacity(previous.len() + record.len());
    data.extend_from_slice(previous);
    data.extend_from_slice(record);
    provider.mac(&data)
}

/// Recomputes a chain from `start` (usually [`GENESIS`], or the last link checked before) over
/// `(record, stored link)` pairs in order. Returns the last link, or
/// [`Error::ChainBroken`] with the index of the first record whose stored link is wrong.
pub fn verify_chain<'a>(
    provider: &dyn CryptoProvider,
    start: [u8; 32],
    records: impl IntoIterator<Item = (&'a [u8], &'a [u8; 32])>,
) -> Result<[u8; 32]> {
    let mut previous = start;
    for (index, (record, stored)) in records.into_iter().enumerate() {
        let expected = link(provider, &previous, record)?;
        if !crate::constant_time_eq(&expected, stored) {
            return Err(Error::ChainBroken { index });
        }
        previous = expected;
    }
    Ok(previous)
}
