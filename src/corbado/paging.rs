//! Walking the list: counts from one-session pages, and every page of a filtered query with a
//! bounded number in flight.
//!
//! Paging is by `created:asc`, so sessions created during a walk land after everything fetched
//! so far instead of shifting pages still to come. The numbers the API reports about paging are
//! checked, not followed blindly. What the sessions mean is the caller's business: the walk hands
//! each one, converted by the caller's function, to the caller's sink.

use std::sync::Arc;

use anyhow::{bail, Context as _};
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use serde::Deserialize;

use super::client::{decode_page, Client, PageRequest};
use super::error::ApiError;
use super::model::{Paging, SessionRef};
use super::query::{Filter, Sort};

/// The most sessions a walk accepts the API to claim; a larger `totalItems` is taken for a
/// broken response rather than a reason to page for hours.
pub const MAX_TOTAL_ITEMS: i64 = 200_000_000;

/// How pages are asked for.
#[derive(Clone, Copy, Debug)]
pub struct PagingSettings {
    pub page_size: u32,
    /// Requests in flight at once.
    pub concurrency: usize,
}

/// Pages through `GET /sessions` with one client.
pub struct Pager {
    client: Arc<Client>,
    settings: PagingSettings,
}

/// One decoded page: its paging numbers and the caller's form of each session.
struct Page<T> {
    paging: Paging,
    sessions: Vec<T>,
}

impl Pager {
    pub fn new(client: Arc<Client>, settings: PagingSettings) -> Self {
        Pager { client, settings }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `totalItems` for each query, at most `concurrency` requests in flight, in query order.
    pub async fn counts(&self, queries: &[Vec<Filter>]) -> anyhow::Result<Vec<u64>> {
        let mut counts = vec![0u64; queries.len()];
        let mut pending = queries.iter().enumerate();
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < self.settings.concurrency {
                let Some((i, filters)) = pending.next() else {
                    break;
                };
                in_flight.push(async move { (i, self.count(filters).await) });
            }
            let Some((i, result)) = in_flight.next().await else {
                break;
            };
            counts[i] = result.context("counting sessions")?;
        }
        Ok(counts)
    }

    /// `totalItems` of a filtered query, from a one-session page.
    pub async fn count(&self, filters: &[Filter]) -> Result<u64, ApiError> {
        #[derive(Deserialize)]
        struct PagingOnly {
            paging: Paging,
        }
        let request = PageRequest {
            page: 1,
            page_size: 1,
            sort: None,
            filters,
        };
        self.client
            .fetch(&request, |body| {
                let page: PagingOnly =
                    serde_json::from_slice(body).map_err(|e| ApiError::Malformed(e.to_string()))?;
                checked_total(page.paging)
            })
            .await
    }

    /// Pages through every session matching `filters`, converting each with `convert` and
    /// handing it to `sink`; `sink` returns `false` to stop the walk. Returns the first page's
    /// `totalItems`.
    pub async fn walk<T>(
        &self,
        filters: &[Filter],
        convert: fn(&SessionRef<'_>) -> T,
        mut sink: impl FnMut(T) -> bool,
    ) -> anyhow::Result<u64> {
        let page_size = self.settings.page_size;
        let first = self
            .fetch_page(1, filters, convert)
            .await
            .context("fetching page 1")?;
        let total_items = checked_total(first.paging)?;
        let expected_pages = total_items.div_ceil(u64::from(page_size));
        let reported = u64::try_from(first.paging.total_pages).unwrap_or(0);
        if reported > expected_pages + 1 {
            bail!(
                "the API reports {reported} pages for {total_items} sessions at {page_size} a \
                 page; refusing to follow"
            );
        }
        // Sessions created during the walk add pages; follow the growth, within reason.
        let limit = expected_pages + 2 + expected_pages / 20;
        let mut last_page = expected_pages.max(reported);
        if !first.sessions.into_iter().all(&mut sink) {
            return Ok(total_items);
        }

        let mut next = 2u64;
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < self.settings.concurrency && next <= last_page {
                let page = next;
                in_flight
                    .push(async move { (page, self.fetch_page(page, filters, convert).await) });
                next += 1;
            }
            let Some((page, result)) = in_flight.next().await else {
                break;
            };
            let page_data = result.with_context(|| format!("fetching page {page}"))?;
            let grown = u64::try_from(page_data.paging.total_pages).unwrap_or(0);
            if grown > last_page {
                last_page = grown.min(limit);
            }
            if !page_data.sessions.into_iter().all(&mut sink) {
                return Ok(total_items);
            }
        }
        Ok(total_items)
    }

    async fn fetch_page<T>(
        &self,
        page: u64,
        filters: &[Filter],
        convert: fn(&SessionRef<'_>) -> T,
    ) -> Result<Page<T>, ApiError> {
        let request = PageRequest {
            page,
            page_size: self.settings.page_size,
            sort: Some(Sort::CREATED_ASC),
            filters,
        };
        let page_size = self.settings.page_size as usize;
        self.client
            .fetch(&request, |body| {
                let list = decode_page(body)?;
                if list.sessions.len() > page_size {
                    return Err(ApiError::Malformed(format!(
                        "{} sessions on a page of {page_size}",
                        list.sessions.len()
                    )));
                }
                Ok(Page {
                    paging: list.paging,
                    sessions: list.sessions.iter().map(convert).collect(),
                })
            })
            .await
    }
}

fn checked_total(paging: Paging) -> Result<u64, ApiError> {
    if !(0..=MAX_TOTAL_ITEMS).contains(&paging.total_items) {
        return Err(ApiError::Malformed(format!(
            "implausible totalItems {}",
            paging.total_items
        )));
    }
    Ok(paging.total_items as u64)
}
