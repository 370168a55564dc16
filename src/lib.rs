//! corbado-exporter: a Prometheus exporter for the sessions of a Corbado project.
//!
//! Data flows one way: **config → client → aggregation → snapshot → HTTP**.
//!
//! 1. [`config`] turns flags and environment variables into a validated [`config::Config`].
//! 2. [`poller`] runs one poll at a time: it pages through `GET /sessions` with the
//!    [`corbado`] client, using the `scan` or `filter` strategy (or `auto`, which checks `filter`
//!    and falls back to `scan`), and feeds every session to the pure [`aggregate`] code.
//! 3. The resulting [`aggregate::Summary`] is rendered once by [`metrics`] into a
//!    [`metrics::Snapshot`], which replaces the previous one in a single step.
//! 4. [`server`] serves the newest snapshot, plus the exporter's own counters, on `/metrics`.
//!
//! [`simulator`] is a faithful stand-in for Corbado's API, used by `--demo`, the tests and the
//! benchmarks; it is a real HTTP server, so the exporter is always exercised over the wire.
//!
//! # Layout
//! - `config.rs`: `Cli` (clap) → `Config`; every check on flags lives here.
//! - `secret.rs`: the `Secret` type that never prints its value.
//! - `corbado/`: the upstream's wire model, time format, filters, and the HTTP client.
//! - `aggregate.rs`: sessions in, `Summary` out; no I/O.
//! - `metrics.rs`: metric names, HELP texts and rendering; the exporter's own counters.
//! - `poller.rs`: the strategies, `poll_once()` and the loop.
//! - `server.rs`: the axum `Router` and the listener.
//! - `app.rs`: wires the parts together and owns the shutdown path.
//! - `simulator/`: the simulated Corbado API.

pub mod aggregate;
pub mod app;
pub mod config;
pub mod corbado;
pub mod metrics;
pub mod poller;
pub mod rng;
pub mod secret;
pub mod server;
pub mod simulator;
pub mod web_config;

/// The git revision the binary was built from (`unknown` outside a checkout), for
/// `corbado_exporter_build_info`.
pub const REVISION: &str = env!("CORBADO_EXPORTER_REVISION");
