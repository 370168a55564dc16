//! What `incremental` saw begin and end, for `corbado_sessions_ended_total` and
//! `corbado_sessions_created_total`.
//!
//! A held session ends where the set lets it go: a change walk brings it with its new status; a
//! held session past its expiry that the API no longer lists as active counts as `expired` (its
//! expiry passed, and an ending that moved `updated` would have come through the walk first); a
//! repair or resync that finds it gone from the active list does not see how it ended, so it is
//! looked up by its creation time (`created:gt:a`, `created:lt:b`, no status filter): its status
//! there, or `deleted` when the API lists it no more. Those lookups cost a few requests a poll at
//! most; the rest wait for the next polls.

use std::collections::HashSet;

use crate::aggregate::{ActiveSet, SessionFacts};
use crate::corbado::{Field, Filter, Op, Pager, Status};
use crate::metrics::ExporterMetrics;

/// Requests a poll may spend looking up vanished sessions (it may finish a walk begun below it).
const LOOKUP_REQUESTS_PER_POLL: u64 = 10;
/// The widest range of creation seconds one lookup asks for.
const MAX_SPAN_S: i64 = 86_400;
/// The first lookup's range of creation seconds, before the project's density is known.
const FIRST_SPAN_S: i64 = 60;
/// Vanished sessions waiting for a lookup, at most; beyond it (a resync that lost a million
/// sessions at once) they are counted as `deleted` unseen, with a warning, rather than kept.
const MAX_WAITING: usize = 100_000;
/// Index of `deleted` in [`crate::metrics::ENDED_STATUSES`].
const DELETED: usize = 5;

/// The [`crate::metrics::ENDED_STATUSES`] index of an ending in `status` (`None`: outside the
/// enum); `None` for `active`, which is no ending.
fn ended_index(status: Option<Status>) -> Option<usize> {
    match status {
        Some(Status::Active) => None,
        Some(Status::LoggedOut) => Some(0),
        Some(Status::Expired) => Some(1),
        Some(Status::InactivityReached) => Some(2),
        Some(Status::Revoked) => Some(3),
        None => Some(4),
    }
}

/// What the exporter saw begin and end, handed to the metrics once a poll. Kept between polls for
/// the sessions still to be looked up and the instant after which creations are news.
#[derive(Debug)]
pub(super) struct Seen {
    /// Held sessions that ended, by [`crate::metrics::ENDED_STATUSES`] index, not yet published.
    ended: [u64; 6],
    /// Sessions counted as created this poll: the updated and created walks both bring a new
    /// one, and a resync after them brings it again.
    created: HashSet<u64>,
    /// Sessions created after this Unix ms are news; `None` before the first complete sync.
    /// Moves to the poll's `now` only when the poll succeeds, so a failed poll's creations are
    /// counted by the one that walks them again.
    created_after_ms: Option<i64>,
    /// The held sessions (creation ms, ID hash) before this poll's repairs or resync: those no
    /// longer held after them vanished from the active list unseen.
    before: Option<Vec<(i64, u64)>>,
    /// Vanished sessions (creation ms, ID hash) to look up.
    vanished: Vec<(i64, u64)>,
    /// Seconds of creation times one lookup asks for: about half a page of sessions.
    span_s: i64,
}

impl Default for Seen {
    fn default() -> Self {
        Seen {
            ended: [0; 6],
            created: HashSet::new(),
            created_after_ms: None,
            before: None,
            vanished: Vec::new(),
            span_s: FIRST_SPAN_S,
        }
    }
}

impl Seen {
    /// After a restart from a saved state: what was created after its last sync is news.
    pub fn resumed(synced_from_ms: i64) -> Self {
        Seen {
            created_after_ms: Some(synced_from_ms),
            ..Seen::default()
        }
    }

    /// Notes what a page says of `session`, before the set applies it: an end, if the set held
    /// it active, and a creation, if it is news (created after the last poll, up to `now_ms`;
    /// a later one is walked again by the next poll).
    pub fn note(&mut self, set: &ActiveSet, session: &SessionFacts, now_ms: i64) {
        if set.contains(session.id_hash) {
            if let Some(i) = ended_index(session.status) {
                self.ended[i] += 1;
            }
        }
        self.note_created(session, now_ms);
    }

    /// Notes a creation, if it is news: one seen by a resync too (active sessions only: one
    /// that ended before it is not seen).
    pub fn note_created(&mut self, session: &SessionFacts, now_ms: i64) {
        let news = self
            .created_after_ms
            .is_some_and(|after| session.created_ms > after && session.created_ms <= now_ms);
        if news {
            self.created.insert(session.id_hash);
        }
    }

    /// Remembers what the set holds before a resync replaces it, unless a snapshot
    /// of an earlier failed resync is still waiting (that set was cleared; this one is empty).
    pub fn snapshot(&mut self, set: &ActiveSet) {
        if self.before.is_none() {
            let (_, records) = set.export();
            self.before = Some(records.iter().map(|r| (r.created_ms, r.id_hash)).collect());
        }
    }

    /// The sessions of the snapshot that the set no longer holds vanished: to be looked up.
    pub fn vanished_from(&mut self, set: &ActiveSet) {
        let before = self.before.take().unwrap_or_default();
        self.wait_for_lookup(before, set);
    }

    /// The sessions a poll's repairs and re-page `removed` (as the set recorded them, a session
    /// let go twice listed twice) that the set no longer holds vanished: to be looked up. What
    /// a repair lets go is found so in what it touched, with no copy of the whole set.
    pub fn let_go(&mut self, mut removed: Vec<(i64, u64)>, set: &ActiveSet) {
        removed.sort_unstable();
        removed.dedup();
        self.wait_for_lookup(removed, set);
    }

    /// Adds the `candidates` that `set` no longer holds to the sessions to look up.
    fn wait_for_lookup(&mut self, candidates: Vec<(i64, u64)>, set: &ActiveSet) {
        self.vanished
            .extend(candidates.into_iter().filter(|&(_, id)| !set.contains(id)));
        if self.vanished.len() > MAX_WAITING {
            let unseen = self.vanished.len() - MAX_WAITING;
            tracing::warn!(
                unseen,
                "too many vanished sessions to look up; counted as deleted"
            );
            self.vanished.truncate(MAX_WAITING);
            self.ended[DELETED] += unseen as u64;
        }
    }

    /// A poll that failed or was not trusted keeps the snapshot only when it left the set
    /// empty for a resync (a failed resync): the next resync compares against it. Otherwise
    /// the next poll takes its own.
    pub fn drop_snapshot_unless(&mut self, resync_pending: bool) {
        if !resync_pending {
            self.before = None;
        }
    }

    /// Looks up the vanished sessions, oldest first, within [`LOOKUP_REQUESTS_PER_POLL`]
    /// requests and what the poll has `left` of its budget: the sessions of any status created in a range of seconds around a run of
    /// them. Creation times never change, so a range holds the same sessions however old the
    /// project: its width adapts to about half a page of them. A failed lookup leaves the rest
    /// for the next poll and does not fail this one.
    pub async fn look_up(&mut self, pager: &Pager, left: u64) {
        self.vanished.sort_unstable();
        let start = pager.attempts();
        // A walk begun below the limit may take a page or two more (its span aims at half a
        // page): it begins only while that still fits in what the poll has `left`.
        let limit = LOOKUP_REQUESTS_PER_POLL.min(left.saturating_sub(3));
        while pager.attempts() - start < limit {
            let Some(&(first_ms, _)) = self.vanished.first() else {
                return;
            };
            let first_s = first_ms.div_euclid(1000);
            let last_s = first_s + self.span_s.max(1) - 1;
            let end = self
                .vanished
                .partition_point(|&(c, _)| c.div_euclid(1000) <= last_s);
            let filters = [
                Filter::time(Field::Created, Op::Gt, first_s - 1),
                Filter::time(Field::Created, Op::Lt, last_s + 1),
            ];
            let mut listed = std::collections::HashMap::new();
            let walked = pager
                .walk_by_created(&filters, SessionFacts::from_wire, |s| {
                    listed.insert(s.id_hash, s.status);
                })
                .await;
            let received = match walked {
                Ok(received) => received,
                Err(error) => {
                    let error = format!("{error:#}");
                    tracing::warn!(
                        error,
                        "looking up vanished sessions failed; retrying next poll"
                    );
                    return;
                }
            };
            for (_, id) in self.vanished.drain(..end) {
                match listed.get(&id) {
                    // Listed as active again (re-activated): no ending; a repair holds it again.
                    Some(&status) => {
                        if let Some(i) = ended_index(status) {
                            self.ended[i] += 1;
                        }
                    }
                    None => self.ended[DELETED] += 1,
                }
            }
            let half_page = u64::from(pager.page_size().max(2)) / 2;
            self.span_s = match received {
                r if r <= half_page / 2 => (self.span_s * 2).min(MAX_SPAN_S),
                r if r > half_page * 2 => (self.span_s / 2).max(1),
                _ => self.span_s,
            };
        }
    }

    /// Held sessions past their expiry that the API no longer lists as active: expired, as far
    /// as can be seen.
    pub fn expired_unseen(&mut self, sessions: u64) {
        self.ended[1] += sessions;
    }

    /// What ended and is not yet published, by [`crate::metrics::ENDED_STATUSES`] index.
    #[cfg(test)]
    pub fn ended(&self) -> [u64; 6] {
        self.ended
    }

    /// Sessions counted as created this poll, not yet published.
    #[cfg(test)]
    pub fn created_count(&self) -> usize {
        self.created.len()
    }

    /// Hands what this poll saw to the metrics: the endings always (the set let those sessions
    /// go for good), the creations only when the poll `succeeded` at `now_ms` (otherwise the
    /// next poll walks them again).
    pub fn publish(&mut self, metrics: &ExporterMetrics, succeeded: bool, now_ms: i64) {
        for (status, ended) in crate::metrics::ENDED_STATUSES.iter().zip(self.ended) {
            metrics
                .sessions_ended
                .with_label_values(&[status])
                .inc_by(ended);
        }
        self.ended = [0; 6];
        if succeeded {
            metrics.sessions_created.inc_by(self.created.len() as u64);
            self.created_after_ms = Some(now_ms);
        }
        self.created.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn active(id_hash: u64, created_s: i64, expires_s: i64) -> SessionFacts {
        SessionFacts {
            id_hash,
            status: Some(Status::Active),
            created_ms: created_s * 1000,
            expires_ms: expires_s * 1000,
            active_user: Some(format!("user-{id_hash}").into()),
        }
    }

    #[test]
    fn a_creation_is_news_once_between_the_last_poll_and_now() {
        let set = ActiveSet::default();
        let mut seen = Seen::resumed(10_000);
        for created_s in [9, 10, 11, 20, 21] {
            seen.note(&set, &active(created_s as u64, created_s, 9_000), 20_000);
        }
        seen.note(&set, &active(11, 11, 9_000), 20_000);
        let mut news: Vec<u64> = seen.created.iter().copied().collect();
        news.sort_unstable();
        assert_eq!(news, vec![11, 20], "after 10 s, up to now; a repeat once");
        let mut fresh = Seen::default();
        fresh.note(&set, &active(1, 11, 9_000), 20_000);
        assert!(
            fresh.created.is_empty(),
            "before the first sync nothing is news"
        );
    }

    #[test]
    fn sessions_a_repair_let_go_wait_to_be_looked_up() {
        let mut set = ActiveSet::default();
        for held in [
            active(1, 10, 9_000),
            active(2, 20, 9_000),
            active(3, 30, 9_000),
        ] {
            set.apply(held);
        }
        let mut seen = Seen::default();
        seen.snapshot(&set);
        set.remove(2);
        set.apply(active(4, 40, 9_000));
        seen.vanished_from(&set);
        assert_eq!(seen.vanished, vec![(20_000, 2)]);
        assert!(seen.before.is_none(), "a snapshot is compared once");
        seen.snapshot(&set);
        set.clear();
        seen.drop_snapshot_unless(true);
        seen.snapshot(&set);
        seen.vanished_from(&set);
        assert_eq!(
            seen.vanished.len(),
            4,
            "a failed resync's snapshot is the one the next compares against"
        );
    }

    #[test]
    fn what_a_poll_let_go_and_did_not_take_back_waits_once_to_be_looked_up() {
        let mut set = ActiveSet::default();
        for held in [active(1, 10, 9_000), active(2, 20, 9_000)] {
            set.apply(held);
        }
        set.remove(1);
        set.record_removals();
        for _ in 0..2 {
            set.remove(2);
            set.apply(active(2, 20, 9_000));
        }
        set.remove(2);
        set.remove(7);
        set.apply(active(3, 30, 9_000));
        set.remove(3);
        set.apply(active(3, 30, 9_000));
        let mut seen = Seen::default();
        let removed = set.take_removals();
        seen.let_go(removed, &set);
        assert_eq!(
            seen.vanished,
            vec![(20_000, 2)],
            "let go three times, once; taken back; not held; before the recording"
        );
        set.remove(3);
        assert!(set.take_removals().is_empty(), "recording stopped");
    }

    #[test]
    fn every_ending_has_its_label() {
        let labels = crate::metrics::ENDED_STATUSES;
        for status in Status::ALL {
            let label = ended_index(Some(status)).map(|i| labels[i]);
            let expected = (status != Status::Active).then(|| status.as_str());
            assert_eq!(label, expected);
        }
        assert_eq!(ended_index(None).map(|i| labels[i]), Some("unknown"));
        assert_eq!(labels[DELETED], "deleted");
    }
}
