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
use crate::corbado::query::unix_millis;
pub use population::{Changes, Params, Population};

/// The project ID `--demo` and the simulator subcommand use unless told otherwise.
pub const DEMO_PROJECT_ID: &str = "pro-demo";
/// The API secret of the demo. Not a secret: it guards a simulator on loopback.
pub const DEMO_SECRET: &str = "demo-secret";

/// Misbehaviour to inject, for tests of the exporter's resilience.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Answer every request as if it had no `filter[]` (a proxy that drops the query, say).
    pub ignore_filters: bool,
}

/// The simulated API: a population behind a lock, plus credentials, faults and counters.
pub struct Simulator {
    population: RwLock<Population>,
    project_id: String,
    secret: String,
    faults: Mutex<Faults>,
    requests: AtomicU64,
    next_request_id: AtomicU64,
}

impl Simulator {
    pub fn new(population: Population, project_id: &str, secret: &str) -> Arc<Self> {
        Arc::new(Simulator {
            population: RwLock::new(population),
            project_id: project_id.to_owned(),
            secret: secret.to_owned(),
            faults: Mutex::new(Faults::default()),
            requests: AtomicU64::new(0),
            next_request_id: AtomicU64::new(1),
        })
    }

    /// A realistic population of `sessions` sessions as of now, with the demo credentials.
    pub fn demo(sessions: u64, seed: u64) -> Arc<Self> {
        let population = Population::generate(
            Params::realistic(sessions, seed),
            unix_millis(SystemTime::now()) / 1000 * 1000,
        );
        Simulator::new(population, DEMO_PROJECT_ID, DEMO_SECRET)
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
            let changes = self.advance(unix_millis(SystemTime::now()));
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
        self.write().advance(now_ms)
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

    fn faults(&self) -> Faults {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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
