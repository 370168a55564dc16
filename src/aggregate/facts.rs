//! What the aggregation keeps of one session from the wire, and the hash that stands for its ID.
//!
//! The session ID is kept only as a 64-bit hash (for deduplication), and the user ID only for
//! active sessions: a scan touches every session the project ever had, and these few bytes are
//! all that must survive the page they came on.

use std::hash::{DefaultHasher, Hash, Hasher};

use crate::corbado::{SessionRef, Status};

/// What the aggregator needs of one session, decoded from a page without keeping the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionFacts {
    pub id_hash: u64,
    pub status: Option<Status>,
    pub created_ms: i64,
    pub expires_ms: i64,
    /// The user ID, present for active sessions only.
    pub active_user: Option<Box<str>>,
}

impl SessionFacts {
    pub fn from_wire(session: &SessionRef<'_>) -> Self {
        let status = Status::parse(&session.status);
        SessionFacts {
            id_hash: hash_id(&session.session_id),
            status,
            created_ms: session.created_ms,
            expires_ms: session.expires_ms,
            active_user: (status == Some(Status::Active)).then(|| session.user_id.as_ref().into()),
        }
    }
}

/// A 64-bit hash of a session ID. With a million distinct IDs the chance that any two collide
/// (and one is wrongly dropped as a duplicate) is about 3 in 100 million per poll.
pub fn hash_id(id: &str) -> u64 {
    // `DefaultHasher::new()` has fixed keys: the same ID hashes the same within a process, which
    // is all deduplication needs, and it mixes IDs that differ in one character well.
    let mut hasher = DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_active_sessions_keep_their_user_and_ids_hash_apart() {
        let wire = |status: &'static str| SessionRef {
            session_id: "ses-1".into(),
            user_id: "usr-1".into(),
            created_ms: 1,
            expires_ms: 2,
            status: status.into(),
        };
        assert_eq!(
            SessionFacts::from_wire(&wire("active"))
                .active_user
                .as_deref(),
            Some("usr-1")
        );
        assert_eq!(SessionFacts::from_wire(&wire("revoked")).active_user, None);
        assert_eq!(SessionFacts::from_wire(&wire("frozen")).status, None);
        assert_eq!(hash_id("ses-1"), hash_id("ses-1"));
        assert_ne!(hash_id("ses-1"), hash_id("ses-2"));
    }
}
