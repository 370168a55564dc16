//! Polling: the `scan`, `filter` and `auto` strategies, [`Poller::poll_once`] and the loop.
//!
//! A poll takes one `now` (its start, truncated to whole seconds so that the API's
//! second-resolution filters and local aggregation draw window edges in the same place), builds a
//! complete [`Summary`] on the side, and only on success hands it to [`State::publish`]. A failed
//! poll is logged and counted; the previous snapshot stays until it goes stale.
//!
//! Paging is by `created:asc`, so sessions created during a poll land after everything fetched
//! so far instead of shifting pages still to come; duplicates are dropped by session ID.
//! Residual error while data moves: a session whose status changes between the request that
//! counts it and a later one may be counted in its old status or, under the `status:eq:active`
//! paging of `filter`, be skipped when an earlier active session ends and the pages shift by
//! one. Either is bounded by the sessions that change during the poll.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Context as _};
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use serde::Deserialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::aggregate::{Aggregator, SessionFacts, Summary};
use crate::config::Strategy;
use crate::corbado::client::decode_page;
use crate::corbado::query::{unix_millis, Sort};
use crate::corbado::{ApiError, Client, Field, Filter, Op, PageRequest, Paging, Status};
use crate::metrics::State;

/// The most sessions a poll accepts the API to claim; a larger `totalItems` is taken for a
/// broken response rather than a reason to page for hours.
pub const MAX_TOTAL_ITEMS: i64 = 200_000_000;

/// How the poller behaves; the part of `Config` it needs.
#[derive(Clone, Debug)]
pub struct PollSettings {
    pub strategy: Strategy,
    pub page_size: u32,
    pub concurrency: usize,
    pub windows: Vec<Duration>,
    pub top_k: usize,
    pub interval: Duration,
}

/// What one successful poll did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollReport {
    /// The poll's `now`, Unix milliseconds (whole seconds).
    pub now_ms: i64,
    /// `filter` or `scan`: what the poll ended up doing.
    pub strategy: &'static str,
    /// Requests made, retries included.
    pub requests: u64,
    /// Distinct sessions paged through.
    pub sessions: u64,
    /// Sessions seen twice and counted once.
    pub duplicates: u64,
    /// Whether `auto` fell back to `scan` in this poll.
    pub fell_back: bool,
}

/// The outcome of a check of the filter strategy that failed; `auto` falls back on it.
struct CheckFailed(String);

/// One decoded page: its paging numbers and what the aggregator needs of each session.
struct Page {
    paging: Paging,
    sessions: Vec<SessionFacts>,
}

pub struct Poller {
    client: Arc<Client>,
    state: Arc<State>,
    settings: PollSettings,
    /// Whether the last `auto` poll fell back; the warning is logged on the change only.
    falling_back: std::sync::atomic::AtomicBool,
}

impl Poller {
    pub fn new(client: Arc<Client>, state: Arc<State>, settings: PollSettings) -> Self {
        Poller {
            client,
            state,
            settings,
            falling_back: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Polls until `shutdown`, one poll at a time, a poll starting every `--poll.interval`
    /// (later when the previous one ran long). Never returns early on an error.
    pub async fn run(&self, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.settings.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let started = Instant::now();
            tokio::select! {
                // Dropping the poll cancels its in-flight requests.
                _ = shutdown.cancelled() => {
                    tracing::info!("shutdown: poll cancelled");
                    return;
                }
                _ = self.poll_once() => {}
            }
            let took = started.elapsed();
            if took > self.settings.interval {
                tracing::warn!(
                    duration_ms = took.as_millis() as u64,
                    interval_ms = self.settings.interval.as_millis() as u64,
                    "poll took longer than --poll.interval; the next poll starts late"
                );
            }
        }
    }

    /// One poll: fetch, aggregate, publish. Updates the exporter's own metrics either way.
    pub async fn poll_once(&self) -> anyhow::Result<PollReport> {
        let metrics = &self.state.metrics;
        metrics.polls.inc();
        let started = Instant::now();
        let attempts_before = self.client.attempts();
        // One instant for every window of this poll, in whole seconds (see the module doc).
        let now_ms = unix_millis(SystemTime::now()) / 1000 * 1000;

        let result = self.collect(now_ms).await;
        let requests = self.client.attempts() - attempts_before;
        metrics
            .last_poll_duration
            .set(started.elapsed().as_secs_f64());
        metrics
            .last_poll_requests
            .set(i64::try_from(requests).unwrap_or(i64::MAX));

        let outcome = result.and_then(|(summary, mut report)| {
            report.requests = requests;
            self.state
                .publish(summary, now_ms)
                .context("rendering the metrics")?;
            Ok(report)
        });
        match &outcome {
            Ok(report) => {
                metrics.up.set(1);
                metrics.set_strategy(report.strategy);
                tracing::info!(
                    strategy = report.strategy,
                    requests,
                    sessions = report.sessions,
                    duplicates = report.duplicates,
                    duration_ms = started.elapsed().as_millis() as u64,
                    "poll finished"
                );
            }
            Err(error) => {
                metrics.up.set(0);
                metrics.poll_failures.inc();
                tracing::error!(
                    requests,
                    duration_ms = started.elapsed().as_millis() as u64,
                    error = format!("{error:#}"),
                    "poll failed"
                );
            }
        }
        self.state.invalidate();
        outcome
    }

    async fn collect(&self, now_ms: i64) -> anyhow::Result<(Summary, PollReport)> {
        match self.settings.strategy {
            Strategy::Scan => self.scan(now_ms).await,
            Strategy::Filter => match self.filter(now_ms, false).await? {
                Ok(result) => Ok(result),
                // Only reachable with checks on; kept total for the compiler.
                Err(CheckFailed(why)) => Err(anyhow!("filter check failed: {why}")),
            },
            Strategy::Auto => match self.filter(now_ms, true).await? {
                Ok(result) => {
                    if self
                        .falling_back
                        .swap(false, std::sync::atomic::Ordering::Relaxed)
                    {
                        tracing::info!("auto: the filter check passes again; no longer scanning");
                    }
                    Ok(result)
                }
                Err(CheckFailed(why)) => {
                    self.state.metrics.strategy_fallbacks.inc();
                    if !self
                        .falling_back
                        .swap(true, std::sync::atomic::Ordering::Relaxed)
                    {
                        tracing::warn!(
                            reason = why,
                            "auto: the API's filtered totals do not add up; scanning every \
                             session instead (exact, but costs a request per page)"
                        );
                    } else {
                        tracing::debug!(reason = why, "auto: filter check failed again");
                    }
                    let (summary, mut report) = self.scan(now_ms).await?;
                    report.fell_back = true;
                    Ok((summary, report))
                }
            },
        }
    }

    /// `scan`: every session, unfiltered, aggregated here.
    async fn scan(&self, now_ms: i64) -> anyhow::Result<(Summary, PollReport)> {
        let mut aggregator = self.aggregator(now_ms);
        self.page_all(&[], |session| {
            aggregator.observe(session);
            true
        })
        .await
        .context("scanning sessions")?;
        let report = PollReport {
            now_ms,
            strategy: "scan",
            requests: 0,
            sessions: aggregator.distinct(),
            duplicates: aggregator.duplicates(),
            fell_back: false,
        };
        Ok((aggregator.finish(), report))
    }

    /// `filter`: counts from `pageSize=1` requests, active sessions paged in full. With `check`,
    /// returns `CheckFailed` when the API's answers do not add up.
    async fn filter(
        &self,
        now_ms: i64,
        check: bool,
    ) -> anyhow::Result<Result<(Summary, PollReport), CheckFailed>> {
        let now = now_ms / 1000;
        let windows: Vec<i64> = self
            .settings
            .windows
            .iter()
            .map(|w| i64::try_from(w.as_secs()).unwrap_or(i64::MAX))
            .collect();

        // Independent counts, run concurrently (bounded like pages are): the unfiltered total
        // and each status first, then per window the created and the expired sessions.
        let mut queries: Vec<Vec<Filter>> = vec![Vec::new()];
        queries.extend(Status::ALL.iter().map(|&s| vec![Filter::status(s)]));
        for &w in &windows {
            queries.push(vec![
                Filter::time(Field::Created, Op::Gt, now - w),
                Filter::time(Field::Created, Op::Lt, now + 1),
            ]);
        }
        for &w in &windows {
            queries.push(vec![
                Filter::status(Status::Expired),
                Filter::time(Field::Expires, Op::Gt, now - w),
                Filter::time(Field::Expires, Op::Lt, now + 1),
            ]);
        }
        let mut counts = self.counts(&queries).await?;
        let status_queries = 1 + Status::ALL.len();
        if check && !adds_up(&counts) {
            // Sessions that start or end between two count requests can make an honest API's
            // totals differ by a few; count once more before concluding the filters are broken.
            let again = self.counts(&queries[..status_queries]).await?;
            counts[..status_queries].copy_from_slice(&again);
            if !adds_up(&counts) {
                let known: u64 = counts[1..status_queries].iter().sum();
                return Ok(Err(CheckFailed(format!(
                    "per-status totals add up to {known}, the unfiltered total is {}",
                    counts[0]
                ))));
            }
        }

        let mut aggregator = self.aggregator(now_ms);
        let mut not_active = 0u64;
        let active_filter = [Filter::status(Status::Active)];
        self.page_all(&active_filter, |session| {
            if session.status != Some(Status::Active) {
                not_active += 1;
                // With checks on, one wrong session is proof enough: stop paging.
                return !check;
            }
            aggregator.observe(session);
            true
        })
        .await
        .context("paging active sessions")?;

        if not_active > 0 {
            if check {
                return Ok(Err(CheckFailed(
                    "a session paged under status:eq:active was not active".into(),
                )));
            }
            tracing::warn!(
                not_active,
                "filter: the API returned non-active sessions for status:eq:active; ignored them"
            );
        }

        let total = counts[0];
        let mut by_status = [0u64; 5];
        by_status.copy_from_slice(&counts[1..status_queries]);
        let known: u64 = by_status.iter().sum();
        if known > total {
            tracing::warn!(
                known,
                total,
                "filter: per-status totals exceed the unfiltered total"
            );
        }

        let report = PollReport {
            now_ms,
            strategy: "filter",
            requests: 0,
            sessions: aggregator.distinct(),
            duplicates: aggregator.duplicates(),
            fell_back: false,
        };
        let mut summary = aggregator.finish();
        summary.by_status = by_status;
        summary.unknown_status = total.saturating_sub(known);
        let n = windows.len();
        summary.created_in_window = counts[status_queries..status_queries + n].to_vec();
        summary.expired_in_window = counts[status_queries + n..status_queries + 2 * n].to_vec();
        Ok(Ok((summary, report)))
    }

    fn aggregator(&self, now_ms: i64) -> Aggregator {
        Aggregator::new(now_ms, &self.settings.windows, self.settings.top_k)
    }

    /// `totalItems` for each query, at most `concurrency` requests in flight.
    async fn counts(&self, queries: &[Vec<Filter>]) -> anyhow::Result<Vec<u64>> {
        let mut counts = vec![0u64; queries.len()];
        let mut pending = queries.iter().enumerate();
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < self.settings.concurrency {
                let Some((i, filters)) = pending.next() else {
                    break;
                };
                in_flight.push(self.indexed_count(i, filters));
            }
            let Some((i, result)) = in_flight.next().await else {
                break;
            };
            counts[i] = result.context("counting sessions")?;
        }
        Ok(counts)
    }

    async fn indexed_count(&self, i: usize, filters: &[Filter]) -> (usize, Result<u64, ApiError>) {
        (i, self.count(filters).await)
    }

    /// `totalItems` of a filtered query, from a one-session page.
    async fn count(&self, filters: &[Filter]) -> Result<u64, ApiError> {
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

    /// Pages through every session matching `filters`, at most `concurrency` pages in flight,
    /// feeding each to `sink` (which returns `false` to stop). Returns `totalItems` of the first
    /// page.
    async fn page_all(
        &self,
        filters: &[Filter],
        mut sink: impl FnMut(SessionFacts) -> bool,
    ) -> anyhow::Result<u64> {
        let page_size = self.settings.page_size;
        let first = self
            .fetch_page(1, filters)
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
        // Sessions created during the poll add pages; follow the growth, within reason.
        let limit = expected_pages + 2 + expected_pages / 20;
        let mut last_page = expected_pages.max(reported);
        for session in first.sessions {
            if !sink(session) {
                return Ok(total_items);
            }
        }

        let mut next = 2u64;
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < self.settings.concurrency && next <= last_page {
                let page = next;
                in_flight.push(self.indexed_page(page, filters));
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
            for session in page_data.sessions {
                if !sink(session) {
                    return Ok(total_items);
                }
            }
        }
        Ok(total_items)
    }

    async fn indexed_page(&self, page: u64, filters: &[Filter]) -> (u64, Result<Page, ApiError>) {
        (page, self.fetch_page(page, filters).await)
    }

    async fn fetch_page(&self, page: u64, filters: &[Filter]) -> Result<Page, ApiError> {
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
                    sessions: list.sessions.iter().map(SessionFacts::from_wire).collect(),
                })
            })
            .await
    }
}

/// Whether the per-status counts (`counts[1..=5]`) add up to the unfiltered total (`counts[0]`).
fn adds_up(counts: &[u64]) -> bool {
    counts[1..=Status::ALL.len()].iter().sum::<u64>() == counts[0]
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
