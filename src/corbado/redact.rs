//! Keeping the credentials out of whatever the upstream sends back.
//!
//! An upstream (or a proxy before it) may echo the request's `Authorization` header in an error
//! body; that text reaches the log, a page, an error. Everything the client keeps of a response's
//! text passes through [`Redactor::redact`] first: the secret, its base64 forms, and the value of
//! anything that looks like an `Authorization` header or a `Basic`/`Bearer` credential.

use base64::Engine as _;

use crate::secret::Secret;

/// What replaces a credential.
pub const REDACTED: &str = "[redacted]";

/// Redacts one project's credentials from upstream text.
#[derive(Clone, Debug)]
pub struct Redactor {
    /// The secret and its encoded forms; never printed (`Debug` shows only their number).
    needles: Needles,
}

#[derive(Clone)]
struct Needles(Vec<String>);

impl std::fmt::Debug for Needles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} needles", self.0.len())
    }
}

impl Redactor {
    pub fn new(project_id: &str, secret: &Secret) -> Self {
        let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        let pair = format!("{project_id}:{}", secret.expose());
        let mut needles = vec![secret.expose().to_owned(), b64(&pair), b64(secret.expose())];
        // Without padding too: an echo may have lost it.
        needles.push(b64(&pair).trim_end_matches('=').to_owned());
        needles.retain(|n| n.len() >= 4);
        // Longest first, so a needle inside another cannot leave part of the longer one.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        Redactor {
            needles: Needles(needles),
        }
    }

    /// `text` with every credential replaced by `[redacted]`.
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for needle in &self.needles.0 {
            if text.contains(needle.as_str()) {
                text = text.replace(needle.as_str(), REDACTED);
            }
        }
        for marker in ["authorization", "basic ", "bearer "] {
            text = redact_after(&text, marker);
        }
        text
    }
}

/// Replaces the value that follows each (case-insensitive) `marker`: after any quotes, colons,
/// equals signs and blanks, up to the next quote, comma, brace, semicolon or line end.
fn redact_after(text: &str, marker: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    let mut from = 0;
    while let Some(found) = lower[from..].find(marker) {
        let start = from + found + marker.len();
        let value_start = start
            + text[start..]
                .find(|c: char| !matches!(c, '"' | '\'' | ':' | '=' | ' ' | '\t' | '\\'))
                .unwrap_or(text.len() - start);
        let value_end = value_start
            + text[value_start..]
                .find(['"', '\'', ',', '}', ';', '\n', '\r', '\\'])
                .unwrap_or(text.len() - value_start);
        from = value_end.max(start);
        if value_end > value_start && &text[value_start..value_end] != REDACTED {
            out.push_str(&text[rest..value_start]);
            out.push_str(REDACTED);
            rest = value_end;
        }
    }
    out.push_str(&text[rest..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::new("pro-1", &Secret::new("corbado1_s3cr3t"))
    }

    #[test]
    fn the_secret_and_its_encodings_are_redacted() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("pro-1:corbado1_s3cr3t");
        for echoed in [
            format!(r#"{{"error":{{"details":"bad header Authorization: Basic {encoded}"}}}}"#),
            format!(r#"{{"headers":{{"authorization":["Basic {encoded}"]}}}}"#),
            format!("token={encoded} and secret corbado1_s3cr3t"),
            encoded.trim_end_matches('=').to_owned(),
            "AUTHORIZATION=Bearer abc.def.ghi".to_owned(),
        ] {
            let redacted = redactor().redact(&echoed);
            assert!(!redacted.contains("corbado1_s3cr3t"), "{redacted}");
            assert!(
                !redacted.contains(encoded.trim_end_matches('=')),
                "{redacted}"
            );
            assert!(!redacted.contains("abc.def"), "{redacted}");
            assert!(redacted.contains(REDACTED), "{redacted}");
        }
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        let text = r#"{"error":{"type":"validation_error","details":"pageSize too large"}}"#;
        assert_eq!(redactor().redact(text), text);
        assert_eq!(redact_after("no marker here", "basic "), "no marker here");
        assert_eq!(
            redact_after("ends with basic ", "basic "),
            "ends with basic "
        );
    }
}
