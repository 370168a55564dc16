//! The wire format of `GET /sessions`, as the OpenAPI page describes it.
//!
//! Decoding borrows strings from the response body where it can (`Cow`), and skips the fields the
//! exporter never uses (`identifierValue`, `lastActionMs`): a poll decodes every session the
//! project ever had, so each allocation saved is saved a million times. Unknown fields are ignored.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A session's status. The API documents exactly these five; anything else is counted as unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Active,
    LoggedOut,
    Expired,
    InactivityReached,
    Revoked,
}

impl Status {
    /// Every documented status, in the order the metrics list them.
    pub const ALL: [Status; 5] = [
        Status::Active,
        Status::LoggedOut,
        Status::Expired,
        Status::InactivityReached,
        Status::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::LoggedOut => "logged_out",
            Status::Expired => "expired",
            Status::InactivityReached => "inactivity_reached",
            Status::Revoked => "revoked",
        }
    }

    /// The status for a wire value, or `None` for a value outside the documented enum.
    pub fn parse(value: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Position in [`Status::ALL`]; handy for fixed-size count arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One page of `GET /sessions`.
#[derive(Debug, Deserialize)]
pub struct SessionList<'a> {
    #[serde(borrow)]
    pub sessions: Vec<SessionRef<'a>>,
    pub paging: Paging,
}

/// A session as the exporter reads it: only the fields it aggregates.
#[derive(Debug, Deserialize)]
pub struct SessionRef<'a> {
    #[serde(rename = "sessionID", borrow)]
    pub session_id: Cow<'a, str>,
    #[serde(rename = "userID", borrow)]
    pub user_id: Cow<'a, str>,
    #[serde(rename = "createdMs")]
    pub created_ms: i64,
    #[serde(rename = "expiresMs")]
    pub expires_ms: i64,
    #[serde(borrow)]
    pub status: Cow<'a, str>,
}

/// The `paging` object. Signed on purpose: a negative value is a malformed response to report,
/// not a decode error that hides which field was wrong.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Paging {
    pub page: i64,
    pub total_pages: i64,
    pub total_items: i64,
}

/// The documented error body (`components/responses/error`), for both directions.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[serde(default)]
    pub http_status_code: i64,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub request_data: RequestData,
    #[serde(default)]
    pub runtime: f64,
    #[serde(default)]
    pub error: ErrorDetail,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct RequestData {
    #[serde(rename = "requestID", default)]
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ErrorDetail {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation: Vec<ValidationError>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_and_rejects_unknown_values() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
            assert_eq!(Status::ALL[status.index()], status);
        }
        assert_eq!(Status::parse("ACTIVE"), None);
        assert_eq!(Status::parse("suspended"), None);
    }

    #[test]
    fn a_page_decodes_borrowing_strings_and_ignoring_unknown_fields() {
        let body =
            br#"{"sessions":[{"sessionID":"ses-1","userID":"usr-1","identifierValue":"a@b.c",
            "createdMs":1,"lastActionMs":2,"expiresMs":3,"status":"active","colour":"blue"}],
            "paging":{"page":1,"totalPages":1,"totalItems":1},"extra":true}"#;
        let list: SessionList = serde_json::from_slice(body).expect("valid page");
        assert_eq!(list.sessions.len(), 1);
        assert!(matches!(
            list.sessions[0].session_id,
            Cow::Borrowed("ses-1")
        ));
        assert_eq!(list.sessions[0].expires_ms, 3);
        assert_eq!(list.paging.total_items, 1);
    }

    #[test]
    fn escaped_strings_still_decode() {
        let body = br#"{"sessions":[{"sessionID":"ses-\u0031","userID":"usr-\"x\"",
            "createdMs":1,"expiresMs":3,"status":"active"}],
            "paging":{"page":1,"totalPages":1,"totalItems":1}}"#;
        let list: SessionList = serde_json::from_slice(body).expect("valid page");
        assert_eq!(list.sessions[0].session_id, "ses-1");
        assert_eq!(list.sessions[0].user_id, "usr-\"x\"");
    }
}
