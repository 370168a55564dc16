//! What each strategy would cost a project per poll, in requests and in seconds at the request
//! budget, and the shortest `--poll.interval` that budget allows. Pure arithmetic on counts.

use serde::Serialize;

use super::Counted;
use crate::config::Settings;
use crate::corbado::{Status, DOCUMENTED_REQUESTS_PER_SECOND};
use crate::poller::{locating_cost, repage_share, Strategy};

/// Every strategy's cost for one project.
#[derive(Debug, Serialize)]
pub struct Costs {
    /// Requests per second the exporter may spend on the project.
    pub budget_per_second: f64,
    /// Where that budget comes from.
    pub budget_from: &'static str,
    pub strategies: Vec<StrategyCost>,
}

/// One strategy's cost.
#[derive(Debug, Serialize)]
pub struct StrategyCost {
    pub strategy: &'static str,
    /// Requests a steady poll makes.
    pub requests_per_poll: u64,
    /// How long those take at the budget's rate.
    pub seconds_per_poll: f64,
    /// Requests of a resync (re-paging every active session): no longer once per
    /// `--poll.resync-interval` but only when differences are too wide to locate, and then
    /// paced within the per-minute budget; 0 for strategies that do not keep a set.
    pub resync_requests: u64,
    /// Requests of the rolling re-page's slice, included in `requests_per_poll`: what keeps
    /// `--poll.resync-interval` (every held session re-paged that often) without a burst.
    pub repage_requests_per_poll: u64,
    /// Requests that locating and re-paging one wrong session costs (a failed proof or rolling
    /// check); 0 for strategies that do not keep a set.
    pub repair_requests_per_session: u64,
    /// The shortest `--poll.interval`, in whole seconds, at which polls and resyncs together
    /// stay within the budget; `None` when resyncs alone exceed it.
    pub shortest_interval_seconds: u64,
    /// Whether the strategy's numbers would be exact on this API (not when it ignores filters).
    pub exact: bool,
}

/// Pages of `n` sessions; an empty result still takes one request.
fn pages(n: u64, page_size: u32) -> u64 {
    n.div_ceil(u64::from(page_size.max(1))).max(1)
}

impl Costs {
    /// The costs for a project with `counted` sessions; `honoured` says whether its API honours
    /// filters.
    pub fn of(settings: &Settings, counted: &Counted, honoured: bool) -> Costs {
        let (budget_per_second, budget_from) = if settings.max_requests_per_second > 0.0 {
            (
                settings.max_requests_per_second,
                "--corbado.max-requests-per-second",
            )
        } else {
            (
                DOCUMENTED_REQUESTS_PER_SECOND,
                "Corbado's documented quota (no client-side limit)",
            )
        };
        let ps = settings.page_size;
        let counts = (1 + Status::ALL.len() + 3 * settings.windows.0.len()) as u64;
        let active = pages(counted.active_sessions, ps);
        let scan = pages(counted.total, ps);
        let slice = repage_slice(settings, counted.active_sessions);
        // The changes, the rolling check's two counts, and the rolling re-page's slice.
        let changes = pages(counted.updated_per_interval, ps)
            + pages(counted.created_per_interval, ps)
            + 2
            + slice;
        let repair = locating_cost(1, counted.active_sessions, ps);
        let cost = |strategy: Strategy, requests: u64, resync: u64, exact: bool| StrategyCost {
            strategy: strategy.as_str(),
            requests_per_poll: requests,
            seconds_per_poll: requests as f64 / budget_per_second,
            resync_requests: resync,
            repage_requests_per_poll: if resync > 0 { slice } else { 0 },
            repair_requests_per_session: if resync > 0 { repair } else { 0 },
            // No resync burst to make room for: the re-page is in every poll's requests.
            shortest_interval_seconds: shortest_interval(requests, budget_per_second),
            exact,
        };
        let strategies = vec![
            cost(Strategy::Scan, scan, 0, true),
            cost(Strategy::Filter, counts + active, 0, honoured),
            cost(Strategy::Incremental, counts + changes, active, honoured),
            if honoured {
                cost(Strategy::Auto, counts + changes, active, true)
            } else {
                cost(Strategy::Auto, counts + scan, 0, true)
            },
        ];
        Costs {
            budget_per_second,
            budget_from,
            strategies,
        }
    }

    /// The cost of `strategy`.
    pub fn of_strategy(&self, strategy: Strategy) -> Option<&StrategyCost> {
        self.strategies
            .iter()
            .find(|c| c.strategy == strategy.as_str())
    }

    /// A warning when the configured interval is shorter than the configured strategy needs.
    pub fn note_on_interval(&self, settings: &Settings) -> Option<String> {
        let cost = self.of_strategy(settings.strategy)?;
        let interval = settings.poll_interval.as_secs();
        let shortest = cost.shortest_interval_seconds;
        (shortest > interval).then(|| {
            format!(
                "--poll.interval {}s is shorter than `{}` needs at {}/s: at least {shortest}s",
                interval, cost.strategy, self.budget_per_second
            )
        })
    }
}

/// Requests of the rolling re-page's slice a poll: a quarter more than an even share of the
/// active sessions over the polls of one `--poll.resync-interval` (none when it is `0`).
fn repage_slice(settings: &Settings, active: u64) -> u64 {
    let held = usize::try_from(active).unwrap_or(usize::MAX);
    match repage_share(held, settings.resync_interval, settings.poll_interval) {
        0 => 0,
        share => share as u64 / u64::from(settings.page_size.max(1)) + 1,
    }
}

/// The shortest interval at which `requests` per poll fit in `rate` requests a second, in
/// whole seconds (at least 1).
fn shortest_interval(requests: u64, rate: f64) -> u64 {
    ((requests as f64 / rate).ceil() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The flags' defaults: 5 requests/s, a poll a minute, resyncs daily, pages of 100.
    fn settings() -> Settings {
        Settings::default()
    }

    fn counted(total: u64, active: u64, updated: u64, created: u64) -> Counted {
        Counted {
            total,
            by_status: Vec::new(),
            windows: Vec::new(),
            active_sessions: active,
            users_with_active_sessions: 0,
            user_active_sessions_max: 0,
            updated_per_interval: updated,
            created_per_interval: created,
        }
    }

    #[test]
    fn the_reference_project_costs_what_the_readme_says() {
        // 1,000,000 sessions, 50,000 active, ~500 changing a minute (docs/polling.md).
        let costs = Costs::of(&settings(), &counted(1_000_000, 50_000, 500, 500), true);
        let requests: Vec<u64> = costs
            .strategies
            .iter()
            .map(|c| c.requests_per_poll)
            .collect();
        // incremental: 15 counts, a page of each change walk, two check counts, one slice page.
        assert_eq!(requests, [10_000, 515, 28, 28]);
        let filter = costs.of_strategy(Strategy::Filter).expect("filter");
        assert_eq!(filter.seconds_per_poll, 103.0);
        assert_eq!(filter.shortest_interval_seconds, 103);
        // No daily burst of 500: a slice of 44 sessions (one page) a poll keeps the resync
        // interval, and the 28 requests fit in 6 s at 5/s.
        let auto = costs.of_strategy(Strategy::Auto).expect("auto");
        assert_eq!(auto.resync_requests, 500);
        assert_eq!(auto.repage_requests_per_poll, 1);
        assert_eq!(auto.shortest_interval_seconds, 6);
        // One wrong session among 50,000: the whole range's count, nine halvings of one count
        // each, and a page (poller/locating.rs).
        assert_eq!(auto.repair_requests_per_session, 11);
        assert_eq!(filter.repair_requests_per_session, 0);
        assert_eq!(costs.note_on_interval(&settings()), None);
    }

    #[test]
    fn an_api_that_ignores_filters_makes_auto_scan_and_the_others_inexact() {
        let costs = Costs::of(&settings(), &counted(20_000, 1_000, 10, 10), false);
        let auto = costs.of_strategy(Strategy::Auto).expect("auto");
        assert_eq!(auto.requests_per_poll, 15 + 200);
        assert!(auto.exact);
        assert!(!costs.of_strategy(Strategy::Filter).expect("filter").exact);
        // 215 requests take 43 s at 5/s: they fit in a minute, not in 30 seconds.
        assert_eq!(costs.note_on_interval(&settings()), None);
        let mut every_30s = settings();
        every_30s.poll_interval = Duration::from_secs(30);
        let note = costs.note_on_interval(&every_30s).expect("a note");
        assert!(note.contains("at least 43s"), "{note}");
    }

    #[test]
    fn a_poll_fits_in_the_shortest_interval_at_the_rate() {
        assert_eq!(shortest_interval(25, 5.0), 5);
        assert_eq!(
            shortest_interval(26, 5.0),
            6,
            "a second started counts whole"
        );
        assert_eq!(shortest_interval(0, 5.0), 1, "never under a second");
    }
}
