//! State across restarts (`--storage.path`): one file per project holding its active set and
//! when it was last synced, written atomically and read back at start, trusting nothing.
//!
//! The format is this exporter's own, little-endian: a magic line, a format version, the body's
//! length, the body, and the SHA-256 of everything before it. The body names the project and
//! the API URL it belongs to, when it was saved, the times the `incremental` strategy resumes
//! from, the interned user IDs, and per session its ID hash, creation, expiry and user (28
//! bytes). A file is written to a new name (mode 0600: it holds user IDs), synced, renamed over
//! the old one, and the directory synced, so a crash leaves the old file or the new one, never
//! half of one. A file that cannot be trusted is renamed to `<name>.rejected` with a warning
//! saying why, and the project resyncs; nothing here stops the exporter from starting.
//!
//! This module only encodes, decodes, reads and writes; `poller` decides when.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::aggregate::{ActiveSet, Held};

const MAGIC: &[u8; 24] = b"corbado-exporter state\n\0";
/// The format this exporter writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const DIGEST_LEN: usize = 32;
/// Bytes of one session in the body.
const SESSION_LEN: usize = 8 + 8 + 8 + 4;

/// Which project a state file belongs to: a file of another project or API URL is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub project_id: String,
    pub api_url: String,
}

/// Where `incremental` stands besides its set: enough to resume with an ordinary poll.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncTimes {
    /// Unix ms the file was written.
    pub saved_ms: i64,
    /// Start (whole-second ms) of the last sync whose every change is in the set.
    pub synced_from_ms: i64,
    pub last_resync_ms: i64,
    pub settled_until_ms: i64,
}

/// A state file read back.
#[derive(Default)]
pub struct Saved {
    pub times: SyncTimes,
    pub set: ActiveSet,
}

/// Why a state file was not used.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    Unreadable(String),
    Truncated,
    NotAStateFile,
    Version(u32),
    Checksum,
    OtherProject,
    OtherApiUrl,
    /// Saved this many seconds before now, more than `--poll.resync-interval`.
    TooOld(i64),
    Corrupt(&'static str),
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejected::Unreadable(why) => write!(f, "unreadable: {why}"),
            Rejected::Truncated => write!(f, "truncated"),
            Rejected::NotAStateFile => write!(f, "not a state file of this exporter"),
            Rejected::Version(v) => write!(
                f,
                "format version {v}; this exporter reads version {FORMAT_VERSION}"
            ),
            Rejected::Checksum => write!(f, "checksum mismatch (the file was altered or damaged)"),
            Rejected::OtherProject => write!(f, "it belongs to another project"),
            Rejected::OtherApiUrl => write!(f, "it belongs to another API URL"),
            Rejected::TooOld(age) => write!(
                f,
                "last synced {age} s ago, longer ago than --poll.resync-interval"
            ),
            Rejected::Corrupt(what) => write!(f, "corrupt: {what}"),
        }
    }
}

/// The state file of `project_id` under `dir`: the ID with every byte outside
/// `[A-Za-z0-9._-]` written as `%XX`, so that no ID can name a path elsewhere.
pub fn path_for(dir: &Path, project_id: &str) -> PathBuf {
    let mut name = String::with_capacity(project_id.len() + 6);
    for byte in project_id.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => name.push(char::from(byte)),
            b'.' if !name.is_empty() => name.push('.'),
            other => name.push_str(&format!("%{other:02X}")),
        }
    }
    dir.join(format!("{name}.state"))
}

/// The whole file for `set` of `identity` as of `times`.
pub fn encode(identity: &Identity, times: &SyncTimes, set: &ActiveSet) -> Vec<u8> {
    let (users, sessions) = set.export();
    let mut body = Vec::with_capacity(64 + sessions.len() * SESSION_LEN);
    put_str(&mut body, &identity.project_id);
    put_str(&mut body, &identity.api_url);
    for time in [
        times.saved_ms,
        times.synced_from_ms,
        times.last_resync_ms,
        times.settled_until_ms,
    ] {
        body.extend_from_slice(&time.to_le_bytes());
    }
    body.extend_from_slice(&(users.len() as u32).to_le_bytes());
    for user in users {
        put_str(&mut body, user);
    }
    body.extend_from_slice(&(sessions.len() as u64).to_le_bytes());
    for session in sessions {
        body.extend_from_slice(&session.id_hash.to_le_bytes());
        body.extend_from_slice(&session.created_ms.to_le_bytes());
        body.extend_from_slice(&session.expires_ms.to_le_bytes());
        body.extend_from_slice(&session.user.to_le_bytes());
    }
    let mut file = Vec::with_capacity(MAGIC.len() + 12 + body.len() + DIGEST_LEN);
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    file.extend_from_slice(&(body.len() as u64).to_le_bytes());
    file.extend_from_slice(&body);
    let digest = ring::digest::digest(&ring::digest::SHA256, &file);
    file.extend_from_slice(digest.as_ref());
    file
}

/// Reads back a file that `encode` wrote for `identity`, refusing one saved longer ago than
/// `max_age_ms` (`0`: any age) before `now_ms`.
pub fn decode(
    bytes: &[u8],
    identity: &Identity,
    now_ms: i64,
    max_age_ms: i64,
) -> Result<Saved, Rejected> {
    let mut body = Reader(signed_body(bytes)?);
    if body.str()? != identity.project_id {
        return Err(Rejected::OtherProject);
    }
    if body.str()? != identity.api_url {
        return Err(Rejected::OtherApiUrl);
    }
    let times = SyncTimes {
        saved_ms: body.i64()?,
        synced_from_ms: body.i64()?,
        last_resync_ms: body.i64()?,
        settled_until_ms: body.i64()?,
    };
    let age_s = now_ms.saturating_sub(times.synced_from_ms) / 1000;
    if max_age_ms > 0 && now_ms.saturating_sub(times.synced_from_ms) > max_age_ms {
        return Err(Rejected::TooOld(age_s));
    }
    Ok(Saved {
        times,
        set: read_set(body)?,
    })
}

/// The body of a whole file, once its magic, format version, length and checksum hold.
fn signed_body(bytes: &[u8]) -> Result<&[u8], Rejected> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(if MAGIC.starts_with(bytes) {
            Rejected::Truncated
        } else {
            Rejected::NotAStateFile
        });
    }
    let mut header = Reader(&bytes[MAGIC.len()..]);
    let version = header.u32()?;
    if version != FORMAT_VERSION {
        return Err(Rejected::Version(version));
    }
    let body_len = usize::try_from(header.u64()?).map_err(|_| Rejected::Truncated)?;
    let signed = MAGIC.len() + 12;
    let end = signed.checked_add(body_len).ok_or(Rejected::Truncated)?;
    let total = end.checked_add(DIGEST_LEN).ok_or(Rejected::Truncated)?;
    if bytes.len() < total {
        return Err(Rejected::Truncated);
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes[..end]);
    if digest.as_ref() != &bytes[end..total] || bytes.len() != total {
        return Err(Rejected::Checksum);
    }
    Ok(&bytes[signed..end])
}

/// The rest of the body after its times: the interned users, then the sessions, which must
/// fill the body exactly and name only users it holds.
fn read_set(mut body: Reader<'_>) -> Result<ActiveSet, Rejected> {
    let mut set = ActiveSet::default();
    let users = body.u32()? as usize;
    let mut names = Vec::with_capacity(users.min(body.0.len() / 4));
    for _ in 0..users {
        names.push(body.str()?);
    }
    let sessions = usize::try_from(body.u64()?).map_err(|_| Rejected::Truncated)?;
    if body.0.len() != sessions.saturating_mul(SESSION_LEN) {
        return Err(Rejected::Corrupt(
            "the session count does not match the body",
        ));
    }
    for _ in 0..sessions {
        let (id_hash, created_ms, expires_ms) = (body.u64()?, body.i64()?, body.i64()?);
        let user = names.get(body.u32()? as usize).ok_or(Rejected::Corrupt(
            "a session names a user the file does not hold",
        ))?;
        set.upsert(Held {
            id_hash,
            user_id: user,
            created_ms,
            expires_ms,
        });
    }
    Ok(set)
}

/// Writes `bytes` to `path` so that a crash leaves the old file or the new one: a new file
/// (mode 0600) beside it, synced, renamed over `path`, and the directory synced. A missing
/// directory is made (mode 0700).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.exists()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            builder.mode(0o700);
        }
        builder.create(dir)?;
    }
    let tmp = path.with_extension("state.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(error) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(error);
    }
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Reads `path` for `identity`. No file is `Ok(None)`; a file that cannot be trusted is renamed
/// to `<name>.rejected` and its reason returned.
pub fn read(
    path: &Path,
    identity: &Identity,
    now_ms: i64,
    max_age_ms: i64,
) -> Result<Option<Saved>, Rejected> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Rejected::Unreadable(e.to_string())),
    };
    decode(&bytes, identity, now_ms, max_age_ms)
        .map(Some)
        .inspect_err(|_| {
            let _ = std::fs::rename(path, path.with_extension("state.rejected"));
        })
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// Reads the body's fields in order; running out is [`Rejected::Truncated`].
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], Rejected> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or(Rejected::Truncated)?;
        self.0 = rest;
        Ok(*head)
    }

    fn u32(&mut self) -> Result<u32, Rejected> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, Rejected> {
        self.take().map(u64::from_le_bytes)
    }

    fn i64(&mut self) -> Result<i64, Rejected> {
        self.take().map(i64::from_le_bytes)
    }

    fn str(&mut self) -> Result<&'a str, Rejected> {
        let len = self.u32()? as usize;
        if self.0.len() < len {
            return Err(Rejected::Truncated);
        }
        let (text, rest) = self.0.split_at(len);
        self.0 = rest;
        std::str::from_utf8(text).map_err(|_| Rejected::Corrupt("a name is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            project_id: "pro-1".into(),
            api_url: "http://127.0.0.1:1/v2".into(),
        }
    }

    fn saved(sessions: u64) -> Saved {
        let mut set = ActiveSet::default();
        for i in 0..sessions {
            set.upsert(Held {
                id_hash: i * 7919,
                user_id: if i % 3 == 0 { "usr-a" } else { "usr-b" },
                created_ms: 1_000_000 + i as i64,
                expires_ms: 9_000_000 + i as i64,
            });
        }
        Saved {
            times: SyncTimes {
                saved_ms: 5_000,
                synced_from_ms: 4_000,
                last_resync_ms: 3_000,
                settled_until_ms: 4_000,
            },
            set,
        }
    }

    fn encoded(saved: &Saved) -> Vec<u8> {
        encode(&identity(), &saved.times, &saved.set)
    }

    fn summary(set: &ActiveSet) -> crate::aggregate::Summary {
        let mut summary = crate::aggregate::Summary::default();
        set.tally(10, &mut summary);
        summary
    }

    #[test]
    fn a_saved_set_reads_back_as_it_was() {
        let original = saved(1_000);
        let bytes = encoded(&original);
        let back = decode(&bytes, &identity(), 10_000, 0).expect("valid");
        assert_eq!(back.times, original.times);
        assert_eq!(back.set.len(), 1_000);
        assert_eq!(summary(&back.set), summary(&original.set));
        assert_eq!(
            back.set.count_created(&crate::aggregate::CreatedRange::ALL),
            1_000
        );
    }

    #[test]
    fn every_kind_of_damage_is_refused_with_its_reason() {
        let bytes = encoded(&saved(10));
        let check = |bytes: &[u8]| decode(bytes, &identity(), 10_000, 0).err();
        assert_eq!(check(&bytes[..bytes.len() - 1]), Some(Rejected::Truncated));
        assert_eq!(check(&bytes[..10]), Some(Rejected::Truncated));
        assert_eq!(check(b"{}"), Some(Rejected::NotAStateFile));
        // A body length that, with the digest after it, would pass the end of memory.
        let mut huge = bytes.clone();
        let at = MAGIC.len() + 4;
        huge[at..at + 8].copy_from_slice(&(u64::MAX - 40).to_le_bytes());
        assert_eq!(check(&huge), Some(Rejected::Truncated));
        let mut flipped = bytes.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x01;
        assert_eq!(check(&flipped), Some(Rejected::Checksum));
        let mut version = bytes.clone();
        version[MAGIC.len()] = 9;
        assert_eq!(check(&version), Some(Rejected::Version(9)));
        let other = Identity {
            project_id: "pro-2".into(),
            ..identity()
        };
        assert_eq!(
            decode(&bytes, &other, 10_000, 0).err(),
            Some(Rejected::OtherProject)
        );
        let other = Identity {
            api_url: "http://127.0.0.1:2/v2".into(),
            ..identity()
        };
        assert_eq!(
            decode(&bytes, &other, 10_000, 0).err(),
            Some(Rejected::OtherApiUrl)
        );
        assert_eq!(
            decode(&bytes, &identity(), 4_000 + 3_601_000, 3_600_000).err(),
            Some(Rejected::TooOld(3_601))
        );
        assert!(decode(&bytes, &identity(), 4_000 + 3_599_000, 3_600_000).is_ok());
    }

    #[test]
    fn file_names_cannot_leave_the_directory() {
        let dir = Path::new("/var/lib/x");
        assert_eq!(path_for(dir, "pro-123"), dir.join("pro-123.state"));
        assert_eq!(
            path_for(dir, "../etc/passwd"),
            dir.join("%2E.%2Fetc%2Fpasswd.state")
        );
        assert_eq!(path_for(dir, "a/b"), dir.join("a%2Fb.state"));
    }
}
