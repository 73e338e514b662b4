//! What was verified once and may be trusted again, kept in memory so that a request needs no
//! database read for it: sessions (authenticating a request) and who may send a private
//! message to whom. Every revocation, by any process (a server of either profile, the CLI),
//! moves a shared epoch after its commit and before answering: a session ended, an account
//! disabled or deleted, a friendship deleted, a block. An entry verified under another
//! epoch is never used, so all of these are still honoured at once everywhere.
//!
//! The epoch is a file beside the SQLite database (one byte appended per revocation; its
//! inode and length are the epoch) in the embedded profile, and a random value under a Redis
//! key in the scale-out profile. When it cannot be read, nothing is served from memory.
//! A read of the Redis epoch answers for the requests checked within [`EPOCH_FRESH_FOR`] of
//! when it began, and a revoker waits that long after moving the epoch before it answers, so
//! every request that arrives after the answer is checked against a read begun after the
//! move. Requests that need a new read at the same time share it (see [`SharedEpochReads`]).

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::bus::redis::RedisCache;
use crate::config::{Config, DatabaseKind};
use crate::domain::UserId;

/// Entries kept at most; past that the map is emptied (it refills from the database).
const MAX_ENTRIES: usize = 100_000;

/// The Redis key holding the scale-out epoch (under the cluster's `server_name` prefix).
const EPOCH_KEY: &str = "auth:epoch";

/// How long the Redis epoch lives without a revocation: each revocation writes a new one,
/// and a missing key only means "read the database" until a server writes it again.
const EPOCH_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// Most requests answered by one shared read of the Redis epoch.
const SHARED_READ_MAX: usize = 4096;

/// How long after it began a read of the Redis epoch may still be used. Under steady traffic
/// a request then costs no Redis round trip (one read every ~10 ms serves them all); the
/// price is that a revocation is answered this much later (see [`REVOCATION_SETTLES`]).
const EPOCH_FRESH_FOR: Duration = Duration::from_millis(20);

/// How long a revoker waits after moving the Redis epoch before answering: longer than
/// [`EPOCH_FRESH_FOR`] (the margin covers clocks of two machines running at slightly
/// different rates), so no read begun before the move is used after the answer.
const REVOCATION_SETTLES: Duration = Duration::from_millis(25);

/// Where the epoch is read from and moved.
enum EpochSource {
    File(PathBuf),
    Redis(SharedEpochReads),
    Off,
}

/// Reads of the Redis epoch shared by the requests waiting for one: a task takes every ask
/// queued so far, then reads once and answers them all. Each ask is answered by a read that
/// began after it was made, so a request still sees every revocation that was answered
/// before it arrived; under load one GET serves many requests instead of one each (a round
/// trip, four socket calls and two thread wake-ups per request). The newest read is kept and
/// used while it is fresh (see [`EPOCH_FRESH_FOR`]); past half that age, the first request
/// to notice asks for a new one without waiting for it.
struct SharedEpochReads {
    redis: RedisCache,
    asks: mpsc::UnboundedSender<Ask>,
    /// The newest successful read: when it began, and what it found.
    newest: Arc<Mutex<Option<(Instant, Epoch)>>>,
    /// A refresh was asked for and has not finished yet.
    refreshing: Arc<AtomicBool>,
}

/// A request waiting for a read, or (`None`) a refresh nobody waits for.
type Ask = Option<oneshot::Sender<Option<Epoch>>>;

impl SharedEpochReads {
    /// Start the reading task on the current runtime; it ends with the last handle.
    fn start(redis: RedisCache) -> Self {
        let (asks, mut queued) = mpsc::unbounded_channel::<Ask>();
        let newest = Arc::new(Mutex::new(None));
        let refreshing = Arc::new(AtomicBool::new(false));
        let (reader, kept, refresh) = (redis.clone(), newest.clone(), refreshing.clone());
        tokio::spawn(async move {
            let mut waiting = Vec::new();
            while queued.recv_many(&mut waiting, SHARED_READ_MAX).await > 0 {
                let began = Instant::now();
                let epoch = read_redis_epoch(&reader).await;
                *kept.lock().unwrap_or_else(|e| e.into_inner()) = epoch.map(|e| (began, e));
                refresh.store(false, Ordering::Release);
                for ask in waiting.drain(..).flatten() {
                    let _ = ask.send(epoch);
                }
            }
        });
        Self { redis, asks, newest, refreshing }
    }

    /// The epoch, as read less than [`EPOCH_FRESH_FOR`] ago or after this call began.
    async fn read(&self) -> Option<Epoch> {
        let newest = *self.newest.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((began, epoch)) = newest {
            let age = began.elapsed();
            if age < EPOCH_FRESH_FOR {
                if age >= EPOCH_FRESH_FOR / 2 && !self.refreshing.swap(true, Ordering::AcqRel) {
                    let _ = self.asks.send(None);
                }
                return Some(epoch);
            }
        }
        let (answer, answered) = oneshot::channel();
        self.asks.send(Some(answer)).ok()?;
        answered.await.ok().flatten()
    }

    /// Move the epoch, then wait until no read begun before the move is used any more.
    async fn move_epoch(&self) -> std::io::Result<()> {
        self.redis
            .set(EPOCH_KEY, &new_epoch_value(), EPOCH_TTL)
            .await
            .map_err(std::io::Error::other)?;
        tokio::time::sleep(REVOCATION_SETTLES).await;
        Ok(())
    }
}

/// One read of the Redis epoch; a missing key is replaced by a new epoch, and reads as
/// unknown this time.
async fn read_redis_epoch(redis: &RedisCache) -> Option<Epoch> {
    match redis.get(EPOCH_KEY).await {
        Ok(Some(value)) => value.parse().ok().map(|v| (v, 0)),
        Ok(None) => {
            // Expired or lost with a Redis restart: start a new one. Random, so no value
            // seen before comes back.
            let _ = redis.set(EPOCH_KEY, &new_epoch_value(), EPOCH_TTL).await;
            None
        }
        Err(_) => None,
    }
}

/// A shared revocation epoch as read at one moment.
pub type Epoch = (u64, u64);

/// What a successful check of a token established.
#[derive(Debug, Clone)]
pub struct Verified {
    pub user_id: UserId,
    pub session_id: i64,
    pub username: String,
    pub expires_at: i64,
    pub last_seen_at: i64,
}

/// The cache (see the module docs).
pub struct AuthCache {
    entries: Mutex<HashMap<String, (Epoch, Verified)>>,
    /// (sender, target) pairs found allowed to chat privately, with the epoch they were
    /// found at. Only "allowed" is kept: what makes a pair allowed (accepting an invitation,
    /// an unblock) needs no invalidation.
    chats: Mutex<HashMap<(UserId, UserId), Epoch>>,
    epoch: EpochSource,
}

impl AuthCache {
    /// The cache for `config`'s profile: the Redis epoch when `redis` is given, else the file
    /// beside a SQLite database; off for MySQL without Redis. With Redis, must be called on
    /// the runtime that serves requests (it starts the shared reads' task).
    pub fn new(config: &Config, redis: Option<RedisCache>) -> Self {
        let epoch = match (redis, config.database_kind()) {
            (Some(redis), _) => EpochSource::Redis(SharedEpochReads::start(redis)),
            (None, Ok(DatabaseKind::Sqlite)) => {
                let url = config.database_url();
                EpochSource::File(PathBuf::from(format!(
                    "{}-auth-epoch",
                    crate::db::sqlite_path(&url)
                )))
            }
            _ => EpochSource::Off,
        };
        Self { entries: Mutex::new(HashMap::new()), chats: Mutex::new(HashMap::new()), epoch }
    }

    /// The epoch now, or `None` when it cannot be known (then nothing may be served from
    /// memory). Read it before the database, and store what the database says under it.
    pub async fn epoch(&self) -> Option<Epoch> {
        match &self.epoch {
            EpochSource::File(path) => {
                let meta = match std::fs::metadata(path) {
                    Ok(meta) => meta,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        // First use: create it empty (a fresh inode, so no old epoch returns).
                        std::fs::OpenOptions::new().create(true).append(true).open(path).ok()?;
                        std::fs::metadata(path).ok()?
                    }
                    Err(_) => return None,
                };
                Some((file_identity(&meta)?, meta.len()))
            }
            EpochSource::Redis(reads) => reads.read().await,
            EpochSource::Off => None,
        }
    }

    /// The entry for `token_hash` if it was verified under `epoch`.
    pub fn get(&self, token_hash: &str, epoch: Epoch) -> Option<Verified> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(token_hash) {
            Some((at, verified)) if *at == epoch => Some(verified.clone()),
            _ => None,
        }
    }

    /// Remember what the database said about `token_hash` at `epoch`.
    pub fn put(&self, token_hash: String, epoch: Epoch, verified: Verified) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(token_hash, (epoch, verified));
    }

    /// Whether `sender` was found allowed to message `target` at `epoch`.
    pub fn chat_allowed(&self, sender: UserId, target: UserId, epoch: Epoch) -> bool {
        let chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
        chats.get(&(sender, target)) == Some(&epoch)
    }

    /// Remember that `sender` may message `target`, as found at `epoch`.
    pub fn allow_chat(&self, sender: UserId, target: UserId, epoch: Epoch) {
        let mut chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
        if chats.len() >= MAX_ENTRIES {
            chats.clear();
        }
        chats.insert((sender, target), epoch);
    }

    /// Record a new "last seen" for an entry (after a touch).
    pub fn seen(&self, token_hash: &str, at: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, verified)) = entries.get_mut(token_hash) {
            verified.last_seen_at = at;
        }
    }

    /// Move the epoch: every entry, in every process, stops being used (with Redis, this
    /// waits [`REVOCATION_SETTLES`]). Call after the revocation committed and before
    /// answering. Fails when the epoch could not be moved
    /// (Redis unreachable): servers may then accept the revoked session from memory until
    /// they hear the revocation on the bus or the control table.
    pub async fn invalidate(&self) -> std::io::Result<()> {
        self.clear();
        match &self.epoch {
            EpochSource::File(path) => {
                std::fs::OpenOptions::new().create(true).append(true).open(path)?.write_all(b".")
            }
            EpochSource::Redis(reads) => reads.move_epoch().await,
            EpochSource::Off => Ok(()),
        }
    }

    /// Forget every entry of this process (a revocation heard from elsewhere).
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.chats.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// What tells the epoch file apart from an earlier one at the same path (deleted and created
/// again, so its length starts over): its inode where there is one.
#[cfg(unix)]
fn file_identity(meta: &std::fs::Metadata) -> Option<u64> {
    Some(std::os::unix::fs::MetadataExt::ino(meta))
}

/// Without inodes (Windows): the time of the last write, in nanoseconds. A file created again
/// is written later than the one it replaces (to the clock's resolution), and every
/// revocation also changes the length. Not the creation time: Windows gives a file created
/// again within seconds under the same name its predecessor's creation time. Unknown (so
/// nothing is served from memory) when the time cannot be read. Compiled on every target so
/// that its test runs on Linux too.
#[cfg_attr(unix, allow(dead_code))]
fn last_write_identity(meta: &std::fs::Metadata) -> Option<u64> {
    let since = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
    u64::try_from(since.as_nanos()).ok()
}

#[cfg(not(unix))]
fn file_identity(meta: &std::fs::Metadata) -> Option<u64> {
    last_write_identity(meta)
}

fn new_epoch_value() -> String {
    rand::random::<u64>().to_string()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::last_write_identity;

    #[test]
    fn the_identity_used_without_inodes_follows_the_last_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("epoch");
        let file = std::fs::File::create(&path).unwrap();
        file.set_modified(UNIX_EPOCH + Duration::from_secs(1_000)).unwrap();
        let before = last_write_identity(&std::fs::metadata(&path).unwrap());
        assert_eq!(before, Some(1_000_000_000_000));
        file.set_modified(UNIX_EPOCH + Duration::from_secs(1_001)).unwrap();
        let after = last_write_identity(&std::fs::metadata(&path).unwrap());
        assert_ne!(after, before);
    }
}
