//! Repository for groups: `groups`, `group_member`, `group_ban`, `group_join_request`,
//! `group_invite`, `group_invite_link`, plus the friendship lookup group rules need.
//!
//! Seats are counted in `groups.member_count`, changed in the same transaction as the member
//! rows. Every membership change first "touches" the group row (`SET updated_at =
//! updated_at`): on MySQL that takes the row lock, on SQLite the write lock, so the reads that
//! follow cannot be overtaken by a concurrent change (and SQLite never has to upgrade a read
//! lock, which would fail with SQLITE_BUSY instead of waiting). The seat itself is taken with a
//! conditional `UPDATE … SET member_count = member_count + n WHERE member_count + n <=
//! max_member`, whose affected-row count decides: never read-then-insert.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::schema::{
    group_ban, group_invite, group_invite_link, group_join_request, group_member, groups,
    user_relation, users,
};
use super::user::UserRow;
use super::{Db, DbResult, last_insert_id};
use crate::db_run;

/// Member roles (as in the original).
pub const ROLE_MEMBER: i16 = 0;
pub const ROLE_OWNER: i16 = 1;
pub const ROLE_ADMIN: i16 = 2;

/// `groups.status`.
pub const GROUP_DISSOLVED: i16 = 0;
pub const GROUP_ACTIVE: i16 = 1;

/// `groups.join_policy`.
pub const POLICY_INVITE_ONLY: i16 = 0;
pub const POLICY_OPEN: i16 = 1;
pub const POLICY_APPROVAL: i16 = 2;

/// Status of join requests and invitations.
pub const PENDING: i16 = 0;
pub const ACCEPTED: i16 = 1;
pub const REJECTED: i16 = 2;

/// `user_relation.status` when both sides count each other as friends (§4.1.1: bit `0b10` is
/// A's, bit `0b01` is B's).
pub const RELATION_MUTUAL: i16 = 3;

/// A row of `groups`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = groups)]
pub struct GroupRow {
    pub id: i64,
    pub name: String,
    pub avatar: String,
    pub announcement: String,
    pub join_policy: i16,
    pub max_member: i32,
    pub member_count: i32,
    pub owner_id: i64,
    pub speak_status: i16,
    pub status: i16,
    pub creator_id: i64,
    pub updater_id: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub member_invite: i16,
}

/// What creating a group needs.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = groups)]
pub struct NewGroup {
    pub name: String,
    pub avatar: String,
    pub announcement: String,
    pub join_policy: i16,
    pub max_member: i32,
    pub member_count: i32,
    pub owner_id: i64,
    pub speak_status: i16,
    pub status: i16,
    pub creator_id: i64,
    pub updater_id: i64,
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
    pub updater_id: Option<i64>,
    pub updated_at: Option<i64>,
}

/// A row of `group_member`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = group_member)]
pub struct MemberRow {
    pub id: i64,
    pub group_id: i64,
    pub user_id: i64,
    pub role: i16,
    pub nickname: String,
    pub speak_status: i16,
    pub muted_until: Option<i64>,
    pub creator_id: i64,
    pub updater_id: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = group_member)]
struct NewMember {
    group_id: i64,
    user_id: i64,
    role: i16,
    nickname: String,
    speak_status: i16,
    creator_id: i64,
    updater_id: i64,
    created_at: i64,
    updated_at: i64,
}

impl NewMember {
    fn new(group_id: i64, user_id: i64, role: i16, by: i64, now: i64) -> Self {
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
    pub updater_id: Option<i64>,
    pub updated_at: Option<i64>,
}

/// A row of `group_ban`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = group_ban)]
pub struct BanRow {
    pub id: i64,
    pub group_id: i64,
    pub user_id: i64,
    pub banned_by: i64,
    pub created_at: i64,
}

/// A row of `group_join_request`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = group_join_request)]
pub struct JoinRequestRow {
    pub id: i64,
    pub group_id: i64,
    pub user_id: i64,
    pub message: String,
    pub status: i16,
    pub handled_by: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A row of `group_invite`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = group_invite)]
pub struct InviteRow {
    pub id: i64,
    pub group_id: i64,
    pub inviter_id: i64,
    pub invitee_id: i64,
    pub status: i16,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A row of `group_invite_link`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = group_invite_link)]
pub struct LinkRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub group_id: i64,
    pub token: String,
    pub creator_id: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
    /// How many people joined through the link.
    pub uses: i32,
}

fn is_duplicate(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Close the pending invitations and join requests of `$ids` in the group (inside the
/// caller's transaction, on either backend's connection `$c`). Run whenever a membership
/// starts or ends: an invitation or request filed before is stale from then on, and must not
/// let a removed user back in later.
macro_rules! close_pending {
    ($c:expr, $group_id:expr, $ids:expr, $status:expr, $by:expr, $now:expr) => {{
        diesel::update(
            group_invite::table
                .filter(group_invite::group_id.eq($group_id))
                .filter(group_invite::invitee_id.eq_any($ids))
                .filter(group_invite::status.eq(PENDING)),
        )
        .set((group_invite::status.eq($status), group_invite::updated_at.eq($now)))
        .execute($c)
        .await?;
        diesel::update(
            group_join_request::table
                .filter(group_join_request::group_id.eq($group_id))
                .filter(group_join_request::user_id.eq_any($ids))
                .filter(group_join_request::status.eq(PENDING)),
        )
        .set((
            group_join_request::status.eq($status),
            group_join_request::handled_by.eq($by),
            group_join_request::updated_at.eq($now),
        ))
        .execute($c)
        .await?;
    }};
}

/// The outcome of adding members inside one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddOutcome {
    /// `added` joined; `already` were members; `banned` are on the ban list (not added).
    Added {
        added: Vec<i64>,
        already: Vec<i64>,
        banned: Vec<i64>,
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
    pub removed: Vec<i64>,
    pub banned: Vec<i64>,
}

impl Db {
    /// Create a group whose members are `member_ids` (the owner included); the owner gets
    /// role 1. Returns the group id.
    pub async fn group_create(&self, group: NewGroup, member_ids: Vec<i64>) -> DbResult<i64> {
        self.run(move |mut conn| async move {
            db_run!(&mut conn, |c| {
                c.transaction(async |c| {
                    diesel::insert_into(groups::table).values(&group).execute(c).await?;
                    let id = last_insert_id(c).await?;
                    let rows: Vec<NewMember> = member_ids
                        .iter()
                        .map(|&uid| {
                            let role = if uid == group.owner_id { ROLE_OWNER } else { ROLE_MEMBER };
                            NewMember::new(id, uid, role, group.owner_id, group.created_at)
                        })
                        .collect();
                    // One statement per row: SQLite has no portable multi-row insert in diesel.
                    for row in &rows {
                        diesel::insert_into(group_member::table).values(row).execute(c).await?;
                    }
                    Ok(id)
                })
                .await
            })
        })
        .await
    }

    pub async fn group_find(&self, id: i64) -> DbResult<Option<GroupRow>> {
        self.run(move |mut conn| async move {
            Ok(db_run!(&mut conn, |c| groups::table
                .find(id)
                .select(GroupRow::as_select())
                .first(c)
                .await
                .optional())?)
        })
        .await
    }

    /// Groups with id greater than `after_id`, in id order (dissolved ones included).
    pub async fn group_list(&self, after_id: i64, limit: i64) -> DbResult<Vec<GroupRow>> {
        self.run(move |mut conn| async move {
            Ok(db_run!(&mut conn, |c| groups::table
                .filter(groups::id.gt(after_id))
                .order(groups::id.asc())
                .limit(limit)
                .select(GroupRow::as_select())
                .load(c)
                .await)?)
        })
        .await
    }

    /// The groups `user_id` belongs to, with their membership, in group id order.
    pub async fn group_list_for_user(&self, user_id: i64) -> DbResult<Vec<(GroupRow, MemberRow)>> {
        self.run(move |mut conn| async move {
            Ok(db_run!(&mut conn, |c| group_member::table
                .inner_join(groups::table)
                .filter(group_member::user_id.eq(user_id))
                .order(groups::id.asc())
                .select((GroupRow::as_select(), MemberRow::as_select()))
                .load(c)
                .await)?)
        })
        .await
    }

    pub async fn group_update(&self, id: i64, changes: GroupChanges) -> DbResult<bool> {
        self.run(move |mut conn| async move {
            let n = db_run!(&mut conn, |c| diesel::update(
                groups::table.find(id).filter(groups::status.eq(GROUP_ACTIVE))
            )
            .set(&changes)
            .execute(c)
            .await)?;
            Ok(n > 0)
        })
        .await
    }

    /// Mark an active group dissolved; false when it was not active.
    pub async fn group_dissolve(&self, id: i64, by: i64, now: i64) -> DbResult<bool> {
        self.run(move |mut conn| async move {
            let n = db_run!(&mut conn, |c| diesel::update(
                groups::table.find(id).filter(groups::status.eq(GROUP_ACTIVE))
            )
            .set((
                groups::status.eq(GROUP_DISSOLVED),
                groups::updater_id.eq(by),
                groups::updated_at.eq(now)
            ))
            .execute(c)
            .await)?;
            Ok(n > 0)
        })
        .await
    }

    /// Make `new_owner` (a member) the owner and `old_owner` an admin, atomically. False when
    /// the group is not active, `old_owner` is not its owner or `new_owner` not a member.
    pub async fn group_transfer(
        &self,
        id: i64,
        old_owner: i64,
        new_owner: i64,
        now: i64,
    ) -> DbResult<bool> {
        self.run(move |mut conn| async move {
            db_run!(&mut conn, |c| {
                c.transaction(async |c| {
                    let is_member: i64 = group_member::table
                        .filter(group_member::group_id.eq(id))
                        .filter(group_member::user_id.eq(new_owner))
                        .count()
                        .get_result(c)
                        .await?;
                    if is_member == 0 {
                        return Ok(false);
                    }
                    let n = diesel::update(
                        groups::table
                            .find(id)
                            .filter(groups::status.eq(GROUP_ACTIVE))
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
                    diesel::update(
                        group_member::table
                            .filter(group_member::group_id.eq(id))
                            .filter(group_member::user_id.eq(new_owner)),
                    )
                    .set((
                        group_member::role.eq(ROLE_OWNER),
                        group_member::speak_status.eq(1),
                        group_member::muted_until.eq(None::<i64>),
                        group_member::updater_id.eq(old_owner),
                        group_member::updated_at.eq(now),
                    ))
                    .execute(c)
                    .await?;
                    diesel::update(
                        group_member::table
                            .filter(group_member::group_id.eq(id))
                            .filter(group_member::user_id.eq(old_owner)),
                    )
                    .set((
                        group_member::role.eq(ROLE_ADMIN),
                        group_member::updater_id.eq(old_owner),
                        group_member::updated_at.eq(now),
                    ))
                    .execute(c)
                    .await?;
                    Ok(true)
                })
                .await
            })
        })
        .await
    }

    pub async fn group_member_find(
        &self,
        group_id: i64,
        user_id: i64,
    ) -> DbResult<Option<MemberRow>> {
        self.run(move |mut conn| async move {
            Ok(db_run!(&mut conn, |c| group_member::table
                .filter(group_member::group_id.eq(group_id))
                .filter(group_member::user_id.eq(user_id))
                .select(MemberRow::as_select())
                .first(c)
                .await
                .optional())?)
        })
        .await
    }

    /// Members with their accounts, in joining order.
    pub async fn group_member_list(&self, group_id: i64) -> DbResult<Vec<(MemberRow, UserRow)>> {
        self.run(move |mut conn| async move {
            Ok(db_run!(&mut conn, |c| group_member::table
                .inner_join(users::table)
                .filter(group_member::group_id.eq(group_id))
                .order(group_member::id.asc())
                .select((MemberRow::as_select(), UserRow::as_select()))
                .load(c)
                .await)?)
        })
        .await
    }

    /// Ids of the members (optionally only those with one of `roles`).
    pub async fn group_member_ids(
        &self,
        group_id: i64,
        roles: Option<Vec<i16>>,
    ) -> DbResult<Vec<i64>> {
        self.run(move |mut conn| async move {
            let roles = roles.unwrap_or_else(|| vec![ROLE_MEMBER, ROLE_OWNER, ROLE_ADMIN]);
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
        group_id: i64,
        user_id: i64,
        changes: MemberChanges,
    ) -> DbResult<bool> {
        self.run(move |mut conn| async move {
            let n = db_run!(&mut conn, |c| diesel::update(
                group_member::table
                    .filter(group_member::group_id.eq(group_id))
                    .filter(group_member::user_id.eq(user_id))
            )
            .set(&changes)
            .execute(c)
            .await)?;
            Ok(n > 0)
        })
        .await
    }

    /// Add `user_ids` to an active group in one transaction: members and banned users are
    /// skipped, and the seats for the rest are taken all at once or not at all. The limit is
    /// the smaller of the group's `max_member` and `server_max`.
    pub async fn group_member_add(
        &self,
        group_id: i64,
        user_ids: Vec<i64>,
        by: i64,
        server_max: i32,
        now: i64,
    ) -> DbResult<AddOutcome> {
        self.run(move |mut conn| async move {
            db_run!(&mut conn, |c| {
                c.transaction(async |c| {
                    diesel::update(groups::table.find(group_id))
                        .set(groups::updated_at.eq(groups::updated_at))
                        .execute(c)
                        .await?;
                    let group: Option<GroupRow> = groups::table
                        .find(group_id)
                        .select(GroupRow::as_select())
                        .first(c)
                        .await
                        .optional()?;
                    let Some(group) = group else { return Ok(AddOutcome::NotFound) };
                    if group.status != GROUP_ACTIVE {
                        return Ok(AddOutcome::Dissolved);
                    }
                    let already: Vec<i64> = group_member::table
                        .filter(group_member::group_id.eq(group_id))
                        .filter(group_member::user_id.eq_any(&user_ids))
                        .select(group_member::user_id)
                        .load(c)
                        .await?;
                    let banned: Vec<i64> = group_ban::table
                        .filter(group_ban::group_id.eq(group_id))
                        .filter(group_ban::user_id.eq_any(&user_ids))
                        .select(group_ban::user_id)
                        .load(c)
                        .await?;
                    let mut added: Vec<i64> = user_ids
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
                            .filter(groups::status.eq(GROUP_ACTIVE))
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
                        .map(|&uid| NewMember::new(group_id, uid, ROLE_MEMBER, by, now))
                        .collect();
                    // One statement per row: SQLite has no portable multi-row insert in diesel.
                    for row in &rows {
                        diesel::insert_into(group_member::table).values(row).execute(c).await?;
                    }
                    close_pending!(c, group_id, &added, ACCEPTED, by, now);
                    Ok(AddOutcome::Added { added, already, banned })
                })
                .await
            })
        })
        .await
    }

    /// Remove the members among `user_ids` whose role is in `roles` (never the owner), and
    /// with `ban` put them (and listed existing users who are not members) on the ban list.
    pub async fn group_member_remove(
        &self,
        group_id: i64,
        user_ids: Vec<i64>,
        roles: Vec<i16>,
        ban: bool,
        by: i64,
        now: i64,
    ) -> DbResult<RemoveOutcome> {
        self.run(move |mut conn| async move {
            db_run!(&mut conn, |c| {
                c.transaction(async |c| {
                    diesel::update(groups::table.find(group_id))
                        .set(groups::updated_at.eq(groups::updated_at))
                        .execute(c)
                        .await?;
                    let members: Vec<(i64, i16)> = group_member::table
                        .filter(group_member::group_id.eq(group_id))
                        .filter(group_member::user_id.eq_any(&user_ids))
                        .select((group_member::user_id, group_member::role))
                        .load(c)
                        .await?;
                    let removed: Vec<i64> = members
                        .iter()
                        .filter(|(_, role)| *role != ROLE_OWNER && roles.contains(role))
                        .map(|(id, _)| *id)
                        .collect();
                    if !removed.is_empty() {
                        diesel::delete(
                            group_member::table
                                .filter(group_member::group_id.eq(group_id))
                                .filter(group_member::user_id.eq_any(&removed)),
                        )
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
                        let outsiders: Vec<i64> = user_ids
                            .iter()
                            .copied()
                            .filter(|id| !members.iter().any(|(m, _)| m == id))
                            .collect();
                        let existing: Vec<i64> = users::table
                            .filter(users::id.eq_any(&outsiders))
                            .select(users::id)
                            .load(c)
                            .await?;
                        let already: Vec<i64> = group_ban::table
                            .filter(group_ban::group_id.eq(group_id))
                            .select(group_ban::user_id)
                            .load(c)
                            .await?;
                        let mut targets: Vec<i64> = removed
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
                    let gone: Vec<i64> = removed.iter().chain(banned.iter()).copied().collect();
                    if !gone.is_empty() {
                        close_pending!(c, group_id, &gone, REJECTED, by, now);
                    }
                    Ok(RemoveOutcome { removed, banned })
                })
                .await
            })
        })
        .await
    }

    /// A member (not the owner) leaves; false when they were not a removable member.
    pub async fn group_member_leave(
        &self,
        group_id: i64,
        user_id: i64,
        now: i64,
    ) -> DbResult<bool> {
        self.run(move |mut conn| async move {
            db_run!(&mut conn, |c| {
                c.transaction(async |c| {
                    diesel::update(groups::table.find(group_id))
                        .set(groups::updated_at.eq(groups::updated_at))
                        .execute(c)
                        .await?;
                    let n = diesel::delete(
                        group_member::table
                            .filter(group_member::group_id.eq(group_id))
                            .filter(group_member::user_id.eq(user_id))
                            .filter(group_member::role.ne(ROLE_OWNER)),
                    )
                    .execute(c)
                    .await?;
                    if n > 0 {
                        diesel::update(groups::table.find(group_id))
                            .set(groups::member_count.eq(groups::member_count - 1))
                            .execute(c)
                            .await?;
                        close_pending!(c, group_id, [user_id], REJECTED, user_id, now);
                    }
                    Ok(n > 0)
                })
                .await
            })
        })
        .await
    }

    pub async fn group_ban_exists(&self, group_id: i64, user_id: i64) -> DbResult<bool> {
        self.run(move |mut conn| async move {
            let n: i64 = db_run!(&mut conn, |c| group_ban::table
                .filter(group_ban::group_id.eq(group_id))
                .filter(group_ban::user_id.eq(user_id))
                .count()
                .get_result(c)
                .await)?;
            Ok(n > 0)
        })
        .await
    }

    /// The ban list with the banned accounts, oldest ban first.
    pub async fn group_ban_list(&self, group_id: i64) -> DbResult<Vec<(BanRow, UserRow)>> {
        self.run(move |mut conn| async move {
            Ok(db_run!(&mut conn, |c| group_ban::table
                .inner_join(users::table.on(users::id.eq(group_ban::user_id)))
                .filter(group_ban::group_id.eq(group_id))
                .order(group_ban::id.asc())
                .select((BanRow::as_select(), UserRow::as_select()))
                .load(c)
                .await)?)
        })
        .await
    }

    pub async fn group_ban_delete(&self, group_id: i64, user_id: i64) -> DbResult<bool> {
        self.run(move |mut conn| async move {
            let n = db_run!(&mut conn, |c| diesel::delete(
                group_ban::table
                    .filter(group_ban::group_id.eq(group_id))
                    .filter(group_ban::user_id.eq(user_id))
            )
            .execute(c)
            .await)?;
            Ok(n > 0)
        })
        .await
    }

    /// Open (or reopen) the join request of `user_id`. Insert first, update on a duplicate:
    /// no transaction, so concurrent calls never deadlock on MySQL's gap locks (which an
    /// update-then-insert transaction does).
    pub async fn group_request_upsert(
        &self,
        group_id: i64,
        user_id: i64,
        message: String,
        now: i64,
    ) -> DbResult<()> {
        self.run(move |mut conn| async move {
            db_run!(&mut conn, |c| {
                let inserted = diesel::insert_into(group_join_request::table)
                    .values((
                        group_join_request::group_id.eq(group_id),
                        group_join_request::user_id.eq(user_id),
                        group_join_request::message.eq(&message),
                        group_join_request::status.eq(PENDING),
                        group_join_request::handled_by.eq(0),
                        group_join_request::created_at.eq(now),
                        group_join_request::updated_at.eq(now),
                    ))
                    .execute(c)
                    .await;
                match inserted {
                    Err(e) if is_duplicate(&e) => {
                        diesel::update(
                            group_join_request::table
                                .filter(group_join_request::group_id.eq(group_id))
                                .filter(group_join_request::user_id.eq(user_id)),
                        )
                        .set((
                            group_join_request::status.eq(PENDING),
                            group_join_request::message.eq(&message),
                            group_join_request::handled_by.eq(0),
                            group_join_request::updated_at.eq(now),
                        ))
                        .execute(c)
                        .await?;
                    }
                    other => {
                        other?;
                    }
                }
            });
            Ok(())
        })
        .await
    }

    /// Pending join requests with the requesting accounts, oldest first.
    pub async fn group_request_list_pending(
        &self,
        group_id: i64,
    ) -> DbResult<Vec<(JoinRequestRow, UserRow)>> {
        self.run(move |mut conn| async move {
            Ok(db_run!(&mut conn, |c| group_join_request::table
                .inner_join(users::table.on(users::id.eq(group_join_request::user_id)))
                .filter(group_join_request::group_id.eq(group_id))
                .filter(group_join_request::status.eq(PENDING))
                .order(group_join_request::updated_at.asc())
                .select((JoinRequestRow::as_select(), UserRow::as_select()))
                .load(c)
                .await)?)
        })
        .await
    }

    /// Resolve a pending join request; false when there was none.
    pub async fn group_request_resolve(
        &self,
        group_id: i64,
        user_id: i64,
        status: i16,
        by: i64,
        now: i64,
    ) -> DbResult<bool> {
        self.run(move |mut conn| async move {
            let n = db_run!(&mut conn, |c| diesel::update(
                group_join_request::table
                    .filter(group_join_request::group_id.eq(group_id))
                    .filter(group_join_request::user_id.eq(user_id))
                    .filter(group_join_request::status.eq(PENDING))
            )
            .set((
                group_join_request::status.eq(status),
                group_join_request::handled_by.eq(by),
                group_join_request::updated_at.eq(now),
            ))
            .execute(c)
            .await)?;
            Ok(n > 0)
        })
        .await
    }

    pub async fn group_request_is_pending(&self, group_id: i64, user_id: i64) -> DbResult<bool> {
        self.run(move |mut conn| async move {
            let n: i64 = db_run!(&mut conn, |c| group_join_request::table
                .filter(group_join_request::group_id.eq(group_id))
                .filter(group_join_request::user_id.eq(user_id))
                .filter(group_join_request::status.eq(PENDING))
                .count()
                .get_result(c)
                .await)?;
            Ok(n > 0)
        })
        .await
    }

    /// Open (or reopen) an invitation of `invitee_id` to the group (insert first, update on
    /// a duplicate, as for join requests).
    pub async fn group_invite_upsert(
        &self,
        group_id: i64,
        inviter_id: i64,
        invitee_id: i64,
        now: i64,
    ) -> DbResult<()> {
        self.run(move |mut conn| async move {
            db_run!(&mut conn, |c| {
                let inserted = diesel::insert_into(group_invite::table)
                    .values((
                        group_invite::group_id.eq(group_id),
                        group_invite::inviter_id.eq(inviter_id),
                        group_invite::invitee_id.eq(invitee_id),
                        group_invite::status.eq(PENDING),
                        group_invite::created_at.eq(now),
                        group_invite::updated_at.eq(now),
                    ))
                    .execute(c)
                    .await;
                match inserted {
                    Err(e) if is_duplicate(&e) => {
                        diesel::update(
                            group_invite::table
                                .filter(group_invite::group_id.eq(group_id))
                                .filter(group_invite::invitee_id.eq(invitee_id)),
                        )
                        .set((
                            group_invite::status.eq(PENDING),
                            group_invite::inviter_id.eq(inviter_id),
                            group_invite::updated_at.eq(now),
                        ))
                        .execute(c)
                        .await?;
                    }
                    other => {
                        other?;
                    }
                }
            });
            Ok(())
        })
        .await
    }

    /// Resolve the pending invitation of `invitee_id`; false when there was none.
    pub async fn group_invite_resolve(
        &self,
        group_id: i64,
        invitee_id: i64,
        status: i16,
        now: i64,
    ) -> DbResult<bool> {
        self.run(move |mut conn| async move {
            let n = db_run!(&mut conn, |c| diesel::update(
                group_invite::table
                    .filter(group_invite::group_id.eq(group_id))
                    .filter(group_invite::invitee_id.eq(invitee_id))
                    .filter(group_invite::status.eq(PENDING))
            )
            .set((group_invite::status.eq(status), group_invite::updated_at.eq(now)))
            .execute(c)
            .await)?;
            Ok(n > 0)
        })
        .await
    }

    pub async fn group_invite_is_pending(&self, group_id: i64, invitee_id: i64) -> DbResult<bool> {
        self.run(move |mut conn| async move {
            let n: i64 = db_run!(&mut conn, |c| group_invite::table
                .filter(group_invite::group_id.eq(group_id))
                .filter(group_invite::invitee_id.eq(invitee_id))
                .filter(group_invite::status.eq(PENDING))
                .count()
                .get_result(c)
                .await)?;
            Ok(n > 0)
        })
        .await
    }

    /// My pending invitations with their (active) groups, newest first.
    pub async fn group_invite_list_pending(
        &self,
        invitee_id: i64,
    ) -> DbResult<Vec<(InviteRow, GroupRow)>> {
        self.run(move |mut conn| async move {
            Ok(db_run!(&mut conn, |c| group_invite::table
                .inner_join(groups::table.on(groups::id.eq(group_invite::group_id)))
                .filter(group_invite::invitee_id.eq(invitee_id))
                .filter(group_invite::status.eq(PENDING))
                .filter(groups::status.eq(GROUP_ACTIVE))
                .order(group_invite::updated_at.desc())
                .select((InviteRow::as_select(), GroupRow::as_select()))
                .load(c)
                .await)?)
        })
        .await
    }

    pub async fn group_link_insert(&self, link: LinkRow) -> DbResult<()> {
        self.run(move |mut conn| async move {
            db_run!(&mut conn, |c| diesel::insert_into(group_invite_link::table)
                .values(&link)
                .execute(c)
                .await)?;
            Ok(())
        })
        .await
    }

    pub async fn group_link_find(&self, token: String) -> DbResult<Option<LinkRow>> {
        self.run(move |mut conn| async move {
            Ok(db_run!(&mut conn, |c| group_invite_link::table
                .filter(group_invite_link::token.eq(&token))
                .select(LinkRow::as_select())
                .first(c)
                .await
                .optional())?)
        })
        .await
    }

    /// The group's links that are neither revoked nor expired at `now`, newest first, each
    /// with its creator's current membership in the group (none once they left or were
    /// removed). Whether a link still works is the service's rule, not decided here.
    pub async fn group_link_list_unexpired(
        &self,
        group_id: i64,
        now: i64,
    ) -> DbResult<Vec<(LinkRow, Option<MemberRow>)>> {
        self.run(move |mut conn| async move {
            Ok(db_run!(&mut conn, |c| group_invite_link::table
                .left_join(
                    group_member::table.on(group_member::group_id
                        .eq(group_invite_link::group_id)
                        .and(group_member::user_id.eq(group_invite_link::creator_id))),
                )
                .filter(group_invite_link::group_id.eq(group_id))
                .filter(group_invite_link::revoked_at.is_null())
                .filter(group_invite_link::expires_at.gt(now))
                .order(group_invite_link::id.desc())
                .select((LinkRow::as_select(), Option::<MemberRow>::as_select()))
                .load(c)
                .await)?)
        })
        .await
    }

    /// Count one more join through the link.
    pub async fn group_link_count_use(&self, id: i64) -> DbResult<()> {
        self.run(move |mut conn| async move {
            db_run!(&mut conn, |c| diesel::update(group_invite_link::table.find(id))
                .set(group_invite_link::uses.eq(group_invite_link::uses + 1))
                .execute(c)
                .await)?;
            Ok(())
        })
        .await
    }

    /// Revoke a live link of the group; false when there was none.
    pub async fn group_link_revoke(
        &self,
        group_id: i64,
        token: String,
        now: i64,
    ) -> DbResult<bool> {
        self.run(move |mut conn| async move {
            let n = db_run!(&mut conn, |c| diesel::update(
                group_invite_link::table
                    .filter(group_invite_link::group_id.eq(group_id))
                    .filter(group_invite_link::token.eq(&token))
                    .filter(group_invite_link::revoked_at.is_null())
            )
            .set(group_invite_link::revoked_at.eq(now))
            .execute(c)
            .await)?;
            Ok(n > 0)
        })
        .await
    }

    /// `user_relation.status` of the pair `a`, `b` (in either order), if a row exists.
    pub async fn relation_status_of(&self, a: i64, b: i64) -> DbResult<Option<i16>> {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        self.run(move |mut conn| async move {
            Ok(db_run!(&mut conn, |c| user_relation::table
                .filter(user_relation::user_a_id.eq(lo))
                .filter(user_relation::user_b_id.eq(hi))
                .select(user_relation::status)
                .first(c)
                .await
                .optional())?)
        })
        .await
    }

    /// Set the friendship bits of the pair `a`, `b` (stored with the smaller id as A; a
    /// new row gets `block_status` 3, nobody blocked). The friends feature owns these rows;
    /// group tests use this to make people friends.
    pub async fn relation_upsert(&self, a: i64, b: i64, status: i16, now: i64) -> DbResult<()> {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        self.run(move |mut conn| async move {
            db_run!(&mut conn, |c| {
                c.transaction(async |c| {
                    let n = diesel::update(
                        user_relation::table
                            .filter(user_relation::user_a_id.eq(lo))
                            .filter(user_relation::user_b_id.eq(hi)),
                    )
                    .set((user_relation::status.eq(status), user_relation::updated_at.eq(now)))
                    .execute(c)
                    .await?;
                    if n == 0 {
                        diesel::insert_into(user_relation::table)
                            .values((
                                user_relation::user_a_id.eq(lo),
                                user_relation::user_b_id.eq(hi),
                                user_relation::status.eq(status),
                                user_relation::block_status.eq(3),
                                user_relation::remark_on_a.eq(""),
                                user_relation::remark_on_b.eq(""),
                                user_relation::created_at.eq(now),
                                user_relation::updated_at.eq(now),
                            ))
                            .execute(c)
                            .await?;
                    }
                    Ok(())
                })
                .await
            })
        })
        .await
    }
}
