//! A simulated Corbado Backend API: `GET /sessions` over real HTTP, faithful to the OpenAPI page
//! in `../shared/reference/corbado-list-sessions.md`: basic auth, `page`/`pageSize`, `sort`,
//! repeated `filter[]`, `paging` totals that honour filters, and the documented error body.
//!
//! It serves three ways: `--demo` (in-process, on a loopback port, evolving in real time), the
//! `corbado-exporter simulator` subcommand, and as a library type for tests and benchmarks, which
//! also ask it for the exact expected value of every gauge ([`Simulator::expected`]) and inject
//! faults ([`Faults`]).

mod api;
pub mod population;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::aggregate::Summary;
use crate::clock;
pub use population::{Changes, Params, Population};

/// The project ID `--demo` and the simulator subcommand use unless told otherwise.
pub const DEMO_PROJECT_ID: &str = "pro-demo";
/// The API secret of the demo. Not a secret: it guards a simulator on loopback.
pub const DEMO_SECRET: &str = "demo-secret";

/// One injected misbehaviour, applied to one response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Injected {
    /// Answer with this HTTP status and the documented error body.
    Status(u16),
    /// 429, with this `Retry-After` header value (seconds or an HTTP date) or none.
    TooManyRequests { retry_after: Option<String> },
    /// A 200 whose body is cut off halfway.
    Truncated,
    /// A 200 whose body is not JSON at all.
    Malformed,
    /// A 200 whose `paging.totalItems` is a string.
    WrongTypes,
    /// A 200 padded with whitespace to this many bytes.
    Oversized(usize),
    /// A 200 claiming this many pages.
    TotalPages(i64),
}

/// Misbehaviour to inject, for tests of the exporter's resilience. Cleared with
/// `set_faults(Faults::default())`.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Answer every request as if it had no `filter[]` (a proxy that drops the query, say).
    pub ignore_filters: bool,
    /// Add fields the OpenAPI page does not know to every session and to the top level.
    pub unknown_fields: bool,
    /// Wait this long before answering each request.
    pub latency: std::time::Duration,
    /// Applied to the next requests, one each, in order.
    pub script: std::collections::VecDeque<Injected>,
    /// Applied to every request for the given page, `times` times: `(page, fault, times)`.
    pub on_page: Vec<(u64, Injected, u32)>,
    /// Share of requests answered with `random_status` (deterministic under the seed).
    pub error_rate: f64,
    pub random_status: u16,
    /// Every `n`-th request moves the population on by `step` first: data changing mid-scan.
    pub advance_every: Option<(u64, std::time::Duration)>,
}

/// What one request gets.
struct Plan {
    injected: Option<Injected>,
    latency: Duration,
    ignore_filters: bool,
    unknown_fields: bool,
}

/// The simulated API: a population behind a lock, plus credentials, faults and counters.
pub struct Simulator {
    population: RwLock<Population>,
    project_id: String,
    secret: String,
    faults: Mutex<Faults>,
    fault_rng: Mutex<crate::rng::SplitMix64>,
    requests: AtomicU64,
    next_request_id: AtomicU64,
    /// Sessions created or changed by `advance` so far: the bound on what a poll can miss.
    changed: AtomicU64,
}

impl Simulator {
    pub fn new(population: Population, project_id: &str, secret: &str) -> Arc<Self> {
        Arc::new(Simulator {
            population: RwLock::new(population),
            project_id: project_id.to_owned(),
            secret: secret.to_owned(),
            faults: Mutex::new(Faults::default()),
            fault_rng: Mutex::new(crate::rng::SplitMix64::new(0x5eed)),
            requests: AtomicU64::new(0),
            next_request_id: AtomicU64::new(1),
            changed: AtomicU64::new(0),
        })
    }

    /// A realistic population of `sessions` sessions as of now, with the demo credentials and
    /// the demo's faster clock of events.
    pub fn demo(sessions: u64, seed: u64) -> Arc<Self> {
        let population =
            Population::generate(Params::demo(sessions, seed), clock::now_whole_seconds_ms());
        Simulator::new(population, DEMO_PROJECT_ID, DEMO_SECRET)
    }

    /// The API's routes, for serving them some other way (over TLS in the tests, say).
    pub fn router(self: &Arc<Self>) -> axum::Router {
        api::router(Arc::clone(self))
    }

    /// Serves the API on `listener` until `shutdown` is cancelled.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        axum::serve(listener, api::router(self))
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    }

    /// Binds `address`, serves in a background task, and returns the bound address.
    pub async fn spawn(
        self: &Arc<Self>,
        address: &str,
        shutdown: CancellationToken,
    ) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind(address).await?;
        let bound = listener.local_addr()?;
        let sim = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = sim.serve(listener, shutdown).await {
                tracing::error!(error = %e, "simulator stopped");
            }
        });
        Ok(bound)
    }

    /// Moves the population on in real time, every `every`, until `shutdown`.
    pub async fn evolve(self: Arc<Self>, every: Duration, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let changes = self.advance(clock::unix_millis(SystemTime::now()));
            if let Some(kind) = changes.burst {
                tracing::info!(
                    kind,
                    revoked = changes.revoked,
                    expired = changes.expired,
                    "simulator: burst"
                );
            }
        }
    }

    /// Moves the population on to `now_ms`.
    pub fn advance(&self, now_ms: i64) -> Changes {
        let changes = self.write().advance(now_ms);
        self.count_changes(&changes);
        changes
    }

    fn count_changes(&self, c: &Changes) {
        let n = c.created + c.logged_out + c.inactivity_reached + c.revoked + c.expired;
        self.changed.fetch_add(n, Ordering::Relaxed);
    }

    /// Sessions created or ended by `advance` so far (a session counts once per change).
    pub fn changed_sessions(&self) -> u64 {
        self.changed.load(Ordering::Relaxed)
    }

    /// The exact expected session gauges at `now_ms`: the tests' ground truth.
    pub fn expected(&self, now_ms: i64, windows: &[Duration], top_k: usize) -> Summary {
        self.read().expected(now_ms, windows, top_k)
    }

    /// Runs `f` with the population locked for writing (fault injection, direct changes).
    pub fn with_population<T>(&self, f: impl FnOnce(&mut Population) -> T) -> T {
        f(&mut self.write())
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    /// Decides what goes wrong with request number `n` (1-based) for `page`, and moves the
    /// population on first when `advance_every` says so.
    fn plan(&self, n: u64, page: u64) -> Plan {
        let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((every, step)) = faults.advance_every {
            if every > 0 && n % every == 0 {
                let changes = {
                    let mut population = self.write();
                    let to = population.clock_ms() + i64::try_from(step.as_millis()).unwrap_or(0);
                    population.advance(to)
                };
                self.count_changes(&changes);
            }
        }
        let mut injected = faults.script.pop_front();
        if injected.is_none() {
            if let Some(rule) = faults
                .on_page
                .iter_mut()
                .find(|(p, _, times)| *p == page && *times > 0)
            {
                rule.2 -= 1;
                injected = Some(rule.1.clone());
            }
        }
        if injected.is_none() && faults.error_rate > 0.0 {
            let mut rng = self.fault_rng.lock().unwrap_or_else(|e| e.into_inner());
            if rng.chance(faults.error_rate) {
                injected = Some(Injected::Status(faults.random_status));
            }
        }
        Plan {
            injected,
            latency: faults.latency,
            ignore_filters: faults.ignore_filters,
            unknown_fields: faults.unknown_fields,
        }
    }

    /// Requests received so far, answered or refused.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Population> {
        self.population.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Population> {
        self.population.write().unwrap_or_else(|e| e.into_inner())
    }
}
