//! A simulated Corbado Backend API: `GET /sessions` over real HTTP, faithful to Corbado's OpenAPI
//! page as this repository writes it down in `tests/openapi/sessions.yaml` (which the tests check
//! the simulator against): basic auth, `page`/`pageSize`, `sort`, repeated `filter[]`, `paging`
//! totals that honour filters, and the documented error body.
//!
//! It serves three ways: `--demo` (in-process, on a loopback port, evolving in real time), the
//! `corbado-exporter simulator` subcommand, and as a library type for tests and benchmarks, which
//! also ask it for the exact expected value of every gauge (`Simulator::expected`) and inject
//! faults ([`Faults`]). The first two are why it ships in the release binary; its oracle does
//! not (the `test-support` feature), as only tests and benches ask it.
//!
//! - this file: the [`Simulator`] (credentials, counters, serving, evolving in real time);
//! - `api.rs`: its HTTP face; `faults.rs`: what can be made to go wrong;
//! - [`population`]: the sessions themselves.

mod api;
mod faults;
pub mod population;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::clock;
use faults::Plan;
pub use faults::{Faults, Injected};
pub use population::{Changes, Params, Population, Semantics};

/// The project ID `--demo` and the simulator subcommand use unless told otherwise.
pub const DEMO_PROJECT_ID: &str = "pro-demo";
/// The API secret of the demo. Not a secret: it guards a simulator on loopback.
pub const DEMO_SECRET: &str = "demo-secret";
/// Sessions in the `--demo` population: big enough to look like a real project and to hold a
/// day of its arrivals, small enough that even a full scan finishes in seconds.
pub const DEMO_SESSIONS: u64 = 100_000;

/// The simulated API: a population behind a lock, plus credentials, faults and counters.
pub struct Simulator {
    population: RwLock<Population>,
    project_id: String,
    secret: String,
    /// A second secret accepted beside the first, as during a rotation of the API secret.
    rotated_secret: Mutex<Option<String>>,
    faults: Mutex<Faults>,
    fault_rng: Mutex<crate::rng::SplitMix64>,
    requests: AtomicU64,
    next_request_id: AtomicU64,
    /// Sessions created or changed by `advance` so far: the bound on what a poll can miss.
    changed: AtomicU64,
    /// When requests arrived (tokio's clock, so paused time in tests), once asked to keep them.
    arrivals: Mutex<Option<Vec<tokio::time::Instant>>>,
}

impl Simulator {
    /// Accepts `secret` too from now on, as Corbado accepts the old and the new secret while
    /// one is rotated.
    pub fn add_secret(&self, secret: &str) {
        *self
            .rotated_secret
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(secret.to_owned());
    }

    /// Whether `password` is one of the secrets this simulator accepts.
    fn accepts(&self, password: &str) -> bool {
        password == self.secret
            || self
                .rotated_secret
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_deref()
                == Some(password)
    }

    pub fn new(population: Population, project_id: &str, secret: &str) -> Arc<Self> {
        Arc::new(Simulator {
            population: RwLock::new(population),
            project_id: project_id.to_owned(),
            secret: secret.to_owned(),
            rotated_secret: Mutex::new(None),
            faults: Mutex::new(Faults::default()),
            fault_rng: Mutex::new(crate::rng::SplitMix64::new(0x5eed)),
            requests: AtomicU64::new(0),
            next_request_id: AtomicU64::new(1),
            changed: AtomicU64::new(0),
            arrivals: Mutex::new(None),
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
            let changes = self.advance(clock::now_ms());
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

    /// The exact expected session gauges at `now_ms`: the tests' and benches' ground truth.
    #[cfg(feature = "test-support")]
    pub fn expected(
        &self,
        now_ms: i64,
        windows: &[Duration],
        top_k: usize,
    ) -> crate::aggregate::Summary {
        self.read().expected(now_ms, windows, top_k)
    }

    /// Runs `f` with the population locked for writing (fault injection, direct changes).
    pub fn with_population<T>(&self, f: impl FnOnce(&mut Population) -> T) -> T {
        f(&mut self.write())
    }

    /// Replaces how the API behaves where nobody has verified it, from the next change on.
    pub fn set_semantics(&self, semantics: Semantics) {
        self.write().set_semantics(semantics);
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    /// Decides what goes wrong with request number `n` (1-based) for `query`,
    /// notes its arrival, and moves the population on first when `advance_every` says so.
    fn plan(&self, n: u64, query: &api::ListQuery) -> Plan {
        self.note_arrival();
        let mut plan = self.plan_faults(n, query.page);
        if let Some(code) = self.failing_paging(query) {
            plan.injected = Some(Injected::Status(code));
        }
        plan
    }

    fn plan_faults(&self, n: u64, page: u64) -> Plan {
        let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((every, step)) = faults.advance_every {
            if every > 0 && n.is_multiple_of(every) {
                let changes = {
                    let mut population = self.write();
                    let to = population.clock_ms() + clock::millis(step);
                    population.advance(to)
                };
                self.count_changes(&changes);
            }
        }
        let mut rng = self.fault_rng.lock().unwrap_or_else(|e| e.into_inner());
        faults.plan(page, &mut rng)
    }

    /// Starts keeping the arrival time of every authenticated, well-formed request.
    pub fn keep_arrivals(&self) {
        *self.arrivals.lock().unwrap_or_else(|e| e.into_inner()) = Some(Vec::new());
    }

    /// The arrival times kept since [`Self::keep_arrivals`].
    pub fn arrivals(&self) -> Vec<tokio::time::Instant> {
        let arrivals = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        arrivals.clone().unwrap_or_default()
    }

    fn note_arrival(&self) {
        if let Some(arrivals) = self
            .arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            arrivals.push(tokio::time::Instant::now());
        }
    }

    /// The status to answer `query` with, if `fail_paging` matches it.
    fn failing_paging(&self, query: &api::ListQuery) -> Option<u16> {
        let faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let (prefix, code) = faults.fail_paging.as_ref()?;
        if query.page_size <= 1 {
            return None;
        }
        query
            .filters
            .iter()
            .any(|f| f.to_string().starts_with(prefix.as_str()))
            .then_some(*code)
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
