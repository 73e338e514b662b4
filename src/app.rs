//! `Application::build`: connect and migrate the database, start the bus, bind the listener
//! (port 0 works) and serve; plus the graceful stop used by signals and tests.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_http::{HttpService, KeepAlive};
use actix_server::{Server, ServerHandle};
use actix_service::{fn_service, map_config};
use actix_web::dev::AppConfig;
use actix_web::{App, middleware::from_fn, web};
use anyhow::{Context, bail};
use slog::{Logger, info, warn};

use crate::bus::auth_cache::AuthCache;
use crate::bus::{Bus, Cache, local, redis};
use crate::config::{Config, MediaBackend};
use crate::db::Db;
use crate::media::blob::{BlobStore, S3Settings};
use crate::state::{AppState, Core, Dependencies};
use crate::ws::hub::HubHandle;
use crate::ws::presence::Presence;
use crate::{http, secret};

/// A built, bound, not-yet-running server.
pub struct Application {
    addr: SocketAddr,
    server: Server,
    metrics: Option<Server>,
    state: web::Data<AppState>,
    background: Vec<tokio::task::JoinHandle<()>>,
}

/// Stops a running [`Application`] gracefully; cheap to clone.
#[derive(Clone)]
pub struct Stopper {
    handle: ServerHandle,
    metrics: Option<ServerHandle>,
    state: web::Data<AppState>,
}

impl Stopper {
    /// Stop accepting, mark not-ready, and let in-flight requests finish (bounded by
    /// `http.shutdown_timeout_secs`).
    pub async fn stop(&self) {
        self.state.begin_shutdown();
        // Close sockets first (1001): a graceful stop would otherwise wait out its whole
        // timeout on long-lived connections.
        if self.state.hub.shutdown().await > 0 {
            let grace = Duration::from_millis(self.state.config.ws.shutdown_grace_ms);
            let deadline = tokio::time::Instant::now() + grace;
            while tokio::time::Instant::now() < deadline
                && !self.state.hub.online_users().await.is_empty()
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        self.handle.stop(true).await;
        if let Some(metrics) = &self.metrics {
            metrics.stop(true).await;
        }
    }
}

impl Application {
    /// Connect everything described by `config` and bind the listener. Must be called on a
    /// multi-thread tokio runtime (migrations and database tasks run there).
    pub async fn build(config: Config, log: Logger) -> anyhow::Result<Application> {
        let config = Arc::new(config);
        let instance_id = uuid::Uuid::new_v4().simple().to_string();

        crate::config::ensure_data_dir(&config.data_dir)
            .with_context(|| format!("cannot create data_dir {}", config.data_dir.display()))?;

        let db = Db::connect(&config).await.context("database")?;
        if config.database.migrate_on_start {
            let applied = db.migrate().await.context("database migration")?;
            if !applied.is_empty() {
                info!(log, "migrations applied"; "versions" => applied.join(","));
            }
        } else {
            let status = db.migration_status().await.context("database migration status")?;
            if !status.pending.is_empty() {
                bail!(
                    "the database has {} pending migration(s) ({}); run `jim migrate` or set \
                     database.migrate_on_start = true",
                    status.pending.len(),
                    status.pending.join(", ")
                );
            }
        }

        let mut background = Vec::new();
        let (bus, cache) = if config.uses_redis() {
            let url = config.redis.url.trim();
            let pool = redis::pool(url, config.redis.pool_size).context("redis.url")?;
            let commands = redis::Commands::new(pool);
            let bus = redis::RedisBus::start(
                url,
                commands.clone(),
                &config.server_name,
                &instance_id,
                log.new(slog::o!("component" => "bus")),
            )
            .context("redis.url")?;
            tokio::time::timeout(Duration::from_secs(5), bus.ping())
                .await
                .map_err(|_| anyhow::anyhow!("timed out"))
                .and_then(|r| r.map_err(anyhow::Error::from))
                .with_context(|| {
                    format!("redis at {} does not answer", crate::config::redact_url(url))
                })?;
            (Bus::Redis(bus), Cache::Redis(redis::RedisCache::new(commands, &config.server_name)))
        } else {
            let cache = Arc::new(local::LocalCache::default());
            background.push(tokio::spawn(purge_local_cache(cache.clone())));
            (Bus::Local(local::LocalBus::new(&instance_id)), Cache::Local(cache))
        };

        let secret = secret::load_or_create(&config, &db).await.context("secret")?;
        background.push(tokio::spawn(crate::bus::notify::relay_control_events(
            db.clone(),
            bus.clone(),
            log.new(slog::o!("component" => "control")),
        )));

        let messages = crate::store::connect(&config, &db).await.context("messages")?;
        let (presence_tx, presence_rx) = tokio::sync::mpsc::unbounded_channel();
        let hub = HubHandle::start(&config.ws, presence_tx);
        let redis_cache = match &cache {
            Cache::Redis(redis) => Some(redis.clone()),
            Cache::Local(_) => None,
        };
        let auth_cache = AuthCache::new(&config, redis_cache);
        let blobs = media_store(&config)?;
        if let Err(e) = blobs.check().await {
            // Chat works without the media store; uploads answer 503 until it is back.
            warn!(log, "media store unreachable"; "backend" => blobs.name(), "error" => e.to_string());
        }
        let deps = Dependencies {
            db,
            bus,
            cache,
            secret,
            messages,
            presence: Presence::default(),
            auth_cache,
            blobs,
        };
        let mailer = crate::mail::Mailer::from_config(&config.mail).context("mail")?;
        let core = Core::new(config.clone(), log.clone(), deps, instance_id);
        let state = web::Data::new(AppState::new(core, hub));
        match mailer {
            Some(mailer) => {
                info!(log, "mail on"; "smtp" => &mailer.describe, "from" => mailer.from().to_string());
                background.push(tokio::spawn(crate::mail::run_sender(
                    state.db.clone(),
                    Arc::new(mailer),
                    config.mail.clone(),
                    state.instance_id.clone(),
                    state.mail_wake.clone(),
                    log.new(slog::o!("component" => "mail")),
                )));
            }
            None => warn!(
                log,
                "mail off: no mail.smtp_url, so binding an email address and resetting a \
                 forgotten password answer 503 MAIL_NOT_CONFIGURED"
            ),
        }
        if config.media.gc_interval_secs > 0 {
            background.push(tokio::spawn(media_gc_loop(
                state.clone(),
                log.new(slog::o!("component" => "media_gc")),
            )));
        }
        if let Some(calls) = state.calls.take_receiver() {
            background
                .push(tokio::spawn(crate::service::call::run(state.clone().into_inner(), calls)));
        }
        background.push(tokio::spawn(crate::ws::relay::run(
            state.clone(),
            presence_rx,
            log.new(slog::o!("component" => "relay")),
        )));

        let listener = listen(config.http.listen)
            .with_context(|| format!("cannot listen on http.listen = {}", config.http.listen))?;
        let addr = listener.local_addr()?;

        let server = serve(&config, listener, addr, state.clone())?;
        let metrics = match config.metrics.listen.trim() {
            "" => None,
            listen => {
                let at: SocketAddr = listen.parse().context("metrics.listen")?;
                let server = crate::http::metrics::serve(at, state.clone())
                    .with_context(|| format!("cannot serve metrics on metrics.listen = {at}"))?;
                info!(log, "metrics served"; "listen" => at.to_string(), "path" => "/metrics");
                Some(server)
            }
        };

        Ok(Application { addr, server, metrics, state, background })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Shared state (tests use it to reach the bus and database directly).
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// A handle that stops the server.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            handle: self.server.handle(),
            metrics: self.metrics.as_ref().map(Server::handle),
            state: self.state.clone(),
        }
    }

    /// Serve until stopped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self.metrics.map(tokio::spawn);
        let result = self.server.await;
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        for task in &self.background {
            task.abort();
        }
        result
    }
}

/// Connections the kernel queues for `accept` (capped by `net.core.somaxconn`). The standard
/// library's 128 overflowed when thousands of clients reconnect at once, or a load run opened
/// new connections during a pause, and each dropped SYN costs its client a 1 s retransmit.
const LISTEN_BACKLOG: u32 = 4096;

/// A non-blocking listener on `addr`, with address reuse and a deep accept queue.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)?.into_std()
}

/// The HTTP server: actix-web's `App` for requests, and WebSocket upgrades handed with their
/// connection to [`crate::ws::session::upgrade`], which runs the socket on its own small
/// buffers instead of the HTTP layer's (B4 memory, B3 latency).
fn serve(
    config: &Config,
    listener: TcpListener,
    addr: SocketAddr,
    state: web::Data<AppState>,
) -> anyhow::Result<Server> {
    let body_limit = config.http.body_limit_bytes;
    let origins = config.http.cors_allowed_origins.clone();
    let request_timeout = Duration::from_millis(config.http.request_timeout_ms);
    let mut builder = actix_server::Server::build()
        .disable_signals()
        .shutdown_timeout(config.http.shutdown_timeout_secs);
    if config.http.workers > 0 {
        builder = builder.workers(config.http.workers);
    }
    let graceful = builder.graceful_shutdown_signal();
    let builder = builder.listen("jim-http", listener, move || {
        let app_state = state.clone();
        let origins = origins.clone();
        let app = App::new()
            .app_data(app_state)
            .configure(|cfg| http::configure(cfg, body_limit))
            .wrap(from_fn(http::middleware::whole_numbers))
            .wrap(cors(&origins))
            .wrap(from_fn(http::middleware::request_log));
        let upgrade_state = state.clone();
        let graceful = graceful.clone();
        HttpService::build()
            .graceful_shutdown_signal(move || {
                let graceful = graceful.clone();
                async move { graceful.notified().await }
            })
            .keep_alive(KeepAlive::default())
            .client_request_timeout(request_timeout)
            .client_disconnect_timeout(Duration::from_secs(1))
            .local_addr(addr)
            .upgrade(fn_service(move |(req, framed)| {
                crate::ws::session::upgrade(upgrade_state.clone(), req, framed)
            }))
            .finish(map_config(app, |_| AppConfig::default()))
            .tcp()
    })?;
    Ok(builder.run())
}

fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        .allowed_headers(["authorization", "content-type", "accept"])
        .max_age(3600);
    if origins.iter().any(|o| o == "*") {
        // Any origin, but never with credentials: that combination is invalid CORS.
        cors = cors.allow_any_origin().send_wildcard();
    } else {
        for origin in origins {
            cors = cors.allowed_origin(origin);
        }
    }
    cors
}

/// Shared state for a CLI command: the configured database (migrated like `serve` would),
/// with an in-process bus and cache (the CLI reaches servers through the control table). It
/// logs nothing: what a command has to say, it prints.
pub async fn cli_state(config: Config) -> anyhow::Result<Core> {
    let log = Logger::root(slog::Discard, slog::o!());
    crate::config::ensure_data_dir(&config.data_dir)
        .with_context(|| format!("cannot create data_dir {}", config.data_dir.display()))?;
    let db = Db::connect(&config).await.context("database")?;
    if config.database.migrate_on_start {
        db.migrate().await.context("database migration")?;
    }
    let secret = secret::load_or_create(&config, &db).await.context("secret")?;
    let instance_id = uuid::Uuid::new_v4().simple().to_string();
    let messages = crate::store::connect(&config, &db).await.context("messages")?;
    // The CLI's bus and cache are in-process, but a revocation must still reach the
    // servers' session caches at once: the scale-out epoch lives in Redis.
    let redis_cache = if config.uses_redis() {
        let pool = redis::pool(config.redis.url.trim(), 1).context("redis.url")?;
        Some(redis::RedisCache::new(redis::Commands::new(pool), &config.server_name))
    } else {
        None
    };
    let deps = Dependencies {
        blobs: media_store(&config)?,
        auth_cache: AuthCache::new(&config, redis_cache),
        presence: Presence::default(),
        db,
        bus: Bus::Local(local::LocalBus::new(&instance_id)),
        cache: Cache::Local(Arc::new(local::LocalCache::default())),
        secret,
        messages,
    };
    Ok(Core::new(Arc::new(config), log, deps, instance_id))
}

/// The media store `[media]` describes (nothing is contacted yet).
fn media_store(config: &Config) -> anyhow::Result<BlobStore> {
    let m = &config.media;
    let store = match m.backend {
        MediaBackend::Fs => BlobStore::fs(&config.media_dir())
            .with_context(|| format!("media.dir {}", config.media_dir().display()))?,
        MediaBackend::S3 => BlobStore::s3(&S3Settings {
            endpoint: m.s3_endpoint.trim().trim_end_matches('/').to_string(),
            bucket: m.s3_bucket.trim().to_string(),
            region: m.s3_region.trim().to_string(),
            access_key_id: m.s3_access_key_id.trim().to_string(),
            secret_access_key: m.s3_secret_access_key.clone(),
            path_style: m.s3_path_style,
        })
        .context("media (s3)")?,
    };
    Ok(store)
}

/// Delete what no message or avatar refers to any more, every `media.gc_interval_secs`
/// (every instance runs it; a row is deleted by whichever instance chooses it first).
async fn media_gc_loop(state: web::Data<AppState>, log: Logger) {
    let every = Duration::from_secs(state.config.media.gc_interval_secs);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tick.tick().await;
        match crate::service::media::gc(&state, false).await {
            Ok(report) if report.deleted > 0 || report.failed > 0 => {
                info!(log, "media clean-up";
                    "deleted" => report.deleted, "bytes" => report.bytes, "failed" => report.failed)
            }
            Ok(_) => {}
            Err(e) => warn!(log, "media clean-up failed"; "error" => e.to_string()),
        }
    }
}

async fn purge_local_cache(cache: Arc<local::LocalCache>) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tick.tick().await;
        cache.purge_expired();
    }
}
