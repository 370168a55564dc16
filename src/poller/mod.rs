//! Polling: [`Poller::poll_once`], the loop around it, and which strategy a poll uses.
//!
//! A poll takes one `now` (its start, in whole seconds, so that the API's second-resolution
//! filters and local aggregation draw window edges in the same place), builds a complete
//! [`Summary`] on the side, and only on success hands it to [`Store::publish`]. A failed poll is
//! logged and counted; the previous snapshot stays until it goes stale.
//!
//! Owns the bookkeeping of a poll (the exporter's own series, the log line); the strategies, a
//! file each, only collect: [`scan`], [`filter`], and [`auto`] (filter, checked, falling back to
//! scan). It must not reach the network except through [`Pager`].
//!
//! Residual error while data moves: a session whose status changes between the request that
//! counts it and a later one may be counted in its old status or, under the `status:eq:active`
//! paging of `filter`, be skipped when an earlier active session ends and the pages shift by
//! one. Either is bounded by the sessions that change during the poll.

mod auto;
mod filter;
mod scan;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::aggregate::{Aggregator, Summary};
use crate::clock;
use crate::corbado::Pager;
use crate::snapshot::Store;

/// The `--poll.strategy` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Strategy {
    Auto,
    Filter,
    Scan,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Auto => "auto",
            Strategy::Filter => "filter",
            Strategy::Scan => "scan",
        }
    }
}

/// What a poll actually did: `auto` resolves to one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollMethod {
    Filter,
    Scan,
}

impl PollMethod {
    /// The `strategy` label values of `corbado_exporter_last_poll_strategy`.
    pub const LABELS: [&'static str; 2] = ["filter", "scan"];

    pub fn as_str(self) -> &'static str {
        match self {
            PollMethod::Filter => "filter",
            PollMethod::Scan => "scan",
        }
    }
}

/// How the poller behaves; the part of the configuration it needs.
#[derive(Clone, Debug)]
pub struct PollSettings {
    pub strategy: Strategy,
    pub windows: Vec<Duration>,
    pub top_k: usize,
    pub interval: Duration,
}

/// What a strategy collected in one poll.
struct Collected {
    summary: Summary,
    method: PollMethod,
    /// Distinct sessions paged through.
    paged: u64,
    /// Sessions seen twice and counted once.
    duplicates: u64,
    /// Whether `auto` fell back to `scan` for it.
    fell_back: bool,
}

/// What one successful poll did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollReport {
    /// The poll's `now`, Unix milliseconds (whole seconds).
    pub now_ms: i64,
    pub method: PollMethod,
    /// Requests made, retries included.
    pub requests: u64,
    /// Distinct sessions paged through (not the project's total: `filter` pages active ones).
    pub paged: u64,
    /// Sessions seen twice and counted once.
    pub duplicates: u64,
    /// Whether `auto` fell back to `scan` in this poll.
    pub fell_back: bool,
}

pub struct Poller {
    pager: Pager,
    store: Arc<Store>,
    settings: PollSettings,
    /// Whether `auto` is scanning; its warning is logged when this changes only.
    fallback: auto::FallbackState,
}

impl Poller {
    pub fn new(pager: Pager, store: Arc<Store>, settings: PollSettings) -> Self {
        Poller {
            pager,
            store,
            settings,
            fallback: auto::FallbackState::default(),
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
        self.store.metrics.polls.inc();
        let started = Instant::now();
        let attempts_before = self.pager.client().attempts();
        let now_ms = clock::now_whole_seconds_ms();

        let result = self.collect(now_ms).await.and_then(suspicious_duplicates);
        let requests = self.pager.client().attempts() - attempts_before;
        let outcome = result.and_then(|collected| {
            let report = PollReport {
                now_ms,
                method: collected.method,
                requests,
                paged: collected.paged,
                duplicates: collected.duplicates,
                fell_back: collected.fell_back,
            };
            self.store
                .publish(collected.summary, now_ms)
                .context("rendering the metrics")?;
            Ok(report)
        });
        self.record(&outcome, requests, started.elapsed());
        outcome
    }

    /// The exporter's own series and the log line for one poll's outcome.
    fn record(&self, outcome: &anyhow::Result<PollReport>, requests: u64, took: Duration) {
        let metrics = &self.store.metrics;
        metrics.last_poll_duration.set(took.as_secs_f64());
        metrics
            .last_poll_requests
            .set(i64::try_from(requests).unwrap_or(i64::MAX));
        match outcome {
            Ok(report) => {
                metrics.up.set(1);
                metrics.set_strategy(report.method.as_str());
                tracing::info!(
                    strategy = report.method.as_str(),
                    requests,
                    sessions_paged = report.paged,
                    duplicates = report.duplicates,
                    duration_ms = took.as_millis() as u64,
                    "poll finished"
                );
            }
            Err(error) => {
                metrics.up.set(0);
                metrics.poll_failures.inc();
                tracing::error!(
                    requests,
                    duration_ms = took.as_millis() as u64,
                    error = format!("{error:#}"),
                    "poll failed"
                );
            }
        }
        self.store.invalidate();
    }

    async fn collect(&self, now_ms: i64) -> anyhow::Result<Collected> {
        match self.settings.strategy {
            Strategy::Scan => scan::collect(&self.pager, self.settings.aggregator(now_ms)).await,
            Strategy::Filter => filter::collect(
                &self.pager,
                now_ms,
                &self.settings.windows,
                self.settings.aggregator(now_ms),
                filter::Verify::No,
            )
            .await?
            .trusted(),
            Strategy::Auto => {
                auto::collect(
                    &self.pager,
                    now_ms,
                    &self.settings,
                    &self.fallback,
                    &self.store.metrics,
                )
                .await
            }
        }
    }
}

impl PollSettings {
    /// A fresh aggregator for a poll whose `now` is `now_ms`.
    fn aggregator(&self, now_ms: i64) -> Aggregator {
        Aggregator::new(now_ms, &self.windows, self.top_k)
    }
}

/// Duplicates below this many are never taken for broken paging, whatever their share.
const DUPLICATES_FLOOR: u64 = 10;

/// Fails a poll in which more than a tenth of the sessions received came twice: no honest API
/// pages like that (one that ignores `page` while echoing it does, or a proxy that caches pages).
/// Fewer are counted once, with a warning.
fn suspicious_duplicates(collected: Collected) -> anyhow::Result<Collected> {
    let duplicates = collected.duplicates;
    let received = collected.paged + duplicates;
    if duplicates >= DUPLICATES_FLOOR && duplicates.saturating_mul(10) > received {
        anyhow::bail!(
            "untrustworthy paging: {duplicates} of the {received} sessions received came twice \
             (more than a tenth); the API or a proxy in front of it is not paging honestly"
        );
    }
    if duplicates > 0 {
        tracing::warn!(
            duplicates,
            received,
            "sessions came twice while paging; each was counted once"
        );
    }
    Ok(collected)
}
