//! Cross-instance events and the shared cache: Redis in the scale-out profile, in-process in
//! the embedded one. Callers see one `Bus` and one `Cache` whichever is configured.

pub mod auth_cache;
pub mod call;
pub mod local;
pub mod notify;
pub mod publisher;
pub mod redis;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::domain::{GroupId, UserId};

/// An event that other instances (and this one) should hear about. Later features add
/// variants; the wire form is `{"type": "...", "data": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Event {
    /// A connectivity probe carrying a nonce; used by diagnostics and tests.
    Probe { nonce: String },
    /// Sessions of a user ended: sockets bound to them must close. An empty `session_ids`
    /// means every session of the user.
    SessionsRevoked { user_id: UserId, session_ids: Vec<i64>, reason: RevokeReason },
    /// A message was committed; push it to `recipient_ids`' devices (the list is for routing
    /// and is never sent to clients).
    ChatMessage { message: crate::store::StoredMessage, recipient_ids: Vec<UserId> },
    /// A message was recalled (status 3); its body is gone for everyone.
    MessageRecalled {
        message: crate::store::StoredMessage,
        recipient_ids: Vec<UserId>,
        actor_id: UserId,
    },
    /// `user_id` hid a message from their own history (their devices update).
    MessageDeleted { user_id: UserId, room_id: String, message_id: i64 },
    /// `user_id` has read `room_id` up to `read_message_id` (their devices, and in private
    /// chats the other party, update).
    ReadPosition {
        user_id: UserId,
        room_id: String,
        session_type: i16,
        target_id: i64,
        read_message_id: i64,
        recipient_ids: Vec<UserId>,
    },
    /// `user_id` pinned/unpinned or muted/unmuted a conversation (their devices update);
    /// `pinned` or `muted` is the flag that changed.
    ConversationFlagged {
        user_id: UserId,
        room_id: String,
        session_type: i16,
        target_id: i64,
        pinned: Option<bool>,
        muted: Option<bool>,
    },
    /// A friend-related change that `recipient_ids` should see.
    Friend {
        recipient_ids: Vec<UserId>,
        kind: FriendEventKind,
        actor_id: UserId,
        /// The other user the change is about.
        friend_id: UserId,
        /// The invitation, for invitation events.
        invite: Option<serde_json::Value>,
    },
    /// A user started typing in a conversation (relayed, never stored).
    Typing {
        user_id: UserId,
        session_type: i16,
        target_id: i64,
        room_id: String,
        recipient_ids: Vec<UserId>,
    },
    /// Users connected to `instance` went online or offline there.
    Presence { instance: String, user_id: UserId, online: bool },
    /// Pushes may have been dropped (a full queue, a lagging relay, a lost subscription):
    /// every connection re-reads its rooms from the store and is told to refresh.
    Resync { reason: String },
    /// A user chose another online status (online, away, busy, invisible).
    StatusChanged { user_id: UserId },
    /// Every user connected to `instance` right now (sent periodically, so a crashed
    /// instance's users age out).
    PresenceSnapshot { instance: String, user_ids: Vec<UserId> },
    /// Something members of a group should see: `kind` says what, `target_ids` whom it is
    /// about, `values` the new values. `member_ids` are the users to deliver it to: the
    /// members after the change plus anyone it removed (for join requests: owner and admins;
    /// for invitations: the invitee).
    Group {
        group_id: GroupId,
        kind: GroupEventKind,
        actor_id: UserId,
        target_ids: Vec<UserId>,
        values: serde_json::Value,
        member_ids: Vec<UserId>,
    },
    /// A device's call command, for the instance `home` that owns the call (the others
    /// ignore it).
    CallCommand {
        home: String,
        call_id: String,
        device: call::CallDevice,
        command: call::CallCommand,
    },
    /// Frames of one call for devices on any instance, in the order they are to be written.
    CallFrames { frames: Vec<call::CallFrame> },
    /// `instance` is alive and owns the calls `call_ids` (sent every few seconds while it has
    /// calls or devices in calls owned elsewhere): when it stops, those calls end elsewhere.
    CallHeartbeat { instance: String, call_ids: Vec<String> },
}

/// Kinds of [`Event::Group`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupEventKind {
    Created,
    MemberJoined,
    MembersAdded,
    MemberLeft,
    MembersRemoved,
    InfoUpdated,
    RoleChanged,
    OwnerTransferred,
    MemberMuted,
    MemberUnmuted,
    NicknameChanged,
    MemberUnbanned,
    JoinRequested,
    JoinRequestRejected,
    Invited,
    Dissolved,
}

/// Kinds of [`Event::Friend`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FriendEventKind {
    InviteReceived,
    InviteAccepted,
    InviteRejected,
    FriendAdded,
    FriendDeleted,
    Blocked,
    Unblocked,
    RemarkChanged,
}

impl Event {
    /// The user this event is about, if any.
    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Event::Probe { .. } => None,
            Event::SessionsRevoked { user_id, .. } => Some(*user_id),
            Event::ChatMessage { message, .. } => Some(UserId(message.sender_id)),
            Event::MessageRecalled { actor_id, .. } => Some(*actor_id),
            Event::MessageDeleted { user_id, .. }
            | Event::ReadPosition { user_id, .. }
            | Event::ConversationFlagged { user_id, .. } => Some(*user_id),
            Event::Friend { actor_id, .. } => Some(*actor_id),
            Event::Group { actor_id, .. } => Some(*actor_id),
            Event::Typing { user_id, .. } | Event::Presence { user_id, .. } => Some(*user_id),
            Event::PresenceSnapshot { .. } | Event::Resync { .. } => None,
            Event::StatusChanged { user_id } => Some(*user_id),
            Event::CallCommand { device, .. } => Some(device.user_id),
            Event::CallFrames { .. } | Event::CallHeartbeat { .. } => None,
        }
    }
}

/// Why sessions were revoked (sent to clients in the `kicked` frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    Logout,
    SessionRevoked,
    PasswordChanged,
    PasswordReset,
    AccountDisabled,
    AccountDeleted,
}

/// An event as carried on the bus, stamped with the instance that published it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusMessage {
    /// Instance id of the publisher.
    pub origin: String,
    pub event: Event,
}

/// Failures of the bus or cache backend.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("redis: {0}")]
    Redis(#[from] deadpool_redis::redis::RedisError),
    #[error("redis pool: {0}")]
    Pool(String),
    #[error("cannot encode event: {0}")]
    Encode(#[from] serde_json::Error),
}

impl From<BusError> for crate::error::AppError {
    fn from(e: BusError) -> Self {
        crate::error::AppError::Unavailable(e.into())
    }
}

/// Capacity of the in-process fan-out of received events. A subscriber that falls this far
/// behind sees `Lagged` and must resynchronise from the database.
pub const FANOUT_CAPACITY: usize = 65_536;

/// Publish/subscribe of [`Event`]s across instances.
#[derive(Clone)]
pub enum Bus {
    Local(local::LocalBus),
    Redis(redis::RedisBus),
}

impl Bus {
    /// Send `event` to every instance, this one included (see [`Bus::publish_all`]).
    pub async fn publish(&self, event: Event) -> Result<(), BusError> {
        self.publish_all(vec![event]).await
    }

    /// Send `events` to every instance, in order: the others in one round trip (a Redis
    /// pipeline), then this one's subscribers. When that fails nobody has them, so a caller
    /// may fall back to the control table without anyone hearing them twice. (What cannot
    /// wait for Redis goes through [`crate::bus::publisher::Publisher`] instead.)
    pub async fn publish_all(&self, events: Vec<Event>) -> Result<(), BusError> {
        let messages: Vec<_> = events.into_iter().map(|e| self.stamp(e)).collect();
        metrics::counter!("jim_bus_published_total").increment(messages.len() as u64);
        self.forward(&messages).await?;
        for message in messages {
            self.deliver(message);
        }
        Ok(())
    }

    /// Hand `event` to this instance's subscribers only, at once; the stamped message is
    /// returned for [`Bus::forward`]. Alone, for events already known to every instance by
    /// other means (such as the control table).
    pub fn deliver_local(&self, event: Event) -> Arc<BusMessage> {
        let message = self.stamp(event);
        self.deliver(message.clone());
        message
    }

    fn deliver(&self, message: Arc<BusMessage>) {
        metrics::counter!("jim_bus_received_total").increment(1);
        match self {
            Bus::Local(b) => b.deliver(message),
            Bus::Redis(b) => b.deliver(message),
        }
    }

    /// `event` as this instance publishes it.
    pub fn stamp(&self, event: Event) -> Arc<BusMessage> {
        Arc::new(BusMessage { origin: self.instance_id().to_string(), event })
    }

    /// Send messages stamped here to the other instances, in order, in one round trip (a
    /// Redis pipeline). This instance does not hear them back: its own subscribers get what
    /// it publishes from [`Bus::deliver_local`], without the round trip through Redis.
    pub async fn forward(&self, messages: &[Arc<BusMessage>]) -> Result<(), BusError> {
        match self {
            Bus::Local(_) => Ok(()),
            Bus::Redis(b) => b.forward(messages).await,
        }
    }

    /// Whether other instances may be listening ([`Bus::forward`] has something to do).
    pub fn forwards(&self) -> bool {
        matches!(self, Bus::Redis(_))
    }

    /// Receive every event published from now on, from any instance.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<BusMessage>> {
        match self {
            Bus::Local(b) => b.subscribe(),
            Bus::Redis(b) => b.subscribe(),
        }
    }

    /// Whether the backend answers (always true in-process).
    pub async fn ping(&self) -> Result<(), BusError> {
        match self {
            Bus::Local(_) => Ok(()),
            Bus::Redis(b) => b.ping().await,
        }
    }

    /// Wait until the subscription is live (Redis: SUBSCRIBE acknowledged).
    pub async fn wait_subscribed(&self, timeout: Duration) -> bool {
        match self {
            Bus::Local(_) => true,
            Bus::Redis(b) => b.wait_subscribed(timeout).await,
        }
    }

    /// This instance's id, as stamped on what it publishes.
    pub fn instance_id(&self) -> &str {
        match self {
            Bus::Local(b) => b.instance_id(),
            Bus::Redis(b) => b.instance_id(),
        }
    }
}

/// Short-lived shared values with a TTL: captcha answers, counters, rate limits. Its Redis
/// commands are awaited boxed: their futures are large (`incr`'s ~7 KB), and inline they
/// made every future that may call them as large, even where they are never called, such
/// as every chat send, which its layers then copy as it is boxed and moved.
#[derive(Clone)]
pub enum Cache {
    Local(Arc<local::LocalCache>),
    Redis(redis::RedisCache),
}

impl Cache {
    /// The value under `key`, if present and not expired.
    pub async fn get(&self, key: &str) -> Result<Option<String>, BusError> {
        match self {
            Cache::Local(c) => Ok(c.get(key)),
            Cache::Redis(c) => Box::pin(c.get(key)).await,
        }
    }

    /// Store `value` under `key` for `ttl`.
    pub async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), BusError> {
        match self {
            Cache::Local(c) => {
                c.set(key, value, ttl);
                Ok(())
            }
            Cache::Redis(c) => Box::pin(c.set(key, value, ttl)).await,
        }
    }

    /// Add one to the counter under `key` and return the new value. A new counter expires
    /// after `ttl`; incrementing does not extend it.
    pub async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, BusError> {
        match self {
            Cache::Local(c) => Ok(c.incr(key, ttl)),
            Cache::Redis(c) => Box::pin(c.incr(key, ttl)).await,
        }
    }

    /// Take one back from the counter under `key` and return the new value: a counter that
    /// does not exist (or expired) is left alone, and none goes below zero. The expiry stays.
    pub async fn decr(&self, key: &str) -> Result<i64, BusError> {
        match self {
            Cache::Local(c) => Ok(c.decr(key)),
            Cache::Redis(c) => Box::pin(c.decr(key)).await,
        }
    }

    /// Remove `key`; returns whether it existed.
    pub async fn del(&self, key: &str) -> Result<bool, BusError> {
        match self {
            Cache::Local(c) => Ok(c.del(key)),
            Cache::Redis(c) => Box::pin(c.del(key)).await,
        }
    }

    /// Store `value` under `key` for `ttl` only if no live value is there; whether it was
    /// stored (a claim: of several racing instances exactly one gets true).
    pub async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, BusError> {
        match self {
            Cache::Local(c) => Ok(c.set_nx(key, value, ttl)),
            Cache::Redis(c) => Box::pin(c.set_nx(key, value, ttl)).await,
        }
    }

    /// Remove `key` only while it holds `value` (giving up one's own claim, never another's);
    /// whether it was removed.
    pub async fn del_if(&self, key: &str, value: &str) -> Result<bool, BusError> {
        match self {
            Cache::Local(c) => Ok(c.del_if(key, value)),
            Cache::Redis(c) => Box::pin(c.del_if(key, value)).await,
        }
    }

    /// Read and remove `key` in one atomic step (single-use values such as captcha answers).
    pub async fn take(&self, key: &str) -> Result<Option<String>, BusError> {
        match self {
            Cache::Local(c) => Ok(c.take(key)),
            Cache::Redis(c) => Box::pin(c.take(key)).await,
        }
    }
}
