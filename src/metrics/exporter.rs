//! The exporter's own series: `corbado_up` and `corbado_exporter_*`, updated in place by the
//! poller and the client, and rendered on every new exposition.

use std::sync::Mutex;

use prometheus::core::Collector;
use prometheus::{
    Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

use super::{encode, project_registry, Definition};

const UP: Definition = Definition {
    name: "corbado_up",
    help: "1 if the last poll of the Corbado API succeeded, else 0.",
};
const LAST_POLL_DURATION: Definition = Definition {
    name: "corbado_exporter_last_poll_duration_seconds",
    help: "Wall time of the last poll, successful or not.",
};
const LAST_POLL_REQUESTS: Definition = Definition {
    name: "corbado_exporter_last_poll_requests",
    help: "API requests the last poll made, retries included.",
};
const LAST_POLL_STRATEGY: Definition = Definition {
    name: "corbado_exporter_last_poll_strategy",
    help: "1 for the strategy the last poll used (auto resolves to incremental or scan).",
};
const ACTIVE_SET_SESSIONS: Definition = Definition {
    name: "corbado_exporter_active_set_sessions",
    help: "Active sessions held between polls (incremental and auto).",
};
const ACTIVE_SET_TIMESTAMP: Definition = Definition {
    name: "corbado_exporter_active_set_timestamp_seconds",
    help: "Unix time of the poll whose active sessions the per-user gauges show.",
};
const RESYNCS: Definition = Definition {
    name: "corbado_exporter_resyncs_total",
    help: "Full re-pages of the active sessions by reason: initial (nothing usable held), \
           mismatch (differences too wide to locate; paced within 100 requests a minute). \
           scheduled and error stay 0: --poll.resync-interval is kept by a rolling re-page, and \
           a failed change query holds the watermark.",
};
const REPAIRS: Definition = Definition {
    name: "corbado_exporter_repairs_total",
    help: "Created-time ranges of the active set re-paged alone, by reason: verify (the rolling \
           check found the range's count changed), mismatch (a failed proof, located by counting \
           ranges).",
};

const STATE_RESTORED: Definition = Definition {
    name: "corbado_exporter_state_restored",
    help: "1 when this process's active set was resumed from --storage.path, 0 when it was synced \
           afresh.",
};
const STATE_LAST_SAVE: Definition = Definition {
    name: "corbado_exporter_state_last_save_timestamp_seconds",
    help: "Unix time the project's state was last written to --storage.path.",
};
const STATE_SAVE_FAILURES: Definition = Definition {
    name: "corbado_exporter_state_save_failures_total",
    help: "Writes of the project's state to --storage.path that failed (the log says why).",
};

const SESSIONS_ENDED: Definition = Definition {
    name: "corbado_sessions_ended_total",
    help: "Active sessions this exporter saw end, by the status they ended in; status=\"deleted\" \
           for active sessions that left the list altogether. Only with a kept active set \
           (incremental, auto). Counted when a poll sees it, so a poll after an outage counts \
           the whole outage at once; a session that began and ended between two polls is not \
           counted; one that a repair found gone is looked up by its creation second, a few \
           seconds a poll, so a mass ending seen only by repairs is counted over some polls; a \
           held session that passed its expiry and left the active list unseen counts as expired.",
};
const SESSIONS_CREATED: Definition = Definition {
    name: "corbado_sessions_created_total",
    help: "Sessions this exporter saw created, any status. Only with a kept active set \
           (incremental, auto). Counted by the poll after their creation; a poll that re-pages \
           every active session instead of following the changes counts only those still active.",
};

/// The `status` label values of `corbado_sessions_ended_total`, each exported from the start:
/// the five statuses of the API's enum, then `deleted`.
pub const ENDED_STATUSES: [&str; 6] = [
    "logged_out",
    "expired",
    "inactivity_reached",
    "revoked",
    "unknown",
    "deleted",
];

/// The `reason` label values of `corbado_exporter_repairs_total`, each exported from the start.
pub const REPAIR_REASONS: [&str; 2] = ["verify", "mismatch"];
const POLLS: Definition = Definition {
    name: "corbado_exporter_polls_total",
    help: "Polls started.",
};
const POLL_FAILURES: Definition = Definition {
    name: "corbado_exporter_poll_failures_total",
    help: "Polls that failed.",
};
const STRATEGY_FALLBACKS: Definition = Definition {
    name: "corbado_exporter_strategy_fallbacks_total",
    help: "Polls of the auto strategy whose filter check failed, so that they scanned instead.",
};
const API_REQUESTS: Definition = Definition {
    name: "corbado_exporter_api_requests_total",
    help: "Corbado API responses by HTTP status code; code=\"error\" for timeouts and transport \
           failures. Retries count.",
};
const API_REQUEST_DURATION: Definition = Definition {
    name: "corbado_exporter_api_request_duration_seconds",
    help: "Latency of Corbado API requests, each attempt on its own.",
};
const BUILD_INFO: Definition = Definition {
    name: "corbado_exporter_build_info",
    help: "Version and git revision of the exporter; always 1.",
};
const LAST_SUCCESS: Definition = Definition {
    name: "corbado_exporter_last_poll_success_timestamp_seconds",
    help: "Unix time of the last successful poll (its start, in whole seconds).",
};

/// Buckets of the API latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 11] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The exporter's own series, updated in place.
pub struct ExporterMetrics {
    registry: Registry,
    pub up: IntGauge,
    pub last_poll_duration: Gauge,
    pub last_poll_requests: IntGauge,
    pub last_poll_strategy: IntGaugeVec,
    /// The `strategy` label values, each exported (0 or 1) from the start.
    strategy_labels: &'static [&'static str],
    pub polls: IntCounter,
    pub poll_failures: IntCounter,
    pub strategy_fallbacks: IntCounter,
    pub resyncs: IntCounterVec,
    pub repairs: IntCounterVec,
    /// `corbado_sessions_ended_total`: registered by [`ExporterMetrics::keep_active_set`] only,
    /// as only a kept active set sees sessions end.
    pub sessions_ended: IntCounterVec,
    /// `corbado_sessions_created_total`: registered with `sessions_ended`.
    pub sessions_created: IntCounter,
    pub active_set_sessions: IntGauge,
    /// Registered with the first complete active set, like `last_success`.
    active_set_timestamp: Gauge,
    active_set_registered: Mutex<bool>,
    pub api_requests: IntCounterVec,
    pub api_request_duration: Histogram,
    /// Registered at the first success only: before it there is no time to report, and a 0
    /// would read as "last success in 1970".
    last_success: Gauge,
    last_success_registered: Mutex<bool>,
    /// `--storage.path` only: registered by [`ExporterMetrics::keep_state`].
    pub state_restored: IntGauge,
    pub state_save_failures: IntCounter,
    /// Registered at the first save, like `last_success`.
    state_last_save: Gauge,
    state_last_save_registered: Mutex<bool>,
    /// Set by [`ExporterMetrics::keep_state`]: the status page shows the saved state.
    keeps_state: std::sync::atomic::AtomicBool,
}

/// Registers collectors into one registry as they are made.
struct Registrar(Registry);

impl Registrar {
    fn add<C: Collector + Clone + 'static>(&self, collector: C) -> prometheus::Result<C> {
        self.0.register(Box::new(collector.clone()))?;
        Ok(collector)
    }

    fn int_gauge(&self, d: Definition) -> prometheus::Result<IntGauge> {
        self.add(IntGauge::new(d.name, d.help)?)
    }

    fn counter(&self, d: Definition) -> prometheus::Result<IntCounter> {
        self.add(IntCounter::new(d.name, d.help)?)
    }

    fn labelled(&self, d: Definition, labels: &[&str]) -> prometheus::Result<IntGaugeVec> {
        self.add(IntGaugeVec::new(Opts::new(d.name, d.help), labels)?)
    }
}

impl ExporterMetrics {
    /// `strategy_labels` are the values `corbado_exporter_last_poll_strategy` can take,
    /// `resync_labels` those of `corbado_exporter_resyncs_total`; each is exported from the start.
    pub fn new(
        project_id: &str,
        strategy_labels: &'static [&'static str],
        resync_labels: &[&str],
    ) -> prometheus::Result<Self> {
        let r = Registrar(project_registry(project_id)?);
        let resyncs = r.add(IntCounterVec::new(
            Opts::new(RESYNCS.name, RESYNCS.help),
            &["reason"],
        )?)?;
        for reason in resync_labels {
            resyncs.with_label_values(&[reason]);
        }
        let repairs = r.add(IntCounterVec::new(
            Opts::new(REPAIRS.name, REPAIRS.help),
            &["reason"],
        )?)?;
        for reason in REPAIR_REASONS {
            repairs.with_label_values(&[reason]);
        }
        let last_poll_strategy = r.labelled(LAST_POLL_STRATEGY, &["strategy"])?;
        for strategy in strategy_labels {
            last_poll_strategy.with_label_values(&[strategy]).set(0);
        }
        r.labelled(BUILD_INFO, &["version", "revision"])?
            .with_label_values(&[env!("CARGO_PKG_VERSION"), crate::REVISION])
            .set(1);
        Ok(ExporterMetrics {
            up: r.int_gauge(UP)?,
            last_poll_duration: r.add(Gauge::new(
                LAST_POLL_DURATION.name,
                LAST_POLL_DURATION.help,
            )?)?,
            last_poll_requests: r.int_gauge(LAST_POLL_REQUESTS)?,
            last_poll_strategy,
            strategy_labels,
            polls: r.counter(POLLS)?,
            poll_failures: r.counter(POLL_FAILURES)?,
            strategy_fallbacks: r.counter(STRATEGY_FALLBACKS)?,
            resyncs,
            repairs,
            sessions_ended: IntCounterVec::new(
                Opts::new(SESSIONS_ENDED.name, SESSIONS_ENDED.help),
                &["status"],
            )?,
            sessions_created: IntCounter::new(SESSIONS_CREATED.name, SESSIONS_CREATED.help)?,
            active_set_sessions: r.int_gauge(ACTIVE_SET_SESSIONS)?,
            active_set_timestamp: Gauge::new(ACTIVE_SET_TIMESTAMP.name, ACTIVE_SET_TIMESTAMP.help)?,
            active_set_registered: Mutex::new(false),
            api_requests: r.add(IntCounterVec::new(
                Opts::new(API_REQUESTS.name, API_REQUESTS.help),
                &["code"],
            )?)?,
            api_request_duration: r.add(Histogram::with_opts(
                HistogramOpts::new(API_REQUEST_DURATION.name, API_REQUEST_DURATION.help)
                    .buckets(LATENCY_BUCKETS.to_vec()),
            )?)?,
            last_success: Gauge::new(LAST_SUCCESS.name, LAST_SUCCESS.help)?,
            last_success_registered: Mutex::new(false),
            state_restored: IntGauge::new(STATE_RESTORED.name, STATE_RESTORED.help)?,
            state_save_failures: IntCounter::new(
                STATE_SAVE_FAILURES.name,
                STATE_SAVE_FAILURES.help,
            )?,
            state_last_save: Gauge::new(STATE_LAST_SAVE.name, STATE_LAST_SAVE.help)?,
            state_last_save_registered: Mutex::new(false),
            keeps_state: std::sync::atomic::AtomicBool::new(false),
            registry: r.0,
        })
    }

    /// Notes a successful poll whose `now` was `now_ms`.
    pub fn record_success(&self, now_ms: i64) {
        self.set_registering(&self.last_success, &self.last_success_registered, now_ms);
    }

    /// Notes that the per-user gauges now show the active set of the poll at `now_ms`.
    pub fn record_active_set(&self, now_ms: i64) {
        self.set_registering(
            &self.active_set_timestamp,
            &self.active_set_registered,
            now_ms,
        );
    }

    /// Exports the state series: the project keeps its state in `--storage.path`.
    pub fn keep_state(&self) {
        self.keeps_state
            .store(true, std::sync::atomic::Ordering::Relaxed);
        for collector in [
            Box::new(self.state_restored.clone()) as Box<dyn Collector>,
            Box::new(self.state_save_failures.clone()),
        ] {
            // Only a second call fails (a duplicate name), and changes nothing.
            let _ = self.registry.register(collector);
        }
    }

    /// Exports the counters of what a kept active set sees (`incremental`, `auto`), every
    /// `status` from the start so that `increase()` has a first sample to grow from.
    pub fn keep_active_set(&self) {
        for status in ENDED_STATUSES {
            self.sessions_ended.with_label_values(&[status]);
        }
        for collector in [
            Box::new(self.sessions_ended.clone()) as Box<dyn Collector>,
            Box::new(self.sessions_created.clone()),
        ] {
            // Only a second call fails (a duplicate name), and changes nothing.
            let _ = self.registry.register(collector);
        }
    }

    /// Whether the project keeps its state in `--storage.path`.
    pub fn keeps_state(&self) -> bool {
        self.keeps_state.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// When the project's state was last written (Unix ms), if ever.
    pub fn state_last_save_ms(&self) -> Option<i64> {
        let registered = *self
            .state_last_save_registered
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        registered.then(|| (self.state_last_save.get() * 1000.0) as i64)
    }

    /// Notes that the project's state was written at `now_ms`.
    pub fn record_save(&self, now_ms: i64) {
        self.set_registering(
            &self.state_last_save,
            &self.state_last_save_registered,
            now_ms,
        );
    }

    /// Active sessions held between polls.
    pub fn set_active_set(&self, held: u64) {
        self.active_set_sessions
            .set(i64::try_from(held).unwrap_or(i64::MAX));
    }

    /// Sets a timestamp gauge to `now_ms` in seconds, registering it the first time.
    fn set_registering(&self, gauge: &Gauge, registered: &Mutex<bool>, now_ms: i64) {
        gauge.set(now_ms as f64 / 1000.0);
        let mut registered = registered.lock().unwrap_or_else(|e| e.into_inner());
        if !*registered {
            // Registration only fails for a duplicate name, which cannot happen here.
            *registered = self.registry.register(Box::new(gauge.clone())).is_ok();
        }
    }

    /// Marks which strategy the last poll used.
    pub fn set_strategy(&self, used: &str) {
        for strategy in self.strategy_labels {
            self.last_poll_strategy
                .with_label_values(&[strategy])
                .set(i64::from(*strategy == used));
        }
    }

    pub fn render(&self) -> String {
        encode(&self.registry)
    }

    /// The series as families, for OpenMetrics.
    pub fn families(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.registry.gather()
    }
}
