//! The integration tests: one binary, one module per area. Every test starts its own simulator
//! and exporter on port 0, so they run in parallel without sharing anything.

mod autoreload;
mod check;
mod cli;
mod counters;
mod dashboard;
mod deploy;
mod docs;
mod gate;
mod golden;
mod helpers;
mod hostile;
mod incremental;
mod listeners;
mod mixin;
mod openapi;
mod openmetrics;
mod projects;
mod prometheus;
mod promtool;
mod pseudonyms;
mod repairs;
mod resilience;
mod security;
mod server;
mod simulator;
mod state;
mod status;
mod strategies;
mod web_config;
