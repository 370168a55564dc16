//! How a simulated population is generated and evolves, and what one step of evolution did.

use std::time::Duration;

/// How the population is generated and how it evolves.
#[derive(Clone, Debug)]
pub struct Params {
    pub seed: u64,
    /// Sessions in the initial population.
    pub sessions: u64,
    /// Distinct users sessions are drawn from (skewed: a few users hold many sessions).
    pub users: u32,
    /// Active sessions in the initial population, roughly.
    pub active: u64,
    /// How long a session lives before it expires.
    pub lifetime: Duration,
    /// How far back the oldest session was created.
    pub history: Duration,
    /// Mean time an active session lasts before its user logs out.
    pub mean_time_to_logout: Duration,
    /// Mean time before an active session ends by inactivity.
    pub mean_time_to_inactivity: Duration,
    /// Mean time before an active session is revoked (outside bursts).
    pub mean_time_to_revocation: Duration,
    /// Mean time between bursts of revocations or expiries.
    pub mean_time_between_bursts: Duration,
    /// Mean time between two refreshes of one active session (its user comes back: `lastAction`
    /// and `updated` move, and the expiry slides to a full lifetime from then).
    pub mean_time_between_refreshes: Duration,
    /// How the API behaves where nobody has verified it.
    pub semantics: Semantics,
}

/// The API's behaviours that nobody has verified, each a switch. The default is what the API
/// reference suggests: `updated` moves on creation, on every status change and on refresh; a job
/// sets `expired` when the expiry passes; revoked sessions stay listed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Semantics {
    /// Ending a session (logout, inactivity, revocation, expiry) leaves `updated` alone.
    pub ended_keeps_updated: bool,
    /// No job expires sessions: one past its expiry stays `active` until its user comes back,
    /// when it is found expired.
    pub lazy_expiry: bool,
    /// Revoking a session deletes it from the list.
    pub delete_revoked: bool,
    /// `updated` is stamped this far behind the clock: the API's clock lags the exporter's.
    pub updated_lag: Duration,
    /// Someone re-activates ended sessions by `PATCH` (an older API allowed any status), each
    /// while another active session ends: both keep `updated`, and the re-activated one takes
    /// the ended one's expiry, so neither a change query nor the proof's counts can see it.
    /// About 1% of the active sessions an hour.
    pub reactivate_by_patch: bool,
}

/// The share of the active sessions a burst ends, on average (5% to 15%).
pub const MEAN_BURST_SHARE: f64 = 0.10;

/// Share of the active sessions swapped an hour under [`Semantics::reactivate_by_patch`].
pub const PATCH_SWAPS_PER_HOUR: f64 = 0.01;

impl Params {
    /// A realistic project of `sessions` sessions: 5% active, one user per 50 sessions.
    pub fn realistic(sessions: u64, seed: u64) -> Self {
        Params {
            seed,
            sessions,
            users: u32::try_from((sessions / 50).max(1)).unwrap_or(u32::MAX),
            active: sessions / 20,
            lifetime: Duration::from_secs(24 * 3600),
            history: Duration::from_secs(90 * 24 * 3600),
            mean_time_to_logout: Duration::from_secs(8 * 3600),
            mean_time_to_inactivity: Duration::from_secs(16 * 3600),
            mean_time_to_revocation: Duration::from_secs(10 * 24 * 3600),
            mean_time_between_bursts: Duration::from_secs(20 * 60),
            mean_time_between_refreshes: Duration::from_secs(10 * 60),
            semantics: Semantics::default(),
        }
    }

    /// Ends per second per active session: logouts, inactivity, revocations, and the bursts'
    /// share spread over the time between them. Arrivals make up for all of them, so a
    /// population stays at its level through its bursts (a burst dips it, new sessions bring it
    /// back), and the history is generated in that same steady state.
    pub fn end_rate(&self) -> f64 {
        let ends: f64 = [
            self.mean_time_to_logout,
            self.mean_time_to_inactivity,
            self.mean_time_to_revocation,
        ]
        .iter()
        .map(|mean| 1.0 / mean.as_secs_f64().max(1.0))
        .sum();
        ends + MEAN_BURST_SHARE / self.mean_time_between_bursts.as_secs_f64().max(1.0)
    }

    /// New sessions per second, in the history and live alike: the rate at which, with sessions
    /// ending at [`Self::end_rate`] or at the end of their lifetime, about `active` are active.
    pub fn arrival_rate(&self) -> f64 {
        let rate = self.end_rate();
        let kept = 1.0 - (-rate * self.lifetime.as_secs_f64()).exp();
        self.active as f64 * rate / kept.max(1e-9)
    }
}

impl Params {
    /// [`Params::realistic`], with the clock of events sped up for `--demo`: users log out,
    /// go idle and get revoked a few times faster, and a burst comes every ten minutes or so, so
    /// that a dashboard shows movement within the first minutes instead of the first hour. One
    /// session in 40 is active: at that churn, the arrivals of a day (which make up for every
    /// ending, bursts included) take most of `sessions`.
    pub fn demo(sessions: u64, seed: u64) -> Self {
        Params {
            active: sessions / 40,
            users: u32::try_from((sessions / 100).max(1)).unwrap_or(u32::MAX),
            mean_time_to_logout: Duration::from_secs(2 * 3600),
            mean_time_to_inactivity: Duration::from_secs(4 * 3600),
            mean_time_to_revocation: Duration::from_secs(24 * 3600),
            mean_time_between_bursts: Duration::from_secs(10 * 60),
            ..Params::realistic(sessions, seed)
        }
    }
}

/// What one [`super::Population::advance`] did; the demo logs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub created: u64,
    pub logged_out: u64,
    pub inactivity_reached: u64,
    pub revoked: u64,
    pub expired: u64,
    /// Re-activations by `PATCH`, each paired with an ending (see [`Semantics`]).
    pub patched: u64,
    pub burst: Option<&'static str>,
}
