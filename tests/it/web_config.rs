//! The exporter-toolkit web config's keys beyond files and basic auth, over real TLS
//! handshakes: inline `cert`, `key` and `client_ca`, `client_allowed_sans`, and `rate_limit`;
//! and a file that uses every key the toolkit documents loads as it is.

use corbado_exporter::web_config::WebConfigFile;

use crate::security::{app_with_web_config, Pki};

/// `text` indented by `spaces`, for a YAML block scalar.
fn indented(text: &str, spaces: usize) -> String {
    let pad = " ".repeat(spaces);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

#[tokio::test]
async fn inline_cert_key_and_client_ca_serve_mutual_tls() {
    let pki = Pki::new("inline");
    let read = |name: &str| std::fs::read_to_string(pki.dir.path().join(name)).expect("pem");
    let yaml = format!(
        "tls_server_config:\n  cert: |\n{}  key: |\n{}  client_auth_type: RequireAndVerifyClientCert\n  client_ca: |\n{}",
        indented(&read("server.pem"), 4),
        indented(&read("server.key"), 4),
        indented(&pki.ca, 4),
    );
    let path = pki.dir.path().join("inline.yml");
    std::fs::write(&path, yaml).expect("write");
    let app = app_with_web_config(path).await;
    let url = format!("https://{}/metrics", app.address);
    let ok = pki.client(true).get(&url).send().await.expect("mTLS");
    assert_eq!(ok.status(), 200);
    assert!(pki.client(false).get(&url).send().await.is_err());
}

#[tokio::test]
async fn client_allowed_sans_admit_a_listed_san_and_refuse_the_rest() {
    let pki = Pki::new("sans");
    let mtls = "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n";
    let allowed = pki.web_config(
        "allowed.yml",
        &format!("{mtls}  client_allowed_sans:\n    - other.example\n    - scraper\n"),
    );
    let app = app_with_web_config(allowed).await;
    let url = format!("https://{}/metrics", app.address);
    let ok = pki
        .client(true)
        .get(&url)
        .send()
        .await
        .expect("an allowed SAN");
    assert_eq!(ok.status(), 200);

    let refused = pki.web_config(
        "refused.yml",
        &format!("{mtls}  client_allowed_sans: [other.example, 10.0.0.1]\n"),
    );
    let app = app_with_web_config(refused).await;
    let url = format!("https://{}/metrics", app.address);
    let answer = pki.client(true).get(&url).send().await;
    assert!(
        answer.is_err(),
        "a verified chain without an allowed SAN: {answer:?}"
    );

    let email = pki.web_config(
        "email.yml",
        &format!("{mtls}  client_allowed_sans: [ops@example.com]\n"),
    );
    let error = WebConfigFile::load(email).expect_err("an e-mail SAN cannot be checked");
    assert!(error.to_string().contains("e-mail"), "{error}");
}

#[tokio::test]
async fn rate_limit_answers_429_beyond_its_burst_but_never_to_health_probes() {
    let pki = Pki::new("rate");
    let path = pki.web_config("rate.yml", "rate_limit:\n  interval: 1h\n  burst: 2\n");
    let app = app_with_web_config(path).await;
    let client = pki.client(false);
    let metrics = format!("https://{}/metrics", app.address);
    for _ in 0..2 {
        let ok = client.get(&metrics).send().await.expect("request");
        assert_eq!(ok.status(), 200);
    }
    let limited = client.get(&metrics).send().await.expect("request");
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "3600");
    for probe in ["/-/healthy", "/-/ready"] {
        let url = format!("https://{}{probe}", app.address);
        let answer = client.get(&url).send().await.expect("probe");
        assert_eq!(answer.status(), 200, "{probe} is never limited");
    }
}

#[test]
fn a_web_config_with_every_key_the_toolkit_documents_loads() {
    let pki = Pki::new("every-key");
    let hash = bcrypt::hash("secret", 4).expect("hash");
    let path = pki.web_config(
        "every.yml",
        &format!(
            "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.pem\n  \
             client_allowed_sans: [scraper]\n  min_version: TLS12\n  max_version: TLS13\n  \
             cipher_suites: [TLS_AES_128_GCM_SHA256]\n  curve_preferences: [X25519]\n  \
             prefer_server_cipher_suites: true\n\
             http_server_config:\n  http2: true\n  headers:\n    X-Frame-Options: deny\n\
             basic_auth_users:\n  prometheus: '{hash}'\n\
             rate_limit:\n  interval: 100ms\n  burst: 50\n"
        ),
    );
    let loaded = WebConfigFile::load(path).expect("every documented key loads");
    assert!(loaded.config.tls.is_some());
    assert!(loaded.config.rate_limit.is_some());
    assert_eq!(loaded.config.users.len(), 1);
}
