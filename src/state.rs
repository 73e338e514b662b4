//! What every request handler and background task shares: config, logger, repositories, bus.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use slog::Logger;

use crate::bus::{Bus, Cache};
use crate::config::Config;
use crate::db::Db;
use crate::secret::Secret;
use crate::service::password::PasswordHasher;
use crate::store::{MessageStore, sql::SqlStore};

/// Shared application state (wrapped in `web::Data`, i.e. an `Arc`).
pub struct AppState {
    pub config: Arc<Config>,
    pub log: Logger,
    pub db: Db,
    pub bus: Bus,
    pub cache: Cache,
    pub secret: Secret,
    pub hasher: PasswordHasher,
    /// Where chat messages live.
    pub messages: MessageStore,
    /// Unique per process; stamped on bus messages.
    pub instance_id: String,
    shutting_down: AtomicBool,
}

impl AppState {
    pub fn new(
        config: Arc<Config>,
        log: Logger,
        db: Db,
        bus: Bus,
        cache: Cache,
        secret: Secret,
        instance_id: String,
    ) -> Self {
        let hasher = PasswordHasher::new(config.auth.bcrypt_cost, config.auth.bcrypt_concurrency);
        let messages = MessageStore::Sql(SqlStore::new(db.clone()));
        Self {
            messages,
            config,
            log,
            db,
            bus,
            cache,
            secret,
            hasher,
            instance_id,
            shutting_down: AtomicBool::new(false),
        }
    }

    /// Mark the instance as draining: `/readyz` answers 503 from now on.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}
