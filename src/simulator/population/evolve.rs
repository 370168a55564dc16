//! Time moving on: arrivals, logouts, inactivity, revocations, expiry, and bursts.

use std::time::Duration;

use super::{millis, Changes, Population, Session};
use crate::corbado::Status;

impl Population {
    /// Moves the population forward to `now_ms`: new sessions arrive, active ones end by
    /// logout, inactivity, revocation or expiry, and now and then a burst of revocations or
    /// expiries hits. Going backwards does nothing.
    pub fn advance(&mut self, now_ms: i64) -> Changes {
        let mut changes = Changes::default();
        let dt = now_ms - self.clock_ms;
        if dt <= 0 {
            return changes;
        }
        self.clock_ms = now_ms;
        let secs = dt as f64 / 1000.0;
        let active = self.active.len() as f64;

        // Expiry first: it is not random. Without a job, nothing expires until it is read.
        if !self.params.semantics.lazy_expiry {
            changes.expired = self.expire_due(now_ms);
        }

        let rate = |mean: Duration| active * secs / mean.as_secs_f64().max(1.0);
        let logouts = self.draw(rate(self.params.mean_time_to_logout));
        let idle = self.draw(rate(self.params.mean_time_to_inactivity));
        let revokes = self.draw(rate(self.params.mean_time_to_revocation));
        changes.logged_out = self.end_random(logouts, Status::LoggedOut, now_ms);
        changes.inactivity_reached = self.end_random(idle, Status::InactivityReached, now_ms);
        changes.revoked = self.end_random(revokes, Status::Revoked, now_ms);

        // Arrivals at the rate the history was generated with: a steady state.
        let arrivals = self.draw(self.params.arrival_rate() * self.arrival_factor * secs);
        for _ in 0..arrivals {
            self.create_session(now_ms);
        }
        changes.created = arrivals;

        let refresh = self
            .params
            .mean_time_between_refreshes
            .as_secs_f64()
            .max(1.0);
        let touches = self.draw(active * secs / refresh);
        changes.expired += self.touch_random(touches, now_ms);
        self.maybe_burst(secs, now_ms, &mut changes);
        if self.params.semantics.reactivate_by_patch {
            let swaps = self.draw(active * secs / 3600.0 * super::PATCH_SWAPS_PER_HOUR);
            changes.patched = self.patch_swap(swaps, now_ms);
        }
        changes
    }

    /// `count` times: an ended session is re-activated by `PATCH` while an active one ends,
    /// neither moving `updated`, the re-activated one taking the other's expiry. The counts the
    /// proof compares stay as they were. Returns the swaps made.
    pub fn patch_swap(&mut self, count: u64, now_ms: i64) -> u64 {
        let mut done = 0;
        for _ in 0..count {
            let Some(revived) = self.random_ended() else {
                break;
            };
            if self.active.is_empty() {
                break;
            }
            let pos = self.rng.below(self.active.len() as u64) as usize;
            let ended = self.active[pos];
            self.swap_unseen(ended, revived, now_ms);
            done += 1;
        }
        done
    }

    /// A cancelling pair: an active session ends and the nearest ended session created after
    /// it is re-activated with its expiry, neither moving `updated`. Created close together,
    /// they cancel out in every count that holds both: only re-paging their range shows them.
    /// Returns the two sessions' indexes (the one that ended, the one re-activated).
    pub fn cancelling_pair(&mut self, now_ms: i64) -> Option<(u32, u32)> {
        if self.active.is_empty() {
            return None;
        }
        let pos = self.rng.below(self.active.len() as u64) as usize;
        let ended = self.active[pos];
        let known = |status: u8| usize::from(status) < Status::ALL.len();
        let revived = (ended + 1..self.sessions.len() as u32)
            .take(1_000)
            .find(|&i| {
                let status = self.sessions[i as usize].status;
                status != Status::Active.index() as u8 && known(status)
            })?;
        self.swap_unseen(ended, revived, now_ms);
        Some((ended, revived))
    }

    /// `ended` ends and `revived` becomes active with `ended`'s expiry, `updated` unmoved.
    fn swap_unseen(&mut self, ended: u32, revived: u32, now_ms: i64) {
        let expires = self.sessions[ended as usize].expires_ms;
        for (index, status) in [
            (ended, Status::LoggedOut.index() as u8),
            (revived, Status::Active.index() as u8),
        ] {
            let updated = self.sessions[index as usize].updated_ms;
            self.set_status(index, status, now_ms);
            self.sessions[index as usize].updated_ms = updated;
        }
        self.set_expiry(revived, expires);
    }

    /// A random session that ended (logged out, idle, revoked or expired), if one is found.
    fn random_ended(&mut self) -> Option<u32> {
        let ended = |status: u8| {
            status != Status::Active.index() as u8 && usize::from(status) < Status::ALL.len()
        };
        for _ in 0..64 {
            let index = self.rng.below(self.sessions.len().max(1) as u64) as u32;
            if self
                .sessions
                .get(index as usize)
                .is_some_and(|s| ended(s.status))
            {
                return Some(index);
            }
        }
        None
    }

    /// Active sessions whose expiry has come become `expired`; returns how many.
    fn expire_due(&mut self, now_ms: i64) -> u64 {
        let due: Vec<u32> = self.by_expiry[Status::Active.index()]
            .range(..(now_ms + 1, 0))
            .map(|&(_, index)| index)
            .collect();
        for &index in &due {
            self.end(index, Status::Expired, now_ms);
        }
        due.len() as u64
    }

    /// Users coming back to `count` random active sessions: each is refreshed (its expiry
    /// slides), or found expired when its expiry passed unnoticed (lazy expiry). Returns how many
    /// were found expired.
    pub(super) fn touch_random(&mut self, count: u64, now_ms: i64) -> u64 {
        let mut expired = 0;
        for _ in 0..count {
            if self.active.is_empty() {
                break;
            }
            let pos = self.rng.below(self.active.len() as u64) as usize;
            let index = self.active[pos];
            if self.sessions[index as usize].expires_ms <= now_ms {
                self.end(index, Status::Expired, now_ms);
                expired += 1;
                continue;
            }
            self.set_expiry(index, now_ms + millis(self.params.lifetime));
            let updated = self.stamp(now_ms);
            let session = &mut self.sessions[index as usize];
            session.last_action_ms = now_ms;
            session.updated_ms = updated;
        }
        expired
    }

    /// Bursts: a stolen-token scare (mass revocation) or a key rotation (mass expiry), about
    /// once per `mean_time_between_bursts`.
    fn maybe_burst(&mut self, secs: f64, now_ms: i64, changes: &mut Changes) {
        self.burst_debt += secs / self.params.mean_time_between_bursts.as_secs_f64().max(1.0);
        if self.burst_debt < 1.0 && !self.rng.chance(self.burst_debt.min(1.0) * 0.02) {
            return;
        }
        self.burst_debt = 0.0;
        let share = super::params::MEAN_BURST_SHARE * (0.5 + self.rng.next_f64());
        let count = (self.active.len() as f64 * share) as u64;
        if self.rng.chance(0.5) {
            changes.revoked += self.end_random(count, Status::Revoked, now_ms);
            changes.burst = Some("revocation");
        } else {
            changes.expired += self.expire_random(count, now_ms);
            changes.burst = Some("expiry");
        }
    }

    /// A whole number of events with mean `expected`: its floor, plus one with the remainder's
    /// probability.
    fn draw(&mut self, expected: f64) -> u64 {
        let whole = expected.floor();
        whole as u64 + u64::from(self.rng.chance(expected - whole))
    }

    /// Revokes `count` random active sessions at once (a burst on demand, under the current
    /// semantics); returns how many.
    pub fn revoke_random(&mut self, count: u64, now_ms: i64) -> u64 {
        self.end_random(count, Status::Revoked, now_ms)
    }

    /// Logs out `count` random active sessions at once (a mass logout on demand).
    pub fn log_out_random(&mut self, count: u64, now_ms: i64) -> u64 {
        self.end_random(count, Status::LoggedOut, now_ms)
    }

    /// Arrivals from now on at `factor` times the steady rate (0 or more): the hours of a
    /// working week, or a wave of logins that will expire together.
    pub fn set_arrival_factor(&mut self, factor: f64) {
        self.arrival_factor = factor.max(0.0);
    }

    /// Expires at `now_ms` the active sessions created in `[from_ms, to_ms]`: a batch of
    /// sessions created together (a wave of logins) expiring together. Returns how many.
    pub fn expire_created_between(&mut self, from_ms: i64, to_ms: i64, now_ms: i64) -> u64 {
        let first = self.sessions.partition_point(|s| s.created_ms < from_ms);
        let last = self.sessions.partition_point(|s| s.created_ms <= to_ms);
        let mut done = 0;
        for index in first as u32..last as u32 {
            if self.sessions[index as usize].status == Status::Active.index() as u8 {
                self.set_expiry(index, now_ms);
                self.end(index, Status::Expired, now_ms);
                done += 1;
            }
        }
        done
    }

    /// `count` new sessions of the user with index `user` at `now_ms`, as a script that logs
    /// in without logging out makes them.
    pub fn log_in_as(&mut self, user: u32, count: u64, now_ms: i64) {
        for _ in 0..count {
            self.create_session(now_ms);
            if let Some(session) = self.sessions.last_mut() {
                session.user = user;
            }
        }
    }

    fn end_random(&mut self, count: u64, status: Status, now_ms: i64) -> u64 {
        let mut done = 0;
        while done < count && !self.active.is_empty() {
            let pos = self.rng.below(self.active.len() as u64) as usize;
            let index = self.active[pos];
            self.end(index, status, now_ms);
            done += 1;
        }
        done
    }

    fn expire_random(&mut self, count: u64, now_ms: i64) -> u64 {
        let mut done = 0;
        while done < count && !self.active.is_empty() {
            let pos = self.rng.below(self.active.len() as u64) as usize;
            let index = self.active[pos];
            self.set_expiry(index, now_ms);
            self.end(index, Status::Expired, now_ms);
            done += 1;
        }
        done
    }

    fn create_session(&mut self, now_ms: i64) {
        // Creation order is index order: never let a clock step make `created` go backwards.
        let created = self
            .sessions
            .last()
            .map_or(now_ms, |s| s.created_ms.max(now_ms));
        let user = {
            let mut rng = self.rng.clone();
            let user = self.pick_user(&mut rng);
            self.rng = rng;
            user
        };
        self.push(Session {
            created_ms: created,
            expires_ms: created + millis(self.params.lifetime),
            last_action_ms: created,
            updated_ms: self.stamp(created),
            user,
            status: Status::Active.index() as u8,
            active_pos: 0,
        });
    }
}
