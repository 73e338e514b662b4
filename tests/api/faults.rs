//! Failures of the database link, made by a TCP proxy the test owns between the server and the
//! shared MariaDB (never stopped): a lost link answers 503 `UNAVAILABLE`, never a 500 and
//! never "nothing missed"; the URL's host and port are where the server connects.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

const T: Duration = Duration::from_secs(5);

/// A scale-out app whose database link goes through a proxy; `None` when MariaDB or Redis is
/// missing (and not required).
async fn behind_proxy() -> Option<(Env, TcpProxy)> {
    let scale = ScaleOut::fresh().await?;
    let proxy = TcpProxy::for_url(&scale.mysql_url).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path(), Some(&scale));
    config.database.url = proxy.url_through(&scale.mysql_url);
    let app = spawn_app(config).await;
    Some((Env { app, dir, scale: Some(scale) }, proxy))
}

async fn friends(app: &TestApp, a: &str, b: &str) -> ((i64, String), (i64, String)) {
    let (ida, ta) = app.user(a).await;
    let (idb, tb) = app.user(b).await;
    let (_, inv) = app.post_as(&ta, "/api/v1/friend/invite/add", &json!({"user_id": idb})).await;
    let id = inv["data"]["invite"]["id"].as_i64().unwrap();
    app.post_as(&tb, "/api/v1/friend/invite/update", &json!({"id": id, "status": 1})).await;
    ((ida, ta), (idb, tb))
}

fn send_body(target: i64, text: &str) -> Value {
    json!({"session_type": 1, "type": 1, "target_id": target, "body": {"text": text}})
}

async fn say(app: &TestApp, token: &str, target: i64, text: &str) -> Value {
    let (s, body) = app.post_as(token, "/api/v1/chat/message/send", &send_body(target, text)).await;
    assert_eq!(s, 200, "{body}");
    body["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_url_is_where_the_server_connects() {
    let Some((env, proxy)) = behind_proxy().await else { return };
    let app = &env.app;
    assert_eq!(app.get("/readyz").await.0, 200);
    assert!(proxy.accepted() > 0, "connected through the proxy");
    // Were the pool's connections anywhere but through the proxy (the server's Unix socket),
    // cutting it would change nothing.
    proxy.cut();
    let (status, body) = app.get("/readyz").await;
    assert_eq!((status, body["data"]["database"].clone()), (503, json!("error")), "{body}");
    proxy.restore().await;
    assert!(eventually(T, || async { app.get("/readyz").await.0 == 200 }).await, "back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_link_answers_503_unavailable_from_the_first_request() {
    let Some((env, proxy)) = behind_proxy().await else { return };
    let app = &env.app;
    let ((a, ta), (_b, tb)) = friends(app, "lla", "llb").await;
    say(app, &tb, a, "before").await;
    // Every pooled connection (handed out oldest first) is used a moment before the cut, so
    // the next request reuses one without a check and meets the reset under its query.
    for _ in 0..2 * env.app.state.config.database.pool_size {
        assert_eq!(app.get_as(&ta, "/api/v1/friend/list").await.0, 200);
    }
    proxy.cut();
    for i in 0..3 {
        let (status, body) = app.get_as(&ta, "/api/v1/friend/list").await;
        assert_eq!((status, body["code"].clone()), (503, json!("UNAVAILABLE")), "list {i}: {body}");
        let (status, body) =
            app.post_as(&tb, "/api/v1/chat/message/send", &send_body(a, &format!("cut {i}"))).await;
        assert_eq!((status, body["code"].clone()), (503, json!("UNAVAILABLE")), "send {i}: {body}");
    }
    proxy.restore().await;
    let back = eventually(T, || async {
        app.post_as(&tb, "/api/v1/chat/message/send", &send_body(a, "after")).await.0 == 200
    })
    .await;
    assert!(back, "sends work again once the link is back");
}
