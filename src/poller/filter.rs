//! The `filter` strategy: counts from one-session queries, the active sessions paged in full
//! under `status:eq:active`. With [`Verify::Yes`] (for `auto`) it also checks that the API
//! honours its filters, and answers [`Outcome::Untrusted`] when it does not.

use anyhow::{anyhow, Context as _};

use super::{Collected, PollMethod};
use crate::aggregate::{Aggregator, SessionFacts, StatusCounts};
use crate::corbado::{Field, Filter, Op, Pager, Status};

/// Whether to check the API's answers before believing them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verify {
    Yes,
    No,
}

/// What a filter poll found.
pub(super) enum Outcome {
    Trusted(Collected),
    /// The API's answers do not add up (only with [`Verify::Yes`]); the reason says how.
    Untrusted(String),
}

impl Outcome {
    /// The collected numbers, or the distrust as an error.
    pub(super) fn trusted(self) -> anyhow::Result<Collected> {
        match self {
            Outcome::Trusted(collected) => Ok(collected),
            Outcome::Untrusted(why) => Err(anyhow!("filter check failed: {why}")),
        }
    }
}

/// The unfiltered total and the per-status totals, as the API counted them.
#[derive(Clone, Copy, Debug)]
struct StatusTotals {
    total: u64,
    statuses: StatusCounts,
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
        for &w in windows {
            queries.push(vec![
                Filter::time(Field::Created, Op::Gt, now - w),
                Filter::time(Field::Created, Op::Lt, now + 1),
            ]);
        }
        for &w in windows {
            queries.push(vec![
                Filter::status(Status::Expired),
                Filter::time(Field::Expires, Op::Gt, now - w),
                Filter::time(Field::Expires, Op::Lt, now + 1),
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

    /// Splits the answers into the status totals, created per window and expired per window.
    fn split(&self, counts: &[u64]) -> (StatusTotals, Vec<u64>, Vec<u64>) {
        let (status, windows) = counts.split_at(STATUS_QUERIES);
        let (created, expired) = windows.split_at(self.windows);
        (
            StatusTotals::from_counts(status),
            created.to_vec(),
            expired.to_vec(),
        )
    }
}

impl StatusTotals {
    /// From the answers of [`CountPlan::status_queries`]; the sessions the known statuses do not
    /// account for are the unknown ones.
    fn from_counts(counts: &[u64]) -> Self {
        let mut statuses = StatusCounts::default();
        for (&status, &count) in Status::ALL.iter().zip(&counts[1..]) {
            *statuses.get_mut(status) = count;
        }
        let total = counts[0];
        statuses.unknown = total.saturating_sub(statuses.known());
        StatusTotals { total, statuses }
    }

    /// Whether the per-status totals add up to the unfiltered total exactly.
    fn adds_up(&self) -> bool {
        self.statuses.known() == self.total
    }
}

pub(super) async fn collect(
    pager: &Pager,
    now_ms: i64,
    windows: &[std::time::Duration],
    aggregator: Aggregator,
    verify: Verify,
) -> anyhow::Result<Outcome> {
    let windows: Vec<i64> = windows
        .iter()
        .map(|w| i64::try_from(w.as_secs()).unwrap_or(i64::MAX))
        .collect();
    let plan = CountPlan::new(now_ms / 1000, &windows);
    let counts = pager.counts(&plan.queries).await?;
    let (mut totals, created, expired) = plan.split(&counts);
    if verify == Verify::Yes && !totals.adds_up() {
        // Sessions that start or end between two count requests can make an honest API's
        // totals differ by a few; count once more before concluding the filters are broken.
        totals = StatusTotals::from_counts(&pager.counts(plan.status_queries()).await?);
        if !totals.adds_up() {
            return Ok(Outcome::Untrusted(format!(
                "per-status totals add up to {}, the unfiltered total is {}",
                totals.statuses.known(),
                totals.total
            )));
        }
    }
    if totals.statuses.known() > totals.total {
        tracing::warn!(
            known = totals.statuses.known(),
            total = totals.total,
            "filter: per-status totals exceed the unfiltered total"
        );
    }
    let Some((aggregator, paged)) = page_active(pager, aggregator, verify).await? else {
        return Ok(Outcome::Untrusted(
            "a session paged under status:eq:active was not active".into(),
        ));
    };
    let duplicates = aggregator.duplicates();
    let mut summary = aggregator.finish();
    summary.statuses = totals.statuses;
    summary.created_in_window = created;
    summary.expired_in_window = expired;
    Ok(Outcome::Trusted(Collected {
        summary,
        method: PollMethod::Filter,
        paged,
        duplicates,
        fell_back: false,
    }))
}

/// Pages the active sessions into `aggregator`. `None` when verifying and a session that is not
/// active came back: one is proof enough that the filter is not honoured, so paging stops.
async fn page_active(
    pager: &Pager,
    mut aggregator: Aggregator,
    verify: Verify,
) -> anyhow::Result<Option<(Aggregator, u64)>> {
    let mut not_active = 0u64;
    pager
        .walk(
            &[Filter::status(Status::Active)],
            SessionFacts::from_wire,
            |session| {
                if session.status != Some(Status::Active) {
                    not_active += 1;
                    return verify == Verify::No;
                }
                aggregator.observe(session);
                true
            },
        )
        .await
        .context("paging active sessions")?;
    if not_active > 0 {
        if verify == Verify::Yes {
            return Ok(None);
        }
        tracing::warn!(
            not_active,
            "filter: the API returned non-active sessions for status:eq:active; ignored them"
        );
    }
    let paged = aggregator.distinct();
    Ok(Some((aggregator, paged)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_splits_answers_into_named_counts() {
        let plan = CountPlan::new(10_000, &[900, 3600]);
        assert_eq!(plan.queries.len(), STATUS_QUERIES + 4);
        let counts = [20, 5, 4, 3, 2, 1, 7, 8, 9, 10];
        let (totals, created, expired) = plan.split(&counts);
        assert_eq!(totals.total, 20);
        assert_eq!(totals.statuses.active, 5);
        assert_eq!(totals.statuses.revoked, 1);
        assert_eq!(totals.statuses.unknown, 5);
        assert!(!totals.adds_up());
        assert_eq!((created, expired), (vec![7, 8], vec![9, 10]));
        assert!(StatusTotals::from_counts(&[3, 1, 1, 1, 0, 0]).adds_up());
    }
}
