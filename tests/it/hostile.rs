//! An upstream that misbehaves on purpose, over real HTTP: it lies about paging, ignores the
//! page asked for, stalls or breaks off its bodies, echoes the credentials, sends label values no
//! Prometheus accepts, and bodies of the wrong shape. Each test pins what the exporter does and
//! what it says.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::RawQuery;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use corbado_exporter::metrics::user_label::EMPTY_USER_ID;
use corbado_exporter::poller::Strategy;
use tokio_util::sync::CancellationToken;

use crate::helpers::{
    config, eventually, exporter_polling, parse_samples, spawn_app, value, Running, TestApp,
    PROJECT, SECRET,
};

/// What one request asked for.
struct Asked {
    page: u64,
    authorization: String,
}

type Behaviour = Arc<dyn Fn(&Asked) -> Response + Send + Sync>;

/// The hostile upstream: its address and how many requests it got; stops when dropped.
struct Hostile {
    address: SocketAddr,
    requests: Arc<AtomicU64>,
    shutdown: CancellationToken,
}

impl Hostile {
    async fn start(behaviour: impl Fn(&Asked) -> Response + Send + Sync + 'static) -> Hostile {
        let behaviour: Behaviour = Arc::new(behaviour);
        let requests = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&requests);
        let handler = move |headers: HeaderMap, RawQuery(query): RawQuery| {
            let behaviour = Arc::clone(&behaviour);
            counter.fetch_add(1, Ordering::Relaxed);
            async move {
                let query = query.unwrap_or_default();
                let page = form_urlencoded::parse(query.as_bytes())
                    .find(|(k, _)| k == "page")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(1);
                let authorization = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                behaviour(&Asked {
                    page,
                    authorization,
                })
            }
        };
        let router = axum::Router::new().route("/v2/sessions", axum::routing::get(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        });
        Hostile {
            address,
            requests,
            shutdown,
        }
    }

    fn api_url(&self) -> String {
        format!("http://{}/v2", self.address)
    }

    fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A page of active sessions `ids`, each held by `user(id)`, with the paging numbers given.
fn page_json(
    ids: std::ops::Range<u64>,
    user: impl Fn(u64) -> String,
    page: u64,
    total: u64,
) -> String {
    let sessions: Vec<String> = ids
        .map(|i| {
            format!(
                r#"{{"sessionID":"ses-{i}","userID":"{}","identifierValue":"user{i}@example.com","createdMs":1700000000000,"lastActionMs":1700000000000,"expiresMs":4102444800000,"status":"active"}}"#,
                user(i)
            )
        })
        .collect();
    format!(
        r#"{{"sessions":[{}],"paging":{{"page":{page},"totalPages":{},"totalItems":{total}}}}}"#,
        sessions.join(","),
        total.div_ceil(100)
    )
}

fn json(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// An exporter that scans `upstream` (no filters: the hostile upstream answers none), with a
/// short timeout.
async fn scanning(upstream: &Hostile) -> TestApp {
    let mut config = config(&upstream.api_url(), Strategy::Scan);
    config.settings.timeout = Duration::from_millis(300);
    spawn_app(config).await
}

async fn requests_with_code(app: &TestApp, code: &str) -> Option<f64> {
    let samples = parse_samples(&app.scrape().await);
    value(
        &samples,
        "corbado_exporter_api_requests_total",
        &[("code", code)],
    )
}

/// Before: ~500,000 requests for empty pages, hours against the customer's quota.
#[tokio::test]
async fn a_total_of_fifty_million_with_one_page_of_data_ends_at_the_first_empty_page() {
    let upstream = Hostile::start(|asked| {
        let ids = if asked.page == 1 { 0..100 } else { 0..0 };
        json(page_json(
            ids,
            |i| format!("usr-{i}"),
            asked.page,
            50_000_000,
        ))
    })
    .await;
    let app = scanning(&upstream).await;
    let error = app.poller.poll_once().await.expect_err("implausible");
    let message = format!("{error:#}");
    assert!(
        message.contains("claimed 50000000") && message.contains("came back empty"),
        "{message}"
    );
    // Page 1, then the pages already in flight when page 2 came back empty.
    assert!(
        upstream.requests() <= 1 + 4,
        "{} requests",
        upstream.requests()
    );
    assert!(
        app.store.snapshot().is_none(),
        "nothing partial is published"
    );
}

/// Before: a tenth of the data published as complete, `corbado_up 1`, `duplicates=900` at info.
#[tokio::test]
async fn an_upstream_that_ignores_the_page_asked_for_is_caught_at_once() {
    // A caching proxy that drops the query string: page 1, whatever was asked.
    let upstream =
        Hostile::start(|_| json(page_json(0..100, |i| format!("usr-{i}"), 1, 1000))).await;
    let app = scanning(&upstream).await;
    let error = app.poller.poll_once().await.expect_err("caught");
    let message = format!("{error:#}");
    assert!(
        message.contains("untrustworthy paging") && message.contains("answered with page 1"),
        "{message}"
    );
    assert!(
        upstream.requests() <= 1 + 4,
        "not retried: {}",
        upstream.requests()
    );
    let samples = parse_samples(&app.scrape().await);
    assert_eq!(value(&samples, "corbado_up", &[]), Some(0.0));
}

#[tokio::test]
async fn an_upstream_that_echoes_the_page_but_repeats_its_sessions_fails_on_duplicates() {
    let upstream =
        Hostile::start(|asked| json(page_json(0..100, |i| format!("usr-{i}"), asked.page, 1000)))
            .await;
    let app = scanning(&upstream).await;
    let error = app.poller.poll_once().await.expect_err("caught");
    let message = format!("{error:#}");
    assert!(
        message.contains("900 of the 1000 sessions received came twice"),
        "{message}"
    );
    assert!(app.store.snapshot().is_none());
}

/// Before: counted as `code="200"`, so dashboards and alerts on `error` missed it.
#[tokio::test]
async fn a_body_that_stalls_or_breaks_off_after_its_headers_counts_as_an_error() {
    let stalling = Hostile::start(|_| {
        let start = futures_util::stream::once(async {
            Ok::<_, Infallible>(Bytes::from_static(b"{\"sessions\":["))
        });
        let body = Body::from_stream(futures_util::StreamExt::chain(
            start,
            futures_util::stream::pending(),
        ));
        (StatusCode::OK, body).into_response()
    })
    .await;
    let app = scanning(&stalling).await;
    let error = app.poller.poll_once().await.expect_err("times out");
    assert!(format!("{error:#}").contains("timed out"), "{error:#}");
    assert_eq!(
        requests_with_code(&app, "error").await,
        Some(5.0),
        "retried"
    );
    assert_eq!(requests_with_code(&app, "200").await, None);

    let breaking_off = Hostile::start(|_| {
        let half = futures_util::stream::once(async {
            Ok::<_, Infallible>(Bytes::from_static(b"{\"sessions\":["))
        });
        let mut response = (StatusCode::OK, Body::from_stream(half)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, 1000.into());
        response
    })
    .await;
    let app = scanning(&breaking_off).await;
    app.poller.poll_once().await.expect_err("cut short");
    assert_eq!(requests_with_code(&app, "error").await, Some(5.0));
    assert_eq!(requests_with_code(&app, "200").await, None);
}

/// An error body that echoes the request's `Authorization` header and the decoded secret.
fn echo_credentials(asked: &Asked) -> Response {
    let decoded = asked
        .authorization
        .strip_prefix("Basic ")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let body = format!(
        r#"{{"httpStatusCode":400,"message":"Bad Request","requestData":{{"requestID":"req-1"}},"runtime":0,"error":{{"type":"bad_header","details":"rejected Authorization: {} ({decoded})"}}}}"#,
        asked.authorization
    );
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Before: the base64 credentials reached the log line.
#[tokio::test]
async fn echoed_credentials_reach_neither_the_error_nor_the_log() {
    let upstream = Hostile::start(echo_credentials).await;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{PROJECT}:{SECRET}"));
    let app = scanning(&upstream).await;
    let message = format!("{:#}", app.poller.poll_once().await.expect_err("400"));
    assert!(message.contains("[redacted]"), "{message}");
    for leak in [SECRET, encoded.as_str()] {
        assert!(!message.contains(leak), "{message}");
    }

    let command = exporter_polling(
        &upstream.api_url(),
        SECRET,
        &["--poll.strategy", "scan", "--log.level", "trace"],
    );
    let running = Running::start(command);
    eventually(
        Duration::from_secs(20),
        "the failed poll's log line",
        || async { running.log().contains("poll failed") },
    )
    .await;
    let (code, log) = running.terminate().await;
    assert_eq!(code, Some(0));
    assert!(log.contains("[redacted]"), "{log}");
    assert!(!log.contains(SECRET), "the secret leaked into the log");
    assert!(
        !log.contains(&encoded),
        "the base64 credentials leaked into the log"
    );
}

/// Before: a 10,000-character ID was exported whole, and an empty one as `user_id=""`.
#[tokio::test]
async fn long_and_empty_user_ids_become_bounded_named_labels() {
    let long = "u".repeat(10_000);
    let upstream = Hostile::start(move |asked| {
        let user = |i: u64| match i % 3 {
            0 => long.clone(),
            1 => String::new(),
            _ => format!("usr-{i}"),
        };
        json(page_json(0..30, user, asked.page, 30))
    })
    .await;
    let app = scanning(&upstream).await;
    app.poller.poll_once().await.expect("poll");
    let text = app.scrape().await;
    let longest = text.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 400, "a line of {longest} bytes");
    let samples = parse_samples(&text);
    let users = |id: &str| value(&samples, "corbado_user_active_sessions", &[("user_id", id)]);
    assert_eq!(users(EMPTY_USER_ID), Some(10.0));
    let hashed = text
        .lines()
        .find(|l| l.contains("user_id=\"sha256:"))
        .expect("the long ID, hashed");
    assert!(hashed.ends_with(" 10"), "{hashed}");
    assert!(!text.contains("user_id=\"\""));
}

/// serde quotes a wrong-typed value in its error; an upstream that puts the secret there must
/// not get it into the error either.
#[tokio::test]
async fn a_secret_quoted_by_a_decoding_error_is_redacted() {
    let upstream = Hostile::start(|asked| {
        json(
            page_json(0..1, |i| format!("usr-{i}"), asked.page, 1)
                .replace("\"totalItems\":1", &format!("\"totalItems\":\"{SECRET}\"")),
        )
    })
    .await;
    let app = scanning(&upstream).await;
    let message = format!(
        "{:#}",
        app.poller.poll_once().await.expect_err("wrong type")
    );
    assert!(message.contains("invalid type"), "{message}");
    assert!(!message.contains(SECRET), "{message}");
}

/// Before: retried five times, each answer the same.
#[tokio::test]
async fn a_body_of_the_wrong_shape_is_not_retried() {
    let upstream = Hostile::start(|asked| {
        json(
            page_json(0..1, |i| format!("usr-{i}"), asked.page, 1)
                .replace("\"totalItems\":1", "\"totalItems\":\"one\""),
        )
    })
    .await;
    let app = scanning(&upstream).await;
    let error = app.poller.poll_once().await.expect_err("wrong shape");
    assert!(
        format!("{error:#}").contains("malformed response"),
        "{error:#}"
    );
    assert_eq!(upstream.requests(), 1);
    assert_eq!(requests_with_code(&app, "200").await, Some(1.0));
}
