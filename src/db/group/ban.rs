//! The `group_ban` table (bans are written by [`Db::group_member_remove`]).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::schema::{group_ban, users};
use crate::db::user::UserRow;
use crate::db::{Db, DbResult};
use crate::domain::{GroupId, UserId};

/// A row of `group_ban`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = group_ban)]
pub struct BanRow {
    pub id: i64,
    pub group_id: GroupId,
    pub user_id: UserId,
    pub banned_by: UserId,
    pub created_at: i64,
}

impl Db {
    pub async fn group_ban_exists(&self, group_id: GroupId, user_id: UserId) -> DbResult<bool> {
        let n: i64 = query!(self, |c| group_rows!(group_ban, user_id, group_id, user_id)
            .count()
            .get_result(c)
            .await)?;
        Ok(n > 0)
    }

    /// The ban list with the banned accounts, oldest ban first.
    pub async fn group_ban_list(&self, group_id: GroupId) -> DbResult<Vec<(BanRow, UserRow)>> {
        query!(
            self,
            all(BanRow, UserRow),
            group_ban::table
                .inner_join(users::table.on(users::id.eq(group_ban::user_id)))
                .filter(group_ban::group_id.eq(group_id))
                .order(group_ban::id.asc())
        )
    }

    pub async fn group_ban_delete(&self, group_id: GroupId, user_id: UserId) -> DbResult<bool> {
        query!(self, |c| diesel::delete(group_rows!(group_ban, user_id, group_id, user_id))
            .execute(c)
            .await)
        .map(|n| n > 0)
    }
}
