//! Wires config, client, poller, store and server together, and owns the one shutdown path:
//! a [`CancellationToken`] that stops the poller (cancelling an in-flight poll), the HTTP server,
//! the web config watcher and, in `--demo`, the simulator.
//!
//! The only module besides `main` that reads the top-level [`Config`]: it turns it into each
//! part's own settings.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Source};
use crate::corbado::{Client, ClientMetrics, ClientOptions, Pager, PagingSettings};
use crate::metrics::{ExporterMetrics, UserLabels};
use crate::poller::{PollMethod, PollSettings, Poller, ResyncReason};
use crate::secret::Secret;
use crate::server::{self, Limits};
use crate::simulator::{self, Simulator};
use crate::snapshot::Store;
use crate::web_config::LiveWebConfig;

/// Sessions in the `--demo` population: big enough to look like a real project, small enough
/// that even a full scan finishes in seconds.
pub const DEMO_SESSIONS: u64 = 50_000;
/// How often the demo population moves on. Coarser than a second on purpose: a poll's count
/// requests rarely straddle a change, so `auto` keeps using its cheap filters.
pub const DEMO_TICK: Duration = Duration::from_secs(5);
/// Largest response body the client accepts.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// A built exporter: bound listener, store, poller; not yet running.
pub struct App {
    pub address: SocketAddr,
    pub store: Arc<Store>,
    pub poller: Arc<Poller>,
    /// The in-process simulator, in `--demo`.
    pub simulator: Option<Arc<Simulator>>,
    pub web: Arc<LiveWebConfig>,
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
}

/// Where to poll, once `--demo` has started its simulator.
struct Upstream {
    api_url: String,
    project_id: String,
    secret: Secret,
    simulator: Option<Arc<Simulator>>,
}

impl App {
    /// Builds everything and binds the listener; in `--demo` also starts the simulator. Every
    /// task started here stops with `shutdown`.
    pub async fn build(config: Config, shutdown: &CancellationToken) -> anyhow::Result<App> {
        let upstream = upstream(&config.source, shutdown).await?;
        let metrics = ExporterMetrics::new(
            &upstream.project_id,
            &PollMethod::LABELS,
            &ResyncReason::LABELS,
        )?;
        let client_metrics = ClientMetrics {
            requests_total: metrics.api_requests.clone(),
            request_duration: metrics.api_request_duration.clone(),
        };
        let store = Arc::new(Store::new(
            &upstream.project_id,
            config.windows.clone(),
            config.max_staleness,
            metrics,
            UserLabels {
                max_id_length: config.max_user_id_length,
            },
        ));
        let client = Client::new(client_options(&config, &upstream), client_metrics)?;
        let paging = PagingSettings {
            page_size: config.page_size,
            concurrency: config.concurrency,
        };
        let poller = Arc::new(Poller::new(
            Pager::new(Arc::new(client), paging),
            Arc::clone(&store),
            PollSettings {
                strategy: config.strategy,
                windows: config.window_durations(),
                top_k: config.top_k,
                interval: config.poll_interval,
                resync_interval: config.resync_interval,
                change_overlap: config.change_overlap,
                clock: config.clock.clone(),
            },
        ));
        let listener = TcpListener::bind(&config.listen_address)
            .await
            .with_context(|| format!("listening on {}", config.listen_address))?;
        let web = LiveWebConfig::new(config.web_config.clone());
        tokio::spawn(Arc::clone(&web).watch(shutdown.child_token()));
        let router = server::router(
            Arc::clone(&store),
            &config.telemetry_path,
            Arc::clone(&web),
            &config.limits,
        );
        Ok(App {
            address: listener.local_addr()?,
            store,
            poller,
            simulator: upstream.simulator,
            web,
            listener,
            router,
            limits: config.limits,
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

/// The real API, or in `--demo` a simulator started on loopback for the purpose.
async fn upstream(source: &Source, shutdown: &CancellationToken) -> anyhow::Result<Upstream> {
    match source.clone() {
        Source::Corbado {
            api_url,
            project_id,
            secret,
        } => Ok(Upstream {
            api_url,
            project_id,
            secret,
            simulator: None,
        }),
        Source::Demo => {
            let sim = Simulator::demo(DEMO_SESSIONS, 1);
            let address = sim
                .spawn("127.0.0.1:0", shutdown.child_token())
                .await
                .context("starting the demo simulator")?;
            tokio::spawn(Arc::clone(&sim).evolve(DEMO_TICK, shutdown.child_token()));
            tracing::info!(%address, sessions = DEMO_SESSIONS, "demo: simulated Corbado API started");
            Ok(Upstream {
                api_url: format!("http://{address}/v2"),
                project_id: simulator::DEMO_PROJECT_ID.to_owned(),
                secret: Secret::new(simulator::DEMO_SECRET),
                simulator: Some(sim),
            })
        }
    }
}

fn client_options(config: &Config, upstream: &Upstream) -> ClientOptions {
    ClientOptions {
        api_url: upstream.api_url.clone(),
        project_id: upstream.project_id.clone(),
        secret: upstream.secret.clone(),
        timeout: config.timeout,
        max_requests_per_second: config.max_requests_per_second,
        max_body_bytes: MAX_BODY_BYTES,
        retry: config.retry.clone(),
        ca_certificates: config.ca_certificates.clone(),
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
