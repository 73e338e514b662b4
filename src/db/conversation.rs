//! Repository for per-user conversation state: read positions, pins, mutes, cleared history
//! and messages hidden for one user ("delete for me").

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::{conversation_clears, conversation_state, message_hides};
use super::{Db, DbError, DbResult};
use crate::db_run;
use crate::domain::UserId;

/// A row of `conversation_state`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = conversation_state)]
pub struct ConversationStateRow {
    pub user_id: UserId,
    pub room_id: String,
    pub session_type: i16,
    pub target_id: i64,
    pub read_message_id: i64,
    pub pinned: bool,
    pub muted: bool,
    pub updated_at: i64,
}

/// Which conversation a state row is for.
#[derive(Debug, Clone)]
pub struct ConversationKey {
    pub user_id: UserId,
    pub room_id: String,
    pub session_type: i16,
    pub target_id: i64,
}

/// A fresh state row (nothing read, not pinned, not muted), inserted when missing.
#[derive(Insertable)]
#[diesel(table_name = conversation_state)]
struct NewConversationState<'a> {
    user_id: UserId,
    room_id: &'a str,
    session_type: i16,
    target_id: i64,
    read_message_id: i64,
    pinned: bool,
    muted: bool,
    updated_at: i64,
}

impl<'a> NewConversationState<'a> {
    fn of(key: &'a ConversationKey, now: i64) -> Self {
        NewConversationState {
            user_id: key.user_id,
            room_id: &key.room_id,
            session_type: key.session_type,
            target_id: key.target_id,
            read_message_id: 0,
            pinned: false,
            muted: false,
            updated_at: now,
        }
    }
}

/// A read position's move: where it was and where it is now (the same when the mark was not
/// past it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadMove {
    pub before: i64,
    pub after: i64,
}

/// A flag of a conversation.
#[derive(Debug, Clone, Copy)]
pub enum ConversationFlag {
    Pinned(bool),
    Muted(bool),
}

impl Db {
    /// Move my read position in a room forward to `message_id` (never backwards). Returns
    /// the position stored before and the position stored now.
    pub async fn conversation_mark_read(
        &self,
        key: ConversationKey,
        message_id: i64,
        now: i64,
    ) -> DbResult<ReadMove> {
        transaction!(self, |c| {
            diesel::insert_or_ignore_into(conversation_state::table)
                .values(&NewConversationState::of(&key, now))
                .execute(c)
                .await?;
            let row = conversation_state::table
                .filter(conversation_state::user_id.eq(key.user_id))
                .filter(conversation_state::room_id.eq(&key.room_id));
            let before: i64 = row.select(conversation_state::read_message_id).first(c).await?;
            diesel::update(row.filter(conversation_state::read_message_id.lt(message_id)))
                .set((
                    conversation_state::read_message_id.eq(message_id),
                    conversation_state::updated_at.eq(now),
                ))
                .execute(c)
                .await?;
            let after = row.select(conversation_state::read_message_id).first(c).await?;
            Ok::<_, DbError>(ReadMove { before, after })
        })
    }

    /// The read positions (above 0) in `room_id` of the given users.
    pub async fn conversation_read_positions(
        &self,
        room_id: String,
        user_ids: Vec<UserId>,
    ) -> DbResult<Vec<(UserId, i64)>> {
        query!(self, |c| conversation_state::table
            .filter(conversation_state::room_id.eq(&room_id))
            .filter(conversation_state::user_id.eq_any(&user_ids))
            .filter(conversation_state::read_message_id.gt(0))
            .select((conversation_state::user_id, conversation_state::read_message_id))
            .load(c)
            .await)
    }

    /// Set a flag (pin, mute) of my conversation.
    pub async fn conversation_set_flag(
        &self,
        key: ConversationKey,
        flag: ConversationFlag,
        now: i64,
    ) -> DbResult<()> {
        transaction!(self, |c| {
            diesel::insert_or_ignore_into(conversation_state::table)
                .values(&NewConversationState::of(&key, now))
                .execute(c)
                .await?;
            let row = conversation_state::table
                .filter(conversation_state::user_id.eq(key.user_id))
                .filter(conversation_state::room_id.eq(&key.room_id));
            match flag {
                ConversationFlag::Pinned(v) => {
                    diesel::update(row)
                        .set((
                            conversation_state::pinned.eq(v),
                            conversation_state::updated_at.eq(now),
                        ))
                        .execute(c)
                        .await?
                }
                ConversationFlag::Muted(v) => {
                    diesel::update(row)
                        .set((
                            conversation_state::muted.eq(v),
                            conversation_state::updated_at.eq(now),
                        ))
                        .execute(c)
                        .await?
                }
            };
            Ok::<_, DbError>(())
        })
    }

    /// My state rows for the given rooms.
    pub async fn conversation_states(
        &self,
        user_id: UserId,
        room_ids: Vec<String>,
    ) -> DbResult<Vec<ConversationStateRow>> {
        query!(self, all ConversationStateRow, conversation_state::table
            .filter(conversation_state::user_id.eq(user_id))
            .filter(conversation_state::room_id.eq_any(&room_ids)))
    }

    /// My state rows of one session type (e.g. the world rooms I have used).
    pub async fn conversation_states_of_type(
        &self,
        user_id: UserId,
        session_type: i16,
    ) -> DbResult<Vec<ConversationStateRow>> {
        query!(self, all ConversationStateRow, conversation_state::table
            .filter(conversation_state::user_id.eq(user_id))
            .filter(conversation_state::session_type.eq(session_type)))
    }

    /// How many users other than `sender` have read `room_id` up to at least `message_id`.
    pub async fn conversation_read_by(
        &self,
        room_id: String,
        message_id: i64,
        sender: UserId,
    ) -> DbResult<i64> {
        query!(self, |c| conversation_state::table
            .filter(conversation_state::room_id.eq(&room_id))
            .filter(conversation_state::read_message_id.ge(message_id))
            .filter(conversation_state::user_id.ne(sender))
            .count()
            .get_result(c)
            .await)
    }

    /// Hide `room_id` up to `up_to` from `user_id`'s history.
    pub async fn conversation_clear(
        &self,
        user_id: UserId,
        room_id: String,
        up_to: i64,
        now: i64,
    ) -> DbResult<()> {
        query!(self, |c| diesel::replace_into(conversation_clears::table)
            .values((
                conversation_clears::user_id.eq(user_id),
                conversation_clears::room_id.eq(&room_id),
                conversation_clears::cleared_to_message_id.eq(up_to),
                conversation_clears::updated_at.eq(now),
            ))
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Up to which message `user_id` cleared `room_id` (0: never).
    pub async fn conversation_cleared_to(&self, user_id: UserId, room_id: String) -> DbResult<i64> {
        self.run(move |mut conn| async move {
            let v: Option<i64> = db_run!(&mut conn, |c| conversation_clears::table
                .filter(conversation_clears::user_id.eq(user_id))
                .filter(conversation_clears::room_id.eq(&room_id))
                .select(conversation_clears::cleared_to_message_id)
                .first(c)
                .await
                .optional())?;
            Ok(v.unwrap_or(0))
        })
        .await
    }

    /// Hide one message from `user_id` only.
    pub async fn message_hide(
        &self,
        user_id: UserId,
        room_id: String,
        message_id: i64,
        now: i64,
    ) -> DbResult<()> {
        query!(self, |c| diesel::insert_or_ignore_into(message_hides::table)
            .values((
                message_hides::user_id.eq(user_id),
                message_hides::room_id.eq(&room_id),
                message_hides::message_id.eq(message_id),
                message_hides::created_at.eq(now),
            ))
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Which of `message_ids` in `room_id` `user_id` has hidden.
    pub async fn message_hidden(
        &self,
        user_id: UserId,
        room_id: String,
        message_ids: Vec<i64>,
    ) -> DbResult<Vec<i64>> {
        query!(self, |c| message_hides::table
            .filter(message_hides::user_id.eq(user_id))
            .filter(message_hides::room_id.eq(&room_id))
            .filter(message_hides::message_id.eq_any(&message_ids))
            .select(message_hides::message_id)
            .load(c)
            .await)
    }
}
