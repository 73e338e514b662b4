//! The message store seam: append a message with the next per-room `message_id` in one
//! atomic step, idempotently by `(sender_id, action_id)`. The SQL store (SQLite / MySQL) is
//! the default; a MongoDB store implements the same contract in the chat issue.

pub mod mongo;
pub mod sql;

use serde::{Deserialize, Serialize};

use crate::domain::MessageStatus;
use crate::error::Result;

/// Room id of a private conversation: both user ids as zero-padded lowercase hex, smaller
/// first (the original's format, so existing clients compute the same ids).
pub fn private_room_id(a: i64, b: i64) -> String {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    format!("{lo:08x}{hi:08x}")
}

/// Room id of a group conversation.
pub fn group_room_id(group_id: i64) -> String {
    format!("{group_id:08x}")
}

/// Room id of a world channel.
pub fn world_room_id(world_id: i64) -> String {
    format!("world_{world_id:04x}")
}

/// A message to append.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub room_id: String,
    pub session_type: i16,
    pub message_type: i16,
    pub sender_id: i64,
    pub receiver_id: i64,
    /// Client-chosen idempotency key, unique per sender.
    pub action_id: String,
    /// The validated body as JSON text.
    pub body: String,
    pub created_at: i64,
}

impl NewMessage {
    /// The message as stored under store-wide `id` with room sequence number `message_id`.
    pub fn stored(&self, id: String, message_id: i64) -> StoredMessage {
        StoredMessage {
            id,
            room_id: self.room_id.clone(),
            message_id,
            session_type: self.session_type,
            message_type: self.message_type,
            sender_id: self.sender_id,
            receiver_id: self.receiver_id,
            action_id: self.action_id.clone(),
            body: serde_json::from_str(&self.body).unwrap_or_default(),
            status: MessageStatus::Normal.as_i16(),
            created_at: self.created_at,
        }
    }
}

/// Run by the store once a message is durable, in commit order, before the append answers.
pub type OnCommit = Box<dyn FnOnce(&StoredMessage) + Send>;

/// A stored message, as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredMessage {
    /// Store-wide id (decimal string).
    pub id: String,
    pub room_id: String,
    /// Per-room sequence number: 1, 2, 3 …
    pub message_id: i64,
    pub session_type: i16,
    #[serde(rename = "type")]
    pub message_type: i16,
    pub sender_id: i64,
    pub receiver_id: i64,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub action_id: String,
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
    /// 1 normal, 2 deleted, 3 recalled.
    pub status: i16,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// A room's sequence state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo {
    pub room_id: String,
    pub session_type: i16,
    /// The last allocated `message_id` (0: no message yet).
    pub last_message_id: i64,
    /// Unix milliseconds of the last message.
    pub updated_at: i64,
}

/// Which slice of a room to read. Results are always in ascending `message_id` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// The newest `limit` messages.
    Latest,
    /// The `limit` messages just below this id (scrolling back).
    Before(i64),
    /// The `limit` messages just above this id (filling a gap, catching up).
    After(i64),
}

/// Build the message store selected by `[messages] backend`.
pub async fn connect(
    config: &crate::config::Config,
    db: &crate::db::Db,
) -> anyhow::Result<MessageStore> {
    use crate::config::MessagesBackend;
    match config.messages.backend {
        MessagesBackend::Sql => Ok(MessageStore::Sql(sql::SqlStore::new(db.clone()))),
        MessagesBackend::Mongodb => Ok(MessageStore::Mongo(
            mongo::MongoStore::connect(&config.messages.url, &config.messages.database).await?,
        )),
    }
}

/// Writes [`MessageStore`] methods that hand the call to the active backend's method of the
/// same name and arguments: every backend implements the whole contract, so the enum only
/// picks one.
macro_rules! forward_to_backend {
    ($(
        $(#[doc = $doc:tt])*
        pub async fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;
    )+) => {
        $(
            $(#[doc = $doc])*
            pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                match self {
                    MessageStore::Sql(s) => s.$name($($arg),*).await,
                    MessageStore::Mongo(s) => s.$name($($arg),*).await,
                }
            }
        )+
    };
}

/// The configured message store. Every backend implements the same contract (see the
/// contract tests in `tests/api/store_contract.rs`).
#[derive(Clone)]
pub enum MessageStore {
    Sql(sql::SqlStore),
    Mongo(mongo::MongoStore),
}

impl MessageStore {
    /// Append `message`: allocate the room's next `message_id` and insert, atomically. A
    /// repeated `(sender_id, action_id)` returns the message stored the first time.
    pub async fn append(&self, message: NewMessage) -> Result<StoredMessage> {
        self.append_then(message, Box::new(|_| {})).await
    }

    /// [`MessageStore::append`], running `on_commit` once the message is durable (also for a
    /// repeat, with the original). The SQL store commits concurrent appends together and runs
    /// their `on_commit`s in commit order, so what they publish leaves in `message_id` order.
    pub async fn append_then(
        &self,
        message: NewMessage,
        on_commit: OnCommit,
    ) -> Result<StoredMessage> {
        match self {
            MessageStore::Sql(s) => s.append_then(message, on_commit).await,
            MessageStore::Mongo(s) => {
                let stored = s.append(message).await?;
                on_commit(&stored);
                Ok(stored)
            }
        }
    }

    forward_to_backend! {
        /// The message `sender_id` stored under `action_id`, if any.
        pub async fn find_by_action(&self, sender_id: i64, action_id: &str)
            -> Result<Option<StoredMessage>>;

        /// One message by room and sequence number.
        pub async fn get(&self, room_id: &str, message_id: i64) -> Result<Option<StoredMessage>>;

        /// A page of a room, ascending by `message_id`, tombstones included.
        pub async fn page(&self, room_id: &str, page: Page, limit: i64)
            -> Result<Vec<StoredMessage>>;

        /// Sequence state of the given rooms (rooms without messages are absent).
        pub async fn rooms(&self, room_ids: Vec<String>) -> Result<Vec<RoomInfo>>;

        /// Mark a message recalled (status 3) if it is still normal, was sent by `sender` (when
        /// given) and not before `not_before_ms` (when given). Returns the updated message, or
        /// `None` when nothing matched.
        pub async fn recall(&self, room_id: &str, message_id: i64, sender: Option<i64>,
            not_before_ms: Option<i64>) -> Result<Option<StoredMessage>>;

        /// Messages `sender_id` sent, in store order, after the one whose `id` is `after` (from
        /// the start when empty); at most `limit`. Tombstones included.
        pub async fn sent_by(&self, sender_id: i64, after: &str, limit: i64)
            -> Result<Vec<StoredMessage>>;

        /// Erase what `sender_id` wrote, for good: every message they sent becomes a recalled
        /// tombstone with an empty body, keeping its room and number. Returns how many
        /// messages changed.
        pub async fn erase_sender(&self, sender_id: i64) -> Result<u64>;

        /// Messages in `room_id` above `after_id` not sent by `exclude_sender` (unread counts).
        pub async fn count_after(&self, room_id: &str, after_id: i64, exclude_sender: i64)
            -> Result<i64>;
    }

    /// The last `message_id` of one room (0: no message yet).
    pub async fn last_message_id(&self, room_id: &str) -> Result<i64> {
        let rooms = self.rooms(vec![room_id.to_string()]).await?;
        Ok(rooms.first().map_or(0, |r| r.last_message_id))
    }

    /// Which backend this is, for logs.
    pub fn backend_name(&self) -> &'static str {
        match self {
            MessageStore::Sql(_) => "sql",
            MessageStore::Mongo(_) => "mongodb",
        }
    }
}
