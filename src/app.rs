//! Wires config, client, poller, state and server together, and owns the one shutdown path:
//! a [`CancellationToken`] that stops the poller (cancelling an in-flight poll), the HTTP server
//! and, in `--demo`, the simulator.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, HealthcheckArgs, SimulatorArgs, Source};
use crate::corbado::query::unix_millis;
use crate::corbado::{Client, ClientOptions};
use crate::metrics::State;
use crate::poller::{PollSettings, Poller};
use crate::secret::Secret;
use crate::server::{self, Limits};
use crate::simulator::{self, Params, Population, Simulator};
use crate::web_config::WebState;

/// Sessions in the `--demo` population: big enough to look like a real project, small enough
/// that even a full scan finishes in seconds.
pub const DEMO_SESSIONS: u64 = 50_000;
/// How often the demo population moves on. Coarser than a second on purpose: a poll's count
/// requests rarely straddle a change, so `auto` keeps using its cheap filters.
pub const DEMO_TICK: Duration = Duration::from_secs(5);
/// Largest response body the client accepts.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// A built exporter: bound listener, state, poller; not yet running.
pub struct App {
    pub address: SocketAddr,
    pub state: Arc<State>,
    pub poller: Arc<Poller>,
    /// The in-process simulator, in `--demo`.
    pub simulator: Option<Arc<Simulator>>,
    pub web: Arc<WebState>,
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
}

impl App {
    /// Builds everything and binds the listener; in `--demo` also starts the simulator, which
    /// stops with `shutdown`.
    pub async fn build(config: Config, shutdown: &CancellationToken) -> anyhow::Result<App> {
        let (api_url, project_id, secret, sim) = match config.source.clone() {
            Source::Corbado {
                api_url,
                project_id,
                secret,
            } => (api_url, project_id, secret, None),
            Source::Demo => {
                let sim = Simulator::demo(DEMO_SESSIONS, 1);
                let address = sim
                    .spawn("127.0.0.1:0", shutdown.child_token())
                    .await
                    .context("starting the demo simulator")?;
                tokio::spawn(Arc::clone(&sim).evolve(DEMO_TICK, shutdown.child_token()));
                tracing::info!(%address, sessions = DEMO_SESSIONS, "demo: simulated Corbado API started");
                (
                    format!("http://{address}/v2"),
                    simulator::DEMO_PROJECT_ID.to_owned(),
                    Secret::new(simulator::DEMO_SECRET),
                    Some(sim),
                )
            }
        };

        let state = Arc::new(State::new(
            &project_id,
            config.windows.clone(),
            config.max_staleness,
        )?);
        let client = Client::new(
            ClientOptions {
                api_url,
                project_id,
                secret,
                timeout: config.timeout,
                max_requests_per_second: config.max_requests_per_second,
                max_body_bytes: MAX_BODY_BYTES,
                retry: config.retry.clone(),
                ca_file: config.ca_file.clone(),
            },
            state.metrics.api_requests.clone(),
            state.metrics.api_request_duration.clone(),
        )?;
        let poller = Arc::new(Poller::new(
            Arc::new(client),
            Arc::clone(&state),
            PollSettings {
                strategy: config.strategy,
                page_size: config.page_size,
                concurrency: config.concurrency,
                windows: config.window_durations(),
                top_k: config.top_k,
                interval: config.poll_interval,
            },
        ));
        let listener = TcpListener::bind(&config.listen_address)
            .await
            .with_context(|| format!("listening on {}", config.listen_address))?;
        let address = listener.local_addr()?;
        let web = WebState::load(config.web_config_file.clone())?;
        tokio::spawn(Arc::clone(&web).watch(shutdown.child_token()));
        let router = server::router(
            Arc::clone(&state),
            &config.telemetry_path,
            Arc::clone(&web),
            &config.limits,
        );
        Ok(App {
            address,
            state,
            poller,
            simulator: sim,
            web,
            listener,
            router,
            limits: config.limits.clone(),
        })
    }

    /// Serves HTTP and polls until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let poller = Arc::clone(&self.poller);
        let poll_shutdown = shutdown.clone();
        let polling = tokio::spawn(async move { poller.run(poll_shutdown).await });
        tracing::info!(address = %self.address, tls = self.web.current().tls.is_some(), "listening");
        let served = server::serve(
            self.listener,
            self.router,
            self.web,
            self.limits,
            shutdown.clone(),
        )
        .await;
        // If the server failed on its own, stop the poller too.
        shutdown.cancel();
        polling.await.context("the poller task failed")?;
        served.context("serving HTTP")
    }

    /// Serves HTTP only, without the poll loop: tests call `poller.poll_once()` themselves.
    pub async fn serve(self, shutdown: CancellationToken) -> std::io::Result<()> {
        server::serve(self.listener, self.router, self.web, self.limits, shutdown).await
    }
}

/// The exporter as the binary runs it: build, serve and poll until SIGINT or SIGTERM.
pub async fn run_until_signal(config: Config) -> anyhow::Result<()> {
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        revision = crate::REVISION,
        strategy = config.strategy.as_str(),
        demo = matches!(config.source, Source::Demo),
        "starting corbado-exporter"
    );
    let shutdown = CancellationToken::new();
    let app = App::build(config, &shutdown).await?;
    let signal = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        signal.cancel();
    });
    app.run(shutdown).await
}

/// `corbado-exporter simulator`: the simulated API on its own, until SIGINT or SIGTERM.
pub async fn run_simulator(args: SimulatorArgs) -> anyhow::Result<()> {
    let secret = std::env::var(crate::config::SECRET_ENV)
        .unwrap_or_else(|_| simulator::DEMO_SECRET.to_owned());
    let now = unix_millis(SystemTime::now()) / 1000 * 1000;
    let population =
        Population::generate(Params::realistic(u64::from(args.sessions), args.seed), now);
    let sim = Simulator::new(population, &args.project_id, &secret);
    let shutdown = CancellationToken::new();
    let address = sim.spawn(&args.listen, shutdown.clone()).await?;
    if !args.frozen {
        tokio::spawn(Arc::clone(&sim).evolve(DEMO_TICK, shutdown.clone()));
    }
    tracing::info!(
        %address,
        sessions = args.sessions,
        seed = args.seed,
        project_id = args.project_id,
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

/// Resolves when SIGINT or SIGTERM arrives.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
