//! The list endpoint's semantics over the population: filters, sort and paging, using the
//! indexes so that a count or a page touches only the sessions it needs.

use std::ops::Bound;

use super::{session_id, status_value, user_id, Population, SECOND, UNKNOWN, UNKNOWN_STATUS_VALUE};
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
        let offset = (page.saturating_sub(1)).saturating_mul(page_size);

        // Narrow by creation time: a slice of the creation-ordered Vec.
        let (mut lo, mut hi) = (0usize, self.sessions.len());
        for pred in &preds {
            if let Pred::Time(Field::Created, op, t) = pred {
                match op {
                    Op::Gt => lo = lo.max(self.sessions.partition_point(|s| s.created_ms <= *t)),
                    Op::Lt => hi = hi.min(self.sessions.partition_point(|s| s.created_ms < *t)),
                    Op::Eq => {
                        lo = lo.max(self.sessions.partition_point(|s| s.created_ms < *t));
                        hi = hi.min(self.sessions.partition_point(|s| s.created_ms <= *t));
                    }
                }
            }
        }
        let hi = hi.max(lo);
        let residual: Vec<&Pred> = preds
            .iter()
            .filter(|p| !matches!(p, Pred::Time(Field::Created, _, _)))
            .collect();
        let status = self.status_constraint(&preds);
        let index_order = matches!(
            sort,
            None | Some(Sort {
                field: Field::Created | Field::Id,
                descending: false
            })
        );

        // The fast path of a scan: no filter left, creation order, plain index arithmetic.
        if residual.is_empty() && index_order {
            let total = (hi - lo) as u64;
            let start = lo
                .saturating_add(usize::try_from(offset).unwrap_or(usize::MAX))
                .min(hi);
            let end = start.saturating_add(page_size as usize).min(hi);
            return PageResult {
                indexes: (start as u32..end as u32).collect(),
                total,
            };
        }

        // A status alone, in creation order: the set's length is the total, and the page is a
        // walk to its offset. Counting `status:eq:X` costs O(1), not a pass over X's sessions.
        let only_status = residual.iter().all(|p| matches!(p, Pred::Status(_)));
        if let (Some(Some(code)), true, true, true) = (
            status,
            only_status,
            index_order,
            lo == 0 && hi == self.sessions.len(),
        ) {
            let set = &self.by_status[usize::from(code)];
            return PageResult {
                indexes: set
                    .iter()
                    .skip(usize::try_from(offset).unwrap_or(usize::MAX))
                    .take(page_size as usize)
                    .copied()
                    .collect(),
                total: set.len() as u64,
            };
        }

        let (lo, hi) = (lo as u32, hi as u32);
        let candidates: Box<dyn Iterator<Item = u32> + '_> = match status {
            Some(None) => Box::new(std::iter::empty()),
            Some(Some(code)) => {
                let expiry = expiry_bounds(&preds);
                if expiry != (Bound::Unbounded, Bound::Unbounded) && !index_order {
                    Box::new(
                        self.by_expiry[usize::from(code)]
                            .range(expiry)
                            .map(|&(_, i)| i)
                            .filter(move |i| (lo..hi).contains(i)),
                    )
                } else if expiry != (Bound::Unbounded, Bound::Unbounded) {
                    // Collect then order, so paging stays in creation order.
                    let mut found: Vec<u32> = self.by_expiry[usize::from(code)]
                        .range(expiry)
                        .map(|&(_, i)| i)
                        .filter(|i| (lo..hi).contains(i))
                        .collect();
                    found.sort_unstable();
                    Box::new(found.into_iter())
                } else {
                    Box::new(self.by_status[usize::from(code)].range(lo..hi).copied())
                }
            }
            None => Box::new(lo..hi),
        };
        let matches = candidates.filter(|&i| residual.iter().all(|p| self.matches(i, p)));

        if index_order {
            let mut total = 0u64;
            let mut indexes = Vec::with_capacity(page_size.min(1000) as usize);
            for i in matches {
                if total >= offset && (indexes.len() as u64) < page_size {
                    indexes.push(i);
                }
                total += 1;
            }
            return PageResult { indexes, total };
        }
        let mut all: Vec<u32> = matches.collect();
        if let Some(sort) = sort {
            self.sort_indexes(&mut all, sort);
        }
        let total = all.len() as u64;
        let indexes = all
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(page_size as usize)
            .collect();
        PageResult { indexes, total }
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
