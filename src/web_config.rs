//! The exporter-toolkit web configuration (`--web.config.file`): TLS, basic auth with bcrypt
//! hashes, and extra response headers, for every endpoint.
//!
//! The file format is the one node_exporter and blackbox_exporter read, so one file can serve a
//! fleet. What rustls cannot do is refused with a reason rather than silently weakened:
//! TLS 1.0/1.1, and client-auth modes that accept unverified certificates. Cipher suites and
//! curves are rustls' own safe defaults; a file that names some is accepted with a warning.
//!
//! [`WebState`] holds the current configuration and swaps in a new one when the file changes
//! (checked every two seconds) or on SIGHUP; a file that no longer validates is logged and the
//! previous configuration stays.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderName, HeaderValue};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// Response headers a web config may set, as exporter-toolkit allows.
const ALLOWED_HEADERS: [&str; 5] = [
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
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
}

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("headers", &self.headers)
            .finish()
    }
}

/// Why a web config file was refused: the file, and what is wrong (with the line, where the YAML
/// parser knows it).
#[derive(Debug)]
pub struct WebConfigError {
    pub path: PathBuf,
    pub problem: String,
}

impl fmt::Display for WebConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

impl std::error::Error for WebConfigError {}

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
            serde_yaml::from_str(&text).map_err(|e| error(e.to_string()))?
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let tls = raw
            .tls_server_config
            .map(|tls| build_tls(tls, base))
            .transpose()
            .map_err(error)?;

        let mut users = HashMap::new();
        for (user, hash) in raw.basic_auth_users.unwrap_or_default() {
            if user.is_empty() || user.contains(':') {
                return Err(error(format!(
                    "basic_auth_users: user name {user:?} must be non-empty and without ':'"
                )));
            }
            if hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(error(format!(
                    "basic_auth_users: the password of {user:?} is not a bcrypt hash \
                     (htpasswd -nBC 10 \"\" | tr -d ':\\n' makes one)"
                )));
            }
            users.insert(user, hash);
        }

        let mut headers = Vec::new();
        if let Some(http) = raw.http_server_config {
            if http.http2 == Some(true) {
                tracing::warn!("web config: http2 is not served; HTTP/1.1 is used");
            }
            for (name, value) in http.headers.unwrap_or_default() {
                let Some(allowed) = ALLOWED_HEADERS
                    .iter()
                    .find(|h| h.eq_ignore_ascii_case(&name))
                else {
                    return Err(error(format!(
                        "http_server_config.headers: {name} cannot be set; allowed: {}",
                        ALLOWED_HEADERS.join(", ")
                    )));
                };
                let value = HeaderValue::from_str(&value).map_err(|_| {
                    error(format!(
                        "http_server_config.headers: invalid value for {name}"
                    ))
                })?;
                headers.push((HeaderName::from_static(static_lower(allowed)), value));
            }
        }
        Ok(WebConfig {
            tls,
            users,
            headers,
        })
    }
}

fn static_lower(header: &str) -> &'static str {
    match header {
        "Strict-Transport-Security" => "strict-transport-security",
        "X-Content-Type-Options" => "x-content-type-options",
        "X-Frame-Options" => "x-frame-options",
        "X-XSS-Protection" => "x-xss-protection",
        _ => "content-security-policy",
    }
}

fn build_tls(raw: RawTls, base: &Path) -> Result<TlsAcceptor, String> {
    let resolve = |p: &PathBuf| {
        if p.is_absolute() {
            p.clone()
        } else {
            base.join(p)
        }
    };
    let (Some(cert_file), Some(key_file)) = (&raw.cert_file, &raw.key_file) else {
        return Err("tls_server_config: cert_file and key_file are both required".into());
    };
    let (cert_file, key_file) = (resolve(cert_file), resolve(key_file));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_file)
        .and_then(|iter| iter.collect())
        .map_err(|e| format!("tls_server_config.cert_file {}: {e}", cert_file.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "tls_server_config.cert_file {}: no certificate",
            cert_file.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&key_file)
        .map_err(|e| format!("tls_server_config.key_file {}: {e}", key_file.display()))?;

    let versions = tls_versions(raw.min_version.as_deref(), raw.max_version.as_deref())?;
    if raw.cipher_suites.is_some()
        || raw.curve_preferences.is_some()
        || raw.prefer_server_cipher_suites.is_some()
    {
        tracing::warn!("web config: cipher_suites, curve_preferences and prefer_server_cipher_suites are ignored; rustls uses its own safe defaults");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;

    let auth_type = raw.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match auth_type {
        "NoClientCert" => builder.with_no_client_auth(),
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let Some(ca_file) = &raw.client_ca_file else {
                return Err(format!(
                    "tls_server_config: client_auth_type {auth_type} needs client_ca_file"
                ));
            };
            let ca_file = resolve(ca_file);
            let mut roots = RootCertStore::empty();
            let cas = CertificateDer::pem_file_iter(&ca_file)
                .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    format!(
                        "tls_server_config.client_ca_file {}: {e}",
                        ca_file.display()
                    )
                })?;
            for ca in cas {
                roots.add(ca).map_err(|e| {
                    format!(
                        "tls_server_config.client_ca_file {}: {e}",
                        ca_file.display()
                    )
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth_type == "VerifyClientCertIfGiven" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?,
            )
        }
        "RequestClientCert" | "RequireAnyClientCert" => {
            return Err(format!(
                "tls_server_config: client_auth_type {auth_type} accepts certificates nobody \
                 verified and is not supported; use RequireAndVerifyClientCert or \
                 VerifyClientCertIfGiven with client_ca_file"
            ))
        }
        other => {
            return Err(format!(
                "tls_server_config: unknown client_auth_type {other:?}"
            ))
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls_server_config: certificate and key do not fit: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn tls_versions(
    min: Option<&str>,
    max: Option<&str>,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let rank = |v: &str, field: &str| match v {
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        "TLS10" | "TLS11" => Err(format!(
            "tls_server_config.{field}: {v} is not supported (TLS12 or TLS13)"
        )),
        other => Err(format!(
            "tls_server_config.{field}: unknown version {other:?}"
        )),
    };
    let lo = min
        .map(|v| rank(v, "min_version"))
        .transpose()?
        .unwrap_or(12);
    let hi = max
        .map(|v| rank(v, "max_version"))
        .transpose()?
        .unwrap_or(13);
    if lo > hi {
        return Err("tls_server_config: min_version is above max_version".into());
    }
    let mut versions = Vec::new();
    if lo <= 12 && hi >= 12 {
        versions.push(&rustls::version::TLS12);
    }
    if hi >= 13 {
        versions.push(&rustls::version::TLS13);
    }
    Ok(versions)
}

/// The current web configuration, swapped on change, plus the credential cache.
pub struct WebState {
    path: Option<PathBuf>,
    current: RwLock<Arc<WebConfig>>,
    stamp: Mutex<Option<(SystemTime, u64)>>,
    /// One bcrypt check at a time: a flood of bad logins costs one core at the most.
    bcrypt_permits: Semaphore,
    /// Credentials that verified, keyed by a hash with a per-process random key; never the
    /// password itself. Cleared on every reload.
    verified: Mutex<HashMap<u64, String>>,
    hash_key: std::collections::hash_map::RandomState,
}

/// Entries of the verified-credential cache before it is emptied and starts over.
const CACHE_LIMIT: usize = 1024;
/// Compared against when the user is unknown, so that unknown users cost as much as known ones.
fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| bcrypt::hash("corbado-exporter", bcrypt::DEFAULT_COST).unwrap_or_default())
        .clone()
}

impl WebState {
    /// Loads `path` (if any) and validates it: the start-up check.
    pub fn load(path: Option<PathBuf>) -> Result<Arc<WebState>, WebConfigError> {
        let config = match &path {
            Some(path) => WebConfig::load(path)?,
            None => WebConfig::default(),
        };
        let stamp = path.as_deref().and_then(file_stamp);
        Ok(Arc::new(WebState {
            path,
            current: RwLock::new(Arc::new(config)),
            stamp: Mutex::new(stamp),
            bcrypt_permits: Semaphore::new(1),
            verified: Mutex::new(HashMap::new()),
            hash_key: std::collections::hash_map::RandomState::new(),
        }))
    }

    pub fn current(&self) -> Arc<WebConfig> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Re-reads the file; on success swaps it in, on failure keeps the old one and says why.
    pub fn reload(&self) -> bool {
        let Some(path) = &self.path else {
            return false;
        };
        *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) = file_stamp(path);
        match WebConfig::load(path) {
            Ok(config) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
                self.verified
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clear();
                tracing::info!(file = %path.display(), "web config reloaded");
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "web config not reloaded; keeping the previous one");
                false
            }
        }
    }

    /// Reloads when the file changed since the last look.
    pub fn reload_if_changed(&self) -> bool {
        let Some(path) = &self.path else {
            return false;
        };
        let now = file_stamp(path);
        let before = *self.stamp.lock().unwrap_or_else(|e| e.into_inner());
        now != before && self.reload()
    }

    /// Watches the file (every two seconds) and SIGHUP until `shutdown`.
    pub async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        if self.path.is_none() {
            return;
        }
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut ticker = tokio::time::interval(Duration::from_secs(2));
        loop {
            #[cfg(unix)]
            let hup = async {
                match hangup.as_mut() {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let hup = std::future::pending::<()>();
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = hup => { self.reload(); }
                _ = ticker.tick() => { self.reload_if_changed(); }
            }
        }
    }

    /// Checks basic-auth credentials against the current users. `None` when auth is off.
    pub async fn authorize(&self, credentials: Option<(&str, &str)>) -> Option<bool> {
        let config = self.current();
        if config.users.is_empty() {
            return None;
        }
        let Some((user, password)) = credentials else {
            return Some(false);
        };
        let key = self.hash_key.hash_one((user, password));
        let hash = config.users.get(user).cloned();
        if let Some(hash) = &hash {
            let cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if cache.get(&key) == Some(hash) {
                return Some(true);
            }
        }
        let Ok(_permit) = self.bcrypt_permits.acquire().await else {
            return Some(false);
        };
        let known = hash.is_some();
        let against = hash.clone();
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            let against = against.unwrap_or_else(dummy_hash);
            bcrypt::verify(password, &against).unwrap_or(false)
        })
        .await
        .unwrap_or(false)
            && known;
        if ok {
            if let Some(hash) = hash {
                let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() >= CACHE_LIMIT {
                    cache.clear();
                }
                cache.insert(key, hash);
            }
        }
        Some(ok)
    }
}

fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("corbado-web-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn an_empty_file_means_no_tls_and_no_auth() {
        let config = WebConfig::load(&write("empty.yml", "")).expect("valid");
        assert!(config.tls.is_none() && config.users.is_empty() && config.headers.is_empty());
    }

    #[test]
    fn errors_name_the_file_and_the_line() {
        let path = write(
            "typo.yml",
            "basic_auth_users:\n  alice: x\nbasic_auth_user:\n  bob: y\n",
        );
        let error = WebConfig::load(&path).expect_err("typo").to_string();
        assert!(error.contains("typo.yml"), "{error}");
        assert!(error.contains("line 3"), "{error}");
        let error = WebConfig::load(&write(
            "hash.yml",
            "basic_auth_users:\n  alice: plaintext\n",
        ))
        .expect_err("not bcrypt")
        .to_string();
        assert!(
            error.contains("not a bcrypt hash") && !error.contains("plaintext"),
            "{error}"
        );
    }

    #[test]
    fn unsupported_tls_settings_are_refused_with_a_reason() {
        assert!(tls_versions(Some("TLS10"), None)
            .unwrap_err()
            .contains("not supported"));
        assert!(tls_versions(Some("TLS13"), Some("TLS12")).is_err());
        assert_eq!(tls_versions(Some("TLS13"), None).expect("ok").len(), 1);
        assert_eq!(tls_versions(None, None).expect("ok").len(), 2);
        let error = WebConfig::load(&write(
            "tls.yml",
            "tls_server_config:\n  cert_file: a.pem\n",
        ))
        .expect_err("no key")
        .to_string();
        assert!(error.contains("key_file"), "{error}");
    }

    #[test]
    fn only_security_headers_may_be_set() {
        let ok = WebConfig::load(&write(
            "headers.yml",
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
        ))
        .expect("valid");
        assert_eq!(ok.headers[0].0, "x-frame-options");
        let error = WebConfig::load(&write(
            "bad-headers.yml",
            "http_server_config:\n  headers:\n    Set-Cookie: a=b\n",
        ))
        .expect_err("refused")
        .to_string();
        assert!(error.contains("Set-Cookie"), "{error}");
    }

    #[tokio::test]
    async fn credentials_verify_once_then_come_from_the_cache() {
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let path = write(
            "auth.yml",
            &format!("basic_auth_users:\n  alice: '{hash}'\n"),
        );
        let state = WebState::load(Some(path)).expect("valid");
        assert_eq!(state.authorize(Some(("alice", "s3cret"))).await, Some(true));
        assert_eq!(state.verified.lock().expect("lock").len(), 1);
        assert_eq!(state.authorize(Some(("alice", "s3cret"))).await, Some(true));
        assert_eq!(state.authorize(Some(("alice", "wrong"))).await, Some(false));
        assert_eq!(
            state.authorize(Some(("mallory", "s3cret"))).await,
            Some(false)
        );
        assert_eq!(state.authorize(None).await, Some(false));
        let open = WebState::load(None).expect("valid");
        assert_eq!(open.authorize(None).await, None);
    }
}
