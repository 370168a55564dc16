//! Walking the list: counts from one-session pages, and every page of a filtered query with a
//! bounded number in flight.
//!
//! Paging is by `created:asc`, so sessions created during a walk land after everything fetched
//! so far instead of shifting pages still to come. [`Pager::walk`] asks for pages by number, many
//! at once; [`Pager::walk_by_created`] asks for page 1 of `created:gt:<last seen>` again and again
//! (keyset paging), one at a time, so that sessions leaving the list during a long walk shift
//! nothing. The numbers the API reports about paging are checked, not followed blindly. What the sessions mean is the caller's business: the walk hands
//! each one, converted by the caller's function, to the caller's sink.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use serde::Deserialize;

use super::client::{decode_page, Client, PageRequest};
use super::error::ApiError;
use super::model::{Paging, SessionRef};
use super::query::{Field, Filter, Op, Sort};

/// How often (in pages) a long walk says that it is still going.
const PROGRESS_EVERY: u64 = 500;

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

/// Pages through `GET /sessions` with one client. Several pagers may share a client (and so its
/// rate limit); each counts the attempts made through it.
pub struct Pager {
    client: Arc<Client>,
    settings: PagingSettings,
    attempts: AtomicU64,
}

/// One decoded page: its paging numbers, the caller's form of each session, and the latest
/// `createdMs` on it.
struct Page<T> {
    paging: Paging,
    sessions: Vec<T>,
    last_created_ms: Option<i64>,
    first_created_ms: Option<i64>,
    /// Whether `createdMs` never decreases along the page.
    in_created_order: bool,
}

impl Pager {
    pub fn new(client: Arc<Client>, settings: PagingSettings) -> Self {
        Pager {
            client,
            settings,
            attempts: AtomicU64::new(0),
        }
    }

    /// Another pager on the same client (same rate limit), counting its own attempts.
    pub fn sibling(&self) -> Pager {
        Pager::new(Arc::clone(&self.client), self.settings)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Attempts made through this pager, retries included.
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    pub fn page_size(&self) -> u32 {
        self.settings.page_size
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
            meter: Some(&self.attempts),
        };
        self.client
            .fetch(&request, |body| {
                let page: PagingOnly =
                    serde_json::from_slice(body).map_err(|e| ApiError::from_json(&e))?;
                if page.paging.page != 1 {
                    return Err(ApiError::Paging(format!(
                        "asked for page 1, the API answered with page {}",
                        page.paging.page
                    )));
                }
                checked_total(page.paging)
            })
            .await
    }

    /// Pages through every session matching `filters`, converting each with `convert` and
    /// handing it to `sink`; `sink` returns `false` to stop the walk. Returns the first page's
    /// `totalItems`.
    ///
    /// Trusts nothing the API says about paging: every page must be the one asked for, an empty
    /// page ends the walk, and a walk whose pages held far fewer sessions than the total claimed
    /// fails rather than publishing part of the data as all of it.
    pub async fn walk<T>(
        &self,
        filters: &[Filter],
        convert: fn(&SessionRef<'_>) -> T,
        mut sink: impl FnMut(T) -> bool,
    ) -> anyhow::Result<u64> {
        let first = self
            .fetch_page(1, filters, convert)
            .await
            .context("fetching page 1")?;
        let mut plan = WalkPlan::new(first.paging, u64::from(self.settings.page_size))?;
        plan.follow(1, first.paging, first.sessions.len());
        if !first.sessions.into_iter().all(&mut sink) {
            return Ok(plan.total_items);
        }
        let mut next = 2u64;
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < self.settings.concurrency && next <= plan.last_page {
                let page = next;
                in_flight
                    .push(async move { (page, self.fetch_page(page, filters, convert).await) });
                next += 1;
            }
            let Some((page, result)) = in_flight.next().await else {
                break;
            };
            let page_data = result.with_context(|| format!("fetching page {page}"))?;
            plan.follow(page, page_data.paging, page_data.sessions.len());
            if !page_data.sessions.into_iter().all(&mut sink) {
                return Ok(plan.total_items);
            }
            if page % PROGRESS_EVERY == 0 {
                tracing::info!(page, of = plan.last_page, "still paging");
            }
        }
        plan.check_received()?;
        Ok(plan.total_items)
    }

    /// Pages through every session matching `filters` by key: page 1 of the filters plus
    /// `created:gt:X`, X the last whole second before the newest session received, again and
    /// again until a page comes back short. Sessions that leave the list meanwhile shift nothing,
    /// so none is skipped; the sessions of one second may come twice (the sink must not mind).
    /// When a whole page falls within one second, the next pages of the same query are asked for
    /// by number. One request at a time. Returns the sessions received, repeats included.
    pub async fn walk_by_created<T>(
        &self,
        filters: &[Filter],
        convert: fn(&SessionRef<'_>) -> T,
        mut sink: impl FnMut(T),
    ) -> anyhow::Result<u64> {
        let page_size = self.settings.page_size as usize;
        let mut after: Option<i64> = None;
        let mut page = 1u64;
        let mut received = 0u64;
        for request in 1u64.. {
            let mut query = filters.to_vec();
            query.extend(after.map(|x| Filter::time(Field::Created, Op::Gt, x)));
            let data = self
                .fetch_page(page, &query, convert)
                .await
                .with_context(|| format!("fetching sessions created after {after:?}"))?;
            check_keyset_page(&data, after)?;
            let count = data.sessions.len();
            received += count as u64;
            data.sessions.into_iter().for_each(&mut sink);
            let Some(last) = data.last_created_ms.filter(|_| count == page_size) else {
                return Ok(received);
            };
            if received > MAX_TOTAL_ITEMS as u64 {
                bail!("more than {MAX_TOTAL_ITEMS} sessions received; refusing to go on");
            }
            // The largest whole second strictly before `last`: every session not yet seen was
            // created at or after `last`, so none is skipped.
            let next = (last + 999).div_euclid(1000) - 1;
            if after.is_some_and(|a| next <= a) {
                page += 1;
            } else {
                (after, page) = (Some(next), 1);
            }
            if request % PROGRESS_EVERY == 0 {
                tracing::info!(
                    requests = request,
                    received,
                    "still paging by creation time"
                );
            }
        }
        Ok(received)
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
            meter: Some(&self.attempts),
        };
        let page_size = self.settings.page_size as usize;
        self.client
            .fetch(&request, |body| {
                let list = decode_page(body)?;
                if list.paging.page != i64::try_from(page).unwrap_or(i64::MAX) {
                    return Err(ApiError::Paging(format!(
                        "asked for page {page}, the API answered with page {} (does a proxy \
                         drop the query string?)",
                        list.paging.page
                    )));
                }
                if list.sessions.len() > page_size {
                    return Err(ApiError::Malformed(format!(
                        "{} sessions on a page of {page_size}",
                        list.sessions.len()
                    )));
                }
                Ok(Page {
                    paging: list.paging,
                    last_created_ms: list.sessions.iter().map(|s| s.created_ms).max(),
                    first_created_ms: list.sessions.first().map(|s| s.created_ms),
                    in_created_order: list
                        .sessions
                        .windows(2)
                        .all(|pair| pair[0].created_ms <= pair[1].created_ms),
                    sessions: list.sessions.iter().map(convert).collect(),
                })
            })
            .await
    }
}

/// Keyset paging is only sound when the API sorts by `created` and honours `created:gt`.
fn check_keyset_page<T>(page: &Page<T>, after: Option<i64>) -> Result<(), ApiError> {
    if !page.in_created_order {
        return Err(ApiError::Paging(
            "asked for sort=created:asc, the page is not in that order".into(),
        ));
    }
    if let (Some(after), Some(first)) = (after, page.first_created_ms) {
        if first <= after.saturating_mul(1000) {
            return Err(ApiError::Paging(format!(
                "asked for sessions created after {after} (Unix seconds), the page starts with \
                 one created at {first} ms"
            )));
        }
    }
    Ok(())
}

/// A walk's view of how far it goes, corrected by what the pages show.
#[derive(Debug)]
struct WalkPlan {
    page_size: u64,
    /// What the first page claimed.
    total_items: u64,
    /// The last page to ask for: what the first page claimed, grown with sessions created
    /// during the walk (within `limit`), cut short by an empty page.
    last_page: u64,
    limit: u64,
    /// Sessions the pages held.
    received: u64,
    /// The first page that came back empty.
    empty_page: Option<u64>,
}

impl WalkPlan {
    fn new(first: Paging, page_size: u64) -> anyhow::Result<Self> {
        let total_items = checked_total(first)?;
        let expected_pages = total_items.div_ceil(page_size);
        let reported = u64::try_from(first.total_pages).unwrap_or(0);
        if reported > expected_pages + 1 {
            bail!(
                "the API reports {reported} pages for {total_items} sessions at {page_size} a \
                 page; refusing to follow"
            );
        }
        Ok(WalkPlan {
            page_size,
            total_items,
            last_page: expected_pages.max(reported),
            // Sessions created during the walk add pages; follow the growth, within reason.
            limit: expected_pages + 2 + expected_pages / 20,
            received: 0,
            empty_page: None,
        })
    }

    /// Takes in what page `page` showed.
    fn follow(&mut self, page: u64, paging: Paging, sessions: usize) {
        self.received += sessions as u64;
        if sessions == 0 {
            // Nothing after an empty page can hold data: stop asking, whatever the totals say.
            self.last_page = self.last_page.min(page.saturating_sub(1));
            self.empty_page = Some(self.empty_page.map_or(page, |p| p.min(page)));
            return;
        }
        let grown = u64::try_from(paging.total_pages).unwrap_or(0);
        if grown > self.last_page && self.empty_page.is_none() {
            self.last_page = grown.min(self.limit);
        }
    }

    /// Fails when the pages held far fewer sessions than the first page claimed. Sessions that
    /// leave a filtered list during the walk account for a few; a page or a twentieth more is
    /// not an honest API's doing.
    fn check_received(&self) -> Result<(), ApiError> {
        let tolerance = self.page_size.max(self.total_items / 20);
        if self.received.saturating_add(tolerance) >= self.total_items {
            return Ok(());
        }
        let ended = self
            .empty_page
            .map(|p| format!(" (page {p} came back empty)"))
            .unwrap_or_default();
        Err(ApiError::Paging(format!(
            "the API claimed {} sessions, but its pages held {}{ended}",
            self.total_items, self.received
        )))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn paging(page: i64, total_pages: i64, total_items: i64) -> Paging {
        Paging {
            page,
            total_pages,
            total_items,
        }
    }

    #[test]
    fn an_empty_page_ends_the_walk_and_an_implausible_total_fails_it() {
        // 50 million claimed, one page of data: page 2 is empty, and that is the end.
        let mut plan = WalkPlan::new(paging(1, 500_000, 50_000_000), 100).expect("plausible");
        plan.follow(1, paging(1, 500_000, 50_000_000), 100);
        assert_eq!(plan.last_page, 500_000);
        plan.follow(2, paging(2, 500_000, 50_000_000), 0);
        assert_eq!(plan.last_page, 1);
        let error = plan.check_received().expect_err("implausible").to_string();
        assert!(
            error.contains("claimed 50000000") && error.contains("page 2"),
            "{error}"
        );
    }

    #[test]
    fn growth_is_followed_and_a_small_shortfall_is_honest() {
        let mut plan = WalkPlan::new(paging(1, 3, 250), 100).expect("plausible");
        plan.follow(1, paging(1, 3, 250), 100);
        plan.follow(2, paging(2, 4, 301), 100);
        assert_eq!(plan.last_page, 4);
        plan.follow(3, paging(3, 4, 301), 40);
        plan.follow(4, paging(4, 4, 301), 0);
        assert_eq!(plan.last_page, 3);
        plan.check_received().expect("240 of 250 is within a page");
    }
}
