//! Embedded, forward-only migrations: one folder per backend with the same version set, run
//! through diesel-async's `AsyncMigrationHarness` on the multi-thread runtime.

use diesel_async::{AsyncConnection, AsyncMigrationHarness, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{DbError, DbResult, MysqlConn, SqliteConn, mysql_url, sqlite_path};
use crate::config::DatabaseKind;

/// SQLite migrations, compiled into the binary.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
/// MySQL / MariaDB migrations, compiled into the binary.
pub const MYSQL_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/mysql");

/// What `jim migrate status` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationStatus {
    pub applied: Vec<String>,
    pub pending: Vec<String>,
}

fn migration_error(e: impl std::fmt::Display) -> DbError {
    DbError::Migration(e.to_string())
}

/// Apply every pending migration and return the versions applied.
pub async fn run_pending(kind: DatabaseKind, url: &str) -> DbResult<Vec<String>> {
    match kind {
        DatabaseKind::Sqlite => {
            let mut conn = SqliteConn::establish(sqlite_path(url))
                .await
                .map_err(|e| DbError::Connect(e.to_string()))?;
            // WAL lets readers proceed while a writer commits; it is a property of the file,
            // so setting it once here is enough.
            // Wait for a running server's writers instead of failing at once with "locked".
            conn.batch_execute(
                "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;",
            )
            .await?;
            let mut harness = AsyncMigrationHarness::new(conn);
            let done =
                harness.run_pending_migrations(SQLITE_MIGRATIONS).map_err(migration_error)?;
            Ok(done.iter().map(|v| v.to_string()).collect())
        }
        DatabaseKind::Mysql => {
            let conn = MysqlConn::establish(&mysql_url(url))
                .await
                .map_err(|e| DbError::Connect(e.to_string()))?;
            let mut harness = AsyncMigrationHarness::new(conn);
            let done = harness.run_pending_migrations(MYSQL_MIGRATIONS).map_err(migration_error)?;
            Ok(done.iter().map(|v| v.to_string()).collect())
        }
    }
}

/// Applied and pending versions, without changing anything.
pub async fn status(kind: DatabaseKind, url: &str) -> DbResult<MigrationStatus> {
    fn collect<B: diesel::backend::Backend>(
        harness: &mut impl MigrationHarness<B>,
        source: EmbeddedMigrations,
    ) -> DbResult<MigrationStatus>
    where
        EmbeddedMigrations: diesel::migration::MigrationSource<B>,
    {
        let applied = harness.applied_migrations().map_err(migration_error)?;
        let pending = harness.pending_migrations(source).map_err(migration_error)?;
        let mut applied: Vec<String> = applied.iter().map(|v| v.to_string()).collect();
        applied.sort();
        Ok(MigrationStatus {
            applied,
            pending: pending.iter().map(|m| m.name().version().to_string()).collect(),
        })
    }
    match kind {
        DatabaseKind::Sqlite => {
            let conn = SqliteConn::establish(sqlite_path(url))
                .await
                .map_err(|e| DbError::Connect(e.to_string()))?;
            collect(&mut AsyncMigrationHarness::new(conn), SQLITE_MIGRATIONS)
        }
        DatabaseKind::Mysql => {
            let conn = MysqlConn::establish(&mysql_url(url))
                .await
                .map_err(|e| DbError::Connect(e.to_string()))?;
            collect(&mut AsyncMigrationHarness::new(conn), MYSQL_MIGRATIONS)
        }
    }
}
