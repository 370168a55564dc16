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
    /// The first address served; `addresses` has them all.
    pub address: SocketAddr,
    pub addresses: Vec<SocketAddr>,
    pub published: Arc<Published>,
    pub fleet: Arc<Fleet>,
    pub reloader: Arc<Reloader>,
    /// The in-process simulator, in `--demo`.
    pub simulator: Option<Arc<Simulator>>,
    pub web: Arc<LiveWebConfig>,
    listeners: Vec<TcpListener>,
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
        let (published, fleet) = configure_projects(&config, projects, shutdown)?;
        let listeners = listen(&config).await?;
        let addresses = listeners
            .iter()
            .map(TcpListener::local_addr)
            .collect::<std::io::Result<Vec<_>>>()?;
        let web = LiveWebConfig::new(config.web_config.clone());
        tokio::spawn(Arc::clone(&web).watch(shutdown.child_token()));
        let reloader = reloader(&config, &fleet, &web, &published);
        let lifecycle = config
            .enable_lifecycle
            .then(|| Arc::new(Arc::clone(&reloader)) as Arc<dyn Reload>);
        let router = server::router(
            Arc::clone(&published),
            &config.paths,
            Arc::clone(&web),
            &config.limits,
            lifecycle,
        );
        Ok(App {
            address: addresses[0],
            addresses,
            published,
            fleet,
            reloader,
            simulator,
            web,
            listeners,
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
        for address in &self.addresses {
            tracing::info!(%address, tls = self.web.current().tls.is_some(), "listening");
        }
        let served = server::serve(
            self.listeners,
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
        server::serve(self.listeners, self.router, self.web, self.limits, shutdown).await
    }
}

/// The listening sockets: systemd's with `--web.systemd-socket`, else one bound for each
/// `--web.listen-address`. At least one, or an error.
async fn listen(config: &Config) -> anyhow::Result<Vec<TcpListener>> {
    let listeners = if config.systemd_socket {
        server::systemd::listeners()?
    } else {
        let mut listeners = Vec::with_capacity(config.listen_addresses.len());
        for address in &config.listen_addresses {
            let listener = TcpListener::bind(address)
                .await
                .with_context(|| format!("listening on {address}"))?;
            listeners.push(listener);
        }
        listeners
    };
    anyhow::ensure!(!listeners.is_empty(), "no address to listen on");
    Ok(listeners)
}

/// The instance's series, the page they and the projects make, and the fleet polling
/// `projects` (not yet started), with the first configuration recorded as a reload.
fn configure_projects(
    config: &Config,
    projects: Vec<ProjectConfig>,
    shutdown: &CancellationToken,
) -> anyhow::Result<(Arc<Published>, Arc<Fleet>)> {
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
        InstanceView::of(config),
        shutdown.child_token(),
    ));
    let changes = fleet.apply(projects)?;
    tracing::info!(
        projects = changes.added.len(),
        shard = config.shard.ordinal,
        total_shards = config.shard.total,
        "projects configured"
    );
    Ok((published, fleet))
}

/// What SIGHUP, `POST /-/reload` and the auto-reload call: it re-reads the config file (if
/// any) and the web config, and applies them to `fleet` and `published`.
fn reloader(
    config: &Config,
    fleet: &Arc<Fleet>,
    web: &Arc<LiveWebConfig>,
    published: &Arc<Published>,
) -> Arc<Reloader> {
    let file = match &config.source {
        Source::File { file, .. } => Some(file.clone()),
        _ => None,
    };
    Arc::new(Reloader::new(
        file,
        config.settings.clone(),
        config.shard,
        Arc::clone(fleet),
        Arc::clone(web),
        Arc::clone(published),
    ))
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
