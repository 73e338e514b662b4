//! A person's data: what `jim user export` reads and `jim user purge` erases in the
//! relational tables (messages live in the message store, see `store::MessageStore`).

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::media::MediaRow;
use super::schema::{
    group_join_request, group_member, media, media_refs, sessions, user_relation,
    user_relation_invite, users,
};
use super::{Db, DbError, DbResult};
use crate::db_run;
use crate::domain::{MediaRefKind, UserId, UserStatus};

/// Invitations as `jim user export` shows them: who, to whom, the notes, when.
#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = user_relation_invite)]
pub struct InviteExport {
    pub id: i64,
    pub user_id: i64,
    pub target_id: i64,
    pub note: String,
    pub reply: String,
    pub status: i16,
    pub created_at: i64,
}

impl Db {
    /// Every upload `owner` made (any state), oldest first.
    pub async fn media_owned_by(&self, owner: UserId) -> DbResult<Vec<MediaRow>> {
        query!(self, all MediaRow, media::table.filter(media::owner_id.eq(owner)).order(media::created_at.asc()))
    }

    /// Whether anything still refers to the upload `id`.
    pub async fn media_is_referenced(&self, id: String) -> DbResult<bool> {
        let n: i64 = query!(self, |c| media_refs::table
            .filter(media_refs::media_id.eq(&id))
            .count()
            .get_result(c)
            .await)?;
        Ok(n > 0)
    }

    /// Friend invitations `user` sent or received.
    pub async fn invites_of(&self, user: UserId) -> DbResult<Vec<InviteExport>> {
        query!(self, all InviteExport, user_relation_invite::table
            .filter(user_relation_invite::user_id.eq(user).or(user_relation_invite::target_id.eq(user)))
            .order(user_relation_invite::id.asc()))
    }

    /// Erase `user`'s personal data from the relational tables, in one transaction: the
    /// profile (name, nickname, avatar, birth date, password) is replaced by a placeholder
    /// and the account marked deleted; sessions (with their addresses and user agents),
    /// invitation notes and join-request notes go; remarks on either side of their friendships
    /// and their group nickname are cleared; the references their messages and avatar made to
    /// uploads are dropped. Ids, friendships and memberships stay, so others' conversations
    /// and groups keep their shape. Returns false when there is no such user.
    pub async fn user_purge(&self, user: UserId, placeholder: String, now: i64) -> DbResult<bool> {
        let _turn = self.sqlite_write_turn().await;
        self.run(move |mut conn| {
            let placeholder = placeholder.clone();
            async move {
                db_run!(&mut conn, |c| {
                    c.transaction(async |c| {
                        let found = diesel::update(users::table.find(user))
                            .set((
                                users::username.eq(&placeholder),
                                users::username_norm.eq(&placeholder),
                                // No bcrypt hash is this: nobody can log in.
                                users::password_hash.eq("!purged"),
                                users::nickname.eq("Deleted user"),
                                users::avatar.eq(""),
                                users::birth_date.eq(None::<String>),
                                users::status.eq(UserStatus::Deleted.as_i16()),
                                users::updated_at.eq(now),
                            ))
                            .execute(c)
                            .await?;
                        if found == 0 {
                            return Ok::<_, DbError>(false);
                        }
                        diesel::delete(sessions::table.filter(sessions::user_id.eq(user)))
                            .execute(c)
                            .await?;
                        diesel::delete(
                            user_relation_invite::table.filter(
                                user_relation_invite::user_id
                                    .eq(user)
                                    .or(user_relation_invite::target_id.eq(user)),
                            ),
                        )
                        .execute(c)
                        .await?;
                        diesel::delete(
                            group_join_request::table.filter(group_join_request::user_id.eq(user)),
                        )
                        .execute(c)
                        .await?;
                        diesel::update(user_relation::table.filter(
                            user_relation::user_a_id.eq(user).or(user_relation::user_b_id.eq(user)),
                        ))
                        .set((
                            user_relation::remark_on_a.eq(""),
                            user_relation::remark_on_b.eq(""),
                            user_relation::updated_at.eq(now),
                        ))
                        .execute(c)
                        .await?;
                        diesel::update(group_member::table.filter(group_member::user_id.eq(user)))
                            .set(group_member::nickname.eq(""))
                            .execute(c)
                            .await?;
                        diesel::delete(
                            media_refs::table
                                .filter(media_refs::ref_kind.eq(MediaRefKind::Message.as_i16()))
                                .filter(media_refs::ref_key.like(format!("{}:%", user.get()))),
                        )
                        .execute(c)
                        .await?;
                        diesel::delete(
                            media_refs::table
                                .filter(media_refs::ref_kind.eq(MediaRefKind::UserAvatar.as_i16()))
                                .filter(media_refs::party_a.eq(user.get())),
                        )
                        .execute(c)
                        .await?;
                        Ok(true)
                    })
                    .await
                })
            }
        })
        .await
    }
}
