//! The scale-out profile's bus and cache on Redis: commands share one multiplexed connection
//! (made by a deadpool-redis pool, made again after a failure), and a dedicated pub/sub
//! connection re-subscribes whenever Redis comes back.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_redis::redis::aio::MultiplexedConnection;
use deadpool_redis::redis::{self, AsyncCommands};
use deadpool_redis::{Pool, PoolConfig, Runtime, Timeouts};
use futures_util::StreamExt;
use slog::{Logger, info, warn};
use tokio::sync::{broadcast, watch};

use super::{BusError, BusMessage, Event, FANOUT_CAPACITY};

/// Build the command pool for `url`.
pub fn pool(url: &str, size: usize) -> Result<Pool, BusError> {
    let mut config = deadpool_redis::Config::from_url(url);
    let mut pool_config = PoolConfig::new(size);
    pool_config.timeouts = Timeouts {
        wait: Some(Duration::from_secs(2)),
        create: Some(Duration::from_secs(2)),
        recycle: Some(Duration::from_secs(2)),
    };
    config.pool = Some(pool_config);
    config.create_pool(Some(Runtime::Tokio1)).map_err(|e| BusError::Pool(e.to_string()))
}

/// The connection every command of this process goes through. A multiplexed connection
/// pipelines concurrent commands by itself, and keeping it spares each command the round
/// trip (`UNWATCH`, `PING`) with which the pool checks every connection it hands out. Like
/// the database's pooled connections, it is checked only after sitting idle (Redis may have
/// restarted meanwhile), and a command that fails retires it: the next one gets a new
/// connection from the pool.
#[derive(Clone)]
pub struct Commands {
    pool: Pool,
    current: Arc<Mutex<Option<Kept>>>,
}

/// The shared connection and when a command last succeeded on it.
#[derive(Clone)]
struct Kept {
    conn: MultiplexedConnection,
    used: Instant,
}

/// A kept connection idle this long is checked with a `PING` before it is used again.
const VERIFY_IDLE: Duration = Duration::from_secs(1);

impl Commands {
    pub fn new(pool: Pool) -> Self {
        Self { pool, current: Arc::new(Mutex::new(None)) }
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Option<Kept>> {
        self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn connection(&self) -> Result<MultiplexedConnection, BusError> {
        let kept = self.kept().clone();
        if let Some(Kept { mut conn, used }) = kept
            && (used.elapsed() < VERIFY_IDLE
                || redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok())
        {
            return Ok(conn);
        }
        let pooled = self.pool.get().await.map_err(|e| BusError::Pool(e.to_string()))?;
        let conn = deadpool_redis::Connection::take(pooled);
        *self.kept() = Some(Kept { conn: conn.clone(), used: Instant::now() });
        Ok(conn)
    }

    /// Run `command` on the shared connection; a failure retires that connection.
    async fn run<T>(
        &self,
        command: impl AsyncFnOnce(&mut MultiplexedConnection) -> redis::RedisResult<T>,
    ) -> Result<T, BusError> {
        let mut conn = self.connection().await?;
        let result = command(&mut conn).await;
        let mut kept = self.kept();
        match (&result, kept.as_mut()) {
            (Ok(_), Some(current)) => current.used = Instant::now(),
            (Err(_), _) => *kept = None,
            (Ok(_), None) => {}
        }
        drop(kept);
        Ok(result?)
    }
}

/// Redis pub/sub bus.
#[derive(Clone)]
pub struct RedisBus {
    commands: Commands,
    channel: Arc<str>,
    instance_id: Arc<str>,
    fanout: broadcast::Sender<Arc<BusMessage>>,
    subscribed: watch::Receiver<bool>,
    _subscriber: Arc<SubscriberTask>,
}

/// Aborts the subscriber loop when the last handle to the bus is dropped.
struct SubscriberTask(tokio::task::JoinHandle<()>);

impl Drop for SubscriberTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl RedisBus {
    /// Connect to Redis and start the subscriber loop on the current runtime.
    pub fn start(
        url: &str,
        commands: Commands,
        server_name: &str,
        instance_id: &str,
        log: Logger,
    ) -> Result<Self, BusError> {
        let client = redis::Client::open(url)?;
        let channel: Arc<str> = format!("{server_name}:events").into();
        let (fanout, _) = broadcast::channel(FANOUT_CAPACITY);
        let (subscribed_tx, subscribed) = watch::channel(false);
        let task = tokio::spawn(subscriber_loop(
            client,
            channel.clone(),
            instance_id.into(),
            fanout.clone(),
            subscribed_tx,
            log,
        ));
        Ok(Self {
            commands,
            channel,
            instance_id: instance_id.into(),
            fanout,
            subscribed,
            _subscriber: Arc::new(SubscriberTask(task)),
        })
    }

    pub async fn forward(&self, messages: &[Arc<BusMessage>]) -> Result<(), BusError> {
        let mut pipe = redis::pipe();
        for message in messages {
            pipe.publish(&*self.channel, serde_json::to_string(&**message)?).ignore();
        }
        self.commands.run(async |conn| pipe.query_async::<()>(conn).await).await
    }

    pub fn deliver(&self, message: Arc<BusMessage>) {
        let _ = self.fanout.send(message);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<BusMessage>> {
        self.fanout.subscribe()
    }

    pub async fn ping(&self) -> Result<(), BusError> {
        let ping = redis::cmd("PING");
        self.commands.run(async |conn| ping.query_async::<String>(conn).await).await?;
        Ok(())
    }

    pub async fn wait_subscribed(&self, timeout: Duration) -> bool {
        let mut rx = self.subscribed.clone();
        tokio::time::timeout(timeout, rx.wait_for(|s| *s)).await.is_ok_and(|r| r.is_ok())
    }

    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }
}

/// Hold a SUBSCRIBE open; when the connection drops, reconnect with capped backoff and
/// subscribe again. Events published while disconnected are lost to this instance, which is
/// why clients resynchronise from the database by message id. What this instance published
/// itself comes back too and is skipped: its subscribers had it at once (see
/// [`super::Bus::deliver_local`]).
async fn subscriber_loop(
    client: redis::Client,
    channel: Arc<str>,
    instance_id: Arc<str>,
    fanout: broadcast::Sender<Arc<BusMessage>>,
    subscribed: watch::Sender<bool>,
    log: Logger,
) {
    // A message is serialised origin first: our own are known before they are parsed.
    let own_prefix = format!("{{\"origin\":{}", serde_json::Value::from(&*instance_id));
    let mut backoff = Duration::from_millis(100);
    loop {
        let attempt = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&*channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match attempt.await {
            Ok(pubsub) => {
                backoff = Duration::from_millis(100);
                let _ = subscribed.send(true);
                info!(log, "bus subscribed"; "channel" => &*channel);
                // Whatever was published while we were not subscribed is lost to us: have
                // this instance's connections re-read their rooms.
                let origin = String::new();
                let event = Event::Resync { reason: "bus resubscribed".into() };
                let _ = fanout.send(Arc::new(BusMessage { origin, event }));
                let mut messages = pubsub.into_on_message();
                while let Some(msg) = messages.next().await {
                    let payload: &[u8] = msg.get_payload_bytes();
                    if payload.starts_with(own_prefix.as_bytes()) {
                        continue;
                    }
                    match serde_json::from_slice::<BusMessage>(payload) {
                        Ok(message) if *message.origin == *instance_id => {}
                        Ok(message) => {
                            let _ = fanout.send(Arc::new(message));
                        }
                        // Another version may publish kinds we do not know; skip, do not die.
                        Err(e) => {
                            warn!(log, "bus message not understood"; "error" => e.to_string(), "bytes" => payload.len())
                        }
                    }
                }
                let _ = subscribed.send(false);
                metrics::counter!("jim_redis_reconnects_total").increment(1);
                warn!(log, "bus subscription lost; reconnecting"; "channel" => &*channel);
            }
            Err(e) => {
                let _ = subscribed.send(false);
                metrics::counter!("jim_redis_errors_total").increment(1);
                warn!(log, "bus cannot subscribe; retrying"; "error" => e.to_string(), "retry_ms" => backoff.as_millis() as u64);
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Redis-backed cache; every key is prefixed with the deployment's `server_name`.
#[derive(Clone)]
pub struct RedisCache {
    commands: Commands,
    prefix: Arc<str>,
}

/// INCR that sets the expiry only when the counter is created, atomically.
const INCR_WITH_TTL: &str = r"
local v = redis.call('INCR', KEYS[1])
if v == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return v
";

/// Take one back from a counter that exists (keeping its expiry); never creates one, never
/// goes below zero.
const DECR_EXISTING: &str = r"
local v = redis.call('GET', KEYS[1])
if not v or tonumber(v) <= 0 then return 0 end
return redis.call('DECR', KEYS[1])
";

/// Remove a key only while it holds the given value.
const DEL_IF_EQUAL: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

impl RedisCache {
    pub fn new(commands: Commands, server_name: &str) -> Self {
        Self { commands, prefix: format!("{server_name}:").into() }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, BusError> {
        let key = self.key(key);
        self.commands.run(async |conn| conn.get(key).await).await
    }

    pub async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), BusError> {
        let (key, millis) = (self.key(key), ttl.as_millis().max(1) as u64);
        self.commands.run(async |conn| conn.pset_ex::<_, _, ()>(key, value, millis).await).await
    }

    pub async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, BusError> {
        let millis = ttl.as_millis().max(1) as u64;
        let mut eval = redis::cmd("EVAL");
        eval.arg(INCR_WITH_TTL).arg(1).arg(self.key(key)).arg(millis);
        self.commands.run(async |conn| eval.query_async(conn).await).await
    }

    pub async fn decr(&self, key: &str) -> Result<i64, BusError> {
        let mut eval = redis::cmd("EVAL");
        eval.arg(DECR_EXISTING).arg(1).arg(self.key(key));
        self.commands.run(async |conn| eval.query_async(conn).await).await
    }

    pub async fn del(&self, key: &str) -> Result<bool, BusError> {
        let key = self.key(key);
        let n: i64 = self.commands.run(async |conn| conn.del(key).await).await?;
        Ok(n > 0)
    }

    pub async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, BusError> {
        let millis = ttl.as_millis().max(1) as u64;
        let mut set = redis::cmd("SET");
        set.arg(self.key(key)).arg(value).arg("NX").arg("PX").arg(millis);
        let stored: Option<String> =
            self.commands.run(async |conn| set.query_async(conn).await).await?;
        Ok(stored.is_some())
    }

    pub async fn del_if(&self, key: &str, value: &str) -> Result<bool, BusError> {
        let mut eval = redis::cmd("EVAL");
        eval.arg(DEL_IF_EQUAL).arg(1).arg(self.key(key)).arg(value);
        let n: i64 = self.commands.run(async |conn| eval.query_async(conn).await).await?;
        Ok(n > 0)
    }

    pub async fn take(&self, key: &str) -> Result<Option<String>, BusError> {
        let key = self.key(key);
        let mut pipe = redis::pipe();
        pipe.atomic().get(&key).del(&key);
        let (value, _): (Option<String>, i64) =
            self.commands.run(async |conn| pipe.query_async(conn).await).await?;
        Ok(value)
    }
}
