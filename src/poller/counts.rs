//! The counts part of a poll: sessions per status, the unfiltered total, and per window the
//! created, expiring and expired sessions, each one `pageSize=1` request read for `totalItems`.
//! With [`Verify::Yes`] (for `auto`) it also checks that the per-status totals add up to the
//! unfiltered total, and answers [`Counted::Untrusted`] when they do not.

use crate::aggregate::{StatusCounts, Summary};
use crate::corbado::{Field, Filter, Op, Pager, Status};

/// Whether to check the API's answers before believing them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verify {
    Yes,
    No,
}

/// The counts of one poll, as the API answered them.
#[derive(Clone, Debug)]
pub(super) struct Counts {
    /// The poll's `now`, Unix milliseconds (whole seconds).
    pub now_ms: i64,
    pub total: u64,
    pub statuses: StatusCounts,
    pub created: Vec<u64>,
    /// `status:eq:active`, `expires:gt:now`, `expires:lt:now+w+1s`.
    pub expiring: Vec<u64>,
    pub expired: Vec<u64>,
}

/// What counting found.
pub(super) enum Counted {
    Trusted(Counts),
    /// The per-status totals do not add up (only with [`Verify::Yes`]); the reason says how.
    Untrusted(String),
}

/// The count queries of one poll, in the order [`Pager::counts`] answers them.
struct CountPlan {
    queries: Vec<Vec<Filter>>,
    windows: usize,
}

/// Queries for the status totals: the unfiltered total, then each status.
const STATUS_QUERIES: usize = 1 + Status::ALL.len();

impl CountPlan {
    /// `now` and `windows` in whole seconds.
    fn new(now: i64, windows: &[i64]) -> Self {
        let mut queries: Vec<Vec<Filter>> = vec![Vec::new()];
        queries.extend(Status::ALL.iter().map(|&s| vec![Filter::status(s)]));
        let time = Filter::time;
        for &w in windows {
            queries.push(vec![
                time(Field::Created, Op::Gt, now - w),
                time(Field::Created, Op::Lt, now + 1),
            ]);
        }
        for &w in windows {
            queries.push(vec![
                Filter::status(Status::Active),
                time(Field::Expires, Op::Gt, now),
                time(
                    Field::Expires,
                    Op::Lt,
                    now.saturating_add(w).saturating_add(1),
                ),
            ]);
        }
        for &w in windows {
            queries.push(vec![
                Filter::status(Status::Expired),
                time(Field::Expires, Op::Gt, now - w),
                time(Field::Expires, Op::Lt, now + 1),
            ]);
        }
        CountPlan {
            queries,
            windows: windows.len(),
        }
    }

    fn status_queries(&self) -> &[Vec<Filter>] {
        &self.queries[..STATUS_QUERIES]
    }

    /// Splits the answers into named counts.
    fn split(&self, now_ms: i64, answers: &[u64]) -> Counts {
        let (status, windows) = answers.split_at(STATUS_QUERIES);
        let (created, rest) = windows.split_at(self.windows);
        let (expiring, expired) = rest.split_at(self.windows);
        let (total, statuses) = status_totals(status);
        Counts {
            now_ms,
            total,
            statuses,
            created: created.to_vec(),
            expiring: expiring.to_vec(),
            expired: expired.to_vec(),
        }
    }
}

/// From the answers of [`CountPlan::status_queries`]: the unfiltered total, and the statuses,
/// the sessions the known ones do not account for being the unknown ones.
fn status_totals(answers: &[u64]) -> (u64, StatusCounts) {
    let mut statuses = StatusCounts::default();
    for (&status, &count) in Status::ALL.iter().zip(&answers[1..]) {
        *statuses.get_mut(status) = count;
    }
    let total = answers[0];
    statuses.unknown = total.saturating_sub(statuses.known());
    (total, statuses)
}

impl Counts {
    /// Whether the per-status totals add up to the unfiltered total exactly.
    fn adds_up(&self) -> bool {
        self.statuses.known() == self.total
    }

    /// A summary with the counted fields filled in and the per-user ones empty.
    pub fn summary(&self) -> Summary {
        Summary {
            statuses: self.statuses,
            created_in_window: self.created.clone(),
            expiring_in_window: self.expiring.clone(),
            expired_in_window: self.expired.clone(),
            ..Summary::default()
        }
    }
}

/// Whole seconds of each window.
pub(super) fn window_seconds(windows: &[std::time::Duration]) -> Vec<i64> {
    windows
        .iter()
        .map(|w| i64::try_from(w.as_secs()).unwrap_or(i64::MAX))
        .collect()
}

pub(super) async fn count(
    pager: &Pager,
    now_ms: i64,
    windows: &[std::time::Duration],
    verify: Verify,
) -> anyhow::Result<Counted> {
    let plan = CountPlan::new(now_ms / 1000, &window_seconds(windows));
    let mut counts = plan.split(now_ms, &pager.counts(&plan.queries).await?);
    if verify == Verify::Yes && !counts.adds_up() {
        // Sessions that start or end between two count requests can make an honest API's
        // totals differ by a few; count once more before concluding the filters are broken.
        (counts.total, counts.statuses) =
            status_totals(&pager.counts(plan.status_queries()).await?);
        if !counts.adds_up() {
            return Ok(Counted::Untrusted(format!(
                "per-status totals add up to {}, the unfiltered total is {}",
                counts.statuses.known(),
                counts.total
            )));
        }
    }
    if counts.statuses.known() > counts.total {
        tracing::warn!(
            known = counts.statuses.known(),
            total = counts.total,
            "per-status totals exceed the unfiltered total"
        );
    }
    Ok(Counted::Trusted(counts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_splits_answers_into_named_counts() {
        let plan = CountPlan::new(10_000, &[900, 3600]);
        assert_eq!(plan.queries.len(), STATUS_QUERIES + 6);
        assert_eq!(
            plan.queries[STATUS_QUERIES + 2]
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "status:eq:active",
                "expires:gt:1970-01-01T02:46:40",
                "expires:lt:1970-01-01T03:01:41"
            ]
        );
        let answers = [20, 5, 4, 3, 2, 1, 7, 8, 11, 12, 9, 10];
        let counts = plan.split(10_000_000, &answers);
        assert_eq!(counts.total, 20);
        assert_eq!(counts.statuses.active, 5);
        assert_eq!(counts.statuses.revoked, 1);
        assert_eq!(counts.statuses.unknown, 5);
        assert!(!counts.adds_up());
        assert_eq!(counts.created, [7, 8]);
        assert_eq!(counts.expiring, [11, 12]);
        assert_eq!(counts.expired, [9, 10]);
        assert_eq!(status_totals(&[3, 1, 1, 1, 0, 0]).1.unknown, 0);
    }
}
