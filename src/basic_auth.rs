//! Reading an HTTP `Authorization: Basic …` header into a user and a password.
//!
//! Shared by the exporter's server (web-config users) and the simulator (project ID and API
//! secret), so both sides parse the header the same way. Does no checking of the credentials.

use axum::http::{header, HeaderMap};
use base64::Engine as _;

/// A user and a password from a basic-auth header.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({:?}, [redacted])", self.user)
    }
}

/// The credentials of a well-formed `Basic` header; `None` for any other or none.
pub fn parse(headers: &HeaderMap) -> Option<Credentials> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some(Credentials {
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_well_formed_basic_headers_parse() {
        let mut headers = HeaderMap::new();
        assert_eq!(parse(&headers), None);
        let encoded = base64::engine::general_purpose::STANDARD.encode("alice:pa:ss");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).expect("header"),
        );
        let parsed = parse(&headers).expect("parses");
        assert_eq!(
            (parsed.user.as_str(), parsed.password.as_str()),
            ("alice", "pa:ss")
        );
        assert!(!format!("{parsed:?}").contains("pa:ss"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(parse(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(parse(&headers), None);
    }
}
