//! The HTTP client for `GET /sessions`: authentication, one request with its retries, a cap on
//! response size, and per-attempt metrics.
//!
//! Every attempt (retries included) is counted in `corbado_exporter_api_requests_total{code}` and
//! timed in the latency histogram. The secret only ever leaves this module inside the
//! `Authorization` header. What to page and how is [`super::paging`]'s business, not this one's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use prometheus::{Histogram, IntCounterVec};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use tokio::time::Instant;

use super::error::{chain, describe_error_body, ApiError};
use super::limiter::RateLimiter;
use super::model::SessionList;
use super::query::{Filter, Sort};
use super::redact::Redactor;
use super::retry::RetryPolicy;
use crate::journal::RequestTally;
use crate::rng::SharedSplitMix64;
use crate::secret::Secret;

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
    /// Extra CA certificates to trust for the API, besides the built-in roots (already read
    /// and parsed by the configuration).
    pub ca_certificates: Vec<reqwest::Certificate>,
}

/// The series the client counts its attempts in; `requests_total` has one label, `code`.
#[derive(Clone)]
pub struct ClientMetrics {
    pub requests_total: IntCounterVec,
    pub request_duration: Histogram,
    /// The last hour's requests, for the status page.
    pub recent: Arc<RequestTally>,
}

/// One page request.
#[derive(Clone, Debug)]
pub struct PageRequest<'a> {
    pub page: u64,
    pub page_size: u32,
    pub sort: Option<Sort>,
    pub filters: &'a [Filter],
    /// Counts this request's attempts (retries included), for whoever asks what one operation
    /// cost while others share the client: each [`super::Pager`] passes its own.
    pub meter: Option<&'a AtomicU64>,
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
    /// Applied to all text that comes back from the upstream before it is kept.
    redactor: Redactor,
    metrics: ClientMetrics,
    /// Jitter source, shared without a lock so concurrent requests never wait for it.
    jitter: SharedSplitMix64,
}

impl Client {
    pub fn new(options: ClientOptions, metrics: ClientMetrics) -> anyhow::Result<Self> {
        // Proxies come from HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY, as reqwest reads them.
        let mut builder = reqwest::Client::builder()
            .timeout(options.timeout)
            .user_agent(concat!("corbado-exporter/", env!("CARGO_PKG_VERSION")));
        for cert in options.ca_certificates {
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| anyhow::anyhow!("building the HTTP client: {}", chain(&e)))?;
        let sessions_url = format!("{}/sessions", options.api_url.trim_end_matches('/'));
        let redactor = Redactor::new(&options.project_id, &options.secret);
        Ok(Client {
            http,
            sessions_url,
            project_id: options.project_id,
            secret: options.secret,
            timeout: options.timeout,
            max_body_bytes: options.max_body_bytes,
            retry: options.retry,
            limiter: RateLimiter::new(options.max_requests_per_second),
            redactor,
            metrics,
            jitter: SharedSplitMix64::from_clock(),
        })
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
            if let Some(meter) = request.meter {
                meter.fetch_add(1, Ordering::Relaxed);
            }
            let decoded = self.attempt(&url).await.and_then(|body| {
                // A decoding error may quote the body (serde does: `invalid type: string "…"`);
                // `attempt`'s own errors are redacted where they are made.
                decode(&body).map_err(|e| e.map_upstream_text(|text| self.redactor.redact(text)))
            });
            let error = match decoded {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            if attempt >= self.retry.max_attempts || !error.is_retryable() {
                return Err(error);
            }
            let delay = match &error {
                ApiError::RateLimited { retry_after } => {
                    let wait = self.retry.after_rate_limit(*retry_after);
                    // Every request waits, not just this one: the limit is the project's.
                    self.limiter.pause_for(wait);
                    wait
                }
                _ => self.retry.backoff(attempt, &self.jitter),
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
        let started = Instant::now();
        let result = self.send(url).await;
        self.metrics
            .request_duration
            .observe(started.elapsed().as_secs_f64());
        let code = match &result {
            Ok((status, _)) | Err((Some(status), _)) => status.as_str().to_owned(),
            Err((None, _)) => "error".to_owned(),
        };
        self.metrics
            .requests_total
            .with_label_values(&[&code])
            .inc();
        self.metrics.recent.note_now();
        result.map(|(_, body)| body).map_err(|(_, e)| e)
    }

    /// One exchange. The status in an error is the one to count: `None` (`code="error"`) for a
    /// timeout or a transport failure, also when the headers came and the body then stalled or
    /// broke off.
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
                ReadError::TooLarge => (Some(status), ApiError::TooLarge(self.max_body_bytes)),
                ReadError::Http(e) => (None, self.transport_error(&e)),
            })?;
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
                detail: describe_error_body(&self.redactor.redact(&String::from_utf8_lossy(&body))),
            },
        };
        Err((Some(status), error))
    }

    fn transport_error(&self, error: &reqwest::Error) -> ApiError {
        if error.is_timeout() {
            ApiError::Timeout(self.timeout)
        } else {
            ApiError::Transport(self.redactor.redact(&chain(error)))
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
}

/// Decodes a page and checks the paging numbers make sense.
pub fn decode_page(body: &[u8]) -> Result<SessionList<'_>, ApiError> {
    let list: SessionList = serde_json::from_slice(body).map_err(|e| ApiError::from_json(&e))?;
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
    fn negative_paging_is_malformed() {
        let body = br#"{"sessions":[],"paging":{"page":1,"totalPages":-1,"totalItems":0}}"#;
        assert!(matches!(decode_page(body), Err(ApiError::Malformed(_))));
        assert!(matches!(
            decode_page(b"{\"sessions\":["),
            Err(ApiError::Unreadable(_))
        ));
        let wrong_type =
            br#"{"sessions":[],"paging":{"page":1,"totalPages":1,"totalItems":"many"}}"#;
        assert!(matches!(
            decode_page(wrong_type),
            Err(ApiError::Malformed(_))
        ));
    }
}
