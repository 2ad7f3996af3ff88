/// Everything that can go wrong in this crate. No variant ever carries key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key or key id in the configuration is unusable. `field` names the configuration entry
    /// (`"index_key"`, `"data_keys.k2"`, …); the key itself is never part of the message.
    #[error("invalid key configuration: {field}: {reason}")]
    InvalidKey { field: String, reason: String },

    /// The key configuration file is not valid JSON of the expected shape.
    #[error("key configuration is not readable: {0}")]
    ConfigFormat(String),

    /// A sealed value is too short, has an unknown format version, or a bad header.
    #[error("sealed value is malformed: {0}")]
    Malformed(&'static str),

    /// A sealed value names a data key that this provider does not have. Either the key was
    /// removed from the configuration too early, or the value comes from another installation.
    #[error("sealed value was encrypted with key id {0:?}, which is not configured")]
    UnknownKeyId(String),

    /// Authentication failed: wrong associated data, a tampered value, or a wrong key under a
    /// reused key id. SM4-GCM cannot tell these apart, and neither should the caller.
    #[error("decryption failed: wrong associated data, wrong key or tampered ciphertext")]
    Decrypt,

    /// The plaintext or associated data exceeds GCM's limits (about 64 GiB).
    #[error("encryption failed: input too long for SM4-GCM")]
    Encrypt,

    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(String),

    /// SM2 signing failed (for the software provider: practically impossible, ~2^-256).
    #[error("SM2 signing failed")]
    Sign,

    /// An SM2 public key is not a valid SEC1 point on the SM2 curve.
    #[error("invalid SM2 public key")]
    InvalidPublicKey,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
