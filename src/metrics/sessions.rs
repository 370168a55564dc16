//! The session gauges of one poll, made once from a [`Summary`] into metric families: the
//! counted ones ([`count_families`]) and the per-user ones, which come from the active set
//! ([`user_families`]) and may be of an earlier poll. The families are a table: a name, a HELP
//! text, and where the value comes from.

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Bucket, Histogram, Metric, MetricFamily, MetricType};
use prometheus::{IntGauge, IntGaugeVec, Opts};

use super::{gauge_value, project_registry, Definition, UserLabels};
use crate::aggregate::{Summary, Window, USER_BUCKETS};
use crate::corbado::Status;

/// Said in every counted session gauge's HELP: they describe the last successful poll.
const AS_OF: &str = "As of the last successful poll.";
/// Said in every per-user gauge's HELP.
const AS_OF_SET: &str =
    "As of the last complete active set (corbado_exporter_active_set_timestamp_seconds).";

const SESSIONS: Definition = Definition {
    name: "corbado_sessions",
    help: "Sessions per status; statuses outside the documented enum count as unknown.",
};

const ACTIVE_SESSIONS_PER_USER: Definition = Definition {
    name: "corbado_active_sessions_per_user",
    help: "One observation per user holding an active session: its number of active sessions \
           (_count is corbado_users_with_active_sessions, _sum the active sessions they hold).",
};

const TOP_USERS: Definition = Definition {
    name: "corbado_user_active_sessions",
    help: "Active sessions of the top-k users by active sessions (ties by user ID); IDs longer \
           than --per-user.max-id-length as sha256:<16 hex digits>, an empty ID as (empty).",
};

/// Where a `window`-labelled family's values come from: one per window, in window order.
type PerWindow = fn(&Summary) -> &[u64];
/// Where an unlabelled gauge's value comes from.
type Single = fn(&Summary) -> u64;

/// The `window`-labelled families, each with the per-window values it shows.
const WINDOW_FAMILIES: [(Definition, PerWindow); 3] = [
    (
        Definition {
            name: "corbado_sessions_created_in_window",
            help: "Sessions of any status created within the last window.",
        },
        |s| &s.created_in_window,
    ),
    (
        Definition {
            name: "corbado_sessions_expiring_in_window",
            help: "Active sessions that expire within the next window.",
        },
        |s| &s.expiring_in_window,
    ),
    (
        Definition {
            name: "corbado_sessions_expired_in_window",
            help: "Expired sessions whose expiry lies within the last window.",
        },
        |s| &s.expired_in_window,
    ),
];

/// The unlabelled per-user gauges and their values.
const USER_GAUGES: [(Definition, Single); 2] = [
    (
        Definition {
            name: "corbado_users_with_active_sessions",
            help: "Distinct users holding at least one active session.",
        },
        |s| s.users_with_active_sessions,
    ),
    (
        Definition {
            name: "corbado_user_active_sessions_max",
            help: "The most active sessions one user holds.",
        },
        |s| s.user_active_sessions_max,
    ),
];

/// `corbado_active_sessions_per_user`: a histogram made from a finished count of users per
/// bucket (the `prometheus` crate's own histogram only takes observations one by one).
#[derive(Clone)]
struct PerUser {
    desc: Desc,
    family: MetricFamily,
}

impl PerUser {
    fn of(summary: &Summary) -> prometheus::Result<Self> {
        let help = format!("{} {AS_OF_SET}", ACTIVE_SESSIONS_PER_USER.help);
        let name = ACTIVE_SESSIONS_PER_USER.name;
        let mut histogram = Histogram::default();
        let buckets = USER_BUCKETS
            .iter()
            .zip(&summary.users_by_active_sessions)
            .filter(|(&bound, _)| bound != u64::MAX)
            .map(|(&bound, &users)| {
                let mut bucket = Bucket::default();
                bucket.set_upper_bound(bound as f64);
                bucket.set_cumulative_count(users);
                bucket
            })
            .collect();
        histogram.set_bucket(buckets);
        histogram.set_sample_count(summary.users_with_active_sessions);
        histogram.set_sample_sum(summary.user_active_sessions_sum as f64);
        let mut metric = Metric::default();
        metric.set_histogram(histogram);
        let mut family = MetricFamily::default();
        family.set_name(name.to_owned());
        family.set_help(help.clone());
        family.set_field_type(MetricType::HISTOGRAM);
        family.set_metric(vec![metric]);
        Ok(PerUser {
            desc: Desc::new(name.to_owned(), help, Vec::new(), Default::default())?,
            family,
        })
    }
}

impl Collector for PerUser {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        vec![self.family.clone()]
    }
}

fn opts(d: Definition) -> Opts {
    Opts::new(d.name, format!("{} {AS_OF}", d.help))
}

fn user_opts(d: Definition) -> Opts {
    Opts::new(d.name, format!("{} {AS_OF_SET}", d.help))
}

/// Renders every session gauge of one poll into one text, as the golden test pins it. The
/// exporter itself renders the counted and the per-user families apart ([`count_families`],
/// [`user_families`]), as the snapshot store publishes them apart.
#[cfg(feature = "test-support")]
pub fn render_sessions(
    summary: &Summary,
    project_id: &str,
    windows: &[Window],
    user_labels: &UserLabels,
) -> anyhow::Result<String> {
    let mut text = super::text_of(&count_families(summary, project_id, windows)?);
    text.push_str(&super::text_of(&user_families(
        summary,
        project_id,
        user_labels,
    )?));
    Ok(text)
}

/// The counted session gauges as families: per status, and per window.
pub fn count_families(
    summary: &Summary,
    project_id: &str,
    windows: &[Window],
) -> anyhow::Result<Vec<MetricFamily>> {
    let registry = project_registry(project_id)?;

    let sessions = IntGaugeVec::new(opts(SESSIONS), &["status"])?;
    for status in Status::ALL {
        sessions
            .with_label_values(&[status.as_str()])
            .set(gauge_value(summary.count(status)));
    }
    sessions
        .with_label_values(&["unknown"])
        .set(gauge_value(summary.statuses.unknown));
    registry.register(Box::new(sessions))?;

    for (definition, values) in WINDOW_FAMILIES {
        let family = IntGaugeVec::new(opts(definition), &["window"])?;
        for (window, value) in windows.iter().zip(values(summary)) {
            family
                .with_label_values(&[&window.label])
                .set(gauge_value(*value));
        }
        registry.register(Box::new(family))?;
    }
    Ok(registry.gather())
}

/// The per-user gauges as families.
pub fn user_families(
    summary: &Summary,
    project_id: &str,
    user_labels: &UserLabels,
) -> anyhow::Result<Vec<MetricFamily>> {
    let registry = project_registry(project_id)?;
    for (definition, value) in USER_GAUGES {
        let gauge = IntGauge::with_opts(user_opts(definition))?;
        gauge.set(gauge_value(value(summary)));
        registry.register(Box::new(gauge))?;
    }
    registry.register(Box::new(PerUser::of(summary)?))?;
    if !summary.top_users.is_empty() {
        let top = IntGaugeVec::new(user_opts(TOP_USERS), &["user_id"])?;
        for user in &summary.top_users {
            top.with_label_values(&[user_labels.label(&user.user_id).as_ref()])
                .set(gauge_value(user.active_sessions));
        }
        registry.register(Box::new(top))?;
    }
    Ok(registry.gather())
}
