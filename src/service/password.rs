//! Password hashing with bcrypt: off the async workers, behind a concurrency limit, never
//! truncating (passwords over 72 bytes are refused, not cut).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use tokio::sync::{OnceCell, Semaphore};

use crate::error::Result;

/// bcrypt's input limit; longer passwords are refused at registration.
pub const MAX_PASSWORD_BYTES: usize = 72;

/// Hashes and verifies passwords; counts the bcrypt operations it ran (for throttling tests
/// and metrics).
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    cost: u32,
    dummy_hash: OnceCell<String>,
    operations: AtomicU64,
}

impl PasswordHasher {
    /// `concurrency` 0 means one hash at a time per CPU core.
    pub fn new(cost: u32, concurrency: usize) -> Self {
        let permits = if concurrency == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
        } else {
            concurrency
        };
        Self {
            permits: Arc::new(Semaphore::new(permits)),
            cost,
            dummy_hash: OnceCell::new(),
            operations: AtomicU64::new(0),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> std::result::Result<T, bcrypt::BcryptError> + Send + 'static,
    ) -> Result<T> {
        let _permit = self.permits.clone().acquire_owned().await.context("hasher closed")?;
        self.operations.fetch_add(1, Ordering::Relaxed);
        let value = tokio::task::spawn_blocking(f).await.context("hash task")?.context("bcrypt")?;
        Ok(value)
    }

    /// A new bcrypt hash (random per-user salt) of `password`.
    pub async fn hash(&self, password: &str) -> Result<String> {
        let password = password.to_string();
        let cost = self.cost;
        self.blocking(move || bcrypt::non_truncating_hash(password, cost)).await
    }

    /// Whether `password` matches `hash`. A malformed stored hash counts as a mismatch.
    pub async fn verify(&self, password: &str, hash: &str) -> Result<bool> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        let (password, hash) = (password.to_string(), hash.to_string());
        self.blocking(move || Ok(bcrypt::non_truncating_verify(password, &hash).unwrap_or(false)))
            .await
    }

    /// Spend the same time as a real verification, for usernames that do not exist, so that
    /// timing does not reveal which accounts exist.
    pub async fn verify_dummy(&self, password: &str) -> Result<()> {
        let dummy = self
            .dummy_hash
            .get_or_try_init(|| async { self.hash("not-a-real-password-0").await })
            .await?
            .clone();
        let _ = self.verify(password, &dummy).await?;
        Ok(())
    }

    /// bcrypt operations run so far.
    pub fn operations(&self) -> u64 {
        self.operations.load(Ordering::Relaxed)
    }
}
