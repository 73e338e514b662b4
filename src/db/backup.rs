//! SQLite snapshots for `jim backup`: a consistent copy taken from a connection of its own
//! while the server keeps writing (`VACUUM INTO` reads one snapshot of the WAL database and
//! never blocks the writer), and the checks run on a copy before it is trusted.

use std::path::Path;
use std::time::Duration;

use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};

use super::{DbError, DbResult};

/// What a snapshot holds, read from the copy itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotFacts {
    /// `PRAGMA integrity_check`'s answer: `ok` for a sound file.
    pub integrity: String,
    pub users: i64,
    pub messages: i64,
    /// Migrations applied in the copy.
    pub migrations: i64,
}

#[derive(QueryableByName)]
struct IntegrityRow {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn open(path: &Path, busy: Duration) -> DbResult<SqliteConnection> {
    let text = path.to_str().ok_or_else(|| DbError::Connect(format!("{path:?} is not UTF-8")))?;
    let mut conn =
        SqliteConnection::establish(text).map_err(|e| DbError::Connect(format!("{text}: {e}")))?;
    diesel::connection::SimpleConnection::batch_execute(
        &mut conn,
        &format!("PRAGMA busy_timeout = {};", busy.as_millis()),
    )?;
    Ok(conn)
}

/// Write a consistent copy of the SQLite database at `source` to `dest` (which must not
/// exist), on a connection of its own. Blocking: call from a blocking thread.
pub fn snapshot_sqlite(source: &Path, dest: &Path, busy: Duration) -> DbResult<()> {
    if !source.is_file() {
        return Err(DbError::Connect(format!("no database file at {}", source.display())));
    }
    let mut conn = open(source, busy)?;
    let dest = dest.to_str().ok_or_else(|| DbError::Connect(format!("{dest:?} is not UTF-8")))?;
    diesel::sql_query("VACUUM INTO ?").bind::<Text, _>(dest).execute(&mut conn)?;
    Ok(())
}

/// Check a database file that no one else uses (a snapshot, a restored copy): its
/// integrity and what it holds. Blocking: call from a blocking thread.
pub fn inspect_sqlite(path: &Path) -> DbResult<SnapshotFacts> {
    let mut conn = open(path, Duration::from_secs(5))?;
    let rows: Vec<IntegrityRow> = diesel::sql_query("PRAGMA integrity_check").load(&mut conn)?;
    let integrity = rows.into_iter().map(|r| r.integrity_check).collect::<Vec<_>>().join("; ");
    let count = |conn: &mut SqliteConnection, sql: &str| -> DbResult<i64> {
        let row: CountRow = diesel::sql_query(sql).get_result(conn)?;
        Ok(row.n)
    };
    Ok(SnapshotFacts {
        integrity,
        users: count(&mut conn, "SELECT COUNT(*) AS n FROM users")?,
        messages: count(&mut conn, "SELECT COUNT(*) AS n FROM messages")?,
        migrations: count(&mut conn, "SELECT COUNT(*) AS n FROM __diesel_schema_migrations")?,
    })
}
