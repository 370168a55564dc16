//! The TLS side of the web config: `tls_server_config` into a rustls acceptor, with client
//! certificates verified against `client_ca_file` where asked. Reads certificate files; keeps
//! nothing but the acceptor.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;

use super::sans::AllowedSans;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tokio_rustls::TlsAcceptor;

use crate::secret::Secret;

/// `tls_server_config` as written. Certificates, the key and the client CA come from a file or
/// inline (PEM in the YAML), one of the two for each.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    cert_file: Option<PathBuf>,
    cert: Option<String>,
    key_file: Option<PathBuf>,
    /// Inline PEM: never printed.
    key: Option<Secret>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    client_ca: Option<String>,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
}

/// Builds the acceptor; relative paths are taken from `base`, the web config file's folder.
/// The steps run in this order so that errors come in it too: the server's certificate and
/// key, the protocol versions, then what is asked of clients.
pub(super) fn build(raw: RawTls, base: &Path) -> Result<TlsAcceptor, String> {
    let (certs, key) = server_identity(&raw, base)?;
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
    let builder = with_client_auth(builder, raw, base, provider)?;
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls_server_config: certificate and key do not fit: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// `path` as written, or under `base` when relative.
fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    }
}

/// The server's certificate chain and private key, each from its file or inline PEM.
fn server_identity(
    raw: &RawTls,
    base: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    // Both halves named before either is read, so that a missing one is what the error says.
    if raw.cert_file.is_some() == raw.cert.is_some() || raw.key_file.is_some() == raw.key.is_some()
    {
        return Err(
            "tls_server_config: exactly one of cert_file and cert, and exactly one of \
                    key_file and key, are required"
                .into(),
        );
    }
    let certs = match (&raw.cert_file, &raw.cert) {
        (Some(file), None) => read_certificates(&resolve(base, file), "cert_file")?,
        (None, Some(pem)) => inline_certificates(pem, "cert")?,
        _ => return Err("tls_server_config: exactly one of cert_file and cert is required".into()),
    };
    if certs.is_empty() {
        return Err("tls_server_config: the certificate holds no certificate".into());
    }
    let key = match (&raw.key_file, &raw.key) {
        (Some(file), None) => {
            let file = resolve(base, file);
            PrivateKeyDer::from_pem_file(&file)
                .map_err(|e| format!("tls_server_config.key_file {}: {e}", file.display()))?
        }
        // The error names the key, never its content.
        (None, Some(pem)) => PrivateKeyDer::from_pem_slice(pem.expose().as_bytes())
            .map_err(|_| "tls_server_config.key: not a PEM private key".to_owned())?,
        _ => return Err("tls_server_config: exactly one of key_file and key is required".into()),
    };
    Ok((certs, key))
}

/// `builder` with what `client_auth_type`, the client CA and `client_allowed_sans` ask of
/// clients: nothing, or certificates verified against the CA (and their SANs checked).
fn with_client_auth(
    builder: rustls::ConfigBuilder<rustls::ServerConfig, rustls::WantsVerifier>,
    raw: RawTls,
    base: &Path,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<rustls::ConfigBuilder<rustls::ServerConfig, rustls::server::WantsServerCert>, String> {
    let client_ca = match (&raw.client_ca_file, &raw.client_ca) {
        (Some(file), None) => Some(read_certificates(&resolve(base, file), "client_ca_file")?),
        (None, Some(pem)) => Some(inline_certificates(pem, "client_ca")?),
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err("tls_server_config: client_ca_file and client_ca are exclusive".into())
        }
    };
    let auth_type = raw.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let verifier = client_verifier(auth_type, client_ca, provider)?;
    Ok(match (verifier, raw.client_allowed_sans) {
        (None, Some(_)) => {
            return Err(format!(
                "tls_server_config: client_allowed_sans needs client certificates verified \
                 (client_auth_type {auth_type} verifies none)"
            ))
        }
        (None, None) => builder.with_no_client_auth(),
        (Some(verifier), None) => builder.with_client_cert_verifier(verifier),
        (Some(verifier), Some(sans)) => {
            builder.with_client_cert_verifier(Arc::new(AllowedSans::new(verifier, sans)?))
        }
    })
}

fn read_certificates(path: &Path, field: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect())
        .map_err(|e| format!("tls_server_config.{field} {}: {e}", path.display()))
}

/// Certificates from PEM written into the web config under `field`.
fn inline_certificates(pem: &str, field: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("tls_server_config.{field}: {e}"))
}

/// The verifier of client certificates for `client_auth_type` (`None`: none asked for); the
/// modes that accept certificates nobody verified are refused.
fn client_verifier(
    auth_type: &str,
    client_ca: Option<Vec<CertificateDer<'static>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>, String> {
    match auth_type {
        "NoClientCert" => Ok(None),
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let Some(cas) = client_ca else {
                return Err(format!(
                    "tls_server_config: client_auth_type {auth_type} needs client_ca_file or \
                     client_ca"
                ));
            };
            let mut roots = RootCertStore::empty();
            for ca in cas {
                roots
                    .add(ca)
                    .map_err(|e| format!("tls_server_config: client CA: {e}"))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth_type == "VerifyClientCertIfGiven" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| format!("tls_server_config: client CA: {e}"))?;
            Ok(Some(verifier))
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
