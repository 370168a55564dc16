//! The active sessions kept between polls by `incremental`: per session only what the per-user
//! gauges and the proof need (a hash of its ID, its user as an index into an interned table, its
//! expiry), about 24 bytes plus the hash table's slack: a million sessions in under 60 MiB.
//!
//! Per-user counts are kept up to date on every change, so the per-user gauges cost a pass over
//! the users, not over the sessions.

use std::collections::HashMap;
use std::sync::Arc;

use super::{tally, IdMap, Summary};

/// What is held of one active session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    expires_ms: i64,
    /// Index into [`ActiveSet::users`].
    user: u32,
}

/// One active session as a change query or a resync reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held<'a> {
    pub id_hash: u64,
    pub user_id: &'a str,
    pub expires_ms: i64,
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
}

impl ActiveSet {
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Forgets everything, the interned users included (a resync starts from here, so users
    /// that no longer hold a session do not stay interned forever).
    pub fn clear(&mut self) {
        *self = ActiveSet::default();
    }

    /// Holds `session` as active, replacing what was held under its ID.
    pub fn upsert(&mut self, session: Held<'_>) {
        let user = self.intern(session.user_id);
        let entry = Entry {
            expires_ms: session.expires_ms,
            user,
        };
        if let Some(old) = self.sessions.insert(session.id_hash, entry) {
            self.per_user[old.user as usize] -= 1;
        }
        self.per_user[user as usize] += 1;
    }

    /// Stops holding the session with this ID hash; `true` when it was held.
    pub fn remove(&mut self, id_hash: u64) -> bool {
        match self.sessions.remove(&id_hash) {
            Some(old) => {
                self.per_user[old.user as usize] -= 1;
                true
            }
            None => false,
        }
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

    /// Bytes held, roughly: the session table with its slack, and the interned users.
    pub fn memory_bytes(&self) -> usize {
        let slot = std::mem::size_of::<(u64, Entry)>() + 1;
        let users: usize = self.users.iter().map(|u| u.len() + 56).sum();
        self.sessions.capacity() * slot + users + self.per_user.capacity() * 8
    }

    fn intern(&mut self, user_id: &str) -> u32 {
        if let Some(&index) = self.user_index.get(user_id) {
            return index;
        }
        let index = u32::try_from(self.users.len()).unwrap_or(u32::MAX);
        let user: Arc<str> = Arc::from(user_id);
        self.users.push(Arc::clone(&user));
        self.user_index.insert(user, index);
        self.per_user.push(0);
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(id: u64, user: &str, expires_ms: i64) -> Held<'_> {
        Held {
            id_hash: id,
            user_id: user,
            expires_ms,
        }
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
