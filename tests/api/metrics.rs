//! Prometheus metrics: a real Prometheus (Debian's package, scripts/install-prometheus.sh)
//! scrapes a running server's `[metrics] listen` address; its API answers `up == 1` and
//! counters that move; `promtool` accepts the shipped alert rules.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

/// Whether Prometheus is installed; when it is not, the test is skipped unless required
/// (CI installs it through scripts/test.sh).
fn have_prometheus() -> bool {
    let found = std::process::Command::new("prometheus")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(!scaleout_required(), "prometheus is required: run scripts/install-prometheus.sh");
        eprintln!("skipped: no prometheus (scripts/install-prometheus.sh installs it)");
    }
    found
}

fn alerts_file() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/prometheus/alerts.yml")
}

/// One instant query's first sample value, if any.
async fn query(client: &reqwest::Client, prom: &str, expr: &str) -> Option<f64> {
    let res =
        client.get(format!("{prom}/api/v1/query")).query(&[("query", expr)]).send().await.ok()?;
    let body: Value = res.json().await.ok()?;
    body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn the_shipped_alert_rules_pass_promtool() {
    if !have_prometheus() {
        return;
    }
    let out = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(alerts_file())
        .output()
        .expect("promtool");
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_metrics_listener() {
    if !have_prometheus() {
        return;
    }
    let metrics_port = free_port();
    let Some(env) = start(Profile::Embedded, |c| {
        c.metrics.listen = format!("127.0.0.1:{metrics_port}");
    })
    .await
    else {
        return;
    };
    let app = &env.app;
    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");

    // The API listener does not serve metrics; the metrics listener does.
    assert_eq!(app.client.get(format!("{}/metrics", app.url)).send().await.unwrap().status(), 404);
    let ((_, ta), (bob, _)) = friends(app, "mia", "ned").await;
    let r = app
        .post_as(
            &ta,
            "/api/v1/chat/message/send",
            &json!({"session_type": 1, "type": 1,
            "target_id": bob, "body": {"text": "counted"}}),
        )
        .await;
    assert_eq!(r.0, 200, "{}", r.1);
    let page = app.client.get(&metrics_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("jim_ready 1"), "{page}");
    assert!(
        page.contains(r#"route="/api/v1/chat/message/send""#),
        "requests are labelled by route template: {page}"
    );
    assert!(!page.contains("/api/v1/chat/message/list?"), "never raw paths");
    assert!(page.contains("jim_message_commit_seconds_bucket"), "{page}");
    assert!(page.contains("jim_logins_total{outcome=\"ok\"}"), "{page}");

    // A real Prometheus scraping it every second, with the shipped rules loaded.
    let dir = tempfile::tempdir().unwrap();
    let prom_port = free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
         scrape_configs:\n  - job_name: jim\n    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n",
        alerts_file().display()
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let mut prometheus = tokio::process::Command::new("prometheus")
        .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start prometheus");
    let prom = format!("http://127.0.0.1:{prom_port}");
    let client = reqwest::Client::new();

    let up = eventually(Duration::from_secs(40), || async {
        query(&client, &prom, r#"up{job="jim"}"#).await == Some(1.0)
    })
    .await;
    assert!(up, "Prometheus never saw up == 1");
    let sent = r#"jim_messages_stored_total{job="jim",session_type="private"}"#;
    let before = loop {
        if let Some(v) = query(&client, &prom, sent).await {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(before >= 1.0);
    for i in 0..3 {
        let r = app
            .post_as(
                &ta,
                "/api/v1/chat/message/send",
                &json!({"session_type": 1, "type": 1,
                "target_id": bob, "body": {"text": format!("more {i}")}}),
            )
            .await;
        assert_eq!(r.0, 200, "{}", r.1);
    }
    let moved = eventually(Duration::from_secs(20), || async {
        query(&client, &prom, sent).await.is_some_and(|v| v >= before + 3.0)
    })
    .await;
    assert!(moved, "the stored-messages counter did not move in Prometheus");
    let logins = query(&client, &prom, r#"sum(jim_logins_total{job="jim",outcome="ok"})"#).await;
    assert!(logins.is_some_and(|v| v >= 2.0), "{logins:?}");
    let rules: Value =
        client.get(format!("{prom}/api/v1/rules")).send().await.unwrap().json().await.unwrap();
    assert!(rules.to_string().contains("JimInstanceDown"), "the alert rules are loaded");

    let _ = prometheus.kill().await;
    env.app.stop().await;
}
