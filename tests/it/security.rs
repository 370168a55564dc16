//! Security: TLS and mutual TLS with certificates made here, bcrypt basic auth, headers, web
//! config validation and reload, hostile clients, proxies, a custom CA, and the secret's absence
//! from every endpoint.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use corbado_exporter::config::CaBundle;
use corbado_exporter::poller::Strategy;
use corbado_exporter::server::Limits;
use corbado_exporter::web_config::{LiveWebConfig, WebConfigFile};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use tempfile::TempDir;

use crate::helpers::{
    config, eventually_some, exporter, scratch_dir, serve_on_loopback, spawn_app, spawn_sim,
    status, write_web_config, Running, TestApp, SECRET,
};

/// A CA, a server certificate for 127.0.0.1 and a client certificate (SAN `scraper`), as PEM
/// files in a folder that goes with it.
pub struct Pki {
    pub dir: TempDir,
    pub ca: String,
    client_identity: String,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let dir = scratch_dir(&format!("pki-{name}"));
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca =
            CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");

        let leaf = |purpose: ExtendedKeyUsagePurpose, sans: Vec<String>| {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(sans).expect("params");
            params.extended_key_usages = vec![purpose];
            let cert = params.signed_by(&key, &ca).expect("signed");
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf(
            ExtendedKeyUsagePurpose::ServerAuth,
            vec!["127.0.0.1".into()],
        );
        let (client_cert, client_key) =
            leaf(ExtendedKeyUsagePurpose::ClientAuth, vec!["scraper".into()]);
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write");
        std::fs::write(dir.path().join("server.pem"), &server_cert).expect("write");
        std::fs::write(dir.path().join("server.key"), &server_key).expect("write");
        Pki {
            dir,
            ca: ca.pem(),
            client_identity: format!("{client_cert}{client_key}"),
        }
    }

    pub fn web_config(&self, name: &str, extra: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(
            &path,
            format!("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n{extra}"),
        )
        .expect("write");
        path
    }

    pub fn client(&self, with_identity: bool) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca.as_bytes()).expect("ca"))
            .timeout(Duration::from_secs(5));
        if with_identity {
            builder = builder.identity(
                reqwest::Identity::from_pem(self.client_identity.as_bytes()).expect("identity"),
            );
        }
        builder.build().expect("client")
    }
}

pub async fn app_with_web_config(path: PathBuf) -> TestApp {
    let sim = spawn_sim(500, 1).await;
    let mut cfg = config(&sim.api_url(), Strategy::Scan);
    cfg.web_config = Some(WebConfigFile::load(path).expect("valid web config"));
    let app = spawn_app(cfg).await;
    app.poller.poll_once().await.expect("poll");
    // The app keeps polling state only; the simulator may go.
    drop(sim);
    app
}

#[tokio::test]
async fn tls_serves_https_and_refuses_plaintext() {
    let pki = Pki::new("tls");
    let app = app_with_web_config(pki.web_config("web.yml", "")).await;
    let https = format!("https://{}/metrics", app.address);
    let response = pki
        .client(false)
        .get(&https)
        .send()
        .await
        .expect("TLS handshake and request");
    assert_eq!(response.status(), 200);
    assert!(response.text().await.expect("body").contains("corbado_up"));

    let plain = reqwest::Client::new()
        .get(format!("http://{}/metrics", app.address))
        .send()
        .await;
    assert!(plain.is_err(), "plaintext must not be answered: {plain:?}");
    // A client that does not trust our CA fails the handshake.
    assert!(reqwest::get(&https).await.is_err());
}

#[tokio::test]
async fn mutual_tls_accepts_a_client_certificate_from_the_ca_and_refuses_none() {
    let pki = Pki::new("mtls");
    let web = pki.web_config(
        "web.yml",
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  min_version: TLS12\n",
    );
    let app = app_with_web_config(web).await;
    let url = format!("https://{}/-/healthy", app.address);
    let ok = pki.client(true).get(&url).send().await.expect("mTLS");
    assert_eq!(ok.status(), 200);
    assert!(
        pki.client(false).get(&url).send().await.is_err(),
        "no client certificate, no entry"
    );
    // A certificate from another CA is refused too.
    let stranger = Pki::new("stranger");
    let foreign = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca.as_bytes()).expect("ca"))
        .identity(
            reqwest::Identity::from_pem(stranger.client_identity.as_bytes()).expect("identity"),
        )
        .build()
        .expect("client");
    assert!(foreign.get(&url).send().await.is_err());
}

/// `corbado-exporter --web.config.check` on `path`.
fn check_web_config(path: &std::path::Path) -> std::process::Output {
    let path = path.to_str().expect("UTF-8 path");
    // No project at all, nor --demo: the check stands alone, as promtool's do, on a machine that
    // has no credentials (it used to exit 2 with "--corbado.project-id required").
    // (`exporter` clears every CORBADO_ variable.)
    exporter(&["--web.config.check", "--web.config.file", path])
        .output()
        .expect("runs")
}

/// `text` written to a file `name` in a folder of its own; the folder goes when the guard drops.
#[tokio::test]
async fn basic_auth_guards_every_endpoint_and_reloads_when_the_file_changes() {
    let alice = bcrypt::hash("wonderland", 4).expect("hash");
    let (_dir, path) = write_web_config(
        "auth.yml",
        &format!("basic_auth_users:\n  alice: '{alice}'\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n"),
    );
    let app = app_with_web_config(path.clone()).await;
    let client = reqwest::Client::new();
    for endpoint in [
        "/metrics",
        "/",
        "/config",
        "/logs",
        "/runbook",
        "/-/healthy",
        "/-/ready",
    ] {
        let url = app.url(endpoint);
        let none = client.get(&url).send().await.expect("request");
        assert_eq!(none.status(), 401, "{endpoint} without credentials");
        assert_eq!(
            none.headers()["www-authenticate"],
            "Basic realm=\"corbado-exporter\""
        );
        assert_eq!(none.headers()["x-frame-options"], "deny");
        let wrong = client
            .get(&url)
            .basic_auth("alice", Some("queen"))
            .send()
            .await
            .expect("request");
        assert_eq!(wrong.status(), 401, "{endpoint} with a wrong password");
        assert!(wrong.headers().contains_key("www-authenticate"));
        let right = client
            .get(&url)
            .basic_auth("alice", Some("wonderland"))
            .send()
            .await
            .expect("request");
        assert_eq!(right.status(), 200, "{endpoint} with the right password");
        assert_eq!(right.headers()["x-frame-options"], "deny");
    }

    // Replace alice with bob; the watcher would notice within 2 s, the test asks at once.
    let bob = bcrypt::hash("builder", 4).expect("hash");
    std::fs::write(&path, format!("basic_auth_users:\n  bob: '{bob}'\n  \n")).expect("rewrite");
    assert!(app_web(&app).reload_if_changed());
    let url = app.url("/metrics");
    assert_eq!(status_as(&client, &url, "bob", "builder").await, 200);
    assert_eq!(status_as(&client, &url, "alice", "wonderland").await, 401);

    // A broken file on reload is refused and the last good one stays.
    std::fs::write(&path, "basic_auth_users: [not, a, map\n").expect("rewrite");
    assert!(!app_web(&app).reload_if_changed());
    assert_eq!(status_as(&client, &url, "bob", "builder").await, 200);
}

/// The status of a GET of `url` with basic-auth credentials.
async fn status_as(client: &reqwest::Client, url: &str, user: &str, password: &str) -> u16 {
    status(client, reqwest::Method::GET, url, Some((user, password))).await
}

fn app_web(app: &TestApp) -> Arc<LiveWebConfig> {
    Arc::clone(&app.web)
}

#[tokio::test]
async fn sighup_makes_the_running_binary_reread_its_web_config() {
    let alice = bcrypt::hash("secret", 4).expect("hash");
    let bobby = bcrypt::hash("secret", 4).expect("hash");
    let (_dir, path) = write_web_config(
        "hup.yml",
        &format!("basic_auth_users:\n  alice: '{alice}'\n"),
    );
    let running = Running::start(exporter(&[
        "--demo",
        "--web.listen-address",
        "127.0.0.1:0",
        "--web.config.file",
        path.to_str().expect("path"),
    ]));
    let url = format!("http://{}/-/healthy", running.address().await);
    let client = reqwest::Client::new();
    assert_eq!(status_as(&client, &url, "alice", "secret").await, 200);

    // Same length, same modification time: the file watcher sees nothing, only SIGHUP can tell.
    let modified = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .expect("mtime");
    std::fs::write(&path, format!("basic_auth_users:\n  bobby: '{bobby}'\n")).expect("rewrite");
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(modified))
        .expect("restore mtime");
    assert_eq!(
        status_as(&client, &url, "alice", "secret").await,
        200,
        "not reloaded yet"
    );

    let pid = running.pid().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill")
        .success());
    crate::helpers::eventually(Duration::from_secs(10), "the reload", || {
        let (client, url) = (client.clone(), url.clone());
        async move { status_as(&client, &url, "bobby", "secret").await == 200 }
    })
    .await;
    // The log line follows the swap: wait for it too before stopping the process.
    crate::helpers::eventually(Duration::from_secs(10), "the reload's log line", || async {
        running.log().contains("web config reloaded")
    })
    .await;
    assert_eq!(status_as(&client, &url, "alice", "secret").await, 401);
    let (code, log) = running.terminate().await;
    assert_eq!(code, Some(0));
    assert!(log.contains("web config reloaded"), "{log}");
}

#[test]
fn a_malformed_web_config_stops_start_up_with_its_line_and_check_mode_validates() {
    let (_bad_dir, bad) = write_web_config(
        "bad.yml",
        "tls_server_config:\n  cert_file: a.pem\n  key_flie: b.pem\n",
    );
    let output = exporter(&["--demo", "--web.config.file", bad.to_str().expect("path")])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first = stderr.lines().next().unwrap_or("");
    assert!(
        first.contains("--web.config.file") && first.contains("bad.yml"),
        "{first}"
    );
    assert!(first.contains("line 3"), "{first}");

    let check = check_web_config(&bad);
    assert_eq!(check.status.code(), Some(2));

    let alice = bcrypt::hash("x", 4).expect("hash");
    let (_good_dir, good) = write_web_config(
        "good.yml",
        &format!("basic_auth_users:\n  alice: '{alice}'\n"),
    );
    let check = check_web_config(&good);
    assert_eq!(check.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&check.stdout).trim(),
        "web config OK"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_greedy_clients_do_not_stop_scrapes_or_polls() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let sim = spawn_sim(2_000, 1).await;
    let mut cfg = config(&sim.api_url(), Strategy::Scan);
    cfg.limits = Limits {
        header_read_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let app = spawn_app(cfg).await;
    app.poller.poll_once().await.expect("poll");
    let address = app.address;

    // 200 clients that send half a request head and then nothing.
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        slow.push(stream);
    }
    // Meanwhile 64 concurrent scrapers, 10 scrapes each, all served.
    let mut scrapers = Vec::new();
    for _ in 0..64 {
        let url = app.url("/metrics");
        scrapers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut ok = 0;
            for _ in 0..10 {
                if client
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
                {
                    ok += 1;
                }
            }
            ok
        }));
    }
    let mut served = 0;
    for s in scrapers {
        served += s.await.expect("scraper");
    }
    assert_eq!(served, 640);
    app.poller.poll_once().await.expect("polling goes on");

    // The slow clients are cut off once their header time is up.
    let mut buf = vec![0u8; 512];
    // 60 s only guards against a hang: the 1 s header timeout has long passed by now.
    let read = tokio::time::timeout(Duration::from_secs(60), slow[0].read(&mut buf))
        .await
        .expect("the server closes a slow client within its header timeout");
    let n = read.unwrap_or(0);
    let answer = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(
        n == 0 || answer.starts_with("HTTP/1.1 408"),
        "closed or 408, got {answer:?}"
    );

    // A request head over the size limit is refused, not buffered.
    let mut big = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let _ = big.write_all(huge.as_bytes()).await;
    let read = tokio::time::timeout(Duration::from_secs(60), big.read(&mut buf))
        .await
        .expect("an answer or a close");
    let n = read.unwrap_or(0);
    let answer = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(
        n == 0 || answer.starts_with("HTTP/1.1 431"),
        "closed or 431, got {answer:?}"
    );
}

#[tokio::test]
async fn no_endpoint_or_path_shows_the_secret_or_the_upstream_url() {
    let sim = spawn_sim(500, 1).await;
    let app = spawn_app(config(&sim.api_url(), Strategy::Auto)).await;
    app.poller.poll_once().await.expect("poll");
    let upstream = sim.address.to_string();
    for path in [
        "/",
        "/metrics",
        "/-/healthy",
        "/-/ready",
        "/config",
        "/logs",
        "/runbook",
        "/debug/pprof",
        "/metrics?debug=1",
        "/%2e%2e/etc/passwd",
    ] {
        let response = reqwest::get(app.url(path)).await.expect("request");
        let body = response.text().await.expect("body");
        assert!(!body.contains(SECRET), "{path} shows the secret");
        // `/config` names the API URL on purpose (it holds no credentials: a URL with a user
        // or password is refused), so that an operator sees where the exporter polls.
        assert!(
            path == "/config" || !body.contains(&upstream),
            "{path} shows the upstream address"
        );
    }
}

#[tokio::test]
async fn a_custom_ca_file_lets_the_exporter_trust_a_private_api_certificate() {
    let pki = Pki::new("upstream");
    let sim = spawn_sim(500, 2).await;
    // The simulator, served over TLS with the test CA's certificate.
    let web = LiveWebConfig::load(Some(pki.web_config("sim-web.yml", ""))).expect("web config");
    let (address, shutdown) = serve_on_loopback(sim.sim.router(), web).await;
    let api = format!("https://{address}/v2");

    let mut trusted = config(&api, Strategy::Scan);
    trusted.ca =
        CaBundle::read(&pki.dir.path().join("ca.pem"), "--corbado.ca-file").expect("a CA file");
    let app = spawn_app(trusted).await;
    app.poller
        .poll_once()
        .await
        .expect("trusted CA: poll succeeds");

    let untrusted = spawn_app(config(&api, Strategy::Scan)).await;
    let error = untrusted.poller.poll_once().await.expect_err("unknown CA");
    let message = format!("{error:#}");
    assert!(message.to_lowercase().contains("certificate"), "{message}");
    shutdown.cancel();
}

#[tokio::test]
async fn http_proxy_and_no_proxy_from_the_environment_are_honoured() {
    // The simulator doubles as the proxy: a proxied request arrives in absolute form, and the
    // router serves it by its path. The target host never resolves, so only the proxy can answer.
    let sim = spawn_sim(500, 3).await;
    let proxy = format!("http://{}", sim.address);
    for (no_proxy, expect_success) in [("", true), ("corbado.invalid", false)] {
        let mut command = exporter(&[
            "--corbado.api-url",
            "http://corbado.invalid/v2",
            "--corbado.project-id",
            crate::helpers::PROJECT,
            "--web.listen-address",
            "127.0.0.1:0",
            "--corbado.timeout",
            "2s",
        ]);
        command
            .env("CORBADO_API_SECRET", SECRET)
            .env("HTTP_PROXY", &proxy)
            .env("http_proxy", &proxy)
            .env("NO_PROXY", no_proxy)
            .env("no_proxy", no_proxy);
        let running = Running::start(command);
        let address = running.address().await;
        let metrics = format!("http://{address}/metrics");
        let outcome = |text: &str| {
            if text.contains("corbado_up{project_id=\"pro-test\"} 1") {
                Some(true)
            } else if text
                .contains("corbado_exporter_poll_failures_total{project_id=\"pro-test\"} 1")
            {
                Some(false)
            } else {
                None
            }
        };
        let result = eventually_some(Duration::from_secs(60), "a poll to finish", || async {
            let response = reqwest::get(&metrics).await.ok()?;
            outcome(&response.text().await.unwrap_or_default())
        })
        .await;
        assert_eq!(result, expect_success, "NO_PROXY={no_proxy:?}");
        let (code, _) = running.terminate().await;
        assert_eq!(code, Some(0));
    }
}
