//! Metric names, HELP texts and rendering, all in one place: dashboards and alert rules bind to
//! what this file writes, and the golden test in `tests/it/golden.rs` pins it.
//!
//! Two kinds of series:
//! - **session gauges**, rendered once per successful poll from an immutable [`Summary`] into a
//!   [`Snapshot`]'s text, which replaces the previous snapshot in one step. A scrape never sees a
//!   half-updated set, and a gauge vector is never reset while a scrape reads it.
//! - **the exporter's own series** (`corbado_up`, `corbado_exporter_*`), in a long-lived registry
//!   of counters and single-value gauges, updated in place.
//!
//! There is no global registry: each [`State`] owns its own, so tests can run side by side.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use bytes::Bytes;
use prometheus::core::Collector;
use prometheus::{
    Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use tokio::time::Instant;

use crate::aggregate::Summary;
use crate::config::Window;
use crate::corbado::Status;

/// `Content-Type` of the text exposition format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The label every series carries.
pub const PROJECT_LABEL: &str = "project_id";

/// The strategy label values of `corbado_exporter_last_poll_strategy`.
pub const USED_STRATEGIES: [&str; 2] = ["filter", "scan"];

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

/// State shared by the poller (writer) and the HTTP server (reader).
pub struct State {
    pub metrics: ExporterMetrics,
    pub windows: Vec<Window>,
    pub project_id: String,
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

impl State {
    pub fn new(
        project_id: &str,
        windows: Vec<Window>,
        max_staleness: Duration,
    ) -> anyhow::Result<Self> {
        Ok(State {
            metrics: ExporterMetrics::new(project_id)?,
            windows,
            project_id: project_id.to_owned(),
            max_staleness,
            snapshot: RwLock::new(None),
            generation: AtomicU64::new(0),
            cache: RwLock::new(None),
        })
    }

    /// Renders `summary` and makes it the current snapshot.
    pub fn publish(&self, summary: Summary, now_ms: i64) -> anyhow::Result<()> {
        let text = render_sessions(&summary, &self.project_id, &self.windows)?;
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

/// The exporter's own series, updated in place.
pub struct ExporterMetrics {
    registry: Registry,
    pub up: IntGauge,
    pub last_poll_duration: Gauge,
    pub last_poll_requests: IntGauge,
    pub last_poll_strategy: IntGaugeVec,
    pub polls: IntCounter,
    pub poll_failures: IntCounter,
    pub strategy_fallbacks: IntCounter,
    pub api_requests: IntCounterVec,
    pub api_request_duration: Histogram,
    /// Registered at the first success only: before it there is no time to report, and a 0
    /// would read as "last success in 1970".
    last_success: Gauge,
    last_success_registered: Mutex<bool>,
}

impl ExporterMetrics {
    pub fn new(project_id: &str) -> anyhow::Result<Self> {
        let labels = HashMap::from([(PROJECT_LABEL.to_owned(), project_id.to_owned())]);
        let registry = Registry::new_custom(None, Some(labels))?;
        let up = IntGauge::new(
            "corbado_up",
            "1 if the last poll of the Corbado API succeeded, else 0.",
        )?;
        let last_poll_duration = Gauge::new(
            "corbado_exporter_last_poll_duration_seconds",
            "Wall time of the last poll, successful or not.",
        )?;
        let last_poll_requests = IntGauge::new(
            "corbado_exporter_last_poll_requests",
            "API requests the last poll made, retries included.",
        )?;
        let last_poll_strategy = IntGaugeVec::new(
            Opts::new(
                "corbado_exporter_last_poll_strategy",
                "1 for the strategy the last poll used (auto resolves to filter or scan).",
            ),
            &["strategy"],
        )?;
        let polls = IntCounter::new("corbado_exporter_polls_total", "Polls started.")?;
        let poll_failures =
            IntCounter::new("corbado_exporter_poll_failures_total", "Polls that failed.")?;
        let strategy_fallbacks = IntCounter::new(
            "corbado_exporter_strategy_fallbacks_total",
            "Polls of the auto strategy whose filter check failed, so that they scanned instead.",
        )?;
        let api_requests = IntCounterVec::new(
            Opts::new(
                "corbado_exporter_api_requests_total",
                "Corbado API responses by HTTP status code; code=\"error\" for timeouts and \
                 transport failures. Retries count.",
            ),
            &["code"],
        )?;
        let api_request_duration = Histogram::with_opts(
            HistogramOpts::new(
                "corbado_exporter_api_request_duration_seconds",
                "Latency of Corbado API requests, each attempt on its own.",
            )
            .buckets(vec![
                0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
        )?;
        let build_info = IntGaugeVec::new(
            Opts::new(
                "corbado_exporter_build_info",
                "Version and git revision of the exporter; always 1.",
            ),
            &["version", "revision"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), crate::REVISION])
            .set(1);
        let last_success = Gauge::new(
            "corbado_exporter_last_poll_success_timestamp_seconds",
            "Unix time of the last successful poll (its start, in whole seconds).",
        )?;
        for strategy in USED_STRATEGIES {
            last_poll_strategy.with_label_values(&[strategy]).set(0);
        }
        let collectors: [Box<dyn Collector>; 10] = [
            Box::new(up.clone()),
            Box::new(last_poll_duration.clone()),
            Box::new(last_poll_requests.clone()),
            Box::new(last_poll_strategy.clone()),
            Box::new(polls.clone()),
            Box::new(poll_failures.clone()),
            Box::new(strategy_fallbacks.clone()),
            Box::new(api_requests.clone()),
            Box::new(api_request_duration.clone()),
            Box::new(build_info),
        ];
        for collector in collectors {
            registry.register(collector)?;
        }
        Ok(ExporterMetrics {
            registry,
            up,
            last_poll_duration,
            last_poll_requests,
            last_poll_strategy,
            polls,
            poll_failures,
            strategy_fallbacks,
            api_requests,
            api_request_duration,
            last_success,
            last_success_registered: Mutex::new(false),
        })
    }

    fn record_success(&self, now_ms: i64) {
        self.last_success.set(now_ms as f64 / 1000.0);
        let mut registered = self
            .last_success_registered
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if !*registered {
            // Registration only fails for a duplicate name, which the flag rules out.
            *registered = self
                .registry
                .register(Box::new(self.last_success.clone()))
                .is_ok();
        }
    }

    /// Marks which strategy the last poll used.
    pub fn set_strategy(&self, used: &str) {
        for strategy in USED_STRATEGIES {
            self.last_poll_strategy
                .with_label_values(&[strategy])
                .set(i64::from(strategy == used));
        }
    }

    pub fn render(&self) -> String {
        encode(&self.registry)
    }
}

fn encode(registry: &Registry) -> String {
    let mut buffer = String::new();
    // Encoding our own well-formed families into a String cannot fail.
    if let Err(e) = TextEncoder::new().encode_utf8(&registry.gather(), &mut buffer) {
        tracing::error!(error = %e, "encoding metrics failed");
    }
    buffer
}

/// Renders the session gauges of one poll. Public for the golden test and the benchmarks.
pub fn render_sessions(
    summary: &Summary,
    project_id: &str,
    windows: &[Window],
) -> anyhow::Result<String> {
    const AS_OF: &str = "As of the last successful poll.";
    let labels = HashMap::from([(PROJECT_LABEL.to_owned(), project_id.to_owned())]);
    let registry = Registry::new_custom(None, Some(labels))?;

    let sessions = IntGaugeVec::new(
        Opts::new(
            "corbado_sessions",
            format!(
                "Sessions per status; statuses outside the documented enum count as unknown. {AS_OF}"
            ),
        ),
        &["status"],
    )?;
    for status in Status::ALL {
        sessions
            .with_label_values(&[status.as_str()])
            .set(gauge_value(summary.count(status)));
    }
    sessions
        .with_label_values(&["unknown"])
        .set(gauge_value(summary.unknown_status));

    let per_window = |name: &str, help: &str, values: &[u64]| -> anyhow::Result<IntGaugeVec> {
        let vec = IntGaugeVec::new(Opts::new(name, format!("{help} {AS_OF}")), &["window"])?;
        for (window, value) in windows.iter().zip(values) {
            vec.with_label_values(&[&window.label])
                .set(gauge_value(*value));
        }
        Ok(vec)
    };
    let created = per_window(
        "corbado_sessions_created_in_window",
        "Sessions of any status created within the last window.",
        &summary.created_in_window,
    )?;
    let expiring = per_window(
        "corbado_sessions_expiring_in_window",
        "Active sessions that expire within the next window.",
        &summary.expiring_in_window,
    )?;
    let expired = per_window(
        "corbado_sessions_expired_in_window",
        "Expired sessions whose expiry lies within the last window.",
        &summary.expired_in_window,
    )?;
    let users = IntGauge::new(
        "corbado_users_with_active_sessions",
        format!("Distinct users holding at least one active session. {AS_OF}"),
    )?;
    users.set(gauge_value(summary.users_with_active_sessions));
    let max = IntGauge::new(
        "corbado_user_active_sessions_max",
        format!("The most active sessions one user holds. {AS_OF}"),
    )?;
    max.set(gauge_value(summary.user_active_sessions_max));

    let collectors: [Box<dyn Collector>; 6] = [
        Box::new(sessions),
        Box::new(created),
        Box::new(expiring),
        Box::new(expired),
        Box::new(users),
        Box::new(max),
    ];
    for collector in collectors {
        registry.register(collector)?;
    }
    if !summary.top_users.is_empty() {
        let top = IntGaugeVec::new(
            Opts::new(
                "corbado_user_active_sessions",
                format!(
                    "Active sessions of the top-k users by active sessions (ties by user ID). {AS_OF}"
                ),
            ),
            &["user_id"],
        )?;
        for user in &summary.top_users {
            top.with_label_values(&[&user.user_id])
                .set(gauge_value(user.active_sessions));
        }
        registry.register(Box::new(top))?;
    }
    Ok(encode(&registry))
}

fn gauge_value(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}
