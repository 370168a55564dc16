//! The projects polled now, each with its own client, rate limiter, poller and store, and the
//! one place that starts and stops them: [`Fleet::apply`] takes the wanted list and starts what
//! was added, stops what was removed, restarts what changed and leaves the rest running, active
//! set and all.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::clock::Clock;
use crate::config::{InstanceView, ProjectConfig, Storage};
use crate::corbado::{Client, ClientMetrics, ClientOptions, Pager, PagingSettings, RetryPolicy};
use crate::journal::{Journal, Plan};
use crate::metrics::{ExporterMetrics, PseudonymKey, UserLabels};
use crate::poller::{PollMethod, PollSettings, Poller, ResyncReason, StateSettings};
use crate::published::Published;
use crate::snapshot::Store;
use crate::storage::{self, Identity};

/// Largest response body the client accepts.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// What every project shares: settings that are not per project.
#[derive(Clone, Debug)]
pub struct Shared {
    pub max_user_id_length: usize,
    /// `--per-user.id-key-file`: `user_id` values become pseudonyms.
    pub user_id_key: Option<PseudonymKey>,
    pub retry: RetryPolicy,
    pub clock: Clock,
    /// `--storage.path`: each project's state kept across restarts.
    pub storage: Option<Storage>,
}

/// One project being polled.
pub struct Project {
    pub config: ProjectConfig,
    pub store: Arc<Store>,
    pub poller: Arc<Poller>,
    /// Stops this project's poll loop (and only it).
    stop: CancellationToken,
    /// The poll loop, once polling has started.
    task: Option<JoinHandle<()>>,
}

impl Drop for Project {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// What a call of [`Fleet::apply`] did, by project ID.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub restarted: Vec<String>,
    pub kept: Vec<String>,
}

impl std::fmt::Display for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} project(s) added, {} removed, {} restarted, {} unchanged",
            self.added.len(),
            self.removed.len(),
            self.restarted.len(),
            self.kept.len()
        )
    }
}

/// The running projects.
pub struct Fleet {
    published: Arc<Published>,
    shared: Shared,
    /// The instance's part of `/config`, shown with the projects polled now.
    view: InstanceView,
    projects: Mutex<BTreeMap<String, Project>>,
    /// Set by [`Fleet::start_polling`]: from then on a started project polls at once. Tests
    /// that call `poll_once` themselves never set it.
    polling: AtomicBool,
    shutdown: CancellationToken,
}

impl Fleet {
    /// An empty fleet; every poll loop it starts stops with `shutdown`.
    pub fn new(
        published: Arc<Published>,
        shared: Shared,
        view: InstanceView,
        shutdown: CancellationToken,
    ) -> Self {
        Fleet {
            published,
            shared,
            view,
            projects: Mutex::new(BTreeMap::new()),
            polling: AtomicBool::new(false),
            shutdown,
        }
    }

    /// Makes `wanted` the projects polled. Everything new is built before anything changes, so
    /// an error (a client that cannot be built) leaves the running projects as they were.
    pub fn apply(&self, wanted: Vec<ProjectConfig>) -> anyhow::Result<Changes> {
        let mut projects = self.projects.lock().unwrap_or_else(|e| e.into_inner());
        let mut changes = Changes::default();
        let mut built = Vec::new();
        for config in &wanted {
            match projects.get(&config.id) {
                Some(running) if running.config == *config => changes.kept.push(config.id.clone()),
                Some(running) => {
                    changes.restarted.push(config.id.clone());
                    // The same API URL lists the same sessions: the set carries over.
                    let same_api = running.config.settings.api_url == config.settings.api_url;
                    let old = same_api.then_some(&*running.poller);
                    built.push(self.build(config.clone(), old)?);
                }
                None => {
                    changes.added.push(config.id.clone());
                    built.push(self.build(config.clone(), None)?);
                }
            }
        }
        let wanted_ids: std::collections::HashSet<&str> =
            wanted.iter().map(|c| c.id.as_str()).collect();
        changes.removed = projects
            .keys()
            .filter(|id| !wanted_ids.contains(id.as_str()))
            .cloned()
            .collect();
        for id in &changes.removed {
            // Dropping a project cancels its poll loop.
            projects.remove(id);
        }
        let polling = self.polling.load(Ordering::Acquire);
        for mut project in built {
            if polling {
                project.task = Some(self.spawn(&project));
            }
            projects.insert(project.config.id.clone(), project);
        }
        self.published
            .set_stores(projects.values().map(|p| Arc::clone(&p.store)).collect());
        let configs: Vec<&ProjectConfig> = projects.values().map(|p| &p.config).collect();
        self.published
            .set_effective_config(self.view.render(&configs));
        Ok(changes)
    }

    /// Starts the poll loop of every project, and of every project added later.
    pub fn start_polling(&self) {
        let mut projects = self.projects.lock().unwrap_or_else(|e| e.into_inner());
        self.polling.store(true, Ordering::Release);
        for project in projects.values_mut() {
            if project.task.is_none() {
                project.task = Some(self.spawn(project));
            }
        }
    }

    /// Stops every poll loop and waits for them to end.
    pub async fn stop(&self) {
        let tasks: Vec<JoinHandle<()>> = {
            let mut projects = self.projects.lock().unwrap_or_else(|e| e.into_inner());
            projects
                .values_mut()
                .filter_map(|p| p.task.take())
                .collect()
        };
        self.shutdown.cancel();
        for task in tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a poll loop ended abnormally");
            }
        }
    }

    /// The store and poller of `project_id`, if it is polled here.
    pub fn project(&self, project_id: &str) -> Option<(Arc<Store>, Arc<Poller>)> {
        let projects = self.projects.lock().unwrap_or_else(|e| e.into_inner());
        projects
            .get(project_id)
            .map(|p| (Arc::clone(&p.store), Arc::clone(&p.poller)))
    }

    /// The IDs of the projects polled here, sorted.
    pub fn project_ids(&self) -> Vec<String> {
        let projects = self.projects.lock().unwrap_or_else(|e| e.into_inner());
        projects.keys().cloned().collect()
    }

    fn spawn(&self, project: &Project) -> JoinHandle<()> {
        let poller = Arc::clone(&project.poller);
        let stop = project.stop.clone();
        let span = tracing::info_span!("project", project_id = %project.config.id);
        tokio::spawn(async move { poller.run(stop).await }.instrument(span))
    }

    /// A project's client, poller and store, not yet polling; with `old`, the poller takes over
    /// `old`'s active set.
    fn build(&self, config: ProjectConfig, old: Option<&Poller>) -> anyhow::Result<Project> {
        let settings = &config.settings;
        let metrics = ExporterMetrics::new(&config.id, &PollMethod::LABELS, &ResyncReason::LABELS)?;
        let journal = Journal::new(Plan {
            strategy: settings.strategy.as_str(),
            interval: settings.poll_interval,
            max_requests_per_second: settings.max_requests_per_second,
            clock: self.shared.clock.clone(),
        });
        let client_metrics = ClientMetrics {
            requests_total: metrics.api_requests.clone(),
            request_duration: metrics.api_request_duration.clone(),
            recent: Arc::clone(&journal.requests),
        };
        let store = Arc::new(Store::new(
            &config.id,
            settings.windows.clone(),
            settings.max_staleness,
            metrics,
            UserLabels {
                max_id_length: self.shared.max_user_id_length,
                pseudonym_key: self.shared.user_id_key.clone(),
            },
            journal,
        ));
        let client = Client::new(
            ClientOptions {
                api_url: settings.api_url.clone(),
                project_id: config.id.clone(),
                secret: config.secret.clone(),
                timeout: settings.timeout,
                max_requests_per_second: settings.max_requests_per_second,
                max_body_bytes: MAX_BODY_BYTES,
                retry: self.shared.retry.clone(),
                ca_certificates: config.ca.certificates.clone(),
            },
            client_metrics,
        )?;
        let paging = PagingSettings {
            page_size: settings.page_size,
            concurrency: settings.concurrency,
        };
        let poll_settings = self.poll_settings(&config);
        let pager = Pager::new(Arc::new(client), paging);
        let poller = Arc::new(match old {
            Some(old) => Poller::succeeding(old, pager, Arc::clone(&store), poll_settings),
            None => Poller::new(pager, Arc::clone(&store), poll_settings),
        });
        Ok(Project {
            config,
            store,
            poller,
            stop: self.shutdown.child_token(),
            task: None,
        })
    }

    /// What a project's poller needs of its settings, and where it keeps its state.
    fn poll_settings(&self, config: &ProjectConfig) -> PollSettings {
        let settings = &config.settings;
        PollSettings {
            strategy: settings.strategy,
            windows: settings.window_durations(),
            top_k: settings.top_k,
            interval: settings.poll_interval,
            resync_interval: settings.resync_interval,
            verify_interval: settings.verify_interval,
            change_overlap: settings.change_overlap,
            clock: self.shared.clock.clone(),
            state: self.shared.storage.as_ref().map(|s| StateSettings {
                path: storage::path_for(&s.dir, &config.id),
                identity: Identity {
                    project_id: config.id.clone(),
                    api_url: settings.api_url.clone(),
                },
                save_interval: s.save_interval,
            }),
        }
    }
}
