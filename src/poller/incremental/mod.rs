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
//! held, a change query failed, locating would cost more, and `--poll.resync-interval`.
//!
//! Counts and pages are not one snapshot: a session that changes between the counts and the
//! walk makes an honest set differ from them. When the proof fails, the sessions changed after
//! the poll's `now` are fetched (one page, usually), and the proof allows a difference of at most
//! that many before it calls a mismatch.
//!
//! - this file: what the strategy keeps between polls, and the order of one poll (follow the
//!   changes, prove, repair, or resync);
//! - [`changes`]: how the changed sessions and those past their expiry update the set;
//! - [`proof`]: whether the set is the API's;
//! - [`mend`]: where a repair goes, and what it may spend.

mod changes;
mod mend;
mod proof;

use anyhow::Context as _;

use super::counts::{Counts, Verify};
use super::explain::Explainer;
use super::repair::{RepairReason, RollingCheck};
use super::{ActiveDone, ActiveOutcome, PollSettings};
use crate::aggregate::{ActiveSet, SessionFacts};
use crate::clock::millis;
use crate::corbado::{Filter, Pager, Status};
use crate::journal::Repairs;
use crate::metrics::ExporterMetrics;
use crate::storage::{Saved, SyncTimes};
use changes::{Applied, Seen};
use mend::repair_budget;

/// Why the active sessions were re-paged in full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResyncReason {
    /// The first sync since the exporter started (or the strategy was chosen).
    Initial,
    /// `--poll.resync-interval` passed since the last one (never when it is `0`).
    Scheduled,
    /// The proof (or the rolling check) failed, and locating the difference would cost more
    /// than a resync.
    Mismatch,
    /// A change query (or the previous resync) failed.
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
    /// Start (whole-second ms) of the last sync whose every change is in the set; `None` before
    /// the first resync and after a failed one.
    synced_from: Option<i64>,
    /// Whether any resync ever succeeded (a later one without `synced_from` is for an error).
    ever_synced: bool,
    last_resync_ms: i64,
    /// The instant up to which held sessions past their expiry have been settled.
    settled_until_ms: i64,
    /// Where the rolling check goes on next poll.
    rolling: RollingCheck,
    /// What the exporter saw begin and end, for `corbado_sessions_{ended,created}_total`.
    seen: Seen,
    explainer: Explainer,
}

/// What a poll without a resync leads to.
enum Next {
    Done(Box<ActiveOutcome>),
    Resync(ResyncReason),
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
            last_resync_ms: self.last_resync_ms,
            settled_until_ms: self.settled_until_ms,
        })
    }

    /// Takes up a saved set: the next poll follows the changes since its sync and proves it.
    pub fn resume(&mut self, saved: Saved) {
        *self = Incremental {
            set: saved.set,
            synced_from: Some(saved.times.synced_from_ms),
            ever_synced: true,
            last_resync_ms: saved.times.last_resync_ms,
            settled_until_ms: saved.times.settled_until_ms,
            seen: Seen::resumed(saved.times.synced_from_ms),
            ..Incremental::default()
        };
    }

    /// Brings the set up to date as of `counts` and proves it, or resyncs; then counts what it
    /// saw begin and end (looking up, after a success, the sessions that vanished unseen).
    pub async fn sync(
        &mut self,
        pager: &Pager,
        settings: &PollSettings,
        counts: &Counts,
        verify: Verify,
        metrics: &ExporterMetrics,
    ) -> anyhow::Result<ActiveOutcome> {
        let outcome = self
            .sync_set(pager, settings, counts, verify, metrics)
            .await;
        let done = matches!(outcome, Ok(ActiveOutcome::Done(_)));
        if done {
            self.seen.look_up(pager).await;
        } else {
            self.seen.drop_snapshot_unless(self.synced_from.is_none());
        }
        self.seen.publish(metrics, done, counts.now_ms);
        outcome
    }

    async fn sync_set(
        &mut self,
        pager: &Pager,
        settings: &PollSettings,
        counts: &Counts,
        verify: Verify,
        metrics: &ExporterMetrics,
    ) -> anyhow::Result<ActiveOutcome> {
        let reason = match self.resync_due(counts.now_ms, settings) {
            Some(ResyncReason::Scheduled) => {
                // The changes first, so that what ended since the last poll is seen with its
                // status rather than looked up after the resync; a failure here changes nothing
                // the resync does not redo.
                let _ = self.catch_up(pager, settings, counts).await;
                ResyncReason::Scheduled
            }
            Some(reason) => reason,
            None => match self
                .follow(pager, settings, counts, verify, metrics)
                .await?
            {
                Next::Done(outcome) => return Ok(*outcome),
                Next::Resync(reason) => reason,
            },
        };
        self.resync(pager, settings, counts.now_ms, reason, verify, metrics)
            .await
    }

    /// Why the set must be re-paged before anything else, if it must.
    fn resync_due(&self, now: i64, settings: &PollSettings) -> Option<ResyncReason> {
        let every = millis(settings.resync_interval);
        let scheduled = every > 0 && now.saturating_sub(self.last_resync_ms) >= every;
        match self.synced_from {
            None if self.ever_synced => Some(ResyncReason::Error),
            None => Some(ResyncReason::Initial),
            Some(_) if scheduled => Some(ResyncReason::Scheduled),
            Some(_) => None,
        }
    }

    /// A poll without a resync: the changes, the proof (located and repaired where it fails),
    /// then the rolling check.
    async fn follow(
        &mut self,
        pager: &Pager,
        settings: &PollSettings,
        counts: &Counts,
        verify: Verify,
        metrics: &ExporterMetrics,
    ) -> anyhow::Result<Next> {
        let started = settings.clock.now_whole_seconds_ms();
        let mut applied = match self.catch_up(pager, settings, counts).await {
            Ok(applied) => applied,
            Err(error) => {
                let error = format!("{error:#}");
                tracing::warn!(error, "change query failed; resyncing");
                return Ok(Next::Resync(ResyncReason::Error));
            }
        };
        if let Some(why) = off_filter(verify, &applied) {
            return Ok(Next::Done(Box::new(ActiveOutcome::Untrusted(why))));
        }
        // What repairs let go below vanished from the active list unseen.
        self.seen.snapshot(&self.set);
        let budget = repair_budget(counts.statuses.active, pager.page_size());
        if !self.proves(pager, counts, &settings.windows).await? {
            match self.locate(pager, counts, budget).await? {
                Some(repaired) => applied.add(&repaired, RepairReason::Mismatch),
                None => return Ok(Next::Resync(ResyncReason::Mismatch)),
            }
        }
        match self.roll(pager, settings, counts.now_ms, budget).await? {
            Some(repaired) => applied.add(&repaired, RepairReason::Verify),
            None => return Ok(Next::Resync(ResyncReason::Mismatch)),
        }
        if let Some(why) = off_filter(verify, &applied) {
            return Ok(Next::Done(Box::new(ActiveOutcome::Untrusted(why))));
        }
        for reason in RepairReason::ALL {
            let ranges = match reason {
                RepairReason::Verify => applied.repairs.verify,
                RepairReason::Mismatch => applied.repairs.mismatch,
            };
            metrics
                .repairs
                .with_label_values(&[reason.as_str()])
                .inc_by(ranges);
        }
        self.seen.vanished_from(&self.set);
        self.synced_from = Some(started);
        let mut done = self.done(settings, applied.received, None);
        done.repairs = applied.repairs;
        Ok(Next::Done(Box::new(ActiveOutcome::Done(done))))
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
        self.seen.snapshot(&self.set);
        self.set.clear();
        self.synced_from = None;
        let mut not_active = 0u64;
        let received = pager
            .walk_by_created(
                &[Filter::status(Status::Active)],
                SessionFacts::from_wire,
                |session| {
                    if session.status == Some(Status::Active) {
                        self.seen.note_resynced(&session, now);
                        self.set.apply(session);
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
        self.seen.vanished_from(&self.set);
        (self.synced_from, self.ever_synced) = (Some(started), true);
        (self.last_resync_ms, self.settled_until_ms) = (now, now);
        self.rolling = RollingCheck::default();
        Ok(ActiveOutcome::Done(self.done(
            settings,
            received,
            Some(reason),
        )))
    }

    fn done(
        &self,
        settings: &PollSettings,
        paged: u64,
        resync: Option<ResyncReason>,
    ) -> ActiveDone {
        ActiveDone {
            users: self.users(settings.top_k),
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

    /// A set that last resynced at `last_resync_ms` and has followed every change since.
    fn synced(last_resync_ms: i64) -> Incremental {
        let mut set = ActiveSet::default();
        set.upsert(Held {
            id_hash: 7,
            user_id: "u",
            created_ms: 1_000,
            expires_ms: 50 * HOUR_MS,
        });
        let mut incremental = Incremental::default();
        incremental.resume(Saved {
            times: SyncTimes {
                saved_ms: last_resync_ms,
                synced_from_ms: last_resync_ms,
                last_resync_ms,
                settled_until_ms: last_resync_ms,
            },
            set,
        });
        incremental
    }

    #[test]
    fn the_first_poll_resyncs_and_one_after_a_failed_resync_says_it_was_an_error() {
        let daily = settings(Duration::from_secs(86_400));
        let mut incremental = Incremental::default();
        assert_eq!(
            incremental.resync_due(0, &daily),
            Some(ResyncReason::Initial)
        );
        incremental.ever_synced = true;
        assert_eq!(
            incremental.resync_due(0, &daily),
            Some(ResyncReason::Error),
            "synced once, then lost its footing"
        );
    }

    #[test]
    fn a_synced_set_resyncs_only_when_the_resync_interval_has_passed() {
        let daily = settings(Duration::from_secs(86_400));
        let incremental = synced(HOUR_MS);
        assert_eq!(incremental.resync_due(24 * HOUR_MS, &daily), None);
        assert_eq!(
            incremental.resync_due(25 * HOUR_MS, &daily),
            Some(ResyncReason::Scheduled),
            "exactly a day after the last"
        );
        let never = settings(Duration::ZERO);
        assert_eq!(
            incremental.resync_due(1_000 * HOUR_MS, &never),
            None,
            "0: never"
        );
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
