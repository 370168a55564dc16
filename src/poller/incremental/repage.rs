//! The rolling re-page, which keeps `--poll.resync-interval`'s promise without a burst: every
//! poll re-pages the next slice of the held set in creation order and makes it what the API
//! lists there, so that every held session is re-paged at least once an interval. A paced
//! resync is the same walk at a faster pace: a resync that cannot be avoided after the first
//! complete set (differences too wide to locate) re-pages the set slice by slice, each poll
//! spending what is left of [`REQUESTS_PER_MINUTE`], instead of all at once.
//!
//! Re-paging a slice mends whatever is wrong in it, what cancels out in every count included
//! (an unseen ending and a re-activation created close together). While a paced resync runs the
//! counts are published every poll as ever, and the per-user gauges stay those of the last set
//! that passed its proof, marked by their own timestamp; they are published again as soon as
//! the set passes (often before the pass ends: what was wrong may lie early in it).

use super::super::repair::{self, polls_in, slice_after, slice_share};
use super::super::PollSettings;
use super::{Incremental, ResyncReason};
use crate::aggregate::{ActiveSet, CreatedRange};
use crate::clock::millis;
use crate::corbado::Pager;
use crate::metrics::ExporterMetrics;

/// The most requests the exporter spends on a project in any minute after its first complete
/// set: a sixth of the 600 a minute Corbado once documented per project, so that the
/// customer's own logins keep the rest. A poll at intervals of a minute or more spends at most
/// this; a shorter interval its share of it.
pub const REQUESTS_PER_MINUTE: u64 = 100;

/// Requests a paced resync leaves unspent in each poll for what follows it (the proof's walk of
/// what changed during the poll).
const RESERVE: u64 = 3;

/// Where the rolling re-page stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct RepageCursor {
    /// The next slice starts after this second; `None`: a pass begins at the oldest session.
    after_s: Option<i64>,
    /// When the current pass began (Unix ms), saved with the state so that a restart goes on
    /// about where the pass had got to.
    pub pass_started_ms: i64,
}

impl RepageCursor {
    /// A pass beginning at `now_ms`.
    pub fn starting(now_ms: i64) -> Self {
        RepageCursor {
            after_s: None,
            pass_started_ms: now_ms,
        }
    }

    /// The cursor of a pass that began at `pass_started_ms` and is re-paging `set` in
    /// `pass_ms`, taken up at `now_ms` (a restart): as far into the set as the pass's share of
    /// time, or a pass anew when that one should have ended.
    pub fn resumed(set: &ActiveSet, pass_started_ms: i64, pass_ms: i64, now_ms: i64) -> Self {
        let elapsed = now_ms.saturating_sub(pass_started_ms);
        if pass_ms <= 0 || elapsed >= pass_ms || elapsed < 0 {
            return RepageCursor::starting(now_ms);
        }
        let rank = (set.len() as f64 * elapsed as f64 / pass_ms as f64) as usize;
        RepageCursor {
            after_s: set.created_after_nth(None, rank).map(|s| s - 1),
            pass_started_ms,
        }
    }

    /// The next slice of `set`: the next `share` held sessions from where the last ended, never
    /// past `now_s`, and whether it ends the pass (the next slice begins a new one).
    pub fn next_slice(
        &mut self,
        set: &ActiveSet,
        share: usize,
        now_s: i64,
    ) -> (CreatedRange, bool) {
        let (range, next) = slice_after(set, self.after_s, share, now_s);
        self.after_s = next;
        (range, next.is_none())
    }
}

/// Held sessions the rolling re-page takes a poll, of `held`, so that every one is re-paged
/// within `resync_interval` of polls every `interval` (see [`slice_share`]); 0 when the
/// interval is 0 (no rolling re-page). What `check` prices, too.
pub fn repage_share(
    held: usize,
    resync_interval: std::time::Duration,
    interval: std::time::Duration,
) -> usize {
    if resync_interval.is_zero() {
        return 0;
    }
    slice_share(held, polls_in(resync_interval, interval))
}

/// Requests one poll may spend: [`REQUESTS_PER_MINUTE`], or its share for a shorter interval.
pub fn poll_budget(interval: std::time::Duration) -> u64 {
    let seconds = interval.as_secs().clamp(1, 60);
    (REQUESTS_PER_MINUTE * seconds / 60).max(1)
}

/// Held sessions a paced resync re-pages in a poll that spent `spent` of its `budget`: the
/// pages left less a small reserve, at least one page.
pub(super) fn paced_share(budget: u64, spent: u64, page_size: u32) -> usize {
    let pages = budget.saturating_sub(spent + RESERVE).max(1);
    (pages * u64::from(page_size.max(1)) - 1) as usize
}

/// How long a rolling pass takes: four fifths of `--poll.resync-interval`, since each poll
/// re-pages a quarter more than an even share (for the sessions that arrive meanwhile).
pub(super) fn pass_ms(resync_interval: std::time::Duration) -> i64 {
    millis(resync_interval) * 4 / 5
}

/// What a poll's re-page did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Repaged {
    pub sessions: u64,
    pub off_filter: u64,
    /// Whether the slice ended a pass.
    pub pass_done: bool,
}

impl Incremental {
    /// Re-pages this poll's slice: a paced resync's while one runs (spending what is left of
    /// the poll's budget after `spent` requests), the rolling re-page's otherwise (none with
    /// `--poll.resync-interval 0`).
    pub(super) async fn repage_slice(
        &mut self,
        pager: &Pager,
        settings: &PollSettings,
        now_ms: i64,
        spent: u64,
    ) -> anyhow::Result<Repaged> {
        let share = if self.resyncing.is_some() {
            paced_share(poll_budget(settings.interval), spent, pager.page_size())
        } else {
            match repage_share(self.set.len(), settings.resync_interval, settings.interval) {
                0 => return Ok(Repaged::default()),
                share => share,
            }
        };
        let (range, pass_done) = self.repage_at.next_slice(&self.set, share, now_ms / 1000);
        let piece = repair::repage(pager, &mut self.set, &range).await?;
        if pass_done {
            self.repage_at = RepageCursor::starting(now_ms);
        }
        Ok(Repaged {
            sessions: piece.received,
            off_filter: piece.off_filter,
            pass_done,
        })
    }

    /// Starts a paced resync (differences too wide to locate): a pass over the whole set from
    /// its oldest session, counted once, however many polls it takes.
    pub(super) fn start_paced_resync(&mut self, now_ms: i64, metrics: &ExporterMetrics) {
        let reason = ResyncReason::Mismatch;
        metrics.resyncs.with_label_values(&[reason.as_str()]).inc();
        tracing::info!(
            reason = reason.as_str(),
            held = self.set.len(),
            "resyncing, paced: the held set is re-paged slice by slice within the request budget"
        );
        self.resyncing = Some(reason);
        self.repage_at = RepageCursor::starting(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_pass_re_pages_every_held_session_in_creation_order_and_starts_over() {
        let created: Vec<i64> = (0..100).map(|i| 1_000 + i * 7).collect();
        let set = ActiveSet::created_at(&created);
        let mut cursor = RepageCursor::starting(0);
        let mut seen = vec![0u32; created.len()];
        let mut slices = 0;
        loop {
            let (slice, done) = cursor.next_slice(&set, 10, 2_000);
            slices += 1;
            for (i, &c) in created.iter().enumerate() {
                seen[i] += u32::from(slice.holds(c * 1000 + 250));
            }
            if done {
                break;
            }
            assert!(slices < 20, "the re-page does not move on");
        }
        assert!(seen.iter().all(|&n| n >= 1), "{seen:?}");
        assert_eq!(slices, 10, "ten slices of ten, the last reaching up to now");
        let (first, _) = cursor.next_slice(&set, 10, 2_000);
        assert_eq!(first.after_s, None, "a new pass begins at the oldest");
    }

    #[test]
    fn a_restart_goes_on_about_where_the_pass_had_got_to() {
        let created: Vec<i64> = (0..1_000).map(|i| 1_000 + i).collect();
        let set = ActiveSet::created_at(&created);
        let hour = 3_600_000;
        let halfway = RepageCursor::resumed(&set, 0, 2 * hour, hour);
        assert_eq!(halfway.after_s, Some(1_499));
        assert_eq!(halfway.pass_started_ms, 0);
        let overdue = RepageCursor::resumed(&set, 0, 2 * hour, 3 * hour);
        assert_eq!(overdue, RepageCursor::starting(3 * hour));
    }

    #[test]
    fn a_paced_resync_spends_what_is_left_of_the_minute() {
        assert_eq!(poll_budget(Duration::from_secs(60)), 100);
        assert_eq!(
            poll_budget(Duration::from_secs(300)),
            100,
            "never more a minute"
        );
        assert_eq!(poll_budget(Duration::from_secs(6)), 10);
        // 33 spent on counts and changes: 64 pages, 3 requests kept for the proof.
        assert_eq!(paced_share(100, 33, 100), 6_399);
        assert_eq!(paced_share(10, 33, 100), 99, "at least a page");
        assert_eq!(pass_ms(Duration::from_secs(100)), 80_000);
    }
}
