//! Chat: the delivery contract through the HTTP API on both profiles (and two instances).

use std::collections::BTreeSet;
use std::time::Duration;

use jim::bus::Event;
use jim::domain::UserId;
use serde_json::{Value, json};

use crate::helpers::*;

const T: Duration = Duration::from_secs(5);

async fn send(
    app: &TestApp,
    token: &str,
    session_type: i16,
    target: i64,
    body: Value,
) -> (u16, Value) {
    app.post_as(
        token,
        "/api/v1/chat/message/send",
        &json!({"session_type": session_type, "type": 1,
        "target_id": target, "body": body}),
    )
    .await
}

async fn text(app: &TestApp, token: &str, session_type: i16, target: i64, text: &str) -> Value {
    let r = send(app, token, session_type, target, json!({"text": text})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    r.1["data"].clone()
}

/// Send a text under `action_id`; it must be stored.
async fn text_under(
    app: &TestApp,
    token: &str,
    session_type: i16,
    target: i64,
    action_id: String,
    text: &str,
) {
    let body = json!({"session_type": session_type, "type": 1, "target_id": target,
        "action_id": action_id, "body": {"text": text}});
    let r = app.post_as(token, "/api/v1/chat/message/send", &body).await;
    assert_eq!(r.0, 200, "{}", r.1);
}

/// All message ids of a conversation, read forwards in pages of 50.
async fn all_ids(app: &TestApp, token: &str, session_type: i16, target: i64) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut after = 0;
    loop {
        let (s, page) = app
            .get_as(token, &format!("/api/v1/chat/message/list?session_type={session_type}&target_id={target}&after_message_id={after}&limit=50"))
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

crate::both_profiles!(
    send_validates_every_type,
    sends_are_idempotent_and_numbered,
    history_pages_and_tombstones,
    group_and_world_rules,
    conversations_read_marks_pin_mute,
    recall_rules,
    action_id_reused_for_another_message_is_refused,
    read_marks_reach_only_those_who_may_see_them,
    group_read_positions_reach_the_senders_read,
);

/// A read mark takes the right to read the conversation, and reaches the other party of a
/// private chat only while the two may write to each other.
async fn read_marks_reach_only_those_who_may_see_them(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let ((q, tq), (f, tf)) = friends(app, "quinn", "fay").await;
    let (s, ts) = app.user("sam").await;
    text(app, &tq, 1, f, "hello fay").await;
    let mut q_socket = WsClient::connect(app, &tq).await.unwrap();
    let mut s_socket = WsClient::connect(app, &ts).await.unwrap();
    let mut f_socket = WsClient::connect(app, &tf).await.unwrap();
    let quiet = Duration::from_millis(600);
    let read = |target: i64| json!({"session_type": 1, "target_id": target, "message_id": 1});

    // A stranger's read frame (and read call) for Q: nothing to read, nothing stored, nobody told.
    s_socket.send(json!({"type": "read", "data": read(q)})).await;
    let r = app.post_as(&ts, "/api/v1/chat/message/read", &read(q)).await;
    assert_eq!((r.0, r.1["data"]["read_message_id"].as_i64()), (200, Some(0)), "{}", r.1);
    assert!(q_socket.drain("read_position", quiet).await.is_empty(), "the stranger reached Q");
    let (_, convs) = app.get_as(&ts, "/api/v1/chat/conversations").await;
    assert_eq!(convs["data"].as_array().map(Vec::len), Some(0), "{convs}");
    let _ = s;

    // A friend's read mark reaches the peer...
    let r = app.post_as(&tf, "/api/v1/chat/message/read", &read(q)).await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(q_socket.expect("read_position", T).await.expect("peer told")["user_id"], f);
    assert!(f_socket.expect("read_position", T).await.is_some(), "own devices told");
    let peer_read = |convs: Value| {
        convs["data"].as_array().unwrap().iter().find(|c| c["target_id"] == f).unwrap()
            ["peer_read_message_id"]
            .clone()
    };
    assert_eq!(peer_read(app.get_as(&tq, "/api/v1/chat/conversations").await.1), json!(1));
    // ...until Q blocks F: F keeps their own read position; Q hears nothing of it.
    let r =
        app.post_as(&tq, "/api/v1/friend/update", &json!({"user_id": f, "block_status": 0})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    let r = app.post_as(&tf, "/api/v1/chat/message/read", &read(q)).await;
    assert_eq!(r.0, 200, "{}", r.1);
    f_socket.send(json!({"type": "read", "data": read(q)})).await;
    assert!(q_socket.drain("read_position", quiet).await.is_empty(), "the blocked user reached Q");
    assert!(f_socket.expect("read_position", T).await.is_some(), "own devices still told");
    assert_eq!(
        peer_read(app.get_as(&tq, "/api/v1/chat/conversations").await.1),
        Value::Null,
        "nor does Q's conversation list show it"
    );
}

/// A group's read positions are listed for its members, and a member's read mark reaches the
/// members whose messages it covers (so their "read by N" counts up live), nobody else.
async fn group_read_positions_reach_the_senders_read(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let ((o, to), (p, tp)) = friends(app, "olga", "pia").await;
    let (r, tr) = app.user("rui").await;
    befriend(app, (o, &to), (r, &tr)).await;
    let (s, created) =
        app.post_as(&to, "/api/v1/group/create", &json!({"member_ids": [p, r]})).await;
    assert_eq!(s, 200, "{created}");
    let gid = created["data"]["group_id"].as_i64().unwrap();
    let positions = |t: String| async move {
        let r = app
            .get_as(&t, &format!("/api/v1/chat/read_positions?session_type=2&target_id={gid}"))
            .await;
        assert_eq!(r.0, 200, "{}", r.1);
        r.1["data"].clone()
    };
    assert_eq!(positions(to.clone()).await, json!([]), "nobody has read anything");
    let first = text(app, &to, 2, gid, "one from olga").await["message_id"].as_i64().unwrap();
    let second = text(app, &tp, 2, gid, "one from pia").await["message_id"].as_i64().unwrap();
    let mut o_socket = WsClient::connect(app, &to).await.unwrap();
    let mut p_socket = WsClient::connect(app, &tp).await.unwrap();
    let quiet = Duration::from_millis(600);
    let read = |id: i64| json!({"session_type": 2, "target_id": gid, "message_id": id});

    // Rui reads Olga's message only: Olga is told, Pia (whose message is unread) is not.
    let m = app.post_as(&tr, "/api/v1/chat/message/read", &read(first)).await;
    assert_eq!(m.0, 200, "{}", m.1);
    let told = o_socket.expect("read_position", T).await.expect("the sender is told");
    assert_eq!(
        (told["user_id"].as_i64(), told["read_message_id"].as_i64()),
        (Some(r), Some(first))
    );
    assert_eq!(told["session_type"], 2);
    assert!(p_socket.drain("read_position", quiet).await.is_empty(), "Pia's message is unread");
    assert_eq!(positions(to.clone()).await, json!([{"user_id": r, "read_message_id": first}]));

    // Then Pia's too: Pia is told, Olga (nothing of hers newly read) is not.
    let m = app.post_as(&tr, "/api/v1/chat/message/read", &read(second)).await;
    assert_eq!(m.0, 200, "{}", m.1);
    let told = p_socket.expect("read_position", T).await.expect("the sender is told");
    assert_eq!(
        (told["user_id"].as_i64(), told["read_message_id"].as_i64()),
        (Some(r), Some(second))
    );
    assert!(
        o_socket.drain("read_position", quiet).await.is_empty(),
        "nothing of Olga's newly read"
    );
    // The same mark again moves nothing and tells nobody else.
    app.post_as(&tr, "/api/v1/chat/message/read", &read(second)).await;
    assert!(p_socket.drain("read_position", quiet).await.is_empty(), "a repeated mark is quiet");

    // Pia reads her way too (through her socket): Olga is told; the list leaves out the asker.
    p_socket.send(json!({"type": "read", "data": read(second)})).await;
    let told = o_socket.expect("read_position", T).await.expect("the sender is told");
    assert_eq!(told["user_id"].as_i64(), Some(p));
    let seen_by_olga = positions(to.clone()).await;
    assert_eq!(
        seen_by_olga,
        json!([{"user_id": p.min(r), "read_message_id": second},
            {"user_id": p.max(r), "read_message_id": second}])
    );
    let seen_by_pia = positions(tp.clone()).await;
    assert_eq!(seen_by_pia, json!([{"user_id": r, "read_message_id": second}]));

    // Only members may ask, and only of groups.
    let (_, tx) = app.user("xan").await;
    let r = app
        .get_as(&tx, &format!("/api/v1/chat/read_positions?session_type=2&target_id={gid}"))
        .await;
    assert_eq!(code(&r), (403, Some("NOT_GROUP_MEMBER")));
    let r =
        app.get_as(&to, &format!("/api/v1/chat/read_positions?session_type=1&target_id={p}")).await;
    assert_eq!(code(&r), (400, Some("INVALID_SESSION_TYPE")));
}

/// A used `action_id` answers a retry of the same message with that message, and refuses a
/// different message (other conversation, type or body) with 409, storing nothing.
async fn action_id_reused_for_another_message_is_refused(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let ((_, ta), (b, _)) = friends(app, "kim", "lee").await;
    let (c, tc) = app.user("moe").await;
    let send_with = |target: i64, kind: i16, body: Value| json!({"session_type": 1, "type": kind, "target_id": target, "action_id": "same-key", "body": body});
    let first = app
        .post_as(&ta, "/api/v1/chat/message/send", &send_with(b, 1, json!({"text": "one"})))
        .await;
    assert_eq!(first.0, 200, "{}", first.1);
    let retry = app
        .post_as(&ta, "/api/v1/chat/message/send", &send_with(b, 1, json!({"text": "one"})))
        .await;
    assert_eq!(retry.1["data"], first.1["data"], "a retry gets the first answer");

    // A friend of both, so that the other conversation is one the sender may write to.
    let (_, inv) = app.post_as(&ta, "/api/v1/friend/invite/add", &json!({"user_id": c})).await;
    let iid = inv["data"]["invite"]["id"].as_i64().unwrap();
    app.post_as(&tc, "/api/v1/friend/invite/update", &json!({"id": iid, "status": 1})).await;
    let (with_b, with_c) = (all_ids(app, &ta, 1, b).await, all_ids(app, &ta, 1, c).await);
    let other_room = app
        .post_as(&ta, "/api/v1/chat/message/send", &send_with(c, 1, json!({"text": "one"})))
        .await;
    assert_eq!(code(&other_room), (409, Some("ACTION_ID_REUSED")), "{}", other_room.1);
    let other_body = app
        .post_as(&ta, "/api/v1/chat/message/send", &send_with(b, 1, json!({"text": "two"})))
        .await;
    assert_eq!(code(&other_body), (409, Some("ACTION_ID_REUSED")), "{}", other_body.1);
    let other_type = app
        .post_as(
            &ta,
            "/api/v1/chat/message/send",
            &send_with(b, 5, json!({"latitude": 1.5, "longitude": 2.5})),
        )
        .await;
    assert_eq!(code(&other_type), (409, Some("ACTION_ID_REUSED")), "{}", other_type.1);
    assert_eq!(all_ids(app, &ta, 1, b).await, with_b, "nothing else stored with b");
    assert_eq!(all_ids(app, &ta, 1, c).await, with_c, "nothing stored with c");
}

async fn send_validates_every_type(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let ((a, ta), (b, _)) = friends(app, "ann", "ben").await;
    let (c, _) = app.user("cid").await;
    let mut events = app.state.bus.subscribe();
    let m = text(app, &ta, 1, b, "hello").await;
    assert_eq!(m["room_id"], jim::store::private_room_id(a, b));
    assert_eq!(m["message_id"], 2, "the greeting was message 1");
    assert_eq!(m["sender_id"], a);
    assert_eq!(m["receiver_id"], b);
    assert_eq!(m["type"], 1);
    // Published after commit, to both parties, with the stored ids.
    let pushed = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            if let Ok(msg) = events.recv().await
                && let Event::ChatMessage { message, recipient_ids } = &msg.event
                && message.message_id == 2
            {
                return (message.clone(), recipient_ids.clone());
            }
        }
    })
    .await
    .expect("pushed");
    assert_eq!(pushed.0.id, m["id"].as_str().unwrap());
    assert_eq!(pushed.1, vec![UserId(a.min(b)), UserId(a.max(b))]);

    let ok = [
        (
            2,
            json!({"src": "https://cdn.example.com/a.png", "format": "png", "size": "2048", "junk": 1}),
        ),
        (3, json!({"src": "https://cdn.example.com/a.mp3", "duration": 12.5})),
        (4, json!({"src": "http://cdn.example.com/a.mp4"})),
        (
            5,
            json!({"latitude": "31.2304", "longitude": 121.4737, "scale": 12, "location_label": "Shanghai"}),
        ),
        (6, json!({"src": "https://cdn.example.com/report.pdf", "name": "report.pdf", "size": 10})),
        (7, json!({"code": "smile"})),
    ];
    for (t, body) in ok {
        let r = app
            .post_as(
                &ta,
                "/api/v1/chat/message/send",
                &json!({"session_type": 1, "type": t, "target_id": b, "body": body}),
            )
            .await;
        assert_eq!(r.0, 200, "type {t}: {}", r.1);
        assert!(r.1["data"]["body"].get("junk").is_none(), "unknown fields are dropped");
    }
    let long_chars = "x".repeat(4001);
    let long_bytes = "é".repeat(3000) + &"汉".repeat(3000);
    let bad = [
        (
            json!({"session_type": 3, "type": 1, "target_id": b, "body": {"text": "x"}}),
            (400, Some("INVALID_SESSION_TYPE")),
        ),
        (
            json!({"session_type": 1, "type": 9, "target_id": b, "body": {"text": "x"}}),
            (400, Some("INVALID_TYPE")),
        ),
        (
            json!({"session_type": 1, "type": 1, "target_id": 0, "body": {"text": "x"}}),
            (400, Some("INVALID_TARGET_ID")),
        ),
        (
            json!({"session_type": 1, "type": 1, "target_id": a, "body": {"text": "x"}}),
            (400, Some("CHAT_WITH_SELF")),
        ),
        (
            json!({"session_type": 1, "type": 1, "target_id": b, "body": {"text": "  "}}),
            (400, Some("INVALID_BODY")),
        ),
        (
            json!({"session_type": 1, "type": 1, "target_id": b, "body": {"text": long_chars}}),
            (400, Some("INVALID_BODY")),
        ),
        (
            json!({"session_type": 1, "type": 1, "target_id": b, "body": {"text": long_bytes}}),
            (400, Some("INVALID_BODY")),
        ),
        (
            json!({"session_type": 1, "type": 1, "target_id": b, "body": "text"}),
            (400, Some("INVALID_BODY")),
        ),
        (
            json!({"session_type": 1, "type": 2, "target_id": b, "body": {"src": "javascript:alert(1)"}}),
            (400, Some("INVALID_BODY")),
        ),
        (
            json!({"session_type": 1, "type": 5, "target_id": b, "body": {"latitude": 91, "longitude": 0}}),
            (400, Some("INVALID_BODY")),
        ),
        (
            json!({"session_type": 1, "type": 6, "target_id": b, "body": {"src": "https://x.io/f"}}),
            (400, Some("INVALID_BODY")),
        ),
        (
            json!({"session_type": 1, "type": 1, "target_id": b, "action_id": "x".repeat(65), "body": {"text": "x"}}),
            (400, Some("INVALID_ACTION_ID")),
        ),
        (
            json!({"session_type": 1, "type": 1, "target_id": c, "body": {"text": "x"}}),
            (403, Some("NOT_FRIENDS")),
        ),
        (json!({"session_type": "one"}), (400, Some("INVALID_PARAMS"))),
    ];
    for (body, expected) in bad {
        let r = app.post_as(&ta, "/api/v1/chat/message/send", &body).await;
        assert_eq!(code(&r), expected, "{body}");
    }
}

async fn sends_are_idempotent_and_numbered(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let ((_, ta), (b, _)) = friends(app, "dan", "eve").await;
    let body = json!({"session_type": 1, "type": 1, "target_id": b, "action_id": "act-1", "body": {"text": "once"}});
    let first = app.post_as(&ta, "/api/v1/chat/message/send", &body).await;
    let again = app.post_as(&ta, "/api/v1/chat/message/send", &body).await;
    assert_eq!(first.1["data"], again.1["data"], "a retry returns the original");
    let racing = futures_util::future::join_all((0..8).map(|_| {
        let body = json!({"session_type": 1, "type": 1, "target_id": b, "action_id": "act-2", "body": {"text": "race"}});
        let ta = ta.clone();
        async move { app.post_as(&ta, "/api/v1/chat/message/send", &body).await }
    }))
    .await;
    let distinct: BTreeSet<String> = racing.iter().map(|r| r.1["data"].to_string()).collect();
    assert_eq!(distinct.len(), 1, "{racing:?}");
    assert_eq!(all_ids(app, &ta, 1, b).await, vec![1, 2, 3]);

    // Two instances: twenty concurrent senders into one group and one private pair.
    let Some(scale) = env.scale.clone() else {
        eprintln!("two-instance part not run: the embedded profile has no database to share");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let other = spawn_app(test_config(dir.path(), Some(&scale))).await;
    let (owner, to) = app.user("own").await;
    let mut members = Vec::new();
    for i in 0..19 {
        let (id, t) = app.user(&format!("mem{i}")).await;
        let (_, inv) = app.post_as(&to, "/api/v1/friend/invite/add", &json!({"user_id": id})).await;
        let iid = inv["data"]["invite"]["id"].as_i64().unwrap();
        app.post_as(&t, "/api/v1/friend/invite/update", &json!({"id": iid, "status": 1})).await;
        members.push((id, t));
    }
    let ids: Vec<i64> = members.iter().map(|m| m.0).collect();
    let (s, created) = app.post_as(&to, "/api/v1/group/create", &json!({"member_ids": ids})).await;
    assert_eq!(s, 200, "{created}");
    let gid = created["data"]["group_id"].as_i64().unwrap();
    members.push((owner, to.clone()));
    let sends = members.iter().enumerate().map(|(i, (_, t))| {
        let instance = if i % 2 == 0 { app } else { &other };
        let t = t.clone();
        async move {
            for n in 0..5 {
                text_under(instance, &t, 2, gid, format!("g-{i}-{n}"), "hi").await;
            }
        }
    });
    let ((a2, ta2), (b2, tb2)) = friends(app, "pal", "pbl").await;
    let private = (0..20).map(|i| {
        let (instance, t, target) =
            if i % 2 == 0 { (app, ta2.clone(), b2) } else { (&other, tb2.clone(), a2) };
        async move { text_under(instance, &t, 1, target, format!("p-{i}"), "yo").await }
    });
    tokio::join!(futures_util::future::join_all(sends), futures_util::future::join_all(private));
    assert_eq!(all_ids(app, &to, 2, gid).await, (1..=100).collect::<Vec<_>>());
    assert_eq!(all_ids(&other, &ta2, 1, b2).await, (1..=21).collect::<Vec<_>>(), "greeting + 20");
    // The same action id raced on both instances: one stored message, identical answers.
    let body = json!({"session_type": 1, "type": 1, "target_id": b2, "action_id": "cross", "body": {"text": "x"}});
    let (r1, r2) = tokio::join!(
        app.post_as(&ta2, "/api/v1/chat/message/send", &body),
        other.post_as(&ta2, "/api/v1/chat/message/send", &body)
    );
    assert_eq!((r1.0, r2.0), (200, 200));
    assert_eq!(r1.1["data"], r2.1["data"]);
    assert_eq!(all_ids(app, &ta2, 1, b2).await.len(), 22);
    other.stop().await;
}

async fn history_pages_and_tombstones(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let ((_a, ta), (b, tb)) = friends(app, "fox", "gil").await;
    for i in 0..119 {
        text(app, &ta, 1, b, &format!("m{i}")).await;
    }
    let forward = all_ids(app, &ta, 1, b).await;
    assert_eq!(forward, (1..=120).collect::<Vec<_>>());
    // Backwards in pages of 50.
    let mut back = Vec::new();
    let mut before = i64::MAX;
    loop {
        let (_, page) = app
            .get_as(&ta, &format!("/api/v1/chat/message/list?session_type=1&target_id={b}&before_message_id={before}&limit=50"))
            .await;
        let ids: Vec<i64> = page["data"]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["message_id"].as_i64().unwrap())
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ascending inside a page");
        back.splice(0..0, ids.clone());
        if !page["data"]["has_more"].as_bool().unwrap() {
            break;
        }
        before = ids[0];
    }
    assert_eq!(back, forward);
    let (_, last) = app
        .get_as(&tb, &format!("/api/v1/chat/message/last?session_type=1&target_id={}", _a))
        .await;
    let ids: Vec<i64> = last["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, (101..=120).rev().collect::<Vec<_>>(), "newest first, 20 by default");
    let (_, big) = app
        .get_as(
            &tb,
            &format!("/api/v1/chat/message/last?session_type=1&target_id={_a}&limit=100000"),
        )
        .await;
    assert_eq!(big["data"].as_array().unwrap().len(), 100, "limit clamped");

    // Recall and delete-for-me leave tombstones, never holes.
    assert_eq!(
        app.post_as(
            &ta,
            "/api/v1/chat/message/rollback",
            &json!({"session_type": 1, "target_id": b, "message_id": 120})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        app.post_as(
            &tb,
            "/api/v1/chat/message/delete",
            &json!({"session_type": 1, "target_id": _a, "message_id": 119})
        )
        .await
        .0,
        200
    );
    let (_, for_b) = app
        .get_as(
            &tb,
            &format!(
                "/api/v1/chat/message/list?session_type=1&target_id={_a}&after_message_id=117"
            ),
        )
        .await;
    let statuses: Vec<(i64, i64)> = for_b["data"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["message_id"].as_i64().unwrap(), m["status"].as_i64().unwrap()))
        .collect();
    assert_eq!(statuses, vec![(118, 1), (119, 2), (120, 3)]);
    assert_eq!(for_b["data"]["messages"][2]["body"], json!({}), "recalled body is gone");
    let (_, for_a) = app
        .get_as(
            &ta,
            &format!("/api/v1/chat/message/list?session_type=1&target_id={b}&after_message_id=118"),
        )
        .await;
    assert_eq!(for_a["data"]["messages"][0]["status"], 1, "delete is for the deleter only");
    assert_eq!(
        code(
            &app.post_as(
                &tb,
                "/api/v1/chat/message/delete",
                &json!({"session_type": 1, "target_id": _a, "message_id": 999})
            )
            .await
        ),
        (404, Some("MESSAGE_NOT_FOUND"))
    );
    // Others cannot read a group they are not in.
    let (_, t_out) = app.user("outsider").await;
    assert_eq!(
        code(&app.get_as(&t_out, "/api/v1/chat/message/last?session_type=2&target_id=1").await),
        (403, Some("NOT_GROUP_MEMBER"))
    );
}

async fn group_and_world_rules(profile: Profile) {
    let Some(env) = start(profile, |c| c.chat.world_slow_mode_secs = 30).await else { return };
    let app = &env.app;
    let ((_owner, to), (m, tm)) = friends(app, "hal", "ivy").await;
    let (_, created) = app.post_as(&to, "/api/v1/group/create", &json!({"member_ids": [m]})).await;
    let gid = created["data"]["group_id"].as_i64().unwrap();
    let mut events = app.state.bus.subscribe();
    text(app, &tm, 2, gid, "member speaks").await;
    let pushed = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            if let Ok(msg) = events.recv().await
                && let Event::ChatMessage { recipient_ids, message } = &msg.event
                && message.session_type == 2
            {
                return recipient_ids.clone();
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(pushed.len(), 2, "every member");
    let (_, tx) = app.user("xen").await;
    assert_eq!(
        code(&send(app, &tx, 2, gid, json!({"text": "hi"})).await),
        (403, Some("NOT_GROUP_MEMBER"))
    );
    assert_eq!(
        app.post_as(&to, "/api/v1/group/update", &json!({"group_id": gid, "speak_status": 0}))
            .await
            .0,
        200
    );
    assert_eq!(
        code(&send(app, &tm, 2, gid, json!({"text": "hi"})).await),
        (403, Some("GROUP_ALL_MUTED"))
    );
    text(app, &to, 2, gid, "owner still speaks").await;

    // World: anyone, one message per slow-mode period, only configured ids.
    let world = json!({"session_type": 99, "type": 1, "target_id": 1, "action_id": "w-1",
        "body": {"text": "hello world"}});
    let first = app.post_as(&tx, "/api/v1/chat/message/send", &world).await;
    assert_eq!(first.0, 200, "{}", first.1);
    let retry = app.post_as(&tx, "/api/v1/chat/message/send", &world).await;
    assert_eq!(retry.1["data"], first.1["data"], "a retry inside slow mode gets the original");
    assert_eq!(
        code(&send(app, &tx, 99, 1, json!({"text": "again"})).await),
        (429, Some("SLOW_MODE"))
    );
    assert_eq!(
        code(&send(app, &tx, 99, 7, json!({"text": "x"})).await),
        (400, Some("INVALID_TARGET_ID"))
    );
    let (_, world) = app.get_as(&tm, "/api/v1/chat/message/last?session_type=99&target_id=1").await;
    assert_eq!(world["data"][0]["body"]["text"], "hello world");
    app.state.db.meta_set(jim::service::chat::WORLD_MUTED_KEY, "1").await.unwrap();
    assert_eq!(
        code(&send(app, &tm, 99, 1, json!({"text": "x"})).await),
        (403, Some("WORLD_MUTED"))
    );

    let Some(off) = start(profile, |c| c.chat.world_enabled = false).await else { return };
    let (_, t) = off.app.user("yul").await;
    assert_eq!(
        code(&send(&off.app, &t, 99, 1, json!({"text": "x"})).await),
        (403, Some("WORLD_DISABLED"))
    );
}

async fn conversations_read_marks_pin_mute(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let ((a, ta), (b, tb)) = friends(app, "jay", "kit").await;
    let ((_, _), (c, tc)) =
        (friends(app, "lee", "max").await.0, friends(app, "nia", "oli").await.1);
    let _ = (c, tc);
    for i in 0..3 {
        text(app, &ta, 1, b, &format!("hey {i}")).await;
    }
    let (_, convs) = app.get_as(&tb, "/api/v1/chat/conversations").await;
    let conv =
        convs["data"].as_array().unwrap().iter().find(|c| c["target_id"] == a).unwrap().clone();
    assert_eq!(conv["last_message_id"], 4);
    assert_eq!(conv["unread"], 3, "the greeting was mine");
    assert_eq!(conv["last_message"]["body"]["text"], "hey 2");
    assert_eq!(conv["read_message_id"], 0);

    let (s, mark) = app
        .post_as(
            &tb,
            "/api/v1/chat/message/read",
            &json!({"session_type": 1, "target_id": a, "message_id": 3}),
        )
        .await;
    assert_eq!(s, 200, "{mark}");
    assert_eq!(mark["data"]["read_message_id"], 3);
    let (_, mark) = app
        .post_as(
            &tb,
            "/api/v1/chat/message/read",
            &json!({"session_type": 1, "target_id": a, "message_id": 1}),
        )
        .await;
    assert_eq!(mark["data"]["read_message_id"], 3, "never backwards");
    let (_, mark) = app
        .post_as(
            &tb,
            "/api/v1/chat/message/read",
            &json!({"session_type": 1, "target_id": a, "message_id": 99}),
        )
        .await;
    assert_eq!(mark["data"]["read_message_id"], 4, "clamped to the newest");
    let (_, convs) = app.get_as(&ta, "/api/v1/chat/conversations").await;
    let conv =
        convs["data"].as_array().unwrap().iter().find(|c| c["target_id"] == b).unwrap().clone();
    assert_eq!(conv["peer_read_message_id"], 4, "the other side sees how far I read");

    // Pinned first, then by last activity.
    let ((_, _), (d, _)) = (friends(app, "pam", "quo").await.0, app.user("ray").await);
    let _ = d;
    let (u, tu) = app.user("una").await;
    let (_, inv) = app.post_as(&tb, "/api/v1/friend/invite/add", &json!({"user_id": u})).await;
    let iid = inv["data"]["invite"]["id"].as_i64().unwrap();
    app.post_as(&tu, "/api/v1/friend/invite/update", &json!({"id": iid, "status": 1})).await;
    let order = |convs: &Value| -> Vec<i64> {
        convs["data"].as_array().unwrap().iter().map(|c| c["target_id"].as_i64().unwrap()).collect()
    };
    let (_, convs) = app.get_as(&tb, "/api/v1/chat/conversations").await;
    assert_eq!(order(&convs)[..2], [u, a], "newest activity first");
    // My other device hears of each flag I change.
    let mut other_device = WsClient::connect(app, &tb).await.unwrap();
    assert_eq!(
        app.post_as(
            &tb,
            "/api/v1/chat/conversation/pin",
            &json!({"session_type": 1, "target_id": a, "pinned": true})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        app.post_as(
            &tb,
            "/api/v1/chat/conversation/mute",
            &json!({"session_type": 1, "target_id": u, "muted": true})
        )
        .await
        .0,
        200
    );
    let flagged = other_device.expect("conversation_flagged", T).await.expect("pin pushed");
    assert_eq!((flagged["target_id"].as_i64(), &flagged["pinned"]), (Some(a), &json!(true)));
    assert!(flagged.get("muted").is_none(), "only the flag that changed");
    let flagged = other_device.expect("conversation_flagged", T).await.expect("mute pushed");
    assert_eq!((flagged["target_id"].as_i64(), &flagged["muted"]), (Some(u), &json!(true)));
    let (_, convs) = app.get_as(&tb, "/api/v1/chat/conversations").await;
    assert_eq!(order(&convs)[..2], [a, u], "pinned first");
    assert_eq!(convs["data"][0]["pinned"], true);
    assert_eq!(convs["data"][1]["muted"], true);

    // Group "read by N".
    let (_, created) =
        app.post_as(&tb, "/api/v1/group/create", &json!({"member_ids": [a, u]})).await;
    let gid = created["data"]["group_id"].as_i64().unwrap();
    let m = text(app, &tb, 2, gid, "read me").await;
    let mid = m["message_id"].as_i64().unwrap();
    let read_by = |t: String| async move {
        app.get_as(
            &t,
            &format!(
                "/api/v1/chat/message/read_by?session_type=2&target_id={gid}&message_id={mid}"
            ),
        )
        .await
        .1["data"]["read_by"]
            .as_i64()
    };
    assert_eq!(read_by(tb.clone()).await, Some(0));
    app.post_as(
        &ta,
        "/api/v1/chat/message/read",
        &json!({"session_type": 2, "target_id": gid, "message_id": mid}),
    )
    .await;
    app.post_as(
        &tu,
        "/api/v1/chat/message/read",
        &json!({"session_type": 2, "target_id": gid, "message_id": mid}),
    )
    .await;
    assert_eq!(read_by(tb.clone()).await, Some(2));
}

async fn recall_rules(profile: Profile) {
    let Some(env) = start(profile, |c| c.chat.recall_window_secs = 1).await else { return };
    let app = &env.app;
    let ((a, ta), (b, tb)) = friends(app, "val", "wes").await;
    let mine = text(app, &ta, 1, b, "oops").await["message_id"].as_i64().unwrap();
    let theirs = text(app, &tb, 1, a, "mine").await["message_id"].as_i64().unwrap();
    let recall = |t: String, st: i16, target: i64, id: i64| async move {
        app.post_as(
            &t,
            "/api/v1/chat/message/rollback",
            &json!({"session_type": st, "target_id": target, "message_id": id}),
        )
        .await
    };
    assert_eq!(
        code(&recall(ta.clone(), 1, b, theirs).await),
        (403, Some("RECALL_FAILED")),
        "not my message"
    );
    let mut events = app.state.bus.subscribe();
    let r = recall(ta.clone(), 1, b, mine).await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(r.1["data"]["status"], 3);
    let heard = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            if let Ok(m) = events.recv().await
                && let Event::MessageRecalled { message, .. } = &m.event
            {
                return message.message_id;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(heard, mine);
    assert_eq!(
        code(&recall(ta.clone(), 1, b, mine).await),
        (403, Some("RECALL_FAILED")),
        "only once"
    );
    let late = text(app, &ta, 1, b, "late").await["message_id"].as_i64().unwrap();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        code(&recall(ta.clone(), 1, b, late).await),
        (403, Some("RECALL_FAILED")),
        "window passed"
    );
    assert_eq!(code(&recall(ta.clone(), 99, 1, 1).await), (400, Some("INVALID_SESSION_TYPE")));

    // Group owners and admins may recall any member's message, whenever.
    let (_, created) = app.post_as(&ta, "/api/v1/group/create", &json!({"member_ids": [b]})).await;
    let gid = created["data"]["group_id"].as_i64().unwrap();
    let member_msg = text(app, &tb, 2, gid, "rude").await["message_id"].as_i64().unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(recall(ta.clone(), 2, gid, member_msg).await.0, 200);
    let owner_msg = text(app, &ta, 2, gid, "owner").await["message_id"].as_i64().unwrap();
    assert_eq!(code(&recall(tb.clone(), 2, gid, owner_msg).await), (403, Some("RECALL_FAILED")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_send_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let spawn = || {
        let mut cmd = tokio::process::Command::new(jim_bin());
        cmd.current_dir(dir.path())
            .args([
                "serve",
                "-O",
                &format!("http.listen=127.0.0.1:{port}"),
                "-O",
                "auth.bcrypt_cost=4",
                "-O",
                "auth.captcha_on_register=false",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        for (k, _) in std::env::vars() {
            if k.starts_with("JIM_") {
                cmd.env_remove(k);
            }
        }
        cmd.spawn().unwrap()
    };
    let mut child = spawn();
    let url = format!("http://127.0.0.1:{port}");
    assert!(
        eventually(Duration::from_secs(20), || async {
            reqwest::get(format!("{url}/livez")).await.is_ok()
        })
        .await
    );
    let client = reqwest::Client::new();
    let post = |path: &str, token: Option<&str>, body: Value| {
        let mut req = client.post(format!("{url}{path}")).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    for name in ["kay", "lou"] {
        post(
            "/api/v1/auth/register",
            None,
            json!({"username": name, "password": "passw0rd-ok", "confirm_password": "passw0rd-ok"}),
        )
        .await;
    }
    let ta =
        post("/api/v1/auth/login", None, json!({"username": "kay", "password": "passw0rd-ok"}))
            .await["data"]["token"]
            .as_str()
            .unwrap()
            .to_string();
    let tb =
        post("/api/v1/auth/login", None, json!({"username": "lou", "password": "passw0rd-ok"}))
            .await["data"]["token"]
            .as_str()
            .unwrap()
            .to_string();
    let inv = post("/api/v1/friend/invite/add", Some(&ta), json!({"user_id": 2})).await;
    post(
        "/api/v1/friend/invite/update",
        Some(&tb),
        json!({"id": inv["data"]["invite"]["id"], "status": 1}),
    )
    .await;
    let sent = post("/api/v1/chat/message/send", Some(&ta),
        json!({"session_type": 1, "type": 1, "target_id": 2, "action_id": "durable", "body": {"text": "keep me"}})).await;
    assert_eq!(sent["status"], 1, "{sent}");
    child.kill().await.unwrap(); // SIGKILL right after the answer
    let _ = child.wait().await;

    let mut child = spawn();
    assert!(
        eventually(Duration::from_secs(20), || async {
            reqwest::get(format!("{url}/livez")).await.is_ok()
        })
        .await
    );
    let res = client
        .get(format!("{url}/api/v1/chat/message/last?session_type=1&target_id=2"))
        .bearer_auth(&ta)
        .send()
        .await
        .unwrap();
    let last: Value = res.json().await.unwrap();
    assert_eq!(last["data"][0]["body"]["text"], "keep me");
    assert_eq!(last["data"][0]["message_id"], sent["data"]["message_id"]);
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jim_world_mute_takes_effect_on_the_running_server() {
    let Some(env) = start(Profile::Embedded, |c| c.chat.world_slow_mode_secs = 0).await else {
        return;
    };
    let app = &env.app;
    let (_, token) = app.user("wmu").await;
    let jim = |args: &[&str]| {
        let out = jim_for(&env, args, "");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    text(app, &token, 99, 1, "before").await;
    let info = || async { app.get_as(&token, "/api/v1/chat/world/info").await.1["data"].clone() };
    assert_eq!(
        info().await,
        json!({"enabled": true, "world_ids": [1], "muted": false, "slow_mode_secs": 0})
    );
    assert!(jim(&["world", "mute"]).contains("muted"));
    assert!(jim(&["world", "status"]).contains("muted: true"));
    assert_eq!(info().await["muted"], true, "clients can say why they cannot write");
    assert_eq!(
        code(&send(app, &token, 99, 1, json!({"text": "x"})).await),
        (403, Some("WORLD_MUTED"))
    );
    jim(&["world", "unmute"]);
    text(app, &token, 99, 1, "after").await;
    assert_eq!(info().await["muted"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn world_info_says_when_the_channel_is_switched_off() {
    let Some(env) = start(Profile::Embedded, |c| c.chat.world_enabled = false).await else {
        return;
    };
    let app = &env.app;
    let (_, token) = app.user("woff").await;
    let (status, info) = app.get_as(&token, "/api/v1/chat/world/info").await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["data"]["enabled"], false);
    assert_eq!(info["data"]["world_ids"], json!([]));
    assert_eq!(
        code(&send(app, &token, 99, 1, json!({"text": "x"})).await),
        (403, Some("WORLD_DISABLED"))
    );
}

/// Messages in a copy of the SQLite database file taken without its WAL (0 when the copy is
/// torn or unreadable).
fn messages_in_file_alone(db: &std::path::Path, scratch: &std::path::Path) -> i64 {
    use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let copy = scratch.join("copy.db");
    let _ = std::fs::remove_file(&copy);
    if std::fs::copy(db, &copy).is_err() {
        return 0;
    }
    let Ok(mut conn) = SqliteConnection::establish(copy.to_str().unwrap()) else { return 0 };
    diesel::sql_query("SELECT COUNT(*) AS n FROM messages")
        .get_result::<Count>(&mut conn)
        .map_or(0, |c| c.n)
}

/// Connections never checkpoint SQLite's WAL on the commit path; a background thread does.
/// Within seconds of a burst of sends, the database file alone holds every message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wal_is_checkpointed_in_the_background() {
    let env = start(Profile::Embedded, |_| {}).await.expect("app");
    let app = &env.app;
    let ((_, ta), (b, _)) = friends(app, "ckpa", "ckpb").await;
    for i in 0..50 {
        text(app, &ta, 1, b, &format!("m{i}")).await;
    }
    let db = env.dir.path().join("jim.db");
    assert!(db.exists(), "the database is {}", db.display());
    let scratch = tempfile::tempdir().unwrap();
    eventually(Duration::from_secs(10), || async {
        messages_in_file_alone(&db, scratch.path()) >= 51
    })
    .await;
    let in_file = messages_in_file_alone(&db, scratch.path());
    assert_eq!(in_file, 51, "the greeting and 50 messages reach the database file");
    env.app.stop().await;
}

/// The WAL header's checkpoint sequence number: SQLite adds one each time the WAL starts over.
fn wal_restarts(db: &std::path::Path) -> u32 {
    let wal = std::fs::read(db.with_extension("db-wal")).unwrap_or_default();
    wal.get(12..16).map_or(0, |b| u32::from_be_bytes(b.try_into().unwrap()))
}

/// Under a stream of sends with no pause, the background checkpointer never reaches the end
/// of the WAL (each pass is overtaken by new commits), so the WAL never starts over and grows
/// as long as the stream lasts (161 MB after 30 s at 500 msg/s). The message writer
/// checkpoints between its batches, once a second, and the WAL starts over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wal_starts_over_under_a_steady_stream_of_sends() {
    let env = start(Profile::Embedded, |_| {}).await.expect("app");
    let app = &env.app;
    let ((_, ta), (b, _)) = friends(app, "streama", "streamb").await;
    let db = env.dir.path().join("jim.db");
    let before = wal_restarts(&db);
    let until = std::time::Instant::now() + Duration::from_secs(4);
    let senders = (0..4).map(|s| {
        let token = ta.clone();
        async move {
            let mut sent = 0;
            while std::time::Instant::now() < until {
                let (status, body) = send(app, &token, 1, b, json!({"text": format!("{s}")})).await;
                assert_eq!(status, 200, "{body}");
                sent += 1;
            }
            sent
        }
    });
    let sent: i32 = futures_util::future::join_all(senders).await.into_iter().sum();
    let restarts = wal_restarts(&db).wrapping_sub(before);
    assert!(restarts >= 2, "the WAL started over {restarts} times during {sent} sends in 4 s");
    env.app.stop().await;
}

/// A block made on one instance stops the blocked user's sends through another instance at
/// once, even after that instance found the pair allowed (and may remember it), and while
/// other traffic keeps it reading the shared revocation epoch (a read it may reuse for a
/// while: the block is answered only when no read older than it is used any more).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_on_one_instance_stops_sends_through_another_at_once() {
    let Some(scale) = ScaleOut::fresh().await else { return };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = spawn_app(test_config(dir_a.path(), Some(&scale))).await;
    let b = spawn_app(test_config(dir_b.path(), Some(&scale))).await;
    let ((ida, ta), (idb, tb)) = friends(&a, "blocka", "blockb").await;
    let (_, busy_token) = b.user("busy").await;
    let busy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let background = {
        let (client, url, busy) = (b.client.clone(), b.url.clone(), busy.clone());
        tokio::spawn(async move {
            let mut requests = 0;
            while busy.load(std::sync::atomic::Ordering::Relaxed) {
                let answer = client
                    .get(format!("{url}/api/v1/profile/info"))
                    .bearer_auth(&busy_token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 200);
                requests += 1;
            }
            requests
        })
    };
    for round in 0..5 {
        for i in 0..3 {
            let r = send(&b, &tb, 1, ida, json!({"text": format!("before {round}.{i}")})).await;
            assert_eq!(r.0, 200, "{}", r.1);
        }
        let block = json!({"user_id": idb, "block_status": 0});
        let r = a.post_as(&ta, "/api/v1/friend/update", &block).await;
        assert_eq!(r.0, 200, "{}", r.1);
        let r = send(&b, &tb, 1, ida, json!({"text": format!("after {round}")})).await;
        assert_eq!(code(&r), (403, Some("BLOCKED_BY_TARGET")), "round {round}");
        let unblock = json!({"user_id": idb, "block_status": 1});
        assert_eq!(a.post_as(&ta, "/api/v1/friend/update", &unblock).await.0, 200);
    }
    busy.store(false, std::sync::atomic::Ordering::Relaxed);
    assert!(background.await.unwrap() > 10, "B was busy all along");
    a.stop().await;
    b.stop().await;
}
