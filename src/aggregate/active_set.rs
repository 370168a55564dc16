//! The active sessions kept between polls by `incremental`: per session only what the per-user
//! gauges, the proof and the repairs need (a hash of its ID, its user as an index into an
//! interned table, its expiry and its creation), 32 bytes plus the hash table's slack.
//!
//! Per-user counts are kept up to date on every change, so the per-user gauges cost a pass over
//! the users, not over the sessions. A user whose last session goes is forgotten at once (its
//! index is reused), so the interned table holds the users of today, not every user ever seen.
//! The creation times let the set be cut into created-time ranges ([`CreatedRange`]) that the
//! API can count, so that a difference is found by counting, not by re-paging everything.

use std::collections::HashMap;
use std::sync::Arc;

use super::{tally, IdMap, SessionFacts, Summary};
use crate::corbado::Status;

/// What is held of one active session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    expires_ms: i64,
    created_ms: i64,
    /// Index into [`ActiveSet::users`].
    user: u32,
}

/// One active session as a change query or a resync reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held<'a> {
    pub id_hash: u64,
    pub user_id: &'a str,
    pub created_ms: i64,
    pub expires_ms: i64,
}

/// One held session as [`ActiveSet::export`] gives it: `user` indexes the user table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub id_hash: u64,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub user: u32,
}

/// Sessions created strictly between two whole seconds, as the API's `created:gt:a` and
/// `created:lt:b` filters select them (a session's `createdMs` against `a`·1000 and `b`·1000); an
/// open end has no filter. The set counts itself with the same comparison, so a range's count
/// from the API and from the set agree exactly when the set is right about that range. The
/// rolling check's second count also bounds the expiry (`expires:lt:e`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreatedRange {
    /// `created:gt:` this Unix second, if bounded below.
    pub after_s: Option<i64>,
    /// `created:lt:` this Unix second, if bounded above.
    pub before_s: Option<i64>,
    /// `expires:lt:` this Unix second, if the expiry is bounded too.
    pub expires_before_s: Option<i64>,
}

impl CreatedRange {
    /// Every session.
    pub const ALL: CreatedRange = CreatedRange::between(None, None);

    /// Sessions created after `after_s` and before `before_s` (Unix seconds; `None`: open).
    pub const fn between(after_s: Option<i64>, before_s: Option<i64>) -> Self {
        CreatedRange {
            after_s,
            before_s,
            expires_before_s: None,
        }
    }

    /// The same range, only the sessions that expire before `expires_before_s`.
    pub fn expiring_before(self, expires_before_s: i64) -> Self {
        CreatedRange {
            expires_before_s: Some(expires_before_s),
            ..self
        }
    }

    /// Whether a session created at `created_ms` and expiring at `expires_ms` falls in the range.
    pub fn holds_session(&self, created_ms: i64, expires_ms: i64) -> bool {
        self.holds(created_ms)
            && self
                .expires_before_s
                .is_none_or(|e| expires_ms < e.saturating_mul(1000))
    }

    /// Whether a session created at `created_ms` falls in the range.
    pub fn holds(&self, created_ms: i64) -> bool {
        self.after_s
            .is_none_or(|a| created_ms > a.saturating_mul(1000))
            && self
                .before_s
                .is_none_or(|b| created_ms < b.saturating_mul(1000))
    }

    /// The range cut at the whole seconds `cuts` (ascending, each inside the range) into
    /// pieces that cover it with no gap: each piece reaches one second below its cut, since a
    /// session created exactly on a cut's millisecond would otherwise fall in neither (the
    /// pieces overlap by that one second, which costs nothing: each is compared on its own).
    pub fn split(&self, cuts: &[i64]) -> Vec<CreatedRange> {
        let mut pieces = Vec::with_capacity(cuts.len() + 1);
        let mut after_s = self.after_s;
        for &cut in cuts {
            pieces.push(CreatedRange {
                after_s,
                before_s: Some(cut),
                ..*self
            });
            after_s = Some(cut - 1);
        }
        pieces.push(CreatedRange { after_s, ..*self });
        pieces
    }
}

/// The active sessions as the exporter believes the API lists them.
#[derive(Default)]
pub struct ActiveSet {
    sessions: IdMap<Entry>,
    /// Interned user IDs; an index, once given, stands for the same user until [`Self::clear`].
    users: Vec<Arc<str>>,
    user_index: HashMap<Arc<str>, u32>,
    /// Active sessions held per user index.
    per_user: Vec<u64>,
    /// Indexes whose user holds nothing any more, to be given to the next new user.
    free: Vec<u32>,
    /// While recording ([`Self::record_removals`]): the sessions let go, as (creation ms, ID
    /// hash), a session let go twice listed twice.
    removed: Option<Vec<(i64, u64)>>,
}

impl ActiveSet {
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Forgets everything, the interned users included.
    pub fn clear(&mut self) {
        *self = ActiveSet::default();
    }

    /// Holds `session` as active, replacing what was held under its ID.
    pub fn upsert(&mut self, session: Held<'_>) {
        let user = self.intern(session.user_id);
        let entry = Entry {
            expires_ms: session.expires_ms,
            created_ms: session.created_ms,
            user,
        };
        self.per_user[user as usize] += 1;
        if let Some(old) = self.sessions.insert(session.id_hash, entry) {
            self.release(old.user);
        }
    }

    /// Holds `session` if the API lists it as active, forgets it otherwise.
    pub fn apply(&mut self, session: SessionFacts) {
        match (session.status, session.active_user.as_deref()) {
            (Some(Status::Active), Some(user_id)) => self.upsert(Held {
                id_hash: session.id_hash,
                user_id,
                created_ms: session.created_ms,
                expires_ms: session.expires_ms,
            }),
            _ => {
                self.remove(session.id_hash);
            }
        }
    }

    /// Stops holding the session with this ID hash; `true` when it was held.
    pub fn remove(&mut self, id_hash: u64) -> bool {
        match self.sessions.remove(&id_hash) {
            Some(old) => {
                self.release(old.user);
                if let Some(removed) = &mut self.removed {
                    removed.push((old.created_ms, id_hash));
                }
                true
            }
            None => false,
        }
    }

    /// From now on, notes every session let go, until [`Self::take_removals`].
    pub fn record_removals(&mut self) {
        self.removed = Some(Vec::new());
    }

    /// The sessions let go since [`Self::record_removals`] (none when not recording), and stops
    /// recording.
    pub fn take_removals(&mut self) -> Vec<(i64, u64)> {
        self.removed.take().unwrap_or_default()
    }

    /// Stops holding every session created in `range`; returns how many were held.
    pub fn remove_created(&mut self, range: &CreatedRange) -> u64 {
        let gone: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, e)| range.holds_session(e.created_ms, e.expires_ms))
            .map(|(&id, _)| id)
            .collect();
        for &id in &gone {
            self.remove(id);
        }
        gone.len() as u64
    }

    /// Held sessions created in `range`.
    pub fn count_created(&self, range: &CreatedRange) -> u64 {
        self.sessions
            .values()
            .filter(|e| range.holds_session(e.created_ms, e.expires_ms))
            .count() as u64
    }

    /// Every held session's creation and expiry (Unix ms), in no order.
    pub fn created_times(&self) -> Vec<(i64, i64)> {
        self.sessions
            .values()
            .map(|e| (e.created_ms, e.expires_ms))
            .collect()
    }

    /// The expiry (whole seconds, rounded up) below which about `share` (0 to 1) of the held
    /// sessions of `range` expire, if it holds any.
    pub fn expiry_quantile(&self, range: &CreatedRange, share: f64) -> Option<i64> {
        let mut expiries: Vec<i64> = self
            .sessions
            .values()
            .filter(|e| range.holds_session(e.created_ms, e.expires_ms))
            .map(|e| e.expires_ms)
            .collect();
        if expiries.is_empty() {
            return None;
        }
        let rank = ((expiries.len() as f64 * share) as usize).min(expiries.len() - 1);
        let (_, nth, _) = expiries.select_nth_unstable(rank);
        Some(nth.div_euclid(1000) + 1)
    }

    /// The whole second after which the `rank`-th oldest held session created after
    /// `after_s` was created (0-based), or `None` when fewer are held.
    pub fn created_after_nth(&self, after_s: Option<i64>, rank: usize) -> Option<i64> {
        let range = CreatedRange::between(after_s, None);
        let mut seconds: Vec<i64> = self
            .sessions
            .values()
            .filter(|e| range.holds(e.created_ms))
            .map(|e| e.created_ms.div_euclid(1000))
            .collect();
        if rank >= seconds.len() {
            return None;
        }
        let (_, nth, _) = seconds.select_nth_unstable(rank);
        Some(*nth)
    }

    /// What the set holds, for a state file: the interned user table (a freed slot is an
    /// empty name no session refers to), and per session its ID hash, creation, expiry and
    /// index into that table.
    pub fn export(&self) -> (Vec<&str>, Vec<Record>) {
        let users = self.users.iter().map(|u| &**u).collect();
        let sessions = self
            .sessions
            .iter()
            .map(|(&id_hash, e)| Record {
                id_hash,
                created_ms: e.created_ms,
                expires_ms: e.expires_ms,
                user: e.user,
            })
            .collect();
        (users, sessions)
    }

    /// Slots of the interned user table, the freed ones included (for the benches).
    #[cfg(feature = "test-support")]
    pub fn interned_users(&self) -> usize {
        self.users.len()
    }

    /// Users holding at least one session (the interned table's live part).
    pub fn users(&self) -> usize {
        self.users.len() - self.free.len()
    }

    pub fn contains(&self, id_hash: u64) -> bool {
        self.sessions.contains_key(&id_hash)
    }

    /// Held sessions whose expiry lies in `(after_ms, until_ms]`: those that came due in between.
    pub fn due_between(&self, after_ms: i64, until_ms: i64) -> Vec<u64> {
        self.sessions
            .iter()
            .filter(|(_, e)| e.expires_ms > after_ms && e.expires_ms <= until_ms)
            .map(|(&id, _)| id)
            .collect()
    }

    /// Per window (whole seconds `windows_s`), the held sessions that the API's expiring count
    /// counts: `expires:gt:now` and `expires:lt:now+w+1s`, `now_s` in whole seconds.
    pub fn expiring(&self, now_s: i64, windows_s: &[i64]) -> Vec<u64> {
        let lower = now_s.saturating_mul(1000);
        let uppers: Vec<i64> = windows_s
            .iter()
            .map(|w| {
                now_s
                    .saturating_add(*w)
                    .saturating_add(1)
                    .saturating_mul(1000)
            })
            .collect();
        let mut counts = vec![0u64; windows_s.len()];
        for entry in self.sessions.values() {
            if entry.expires_ms <= lower {
                continue;
            }
            for (count, &upper) in counts.iter_mut().zip(&uppers) {
                *count += u64::from(entry.expires_ms < upper);
            }
        }
        counts
    }

    /// Writes the per-user fields of `summary` from the sessions held.
    pub fn tally(&self, top_k: usize, summary: &mut Summary) {
        let users = self
            .per_user
            .iter()
            .zip(&self.users)
            .map(|(&n, user)| (&**user, n));
        tally(users, top_k, summary);
    }

    /// Bytes held, roughly: the session table with its slack, and the interned users (for the
    /// benches that watch memory).
    #[cfg(any(test, feature = "test-support"))]
    pub fn memory_bytes(&self) -> usize {
        let slot = std::mem::size_of::<(u64, Entry)>() + 1;
        let users: usize = self.users.iter().map(|u| u.len() + 56).sum();
        self.sessions.capacity() * slot + users + self.per_user.capacity() * 8
    }

    /// A set of one user's sessions, one created at each of `created_s` (Unix seconds, a
    /// quarter second in), none expiring: the fixture of the repair and re-page tests.
    #[cfg(test)]
    pub(crate) fn created_at(created_s: &[i64]) -> ActiveSet {
        let mut set = ActiveSet::default();
        for (i, &c) in created_s.iter().enumerate() {
            set.upsert(Held {
                id_hash: i as u64,
                user_id: "u",
                created_ms: c * 1000 + 250,
                expires_ms: i64::MAX,
            });
        }
        set
    }

    fn intern(&mut self, user_id: &str) -> u32 {
        if let Some(&index) = self.user_index.get(user_id) {
            return index;
        }
        let user: Arc<str> = Arc::from(user_id);
        let index = match self.free.pop() {
            Some(index) => {
                self.users[index as usize] = Arc::clone(&user);
                index
            }
            None => {
                self.users.push(Arc::clone(&user));
                self.per_user.push(0);
                u32::try_from(self.users.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.user_index.insert(user, index);
        index
    }

    /// One session fewer for `user`; a user left with none is forgotten and its index freed.
    fn release(&mut self, user: u32) {
        let count = &mut self.per_user[user as usize];
        *count -= 1;
        if *count == 0 {
            let name = std::mem::replace(&mut self.users[user as usize], Arc::from(""));
            self.user_index.remove(&name);
            self.free.push(user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(id: u64, user: &str, expires_ms: i64) -> Held<'_> {
        Held {
            id_hash: id,
            user_id: user,
            created_ms: id as i64 * 1000,
            expires_ms,
        }
    }

    #[test]
    fn a_user_whose_last_session_goes_is_forgotten_and_its_slot_reused() {
        let mut set = ActiveSet::default();
        set.upsert(held(1, "a", 10_000));
        set.upsert(held(2, "b", 10_000));
        assert_eq!(set.users(), 2);
        set.remove(1);
        assert_eq!(set.users(), 1);
        set.upsert(held(3, "c", 10_000));
        set.upsert(held(4, "c", 10_000));
        assert_eq!(set.users(), 2);
        assert_eq!(set.users.len(), 2, "c took a's slot");
        let mut summary = Summary::default();
        set.tally(10, &mut summary);
        assert_eq!(summary.users_with_active_sessions, 2);
        assert_eq!(summary.top_users[0].user_id, "c");
        assert_eq!(summary.top_users[1].user_id, "b");
        // Moving b's only session to c forgets b too.
        set.upsert(Held {
            user_id: "c",
            ..held(2, "b", 10_000)
        });
        assert_eq!(set.users(), 1);
    }

    #[test]
    fn created_ranges_count_as_the_api_filters_do_and_split_without_gaps() {
        let mut set = ActiveSet::default();
        // Sessions created at 1.000 s, 2.500 s, 3.000 s, ... 10.000 s.
        for (id, created) in [1_000, 2_500, 3_000, 4_000, 5_500, 6_000, 7_000, 10_000]
            .into_iter()
            .enumerate()
        {
            set.upsert(Held {
                created_ms: created,
                ..held(id as u64, "u", 99_000)
            });
        }
        // created:gt:2 and created:lt:6: (2 000 ms, 6 000 ms) exclusive.
        let range = CreatedRange::between(Some(2), Some(6));
        assert_eq!(set.count_created(&range), 4, "2 500 to 5 500, not 6 000");
        assert_eq!(set.count_created(&CreatedRange::ALL), 8);
        // Pieces cover the range: every session of it is in at least one piece.
        let pieces = CreatedRange::ALL.split(&[4, 7]);
        assert_eq!(pieces.len(), 3);
        for created in [1_000, 2_500, 3_000, 4_000, 5_500, 6_000, 7_000, 10_000] {
            assert!(pieces.iter().any(|p| p.holds(created)), "{created}");
        }
        // The same range, only what expires before 99 s: nothing (every expiry is 99 000 ms).
        assert_eq!(set.count_created(&range.expiring_before(99)), 0);
        assert_eq!(set.count_created(&range.expiring_before(100)), 4);
        assert_eq!(set.expiry_quantile(&range, 0.5), Some(100));
        assert_eq!(set.remove_created(&range), 4);
        assert_eq!(set.len(), 4);
        assert_eq!(set.created_after_nth(Some(5), 0), Some(6));
        assert_eq!(set.created_after_nth(None, 9), None);
    }

    #[test]
    fn upserts_move_a_session_between_users_and_removal_forgets_it() {
        let mut set = ActiveSet::default();
        set.upsert(held(1, "a", 10_000));
        set.upsert(held(2, "a", 20_000));
        set.upsert(held(3, "b", 30_000));
        set.upsert(held(2, "b", 25_000));
        assert_eq!(set.len(), 3);
        let mut summary = Summary::default();
        set.tally(10, &mut summary);
        assert_eq!(summary.users_with_active_sessions, 2);
        assert_eq!(summary.top_users[0].user_id, "b");
        assert_eq!(summary.top_users[0].active_sessions, 2);
        assert!(set.remove(3) && set.remove(2) && !set.remove(2));
        set.tally(10, &mut summary);
        assert_eq!(summary.users_with_active_sessions, 1);
        assert_eq!(summary.user_active_sessions_max, 1);
    }

    #[test]
    fn expiring_counts_as_the_api_query_does_and_due_finds_what_came_due() {
        let mut set = ActiveSet::default();
        // now = 100 s; window 10 s: the query is expires in (100 000, 111 000).
        for (id, expires) in [
            (1, 100_000),
            (2, 100_001),
            (3, 110_999),
            (4, 111_000),
            (5, 90_000),
        ] {
            set.upsert(held(id, "u", expires));
        }
        assert_eq!(set.expiring(100, &[10, 60]), vec![2, 3]);
        let mut due = set.due_between(95_000, 100_000);
        due.sort_unstable();
        assert_eq!(due, vec![1]);
        assert!(set.memory_bytes() > 0);
    }
}
