//! The TLS side of the web config: `tls_server_config` into a rustls acceptor, with client
//! certificates verified against `client_ca_file` where asked. Reads certificate files; keeps
//! nothing but the acceptor.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tokio_rustls::TlsAcceptor;

/// `tls_server_config` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
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

type ServerBuilder = rustls::ConfigBuilder<rustls::ServerConfig, rustls::WantsVerifier>;
type ServerBuilderWithAuth =
    rustls::ConfigBuilder<rustls::ServerConfig, rustls::server::WantsServerCert>;

/// Builds the acceptor; relative paths are taken from `base`, the web config file's folder.
pub(super) fn build(raw: RawTls, base: &Path) -> Result<TlsAcceptor, String> {
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
    let certs = read_certificates(&resolve(cert_file), "cert_file")?;
    if certs.is_empty() {
        return Err(format!(
            "tls_server_config.cert_file {}: no certificate",
            resolve(cert_file).display()
        ));
    }
    let key_file = resolve(key_file);
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
    let client_ca = raw.client_ca_file.as_ref().map(resolve);
    let builder = client_auth(
        builder,
        raw.client_auth_type.as_deref().unwrap_or("NoClientCert"),
        client_ca.as_deref(),
        provider,
    )?;
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls_server_config: certificate and key do not fit: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_certificates(path: &Path, field: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect())
        .map_err(|e| format!("tls_server_config.{field} {}: {e}", path.display()))
}

/// The `client_auth_type` modes that verify what they accept; the others are refused.
fn client_auth(
    builder: ServerBuilder,
    auth_type: &str,
    client_ca: Option<&Path>,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<ServerBuilderWithAuth, String> {
    match auth_type {
        "NoClientCert" => Ok(builder.with_no_client_auth()),
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let Some(ca_file) = client_ca else {
                return Err(format!(
                    "tls_server_config: client_auth_type {auth_type} needs client_ca_file"
                ));
            };
            let mut roots = RootCertStore::empty();
            for ca in read_certificates(ca_file, "client_ca_file")? {
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
            Ok(builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?,
            ))
        }
        "RequestClientCert" | "RequireAnyClientCert" => Err(format!(
            "tls_server_config: client_auth_type {auth_type} accepts certificates nobody \
             verified and is not supported; use RequireAndVerifyClientCert or \
             VerifyClientCertIfGiven with client_ca_file"
        )),
        other => Err(format!(
            "tls_server_config: unknown client_auth_type {other:?}"
        )),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_or_reversed_tls_versions_are_refused_with_a_reason() {
        assert!(tls_versions(Some("TLS10"), None)
            .unwrap_err()
            .contains("not supported"));
        assert!(tls_versions(Some("TLS13"), Some("TLS12")).is_err());
        assert_eq!(tls_versions(Some("TLS13"), None).expect("ok").len(), 1);
        assert_eq!(tls_versions(None, None).expect("ok").len(), 2);
    }
}
