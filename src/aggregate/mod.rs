//! Sessions in, [`Summary`] out: the pure heart of the exporter.
//!
//! No I/O and no prometheus types here, so every rule of the contract is unit-tested directly:
//! one `now` per poll; created in `(now-w, now]`, expiring in `(now, now+w]`, expired in
//! `(now-w, now]`; statuses outside the enum counted as unknown; top-k ties broken by ascending
//! user ID; duplicates (the same `sessionID` on two pages) counted once.
//!
//! Memory grows with the number of users holding active sessions (one map entry each) plus one
//! 8-byte hash per distinct session seen, for deduplication; no session is kept whole.
//!
//! - [`window`]: the windows of the `*_in_window` gauges.
//! - [`facts`]: what is kept of one session from the wire.
//! - [`status_counts`]: sessions per status, a field each.
//! - [`users`]: active sessions per user into the per-user gauges.
//! - [`active_set`]: the active sessions kept between polls by `incremental`.

mod active_set;
mod facts;
mod status_counts;
mod users;
mod window;

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Duration;

use crate::corbado::Status;
pub use active_set::{ActiveSet, CreatedRange, Held, Record};
pub use facts::{hash_id, SessionFacts};
pub use status_counts::StatusCounts;
pub use users::{bucket_label, tally, USER_BUCKETS};
pub use window::{parse_windows, Window, Windows};

/// Everything the session gauges show, for one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Sessions per status.
    pub statuses: StatusCounts,
    /// Per window (in the order `--sessions.windows` lists them, which [`Windows`] keeps):
    /// sessions created in `(now-w, now]`.
    pub created_in_window: Vec<u64>,
    /// Per window: active sessions expiring in `(now, now+w]`.
    pub expiring_in_window: Vec<u64>,
    /// Per window: expired sessions whose expiry lies in `(now-w, now]`.
    pub expired_in_window: Vec<u64>,
    pub users_with_active_sessions: u64,
    /// The most active sessions one user holds (0 when nobody holds any).
    pub user_active_sessions_max: u64,
    /// The top-k users by active sessions, most first, ties by ascending user ID.
    pub top_users: Vec<UserCount>,
    /// Per bound of [`USER_BUCKETS`]: users holding at most that many active sessions (the
    /// cumulative buckets of `corbado_active_sessions_per_user`).
    pub users_by_active_sessions: Vec<u64>,
    /// The active sessions those users hold together (the histogram's `_sum`).
    pub user_active_sessions_sum: u64,
}

impl Summary {
    pub fn count(&self, status: Status) -> u64 {
        self.statuses.get(status)
    }

    /// All sessions, known statuses and unknown.
    pub fn total(&self) -> u64 {
        self.statuses.total()
    }

    /// Copies the per-user fields (those that come from the active set) from `other`.
    pub fn take_users_from(&mut self, other: &Summary) {
        self.users_with_active_sessions = other.users_with_active_sessions;
        self.user_active_sessions_max = other.user_active_sessions_max;
        self.top_users.clone_from(&other.top_users);
        self.users_by_active_sessions
            .clone_from(&other.users_by_active_sessions);
        self.user_active_sessions_sum = other.user_active_sessions_sum;
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserCount {
    pub user_id: String,
    pub active_sessions: u64,
}

/// A `Hasher` that passes an already-hashed `u64` through; hashing it again would be waste.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in so the type stays a correct Hasher.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

type SeenSet = HashSet<u64, BuildHasherDefault<PassThrough>>;
/// A map keyed by session-ID hashes ([`hash_id`]), which need no hashing again.
type IdMap<V> = HashMap<u64, V, BuildHasherDefault<PassThrough>>;

/// Folds sessions into a [`Summary`] one at a time.
pub struct Aggregator {
    now_ms: i64,
    windows_ms: Vec<i64>,
    top_k: usize,
    seen: SeenSet,
    duplicates: u64,
    summary: Summary,
    active_per_user: HashMap<Box<str>, u64>,
}

impl Aggregator {
    /// `now_ms` is the poll's single instant; `windows` in the order the metrics list them.
    pub fn new(now_ms: i64, windows: &[Duration], top_k: usize) -> Self {
        let n = windows.len();
        Aggregator {
            now_ms,
            windows_ms: windows.iter().copied().map(crate::clock::millis).collect(),
            top_k,
            seen: SeenSet::default(),
            duplicates: 0,
            summary: Summary {
                created_in_window: vec![0; n],
                expiring_in_window: vec![0; n],
                expired_in_window: vec![0; n],
                ..Summary::default()
            },
            active_per_user: HashMap::new(),
        }
    }

    /// Counts one session; returns `false` (and counts nothing) for a session already seen.
    pub fn observe(&mut self, session: SessionFacts) -> bool {
        if !self.seen.insert(session.id_hash) {
            self.duplicates += 1;
            return false;
        }
        let now = self.now_ms;
        self.summary.statuses.add(session.status);
        for (i, &w) in self.windows_ms.iter().enumerate() {
            let since = now.saturating_sub(w);
            if session.created_ms > since && session.created_ms <= now {
                self.summary.created_in_window[i] += 1;
            }
            match session.status {
                Some(Status::Active)
                    if session.expires_ms > now && session.expires_ms <= now.saturating_add(w) =>
                {
                    self.summary.expiring_in_window[i] += 1;
                }
                Some(Status::Expired)
                    if session.expires_ms > since && session.expires_ms <= now =>
                {
                    self.summary.expired_in_window[i] += 1;
                }
                _ => {}
            }
        }
        if let (Some(Status::Active), Some(user)) = (session.status, session.active_user) {
            *self.active_per_user.entry(user).or_insert(0) += 1;
        }
        true
    }

    /// Sessions dropped as duplicates so far.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Distinct sessions counted so far.
    pub fn distinct(&self) -> u64 {
        self.seen.len() as u64
    }

    pub fn finish(mut self) -> Summary {
        let users = self.active_per_user.iter().map(|(u, &n)| (&**u, n));
        tally(users, self.top_k, &mut self.summary);
        self.summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000_000_000;
    const MIN: i64 = 60_000;

    use crate::corbado::SessionRef;

    fn session(id: &str, user: &str, status: &str, created: i64, expires: i64) -> SessionFacts {
        let wire = SessionRef {
            session_id: id.into(),
            user_id: user.into(),
            created_ms: created,
            expires_ms: expires,
            status: status.into(),
        };
        SessionFacts::from_wire(&wire)
    }

    fn windows() -> Vec<Duration> {
        vec![Duration::from_secs(15 * 60), Duration::from_secs(3600)]
    }

    #[test]
    fn counts_every_status_and_unknown_ones() {
        let mut agg = Aggregator::new(NOW, &windows(), 10);
        for (i, status) in [
            "active",
            "logged_out",
            "expired",
            "inactivity_reached",
            "revoked",
            "revoked",
            "frozen",
            "",
        ]
        .iter()
        .enumerate()
        {
            agg.observe(session(&format!("s{i}"), "u", status, 0, 0));
        }
        let summary = agg.finish();
        let statuses = summary.statuses;
        assert_eq!(
            [statuses.active, statuses.logged_out, statuses.expired],
            [1, 1, 1]
        );
        assert_eq!([statuses.inactivity_reached, statuses.revoked], [1, 2]);
        assert_eq!(statuses.unknown, 2);
        assert_eq!(summary.total(), 8);
    }

    #[test]
    fn window_edges_follow_the_contract() {
        let mut agg = Aggregator::new(NOW, &windows(), 10);
        // created: (now-15m, now] is in; now-15m itself is out; after now is out.
        agg.observe(session("c1", "u", "revoked", NOW - 15 * MIN, 0));
        agg.observe(session("c2", "u", "revoked", NOW - 15 * MIN + 1, 0));
        agg.observe(session("c3", "u", "revoked", NOW, 0));
        agg.observe(session("c4", "u", "revoked", NOW + 1, 0));
        // expiring: (now, now+w] for active only.
        agg.observe(session("e1", "u", "active", 0, NOW));
        agg.observe(session("e2", "u", "active", 0, NOW + 1));
        agg.observe(session("e3", "u", "active", 0, NOW + 15 * MIN));
        agg.observe(session("e4", "u", "active", 0, NOW + 15 * MIN + 1));
        agg.observe(session("e5", "u", "logged_out", 0, NOW + 1));
        // expired: (now-w, now] for expired only.
        agg.observe(session("x1", "u", "expired", 0, NOW));
        agg.observe(session("x2", "u", "expired", 0, NOW - 15 * MIN));
        agg.observe(session("x3", "u", "expired", 0, NOW - 60 * MIN + 1));
        agg.observe(session("x4", "u", "revoked", 0, NOW));
        let summary = agg.finish();
        assert_eq!(summary.created_in_window, vec![2, 3]);
        assert_eq!(summary.expiring_in_window, vec![2, 3]);
        assert_eq!(summary.expired_in_window, vec![1, 3]);
    }

    #[test]
    fn duplicates_are_counted_once() {
        let mut agg = Aggregator::new(NOW, &windows(), 10);
        assert!(agg.observe(session("s1", "u1", "active", NOW, NOW + 1)));
        assert!(!agg.observe(session("s1", "u1", "active", NOW, NOW + 1)));
        assert_eq!(agg.duplicates(), 1);
        assert_eq!(agg.distinct(), 1);
        let summary = agg.finish();
        assert_eq!(summary.count(Status::Active), 1);
        assert_eq!(summary.created_in_window, vec![1, 1]);
        assert_eq!(summary.user_active_sessions_max, 1);
    }

    #[test]
    fn top_k_orders_by_count_then_user_id_and_ignores_inactive_sessions() {
        let mut agg = Aggregator::new(NOW, &windows(), 3);
        let mut n = 0;
        let mut add = |agg: &mut Aggregator, user: &str, status: &str, count: usize| {
            for _ in 0..count {
                n += 1;
                agg.observe(session(&format!("s{n}"), user, status, 0, 0));
            }
        };
        add(&mut agg, "usr-b", "active", 3);
        add(&mut agg, "usr-a", "active", 3);
        add(&mut agg, "usr-c", "active", 5);
        add(&mut agg, "usr-d", "active", 1);
        add(&mut agg, "usr-e", "revoked", 9);
        let summary = agg.finish();
        assert_eq!(summary.users_with_active_sessions, 4);
        assert_eq!(summary.user_active_sessions_max, 5);
        let top: Vec<(&str, u64)> = summary
            .top_users
            .iter()
            .map(|u| (u.user_id.as_str(), u.active_sessions))
            .collect();
        assert_eq!(top, vec![("usr-c", 5), ("usr-a", 3), ("usr-b", 3)]);
    }

    #[test]
    fn top_k_of_zero_exports_no_users_but_still_counts_them() {
        let mut agg = Aggregator::new(NOW, &windows(), 0);
        agg.observe(session("s1", "u1", "active", 0, 0));
        let summary = agg.finish();
        assert!(summary.top_users.is_empty());
        assert_eq!(summary.users_with_active_sessions, 1);
        assert_eq!(summary.user_active_sessions_max, 1);
    }

    #[test]
    fn an_empty_project_is_all_zeros() {
        let summary = Aggregator::new(NOW, &windows(), 10).finish();
        assert_eq!(summary.total(), 0);
        assert_eq!(summary.created_in_window, vec![0, 0]);
        assert_eq!(summary.user_active_sessions_max, 0);
        assert!(summary.top_users.is_empty());
    }
}
