//! Saying, once and in an operator's words, why `incremental` keeps resyncing.
//!
//! One failed proof is logged at `info` (a change can slip between the counts and the walk).
//! When three of the last five polls fail it, the pattern says which of the API's unverified
//! behaviours is at work, and that is logged once at `warn`, with what it costs; it is said again
//! only after five polls in a row have passed.

use super::counts::Counts;

/// Of the last [`WINDOW`] polls, how many must fail their proof before the cause is spelt out.
const FAILING: u32 = 3;
const WINDOW: u32 = 5;

#[derive(Debug, Default)]
pub(super) struct Explainer {
    /// The last [`WINDOW`] proofs, newest in the lowest bit: 1 for a failure.
    recent: u8,
    warned: bool,
}

impl Explainer {
    fn push(&mut self, failed: bool) {
        self.recent = ((self.recent << 1) | u8::from(failed)) & ((1 << WINDOW) - 1);
    }

    pub fn proven(&mut self) {
        self.push(false);
        if self.warned && self.recent == 0 {
            tracing::info!("incremental: the active set proves against the counts again");
            self.warned = false;
        }
    }

    /// A failed proof: `held` sessions and `expiring` per window against `counts`.
    pub fn mismatch(&mut self, held: u64, counts: &Counts, expiring: &[u64]) {
        self.push(true);
        let counted = counts.statuses.active;
        tracing::info!(
            held,
            counted_active = counted,
            held_expiring = ?expiring,
            counted_expiring = ?counts.expiring,
            "incremental: the active set does not match the counts; resyncing"
        );
        let failed = self.recent.count_ones();
        if failed < FAILING || self.warned {
            return;
        }
        self.warned = true;
        tracing::warn!(
            failed_of_last_5 = failed,
            "incremental keeps resyncing, so each poll costs as much as `filter`: {}",
            cause(held, counted, expiring, &counts.expiring)
        );
    }
}

/// The likely cause of a failed proof, in words.
fn cause(held: u64, counted: u64, held_expiring: &[u64], counted_expiring: &[u64]) -> &'static str {
    if held > counted {
        "sessions left the active list without showing up as changed: ended sessions do not move \
         `updated`, or the API deletes revoked sessions, so every poll re-pages the active \
         sessions"
    } else if held < counted {
        "sessions are listed as active that no change query returned: `updated` and `created` \
         lag behind this machine's clock by more than --poll.change-overlap, or new sessions do \
         not show up under `created:gt`"
    } else if held_expiring != counted_expiring {
        "expiries move without `updated` moving (a refresh that slides the expiry leaves \
         `updated` alone), so the expiring counts disagree with the set"
    } else {
        "the set and the counts disagree for a reason the pattern does not show"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_failures_in_five_polls_warn_once_and_five_passes_reset() {
        let counts = Counts {
            now_ms: 0,
            total: 1,
            statuses: Default::default(),
            created: vec![],
            expiring: vec![],
            expired: vec![],
        };
        let mut explainer = Explainer::default();
        for failed in [true, false, true, false] {
            if failed {
                explainer.mismatch(1, &counts, &[]);
            } else {
                explainer.proven();
            }
        }
        assert!(!explainer.warned, "two of four");
        explainer.mismatch(1, &counts, &[]);
        assert!(explainer.warned, "three of five");
        for _ in 0..4 {
            explainer.proven();
            assert!(explainer.warned);
        }
        explainer.proven();
        assert!(!explainer.warned, "five passes in a row");
    }

    #[test]
    fn the_cause_follows_the_direction_of_the_difference() {
        assert!(cause(10, 9, &[], &[]).contains("do not move `updated`"));
        assert!(cause(9, 10, &[], &[]).contains("change-overlap"));
        assert!(cause(9, 9, &[1], &[2]).contains("expiries move"));
    }
}
