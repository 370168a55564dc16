//! What a user ID becomes as a `user_id` label value: bounded in length, never empty, and with
//! `--per-user.id-key-file` a pseudonym.
//!
//! User IDs are personal data, and Prometheus keeps label values for its whole retention. With a
//! key, every ID is exported as the first 16 hex digits of HMAC-SHA256(key, ID): stable (a user
//! keeps one series), not reversible without the key, and found again for one user with
//! `corbado-exporter user-label`. Without the key nobody can test a guessed ID against it, which
//! a plain hash would allow.
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
    /// IDs longer than this many bytes are hashed (when not pseudonymised).
    pub max_id_length: usize,
    /// `--per-user.id-key-file`: every ID becomes a pseudonym.
    pub pseudonym_key: Option<PseudonymKey>,
}

impl Default for UserLabels {
    fn default() -> Self {
        UserLabels {
            max_id_length: 128,
            pseudonym_key: None,
        }
    }
}

/// The HMAC key of the pseudonyms. Prints as `[redacted]`.
#[derive(Clone)]
pub struct PseudonymKey(ring::hmac::Key);

impl PseudonymKey {
    pub fn new(bytes: &[u8]) -> Self {
        PseudonymKey(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes))
    }
}

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl UserLabels {
    pub fn label<'a>(&self, user_id: &'a str) -> Cow<'a, str> {
        if user_id.is_empty() {
            return Cow::Borrowed(EMPTY_USER_ID);
        }
        if let Some(PseudonymKey(key)) = &self.pseudonym_key {
            let tag = ring::hmac::sign(key, user_id.as_bytes());
            return Cow::Owned(hex16(tag.as_ref()));
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
        let labels = UserLabels {
            max_id_length: 8,
            pseudonym_key: None,
        };
        assert_eq!(labels.label("usr-1234"), "usr-1234");
        // What `printf usr-12345 | sha256sum | cut -c1-16` prints.
        let hashed = labels.label("usr-12345");
        assert_eq!(hashed, "sha256:6fdc8e5aa8aac84b");
        assert_eq!(labels.label("usr-12345"), hashed, "stable");
        assert_ne!(labels.label("usr-12346"), hashed);
        assert_eq!(labels.label(""), EMPTY_USER_ID);
    }

    #[test]
    fn with_a_key_every_id_is_a_stable_pseudonym() {
        let labels = UserLabels {
            max_id_length: 8,
            pseudonym_key: Some(PseudonymKey::new(b"key")),
        };
        // What `printf usr-1 | openssl dgst -sha256 -hmac key | cut -c1-16` prints (the
        // digest's first 16 hex digits).
        assert_eq!(labels.label("usr-1"), HMAC_OF_USR_1);
        assert_eq!(labels.label("usr-1"), labels.label("usr-1"));
        assert_ne!(labels.label("usr-2"), labels.label("usr-1"));
        let long = labels.label("a-user-id-longer-than-eight-bytes");
        assert_eq!(long.len(), 16, "long IDs are pseudonyms too, not sha256:");
        let other_key = UserLabels {
            pseudonym_key: Some(PseudonymKey::new(b"another key")),
            ..labels.clone()
        };
        assert_ne!(other_key.label("usr-1"), labels.label("usr-1"));
        assert_eq!(format!("{:?}", labels.pseudonym_key), "Some([redacted])");
    }

    const HMAC_OF_USR_1: &str = "66fda448139974b9";
}
