//! HTTP Basic authentication for `/engine-rest`, and the password helpers the web layer uses
//! (the hashing itself is [`crypto::password`], the login and its credential cache
//! [`::identity::login`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

pub use crypto::password::{DEFAULT_ITERATIONS, generate_password, hash_password, verify_password};

pub use ::identity::login::CredentialCache;

/// Parses an `Authorization: Basic …` header value into (user, password).
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let encoded = header.strip_prefix("Basic ").or_else(|| header.strip_prefix("basic "))?;
    let decoded = BASE64.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_is_parsed() {
        assert_eq!(parse_basic("Basic ZGVtbzpkZW1vOjE="), Some(("demo".into(), "demo:1".into())));
        assert_eq!(parse_basic("Bearer x"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }
}
