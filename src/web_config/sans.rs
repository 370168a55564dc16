//! `client_allowed_sans`: after a client's certificate chain has verified, one of its subject
//! alternative names must equal one of the allowed ones, or the handshake fails.
//!
//! DNS names and URIs are compared as written; IP addresses as addresses. E-mail SANs are not
//! read by the certificate parser rustls uses, so an allowed SAN with an `@` is refused when the
//! web config is read, rather than never matching.

use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// A verifier that runs `inner` (the chain) and then checks the SANs.
#[derive(Debug)]
pub(super) struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<String>,
}

impl AllowedSans {
    /// `allowed` as the web config lists them; an e-mail address is refused.
    pub fn new(inner: Arc<dyn ClientCertVerifier>, allowed: Vec<String>) -> Result<Self, String> {
        if let Some(email) = allowed.iter().find(|san| san.contains('@')) {
            return Err(format!(
                "tls_server_config.client_allowed_sans: {email:?} is an e-mail address; only DNS \
                 names, URIs and IP addresses can be checked"
            ));
        }
        if allowed.is_empty() {
            return Err(
                "tls_server_config.client_allowed_sans is empty: no client could connect".into(),
            );
        }
        Ok(AllowedSans { inner, allowed })
    }

    /// Whether one of `certificate`'s SANs is allowed.
    fn allows(&self, certificate: &CertificateDer<'_>) -> bool {
        let Ok(cert) = webpki::EndEntityCert::try_from(certificate) else {
            return false;
        };
        let dns: Vec<&str> = cert.valid_dns_names().collect();
        let uris: Vec<&str> = cert.valid_uri_names().collect();
        self.allowed.iter().any(|san| {
            dns.contains(&san.as_str())
                || uris.contains(&san.as_str())
                || san.parse::<IpAddr>().is_ok_and(|ip| {
                    cert.verify_is_valid_for_subject_name(&ServerName::IpAddress(ip.into()))
                        .is_ok()
                })
        })
    }
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        if !self.allows(end_entity) {
            return Err(rustls::Error::General(
                "the client certificate has none of client_allowed_sans".into(),
            ));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
