//! What can go wrong with one request to the upstream, and how it is told.
//!
//! [`ApiError`] carries exactly the distinctions a caller acts on: retry or not, wait how long,
//! and what to tell the operator. The text of an error comes from here only: the API's own error
//! fields, shortened, and a transport error's chain without the request URL.

use std::time::Duration;

use super::model::ErrorBody;

/// Why a request failed.
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
    /// The body was cut short or is not JSON at all (a proxy's error page, say): worth a retry.
    #[error("malformed response (cut short or not JSON): {0}")]
    Unreadable(String),
    /// The body is JSON of the wrong shape, or numbers that cannot be: a retry gets the same.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The API's paging cannot be trusted: a page other than the one asked for, totals its
    /// pages do not hold. Deterministic (a caching proxy that drops the query string, say).
    #[error("untrustworthy paging: {0}")]
    Paging(String),
}

impl ApiError {
    /// Whether trying the same request again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Timeout(_) | ApiError::Transport(_) | ApiError::RateLimited { .. } => true,
            ApiError::Status { status, .. } => *status >= 500,
            // A truncated body is a transport failure in disguise; a body that decodes to the
            // wrong shape will not improve on a retry, but one that is cut short may.
            ApiError::Unreadable(_) => true,
            ApiError::Malformed(_)
            | ApiError::Paging(_)
            | ApiError::Unauthorized { .. }
            | ApiError::TooLarge(_) => false,
        }
    }

    /// The same error with `f` applied to every text that came from the upstream.
    pub fn map_upstream_text(self, f: impl Fn(&str) -> String) -> Self {
        match self {
            ApiError::Status { status, detail } => ApiError::Status {
                status,
                detail: f(&detail),
            },
            ApiError::Transport(text) => ApiError::Transport(f(&text)),
            ApiError::Unreadable(text) => ApiError::Unreadable(f(&text)),
            ApiError::Malformed(text) => ApiError::Malformed(f(&text)),
            ApiError::Paging(text) => ApiError::Paging(f(&text)),
            other => other,
        }
    }

    /// A JSON decoding error, sorted by whether a retry can change it.
    pub fn from_json(error: &serde_json::Error) -> Self {
        match error.classify() {
            serde_json::error::Category::Data => ApiError::Malformed(error.to_string()),
            _ => ApiError::Unreadable(error.to_string()),
        }
    }
}

/// The API's error fields, for the log line: `: type (details) [requestID …]`. `body` must be
/// redacted already: the fields are shortened, and a shortened secret is still a leak.
pub(super) fn describe_error_body(body: &str) -> String {
    let Ok(error) = serde_json::from_str::<ErrorBody>(body) else {
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

/// An error and its sources on one line. reqwest's own `Display` names the URL, which holds no
/// credentials (they travel in the `Authorization` header) but does hold the query.
pub(super) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_a_retry_can_change_are_retried() {
        let cut = serde_json::from_str::<serde_json::Value>("{\"a\":").unwrap_err();
        assert!(ApiError::from_json(&cut).is_retryable());
        let html = serde_json::from_str::<serde_json::Value>("<html>").unwrap_err();
        assert!(ApiError::from_json(&html).is_retryable());
        let shape = serde_json::from_str::<Vec<u8>>("{\"a\":1}").unwrap_err();
        assert!(!ApiError::from_json(&shape).is_retryable());
        assert!(!ApiError::Paging("page 1 for page 2".into()).is_retryable());
    }

    #[test]
    fn error_bodies_are_summarised_not_dumped() {
        let body = r#"{"httpStatusCode":400,"message":"Bad Request","requestData":{"requestID":"req-1"},
            "runtime":0.1,"error":{"type":"validation_error","details":"bad",
            "validation":[{"field":"pageSize","message":"must be at most 100"}]}}"#;
        assert_eq!(
            describe_error_body(body),
            ": validation_error (bad) [pageSize: must be at most 100] [requestID req-1]"
        );
        assert_eq!(describe_error_body("<html>oops</html>"), "");
    }
}
