//! What only the benches ask of a poller: views into its active set. Compiled for tests and
//! benches alone (the `test-support` feature), so the release binary does not carry them.

use super::Poller;

impl Poller {
    /// Bytes the active set holds (with its hash table's slack and the interned users), and
    /// the users it interns, for the benches that watch memory over a long run.
    pub async fn active_set_memory(&self) -> (usize, usize) {
        let incremental = self.incremental.lock().await;
        (
            incremental.set().memory_bytes(),
            incremental.set().interned_users(),
        )
    }

    /// Every held session: its ID's hash and its user (for the benches that count how many
    /// sessions the set has wrong).
    pub async fn held_sessions(&self) -> Vec<(u64, String)> {
        let incremental = self.incremental.lock().await;
        let (users, records) = incremental.set().export();
        records
            .iter()
            .map(|r| {
                let user = users.get(r.user as usize).copied().unwrap_or_default();
                (r.id_hash, user.to_owned())
            })
            .collect()
    }
}
