//! `incremental`'s state across restarts (`--storage.path`): restored before the first poll,
//! saved every `--storage.save-interval` after a complete active part, and at shutdown.
//!
//! Saving encodes the set while the active part still holds it (tens of milliseconds for a
//! million sessions: measured by the budget bench) and writes the file on a blocking thread, so
//! neither a poll nor a scrape waits for the disk. A save that fails is a warning and a counted
//! failure; polling goes on. A restored set's per-user gauges are published with the first
//! counts, so they are never absent after a restart that resumes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::incremental::Incremental;
use super::{Poller, Strategy};
use crate::aggregate::Summary;
use crate::clock::millis;
use crate::storage::{self, Identity, Rejected, Saved};

/// Where one project's state is kept, and how often it is saved.
#[derive(Clone, Debug)]
pub struct StateSettings {
    pub path: PathBuf,
    pub identity: Identity,
    pub save_interval: Duration,
}

/// The poller's part in keeping state.
#[derive(Default)]
pub(super) struct Keeper {
    settings: Option<StateSettings>,
    /// Whether restoring was tried (or not needed: a set handed over on a reload).
    tried: AtomicBool,
    /// When the last save began; `None` before the first.
    last_save: Mutex<Option<Instant>>,
    /// A write on its blocking thread: a periodic save is skipped while one runs.
    writing: Arc<AtomicBool>,
    /// Numbers each encoded state, so that a write never replaces a newer one.
    encoded: AtomicU64,
    /// The number of the newest state written; held while writing, so writes take turns.
    written: Arc<Mutex<u64>>,
    /// The restored set's per-user gauges, to publish with the first counts, and its sync time.
    restored_users: Mutex<Option<(Summary, i64)>>,
}

impl Keeper {
    pub fn new(settings: Option<StateSettings>) -> Self {
        Keeper {
            settings,
            ..Keeper::default()
        }
    }

    /// A keeper for a poller that took over its predecessor's set: nothing to restore.
    pub fn handed_over(settings: Option<StateSettings>) -> Self {
        let keeper = Keeper::new(settings);
        keeper.tried.store(true, Ordering::Relaxed);
        keeper
    }

    pub fn enabled(&self) -> bool {
        self.settings.is_some()
    }
}

impl Poller {
    /// Restores the set from `--storage.path` once, before the first poll's active part.
    pub(super) async fn restore_once(&self) {
        let keeps_set = matches!(
            self.settings.strategy,
            Strategy::Incremental | Strategy::Auto
        );
        let Some(settings) = self.state.settings.clone() else {
            return;
        };
        if !keeps_set || self.state.tried.swap(true, Ordering::Relaxed) {
            return;
        }
        let now_ms = self.settings.clock.now_ms();
        let max_age = millis(self.settings.resync_interval);
        let path = settings.path.clone();
        let read = tokio::task::spawn_blocking(move || {
            storage::read(&path, &settings.identity, now_ms, max_age)
        })
        .await
        .unwrap_or_else(|e| Err(Rejected::Unreadable(e.to_string())));
        let file = self.state.settings.as_ref().map(|s| s.path.display());
        let metrics = &self.store.metrics;
        match read {
            Ok(Some(saved)) => {
                tracing::info!(
                    file = file.map(|f| f.to_string()),
                    sessions = saved.set.len(),
                    age_s = (now_ms - saved.times.synced_from_ms) / 1000,
                    "resuming from the saved state"
                );
                metrics.state_restored.set(1);
                self.resume(saved).await;
            }
            Ok(None) => {
                tracing::info!(
                    file = file.map(|f| f.to_string()),
                    "no saved state; syncing afresh"
                );
                metrics.state_restored.set(0);
            }
            Err(why) => {
                tracing::warn!(
                    file = file.map(|f| f.to_string()),
                    reason = %why,
                    "saved state set aside (renamed to .rejected); resyncing"
                );
                metrics.state_restored.set(0);
            }
        }
    }

    async fn resume(&self, saved: Saved) {
        let synced_ms = saved.times.synced_from_ms;
        let mut incremental = self.incremental.lock().await;
        incremental.resume(saved, &self.settings);
        self.store.metrics.set_active_set(incremental.held() as u64);
        let users = incremental.users(self.settings.top_k);
        *self
            .state
            .restored_users
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some((users, synced_ms));
    }

    /// Publishes a restored set's per-user gauges, once counts are there to attach them to.
    pub(super) fn publish_restored_users(&self) {
        let restored = self
            .state
            .restored_users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((users, synced_ms)) = restored {
            if let Err(error) = self.store.publish_users(users, synced_ms) {
                tracing::warn!(error = %error, "publishing the restored active set");
            }
        }
    }

    /// Saves the set if `--storage.save-interval` has passed since the last save, writing on a
    /// blocking thread. `incremental` is held by the caller.
    pub(super) fn save_if_due(&self, incremental: &Incremental) {
        let Some(settings) = &self.state.settings else {
            return;
        };
        {
            let mut last = self
                .state
                .last_save
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let due = last.is_none_or(|at| at.elapsed() >= settings.save_interval);
            if !due || self.state.writing.swap(true, Ordering::AcqRel) {
                return;
            }
            *last = Some(Instant::now());
        }
        let Some(state) = self.encode_state(incremental, settings) else {
            self.state.writing.store(false, Ordering::Release);
            return;
        };
        let (path, writing) = (settings.path.clone(), Arc::clone(&self.state.writing));
        let written = Arc::clone(&self.state.written);
        let (store, clock) = (Arc::clone(&self.store), self.settings.clock.clone());
        tokio::task::spawn_blocking(move || {
            if let Some(outcome) = write_newest(&written, state, &path) {
                record_write(&store, outcome, &clock);
            }
            writing.store(false, Ordering::Release);
        });
    }

    /// Saves the set now and waits for the file (at shutdown).
    pub async fn save_state(&self) {
        let Some(settings) = self.state.settings.clone() else {
            return;
        };
        let state = {
            let incremental = self.incremental.lock().await;
            self.encode_state(&incremental, &settings)
        };
        let Some(state) = state else {
            return;
        };
        let (path, written) = (settings.path.clone(), Arc::clone(&self.state.written));
        let outcome = tokio::task::spawn_blocking(move || write_newest(&written, state, &path))
            .await
            .unwrap_or_else(|e| Some(Err(std::io::Error::other(e.to_string()))));
        if let Some(outcome) = outcome {
            record_write(&self.store, outcome, &self.settings.clock);
        }
    }

    /// The file for the set as it stands, numbered, if the set stands on a complete sync.
    fn encode_state(&self, incremental: &Incremental, settings: &StateSettings) -> Option<Encoded> {
        let times = incremental.sync_times(self.settings.clock.now_ms())?;
        let started = std::time::Instant::now();
        let bytes = storage::encode(&settings.identity, &times, incremental.set());
        tracing::debug!(
            bytes = bytes.len(),
            encode_ms = started.elapsed().as_millis() as u64,
            "state encoded"
        );
        let number = self.state.encoded.fetch_add(1, Ordering::Relaxed) + 1;
        Some(Encoded { number, bytes })
    }
}

/// A state file's bytes and the order in which it was encoded.
struct Encoded {
    number: u64,
    bytes: Vec<u8>,
}

/// Writes `state` unless a newer one was written already (`None` then): writes take turns.
fn write_newest(
    written: &Mutex<u64>,
    state: Encoded,
    path: &std::path::Path,
) -> Option<std::io::Result<()>> {
    let mut newest = written.lock().unwrap_or_else(|e| e.into_inner());
    if *newest >= state.number {
        return None;
    }
    let outcome = storage::write_atomically(path, &state.bytes);
    if outcome.is_ok() {
        *newest = state.number;
    }
    Some(outcome)
}

/// Notes a write's outcome in the store's series and the log.
fn record_write(
    store: &crate::snapshot::Store,
    written: std::io::Result<()>,
    clock: &crate::clock::Clock,
) {
    match written {
        Ok(()) => store.metrics.record_save(clock.now_ms()),
        Err(error) => {
            store.metrics.state_save_failures.inc();
            tracing::warn!(
                error = %error,
                "could not write the state to --storage.path; polling goes on, and a restart \
                 will resync"
            );
        }
    }
    store.invalidate();
}
