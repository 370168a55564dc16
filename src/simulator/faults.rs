//! What the simulator can be made to do wrong, for tests of the exporter's resilience: one
//! response at a time, per page, at random, or all along.

use std::collections::VecDeque;
use std::time::Duration;

use crate::rng::SplitMix64;

/// One injected misbehaviour, applied to one response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Injected {
    /// Answer with this HTTP status and the documented error body.
    Status(u16),
    /// 429, with this `Retry-After` header value (seconds or an HTTP date) or none.
    TooManyRequests { retry_after: Option<String> },
    /// A 200 whose body is cut off halfway.
    Truncated,
    /// A 200 whose body is not JSON at all.
    Malformed,
    /// A 200 whose `paging.totalItems` is a string.
    WrongTypes,
    /// A 200 padded with whitespace to this many bytes.
    Oversized(usize),
    /// A 200 claiming this many pages.
    TotalPages(i64),
}

/// Misbehaviour to inject, for tests of the exporter's resilience. Cleared with
/// `set_faults(Faults::default())`.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Answer every request as if it had no `filter[]` (a proxy that drops the query, say).
    pub ignore_filters: bool,
    /// Add fields the OpenAPI page does not know to every session and to the top level.
    pub unknown_fields: bool,
    /// Wait this long before answering each request.
    pub latency: Duration,
    /// Applied to the next requests, one each, in order.
    pub script: VecDeque<Injected>,
    /// Applied to every request for the given page, `times` times: `(page, fault, times)`.
    pub on_page: Vec<(u64, Injected, u32)>,
    /// Share of requests answered with `random_status` (deterministic under the seed).
    pub error_rate: f64,
    pub random_status: u16,
    /// Every `n`-th request moves the population on by `step` first: data changing mid-scan.
    pub advance_every: Option<(u64, Duration)>,
    /// Answer every page request (`pageSize` above 1, so not the one-session counts) with a
    /// filter that starts with this text (`updated:gt`, say) with this HTTP status: one kind of
    /// walk failing while the others work.
    pub fail_paging: Option<(String, u16)>,
}

/// What one request gets.
pub(super) struct Plan {
    pub injected: Option<Injected>,
    pub latency: Duration,
    pub ignore_filters: bool,
    pub unknown_fields: bool,
}

impl Faults {
    /// What goes wrong with the next request, for `page`: the script first, then a per-page
    /// rule, then chance.
    pub(super) fn plan(&mut self, page: u64, rng: &mut SplitMix64) -> Plan {
        let mut injected = self.script.pop_front();
        if injected.is_none() {
            if let Some(rule) = self
                .on_page
                .iter_mut()
                .find(|(p, _, times)| *p == page && *times > 0)
            {
                rule.2 -= 1;
                injected = Some(rule.1.clone());
            }
        }
        if injected.is_none() && self.error_rate > 0.0 && rng.chance(self.error_rate) {
            injected = Some(Injected::Status(self.random_status));
        }
        Plan {
            injected,
            latency: self.latency,
            ignore_filters: self.ignore_filters,
            unknown_fields: self.unknown_fields,
        }
    }
}
