//! The HTTP side: `/metrics` (or `--web.telemetry-path`), the status page, `/config`, `/logs`,
//! `/runbook`, health endpoints, and `POST /-/reload` with `--web.enable-lifecycle`.
//!
//! [`router`] builds the whole `Router` from shared state, so tests drive it in-process or over a
//! port-0 listener alike. Nothing here reaches the upstream: a scrape only reads the current
//! snapshots and the exporter's own counters, so a slow Corbado API never slows a scrape.
//!
//! - [`gate`]: what every request passes first: the concurrency cap, basic auth, headers.
//! - [`listener`]: the accept loop, TLS per connection, and the limits against hostile clients.
//! - [`html`]: the frame of the HTML pages and their `Content-Security-Policy`.
//! - [`status`]: the status page; [`runbook`]: the runbook page.

pub mod gate;
pub mod html;
pub mod listener;
pub mod paths;
pub mod runbook;
pub mod status;
pub mod systemd;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::metrics::{CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE};
use crate::published::Published;
use crate::web_config::LiveWebConfig;
pub use listener::{serve, Limits};
pub use paths::Paths;

/// What `POST /-/reload` calls: re-read the configuration files and apply them. `Ok` says what
/// changed; `Err` why nothing did.
pub trait Reload: Send + Sync {
    /// Asynchronous so that the implementation can read the files on a blocking thread while
    /// the handler waits without holding an async worker.
    fn reload(&self) -> futures_util::future::BoxFuture<'static, Result<String, String>>;
}

/// What the handlers share.
#[derive(Clone)]
struct Pages {
    published: Arc<Published>,
    paths: Arc<Paths>,
    /// `Some` with `--web.enable-lifecycle`.
    lifecycle: Option<Arc<dyn Reload>>,
}

/// The exporter's routes under `paths`' prefix, behind the gate. `lifecycle` is what
/// `POST /-/reload` calls, `None` without `--web.enable-lifecycle` (it then answers 403).
pub fn router(
    published: Arc<Published>,
    paths: &Paths,
    web: Arc<LiveWebConfig>,
    limits: &Limits,
    lifecycle: Option<Arc<dyn Reload>>,
) -> Router {
    let mut router = Router::new()
        .route(&paths.telemetry_route(), get(metrics))
        .route(&paths.route("/"), get(status_page))
        .route(&paths.route("/config"), get(effective_config))
        .route(&paths.route("/logs"), get(logs))
        .route(&paths.route("/runbook"), get(runbook_page))
        .route(&paths.route("/-/healthy"), get(healthy))
        .route(&paths.route("/-/ready"), get(ready))
        .route(&paths.route("/-/reload"), post(reload));
    if !paths.prefix().is_empty() {
        // As Prometheus does: the root, and the prefix without its slash, lead to the status page.
        let target: Arc<str> = paths.route("/").into();
        let to_status = move || {
            let target = Arc::clone(&target);
            async move { Redirect::to(&target) }
        };
        router = router
            .route("/", get(to_status.clone()))
            .route(paths.prefix(), get(to_status));
    }
    router
        .with_state(Pages {
            published,
            paths: Arc::new(paths.clone()),
            lifecycle,
        })
        .layer(middleware::from_fn_with_state(
            gate::Gate::new(web, limits.max_requests, paths.clone()),
            gate::guard,
        ))
}

async fn metrics(State(pages): State<Pages>, headers: HeaderMap) -> Response {
    let (exposition, content_type) = if prefers_openmetrics(&headers) {
        let page = Arc::new(pages.published.openmetrics());
        (page, OPENMETRICS_CONTENT_TYPE)
    } else {
        (pages.published.exposition(), CONTENT_TYPE)
    };
    let content_type = (header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let vary = (
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    if accepts_gzip(&headers) {
        let gzip = (header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        return ([content_type, vary, gzip], exposition.gzip().clone()).into_response();
    }
    ([content_type, vary], exposition.plain.clone()).into_response()
}

/// Whether `Accept` ranks OpenMetrics text (version 1.0.0, or none named) at least as high as
/// the text format and above zero, as Prometheus' default scrape does
/// (`application/openmetrics-text;version=1.0.0;q=0.5,…,text/plain;version=0.0.4;q=0.3,…`).
fn prefers_openmetrics(headers: &HeaderMap) -> bool {
    let (mut openmetrics, mut text) = (0.0f32, 0.0f32);
    let items = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for item in items {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let (mut q, mut version) = (1.0f32, None);
        for parameter in parts {
            match parameter.split_once('=') {
                Some(("q", value)) => q = value.trim().parse().unwrap_or(0.0),
                Some(("version", value)) => version = Some(value.trim().to_owned()),
                _ => {}
            }
        }
        match media.as_str() {
            "application/openmetrics-text" if version.as_deref().is_none_or(|v| v == "1.0.0") => {
                openmetrics = openmetrics.max(q)
            }
            "text/plain" | "*/*" => text = text.max(q),
            _ => {}
        }
    }
    openmetrics > 0.0 && openmetrics >= text
}

/// Whether `Accept-Encoding` lists gzip with a non-zero quality.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

async fn status_page(State(pages): State<Pages>) -> Response {
    let body = status::body(&pages.published, &pages.paths);
    html::page("corbado-exporter", &body)
}

async fn runbook_page(State(pages): State<Pages>) -> Response {
    html::page("corbado-exporter runbook", &runbook::body(&pages.paths))
}

/// `text/plain` bodies that are not the exposition format.
const PLAIN_TEXT: &str = "text/plain; charset=utf-8";

async fn effective_config(State(pages): State<Pages>) -> Response {
    let yaml = pages.published.effective_config();
    // YAML has no registered type browsers show inline; plain text is what Prometheus sends.
    let content_type = (header::CONTENT_TYPE, HeaderValue::from_static(PLAIN_TEXT));
    ([content_type], yaml.to_string()).into_response()
}

async fn logs() -> Response {
    let content_type = (header::CONTENT_TYPE, HeaderValue::from_static(PLAIN_TEXT));
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    ([content_type, cache], crate::logs::ring().text()).into_response()
}

async fn healthy() -> &'static str {
    "Healthy\n"
}

async fn ready(State(pages): State<Pages>) -> (StatusCode, String) {
    match pages.published.readiness() {
        Ok(()) => (StatusCode::OK, "Ready\n".into()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Not ready: {why}\n"),
        ),
    }
}

async fn reload(State(pages): State<Pages>) -> (StatusCode, String) {
    let Some(lifecycle) = pages.lifecycle else {
        return (
            StatusCode::FORBIDDEN,
            "Lifecycle API is not enabled (start with --web.enable-lifecycle)\n".into(),
        );
    };
    match lifecycle.reload().await {
        Ok(what) => (StatusCode::OK, format!("{what}\n")),
        Err(why) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {why}\n"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_encoding(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn openmetrics_is_served_when_accept_prefers_it() {
        let accept = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_static(value));
            prefers_openmetrics(&headers)
        };
        assert!(accept(
            "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;\
             version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        ));
        assert!(accept("application/openmetrics-text"));
        assert!(!accept(
            "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5"
        ));
        assert!(!accept("application/openmetrics-text;version=0.0.1"));
        assert!(!accept("*/*"));
        assert!(!prefers_openmetrics(&HeaderMap::new()));
    }

    #[test]
    fn gzip_is_used_only_when_accepted() {
        assert!(accepts_gzip(&with_encoding("gzip")));
        assert!(accepts_gzip(&with_encoding("deflate, GZIP;q=0.5")));
        assert!(accepts_gzip(&with_encoding("*")));
        assert!(!accepts_gzip(&with_encoding("gzip;q=0")));
        assert!(!accepts_gzip(&with_encoding("identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
