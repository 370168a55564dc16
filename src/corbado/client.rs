//! The HTTP client for `GET /sessions`: authentication, the shared rate limit, retries with
//! backoff, a cap on response size, and per-attempt metrics.
//!
//! Every attempt (retries included) is counted in `corbado_exporter_api_requests_total{code}` and
//! timed in the latency histogram. The secret only ever leaves this module inside the
//! `Authorization` header; errors carry no URL credentials and no response bodies beyond the
//! API's own error fields.

use std::error::Error as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use prometheus::{Histogram, IntCounterVec};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use tokio::time::Instant;

use super::model::{ErrorBody, SessionList};
use super::query::{Filter, Sort};
use crate::rng;
use crate::secret::Secret;

/// Why a request failed. The variants are the distinctions a caller acts on: retry or not,
/// wait how long, and what to tell the operator.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "the Corbado API refused the credentials (HTTP {status}): check --corbado.project-id \
         and the API secret"
    )]
    Unauthorized { status: u16 },
    #[error("the Corbado API is rate-limiting us (HTTP 429)")]
    RateLimited { retry_after: Option<Duration> },
    #[error("HTTP {status} from the Corbado API{detail}")]
    Status { status: u16, detail: String },
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    #[error("transport error: {0}")]
    Transport(String),
    #[error("response body larger than {0} bytes")]
    TooLarge(usize),
    #[error("malformed response: {0}")]
    Malformed(String),
}

impl ApiError {
    /// Whether trying the same request again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Timeout(_) | ApiError::Transport(_) | ApiError::RateLimited { .. } => true,
            ApiError::Status { status, .. } => *status >= 500,
            // A truncated body is a transport failure in disguise; a body that decodes to the
            // wrong shape will not improve on a retry, but one that is cut short may.
            ApiError::Malformed(_) => true,
            ApiError::Unauthorized { .. } | ApiError::TooLarge(_) => false,
        }
    }
}

/// Retry and backoff settings. The defaults bound one request to 5 attempts and, with the
/// delays capped, to well under a minute of waiting.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Wait after a 429 that carries no usable `Retry-After`.
    pub default_retry_after: Duration,
    /// The longest `Retry-After` we honour; a larger value is clipped to this.
    pub max_retry_after: Duration,
    /// The most one request may spend waiting between its attempts; past it, it gives up.
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            default_retry_after: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
            max_total_wait: Duration::from_secs(60),
        }
    }
}

/// What the client needs to know; built from the exporter's `Config`.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Base URL, e.g. `https://backendapi.cloud.corbado.io/v2`; `/sessions` is appended.
    pub api_url: String,
    pub project_id: String,
    pub secret: Secret,
    pub timeout: Duration,
    /// Client-side limit shared by all requests; `0` or less means none.
    pub max_requests_per_second: f64,
    /// Responses larger than this are refused: a page of 100 sessions is about 25 KiB.
    pub max_body_bytes: usize,
    pub retry: RetryPolicy,
    /// Extra CA certificates (PEM) to trust for the API, besides the built-in roots.
    pub ca_file: Option<std::path::PathBuf>,
}

/// One page request.
#[derive(Clone, Debug)]
pub struct PageRequest<'a> {
    pub page: u64,
    pub page_size: u32,
    pub sort: Option<Sort>,
    pub filters: &'a [Filter],
}

/// The `GET /sessions` client. Cheap to share behind an `Arc`; all requests share its limiter.
pub struct Client {
    http: reqwest::Client,
    sessions_url: String,
    project_id: String,
    secret: Secret,
    timeout: Duration,
    max_body_bytes: usize,
    retry: RetryPolicy,
    limiter: RateLimiter,
    requests_total: IntCounterVec,
    request_duration: Histogram,
    /// Attempts made so far; the poller reads the difference across one poll.
    attempts: AtomicU64,
    /// Jitter source. Atomic so concurrent requests never wait on each other for it.
    jitter: AtomicU64,
}

impl Client {
    /// Builds the client. `requests_total` must have exactly one label, `code`.
    pub fn new(
        options: ClientOptions,
        requests_total: IntCounterVec,
        request_duration: Histogram,
    ) -> anyhow::Result<Self> {
        // Proxies come from HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY, as reqwest reads them.
        let mut builder = reqwest::Client::builder()
            .timeout(options.timeout)
            .user_agent(concat!("corbado-exporter/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &options.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), chain(&e)))?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| anyhow::anyhow!("building the HTTP client: {}", chain(&e)))?;
        let sessions_url = format!("{}/sessions", options.api_url.trim_end_matches('/'));
        Ok(Client {
            http,
            sessions_url,
            project_id: options.project_id,
            secret: options.secret,
            timeout: options.timeout,
            max_body_bytes: options.max_body_bytes,
            retry: options.retry,
            limiter: RateLimiter::new(options.max_requests_per_second),
            requests_total,
            request_duration,
            attempts: AtomicU64::new(0),
            jitter: AtomicU64::new(rng::mix(
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1),
            )),
        })
    }

    /// Attempts made since the client was built, retries included.
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    /// Fetches one page and hands its body to `decode`, retrying what is worth retrying (a
    /// body that fails to decode included: a truncated page may come back whole).
    ///
    /// `decode` turns the borrowed body into whatever the caller keeps, so each page is parsed
    /// exactly once and nothing of it outlives the call unless the caller asks for it.
    pub async fn fetch<T>(
        &self,
        request: &PageRequest<'_>,
        decode: impl Fn(&[u8]) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let url = self.url_for(request);
        let mut attempt = 0;
        let mut waited = Duration::ZERO;
        loop {
            attempt += 1;
            self.limiter.acquire().await;
            let error = match self.attempt(&url).await {
                Ok(body) => match decode(&body) {
                    Ok(value) => return Ok(value),
                    Err(e) => e,
                },
                Err(e) => e,
            };
            if attempt >= self.retry.max_attempts || !error.is_retryable() {
                return Err(error);
            }
            let delay = match &error {
                ApiError::RateLimited { retry_after } => {
                    let wait = retry_after
                        .unwrap_or(self.retry.default_retry_after)
                        .min(self.retry.max_retry_after);
                    // Every request waits, not just this one: the limit is the project's.
                    self.limiter.pause_for(wait);
                    wait
                }
                _ => self.backoff(attempt),
            };
            waited += delay;
            if waited > self.retry.max_total_wait {
                return Err(error);
            }
            tracing::warn!(
                page = request.page,
                attempt,
                delay_ms = delay.as_millis() as u64,
                error = %error,
                "request failed, retrying"
            );
            if !matches!(error, ApiError::RateLimited { .. }) {
                tokio::time::sleep(delay).await;
            }
        }
    }

    /// One attempt: send, check the status, read the body up to the cap.
    async fn attempt(&self, url: &str) -> Result<Bytes, ApiError> {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let result = self.send(url).await;
        self.request_duration
            .observe(started.elapsed().as_secs_f64());
        let code = match &result {
            Ok((status, _)) | Err((Some(status), _)) => status.as_str().to_owned(),
            Err((None, _)) => "error".to_owned(),
        };
        self.requests_total.with_label_values(&[&code]).inc();
        result.map(|(_, body)| body).map_err(|(_, e)| e)
    }

    #[allow(clippy::type_complexity)]
    async fn send(&self, url: &str) -> Result<(StatusCode, Bytes), (Option<StatusCode>, ApiError)> {
        let response = self
            .http
            .get(url)
            .basic_auth(&self.project_id, Some(self.secret.expose()))
            .send()
            .await
            .map_err(|e| (None, self.transport_error(&e)))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = read_capped(response, self.max_body_bytes)
            .await
            .map_err(|e| match e {
                ReadError::TooLarge => ApiError::TooLarge(self.max_body_bytes),
                ReadError::Http(e) => self.transport_error(&e),
            })
            .map_err(|e| (Some(status), e))?;
        if status.is_success() {
            return Ok((status, body));
        }
        let error = match status.as_u16() {
            401 | 403 => ApiError::Unauthorized {
                status: status.as_u16(),
            },
            429 => ApiError::RateLimited { retry_after },
            code => ApiError::Status {
                status: code,
                detail: describe_error_body(&body),
            },
        };
        Err((Some(status), error))
    }

    fn transport_error(&self, error: &reqwest::Error) -> ApiError {
        if error.is_timeout() {
            ApiError::Timeout(self.timeout)
        } else {
            ApiError::Transport(chain(error))
        }
    }

    fn url_for(&self, request: &PageRequest<'_>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("page", &request.page.to_string());
        query.append_pair("pageSize", &request.page_size.to_string());
        if let Some(sort) = request.sort {
            query.append_pair("sort", &sort.to_string());
        }
        for filter in request.filters {
            query.append_pair("filter[]", &filter.to_string());
        }
        format!("{}?{}", self.sessions_url, query.finish())
    }

    /// Exponential backoff with full jitter: a uniform wait in `[0, min(max, base·2^(n-1))]`.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .retry
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.retry.max_delay);
        let state = self
            .jitter
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        let unit = (rng::mix(state) >> 11) as f64 / (1u64 << 53) as f64;
        exp.mul_f64(unit)
    }
}

/// Decodes a page and checks the paging numbers make sense.
pub fn decode_page(body: &[u8]) -> Result<SessionList<'_>, ApiError> {
    let list: SessionList =
        serde_json::from_slice(body).map_err(|e| ApiError::Malformed(e.to_string()))?;
    let paging = list.paging;
    if paging.total_items < 0 || paging.total_pages < 0 || paging.page < 0 {
        return Err(ApiError::Malformed(format!(
            "negative paging numbers (page {}, totalPages {}, totalItems {})",
            paging.page, paging.total_pages, paging.total_items
        )));
    }
    Ok(list)
}

enum ReadError {
    TooLarge,
    Http(reqwest::Error),
}

async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Bytes, ReadError> {
    if response
        .content_length()
        .is_some_and(|len| len > cap as u64)
    {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::with_capacity(
        response
            .content_length()
            .map_or(16 * 1024, |len| len as usize),
    );
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Http)? {
        if body.len() + chunk.len() > cap {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// `Retry-After` as seconds or an HTTP date; `None` when absent or unreadable.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The API's error fields, for the log line: `: type (details) [requestID …]`.
fn describe_error_body(body: &[u8]) -> String {
    let Ok(error) = serde_json::from_slice::<ErrorBody>(body) else {
        return String::new();
    };
    let mut text = String::new();
    if !error.error.kind.is_empty() {
        text.push_str(": ");
        text.push_str(&truncate(&error.error.kind, 100));
    }
    if let Some(details) = &error.error.details {
        text.push_str(&format!(" ({})", truncate(details, 300)));
    }
    for v in error.error.validation.iter().take(5) {
        text.push_str(&format!(
            " [{}: {}]",
            truncate(&v.field, 50),
            truncate(&v.message, 200)
        ));
    }
    if !error.request_data.request_id.is_empty() {
        text.push_str(&format!(
            " [requestID {}]",
            truncate(&error.request_data.request_id, 100)
        ));
    }
    text
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// An error and its sources on one line, without the request URL.
fn chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A client-side limit on request starts, shared by every request of the client.
///
/// Also the place a 429 pauses: [`RateLimiter::pause_for`] holds every request back until the
/// upstream's `Retry-After` has passed, and halves the rate for a minute after.
pub struct RateLimiter {
    interval: Option<Duration>,
    state: Mutex<LimiterState>,
}

struct LimiterState {
    next: Instant,
    slow_until: Instant,
}

/// How long the limiter stays at half rate after a 429.
const SLOWDOWN: Duration = Duration::from_secs(60);

impl RateLimiter {
    pub fn new(per_second: f64) -> Self {
        // A rate so small that its interval does not fit a Duration is no different from an
        // hour between requests; config refuses such rates anyway.
        let interval = (per_second > 0.0 && per_second.is_finite()).then(|| {
            Duration::try_from_secs_f64(1.0 / per_second)
                .unwrap_or(Duration::from_secs(3600))
                .min(Duration::from_secs(3600))
        });
        let now = Instant::now();
        RateLimiter {
            interval,
            state: Mutex::new(LimiterState {
                next: now,
                slow_until: now,
            }),
        }
    }

    /// Waits for this request's turn.
    pub async fn acquire(&self) {
        let at = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let at = state.next.max(now);
            if let Some(interval) = self.interval {
                let step = if now < state.slow_until {
                    interval * 2
                } else {
                    interval
                };
                state.next = at + step;
            }
            at
        };
        tokio::time::sleep_until(at).await;
    }

    /// Holds every request back for `wait`, then runs at half rate for a while.
    pub fn pause_for(&self, wait: Duration) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let until = Instant::now() + wait;
        state.next = state.next.max(until);
        state.slow_until = state.slow_until.max(until + SLOWDOWN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn error_bodies_are_summarised_not_dumped() {
        let body =
            br#"{"httpStatusCode":400,"message":"Bad Request","requestData":{"requestID":"req-1"},
            "runtime":0.1,"error":{"type":"validation_error","details":"bad",
            "validation":[{"field":"pageSize","message":"must be at most 100"}]}}"#;
        assert_eq!(
            describe_error_body(body),
            ": validation_error (bad) [pageSize: must be at most 100] [requestID req-1]"
        );
        assert_eq!(describe_error_body(b"<html>oops</html>"), "");
    }

    #[test]
    fn negative_paging_is_malformed() {
        let body = br#"{"sessions":[],"paging":{"page":1,"totalPages":-1,"totalItems":0}}"#;
        assert!(matches!(decode_page(body), Err(ApiError::Malformed(_))));
        assert!(matches!(
            decode_page(b"{\"sessions\":["),
            Err(ApiError::Malformed(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn the_limiter_spaces_requests_and_pauses_on_429() {
        let limiter = RateLimiter::new(10.0);
        let start = Instant::now();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(400));
        limiter.pause_for(Duration::from_secs(3));
        limiter.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(3400));
        let before = Instant::now();
        limiter.acquire().await;
        // Half rate after a 429.
        assert_eq!(before.elapsed(), Duration::from_millis(200));
    }
}
