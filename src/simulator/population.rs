//! The simulated project's sessions: storage, indexes, queries, evolution and ground truth.
//!
//! Sessions live in one `Vec` in creation order (a session's index is its identity, and its ID
//! `ses-<index>` sorts the same way), so the unfiltered list and any `created` range are slices
//! found by binary search. Per-status sets of indexes and per-status `(expires, index)` sets let a
//! filtered count touch only the sessions it counts. About 48 bytes a session plus ~40 bytes of
//! index: a million sessions take ~90 MB.
//!
//! Everything is deterministic under the seed: the same seed and the same sequence of
//! [`Population::advance`] instants give the same sessions.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::ops::Bound;
use std::time::Duration;

use crate::aggregate::{Summary, UserCount};
use crate::corbado::query::{parse_time, Field, Filter, Op, Sort};
use crate::corbado::Status;
use crate::rng::SplitMix64;

/// Status codes as stored: the five documented ones by [`Status::index`], then one value outside
/// the enum, for fault injection.
const UNKNOWN: u8 = 5;
const STATUS_SLOTS: usize = 6;
/// The wire value of the out-of-enum status.
pub const UNKNOWN_STATUS_VALUE: &str = "suspended";

const SECOND: i64 = 1000;
const HOUR: i64 = 3600 * SECOND;
const DAY: i64 = 24 * HOUR;

#[derive(Clone, Debug)]
struct Session {
    created_ms: i64,
    expires_ms: i64,
    last_action_ms: i64,
    updated_ms: i64,
    user: u32,
    status: u8,
    /// Position in `Population::active` while active.
    active_pos: u32,
}

/// How the population is generated and how it evolves.
#[derive(Clone, Debug)]
pub struct Params {
    pub seed: u64,
    /// Sessions in the initial population.
    pub sessions: u64,
    /// Distinct users sessions are drawn from (skewed: a few users hold many sessions).
    pub users: u32,
    /// Active sessions in the initial population, roughly.
    pub active: u64,
    /// How long a session lives before it expires.
    pub lifetime: Duration,
    /// How far back the oldest session was created.
    pub history: Duration,
    /// Mean time an active session lasts before its user logs out.
    pub mean_time_to_logout: Duration,
    /// Mean time before an active session ends by inactivity.
    pub mean_time_to_inactivity: Duration,
    /// Mean time before an active session is revoked (outside bursts).
    pub mean_time_to_revocation: Duration,
    /// Mean time between bursts of revocations or expiries.
    pub mean_time_between_bursts: Duration,
}

impl Params {
    /// A realistic project of `sessions` sessions: 5% active, one user per 50 sessions.
    pub fn realistic(sessions: u64, seed: u64) -> Self {
        Params {
            seed,
            sessions,
            users: u32::try_from((sessions / 50).max(1)).unwrap_or(u32::MAX),
            active: sessions / 20,
            lifetime: Duration::from_secs(24 * 3600),
            history: Duration::from_secs(90 * 24 * 3600),
            mean_time_to_logout: Duration::from_secs(8 * 3600),
            mean_time_to_inactivity: Duration::from_secs(16 * 3600),
            mean_time_to_revocation: Duration::from_secs(10 * 24 * 3600),
            mean_time_between_bursts: Duration::from_secs(20 * 60),
        }
    }
}

impl Params {
    /// [`Params::realistic`], with the clock of events sped up for `--demo`: users log out,
    /// go idle and get revoked a few times faster, and a burst comes every few minutes, so that a
    /// dashboard shows movement within the first minutes instead of the first hour.
    pub fn demo(sessions: u64, seed: u64) -> Self {
        Params {
            mean_time_to_logout: Duration::from_secs(2 * 3600),
            mean_time_to_inactivity: Duration::from_secs(4 * 3600),
            mean_time_to_revocation: Duration::from_secs(24 * 3600),
            mean_time_between_bursts: Duration::from_secs(4 * 60),
            ..Params::realistic(sessions, seed)
        }
    }
}

/// What one [`Population::advance`] did; the demo logs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub created: u64,
    pub logged_out: u64,
    pub inactivity_reached: u64,
    pub revoked: u64,
    pub expired: u64,
    pub burst: Option<&'static str>,
}

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

/// The simulated project.
pub struct Population {
    sessions: Vec<Session>,
    by_status: [BTreeSet<u32>; STATUS_SLOTS],
    by_expiry: [BTreeSet<(i64, u32)>; STATUS_SLOTS],
    active: Vec<u32>,
    params: Params,
    rng: SplitMix64,
    clock_ms: i64,
    burst_debt: f64,
}

impl Population {
    /// Generates the initial population as of `now_ms`.
    pub fn generate(params: Params, now_ms: i64) -> Self {
        let mut rng = SplitMix64::new(params.seed);
        let n = params.sessions;
        let lifetime = millis(params.lifetime);
        let history = millis(params.history).max(lifetime + DAY);
        // Sessions that may still be active sit in the last lifetime; put enough there for
        // `active` of them to be active, spread the rest over the history before it.
        let recent = n
            .min(((params.active as f64) / 0.8).ceil() as u64)
            .max(n / 100);
        let older = n - recent;
        let mut population = Population {
            sessions: Vec::with_capacity(usize::try_from(n).unwrap_or(0)),
            by_status: Default::default(),
            by_expiry: Default::default(),
            active: Vec::new(),
            params,
            rng: SplitMix64::new(0),
            clock_ms: now_ms,
            burst_debt: 0.0,
        };
        let p_active = if recent == 0 {
            0.0
        } else {
            (population.params.active as f64 / recent as f64).min(1.0)
        };
        // Whole seconds, so that the API's second-resolution filters and exact window edges agree.
        let old_start = now_ms - history;
        let recent_start = now_ms - lifetime + SECOND;
        for i in 0..n {
            let created = if i < older {
                old_start + ((history - lifetime) as f64 * i as f64 / older as f64) as i64
            } else {
                let j = i - older;
                recent_start + ((lifetime - 2 * SECOND) as f64 * j as f64 / recent as f64) as i64
            };
            let created = created / SECOND * SECOND;
            let expires = created + lifetime;
            let user = population.pick_user(&mut rng);
            let status = if expires <= now_ms {
                pick(
                    &mut rng,
                    &[
                        (Status::Expired, 0.5),
                        (Status::LoggedOut, 0.3),
                        (Status::InactivityReached, 0.14),
                        (Status::Revoked, 0.06),
                    ],
                )
            } else if rng.chance(p_active) {
                Status::Active
            } else {
                pick(
                    &mut rng,
                    &[
                        (Status::LoggedOut, 0.6),
                        (Status::InactivityReached, 0.3),
                        (Status::Revoked, 0.1),
                    ],
                )
            };
            let span = (expires.min(now_ms) - created).max(1) as u64;
            let last_action = created + rng.below(span) as i64 / SECOND * SECOND;
            population.push(Session {
                created_ms: created,
                expires_ms: expires,
                last_action_ms: last_action,
                updated_ms: last_action,
                user,
                status: status.index() as u8,
                active_pos: 0,
            });
        }
        population.rng = rng;
        population
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// The instant the population was last generated or advanced to.
    pub fn clock_ms(&self) -> i64 {
        self.clock_ms
    }

    /// Active sessions right now.
    pub fn active_count(&self) -> usize {
        self.active.len()
    }

    fn pick_user(&self, rng: &mut SplitMix64) -> u32 {
        // Quadratic skew: user 0 draws ~1/sqrt(users) of all sessions, most users a handful.
        let u = rng.next_f64();
        ((u * u) * f64::from(self.params.users)) as u32
    }

    fn push(&mut self, mut session: Session) {
        let index = u32::try_from(self.sessions.len()).unwrap_or(u32::MAX);
        if session.status == Status::Active.index() as u8 {
            session.active_pos = self.active.len() as u32;
            self.active.push(index);
        }
        self.by_status[usize::from(session.status)].insert(index);
        self.by_expiry[usize::from(session.status)].insert((session.expires_ms, index));
        self.sessions.push(session);
    }

    /// Changes a session's status, keeping every index right.
    fn set_status(&mut self, index: u32, status: u8, now_ms: i64) {
        let i = index as usize;
        let old = self.sessions[i].status;
        if old == status {
            return;
        }
        let expires = self.sessions[i].expires_ms;
        self.by_status[usize::from(old)].remove(&index);
        self.by_expiry[usize::from(old)].remove(&(expires, index));
        if old == Status::Active.index() as u8 {
            let pos = self.sessions[i].active_pos as usize;
            self.active.swap_remove(pos);
            if let Some(&moved) = self.active.get(pos) {
                self.sessions[moved as usize].active_pos = pos as u32;
            }
        }
        if status == Status::Active.index() as u8 {
            self.sessions[i].active_pos = self.active.len() as u32;
            self.active.push(index);
        }
        self.by_status[usize::from(status)].insert(index);
        self.by_expiry[usize::from(status)].insert((expires, index));
        self.sessions[i].status = status;
        self.sessions[i].updated_ms = now_ms;
    }

    /// Moves the population forward to `now_ms`: new sessions arrive, active ones end by
    /// logout, inactivity, revocation or expiry, and now and then a burst of revocations or
    /// expiries hits. Going backwards does nothing.
    pub fn advance(&mut self, now_ms: i64) -> Changes {
        let mut changes = Changes::default();
        let dt = now_ms - self.clock_ms;
        if dt <= 0 {
            return changes;
        }
        self.clock_ms = now_ms;
        let secs = dt as f64 / 1000.0;
        let active = self.active.len() as f64;

        // Expiry first: it is not random.
        let active_code = Status::Active.index() as u8;
        let due: Vec<u32> = self.by_expiry[usize::from(active_code)]
            .range(..(now_ms + 1, 0))
            .map(|&(_, index)| index)
            .collect();
        for index in due {
            self.set_status(index, Status::Expired.index() as u8, now_ms);
            changes.expired += 1;
        }

        let rate = |mean: Duration| active * secs / mean.as_secs_f64().max(1.0);
        let logouts = self.draw(rate(self.params.mean_time_to_logout));
        let idle = self.draw(rate(self.params.mean_time_to_inactivity));
        let revokes = self.draw(rate(self.params.mean_time_to_revocation));
        changes.logged_out = self.end_random(logouts, Status::LoggedOut, now_ms);
        changes.inactivity_reached = self.end_random(idle, Status::InactivityReached, now_ms);
        changes.revoked = self.end_random(revokes, Status::Revoked, now_ms);

        // Arrivals keep the active count near its target in steady state.
        let ends_per_sec = active.max(self.params.active as f64)
            * (1.0 / self.params.mean_time_to_logout.as_secs_f64().max(1.0)
                + 1.0 / self.params.mean_time_to_inactivity.as_secs_f64().max(1.0)
                + 1.0 / self.params.mean_time_to_revocation.as_secs_f64().max(1.0));
        let arrivals = self.draw(ends_per_sec * secs);
        for _ in 0..arrivals {
            self.create_session(now_ms);
        }
        changes.created = arrivals;

        // Activity on a few sessions.
        for _ in 0..self.draw(active * secs / 600.0) {
            if self.active.is_empty() {
                break;
            }
            let pos = self.rng.below(self.active.len() as u64) as usize;
            let index = self.active[pos] as usize;
            self.sessions[index].last_action_ms = now_ms;
            self.sessions[index].updated_ms = now_ms;
        }

        // Bursts: a stolen-token scare (mass revocation) or a key rotation (mass expiry).
        self.burst_debt += secs / self.params.mean_time_between_bursts.as_secs_f64().max(1.0);
        if self.burst_debt >= 1.0 || self.rng.chance(self.burst_debt.min(1.0) * 0.02) {
            self.burst_debt = 0.0;
            let share = 0.05 + self.rng.next_f64() * 0.10;
            let count = (self.active.len() as f64 * share) as u64;
            if self.rng.chance(0.5) {
                changes.revoked += self.end_random(count, Status::Revoked, now_ms);
                changes.burst = Some("revocation");
            } else {
                changes.expired += self.expire_random(count, now_ms);
                changes.burst = Some("expiry");
            }
        }
        changes
    }

    /// A whole number of events with mean `expected`: its floor, plus one with the remainder's
    /// probability.
    fn draw(&mut self, expected: f64) -> u64 {
        let whole = expected.floor();
        whole as u64 + u64::from(self.rng.chance(expected - whole))
    }

    fn end_random(&mut self, count: u64, status: Status, now_ms: i64) -> u64 {
        let mut done = 0;
        while done < count && !self.active.is_empty() {
            let pos = self.rng.below(self.active.len() as u64) as usize;
            let index = self.active[pos];
            self.set_status(index, status.index() as u8, now_ms);
            done += 1;
        }
        done
    }

    fn expire_random(&mut self, count: u64, now_ms: i64) -> u64 {
        let mut done = 0;
        while done < count && !self.active.is_empty() {
            let pos = self.rng.below(self.active.len() as u64) as usize;
            let index = self.active[pos];
            let i = index as usize;
            // The expiry moves to now; re-key the expiry index around it.
            let old = (self.sessions[i].expires_ms, index);
            self.by_expiry[usize::from(self.sessions[i].status)].remove(&old);
            self.sessions[i].expires_ms = now_ms;
            self.by_expiry[usize::from(self.sessions[i].status)].insert((now_ms, index));
            self.set_status(index, Status::Expired.index() as u8, now_ms);
            done += 1;
        }
        done
    }

    fn create_session(&mut self, now_ms: i64) {
        // Creation order is index order: never let a clock step make `created` go backwards.
        let created = self
            .sessions
            .last()
            .map_or(now_ms, |s| s.created_ms.max(now_ms));
        let user = {
            let mut rng = self.rng.clone();
            let user = self.pick_user(&mut rng);
            self.rng = rng;
            user
        };
        self.push(Session {
            created_ms: created,
            expires_ms: created + millis(self.params.lifetime),
            last_action_ms: created,
            updated_ms: created,
            user,
            status: Status::Active.index() as u8,
            active_pos: 0,
        });
    }

    /// Gives `count` sessions (the newest ones that are not active) the out-of-enum status,
    /// for fault injection.
    pub fn inject_unknown_statuses(&mut self, count: u64) -> u64 {
        let mut done = 0;
        let now = self.clock_ms;
        for index in (0..self.sessions.len() as u32).rev() {
            if done == count {
                break;
            }
            let status = self.sessions[index as usize].status;
            if status != Status::Active.index() as u8 && status != UNKNOWN {
                self.set_status(index, UNKNOWN, now);
                done += 1;
            }
        }
        done
    }

    // ---- queries -------------------------------------------------------------------------

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

    /// Writes sessions as the API's JSON objects, comma-separated, into `out`.
    pub fn write_sessions_json(&self, indexes: &[u32], out: &mut String) {
        for (n, &index) in indexes.iter().enumerate() {
            let s = &self.sessions[index as usize];
            if n > 0 {
                out.push(',');
            }
            // All values are ASCII the simulator made itself: nothing needs escaping.
            let _ = write!(
                out,
                "{{\"sessionID\":\"{}\",\"userID\":\"{}\",\"identifierValue\":\"user{}@example.com\",\
                 \"createdMs\":{},\"lastActionMs\":{},\"expiresMs\":{},\"status\":\"{}\"}}",
                session_id(index),
                user_id(s.user),
                s.user,
                s.created_ms,
                s.last_action_ms,
                s.expires_ms,
                status_value(s.status),
            );
        }
    }

    // ---- ground truth --------------------------------------------------------------------

    /// The exact value of every session gauge at `now_ms`, by brute force over every session.
    ///
    /// Written apart from `aggregate.rs` on purpose: it is the oracle the exporter is tested
    /// against, so it must not share the exporter's mistakes.
    pub fn expected(&self, now_ms: i64, windows: &[Duration], top_k: usize) -> Summary {
        let w: Vec<i64> = windows.iter().map(|d| millis(*d)).collect();
        let mut summary = Summary {
            created_in_window: vec![0; w.len()],
            expiring_in_window: vec![0; w.len()],
            expired_in_window: vec![0; w.len()],
            ..Summary::default()
        };
        let mut per_user: HashMap<u32, u64> = HashMap::new();
        for s in &self.sessions {
            if s.status == UNKNOWN {
                summary.unknown_status += 1;
            } else {
                summary.by_status[usize::from(s.status)] += 1;
            }
            let active = s.status == Status::Active.index() as u8;
            let expired = s.status == Status::Expired.index() as u8;
            for (k, &len) in w.iter().enumerate() {
                let (since, until) = (now_ms.saturating_sub(len), now_ms.saturating_add(len));
                if since < s.created_ms && s.created_ms <= now_ms {
                    summary.created_in_window[k] += 1;
                }
                if active && now_ms < s.expires_ms && s.expires_ms <= until {
                    summary.expiring_in_window[k] += 1;
                }
                if expired && since < s.expires_ms && s.expires_ms <= now_ms {
                    summary.expired_in_window[k] += 1;
                }
            }
            if active {
                *per_user.entry(s.user).or_default() += 1;
            }
        }
        summary.users_with_active_sessions = per_user.len() as u64;
        summary.user_active_sessions_max = per_user.values().copied().max().unwrap_or(0);
        let mut users: Vec<(String, u64)> =
            per_user.into_iter().map(|(u, n)| (user_id(u), n)).collect();
        users.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        summary.top_users = users
            .into_iter()
            .take(top_k)
            .map(|(user_id, active_sessions)| UserCount {
                user_id,
                active_sessions,
            })
            .collect();
        summary
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

fn pick(rng: &mut SplitMix64, weights: &[(Status, f64)]) -> Status {
    let mut x = rng.next_f64() * weights.iter().map(|(_, w)| w).sum::<f64>();
    for &(status, w) in weights {
        if x < w {
            return status;
        }
        x -= w;
    }
    weights[weights.len() - 1].0
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub fn session_id(index: u32) -> String {
    format!("ses-{index:010}")
}

pub fn user_id(user: u32) -> String {
    format!("usr-{user:08}")
}

fn status_value(code: u8) -> &'static str {
    match code {
        UNKNOWN => UNKNOWN_STATUS_VALUE,
        code => Status::ALL[usize::from(code)].as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corbado::query::format_time;

    const NOW: i64 = 1_795_626_000_000;

    fn small() -> Population {
        Population::generate(Params::realistic(20_000, 7), NOW)
    }

    fn windows() -> Vec<Duration> {
        vec![
            Duration::from_secs(900),
            Duration::from_secs(3600),
            Duration::from_secs(86_400),
        ]
    }

    #[test]
    fn generation_is_deterministic_and_realistic() {
        let a = small();
        let b = small();
        let ea = a.expected(NOW, &windows(), 5);
        assert_eq!(ea, b.expected(NOW, &windows(), 5));
        assert_eq!(a.len(), 20_000);
        let active = ea.count(Status::Active);
        assert!(
            (800..=1200).contains(&active),
            "about 5% active, got {active}"
        );
        for status in Status::ALL {
            assert!(ea.count(status) > 0, "{status} should occur");
        }
        assert!(ea.user_active_sessions_max >= 5, "skewed users: {ea:?}");
        assert!(ea.created_in_window[2] > 0 && ea.expired_in_window[2] > 0);
        let other = Population::generate(Params::realistic(20_000, 8), NOW);
        assert_ne!(other.expected(NOW, &windows(), 5), ea);
    }

    #[test]
    fn indexed_counts_agree_with_brute_force() {
        let mut p = small();
        p.advance(NOW + 120_000);
        let now = p.clock_ms() / 1000;
        let truth = p.expected(now * 1000, &windows(), 0);
        for status in Status::ALL {
            let r = p.query(&[Filter::status(status)], None, 1, 1);
            assert_eq!(r.total, truth.count(status), "{status}");
        }
        for (k, w) in windows().iter().enumerate() {
            let since = now - w.as_secs() as i64;
            let created = p.query(
                &[
                    Filter::time(Field::Created, Op::Gt, since),
                    Filter::time(Field::Created, Op::Lt, now + 1),
                ],
                None,
                1,
                1,
            );
            assert_eq!(created.total, truth.created_in_window[k]);
            let expired = p.query(
                &[
                    Filter::status(Status::Expired),
                    Filter::time(Field::Expires, Op::Gt, since),
                    Filter::time(Field::Expires, Op::Lt, now + 1),
                ],
                None,
                1,
                1,
            );
            assert_eq!(expired.total, truth.expired_in_window[k]);
        }
    }

    #[test]
    fn paging_walks_every_match_once_in_creation_order() {
        let p = small();
        let filters = [Filter::status(Status::Active)];
        let first = p.query(&filters, Some(Sort::CREATED_ASC), 1, 100);
        let mut seen = Vec::new();
        let pages = first.total.div_ceil(100);
        for page in 1..=pages + 1 {
            seen.extend(
                p.query(&filters, Some(Sort::CREATED_ASC), page, 100)
                    .indexes,
            );
        }
        assert_eq!(seen.len() as u64, first.total);
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        let all = p.query(&[], None, 3, 7);
        assert_eq!(all.indexes, (14..21).collect::<Vec<u32>>());
        assert_eq!(all.total, 20_000);
    }

    #[test]
    fn other_sorts_and_text_filters_work() {
        let p = small();
        let desc = p.query(&[], Some("created:desc".parse().unwrap()), 1, 3);
        assert_eq!(desc.indexes, vec![19_999, 19_998, 19_997]);
        let by_expiry = p.query(
            &[Filter::status(Status::Active)],
            Some("expires:asc".parse().unwrap()),
            1,
            50,
        );
        let expiries: Vec<i64> = by_expiry
            .indexes
            .iter()
            .map(|&i| p.sessions[i as usize].expires_ms)
            .collect();
        assert!(expiries.windows(2).all(|w| w[0] <= w[1]));
        let one = p.query(&["ID:eq:ses-0000000042".parse().unwrap()], None, 1, 10);
        assert_eq!(one.indexes, vec![42]);
        let user = user_id(p.sessions[42].user);
        let mine = p.query(
            &[format!("userID:eq:{user}").parse().unwrap()],
            None,
            1,
            1000,
        );
        assert!(mine.indexes.contains(&42));
        assert!(mine
            .indexes
            .iter()
            .all(|&i| user_id(p.sessions[i as usize].user) == user));
        let nothing = p.query(
            &[
                Filter::status(Status::Active),
                Filter::status(Status::Revoked),
            ],
            None,
            1,
            10,
        );
        assert_eq!(nothing.total, 0);
    }

    #[test]
    fn evolution_moves_sessions_between_states_and_keeps_indexes_right() {
        let mut p = small();
        let before = p.expected(NOW, &windows(), 0);
        let mut bursts = 0;
        let mut now = NOW;
        for _ in 0..3600 {
            now += 1000;
            let changes = p.advance(now);
            bursts += u32::from(changes.burst.is_some());
        }
        let after = p.expected(now, &windows(), 0);
        assert_eq!(after.total(), p.len() as u64);
        assert!(after.total() > before.total(), "new sessions arrived");
        assert!(after.count(Status::Revoked) > before.count(Status::Revoked));
        assert!(after.count(Status::LoggedOut) > before.count(Status::LoggedOut));
        assert!(bursts >= 1, "an hour should see a burst");
        for status in Status::ALL {
            assert_eq!(
                p.query(&[Filter::status(status)], None, 1, 1).total,
                after.count(status)
            );
            assert_eq!(
                p.by_expiry[status.index()].len(),
                p.by_status[status.index()].len()
            );
        }
        assert_eq!(p.active.len() as u64, after.count(Status::Active));
        for (pos, &index) in p.active.iter().enumerate() {
            assert_eq!(p.sessions[index as usize].active_pos as usize, pos);
        }
        let times = format_time(now / 1000);
        assert!(parse_time(&times).is_some());
    }

    #[test]
    fn unknown_statuses_are_injected_and_counted() {
        let mut p = small();
        assert_eq!(p.inject_unknown_statuses(7), 7);
        let truth = p.expected(NOW, &windows(), 0);
        assert_eq!(truth.unknown_status, 7);
        assert_eq!(truth.total(), 20_000);
    }
}
