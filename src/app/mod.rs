//! Wires config, projects, server and reloading together, and owns the one shutdown path: a
//! [`CancellationToken`] that stops every poll loop (cancelling in-flight polls), the HTTP
//! server, the web config watcher, the SIGHUP listener and, in `--demo`, the simulator.
//!
//! The only module besides `main` that reads the top-level [`Config`]: it turns it into each
//! part's own settings.
//!
//! - [`fleet`]: the projects polled now, started, stopped and restarted as the config says.
//! - [`reload`]: SIGHUP and `POST /-/reload`.

pub mod fleet;
pub mod reload;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::clock;
use crate::config::{Config, InstanceView, ProjectConfig, SecretSource, Source};
use crate::metrics::InstanceMetrics;
use crate::poller::Poller;
use crate::published::Published;
use crate::secret::Secret;
use crate::server::{self, Limits, Reload};
use crate::simulator::{self, Simulator};
use crate::snapshot::Store;
use crate::web_config::LiveWebConfig;
pub use fleet::{Changes, Fleet, Shared, MAX_BODY_BYTES};
pub use reload::Reloader;

pub use crate::simulator::DEMO_SESSIONS;
/// How often the demo population moves on. Coarser than a second on purpose: a poll's count
/// requests rarely straddle a change, so `auto` keeps using its cheap filters.
pub const DEMO_TICK: Duration = Duration::from_secs(5);

/// A built exporter: bound listener, projects, reloader; not yet polling.
pub struct App {
    pub address: SocketAddr,
    pub published: Arc<Published>,
    pub fleet: Arc<Fleet>,
    pub reloader: Arc<Reloader>,
    /// The in-process simulator, in `--demo`.
    pub simulator: Option<Arc<Simulator>>,
    pub web: Arc<LiveWebConfig>,
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    /// `--config.auto-reload-interval`.
    auto_reload: std::time::Duration,
}

impl App {
    /// Builds everything and binds the listener; in `--demo` also starts the simulator. Every
    /// task started here stops with `shutdown`.
    pub async fn build(config: Config, shutdown: &CancellationToken) -> anyhow::Result<App> {
        let (projects, simulator) = match &config.source {
            Source::Demo => {
                let (project, sim) = demo(&config, shutdown).await?;
                (vec![project], Some(sim))
            }
            _ => (config.projects(), None),
        };
        let instance = InstanceMetrics::new(config.shard.ordinal, config.shard.total)?;
        instance.record_reload(true, clock::now_ms() as f64 / 1000.0);
        let published = Arc::new(Published::new(instance).with_page(config.page));
        let shared = Shared {
            max_user_id_length: config.max_user_id_length,
            user_id_key: config.user_id_key.clone(),
            retry: config.retry.clone(),
            clock: config.clock.clone(),
            storage: config.storage.clone(),
        };
        let fleet = Arc::new(Fleet::new(
            Arc::clone(&published),
            shared,
            InstanceView::of(&config),
            shutdown.child_token(),
        ));
        let changes = fleet.apply(projects)?;
        tracing::info!(
            projects = changes.added.len(),
            shard = config.shard.ordinal,
            total_shards = config.shard.total,
            "projects configured"
        );
        let listener = TcpListener::bind(&config.listen_address)
            .await
            .with_context(|| format!("listening on {}", config.listen_address))?;
        let web = LiveWebConfig::new(config.web_config.clone());
        tokio::spawn(Arc::clone(&web).watch(shutdown.child_token()));
        let file = match &config.source {
            Source::File { file, .. } => Some(file.clone()),
            _ => None,
        };
        let reloader = Arc::new(Reloader::new(
            file,
            config.settings.clone(),
            config.shard,
            Arc::clone(&fleet),
            Arc::clone(&web),
            Arc::clone(&published),
        ));
        let lifecycle = config
            .enable_lifecycle
            .then(|| Arc::clone(&reloader) as Arc<dyn Reload>);
        let router = server::router(
            Arc::clone(&published),
            &config.telemetry_path,
            Arc::clone(&web),
            &config.limits,
            lifecycle,
        );
        Ok(App {
            address: listener.local_addr()?,
            published,
            fleet,
            reloader,
            simulator,
            web,
            listener,
            router,
            limits: config.limits,
            auto_reload: config.auto_reload_interval,
        })
    }

    /// The store and poller of `project_id`, if it is polled here.
    pub fn project(&self, project_id: &str) -> Option<(Arc<Store>, Arc<Poller>)> {
        self.fleet.project(project_id)
    }

    /// Serves HTTP, polls every project and reloads on SIGHUP, until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        self.fleet.start_polling();
        tokio::spawn(Arc::clone(&self.reloader).on_hangup(shutdown.child_token()));
        if !self.auto_reload.is_zero() && self.reloader.file.is_some() {
            let watch = Arc::clone(&self.reloader).watch(self.auto_reload, shutdown.child_token());
            tokio::spawn(watch);
        }
        tracing::info!(address = %self.address, tls = self.web.current().tls.is_some(), "listening");
        let served = server::serve(
            self.listener,
            self.router,
            self.web,
            self.limits,
            shutdown.clone(),
        )
        .await;
        // If the server failed on its own, stop the pollers too.
        shutdown.cancel();
        self.fleet.stop().await;
        served.context("serving HTTP")
    }

    /// Serves HTTP only, without the poll loops: tests call `poll_once` themselves.
    pub async fn serve(self, shutdown: CancellationToken) -> std::io::Result<()> {
        server::serve(self.listener, self.router, self.web, self.limits, shutdown).await
    }
}

/// `--demo`: a simulator started on loopback, and the project that polls it with the flags'
/// settings.
pub async fn demo(
    config: &Config,
    shutdown: &CancellationToken,
) -> anyhow::Result<(ProjectConfig, Arc<Simulator>)> {
    let sim = Simulator::demo(DEMO_SESSIONS, 1);
    let address = sim
        .spawn("127.0.0.1:0", shutdown.child_token())
        .await
        .context("starting the demo simulator")?;
    tokio::spawn(Arc::clone(&sim).evolve(DEMO_TICK, shutdown.child_token()));
    tracing::info!(%address, sessions = DEMO_SESSIONS, "demo: simulated Corbado API started");
    let mut settings = config.settings.clone();
    settings.api_url = format!("http://{address}/v2");
    let project = ProjectConfig {
        id: simulator::DEMO_PROJECT_ID.to_owned(),
        secret: Secret::new(simulator::DEMO_SECRET),
        secret_source: SecretSource::Given,
        ca: config.ca.clone(),
        settings,
    };
    Ok((project, sim))
}

/// The exporter as the binary runs it: build, serve and poll until SIGINT or SIGTERM.
pub async fn run_until_signal(config: Config) -> anyhow::Result<()> {
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        revision = crate::REVISION,
        demo = matches!(config.source, Source::Demo),
        config_file = matches!(config.source, Source::File { .. }),
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
