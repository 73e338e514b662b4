//! The `jim` binary as an operator uses it: help, version, config check, migrate, serve.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::helpers::*;

fn jim(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(jim_bin());
    cmd.current_dir(dir).args(args).stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("JIM_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run jim")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_names_the_compiled_in_backends() {
    let dir = tempfile::tempdir().unwrap();
    let out = jim(dir.path(), &["--version"], &[]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    for backend in ["sqlite", "mysql", "redis", env!("CARGO_PKG_VERSION")] {
        assert!(stdout.contains(backend), "{backend} in {stdout}");
    }
}

#[test]
fn every_command_explains_itself_and_usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["migrate", "status", "--help"],
        vec!["config", "--help"],
        vec!["config", "check", "--help"],
        vec!["config", "show", "--help"],
        vec!["openapi", "--help"],
    ] {
        let out = jim(dir.path(), &args, &[]);
        assert!(out.status.success(), "{args:?}");
        assert!(text(&out.stdout).len() > 80, "{args:?} prints real help");
    }
    let out = jim(dir.path(), &["frobnicate"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn config_check_accepts_the_defaults_and_the_example() {
    let dir = tempfile::tempdir().unwrap();
    let out = jim(dir.path(), &["config", "check"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("config OK"));

    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/jim.toml.example");
    let out = jim(dir.path(), &["-c", example, "config", "check"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn config_check_names_bad_keys_and_their_source() {
    let dir = tempfile::tempdir().unwrap();

    let out = jim(dir.path(), &["config", "check"], &[("JIM_DATABASE__URL", "postgres://db/jim")]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("database.url") && err.contains("environment"), "{err}");

    let out = jim(dir.path(), &["config", "check"], &[("JIM_HTTP__LISTN", "0.0.0.0:1")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("JIM_HTTP__LISTN"), "{}", text(&out.stderr));

    std::fs::write(dir.path().join("jim.toml"), "[http]\nlisen = \"x\"\n").unwrap();
    let out = jim(dir.path(), &["config", "check"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("http.lisen") && err.contains("jim.toml"), "{err}");

    std::fs::write(dir.path().join("jim.toml"), "[database]\npool_size = \"many\"\n").unwrap();
    let out = jim(dir.path(), &["config", "check"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("database.pool_size") && err.contains("jim.toml"), "{err}");

    std::fs::write(dir.path().join("jim.toml"), "this is not toml ===").unwrap();
    let out = jim(dir.path(), &["config", "check"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("jim.toml"));

    let out = jim(dir.path(), &["-c", "missing.toml", "config", "check"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing.toml"));
}

#[test]
fn config_show_redacts_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let out = jim(
        dir.path(),
        &[
            "config",
            "show",
            "-O",
            "database.url=mysql://root:hunter2@db/jim",
            "-O",
            "secret=s3cret",
        ],
        &[],
    );
    assert!(out.status.success());
    let shown = text(&out.stdout);
    assert!(
        shown.contains("****") && !shown.contains("hunter2") && !shown.contains("s3cret"),
        "{shown}"
    );
}

#[test]
fn serve_refuses_bad_config_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = jim(dir.path(), &["serve", "-O", "http.listen=nonsense"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("http.listen") && err.contains("-O override"), "{err}");

    let out = jim(
        dir.path(),
        &[
            "serve",
            "-O",
            "http.listen=127.0.0.1:0",
            "-O",
            "database.url=mysql://root@127.0.0.1:1/jim",
        ],
        &[("JIM_LOG__FORMAT", "text")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("database"), "{}", text(&out.stderr));
}

#[test]
fn migrate_and_migrate_status_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let out = jim(dir.path(), &["migrate", "status"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("0 applied"), "{}", text(&out.stdout));

    let out = jim(dir.path(), &["migrate"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("applied 2026"), "{}", text(&out.stdout));

    let out = jim(dir.path(), &["migrate"], &[]);
    assert!(text(&out.stdout).contains("nothing to apply"));
    let out = jim(dir.path(), &["migrate", "status"], &[]);
    assert!(text(&out.stdout).contains("0 pending"));
    assert!(dir.path().join("data/jim.db").is_file(), "default data_dir is ./data");
}

#[test]
fn openapi_prints_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let out = jim(dir.path(), &["openapi"], &[]);
    assert!(out.status.success());
    let spec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_prints_one_startup_line_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = tokio::process::Command::new(jim_bin());
    cmd.current_dir(dir.path())
        .args(["serve", "-O", &format!("http.listen=127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, _) in std::env::vars() {
        if k.starts_with("JIM_") {
            cmd.env_remove(k);
        }
    }
    let child = cmd.spawn().unwrap();
    let url = format!("http://127.0.0.1:{port}/livez");
    let up = eventually(Duration::from_secs(20), || async {
        reqwest::get(&url).await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(up, "jim serve answers /livez");
    let pid = child.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let out = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(out.status.success(), "clean exit");
    let stderr = text(&out.stderr);
    let startup: Vec<&str> = stderr.lines().filter(|l| l.contains("jim serving")).collect();
    assert_eq!(startup.len(), 1, "{stderr}");
    let line: serde_json::Value =
        serde_json::from_str(startup[0]).expect("JSON when not a terminal");
    assert_eq!(line["addr"], format!("127.0.0.1:{port}"));
    assert_eq!(line["profile"], "embedded");
    assert!(line["config_sources"].as_str().unwrap().contains("-O"));
    assert!(dir.path().join("data/jim.db").is_file());
    assert!(dir.path().join("data/secret.key").is_file());
}
