//! `corbado-exporter check`: before a deployment, one pass per project that tries the
//! credentials, checks that the API honours its filters, counts the sessions and pages the
//! active ones, and works out what each strategy would cost per poll and the shortest
//! `--poll.interval` the request budget allows.
//!
//! It polls as the exporter would, with the project's own client and rate limit, always under
//! `auto` (whatever strategy is configured), so that the filter checks run: one poll pages the
//! active sessions (what `filter` and a resync cost), a second is a steady `incremental` one.
//! Two `pageSize=1` counts more tell how many sessions change in one interval. Nothing is served.
//!
//! - [`cost`]: the arithmetic of requests per poll, and the shortest interval.
//! - [`report`]: the table for people and the JSON for scripts.

pub mod cost;
pub mod report;

use std::sync::Arc;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::app::{self, Fleet, Shared};
use crate::config::{Config, InstanceView, ProjectConfig, Source};
use crate::corbado::{ApiError, Field, Filter, Op};
use crate::metrics::InstanceMetrics;
use crate::poller::{Poller, Strategy};
use crate::published::Published;
use crate::snapshot::Store;
pub use cost::{Costs, StrategyCost};

/// What the check found for one project.
#[derive(Debug, Serialize)]
pub struct ProjectCheck {
    pub project_id: String,
    /// `ok`, `refused` (401/403) or `failed`.
    pub credentials: &'static str,
    /// Whether the API honours `filter[]`; `None` when the check did not get that far.
    pub filters_honoured: Option<bool>,
    pub counts: Option<Counted>,
    pub costs: Option<Costs>,
    /// Whether the exporter can poll this project, exactly, as configured.
    pub pollable: bool,
    /// Why not, or what to keep in mind.
    pub notes: Vec<String>,
    /// API requests this check made for the project.
    pub requests_made: u64,
}

/// The project's sessions, as counted.
#[derive(Debug, Serialize)]
pub struct Counted {
    pub total: u64,
    /// In the API's order; a JSON object.
    #[serde(serialize_with = "in_order")]
    pub by_status: Vec<(&'static str, u64)>,
    /// Per window label: created, expiring, expired.
    pub windows: Vec<WindowCounts>,
    pub active_sessions: u64,
    pub users_with_active_sessions: u64,
    pub user_active_sessions_max: u64,
    /// Sessions updated and created in the last `--poll.interval`.
    pub updated_per_interval: u64,
    pub created_per_interval: u64,
}

/// Pairs as a JSON object, in their order.
fn in_order<S: serde::Serializer>(
    pairs: &[(&'static str, u64)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

#[derive(Debug, Serialize)]
pub struct WindowCounts {
    pub window: String,
    pub created: u64,
    pub expiring: u64,
    pub expired: u64,
}

/// Checks every project the configuration names for this instance (in `--demo`, the built-in
/// simulator's), at once, each at its own rate.
pub async fn run(config: Config) -> anyhow::Result<Vec<ProjectCheck>> {
    let shutdown = CancellationToken::new();
    let (projects, _simulator) = match &config.source {
        Source::Demo => {
            let (project, sim) = app::demo(&config, &shutdown).await?;
            (vec![project], Some(sim))
        }
        _ => (config.projects(), None),
    };
    let instance = InstanceMetrics::new(config.shard.ordinal, config.shard.total)?;
    let fleet = Fleet::new(
        Arc::new(Published::new(instance)),
        Shared {
            max_user_id_length: config.max_user_id_length,
            user_id_key: None,
            retry: config.retry.clone(),
            clock: config.clock.clone(),
            // `check` neither reads nor writes the exporter's state.
            storage: None,
        },
        InstanceView::of(&config),
        shutdown.child_token(),
    );
    fleet.apply(projects.iter().map(under_auto).collect())?;
    let checks = projects.iter().map(|project| {
        let fleet = &fleet;
        async move {
            match fleet.project(&project.id) {
                Some((store, poller)) => check(project, &store, &poller).await,
                None => unreachable_project(project),
            }
        }
    });
    let results = futures_util::future::join_all(checks).await;
    shutdown.cancel();
    Ok(results)
}

/// `project` with the `auto` strategy, whose checks tell whether the filters hold.
fn under_auto(project: &ProjectConfig) -> ProjectConfig {
    let mut probe = project.clone();
    probe.settings.strategy = Strategy::Auto;
    probe
}

fn unreachable_project(project: &ProjectConfig) -> ProjectCheck {
    ProjectCheck {
        project_id: project.id.clone(),
        credentials: "failed",
        filters_honoured: None,
        counts: None,
        costs: None,
        pollable: false,
        notes: vec!["the project's client could not be built".into()],
        requests_made: 0,
    }
}

/// One project's check: two polls under `auto`, two counts, then the arithmetic.
async fn check(project: &ProjectConfig, store: &Store, poller: &Poller) -> ProjectCheck {
    let mut result = ProjectCheck {
        project_id: project.id.clone(),
        credentials: "ok",
        filters_honoured: None,
        counts: None,
        costs: None,
        pollable: false,
        notes: Vec::new(),
        requests_made: 0,
    };
    let outcome = probe(project, store, poller, &mut result).await;
    if let Err(error) = outcome {
        let refused = error
            .chain()
            .any(|e| matches!(e.downcast_ref(), Some(ApiError::Unauthorized { .. })));
        result.credentials = if refused { "refused" } else { "failed" };
        result.notes.push(format!("{error:#}"));
    }
    result.requests_made = store.journal.requests_last_hour();
    result
}

/// The polls and counts of [`check`]; fills `result` as far as it gets.
async fn probe(
    project: &ProjectConfig,
    store: &Store,
    poller: &Poller,
    result: &mut ProjectCheck,
) -> anyhow::Result<()> {
    let first = poller.poll_once().await?;
    let mut honoured = !first.fell_back;
    if honoured {
        // A steady poll runs the change queries, and `auto` checks what they return.
        honoured = !poller.poll_once().await?.fell_back;
    }
    result.filters_honoured = Some(honoured);
    let snapshot = store
        .snapshot()
        .ok_or_else(|| anyhow::anyhow!("a successful poll published nothing"))?;
    let (updated, created) = if honoured {
        changes_per_interval(project, poller).await?
    } else {
        (0, 0)
    };
    let counted = counted(project, &snapshot.summary, updated, created);
    let costs = Costs::of(&project.settings, &counted, honoured);
    let strategy = project.settings.strategy;
    result.pollable = honoured || matches!(strategy, Strategy::Auto | Strategy::Scan);
    if !honoured {
        result.notes.push(format!(
            "the API does not honour filter[]: `auto` scans every session (exact, at scan's \
             cost){}",
            match strategy {
                Strategy::Filter | Strategy::Incremental => format!(
                    "; `{}` would export wrong numbers, configure `auto` or `scan`",
                    strategy.as_str()
                ),
                _ => String::new(),
            }
        ));
    }
    if let Some(note) = costs.note_on_interval(&project.settings) {
        result.notes.push(note);
    }
    result.counts = Some(counted);
    result.costs = Some(costs);
    Ok(())
}

/// Sessions updated and created in the last `--poll.interval`: what a steady `incremental`
/// poll pages.
async fn changes_per_interval(
    project: &ProjectConfig,
    poller: &Poller,
) -> anyhow::Result<(u64, u64)> {
    let now = poller.now_ms() / 1000;
    let since = now - project.settings.poll_interval.as_secs() as i64;
    let pager = poller.pager();
    let updated = pager
        .count(&[Filter::time(Field::Updated, Op::Gt, since)])
        .await?;
    let created = pager
        .count(&[Filter::time(Field::Created, Op::Gt, since)])
        .await?;
    Ok((updated, created))
}

fn counted(
    project: &ProjectConfig,
    summary: &crate::aggregate::Summary,
    updated: u64,
    created: u64,
) -> Counted {
    use crate::corbado::Status;
    let mut by_status: Vec<(&'static str, u64)> = Status::ALL
        .iter()
        .map(|&s| (s.as_str(), summary.count(s)))
        .collect();
    by_status.push(("unknown", summary.statuses.unknown));
    let windows = project
        .settings
        .windows
        .0
        .iter()
        .enumerate()
        .map(|(i, w)| WindowCounts {
            window: w.label.clone(),
            created: summary.created_in_window.get(i).copied().unwrap_or(0),
            expiring: summary.expiring_in_window.get(i).copied().unwrap_or(0),
            expired: summary.expired_in_window.get(i).copied().unwrap_or(0),
        })
        .collect();
    Counted {
        total: summary.total(),
        by_status,
        windows,
        active_sessions: summary.statuses.active,
        users_with_active_sessions: summary.users_with_active_sessions,
        user_active_sessions_max: summary.user_active_sessions_max,
        updated_per_interval: updated,
        created_per_interval: created,
    }
}
