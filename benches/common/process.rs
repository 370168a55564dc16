//! Child processes of the benches (the simulator, the exporter): their log lines, fields of
//! those lines, their memory, stopping them.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A child's stderr, line by line, with what has been read so far.
pub struct Lines {
    rx: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Lines {
    /// Reads lines until one contains `needle`, and returns it.
    pub fn wait_for(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no line with {needle:?} within {limit:?}"));
            self.seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }
}

/// Starts `command` and forwards its stderr lines to a channel.
pub fn spawn(command: &mut Command) -> (Child, Lines) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (
        child,
        Lines {
            rx,
            seen: Vec::new(),
        },
    )
}

/// A field of a JSON log line, or a `key=value` of a text one.
pub fn field(line: &str, key: &str) -> Option<String> {
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(line) {
        let v = &value["fields"][key];
        return match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        };
    }
    let start = line.find(&format!("{key}="))? + key.len() + 1;
    let rest = &line[start..];
    Some(rest.split_whitespace().next()?.trim_matches('"').to_owned())
}

/// (current, peak) resident set size in MiB, from /proc.
pub fn rss_mib(pid: u32) -> (u64, u64) {
    let (rss, peak) = super::rss_kib(Some(pid));
    (rss / 1024, peak / 1024)
}

pub fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}
