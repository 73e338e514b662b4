//! Repository for `control_events`: how a CLI process tells running servers about admin
//! actions (both profiles; servers poll for new rows).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::control_events;
use super::{Db, DbResult};
use crate::db_run;

/// A row of `control_events`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = control_events)]
pub struct ControlEventRow {
    pub id: i64,
    pub kind: String,
    pub user_id: i64,
    pub payload: String,
    pub created_at: i64,
}

impl Db {
    pub async fn control_insert(
        &self,
        kind: String,
        user_id: i64,
        payload: String,
        now: i64,
    ) -> DbResult<()> {
        self.run(move |mut conn| async move {
            let row = (
                control_events::kind.eq(&kind),
                control_events::user_id.eq(user_id),
                control_events::payload.eq(&payload),
                control_events::created_at.eq(now),
            );
            db_run!(&mut conn, |c| diesel::insert_into(control_events::table)
                .values(row)
                .execute(c)
                .await)?;
            Ok(())
        })
        .await
    }

    /// The highest id so far (0 when empty): where a starting server begins to listen.
    pub async fn control_max_id(&self) -> DbResult<i64> {
        self.run(move |mut conn| async move {
            let max: Option<i64> = db_run!(&mut conn, |c| control_events::table
                .select(diesel::dsl::max(control_events::id))
                .first(c)
                .await)?;
            Ok(max.unwrap_or(0))
        })
        .await
    }

    /// Events after `after_id`, oldest first.
    pub async fn control_since(&self, after_id: i64, limit: i64) -> DbResult<Vec<ControlEventRow>> {
        query!(self, all ControlEventRow, control_events::table
            .filter(control_events::id.gt(after_id))
            .order(control_events::id.asc())
            .limit(limit))
    }

    /// Remove events older than `before` (they have been acted on long ago).
    pub async fn control_purge(&self, before: i64) -> DbResult<usize> {
        query!(self, |c| diesel::delete(
            control_events::table.filter(control_events::created_at.lt(before))
        )
        .execute(c)
        .await)
    }
}
