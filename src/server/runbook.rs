//! `/runbook`: `docs/runbook.md`, compiled in, as HTML with one anchor per alert (the heading in
//! lower case, as GitHub makes it too, so the same `#corbadopollsfailing` works on both).
//!
//! The Markdown is ours, so the renderer knows only what the file uses: `#` and `##` headings,
//! paragraphs, `-` lists, fenced code, and inline `code` and *emphasis*. Everything is escaped.

use std::fmt::Write as _;

use super::html::escape;
use super::Paths;

/// The runbook's source.
pub const SOURCE: &str = include_str!("../../docs/runbook.md");

/// The anchor of a heading: lower case, letters and digits kept, spaces as `-`.
pub fn anchor(heading: &str) -> String {
    heading
        .chars()
        .filter_map(|c| match c {
            c if c.is_alphanumeric() => Some(c.to_ascii_lowercase()),
            ' ' | '-' => Some('-'),
            _ => None,
        })
        .collect()
}

/// The runbook as an HTML body.
pub fn body(paths: &Paths) -> String {
    let mut out = format!(
        "<nav><a href=\"{}\">Status</a><a href=\"{}\">Logs</a>\
         <a href=\"{}\">Configuration</a></nav>\n<main>\n",
        escape(&paths.link("/")),
        escape(&paths.link("/logs")),
        escape(&paths.link("/config")),
    );
    let mut paragraph: Vec<&str> = Vec::new();
    let mut in_list = false;
    let mut in_code = false;
    for line in SOURCE.lines() {
        if in_code {
            if line.starts_with("```") {
                out.push_str("</code></pre>\n");
                in_code = false;
            } else {
                let _ = writeln!(out, "{}", escape(line));
            }
            continue;
        }
        // Text continues the paragraph or list item before it; anything else ends it.
        let text = line.trim();
        if !text.is_empty() && !line.starts_with('#') && !line.starts_with("```") {
            if let Some(item) = line.strip_prefix("- ") {
                flush(&mut out, &mut paragraph, in_list);
                if !in_list {
                    out.push_str("<ul>\n");
                    in_list = true;
                }
                paragraph.push(item);
            } else {
                paragraph.push(text);
            }
            continue;
        }
        flush(&mut out, &mut paragraph, in_list);
        if in_list {
            out.push_str("</ul>\n");
            in_list = false;
        }
        if line.starts_with("```") {
            out.push_str("<pre><code>");
            in_code = true;
        } else if let Some(title) = line.strip_prefix("## ") {
            let _ = writeln!(out, "<h2 id=\"{}\">{}</h2>", anchor(title), inline(title));
        } else if let Some(title) = line.strip_prefix("# ") {
            let _ = writeln!(out, "<h1>{}</h1>", inline(title));
        }
    }
    flush(&mut out, &mut paragraph, in_list);
    if in_list {
        out.push_str("</ul>\n");
    }
    out.push_str("</main>\n");
    out
}

/// Writes the gathered lines as one paragraph or list item.
fn flush(out: &mut String, lines: &mut Vec<&str>, in_list: bool) {
    if lines.is_empty() {
        return;
    }
    let tag = if in_list { "li" } else { "p" };
    let _ = writeln!(out, "<{tag}>{}</{tag}>", inline(&lines.join(" ")));
    lines.clear();
}

/// Escapes `text` and renders `code` and *emphasis*.
fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", escape(part));
            continue;
        }
        for (j, piece) in part.split('*').enumerate() {
            match j % 2 {
                1 => {
                    let _ = write!(out, "<em>{}</em>", escape(piece));
                }
                _ => out.push_str(&escape(piece)),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alert_of_the_rules_has_its_anchor() {
        let rules = include_str!("../../prometheus/alerts.yml");
        let page = body(&Paths::root("/metrics"));
        let alerts: Vec<&str> = rules
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- alert: "))
            .collect();
        assert_eq!(alerts.len(), 11);
        for alert in alerts {
            let id = format!("<h2 id=\"{}\">{alert}</h2>", alert.to_lowercase());
            assert!(page.contains(&id), "no section {id}");
        }
    }

    #[test]
    fn lines_join_into_paragraphs_and_list_items() {
        let page = body(&Paths::root("/metrics"));
        assert!(page.contains(
            "<p>What to do when an alert of <code>prometheus/alerts.yml</code> fires: one section \
             per alert, its anchor the alert&#39;s name in lower case."
        ));
        assert_eq!(page.matches("<p>").count(), page.matches("</p>").count());
    }

    #[test]
    fn inline_markup_is_rendered_and_everything_else_escaped() {
        assert_eq!(
            inline("see `a<b` and *c&d*"),
            "see <code>a&lt;b</code> and <em>c&amp;d</em>"
        );
        assert_eq!(anchor("CorbadoAPIRateLimited"), "corbadoapiratelimited");
    }
}
