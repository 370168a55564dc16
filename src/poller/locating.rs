//! What locating differences by counting costs: the model by which a repair decides how to cut a
//! range, and `incremental` decides between locating and re-paging everything. Pure arithmetic.
//!
//! # The model
//! A range of `m` held sessions re-paged whole costs `P(m) = ⌊m/p⌋ + 1` requests at page size
//! `p` (a walk ends on a short page). Its count is off by `e`: at least `e` sessions differ. It
//! can instead be cut, at the held sessions' creation quantiles, into `k` pieces: counting `k − 1`
//! of them costs `k − 1` requests, since the last piece's count is the parent's less the others'
//! (plus what the pieces' one-second overlaps hold, which both neighbours count). If the `e`
//! differences lie at random, the pieces that differ number on average
//! `t = k·(1 − (1 − 1/k)^e)`, each with `e/t` of them among `m/k` sessions, and only those are
//! cut again. So
//!
//! ```text
//! C(m, e) = min( P(m),  min over k in 2..=16 of  (k − 1) + t·C(m/k, e/t) )
//! ```
//!
//! which prices the tree of cuts the differences actually share: two differences in one piece
//! pay for its upper cuts once. At `p = 100`, with the first count of the whole range: one
//! difference among 20,000 held sessions costs 10 requests (seven halvings of one count each,
//! then a page or two) where the older rule (two counts a halving) paid 17; 20 among 20,000 cost
//! 96 against a re-page of 201 (the older rule priced them 20 × 17 = 340 and re-paged); 200
//! among 1,000,000 cost 1,419 against 10,001; 160 among 50,000 cost 477 against 501, close
//! enough that the margin below sends them to a re-page, and 300 among 50,000 cost the 501 of
//! re-paging itself. The model averages over where the differences lie; a repair that finds
//! them dearer stops at its budget (a re-page's cost), so `incremental` locates only what the
//! model prices at most four fifths of a re-page, and locating never costs more than about
//! twice what re-paging would.

use std::collections::HashMap;

/// The most pieces one range is cut into at once.
pub(super) const MAX_PIECES: u64 = 16;

/// Requests to walk `sessions` sessions at `page_size` (0 counts as 1): a walk ends on a short
/// page. What a repair, a resync and a catch-up each price a walk at.
pub(super) fn pages(sessions: u64, page_size: u32) -> u64 {
    sessions / u64::from(page_size.max(1)) + 1
}

/// [`pages`] for the model's fractional ranges.
fn repage_cost(sessions: f64, page_size: f64) -> f64 {
    (sessions / page_size).floor() + 1.0
}

/// The model's answer for one range: what it costs, and into how many pieces to cut it
/// (`None`: re-page it whole).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Plan {
    pub cost: f64,
    pub pieces: Option<u64>,
}

/// `C(m, e)` of the module's model, memoised: the search over `k` at every level revisits the
/// same sub-ranges many times, and a repair asks for sub-ranges it has already priced.
pub(super) struct Model {
    page_size: f64,
    memo: HashMap<(u64, u64), Plan>,
}

impl Model {
    /// A model for walks of `page_size` sessions a page.
    pub(super) fn new(page_size: u32) -> Self {
        Model {
            page_size: f64::from(page_size.max(1)),
            memo: HashMap::new(),
        }
    }

    /// How to go on with a range of `sessions` held sessions whose count is off by
    /// `differences`: cut it (into how many pieces) or re-page it, and what that costs in all.
    pub(super) fn range(&mut self, sessions: u64, differences: u64) -> Plan {
        self.plan(sessions as f64, differences as f64)
    }

    fn plan(&mut self, sessions: f64, differences: f64) -> Plan {
        let repage = Plan {
            cost: repage_cost(sessions, self.page_size),
            pieces: None,
        };
        // One or two pages: no cut can be cheaper than one count and one page.
        if repage.cost <= 2.0 || differences <= 0.0 {
            return repage;
        }
        let key = (sessions as u64, (differences * 100.0) as u64);
        if let Some(&plan) = self.memo.get(&key) {
            return plan;
        }
        let mut best = repage;
        for k in 2..=MAX_PIECES {
            let k_f = k as f64;
            let touched = k_f * (1.0 - (1.0 - 1.0 / k_f).powf(differences));
            let below = self.plan(sessions / k_f, differences / touched.max(1.0));
            let cost = (k_f - 1.0) + touched * below.cost;
            if cost < best.cost {
                best = Plan {
                    cost,
                    pieces: Some(k),
                };
            }
        }
        self.memo.insert(key, best);
        best
    }
}

/// How to go on with a range of `sessions` held sessions whose count is off by `differences`:
/// cut it (into how many pieces) or re-page it, and what that costs in all, by the model.
pub(super) fn plan(sessions: u64, differences: u64, page_size: u32) -> Plan {
    Model::new(page_size).range(sessions, differences)
}

/// What locating and re-paging `differences` wrong sessions among `held` costs by the model,
/// the first count of the whole range included: what a failed proof weighs against a resync,
/// and what `check` prints per wrong session.
pub fn locating_cost(differences: u64, held: u64, page_size: u32) -> u64 {
    if differences == 0 {
        return 0;
    }
    1 + plan(held, differences, page_size).cost.ceil() as u64
}

/// The last piece's count, derived instead of asked for: the parent's count less the other
/// pieces', plus what the set holds in the one-second overlaps between neighbouring pieces
/// (each counted by both neighbours, by the API as by the set). A difference that lies in an
/// overlap shows in the counted neighbour, so none goes unseen; the derived count may then be
/// off, which costs a needless cut, never a wrong number (what is re-paged is the API's).
pub(super) fn derived_last(parent: u64, others: &[u64], held_in_overlaps: u64) -> u64 {
    let others: u64 = others.iter().sum();
    (parent + held_in_overlaps).saturating_sub(others)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_wrong_session_costs_about_one_count_a_halving() {
        assert_eq!(locating_cost(0, 20_000, 100), 0, "nothing to locate");
        assert_eq!(locating_cost(1, 200, 100), 4, "the count, then three pages");
        assert_eq!(locating_cost(1, 20_000, 100), 10);
        assert_eq!(locating_cost(1, 1_000_000, 100), 16);
    }

    #[test]
    fn differences_share_their_upper_cuts() {
        let one = locating_cost(1, 20_000, 100);
        let twenty = locating_cost(20, 20_000, 100);
        assert!(twenty < 20 * one, "{twenty} against 20 × {one}");
        assert_eq!(twenty, 96, "about half of a re-page's 201");
        assert_eq!(locating_cost(200, 1_000_000, 100), 1_419);
        assert_eq!(locating_cost(160, 50_000, 100), 477);
    }

    #[test]
    fn where_differences_are_everywhere_re_paging_is_the_plan() {
        let plan = plan(50_000, 300, 100);
        assert_eq!(plan.pieces, None);
        assert_eq!(plan.cost, 501.0);
        assert_eq!(super::plan(150, 1, 100).pieces, None, "two pages: re-paged");
        assert_eq!(super::plan(150, 1, 100).cost, 2.0);
        assert_eq!(super::plan(20_000, 1, 100).pieces, Some(2));
    }

    #[test]
    fn the_last_piece_is_the_parent_less_the_others_and_the_overlaps_count_once() {
        // Three pieces of 10, 10 and 10 sessions, one held in each of the two overlaps: the API
        // counts the parent 28, the pieces 10 + 10 (each overlap session twice).
        assert_eq!(derived_last(28, &[10, 10], 2), 10);
        assert_eq!(
            derived_last(27, &[10, 10], 2),
            9,
            "a session gone from the last piece"
        );
        assert_eq!(derived_last(5, &[10, 10], 0), 0, "never below nothing");
    }
}
