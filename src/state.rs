//! What every request handler and background task shares: config, logger, repositories, bus.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use slog::Logger;

use crate::bus::auth_cache::AuthCache;
use crate::bus::notify::Notifier;
use crate::bus::publisher::Publisher;
use crate::bus::{Bus, Cache};
use crate::config::Config;
use crate::db::Db;
use crate::secret::Secret;
use crate::service::password::PasswordHasher;
use crate::store::MessageStore;
use crate::ws::hub::HubHandle;
use crate::ws::presence::Presence;

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
    /// Ordered background publishing of committed events.
    pub publisher: Publisher,
    /// The registry of this instance's WebSocket connections.
    pub hub: HubHandle,
    /// Who is online on any instance.
    pub presence: Presence,
    /// Sessions already verified (see [`AuthCache`]).
    pub auth_cache: Arc<AuthCache>,
    /// How revocations and admin actions reach every server.
    pub notifier: Notifier,
    /// Unique per process; stamped on bus messages.
    pub instance_id: String,
    /// `http.trusted_proxies`, parsed once.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    shutting_down: AtomicBool,
}

/// The connected backends an [`AppState`] is built from.
pub struct Dependencies {
    pub db: Db,
    pub bus: Bus,
    pub cache: Cache,
    pub secret: Secret,
    pub messages: MessageStore,
    pub hub: HubHandle,
    pub presence: Presence,
    pub auth_cache: AuthCache,
}

impl AppState {
    pub fn new(config: Arc<Config>, log: Logger, deps: Dependencies, instance_id: String) -> Self {
        let Dependencies { db, bus, cache, secret, messages, hub, presence, auth_cache } = deps;
        let hasher = PasswordHasher::new(config.auth.bcrypt_cost, config.auth.bcrypt_concurrency);
        let publisher = Publisher::start(bus.clone(), config.chat.publish_queue, log.clone());
        let auth_cache = Arc::new(auth_cache);
        let notifier = Notifier::new(db.clone(), bus.clone(), auth_cache.clone(), log.clone());
        let trusted_proxies =
            config.http.trusted_proxies.iter().filter_map(|p| p.parse().ok()).collect();
        Self {
            auth_cache,
            notifier,
            trusted_proxies,
            hub,
            presence,
            messages,
            publisher,
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
