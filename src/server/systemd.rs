//! Socket activation (`--web.systemd-socket`): the listening sockets systemd hands over, by the
//! protocol `sd_listen_fds(3)` documents: `LISTEN_PID` names this process, `LISTEN_FDS` counts
//! the descriptors, which start at 3. systemd keeps the sockets open across restarts of the
//! service, so a scrape during a restart waits in the backlog instead of being refused.

use std::fmt;

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const FIRST: i32 = 3;

/// Why the sockets systemd should have passed cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub struct ActivationError(String);

impl fmt::Display for ActivationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ActivationError {}

/// The descriptors systemd passed this process, from the two variables' values (`pid` is this
/// process's ID). Checks the variables only, not the descriptors.
pub fn passed(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    pid: u32,
) -> Result<std::ops::Range<i32>, ActivationError> {
    let error = |why: &str| ActivationError(format!("--web.systemd-socket: {why}"));
    let (Some(listen_pid), Some(listen_fds)) = (listen_pid, listen_fds) else {
        return Err(error(
            "LISTEN_PID and LISTEN_FDS are not set: start the exporter from a systemd socket \
             unit (or systemd-socket-activate)",
        ));
    };
    if listen_pid.trim().parse::<u32>().ok() != Some(pid) {
        return Err(error("LISTEN_PID names another process"));
    }
    match listen_fds.trim().parse::<i32>() {
        Ok(count) if (1..=1024).contains(&count) => Ok(FIRST..FIRST + count),
        _ => Err(error(
            "LISTEN_FDS is not a number of sockets from 1 to 1024",
        )),
    }
}

/// The listening TCP sockets systemd passed, ready for tokio.
#[cfg(unix)]
pub fn listeners() -> Result<Vec<tokio::net::TcpListener>, ActivationError> {
    let (pid, fds) = (
        std::env::var("LISTEN_PID").ok(),
        std::env::var("LISTEN_FDS").ok(),
    );
    let range = passed(pid.as_deref(), fds.as_deref(), std::process::id())?;
    range.map(listener).collect()
}

#[cfg(not(unix))]
pub fn listeners() -> Result<Vec<tokio::net::TcpListener>, ActivationError> {
    Err(ActivationError(
        "--web.systemd-socket: socket activation needs Linux".into(),
    ))
}

/// Descriptor `fd` as a tokio listener, once it is known to be a listening TCP socket.
#[cfg(unix)]
fn listener(fd: i32) -> Result<tokio::net::TcpListener, ActivationError> {
    use std::os::fd::FromRawFd as _;
    let error =
        |why: String| ActivationError(format!("--web.systemd-socket: descriptor {fd}: {why}"));
    let mut listening: libc::c_int = 0;
    let mut length = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the pointers describe `listening` and `length`, which outlive the call; the call
    // only reads the descriptor's options.
    let asked = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            std::ptr::addr_of_mut!(listening).cast(),
            &mut length,
        )
    };
    if asked != 0 || listening == 0 {
        return Err(error("not a listening socket".into()));
    }
    // SAFETY: systemd passed this descriptor to this process (LISTEN_PID), it is a listening
    // socket (checked above), and nothing else in the process takes it: `listeners` is called
    // once, at start.
    let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
    // SAFETY: sets a flag of a descriptor this process owns.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    // A UNIX socket has no IP address: `local_addr` refuses it.
    listener
        .local_addr()
        .and_then(|_| listener.set_nonblocking(true))
        .map_err(|e| error(format!("not a TCP socket ({e})")))?;
    tokio::net::TcpListener::from_std(listener).map_err(|e| error(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variables_must_name_this_process_and_count_sockets() {
        assert_eq!(passed(Some("42"), Some("2"), 42), Ok(3..5));
        for (pid, fds) in [
            (None, Some("1")),
            (Some("42"), None),
            (Some("43"), Some("1")),
            (Some("42"), Some("0")),
            (Some("42"), Some("x")),
        ] {
            let error = passed(pid, fds, 42).expect_err("refused");
            assert!(
                error.to_string().starts_with("--web.systemd-socket: "),
                "{error}"
            );
        }
    }
}
