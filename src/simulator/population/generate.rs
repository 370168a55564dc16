//! The initial population: sessions spread over the history, the last lifetime dense enough that
//! about `Params::active` of them are active now, statuses drawn with realistic weights.

use super::{millis, Params, Population, Session, DAY, SECOND};
use crate::corbado::Status;
use crate::rng::SplitMix64;

impl Population {
    /// Generates the initial population as of `now_ms`.
    pub fn generate(params: Params, now_ms: i64) -> Self {
        let mut rng = SplitMix64::new(params.seed);
        let n = params.sessions;
        let lifetime = millis(params.lifetime);
        let history = millis(params.history).max(lifetime + DAY);
        // Sessions that may still be active sit in the last lifetime; put enough there for
        // `active` of them to be active, spread the rest over the history before it.
        let recent = n
            .min(((params.active as f64) / 0.8).ceil() as u64)
            .max(n / 100);
        let older = n - recent;
        let mut population = Population {
            sessions: Vec::with_capacity(usize::try_from(n).unwrap_or(0)),
            by_status: Default::default(),
            by_expiry: Default::default(),
            active: Vec::new(),
            params,
            rng: SplitMix64::new(0),
            clock_ms: now_ms,
            burst_debt: 0.0,
        };
        let p_active = if recent == 0 {
            0.0
        } else {
            (population.params.active as f64 / recent as f64).min(1.0)
        };
        // Whole seconds, so that the API's second-resolution filters and exact window edges agree.
        let old_start = now_ms - history;
        let recent_start = now_ms - lifetime + SECOND;
        for i in 0..n {
            let created = if i < older {
                old_start + ((history - lifetime) as f64 * i as f64 / older as f64) as i64
            } else {
                let j = i - older;
                recent_start + ((lifetime - 2 * SECOND) as f64 * j as f64 / recent as f64) as i64
            };
            let created = created / SECOND * SECOND;
            let expires = created + lifetime;
            let user = population.pick_user(&mut rng);
            let status = if expires <= now_ms {
                pick(
                    &mut rng,
                    &[
                        (Status::Expired, 0.5),
                        (Status::LoggedOut, 0.3),
                        (Status::InactivityReached, 0.14),
                        (Status::Revoked, 0.06),
                    ],
                )
            } else if rng.chance(p_active) {
                Status::Active
            } else {
                pick(
                    &mut rng,
                    &[
                        (Status::LoggedOut, 0.6),
                        (Status::InactivityReached, 0.3),
                        (Status::Revoked, 0.1),
                    ],
                )
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
