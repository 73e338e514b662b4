//! The WebSocket: handshake, pushes to every device, ordering and exactly-once (gap fill and
//! catch-up), client frames, slow consumers, revocation, presence, shutdown — and two
//! instances on MariaDB + Redis.

use std::collections::HashMap;
use std::time::Duration;

use jim::domain::UserId;
use serde_json::{Value, json};

use crate::helpers::*;

const T: Duration = Duration::from_secs(5);

/// Whether every one of `users` has a connection in `app`'s hub within [`T`].
async fn every_one_online(app: &TestApp, users: &[i64]) -> bool {
    eventually(T, || async {
        let online = app.state.hub.online_users().await;
        users.iter().all(|u| online.contains(&UserId(*u)))
    })
    .await
}

async fn say(app: &TestApp, token: &str, st: i16, target: i64, text: &str) -> Value {
    let (s, body) = app
        .post_as(
            token,
            "/api/v1/chat/message/send",
            &json!({"session_type": st, "type": 1, "target_id": target, "body": {"text": text}}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    body["data"].clone()
}

/// A client frame as browsers send it: masked, `fin` and `opcode` as given.
fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Read one server frame (unmasked): its opcode and payload.
async fn server_frame(stream: &mut tokio::net::TcpStream) -> (u8, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    let mut head = [0u8; 2];
    tokio::time::timeout(T, stream.read_exact(&mut head)).await.expect("a frame").unwrap();
    assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
    let len = match head[1] & 0x7f {
        126 => stream.read_u16().await.unwrap() as usize,
        127 => stream.read_u64().await.unwrap() as usize,
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await.unwrap();
    (head[0] & 0x0f, payload)
}

/// Send an HTTP request on a fresh connection, with `extra` bytes in the same write; the
/// connection and the response head.
async fn raw_request(
    app: &TestApp,
    request: &str,
    extra: &[u8],
) -> (tokio::net::TcpStream, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream =
        tokio::net::TcpStream::connect(app.url.trim_start_matches("http://")).await.unwrap();
    let mut bytes = request.as_bytes().to_vec();
    bytes.extend_from_slice(extra);
    stream.write_all(&bytes).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tokio::time::timeout(T, stream.read_exact(&mut byte)).await.expect("a response").unwrap();
        head.push(byte[0]);
    }
    (stream, String::from_utf8(head).unwrap())
}

fn upgrade_request(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

fn json_of(payload: &[u8]) -> Value {
    serde_json::from_slice(payload).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_speaks_rfc6455() {
    use tokio::io::AsyncWriteExt;
    let Some(env) = start(Profile::Embedded, |_| {}).await else {
        return;
    };
    let app = &env.app;
    let (_, token) = app.user("rfc").await;
    let path = format!("/api/v1/ws?token={token}");

    // A frame sent right behind the handshake, in the same packet, is answered.
    let ping = client_frame(true, 0x1, br#"{"type":"ping"}"#);
    let (mut ws, head) = raw_request(app, &upgrade_request(&path), &ping).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "the accept key: {head}");
    let (op, payload) = server_frame(&mut ws).await;
    assert_eq!((op, json_of(&payload)["type"].clone()), (0x1, json!("pong")));

    // A message in fragments with a ping between them: the pong comes at once, then the
    // answer to the whole message.
    let mut bytes = client_frame(false, 0x1, br#"{"type":"#);
    bytes.extend(client_frame(true, 0x9, b"hi"));
    bytes.extend(client_frame(true, 0x0, br#""ping"}"#));
    ws.write_all(&bytes).await.unwrap();
    assert_eq!(server_frame(&mut ws).await, (0xA, b"hi".to_vec()));
    let (op, payload) = server_frame(&mut ws).await;
    assert_eq!((op, json_of(&payload)["type"].clone()), (0x1, json!("pong")));

    // A binary frame gets an error frame; the connection stays.
    ws.write_all(&client_frame(true, 0x2, b"\x00\x01")).await.unwrap();
    let (_, payload) = server_frame(&mut ws).await;
    assert_eq!(json_of(&payload)["data"]["code"], "UNSUPPORTED_FRAME");

    // The client closes: the server answers with a close frame, then ends the stream.
    ws.write_all(&client_frame(true, 0x8, &1000u16.to_be_bytes())).await.unwrap();
    let (op, payload) = server_frame(&mut ws).await;
    assert_eq!((op, &payload[..2]), (0x8, &1000u16.to_be_bytes()[..]));
    let mut rest = Vec::new();
    let eof = tokio::time::timeout(T, tokio::io::AsyncReadExt::read_to_end(&mut ws, &mut rest));
    assert!(eof.await.is_ok(), "the server ends the stream");

    // A continuation with nothing to continue is a protocol error: closed with 1002.
    let (mut ws, _) = raw_request(app, &upgrade_request(&path), &[]).await;
    ws.write_all(&client_frame(true, 0x0, b"x")).await.unwrap();
    let (op, payload) = server_frame(&mut ws).await;
    assert_eq!((op, &payload[..2]), (0x8, &1002u16.to_be_bytes()[..]));

    // An upgrade anywhere else is an ordinary 404; a plain GET of the socket's path a 400.
    let (_, head) = raw_request(app, &upgrade_request("/api/v1/elsewhere"), &[]).await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let plain = app.client.get(format!("{}{path}", app.url)).send().await.unwrap();
    assert_eq!(plain.status().as_u16(), 400);
    let body: Value = plain.json().await.unwrap();
    assert_eq!(body["code"], "INVALID_PARAMS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_checks_the_token_before_upgrading() {
    let Some(env) = start(Profile::Embedded, |c| c.ws.max_connections_per_user = 2).await else {
        return;
    };
    let app = &env.app;
    let (_, token) = app.user("wsa").await;
    let (status, body) = WsClient::connect(app, "").await.err().unwrap();
    assert_eq!((status, body["code"].as_str()), (401, Some("TOKEN_EMPTY")));
    let (status, body) = WsClient::connect(app, "nonsense").await.err().unwrap();
    assert_eq!((status, body["code"].as_str()), (401, Some("TOKEN_INVALID")));

    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!("{}/api/v1/ws", app.url.replace("http://", "ws://"));
    let mut request = url.clone().into_client_request().unwrap();
    request.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let mut bearer = WsClient::connect_request(request).await.expect("Bearer header");
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("Authorization", token.parse().unwrap());
    let _raw = WsClient::connect_request(request).await.expect("raw header");
    let (status, body) = WsClient::connect(app, &token).await.err().unwrap();
    assert_eq!((status, body["code"].as_str()), (429, Some("TOO_MANY_CONNECTIONS")));

    bearer.send(json!({"type": "ping"})).await;
    assert!(bearer.expect("pong", T).await.is_some());
    // Unknown and malformed frames get an error frame; the connection stays.
    bearer.send(json!({"type": "dance"})).await;
    assert_eq!(bearer.expect("error", T).await.unwrap()["code"], "UNKNOWN_FRAME");
    bearer.send_text("{not json".into()).await;
    assert_eq!(bearer.expect("error", T).await.unwrap()["code"], "INVALID_FRAME");
    bearer.send(json!({"type": "ping"})).await;
    assert!(bearer.expect("pong", T).await.is_some(), "still open");
    // Oversized frames close the connection with 1009.
    let Some(small) = start(Profile::Embedded, |c| c.ws.max_frame_bytes = 1024).await else {
        return;
    };
    let (_, t) = small.app.user("big").await;
    let mut client = WsClient::connect(&small.app, &t).await.unwrap();
    client.send_text("x".repeat(4096)).await;
    assert_eq!(client.closed(T).await, Some(Some(1009)));
}

crate::both_profiles!(pushes_reach_every_device_in_order);

async fn pushes_reach_every_device_in_order(profile: Profile) {
    let Some(env) = start(profile, |c| c.chat.world_slow_mode_secs = 0).await else { return };
    let app = &env.app;
    let ((a, ta), (b, tb)) = friends(app, "pua", "pub").await;
    let mut a1 = WsClient::connect(app, &ta).await.unwrap();
    let mut b1 = WsClient::connect(app, &tb).await.unwrap();
    let mut b2 = WsClient::connect(app, &tb).await.unwrap();
    assert!(every_one_online(app, &[a, b]).await, "every device joined the hub");
    for i in 0..20 {
        say(app, &ta, 1, b, &format!("m{i}")).await;
    }
    for client in [&mut a1, &mut b1, &mut b2] {
        let got = client.drain("chat_message", Duration::from_millis(800)).await;
        let ids: Vec<i64> = got.iter().map(|m| m["message_id"].as_i64().unwrap()).collect();
        assert_eq!(ids, (2..=21).collect::<Vec<_>>(), "every message once, in order");
        assert_eq!(got[0]["room_id"], jim::store::private_room_id(a, b));
        assert!(got[0].get("recipient_ids").is_none(), "routing data never reaches clients");
    }
    // Group: every member's devices.
    let (_, created) = app.post_as(&ta, "/api/v1/group/create", &json!({"member_ids": [b]})).await;
    let gid = created["data"]["group_id"].as_i64().unwrap();
    say(app, &tb, 2, gid, "group hi").await;
    for client in [&mut a1, &mut b1, &mut b2] {
        let m = client.expect("chat_message", T).await.expect("group message");
        assert_eq!(m["session_type"], 2);
    }
    // World: everyone who has not switched it off.
    b2.send(json!({"type": "world", "data": {"enabled": false}})).await;
    assert!(b2.expect("world", T).await.is_some());
    say(app, &ta, 99, 1, "world hi").await;
    assert_eq!(a1.expect("chat_message", T).await.unwrap()["session_type"], 99);
    assert_eq!(b1.expect("chat_message", T).await.unwrap()["session_type"], 99);
    assert!(b2.expect("chat_message", Duration::from_millis(500)).await.is_none());

    // Typing is relayed (never stored); read marks reach my other device and the peer.
    a1.send(json!({"type": "typing", "data": {"session_type": 1, "target_id": b}})).await;
    let typing = b1.expect("typing", T).await.unwrap();
    assert_eq!(typing["user_id"], a);
    b1.send(json!({"type": "read", "data": {"session_type": 1, "target_id": a, "message_id": 21}}))
        .await;
    assert_eq!(b2.expect("read_position", T).await.unwrap()["read_message_id"], 21);
    assert_eq!(a1.expect("read_position", T).await.unwrap()["user_id"], b);
    // Recall reaches everyone.
    app.post_as(
        &ta,
        "/api/v1/chat/message/rollback",
        &json!({"session_type": 1, "target_id": b, "message_id": 21}),
    )
    .await;
    assert_eq!(b1.expect("message_recalled", T).await.unwrap()["message_id"], 21);
}

/// Typing in a group is checked like sending: relayed to the other members while the user may
/// speak, refused and not relayed when they are muted or the group was dissolved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_typing_is_relayed_only_while_the_user_may_speak() {
    let Some(env) = start(Profile::Embedded, |_| {}).await else { return };
    let app = &env.app;
    let ((a, ta), (b, tb)) = friends(app, "tya", "tyb").await;
    let (_, created) = app.post_as(&ta, "/api/v1/group/create", &json!({"member_ids": [b]})).await;
    let gid = created["data"]["group_id"].as_i64().unwrap();
    let mut a1 = WsClient::connect(app, &ta).await.unwrap();
    // A second device of the owner: typing is limited per connection.
    let mut a2 = WsClient::connect(app, &ta).await.unwrap();
    let mut b1 = WsClient::connect(app, &tb).await.unwrap();
    let typing = json!({"type": "typing", "data": {"session_type": 2, "target_id": gid}});

    a1.send(typing.clone()).await;
    let seen = b1.expect("typing", T).await.expect("relayed to the other member");
    assert_eq!((seen["user_id"].as_i64(), seen["target_id"].as_i64()), (Some(a), Some(gid)));

    let until = jim::db::now_ms() + 3_600_000;
    let mute = json!({"group_id": gid, "user_id": b, "muted_until": until});
    assert_eq!(app.post_as(&ta, "/api/v1/group/member/update", &mute).await.0, 200);
    b1.send(typing.clone()).await;
    assert_eq!(b1.expect("error", T).await.unwrap()["code"], "MEMBER_MUTED");
    assert!(a1.expect("typing", Duration::from_millis(300)).await.is_none(), "muted: not relayed");

    let dissolve = json!({"group_id": gid});
    assert_eq!(app.post_as(&ta, "/api/v1/group/dissolve", &dissolve).await.0, 200);
    a2.send(typing).await;
    assert_eq!(a2.expect("error", T).await.unwrap()["code"], "GROUP_DISSOLVED");
    assert!(
        b1.expect("typing", Duration::from_millis(500)).await.is_none(),
        "dissolved: not relayed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gaps_are_filled_and_catch_up_sends_exactly_what_was_missed() {
    let Some(env) = start(Profile::Embedded, |c| c.ws.catch_up_window = 5).await else { return };
    let app = &env.app;
    let ((a, ta), (b, tb)) = friends(app, "gpa", "gpb").await;
    for i in 0..3 {
        say(app, &ta, 1, b, &format!("offline {i}")).await;
    }
    let mut client = WsClient::connect(app, &tb).await.unwrap();
    client.send(json!({"type": "catch_up", "data": {"conversations": [{"session_type": 1, "target_id": a, "last_message_id": 2}]}})).await;
    let got = client.drain("chat_message", Duration::from_millis(500)).await;
    let ids: Vec<i64> = got.iter().map(|m| m["message_id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![3, 4]);
    // A push lost on its way (stored, never published) is filled in before the next one.
    store_without_push(app, a, b, "lost-push").await;
    say(app, &ta, 1, b, "after the gap").await;
    let got = client.drain("chat_message", Duration::from_millis(500)).await;
    let ids: Vec<i64> = got.iter().map(|m| m["message_id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![5, 6], "exactly once, in order");
    // A gap larger than the catch-up window is filled whole, a window at a time.
    for i in 0..12 {
        store_without_push(app, a, b, &format!("lost-burst-{i}")).await;
    }
    say(app, &ta, 1, b, "after the long gap").await;
    let got = client.drain("chat_message", Duration::from_millis(500)).await;
    let ids: Vec<i64> = got.iter().map(|m| m["message_id"].as_i64().unwrap()).collect();
    assert_eq!(ids, (7..=19).collect::<Vec<_>>(), "every message of the gap, once, in order");
    // A gap larger than the catch-up window is said explicitly.
    for i in 0..8 {
        say(app, &ta, 1, b, &format!("burst {i}")).await;
    }
    let mut late = WsClient::connect(app, &tb).await.unwrap();
    late.send(json!({"type": "catch_up", "data": {"conversations": [{"session_type": 1, "target_id": a, "last_message_id": 0}]}})).await;
    let mut frames = Vec::new();
    while let WsEvent::Frame(f) = late.next(Duration::from_millis(500)).await {
        frames.push(f);
    }
    let summary = frames.iter().find(|f| f["type"] == "catch_up").unwrap();
    assert_eq!(summary["data"]["truncated"], true);
    assert_eq!(summary["data"]["to_message_id"], 5);
    assert_eq!(summary["data"]["last_message_id"], 27);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_and_others_are_unaffected() {
    let Some(env) = start(Profile::Embedded, |c| c.ws.send_queue = 8).await else { return };
    let app = &env.app;
    let ((_, ta), (b, tb)) = friends(app, "sla", "slb").await;
    let mut stuck = WsClient::connect(app, &tb).await.unwrap();
    let mut healthy = WsClient::connect(app, &ta).await.unwrap();
    // 12 KB per message: the socket buffers fill, then the 8-frame queue.
    let big = "汉".repeat(4000);
    let reader = tokio::spawn(async move {
        let mut n = 0;
        while healthy.expect("chat_message", Duration::from_secs(3)).await.is_some() {
            n += 1;
        }
        n
    });
    for _ in 0..3000 {
        say(app, &ta, 1, b, &big).await;
        if !app.state.hub.online_users().await.contains(&UserId(b)) {
            break;
        }
    }
    assert!(
        !app.state.hub.online_users().await.contains(&UserId(b)),
        "the stuck client was dropped"
    );
    let delivered = reader.await.unwrap();
    assert!(delivered >= 1, "the healthy client kept receiving");
    assert_eq!(stuck.closed(Duration::from_secs(20)).await, Some(Some(1008)));
}

crate::both_profiles!(revocation_closes_sockets_and_presence_reaches_friends);

async fn revocation_closes_sockets_and_presence_reaches_friends(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let ((a, ta), (_b, tb)) = friends(app, "rva", "rvb").await;
    let mut watcher = WsClient::connect(app, &tb).await.unwrap();
    let mut a1 = WsClient::connect(app, &ta).await.unwrap();
    let online = watcher.expect("presence", T).await.unwrap();
    assert_eq!((online["user_id"].as_i64(), online["online_status"].as_i64()), (Some(a), Some(1)));
    let started = std::time::Instant::now();
    assert_eq!(app.post_as(&ta, "/api/v1/auth/logout", &json!({})).await.0, 200);
    assert_eq!(a1.expect("kicked", T).await.unwrap()["reason"], "logout");
    assert_eq!(a1.closed(T).await, Some(Some(4001)));
    assert!(started.elapsed() < Duration::from_secs(2));
    let offline = watcher.expect("presence", T).await.unwrap();
    assert_eq!(offline["online_status"], 0);
    // A change of chosen status reaches friends; invisible shows as offline.
    let ta = app.login("rva", "passw0rd-ok").await;
    let mut a2 = WsClient::connect(app, &ta).await.unwrap();
    assert_eq!(watcher.expect("presence", T).await.unwrap()["online_status"], 1);
    app.post_as(&ta, "/api/v1/profile/update", &json!({"online_status": 2})).await;
    assert_eq!(watcher.expect("presence", T).await.unwrap()["online_status"], 2, "away");
    app.post_as(&ta, "/api/v1/profile/update", &json!({"online_status": 4})).await;
    assert_eq!(watcher.expect("presence", T).await.unwrap()["online_status"], 0, "invisible");
    let (_, list) = app.get_as(&tb, "/api/v1/friend/list").await;
    assert_eq!(list["data"][0]["online_status"], 0);
    a2.send(json!({"type": "ping"})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_sockets_with_1001() {
    let Some(env) = start(Profile::Embedded, |_| {}).await else { return };
    let (_, token) = env.app.user("sda").await;
    let mut client = WsClient::connect(&env.app, &token).await.unwrap();
    let app = env.app;
    let stopping = tokio::spawn(app.stop());
    assert_eq!(client.closed(T).await, Some(Some(1001)));
    tokio::time::timeout(Duration::from_secs(10), stopping).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_reaped() {
    let Some(env) = start(Profile::Embedded, |c| {
        c.ws.ping_interval_secs = 1;
        c.ws.idle_timeout_secs = 2;
    })
    .await
    else {
        return;
    };
    let (id, token) = env.app.user("idl").await;
    // A raw TCP connection that completes the handshake and then never answers pings.
    let client = WsClient::connect(&env.app, &token).await.unwrap();
    assert!(env.app.state.hub.online_users().await.contains(&UserId(id)));
    let reaped = eventually(Duration::from_secs(8), || async {
        !env.app.state.hub.online_users().await.contains(&UserId(id))
    })
    .await;
    assert!(reaped, "half-open peer reaped");
    drop(client);
}

/// Two instances on MariaDB + Redis: 50 clients over both, private and group traffic, every
/// client receives every message addressed to it exactly once, in order per conversation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_fifty_clients_exactly_once_in_order() {
    let Some(scale) = ScaleOut::fresh().await else { return };
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = spawn_app(test_config(da.path(), Some(&scale))).await;
    let b = spawn_app(test_config(db.path(), Some(&scale))).await;
    let (owner, owner_token) = a.user("hub0").await;
    let mut users = vec![(owner, owner_token.clone())];
    for i in 1..50 {
        let (id, t) = a.user(&format!("hub{i}")).await;
        let (_, inv) =
            a.post_as(&owner_token, "/api/v1/friend/invite/add", &json!({"user_id": id})).await;
        let iid = inv["data"]["invite"]["id"].as_i64().unwrap();
        a.post_as(&t, "/api/v1/friend/invite/update", &json!({"id": iid, "status": 1})).await;
        users.push((id, t));
    }
    let ids: Vec<i64> = users[1..].iter().map(|u| u.0).collect();
    let (_, created) =
        a.post_as(&owner_token, "/api/v1/group/create", &json!({"member_ids": ids})).await;
    let gid = created["data"]["group_id"].as_i64().unwrap();
    let mut clients = Vec::new();
    for (i, (id, t)) in users.iter().enumerate() {
        let instance = if i % 2 == 0 { &a } else { &b };
        clients.push((*id, WsClient::connect(instance, t).await.unwrap()));
    }
    let on_a: Vec<i64> = users.iter().step_by(2).map(|u| u.0).collect();
    let on_b: Vec<i64> = users.iter().skip(1).step_by(2).map(|u| u.0).collect();
    assert!(every_one_online(&a, &on_a).await, "every client joined instance a's hub");
    assert!(every_one_online(&b, &on_b).await, "every client joined instance b's hub");
    // Group messages from members on both instances, and private messages to the owner.
    let sends = users.iter().enumerate().take(20).map(|(i, (_, t))| {
        let instance = if i % 2 == 0 { &a } else { &b };
        let t = t.clone();
        async move {
            for n in 0..3 {
                say(instance, &t, 2, gid, &format!("g{i}-{n}")).await;
                if i > 0 {
                    say(instance, &t, 1, owner, &format!("p{i}-{n}")).await;
                }
            }
        }
    });
    futures_util::future::join_all(sends).await;
    // Every client reads concurrently (a client that stops reading would be reaped).
    let per_client: Vec<(i64, HashMap<String, Vec<i64>>)> =
        futures_util::future::join_all(clients.iter_mut().map(|(id, client)| async move {
            let mut rooms: HashMap<String, Vec<i64>> = HashMap::new();
            for m in client.drain("chat_message", Duration::from_millis(1500)).await {
                let room = m["room_id"].as_str().unwrap().to_string();
                rooms.entry(room).or_default().push(m["message_id"].as_i64().unwrap());
            }
            (*id, rooms)
        }))
        .await;
    let group_room = jim::store::group_room_id(gid);
    for (id, rooms) in &per_client {
        assert_eq!(
            rooms.get(&group_room),
            Some(&(1..=60).collect::<Vec<_>>()),
            "user {id}: group messages"
        );
        if *id == owner {
            for (room, got) in rooms.iter().filter(|(r, _)| **r != group_room) {
                assert_eq!(got, &(2..=4).collect::<Vec<_>>(), "owner's private room {room}");
            }
            assert_eq!(rooms.len(), 20, "19 private rooms + the group");
        }
    }
    // Revocation closes the user's sockets on both instances within 2 s.
    let (victim, vt) = &users[3];
    let mut other_side = WsClient::connect(&a, vt).await.unwrap();
    let started = std::time::Instant::now();
    let out = std::process::Command::new(jim_bin())
        .args(["user", "disable", &victim.to_string(), "--yes"])
        .env("JIM_DATABASE__URL", &scale.mysql_url)
        .env("JIM_REDIS__URL", &scale.redis_url)
        .env("JIM_SERVER_NAME", &scale.server_name)
        .env("JIM_DATA_DIR", da.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let on_b = &mut clients[3].1;
    assert_eq!(on_b.closed(Duration::from_secs(3)).await, Some(Some(4001)));
    assert_eq!(other_side.closed(Duration::from_secs(3)).await, Some(Some(4001)));
    assert!(started.elapsed() < Duration::from_secs(3));
    a.stop().await;
    b.stop().await;
}

/// Redis dies mid-traffic: sends keep committing, and afterwards every client has every
/// message (live, by gap fill, or by catch-up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_when_redis_restarts_mid_traffic() {
    let Some(scale) = ScaleOut::fresh().await else { return };
    let Some(mut redis) = PrivateRedis::start().await else { return };
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut config = test_config(da.path(), Some(&scale));
    config.redis.url = redis.url();
    let a = spawn_app(config.clone()).await;
    config.data_dir = db.path().to_path_buf();
    let b = spawn_app(config).await;
    let ((sender, ts), (receiver, tr)) = friends(&a, "rda", "rdb").await;
    let mut client = WsClient::connect(&b, &tr).await.unwrap();
    // A client catches up once on connect, then lives on pushes (gaps filled by message id).
    client.send(json!({"type": "catch_up", "data": {"conversations": [{"session_type": 1, "target_id": sender, "last_message_id": 0}]}})).await;
    let mut ids: Vec<i64> = Vec::new();
    loop {
        match client.next(T).await {
            WsEvent::Frame(f) if f["type"] == "chat_message" => {
                ids.push(f["data"]["message_id"].as_i64().unwrap())
            }
            WsEvent::Frame(f) if f["type"] == "catch_up" => break,
            WsEvent::Frame(_) => continue,
            other => panic!("no catch_up answer: {other:?}"),
        }
    }
    assert!(every_one_online(&b, &[receiver]).await, "the receiver joined instance b's hub");
    assert!(b.state.bus.wait_subscribed(Duration::from_secs(10)).await);
    for i in 0..5 {
        say(&a, &ts, 1, receiver, &format!("before {i}")).await;
    }
    redis.kill();
    for i in 0..5 {
        let (s, body) = a
            .post_as(&ts, "/api/v1/chat/message/send", &json!({"session_type": 1, "type": 1, "target_id": receiver, "body": {"text": format!("during {i}")}}))
            .await;
        assert_eq!(s, 200, "sends keep being committed while Redis is down: {body}");
    }
    redis.restart().await.unwrap();
    assert!(b.state.bus.wait_subscribed(Duration::from_secs(10)).await);
    assert!(
        eventually(Duration::from_secs(10), || async { a.state.bus.ping().await.is_ok() }).await
    );
    say(&a, &ts, 1, receiver, "after").await;
    let got = client.drain("chat_message", Duration::from_millis(1500)).await;
    ids.extend(got.iter().map(|m| m["message_id"].as_i64().unwrap()));
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "in order");
    assert_eq!(ids, (1..=12).collect::<Vec<_>>(), "greeting + 11, none twice");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_with_catch_up_never_reorders_and_resync_fills_lost_pushes() {
    let Some(env) = start(Profile::Embedded, |_| {}).await else { return };
    let app = &env.app;
    let ((a, ta), (b, tb)) = friends(app, "roa", "rob").await;
    // A live push lands between connecting and the client's catch_up frame.
    let mut client = WsClient::connect_catching_up(app, &tb).await.unwrap();
    // A frame without history (the friend coming online) goes at once and does not end the
    // wait for the catch-up.
    let _a_online = WsClient::connect(app, &ta).await.unwrap();
    // Fixed waits: the presence frame, then the live push, must reach the held connection
    // before its catch_up, and nothing outside the socket under test shows when they have.
    tokio::time::sleep(Duration::from_millis(300)).await;
    say(app, &ta, 1, b, "live").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    client.send(json!({"type": "catch_up", "data": {"conversations": [{"session_type": 1, "target_id": a, "last_message_id": 0}]}})).await;
    let mut kinds = Vec::new();
    let mut ids = Vec::new();
    while let WsEvent::Frame(f) = client.next(Duration::from_millis(800)).await {
        kinds.push(f["type"].as_str().unwrap_or_default().to_string());
        if f["type"] == "chat_message" {
            ids.push(f["data"]["message_id"].as_i64().unwrap());
        }
    }
    assert_eq!(kinds.first().map(String::as_str), Some("presence"), "{kinds:?}");
    assert_eq!(ids, vec![1, 2], "history first, then the live message, each once");

    // A push lost at the end of a room (nothing newer follows) comes back on resync.
    store_without_push(app, a, b, "lost-at-the-end").await;
    app.state.bus.publish(jim::bus::Event::Resync { reason: "test".into() }).await.unwrap();
    let m = client.expect("chat_message", T).await.expect("refilled");
    assert_eq!(m["message_id"], 3);
    assert!(client.expect("resync", T).await.is_some(), "told to refresh conversations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_bounded_by_bytes_too() {
    // So many frames may wait that only the byte bound (`ws.send_queue_bytes`, 4 MiB by
    // default) can stop this socket's queue from holding everything sent to it.
    let Some(env) = start(Profile::Embedded, |c| c.ws.send_queue = 1_000_000).await else {
        return;
    };
    let app = &env.app;
    let ((_, ta), (b, tb)) = friends(app, "bya", "byb").await;
    let mut stuck = WsClient::connect(app, &tb).await.unwrap();
    // 12 KB per message; 2,000 of them (24 MB) are far more than the socket buffers, the
    // write buffer and 4 MiB together.
    let big = "汉".repeat(4000);
    let mut sent = 0;
    while sent < 2000 && app.state.hub.online_users().await.contains(&UserId(b)) {
        say(app, &ta, 1, b, &big).await;
        sent += 1;
    }
    assert!(
        !app.state.hub.online_users().await.contains(&UserId(b)),
        "dropped after {sent} messages"
    );
    assert_eq!(stuck.closed(Duration::from_secs(20)).await, Some(Some(1008)));
}
