//! Basic auth against the web config's bcrypt hashes, at a bounded cost.
//!
//! bcrypt runs one check at a time on a blocking thread, so a flood of bad logins costs one core
//! at the most (and the gate takes a `rate_limit` token before any of them); unknown users are
//! checked against a dummy hash so they cost as much as known ones.
//!
//! Credentials that verified are remembered, as exporter-toolkit does, so that a prober sending
//! the same good password every few seconds costs no bcrypt, and so that the gate can tell,
//! before spending anything, whether a request's credentials are already known good. The cache
//! holds an HMAC-SHA-256 of user and password under a key drawn at start (never the password),
//! with the bcrypt hash it verified against; it holds at most [`CACHE_LIMIT`] entries and is
//! emptied whenever the web config is swapped. Failures are never cached: wrong passwords are
//! unbounded in number and would push the good ones out.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use ring::hmac;
use tokio::sync::Semaphore;

use crate::basic_auth::Credentials;

/// Entries of the verified-credential cache. A few per configured user is all a fleet of
/// probers needs; the bound only matters against a holder of a good password who varies it
/// (bcrypt ignores bytes past the 72nd, so one password has many spellings).
pub const CACHE_LIMIT: usize = 256;

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

/// The cache's key: an HMAC-SHA-256 of (user, password).
type CacheKey = Vec<u8>;

/// Checks credentials; one per live web config, its cache emptied on every reload.
pub struct Authenticator {
    /// One bcrypt check at a time.
    bcrypt_permits: Semaphore,
    /// Credentials that verified → the bcrypt hash they verified against, so that an entry
    /// left by a check that raced a reload never grants against the new hash.
    verified: Mutex<HashMap<CacheKey, String>>,
    /// Drawn at start, so that a cache key says nothing outside this process, and a memory
    /// dump of the cache alone cannot be brute-forced the way a plain SHA-256 could.
    hash_key: hmac::Key,
}

impl Default for Authenticator {
    fn default() -> Self {
        let random = ring::rand::SystemRandom::new();
        // Should the system's RNG fail, a fixed key leaves a plain keyed SHA-256: still no
        // password in memory, only a weaker defence of the cache against a memory dump.
        let hash_key = hmac::Key::generate(hmac::HMAC_SHA256, &random)
            .unwrap_or_else(|_| hmac::Key::new(hmac::HMAC_SHA256, b"corbado-exporter"));
        Authenticator {
            bcrypt_permits: Semaphore::new(1),
            verified: Mutex::new(HashMap::new()),
            hash_key,
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
    /// What `credentials` may do when that is known without bcrypt: auth off, no credentials,
    /// or credentials already verified against the current hash. `None`: only bcrypt can tell.
    pub fn known(
        &self,
        users: &HashMap<String, String>,
        credentials: Option<&Credentials>,
    ) -> Option<Access> {
        if users.is_empty() {
            return Some(Access::Open);
        }
        let Some(credentials) = credentials else {
            return Some(Access::Denied);
        };
        let hash = users.get(&credentials.user)?;
        let key = self.key(credentials);
        (self.lock().get(&key) == Some(hash)).then_some(Access::Granted)
    }

    /// Checks `credentials` against `users` (user name → bcrypt hash): from the cache when it
    /// can tell, else with bcrypt.
    pub async fn check(
        &self,
        users: &HashMap<String, String>,
        credentials: Option<&Credentials>,
    ) -> Access {
        if let Some(access) = self.known(users, credentials) {
            return access;
        }
        match credentials {
            Some(credentials) => self.verify(users, credentials).await,
            None => Access::Denied,
        }
    }

    /// bcrypt, one at a time on a blocking thread; a success is remembered.
    async fn verify(&self, users: &HashMap<String, String>, credentials: &Credentials) -> Access {
        let hash = users.get(&credentials.user).cloned();
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
                self.remember(self.key(credentials), hash);
                Access::Granted
            }
            _ => Access::Denied,
        }
    }

    /// Adds a verified entry, making room first when the cache is full. Which entry goes does
    /// not matter much: it costs its owner one bcrypt on its next request.
    fn remember(&self, key: CacheKey, hash: String) {
        let mut cache = self.lock();
        if cache.len() >= CACHE_LIMIT && !cache.contains_key(&key) {
            if let Some(victim) = cache.keys().next().cloned() {
                cache.remove(&victim);
            }
        }
        cache.insert(key, hash);
    }

    /// The user's length first, so that ("ab", "c") and ("a", "bc") never share a key.
    fn key(&self, credentials: &Credentials) -> CacheKey {
        let mut context = hmac::Context::with_key(&self.hash_key);
        context.update(&(credentials.user.len() as u64).to_be_bytes());
        context.update(credentials.user.as_bytes());
        context.update(credentials.password.as_bytes());
        context.sign().as_ref().to_vec()
    }

    /// Empties the cache: the users may have changed.
    pub fn forget(&self) {
        self.lock().clear();
    }

    /// Credentials in the cache.
    pub fn cached(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, String>> {
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

    fn alice_users() -> HashMap<String, String> {
        HashMap::from([("alice".to_owned(), bcrypt::hash("s3cret", 4).expect("hash"))])
    }

    #[tokio::test]
    async fn credentials_verify_once_then_come_from_the_cache() {
        let users = alice_users();
        let auth = Authenticator::default();
        let alice = credentials("alice", "s3cret");
        assert_eq!(auth.known(&users, Some(&alice)), None, "not verified yet");
        assert_eq!(auth.check(&users, Some(&alice)).await, Access::Granted);
        assert_eq!(auth.cached(), 1);
        assert_eq!(auth.known(&users, Some(&alice)), Some(Access::Granted));
        assert_eq!(auth.check(&users, Some(&alice)).await, Access::Granted);
        let wrong = credentials("alice", "wrong");
        assert_eq!(auth.check(&users, Some(&wrong)).await, Access::Denied);
        let mallory = credentials("mallory", "s3cret");
        assert_eq!(auth.check(&users, Some(&mallory)).await, Access::Denied);
        assert_eq!(auth.check(&users, None).await, Access::Denied);
        assert_eq!(auth.check(&HashMap::new(), None).await, Access::Open);
        auth.forget();
        assert_eq!(auth.cached(), 0);
        assert_eq!(auth.known(&users, Some(&alice)), None, "forgotten");
    }

    #[tokio::test]
    async fn failures_are_never_cached_and_a_wrong_password_always_costs_its_bcrypt() {
        let users = alice_users();
        let auth = Authenticator::default();
        let wrong = credentials("alice", "wrong");
        for _ in 0..2 {
            assert_eq!(auth.check(&users, Some(&wrong)).await, Access::Denied);
            assert_eq!(auth.known(&users, Some(&wrong)), None, "bcrypt again");
        }
        let unknown = credentials("mallory", "x");
        assert_eq!(auth.check(&users, Some(&unknown)).await, Access::Denied);
        assert_eq!(auth.known(&users, Some(&unknown)), None);
        assert_eq!(auth.cached(), 0);
    }

    #[tokio::test]
    async fn the_cache_keeps_no_password_and_grants_only_against_the_hash_it_verified() {
        let users = alice_users();
        let auth = Authenticator::default();
        let alice = credentials("alice", "s3cret");
        assert_eq!(auth.check(&users, Some(&alice)).await, Access::Granted);
        for (key, _) in auth.lock().iter() {
            assert_eq!(key.len(), 32, "an HMAC-SHA-256");
            assert!(!key.windows(6).any(|w| w == b"s3cret"));
        }
        // The same user and password, a new hash (a reload that raced this check): bcrypt again.
        let rehashed = HashMap::from([("alice".to_owned(), bcrypt::hash("s3cret", 4).expect("h"))]);
        assert_eq!(auth.known(&rehashed, Some(&alice)), None);
        // The user's length is part of the key: a shifted split is another entry.
        assert_ne!(auth.key(&alice), auth.key(&credentials("alices", "3cret")));
    }

    #[test]
    fn the_cache_never_holds_more_than_its_limit() {
        let auth = Authenticator::default();
        for n in 0..CACHE_LIMIT + 10 {
            auth.remember(auth.key(&credentials("alice", &n.to_string())), "h".into());
        }
        assert_eq!(auth.cached(), CACHE_LIMIT);
        let last = credentials("alice", &(CACHE_LIMIT + 9).to_string());
        assert!(
            auth.lock().contains_key(&auth.key(&last)),
            "the newest stays"
        );
    }
}
