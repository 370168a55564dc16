//! The newest published poll and the `/metrics` body made from it: written by the poller, read
//! by the server.
//!
//! A poll's [`Summary`] is rendered once into a [`Snapshot`], which replaces the previous one in
//! one step: a scrape never sees a half-updated set, and no gauge is reset while a scrape reads
//! it. The counted gauges and the per-user ones are published apart ([`Store::publish_counts`],
//! [`Store::publish_users`]): the counts every poll, the per-user gauges when an active set is
//! complete, which may be polls later; each goes stale on its own. A project's exposition (its
//! exporter series plus the snapshot while it is fresh) is cached as bytes until the next poll
//! ends or the snapshot goes stale. Knows nothing of HTTP, nor of other projects.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::aggregate::{Summary, Windows};
use crate::journal::Journal;
use prometheus::proto::MetricFamily;

use crate::metrics::{count_families, openmetrics, text_of, user_families};
use crate::metrics::{ExporterMetrics, UserLabels};

/// The last successful poll's counts and the last complete active set, rendered.
#[derive(Debug)]
pub struct Snapshot {
    /// The counted fields of the last poll, the per-user fields of the last active set.
    pub summary: Summary,
    /// The counting poll's single `now`, Unix milliseconds (whole seconds).
    pub now_ms: i64,
    /// When the counts were published, for staleness.
    pub taken_at: Instant,
    /// The counted session gauges in the text format, rendered once.
    pub text: String,
    /// The same gauges as families, for OpenMetrics.
    pub families: Vec<MetricFamily>,
    /// The per-user gauges, once an active set is complete.
    pub users: Option<Arc<UsersPart>>,
}

/// The per-user gauges of one complete active set, rendered.
#[derive(Debug)]
pub struct UsersPart {
    /// The `now` of the poll whose active set this is.
    pub now_ms: i64,
    pub taken_at: Instant,
    pub text: String,
    pub families: Vec<MetricFamily>,
}

/// One project's published state: its snapshot, its own series, and the cached exposition.
pub struct Store {
    pub metrics: ExporterMetrics,
    /// What the last polls did, for the status page.
    pub journal: Journal,
    pub windows: Windows,
    pub project_id: String,
    user_labels: UserLabels,
    max_staleness: Duration,
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    /// Bumped when a poll ends; the cached exposition is rebuilt on the next scrape after it.
    generation: AtomicU64,
    cache: RwLock<Option<Cached>>,
    /// Unix seconds the store was made: the `_created` of its counters in OpenMetrics.
    started_s: f64,
}

/// A `/metrics` body, rendered once and served from bytes until something in it changes. Gzip
/// is made on the first scrape that asks for it.
#[derive(Debug)]
pub struct Exposition {
    pub plain: Bytes,
    gzip: OnceLock<Bytes>,
}

impl Exposition {
    pub fn new(plain: String) -> Self {
        Self::from_bytes(plain.into_bytes())
    }

    /// A page already joined from rendered parts, as bytes.
    pub fn from_bytes(plain: Vec<u8>) -> Self {
        Exposition {
            plain: Bytes::from(plain),
            gzip: OnceLock::new(),
        }
    }

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

/// A project's rendered series, valid while no poll has ended and its freshness holds.
#[derive(Debug)]
struct Cached {
    generation: u64,
    fresh: Freshness,
    exposition: Arc<Exposition>,
}

impl Store {
    pub fn new(
        project_id: &str,
        windows: Windows,
        max_staleness: Duration,
        metrics: ExporterMetrics,
        user_labels: UserLabels,
        journal: Journal,
    ) -> Self {
        Store {
            metrics,
            journal,
            windows,
            project_id: project_id.to_owned(),
            user_labels,
            max_staleness,
            snapshot: RwLock::new(None),
            generation: AtomicU64::new(0),
            cache: RwLock::new(None),
            started_s: crate::clock::now_ms() as f64 / 1000.0,
        }
    }

    /// Renders all of `summary` (counted and per-user) and makes it the current snapshot, both
    /// parts in one step.
    pub fn publish(&self, summary: Summary, now_ms: i64) -> anyhow::Result<()> {
        let families = count_families(&summary, &self.project_id, &self.windows.0)?;
        let user_families = user_families(&summary, &self.project_id, &self.user_labels)?;
        let users = UsersPart {
            now_ms,
            taken_at: Instant::now(),
            text: text_of(&user_families),
            families: user_families,
        };
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(Snapshot {
            summary,
            now_ms,
            taken_at: users.taken_at,
            text: text_of(&families),
            families,
            users: Some(Arc::new(users)),
        }));
        self.metrics.record_success(now_ms);
        self.metrics.record_active_set(now_ms);
        Ok(())
    }

    /// Renders the counted fields of `summary` and makes them current; the per-user gauges
    /// stay those of the last complete active set.
    pub fn publish_counts(&self, mut summary: Summary, now_ms: i64) -> anyhow::Result<()> {
        let families = count_families(&summary, &self.project_id, &self.windows.0)?;
        let text = text_of(&families);
        let mut slot = self.snapshot.write().unwrap_or_else(|e| e.into_inner());
        let users = slot.as_ref().and_then(|old| {
            summary.take_users_from(&old.summary);
            old.users.clone()
        });
        *slot = Some(Arc::new(Snapshot {
            summary,
            now_ms,
            taken_at: Instant::now(),
            text,
            families,
            users,
        }));
        self.metrics.record_success(now_ms);
        Ok(())
    }

    /// Renders the per-user fields of `users` (an active set complete as of `now_ms`) and makes
    /// them current. Without published counts there is nothing to attach them to yet.
    pub fn publish_users(&self, users: Summary, now_ms: i64) -> anyhow::Result<()> {
        let families = user_families(&users, &self.project_id, &self.user_labels)?;
        let text = text_of(&families);
        let mut slot = self.snapshot.write().unwrap_or_else(|e| e.into_inner());
        let Some(old) = slot.as_ref() else {
            return Ok(());
        };
        let mut summary = old.summary.clone();
        summary.take_users_from(&users);
        let part = UsersPart {
            now_ms,
            taken_at: Instant::now(),
            text,
            families,
        };
        *slot = Some(Arc::new(Snapshot {
            summary,
            now_ms: old.now_ms,
            taken_at: old.taken_at,
            text: old.text.clone(),
            families: old.families.clone(),
            users: Some(Arc::new(part)),
        }));
        self.metrics.record_active_set(now_ms);
        Ok(())
    }

    /// The newest snapshot, stale or not.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether a poll has ever succeeded (`/-/ready`).
    pub fn is_ready(&self) -> bool {
        self.snapshot().is_some()
    }

    /// Marks the end of a poll: the next scrape renders anew.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Which parts of the snapshot are younger than `--poll.max-staleness`.
    fn freshness(&self) -> Freshness {
        let Some(snapshot) = self.snapshot() else {
            return Freshness::default();
        };
        Freshness {
            counts: snapshot.taken_at.elapsed() <= self.max_staleness,
            users: snapshot
                .users
                .as_ref()
                .is_some_and(|u| u.taken_at.elapsed() <= self.max_staleness),
        }
    }

    /// Whether a poll has ended since the store was made, successful or not (`/-/ready` waits
    /// for every project's first).
    pub fn first_poll_ended(&self) -> bool {
        self.generation.load(Ordering::Acquire) > 0
    }

    /// This project's series as a scrape gets them: the cached rendering while no poll has
    /// ended and the snapshot's freshness has not changed since it was made, a new one
    /// otherwise. The exporter's own counters in it are therefore as of the end of the last
    /// poll.
    pub fn exposition(&self) -> Arc<Exposition> {
        let generation = self.generation.load(Ordering::Acquire);
        let fresh = self.freshness();
        if let Some(cached) = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            if cached.generation == generation && cached.fresh == fresh {
                return Arc::clone(&cached.exposition);
            }
        }
        let exposition = Arc::new(Exposition::new(self.render()));
        *self.cache.write().unwrap_or_else(|e| e.into_inner()) = Some(Cached {
            generation,
            fresh,
            exposition: Arc::clone(&exposition),
        });
        exposition
    }

    /// The same series as [`Store::render`], in OpenMetrics (without `# EOF`); with `created`,
    /// the `_created` samples of counters and histograms (when the store was made).
    pub fn openmetrics(&self, created: bool) -> String {
        let mut families = self.metrics.families();
        let fresh = self.freshness();
        if let Some(snapshot) = self.snapshot() {
            if fresh.counts {
                families.extend(snapshot.families.iter().cloned());
            }
            if let Some(users) = snapshot.users.as_ref().filter(|_| fresh.users) {
                families.extend(users.families.iter().cloned());
            }
        }
        openmetrics::encode_with(&families, created.then_some(self.started_s))
    }

    /// The whole exposition, rendered now: the exporter's own series, then the counted session
    /// gauges and the per-user ones, each while fresh.
    pub fn render(&self) -> String {
        let mut text = self.metrics.render();
        let fresh = self.freshness();
        if let Some(snapshot) = self.snapshot() {
            if fresh.counts {
                text.push_str(&snapshot.text);
            }
            if let Some(users) = snapshot.users.as_ref().filter(|_| fresh.users) {
                text.push_str(&users.text);
            }
        }
        text
    }
}

/// Whether the counted and the per-user gauges are fresh.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Freshness {
    counts: bool,
    users: bool,
}
