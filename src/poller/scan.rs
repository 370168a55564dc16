//! The `scan` strategy: every session, unfiltered, aggregated here. Always exact; its cost grows
//! with every session the project ever kept.

use anyhow::Context as _;

use super::Collected;
use crate::aggregate::{Aggregator, SessionFacts};
use crate::corbado::Pager;

pub(super) async fn collect(
    pager: &Pager,
    mut aggregator: Aggregator,
) -> anyhow::Result<Collected> {
    pager
        .walk(&[], SessionFacts::from_wire, |session| {
            aggregator.observe(session);
            true
        })
        .await
        .context("scanning sessions")?;
    Ok(Collected {
        paged: aggregator.distinct(),
        duplicates: aggregator.duplicates(),
        summary: aggregator.finish(),
    })
}
