//! The initial population: sessions spread over the history, the last lifetime as dense as live
//! arrivals make it ([`Params::arrival_rate`], so that a created-per-minute panel does not jump
//! when the simulator starts evolving), each recent one still active with the probability that it
//! has not ended since, statuses drawn with realistic weights.

use super::{millis, Params, Population, Session, DAY, SECOND};
use crate::corbado::Status;
use crate::rng::SplitMix64;

/// Statuses of sessions whose lifetime is over, with their weights.
const ENDED: [(Status, f64); 4] = [
    (Status::Expired, 0.5),
    (Status::LoggedOut, 0.3),
    (Status::InactivityReached, 0.14),
    (Status::Revoked, 0.06),
];
/// Statuses of sessions still within their lifetime that are not active, with their weights.
const ENDED_EARLY: [(Status, f64); 3] = [
    (Status::LoggedOut, 0.6),
    (Status::InactivityReached, 0.3),
    (Status::Revoked, 0.1),
];

/// Where the initial sessions' creation times fall: `older` spread evenly over the history before
/// the last lifetime, `recent` over the last lifetime (those may still be active).
struct Layout {
    now_ms: i64,
    lifetime: i64,
    history: i64,
    older: u64,
    recent: u64,
}

impl Layout {
    fn new(params: &Params, now_ms: i64) -> Self {
        let n = params.sessions;
        let lifetime = millis(params.lifetime);
        let arrivals = params.arrival_rate() * params.lifetime.as_secs_f64();
        let recent = n.min(arrivals.ceil() as u64).max(n / 100);
        Layout {
            now_ms,
            lifetime,
            history: millis(params.history).max(lifetime + DAY),
            older: n - recent,
            recent,
        }
    }

    /// Creation time of the `i`-th session, in whole seconds so that the API's second-resolution
    /// filters and exact window edges agree.
    fn created(&self, i: u64) -> i64 {
        let created = if i < self.older {
            let start = self.now_ms - self.history;
            start + ((self.history - self.lifetime) as f64 * i as f64 / self.older as f64) as i64
        } else {
            let start = self.now_ms - self.lifetime + SECOND;
            let j = i - self.older;
            start + ((self.lifetime - 2 * SECOND) as f64 * j as f64 / self.recent as f64) as i64
        };
        created / SECOND * SECOND
    }
}

impl Population {
    /// Generates the initial population as of `now_ms`.
    pub fn generate(params: Params, now_ms: i64) -> Self {
        let mut rng = SplitMix64::new(params.seed);
        let layout = Layout::new(&params, now_ms);
        let end_rate = params.end_rate();
        let mut population = Population {
            sessions: Vec::with_capacity(usize::try_from(params.sessions).unwrap_or(0)),
            by_status: Default::default(),
            by_expiry: Default::default(),
            active: Vec::new(),
            params,
            rng: SplitMix64::new(0),
            clock_ms: now_ms,
            burst_debt: 0.0,
            arrival_factor: 1.0,
        };
        for i in 0..population.params.sessions {
            let created = layout.created(i);
            let expires = created + layout.lifetime;
            let user = population.pick_user(&mut rng);
            let age_s = (now_ms - created) as f64 / 1000.0;
            let status = if expires <= now_ms {
                pick(&mut rng, &ENDED)
            } else if rng.chance((-end_rate * age_s).exp()) {
                Status::Active
            } else {
                pick(&mut rng, &ENDED_EARLY)
            };
            let span = (expires.min(now_ms) - created).max(1) as u64;
            let last_action = created + rng.below(span) as i64 / SECOND * SECOND;
            population.push(Session {
                created_ms: created,
                expires_ms: expires,
                last_action_ms: last_action,
                updated_ms: last_action,
                user,
                status: status.index() as u8,
                active_pos: 0,
            });
        }
        population.rng = rng;
        population
    }
}

fn pick(rng: &mut SplitMix64, weights: &[(Status, f64)]) -> Status {
    let mut x = rng.next_f64() * weights.iter().map(|(_, w)| w).sum::<f64>();
    for &(status, w) in weights {
        if x < w {
            return status;
        }
        x -= w;
    }
    weights[weights.len() - 1].0
}
