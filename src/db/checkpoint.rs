//! SQLite's WAL checkpoints, moved off the commit path: connections never checkpoint
//! (`wal_autocheckpoint = 0`); a thread of its own copies the WAL into the database in the
//! background (PASSIVE: it never waits for, nor blocks, readers and the writer).

use std::sync::mpsc;
use std::time::Duration;

use diesel::{Connection, RunQueryDsl, SqliteConnection};

/// How often the WAL is copied back into the database.
const EVERY: Duration = Duration::from_millis(500);

/// Runs until dropped; then checkpoints once more and stops.
pub struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Checkpoint the database at `path`, on a connection set up with `pragmas` (the pool's).
    pub fn start(path: &str, pragmas: String) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let path = path.to_string();
        let spawned =
            std::thread::Builder::new().name("jim-sqlite-checkpoint".into()).spawn(move || {
                let mut conn: Option<SqliteConnection> = None;
                loop {
                    let last = matches!(
                        stopped.recv_timeout(EVERY),
                        Err(mpsc::RecvTimeoutError::Disconnected)
                    );
                    if conn.is_none() {
                        conn = SqliteConnection::establish(&path).ok().and_then(|mut c| {
                            diesel::connection::SimpleConnection::batch_execute(&mut c, &pragmas)
                                .ok()
                                .map(|_| c)
                        });
                    }
                    if let Some(c) = conn.as_mut()
                        && diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").execute(c).is_err()
                    {
                        // Try again with a fresh connection next time.
                        conn = None;
                    }
                    if last {
                        return;
                    }
                }
            });
        if let Err(e) = spawned {
            slog_scope::warn!("no SQLite checkpoint thread; the WAL grows until restart"; "error" => e.to_string());
        }
        Self { _stop: stop }
    }
}

impl super::Db {
    /// SQLite: checkpoint from this handle's connection (PASSIVE). Run by the message writer
    /// between its batches: with no write in between, it copies the WAL up to its end, so the
    /// next commit starts the WAL over instead of growing it. Under a steady stream of commits
    /// the background checkpointer never reaches the end, and the WAL would grow for as long
    /// as the stream lasts. A no-op on MySQL.
    pub async fn wal_checkpoint(&self) -> super::DbResult<()> {
        if self.kind() != crate::config::DatabaseKind::Sqlite {
            return Ok(());
        }
        self.run(|mut conn| async move {
            crate::db_run!(&mut conn, |c| diesel_async::RunQueryDsl::execute(
                diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)"),
                c
            )
            .await)?;
            Ok(())
        })
        .await
    }
}
