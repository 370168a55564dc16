//! Saying, once and in an operator's words, why `incremental` keeps resyncing.
//!
//! One failed proof is logged at `info` (a change can slip between the counts and the walk).
//! When three polls in a row fail it, the pattern says which of the API's unverified behaviours
//! is at work, and that is logged once at `warn`, with what it costs; it is said again only
//! after a proof has passed in between.

use super::counts::Counts;

/// Polls in a row whose proof fails before the cause is spelt out.
const STREAK: u32 = 3;

#[derive(Debug, Default)]
pub(super) struct Explainer {
    streak: u32,
    warned: bool,
}

impl Explainer {
    pub fn proven(&mut self) {
        if self.warned {
            tracing::info!("incremental: the active set proves against the counts again");
        }
        *self = Explainer::default();
    }

    /// A failed proof: `held` sessions and `expiring` per window against `counts`.
    pub fn mismatch(&mut self, held: u64, counts: &Counts, expiring: &[u64]) {
        self.streak += 1;
        let counted = counts.statuses.active;
        tracing::info!(
            held,
            counted_active = counted,
            held_expiring = ?expiring,
            counted_expiring = ?counts.expiring,
            "incremental: the active set does not match the counts; resyncing"
        );
        if self.streak < STREAK || self.warned {
            return;
        }
        self.warned = true;
        tracing::warn!(
            polls = self.streak,
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
    fn the_cause_follows_the_direction_of_the_difference() {
        assert!(cause(10, 9, &[], &[]).contains("do not move `updated`"));
        assert!(cause(9, 10, &[], &[]).contains("change-overlap"));
        assert!(cause(9, 9, &[1], &[2]).contains("expiries move"));
    }
}
