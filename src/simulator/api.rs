//! The HTTP face of the simulator: request parsing, authentication and error bodies.
//!
//! Parsing is strict: integers, `pageSize` at most 100, the `field:op:value` filter form,
//! `yyyy-MM-ddTHH:mm:ss` times, and no query parameter the OpenAPI page does not list. The real
//! API may be more lenient about unknown parameters; being strict here catches client bugs.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::{Injected, Simulator};
use crate::basic_auth;
use crate::corbado::model::{ErrorBody, ErrorDetail, RequestData, ValidationError};
use crate::corbado::query::{Filter, Sort};

/// The largest `pageSize` the simulator accepts, as the real API is known to.
pub const MAX_PAGE_SIZE: u64 = 100;

pub fn router(sim: Arc<Simulator>) -> Router {
    Router::new()
        .route("/sessions", get(list_sessions))
        .route("/v2/sessions", get(list_sessions))
        .with_state(sim)
}

pub(super) struct ListQuery {
    pub page: u64,
    pub page_size: u64,
    pub sort: Option<Sort>,
    pub filters: Vec<Filter>,
}

async fn list_sessions(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let started = Instant::now();
    let n = sim.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let request_id = format!(
        "req-{}",
        sim.next_request_id.fetch_add(1, Ordering::Relaxed)
    );
    let error =
        |status: StatusCode, kind: &str, details: &str, validation: Vec<ValidationError>| {
            error_response(status, &request_id, started, kind, details, validation)
        };

    if !authorized(&sim, &headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "login_error",
            "the project ID or API secret is not valid",
            Vec::new(),
        );
    }
    let mut query = match parse_query(query.as_deref().unwrap_or("")) {
        Ok(query) => query,
        Err(validation) => {
            return error(
                StatusCode::BAD_REQUEST,
                "validation_error",
                "the request is not valid",
                validation,
            )
        }
    };
    let plan = sim.plan(n, &query);
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    if let Some(response) = plan.injected.as_ref().and_then(|i| refusal(i, &error)) {
        return response;
    }
    if plan.ignore_filters {
        query.filters.clear();
    }
    let mut body = page_body(&sim, &query, plan.injected.as_ref());
    if plan.unknown_fields {
        body = body.replace(
            "\"status\":",
            "\"deviceInfo\":{\"os\":\"Linux\",\"tags\":[1,2]},\"status\":",
        );
        body.insert_str(1, "\"nextCursor\":null,");
    }
    if let Some(injected) = &plan.injected {
        corrupt(&mut body, injected);
    }
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The error response an injected fault answers with instead of a page, if it is one of those.
fn refusal(
    injected: &Injected,
    error: &impl Fn(StatusCode, &str, &str, Vec<ValidationError>) -> Response,
) -> Option<Response> {
    match injected {
        &Injected::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Some(error(
                status,
                "injected_error",
                "fault injected by the simulator",
                Vec::new(),
            ))
        }
        Injected::TooManyRequests { retry_after } => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_exceeded",
                "too many requests",
                Vec::new(),
            );
            if let Some(value) = retry_after.as_deref().and_then(|v| v.parse().ok()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            Some(response)
        }
        _ => None,
    }
}

/// The JSON of one page of `query`'s answer.
fn page_body(sim: &Simulator, query: &ListQuery, injected: Option<&Injected>) -> String {
    let population = sim.read();
    let result = population.query(&query.filters, query.sort, query.page, query.page_size);
    let mut body = String::with_capacity(64 + result.indexes.len() * 220);
    body.push_str("{\"sessions\":[");
    population.write_sessions_json(&result.indexes, &mut body);
    drop(population);
    let total_pages = match injected {
        Some(&Injected::TotalPages(pages)) => pages,
        _ => i64::try_from(result.total.div_ceil(query.page_size)).unwrap_or(i64::MAX),
    };
    body.push_str(&format!(
        "],\"paging\":{{\"page\":{},\"totalPages\":{},\"totalItems\":{}}}}}",
        query.page, total_pages, result.total
    ));
    body
}

/// Spoils a good body the way `injected` says.
fn corrupt(body: &mut String, injected: &Injected) {
    match injected {
        Injected::Truncated => body.truncate(body.len() / 2),
        Injected::Malformed => *body = "<html><body>502 Bad Gateway</body></html>".into(),
        Injected::WrongTypes => {
            *body = body.replace("\"totalItems\":", "\"totalItems\":\"many\",\"ignored\":")
        }
        &Injected::Oversized(size) => {
            let pad = size.saturating_sub(body.len());
            body.push_str(&" ".repeat(pad));
        }
        _ => {}
    }
}

fn authorized(sim: &Simulator, headers: &HeaderMap) -> bool {
    basic_auth::parse(headers).is_some_and(|c| c.user == sim.project_id && sim.accepts(&c.password))
}

fn parse_query(query: &str) -> Result<ListQuery, Vec<ValidationError>> {
    let mut parsed = ListQuery {
        page: 1,
        page_size: 10,
        sort: None,
        filters: Vec::new(),
    };
    let mut problems = Vec::new();
    let mut problem = |field: &str, message: String| {
        problems.push(ValidationError {
            field: field.to_owned(),
            message,
        })
    };
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "page" => match value.parse::<u64>() {
                Ok(page) if page >= 1 => parsed.page = page,
                // A page past u64 is past the end all the same: an empty page, not an error.
                Err(_) if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                    parsed.page = u64::MAX
                }
                _ => problem("page", format!("must be a positive integer, not {value:?}")),
            },
            "pageSize" => match value.parse::<u64>() {
                Ok(size) if (1..=MAX_PAGE_SIZE).contains(&size) => parsed.page_size = size,
                _ => problem(
                    "pageSize",
                    format!("must be an integer from 1 to {MAX_PAGE_SIZE}, not {value:?}"),
                ),
            },
            "sort" => match value.parse::<Sort>() {
                Ok(sort) => parsed.sort = Some(sort),
                Err(e) => problem("sort", e),
            },
            "filter[]" => match value.parse::<Filter>() {
                Ok(filter) => parsed.filters.push(filter),
                Err(e) => problem("filter[]", e),
            },
            // Stricter than the real API is assumed to be: a misspelt parameter that was silently
            // ignored would hide a client bug (a filter that filters nothing), so refuse it.
            other => problem(other, "unknown query parameter".to_owned()),
        }
    }
    if problems.is_empty() {
        Ok(parsed)
    } else {
        Err(problems)
    }
}

fn error_response(
    status: StatusCode,
    request_id: &str,
    started: Instant,
    kind: &str,
    details: &str,
    validation: Vec<ValidationError>,
) -> Response {
    let body = ErrorBody {
        http_status_code: i64::from(status.as_u16()),
        message: status.canonical_reason().unwrap_or("Error").to_owned(),
        request_data: RequestData {
            request_id: request_id.to_owned(),
            link: None,
        },
        runtime: started.elapsed().as_secs_f64(),
        error: ErrorDetail {
            kind: kind.to_owned(),
            details: Some(details.to_owned()),
            validation,
        },
    };
    let json = serde_json::to_string(&body).unwrap_or_else(|_| "{}".to_owned());
    (status, [(header::CONTENT_TYPE, "application/json")], json).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_with_defaults_and_repeated_filters() {
        let q = parse_query(
            "page=2&pageSize=50&sort=created%3Aasc&filter%5B%5D=status%3Aeq%3Aactive&filter[]=created:gt:2026-11-25T17:00:00",
        )
        .expect("valid");
        assert_eq!((q.page, q.page_size), (2, 50));
        assert_eq!(q.sort, Some(Sort::CREATED_ASC));
        assert_eq!(q.filters.len(), 2);
        let d = parse_query("").expect("valid");
        assert_eq!((d.page, d.page_size, d.filters.len()), (1, 10, 0));
    }

    #[test]
    fn bad_queries_name_each_bad_field() {
        let problems =
            parse_query("page=0&pageSize=101&filter[]=created:gt:yesterday&sort=x&filter=oops")
                .err()
                .expect("invalid");
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["page", "pageSize", "filter[]", "sort", "filter"]);
    }
}
