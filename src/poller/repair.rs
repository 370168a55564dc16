//! Repairs of `incremental`'s active set that cost what is wrong, not what exists: created-time
//! ranges counted against the API, narrowed to the pieces whose count differs from what is held,
//! and only those re-paged. Also the rolling check, which re-counts one slice of the set a poll.
//!
//! A range's count is one `pageSize=1` request (`status:eq:active`, `created:gt:a`,
//! `created:lt:b`); re-paging it costs a request per page. A differing range is cut at the held
//! sessions' creation quantiles into as many pieces as [`super::locating`]'s cost model says
//! pays (2 to 16), all pieces but the last counted (the last one's count is derived from the
//! parent's), and the differing ones cut again, until a piece is cheaper to re-page than to cut.
//! Counts find net differences only: a session ended and another re-activated in the same piece
//! cancel out; a piece is re-paged whole, so what it holds of either is mended anyway.
//!
//! Nothing here decides when to repair: `incremental` does. Nothing here changes the set before a
//! piece's pages have all arrived, so a failed repair leaves the set as it was.

use anyhow::Context as _;

use super::locating;
use crate::aggregate::{ActiveSet, CreatedRange, SessionFacts};
use crate::corbado::{Field, Filter, Op, Pager, Status};

/// Why ranges were re-paged: the `reason` label of `corbado_exporter_repairs_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepairReason {
    /// The rolling check found a slice's count changed.
    Verify,
    /// A failed proof, located by counting ranges.
    Mismatch,
}

impl RepairReason {
    /// Every reason, in the order the poll's repairs are counted.
    pub const ALL: [RepairReason; 2] = [RepairReason::Verify, RepairReason::Mismatch];

    /// This reason's `reason` label. `metrics` pre-registers the same values
    /// ([`crate::metrics::REPAIR_REASONS`], as it must not depend on the poller); a test keeps
    /// the two the same.
    pub const fn as_str(self) -> &'static str {
        match self {
            RepairReason::Verify => "verify",
            RepairReason::Mismatch => "mismatch",
        }
    }
}

/// What a repair did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Repaired {
    /// Ranges re-paged.
    pub ranges: u64,
    /// Sessions received while re-paging.
    pub received: u64,
    /// Sessions paged under a range's filters that did not match them.
    pub off_filter: u64,
}

/// How a repair ended.
pub(super) enum Located {
    Repaired(Repaired),
    /// Finishing would have cost more than `budget` requests: a resync is cheaper.
    TooDear,
}

/// The API's count of the active sessions created in `range`.
pub(super) async fn count(pager: &Pager, range: &CreatedRange) -> anyhow::Result<u64> {
    pager
        .count(&filters(range))
        .await
        .context("counting the active sessions of a created-time range")
}

/// Narrows `differing` (ranges with the API's count of each) down to pieces small enough to
/// re-page, and re-pages them, within `budget` requests. A piece of at most `whole_pages` pages
/// is re-paged whole rather than cut: a failed proof's repair cuts as far as it pays
/// (`whole_pages` 0), the rolling check's re-pages a small slice whole, so that an unseen ending
/// and a re-activation that cancel out in one piece's count are mended with the rest.
pub(super) async fn repair(
    pager: &Pager,
    set: &mut ActiveSet,
    differing: Vec<(CreatedRange, u64)>,
    (budget, whole_pages): (u64, u64),
) -> anyhow::Result<Located> {
    let start = pager.attempts();
    let mut repaired = Repaired::default();
    let mut work = differing;
    let mut index = CreatedIndex::of(set);
    let mut model = locating::Model::new(pager.page_size());
    while let Some((range, counted)) = work.pop() {
        let held = index.count(&range);
        if held == counted {
            continue;
        }
        let pages = locating::pages(held.max(counted), pager.page_size());
        // A range of at most `whole_pages` pages is re-paged whole, whatever the model says.
        let pieces = (pages > whole_pages)
            .then(|| {
                model
                    .range(held.max(counted), held.abs_diff(counted))
                    .pieces
            })
            .flatten();
        let cuts = match pieces {
            Some(pieces) => index.cuts(&range, pieces as usize),
            None => Vec::new(),
        };
        let spent = pager.attempts() - start;
        if !cuts.is_empty() {
            // k pieces cost k − 1 counts: the last one's is derived from the parent's.
            if spent + cuts.len() as u64 > budget {
                return Ok(Located::TooDear);
            }
            let mut pieces = range.split(&cuts);
            let last = pieces.pop().unwrap_or(range);
            let queries: Vec<Vec<Filter>> = pieces.iter().map(filters).collect();
            let counts = pager
                .counts(&queries)
                .await
                .context("counting created-time ranges")?;
            let overlaps = cuts
                .iter()
                .map(|&cut| index.count(&overlap_at(&range, cut)));
            let derived = locating::derived_last(counted, &counts, overlaps.sum());
            work.extend(pieces.into_iter().zip(counts));
            work.push((last, derived));
            continue;
        }
        if spent + pages > budget {
            return Ok(Located::TooDear);
        }
        let piece = repage(pager, set, &range).await?;
        index.replace(&range, piece.created);
        repaired.ranges += 1;
        repaired.received += piece.received;
        repaired.off_filter += piece.off_filter;
    }
    Ok(Located::Repaired(repaired))
}

/// The second that the two pieces on either side of `cut` share (each reaches one second
/// below its cut): the sessions created in it are counted by both.
fn overlap_at(range: &CreatedRange, cut: i64) -> CreatedRange {
    CreatedRange {
        after_s: Some(cut - 1),
        before_s: Some(cut),
        ..*range
    }
}

/// One range re-paged: what it brought, and the creation and expiry times the set now holds
/// there.
pub(super) struct Repaged {
    pub received: u64,
    pub off_filter: u64,
    created: Vec<(i64, i64)>,
}

/// The held sessions' creation (and expiry) times in creation order, kept up to date through a
/// repair, so that counting or cutting a range costs a binary search (and, for a range that
/// bounds the expiry too, a pass over that range), not a pass over the whole set.
struct CreatedIndex(Vec<(i64, i64)>);

impl CreatedIndex {
    fn of(set: &ActiveSet) -> Self {
        let mut created = set.created_times();
        created.sort_unstable();
        CreatedIndex(created)
    }

    /// Where `range`'s sessions lie: compared as [`CreatedRange::holds`] compares them.
    fn bounds(&self, range: &CreatedRange) -> (usize, usize) {
        let lo = range.after_s.map_or(0, |a| {
            let after = a.saturating_mul(1000);
            self.0.partition_point(|&(c, _)| c <= after)
        });
        let hi = range.before_s.map_or(self.0.len(), |b| {
            let before = b.saturating_mul(1000);
            self.0.partition_point(|&(c, _)| c < before)
        });
        (lo, hi.max(lo))
    }

    /// The creation times of `range`'s sessions, in order.
    fn inside(&self, range: &CreatedRange) -> impl Iterator<Item = i64> + '_ {
        let (lo, hi) = self.bounds(range);
        let range = *range;
        self.0[lo..hi]
            .iter()
            .filter(move |&&(c, e)| range.holds_session(c, e))
            .map(|&(c, _)| c)
    }

    fn count(&self, range: &CreatedRange) -> u64 {
        match range.expires_before_s {
            None => {
                let (lo, hi) = self.bounds(range);
                (hi - lo) as u64
            }
            Some(_) => self.inside(range).count() as u64,
        }
    }

    /// Whole seconds that cut `range`'s sessions into about `parts` pieces of equal size (fewer
    /// where many share a second), ascending, each inside the range.
    fn cuts(&self, range: &CreatedRange, parts: usize) -> Vec<i64> {
        let inside: Vec<i64> = self.inside(range).collect();
        let mut cuts: Vec<i64> = (1..parts.max(1))
            .filter_map(|i| inside.get(i * inside.len() / parts))
            .map(|created| created.div_euclid(1000) + 1)
            .filter(|&cut| {
                range.after_s.is_none_or(|a| cut > a + 1) && range.before_s.is_none_or(|b| cut < b)
            })
            .collect();
        cuts.dedup();
        cuts
    }

    /// `range` now holds the sessions created (and expiring) at `created`.
    fn replace(&mut self, range: &CreatedRange, created: Vec<(i64, i64)>) {
        let (lo, hi) = self.bounds(range);
        let mut kept: Vec<(i64, i64)> = self.0[lo..hi]
            .iter()
            .filter(|&&(c, e)| !range.holds_session(c, e))
            .copied()
            .chain(created)
            .collect();
        kept.sort_unstable();
        self.0.splice(lo..hi, kept);
    }
}

/// Re-pages the active sessions created in `range` and makes them what the set holds there.
pub(super) async fn repage(
    pager: &Pager,
    set: &mut ActiveSet,
    range: &CreatedRange,
) -> anyhow::Result<Repaged> {
    let mut paged = Vec::new();
    let received = pager
        .walk_by_created(&filters(range), SessionFacts::from_wire, |s| paged.push(s))
        .await
        .context("re-paging a created-time range of active sessions")?;
    let mut off_filter = 0;
    let mut created = Vec::with_capacity(paged.len());
    set.remove_created(range);
    for session in paged {
        let inside = range.holds_session(session.created_ms, session.expires_ms);
        if session.status == Some(Status::Active) && inside {
            // A session that came twice (walks by key may repeat a second) counts once.
            if !set.contains(session.id_hash) {
                created.push((session.created_ms, session.expires_ms));
            }
            set.apply(session);
        } else {
            off_filter += 1;
        }
    }
    Ok(Repaged {
        received,
        off_filter,
        created,
    })
}

/// `status:eq:active` and the range's `created` (and `expires`) bounds.
fn filters(range: &CreatedRange) -> Vec<Filter> {
    let mut filters = vec![Filter::status(Status::Active)];
    filters.extend(
        range
            .after_s
            .map(|a| Filter::time(Field::Created, Op::Gt, a)),
    );
    filters.extend(
        range
            .before_s
            .map(|b| Filter::time(Field::Created, Op::Lt, b)),
    );
    filters.extend(
        range
            .expires_before_s
            .map(|e| Filter::time(Field::Expires, Op::Lt, e)),
    );
    filters
}

/// Where the rolling check stands: the next slice starts after this second (`None`: at the
/// oldest held session), in the how-manieth pass over the set.
///
/// Each pass starts with the sessions created before the oldest held one, of which the set holds
/// none: a re-activated old session (an old one is the likeliest to be re-activated: most ended
/// sessions are old) is found there at once, and cannot hide behind an unseen ending among the
/// oldest held sessions. The next slice of each pass after the first is shorter, of a length
/// drawn from the pass's number, so every boundary moves from pass to pass: a session wrongly
/// held and one wrongly missing that cancel out in one slice's count fall into different slices
/// of a later pass, and are found there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct RollingCheck {
    /// The next slice starts after this second; `None`: a pass begins.
    after_s: Option<i64>,
    /// Passes completed.
    pass: u64,
    /// Slices counted in this pass.
    slice: u64,
}

impl RollingCheck {
    /// Where to cut the current slice by expiry for its second count: a share of its sessions
    /// between a quarter and three quarters, drawn from the pass and slice, so that two sessions
    /// that cancel out in one count are parted by some cut.
    pub fn expiry_share(&self) -> f64 {
        let seed = self.pass.wrapping_mul(0x9e37_79b9).wrapping_add(self.slice);
        0.25 + 0.5 * crate::rng::SplitMix64::new(seed).next_f64()
    }

    /// The slice of `set` to count in a poll whose `now` is `now_s`: the next `share` held
    /// sessions from where the last slice ended, never past `now_s` (a session created after
    /// the poll's counts may not be held yet). The check moves on by that slice.
    pub fn next_slice(&mut self, set: &ActiveSet, share: usize, now_s: i64) -> CreatedRange {
        self.slice += 1;
        let after_s = self.after_s;
        if after_s.is_none() {
            // The pass's first slice: what was created before the oldest held session.
            if let Some(oldest) = set.created_after_nth(None, 0).filter(|&s| s < now_s) {
                self.after_s = Some(oldest - 1);
                return CreatedRange::between(None, Some(oldest));
            }
        }
        let share = if self.slice == 2 && self.pass > 0 {
            let phase = crate::rng::SplitMix64::new(self.pass).next_f64();
            ((share as f64 * (0.1 + 0.9 * phase)) as usize).max(1)
        } else {
            share
        };
        let (range, next) = slice_after(set, after_s, share, now_s);
        self.after_s = next;
        if next.is_none() {
            self.slice = 0;
            self.pass += 1;
        }
        range
    }
}

/// The slice of `set` after second `after_s` (`None`: from the oldest held session) that holds
/// the next `share` sessions, never past `now_s`; and where the slice after it starts (`None`:
/// this one reached `now_s`, and a pass is over). A slice reaches one second back, as split
/// pieces do. The rolling check and the rolling re-page both walk the set so.
pub(super) fn slice_after(
    set: &ActiveSet,
    after_s: Option<i64>,
    share: usize,
    now_s: i64,
) -> (CreatedRange, Option<i64>) {
    let floor = after_s.map_or(i64::MIN, |a| a.saturating_add(2));
    let end = set
        .created_after_nth(after_s, share)
        .map(|second| second.max(floor))
        .filter(|&second| second < now_s);
    match end {
        Some(before_s) => (
            CreatedRange::between(after_s, Some(before_s)),
            Some(before_s - 1),
        ),
        None => (CreatedRange::between(after_s, Some(now_s)), None),
    }
}

/// Polls every `interval` in one `span` (a verify or resync interval): the slices that cover
/// the set in it. An interval under a second counts as one second.
pub(super) fn polls_in(span: std::time::Duration, interval: std::time::Duration) -> u64 {
    span.as_secs() / interval.as_secs().max(1)
}

/// Held sessions the rolling check must count a poll so that every one is counted within
/// `verify_every` polls: a quarter more than an even share, for the sessions that arrive
/// meanwhile.
pub(super) fn slice_share(held: usize, verify_every: u64) -> usize {
    let polls = verify_every.max(1) as usize;
    (held * 5 / 4).div_ceil(polls).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rolling_check_covers_every_held_session_within_a_cycle_and_wraps() {
        let created: Vec<i64> = (0..100).map(|i| 1_000 + i * 7).collect();
        let set = ActiveSet::created_at(&created);
        let mut check = RollingCheck::default();
        let mut seen = vec![0u32; created.len()];
        let mut slices = 0;
        loop {
            let slice = check.next_slice(&set, 10, 2_000);
            slices += 1;
            for (i, &c) in created.iter().enumerate() {
                seen[i] += u32::from(slice.holds(c * 1000 + 250));
            }
            if check.after_s.is_none() {
                break;
            }
            assert!(slices < 20, "the check does not move on");
        }
        assert!(seen.iter().all(|&n| n >= 1), "{seen:?}");
        assert_eq!(
            slices, 11,
            "what is older than any held session, nine slices of 10, then the last 10 up to now"
        );
    }

    #[test]
    fn every_pass_after_the_first_moves_the_boundaries() {
        let created: Vec<i64> = (0..1_000).map(|i| 1_000 + i).collect();
        let set = ActiveSet::created_at(&created);
        let mut check = RollingCheck::default();
        let mut firsts = Vec::new();
        for _ in 0..4 {
            let oldest = check.next_slice(&set, 100, 5_000);
            assert_eq!(oldest.before_s, Some(1_000), "older than any held session");
            assert_eq!(set.count_created(&oldest), 0);
            firsts.push(check.next_slice(&set, 100, 5_000).before_s);
            while check.after_s.is_some() {
                check.next_slice(&set, 100, 5_000);
            }
        }
        assert_eq!(firsts[0], Some(1_100), "the first pass: a full share");
        firsts.sort_unstable();
        firsts.dedup();
        assert_eq!(firsts.len(), 4, "each pass cuts elsewhere: {firsts:?}");
    }

    #[test]
    fn a_second_holding_more_than_a_share_still_moves_the_check_on() {
        let set = ActiveSet::created_at(&[5; 50]);
        let mut check = RollingCheck::default();
        let first = check.next_slice(&set, 10, 100);
        let second = check.next_slice(&set, 10, 100);
        assert!(first.holds(5_250) || second.holds(5_250));
        assert_ne!(first, second);
    }

    #[test]
    fn the_index_counts_and_cuts_as_the_set_does_and_follows_a_replaced_range() {
        let created: Vec<i64> = (0..200).map(|i| 1_000 + i / 2).collect();
        let set = ActiveSet::created_at(&created);
        let mut index = CreatedIndex::of(&set);
        for range in [
            CreatedRange::ALL,
            CreatedRange::between(Some(1_010), Some(1_050)),
            CreatedRange::between(None, Some(1_000)),
        ] {
            assert_eq!(index.count(&range), set.count_created(&range), "{range:?}");
        }
        let cuts = index.cuts(&CreatedRange::ALL, 4);
        assert_eq!(cuts, vec![1_026, 1_051, 1_076]);
        let pieces = CreatedRange::ALL.split(&cuts);
        let counted: u64 = pieces.iter().map(|p| index.count(p)).sum();
        assert!(counted >= 200, "the pieces cover every session");
        let middle = pieces[1];
        index.replace(&middle, vec![(1_030_500, i64::MAX)]);
        assert_eq!(index.count(&middle), 1);
        assert_eq!(
            index.count(&CreatedRange::ALL),
            200 - set.count_created(&middle) + 1
        );
    }

    #[test]
    fn a_share_covers_the_set_within_the_verify_interval() {
        assert_eq!(slice_share(60_000, 60), 1_250);
        assert_eq!(slice_share(0, 60), 1);
        assert_eq!(slice_share(10, 0), 12);
    }
}
