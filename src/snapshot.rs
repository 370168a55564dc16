//! The newest published poll and the `/metrics` body made from it: written by the poller, read
//! by the server.
//!
//! A poll's [`Summary`] is rendered once into a [`Snapshot`], which replaces the previous one in
//! one step: a scrape never sees a half-updated set, and no gauge is reset while a scrape reads
//! it. The whole exposition (the exporter's own series plus the snapshot while it is fresh) is
//! cached as bytes until the next poll ends or the snapshot goes stale. Knows nothing of HTTP.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::aggregate::{Summary, Windows};
use crate::metrics::{render_sessions, ExporterMetrics, UserLabels};

/// One successful poll, rendered.
#[derive(Debug)]
pub struct Snapshot {
    pub summary: Summary,
    /// The poll's single `now`, Unix milliseconds (whole seconds).
    pub now_ms: i64,
    /// When the poll succeeded, for staleness.
    pub taken_at: Instant,
    /// The session gauges in the text format, rendered once.
    pub text: String,
}

/// One project's published state: its snapshot, its own series, and the cached exposition.
pub struct Store {
    pub metrics: ExporterMetrics,
    pub windows: Windows,
    pub project_id: String,
    user_labels: UserLabels,
    max_staleness: Duration,
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    /// Bumped when a poll ends; the cached exposition is rebuilt on the next scrape after it.
    generation: AtomicU64,
    cache: RwLock<Option<Arc<Exposition>>>,
}

/// The whole `/metrics` body, rendered once per poll and served from bytes until the next one
/// (or until the snapshot goes stale). Gzip is made on the first scrape that asks for it.
#[derive(Debug)]
pub struct Exposition {
    generation: u64,
    fresh: bool,
    pub plain: Bytes,
    gzip: OnceLock<Bytes>,
}

impl Exposition {
    /// The body gzip-compressed, computed once.
    pub fn gzip(&self) -> &Bytes {
        self.gzip.get_or_init(|| {
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(self.plain.len() / 4),
                flate2::Compression::fast(),
            );
            // Writing into a Vec cannot fail.
            let _ = encoder.write_all(&self.plain);
            Bytes::from(encoder.finish().unwrap_or_default())
        })
    }
}

impl Store {
    pub fn new(
        project_id: &str,
        windows: Windows,
        max_staleness: Duration,
        metrics: ExporterMetrics,
        user_labels: UserLabels,
    ) -> Self {
        Store {
            metrics,
            windows,
            project_id: project_id.to_owned(),
            user_labels,
            max_staleness,
            snapshot: RwLock::new(None),
            generation: AtomicU64::new(0),
            cache: RwLock::new(None),
        }
    }

    /// Renders `summary` and makes it the current snapshot.
    pub fn publish(&self, summary: Summary, now_ms: i64) -> anyhow::Result<()> {
        let text = render_sessions(
            &summary,
            &self.project_id,
            &self.windows.0,
            &self.user_labels,
        )?;
        let snapshot = Arc::new(Snapshot {
            summary,
            now_ms,
            taken_at: Instant::now(),
            text,
        });
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Some(snapshot);
        self.metrics.record_success(now_ms);
        Ok(())
    }

    /// The newest snapshot, stale or not.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The newest snapshot if it is younger than `--poll.max-staleness`.
    pub fn fresh_snapshot(&self) -> Option<Arc<Snapshot>> {
        self.snapshot()
            .filter(|s| s.taken_at.elapsed() <= self.max_staleness)
    }

    /// Whether a poll has ever succeeded (`/-/ready`).
    pub fn is_ready(&self) -> bool {
        self.snapshot().is_some()
    }

    /// Marks the end of a poll: the next scrape renders anew.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The body a scrape gets: the cached rendering while no poll has ended and the snapshot's
    /// freshness has not changed since it was made, a new one otherwise. The exporter's own
    /// counters in it are therefore as of the end of the last poll.
    pub fn exposition(&self) -> Arc<Exposition> {
        let generation = self.generation.load(Ordering::Acquire);
        let fresh = self.fresh_snapshot().is_some();
        if let Some(cached) = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            if cached.generation == generation && cached.fresh == fresh {
                return Arc::clone(cached);
            }
        }
        let rendered = Arc::new(Exposition {
            generation,
            fresh,
            plain: Bytes::from(self.render()),
            gzip: OnceLock::new(),
        });
        *self.cache.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&rendered));
        rendered
    }

    /// The whole exposition, rendered now: the exporter's own series, then the session gauges
    /// if fresh.
    pub fn render(&self) -> String {
        let mut text = self.metrics.render();
        if let Some(snapshot) = self.fresh_snapshot() {
            text.push_str(&snapshot.text);
        }
        text
    }
}
