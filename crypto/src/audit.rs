//! The audit log's hash chain, defined once: each record's link is HMAC-SM3 (audit key) over a
//! format tag, the previous record's link and the record's fields, so removing, reordering or
//! changing any record — or forging one without the key — breaks every later link.
//!
//! Which fields a record has is the audit log's business (`store::identity::AuditEntry`); this
//! module fixes their encoding: every part is length-prefixed (u64, big-endian), so no two
//! different records share an encoding. Changing it changes every stored link: it is part of the
//! stored format, frozen by the known-answer test in `crypto/tests/it/audit.rs`.

use crate::{CryptoProvider, Result};

/// The format tag every link starts with.
pub const FORMAT: &[u8] = b"audit-v1";

/// The bytes a link covers: [`FORMAT`], `previous` (the link before, as stored), then `fields`,
/// each length-prefixed.
pub fn canonical(previous: &str, fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + fields.iter().map(|field| field.len() + 8).sum::<usize>());
    for part in [FORMAT, previous.as_bytes()].into_iter().chain(fields.iter().copied()) {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// The link of a record, lowercase hex: HMAC-SM3 under the provider's audit key (the key never
/// leaves the provider, so an HSM can hold it).
pub fn link(provider: &dyn CryptoProvider, previous: &str, fields: &[&[u8]]) -> Result<String> {
    Ok(hex::encode(provider.mac(&canonical(previous, fields))?))
}

/// Whether `stored` is the link of the record, compared in constant time. A stored link that is
/// not hex never matches.
pub fn verify_link(provider: &dyn CryptoProvider, previous: &str, fields: &[&[u8]], stored: &str) -> Result<bool> {
    let Ok(stored) = hex::decode(stored) else { return Ok(false) };
    provider.verify_mac(&canonical(previous, fields), &stored)
}
