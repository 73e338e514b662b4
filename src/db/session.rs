//! Repository for `sessions`: one row per login, found by the keyed hash of its token.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::{sessions, users};
use super::user::UserRow;
use super::{Db, DbResult, last_insert_id};
use crate::domain::UserId;

/// A row of `sessions` (to create one, its `id` is ignored).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub user_id: UserId,
    pub token_hash: String,
    pub user_agent: String,
    pub ip: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl Db {
    pub async fn session_insert(&self, session: SessionRow) -> DbResult<i64> {
        transaction!(self, |c| {
            diesel::insert_into(sessions::table).values(&session).execute(c).await?;
            last_insert_id(c).await
        })
    }

    /// The session holding `token_hash`, with its user, in one query.
    pub async fn session_find_by_token_hash(
        &self,
        token_hash: String,
    ) -> DbResult<Option<(SessionRow, UserRow)>> {
        query!(
            self,
            optional(SessionRow, UserRow),
            sessions::table.inner_join(users::table).filter(sessions::token_hash.eq(&token_hash))
        )
    }

    /// Record activity on a session.
    pub async fn session_touch(&self, id: i64, now: i64) -> DbResult<()> {
        query!(self, |c| diesel::update(sessions::table.find(id))
            .set(sessions::last_seen_at.eq(now))
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Live (not revoked, not expired) sessions of a user, newest first.
    pub async fn session_list_live(&self, user_id: UserId, now: i64) -> DbResult<Vec<SessionRow>> {
        query!(self, all SessionRow, sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now))
            .order(sessions::id.desc()))
    }

    /// Revoke the live sessions of `user_id` selected by `only` (one id) or all of them except
    /// `except`. Returns the ids revoked.
    pub async fn session_revoke(
        &self,
        user_id: UserId,
        only: Option<i64>,
        except: Option<i64>,
        now: i64,
    ) -> DbResult<Vec<i64>> {
        transaction!(self, |c| {
            let mut query = sessions::table
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::revoked_at.is_null())
                .into_boxed();
            if let Some(id) = only {
                query = query.filter(sessions::id.eq(id));
            }
            if let Some(id) = except {
                query = query.filter(sessions::id.ne(id));
            }
            let ids: Vec<i64> = query.select(sessions::id).load(c).await?;
            if !ids.is_empty() {
                diesel::update(sessions::table.filter(sessions::id.eq_any(&ids)))
                    .set(sessions::revoked_at.eq(now))
                    .execute(c)
                    .await?;
            }
            Ok(ids)
        })
    }
}
