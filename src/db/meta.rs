//! `server_meta`: small key/value facts shared by every instance of a deployment (such as the
//! generated secret in the scale-out profile).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::server_meta;
use super::{Db, DbResult, now_ms};
use crate::db_run;

impl Db {
    /// Read `key`, or store `candidate` under it if absent, and return the stored value. Two
    /// instances racing here agree on one value: the insert is ignored when the row exists.
    pub async fn meta_get_or_insert(&self, key: &str, candidate: String) -> DbResult<String> {
        let key = key.to_string();
        self.run(move |mut conn| async move {
            let row = (
                server_meta::meta_key.eq(&key),
                server_meta::meta_value.eq(&candidate),
                server_meta::created_at.eq(now_ms()),
            );
            db_run!(&mut conn, |c| {
                diesel::insert_or_ignore_into(server_meta::table).values(row).execute(c).await?;
                let value = server_meta::table
                    .filter(server_meta::meta_key.eq(&key))
                    .select(server_meta::meta_value)
                    .first::<String>(c)
                    .await?;
                Ok(value)
            })
        })
        .await
    }

    /// Read `key`, if set.
    pub async fn meta_get(&self, key: &str) -> DbResult<Option<String>> {
        let key = key.to_string();
        query!(self, |c| server_meta::table
            .filter(server_meta::meta_key.eq(&key))
            .select(server_meta::meta_value)
            .first::<String>(c)
            .await
            .optional())
    }

    /// Set `key` to `value` (insert or overwrite).
    pub async fn meta_set(&self, key: &str, value: &str) -> DbResult<()> {
        let (key, value) = (key.to_string(), value.to_string());
        self.run(move |mut conn| async move {
            let row = (
                server_meta::meta_key.eq(&key),
                server_meta::meta_value.eq(&value),
                server_meta::created_at.eq(now_ms()),
            );
            db_run!(&mut conn, |c| diesel::replace_into(server_meta::table)
                .values(row)
                .execute(c)
                .await)?;
            Ok(())
        })
        .await
    }
}
