//! The list endpoint's semantics over the population: filters, sort and paging, using the
//! indexes so that a count or a page touches only the sessions it needs.

use std::ops::Bound;

use super::{
    session_id, status_value, user_id, Population, DELETED, SECOND, UNKNOWN, UNKNOWN_STATUS_VALUE,
};
use crate::corbado::query::{parse_time, Field, Filter, Op, Sort};
use crate::corbado::Status;

/// A parsed filter, with its value in the stored representation.
#[derive(Clone, Debug)]
enum Pred {
    /// `Some(code)` for a known or the injected unknown status; `None` matches nothing.
    Status(Option<u8>),
    Time(Field, Op, i64),
    Text(Field, Op, String),
}

/// What one query needs to know once its filters are read.
struct QueryPlan<'p> {
    /// The filters the `created` range does not already answer.
    residual: Vec<&'p Pred>,
    /// See [`Population::status_constraint`].
    status: Option<Option<u8>>,
    expiry: ExpiryRange,
    /// The `created` range, as positions in the creation-ordered sessions.
    lo: usize,
    hi: usize,
    /// Whether the requested order is creation order (the order of the indexes).
    index_order: bool,
    offset: u64,
    page_size: u64,
}

impl QueryPlan<'_> {
    /// Counts every match and keeps the requested page, walking them in creation order.
    fn page_in_order(&self, matches: impl Iterator<Item = u32>) -> PageResult {
        let mut total = 0u64;
        let mut indexes = Vec::with_capacity(self.page_size.min(1000) as usize);
        for i in matches {
            if total >= self.offset && (indexes.len() as u64) < self.page_size {
                indexes.push(i);
            }
            total += 1;
        }
        PageResult { indexes, total }
    }
}

/// A page of results: session indexes in order, and the number of matches in all.
#[derive(Debug, PartialEq, Eq)]
pub struct PageResult {
    pub indexes: Vec<u32>,
    pub total: u64,
}

impl Population {
    /// Answers a list request: the page's session indexes and the total number of matches.
    /// `page` is 1-based and `page_size` positive (the HTTP layer checks both).
    pub fn query(
        &self,
        filters: &[Filter],
        sort: Option<Sort>,
        page: u64,
        page_size: u64,
    ) -> PageResult {
        let preds: Vec<Pred> = filters.iter().map(Pred::from_filter).collect();
        let (lo, hi) = self.created_range(&preds);
        let plan = QueryPlan {
            residual: preds
                .iter()
                .filter(|p| !matches!(p, Pred::Time(Field::Created, _, _)))
                .collect(),
            status: self.status_constraint(&preds),
            expiry: expiry_bounds(&preds),
            lo,
            hi,
            index_order: matches!(
                sort,
                None | Some(Sort {
                    field: Field::Created | Field::Id,
                    descending: false
                })
            ),
            offset: page.saturating_sub(1).saturating_mul(page_size),
            page_size,
        };
        if let Some(result) = self.fast_path(&plan) {
            return result;
        }
        let matches = self
            .candidates(&plan)
            .filter(|&i| plan.residual.iter().all(|p| self.matches(i, p)));
        if plan.index_order {
            return plan.page_in_order(matches);
        }
        let mut all: Vec<u32> = matches.collect();
        if let Some(sort) = sort {
            self.sort_indexes(&mut all, sort);
        }
        let total = all.len() as u64;
        let indexes = all
            .into_iter()
            .skip(usize::try_from(plan.offset).unwrap_or(usize::MAX))
            .take(page_size as usize)
            .collect();
        PageResult { indexes, total }
    }

    /// The slice of the creation-ordered sessions that the `created` filters leave.
    fn created_range(&self, preds: &[Pred]) -> (usize, usize) {
        let (mut lo, mut hi) = (0usize, self.sessions.len());
        for pred in preds {
            if let Pred::Time(Field::Created, op, t) = pred {
                let after = self.sessions.partition_point(|s| s.created_ms <= *t);
                let before = self.sessions.partition_point(|s| s.created_ms < *t);
                match op {
                    Op::Gt => lo = lo.max(after),
                    Op::Lt => hi = hi.min(before),
                    Op::Eq => (lo, hi) = (lo.max(before), hi.min(after)),
                }
            }
        }
        (lo, hi.max(lo))
    }

    /// The two cheap cases: no filter left (a scan: index arithmetic), and a status alone in
    /// creation order (the set's length is the total, so counting `status:eq:X` is O(1)).
    fn fast_path(&self, plan: &QueryPlan<'_>) -> Option<PageResult> {
        let (lo, hi) = (plan.lo, plan.hi);
        if !plan.index_order {
            return None;
        }
        let skip = usize::try_from(plan.offset).unwrap_or(usize::MAX);
        if plan.residual.is_empty() && self.deleted() == 0 {
            let start = lo.saturating_add(skip).min(hi);
            let end = start.saturating_add(plan.page_size as usize).min(hi);
            return Some(PageResult {
                indexes: (start as u32..end as u32).collect(),
                total: (hi - lo) as u64,
            });
        }
        let only_status = plan.residual.iter().all(|p| matches!(p, Pred::Status(_)));
        match plan.status {
            Some(Some(code)) if only_status && lo == 0 && hi == self.sessions.len() => {
                let set = &self.by_status[usize::from(code)];
                Some(PageResult {
                    indexes: set
                        .iter()
                        .skip(skip)
                        .take(plan.page_size as usize)
                        .copied()
                        .collect(),
                    total: set.len() as u64,
                })
            }
            _ => None,
        }
    }

    /// The sessions that may match, from the narrowest index the filters allow.
    fn candidates<'a>(&'a self, plan: &QueryPlan<'_>) -> Box<dyn Iterator<Item = u32> + 'a> {
        let (lo, hi) = (plan.lo as u32, plan.hi as u32);
        let Some(status) = plan.status else {
            // Deleted sessions are in no status set; only a walk over indexes must skip them.
            return Box::new((lo..hi).filter(|&i| self.sessions[i as usize].status != DELETED));
        };
        let Some(code) = status else {
            return Box::new(std::iter::empty());
        };
        if plan.expiry == (Bound::Unbounded, Bound::Unbounded) {
            return Box::new(self.by_status[usize::from(code)].range(lo..hi).copied());
        }
        let in_range = self.by_expiry[usize::from(code)]
            .range(plan.expiry)
            .map(|&(_, i)| i)
            .filter(move |i| (lo..hi).contains(i));
        if !plan.index_order {
            return Box::new(in_range);
        }
        // Collect then order, so paging stays in creation order.
        let mut found: Vec<u32> = in_range.collect();
        found.sort_unstable();
        Box::new(found.into_iter())
    }

    /// `None`: no status filter; `Some(None)`: contradictory or unknown, nothing matches.
    fn status_constraint(&self, preds: &[Pred]) -> Option<Option<u8>> {
        let mut constraint = None;
        for pred in preds {
            if let Pred::Status(code) = pred {
                constraint = match constraint {
                    None => Some(*code),
                    Some(prev) if prev == *code => Some(prev),
                    Some(_) => Some(None),
                };
            }
        }
        constraint
    }

    fn matches(&self, index: u32, pred: &Pred) -> bool {
        let s = &self.sessions[index as usize];
        match pred {
            Pred::Status(code) => Some(s.status) == *code,
            Pred::Time(field, op, t) => {
                let v = match field {
                    Field::Expires => s.expires_ms,
                    Field::LastAction => s.last_action_ms,
                    Field::Created => s.created_ms,
                    _ => s.updated_ms,
                };
                match op {
                    Op::Eq => v == *t,
                    Op::Gt => v > *t,
                    Op::Lt => v < *t,
                }
            }
            Pred::Text(field, op, value) => {
                let own = match field {
                    Field::Id => session_id(index),
                    _ => user_id(s.user),
                };
                match op {
                    Op::Eq => own == *value,
                    Op::Gt => own.as_str() > value.as_str(),
                    Op::Lt => own.as_str() < value.as_str(),
                }
            }
        }
    }

    fn sort_indexes(&self, indexes: &mut [u32], sort: Sort) {
        let s = &self.sessions;
        match sort.field {
            Field::Id | Field::Created => indexes.sort_unstable(),
            Field::Expires => indexes.sort_by_key(|&i| (s[i as usize].expires_ms, i)),
            Field::LastAction => indexes.sort_by_key(|&i| (s[i as usize].last_action_ms, i)),
            Field::Updated => indexes.sort_by_key(|&i| (s[i as usize].updated_ms, i)),
            Field::UserId => indexes.sort_by_cached_key(|&i| (user_id(s[i as usize].user), i)),
            Field::Status => indexes.sort_by_key(|&i| (status_value(s[i as usize].status), i)),
        }
        if sort.descending {
            indexes.reverse();
        }
    }
}

impl Pred {
    fn from_filter(filter: &Filter) -> Pred {
        match filter.field {
            Field::Status => Pred::Status(match filter.value.as_str() {
                UNKNOWN_STATUS_VALUE => Some(UNKNOWN),
                value => Status::parse(value).map(|s| s.index() as u8),
            }),
            field if field.is_time() => {
                // The HTTP layer only lets well-formed times through; a bad one matches nothing.
                let t = parse_time(&filter.value).map_or(i64::MIN, |s| s * SECOND);
                Pred::Time(field, filter.op, t)
            }
            field => Pred::Text(field, filter.op, filter.value.clone()),
        }
    }
}

/// A range over an `(expires, index)` set.
type ExpiryRange = (Bound<(i64, u32)>, Bound<(i64, u32)>);

fn expiry_bounds(preds: &[Pred]) -> ExpiryRange {
    let mut lower = Bound::Unbounded;
    let mut upper = Bound::Unbounded;
    for pred in preds {
        if let Pred::Time(Field::Expires, op, t) = pred {
            match op {
                Op::Gt => lower = Bound::Included((t.saturating_add(1), 0)),
                Op::Lt => upper = Bound::Excluded((*t, 0)),
                Op::Eq => {
                    lower = Bound::Included((*t, 0));
                    upper = Bound::Excluded((t.saturating_add(1), 0));
                }
            }
        }
    }
    // A reversed range would panic in BTreeSet::range; the residual check still applies.
    if let (Bound::Included(l), Bound::Excluded(u)) = (lower, upper) {
        if l >= u {
            return (Bound::Included((0, 0)), Bound::Excluded((0, 0)));
        }
    }
    (lower, upper)
}
