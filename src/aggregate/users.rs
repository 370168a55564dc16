//! From active sessions per user to the per-user gauges: how many users, the most one holds, the
//! top-k, and the distribution of users by active sessions.

use super::{Summary, UserCount};

/// The `le` bounds of `corbado_active_sessions_per_user`, `+Inf` last (as `u64::MAX`).
pub const USER_BUCKETS: [u64; 9] = [1, 2, 3, 5, 10, 20, 50, 100, u64::MAX];

/// The `le` label of bucket `i` of [`USER_BUCKETS`].
pub fn bucket_label(bound: u64) -> String {
    if bound == u64::MAX {
        "+Inf".to_owned()
    } else {
        bound.to_string()
    }
}

/// Writes the per-user fields of `summary` from each user's active sessions; users holding none
/// are skipped. Top-k ties are broken by ascending user ID.
pub fn tally<'a>(users: impl Iterator<Item = (&'a str, u64)>, top_k: usize, summary: &mut Summary) {
    let mut holding: Vec<(&'a str, u64)> = users.filter(|&(_, n)| n > 0).collect();
    summary.users_with_active_sessions = holding.len() as u64;
    summary.user_active_sessions_max = holding.iter().map(|&(_, n)| n).max().unwrap_or(0);
    let mut buckets = vec![0u64; USER_BUCKETS.len()];
    for &(_, n) in &holding {
        let first = USER_BUCKETS.partition_point(|&bound| bound < n);
        buckets[first] += 1;
    }
    for i in 1..buckets.len() {
        buckets[i] += buckets[i - 1];
    }
    summary.users_by_active_sessions = buckets;
    summary.user_active_sessions_sum = holding.iter().map(|&(_, n)| n).sum();

    let order = |a: &(&str, u64), b: &(&str, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
    let k = top_k.min(holding.len());
    if k > 0 && k < holding.len() {
        holding.select_nth_unstable_by(k - 1, order);
    }
    holding.truncate(k);
    holding.sort_unstable_by(order);
    summary.top_users = holding
        .into_iter()
        .map(|(user_id, active_sessions)| UserCount {
            user_id: user_id.to_owned(),
            active_sessions,
        })
        .collect();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_distribution_is_cumulative_and_ends_at_every_user() {
        let mut summary = Summary::default();
        let users = [("a", 1), ("b", 2), ("c", 4), ("d", 150), ("e", 0), ("f", 4)];
        tally(users.into_iter(), 2, &mut summary);
        assert_eq!(summary.users_with_active_sessions, 5);
        assert_eq!(summary.user_active_sessions_max, 150);
        assert_eq!(
            summary.users_by_active_sessions,
            vec![1, 2, 2, 4, 4, 4, 4, 4, 5]
        );
        let top: Vec<_> = summary
            .top_users
            .iter()
            .map(|u| (u.user_id.as_str(), u.active_sessions))
            .collect();
        assert_eq!(top, [("d", 150), ("c", 4)]);
        assert_eq!(bucket_label(USER_BUCKETS[8]), "+Inf");
    }
}
