//! The `group_member` table and the seats counted in `groups.member_count`: add (seats taken
//! all at once or not at all), remove (optionally banning), leave, and member edits (role,
//! in-group nickname, mutes).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::lifecycle::GroupRow;
use crate::db::schema::{group_ban, group_invite, group_join_request, group_member, groups, users};
use crate::db::user::UserRow;
use crate::db::{Db, DbResult};
use crate::db_run;
use crate::domain::{GroupId, GroupRole, GroupStatus, RequestStatus, UserId};

/// A row of `group_member`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = group_member)]
pub struct MemberRow {
    pub id: i64,
    pub group_id: GroupId,
    pub user_id: UserId,
    pub role: i16,
    pub nickname: String,
    pub speak_status: i16,
    pub muted_until: Option<i64>,
    pub creator_id: UserId,
    pub updater_id: UserId,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = group_member)]
pub(super) struct NewMember {
    group_id: GroupId,
    user_id: UserId,
    role: i16,
    nickname: String,
    speak_status: i16,
    creator_id: UserId,
    updater_id: UserId,
    created_at: i64,
    updated_at: i64,
}

impl NewMember {
    pub(super) fn new(group_id: GroupId, user_id: UserId, role: i16, by: UserId, now: i64) -> Self {
        NewMember {
            group_id,
            user_id,
            role,
            nickname: String::new(),
            speak_status: 1,
            creator_id: by,
            updater_id: by,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Member fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = group_member)]
pub struct MemberChanges {
    pub role: Option<i16>,
    pub nickname: Option<String>,
    pub speak_status: Option<i16>,
    pub muted_until: Option<Option<i64>>,
    pub updater_id: Option<UserId>,
    pub updated_at: Option<i64>,
}

/// Take the group row's lock for the rest of the transaction by "touching" it (see the
/// module docs of `db/group`): every membership change starts with this.
macro_rules! lock_group {
    ($c:expr, $group_id:expr) => {
        diesel::update(groups::table.find($group_id))
            .set(groups::updated_at.eq(groups::updated_at))
            .execute($c)
            .await?
    };
}

/// Close the pending invitations and join requests of `$ids` in the group (inside the
/// caller's transaction, on either backend's connection `$c`). Run whenever a membership
/// starts or ends: an invitation or request filed before is stale from then on, and must not
/// let a removed user back in later.
macro_rules! close_pending {
    ($c:expr, $group_id:expr, $ids:expr, $status:expr, $by:expr, $now:expr) => {{
        let status: RequestStatus = $status;
        resolve_invitations!($c, $group_id, $ids, status.as_i16(), $now)?;
        resolve_requests!($c, $group_id, $ids, status.as_i16(), $by, $now)?;
    }};
}

/// The outcome of adding members inside one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddOutcome {
    /// `added` joined; `already` were members; `banned` are on the ban list (not added).
    Added {
        added: Vec<UserId>,
        already: Vec<UserId>,
        banned: Vec<UserId>,
    },
    /// Not enough seats for the new members: nothing was added.
    Full {
        max: i32,
        total: i32,
    },
    NotFound,
    Dissolved,
}

/// The outcome of removing members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoveOutcome {
    pub removed: Vec<UserId>,
    pub banned: Vec<UserId>,
}

impl Db {
    pub async fn group_member_find(
        &self,
        group_id: GroupId,
        user_id: UserId,
    ) -> DbResult<Option<MemberRow>> {
        query!(self, optional MemberRow, group_rows!(group_member, user_id, group_id, user_id))
    }

    /// Members with their accounts, in joining order.
    pub async fn group_member_list(
        &self,
        group_id: GroupId,
    ) -> DbResult<Vec<(MemberRow, UserRow)>> {
        query!(
            self,
            all(MemberRow, UserRow),
            group_member::table
                .inner_join(users::table)
                .filter(group_member::group_id.eq(group_id))
                .order(group_member::id.asc())
        )
    }

    /// Ids of the members (optionally only those with one of `roles`).
    pub async fn group_member_ids(
        &self,
        group_id: GroupId,
        roles: Option<Vec<i16>>,
    ) -> DbResult<Vec<UserId>> {
        self.run(move |mut conn| async move {
            let roles = roles.unwrap_or_else(|| {
                vec![
                    GroupRole::Member.as_i16(),
                    GroupRole::Owner.as_i16(),
                    GroupRole::Admin.as_i16(),
                ]
            });
            Ok(db_run!(&mut conn, |c| group_member::table
                .filter(group_member::group_id.eq(group_id))
                .filter(group_member::role.eq_any(&roles))
                .select(group_member::user_id)
                .order(group_member::user_id.asc())
                .load(c)
                .await)?)
        })
        .await
    }

    pub async fn group_member_update(
        &self,
        group_id: GroupId,
        user_id: UserId,
        changes: MemberChanges,
    ) -> DbResult<bool> {
        query!(self, |c| diesel::update(group_rows!(group_member, user_id, group_id, user_id))
            .set(&changes)
            .execute(c)
            .await)
        .map(|n| n > 0)
    }

    /// Add `user_ids` to an active group in one transaction: members and banned users are
    /// skipped, and the seats for the rest are taken all at once or not at all. The limit is
    /// the smaller of the group's `max_member` and `server_max`.
    pub async fn group_member_add(
        &self,
        group_id: GroupId,
        user_ids: Vec<UserId>,
        by: UserId,
        server_max: i32,
        now: i64,
    ) -> DbResult<AddOutcome> {
        transaction!(self, |c| {
            lock_group!(c, group_id);
            let group: Option<GroupRow> = groups::table
                .find(group_id)
                .select(GroupRow::as_select())
                .first(c)
                .await
                .optional()?;
            let Some(group) = group else { return Ok(AddOutcome::NotFound) };
            if group.status != GroupStatus::Active {
                return Ok(AddOutcome::Dissolved);
            }
            let already: Vec<UserId> = group_rows!(group_member, user_id, group_id, any & user_ids)
                .select(group_member::user_id)
                .load(c)
                .await?;
            let banned: Vec<UserId> = group_rows!(group_ban, user_id, group_id, any & user_ids)
                .select(group_ban::user_id)
                .load(c)
                .await?;
            let mut added: Vec<UserId> = user_ids
                .iter()
                .copied()
                .filter(|id| !already.contains(id) && !banned.contains(id))
                .collect();
            added.sort_unstable();
            added.dedup();
            if added.is_empty() {
                return Ok(AddOutcome::Added { added, already, banned });
            }
            let n = added.len() as i32;
            let limit = group.max_member.min(server_max);
            let taken = diesel::update(
                groups::table
                    .find(group_id)
                    .filter(groups::status.eq(GroupStatus::Active.as_i16()))
                    .filter((groups::member_count + n).le(groups::max_member))
                    .filter((groups::member_count + n).le(server_max)),
            )
            .set((groups::member_count.eq(groups::member_count + n),))
            .execute(c)
            .await?;
            if taken == 0 {
                return Ok(AddOutcome::Full { max: limit, total: group.member_count });
            }
            let rows: Vec<NewMember> = added
                .iter()
                .map(|&uid| NewMember::new(group_id, uid, GroupRole::Member.as_i16(), by, now))
                .collect();
            // One statement per row: SQLite has no portable multi-row insert in diesel.
            for row in &rows {
                diesel::insert_into(group_member::table).values(row).execute(c).await?;
            }
            close_pending!(c, group_id, &added, RequestStatus::Accepted, by, now);
            Ok(AddOutcome::Added { added, already, banned })
        })
    }

    /// Remove the members among `user_ids` whose role is in `roles` (never the owner), and
    /// with `ban` put them (and listed existing users who are not members) on the ban list.
    pub async fn group_member_remove(
        &self,
        group_id: GroupId,
        user_ids: Vec<UserId>,
        roles: Vec<i16>,
        ban: bool,
        by: UserId,
        now: i64,
    ) -> DbResult<RemoveOutcome> {
        transaction!(self, |c| {
            lock_group!(c, group_id);
            let members: Vec<(UserId, i16)> =
                group_rows!(group_member, user_id, group_id, any & user_ids)
                    .select((group_member::user_id, group_member::role))
                    .load(c)
                    .await?;
            let removed: Vec<UserId> = members
                .iter()
                .filter(|(_, role)| *role != GroupRole::Owner && roles.contains(role))
                .map(|(id, _)| *id)
                .collect();
            if !removed.is_empty() {
                diesel::delete(group_rows!(group_member, user_id, group_id, any & removed))
                    .execute(c)
                    .await?;
                let n = removed.len() as i32;
                diesel::update(groups::table.find(group_id))
                    .set(groups::member_count.eq(groups::member_count - n))
                    .execute(c)
                    .await?;
            }
            let mut banned = Vec::new();
            if ban {
                let outsiders: Vec<UserId> = user_ids
                    .iter()
                    .copied()
                    .filter(|id| !members.iter().any(|(m, _)| m == id))
                    .collect();
                let existing: Vec<UserId> = users::table
                    .filter(users::id.eq_any(&outsiders))
                    .select(users::id)
                    .load(c)
                    .await?;
                let already: Vec<UserId> = group_ban::table
                    .filter(group_ban::group_id.eq(group_id))
                    .select(group_ban::user_id)
                    .load(c)
                    .await?;
                let mut targets: Vec<UserId> = removed
                    .iter()
                    .chain(existing.iter())
                    .copied()
                    .filter(|id| !already.contains(id))
                    .collect();
                targets.sort_unstable();
                targets.dedup();
                for uid in &targets {
                    diesel::insert_into(group_ban::table)
                        .values((
                            group_ban::group_id.eq(group_id),
                            group_ban::user_id.eq(*uid),
                            group_ban::banned_by.eq(by),
                            group_ban::created_at.eq(now),
                        ))
                        .execute(c)
                        .await?;
                }
                banned = targets;
            }
            let gone: Vec<UserId> = removed.iter().chain(banned.iter()).copied().collect();
            if !gone.is_empty() {
                close_pending!(c, group_id, &gone, RequestStatus::Rejected, by, now);
            }
            Ok(RemoveOutcome { removed, banned })
        })
    }

    /// A member (not the owner) leaves; false when they were not a removable member.
    pub async fn group_member_leave(
        &self,
        group_id: GroupId,
        user_id: UserId,
        now: i64,
    ) -> DbResult<bool> {
        transaction!(self, |c| {
            lock_group!(c, group_id);
            let n = diesel::delete(
                group_rows!(group_member, user_id, group_id, user_id)
                    .filter(group_member::role.ne(GroupRole::Owner.as_i16())),
            )
            .execute(c)
            .await?;
            if n > 0 {
                diesel::update(groups::table.find(group_id))
                    .set(groups::member_count.eq(groups::member_count - 1))
                    .execute(c)
                    .await?;
                close_pending!(c, group_id, [user_id], RequestStatus::Rejected, user_id, now);
            }
            Ok(n > 0)
        })
    }
}
