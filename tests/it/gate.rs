//! The gate in front of every route: which requests the request cap (`--web.max-requests`) and
//! the web config's `rate_limit` may refuse, and that a request pays its token before bcrypt.
//! Scrapes held inside a handler fill the cap, so the tests wait for the very state they
//! assert instead of racing a clock.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use corbado_exporter::poller::Strategy;
use corbado_exporter::server::gate::{guard, Gate};
use corbado_exporter::server::Paths;
use corbado_exporter::web_config::{LiveWebConfig, WebConfigFile};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::helpers::{
    config, serve_on_loopback, spawn_app, spawn_sim, status, write_web_config, TestApp,
};

/// `alice`'s bcrypt hash (cost 4: these tests count verifications, they do not time them).
fn users(password: &str) -> String {
    let hash = bcrypt::hash(password, 4).expect("hash");
    format!("basic_auth_users:\n  alice: '{hash}'\n")
}

/// A rate limit of `burst` tokens that gives no new one for an hour: longer than any test.
fn rate_limit(burst: u32) -> String {
    format!("rate_limit:\n  interval: 1h\n  burst: {burst}\n")
}

/// An exporter serving `web_config`, polled once.
async fn exporter_with(web_config: PathBuf, enable_lifecycle: bool) -> TestApp {
    let sim = spawn_sim(200, 1).await;
    let mut cfg = config(&sim.api_url(), Strategy::Scan);
    cfg.web_config = Some(WebConfigFile::load(web_config).expect("a valid web config"));
    cfg.enable_lifecycle = enable_lifecycle;
    let app = spawn_app(cfg).await;
    app.poller.poll_once().await.expect("poll");
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_wrong_passwords_on_the_liveness_probe_is_refused_429_before_bcrypt() {
    // Regression: every `/-/` path skipped `rate_limit`, so each wrong password sent to
    // `/-/healthy` cost a bcrypt verification, without limit.
    const BURST: usize = 4;
    let (_dir, path) = write_web_config(
        "web.yml",
        &format!("{}{}", users("wonderland"), rate_limit(BURST as u32)),
    );
    let app = exporter_with(path, false).await;
    let healthy = app.url("/-/healthy");
    let client = reqwest::Client::new();
    let alice = Some(("alice", "wonderland"));
    // The prober's first probe verifies its password, and pays a token for it.
    assert_eq!(
        status(&client, reqwest::Method::GET, &healthy, alice).await,
        200
    );

    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let (client, url) = (client.clone(), healthy.clone());
        flood.spawn(async move {
            let wrong = Some(("alice", "queen"));
            status(&client, reqwest::Method::GET, &url, wrong).await
        });
    }
    let mut answers = Vec::new();
    while let Some(answer) = flood.join_next().await {
        answers.push(answer.expect("a flooding client"));
    }
    let unauthorized = answers.iter().filter(|&&s| s == 401).count();
    let limited = answers.iter().filter(|&&s| s == 429).count();
    assert_eq!(unauthorized + limited, 30, "only 401 or 429: {answers:?}");
    // A 401 is a bcrypt that ran; the tokens left after the prober's are all it may cost.
    let tokens_left = BURST - 1;
    assert!(unauthorized <= tokens_left, "{unauthorized} bcrypt runs");
    assert!(limited >= 30 - tokens_left, "{answers:?}");

    // The flood cannot fail the prober: its verified password and no credentials are exempt.
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        assert_eq!(status(&client, method.clone(), &healthy, alice).await, 200);
        let ready = app.url("/-/ready");
        assert_eq!(status(&client, method, &ready, alice).await, 200);
    }
    let none = status(&client, reqwest::Method::GET, &healthy, None).await;
    assert_eq!(none, 401, "refused at no bcrypt's cost, never 429");
    // A scrape is not a probe, verified or not; a wrong password still pays first.
    let metrics = app.url("/metrics");
    assert_eq!(
        status(&client, reqwest::Method::GET, &metrics, alice).await,
        429
    );
    let wrong = Some(("alice", "queen"));
    assert_eq!(
        status(&client, reqwest::Method::GET, &healthy, wrong).await,
        429
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_reload_is_rate_limited_and_reloading_does_not_refill_the_limit() {
    // Regression: `POST /-/reload` skipped `rate_limit` (and the request cap), and each reload
    // put a fresh, full bucket in force.
    let (_dir, path) = write_web_config("web.yml", &rate_limit(2));
    let app = exporter_with(path, true).await;
    let client = reqwest::Client::new();
    let reload = app.url("/-/reload");
    for _ in 0..2 {
        assert_eq!(
            status(&client, reqwest::Method::POST, &reload, None).await,
            200
        );
    }
    assert_eq!(
        status(&client, reqwest::Method::POST, &reload, None).await,
        429
    );
    let metrics = app.url("/metrics");
    assert_eq!(
        status(&client, reqwest::Method::GET, &metrics, None).await,
        429
    );
    let healthy = app.url("/-/healthy");
    assert_eq!(
        status(&client, reqwest::Method::GET, &healthy, None).await,
        200
    );
}

/// Scrapes that stay in their handler until released, so that a test can fill the request cap
/// and know it is full.
#[derive(Clone)]
struct Held {
    /// One message per scrape that reached its handler.
    entered: mpsc::UnboundedSender<()>,
    /// Closed until the test lets the held scrapes answer.
    release: Arc<Semaphore>,
}

async fn held_scrape(State(held): State<Held>) -> &'static str {
    let _ = held.entered.send(());
    let _ = held.release.acquire().await;
    "metrics\n"
}

/// The real gate (request cap `max_requests`, web config at `path`) in front of stand-in routes:
/// a `/metrics` that holds, the probes, and `/-/reload`. Serves on loopback until the token is
/// cancelled.
async fn gated(
    path: PathBuf,
    max_requests: usize,
) -> (String, Held, mpsc::UnboundedReceiver<()>, CancellationToken) {
    let (entered, arrivals) = mpsc::unbounded_channel();
    let held = Held {
        entered,
        release: Arc::new(Semaphore::new(0)),
    };
    let web = LiveWebConfig::load(Some(path)).expect("a valid web config");
    let router = Router::new()
        .route("/metrics", get(held_scrape))
        .route("/-/healthy", get(|| async { "Healthy\n" }))
        .route("/-/ready", get(|| async { "Ready\n" }))
        .route("/-/reload", post(|| async { "reloaded\n" }))
        .with_state(held.clone())
        .layer(middleware::from_fn_with_state(
            Gate::new(Arc::clone(&web), max_requests, Paths::root("/metrics")),
            guard,
        ));
    let (address, shutdown) = serve_on_loopback(router, web).await;
    (format!("http://{address}"), held, arrivals, shutdown)
}

/// Starts `count` scrapes as `credentials` and returns once every one is inside its handler,
/// holding its place under the request cap.
async fn hold_scrapes(
    base: &str,
    count: usize,
    credentials: Option<(&'static str, &'static str)>,
    arrivals: &mut mpsc::UnboundedReceiver<()>,
) -> tokio::task::JoinSet<u16> {
    let mut scrapes = tokio::task::JoinSet::new();
    for _ in 0..count {
        let url = format!("{base}/metrics");
        scrapes.spawn(async move {
            let client = reqwest::Client::new();
            status(&client, reqwest::Method::GET, &url, credentials).await
        });
    }
    for _ in 0..count {
        arrivals.recv().await.expect("a held scrape arrives");
    }
    scrapes
}

/// Lets the held scrapes answer and returns their statuses.
async fn release(held: &Held, mut scrapes: tokio::task::JoinSet<u16>) -> Vec<u16> {
    held.release.close();
    let mut statuses = Vec::new();
    while let Some(status) = scrapes.join_next().await {
        statuses.push(status.expect("a held scrape"));
    }
    statuses
}

#[tokio::test]
async fn a_burst_of_scrapes_past_the_request_cap_and_the_rate_limit_cannot_fail_a_liveness_probe() {
    // Pins what the exemption is for (it shipped untested): a burst of scrapes must not get a
    // probe a 503 or a 429, and the pod restarted.
    let (_dir, path) = write_web_config("web.yml", &rate_limit(3));
    let (base, held, mut arrivals, shutdown) = gated(path, 2).await;
    let client = reqwest::Client::new();
    let (get, head) = (reqwest::Method::GET, reqwest::Method::HEAD);
    let scrapes = hold_scrapes(&base, 2, None, &mut arrivals).await;
    let metrics = format!("{base}/metrics");
    assert_eq!(
        status(&client, get.clone(), &metrics, None).await,
        503,
        "the cap is full"
    );
    let reload = format!("{base}/-/reload");
    let reloaded = status(&client, reqwest::Method::POST, &reload, None).await;
    assert_eq!(reloaded, 503, "a reload is no probe");
    for probe in ["/-/healthy", "/-/ready"] {
        let url = format!("{base}{probe}");
        assert_eq!(
            status(&client, get.clone(), &url, None).await,
            200,
            "{probe}"
        );
        assert_eq!(
            status(&client, head.clone(), &url, None).await,
            200,
            "{probe}"
        );
    }
    assert_eq!(release(&held, scrapes).await, [200, 200]);

    // Two tokens went to the held scrapes; the third scrape takes the last, the next finds none.
    assert_eq!(status(&client, get.clone(), &metrics, None).await, 200);
    assert_eq!(status(&client, get.clone(), &metrics, None).await, 429);
    assert_eq!(
        status(&client, reqwest::Method::POST, &reload, None).await,
        429
    );
    let healthy = format!("{base}/-/healthy");
    assert_eq!(status(&client, get, &healthy, None).await, 200);
    shutdown.cancel();
}

#[tokio::test]
async fn a_probe_with_verified_credentials_is_exempt_and_one_with_wrong_credentials_is_not() {
    let text = format!("{}{}", users("wonderland"), rate_limit(3));
    let (_dir, path) = write_web_config("web.yml", &text);
    let (base, held, mut arrivals, shutdown) = gated(path, 2).await;
    let client = reqwest::Client::new();
    let get = reqwest::Method::GET;
    let (alice, wrong) = (Some(("alice", "wonderland")), Some(("alice", "queen")));
    let healthy = format!("{base}/-/healthy");
    // Not verified yet: the first probe pays a token (two left) and its bcrypt.
    assert_eq!(status(&client, get.clone(), &healthy, alice).await, 200);

    let scrapes = hold_scrapes(&base, 2, alice, &mut arrivals).await;
    let metrics = format!("{base}/metrics");
    assert_eq!(
        status(&client, get.clone(), &metrics, alice).await,
        503,
        "the cap is full"
    );
    assert_eq!(
        status(&client, get.clone(), &healthy, alice).await,
        200,
        "verified: exempt"
    );
    assert_eq!(
        status(&client, get.clone(), &healthy, wrong).await,
        503,
        "wrong: capped"
    );
    let stranger = Some(("mallory", "wonderland"));
    assert_eq!(status(&client, get.clone(), &healthy, stranger).await, 503);
    assert_eq!(release(&held, scrapes).await, [200, 200]);

    // No token is left: the wrong password is refused before its bcrypt; alice's probe is not.
    assert_eq!(status(&client, get.clone(), &healthy, wrong).await, 429);
    assert_eq!(status(&client, get.clone(), &healthy, alice).await, 200);
    assert_eq!(status(&client, get.clone(), &metrics, alice).await, 429);
    let none = status(&client, get, &healthy, None).await;
    assert_eq!(
        none, 401,
        "no credentials: exempt, and refused at no bcrypt's cost"
    );
    shutdown.cancel();
}
