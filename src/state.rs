//! What the application shares: the core every rule runs on (config, logger, repositories,
//! bus, caches), and around it the server's own parts (the WebSocket hub, trusted proxies,
//! the draining flag).

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use slog::Logger;

use crate::bus::auth_cache::AuthCache;
use crate::bus::notify::Notifier;
use crate::bus::publisher::Publisher;
use crate::bus::{Bus, Cache};
use crate::config::Config;
use crate::db::Db;
use crate::media::blob::BlobStore;
use crate::media::workers::PictureWorkers;
use crate::secret::Secret;
use crate::service::call::Calls;
use crate::service::password::PasswordHasher;
use crate::store::MessageStore;
use crate::ws::hub::HubHandle;
use crate::ws::presence::Presence;

/// What services and CLI commands run on: everything a rule reads or changes, and nothing
/// that only a running server has (its sockets). The ordered publisher and the presence
/// table are here because rules publish committed events in commit order and show friends'
/// presence; a CLI command's are in-process and reach no socket.
pub struct Core {
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
    /// Who is online on any instance.
    pub presence: Presence,
    /// Sessions already verified (see [`AuthCache`]).
    pub auth_cache: Arc<AuthCache>,
    /// How revocations and admin actions reach every server.
    pub notifier: Notifier,
    /// Unique per process; stamped on bus messages.
    pub instance_id: String,
    /// Where uploads live (a local directory or an S3 bucket).
    pub blobs: BlobStore,
    /// The low-priority threads that decode photos (`media.image_workers` of them).
    pub pictures: PictureWorkers,
    /// Wakes this instance's mail sender when a mail is queued (see [`crate::mail`]).
    pub mail_wake: Arc<tokio::sync::Notify>,
    /// The calls this instance owns (a server runs their task; see `service::call::run`).
    pub calls: Calls,
}

/// The connected backends a [`Core`] is built from.
pub struct Dependencies {
    pub db: Db,
    pub bus: Bus,
    pub cache: Cache,
    pub secret: Secret,
    pub messages: MessageStore,
    pub presence: Presence,
    pub auth_cache: AuthCache,
    pub blobs: BlobStore,
}

impl Core {
    pub fn new(config: Arc<Config>, log: Logger, deps: Dependencies, instance_id: String) -> Self {
        let Dependencies { db, bus, cache, secret, messages, presence, auth_cache, blobs } = deps;
        let pictures = crate::service::media::picture_workers(config.media.image_workers);
        let hasher = PasswordHasher::new(config.auth.bcrypt_cost, config.auth.bcrypt_concurrency);
        let publisher = Publisher::start(bus.clone(), config.chat.publish_queue, log.clone());
        let auth_cache = Arc::new(auth_cache);
        let notifier = Notifier::new(db.clone(), bus.clone(), auth_cache.clone(), log.clone());
        Self {
            auth_cache,
            notifier,
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
            blobs,
            pictures,
            mail_wake: Arc::new(tokio::sync::Notify::new()),
            calls: Calls::default(),
        }
    }
}

/// A running server's shared state (wrapped in `web::Data`, i.e. an `Arc`): the [`Core`]
/// (reached through `Deref`, so `state.db` reads as before) and the socket parts around it.
pub struct AppState {
    pub core: Core,
    /// The registry of this instance's WebSocket connections.
    pub hub: HubHandle,
    /// `http.trusted_proxies`, parsed once.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    shutting_down: AtomicBool,
}

impl Deref for AppState {
    type Target = Core;

    fn deref(&self) -> &Core {
        &self.core
    }
}

impl AppState {
    pub fn new(core: Core, hub: HubHandle) -> Self {
        let trusted_proxies =
            core.config.http.trusted_proxies.iter().filter_map(|p| p.parse().ok()).collect();
        Self { core, hub, trusted_proxies, shutting_down: AtomicBool::new(false) }
    }

    /// Mark the instance as draining: `/readyz` answers 503 from now on.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}
