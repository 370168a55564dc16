//! corbado-exporter: a Prometheus exporter for the sessions of a Corbado project.
//!
//! Data flows one way: **config → client → aggregation → poller → snapshot → HTTP**.
//!
//! 1. [`config`] turns flags, environment variables and `--config.file` into a validated
//!    [`config::Config`]; [`app`] turns that into each project's own client, poller and store
//!    (a fleet of them, one per project of this shard) and wires the parts together.
//! 2. [`poller`] runs one poll at a time: it pages through `GET /sessions` with the
//!    [`corbado`] client, using the `scan` or `filter` strategy (or `auto`, which checks `filter`
//!    and falls back to `scan`), and feeds every session to the pure [`aggregate`] code.
//! 3. The resulting [`aggregate::Summary`] is rendered once by [`metrics`] into a
//!    [`snapshot::Snapshot`], which replaces the previous one in the [`snapshot::Store`].
//! 4. [`published`] holds every project's store and the instance's own series; [`server`]
//!    serves them merged on `/metrics`.
//!
//! [`simulator`] is a faithful stand-in for Corbado's API, used by `--demo`, the tests and the
//! benchmarks; it is a real HTTP server, so the exporter is always exercised over the wire.
//!
//! # Layout
//! Each module imports only modules listed above it (leaves first); none imports one that
//! imports it back. `config` is read by the wiring (`app`, `commands`), by `check` (which polls each
//! project once as the wiring would) and by `main`; every other module receives its own settings
//! type, built by the wiring.
//! - `secret.rs`: the `Secret` type that never prints its value.
//! - `yaml.rs`: the one YAML reader and writer, and errors that keep the line but quote nothing.
//! - `clock.rs`: Unix milliseconds and a poll's whole-second `now`.
//! - `journal.rs`: a project's last polls, last error and last hour's requests (status page).
//! - `logs.rs`: the ring of the last 500 log lines at `info` and above (`/logs`).
//! - `shard.rs`: which projects fall to this instance (FNV-1a, jump consistent hash).
//! - `rng.rs`: SplitMix64, seedable, and a lock-free shared stream for jitter.
//! - `basic_auth.rs`: reading a `Basic` `Authorization` header (server and simulator).
//! - `corbado/`: the upstream: wire model, query dialect, one request with retries (`client`),
//!   its errors, the rate limiter, the retry policy, and walks over many pages (`paging`).
//! - `aggregate/`: sessions in, `Summary` out, no I/O; windows, session facts, status counts.
//! - `metrics/`: metric names, HELP texts and rendering: the exporter's own series, the
//!   session gauges, in the text format and in OpenMetrics.
//! - `snapshot.rs`: one project's current snapshot and its cached series.
//! - `storage.rs`: a project's active set on disk (`--storage.path`): the file format, its
//!   checks, and the atomic write.
//! - `published.rs`: the stores of the projects polled here, the instance's series, and the
//!   merged `/metrics` page.
//! - `poller/`: `poll_once()`, the loop, a file per strategy (`scan`, `filter`, `auto`,
//!   `incremental`), the repairs of the kept set by created-time range (`repair`), and saving
//!   and restoring it (`state`).
//! - `web_config/`: the web-config file, its TLS (with `client_allowed_sans`), its basic auth,
//!   its rate limit, and its live reloading.
//! - `server/`: routes and handlers, the gate (request cap, auth, headers), the listener.
//! - `simulator/`: the simulated Corbado API: HTTP face, fault injection, and the population
//!   (storage, generation, evolution, queries, JSON, ground truth).
//! - `config/`: `settings` declares each per-project setting once (`declare` derives its flag,
//!   file key, layering and `/config` from that); `values` holds each value's one parser; `cli`
//!   (clap, the instance's flags) → `Config` (validated, files read once); `project` (one
//!   project) and `file` (`--config.file`).
//! - `app/`: wires the parts together and owns the shutdown path; `fleet` starts, stops and
//!   restarts projects, `reload` re-reads the files on SIGHUP and `POST /-/reload`.
//! - `check/`: the `check` command: one pass per project, what each strategy would cost, and
//!   the table or JSON it prints.
//! - `commands.rs`: the `simulator`, `healthcheck` and `user-label` subcommands.

pub mod secret;
pub mod yaml;

pub mod clock;
pub mod journal;
pub mod logs;
pub mod rng;
pub mod shard;

pub mod basic_auth;
pub mod corbado;

pub mod aggregate;

pub mod metrics;
pub mod published;
pub mod snapshot;
pub mod storage;

pub mod poller;

pub mod web_config;

pub mod server;

pub mod simulator;

pub mod config;

pub mod app;
pub mod check;
pub mod commands;

/// The git revision the binary was built from (`unknown` outside a checkout), for
/// `corbado_exporter_build_info`.
pub const REVISION: &str = env!("CORBADO_EXPORTER_REVISION");
