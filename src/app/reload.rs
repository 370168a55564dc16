//! Reloading: SIGHUP, `POST /-/reload` and a change of the files' content (checked every
//! `--config.auto-reload-interval`) re-read `--config.file` and `--web.config.file`, and either
//! both take effect or neither does. The outcome lands in
//! `corbado_exporter_config_last_reload_successful`.
//!
//! A reload reads files and holds the one-reload-at-a-time lock while it does: blocking work
//! that never runs on an async worker (the workers serve the scrapes). The timer and SIGHUP run
//! it on a blocking thread; `POST /-/reload`, whose [`Reload`] is synchronous, hands its worker
//! over to the blocking pool for the time of the reload.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::fleet::Fleet;
use crate::clock;
use crate::config::{ConfigFile, ProjectConfig, Settings};
use crate::published::Published;
use futures_util::future::BoxFuture;

use crate::server::Reload;
use crate::shard::Shard;
use crate::web_config::LiveWebConfig;

/// What a reload reads again, and what it applies the result to.
pub struct Reloader {
    /// `None` when the projects come from the flags or `--demo`: a reload then re-reads only
    /// the web config.
    pub file: Option<ConfigFile>,
    /// The flags under every key the file leaves out.
    pub base: Settings,
    pub shard: Shard,
    pub fleet: Arc<Fleet>,
    pub web: Arc<LiveWebConfig>,
    pub published: Arc<Published>,
    /// One reload at a time: a SIGHUP and a `POST` arriving together must not interleave.
    lock: Mutex<()>,
    /// What the content check saw last, so that it reloads on a change only, and a broken file
    /// is reloaded (and logged) once per distinct content.
    seen: Mutex<Option<Seen>>,
}

/// The content of `--config.file` and of every file it names (secrets, CA bundles), as read.
#[derive(PartialEq)]
enum Seen {
    Valid(Vec<ProjectConfig>),
    /// The file's bytes and what was wrong with them (or with a file they name).
    Broken(Vec<u8>, String),
}

impl Reloader {
    pub fn new(
        file: Option<ConfigFile>,
        base: Settings,
        shard: Shard,
        fleet: Arc<Fleet>,
        web: Arc<LiveWebConfig>,
        published: Arc<Published>,
    ) -> Self {
        Reloader {
            file,
            base,
            shard,
            fleet,
            web,
            published,
            lock: Mutex::new(()),
            seen: Mutex::new(None),
        }
    }

    /// Reads `--config.file` and the files it names, and reloads when their content differs
    /// from what the last check saw (a Kubernetes ConfigMap or Secret volume swaps a `..data`
    /// symlink: the content changes, the modification time of the path read need not). The
    /// first check only takes note. Returns whether it reloaded.
    pub fn reload_if_changed(&self) -> bool {
        let Some(file) = &self.file else {
            return false;
        };
        let now = match file.load(&self.base, &|name| std::env::var(name).ok()) {
            Ok(projects) => Seen::Valid(projects),
            Err(error) => Seen::Broken(
                std::fs::read(&file.path).unwrap_or_default(),
                error.to_string(),
            ),
        };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let first = seen.is_none();
        if seen.as_ref() == Some(&now) {
            return false;
        }
        *seen = Some(now);
        drop(seen);
        if first {
            return false;
        }
        tracing::info!("the configuration files changed; reloading");
        // The outcome is logged and recorded by the reload itself.
        let _ = self.reload_files();
        true
    }

    /// Checks the files' content every `every` until `shutdown`, each check on a blocking thread.
    pub async fn watch(self: Arc<Self>, every: std::time::Duration, shutdown: CancellationToken) {
        self.off_the_workers(Reloader::reload_if_changed).await;
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {
                    self.off_the_workers(Reloader::reload_if_changed).await;
                }
            }
        }
    }

    /// Runs `work` on a blocking thread and waits for it. `None` if it panicked: a reload that
    /// panicked changed nothing the next one cannot redo, so the callers go on.
    async fn off_the_workers<T: Send + 'static>(
        self: &Arc<Self>,
        work: fn(&Reloader) -> T,
    ) -> Option<T> {
        let reloader = Arc::clone(self);
        tokio::task::spawn_blocking(move || work(&reloader))
            .await
            .ok()
    }

    /// Reads both files; applies them only when both are valid. Records the outcome and logs it.
    pub fn reload_files(&self) -> Result<String, String> {
        let _one_at_a_time = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let outcome = self.read_and_apply();
        let now = clock::now_ms() as f64 / 1000.0;
        self.published.instance.record_reload(outcome.is_ok(), now);
        self.published.changed();
        match &outcome {
            Ok(what) => tracing::info!(changes = %what, "configuration reloaded"),
            Err(why) => {
                tracing::error!(error = %why, "reload refused; the previous configuration stays")
            }
        }
        outcome
    }

    fn read_and_apply(&self) -> Result<String, String> {
        let projects = match &self.file {
            Some(file) => {
                let all = file
                    .load(&self.base, &|name| std::env::var(name).ok())
                    .map_err(|e| e.to_string())?;
                Some(all.into_iter().filter(|p| self.shard.owns(&p.id)).collect())
            }
            None => None,
        };
        let web = self
            .web
            .prepare()
            .map_err(|e| format!("--web.config.file: {e}"))?;
        let changes = match projects {
            Some(projects) => self
                .fleet
                .apply(projects)
                .map_err(|e| format!("{e:#}"))?
                .to_string(),
            None => "no --config.file; projects unchanged".to_owned(),
        };
        self.web.install(web);
        Ok(changes)
    }

    /// Reloads on every SIGHUP until `shutdown`.
    pub async fn on_hangup(self: Arc<Self>, shutdown: CancellationToken) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut hangup = match signal(SignalKind::hangup()) {
                Ok(hangup) => hangup,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGHUP; reload with POST /-/reload");
                    return;
                }
            };
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = hangup.recv() => {
                        tracing::info!("SIGHUP: reloading the configuration");
                        // The outcome is logged and recorded by the reload itself.
                        let _ = self.off_the_workers(Reloader::reload_files).await;
                    }
                }
            }
        }
        #[cfg(not(unix))]
        shutdown.cancelled().await;
    }
}

/// `POST /-/reload`: the reload runs on a blocking thread (it reads files and may wait for
/// another reload), and the handler awaits it without holding an async worker.
impl Reload for Arc<Reloader> {
    fn reload(&self) -> BoxFuture<'static, Result<String, String>> {
        let reloader = Arc::clone(self);
        Box::pin(async move {
            reloader
                .off_the_workers(Reloader::reload_files)
                .await
                .unwrap_or_else(|| {
                    Err("the reload panicked; the previous configuration stays".into())
                })
        })
    }
}
