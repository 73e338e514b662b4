//! Operations: `jim backup` while the server takes a steady stream of sends, `jim restore`
//! into a new data directory, and the refusals (live data dir, scale-out, bad archives).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

/// Run `jim ARGS` in `cwd` with only the given `JIM_*` variables; (exit code, stdout, stderr).
async fn jim(cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(jim_bin());
    cmd.current_dir(cwd).args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("JIM_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("run jim");
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// Every message id of alice's conversation with `peer`, read forwards.
async fn all_ids(app: &TestApp, token: &str, peer: i64) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut after = 0;
    loop {
        let (s, page) = app
            .get_as(token, &format!("/api/v1/chat/message/list?session_type=1&target_id={peer}&after_message_id={after}&limit=50"))
            .await;
        assert_eq!(s, 200, "{page}");
        let msgs = page["data"]["messages"].as_array().unwrap().clone();
        ids.extend(msgs.iter().map(|m| m["message_id"].as_i64().unwrap()));
        if !page["data"]["has_more"].as_bool().unwrap() {
            break;
        }
        after = *ids.last().unwrap();
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_sends_restores_every_acknowledged_message() {
    let env = start(Profile::Embedded, |_| {}).await.unwrap();
    let app = &env.app;
    let ((_, ta), (bob, _)) = friends(app, "alice", "bob").await;
    let note = b"%PDF-1.4\n% kept by the backup\n".to_vec();
    let form = reqwest::multipart::Form::new()
        .text("kind", "file")
        .part("file", reqwest::multipart::Part::bytes(note.clone()).file_name("note.pdf"));
    let res = app
        .client
        .post(format!("{}/api/v1/media/upload", app.url))
        .bearer_auth(&ta)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let media_id = res.json::<serde_json::Value>().await.unwrap()["data"]["id"].clone();
    let media_id = media_id.as_str().map(String::from).unwrap_or_else(|| media_id.to_string());

    // A steady stream of sends, each recorded once acknowledged.
    let acked = Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (client, url, token) = (app.client.clone(), app.url.clone(), ta.clone());
        let (acked, stop) = (acked.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let body = json!({"session_type": 1, "type": 1, "target_id": bob,
                    "action_id": format!("steady-{n}"), "body": {"text": format!("m{n}")}});
                let res = client
                    .post(format!("{url}/api/v1/chat/message/send"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .expect("send");
                assert_eq!(res.status(), 200, "a send failed while the backup ran");
                let body: serde_json::Value = res.json().await.unwrap();
                acked.lock().unwrap().push(body["data"]["message_id"].as_i64().unwrap());
            }
        })
    };
    assert!(
        eventually(Duration::from_secs(20), || async { acked.lock().unwrap().len() >= 40 }).await
    );

    let out_dir = tempfile::tempdir().unwrap();
    let archive = out_dir.path().join("jim.tar.gz");
    let data_dir = env.dir.path().to_str().unwrap().to_string();
    let acked_before = acked.lock().unwrap().clone();
    let (code, stdout, stderr) =
        jim(env.dir.path(), &[("JIM_DATA_DIR", &data_dir)], &["backup", archive.to_str().unwrap()])
            .await;
    let acked_during = acked.lock().unwrap().len() - acked_before.len();
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("integrity ok"), "{stdout}");
    // The server kept serving: sends go on after the backup as before.
    let at_end = acked.lock().unwrap().len();
    assert!(
        eventually(Duration::from_secs(10), || async { acked.lock().unwrap().len() > at_end + 5 })
            .await
    );
    stop.store(true, Ordering::Relaxed);
    sender.await.unwrap();

    // A second backup to the same name is refused; a directory gets a dated name.
    let (code, _, stderr) =
        jim(env.dir.path(), &[("JIM_DATA_DIR", &data_dir)], &["backup", archive.to_str().unwrap()])
            .await;
    assert_eq!(code, 1);
    assert!(stderr.contains("DESTINATION_EXISTS"), "{stderr}");

    // Restoring over the live data directory is refused, and the server is untouched.
    let (code, _, stderr) = jim(
        env.dir.path(),
        &[("JIM_DATA_DIR", &data_dir)],
        &["restore", archive.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 1);
    assert!(stderr.contains("DATA_DIR_NOT_EMPTY"), "{stderr}");
    assert_eq!(app.get_as(&ta, "/api/v1/chat/conversations").await.0, 200);
    env.app.stop().await;

    // Restore into a new directory and serve from it.
    let fresh = tempfile::tempdir().unwrap();
    let restored = fresh.path().join("data");
    let (code, stdout, stderr) = jim(
        fresh.path(),
        &[],
        &["restore", archive.to_str().unwrap(), "--data-dir", restored.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let facts = jim::db::backup::inspect_sqlite(&restored.join("jim.db")).unwrap();
    assert_eq!(facts.integrity, "ok");

    let app = spawn_app(test_config(&restored, None)).await;
    // The secret came back too: the token issued before the backup still works.
    let ids = all_ids(&app, &ta, bob).await;
    let expected: Vec<i64> = (1..=ids.len() as i64).collect();
    assert_eq!(ids, expected, "numbered without holes");
    for id in &acked_before {
        assert!(ids.contains(id), "message {id} was acknowledged before the backup but is missing");
    }
    assert!(ids.len() >= acked_before.len());
    let res = app
        .client
        .get(format!("{}/api/v1/media/{media_id}", app.url))
        .bearer_auth(&ta)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().to_vec(), note);
    // Sending goes on from where the copy stopped.
    let r = app
        .post_as(
            &ta,
            "/api/v1/chat/message/send",
            &json!({"session_type": 1, "type": 1,
            "target_id": bob, "body": {"text": "after restore"}}),
        )
        .await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(r.1["data"]["message_id"].as_i64(), Some(ids.len() as i64 + 1));
    eprintln!("{} acknowledged before the backup, {acked_during} during it", acked_before.len());
    app.stop().await;

    // Restoring into a non-empty directory is refused too.
    let (code, _, stderr) = jim(
        fresh.path(),
        &[],
        &["restore", archive.to_str().unwrap(), "--data-dir", restored.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 1);
    assert!(stderr.contains("DATA_DIR_NOT_EMPTY"), "{stderr}");
}

#[tokio::test]
async fn a_damaged_archive_restores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.tar.gz");
    std::fs::write(&bogus, b"not an archive at all").unwrap();
    let target = dir.path().join("data");
    let (code, _, stderr) = jim(
        dir.path(),
        &[],
        &["restore", bogus.to_str().unwrap(), "--data-dir", target.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 1);
    assert!(stderr.contains("INVALID_ARCHIVE"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(&target).map(|d| d.collect()).unwrap_or_default();
    assert!(left.is_empty(), "a failed restore left {left:?}");
}

#[tokio::test]
async fn backup_in_the_scale_out_profile_says_how_instead() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = jim(
        dir.path(),
        &[("JIM_DATABASE__URL", "mysql://jim:secret@127.0.0.1:3306/jim")],
        &["backup", dir.path().join("x.tar.gz").to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stderr.contains("BACKUP_SCALE_OUT"), "{stderr}");
    assert!(stderr.contains("mariadb-dump --single-transaction"), "{stderr}");
    assert!(stderr.contains("Redis holds nothing durable"), "{stderr}");
    assert!(!dir.path().join("x.tar.gz").exists());
}
