//! The frame of the exporter's HTML pages (the status page and the runbook): escaping, one
//! stylesheet inlined, and a `Content-Security-Policy` that allows exactly that stylesheet and
//! nothing else: no script, no image, no font, no frame, nothing from another origin.

use std::sync::OnceLock;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

/// The one stylesheet: readable on a phone (one column, tables that scroll sideways) and on a
/// desktop (a bounded measure), in light and dark schemes, with system fonts only.
const STYLE: &str = "\
:root{color-scheme:light dark;--muted:#6b7280;--line:#d1d5db;--ok:#15803d;--bad:#b91c1c}\
body{font:16px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;\
padding:1rem;max-width:64rem}\
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.2rem;margin:1.6rem 0 .4rem}\
h3{font-size:1rem;margin:1rem 0 .3rem}nav{display:flex;flex-wrap:wrap;gap:.3rem .9rem}\
main{overflow-wrap:break-word}.muted{color:var(--muted)}code{overflow-wrap:anywhere}code,pre{font:.9em ui-monospace,SFMono-Regular,Menlo,monospace}\
pre{overflow-x:auto;padding:.6rem;border:1px solid var(--line)}\
dl{display:grid;grid-template-columns:minmax(8rem,max-content) 1fr;gap:.2rem .9rem;margin:0}\
dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}\
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:.9rem}\
th,td{text-align:left;padding:.25rem .6rem .25rem 0;border-bottom:1px solid var(--line);\
vertical-align:top;white-space:nowrap}td.num{text-align:right}td:last-child{white-space:normal;\
min-width:14rem}\
.up{color:var(--ok);font-weight:600}.down{color:var(--bad);font-weight:600}\
section{border-top:2px solid var(--line);margin-top:1rem}\
@media (max-width:30rem){dl{grid-template-columns:1fr}dd{margin-bottom:.4rem}}";

/// `text` with the characters that mean something in HTML escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The policy every HTML page is sent with: the inline stylesheet by its hash, nothing else.
pub fn content_security_policy() -> &'static str {
    static POLICY: OnceLock<String> = OnceLock::new();
    POLICY.get_or_init(|| {
        let digest = ring::digest::digest(&ring::digest::SHA256, STYLE.as_bytes());
        let hash = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; \
             form-action 'none'; frame-ancestors 'none'"
        )
    })
}

/// A whole HTML page around `body`, with its headers.
pub fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    );
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(content_security_policy()),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    (headers, html).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_html_reads() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn the_policy_allows_the_inline_style_by_hash_only() {
        let policy = content_security_policy();
        assert!(policy.starts_with("default-src 'none'; style-src 'sha256-"));
        assert!(!policy.contains("unsafe"));
        assert!(!policy.contains("script-src"));
        // 32 bytes of SHA-256 are 44 characters of base64.
        let hash = policy
            .split("'sha256-")
            .nth(1)
            .and_then(|r| r.split('\'').next());
        assert_eq!(hash.map(str::len), Some(44));
    }
}
