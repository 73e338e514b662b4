//! The `groups` table: create (with the first members), find, list, edit, dissolve and
//! transfer ownership.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::member::{MemberRow, NewMember};
use crate::db::schema::{group_member, groups};
use crate::db::{Db, DbResult, last_insert_id};
use crate::domain::{GroupId, GroupRole, GroupStatus, UserId};

/// A row of `groups` (to create one, its `id` is ignored).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = groups)]
pub struct GroupRow {
    #[diesel(skip_insertion)]
    pub id: GroupId,
    pub name: String,
    pub avatar: String,
    pub announcement: String,
    pub join_policy: i16,
    pub max_member: i32,
    pub member_count: i32,
    pub owner_id: UserId,
    pub speak_status: i16,
    pub status: i16,
    pub creator_id: UserId,
    pub updater_id: UserId,
    pub created_at: i64,
    pub updated_at: i64,
    pub member_invite: i16,
}

/// Group fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = groups)]
pub struct GroupChanges {
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub announcement: Option<String>,
    pub join_policy: Option<i16>,
    pub max_member: Option<i32>,
    pub speak_status: Option<i16>,
    pub member_invite: Option<i16>,
    pub updater_id: Option<UserId>,
    pub updated_at: Option<i64>,
}

impl Db {
    /// Create a group whose members are `member_ids` (the owner included); the owner gets
    /// role 1. Returns the group id.
    pub async fn group_create(
        &self,
        group: GroupRow,
        member_ids: Vec<UserId>,
    ) -> DbResult<GroupId> {
        transaction!(self, |c| {
            diesel::insert_into(groups::table).values(&group).execute(c).await?;
            let id = GroupId(last_insert_id(c).await?);
            let rows: Vec<NewMember> = member_ids
                .iter()
                .map(|&uid| {
                    let role = if uid == group.owner_id {
                        GroupRole::Owner.as_i16()
                    } else {
                        GroupRole::Member.as_i16()
                    };
                    NewMember::new(id, uid, role, group.owner_id, group.created_at)
                })
                .collect();
            // One statement per row: SQLite has no portable multi-row insert in diesel.
            for row in &rows {
                diesel::insert_into(group_member::table).values(row).execute(c).await?;
            }
            Ok(id)
        })
    }

    pub async fn group_find(&self, id: GroupId) -> DbResult<Option<GroupRow>> {
        query!(self, optional GroupRow, groups::table.find(id))
    }

    /// Groups with id greater than `after_id`, in id order (dissolved ones included).
    pub async fn group_list(&self, after_id: i64, limit: i64) -> DbResult<Vec<GroupRow>> {
        query!(self, all GroupRow, groups::table
            .filter(groups::id.gt(after_id))
            .order(groups::id.asc())
            .limit(limit))
    }

    /// The groups `user_id` belongs to, with their membership, in group id order.
    pub async fn group_list_for_user(
        &self,
        user_id: UserId,
    ) -> DbResult<Vec<(GroupRow, MemberRow)>> {
        query!(
            self,
            all(GroupRow, MemberRow),
            group_member::table
                .inner_join(groups::table)
                .filter(group_member::user_id.eq(user_id))
                .order(groups::id.asc())
        )
    }

    pub async fn group_update(&self, id: GroupId, changes: GroupChanges) -> DbResult<bool> {
        query!(self, |c| diesel::update(
            groups::table.find(id).filter(groups::status.eq(GroupStatus::Active.as_i16()))
        )
        .set(&changes)
        .execute(c)
        .await)
        .map(|n| n > 0)
    }

    /// Mark an active group dissolved; false when it was not active.
    pub async fn group_dissolve(&self, id: GroupId, by: UserId, now: i64) -> DbResult<bool> {
        query!(self, |c| diesel::update(
            groups::table.find(id).filter(groups::status.eq(GroupStatus::Active.as_i16()))
        )
        .set((
            groups::status.eq(GroupStatus::Dissolved.as_i16()),
            groups::updater_id.eq(by),
            groups::updated_at.eq(now)
        ))
        .execute(c)
        .await)
        .map(|n| n > 0)
    }

    /// Make `new_owner` (a member) the owner and `old_owner` an admin, atomically. False when
    /// the group is not active, `old_owner` is not its owner or `new_owner` not a member.
    pub async fn group_transfer(
        &self,
        id: GroupId,
        old_owner: UserId,
        new_owner: UserId,
        now: i64,
    ) -> DbResult<bool> {
        transaction!(self, |c| {
            let is_member: i64 =
                group_rows!(group_member, user_id, id, new_owner).count().get_result(c).await?;
            if is_member == 0 {
                return Ok(false);
            }
            let n = diesel::update(
                groups::table
                    .find(id)
                    .filter(groups::status.eq(GroupStatus::Active.as_i16()))
                    .filter(groups::owner_id.eq(old_owner)),
            )
            .set((
                groups::owner_id.eq(new_owner),
                groups::updater_id.eq(old_owner),
                groups::updated_at.eq(now),
            ))
            .execute(c)
            .await?;
            if n == 0 {
                return Ok(false);
            }
            diesel::update(group_rows!(group_member, user_id, id, new_owner))
                .set((
                    group_member::role.eq(GroupRole::Owner.as_i16()),
                    group_member::speak_status.eq(1),
                    group_member::muted_until.eq(None::<i64>),
                    group_member::updater_id.eq(old_owner),
                    group_member::updated_at.eq(now),
                ))
                .execute(c)
                .await?;
            diesel::update(group_rows!(group_member, user_id, id, old_owner))
                .set((
                    group_member::role.eq(GroupRole::Admin.as_i16()),
                    group_member::updater_id.eq(old_owner),
                    group_member::updated_at.eq(now),
                ))
                .execute(c)
                .await?;
            Ok(true)
        })
    }
}
