//! What the budget bench prints about memory: an active set of a million sessions, and its
//! state file (encoded, written, read back).

use corbado_exporter::aggregate::{ActiveSet, Held};
use corbado_exporter::storage;

/// Builds a set of `sessions` active sessions over 20,000 users and reports what it costs.
pub fn active_set_memory(sessions: u64, project: &str) {
    let users: Vec<String> = (0..20_000).map(|u| format!("usr-{u:08}")).collect();
    let (before, _) = super::rss_kib(None);
    let mut set = ActiveSet::default();
    for i in 0..sessions {
        set.upsert(Held {
            id_hash: corbado_exporter::aggregate::hash_id(&format!("ses-{i:010}")),
            user_id: &users[(i % 20_000) as usize],
            created_ms: 1_700_000_000_000 + i as i64 * 60,
            expires_ms: 1_800_000_000_000 + i as i64,
        });
    }
    let (after, _) = super::rss_kib(None);
    let grown = after.saturating_sub(before) * 1024;
    println!(
        "{sessions} active sessions over 20,000 users: RSS grew {:.1} MiB ({:.0} bytes a session); the set's own estimate {:.1} MiB",
        grown as f64 / 1048576.0,
        grown as f64 / sessions as f64,
        set.memory_bytes() as f64 / 1048576.0
    );
    state_file(&set, project);
}

/// What saving `set` to `--storage.path` costs: the encoding (done while the poll holds the
/// set), the file's size, and the write (on a blocking thread).
fn state_file(set: &ActiveSet, project: &str) {
    let identity = storage::Identity {
        project_id: project.into(),
        api_url: "http://127.0.0.1:1/v2".into(),
    };
    let times = storage::SyncTimes::default();
    let started = std::time::Instant::now();
    let bytes = storage::encode(&identity, &times, set);
    let encoded = started.elapsed();
    let scratch = super::scratch_dir("state");
    let path = storage::path_for(scratch.path(), project);
    let started = std::time::Instant::now();
    storage::write_atomically(&path, &bytes).expect("write");
    let written = started.elapsed();
    let started = std::time::Instant::now();
    let back = storage::read(&path, &identity, 0, 0)
        .expect("valid")
        .expect("there");
    let read = started.elapsed();
    assert_eq!(back.set.len(), set.len());
    println!(
        "its state file: {:.1} MiB ({:.1} bytes a session); encoded in {} ms (the poll waits for this), written and synced in {} ms (on a blocking thread), read back in {} ms",
        bytes.len() as f64 / 1048576.0,
        bytes.len() as f64 / set.len().max(1) as f64,
        encoded.as_millis(),
        written.as_millis(),
        read.as_millis()
    );
}
