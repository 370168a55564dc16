//! Polling: which strategy a poll uses, one poll ([`Poller::poll_once`]), and the loops that run
//! them ([`Poller::run`]).
//!
//! A poll has two parts. Its **counts** (per status, the unfiltered total, per window created,
//! expiring and expired) are published as soon as they are counted. Its **active part** brings
//! the active sessions (for the per-user gauges) up to date: `filter` pages them all, `incremental`
//! keeps them between polls ([`incremental`]). `scan` does both at once from every session.
//! [`Poller::run`] counts every interval whatever the active part does: when that takes longer
//! than an interval (a first sync of a large project), it goes on in the background, sharing the
//! client's rate limit, and the per-user gauges show the last complete set meanwhile.
//!
//! A poll takes one `now` (its start, in whole seconds, so that the API's second-resolution
//! filters and local aggregation draw window edges in the same place). A failed part is logged
//! and counted; what was published before stays until it goes stale. The strategies only
//! collect; this file runs a poll's parts and publishes what they bring, `bookkeeping` records
//! how it went (the exporter's own series, the journal, the log line), `state` keeps the active
//! set across restarts, `schedule` runs the loops, and `support` gives the benches a view into
//! the set. Nothing here reaches the network except through [`Pager`].

mod auto;
mod bookkeeping;
mod counts;
mod explain;
mod filter;
mod incremental;
mod locating;
mod repair;
mod scan;
mod schedule;
mod state;
#[cfg(feature = "test-support")]
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::time::Instant;

use crate::aggregate::{Aggregator, Summary};
use crate::clock::Clock;
use crate::corbado::Pager;
pub use crate::journal::Repairs;
use crate::snapshot::Store;
use bookkeeping::check_duplicates;
use counts::{Counted, Counts, Verify};
pub use incremental::{poll_budget, repage_share, ResyncReason, REQUESTS_PER_MINUTE};
pub use locating::locating_cost;
pub use repair::RepairReason;
pub use state::StateSettings;

/// The `--poll.strategy` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Strategy {
    Auto,
    Incremental,
    Filter,
    Scan,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Auto => "auto",
            Strategy::Incremental => "incremental",
            Strategy::Filter => "filter",
            Strategy::Scan => "scan",
        }
    }
}

/// What a poll actually did: `auto` resolves to one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollMethod {
    Incremental,
    Filter,
    Scan,
}

impl PollMethod {
    /// The `strategy` label values of `corbado_exporter_last_poll_strategy`, each exported
    /// from the start. Named variant by variant, so that reordering the enum cannot mislabel one.
    pub const LABELS: [&'static str; 3] = [
        PollMethod::Incremental.as_str(),
        PollMethod::Filter.as_str(),
        PollMethod::Scan.as_str(),
    ];

    /// This method's `strategy` label.
    pub const fn as_str(self) -> &'static str {
        match self {
            PollMethod::Incremental => "incremental",
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
    /// `incremental`/`auto`: re-page every active session at least this often; zero: only
    /// when a repair cannot be located.
    pub resync_interval: Duration,
    /// `incremental`/`auto`: count every held session against the API at least this often.
    pub verify_interval: Duration,
    /// `incremental`/`auto`: how far before the last sync the change queries reach back.
    pub change_overlap: Duration,
    /// `--storage.path`: where the active set is kept across restarts, if anywhere.
    pub state: Option<StateSettings>,
    pub clock: Clock,
}

/// What `scan` (or a fall-back to it) collected in one poll: everything at once.
struct Collected {
    summary: Summary,
    paged: u64,
    duplicates: u64,
}

/// What an active part brought: the per-user fields, and what it took.
pub(crate) struct ActiveDone {
    /// `None` while a paced resync has not yet made the set pass its proof: the per-user
    /// gauges published last stay, with their own timestamp.
    users: Option<Summary>,
    /// Sessions received.
    paged: u64,
    duplicates: u64,
    resync: Option<ResyncReason>,
    /// Active sessions held between polls (`incremental`).
    held: Option<u64>,
    /// Created-time ranges re-paged alone (`incremental`).
    repairs: Repairs,
}

/// How an active part ended.
// One of these a poll, moved once or twice: boxing the large variant would save nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum ActiveOutcome {
    Done(ActiveDone),
    /// The API's filters failed a check (only when verifying, for `auto`); the reason says how.
    Untrusted(String),
}

/// A poll whose counts are published, waiting for its active part.
struct CountedPoll {
    counts: Counts,
    /// Requests the counts took.
    requests: u64,
    started: Instant,
}

/// Where a poll stands after its counts part.
enum Step {
    /// Counted; the active part comes next.
    Counted(CountedPoll),
    /// Done already: it scanned.
    Complete(PollReport),
}

/// What one successful poll did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollReport {
    /// The poll's `now`, Unix milliseconds (whole seconds).
    pub now_ms: i64,
    pub method: PollMethod,
    /// Requests made, retries included: the counts and the active part.
    pub requests: u64,
    /// Sessions received while paging (not the project's total: the strategies page different
    /// things; `incremental` counts the changed ones).
    pub paged: u64,
    /// Sessions seen twice and counted once.
    pub duplicates: u64,
    /// Whether `auto` fell back to `scan` in this poll.
    pub fell_back: bool,
    /// Whether the active sessions were re-paged in full, and why.
    pub resync: Option<ResyncReason>,
    /// Created-time ranges re-paged alone, by reason.
    pub repairs: Repairs,
    /// Active sessions held between polls (`incremental`).
    pub active_set: Option<u64>,
}

pub struct Poller {
    counts_pager: Pager,
    /// The active part's own pager (same client, same rate limit), so that each part counts
    /// its own requests while both run.
    active_pager: Pager,
    store: Arc<Store>,
    settings: PollSettings,
    /// Whether `auto` is scanning; its warning is logged when this changes only.
    fallback: auto::FallbackState,
    /// Shared with the poller that replaces this one on a reload, so the set outlives it.
    incremental: Arc<tokio::sync::Mutex<incremental::Incremental>>,
    state: state::Keeper,
    counts_ok: AtomicBool,
    active_ok: AtomicBool,
    /// Whether an active part is running (in the background of [`Poller::run`]).
    syncing: AtomicBool,
}

impl Poller {
    pub fn new(pager: Pager, store: Arc<Store>, settings: PollSettings) -> Self {
        let keeper = state::Keeper::new(settings.state.clone());
        Self::with_set(pager, store, settings, Arc::default(), keeper)
    }

    /// A poller that takes over `old`'s active set (a project restarted by a reload with the
    /// same API URL): it neither resyncs nor restores from `--storage.path`.
    pub fn succeeding(
        old: &Poller,
        pager: Pager,
        store: Arc<Store>,
        settings: PollSettings,
    ) -> Self {
        let keeper = state::Keeper::handed_over(settings.state.clone());
        let set = Arc::clone(&old.incremental);
        store
            .metrics
            .state_restored
            .set(old.store.metrics.state_restored.get());
        Self::with_set(pager, store, settings, set, keeper)
    }

    fn with_set(
        pager: Pager,
        store: Arc<Store>,
        settings: PollSettings,
        incremental: Arc<tokio::sync::Mutex<incremental::Incremental>>,
        state: state::Keeper,
    ) -> Self {
        if state.enabled() {
            store.metrics.keep_state();
        }
        if matches!(settings.strategy, Strategy::Incremental | Strategy::Auto) {
            store.metrics.keep_active_set();
        }
        Poller {
            active_pager: pager.sibling(),
            counts_pager: pager,
            store,
            settings,
            fallback: auto::FallbackState::default(),
            incremental,
            state,
            counts_ok: AtomicBool::new(false),
            active_ok: AtomicBool::new(true),
            syncing: AtomicBool::new(false),
        }
    }

    /// One whole poll, the active part awaited: counts, active sessions, publish. Updates the
    /// exporter's own metrics either way.
    pub async fn poll_once(&self) -> anyhow::Result<PollReport> {
        let started = Instant::now();
        let before = self.attempts();
        let outcome = match self.count_part().await {
            Ok(Step::Counted(counted)) => self.active_part(&counted).await,
            Ok(Step::Complete(report)) => Ok(report),
            Err(error) => Err(error),
        };
        self.record(&outcome, started.elapsed(), self.attempts() - before);
        outcome
    }

    /// The pager of the counts part, for a caller's own counts (`check`).
    pub fn pager(&self) -> &Pager {
        &self.counts_pager
    }

    /// Now on the poller's clock, Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.settings.clock.now_ms()
    }

    /// Requests made by both parts so far.
    fn attempts(&self) -> u64 {
        self.counts_pager.attempts() + self.active_pager.attempts()
    }

    /// A poll's start: counts published, or (`scan`, and `auto` when the totals do not add up)
    /// everything scanned and published.
    async fn count_part(&self) -> anyhow::Result<Step> {
        self.restore_once().await;
        self.store.metrics.polls.inc();
        let started = Instant::now();
        let before = self.counts_pager.attempts();
        let now_ms = self.settings.clock.now_whole_seconds_ms();
        let verify = match self.settings.strategy {
            Strategy::Scan => {
                let report = self.scan(&self.counts_pager, now_ms, false).await;
                return self.counted(report.map(Step::Complete));
            }
            Strategy::Auto => Verify::Yes,
            Strategy::Incremental | Strategy::Filter => Verify::No,
        };
        let windows = &self.settings.windows;
        let step = match counts::count(&self.counts_pager, now_ms, windows, verify).await {
            Ok(Counted::Trusted(counts)) => self
                .store
                .publish_counts(counts.summary(), now_ms)
                .context("rendering the metrics")
                .map(|()| {
                    self.publish_restored_users();
                    Step::Counted(CountedPoll {
                        counts,
                        requests: self.counts_pager.attempts() - before,
                        started,
                    })
                }),
            Ok(Counted::Untrusted(why)) => {
                self.fallback.untrusted(&why, &self.store.metrics);
                let report = self.scan(&self.counts_pager, now_ms, true).await;
                report.map(|mut report| {
                    report.requests = self.counts_pager.attempts() - before;
                    Step::Complete(report)
                })
            }
            Err(error) => Err(error),
        };
        self.counted(step)
    }

    fn counted(&self, step: anyhow::Result<Step>) -> anyhow::Result<Step> {
        self.counts_ok.store(step.is_ok(), Ordering::Relaxed);
        step
    }

    /// A poll's active part, after its counts: the per-user gauges, published.
    async fn active_part(&self, counted: &CountedPoll) -> anyhow::Result<PollReport> {
        let before = self.active_pager.attempts();
        let now_ms = counted.counts.now_ms;
        let outcome = self.sync_active(counted).await;
        let requests = counted.requests + (self.active_pager.attempts() - before);
        let report = match outcome {
            Ok(ActiveOutcome::Done(done)) => self.publish_users(done, counted),
            Ok(ActiveOutcome::Untrusted(why)) => {
                self.fallback.untrusted(&why, &self.store.metrics);
                self.scan(&self.active_pager, now_ms, true).await
            }
            Err(error) => Err(error),
        };
        self.active_ok.store(report.is_ok(), Ordering::Relaxed);
        // `requests` counts a fall-back scan too: it went through the active part's pager.
        report.map(|report| PollReport { requests, ..report })
    }

    async fn sync_active(&self, counted: &CountedPoll) -> anyhow::Result<ActiveOutcome> {
        let (pager, settings) = (&self.active_pager, &self.settings);
        let now_ms = counted.counts.now_ms;
        match settings.strategy {
            Strategy::Filter => filter::sync(pager, settings, now_ms, Verify::No).await,
            Strategy::Incremental | Strategy::Auto => {
                let verify = match settings.strategy {
                    Strategy::Auto => Verify::Yes,
                    _ => Verify::No,
                };
                let mut incremental = self.incremental.lock().await;
                let metrics = &self.store.metrics;
                let spent = (verify, counted.requests);
                let outcome = incremental
                    .sync(pager, settings, &counted.counts, spent, metrics)
                    .await;
                metrics.set_active_set(incremental.held() as u64);
                if outcome.is_ok() {
                    self.save_if_due(&incremental);
                }
                outcome
            }
            Strategy::Scan => anyhow::bail!("scan has no active part"),
        }
    }

    fn publish_users(&self, done: ActiveDone, counted: &CountedPoll) -> anyhow::Result<PollReport> {
        let now_ms = counted.counts.now_ms;
        let method = match self.settings.strategy {
            Strategy::Filter => PollMethod::Filter,
            _ => PollMethod::Incremental,
        };
        check_duplicates(done.paged, done.duplicates)?;
        self.fallback.trusted();
        if let Some(users) = done.users {
            self.store
                .publish_users(users, now_ms)
                .context("rendering the metrics")?;
        }
        Ok(PollReport {
            now_ms,
            method,
            requests: 0,
            paged: done.paged,
            duplicates: done.duplicates,
            fell_back: false,
            resync: done.resync,
            repairs: done.repairs,
            active_set: done.held,
        })
    }

    /// Scans every session with `pager` and publishes all of it.
    async fn scan(
        &self,
        pager: &Pager,
        now_ms: i64,
        fell_back: bool,
    ) -> anyhow::Result<PollReport> {
        let before = pager.attempts();
        let collected = scan::collect(pager, self.settings.aggregator(now_ms)).await?;
        check_duplicates(collected.paged, collected.duplicates)?;
        self.store
            .publish(collected.summary, now_ms)
            .context("rendering the metrics")?;
        Ok(PollReport {
            now_ms,
            method: PollMethod::Scan,
            requests: pager.attempts() - before,
            paged: collected.paged,
            duplicates: collected.duplicates,
            fell_back,
            resync: None,
            repairs: Repairs::default(),
            active_set: None,
        })
    }
}

impl PollSettings {
    /// A fresh aggregator for a poll whose `now` is `now_ms`.
    fn aggregator(&self, now_ms: i64) -> Aggregator {
        Aggregator::new(now_ms, &self.windows, self.top_k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dashboards and alert rules match these values: a variant reordered or renamed must keep
    /// its label, and every variant must be exported from the start.
    #[test]
    fn every_poll_method_is_exported_under_its_own_label() {
        let methods = [
            PollMethod::Incremental,
            PollMethod::Filter,
            PollMethod::Scan,
        ];
        assert_eq!(
            methods.map(PollMethod::as_str),
            ["incremental", "filter", "scan"]
        );
        assert_eq!(PollMethod::LABELS, methods.map(PollMethod::as_str));
    }

    #[test]
    fn every_resync_reason_is_exported_under_its_own_label() {
        let reasons = [
            ResyncReason::Initial,
            ResyncReason::Scheduled,
            ResyncReason::Mismatch,
            ResyncReason::Error,
        ];
        let labels = reasons.map(ResyncReason::as_str);
        assert_eq!(labels, ["initial", "scheduled", "mismatch", "error"]);
        assert_eq!(ResyncReason::LABELS, labels);
    }

    /// `metrics` pre-registers the repair reasons from its own list (it must not depend on the
    /// poller): the two must name the same values, or a reason's series would start late.
    #[test]
    fn the_repair_reasons_metrics_registers_are_the_poller_s_labels() {
        let labels = RepairReason::ALL.map(RepairReason::as_str);
        assert_eq!(labels, ["verify", "mismatch"]);
        assert_eq!(labels, crate::metrics::REPAIR_REASONS);
    }
}
