//! The last [`KEPT_LINES`] log lines at `info` and above, for `/logs`: a ring that the tracing
//! subscriber writes into beside stderr ([`Tee`]), whatever `--log.level` sends to stderr.
//!
//! The subscriber is the process's one global, so the ring is too ([`ring`]). What reaches it
//! is what reaches the log: the same redaction holds (no secret, no `identifierValue`).

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Mutex, OnceLock};

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// Lines `/logs` shows.
pub const KEPT_LINES: usize = 500;
/// Longer lines are cut here (and say so), so that the ring's memory stays bounded.
const MAX_LINE_BYTES: usize = 4096;

/// The newest log lines, oldest first.
#[derive(Debug, Default)]
pub struct LogRing {
    lines: Mutex<VecDeque<String>>,
}

/// The process's ring.
pub fn ring() -> &'static LogRing {
    static RING: OnceLock<LogRing> = OnceLock::new();
    RING.get_or_init(LogRing::default)
}

impl LogRing {
    /// Appends the lines of `text`, dropping the oldest beyond [`KEPT_LINES`].
    pub fn push(&self, text: &str) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        for line in text.lines().filter(|l| !l.is_empty()) {
            lines.push_back(cut(line));
            if lines.len() > KEPT_LINES {
                lines.pop_front();
            }
        }
    }

    /// The kept lines, oldest first, each ending in a newline.
    pub fn text(&self) -> String {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let mut text = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in lines.iter() {
            text.push_str(line);
            text.push('\n');
        }
        text
    }
}

/// `line`, or its first [`MAX_LINE_BYTES`] (at a character boundary) and a note.
fn cut(line: &str) -> String {
    if line.len() <= MAX_LINE_BYTES {
        return line.to_owned();
    }
    let mut end = MAX_LINE_BYTES;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} [... {} bytes cut]", &line[..end], line.len() - end)
}

/// The subscriber's writer: every event at or above `stderr_level` to stderr, and every one at
/// `info` and above to `ring`.
pub struct Tee {
    pub stderr_level: Level,
    pub ring: &'static LogRing,
}

/// One event's writer: writes through to stderr, collects for the ring until dropped.
pub struct EventWriter {
    stderr: Option<io::Stderr>,
    ring: Option<(&'static LogRing, Vec<u8>)>,
}

impl Write for EventWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(stderr) = &mut self.stderr {
            stderr.write_all(buf)?;
        }
        if let Some((_, kept)) = &mut self.ring {
            kept.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.stderr {
            Some(stderr) => stderr.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        if let Some((ring, kept)) = self.ring.take() {
            ring.push(&String::from_utf8_lossy(&kept));
        }
    }
}

impl<'a> MakeWriter<'a> for Tee {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> EventWriter {
        EventWriter {
            stderr: Some(io::stderr()),
            ring: Some((self.ring, Vec::new())),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> EventWriter {
        // Levels compare by verbosity: ERROR < WARN < INFO < DEBUG < TRACE.
        let level = *meta.level();
        EventWriter {
            stderr: (level <= self.stderr_level).then(io::stderr),
            ring: (level <= Level::INFO).then(|| (self.ring, Vec::new())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_in_order() {
        let ring = LogRing::default();
        for i in 0..(KEPT_LINES + 20) {
            ring.push(&format!("line {i}\n"));
        }
        let text = ring.text();
        assert_eq!(text.lines().count(), KEPT_LINES);
        assert!(text.starts_with("line 20\n"), "{}", &text[..40]);
        assert!(text.ends_with(&format!("line {}\n", KEPT_LINES + 19)));
    }

    #[test]
    fn long_lines_are_cut_at_a_character_boundary() {
        let ring = LogRing::default();
        ring.push(&"é".repeat(MAX_LINE_BYTES));
        let text = ring.text();
        assert!(text.len() < MAX_LINE_BYTES + 40, "{}", text.len());
        assert!(text.ends_with(&format!("[... {MAX_LINE_BYTES} bytes cut]\n")));
    }

    #[test]
    fn debug_events_reach_stderr_only_and_warnings_both() {
        static RING: OnceLock<LogRing> = OnceLock::new();
        let tee = Tee {
            stderr_level: Level::DEBUG,
            ring: RING.get_or_init(LogRing::default),
        };
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(Level::DEBUG)
            .with_writer(tee)
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!("a debug detail");
            tracing::warn!(requests = 3, "a warning");
        });
        let text = RING.get_or_init(LogRing::default).text();
        assert!(!text.contains("a debug detail"), "{text}");
        assert!(
            text.contains("WARN") && text.contains("a warning requests=3"),
            "{text}"
        );
    }
}
