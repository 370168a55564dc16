//! The upstream: Corbado's `GET /sessions`. Knows the wire and the API's manners; knows nothing
//! of metrics beyond the two series it is handed, and nothing of strategies or aggregation.
//!
//! - [`model`]: the wire format (sessions, paging, error bodies) and the session status enum.
//! - [`query`]: filters, sort and the `yyyy-MM-ddTHH:mm:ss` time format, shared by the client and
//!   the simulator so both sides of the wire speak the same dialect.
//! - [`client`]: one request: authentication, retries, body limits, per-attempt metrics.
//! - [`error`]: [`ApiError`], the failure a caller branches on, and how upstream errors are told.
//! - [`limiter`]: the client-side rate limit, paused by a 429.
//! - [`redact`]: the credentials taken out of anything the upstream sends back.
//! - [`retry`]: the retry policy and its backoff.
//! - [`paging`]: counts and walks over many pages, with the API's paging numbers checked.

pub mod client;
pub mod error;
pub mod limiter;
pub mod model;
pub mod paging;
pub mod query;
pub mod redact;
pub mod retry;

pub use client::{Client, ClientMetrics, ClientOptions, PageRequest};
pub use error::ApiError;
pub use limiter::DOCUMENTED_REQUESTS_PER_SECOND;
pub use model::{Paging, SessionList, SessionRef, Status};
pub use paging::{Pager, PagingSettings};
pub use query::{Field, Filter, Op};
pub use retry::RetryPolicy;
