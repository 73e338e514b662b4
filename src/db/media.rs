//! Repository for uploads: `media` (one row per upload), `media_refs` (the messages and
//! avatars that keep an upload alive and grant downloads) and `media_usage` (bytes per user,
//! for the quota).

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::schema::{media, media_refs, media_usage};
use super::{Db, DbConn, DbError, DbResult};
use crate::db_run;
use crate::domain::{MediaState, UserId};

// The stored values of the states, for filters (see `MediaState`).
const UPLOADING: i16 = MediaState::Uploading.as_i16();
const STORED: i16 = MediaState::Stored.as_i16();
const DELETING: i16 = MediaState::Deleting.as_i16();

/// The rows the clean-up may delete: stored ones nothing refers to, last touched before
/// `$stored_before`; uploads stuck in "uploading" since before `$uploading_before` (their server
/// died); and those already chosen for deletion (a store outage stopped it). Attaching an
/// upload touches its `updated_at` in the transaction that adds the reference, so a row chosen
/// here is never one a reference was just added to.
macro_rules! deletable {
    ($stored_before:expr, $uploading_before:expr) => {
        media::state
            .eq(DELETING)
            .or(media::state.eq(UPLOADING).and(media::updated_at.lt($uploading_before)))
            .or(media::state
                .eq(STORED)
                .and(media::updated_at.lt($stored_before))
                .and(media::id.ne_all(media_refs::table.select(media_refs::media_id))))
    };
}

/// A row of `media`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = media)]
pub struct MediaRow {
    pub id: String,
    pub owner_id: UserId,
    pub kind: i16,
    pub state: i16,
    pub mime: String,
    /// Bytes stored; while uploading, the bytes reserved so far.
    pub size: i64,
    pub sha256: String,
    pub name: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub thumb_mime: Option<String>,
    pub thumb_size: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What an upload's row starts with.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = media)]
pub struct NewMedia {
    pub id: String,
    pub owner_id: UserId,
    pub kind: i16,
    pub state: i16,
    pub mime: String,
    pub size: i64,
    pub sha256: String,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What is known of an upload once its bytes are stored.
#[derive(Debug, Clone)]
pub struct StoredMedia {
    pub kind: i16,
    pub mime: String,
    pub size: i64,
    pub sha256: String,
    pub name: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub thumb_mime: Option<String>,
    pub thumb_size: Option<i64>,
}

/// A row of `media_refs`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = media_refs)]
pub struct MediaRefRow {
    pub media_id: String,
    pub ref_kind: i16,
    pub room_id: String,
    pub session_type: i16,
    pub party_a: i64,
    pub party_b: i64,
    pub ref_key: String,
    pub created_at: i64,
}

/// Counts and bytes of one kind in one state (`jim media stats`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaTally {
    pub kind: i16,
    pub state: i16,
    pub count: i64,
    pub bytes: i64,
}

impl Db {
    /// Start an upload: its row in state "uploading" with nothing reserved yet.
    pub async fn media_begin(&self, row: NewMedia) -> DbResult<()> {
        let _turn = self.sqlite_write_turn().await;
        query!(self, |c| diesel::insert_into(media::table).values(&row).execute(c).await)?;
        Ok(())
    }

    /// Reserve `bytes` more for an upload in progress, unless the owner's usage would pass
    /// `quota` (0: no quota). One conditional update decides, so concurrent uploads of one
    /// user cannot together pass the quota. Returns whether the bytes were reserved.
    pub async fn media_reserve(
        &self,
        owner_id: UserId,
        media_id: String,
        bytes: i64,
        quota: i64,
        now: i64,
    ) -> DbResult<bool> {
        self.run_retrying(move |mut conn| {
            let media_id = media_id.clone();
            async move {
                db_run!(&mut conn, |c| {
                    c.transaction(async |c| {
                        diesel::insert_or_ignore_into(media_usage::table)
                            .values((
                                media_usage::user_id.eq(owner_id.get()),
                                media_usage::bytes.eq(0),
                            ))
                            .execute(c)
                            .await?;
                        let usage =
                            media_usage::table.filter(media_usage::user_id.eq(owner_id.get()));
                        let raised = if quota > 0 {
                            diesel::update(usage.filter(media_usage::bytes.le(quota - bytes)))
                                .set(media_usage::bytes.eq(media_usage::bytes + bytes))
                                .execute(c)
                                .await?
                        } else {
                            diesel::update(usage)
                                .set(media_usage::bytes.eq(media_usage::bytes + bytes))
                                .execute(c)
                                .await?
                        };
                        if raised == 0 {
                            return Ok::<_, DbError>(false);
                        }
                        let grown = diesel::update(
                            media::table.find(&media_id).filter(media::state.eq(UPLOADING)),
                        )
                        .set((media::size.eq(media::size + bytes), media::updated_at.eq(now)))
                        .execute(c)
                        .await?;
                        if grown == 0 {
                            // The upload was abandoned meanwhile (or never began): undo.
                            return Err(DbError::Query(diesel::result::Error::RollbackTransaction));
                        }
                        Ok(true)
                    })
                    .await
                })
            }
        })
        .await
    }

    /// Mark an upload stored with what is known of it, and set the owner's usage from the
    /// reserved bytes to the stored ones.
    pub async fn media_finish(&self, id: String, stored: StoredMedia, now: i64) -> DbResult<()> {
        self.run_retrying(move |mut conn| {
            let (id, stored) = (id.clone(), stored.clone());
            async move {
                db_run!(&mut conn, |c| {
                    c.transaction(async |c| {
                        // Write first: a SQLite transaction that reads before it writes
                        // fails at once ("database is locked", no busy wait) when the
                        // message writer commits in between, which under chat load is often.
                        let touched = diesel::update(
                            media::table.find(&id).filter(media::state.eq(UPLOADING)),
                        )
                        .set(media::updated_at.eq(now))
                        .execute(c)
                        .await?;
                        if touched == 0 {
                            return Err(DbError::Query(diesel::result::Error::NotFound));
                        }
                        let (owner_id, reserved): (UserId, i64) = media::table
                            .find(&id)
                            .select((media::owner_id, media::size))
                            .first(c)
                            .await?;
                        diesel::update(media_usage::table.find(owner_id.get()))
                            .set(
                                media_usage::bytes
                                    .eq(media_usage::bytes + (stored.size - reserved)),
                            )
                            .execute(c)
                            .await?;
                        diesel::update(media::table.find(&id))
                            .set((
                                media::state.eq(STORED),
                                media::kind.eq(stored.kind),
                                media::mime.eq(&stored.mime),
                                media::size.eq(stored.size),
                                media::sha256.eq(&stored.sha256),
                                media::name.eq(&stored.name),
                                media::width.eq(stored.width),
                                media::height.eq(stored.height),
                                media::thumb_mime.eq(&stored.thumb_mime),
                                media::thumb_size.eq(stored.thumb_size),
                                media::updated_at.eq(now),
                            ))
                            .execute(c)
                            .await?;
                        Ok::<_, DbError>(())
                    })
                    .await
                })
            }
        })
        .await
    }

    /// Remove an upload's row and give its bytes back to the owner's usage. The caller has
    /// removed (or never written) its blobs.
    pub async fn media_remove(&self, id: String) -> DbResult<()> {
        self.run_retrying(move |mut conn| {
            let id = id.clone();
            async move {
                db_run!(&mut conn, |c| {
                    c.transaction(async |c| {
                        // Write first (see `media_finish`).
                        diesel::delete(media_refs::table.filter(media_refs::media_id.eq(&id)))
                            .execute(c)
                            .await?;
                        let row: Option<(UserId, i64)> = media::table
                            .find(&id)
                            .select((media::owner_id, media::size))
                            .first(c)
                            .await
                            .optional()?;
                        let Some((owner_id, size)) = row else { return Ok::<_, DbError>(()) };
                        diesel::update(media_usage::table.find(owner_id.get()))
                            .set(media_usage::bytes.eq(media_usage::bytes - size))
                            .execute(c)
                            .await?;
                        diesel::delete(media::table.find(&id)).execute(c).await?;
                        Ok(())
                    })
                    .await
                })
            }
        })
        .await
    }

    pub async fn media_get(&self, id: String) -> DbResult<Option<MediaRow>> {
        query!(self, optional MediaRow, media::table.find(&id))
    }

    /// The references to an upload (at most `limit`; a download is granted by any one).
    pub async fn media_refs_of(&self, id: String, limit: i64) -> DbResult<Vec<MediaRefRow>> {
        query!(
            self,
            all MediaRefRow,
            media_refs::table.filter(media_refs::media_id.eq(&id)).order(media_refs::id).limit(limit)
        )
    }

    /// Record references to stored uploads, first dropping every reference of
    /// `replacing` (a kind and party: the previous avatar of a user or group), in one
    /// transaction. Refused (false, nothing written) when any upload is not stored any more:
    /// the touch of each row and the GC's choice of a row to delete exclude each other, so a
    /// reference never points at an upload being deleted.
    pub async fn media_refs_add(
        &self,
        replacing: Option<(i16, i64)>,
        refs: Vec<MediaRefRow>,
        now: i64,
    ) -> DbResult<bool> {
        self.run_retrying(move |mut conn| {
            let refs = refs.clone();
            async move {
                db_run!(&mut conn, |c| {
                    c.transaction(async |c| {
                        if let Some((kind, party)) = replacing {
                            diesel::delete(
                                media_refs::table
                                    .filter(media_refs::ref_kind.eq(kind))
                                    .filter(media_refs::party_a.eq(party)),
                            )
                            .execute(c)
                            .await?;
                        }
                        for r in &refs {
                            let touched = diesel::update(
                                media::table.find(&r.media_id).filter(media::state.eq(STORED)),
                            )
                            .set(media::updated_at.eq(now))
                            .execute(c)
                            .await?;
                            if touched == 0 {
                                return Err(DbError::Query(
                                    diesel::result::Error::RollbackTransaction,
                                ));
                            }
                            diesel::insert_or_ignore_into(media_refs::table)
                                .values(r)
                                .execute(c)
                                .await?;
                        }
                        Ok::<_, DbError>(())
                    })
                    .await
                })
            }
        })
        .await
        .map(|()| true)
        .or_else(|e| match e {
            DbError::Query(diesel::result::Error::RollbackTransaction) => Ok(false),
            e => Err(e),
        })
    }

    /// Drop the references a message made (`ref_key` names the message in its room).
    pub async fn media_refs_remove(
        &self,
        ref_kind: i16,
        room_id: String,
        ref_key: String,
    ) -> DbResult<usize> {
        query!(self, |c| diesel::delete(
            media_refs::table
                .filter(media_refs::ref_kind.eq(ref_kind))
                .filter(media_refs::room_id.eq(&room_id))
                .filter(media_refs::ref_key.eq(&ref_key))
        )
        .execute(c)
        .await)
    }

    /// Uploads the clean-up may delete (see [`deletable!`]), least recently touched first.
    pub async fn media_gc_candidates(
        &self,
        stored_before: i64,
        uploading_before: i64,
        limit: i64,
    ) -> DbResult<Vec<MediaRow>> {
        query!(
            self,
            all MediaRow,
            media::table
                .filter(deletable!(stored_before, uploading_before))
                .order(media::updated_at)
                .limit(limit)
        )
    }

    /// Choose an upload for deletion if it still qualifies. Returns whether it was chosen.
    pub async fn media_mark_deleting(
        &self,
        id: String,
        stored_before: i64,
        uploading_before: i64,
    ) -> DbResult<bool> {
        let chosen = query!(self, |c| diesel::update(
            media::table.find(&id).filter(deletable!(stored_before, uploading_before))
        )
        .set(media::state.eq(DELETING))
        .execute(c)
        .await)?;
        Ok(chosen == 1)
    }

    /// Counts and bytes per kind and state.
    pub async fn media_tally(&self) -> DbResult<Vec<MediaTally>> {
        self.run(move |mut conn| async move {
            // SUM of a BIGINT is a DECIMAL to diesel: cast it back, in each dialect.
            type Total = diesel::sql_types::Nullable<diesel::sql_types::BigInt>;
            let total = match conn {
                DbConn::Sqlite(_) => "CAST(SUM(size) AS INTEGER)",
                DbConn::Mysql(_) => "CAST(SUM(size) AS SIGNED)",
            };
            let rows: Vec<(i16, i16, i64, Option<i64>)> = db_run!(&mut conn, |c| media::table
                .group_by((media::kind, media::state))
                .select((
                    media::kind,
                    media::state,
                    diesel::dsl::count_star(),
                    diesel::dsl::sql::<Total>(total),
                ))
                .order((media::kind, media::state))
                .load(c)
                .await)?;
            Ok(rows
                .into_iter()
                .map(|(kind, state, count, bytes)| MediaTally {
                    kind,
                    state,
                    count,
                    bytes: bytes.unwrap_or(0),
                })
                .collect())
        })
        .await
    }

    /// Bytes a user holds (stored uploads and reservations in flight).
    pub async fn media_usage_of(&self, user_id: UserId) -> DbResult<i64> {
        self.run(move |mut conn| async move {
            Ok(db_run!(&mut conn, |c| media_usage::table
                .find(user_id.get())
                .select(media_usage::bytes)
                .first(c)
                .await
                .optional())?
            .unwrap_or(0))
        })
        .await
    }
}
