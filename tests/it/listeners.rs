//! Where the exporter listens and under which path: several `--web.listen-address`es, the
//! sockets systemd passes (`--web.systemd-socket`, through Debian's `systemd-socket-activate`),
//! and `--web.route-prefix` / `--web.external-url` behind a reverse proxy, with every link of the
//! status page followed in headless Chromium.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use crate::status::dump_dom;
use corbado_exporter::app::App;
use corbado_exporter::poller::Strategy;
use corbado_exporter::server::Paths;
use tokio_util::sync::CancellationToken;

use crate::helpers::{
    config, eventually_some, free_port, scratch_dir, spawn_app, spawn_sim, tool_available,
    without_corbado_env, Running, TestApp, TestSim,
};

/// `GET http://{address}{path}` without following redirects: status, `Location`, body.
async fn get(address: SocketAddr, path: &str) -> (u16, Option<String>, String) {
    // The timeout only guards against a hang: a request an exporter never accepts fails.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("a client");
    let response = client
        .get(format!("http://{address}{path}"))
        .send()
        .await
        .expect("an answer");
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = response.status().as_u16();
    (status, location, response.text().await.expect("a body"))
}

#[tokio::test]
async fn every_listen_address_serves_the_same_routes() {
    let sim = spawn_sim(300, 4).await;
    let mut config = config(&sim.api_url(), Strategy::Scan);
    config.listen_addresses = vec!["127.0.0.1:0".into(), "127.0.0.1:0".into()];
    let shutdown = CancellationToken::new();
    let app = App::build(config, &shutdown).await.expect("builds");
    let addresses = app.addresses.clone();
    let (_, poller) = app.project("pro-test").expect("the project");
    poller.poll_once().await.expect("poll");
    tokio::spawn(app.serve(shutdown.clone()));
    assert_eq!(addresses.len(), 2);
    assert_ne!(addresses[0], addresses[1]);
    for address in addresses {
        let (status, _, metrics) = get(address, "/metrics").await;
        assert_eq!(status, 200, "{address}");
        assert!(
            metrics.contains("corbado_up{project_id=\"pro-test\"} 1"),
            "{address}"
        );
        assert_eq!(get(address, "/-/healthy").await.0, 200, "{address}");
    }
    shutdown.cancel();
}

/// An exporter with these paths, polled once, and the simulator it polls.
async fn prefixed_app(external_url: Option<&str>, prefix: Option<&str>) -> (TestSim, TestApp) {
    let sim = spawn_sim(300, 5).await;
    let mut config = config(&sim.api_url(), Strategy::Scan);
    let external = external_url.map(|u| reqwest::Url::parse(u).expect("a URL"));
    config.paths = Paths::new("/metrics", prefix, external.as_ref()).expect("valid paths");
    let app = spawn_app(config).await;
    app.poller.poll_once().await.expect("poll");
    (sim, app)
}

#[tokio::test]
async fn under_a_route_prefix_every_route_lives_beneath_it_and_the_root_leads_there() {
    let (_sim, app) = prefixed_app(None, Some("/corbado/")).await;
    for path in [
        "/",
        "/config",
        "/logs",
        "/runbook",
        "/metrics",
        "/-/healthy",
        "/-/ready",
    ] {
        let (status, _, _) = get(app.address, &format!("/corbado{path}")).await;
        assert_eq!(status, 200, "/corbado{path}");
    }
    for path in ["/metrics", "/config", "/-/healthy", "/corbadometrics"] {
        assert_eq!(
            get(app.address, path).await.0,
            404,
            "{path} outside the prefix"
        );
    }
    for path in ["/", "/corbado"] {
        let (status, location, _) = get(app.address, path).await;
        assert_eq!(
            (status, location.as_deref()),
            (303, Some("/corbado/")),
            "{path}"
        );
    }
    let (_, _, page) = get(app.address, "/corbado/").await;
    for link in [
        "/corbado/metrics",
        "/corbado/config",
        "/corbado/logs",
        "/corbado/runbook",
    ] {
        assert!(
            page.contains(&format!("href=\"{link}\"")),
            "{link} in {page}"
        );
    }
    let (_, _, config) = get(app.address, "/corbado/config").await;
    assert!(config.contains("route_prefix: /corbado"), "{config}");
}

#[tokio::test]
async fn behind_a_proxy_that_strips_the_prefix_links_keep_the_external_path() {
    let (_sim, app) = prefixed_app(Some("https://ops.example.com/corbado/"), Some("/")).await;
    let (status, _, page) = get(app.address, "/").await;
    assert_eq!(status, 200);
    assert!(page.contains("href=\"/corbado/config\""), "{page}");
    let (_, _, runbook) = get(app.address, "/runbook").await;
    assert!(runbook.contains("href=\"/corbado/logs\""), "{runbook}");
    let (_, _, config) = get(app.address, "/config").await;
    assert!(
        config.contains("external_url: https://ops.example.com/corbado"),
        "{config}"
    );
}

/// The `href`s of an HTML page, as written.
fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| {
            rest.split_once('"')
                .map(|(href, _)| href.replace("&amp;", "&"))
        })
        .collect()
}

#[tokio::test]
async fn chromium_resolves_every_link_of_the_status_page_under_a_prefix() {
    if !tool_available("chromium") {
        return;
    }
    let (_sim, app) = prefixed_app(None, Some("/corbado")).await;
    let scratch = scratch_dir("listeners-chromium");
    let profile = scratch.path().join("profile");
    // Without the trailing slash: Chromium follows the redirect to the page.
    let page_url = format!("http://{}/corbado", app.address);
    let (dom, _) = dump_dom(&profile, &page_url).await;
    assert!(dom.contains("id=\"project-pro-test\""), "{dom}");
    let base = reqwest::Url::parse(&format!("{page_url}/")).expect("a URL");
    let links = hrefs(&dom);
    assert!(links.len() >= 6, "{links:?}");
    for link in links {
        let target = base.join(&link).expect("a link that resolves");
        assert!(
            target.path().starts_with("/corbado/"),
            "{link} leaves the prefix"
        );
        let (shown, _) = dump_dom(&profile, target.as_str()).await;
        let status = reqwest::get(target.clone())
            .await
            .expect("an answer")
            .status();
        assert_eq!(status, 200, "{link} -> {target}: {shown}");
        assert!(!shown.trim().is_empty(), "{target} showed nothing");
    }
}

#[tokio::test]
async fn systemd_socket_activation_serves_on_the_socket_systemd_passes() {
    if !tool_available("systemd-socket-activate") {
        return;
    }
    // systemd-socket-activate must be told its port; another test may take a free one first,
    // so a port found taken is tried again with another.
    let mut started = None;
    for _ in 0..5 {
        let listen = format!("127.0.0.1:{}", free_port());
        let running = Running::start(socket_activated(&listen));
        let said = eventually_some(Duration::from_secs(30), "the socket to listen", || {
            let log = running.log();
            let said = if log.contains(&format!("Listening on {listen}")) {
                Some(true)
            } else {
                log.contains("Address already in use").then_some(false)
            };
            async move { said }
        })
        .await;
        if said {
            started = Some((running, listen));
            break;
        }
    }
    let (running, listen) = started.expect("a free port within five tries");
    // Once systemd-socket-activate listens, the first connection makes it exec the exporter,
    // which accepts that very connection from the socket it was passed.
    let address: SocketAddr = listen.parse().expect("an address");
    let (status, _, body) = get(address, "/-/healthy").await;
    assert_eq!((status, body.as_str()), (200, "Healthy\n"));
    let (_, _, config) = get(address, "/config").await;
    assert!(config.contains("systemd_socket: true"), "{config}");
    let (code, log) = running.terminate().await;
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains(&format!("address={listen}")), "{log}");
}

/// systemd-socket-activate listening on `listen` for the exporter in `--demo`, which is to take
/// its socket. Were it to ignore the socket, it would listen on port 1 instead, and the requests
/// to `listen` would go unanswered (their timeout fails them).
fn socket_activated(listen: &str) -> Command {
    let mut command = Command::new("systemd-socket-activate");
    command.args(["-l", listen, env!("CARGO_BIN_EXE_corbado-exporter")]);
    command.args([
        "--web.systemd-socket",
        "--demo",
        "--web.listen-address",
        "127.0.0.1:1",
    ]);
    without_corbado_env(&mut command);
    command
}
