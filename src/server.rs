//! The HTTP side: `/metrics` (or `--web.telemetry-path`), a landing page, and health endpoints,
//! behind the web configuration (TLS, basic auth, headers) and limits against hostile clients.
//!
//! [`router`] builds the whole `Router` from shared state, so tests drive it in-process or over a
//! port-0 listener alike. Nothing here reaches the upstream: a scrape only reads the current
//! snapshot and the exporter's own counters, so a slow Corbado API never slows a scrape.
//!
//! [`serve`] is its own accept loop rather than `axum::serve`, because it terminates TLS with the
//! acceptor current at each connection (the web config can change under it), caps connections,
//! bounds how long a client may take to send its headers, and how large they may be.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State as AxumState};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::{State, CONTENT_TYPE};
use crate::web_config::WebState;

/// Limits against hostile or broken clients.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Requests served at once (`--web.max-requests`); more get 503. 0 means no limit.
    pub max_requests: usize,
    /// Connections open at once; more are closed on accept.
    pub max_connections: usize,
    /// Time a client has to send a request's headers (and a TLS client its handshake).
    pub header_read_timeout: Duration,
    /// Largest request head accepted, in bytes.
    pub max_header_bytes: usize,
    /// Longest a connection may stay open, however busy.
    pub max_connection_age: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_requests: 40,
            max_connections: 512,
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_connection_age: Duration::from_secs(600),
        }
    }
}

#[derive(Clone)]
struct ServerState {
    state: Arc<State>,
    landing: Arc<str>,
}

#[derive(Clone)]
struct Guard {
    web: Arc<WebState>,
    requests: Option<Arc<Semaphore>>,
}

/// The exporter's routes, behind auth, headers and the request limit.
pub fn router(
    state: Arc<State>,
    telemetry_path: &str,
    web: Arc<WebState>,
    limits: &Limits,
) -> Router {
    let landing = landing_page(telemetry_path).into();
    let guard = Guard {
        web,
        requests: (limits.max_requests > 0).then(|| Arc::new(Semaphore::new(limits.max_requests))),
    };
    Router::new()
        .route(telemetry_path, get(metrics))
        .route("/", get(landing_handler))
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .with_state(ServerState { state, landing })
        .layer(middleware::from_fn_with_state(guard, protect))
}

/// Every request: the concurrency cap, then basic auth, then the configured headers.
async fn protect(AxumState(guard): AxumState<Guard>, request: Request, next: Next) -> Response {
    // Health probes skip the cap: a burst of scrapes must not get a pod restarted.
    let probe = request.uri().path().starts_with("/-/");
    let _permit = match &guard.requests {
        Some(semaphore) if !probe => match Arc::clone(semaphore).try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Too many concurrent requests\n",
                )
                    .into_response()
            }
        },
        _ => None,
    };
    let credentials = basic_credentials(request.headers());
    let refused = match guard
        .web
        .authorize(credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str())))
        .await
    {
        None | Some(true) => false,
        Some(false) => true,
    };
    let mut response = if refused {
        (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"corbado-exporter\""),
            )],
            "Unauthorized\n",
        )
            .into_response()
    } else {
        next.run(request).await
    };
    for (name, value) in &guard.web.current().headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets open requests finish
/// (for up to five seconds). TLS, when the web config has it, is taken per connection.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    web: Arc<WebState>,
    limits: Limits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: wait a moment rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            tracing::debug!(%peer, "connection limit reached; closing");
            continue;
        };
        let tls = web.current().tls.clone();
        let service = TowerToHyperService::new(router.clone());
        let limits = limits.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(stream)) => {
                            serve_connection(TokioIo::new(stream), service, &limits, &shutdown)
                                .await
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
                None => serve_connection(TokioIo::new(stream), service, &limits, &shutdown).await,
            }
        });
    }
    tracker.close();
    if tokio::time::timeout(Duration::from_secs(5), tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: connections still open after 5 s; closing them");
    }
    Ok(())
}

async fn serve_connection<I>(
    io: I,
    service: TowerToHyperService<Router>,
    limits: &Limits,
    shutdown: &CancellationToken,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .serve_connection(io, service);
    tokio::pin!(connection);
    let age = tokio::time::sleep(limits.max_connection_age);
    tokio::pin!(age);
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = shutdown.cancelled() => {}
        _ = &mut age => {}
    }
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(5), connection).await;
}

async fn metrics(AxumState(server): AxumState<ServerState>, headers: HeaderMap) -> Response {
    let exposition = server.state.exposition();
    let content_type = (header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    let vary = (header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if accepts_gzip(&headers) {
        let gzip = (header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        return ([content_type, vary, gzip], exposition.gzip().clone()).into_response();
    }
    ([content_type, vary], exposition.plain.clone()).into_response()
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

async fn landing_handler(AxumState(server): AxumState<ServerState>) -> Html<String> {
    Html(server.landing.to_string())
}

async fn healthy() -> &'static str {
    "Healthy\n"
}

async fn ready(AxumState(server): AxumState<ServerState>) -> (StatusCode, &'static str) {
    if server.state.is_ready() {
        (StatusCode::OK, "Ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: no poll of the Corbado API has succeeded yet\n",
        )
    }
}

fn landing_page(telemetry_path: &str) -> String {
    // The path was validated to be a plain path; escape it anyway, it lands in HTML.
    let path = telemetry_path
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    format!(
        "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>Corbado Exporter</title></head>\n\
         <body>\n<h1>Corbado Exporter</h1>\n<p>Prometheus exporter for the sessions of a Corbado project, version {}.</p>\n\
         <ul>\n<li><a href=\"{path}\">Metrics</a></li>\n<li><a href=\"/-/healthy\">Health</a></li>\n\
         <li><a href=\"/-/ready\">Readiness</a></li>\n</ul>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    )
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
    fn gzip_is_used_only_when_accepted() {
        assert!(accepts_gzip(&with_encoding("gzip")));
        assert!(accepts_gzip(&with_encoding("deflate, GZIP;q=0.5")));
        assert!(accepts_gzip(&with_encoding("*")));
        assert!(!accepts_gzip(&with_encoding("gzip;q=0")));
        assert!(!accepts_gzip(&with_encoding("identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn the_landing_page_links_the_telemetry_path() {
        let page = landing_page("/custom-metrics");
        assert!(page.contains("href=\"/custom-metrics\""));
        assert!(landing_page("/a<b").contains("/a&lt;b"));
    }

    #[test]
    fn basic_credentials_parse_only_well_formed_headers() {
        let mut headers = HeaderMap::new();
        assert_eq!(basic_credentials(&headers), None);
        let encoded = base64::engine::general_purpose::STANDARD.encode("alice:pa:ss");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).expect("header"),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(("alice".into(), "pa:ss".into()))
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(basic_credentials(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(basic_credentials(&headers), None);
    }
}
