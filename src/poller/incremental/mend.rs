//! Where `incremental` sends a repair, and what a repair may spend before a resync is cheaper:
//! locating a failed proof's difference, and the rolling check's slice a poll. How a range is
//! counted, cut and re-paged is [`super::super::repair`]'s.

use super::super::counts::Counts;
use super::super::locating::{locating_cost, pages};
use super::super::repair::{self, polls_in, Located, Repaired};
use super::super::PollSettings;
use super::Incremental;
use crate::aggregate::CreatedRange;
use crate::corbado::Pager;

/// The most requests a repair may spend: what re-paging every active session (a resync)
/// would cost. A repair that would need more stops there, and a resync follows.
pub(super) fn repair_budget(active: u64, page_size: u32) -> u64 {
    pages(active, page_size)
}

/// Whether locating a difference that costs `cost` requests (by the model of
/// [`super::super::locating`], which prices the cuts the differences share) is worth it within
/// `budget`: not when nothing is off in size (a difference in the expiring windows alone cannot
/// be located by counting, `cost` 0), nor when a resync is cheaper. The model averages over
/// where the differences lie, and a repair that runs past its budget ends in a resync anyway:
/// only what it prices at most four fifths of a resync is located.
fn worth_locating(cost: u64, budget: u64) -> bool {
    cost != 0 && cost.saturating_mul(5) <= budget.saturating_mul(4)
}

impl Incremental {
    /// Finds where a failed proof's difference lies and re-pages only that, or `None` when a
    /// resync is cheaper. Only a difference in the set's size can be located by counting; one
    /// in the expiring windows alone cannot.
    pub(super) async fn locate(
        &mut self,
        pager: &Pager,
        counts: &Counts,
        budget: u64,
    ) -> anyhow::Result<Option<Repaired>> {
        let off = self.set.len().abs_diff(counts.statuses.active as usize) as u64;
        let cost = locating_cost(off, self.set.len() as u64, pager.page_size());
        if !worth_locating(cost, budget) {
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
    pub(super) async fn roll(
        &mut self,
        pager: &Pager,
        settings: &PollSettings,
        now_ms: i64,
        budget: u64,
    ) -> anyhow::Result<Option<Repaired>> {
        let every = polls_in(settings.verify_interval, settings.interval);
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
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_repair_may_spend_what_a_resync_would() {
        assert_eq!(
            repair_budget(0, 100),
            1,
            "even an empty project's resync takes a request"
        );
        assert_eq!(repair_budget(250, 100), 3);
        assert_eq!(repair_budget(300, 100), 4, "a last, empty page");
        assert_eq!(repair_budget(5, 0), 6, "a page size of 0 counts as 1");
    }

    #[test]
    fn a_difference_is_located_only_when_it_costs_less_than_a_resync() {
        assert!(
            !worth_locating(0, 100),
            "nothing off in size: nothing to locate"
        );
        assert!(worth_locating(80, 100), "four fifths of the budget");
        assert!(
            !worth_locating(81, 100),
            "one more: too close to a resync's cost"
        );
        // The reference population with ended sessions keeping `updated`: 160 differences among
        // 50,000 cost 477, too close to re-paging's 501; 20 among 20,000 about half of 201.
        assert!(!worth_locating(locating_cost(160, 50_000, 100), 501));
        assert!(worth_locating(locating_cost(20, 20_000, 100), 201));
    }

    #[test]
    fn the_rolling_check_spreads_the_set_over_the_polls_of_a_verify_interval() {
        let minute = Duration::from_secs(60);
        assert_eq!(polls_in(Duration::from_secs(3_600), minute), 60);
        assert_eq!(polls_in(Duration::from_secs(90), minute), 1);
        assert_eq!(
            polls_in(Duration::from_secs(10), Duration::from_millis(500)),
            10,
            "a sub-second interval counts as a second"
        );
        assert_eq!(
            polls_in(Duration::ZERO, minute),
            0,
            "slice_share takes it as 1"
        );
    }
}
