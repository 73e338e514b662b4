//! The `group_invite_link` table.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::member::MemberRow;
use crate::db::schema::{group_invite_link, group_member};
use crate::db::{Db, DbResult};
use crate::domain::{GroupId, UserId};

/// A row of `group_invite_link`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = group_invite_link)]
pub struct LinkRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub group_id: GroupId,
    pub token: String,
    pub creator_id: UserId,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
    /// How many people joined through the link.
    pub uses: i32,
}

impl Db {
    pub async fn group_link_insert(&self, link: LinkRow) -> DbResult<()> {
        query!(self, |c| diesel::insert_into(group_invite_link::table)
            .values(&link)
            .execute(c)
            .await)?;
        Ok(())
    }

    pub async fn group_link_find(&self, token: String) -> DbResult<Option<LinkRow>> {
        query!(self, optional LinkRow, group_invite_link::table
            .filter(group_invite_link::token.eq(&token)))
    }

    /// The group's links that are neither revoked nor expired at `now`, newest first, each
    /// with its creator's current membership in the group (none once they left or were
    /// removed). Whether a link still works is the service's rule, not decided here.
    pub async fn group_link_list_unexpired(
        &self,
        group_id: GroupId,
        now: i64,
    ) -> DbResult<Vec<(LinkRow, Option<MemberRow>)>> {
        query!(self, |c| group_invite_link::table
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
            .await)
    }

    /// Count one more join through the link.
    pub async fn group_link_count_use(&self, id: i64) -> DbResult<()> {
        query!(self, |c| diesel::update(group_invite_link::table.find(id))
            .set(group_invite_link::uses.eq(group_invite_link::uses + 1))
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Revoke a live link of the group; false when there was none.
    pub async fn group_link_revoke(
        &self,
        group_id: GroupId,
        token: String,
        now: i64,
    ) -> DbResult<bool> {
        query!(self, |c| diesel::update(
            group_invite_link::table
                .filter(group_invite_link::group_id.eq(group_id))
                .filter(group_invite_link::token.eq(&token))
                .filter(group_invite_link::revoked_at.is_null())
        )
        .set(group_invite_link::revoked_at.eq(now))
        .execute(c)
        .await)
        .map(|n| n > 0)
    }
}
