//! The two waiting rooms of a group: join requests (`group_join_request`, filed by the user,
//! answered by the owner or an admin) and invitations (`group_invite`, filed by a member,
//! answered by the invitee). One pending row per user and group in each.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::is_duplicate;
use super::lifecycle::GroupRow;
use crate::db::schema::{group_invite, group_join_request, groups, users};
use crate::db::user::UserRow;
use crate::db::{Db, DbResult};
use crate::db_run;
use crate::domain::{GroupId, GroupStatus, RequestStatus, UserId};

/// A row of `group_join_request`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = group_join_request)]
pub struct JoinRequestRow {
    pub id: i64,
    pub group_id: GroupId,
    pub user_id: UserId,
    pub message: String,
    pub status: i16,
    pub handled_by: UserId,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A row of `group_invite`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = group_invite)]
pub struct InviteRow {
    pub id: i64,
    pub group_id: GroupId,
    pub inviter_id: UserId,
    pub invitee_id: UserId,
    pub status: i16,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Which waiting room a pending admission is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The user asked to join; the owner or an admin answers.
    Request,
    /// A member invited the user; the user answers.
    Invitation,
}

/// Insert `$new` into `$table`; when the user already has a row there (the unique key on group
/// and user), run `$reopen` instead. No transaction, so concurrent calls never deadlock on
/// MySQL's gap locks (which an update-then-insert transaction does).
macro_rules! insert_or_reopen {
    ($c:expr, $table:ident, $new:expr, $reopen:expr) => {{
        match diesel::insert_into($table::table).values($new).execute($c).await {
            Err(e) if is_duplicate(&e) => {
                $reopen.execute($c).await?;
            }
            other => {
                other?;
            }
        }
    }};
}

impl Db {
    /// Open (or reopen) the join request of `user_id` with its message.
    pub async fn group_request_upsert(
        &self,
        group_id: GroupId,
        user_id: UserId,
        message: String,
        now: i64,
    ) -> DbResult<()> {
        self.run(move |mut conn| async move {
            db_run!(&mut conn, |c| insert_or_reopen!(
                c,
                group_join_request,
                (
                    group_join_request::group_id.eq(group_id),
                    group_join_request::user_id.eq(user_id),
                    group_join_request::message.eq(&message),
                    group_join_request::status.eq(RequestStatus::Pending.as_i16()),
                    group_join_request::handled_by.eq(0),
                    group_join_request::created_at.eq(now),
                    group_join_request::updated_at.eq(now),
                ),
                diesel::update(group_rows!(group_join_request, user_id, group_id, user_id),).set((
                    group_join_request::status.eq(RequestStatus::Pending.as_i16()),
                    group_join_request::message.eq(&message),
                    group_join_request::handled_by.eq(0),
                    group_join_request::updated_at.eq(now),
                ))
            ));
            Ok(())
        })
        .await
    }

    /// Open (or reopen) an invitation of `invitee_id` from `inviter_id`.
    pub async fn group_invite_upsert(
        &self,
        group_id: GroupId,
        inviter_id: UserId,
        invitee_id: UserId,
        now: i64,
    ) -> DbResult<()> {
        self.run(move |mut conn| async move {
            db_run!(&mut conn, |c| insert_or_reopen!(
                c,
                group_invite,
                (
                    group_invite::group_id.eq(group_id),
                    group_invite::inviter_id.eq(inviter_id),
                    group_invite::invitee_id.eq(invitee_id),
                    group_invite::status.eq(RequestStatus::Pending.as_i16()),
                    group_invite::created_at.eq(now),
                    group_invite::updated_at.eq(now),
                ),
                diesel::update(group_rows!(group_invite, invitee_id, group_id, invitee_id),).set((
                    group_invite::status.eq(RequestStatus::Pending.as_i16()),
                    group_invite::inviter_id.eq(inviter_id),
                    group_invite::updated_at.eq(now),
                ))
            ));
            Ok(())
        })
        .await
    }

    /// Whether `user_id` has a pending admission of this kind in the group.
    pub async fn group_admission_is_pending(
        &self,
        kind: Admission,
        group_id: GroupId,
        user_id: UserId,
    ) -> DbResult<bool> {
        let n: i64 = query!(self, |c| match kind {
            Admission::Request => {
                pending_in!(group_join_request, user_id, group_id, [user_id])
                    .count()
                    .get_result(c)
                    .await
            }
            Admission::Invitation => {
                pending_in!(group_invite, invitee_id, group_id, [user_id])
                    .count()
                    .get_result(c)
                    .await
            }
        })?;
        Ok(n > 0)
    }

    /// Settle the pending admission of `user_id` with `status` (`by` is recorded as the one
    /// who handled a join request; an invitation is answered by its invitee); false when
    /// there was none.
    pub async fn group_admission_resolve(
        &self,
        kind: Admission,
        group_id: GroupId,
        user_id: UserId,
        status: RequestStatus,
        by: UserId,
        now: i64,
    ) -> DbResult<bool> {
        let status = status.as_i16();
        query!(self, |c| match kind {
            Admission::Request => resolve_requests!(c, group_id, [user_id], status, by, now),
            Admission::Invitation => resolve_invitations!(c, group_id, [user_id], status, now),
        })
        .map(|n| n > 0)
    }

    /// Pending join requests with the requesting accounts, oldest first.
    pub async fn group_request_list_pending(
        &self,
        group_id: GroupId,
    ) -> DbResult<Vec<(JoinRequestRow, UserRow)>> {
        query!(
            self,
            all(JoinRequestRow, UserRow),
            group_join_request::table
                .inner_join(users::table.on(users::id.eq(group_join_request::user_id)))
                .filter(group_join_request::group_id.eq(group_id))
                .filter(group_join_request::status.eq(RequestStatus::Pending.as_i16()))
                .order(group_join_request::updated_at.asc())
        )
    }

    /// My pending invitations with their (active) groups, newest first.
    pub async fn group_invite_list_pending(
        &self,
        invitee_id: UserId,
    ) -> DbResult<Vec<(InviteRow, GroupRow)>> {
        query!(
            self,
            all(InviteRow, GroupRow),
            group_invite::table
                .inner_join(groups::table.on(groups::id.eq(group_invite::group_id)))
                .filter(group_invite::invitee_id.eq(invitee_id))
                .filter(group_invite::status.eq(RequestStatus::Pending.as_i16()))
                .filter(groups::status.eq(GroupStatus::Active.as_i16()))
                .order(group_invite::updated_at.desc())
        )
    }
}
