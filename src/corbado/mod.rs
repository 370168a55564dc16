//! The upstream: Corbado's `GET /sessions`.
//!
//! - [`model`]: the wire format (sessions, paging, error bodies) and the session status enum.
//! - [`query`]: filters, sort and the `yyyy-MM-ddTHH:mm:ss` time format, shared by the client and
//!   the simulator so both sides of the wire speak the same dialect.
//! - [`client`]: the HTTP client: authentication, rate limit, retries, body limits, and the
//!   [`client::ApiError`] a caller branches on.

pub mod client;
pub mod model;
pub mod query;

pub use client::{ApiError, Client, ClientOptions, PageRequest};
pub use model::{Paging, SessionList, SessionRef, Status};
pub use query::{Field, Filter, Op};
