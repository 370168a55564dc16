//! The proof: whether the set is the API's, by its size against the count of `active` sessions
//! and, per window, its expiring sessions against the expiring count, allowing for the sessions
//! that changed while the poll ran (the counts and the walks are not one snapshot).

use std::collections::HashSet;

use anyhow::Context as _;

use super::super::counts::{window_seconds, Counts};
use super::Incremental;
use crate::aggregate::{ActiveSet, SessionFacts};
use crate::corbado::{Field, Filter, Op, Pager};

/// How far `set` is from `counts`: the larger of the difference in its size and the largest
/// difference in any window's expiring sessions (`now_s` and `windows_s` in whole seconds).
/// The largest, not the sum: one session changed during the poll can move its size and every
/// window's count at once, and the allowance counts it once.
fn mismatch(set: &ActiveSet, counts: &Counts, now_s: i64, windows_s: &[i64]) -> u64 {
    let mut worst = set.len().abs_diff(counts.statuses.active as usize) as u64;
    for (held, counted) in set.expiring(now_s, windows_s).iter().zip(&counts.expiring) {
        worst = worst.max(held.abs_diff(*counted));
    }
    worst
}

impl Incremental {
    /// Whether the set matches the counts, allowing for the sessions that changed while the
    /// poll ran (fetched only when the exact proof fails).
    pub(super) async fn proves(
        &mut self,
        pager: &Pager,
        counts: &Counts,
        windows: &[std::time::Duration],
    ) -> anyhow::Result<bool> {
        let now_s = counts.now_ms / 1000;
        let windows_s = window_seconds(windows);
        if mismatch(&self.set, counts, now_s, &windows_s) == 0 {
            self.explainer.proven();
            return Ok(true);
        }
        let during = self.apply_changed_during(pager, now_s).await?;
        let off = mismatch(&self.set, counts, now_s, &windows_s);
        if off <= during as u64 {
            self.explainer.proven();
            return Ok(true);
        }
        let expiring = self.set.expiring(now_s, &windows_s);
        self.explainer
            .mismatch(self.set.len() as u64, counts, &expiring);
        Ok(false)
    }

    /// Applies the sessions changed after the poll's `now` (the counts were asked for after it):
    /// the race. A change at `now` or before is seen alike by the counts and the walks. Returns
    /// how many distinct sessions changed.
    async fn apply_changed_during(&mut self, pager: &Pager, now_s: i64) -> anyhow::Result<usize> {
        let mut during = HashSet::new();
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
        Ok(during.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{Held, StatusCounts};

    const NOW_S: i64 = 10_000;

    /// A set holding sessions that expire at these Unix seconds.
    fn set_expiring_at(expires_s: &[i64]) -> ActiveSet {
        let mut set = ActiveSet::default();
        for (i, &e) in expires_s.iter().enumerate() {
            set.upsert(Held {
                id_hash: i as u64,
                user_id: "u",
                created_ms: 1_000,
                expires_ms: e * 1000,
            });
        }
        set
    }

    fn counts(active: u64, expiring: &[u64]) -> Counts {
        Counts {
            now_ms: NOW_S * 1000,
            total: active,
            statuses: StatusCounts {
                active,
                ..StatusCounts::default()
            },
            created: Vec::new(),
            expiring: expiring.to_vec(),
            expired: Vec::new(),
        }
    }

    #[test]
    fn a_set_that_matches_every_count_is_off_by_nothing() {
        // Windows of 60 s and 3600 s: two sessions expire within the minute, three within the hour.
        let set = set_expiring_at(&[NOW_S + 30, NOW_S + 60, NOW_S + 600, NOW_S + 90_000]);
        assert_eq!(mismatch(&set, &counts(4, &[2, 3]), NOW_S, &[60, 3_600]), 0);
    }

    #[test]
    fn the_mismatch_is_the_largest_difference_not_their_sum() {
        let set = set_expiring_at(&[NOW_S + 30, NOW_S + 60, NOW_S + 600, NOW_S + 90_000]);
        let windows = [60, 3_600];
        assert_eq!(
            mismatch(&set, &counts(6, &[2, 3]), NOW_S, &windows),
            2,
            "size"
        );
        assert_eq!(
            mismatch(&set, &counts(4, &[2, 7]), NOW_S, &windows),
            4,
            "a window"
        );
        assert_eq!(
            mismatch(&set, &counts(1, &[0, 7]), NOW_S, &windows),
            4,
            "both: the larger"
        );
    }

    #[test]
    fn a_session_expiring_at_the_window_edge_counts_as_the_api_counts_it() {
        // The API's expiring count is `expires:gt:now`, `expires:lt:now+w+1s`, in whole seconds.
        let set = set_expiring_at(&[NOW_S, NOW_S + 60]);
        assert_eq!(
            mismatch(&set, &counts(2, &[1]), NOW_S, &[60]),
            0,
            "expiring at now: not counted; at now+w: counted"
        );
    }
}
