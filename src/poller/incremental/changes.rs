//! How the sessions changed since the last sync update the set: the change queries from the
//! watermark (`updated:gt:T`, `created:gt:T`), and the settling of held sessions whose expiry
//! passed. Also the tally of what the walks brought ([`Applied`]), which the repairs add to. What
//! the walks show begin and end goes to [`super::seen`].

use std::time::Duration;

use anyhow::Context as _;

use super::super::counts::Counts;
use super::super::locating::pages;
use super::super::repair::{RepairReason, Repaired};
use super::super::PollSettings;
use super::seen::Seen;
use super::Incremental;
use crate::aggregate::{ActiveSet, SessionFacts};
use crate::clock::millis;
use crate::corbado::{Field, Filter, Op, Pager, Status};
use crate::journal::Repairs;
use crate::metrics::ExporterMetrics;

/// The sessions a walk brought in, and how many broke the walk's filter.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Applied {
    pub received: u64,
    pub off_filter: u64,
    pub repairs: Repairs,
}

impl Applied {
    pub fn add(&mut self, repaired: &Repaired, reason: RepairReason) {
        self.received += repaired.received;
        self.off_filter += repaired.off_filter;
        match reason {
            RepairReason::Verify => self.repairs.verify += repaired.ranges,
            RepairReason::Mismatch => self.repairs.mismatch += repaired.ranges,
        }
    }

    /// Adds this poll's located repairs to `corbado_exporter_repairs_total`.
    pub fn count_repairs(&self, metrics: &ExporterMetrics) {
        for reason in RepairReason::ALL {
            let ranges = match reason {
                RepairReason::Verify => self.repairs.verify,
                RepairReason::Mismatch => self.repairs.mismatch,
            };
            metrics
                .repairs
                .with_label_values(&[reason.as_str()])
                .inc_by(ranges);
        }
    }

    /// One session of the walk under `field` after `from_s` (Unix seconds): held if the API
    /// lists it as active, forgotten otherwise. Under `created`, one created at or before
    /// `from_s` broke the filter; it is counted, and applied all the same (what the API says
    /// of a session is still news).
    fn take_change(
        &mut self,
        (set, seen): (&mut ActiveSet, &mut Seen),
        (field, from_s, now_ms): (Field, i64, i64),
        session: SessionFacts,
    ) {
        if field == Field::Created && session.created_ms <= from_s * 1000 {
            self.off_filter += 1;
        }
        seen.note(set, &session, now_ms);
        set.apply(session);
    }
}

/// The watermark: the change queries ask for what changed after these Unix seconds, that is
/// `overlap` before the start of the last sync whose every change is held (the poll's `now`
/// when there is none), so that a change stamped a little late by a skewed clock is not missed.
fn changes_after_s(synced_from_ms: Option<i64>, now_ms: i64, overlap: Duration) -> i64 {
    let synced_from = synced_from_ms.unwrap_or(now_ms);
    synced_from.saturating_sub(millis(overlap)) / 1000
}

/// What to do with the held sessions whose expiry passed since the last poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Settle {
    /// None came due, or the API still counts as many active sessions as are held: an API
    /// that expires lazily still lists them, so they stay.
    Keep,
    /// The active count is short by exactly the sessions that came due: all of them ended.
    DropAll,
    /// Some ended, some did not: one query asks which the API still lists as active.
    Ask,
}

/// How `due` held sessions past their expiry are settled, with `held` sessions held and the API
/// counting `active`.
fn settling(due: usize, held: u64, active: u64) -> Settle {
    if due == 0 || active == held {
        Settle::Keep
    } else if active + due as u64 == held {
        Settle::DropAll
    } else {
        Settle::Ask
    }
}

/// Whether a session paged under `status:eq:active`, `expires:gt:lo_s`, `expires:lt:now_s+1`
/// matches those filters; one that does not broke them and is left out.
fn fits_past_due(session: &SessionFacts, lo_s: i64, now_s: i64) -> bool {
    let expires_s = session.expires_ms.div_euclid(1000);
    session.status == Some(Status::Active) && (lo_s..=now_s).contains(&expires_s)
}

/// Where a catch-up after a long gap stops this poll: the Unix second up to which the changes
/// are walked so that about `allowance` pages do, `needed` pages being what all of them since
/// `from_s` would take (counted), the changes taken to be spread evenly over the gap. `None`:
/// all of them fit.
fn catch_up_until(from_s: i64, now_s: i64, needed: u64, allowance: u64) -> Option<i64> {
    if needed <= allowance {
        return None;
    }
    let gap = now_s.saturating_sub(from_s).max(1);
    let step = (gap as f64 * allowance as f64 / needed as f64) as i64;
    Some(from_s + step.clamp(1, gap))
}

/// Polls in which nothing was missed: a gap longer than this many intervals since the
/// watermark (an outage, a crash) is first counted, and caught up in slices if it is large.
const GAP_INTERVALS: i64 = 3;

/// Requests a poll keeps for what follows the change walks (settling, the proof, the rolling
/// check and re-page) when it decides how much of a long gap to catch up.
const AFTER_CHANGES: u64 = 25;

impl Incremental {
    /// After a long gap (an outage, a crash with an old save), whether the changes since the
    /// watermark fit in what is left of this poll's budget after `spent` requests; if they do
    /// not, the second up to which this poll walks them (`None`: all of them, as any poll).
    pub(super) async fn catch_up_bound(
        &self,
        pager: &Pager,
        settings: &PollSettings,
        counts: &Counts,
        spent: u64,
    ) -> anyhow::Result<Option<i64>> {
        let from_s = changes_after_s(self.synced_from, counts.now_ms, settings.change_overlap);
        let now_s = counts.now_ms / 1000;
        let interval_s = settings.interval.as_secs().max(1) as i64;
        if now_s - from_s <= GAP_INTERVALS * interval_s {
            return Ok(None);
        }
        let queries: Vec<Vec<Filter>> = [Field::Updated, Field::Created]
            .map(|field| vec![Filter::time(field, Op::Gt, from_s)])
            .into();
        let changed = pager
            .counts(&queries)
            .await
            .context("counting the sessions changed since the watermark")?;
        let needed: u64 = changed.iter().map(|&n| pages(n, pager.page_size())).sum();
        let budget = super::poll_budget(settings.interval);
        let allowance = budget.saturating_sub(spent + 2 + AFTER_CHANGES).max(2);
        Ok(catch_up_until(from_s, now_s, needed, allowance))
    }

    /// A slice of a long catch-up: the changes up to `until_s` (Unix seconds) walked into the
    /// set, and the watermark moved there. A session changed again later is in a later slice
    /// with its newest state, so the slices together bring every change once.
    pub(super) async fn catch_up_to(
        &mut self,
        pager: &Pager,
        settings: &PollSettings,
        counts: &Counts,
        until_s: i64,
    ) -> anyhow::Result<Applied> {
        let from_s = changes_after_s(self.synced_from, counts.now_ms, settings.change_overlap);
        let applied = self
            .apply_changes(pager, (from_s, Some(until_s)), counts.now_ms)
            .await?;
        self.synced_from = Some(until_s * 1000);
        Ok(applied)
    }

    /// The change queries and the settling of sessions past their expiry.
    pub(super) async fn catch_up(
        &mut self,
        pager: &Pager,
        settings: &PollSettings,
        counts: &Counts,
    ) -> anyhow::Result<Applied> {
        let from_s = changes_after_s(self.synced_from, counts.now_ms, settings.change_overlap);
        let mut applied = self
            .apply_changes(pager, (from_s, None), counts.now_ms)
            .await?;
        let settled = self.settle_due(pager, counts).await?;
        applied.received += settled.received;
        applied.off_filter += settled.off_filter;
        Ok(applied)
    }

    /// Walks the sessions updated or created after `from_s` (and before `until_s`, if given;
    /// Unix seconds) into the set, noting what it sees end and begin up to `now_ms`.
    async fn apply_changes(
        &mut self,
        pager: &Pager,
        (from_s, until_s): (i64, Option<i64>),
        now_ms: i64,
    ) -> anyhow::Result<Applied> {
        let mut applied = Applied::default();
        for field in [Field::Updated, Field::Created] {
            let mut filters = vec![Filter::time(field, Op::Gt, from_s)];
            filters.extend(until_s.map(|u| Filter::time(field, Op::Lt, u)));
            let received = pager
                .walk_by_created(&filters, SessionFacts::from_wire, |session| {
                    let held = (&mut self.set, &mut self.seen);
                    applied.take_change(held, (field, from_s, now_ms), session);
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
        let listed = match settling(due.len(), self.set.len() as u64, counts.statuses.active) {
            Settle::Keep => None,
            Settle::DropAll => Some(Vec::new()),
            Settle::Ask => Some(self.listed_past_due(pager, now, &mut applied).await?),
        };
        if let Some(listed) = listed {
            // Past their expiry and no longer listed as active: expired, as far as can be seen.
            let expired = settle(&mut self.set, &due, listed);
            self.seen.expired_unseen(expired);
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
            let fits = fits_past_due(session, lo_s, now_s);
            applied.off_filter += u64::from(!fits);
            fits
        });
        Ok(listed)
    }
}

/// Forgets the `due` sessions, then holds again those the API still `listed` as active;
/// returns how many of the due sessions stay forgotten.
fn settle(set: &mut ActiveSet, due: &[u64], listed: Vec<SessionFacts>) -> u64 {
    for &id in due {
        set.remove(id);
    }
    for session in listed {
        set.apply(session);
    }
    due.iter().filter(|&&id| !set.contains(id)).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id_hash: u64, status: Status, created_s: i64, expires_s: i64) -> SessionFacts {
        SessionFacts {
            id_hash,
            status: Some(status),
            created_ms: created_s * 1000,
            expires_ms: expires_s * 1000,
            active_user: (status == Status::Active).then(|| format!("user-{id_hash}").into()),
        }
    }

    fn active(id_hash: u64, created_s: i64, expires_s: i64) -> SessionFacts {
        session(id_hash, Status::Active, created_s, expires_s)
    }

    #[test]
    fn a_change_page_holds_what_is_active_and_forgets_what_ended() {
        let mut set = ActiveSet::default();
        let mut applied = Applied::default();
        for held in [active(1, 100, 9_000), active(2, 100, 9_000)] {
            set.apply(held);
        }
        let page = [
            session(1, Status::LoggedOut, 100, 9_000),
            active(3, 1_500, 9_000),
            session(4, Status::Revoked, 1_500, 9_000),
        ];
        let mut seen = Seen::resumed(1_000_000);
        for changed in page {
            applied.take_change(
                (&mut set, &mut seen),
                (Field::Updated, 1_000, 2_000_000),
                changed,
            );
        }
        assert_eq!(seen.ended(), [1, 0, 0, 0, 0, 0], "the held one logged out");
        assert_eq!(
            seen.created_count(),
            2,
            "3 and 4 are news, whatever their status"
        );
        assert!(!set.contains(1), "logged out: forgotten");
        assert!(set.contains(2), "unchanged: still held");
        assert!(set.contains(3), "new and active: held");
        assert!(!set.contains(4), "ended before it was ever held: not held");
        assert_eq!(set.len(), 2);
        assert_eq!(applied.off_filter, 0, "an old session may well be updated");
    }

    #[test]
    fn a_session_created_at_or_before_the_watermark_breaks_the_created_filter_but_counts() {
        let mut set = ActiveSet::default();
        let mut applied = Applied::default();
        let mut seen = Seen::default();
        let mut take = |field, session| {
            applied.take_change((&mut set, &mut seen), (field, 1_000, 2_000_000), session);
        };
        take(Field::Created, active(1, 1_000, 9_000));
        take(Field::Created, active(2, 1_001, 9_000));
        take(Field::Updated, active(3, 10, 9_000));
        assert_eq!(
            applied.off_filter, 1,
            "only the one under created:gt:1000, created at 1000"
        );
        assert_eq!(
            set.len(),
            3,
            "what the API says of a session is applied all the same"
        );
    }

    #[test]
    fn the_watermark_reaches_back_by_the_overlap_from_the_last_complete_sync() {
        let overlap = Duration::from_secs(30);
        assert_eq!(changes_after_s(Some(1_000_000), 5_000_000, overlap), 970);
        assert_eq!(
            changes_after_s(None, 5_000_000, overlap),
            4_970,
            "without a complete sync: from the poll's now"
        );
        assert_eq!(
            changes_after_s(Some(1_000_000), 5_000_000, Duration::ZERO),
            1_000
        );
        assert_eq!(
            changes_after_s(Some(1_000_999), 5_000_000, Duration::from_millis(500)),
            1_000,
            "whole seconds, rounded down"
        );
    }

    #[test]
    fn a_long_gap_is_caught_up_in_slices_that_fit_the_budget() {
        assert_eq!(catch_up_until(1_000, 4_600, 50, 50), None, "it all fits");
        assert_eq!(
            catch_up_until(1_000, 4_600, 300, 50),
            Some(1_600),
            "a sixth of the pages: a sixth of the hour"
        );
        assert_eq!(
            catch_up_until(1_000, 1_001, 300, 2),
            Some(1_001),
            "at least a second"
        );
    }

    #[test]
    fn the_counts_decide_how_sessions_past_their_expiry_are_settled() {
        assert_eq!(settling(0, 100, 90), Settle::Keep, "none came due");
        assert_eq!(
            settling(5, 100, 100),
            Settle::Keep,
            "the API still lists them"
        );
        assert_eq!(
            settling(5, 100, 95),
            Settle::DropAll,
            "short by exactly the due ones"
        );
        assert_eq!(
            settling(5, 100, 97),
            Settle::Ask,
            "some ended, some did not"
        );
        assert_eq!(settling(5, 100, 90), Settle::Ask, "others ended too: ask");
    }

    #[test]
    fn settling_forgets_the_due_sessions_but_those_the_api_still_lists() {
        let mut set = ActiveSet::default();
        for held in [active(1, 10, 100), active(2, 10, 100), active(3, 10, 9_000)] {
            set.apply(held);
        }
        let gone = settle(&mut set, &[1, 2], vec![active(2, 10, 100)]);
        assert_eq!(gone, 1, "only 1 stays forgotten: it expired");
        assert!(!set.contains(1));
        assert!(set.contains(2), "still listed as active: held again");
        assert!(set.contains(3), "not due: untouched");
    }

    #[test]
    fn a_listed_session_past_due_must_be_active_and_expire_between_the_bounds() {
        let (lo_s, now_s) = (999, 2_000);
        assert!(fits_past_due(&active(1, 0, 999), lo_s, now_s));
        assert!(fits_past_due(&active(1, 0, 2_000), lo_s, now_s));
        assert!(
            !fits_past_due(&active(1, 0, 998), lo_s, now_s),
            "before the last settling"
        );
        assert!(
            !fits_past_due(&active(1, 0, 2_001), lo_s, now_s),
            "not due yet"
        );
        let ended = session(1, Status::Expired, 0, 1_500);
        assert!(!fits_past_due(&ended, lo_s, now_s), "not active");
    }

    #[test]
    fn repairs_add_to_what_the_walks_brought_under_their_reason() {
        let mut applied = Applied::default();
        let repaired = Repaired {
            ranges: 2,
            received: 300,
            off_filter: 1,
        };
        applied.add(&repaired, RepairReason::Verify);
        applied.add(&repaired, RepairReason::Mismatch);
        applied.add(&repaired, RepairReason::Mismatch);
        assert_eq!((applied.received, applied.off_filter), (900, 3));
        assert_eq!((applied.repairs.verify, applied.repairs.mismatch), (2, 4));
    }
}
