//! The message store on MongoDB, in the original's collections (`room`, `message`).
//!
//! No replica set (hence no transactions) is required; the contract holds through unique
//! indexes, created at connect time:
//!
//! * `room {room_id: 1}` unique — one sequence per room;
//! * `message {room_id: 1, message_id: 1}` unique — no duplicate numbers;
//! * `message {sender_id: 1, action_id: 1}` unique — idempotent sends.
//!
//! Append: look the `(sender_id, action_id)` up; else allocate the next number with an atomic
//! `find_one_and_update` (`$inc`, upsert, return-after) on `room`, then insert the message with
//! a client-chosen `_id` (so a retried insert is recognisable). When the insert loses a race on
//! `(sender_id, action_id)` (a concurrent retry of the same send won), a tombstone (status 2,
//! sender 0, empty body, action id `void-<room>-<n>`) takes the allocated number so the room
//! never has a hole, and the winner's message is the answer.

use std::time::Duration;

use anyhow::Context;
use futures_util::TryStreamExt;
use mongodb::bson::{self, Bson, Document, doc, oid::ObjectId};
use mongodb::error::{Error as MongoError, ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, IndexModel};

use super::{NewMessage, Page, RoomInfo, StoredMessage};
use crate::db::now_ms;
use crate::domain::MessageStatus;
use crate::error::{AppError, Result};

/// Collection names (the original's).
const ROOM: &str = "room";
const MESSAGE: &str = "message";

/// MongoDB's duplicate-key error code.
const DUPLICATE_KEY: i32 = 11000;

/// How long the driver may look for a usable server before an operation fails (unless the
/// connection string sets `serverSelectionTimeoutMS`).
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// TCP/TLS connect timeout (unless the connection string sets `connectTimeoutMS`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Attempts of the message insert on transient (network) failures.
const INSERT_ATTEMPTS: u32 = 3;

/// The MongoDB message store.
#[derive(Clone)]
pub struct MongoStore {
    rooms: Collection<Document>,
    messages: Collection<Document>,
}

impl MongoStore {
    /// Connect to `url`, use `database` (the connection string's default database, then
    /// `jim`, when empty), check the server answers and create the indexes.
    pub async fn connect(url: &str, database: &str) -> anyhow::Result<Self> {
        let mut options = ClientOptions::parse(url)
            .await
            .context("messages.url is not a valid MongoDB connection string")?;
        options.server_selection_timeout.get_or_insert(SERVER_SELECTION_TIMEOUT);
        options.connect_timeout.get_or_insert(CONNECT_TIMEOUT);
        options.app_name.get_or_insert_with(|| "jim".to_string());
        let database = match (database.is_empty(), options.default_database.clone()) {
            (false, _) => database.to_string(),
            (true, Some(default)) => default,
            (true, None) => "jim".to_string(),
        };
        let client = Client::with_options(options).context("MongoDB client")?;
        let db = client.database(&database);
        db.run_command(doc! { "ping": 1 })
            .await
            .with_context(|| format!("MongoDB did not answer (database {database:?})"))?;
        let store = Self { rooms: db.collection(ROOM), messages: db.collection(MESSAGE) };
        store.create_indexes().await.context("creating MongoDB indexes")?;
        Ok(store)
    }

    async fn create_indexes(&self) -> std::result::Result<(), MongoError> {
        let unique =
            |name: &str| IndexOptions::builder().unique(true).name(name.to_string()).build();
        self.rooms
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "room_id": 1 })
                    .options(unique("room_id_uidx"))
                    .build(),
            )
            .await?;
        self.messages
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "room_id": 1, "message_id": 1 })
                    .options(unique("room_id_message_id_uidx"))
                    .build(),
            )
            .await?;
        self.messages
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "sender_id": 1, "action_id": 1 })
                    .options(unique("sender_id_action_id_uidx"))
                    .build(),
            )
            .await?;
        Ok(())
    }

    pub async fn find_by_action(
        &self,
        sender_id: i64,
        action_id: &str,
    ) -> Result<Option<StoredMessage>> {
        let found = self
            .messages
            .find_one(doc! { "sender_id": sender_id, "action_id": action_id })
            .await
            .map_err(db_error)?;
        found.map(|d| from_document(&d)).transpose()
    }

    /// Advance the room's sequence (creating the room on its first message) and return the
    /// new `last_message_id`.
    async fn allocate(&self, room_id: &str, session_type: i16, now: i64) -> Result<i64> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let updated = self
                .rooms
                .find_one_and_update(
                    doc! { "room_id": room_id },
                    doc! {
                        "$inc": { "last_message_id": 1_i64 },
                        "$set": { "updated_at": now },
                        "$setOnInsert": {
                            "session_type": i32::from(session_type),
                            "created_at": now,
                        },
                    },
                )
                .upsert(true)
                .return_document(ReturnDocument::After)
                .await;
            match updated {
                Ok(Some(room)) => return int_field(&room, "last_message_id"),
                Ok(None) => {
                    return Err(internal(format!("room {room_id:?}: upsert returned nothing")));
                }
                // Two first messages raced to create the room; the other insert won, so the
                // room now exists and the update succeeds on the next try.
                Err(e) if is_duplicate_key(&e) && attempt < 3 => continue,
                Err(e) => return Err(db_error(e)),
            }
        }
    }

    /// Insert `document`, retrying transient failures. A retry that finds its own `_id`
    /// already stored (the earlier attempt did commit) counts as success.
    async fn insert(
        &self,
        document: &Document,
        id: ObjectId,
    ) -> std::result::Result<(), MongoError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.messages.insert_one(document).await {
                Ok(_) => return Ok(()),
                Err(e) if attempt > 1 && is_duplicate_key(&e) => {
                    if self.messages.find_one(doc! { "_id": id }).await?.is_some() {
                        return Ok(());
                    }
                    return Err(e);
                }
                Err(e) if attempt < INSERT_ATTEMPTS && is_transient(&e) => {
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Fill `message_id` of `room_id` with a tombstone, so a number whose message could not be
    /// stored is not a hole.
    async fn insert_tombstone(&self, m: &NewMessage, message_id: i64) -> Result<()> {
        let id = ObjectId::new();
        let tombstone = doc! {
            "_id": id,
            "message_id": message_id,
            "room_id": &m.room_id,
            "type": i32::from(m.message_type),
            "session_type": i32::from(m.session_type),
            "sender_id": 0_i64,
            "receiver_id": m.receiver_id,
            "action_id": format!("void-{}-{message_id}", m.room_id),
            "body": Document::new(),
            "send_status": 1,
            "read_status": 0,
            "status": i32::from(MessageStatus::Deleted.as_i16()),
            "created_at": m.created_at,
            "updated_at": m.created_at,
        };
        self.insert(&tombstone, id).await.map_err(db_error)
    }

    pub async fn append(&self, m: NewMessage) -> Result<StoredMessage> {
        if let Some(existing) = self.find_by_action(m.sender_id, &m.action_id).await? {
            return Ok(existing);
        }
        let body_json: serde_json::Value = serde_json::from_str(&m.body).unwrap_or_default();
        let body = bson::to_bson(&body_json)
            .map_err(|e| internal(format!("message body to BSON: {e}")))?;
        let now = m.created_at;
        let message_id = self.allocate(&m.room_id, m.session_type, now).await?;
        let id = ObjectId::new();
        let document = doc! {
            "_id": id,
            "message_id": message_id,
            "room_id": &m.room_id,
            "type": i32::from(m.message_type),
            "session_type": i32::from(m.session_type),
            "sender_id": m.sender_id,
            "receiver_id": m.receiver_id,
            "action_id": &m.action_id,
            "body": body,
            "send_status": 1,
            "read_status": 0,
            "status": i32::from(MessageStatus::Normal.as_i16()),
            "created_at": now,
            "updated_at": now,
        };
        match self.insert(&document, id).await {
            Ok(()) => {
                self.set_last_message(&m.room_id, message_id, &document).await;
                from_document(&document)
            }
            Err(e) => {
                // Whatever happened, the number is taken: fill it (best effort when the
                // server is unreachable; the error below is then reported anyway).
                if let Err(fill) = self.insert_tombstone(&m, message_id).await {
                    slog::error!(slog_scope::logger(), "message number left unfilled";
                        "room_id" => &m.room_id, "message_id" => message_id,
                        "error" => format!("{fill:#}"));
                }
                if is_duplicate_key(&e)
                    && let Some(winner) = self.find_by_action(m.sender_id, &m.action_id).await?
                {
                    // A concurrent send with the same action id won; its message is the answer.
                    return Ok(winner);
                }
                Err(db_error(e))
            }
        }
    }

    /// Keep `room.last_message` (the original's denormalised newest message): the newest
    /// number wins under races. Best effort: the message itself is already stored.
    async fn set_last_message(&self, room_id: &str, message_id: i64, document: &Document) {
        let result = self
            .rooms
            .update_one(
                doc! {
                    "room_id": room_id,
                    "$or": [
                        { "last_message": { "$exists": false } },
                        { "last_message.message_id": { "$lt": message_id } },
                    ],
                },
                doc! { "$set": { "last_message": document.clone() } },
            )
            .await;
        if let Err(e) = result {
            slog::warn!(slog_scope::logger(), "room.last_message not updated";
                "room_id" => room_id, "message_id" => message_id, "error" => e.to_string());
        }
    }

    pub async fn get(&self, room_id: &str, message_id: i64) -> Result<Option<StoredMessage>> {
        let found = self
            .messages
            .find_one(doc! { "room_id": room_id, "message_id": message_id })
            .await
            .map_err(db_error)?;
        found.map(|d| from_document(&d)).transpose()
    }

    pub async fn page(&self, room_id: &str, page: Page, limit: i64) -> Result<Vec<StoredMessage>> {
        let limit = limit.max(1);
        let (filter, sort) = match page {
            Page::Latest => (doc! { "room_id": room_id }, -1),
            Page::Before(id) => (doc! { "room_id": room_id, "message_id": { "$lt": id } }, -1),
            Page::After(id) => (doc! { "room_id": room_id, "message_id": { "$gt": id } }, 1),
        };
        let documents: Vec<Document> = self
            .messages
            .find(filter)
            .sort(doc! { "message_id": sort })
            .limit(limit)
            .await
            .map_err(db_error)?
            .try_collect()
            .await
            .map_err(db_error)?;
        let mut messages = documents.iter().map(from_document).collect::<Result<Vec<_>>>()?;
        messages.sort_by_key(|m| m.message_id);
        Ok(messages)
    }

    pub async fn rooms(&self, room_ids: Vec<String>) -> Result<Vec<RoomInfo>> {
        if room_ids.is_empty() {
            return Ok(Vec::new());
        }
        let documents: Vec<Document> = self
            .rooms
            .find(doc! { "room_id": { "$in": room_ids } })
            .projection(
                doc! { "room_id": 1, "session_type": 1, "last_message_id": 1, "updated_at": 1 },
            )
            .await
            .map_err(db_error)?
            .try_collect()
            .await
            .map_err(db_error)?;
        documents
            .iter()
            .map(|d| {
                Ok(RoomInfo {
                    room_id: str_field(d, "room_id")?,
                    session_type: small_int_field(d, "session_type")?,
                    last_message_id: int_field(d, "last_message_id")?,
                    updated_at: int_field(d, "updated_at")?,
                })
            })
            .collect()
    }

    pub async fn recall(
        &self,
        room_id: &str,
        message_id: i64,
        sender: Option<i64>,
        not_before_ms: Option<i64>,
    ) -> Result<Option<StoredMessage>> {
        let mut filter = doc! {
            "room_id": room_id,
            "message_id": message_id,
            "status": i32::from(MessageStatus::Normal.as_i16()),
        };
        if let Some(sender) = sender {
            filter.insert("sender_id", sender);
        }
        if let Some(t) = not_before_ms {
            filter.insert("created_at", doc! { "$gte": t });
        }
        let now = now_ms();
        let updated = self
            .messages
            .find_one_and_update(
                filter,
                doc! { "$set": { "status": i32::from(MessageStatus::Recalled.as_i16()), "updated_at": now } },
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(db_error)?;
        let Some(updated) = updated else { return Ok(None) };
        // Keep the room's copy of its newest message in step (best effort).
        if let Err(e) = self
            .rooms
            .update_one(
                doc! { "room_id": room_id, "last_message.message_id": message_id },
                doc! { "$set": {
                    "last_message.status": i32::from(MessageStatus::Recalled.as_i16()),
                    "last_message.updated_at": now,
                } },
            )
            .await
        {
            slog::warn!(slog_scope::logger(), "room.last_message not updated on recall";
                "room_id" => room_id, "message_id" => message_id, "error" => e.to_string());
        }
        from_document(&updated).map(Some)
    }

    pub async fn sent_by(
        &self,
        sender_id: i64,
        after: &str,
        limit: i64,
    ) -> Result<Vec<StoredMessage>> {
        let mut filter = doc! { "sender_id": sender_id };
        if !after.is_empty() {
            let after = ObjectId::parse_str(after)
                .map_err(|_| AppError::invalid("not a message id of this store"))?;
            filter.insert("_id", doc! { "$gt": after });
        }
        let mut cursor = self
            .messages
            .find(filter)
            .sort(doc! { "_id": 1 })
            .limit(limit.max(1))
            .await
            .map_err(db_error)?;
        let mut out = Vec::new();
        while cursor.advance().await.map_err(db_error)? {
            let d = cursor.deserialize_current().map_err(db_error)?;
            out.push(from_document(&d)?);
        }
        Ok(out)
    }

    pub async fn erase_sender(&self, sender_id: i64) -> Result<u64> {
        let now = now_ms();
        let recalled = i32::from(MessageStatus::Recalled.as_i16());
        let result = self
            .messages
            .update_many(
                doc! { "sender_id": sender_id },
                doc! { "$set": { "status": recalled, "body": {}, "updated_at": now } },
            )
            .await
            .map_err(db_error)?;
        // The rooms' copies of their newest message, when it was one of theirs.
        if let Err(e) = self
            .rooms
            .update_many(
                doc! { "last_message.sender_id": sender_id },
                doc! { "$set": {
                    "last_message.status": recalled,
                    "last_message.body": {},
                    "last_message.updated_at": now,
                } },
            )
            .await
        {
            slog::warn!(slog_scope::logger(), "room.last_message not erased";
                "sender_id" => sender_id, "error" => e.to_string());
        }
        Ok(result.modified_count)
    }

    pub async fn count_after(
        &self,
        room_id: &str,
        after_id: i64,
        exclude_sender: i64,
    ) -> Result<i64> {
        let count = self
            .messages
            .count_documents(doc! {
                "room_id": room_id,
                "message_id": { "$gt": after_id },
                // Neither the reader's own messages nor the tombstones of unfilled numbers.
                "$nor": [
                    { "sender_id": exclude_sender },
                    { "sender_id": 0_i64, "status": i32::from(MessageStatus::Deleted.as_i16()) },
                ],
            })
            .await
            .map_err(db_error)?;
        i64::try_from(count).map_err(|_| internal("count out of range"))
    }
}

/// A stored `message` document as clients see it.
fn from_document(d: &Document) -> Result<StoredMessage> {
    let id = match d.get("_id") {
        Some(Bson::ObjectId(oid)) => oid.to_hex(),
        Some(other) => other.to_string(),
        None => return Err(internal("message document without _id")),
    };
    Ok(StoredMessage {
        id,
        room_id: str_field(d, "room_id")?,
        message_id: int_field(d, "message_id")?,
        session_type: small_int_field(d, "session_type")?,
        message_type: small_int_field(d, "type")?,
        sender_id: int_field(d, "sender_id")?,
        receiver_id: int_field(d, "receiver_id")?,
        action_id: match d.get("action_id") {
            Some(Bson::String(s)) => s.clone(),
            _ => String::new(),
        },
        body: match d.get("body") {
            Some(body) => body.clone().into_relaxed_extjson(),
            None => serde_json::Value::Object(Default::default()),
        },
        status: small_int_field(d, "status")?,
        created_at: int_field(d, "created_at")?,
    })
}

fn str_field(d: &Document, key: &str) -> Result<String> {
    match d.get(key) {
        Some(Bson::String(s)) => Ok(s.clone()),
        other => Err(internal(format!("field {key:?}: expected a string, found {other:?}"))),
    }
}

/// An integer field, whichever numeric BSON type it was written with.
fn int_field(d: &Document, key: &str) -> Result<i64> {
    match d.get(key) {
        Some(Bson::Int64(v)) => Ok(*v),
        Some(Bson::Int32(v)) => Ok(i64::from(*v)),
        Some(Bson::Double(v)) if v.fract() == 0.0 && v.abs() < 9.0e15 => Ok(*v as i64),
        other => Err(internal(format!("field {key:?}: expected an integer, found {other:?}"))),
    }
}

fn small_int_field(d: &Document, key: &str) -> Result<i16> {
    let v = int_field(d, key)?;
    i16::try_from(v).map_err(|_| internal(format!("field {key:?}: {v} out of range")))
}

fn internal(message: impl Into<String>) -> AppError {
    AppError::Internal(anyhow::anyhow!("MongoDB message store: {}", message.into()))
}

/// A driver error as the crate's error: unreachable server → 503, anything else → 500.
fn db_error(e: MongoError) -> AppError {
    if is_transient(&e) {
        AppError::Unavailable(anyhow::Error::new(e).context("MongoDB"))
    } else {
        AppError::Internal(anyhow::Error::new(e).context("MongoDB"))
    }
}

fn is_transient(e: &MongoError) -> bool {
    matches!(
        *e.kind,
        ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. }
    ) || e.contains_label("RetryableWriteError")
}

fn is_duplicate_key(e: &MongoError) -> bool {
    match &*e.kind {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == DUPLICATE_KEY,
        ErrorKind::Command(c) => c.code == DUPLICATE_KEY,
        _ => false,
    }
}
