//! Both profiles start, migrate and answer `/livez` and `/readyz`; errors use the envelope.

use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl};
use serde_json::json;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_profile_starts_migrates_and_is_ready() {
    let (app, dir) = spawn_embedded().await;
    let (status, body) = app.get("/livez").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], 1);
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["database"], "ok");
    assert_eq!(body["data"]["redis"], "not configured");
    assert!(dir.path().join("jim.db").is_file(), "SQLite file under data_dir");
    let secret = std::fs::read_to_string(dir.path().join("secret.key")).unwrap();
    assert_eq!(secret.len(), 64, "a generated 32-byte secret, hex");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaleout_profile_starts_migrates_and_is_ready() {
    let Some(scale) = ScaleOut::fresh().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(scale.config(dir.path())).await;
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["database"], "ok");
    assert_eq!(body["data"]["redis"], "ok");
    // The scale-out secret lives in the shared database, not in data_dir.
    assert!(!dir.path().join("secret.key").exists());
    let status = app.state.db.migration_status().await.unwrap();
    assert!(status.pending.is_empty());
    assert!(!status.applied.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_mariadb_connections_closed_by_the_server_are_replaced() {
    let Some(scale) = ScaleOut::fresh().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(test_config(dir.path(), Some(&scale))).await;
    let (_, token) = app.user("connie").await;
    assert_eq!(app.get_as(&token, "/api/v1/profile/info").await.0, 200);

    // What a MariaDB restart or its wait_timeout does to idle pooled connections.
    let database = scale.mysql_url.rsplit('/').next().unwrap().to_string();
    let mut admin =
        AsyncMysqlConnection::establish(&format!("{}/mysql", mysql_base_url())).await.unwrap();
    let ids: Vec<i64> = diesel::sql_query(format!(
        "SELECT CAST(id AS SIGNED) AS id FROM information_schema.processlist WHERE db = '{database}'"
    ))
    .load::<ConnectionId>(&mut admin)
    .await
    .unwrap()
    .into_iter()
    .map(|row| row.id)
    .collect();
    assert!(!ids.is_empty(), "the server holds pooled connections");
    for id in ids {
        diesel::sql_query(format!("KILL CONNECTION {id}")).execute(&mut admin).await.unwrap();
    }
    // Idle past the pool's verify-after time: every killed connection is checked and replaced.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..8 {
        let (status, body) = app.get_as(&token, "/api/v1/profile/info").await;
        // On a failure, show the cause the server logged (never sent to the client).
        let causes = || {
            app.log.text().lines().filter(|l| l.contains("cause")).collect::<Vec<_>>().join("\n")
        };
        assert_eq!(status, 200, "{body}\nserver log:\n{}", causes());
    }
    assert_eq!(app.get("/readyz").await.0, 200);
    app.stop().await;
}

#[derive(diesel::QueryableByName)]
struct ConnectionId {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_answers_503_while_redis_is_down() {
    let Some(scale) = ScaleOut::fresh().await else {
        return;
    };
    let Some(mut redis) = PrivateRedis::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut config = scale.config(dir.path());
    config.redis.url = redis.url();
    let app = spawn_app(config).await;
    assert_eq!(app.get("/readyz").await.0, 200);

    redis.kill();
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "UNAVAILABLE");
    assert_eq!(body["data"]["redis"], "error");
    assert_eq!(body["data"]["database"], "ok");

    redis.restart().await.unwrap();
    let recovered =
        eventually(Duration::from_secs(10), || async { app.get("/readyz").await.0 == 200 }).await;
    assert!(recovered, "ready again once Redis is back");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_get_the_error_envelope_and_a_logged_request_id() {
    let (app, _dir) = spawn_embedded().await;
    let (status, body) = app.post("/api/v1/nope", &json!({})).await;
    assert_eq!(status, 404);
    assert_eq!(body["status"], 2);
    assert_eq!(body["code"], "NOT_FOUND");
    assert_eq!(body["data"], json!({}));
    let request_id = body["request_id"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&request_id).is_ok());

    let logged = app.log.text();
    let line = logged
        .lines()
        .find(|l| l.contains(&request_id) && l.contains("\"msg\":\"request\""))
        .unwrap_or_else(|| panic!("request line for {request_id} in {logged}"));
    let line: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(line["method"], "POST");
    assert_eq!(line["path"], "/api/v1/nope");
    assert_eq!(line["status"], 404);
    assert_eq!(line["client_ip"], "127.0.0.1");
    assert!(line["latency_ms"].is_number());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_in_query_strings_never_reach_the_log() {
    let (app, _dir) = spawn_embedded().await;
    let secret = "tok3n-Sup3rSecret-value";
    let (status, _) = app.get(&format!("/livez?token={secret}")).await;
    assert_eq!(status, 200);
    let res = app
        .client
        .get(format!("{}/readyz", app.url))
        .header("Authorization", format!("Bearer {secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let logged = app.log.text();
    assert!(logged.contains("/livez"), "the request was logged");
    assert!(!logged.contains(secret), "token leaked into logs: {logged}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_spec_and_vendored_ui_are_served() {
    let (app, _dir) = spawn_embedded().await;
    let (status, spec) = app.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/livez",
        "/readyz",
        "/api/v1/auth/captcha",
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/auth/sessions",
        "/api/v1/auth/sessions/revoke",
        "/api/v1/profile/info",
        "/api/v1/profile/update",
        "/api/v1/profile/password",
        "/api/v1/group/create",
        "/api/v1/group/join",
        "/api/v1/group/leave",
        "/api/v1/group/update",
        "/api/v1/group/transfer",
        "/api/v1/group/dissolve",
        "/api/v1/group/info",
        "/api/v1/group/mine",
        "/api/v1/group/members",
        "/api/v1/group/member/add",
        "/api/v1/group/member/update",
        "/api/v1/group/member/remove",
        "/api/v1/group/member/nickname",
        "/api/v1/group/bans",
        "/api/v1/group/unban",
        "/api/v1/group/requests",
        "/api/v1/group/request/accept",
        "/api/v1/group/request/reject",
        "/api/v1/group/invite",
        "/api/v1/group/invites",
        "/api/v1/group/invite/accept",
        "/api/v1/group/invite/reject",
        "/api/v1/group/link/create",
        "/api/v1/group/link/join",
        "/api/v1/group/link/revoke",
        "/api/v1/group/links",
        "/api/v1/friend/find",
        "/api/v1/friend/list",
        "/api/v1/friend/update",
        "/api/v1/friend/invite/add",
        "/api/v1/friend/invite/update",
        "/api/v1/friend/invite/received",
        "/api/v1/friend/invite/sent",
        "/api/v1/friend/invite/pending_count",
        "/api/v1/chat/message/send",
        "/api/v1/chat/message/rollback",
        "/api/v1/chat/message/delete",
        "/api/v1/chat/message/last",
        "/api/v1/chat/message/list",
        "/api/v1/chat/message/read",
        "/api/v1/chat/message/read_by",
        "/api/v1/chat/conversations",
        "/api/v1/chat/conversation/pin",
        "/api/v1/chat/conversation/mute",
        "/api/v1/ws",
        "/api/v1/media/upload",
        "/api/v1/media/sign",
        "/api/v1/media/{id}",
        "/api/v1/media/{id}/thumbnail",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} documented");
    }
    let page = app.client.get(format!("{}/api/docs", app.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("/api/docs/swagger-ui-bundle.js"));
    assert!(!html.contains("http://") && !html.contains("https://"), "no CDN");
    for asset in ["/api/docs/swagger-ui-bundle.js", "/api/docs/swagger-ui.css"] {
        let res = app.client.get(format!("{}{asset}", app.url)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{asset}");
        assert!(res.bytes().await.unwrap().len() > 10_000, "{asset} is the real file");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_marks_not_ready_and_ends_the_server() {
    let (app, _dir) = spawn_embedded().await;
    let state = app.state.clone();
    let url = app.url.clone();
    let stopped = tokio::time::timeout(Duration::from_secs(15), app.stop()).await;
    assert!(stopped.is_ok(), "server stops within its shutdown timeout");
    assert!(state.is_shutting_down());
    assert!(reqwest::get(format!("{url}/livez")).await.is_err(), "listener closed");
}
