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
//! differ ([`repair`]); the rolling check counts one slice of the set every poll, so that a change
//! no query sees (a session re-activated without `updated` moving) is found within
//! `--poll.verify-interval`. A resync (every active session re-paged) is left for when nothing is
//! held, a change query failed, locating would cost more, and `--poll.resync-interval`.
//!
//! Counts and pages are not one snapshot: a session that changes between the counts and the
//! walk makes an honest set differ from them. When the proof fails, the sessions changed after
//! the poll's `now` are fetched (one page, usually), and the proof allows a difference of at most
//! that many before it calls a mismatch.

use anyhow::Context as _;

use super::counts::{window_seconds, Counts, Verify};
use super::explain::Explainer;
use super::repair::{self, Located, RepairReason, Repaired, RollingCheck};
use super::{ActiveDone, ActiveOutcome, PollSettings};
use crate::aggregate::{ActiveSet, CreatedRange, SessionFacts};
use crate::clock::millis;
use crate::corbado::{Field, Filter, Op, Pager, Status};
use crate::journal::Repairs;
use crate::metrics::ExporterMetrics;
use crate::storage::{Saved, SyncTimes};

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
    explainer: Explainer,
}

/// What a poll without a resync leads to.
enum Next {
    Done(Box<ActiveOutcome>),
    Resync(ResyncReason),
}

/// The sessions a walk brought in, and how many broke the walk's filter.
#[derive(Default)]
struct Applied {
    received: u64,
    off_filter: u64,
    repairs: Repairs,
}

impl Applied {
    fn add(&mut self, repaired: &Repaired, reason: RepairReason) {
        self.received += repaired.received;
        self.off_filter += repaired.off_filter;
        match reason {
            RepairReason::Verify => self.repairs.verify += repaired.ranges,
            RepairReason::Mismatch => self.repairs.mismatch += repaired.ranges,
        }
    }
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
            ..Incremental::default()
        };
    }

    /// Brings the set up to date as of `counts` and proves it, or resyncs.
    pub async fn sync(
        &mut self,
        pager: &Pager,
        settings: &PollSettings,
        counts: &Counts,
        verify: Verify,
        metrics: &ExporterMetrics,
    ) -> anyhow::Result<ActiveOutcome> {
        let reason = match self.resync_due(counts.now_ms, settings) {
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
        let budget = repair_budget(counts.statuses.active, pager);
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
        self.synced_from = Some(started);
        let mut done = self.done(settings, applied.received, None);
        done.repairs = applied.repairs;
        Ok(Next::Done(Box::new(ActiveOutcome::Done(done))))
    }

    /// Finds where a failed proof's difference lies and re-pages only that, or `None` when a
    /// resync is cheaper. Only a difference in the set's size can be located by counting; one
    /// in the expiring windows alone cannot.
    async fn locate(
        &mut self,
        pager: &Pager,
        counts: &Counts,
        budget: u64,
    ) -> anyhow::Result<Option<Repaired>> {
        let off = self.set.len().abs_diff(counts.statuses.active as usize) as u64;
        let each = repair::locating_cost(self.set.len() as u64, pager.page_size());
        if off == 0 || off.saturating_mul(each) > budget {
            return Ok(None);
        }
        // Sessions created before the poll's `now`: the change queries saw all of them.
        let range = CreatedRange::between(None, Some(counts.now_ms / 1000));
        let counted = repair::count(pager, &range).await?;
        let differing = vec![(range, counted)];
        let located = repair::repair(pager, &mut self.set, differing, (budget, 0)).await?;
        Ok(match located {
            Located::Repaired(repaired) => Some(repaired),
            Located::TooDear => None,
        })
    }

    /// The rolling check: counts the next slice of the set, and the part of it that expires
    /// before a cut drawn anew each slice, and repairs what differs. The second count finds an
    /// unseen ending and a re-activation that cancel out in the slice's count, whenever the cut
    /// falls between their expiries. `None` when the repair would cost more than a resync.
    async fn roll(
        &mut self,
        pager: &Pager,
        settings: &PollSettings,
        now_ms: i64,
        budget: u64,
    ) -> anyhow::Result<Option<Repaired>> {
        let every = settings.verify_interval.as_secs() / settings.interval.as_secs().max(1);
        let share = repair::slice_share(self.set.len(), every);
        let slice = self.rolling.next_slice(&self.set, share, now_ms / 1000);
        let mut differing = self.differing(pager, slice).await?;
        if differing.is_none() {
            let cut = self
                .set
                .expiry_quantile(&slice, self.rolling.expiry_share());
            if let Some(cut) = cut {
                differing = self.differing(pager, slice.expiring_before(cut)).await?;
            }
        }
        let Some((range, counted)) = differing else {
            return Ok(Some(Repaired::default()));
        };
        tracing::info!(
            counted,
            held = self.set.count_created(&range),
            "rolling check: a created-time range differs; repairing it"
        );
        // A slice of up to 16 pages is re-paged whole (see `repair::repair`).
        let located = repair::repair(pager, &mut self.set, vec![(range, counted)], (budget, 16));
        Ok(match located.await? {
            Located::Repaired(repaired) => Some(repaired),
            Located::TooDear => None,
        })
    }

    /// `range` with the API's count of it, if that differs from what the set holds there.
    async fn differing(
        &self,
        pager: &Pager,
        range: CreatedRange,
    ) -> anyhow::Result<Option<(CreatedRange, u64)>> {
        let counted = repair::count(pager, &range).await?;
        Ok((counted != self.set.count_created(&range)).then_some((range, counted)))
    }

    /// The change queries and the settling of sessions past their expiry.
    async fn catch_up(
        &mut self,
        pager: &Pager,
        settings: &PollSettings,
        counts: &Counts,
    ) -> anyhow::Result<Applied> {
        let synced_from = self.synced_from.unwrap_or(counts.now_ms);
        let from_s = synced_from.saturating_sub(millis(settings.change_overlap)) / 1000;
        let mut applied = self.apply_changes(pager, from_s).await?;
        let settled = self.settle_due(pager, counts).await?;
        applied.received += settled.received;
        applied.off_filter += settled.off_filter;
        Ok(applied)
    }

    /// Walks the sessions updated or created after `from_s` (Unix seconds) into the set.
    async fn apply_changes(&mut self, pager: &Pager, from_s: i64) -> anyhow::Result<Applied> {
        let mut applied = Applied::default();
        for field in [Field::Updated, Field::Created] {
            let filter = Filter::time(field, Op::Gt, from_s);
            let received = pager
                .walk_by_created(&[filter], SessionFacts::from_wire, |session| {
                    if field == Field::Created && session.created_ms <= from_s * 1000 {
                        applied.off_filter += 1;
                    }
                    self.set.apply(session);
                })
                .await
                .with_context(|| {
                    format!("paging sessions with {} after {from_s}", field.as_str())
                })?;
            applied.received += received;
        }
        Ok(applied)
    }

    /// Held sessions whose expiry passed since the last poll: still `active` to the API (an API
    /// that expires lazily) or not (one that expires them with a job, perhaps without moving
    /// `updated`). The counts decide when they can; otherwise one query asks which are listed.
    async fn settle_due(&mut self, pager: &Pager, counts: &Counts) -> anyhow::Result<Applied> {
        let now = counts.now_ms;
        let due = self.set.due_between(self.settled_until_ms, now);
        let mut applied = Applied::default();
        let held = self.set.len() as u64;
        let active = counts.statuses.active;
        if !due.is_empty() && active != held {
            // Not all still listed: either all flipped (the counts say so exactly), or ask.
            let listed = if active + due.len() as u64 == held {
                Vec::new()
            } else {
                self.listed_past_due(pager, now, &mut applied).await?
            };
            for &id in &due {
                self.set.remove(id);
            }
            for session in listed {
                self.set.apply(session);
            }
        }
        self.settled_until_ms = now;
        Ok(applied)
    }

    /// The active sessions the API lists whose expiry lies between the last settling and `now`;
    /// those that break the filter are counted in `applied` and left out.
    async fn listed_past_due(
        &self,
        pager: &Pager,
        now: i64,
        applied: &mut Applied,
    ) -> anyhow::Result<Vec<SessionFacts>> {
        let (lo_s, now_s) = (self.settled_until_ms / 1000 - 1, now / 1000);
        let filters = [
            Filter::status(Status::Active),
            Filter::time(Field::Expires, Op::Gt, lo_s),
            Filter::time(Field::Expires, Op::Lt, now_s + 1),
        ];
        let mut listed = Vec::new();
        applied.received = pager
            .walk_by_created(&filters, SessionFacts::from_wire, |s| listed.push(s))
            .await
            .context("paging active sessions past their expiry")?;
        listed.retain(|session| {
            let expires_s = session.expires_ms.div_euclid(1000);
            let fits =
                session.status == Some(Status::Active) && (lo_s..=now_s).contains(&expires_s);
            applied.off_filter += u64::from(!fits);
            fits
        });
        Ok(listed)
    }

    /// Whether the set matches the counts, allowing for the sessions that changed while the
    /// poll ran (fetched only when the exact proof fails).
    async fn proves(
        &mut self,
        pager: &Pager,
        counts: &Counts,
        windows: &[std::time::Duration],
    ) -> anyhow::Result<bool> {
        let now_s = counts.now_ms / 1000;
        let windows_s = window_seconds(windows);
        let mismatch = |set: &ActiveSet| {
            let mut worst = set.len().abs_diff(counts.statuses.active as usize) as u64;
            for (held, counted) in set.expiring(now_s, &windows_s).iter().zip(&counts.expiring) {
                worst = worst.max(held.abs_diff(*counted));
            }
            worst
        };
        if mismatch(&self.set) == 0 {
            self.explainer.proven();
            return Ok(true);
        }
        // Changed after the poll's `now` (the counts were asked for after it): the race. A change
        // at `now` or before is seen alike by the counts and the walks.
        let mut during = std::collections::HashSet::new();
        let since = Filter::time(Field::Updated, Op::Gt, now_s);
        let created = Filter::time(Field::Created, Op::Gt, now_s);
        for filter in [since, created] {
            let mut recent = Vec::new();
            pager
                .walk_by_created(&[filter], SessionFacts::from_wire, |s| recent.push(s))
                .await
                .context("paging sessions changed during the poll")?;
            for session in recent {
                during.insert(session.id_hash);
                self.set.apply(session);
            }
        }
        let off = mismatch(&self.set);
        if off <= during.len() as u64 {
            self.explainer.proven();
            return Ok(true);
        }
        let expiring = self.set.expiring(now_s, &windows_s);
        self.explainer
            .mismatch(self.set.len() as u64, counts, &expiring);
        Ok(false)
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
        self.set.clear();
        self.synced_from = None;
        let mut not_active = 0u64;
        let received = pager
            .walk_by_created(
                &[Filter::status(Status::Active)],
                SessionFacts::from_wire,
                |session| {
                    if session.status == Some(Status::Active) {
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

/// The most requests a repair may spend: what re-paging every active session (a resync)
/// would cost. A repair that would need more stops there, and a resync follows.
fn repair_budget(active: u64, pager: &Pager) -> u64 {
    active / u64::from(pager.page_size().max(1)) + 1
}
