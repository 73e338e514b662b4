//! The message store on the relational database: `rooms` holds each room's sequence, advanced
//! in the same transaction as the `messages` insert; unique indexes on `(room_id, message_id)`
//! and `(sender_id, action_id)` make gaps, duplicates and double sends impossible.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::{MESSAGE_NORMAL, NewMessage, StoredMessage};
use crate::db::schema::{conversation_clears, messages, rooms};
use crate::db::{Db, DbError, last_insert_id, now_ms};
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

    async fn find_by_action(
        &self,
        sender_id: i64,
        action_id: String,
    ) -> Result<Option<StoredMessage>> {
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
        if let Some(existing) = self.find_by_action(m.sender_id, m.action_id.clone()).await? {
            return Ok(existing);
        }
        let (sender_id, action_id) = (m.sender_id, m.action_id.clone());
        let inserted = self
            .db
            .run(move |mut conn| async move {
                db_run!(&mut conn, |c| {
                    c.transaction(async |c| {
                        let now = m.created_at;
                        // The first statement writes, so SQLite takes its write lock at once
                        // (no read-then-upgrade deadlock) and MySQL locks the room row.
                        diesel::insert_or_ignore_into(rooms::table)
                            .values((
                                rooms::room_id.eq(&m.room_id),
                                rooms::session_type.eq(m.session_type),
                                rooms::last_message_id.eq(0),
                                rooms::created_at.eq(now),
                                rooms::updated_at.eq(now),
                            ))
                            .execute(c)
                            .await?;
                        diesel::update(rooms::table.find(&m.room_id))
                            .set((
                                rooms::last_message_id.eq(rooms::last_message_id + 1),
                                rooms::updated_at.eq(now),
                            ))
                            .execute(c)
                            .await?;
                        let message_id: i64 = rooms::table
                            .find(&m.room_id)
                            .select(rooms::last_message_id)
                            .first(c)
                            .await?;
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
            .await;
        match inserted {
            Ok(message) => Ok(message),
            // A concurrent send with the same action id won; its message is the answer.
            Err(e) if e.is_unique_violation() => {
                match self.find_by_action(sender_id, action_id).await? {
                    Some(existing) => Ok(existing),
                    None => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn clear_for_user(&self, user_id: i64, room_id: &str) -> Result<()> {
        let room_id = room_id.to_string();
        self.db
            .run(move |mut conn| async move {
                db_run!(&mut conn, |c| {
                    c.transaction(async |c| {
                        let last: Option<i64> = rooms::table
                            .find(&room_id)
                            .select(rooms::last_message_id)
                            .first(c)
                            .await
                            .optional()?;
                        let Some(last) = last else { return Ok::<_, DbError>(()) };
                        let now = now_ms();
                        diesel::replace_into(conversation_clears::table)
                            .values((
                                conversation_clears::user_id.eq(user_id),
                                conversation_clears::room_id.eq(&room_id),
                                conversation_clears::cleared_to_message_id.eq(last),
                                conversation_clears::updated_at.eq(now),
                            ))
                            .execute(c)
                            .await?;
                        Ok(())
                    })
                    .await
                })
            })
            .await?;
        Ok(())
    }
}
