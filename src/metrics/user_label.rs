//! What a user ID becomes as a `user_id` label value: bounded in length, never empty.
//!
//! A Prometheus with `label_value_length_limit` rejects a whole scrape for one long value, so an
//! ID longer than `--per-user.max-id-length` bytes is exported as `sha256:` and the first 16 hex
//! digits of its SHA-256 (stable, so a user keeps one series). An empty ID would be read as no
//! label at all and collide with the family's other series; it is exported as [`EMPTY_USER_ID`].

use std::borrow::Cow;
use std::fmt::Write as _;

/// The label value of an empty user ID.
pub const EMPTY_USER_ID: &str = "(empty)";

/// How user IDs become label values.
#[derive(Clone, Debug)]
pub struct UserLabels {
    /// IDs longer than this many bytes are hashed.
    pub max_id_length: usize,
}

impl Default for UserLabels {
    fn default() -> Self {
        UserLabels { max_id_length: 128 }
    }
}

impl UserLabels {
    pub fn label<'a>(&self, user_id: &'a str) -> Cow<'a, str> {
        if user_id.is_empty() {
            return Cow::Borrowed(EMPTY_USER_ID);
        }
        if user_id.len() <= self.max_id_length {
            return Cow::Borrowed(user_id);
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, user_id.as_bytes());
        Cow::Owned(format!("sha256:{}", hex16(digest.as_ref())))
    }
}

/// The first 16 hex digits (8 bytes) of `bytes`.
pub(crate) fn hex16(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(8)
        .fold(String::with_capacity(16), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_ids_are_hashed_and_empty_ones_named() {
        let labels = UserLabels { max_id_length: 8 };
        assert_eq!(labels.label("usr-1234"), "usr-1234");
        // What `printf usr-12345 | sha256sum | cut -c1-16` prints.
        let hashed = labels.label("usr-12345");
        assert_eq!(hashed, "sha256:6fdc8e5aa8aac84b");
        assert_eq!(labels.label("usr-12345"), hashed, "stable");
        assert_ne!(labels.label("usr-12346"), hashed);
        assert_eq!(labels.label(""), EMPTY_USER_ID);
    }
}
