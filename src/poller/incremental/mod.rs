//! The `incremental` strategy's active part: the active set kept between polls, brought up to
//! date from the sessions changed since the last sync, proven against the counts, and repaired
//! where it is wrong.
//!
//! A poll walks `updated:gt:T` and `created:gt:T` (T = the last sync's start less
//! `--poll.change-overlap`), holds the active sessions it finds and forgets the others, settles
//! the held sessions whose expiry has passed (the API may list them as `active` or `expired`),
//! and then proves the set: its size must be the count of `active` sessions and, per window, its
//! expiring sessions the expiring count. Since a session only becomes active by being created,
//! and creation is always seen, a set that passes is the API's.
//!
//! A failed proof is located by counting created-time ranges and re-paging only those that
//! differ ([`super::repair`]); the rolling check counts one slice of the set every poll, so that a change
//! no query sees (a session re-activated without `updated` moving) is found within
//! `--poll.verify-interval`. A resync (every active session re-paged) is left for when nothing is
//! held, locating would cost more, and `--poll.resync-interval`. A failed change query or
//! repair fails the poll and holds the change watermark: what a retry can cure never costs one.
//!
//! Counts and pages are not one snapshot: a session that changes between the counts and the
//! walk makes an honest set differ from them. When the proof fails, the sessions changed after
//! the poll's `now` are fetched (one page, usually), and the proof allows a difference of at most
//! that many before it calls a mismatch.
//!
//! - this file: what the strategy keeps between polls, and the order of one poll (follow the
//!   changes, prove, repair, or resync);
//! - [`changes`]: how the changed sessions and those past their expiry update the set;
//! - [`seen`]: what the exporter saw begin and end, for the counters of both;
//! - [`proof`]: whether the set is the API's;
//! - [`mend`]: where a repair goes, and what it may spend.

mod changes;
mod mend;
mod proof;
mod repage;
mod seen;

use anyhow::Context as _;

use super::counts::{Counts, Verify};
use super::explain::Explainer;
use super::repair::{RepairReason, RollingCheck};
use super::{ActiveDone, ActiveOutcome, PollSettings};
use crate::aggregate::{ActiveSet, SessionFacts};
use crate::corbado::{Filter, Pager, Status};
use crate::journal::Repairs;
use crate::metrics::ExporterMetrics;
use crate::storage::{Saved, SyncTimes};
use changes::Applied;
use mend::repair_budget;
use repage::{pass_ms, RepageCursor};
pub use repage::{poll_budget, repage_share, REQUESTS_PER_MINUTE};
use seen::Seen;

/// Why the active sessions were re-paged in full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResyncReason {
    /// The first sync since the exporter started (or the strategy was chosen).
    Initial,
    /// Never counted any more: `--poll.resync-interval` is kept by the rolling re-page, a
    /// slice a poll. Kept so that dashboards keep the series.
    Scheduled,
    /// The proof (or the rolling check) failed, and locating the difference would cost more
    /// than a resync.
    Mismatch,
    /// Never counted any more: a failed change query fails the poll and holds the watermark,
    /// and the next successful poll catches up from it. Kept so that dashboards keep the series.
    Error,
}

impl ResyncReason {
    /// The `reason` label values of `corbado_exporter_resyncs_total`, each exported from the
    /// start. Named variant by variant, so that reordering the enum cannot mislabel one.
    pub const LABELS: [&'static str; 4] = [
        ResyncReason::Initial.as_str(),
        ResyncReason::Scheduled.as_str(),
        ResyncReason::Mismatch.as_str(),
        ResyncReason::Error.as_str(),
    ];

    /// This reason's `reason` label.
    pub const fn as_str(self) -> &'static str {
        match self {
            ResyncReason::Initial => "initial",
            ResyncReason::Scheduled => "scheduled",
            ResyncReason::Mismatch => "mismatch",
            ResyncReason::Error => "error",
        }
    }
}

/// What the strategy keeps between polls.
#[derive(Default)]
pub(super) struct Incremental {
    set: ActiveSet,
    /// Start (whole-second ms) of the last sync whose every change is in the set: the change
    /// watermark. `None` before the first complete set; a failed poll leaves it where it was,
    /// so the next one catches up from it however long the outage lasted.
    synced_from: Option<i64>,
    /// The instant up to which held sessions past their expiry have been settled.
    settled_until_ms: i64,
    /// Where the rolling re-page (and a paced resync) goes on next poll.
    repage_at: RepageCursor,
    /// A paced resync under way, and why it began.
    resyncing: Option<ResyncReason>,
    /// Where the rolling check goes on next poll.
    rolling: RollingCheck,
    /// What the exporter saw begin and end, for `corbado_sessions_{ended,created}_total`.
    seen: Seen,
    explainer: Explainer,
}

impl Incremental {
    /// Active sessions held now.
    pub fn held(&self) -> usize {
        self.set.len()
    }

    pub fn set(&self) -> &ActiveSet {
        &self.set
    }

    /// The per-user fields of the set held.
    pub fn users(&self, top_k: usize) -> crate::aggregate::Summary {
        let mut users = crate::aggregate::Summary::default();
        self.set.tally(top_k, &mut users);
        users
    }

    /// Where the set stands, for a state file; `None` while it stands on no complete sync.
    pub fn sync_times(&self, now_ms: i64) -> Option<SyncTimes> {
        Some(SyncTimes {
            saved_ms: now_ms,
            synced_from_ms: self.synced_from?,
            // The field keeps its name in the file; it holds when the re-page pass began.
            last_resync_ms: self.repage_at.pass_started_ms,
            settled_until_ms: self.settled_until_ms,
        })
    }

    /// Takes up a saved set: the next poll follows the changes since its sync and proves it,
    /// and the rolling re-page goes on about where its pass had got to.
    pub fn resume(&mut self, saved: Saved, settings: &PollSettings) {
        let pass = pass_ms(settings.resync_interval);
        let now = settings.clock.now_ms();
        let repage_at = RepageCursor::resumed(&saved.set, saved.times.last_resync_ms, pass, now);
        *self = Incremental {
            set: saved.set,
            synced_from: Some(saved.times.synced_from_ms),
            settled_until_ms: saved.times.settled_until_ms,
            repage_at,
            seen: Seen::resumed(saved.times.synced_from_ms),
            ..Incremental::default()
        };
    }

    /// Brings the set up to date as of `counts` and proves it, or resyncs; then counts what it
    /// saw begin and end (looking up, after a success, the sessions that vanished unseen).
    /// `spent` is what the poll's counts took, which a paced resync leaves out of its share of
    /// the budget.
    pub async fn sync(
        &mut self,
        pager: &Pager,
        settings: &PollSettings,
        counts: &Counts,
        (verify, spent): (Verify, u64),
        metrics: &ExporterMetrics,
    ) -> anyhow::Result<ActiveOutcome> {
        let before = pager.attempts();
        let outcome = self
            .sync_set(pager, settings, counts, (verify, spent), metrics)
            .await;
        let done = matches!(outcome, Ok(ActiveOutcome::Done(_)));
        // What the repairs and the re-page slice let go vanished from the active list unseen,
        // a failed poll's before its failure too: to be looked up.
        let removed = self.set.take_removals();
        self.seen.let_go(removed, &self.set);
        if done && self.resyncing.is_none() {
            // Within what the poll has left of the minute's budget (a paced resync spends all
            // of it: the vanished sessions wait for the first poll after it).
            let used = spent + (pager.attempts() - before);
            let left = poll_budget(settings.interval).saturating_sub(used);
            self.seen.look_up(pager, left).await;
        } else if !done {
            self.seen.drop_snapshot_unless(self.synced_from.is_none());
        }
        // Creations are news after the watermark: a catch-up in time slices leaves the rest of
        // the gap, and its creations, to the next poll.
        let watermark = self
            .synced_from
            .map_or(counts.now_ms, |w| w.min(counts.now_ms));
        self.seen.publish(metrics, done, watermark);
        outcome
    }

    /// The first complete set when nothing usable is held, else a poll on the held set.
    async fn sync_set(
        &mut self,
        pager: &Pager,
        settings: &PollSettings,
        counts: &Counts,
        (verify, spent): (Verify, u64),
        metrics: &ExporterMetrics,
    ) -> anyhow::Result<ActiveOutcome> {
        if self.synced_from.is_none() {
            // Nothing usable is held: the first complete set, at the rate limit's pace.
            let reason = ResyncReason::Initial;
            return self
                .resync(pager, settings, counts.now_ms, reason, verify, metrics)
                .await;
        }
        self.follow(pager, settings, counts, (verify, spent), metrics)
            .await
    }

    /// A poll on a held set: the changes, the proof (located and repaired where it fails, a
    /// paced resync begun where that is dearer), the rolling check, and this poll's re-page
    /// slice. While a paced resync runs, its slice comes first and the per-user gauges are
    /// published only once the set passes its proof.
    async fn follow(
        &mut self,
        pager: &Pager,
        settings: &PollSettings,
        counts: &Counts,
        (verify, spent): (Verify, u64),
        metrics: &ExporterMetrics,
    ) -> anyhow::Result<ActiveOutcome> {
        let started = settings.clock.now_whole_seconds_ms();
        let before = pager.attempts();
        if let Some(until_s) = self.catch_up_bound(pager, settings, counts, spent).await? {
            // A long gap whose changes do not fit in one poll's budget: this poll walks a
            // slice of them; the set is not proven (nor its per-user gauges published) before
            // the watermark has caught up.
            let applied = self.catch_up_to(pager, settings, counts, until_s).await?;
            tracing::info!(until_s, "catching up a long gap in slices");
            return Ok(match off_filter(verify, &applied) {
                Some(why) => ActiveOutcome::Untrusted(why),
                None => ActiveOutcome::Done(self.done(settings, applied.received, None, false)),
            });
        }
        // A failed change query fails the poll: the watermark (`synced_from`) holds, and what
        // was applied before the failure is news the next poll's walk brings again.
        let mut applied = self
            .catch_up(pager, settings, counts)
            .await
            .context("following the changes (the change watermark holds until a poll succeeds)")?;
        if let Some(why) = off_filter(verify, &applied) {
            return Ok(ActiveOutcome::Untrusted(why));
        }
        // What the repairs and the re-page slice below let go vanished from the active list
        // unseen: the set notes it as it goes.
        self.set.record_removals();
        if self.resyncing.is_none() {
            self.check_and_repair(pager, settings, counts, &mut applied, metrics)
                .await?;
        }
        let spent = spent + (pager.attempts() - before);
        let slice = self
            .repage_slice(pager, settings, counts.now_ms, spent)
            .await?;
        applied.received += slice.sessions;
        applied.off_filter += slice.off_filter;
        applied.repairs.repaged += slice.sessions;
        let resync = self.resyncing;
        let proven = match resync {
            None => true,
            Some(_) => {
                let proven = self.proves(pager, counts, &settings.windows).await?;
                if proven || slice.pass_done {
                    // Proven, or a whole pass re-paged and still not: the next poll locates
                    // what is left, or begins another pass.
                    self.resyncing = None;
                }
                proven
            }
        };
        if let Some(why) = off_filter(verify, &applied) {
            return Ok(ActiveOutcome::Untrusted(why));
        }
        applied.count_repairs(metrics);
        self.synced_from = Some(started);
        let mut done = self.done(settings, applied.received, resync, proven);
        done.repairs = applied.repairs;
        Ok(ActiveOutcome::Done(done))
    }

    /// The proof, located and repaired where it fails, then the rolling check; a paced resync
    /// begins where either would cost more than re-paging.
    async fn check_and_repair(
        &mut self,
        pager: &Pager,
        settings: &PollSettings,
        counts: &Counts,
        applied: &mut Applied,
        metrics: &ExporterMetrics,
    ) -> anyhow::Result<()> {
        let budget = repair_budget(counts.statuses.active, pager.page_size());
        if !self.proves(pager, counts, &settings.windows).await? {
            match self.locate(pager, counts, budget).await? {
                Some(repaired) => applied.add(&repaired, RepairReason::Mismatch),
                None => {
                    self.start_paced_resync(counts.now_ms, metrics);
                    return Ok(());
                }
            }
        }
        match self.roll(pager, settings, counts.now_ms, budget).await? {
            Some(repaired) => applied.add(&repaired, RepairReason::Verify),
            None => self.start_paced_resync(counts.now_ms, metrics),
        }
        Ok(())
    }

    async fn resync(
        &mut self,
        pager: &Pager,
        settings: &PollSettings,
        now: i64,
        reason: ResyncReason,
        verify: Verify,
        metrics: &ExporterMetrics,
    ) -> anyhow::Result<ActiveOutcome> {
        metrics.resyncs.with_label_values(&[reason.as_str()]).inc();
        let started = settings.clock.now_whole_seconds_ms();
        // Paged into a fresh set that replaces the held one only when complete: a resync that
        // fails leaves the set and its watermark as they were, and the next poll goes on from
        // them (a failure is never a reason to start afresh).
        self.seen.snapshot(&self.set);
        let mut fresh = ActiveSet::default();
        let mut not_active = 0u64;
        let received = pager
            .walk_by_created(
                &[Filter::status(Status::Active)],
                SessionFacts::from_wire,
                |session| {
                    if session.status == Some(Status::Active) {
                        self.seen.note_created(&session, now);
                        fresh.apply(session);
                    } else {
                        not_active += 1;
                    }
                },
            )
            .await
            .with_context(|| format!("resync ({}): paging active sessions", reason.as_str()))?;
        if not_active > 0 && verify == Verify::Yes {
            return Ok(ActiveOutcome::Untrusted(
                "a session paged under status:eq:active was not active".into(),
            ));
        }
        self.set = fresh;
        self.seen.vanished_from(&self.set);
        self.synced_from = Some(started);
        self.settled_until_ms = now;
        (self.repage_at, self.resyncing) = (RepageCursor::starting(now), None);
        self.rolling = RollingCheck::default();
        Ok(ActiveOutcome::Done(self.done(
            settings,
            received,
            Some(reason),
            true,
        )))
    }

    /// What the poll brought; the per-user fields only when `proven` (a paced resync that has
    /// not yet made the set pass leaves the last published ones).
    fn done(
        &self,
        settings: &PollSettings,
        paged: u64,
        resync: Option<ResyncReason>,
        proven: bool,
    ) -> ActiveDone {
        ActiveDone {
            users: proven.then(|| self.users(settings.top_k)),
            paged,
            duplicates: 0,
            resync,
            held: Some(self.set.len() as u64),
            repairs: Repairs::default(),
        }
    }
}

/// Why `auto` cannot trust what the walks brought, if it cannot.
fn off_filter(verify: Verify, applied: &Applied) -> Option<String> {
    (verify == Verify::Yes && applied.off_filter > 0).then(|| {
        format!(
            "{} sessions paged under a created or expires filter did not match it",
            applied.off_filter
        )
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::aggregate::Held;
    use crate::clock::Clock;

    const HOUR_MS: i64 = 3_600_000;

    fn settings(resync_interval: Duration) -> PollSettings {
        PollSettings {
            strategy: super::super::Strategy::Incremental,
            windows: Vec::new(),
            top_k: 10,
            interval: Duration::from_secs(60),
            resync_interval,
            verify_interval: Duration::from_secs(3_600),
            change_overlap: Duration::from_secs(30),
            state: None,
            clock: Clock::manual(0),
        }
    }

    /// A set whose re-page pass began at `last_resync_ms`, resumed then, and has followed
    /// every change since.
    fn synced(last_resync_ms: i64) -> Incremental {
        let mut set = ActiveSet::default();
        set.upsert(Held {
            id_hash: 7,
            user_id: "u",
            created_ms: 1_000,
            expires_ms: 50 * HOUR_MS,
        });
        let mut incremental = Incremental::default();
        let mut daily = settings(Duration::from_secs(86_400));
        daily.clock = Clock::manual(last_resync_ms);
        incremental.resume(
            Saved {
                times: SyncTimes {
                    saved_ms: last_resync_ms,
                    synced_from_ms: last_resync_ms,
                    last_resync_ms,
                    settled_until_ms: last_resync_ms,
                },
                set,
            },
            &daily,
        );
        incremental
    }

    #[test]
    fn a_resumed_set_is_saved_again_as_it_was_read() {
        let incremental = synced(HOUR_MS);
        assert_eq!(incremental.held(), 1);
        let times = incremental.sync_times(2 * HOUR_MS);
        assert_eq!(
            times,
            Some(SyncTimes {
                saved_ms: 2 * HOUR_MS,
                synced_from_ms: HOUR_MS,
                last_resync_ms: HOUR_MS,
                settled_until_ms: HOUR_MS,
            })
        );
        assert_eq!(
            Incremental::default().sync_times(HOUR_MS),
            None,
            "a set on no complete sync is not saved"
        );
    }

    #[test]
    fn only_auto_distrusts_walks_that_broke_their_filter() {
        let broke = Applied {
            off_filter: 2,
            ..Applied::default()
        };
        assert_eq!(off_filter(Verify::No, &broke), None);
        let why = off_filter(Verify::Yes, &broke).unwrap_or_default();
        assert!(why.starts_with("2 sessions paged under"), "{why}");
        assert_eq!(off_filter(Verify::Yes, &Applied::default()), None);
    }
}
