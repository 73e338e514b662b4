//! Migrations: the same version set for both backends, forward-only, idempotent.

use std::collections::BTreeSet;
use std::path::Path;

use crate::helpers::*;

fn versions(backend: &str) -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn sqlite_and_mysql_have_the_same_version_set() {
    let sqlite = versions("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, versions("mysql"));
}

#[test]
fn migrations_are_forward_only_and_never_drop_data() {
    for backend in ["sqlite", "mysql"] {
        for version in versions(backend) {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(backend)
                .join(&version);
            assert!(!dir.join("down.sql").exists(), "{backend}/{version} has a down.sql");
            let up = std::fs::read_to_string(dir.join("up.sql")).unwrap().to_uppercase();
            for forbidden in ["DROP TABLE", "DROP COLUMN", "TRUNCATE", "DELETE FROM"] {
                assert!(!up.contains(forbidden), "{backend}/{version} contains {forbidden}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_twice_is_a_no_op_on_both_backends() {
    let (app, _dir) = spawn_embedded().await;
    assert!(app.state.db.migrate().await.unwrap().is_empty());
    let status = app.state.db.migration_status().await.unwrap();
    assert_eq!(status.applied.len(), versions("sqlite").len());
    app.stop().await;

    let Some(scale) = ScaleOut::fresh().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(scale.config(dir.path())).await;
    assert!(app.state.db.migrate().await.unwrap().is_empty());
    let status = app.state.db.migration_status().await.unwrap();
    assert_eq!(status.applied.len(), versions("mysql").len());
    assert!(status.pending.is_empty());
    app.stop().await;
}
