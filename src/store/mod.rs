//! The message store seam: append a message with the next per-room `message_id` in one
//! atomic step, idempotently by `(sender_id, action_id)`. The SQL store (SQLite / MySQL) is
//! the default; a MongoDB store implements the same contract in the chat issue.

pub mod sql;

use serde::{Deserialize, Serialize};

/// Conversation kinds and their wire values.
pub const SESSION_PRIVATE: i16 = 1;
pub const SESSION_GROUP: i16 = 2;
pub const SESSION_WORLD: i16 = 99;

/// Message status values.
pub const MESSAGE_NORMAL: i16 = 1;
pub const MESSAGE_DELETED: i16 = 2;
pub const MESSAGE_RECALLED: i16 = 3;

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

/// The configured message store.
#[derive(Clone)]
pub enum MessageStore {
    Sql(sql::SqlStore),
}

impl MessageStore {
    /// Append `message`: allocate the room's next `message_id` and insert, atomically. A
    /// repeated `(sender_id, action_id)` returns the message stored the first time.
    pub async fn append(&self, message: NewMessage) -> crate::error::Result<StoredMessage> {
        match self {
            MessageStore::Sql(s) => s.append(message).await,
        }
    }

    /// Hide `room_id`'s history up to now from `user_id` only.
    pub async fn clear_for_user(&self, user_id: i64, room_id: &str) -> crate::error::Result<()> {
        match self {
            MessageStore::Sql(s) => s.clear_for_user(user_id, room_id).await,
        }
    }
}
