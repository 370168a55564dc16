//! The subcommands beside the exporter itself: `simulator` (the simulated API on its own),
//! `healthcheck` (for container HEALTHCHECKs, which have no shell or curl in a distroless image)
//! and `user-label` (a user ID's label value, to find one user in the per-user series).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::app::{shutdown_signal, DEMO_TICK};
use crate::clock;
use crate::config::{self, ConfigError, HealthcheckArgs, SimulatorArgs, UserLabelArgs, SECRET_ENV};
use crate::metrics::UserLabels;
use crate::simulator::{self, Params, Population, Semantics, Simulator};

/// `corbado-exporter simulator`: the simulated API on its own, until SIGINT or SIGTERM.
pub async fn run_simulator(args: SimulatorArgs) -> anyhow::Result<()> {
    let secret = std::env::var(SECRET_ENV).unwrap_or_else(|_| simulator::DEMO_SECRET.to_owned());
    let project_id = args
        .project_id
        .unwrap_or_else(|| simulator::DEMO_PROJECT_ID.to_owned());
    let params = Params {
        semantics: Semantics {
            ended_keeps_updated: args.ended_keeps_updated,
            lazy_expiry: args.lazy_expiry,
            delete_revoked: args.delete_revoked,
            updated_lag: args.updated_lag,
            reactivate_by_patch: args.reactivate_by_patch,
        },
        ..Params::realistic(u64::from(args.sessions), args.seed)
    };
    tracing::info!(semantics = ?params.semantics, "simulated API semantics");
    let population = Population::generate(params, clock::now_whole_seconds_ms());
    let sim = Simulator::new(population, &project_id, &secret);
    let shutdown = CancellationToken::new();
    let address = sim.spawn(&args.listen, shutdown.clone()).await?;
    if !args.frozen {
        tokio::spawn(Arc::clone(&sim).evolve(DEMO_TICK, shutdown.clone()));
    }
    tracing::info!(
        %address,
        sessions = args.sessions,
        seed = args.seed,
        project_id,
        api_url = format!("http://{address}/v2"),
        "simulated Corbado API listening"
    );
    shutdown_signal().await;
    shutdown.cancel();
    Ok(())
}

/// `corbado-exporter healthcheck`: `Ok` when the URL answers with a success status.
pub async fn healthcheck(args: HealthcheckArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(args.timeout)
        .danger_accept_invalid_certs(args.insecure)
        .build()?;
    let status = client.get(&args.url).send().await?.status();
    anyhow::ensure!(status.is_success(), "{} answered {status}", args.url);
    Ok(())
}

/// `corbado-exporter user-label`: the `user_id` label value the exporter gives `args.user_id`.
pub fn user_label(args: &UserLabelArgs) -> Result<String, ConfigError> {
    let labels = UserLabels {
        max_id_length: args.max_id_length as usize,
        pseudonym_key: args
            .id_key_file
            .as_deref()
            .map(config::read_key_file)
            .transpose()?,
    };
    Ok(labels.label(&args.user_id).into_owned())
}
