//! Failures of the database link, made by a TCP proxy the test owns between the server and the
//! shared MariaDB (never stopped): a lost link answers 503 `UNAVAILABLE`, never a 500 and
//! never "nothing missed"; the URL's host and port are where the server connects.

use std::sync::Arc;
use std::time::Duration;

use jim::domain::UserId;
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

fn send_body(target: i64, text: &str) -> Value {
    json!({"session_type": 1, "type": 1, "target_id": target, "body": {"text": text}})
}

async fn say(app: &TestApp, token: &str, target: i64, text: &str) -> Value {
    let (s, body) = app.post_as(token, "/api/v1/chat/message/send", &send_body(target, text)).await;
    assert_eq!(s, 200, "{body}");
    body["data"].clone()
}

/// Every frame until `quiet` passes without one (or the socket closes).
async fn frames(client: &mut WsClient, quiet: Duration) -> Vec<Value> {
    let mut out = Vec::new();
    while let WsEvent::Frame(f) = client.next(quiet).await {
        out.push(f);
    }
    out
}

/// Send `ask` (a `catch_up` of one conversation) until its answer reaches `to_message_id`
/// (the link may take a moment to come back); the ids of the messages that answer brought.
async fn catch_up_until(client: &mut WsClient, ask: &Value, to_message_id: i64) -> Vec<i64> {
    for _ in 0..20 {
        client.send(ask.clone()).await;
        let got = frames(client, Duration::from_millis(500)).await;
        if got
            .iter()
            .any(|f| f["type"] == "catch_up" && f["data"]["to_message_id"] == to_message_id)
        {
            return got
                .iter()
                .filter(|f| f["type"] == "chat_message")
                .map(|f| f["data"]["message_id"].as_i64().unwrap())
                .collect();
        }
    }
    panic!("no catch-up reached message {to_message_id}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_that_cannot_read_says_unavailable_not_nothing_missed() {
    let Some((env, proxy)) = behind_proxy().await else { return };
    let app = &env.app;
    let ((a, ta), (b, tb)) = friends(app, "cua", "cub").await;
    say(app, &ta, b, "one").await;
    say(app, &ta, b, "two").await;
    let mut client = WsClient::connect(app, &tb).await.unwrap();
    proxy.cut();
    let ask = json!({"type": "catch_up", "data": {"conversations": [
        {"session_type": 1, "target_id": a, "last_message_id": 0}]}});
    client.send(ask.clone()).await;
    let answer = client.expect("catch_up", T).await.expect("an answer");
    assert_eq!(answer["code"], "UNAVAILABLE", "{answer}");
    assert_eq!((answer["session_type"].clone(), answer["target_id"].clone()), (json!(1), json!(a)));
    assert!(answer.get("to_message_id").is_none(), "no claim about what was missed: {answer}");
    // Once the link is back the same request gets everything.
    proxy.restore().await;
    let ids = catch_up_until(&mut client, &ask, 3).await;
    assert_eq!(ids, vec![1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resync_that_cannot_read_a_room_tells_the_client() {
    let Some((env, proxy)) = behind_proxy().await else { return };
    let app = &env.app;
    let ((a, ta), (b, tb)) = friends(app, "rsa", "rsb").await;
    let mut client = WsClient::connect(app, &tb).await.unwrap();
    say(app, &ta, b, "live").await;
    assert_eq!(client.expect("chat_message", T).await.unwrap()["message_id"], 2);
    store_without_push(app, a, b, "lost").await;
    proxy.cut();
    app.state.hub.resync_all().await;
    let got = frames(&mut client, Duration::from_millis(800)).await;
    let kinds: Vec<&str> = got.iter().map(|f| f["type"].as_str().unwrap_or_default()).collect();
    let error = got.iter().find(|f| f["type"] == "error").unwrap_or_else(|| panic!("{got:?}"));
    assert_eq!(error["data"]["code"], "UNAVAILABLE");
    assert_eq!(error["data"]["room_id"], jim::store::private_room_id(a, b));
    assert_eq!(error["data"]["after_message_id"], 2);
    assert_eq!(kinds.last(), Some(&"resync"), "{kinds:?}");
    assert!(!kinds.contains(&"chat_message"), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_that_cannot_be_filled_is_told_and_not_marked_delivered() {
    let Some((env, proxy)) = behind_proxy().await else { return };
    let app = &env.app;
    let ((a, ta), (b, tb)) = friends(app, "gfa", "gfb").await;
    let room = jim::store::private_room_id(a, b);
    let mut client = WsClient::connect(app, &tb).await.unwrap();
    say(app, &ta, b, "live").await;
    assert_eq!(client.expect("chat_message", T).await.unwrap()["message_id"], 2);
    assert_eq!(store_without_push(app, a, b, "lost").await, 3);
    assert_eq!(store_without_push(app, a, b, "pushed late").await, 4);
    proxy.cut();
    // The push of message 4 arrives; message 3 must be read from the store first, and cannot.
    let frame =
        format!(r#"{{"type":"chat_message","data":{{"room_id":"{room}","message_id":4}}}}"#);
    let push = jim::ws::frames::ChatPush {
        room_id: Arc::from(room.as_str()),
        message_id: 4,
        frame: Arc::from(frame),
        follows: false,
    };
    let targets = jim::ws::hub::Targets::Users(vec![UserId(b)]);
    app.state.hub.deliver(targets, jim::ws::frames::Outbound::Chat(Arc::new(push)), None).await;
    let got = frames(&mut client, Duration::from_millis(800)).await;
    let error = got.iter().find(|f| f["type"] == "error").unwrap_or_else(|| panic!("{got:?}"));
    assert_eq!(error["data"]["code"], "UNAVAILABLE");
    assert_eq!(error["data"]["room_id"], room);
    assert_eq!(error["data"]["after_message_id"], 2);
    let ids: Vec<i64> = got
        .iter()
        .filter(|f| f["type"] == "chat_message")
        .map(|f| f["data"]["message_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![4]);
    // Message 3 was never delivered, so a catch-up from 2 brings it (and only it).
    proxy.restore().await;
    let ask = json!({"type": "catch_up", "data": {"conversations": [
        {"session_type": 1, "target_id": a, "last_message_id": 2}]}});
    let ids = catch_up_until(&mut client, &ask, 4).await;
    assert_eq!(ids, vec![3], "the message the failed fill left out, once");
}
