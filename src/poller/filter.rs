//! The `filter` strategy's active part: every active session paged in full under
//! `status:eq:active`, every poll, into the per-user gauges. Its counts part is [`super::counts`].

use anyhow::Context as _;

use super::counts::Verify;
use super::{ActiveDone, ActiveOutcome, PollSettings};
use crate::aggregate::SessionFacts;
use crate::corbado::{Filter, Pager, Status};

/// Pages the active sessions into the per-user fields. [`ActiveOutcome::Untrusted`] when
/// verifying and a session that is not active came back: one is proof enough that the filter is
/// not honoured, so paging stops.
pub(super) async fn sync(
    pager: &Pager,
    settings: &PollSettings,
    now_ms: i64,
    verify: Verify,
) -> anyhow::Result<ActiveOutcome> {
    let mut aggregator = settings.aggregator(now_ms);
    let mut not_active = 0u64;
    pager
        .walk(
            &[Filter::status(Status::Active)],
            SessionFacts::from_wire,
            |session| {
                if session.status != Some(Status::Active) {
                    not_active += 1;
                    return verify == Verify::No;
                }
                aggregator.observe(session);
                true
            },
        )
        .await
        .context("paging active sessions")?;
    if not_active > 0 {
        if verify == Verify::Yes {
            return Ok(ActiveOutcome::Untrusted(
                "a session paged under status:eq:active was not active".into(),
            ));
        }
        tracing::warn!(
            not_active,
            "filter: the API returned non-active sessions for status:eq:active; ignored them"
        );
    }
    let paged = aggregator.distinct();
    let duplicates = aggregator.duplicates();
    Ok(ActiveOutcome::Done(ActiveDone {
        users: Some(aggregator.finish()),
        paged,
        duplicates,
        resync: None,
        held: None,
        repairs: super::Repairs::default(),
    }))
}
