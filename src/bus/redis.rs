//! The scale-out profile's bus and cache on Redis: a deadpool-redis pool for commands and a
//! dedicated pub/sub connection that re-subscribes whenever Redis comes back.

use std::sync::Arc;
use std::time::Duration;

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

async fn connection(pool: &Pool) -> Result<deadpool_redis::Connection, BusError> {
    pool.get().await.map_err(|e| BusError::Pool(e.to_string()))
}

/// Redis pub/sub bus.
#[derive(Clone)]
pub struct RedisBus {
    pool: Pool,
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
        pool: Pool,
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
            pool,
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
        let mut conn = connection(&self.pool).await?;
        let () = pipe.query_async(&mut conn).await?;
        Ok(())
    }

    pub fn deliver(&self, message: Arc<BusMessage>) {
        let _ = self.fanout.send(message);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<BusMessage>> {
        self.fanout.subscribe()
    }

    pub async fn ping(&self) -> Result<(), BusError> {
        let mut conn = connection(&self.pool).await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
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
                warn!(log, "bus subscription lost; reconnecting"; "channel" => &*channel);
            }
            Err(e) => {
                let _ = subscribed.send(false);
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
    pool: Pool,
    prefix: Arc<str>,
}

/// INCR that sets the expiry only when the counter is created, atomically.
const INCR_WITH_TTL: &str = r"
local v = redis.call('INCR', KEYS[1])
if v == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return v
";

impl RedisCache {
    pub fn new(pool: Pool, server_name: &str) -> Self {
        Self { pool, prefix: format!("{server_name}:").into() }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, BusError> {
        let mut conn = connection(&self.pool).await?;
        Ok(conn.get(self.key(key)).await?)
    }

    pub async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), BusError> {
        let mut conn = connection(&self.pool).await?;
        let millis = ttl.as_millis().max(1) as u64;
        let _: () = conn.pset_ex(self.key(key), value, millis).await?;
        Ok(())
    }

    pub async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, BusError> {
        let mut conn = connection(&self.pool).await?;
        let millis = ttl.as_millis().max(1) as u64;
        Ok(redis::cmd("EVAL")
            .arg(INCR_WITH_TTL)
            .arg(1)
            .arg(self.key(key))
            .arg(millis)
            .query_async(&mut conn)
            .await?)
    }

    pub async fn del(&self, key: &str) -> Result<bool, BusError> {
        let mut conn = connection(&self.pool).await?;
        let n: i64 = conn.del(self.key(key)).await?;
        Ok(n > 0)
    }

    pub async fn take(&self, key: &str) -> Result<Option<String>, BusError> {
        let mut conn = connection(&self.pool).await?;
        let key = self.key(key);
        let (value, _): (Option<String>, i64) =
            redis::pipe().atomic().get(&key).del(&key).query_async(&mut conn).await?;
        Ok(value)
    }
}
