//! The ground truth: the exact value of every session gauge, by brute force.

use std::collections::HashMap;
use std::time::Duration;

use super::{millis, user_id, Population, DELETED};
use crate::aggregate::{Summary, UserCount, USER_BUCKETS};
use crate::corbado::Status;

impl Population {
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
        for s in self.sessions.iter().filter(|s| s.status != DELETED) {
            summary
                .statuses
                .add(Status::ALL.get(usize::from(s.status)).copied());
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
        // Cumulative by construction: a user counts under every bound at or above their count.
        summary.user_active_sessions_sum = per_user.values().sum();
        summary.users_by_active_sessions = USER_BUCKETS
            .iter()
            .map(|&bound| per_user.values().filter(|&&n| n <= bound).count() as u64)
            .collect();
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
