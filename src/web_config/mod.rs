//! The exporter-toolkit web configuration (`--web.config.file`): TLS, basic auth with bcrypt
//! hashes, and extra response headers, for every endpoint.
//!
//! The file format is the one node_exporter and blackbox_exporter read, so one file can serve a
//! fleet. What rustls cannot do is refused with a reason rather than silently weakened:
//! TLS 1.0/1.1, and client-auth modes that accept unverified certificates. Cipher suites and
//! curves are rustls' own safe defaults; a file that names some is accepted with a warning.
//!
//! - this file: the YAML and its validation into a [`WebConfig`];
//! - [`tls`]: the TLS acceptor, built from `tls_server_config`;
//! - [`auth`]: checking basic-auth credentials against the bcrypt hashes;
//! - [`live`]: the current configuration, reloaded when the file changes or on SIGHUP;
//! - [`rate_limit`]: the token bucket of `rate_limit`;
//! - `sans`: `client_allowed_sans`, checked after a client's chain verifies.

pub mod auth;
pub mod live;
pub mod rate_limit;
mod sans;
pub mod tls;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use axum::http::{HeaderName, HeaderValue};
use serde::Deserialize;
use tokio_rustls::TlsAcceptor;

pub use auth::Access;
pub use live::LiveWebConfig;

/// Response headers a web config may set, as exporter-toolkit allows: (as written, lower case).
const ALLOWED_HEADERS: [(&str, &str); 5] = [
    ("Strict-Transport-Security", "strict-transport-security"),
    ("X-Content-Type-Options", "x-content-type-options"),
    ("X-Frame-Options", "x-frame-options"),
    ("X-XSS-Protection", "x-xss-protection"),
    ("Content-Security-Policy", "content-security-policy"),
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<tls::RawTls>,
    http_server_config: Option<RawHttp>,
    basic_auth_users: Option<BTreeMap<String, String>>,
    rate_limit: Option<RawRateLimit>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    /// A duration (`1s`, `100ms`): one request's worth of tokens comes every interval.
    interval: String,
    burst: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// A validated web configuration.
#[derive(Clone, Default)]
pub struct WebConfig {
    pub tls: Option<TlsAcceptor>,
    /// User name → bcrypt hash.
    pub users: HashMap<String, String>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `rate_limit`: shared by every request (probes that cost no bcrypt excepted).
    pub rate_limit: Option<std::sync::Arc<rate_limit::RateLimit>>,
}

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("headers", &self.headers)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

/// Why a web config file was refused: the file, and what is wrong (with the line, where the YAML
/// parser knows it).
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct WebConfigError {
    pub path: PathBuf,
    pub problem: String,
}

/// A web config file and what it held when it was read: read once at start, handed to
/// [`LiveWebConfig`], which reads it again only when it changes.
#[derive(Clone, Debug)]
pub struct WebConfigFile {
    pub path: PathBuf,
    pub config: WebConfig,
}

impl WebConfigFile {
    pub fn load(path: PathBuf) -> Result<Self, WebConfigError> {
        let config = WebConfig::load(&path)?;
        Ok(WebConfigFile { path, config })
    }
}

impl WebConfig {
    /// Reads and validates `path`. Relative certificate paths are relative to the file's folder,
    /// as exporter-toolkit has it.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let error = |problem: String| WebConfigError {
            path: path.to_owned(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(format!("cannot read: {e}")))?;
        let raw: RawWebConfig = if text.trim().is_empty() {
            RawWebConfig::default()
        } else {
            crate::yaml::from_str(&text).map_err(|e| error(e.to_string()))?
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let tls = raw
            .tls_server_config
            .map(|raw| tls::build(raw, base))
            .transpose()
            .map_err(error)?;
        Ok(WebConfig {
            tls,
            users: validate_users(raw.basic_auth_users.unwrap_or_default()).map_err(error)?,
            headers: raw
                .http_server_config
                .map(validate_http)
                .transpose()
                .map_err(error)?
                .unwrap_or_default(),
            rate_limit: raw
                .rate_limit
                .map(|r| {
                    let interval = humantime::parse_duration(&r.interval)
                        .map_err(|e| format!("rate_limit.interval {:?}: {e}", r.interval))?;
                    rate_limit::RateLimit::new(interval, r.burst).map(std::sync::Arc::new)
                })
                .transpose()
                .map_err(error)?,
        })
    }
}

fn validate_users(raw: BTreeMap<String, String>) -> Result<HashMap<String, String>, String> {
    let mut users = HashMap::new();
    for (user, hash) in raw {
        if user.is_empty() || user.contains(':') {
            return Err(format!(
                "basic_auth_users: user name {user:?} must be non-empty and without ':'"
            ));
        }
        if hash.parse::<bcrypt::HashParts>().is_err() {
            return Err(format!(
                "basic_auth_users: the password of {user:?} is not a bcrypt hash \
                 (htpasswd -nBC 10 \"\" | tr -d ':\\n' makes one)"
            ));
        }
        users.insert(user, hash);
    }
    Ok(users)
}

fn validate_http(http: RawHttp) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    if http.http2 == Some(true) {
        tracing::warn!("web config: http2 is not served; HTTP/1.1 is used");
    }
    let mut headers = Vec::new();
    for (name, value) in http.headers.unwrap_or_default() {
        let Some((_, lower)) = ALLOWED_HEADERS
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(&name))
        else {
            let allowed: Vec<&str> = ALLOWED_HEADERS.iter().map(|(h, _)| *h).collect();
            return Err(format!(
                "http_server_config.headers: {name} cannot be set; allowed: {}",
                allowed.join(", ")
            ));
        };
        let value = HeaderValue::from_str(&value)
            .map_err(|_| format!("http_server_config.headers: invalid value for {name}"))?;
        headers.push((HeaderName::from_static(lower), value));
    }
    Ok(headers)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `text` in a file `name`, in a folder of its own that is removed when the returned guard
    /// drops (the test's end, passed or failed), for the tests of this module and its children.
    pub(super) fn write(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::Builder::new()
            .prefix("corbado-web-")
            .tempdir()
            .expect("a temporary folder");
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    /// `WebConfig::load` of `text` written to a file `name`, which goes once it is read.
    fn load(name: &str, text: &str) -> Result<WebConfig, WebConfigError> {
        let (_dir, path) = write(name, text);
        WebConfig::load(&path)
    }

    #[test]
    fn an_empty_file_means_no_tls_and_no_auth() {
        let config = load("empty.yml", "").expect("valid");
        assert!(config.tls.is_none() && config.users.is_empty() && config.headers.is_empty());
    }

    #[test]
    fn errors_name_the_file_and_the_line() {
        let (_dir, path) = write(
            "typo.yml",
            "basic_auth_users:\n  alice: x\nbasic_auth_user:\n  bob: y\n",
        );
        let error = WebConfig::load(&path).expect_err("typo").to_string();
        assert!(error.contains("typo.yml"), "{error}");
        assert!(error.contains("line 3"), "{error}");
        let error = load("hash.yml", "basic_auth_users:\n  alice: plaintext\n")
            .expect_err("not bcrypt")
            .to_string();
        assert!(
            error.contains("not a bcrypt hash") && !error.contains("plaintext"),
            "{error}"
        );
    }

    #[test]
    fn unsupported_tls_settings_are_refused_with_a_reason() {
        let error = load("tls.yml", "tls_server_config:\n  cert_file: a.pem\n")
            .expect_err("no key")
            .to_string();
        assert!(error.contains("key_file"), "{error}");
    }

    #[test]
    fn only_security_headers_may_be_set() {
        let ok = load(
            "headers.yml",
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
        )
        .expect("valid");
        assert_eq!(ok.headers[0].0, "x-frame-options");
        let error = load(
            "bad-headers.yml",
            "http_server_config:\n  headers:\n    Set-Cookie: a=b\n",
        )
        .expect_err("refused")
        .to_string();
        assert!(error.contains("Set-Cookie"), "{error}");
    }
}
