//! What every request passes before its handler: the cap on requests served at once and the
//! web config's `rate_limit` (liveness and readiness probes that cost no bcrypt exempt from
//! both), basic auth against the web config, and the web config's response headers.
//!
//! The order is the point: a request that is not exempt takes its place under the cap and its
//! `rate_limit` token before any bcrypt runs, so `rate_limit` bounds the CPU that wrong
//! passwords can cost. Only [`exempt`] requests skip both, and they cost nothing to answer.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Paths;
use crate::basic_auth;
use crate::web_config::{Access, LiveWebConfig, WebConfig};

/// The gate's state: the live web config and the request cap.
#[derive(Clone)]
pub struct Gate {
    web: Arc<LiveWebConfig>,
    /// `None` when `--web.max-requests` is 0.
    requests: Option<Arc<Semaphore>>,
    /// The route prefix, stripped before a request is judged [`exempt`].
    paths: Arc<Paths>,
}

impl Gate {
    pub fn new(web: Arc<LiveWebConfig>, max_requests: usize, paths: Paths) -> Self {
        Gate {
            web,
            requests: (max_requests > 0).then(|| Arc::new(Semaphore::new(max_requests))),
            paths: Arc::new(paths),
        }
    }
}

/// A request's credentials as far as the gate knows them before any bcrypt runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialState {
    /// None sent, or auth is off so none are checked: the answer costs nothing.
    Absent,
    /// Sent and already verified against the current users: the answer costs a hash.
    Verified,
    /// Sent and not verified yet: only bcrypt can tell (wrong ones never become verified).
    Unverified,
}

impl CredentialState {
    /// From what the verified-credentials cache could say (`None`: only bcrypt can tell).
    pub fn from_known(known: Option<Access>) -> Self {
        match known {
            None => CredentialState::Unverified,
            Some(Access::Granted) => CredentialState::Verified,
            // Auth off, or no credentials: a 200 or a 401 without bcrypt.
            Some(Access::Open | Access::Denied) => CredentialState::Absent,
        }
    }
}

/// Whether a request skips the request cap and `rate_limit`: only a `GET` or `HEAD` of the
/// liveness or readiness probe, and only when answering it costs no bcrypt. A burst of scrapes
/// must not fail a probe and get the pod restarted; but a probe with credentials the gate has
/// not seen verify is any request, or a flood of wrong passwords on `/-/healthy` would cost a
/// bcrypt each and `rate_limit` could not protect the CPU it exists to protect.
///
/// `path` is the path the router matches: under a route prefix, the path with the prefix
/// stripped.
pub fn exempt(method: &Method, path: &str, credentials: CredentialState) -> bool {
    let probe = matches!(path, "/-/healthy" | "/-/ready");
    let read = *method == Method::GET || *method == Method::HEAD;
    probe && read && credentials != CredentialState::Unverified
}

/// Every request: the request cap and the rate limit (unless [`exempt`]), then basic auth, then
/// the configured headers. One web config serves the whole request, even if a reload lands.
pub async fn guard(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    let config = gate.web.current();
    let credentials = basic_auth::parse(request.headers());
    let known = gate.web.known_access(&config, credentials.as_ref());
    let state = CredentialState::from_known(known);
    // A path outside the prefix (a 404, or the redirect of the root) is judged as it is.
    let path = request.uri().path();
    let path = gate.paths.within(path).unwrap_or(path);
    let _permit = if exempt(request.method(), path, state) {
        None
    } else {
        match admit(&gate, &config) {
            Ok(permit) => permit,
            Err(refused) => return with_headers(refused.into_response(), &config),
        }
    };
    let access = match known {
        Some(access) => access,
        None => {
            gate.web
                .authorize_against(&config, credentials.as_ref())
                .await
        }
    };
    let response = match access {
        Access::Open | Access::Granted => next.run(request).await,
        Access::Denied => unauthorized(),
    };
    with_headers(response, &config)
}

/// Why [`admit`] turned a request away.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// `--web.max-requests` are being served already.
    Busy,
    /// `rate_limit` has no token left; the next comes in this many seconds.
    Limited { retry_after: u64 },
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many concurrent requests\n",
            )
                .into_response(),
            Refusal::Limited { retry_after } => (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, HeaderValue::from(retry_after))],
                "Too many requests (rate_limit of --web.config.file)\n",
            )
                .into_response(),
        }
    }
}

/// A place under the request cap (held until the response is built), then a `rate_limit`
/// token. A request refused by the cap takes no token.
fn admit(gate: &Gate, config: &WebConfig) -> Result<Option<OwnedSemaphorePermit>, Refusal> {
    let permit = match &gate.requests {
        Some(semaphore) => Some(
            Arc::clone(semaphore)
                .try_acquire_owned()
                .map_err(|_| Refusal::Busy)?,
        ),
        None => None,
    };
    if let Some(limit) = config.rate_limit.as_ref() {
        if !limit.try_take() {
            let retry_after = limit.retry_after_seconds();
            return Err(Refusal::Limited { retry_after });
        }
    }
    Ok(permit)
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"corbado-exporter\""),
        )],
        "Unauthorized\n",
    )
        .into_response()
}

/// The web config's response headers, on every answer the gate lets out (refusals included).
fn with_headers(mut response: Response, config: &WebConfig) -> Response {
    for (name, value) in &config.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use CredentialState::{Absent, Unverified, Verified};

    #[test]
    fn only_reads_of_the_probes_without_unverified_credentials_are_exempt() {
        for method in [Method::GET, Method::HEAD] {
            for path in ["/-/healthy", "/-/ready"] {
                assert!(exempt(&method, path, Absent), "{method} {path}");
                assert!(exempt(&method, path, Verified), "{method} {path}");
                assert!(!exempt(&method, path, Unverified), "{method} {path}");
            }
        }
    }

    #[test]
    fn reload_other_methods_and_every_other_path_take_the_cap_and_a_token() {
        // Regression: every path under `/-/` was exempt, `POST /-/reload` included.
        for (method, path) in [
            (Method::POST, "/-/reload"),
            (Method::GET, "/-/reload"),
            (Method::POST, "/-/healthy"),
            (Method::PUT, "/-/ready"),
            (Method::GET, "/-/"),
            (Method::GET, "/-/healthy/"),
            (Method::GET, "/-/healthyx"),
            (Method::GET, "/-/quit"),
            (Method::GET, "/metrics"),
            (Method::GET, "/"),
            (Method::GET, "/prefix/-/healthy"),
        ] {
            for state in [Absent, Verified, Unverified] {
                assert!(!exempt(&method, path, state), "{method} {path} {state:?}");
            }
        }
    }

    #[test]
    fn only_bcrypt_left_to_run_makes_credentials_unverified() {
        assert_eq!(CredentialState::from_known(None), Unverified);
        assert_eq!(CredentialState::from_known(Some(Access::Granted)), Verified);
        assert_eq!(CredentialState::from_known(Some(Access::Open)), Absent);
        assert_eq!(CredentialState::from_known(Some(Access::Denied)), Absent);
    }
}
