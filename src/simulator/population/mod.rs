//! The simulated project's sessions: their storage and the indexes that keep queries cheap.
//! What is done with them lives beside this file: [`generate`] (the initial population),
//! [`evolve`] (time moving on), [`query`] (the list endpoint's filters, sort and paging),
//! [`json`] (the wire form) and `truth` (the exact expected gauges, the tests' and benches'
//! oracle, compiled only for them: the `test-support` feature).
//!
//! Sessions live in one `Vec` in creation order (a session's index is its identity, and its ID
//! `ses-<index>` sorts the same way), so the unfiltered list and any `created` range are slices
//! found by binary search. Per-status sets of indexes and per-status `(expires, index)` sets let a
//! filtered count touch only the sessions it counts. About 48 bytes a session plus ~40 bytes of
//! index: a million sessions take ~90 MB.
//!
//! Everything is deterministic under the seed: the same seed and the same sequence of
//! [`Population::advance`] instants give the same sessions.

mod evolve;
mod generate;
mod json;
mod params;
mod query;
#[cfg(any(test, feature = "test-support"))]
mod truth;

use std::collections::BTreeSet;

use crate::corbado::Status;
use crate::rng::SplitMix64;
pub use params::{Changes, Params, Semantics, PATCH_SWAPS_PER_HOUR};
pub use query::PageResult;

/// Status codes as stored: the five documented ones by [`Status::index`], then one value outside
/// the enum, for fault injection, then sessions deleted from the list (revoked, under
/// [`Semantics::delete_revoked`]), which no query returns or counts.
const UNKNOWN: u8 = 5;
const DELETED: u8 = 6;
const STATUS_SLOTS: usize = 7;
/// The wire value of the out-of-enum status.
pub const UNKNOWN_STATUS_VALUE: &str = "suspended";

pub(crate) const SECOND: i64 = 1000;
const HOUR: i64 = 3600 * SECOND;
const DAY: i64 = 24 * HOUR;

#[derive(Clone, Debug)]
struct Session {
    created_ms: i64,
    expires_ms: i64,
    last_action_ms: i64,
    updated_ms: i64,
    user: u32,
    status: u8,
    /// Position in `Population::active` while active.
    active_pos: u32,
}

/// The simulated project.
pub struct Population {
    sessions: Vec<Session>,
    by_status: [BTreeSet<u32>; STATUS_SLOTS],
    by_expiry: [BTreeSet<(i64, u32)>; STATUS_SLOTS],
    active: Vec<u32>,
    params: Params,
    rng: SplitMix64,
    clock_ms: i64,
    burst_debt: f64,
    /// Arrivals run at this multiple of [`Params::arrival_rate`]: a bench acts out the hours
    /// of a working week, or a wave of logins, with it. 1 keeps the steady state.
    arrival_factor: f64,
}

impl Population {
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// The instant the population was last generated or advanced to.
    pub fn clock_ms(&self) -> i64 {
        self.clock_ms
    }

    /// Active sessions right now.
    pub fn active_count(&self) -> usize {
        self.active.len()
    }

    /// Sessions the list shows: all but the deleted ones.
    pub fn listed(&self) -> usize {
        self.sessions.len() - self.deleted()
    }

    fn pick_user(&self, rng: &mut SplitMix64) -> u32 {
        // Quadratic skew: user 0 draws ~1/sqrt(users) of all sessions, most users a handful.
        let u = rng.next_f64();
        ((u * u) * f64::from(self.params.users)) as u32
    }

    fn push(&mut self, mut session: Session) {
        let index = u32::try_from(self.sessions.len()).unwrap_or(u32::MAX);
        if session.status == Status::Active.index() as u8 {
            session.active_pos = self.active.len() as u32;
            self.active.push(index);
        }
        self.by_status[usize::from(session.status)].insert(index);
        self.by_expiry[usize::from(session.status)].insert((session.expires_ms, index));
        self.sessions.push(session);
    }

    /// Ends an active session with `status` as the API's semantics say: revoked ones deleted
    /// when it deletes them, `updated` moved unless endings leave it alone.
    fn end(&mut self, index: u32, status: Status, now_ms: i64) {
        let semantics = &self.params.semantics;
        let code = if status == Status::Revoked && semantics.delete_revoked {
            DELETED
        } else {
            status.index() as u8
        };
        let keep_updated = semantics.ended_keeps_updated;
        let updated = self.sessions[index as usize].updated_ms;
        self.set_status(index, code, now_ms);
        if keep_updated {
            self.sessions[index as usize].updated_ms = updated;
        }
    }

    /// `updated` as the API stamps it at `now_ms` (behind, under [`Semantics::updated_lag`]).
    fn stamp(&self, now_ms: i64) -> i64 {
        now_ms - millis(self.params.semantics.updated_lag)
    }

    /// Changes a session's status, keeping every index right.
    fn set_status(&mut self, index: u32, status: u8, now_ms: i64) {
        let i = index as usize;
        let old = self.sessions[i].status;
        if old == status {
            return;
        }
        let expires = self.sessions[i].expires_ms;
        self.by_status[usize::from(old)].remove(&index);
        self.by_expiry[usize::from(old)].remove(&(expires, index));
        if old == Status::Active.index() as u8 {
            let pos = self.sessions[i].active_pos as usize;
            self.active.swap_remove(pos);
            if let Some(&moved) = self.active.get(pos) {
                self.sessions[moved as usize].active_pos = pos as u32;
            }
        }
        if status == Status::Active.index() as u8 {
            self.sessions[i].active_pos = self.active.len() as u32;
            self.active.push(index);
        }
        self.by_status[usize::from(status)].insert(index);
        self.by_expiry[usize::from(status)].insert((expires, index));
        self.sessions[i].status = status;
        self.sessions[i].updated_ms = self.stamp(now_ms);
    }

    /// Moves a session's expiry, keeping the expiry index right.
    fn set_expiry(&mut self, index: u32, expires_ms: i64) {
        let session = &mut self.sessions[index as usize];
        let slot = usize::from(session.status);
        self.by_expiry[slot].remove(&(session.expires_ms, index));
        session.expires_ms = expires_ms;
        self.by_expiry[slot].insert((expires_ms, index));
    }

    /// Every active session as the exporter keeps it: its ID's hash and its user (for the
    /// benches that count how many sessions an active set has wrong).
    #[cfg(feature = "test-support")]
    pub fn active_sessions(&self) -> Vec<(u64, String)> {
        self.active
            .iter()
            .map(|&i| {
                let user = user_id(self.sessions[i as usize].user);
                (crate::aggregate::hash_id(&session_id(i)), user)
            })
            .collect()
    }

    /// Sessions deleted from the list.
    fn deleted(&self) -> usize {
        self.by_status[usize::from(DELETED)].len()
    }

    /// Replaces how the API behaves where nobody has verified it, from now on.
    pub fn set_semantics(&mut self, semantics: Semantics) {
        self.params.semantics = semantics;
    }

    /// Gives `count` sessions (the newest ones that are not active) the out-of-enum status,
    /// for fault injection.
    pub fn inject_unknown_statuses(&mut self, count: u64) -> u64 {
        let mut done = 0;
        let now = self.clock_ms;
        for index in (0..self.sessions.len() as u32).rev() {
            if done == count {
                break;
            }
            let status = self.sessions[index as usize].status;
            if status != Status::Active.index() as u8 && status != UNKNOWN && status != DELETED {
                self.set_status(index, UNKNOWN, now);
                done += 1;
            }
        }
        done
    }
}

pub(crate) use crate::clock::millis;

pub fn session_id(index: u32) -> String {
    format!("ses-{index:010}")
}

pub fn user_id(user: u32) -> String {
    format!("usr-{user:08}")
}

fn status_value(code: u8) -> &'static str {
    match code {
        UNKNOWN | DELETED => UNKNOWN_STATUS_VALUE,
        code => Status::ALL[usize::from(code)].as_str(),
    }
}

#[cfg(test)]
mod tests;
