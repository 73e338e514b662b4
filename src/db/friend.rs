//! Repository for `user_relation` (one row per unordered pair, `user_a_id < user_b_id`, two
//! 2-bit fields) and `user_relation_invite` (at most one pending invitation per pair, enforced
//! by the unique `pending_pair` column).

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::schema::{user_relation, user_relation_invite, users};
use super::user::UserRow;
use super::{Db, DbError, DbResult, last_insert_id};
use crate::db_run;
use crate::domain::{RequestStatus, UserId, UserStatus};

/// Settle the invitation `$id`, if it is still pending, as `$status` with the invitee's
/// `$reply`; its `pending_pair` is cleared so that the pair may be invited again. Evaluates to
/// the rows changed (0: it was no longer pending).
macro_rules! settle_invite {
    ($c:expr, $id:expr, $status:expr, $reply:expr, $now:expr) => {
        diesel::update(
            user_relation_invite::table
                .find($id)
                .filter(user_relation_invite::status.eq(RequestStatus::Pending.as_i16())),
        )
        .set((
            user_relation_invite::status.eq($status.as_i16()),
            user_relation_invite::reply.eq($reply),
            user_relation_invite::pending_pair.eq(None::<String>),
            user_relation_invite::updated_at.eq($now),
        ))
        .execute($c)
        .await
    };
}

/// A row of `user_relation`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = user_relation)]
pub struct RelationRow {
    pub id: i64,
    pub user_a_id: UserId,
    pub user_b_id: UserId,
    pub status: i16,
    pub block_status: i16,
    pub remark_on_a: String,
    pub remark_on_b: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A row of `user_relation_invite`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = user_relation_invite)]
pub struct InviteRow {
    pub id: i64,
    pub user_id: UserId,
    pub target_id: UserId,
    pub note: String,
    pub reply: String,
    pub status: i16,
    pub pending_pair: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The pair's two users, smaller id first: the order of `user_a_id`/`user_b_id` and of
/// `pending_pair`.
fn ordered(a: UserId, b: UserId) -> (UserId, UserId) {
    if a < b { (a, b) } else { (b, a) }
}

/// The condition that picks the row of the ordered pair `(lo, hi)` in `user_relation`.
#[diesel::dsl::auto_type]
fn pair_row(lo: UserId, hi: UserId) -> _ {
    user_relation::user_a_id.eq(lo).and(user_relation::user_b_id.eq(hi))
}

/// The value of `pending_pair` for a pair.
pub fn pair_key(a: UserId, b: UserId) -> String {
    let (lo, hi) = ordered(a, b);
    format!("{lo}_{hi}")
}

/// New values for a relation row; written with a plain `UPDATE … WHERE id = ?` (never the
/// original's "column != value" conditions, which silently skipped real changes).
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = user_relation)]
pub struct RelationChanges {
    pub status: i16,
    pub block_status: i16,
    pub remark_on_a: String,
    pub remark_on_b: String,
    pub updated_at: i64,
}

/// A pair's first row: nobody counts the other as a friend, nobody blocked.
#[derive(Insertable)]
#[diesel(table_name = user_relation)]
struct NewRelation {
    user_a_id: UserId,
    user_b_id: UserId,
    status: i16,
    block_status: i16,
    created_at: i64,
    updated_at: i64,
}

impl NewRelation {
    fn strangers(lo: UserId, hi: UserId, now: i64) -> Self {
        NewRelation {
            user_a_id: lo,
            user_b_id: hi,
            status: 0,
            block_status: 3,
            created_at: now,
            updated_at: now,
        }
    }
}

/// How an invitation was settled by [`Db::invite_accept`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptOutcome {
    Accepted,
    /// Someone else answered (or the pair became friends) first.
    AlreadyHandled,
}

impl Db {
    /// The relation row of a pair, if any.
    pub async fn relation_get(&self, a: UserId, b: UserId) -> DbResult<Option<RelationRow>> {
        let (lo, hi) = ordered(a, b);
        query!(self, optional RelationRow, user_relation::table.filter(pair_row(lo, hi)))
    }

    /// What a private send needs in one round trip: `target`'s account status (`None`: no
    /// such user) and the pair's relation row, if any.
    pub async fn relation_with_status(
        &self,
        sender: UserId,
        target: UserId,
    ) -> DbResult<Option<(i16, Option<RelationRow>)>> {
        let (lo, hi) = ordered(sender, target);
        query!(self, |c| users::table
            .left_join(user_relation::table.on(pair_row(lo, hi)),)
            .filter(users::id.eq(target))
            .select((users::status, user_relation::all_columns.nullable()))
            .first::<(i16, Option<RelationRow>)>(c)
            .await
            .optional())
    }

    /// Create the pair's row if missing (nobody friends, nobody blocked) and apply `change`
    /// to it, all in one transaction; returns the row before and after.
    pub async fn relation_modify(
        &self,
        a: UserId,
        b: UserId,
        now: i64,
        change: impl Fn(&RelationRow) -> RelationChanges + Send + Sync + 'static,
    ) -> DbResult<(RelationRow, RelationRow)> {
        let (lo, hi) = ordered(a, b);
        let change = std::sync::Arc::new(change);
        self.run_retrying(move |mut conn| {
            let change = change.clone();
            async move {
                db_run!(&mut conn, |c| {
                    c.transaction(async |c| {
                        diesel::insert_or_ignore_into(user_relation::table)
                            .values(&NewRelation::strangers(lo, hi, now))
                            .execute(c)
                            .await?;
                        // Re-read after our own write so the row is locked (MySQL) for the update.
                        let before = user_relation::table
                            .filter(pair_row(lo, hi))
                            .select(RelationRow::as_select())
                            .first(c)
                            .await?;
                        let changes = change(&before);
                        diesel::update(user_relation::table.find(before.id))
                            .set(&changes)
                            .execute(c)
                            .await?;
                        let after = user_relation::table
                            .find(before.id)
                            .select(RelationRow::as_select())
                            .first(c)
                            .await?;
                        Ok::<_, DbError>((before, after))
                    })
                    .await
                })
            }
        })
        .await
    }

    /// The pending invitation of a pair (either direction), if any.
    pub async fn invite_pending(&self, a: UserId, b: UserId) -> DbResult<Option<InviteRow>> {
        let key = pair_key(a, b);
        query!(self, optional InviteRow, user_relation_invite::table
            .filter(user_relation_invite::pending_pair.eq(&key)))
    }

    pub async fn invite_find(&self, id: i64) -> DbResult<Option<InviteRow>> {
        query!(self, optional InviteRow, user_relation_invite::table.find(id))
    }

    /// Insert a pending invitation; a unique violation means the pair already has one.
    pub async fn invite_insert(
        &self,
        from: UserId,
        to: UserId,
        note: String,
        now: i64,
    ) -> DbResult<InviteRow> {
        let key = pair_key(from, to);
        transaction!(self, |c| {
            diesel::insert_into(user_relation_invite::table)
                .values((
                    user_relation_invite::user_id.eq(from),
                    user_relation_invite::target_id.eq(to),
                    user_relation_invite::note.eq(&note),
                    user_relation_invite::reply.eq(""),
                    user_relation_invite::status.eq(RequestStatus::Pending.as_i16()),
                    user_relation_invite::pending_pair.eq(Some(&key)),
                    user_relation_invite::created_at.eq(now),
                    user_relation_invite::updated_at.eq(now),
                ))
                .execute(c)
                .await?;
            let id = last_insert_id(c).await?;
            Ok::<_, DbError>(
                user_relation_invite::table
                    .find(id)
                    .select(InviteRow::as_select())
                    .first(c)
                    .await?,
            )
        })
    }

    /// Reject a pending invitation; false when it was no longer pending.
    pub async fn invite_reject(&self, id: i64, reply: String, now: i64) -> DbResult<bool> {
        query!(self, |c| settle_invite!(c, id, RequestStatus::Rejected, &reply, now)).map(|n| n > 0)
    }

    /// In one transaction: settle the invitation `id` as accepted (only if still pending) and
    /// make the pair mutual friends, keeping any blocks as they are.
    pub async fn invite_accept(
        &self,
        id: i64,
        a: UserId,
        b: UserId,
        reply: String,
        now: i64,
    ) -> DbResult<AcceptOutcome> {
        let (lo, hi) = ordered(a, b);
        self.run_retrying(move |mut conn| {
            let reply = reply.clone();
            async move {
                db_run!(&mut conn, |c| {
                    c.transaction(async |c| {
                        let settled = settle_invite!(c, id, RequestStatus::Accepted, &reply, now)?;
                        if settled == 0 {
                            return Ok::<_, DbError>(AcceptOutcome::AlreadyHandled);
                        }
                        diesel::insert_or_ignore_into(user_relation::table)
                            .values(&NewRelation::strangers(lo, hi, now))
                            .execute(c)
                            .await?;
                        diesel::update(user_relation::table.filter(pair_row(lo, hi)))
                            .set((user_relation::status.eq(3), user_relation::updated_at.eq(now)))
                            .execute(c)
                            .await?;
                        Ok(AcceptOutcome::Accepted)
                    })
                    .await
                })
            }
        })
        .await
    }

    /// Invitations received (`incoming`) or sent by `user_id`, newest first, before `before_id`.
    pub async fn invite_list(
        &self,
        user_id: UserId,
        incoming: bool,
        status: Option<i16>,
        before_id: i64,
        limit: i64,
    ) -> DbResult<Vec<InviteRow>> {
        self.run(move |mut conn| async move {
            db_run!(&mut conn, |c| {
                let mut query = user_relation_invite::table
                    .filter(user_relation_invite::id.lt(before_id))
                    .into_boxed();
                query = if incoming {
                    query.filter(user_relation_invite::target_id.eq(user_id))
                } else {
                    query.filter(user_relation_invite::user_id.eq(user_id))
                };
                if let Some(s) = status {
                    query = query.filter(user_relation_invite::status.eq(s));
                }
                Ok(query
                    .order(user_relation_invite::id.desc())
                    .limit(limit)
                    .select(InviteRow::as_select())
                    .load(c)
                    .await?)
            })
        })
        .await
    }

    /// Pending invitations waiting for `user_id`'s answer.
    pub async fn invite_count_pending(&self, user_id: UserId) -> DbResult<i64> {
        query!(self, |c| user_relation_invite::table
            .filter(user_relation_invite::target_id.eq(user_id))
            .filter(user_relation_invite::status.eq(RequestStatus::Pending.as_i16()))
            .count()
            .get_result(c)
            .await)
    }

    /// Every relation row `user_id` is part of (capped).
    pub async fn relation_list(&self, user_id: UserId, cap: i64) -> DbResult<Vec<RelationRow>> {
        query!(self, all RelationRow, user_relation::table
            .filter(user_relation::user_a_id.eq(user_id).or(user_relation::user_b_id.eq(user_id)))
            .order(user_relation::id.asc())
            .limit(cap))
    }

    /// Active users with the given ids.
    pub async fn users_by_ids(&self, ids: Vec<UserId>) -> DbResult<Vec<UserRow>> {
        query!(self, all UserRow, users::table
            .filter(users::id.eq_any(&ids))
            .filter(users::status.eq(UserStatus::Active.as_i16()))
            .order(users::id.asc()))
    }

    /// Active users whose nickname starts with `prefix` (compared exactly, so `%` and `_` are
    /// plain characters), with id greater than `after_id`, in id order.
    pub async fn users_by_nickname_prefix(
        &self,
        prefix: String,
        after_id: i64,
        limit: i64,
    ) -> DbResult<Vec<UserRow>> {
        let upper = format!("{prefix}{}", char::MAX);
        query!(self, all UserRow, users::table
            .filter(users::status.eq(UserStatus::Active.as_i16()))
            .filter(users::nickname.ge(&prefix))
            .filter(users::nickname.lt(&upper))
            .filter(users::id.gt(after_id))
            .order(users::id.asc())
            .limit(limit))
    }
}
