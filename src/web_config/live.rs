//! The web configuration in force: swapped for a new one when the file changes (checked every
//! two seconds) or on a reload (SIGHUP, `POST /-/reload`, which the wiring routes here); a file
//! that no longer validates is logged and the previous configuration stays.
//!
//! Reading the file is blocking work: the watcher does it on a blocking thread, and no lock is
//! held while a file is read.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::auth::{Access, Authenticator};
use super::{WebConfig, WebConfigError, WebConfigFile};
use crate::basic_auth::Credentials;

/// A file's modification time and length: what "changed" means here.
type FileStamp = (SystemTime, u64);

pub struct LiveWebConfig {
    path: Option<PathBuf>,
    current: RwLock<Arc<WebConfig>>,
    stamp: Mutex<Option<FileStamp>>,
    auth: Authenticator,
}

impl LiveWebConfig {
    /// Starts from the file as it was read (or the empty config without a file).
    pub fn new(file: Option<WebConfigFile>) -> Arc<Self> {
        let (path, initial) = match file {
            Some(file) => (Some(file.path), file.config),
            None => (None, WebConfig::default()),
        };
        let stamp = path.as_deref().and_then(file_stamp);
        Arc::new(LiveWebConfig {
            path,
            current: RwLock::new(Arc::new(initial)),
            stamp: Mutex::new(stamp),
            auth: Authenticator::default(),
        })
    }

    /// Loads `path` (if any) and validates it.
    pub fn load(path: Option<PathBuf>) -> Result<Arc<Self>, WebConfigError> {
        Ok(Self::new(path.map(WebConfigFile::load).transpose()?))
    }

    pub fn current(&self) -> Arc<WebConfig> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Checks basic-auth credentials against the current users.
    pub async fn authorize(&self, credentials: Option<&Credentials>) -> Access {
        self.authorize_against(&self.current(), credentials).await
    }

    /// Checks basic-auth credentials against `config`'s users: the configuration a request
    /// took at its start, so that one request sees one configuration throughout.
    pub async fn authorize_against(
        &self,
        config: &WebConfig,
        credentials: Option<&Credentials>,
    ) -> Access {
        self.auth.check(&config.users, credentials).await
    }

    /// What `credentials` may do against `config`'s users when that is known without bcrypt
    /// (auth off, none sent, or already verified); `None` when only bcrypt can tell.
    pub fn known_access(
        &self,
        config: &WebConfig,
        credentials: Option<&Credentials>,
    ) -> Option<Access> {
        self.auth.known(&config.users, credentials)
    }

    /// Re-reads the file; on success swaps it in, on failure keeps the old one and says why.
    pub fn reload(&self) -> bool {
        match self.prepare() {
            Ok(next) => {
                self.install(next);
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "web config not reloaded; keeping the previous one");
                false
            }
        }
    }

    /// Reads and validates the file without putting it in force: `None` without a file.
    pub fn prepare(&self) -> Result<Option<WebConfig>, WebConfigError> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        // The file's metadata is read before the lock is taken, never under it.
        let stamp = file_stamp(path);
        *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) = stamp;
        WebConfig::load(path).map(Some)
    }

    /// Puts what [`Self::prepare`] read in force, and forgets the credentials verified against
    /// the previous users. An unchanged `rate_limit` keeps its bucket: a fresh, full one on
    /// every reload would let whoever may reload (or touch the file) undo the limit at will.
    pub fn install(&self, next: Option<WebConfig>) {
        let Some(mut config) = next else {
            return;
        };
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if let (Some(old), Some(new)) = (&current.rate_limit, &config.rate_limit) {
            if old.same_settings(new) {
                config.rate_limit = Some(Arc::clone(old));
            }
        }
        *current = Arc::new(config);
        drop(current);
        self.auth.forget();
        if let Some(path) = &self.path {
            tracing::info!(file = %path.display(), "web config reloaded");
        }
    }

    /// Reloads when the file changed since the last look.
    pub fn reload_if_changed(&self) -> bool {
        let Some(path) = &self.path else {
            return false;
        };
        let now = file_stamp(path);
        let before = *self.stamp.lock().unwrap_or_else(|e| e.into_inner());
        now != before && self.reload()
    }

    /// Watches the file (every two seconds) until `shutdown`. Each look runs on a blocking
    /// thread: it reads the file's metadata, and the file itself when it changed, and a slow
    /// disk must not hold up an async worker that serves scrapes.
    pub async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        if self.path.is_none() {
            return;
        }
        let mut ticker = tokio::time::interval(Duration::from_secs(2));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {
                    let live = Arc::clone(&self);
                    // A look that panicked changed nothing; the next tick looks again.
                    let _ = tokio::task::spawn_blocking(move || live.reload_if_changed()).await;
                }
            }
        }
    }
}

fn file_stamp(path: &Path) -> Option<FileStamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web_config::tests::write;

    #[tokio::test]
    async fn a_broken_file_on_reload_keeps_the_previous_configuration() {
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let (_dir, path) = write(
            "live.yml",
            &format!("basic_auth_users:\n  alice: '{hash}'\n"),
        );
        let live = LiveWebConfig::load(Some(path.clone())).expect("valid");
        let alice = Credentials {
            user: "alice".into(),
            password: "s3cret".into(),
        };
        assert_eq!(live.authorize(Some(&alice)).await, Access::Granted);
        std::fs::write(&path, "basic_auth_users: [").expect("write");
        assert!(!live.reload());
        assert_eq!(live.current().users.len(), 1);
        let open = LiveWebConfig::load(None).expect("valid");
        assert_eq!(open.authorize(None).await, Access::Open);
    }

    #[tokio::test]
    async fn a_reload_empties_the_verified_cache_and_keeps_an_unchanged_rate_limit() {
        // Regression: each reload put a fresh, full bucket in force, so `POST /-/reload` (or a
        // touch of the file) refilled the rate limit it should have spent.
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let text = format!(
            "basic_auth_users:\n  alice: '{hash}'\nrate_limit:\n  interval: 1h\n  burst: 2\n"
        );
        let (_dir, path) = write("live-rate.yml", &text);
        let live = LiveWebConfig::load(Some(path.clone())).expect("valid");
        let alice = Credentials {
            user: "alice".into(),
            password: "s3cret".into(),
        };
        assert_eq!(live.authorize(Some(&alice)).await, Access::Granted);
        let bucket = |live: &LiveWebConfig| live.current().rate_limit.clone().expect("a bucket");
        assert!(bucket(&live).try_take() && bucket(&live).try_take());
        assert!(live.reload());
        assert!(!bucket(&live).try_take(), "the same bucket, still empty");
        let known = live.known_access(&live.current(), Some(&alice));
        assert_eq!(known, None, "verified again after a reload");
        std::fs::write(&path, text.replace("burst: 2", "burst: 3")).expect("write");
        assert!(live.reload());
        assert!(bucket(&live).try_take(), "a new limit, a new bucket");
    }
}
