//! The relational repository: one diesel schema served by SQLite (through
//! `SyncConnectionWrapper`) or MySQL/MariaDB (through `AsyncMysqlConnection`), chosen at runtime
//! from the URL. Query bodies are written once and compiled per backend by [`db_run!`].

/// One statement (or a few) on a pooled connection of the active backend, through
/// [`Db::run`]: `query!(db, |c| body)` runs `body` once per backend as [`db_run!`] does, with
/// what it captures moved in, and turns its diesel error into a [`DbError`].
///
/// The two usual endings are spelled once: `query!(db, optional Row, q)` is the first row of
/// `q` as a `Row`, if any; `query!(db, all Row, q)` every row of `q` as a `Row`.
macro_rules! query {
    ($db:expr, |$c:ident| $body:expr) => {
        $db.run(move |mut conn| async move { Ok($crate::db_run!(&mut conn, |$c| $body)?) }).await
    };
    ($db:expr, optional $row:ty, $query:expr) => {
        query!($db, |c| $query.select(<$row>::as_select()).first(c).await.optional())
    };
    ($db:expr, all $row:ty, $query:expr) => {
        query!($db, |c| $query.select(<$row>::as_select()).load(c).await)
    };
}

/// [`query!`] for a body that is one transaction: `transaction!(db, |c| { … })` runs the
/// block inside `c.transaction`, committed when it returns `Ok`.
macro_rules! transaction {
    ($db:expr, |$c:ident| $body:expr) => {{
        let _turn = $db.sqlite_write_turn().await;
        $db.run(move |mut conn| async move {
            $crate::db_run!(&mut conn, |$c| {
                diesel_async::AsyncConnection::transaction($c, async |$c| $body).await
            })
        })
        .await
    }};
}

pub mod backup;
mod checkpoint;
pub mod control;
pub mod conversation;
pub mod friend;
pub mod group;
mod ids;
pub mod mail;
pub mod media;
pub mod meta;
pub mod migrate;
pub mod schema;
pub mod session;
pub mod shaped;
pub mod user;
pub mod user_data;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::sql_types::BigInt;
use diesel::sqlite::SqliteConnection;
use diesel_async::pooled_connection::deadpool::{Hook, HookError, Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::{SpawnBlocking, SyncConnectionWrapper};
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::config::{Config, DatabaseKind};

/// SQLite connection usable from async code. Its statements run inline on the calling thread
/// (see [`Inline`]).
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection, Inline>;

/// Runs a SQLite statement on the calling thread instead of the blocking pool. A statement
/// answered from the page cache takes microseconds, far less than the two thread hand-offs
/// `spawn_blocking` costs; and an inline statement cannot be cancelled half-way.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inline;

impl SpawnBlocking for Inline {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> BoxFuture<'a, Result<R, Box<dyn std::error::Error + Send + Sync + 'static>>>
    where
        R: Send + 'static,
    {
        Box::pin(std::future::ready(Ok(task())))
    }

    fn get_runtime() -> Self {
        Inline
    }
}
/// MySQL / MariaDB connection (pure Rust, no libmysqlclient).
pub type MysqlConn = AsyncMysqlConnection;

/// A pool of the active backend.
#[derive(Clone)]
pub enum DbPool {
    Sqlite(Pool<SqliteConn>),
    Mysql(Pool<MysqlConn>),
}

/// A pooled connection of the active backend; use it through [`db_run!`].
pub enum DbConn {
    Sqlite(Object<SqliteConn>),
    Mysql(Object<MysqlConn>),
}

/// Run one query body against whichever backend `$conn` holds. The body is type-checked once
/// per backend, with `$c` bound to the concrete connection.
#[macro_export]
macro_rules! db_run {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Sqlite(object) => {
                let $c: &mut $crate::db::SqliteConn = &mut *object;
                $body
            }
            $crate::db::DbConn::Mysql(object) => {
                let $c: &mut $crate::db::MysqlConn = &mut *object;
                $body
            }
        }
    };
    ($conn:expr, sqlite |$a:ident| $sqlite:expr, mysql |$b:ident| $mysql:expr) => {
        match $conn {
            $crate::db::DbConn::Sqlite(object) => {
                let $a: &mut $crate::db::SqliteConn = &mut *object;
                $sqlite
            }
            $crate::db::DbConn::Mysql(object) => {
                let $b: &mut $crate::db::MysqlConn = &mut *object;
                $mysql
            }
        }
    };
}

/// Errors of the repository layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("no database connection available: {0}")]
    Pool(String),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("database task failed: {0}")]
    Task(String),
}

impl DbError {
    /// Whether the failure is a unique-constraint violation (a lost race or a duplicate).
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            DbError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }

    /// Whether retrying the whole transaction may succeed: a MySQL deadlock or lock-wait
    /// timeout, or a busy SQLite database.
    pub fn is_retryable(&self) -> bool {
        match self {
            DbError::Query(diesel::result::Error::DatabaseError(kind, info)) => {
                let message = info.message();
                matches!(kind, diesel::result::DatabaseErrorKind::SerializationFailure)
                    || message.contains("Deadlock found")
                    || message.contains("Lock wait timeout")
                    || message.contains("database is locked")
            }
            _ => false,
        }
    }

    /// Whether the failure may have come from a connection the database closed: anything but
    /// an answer about the data (a duplicate, a missing row, a lost race).
    fn may_have_lost_connection(&self) -> bool {
        !matches!(
            self,
            DbError::Query(diesel::result::Error::NotFound)
                | DbError::Query(diesel::result::Error::RollbackTransaction)
        ) && !self.is_unique_violation()
            && !self.is_retryable()
    }

    /// Whether the failure means "the database is not reachable right now" (503: the client
    /// may try again): no connection to be had, a connection lost under a query (reset,
    /// closed, the server going away or shutting down), or a transaction that kept hitting
    /// deadlocks or a busy database. Anything else is a bug (500).
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Pool(_) | DbError::Connect(_) => true,
            DbError::Query(diesel::result::Error::DatabaseError(_, info)) => {
                let message = info.message();
                self.is_retryable() || LOST_LINK.iter().any(|m| message.contains(m))
            }
            _ => false,
        }
    }
}

/// How a lost or refused link to the database reads in a query's error. The MySQL driver
/// hands its own errors to diesel as text only (mysql_async's `Display`), so they are told
/// apart by it: an I/O error on the socket (reset, broken pipe, end of stream, TLS), the
/// driver finding the connection closed or out of step with the server, and the server
/// errors that mean "not now"
/// (1040 too many connections, 1053 shutting down, 1927 connection killed, 2006/2013 gone).
const LOST_LINK: &[&str] = &[
    "Input/output error",
    "Connection to the server is closed",
    "Pool was disconnected",
    "Too many connections",
    "Server shutdown in progress",
    "Connection was killed",
    "server has gone away",
    "Lost connection to",
    // The connection's protocol state is broken, as after a KILL that lands between a query
    // and its answer: the connection cannot be used again.
    "Packet out of order",
    "Unexpected packet",
];

impl From<DbError> for crate::error::AppError {
    fn from(e: DbError) -> Self {
        if e.is_unavailable() {
            crate::error::AppError::Unavailable(e.into())
        } else {
            crate::error::AppError::Internal(e.into())
        }
    }
}

/// Result of repository functions.
pub type DbResult<T> = Result<T, DbError>;

/// The repository facade: a pool plus the multi-thread runtime MySQL queries run on.
///
/// SQLite statements run inline on the caller's thread (see [`Inline`]): each completes in
/// the poll that starts it, so a cancelled request cannot stop one half-way. A MySQL call is
/// spawned onto the main runtime and awaited through its `JoinHandle`, so a cancelled request
/// (actix drops the handler when the client goes) detaches the query instead of cancelling it
/// mid-flight.
#[derive(Clone)]
pub struct Db {
    pool: DbPool,
    runtime: tokio::runtime::Handle,
    kind: DatabaseKind,
    url: String,
    /// SQLite: keeps the background checkpointer running while any handle lives.
    _checkpointer: Option<Arc<checkpoint::Checkpointer>>,
    /// MySQL: when pooled connections must be verified at every checkout.
    verify: Arc<VerifyWindow>,
    /// How connections are opened (for [`Db::own_connection`]).
    setup: Arc<Setup>,
    /// See [`Db::opens_transactions`].
    implicit_transactions: bool,
    /// SQLite: whose turn it is to write (see [`Db::sqlite_write_turn`]); shared by every
    /// handle on the same database, the message writer's included.
    write_turns: Arc<WriteTurns>,
}

/// SQLite's write lock, taken in the process before SQLite is asked for it (see
/// [`Db::sqlite_write_turn`]).
#[derive(Default)]
struct WriteTurns {
    /// Held while writing.
    lock: Arc<tokio::sync::Mutex<()>>,
    /// Where writers other than the message writer wait for their turn at `lock`.
    others: Arc<tokio::sync::Mutex<()>>,
}

impl WriteTurns {
    /// A turn for any writer but the message writer: they line up among themselves first,
    /// so at most one of them is ever queued for the lock beside the message writer.
    async fn other_turn(&self) -> WriteTurn {
        let queue = self.others.clone().lock_owned().await;
        let lock = self.lock.clone().lock_owned().await;
        WriteTurn { _lock: lock, _queue: Some(queue) }
    }

    /// The message writer's turn, ahead of every other writer still waiting.
    async fn message_turn(&self) -> WriteTurn {
        WriteTurn { _lock: self.lock.clone().lock_owned().await, _queue: None }
    }
}

/// A turn to write on SQLite; the next writer's begins when this drops.
pub struct WriteTurn {
    _lock: tokio::sync::OwnedMutexGuard<()>,
    _queue: Option<tokio::sync::OwnedMutexGuard<()>>,
}

/// The page cache of the SQLite message writer's own connection (filled as it is used).
const WRITER_CACHE_KIB: u32 = 64 * 1024;

/// How a backend's connections are opened.
enum Setup {
    Sqlite(SqliteSetup),
    Mysql(MysqlSetup),
}

/// How MySQL connections are opened.
struct MysqlSetup {
    url: String,
    timeout: Duration,
    verify: Arc<VerifyWindow>,
}

impl MysqlSetup {
    /// A pool of up to `size` connections, each set up for our session settings, and with
    /// `autocommit` as asked.
    fn pool(&self, size: usize, autocommit: bool) -> DbResult<Pool<MysqlConn>> {
        let timeout = self.timeout;
        // The message writer's connection runs without autocommit (see [`Db::opens_transactions`]).
        let setup = if autocommit {
            MYSQL_SESSION_SETUP.to_string()
        } else {
            format!("{MYSQL_SESSION_SETUP}, autocommit = 0")
        };
        let mut manager_config = ManagerConfig::<MysqlConn>::default();
        // The liveness check runs in the `pre_recycle` hook below, only for
        // connections that sat idle (see [`MYSQL_VERIFY_IDLE`]).
        manager_config.recycling_method = RecyclingMethod::Fast;
        manager_config.custom_setup = Box::new(move |url| {
            let (url, setup) = (url.to_string(), setup.clone());
            async move { establish_with_setup::<MysqlConn>(&url, &setup).await }.boxed()
        });
        let manager = AsyncDieselConnectionManager::new_with_config(&self.url, manager_config);
        let hook_verify = self.verify.clone();
        let builder = Pool::builder(manager).pre_recycle(Hook::async_fn(
            move |conn: &mut MysqlConn, metrics| {
                let needed = metrics.last_used() >= MYSQL_VERIFY_IDLE || hook_verify.is_open();
                Box::pin(async move {
                    if !needed {
                        return Ok(());
                    }
                    diesel::sql_query("SELECT 1")
                        .execute(conn)
                        .await
                        .map(drop)
                        .map_err(|e| HookError::message(e.to_string()))
                })
            },
        ));
        build_pool(builder, size, timeout)
    }
}

/// How SQLite connections are opened.
struct SqliteSetup {
    path: String,
    pragmas: String,
    timeout: Duration,
}

impl SqliteSetup {
    /// A pool of up to `size` connections, each set up with the pragmas and then `extra`.
    fn pool(&self, size: usize, extra: &str) -> DbResult<Pool<SqliteConn>> {
        let pragmas = format!("{} {extra}", self.pragmas);
        let mut manager_config = ManagerConfig::<SqliteConn>::default();
        // A connection to a local file cannot go away: no `SELECT 1` per checkout.
        manager_config.recycling_method = RecyclingMethod::Fast;
        manager_config.custom_setup = Box::new(move |url| {
            let pragmas = pragmas.clone();
            let path = sqlite_path(url).to_string();
            async move { establish_with_setup::<SqliteConn>(&path, &pragmas).await }.boxed()
        });
        let manager = AsyncDieselConnectionManager::new_with_config(&self.path, manager_config);
        build_pool(Pool::builder(manager), size, self.timeout)
    }
}

/// A new connection for a pool: opened at `url`, then set up with `setup` (pragmas, session
/// variables) before its first use.
async fn establish_with_setup<C: AsyncConnection>(
    url: &str,
    setup: &str,
) -> diesel::ConnectionResult<C> {
    let mut conn = C::establish(url).await?;
    conn.batch_execute(setup).await.map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

/// A pool of at most `size` connections, on the tokio runtime, whose checkouts and new
/// connections wait at most `timeout`.
fn build_pool<C>(
    builder: deadpool::managed::PoolBuilder<AsyncDieselConnectionManager<C>>,
    size: usize,
    timeout: Duration,
) -> DbResult<Pool<C>>
where
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager,
{
    builder
        .max_size(size)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| DbError::Connect(e.to_string()))
}

impl Db {
    /// Connect a pool for `config` (does not migrate). Must run on the multi-thread runtime.
    pub async fn connect(config: &Config) -> DbResult<Db> {
        let url = config.database_url();
        let kind = config.database_kind().map_err(DbError::Connect)?;
        let size = config.database.pool_size;
        let verify = Arc::new(VerifyWindow::default());
        let timeout = Duration::from_secs(config.database.connect_timeout_secs.max(1));
        let (pool, setup) = match kind {
            DatabaseKind::Sqlite => {
                let path = sqlite_path(&url).to_string();
                if let Some(parent) = std::path::Path::new(&path).parent()
                    && !parent.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| DbError::Connect(format!("{}: {e}", parent.display())))?;
                }
                let setup = SqliteSetup { path, pragmas: sqlite_pragmas(config), timeout };
                (DbPool::Sqlite(setup.pool(size, "")?), Setup::Sqlite(setup))
            }
            DatabaseKind::Mysql => {
                let setup = MysqlSetup { url: mysql_url(&url), timeout, verify: verify.clone() };
                (DbPool::Mysql(setup.pool(size, true)?), Setup::Mysql(setup))
            }
        };
        let _checkpointer = match kind {
            DatabaseKind::Sqlite => Some(Arc::new(checkpoint::Checkpointer::start(
                sqlite_path(&url),
                sqlite_pragmas(config),
            ))),
            DatabaseKind::Mysql => None,
        };
        Ok(Db {
            pool,
            runtime: tokio::runtime::Handle::current(),
            kind,
            url,
            _checkpointer,
            verify,
            setup: Arc::new(setup),
            implicit_transactions: false,
            write_turns: Arc::default(),
        })
    }

    /// A handle whose pool is one connection of its own: for the message writer. It never
    /// waits behind readers for a pooled connection, and its prepared statements stay with
    /// it. On SQLite a connection also drops
    /// its page cache whenever another connection committed since its last transaction, so
    /// a writer borrowing pooled connections read its index pages from disk again at every
    /// batch; its own connection keeps them (in a larger cache), because no one else writes
    /// messages. On MySQL the connection does not autocommit: every statement is in a
    /// transaction until a COMMIT or ROLLBACK, so a writer needs no BEGIN round trip (see
    /// [`Db::opens_transactions`]).
    pub fn own_connection(&self) -> DbResult<Db> {
        let pool = match &*self.setup {
            Setup::Sqlite(setup) => {
                DbPool::Sqlite(setup.pool(1, &format!("PRAGMA cache_size = -{WRITER_CACHE_KIB};"))?)
            }
            Setup::Mysql(setup) => DbPool::Mysql(setup.pool(1, false)?),
        };
        Ok(Db { pool, implicit_transactions: true, ..self.clone() })
    }

    /// On SQLite, wait for this process's turn to write and hold it until the returned guard
    /// drops (after COMMIT). SQLite lets one transaction write at a time and makes the others
    /// wait in sleeps that grow to 100 ms, so the message writer, behind any other write,
    /// could stall chat for that long; writers that queue here instead are handed the turn
    /// the moment the previous one commits. `None` on MySQL, where writers of different rows
    /// run at once.
    pub async fn sqlite_write_turn(&self) -> Option<WriteTurn> {
        match self.kind {
            DatabaseKind::Sqlite => Some(self.write_turns.other_turn().await),
            DatabaseKind::Mysql => None,
        }
    }

    /// The message writer's turn: like [`Db::sqlite_write_turn`], but ahead of every other
    /// writer still waiting (chat's latency is what the turns protect). It waits for at
    /// most the write in progress and one other already queued.
    pub async fn sqlite_message_write_turn(&self) -> Option<WriteTurn> {
        match self.kind {
            DatabaseKind::Sqlite => Some(self.write_turns.message_turn().await),
            DatabaseKind::Mysql => None,
        }
    }

    /// Whether every statement on this handle's connections opens a transaction by itself
    /// when none is open (MySQL's `autocommit = 0`, on [`Db::own_connection`]): a transaction
    /// is then just its statements and a COMMIT, or a ROLLBACK that undoes them all.
    pub fn opens_transactions(&self) -> bool {
        matches!(self.pool, DbPool::Mysql(_)) && self.implicit_transactions
    }

    /// Which backend this is.
    /// The pool's connections: (open, idle, tasks waiting for one).
    pub fn pool_status(&self) -> (usize, usize, usize) {
        let s = match &self.pool {
            DbPool::Sqlite(p) => p.status(),
            DbPool::Mysql(p) => p.status(),
        };
        (s.size, s.available, s.waiting)
    }

    pub fn kind(&self) -> DatabaseKind {
        self.kind
    }

    /// The URL with any password hidden, for logs.
    pub fn display_url(&self) -> String {
        crate::config::redact_url(&self.url)
    }

    /// Check a connection out of the pool.
    async fn get(pool: DbPool) -> DbResult<DbConn> {
        match pool {
            DbPool::Sqlite(p) => p.get().await.map(DbConn::Sqlite),
            DbPool::Mysql(p) => p.get().await.map(DbConn::Mysql),
        }
        .map_err(|e| DbError::Pool(e.to_string()))
    }

    /// Run `f` with a pooled connection on the main runtime (see the type's docs for why).
    pub async fn run<T, F, Fut>(&self, f: F) -> DbResult<T>
    where
        F: FnOnce(DbConn) -> Fut + Send + 'static,
        Fut: Future<Output = DbResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        if let DbPool::Sqlite(_) = pool {
            // SQLite statements run inline and cannot be cancelled half-way (see [`Inline`]):
            // no need for the hop to the main runtime.
            let conn = Db::get(pool).await?;
            return f(conn).await;
        }
        let verify = self.verify.clone();
        self.runtime
            .spawn(async move {
                let conn = Db::get(pool).await?;
                let result = f(conn).await;
                if let Err(e) = &result
                    && e.may_have_lost_connection()
                {
                    verify.open();
                }
                result
            })
            .await
            .map_err(|e| DbError::Task(e.to_string()))?
    }

    /// Like [`Db::run`], but tries again (a bounded number of times, with a short pause) when
    /// the transaction hit a deadlock or a busy database. `f` must be safe to repeat. Each
    /// attempt writes in its turn (see [`Db::sqlite_write_turn`]).
    pub async fn run_retrying<T, F, Fut>(&self, f: F) -> DbResult<T>
    where
        F: Fn(DbConn) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = DbResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let turn = self.sqlite_write_turn().await;
            let outcome = self.run(f.clone()).await;
            drop(turn);
            match outcome {
                Err(e) if e.is_retryable() && attempt < TRANSACTION_ATTEMPTS => {
                    retry_pause(attempt).await
                }
                result => return result,
            }
        }
    }

    /// `SELECT 1` through the pool: the readiness probe.
    pub async fn ping(&self) -> DbResult<()> {
        self.run(|mut conn| async move {
            db_run!(&mut conn, |c| diesel::sql_query("SELECT 1").execute(c).await)?;
            Ok(())
        })
        .await
    }

    /// Apply pending migrations; returns the versions applied.
    pub async fn migrate(&self) -> DbResult<Vec<String>> {
        migrate::run_pending(self.kind, &self.url).await
    }

    /// Applied and pending migration versions.
    pub async fn migration_status(&self) -> DbResult<migrate::MigrationStatus> {
        migrate::status(self.kind, &self.url).await
    }
}

/// The file path inside a `sqlite://PATH` or `sqlite:PATH` URL.
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url)
}

/// The URL as handed to the MySQL driver. `mariadb://` is accepted as an alias of `mysql://`.
/// The URL's host and port are where it connects: left alone, the driver (mysql_async's
/// `prefer_socket`), once connected to a loopback address, asks the server for its Unix
/// socket and silently moves there, past whatever listens on that port (a proxy, a tunnel,
/// another server). A socket is used only when the URL names one (`?socket=/path/to/sock`)
/// or asks for the driver's switch (`prefer_socket=true`).
pub fn mysql_url(url: &str) -> String {
    let url = match url.strip_prefix("mariadb://") {
        Some(rest) => format!("mysql://{rest}"),
        None => url.to_string(),
    };
    let Ok(mut parsed) = url::Url::parse(&url) else {
        // Not a URL: the driver says what is wrong with it.
        return url;
    };
    let chosen = parsed.query_pairs().any(|(k, _)| k == "socket" || k == "prefer_socket");
    if !chosen {
        parsed.query_pairs_mut().append_pair("prefer_socket", "false");
    }
    parsed.to_string()
}

fn sqlite_pragmas(config: &Config) -> String {
    format!(
        "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {}; PRAGMA synchronous = {}; \
         PRAGMA cache_size = -8192; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0; \
         PRAGMA journal_size_limit = 67108864;",
        config.database.sqlite_busy_timeout_ms,
        match config.database.sqlite_synchronous {
            crate::config::SqliteSynchronous::Full => "FULL",
            crate::config::SqliteSynchronous::Normal => "NORMAL",
        }
    )
}

/// A pooled MySQL connection checked out again within this time of its last checkout is
/// handed out without a `SELECT 1` first: under load that check was a third of all round
/// trips. One idle longer (the server may have restarted or timed it out) is verified, and
/// dropped for a new one if the check fails; so is every connection for a while after a
/// query failed in a way a lost connection would (see [`VerifyWindow`]).
const MYSQL_VERIFY_IDLE: Duration = Duration::from_secs(1);

/// How long every checkout is verified after a failure that may mean lost connections.
const MYSQL_VERIFY_AFTER_ERROR: Duration = Duration::from_secs(5);

/// Until when every pooled MySQL connection is verified at checkout: opened by a failed
/// query, so that connections the database closed (a restart) are weeded out instead of
/// failing one request each.
#[derive(Debug)]
struct VerifyWindow {
    origin: Instant,
    until_ms: AtomicU64,
}

impl Default for VerifyWindow {
    fn default() -> Self {
        VerifyWindow { origin: Instant::now(), until_ms: AtomicU64::new(0) }
    }
}

impl VerifyWindow {
    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    fn open(&self) {
        let until = self.now_ms() + MYSQL_VERIFY_AFTER_ERROR.as_millis() as u64;
        self.until_ms.fetch_max(until, Ordering::Relaxed);
    }

    fn is_open(&self) -> bool {
        // Spelled out: diesel's `RunQueryDsl::load` (in scope) would shadow the method.
        self.now_ms() < AtomicU64::load(&self.until_ms, Ordering::Relaxed)
    }
}

/// UTC everywhere, and strict mode so an over-long value is an error, never a silent truncation.
const MYSQL_SESSION_SETUP: &str = "SET time_zone = '+00:00', \
     sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', \
     NAMES utf8mb4 COLLATE utf8mb4_bin";

/// How many times a transaction that hit a deadlock or a busy database is tried in all.
pub const TRANSACTION_ATTEMPTS: u32 = 6;

/// A short, growing, jittered pause before retrying a transaction.
pub async fn retry_pause(attempt: u32) {
    let base = 5u64 << attempt.min(6);
    let jitter = rand::random::<u64>() % base.max(1);
    tokio::time::sleep(std::time::Duration::from_millis(base + jitter)).await;
}

/// Milliseconds since the Unix epoch: the one time representation in the database.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The id generated by the last insert on this connection (call inside the same transaction).
pub async fn last_insert_id<C: LastInsertId>(c: &mut C) -> DbResult<i64> {
    c.last_insert_id().await
}

/// Per-backend spelling of "the id the last insert generated".
pub trait LastInsertId {
    fn last_insert_id(&mut self) -> impl Future<Output = DbResult<i64>> + Send;
}

impl LastInsertId for SqliteConn {
    async fn last_insert_id(&mut self) -> DbResult<i64> {
        let query = shaped::Shaped::<BigInt>::new("SELECT last_insert_rowid()", Vec::new(), 0);
        Ok(query.get_result(self).await?)
    }
}

impl LastInsertId for MysqlConn {
    async fn last_insert_id(&mut self) -> DbResult<i64> {
        let sql = "SELECT CAST(LAST_INSERT_ID() AS SIGNED)";
        Ok(shaped::Shaped::<BigInt>::new(sql, Vec::new(), 0).get_result(self).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mysql_url_means_its_host_and_port_unless_it_names_a_socket() {
        assert_eq!(
            mysql_url("mariadb://root@127.0.0.1:13306/db"),
            "mysql://root@127.0.0.1:13306/db?prefer_socket=false"
        );
        assert_eq!(
            mysql_url("mysql://jim:pw@db.internal/jim?pool_min=1"),
            "mysql://jim:pw@db.internal/jim?pool_min=1&prefer_socket=false"
        );
        let socket = "mysql://root@localhost/jim?socket=%2Frun%2Fmysqld%2Fmysqld.sock";
        assert_eq!(mysql_url(socket), socket);
        let prefer = "mysql://root@127.0.0.1/jim?prefer_socket=true";
        assert_eq!(mysql_url(prefer), prefer);
    }

    fn query_error(message: &str) -> DbError {
        let kind = diesel::result::DatabaseErrorKind::Unknown;
        DbError::Query(diesel::result::Error::DatabaseError(kind, Box::new(message.to_string())))
    }

    #[test]
    fn a_lost_link_is_unavailable_and_a_bug_is_not() {
        for lost in [
            "Input/output error: Input/output error: Connection reset by peer (os error 104)",
            "Input/output error: Broken pipe (os error 32)",
            "Driver error: `Connection to the server is closed.'",
            "Driver error: `Packet out of order.'",
            "Driver error: `Unexpected packet.'",
            "Server shutdown in progress",
            "Deadlock found when trying to get lock; try restarting transaction",
            "database is locked",
        ] {
            assert!(query_error(lost).is_unavailable(), "{lost}");
        }
        assert!(DbError::Pool("timed out".into()).is_unavailable());
        assert!(!query_error("Unknown column 'x' in 'field list'").is_unavailable());
        assert!(!DbError::Query(diesel::result::Error::NotFound).is_unavailable());
        assert!(!DbError::Task("panicked".into()).is_unavailable());
    }

    #[tokio::test]
    async fn the_message_writer_goes_ahead_of_other_waiting_writers() {
        use std::sync::Mutex;
        let turns = Arc::new(WriteTurns::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let writing = turns.other_turn().await;
        let mut waiting = Vec::new();
        for name in ["other 1", "other 2"] {
            let (turns, order) = (turns.clone(), order.clone());
            waiting.push(tokio::spawn(async move {
                let _turn = turns.other_turn().await;
                order.lock().unwrap().push(name);
            }));
            tokio::task::yield_now().await;
        }
        let (t, o) = (turns.clone(), order.clone());
        let message = tokio::spawn(async move {
            let _turn = t.message_turn().await;
            o.lock().unwrap().push("message");
        });
        // Every writer is queued before the write in progress ends.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(order.lock().unwrap().is_empty(), "nobody writes during another's turn");
        drop(writing);
        message.await.unwrap();
        for w in waiting {
            w.await.unwrap();
        }
        // The others waited in their own line, so the message writer was alone at the lock.
        assert_eq!(*order.lock().unwrap(), ["message", "other 1", "other 2"]);
    }
}
