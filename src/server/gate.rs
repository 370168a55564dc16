//! What every request passes before its handler: the cap on requests served at once and the
//! web config's `rate_limit` (health probes exempt from both), basic auth against the web
//! config, and the web config's response headers.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::basic_auth;
use crate::web_config::{Access, LiveWebConfig};

/// The gate's state: the live web config and the request cap.
#[derive(Clone)]
pub struct Gate {
    web: Arc<LiveWebConfig>,
    /// `None` when `--web.max-requests` is 0.
    requests: Option<Arc<Semaphore>>,
}

impl Gate {
    pub fn new(web: Arc<LiveWebConfig>, max_requests: usize) -> Self {
        Gate {
            web,
            requests: (max_requests > 0).then(|| Arc::new(Semaphore::new(max_requests))),
        }
    }
}

/// Every request: the concurrency cap, then basic auth, then the configured headers.
pub async fn guard(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    // Health probes skip the cap: a burst of scrapes must not get a pod restarted.
    let probe = request.uri().path().starts_with("/-/");
    let _permit = match &gate.requests {
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
    if !probe {
        if let Some(limit) = gate.web.current().rate_limit.as_ref() {
            if !limit.try_take() {
                let retry = HeaderValue::from(limit.retry_after_seconds());
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, retry)],
                    "Too many requests (rate_limit of --web.config.file)\n",
                )
                    .into_response();
            }
        }
    }
    let credentials = basic_auth::parse(request.headers());
    let mut response = match gate.web.authorize(credentials.as_ref()).await {
        Access::Open | Access::Granted => next.run(request).await,
        Access::Denied => (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"corbado-exporter\""),
            )],
            "Unauthorized\n",
        )
            .into_response(),
    };
    for (name, value) in &gate.web.current().headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}
