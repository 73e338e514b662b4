//! The message store on the relational database: `rooms` holds each room's sequence, advanced
//! in the same transaction as the `messages` insert; unique indexes on `(room_id, message_id)`
//! and `(sender_id, action_id)` make gaps, duplicates and double sends impossible.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::{MESSAGE_NORMAL, MESSAGE_RECALLED, NewMessage, Page, RoomInfo, StoredMessage};
use crate::db::schema::{messages, rooms};
use crate::db::{Db, DbError, TRANSACTION_ATTEMPTS, last_insert_id, now_ms, retry_pause};
use crate::db_run;
use crate::error::Result;

/// A row of `messages`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = messages)]
struct MessageRow {
    id: i64,
    room_id: String,
    message_id: i64,
    session_type: i16,
    message_type: i16,
    sender_id: i64,
    receiver_id: i64,
    action_id: String,
    body: String,
    status: i16,
    created_at: i64,
}

impl From<MessageRow> for StoredMessage {
    fn from(r: MessageRow) -> Self {
        StoredMessage {
            id: r.id.to_string(),
            room_id: r.room_id,
            message_id: r.message_id,
            session_type: r.session_type,
            message_type: r.message_type,
            sender_id: r.sender_id,
            receiver_id: r.receiver_id,
            action_id: r.action_id,
            body: serde_json::from_str(&r.body).unwrap_or(serde_json::Value::Null),
            status: r.status,
            created_at: r.created_at,
        }
    }
}

/// The SQL message store.
#[derive(Clone)]
pub struct SqlStore {
    db: Db,
}

impl SqlStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn find_by_action(
        &self,
        sender_id: i64,
        action_id: &str,
    ) -> Result<Option<StoredMessage>> {
        let action_id = action_id.to_string();
        let row = self
            .db
            .run(move |mut conn| async move {
                Ok(db_run!(&mut conn, |c| messages::table
                    .filter(messages::sender_id.eq(sender_id))
                    .filter(messages::action_id.eq(&action_id))
                    .select(MessageRow::as_select())
                    .first(c)
                    .await
                    .optional())?)
            })
            .await?;
        Ok(row.map(Into::into))
    }

    pub async fn append(&self, m: NewMessage) -> Result<StoredMessage> {
        // No look-up first: the unique (sender_id, action_id) index turns a repeat into a
        // rolled-back attempt, answered below with the original message.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_append(m.clone()).await {
                Ok(message) => return Ok(message),
                // A concurrent send with the same action id won: its message is the answer.
                // (Otherwise two first messages raced to create the room: try again.)
                Err(e) if e.is_unique_violation() => {
                    if let Some(existing) = self.find_by_action(m.sender_id, &m.action_id).await? {
                        return Ok(existing);
                    }
                    if attempt >= TRANSACTION_ATTEMPTS {
                        return Err(e.into());
                    }
                }
                Err(e) if e.is_retryable() && attempt < TRANSACTION_ATTEMPTS => {
                    retry_pause(attempt).await
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// One attempt: advance the room's sequence and insert, in one transaction. The first
    /// statement is a write, so SQLite takes its write lock at once (no read-then-upgrade
    /// deadlock) and MySQL takes the room row's exclusive lock directly.
    async fn try_append(&self, m: NewMessage) -> std::result::Result<StoredMessage, DbError> {
        self.db
            .run(move |mut conn| async move {
                db_run!(&mut conn, |c| {
                    c.transaction(async |c| {
                        let now = m.created_at;
                        let bumped = diesel::update(rooms::table.find(&m.room_id))
                            .set((
                                rooms::last_message_id.eq(rooms::last_message_id + 1),
                                rooms::updated_at.eq(now),
                            ))
                            .execute(c)
                            .await?;
                        let message_id: i64 = if bumped == 0 {
                            diesel::insert_into(rooms::table)
                                .values((
                                    rooms::room_id.eq(&m.room_id),
                                    rooms::session_type.eq(m.session_type),
                                    rooms::last_message_id.eq(1),
                                    rooms::created_at.eq(now),
                                    rooms::updated_at.eq(now),
                                ))
                                .execute(c)
                                .await?;
                            1
                        } else {
                            rooms::table
                                .find(&m.room_id)
                                .select(rooms::last_message_id)
                                .first(c)
                                .await?
                        };
                        diesel::insert_into(messages::table)
                            .values((
                                messages::room_id.eq(&m.room_id),
                                messages::message_id.eq(message_id),
                                messages::session_type.eq(m.session_type),
                                messages::message_type.eq(m.message_type),
                                messages::sender_id.eq(m.sender_id),
                                messages::receiver_id.eq(m.receiver_id),
                                messages::action_id.eq(&m.action_id),
                                messages::body.eq(&m.body),
                                messages::status.eq(MESSAGE_NORMAL),
                                messages::created_at.eq(now),
                                messages::updated_at.eq(now),
                            ))
                            .execute(c)
                            .await?;
                        let id = last_insert_id(c).await?;
                        Ok::<_, DbError>(StoredMessage {
                            id: id.to_string(),
                            room_id: m.room_id.clone(),
                            message_id,
                            session_type: m.session_type,
                            message_type: m.message_type,
                            sender_id: m.sender_id,
                            receiver_id: m.receiver_id,
                            action_id: m.action_id.clone(),
                            body: serde_json::from_str(&m.body).unwrap_or_default(),
                            status: MESSAGE_NORMAL,
                            created_at: now,
                        })
                    })
                    .await
                })
            })
            .await
    }

    pub async fn get(&self, room_id: &str, message_id: i64) -> Result<Option<StoredMessage>> {
        let room_id = room_id.to_string();
        let row = self
            .db
            .run(move |mut conn| async move {
                Ok(db_run!(&mut conn, |c| messages::table
                    .filter(messages::room_id.eq(&room_id))
                    .filter(messages::message_id.eq(message_id))
                    .select(MessageRow::as_select())
                    .first(c)
                    .await
                    .optional())?)
            })
            .await?;
        Ok(row.map(Into::into))
    }

    pub async fn page(&self, room_id: &str, page: Page, limit: i64) -> Result<Vec<StoredMessage>> {
        let room_id = room_id.to_string();
        let limit = limit.max(1);
        let mut rows = self
            .db
            .run(move |mut conn| async move {
                db_run!(&mut conn, |c| {
                    let base = messages::table.filter(messages::room_id.eq(&room_id)).into_boxed();
                    let query = match page {
                        Page::Latest => base.order(messages::message_id.desc()),
                        Page::Before(id) => base
                            .filter(messages::message_id.lt(id))
                            .order(messages::message_id.desc()),
                        Page::After(id) => base
                            .filter(messages::message_id.gt(id))
                            .order(messages::message_id.asc()),
                    };
                    Ok(query.limit(limit).select(MessageRow::as_select()).load(c).await?)
                })
            })
            .await?;
        rows.sort_by_key(|r| r.message_id);
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn rooms(&self, room_ids: Vec<String>) -> Result<Vec<RoomInfo>> {
        if room_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, i16, i64, i64)> = self
            .db
            .run(move |mut conn| async move {
                Ok(db_run!(&mut conn, |c| rooms::table
                    .filter(rooms::room_id.eq_any(&room_ids))
                    .select((
                        rooms::room_id,
                        rooms::session_type,
                        rooms::last_message_id,
                        rooms::updated_at
                    ))
                    .load(c)
                    .await)?)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|(room_id, session_type, last_message_id, updated_at)| RoomInfo {
                room_id,
                session_type,
                last_message_id,
                updated_at,
            })
            .collect())
    }

    pub async fn recall(
        &self,
        room_id: &str,
        message_id: i64,
        sender: Option<i64>,
        not_before_ms: Option<i64>,
    ) -> Result<Option<StoredMessage>> {
        let room = room_id.to_string();
        let changed = self
            .db
            .run(move |mut conn| async move {
                db_run!(&mut conn, |c| {
                    let mut target = messages::table
                        .filter(messages::room_id.eq(&room))
                        .filter(messages::message_id.eq(message_id))
                        .filter(messages::status.eq(MESSAGE_NORMAL))
                        .into_boxed();
                    if let Some(sender) = sender {
                        target = target.filter(messages::sender_id.eq(sender));
                    }
                    if let Some(t) = not_before_ms {
                        target = target.filter(messages::created_at.ge(t));
                    }
                    let ids: Vec<i64> = target.select(messages::id).load(c).await?;
                    if ids.is_empty() {
                        return Ok::<_, DbError>(0);
                    }
                    Ok(diesel::update(
                        messages::table
                            .filter(messages::id.eq_any(&ids))
                            .filter(messages::status.eq(MESSAGE_NORMAL)),
                    )
                    .set((messages::status.eq(MESSAGE_RECALLED), messages::updated_at.eq(now_ms())))
                    .execute(c)
                    .await?)
                })
            })
            .await?;
        if changed == 0 {
            return Ok(None);
        }
        self.get(room_id, message_id).await
    }

    pub async fn count_after(
        &self,
        room_id: &str,
        after_id: i64,
        exclude_sender: i64,
    ) -> Result<i64> {
        let room_id = room_id.to_string();
        Ok(self
            .db
            .run(move |mut conn| async move {
                Ok(db_run!(&mut conn, |c| messages::table
                    .filter(messages::room_id.eq(&room_id))
                    .filter(messages::message_id.gt(after_id))
                    .filter(messages::sender_id.ne(exclude_sender))
                    .count()
                    .get_result(c)
                    .await)?)
            })
            .await?)
    }
}
