//! Repository for `users`.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::users;
use super::{Db, DbResult, last_insert_id};
use crate::domain::UserId;

/// A row of `users` (to create one, its `id` is ignored).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    #[diesel(skip_insertion)]
    pub id: UserId,
    pub username: String,
    pub username_norm: String,
    pub password_hash: String,
    pub nickname: String,
    pub avatar: String,
    pub birth_date: Option<String>,
    pub online_status: i16,
    pub status: i16,
    pub created_at: i64,
    pub updated_at: i64,
    /// The verified address, or (registration with `auth.require_email`) the one waiting to be.
    pub email: Option<String>,
    /// The lower-cased address while it is verified (unique), else `None`.
    pub email_norm: Option<String>,
    pub email_verified: bool,
}

/// Profile fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct ProfileChanges {
    pub nickname: Option<String>,
    pub avatar: Option<String>,
    pub birth_date: Option<Option<String>>,
    pub online_status: Option<i16>,
    pub updated_at: Option<i64>,
}

impl Db {
    /// Insert a user and return its id. A taken username is a unique violation.
    pub async fn user_insert(&self, user: UserRow) -> DbResult<UserId> {
        transaction!(self, |c| {
            diesel::insert_into(users::table).values(&user).execute(c).await?;
            last_insert_id(c).await.map(UserId)
        })
    }

    pub async fn user_find_by_id(&self, id: UserId) -> DbResult<Option<UserRow>> {
        query!(self, optional UserRow, users::table.find(id))
    }

    pub async fn user_find_by_username(&self, username_norm: String) -> DbResult<Option<UserRow>> {
        query!(self, optional UserRow, users::table.filter(users::username_norm.eq(&username_norm)))
    }

    /// Users with id greater than `after_id`, in id order.
    pub async fn user_list(&self, after_id: i64, limit: i64) -> DbResult<Vec<UserRow>> {
        query!(self, all UserRow, users::table
            .filter(users::id.gt(after_id))
            .order(users::id.asc())
            .limit(limit))
    }

    /// The account whose verified address is `email_norm` (lower-cased).
    pub async fn user_find_by_email(&self, email_norm: String) -> DbResult<Option<UserRow>> {
        query!(self, optional UserRow, users::table.filter(users::email_norm.eq(&email_norm)))
    }

    /// Set an account's address: verified (`email_norm` set, unique: a taken address is a
    /// unique violation), waiting for its code, or none.
    pub async fn user_set_email(
        &self,
        id: UserId,
        email: Option<String>,
        verified: bool,
        now: i64,
    ) -> DbResult<bool> {
        let norm = email.as_ref().filter(|_| verified).map(|e| e.to_lowercase());
        let _turn = self.sqlite_write_turn().await;
        query!(self, |c| diesel::update(users::table.find(id))
            .set((
                users::email.eq(&email),
                users::email_norm.eq(&norm),
                users::email_verified.eq(verified && email.is_some()),
                users::updated_at.eq(now),
            ))
            .execute(c)
            .await)
        .map(|n| n > 0)
    }

    pub async fn user_update_profile(&self, id: UserId, changes: ProfileChanges) -> DbResult<bool> {
        query!(self, |c| diesel::update(users::table.find(id)).set(&changes).execute(c).await)
            .map(|n| n > 0)
    }

    pub async fn user_set_password_hash(
        &self,
        id: UserId,
        hash: String,
        now: i64,
    ) -> DbResult<bool> {
        query!(self, |c| diesel::update(users::table.find(id))
            .set((users::password_hash.eq(&hash), users::updated_at.eq(now)))
            .execute(c)
            .await)
        .map(|n| n > 0)
    }

    pub async fn user_set_status(&self, id: UserId, status: i16, now: i64) -> DbResult<bool> {
        query!(self, |c| diesel::update(users::table.find(id))
            .set((users::status.eq(status), users::updated_at.eq(now)))
            .execute(c)
            .await)
        .map(|n| n > 0)
    }
}
