//! The `incremental` strategy's active part: the active set kept between polls, brought up to
//! date from the sessions changed since the last sync, and proven against the counts.
//!
//! A poll walks `updated:gt:T` and `created:gt:T` (T = the last sync's start less
//! `--poll.change-overlap`), holds the active sessions it finds and forgets the others, settles
//! the held sessions whose expiry has passed (the API may list them as `active` or `expired`),
//! and then proves the set: its size must be the count of `active` sessions and, per window, its
//! expiring sessions the expiring count. Since a session only becomes active by being created,
//! and creation is always seen, a set that passes is the API's. A failed proof, a failed change
//! query, and every `--poll.resync-interval` re-page the active sessions in full: a resync.
//!
//! Counts and pages are not one snapshot: a session that changes between the counts and the
//! walk makes an honest set differ from them. When the proof fails, the sessions changed after
//! the poll's `now` are fetched (one page, usually), and the proof allows a difference of at most
//! that many before it calls a mismatch.

use anyhow::Context as _;

use super::counts::{window_seconds, Counts, Verify};
use super::explain::Explainer;
use super::{ActiveDone, ActiveOutcome, PollSettings};
use crate::aggregate::{ActiveSet, Held, SessionFacts};
use crate::clock::millis;
use crate::corbado::{Field, Filter, Op, Pager, Status};
use crate::metrics::ExporterMetrics;

/// Why the active sessions were re-paged in full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResyncReason {
    /// The first sync since the exporter started (or the strategy was chosen).
    Initial,
    /// `--poll.resync-interval` passed since the last one.
    Scheduled,
    /// The proof failed: the set did not match the counts.
    Mismatch,
    /// A change query (or the previous resync) failed.
    Error,
}

impl ResyncReason {
    /// The `reason` label values of `corbado_exporter_resyncs_total`.
    pub const LABELS: [&'static str; 4] = ["initial", "scheduled", "mismatch", "error"];

    pub fn as_str(self) -> &'static str {
        Self::LABELS[self as usize]
    }
}

/// What the strategy keeps between polls.
#[derive(Default)]
pub(super) struct Incremental {
    set: ActiveSet,
    /// Start (whole-second ms) of the last sync whose every change is in the set; `None` before
    /// the first resync and after a failed one.
    synced_from: Option<i64>,
    /// Whether any resync ever succeeded (a later one without `synced_from` is for an error).
    ever_synced: bool,
    last_resync_ms: i64,
    /// The instant up to which held sessions past their expiry have been settled.
    settled_until_ms: i64,
    explainer: Explainer,
}

/// What a poll without a resync leads to.
enum Next {
    Done(Box<ActiveOutcome>),
    Resync(ResyncReason),
}

/// The sessions a walk brought in, and how many broke the walk's filter.
#[derive(Default)]
struct Applied {
    received: u64,
    off_filter: u64,
}

impl Incremental {
    /// Active sessions held now.
    pub fn held(&self) -> usize {
        self.set.len()
    }

    /// Brings the set up to date as of `counts` and proves it, or resyncs.
    pub async fn sync(
        &mut self,
        pager: &Pager,
        settings: &PollSettings,
        counts: &Counts,
        verify: Verify,
        metrics: &ExporterMetrics,
    ) -> anyhow::Result<ActiveOutcome> {
        let reason = match self.resync_due(counts.now_ms, settings) {
            Some(reason) => reason,
            None => match self.follow(pager, settings, counts, verify).await? {
                Next::Done(outcome) => return Ok(*outcome),
                Next::Resync(reason) => reason,
            },
        };
        self.resync(pager, settings, counts.now_ms, reason, verify, metrics)
            .await
    }

    /// Why the set must be re-paged before anything else, if it must.
    fn resync_due(&self, now: i64, settings: &PollSettings) -> Option<ResyncReason> {
        let scheduled = now.saturating_sub(self.last_resync_ms) >= millis(settings.resync_interval);
        match self.synced_from {
            None if self.ever_synced => Some(ResyncReason::Error),
            None => Some(ResyncReason::Initial),
            Some(_) if scheduled => Some(ResyncReason::Scheduled),
            Some(_) => None,
        }
    }

    /// A poll without a resync: the changes, then the proof.
    async fn follow(
        &mut self,
        pager: &Pager,
        settings: &PollSettings,
        counts: &Counts,
        verify: Verify,
    ) -> anyhow::Result<Next> {
        let started = settings.clock.now_whole_seconds_ms();
        let applied = match self.catch_up(pager, settings, counts).await {
            Ok(applied) => applied,
            Err(error) => {
                let error = format!("{error:#}");
                tracing::warn!(error, "change query failed; resyncing");
                return Ok(Next::Resync(ResyncReason::Error));
            }
        };
        if verify == Verify::Yes && applied.off_filter > 0 {
            let why = format!(
                "{} sessions paged under a created or expires filter did not match it",
                applied.off_filter
            );
            return Ok(Next::Done(Box::new(ActiveOutcome::Untrusted(why))));
        }
        if !self.proves(pager, counts, &settings.windows).await? {
            return Ok(Next::Resync(ResyncReason::Mismatch));
        }
        self.synced_from = Some(started);
        let done = self.done(settings, applied.received, None);
        Ok(Next::Done(Box::new(ActiveOutcome::Done(done))))
    }

    /// The change queries and the settling of sessions past their expiry.
    async fn catch_up(
        &mut self,
        pager: &Pager,
        settings: &PollSettings,
        counts: &Counts,
    ) -> anyhow::Result<Applied> {
        let synced_from = self.synced_from.unwrap_or(counts.now_ms);
        let from_s = synced_from.saturating_sub(millis(settings.change_overlap)) / 1000;
        let mut applied = self.apply_changes(pager, from_s).await?;
        let settled = self.settle_due(pager, counts).await?;
        applied.received += settled.received;
        applied.off_filter += settled.off_filter;
        Ok(applied)
    }

    /// Walks the sessions updated or created after `from_s` (Unix seconds) into the set.
    async fn apply_changes(&mut self, pager: &Pager, from_s: i64) -> anyhow::Result<Applied> {
        let mut applied = Applied::default();
        for field in [Field::Updated, Field::Created] {
            let filter = Filter::time(field, Op::Gt, from_s);
            let received = pager
                .walk_by_created(&[filter], SessionFacts::from_wire, |session| {
                    if field == Field::Created && session.created_ms <= from_s * 1000 {
                        applied.off_filter += 1;
                    }
                    self.apply(session);
                })
                .await
                .with_context(|| {
                    format!("paging sessions with {} after {from_s}", field.as_str())
                })?;
            applied.received += received;
        }
        Ok(applied)
    }

    /// Holds an active session, forgets any other.
    fn apply(&mut self, session: SessionFacts) {
        match (session.status, session.active_user.as_deref()) {
            (Some(Status::Active), Some(user_id)) => self.set.upsert(Held {
                id_hash: session.id_hash,
                user_id,
                expires_ms: session.expires_ms,
            }),
            _ => {
                self.set.remove(session.id_hash);
            }
        }
    }

    /// Held sessions whose expiry passed since the last poll: still `active` to the API (an API
    /// that expires lazily) or not (one that expires them with a job, perhaps without moving
    /// `updated`). The counts decide when they can; otherwise one query asks which are listed.
    async fn settle_due(&mut self, pager: &Pager, counts: &Counts) -> anyhow::Result<Applied> {
        let now = counts.now_ms;
        let due = self.set.due_between(self.settled_until_ms, now);
        let mut applied = Applied::default();
        let held = self.set.len() as u64;
        let active = counts.statuses.active;
        if !due.is_empty() && active != held {
            // Not all still listed: either all flipped (the counts say so exactly), or ask.
            let listed = if active + due.len() as u64 == held {
                Vec::new()
            } else {
                self.listed_past_due(pager, now, &mut applied).await?
            };
            for &id in &due {
                self.set.remove(id);
            }
            for session in listed {
                self.apply(session);
            }
        }
        self.settled_until_ms = now;
        Ok(applied)
    }

    /// The active sessions the API lists whose expiry lies between the last settling and `now`;
    /// those that break the filter are counted in `applied` and left out.
    async fn listed_past_due(
        &self,
        pager: &Pager,
        now: i64,
        applied: &mut Applied,
    ) -> anyhow::Result<Vec<SessionFacts>> {
        let (lo_s, now_s) = (self.settled_until_ms / 1000 - 1, now / 1000);
        let filters = [
            Filter::status(Status::Active),
            Filter::time(Field::Expires, Op::Gt, lo_s),
            Filter::time(Field::Expires, Op::Lt, now_s + 1),
        ];
        let mut listed = Vec::new();
        applied.received = pager
            .walk_by_created(&filters, SessionFacts::from_wire, |s| listed.push(s))
            .await
            .context("paging active sessions past their expiry")?;
        listed.retain(|session| {
            let expires_s = session.expires_ms.div_euclid(1000);
            let fits =
                session.status == Some(Status::Active) && (lo_s..=now_s).contains(&expires_s);
            applied.off_filter += u64::from(!fits);
            fits
        });
        Ok(listed)
    }

    /// Whether the set matches the counts, allowing for the sessions that changed while the
    /// poll ran (fetched only when the exact proof fails).
    async fn proves(
        &mut self,
        pager: &Pager,
        counts: &Counts,
        windows: &[std::time::Duration],
    ) -> anyhow::Result<bool> {
        let now_s = counts.now_ms / 1000;
        let windows_s = window_seconds(windows);
        let mismatch = |set: &ActiveSet| {
            let mut worst = set.len().abs_diff(counts.statuses.active as usize) as u64;
            for (held, counted) in set.expiring(now_s, &windows_s).iter().zip(&counts.expiring) {
                worst = worst.max(held.abs_diff(*counted));
            }
            worst
        };
        if mismatch(&self.set) == 0 {
            self.explainer.proven();
            return Ok(true);
        }
        // Changed after the poll's `now` (the counts were asked for after it): the race. A change
        // at `now` or before is seen alike by the counts and the walks.
        let mut during = std::collections::HashSet::new();
        let since = Filter::time(Field::Updated, Op::Gt, now_s);
        let created = Filter::time(Field::Created, Op::Gt, now_s);
        for filter in [since, created] {
            let mut recent = Vec::new();
            pager
                .walk_by_created(&[filter], SessionFacts::from_wire, |s| recent.push(s))
                .await
                .context("paging sessions changed during the poll")?;
            for session in recent {
                during.insert(session.id_hash);
                self.apply(session);
            }
        }
        let off = mismatch(&self.set);
        if off <= during.len() as u64 {
            self.explainer.proven();
            return Ok(true);
        }
        let expiring = self.set.expiring(now_s, &windows_s);
        self.explainer
            .mismatch(self.set.len() as u64, counts, &expiring);
        Ok(false)
    }

    async fn resync(
        &mut self,
        pager: &Pager,
        settings: &PollSettings,
        now: i64,
        reason: ResyncReason,
        verify: Verify,
        metrics: &ExporterMetrics,
    ) -> anyhow::Result<ActiveOutcome> {
        metrics.resyncs.with_label_values(&[reason.as_str()]).inc();
        let started = settings.clock.now_whole_seconds_ms();
        self.set.clear();
        self.synced_from = None;
        let mut not_active = 0u64;
        let received = pager
            .walk_by_created(
                &[Filter::status(Status::Active)],
                SessionFacts::from_wire,
                |session| {
                    if session.status == Some(Status::Active) {
                        self.apply(session);
                    } else {
                        not_active += 1;
                    }
                },
            )
            .await
            .with_context(|| format!("resync ({}): paging active sessions", reason.as_str()))?;
        if not_active > 0 && verify == Verify::Yes {
            return Ok(ActiveOutcome::Untrusted(
                "a session paged under status:eq:active was not active".into(),
            ));
        }
        (self.synced_from, self.ever_synced) = (Some(started), true);
        (self.last_resync_ms, self.settled_until_ms) = (now, now);
        Ok(ActiveOutcome::Done(self.done(
            settings,
            received,
            Some(reason),
        )))
    }

    fn done(
        &self,
        settings: &PollSettings,
        paged: u64,
        resync: Option<ResyncReason>,
    ) -> ActiveDone {
        let mut users = crate::aggregate::Summary::default();
        self.set.tally(settings.top_k, &mut users);
        ActiveDone {
            users,
            paged,
            duplicates: 0,
            resync,
            held: Some(self.set.len() as u64),
        }
    }
}
