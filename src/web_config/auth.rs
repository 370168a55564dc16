//! Basic auth against the web config's bcrypt hashes, at a bounded cost.
//!
//! bcrypt runs one check at a time on a blocking thread, so a flood of bad logins costs one core
//! at the most; unknown users are checked against a dummy hash so they cost as much as known
//! ones; credentials that verified are cached under a keyed hash (never the password itself).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, OnceLock};

use tokio::sync::Semaphore;

use crate::basic_auth::Credentials;

/// Entries of the verified-credential cache before it is emptied and starts over.
const CACHE_LIMIT: usize = 1024;

/// What a request may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No users are configured: auth is off.
    Open,
    /// The credentials verified.
    Granted,
    /// Credentials were missing or wrong.
    Denied,
}

/// Checks credentials; one per live web config, its cache emptied on every reload.
pub struct Authenticator {
    /// One bcrypt check at a time.
    bcrypt_permits: Semaphore,
    /// Keyed hash of (user, password) → the bcrypt hash it verified against.
    verified: Mutex<HashMap<u64, String>>,
    /// A per-process random key, so the cache's keys say nothing outside this process.
    hash_key: std::collections::hash_map::RandomState,
}

impl Default for Authenticator {
    fn default() -> Self {
        Authenticator {
            bcrypt_permits: Semaphore::new(1),
            verified: Mutex::new(HashMap::new()),
            hash_key: std::collections::hash_map::RandomState::new(),
        }
    }
}

/// Compared against when the user is unknown, so that unknown users cost as much as known ones.
fn dummy_hash() -> String {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY
        .get_or_init(|| bcrypt::hash("corbado-exporter", bcrypt::DEFAULT_COST).unwrap_or_default())
        .clone()
}

impl Authenticator {
    /// Checks `credentials` against `users` (user name → bcrypt hash).
    pub async fn check(
        &self,
        users: &HashMap<String, String>,
        credentials: Option<&Credentials>,
    ) -> Access {
        if users.is_empty() {
            return Access::Open;
        }
        let Some(credentials) = credentials else {
            return Access::Denied;
        };
        let key = self
            .hash_key
            .hash_one((&credentials.user, &credentials.password));
        let hash = users.get(&credentials.user).cloned();
        if hash.is_some() && self.lock().get(&key) == hash.as_ref() {
            return Access::Granted;
        }
        let Ok(_permit) = self.bcrypt_permits.acquire().await else {
            return Access::Denied;
        };
        let against = hash.clone();
        let password = credentials.password.clone();
        let verified = tokio::task::spawn_blocking(move || {
            let against = against.unwrap_or_else(dummy_hash);
            bcrypt::verify(password, &against).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        match hash {
            Some(hash) if verified => {
                let mut cache = self.lock();
                if cache.len() >= CACHE_LIMIT {
                    cache.clear();
                }
                cache.insert(key, hash);
                Access::Granted
            }
            _ => Access::Denied,
        }
    }

    /// Empties the cache: the users may have changed.
    pub fn forget(&self) {
        self.lock().clear();
    }

    /// Credentials in the cache.
    pub fn cached(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, String>> {
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(user: &str, password: &str) -> Credentials {
        Credentials {
            user: user.into(),
            password: password.into(),
        }
    }

    #[tokio::test]
    async fn credentials_verify_once_then_come_from_the_cache() {
        let users = HashMap::from([("alice".to_owned(), bcrypt::hash("s3cret", 4).expect("hash"))]);
        let auth = Authenticator::default();
        let alice = credentials("alice", "s3cret");
        assert_eq!(auth.check(&users, Some(&alice)).await, Access::Granted);
        assert_eq!(auth.cached(), 1);
        assert_eq!(auth.check(&users, Some(&alice)).await, Access::Granted);
        let wrong = credentials("alice", "wrong");
        assert_eq!(auth.check(&users, Some(&wrong)).await, Access::Denied);
        let mallory = credentials("mallory", "s3cret");
        assert_eq!(auth.check(&users, Some(&mallory)).await, Access::Denied);
        assert_eq!(auth.check(&users, None).await, Access::Denied);
        assert_eq!(auth.check(&HashMap::new(), None).await, Access::Open);
        auth.forget();
        assert_eq!(auth.cached(), 0);
    }
}
