//! Identity policy (issue 11: it lived in `web/`, returned HTTP errors, and the CLI called it
//! through them): the organisation tree and roles as shipped ([`org`]), the signed
//! access-control records and the key-file check ([`access`]), the audit log's writer
//! ([`audit`]), login with lockout ([`login`]), the password policy and changes ([`password`]),
//! TOTP codes and step-up ([`second_factor`]), and the rules of second factors and tokens
//! ([`policy`]).
//!
//! What it must never do: know HTTP (cookies, headers, status codes: `web/` maps [`Error`]),
//! write SQL (it goes through `store` ports), or handle key material other than through the
//! `crypto` provider.
//!
//! Who is asking ([`session`]: sessions, Basic, API keys) and SMS codes ([`sms`]) are here too;
//! `web/` reads the cookies and headers and keeps the HTTP handlers.

pub mod access;
pub mod accounts;
pub mod audit;
pub mod login;
pub mod org;
pub mod password;
pub mod policy;
pub mod second_factor;
pub mod session;
pub mod sms;

/// Why an identity rule refused, or what failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A rule refused: a stable `code`, a Chinese `message`, and what kind of refusal it is.
    #[error("{message}")]
    Refused { kind: Refusal, code: &'static str, message: String },
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The audit log cannot be written: the action must not look successful, nor retryable.
    #[error("audit log: {0}")]
    Audit(store::Error),
    /// The crypto provider failed (an HSM that is down, say).
    #[error("crypto provider: {0}")]
    Crypto(String),
    /// A shipped definition (`definitions/org/`) is broken.
    #[error("{0}")]
    Definition(String),
}

/// The kinds of refusal, which `web/` turns into statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The request is malformed (400).
    Invalid,
    /// Not allowed for this caller or account (403).
    Forbidden,
    /// Exists already (409).
    Conflict,
    /// Well-formed, but breaks a rule (422).
    Rule,
    /// Wrong credentials: a user name and password, or an API key, that do not match (401,
    /// Camunda's `AuthenticationException`).
    WrongCredentials,
    /// Not signed in any more, or not in this way (401: a session that expired, HTTP Basic for
    /// an account that must use a second factor).
    Unauthenticated,
    /// Too many attempts (429).
    Limited,
    /// No such record, or not one the caller may reach (404).
    NotFound,
}

impl Error {
    pub fn refused(kind: Refusal, code: &'static str, message: impl Into<String>) -> Error {
        Error::Refused { kind, code, message: message.into() }
    }
}

impl From<crypto::Error> for Error {
    fn from(error: crypto::Error) -> Error {
        Error::Crypto(error.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
