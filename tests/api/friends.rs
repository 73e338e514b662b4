//! Friends: the state table of invitations, delete, restore and block (as corrected), search,
//! the friend list, and the races — on both profiles.

use std::time::Duration;

use jim::bus::{Event, FriendEventKind};
use jim::domain::UserId;
use jim::service::friend;
use serde_json::{Value, json};

use crate::helpers::*;

async fn invite(app: &TestApp, token: &str, target: i64) -> (u16, Value) {
    app.post_as(token, "/api/v1/friend/invite/add", &json!({"user_id": target, "note": "hi"})).await
}

async fn answer(app: &TestApp, token: &str, id: i64, status: i16, reply: &str) -> (u16, Value) {
    app.post_as(
        token,
        "/api/v1/friend/invite/update",
        &json!({"id": id, "status": status, "reply": reply}),
    )
    .await
}

async fn update(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    app.post_as(token, "/api/v1/friend/update", &body).await
}

crate::both_profiles!(
    invitation_lifecycle_and_greeting,
    invitation_rules,
    delete_restore_and_chat_permission,
    blocking,
    remarks_and_update_rules,
    search,
    races_leave_consistent_rows,
    invite_push_keeps_the_original_shape,
);

/// An existing JIM front end finds the invitation's own fields at the top of a
/// `friend_invite` push's `data` (status under `type`), and in the `invite/add` answer.
async fn invite_push_keeps_the_original_shape(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let (a, ta) = app.user("olga").await;
    let (b, tb) = app.user("olaf").await;
    let mut b_socket = WsClient::connect(app, &tb).await.unwrap();
    let r = app
        .post_as(&ta, "/api/v1/friend/invite/add", &json!({"user_id": b, "note": "hi olaf"}))
        .await;
    assert_eq!(r.0, 200, "{}", r.1);
    let answer = &r.1["data"];
    let id = answer["invite"]["id"].as_i64().expect("our nested invitation");
    assert_eq!(answer["id"], id, "the invitation it made, at the top: {answer}");
    let push = b_socket.expect("friend_invite", Duration::from_secs(5)).await.expect("pushed");
    for (key, want) in [
        ("id", json!(id)),
        ("user_id", json!(a)),
        ("target_id", json!(b)),
        ("type", json!(0)),
        ("note", json!("hi olaf")),
        ("reply", json!("")),
    ] {
        assert_eq!(push[key], want, "{key} in {push}");
        assert_eq!(answer[key], want, "{key} in {answer}");
    }
    let created = push["created_at"].as_str().expect("RFC 3339 created_at");
    assert!(chrono::DateTime::parse_from_rfc3339(created).is_ok(), "{created}");
    assert_eq!(push["invite"]["id"], id, "our own fields stay beside the original's");
    assert_eq!(push["kind"], "invite_received");
    // Accepting through the id the original's field gives works.
    let r = app
        .post_as(&tb, "/api/v1/friend/invite/update", &json!({"id": push["id"], "status": 1}))
        .await;
    assert_eq!((r.0, r.1["data"]["result"].as_str()), (200, Some("friends")), "{}", r.1);
}

async fn invitation_lifecycle_and_greeting(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let (a, ta) = app.user("anna").await;
    let (b, tb) = app.user("bert").await;
    let mut events = app.state.bus.subscribe();

    let (status, body) = invite(app, &ta, b).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["result"], "invited");
    let invite_id = body["data"]["invite"]["id"].as_i64().unwrap();
    assert_eq!(code(&invite(app, &ta, b).await), (409, Some("INVITE_ALREADY_PENDING")));

    let (_, received) = app.get_as(&tb, "/api/v1/friend/invite/received").await;
    assert_eq!(received["data"][0]["id"], invite_id);
    assert_eq!(received["data"][0]["note"], "hi");
    let (_, sent) = app.get_as(&ta, "/api/v1/friend/invite/sent").await;
    assert_eq!(sent["data"][0]["target_id"], b);
    let (_, count) = app.get_as(&tb, "/api/v1/friend/invite/pending_count").await;
    assert_eq!(count["data"]["count"], 1);

    // Only the invitee answers.
    assert_eq!(code(&answer(app, &ta, invite_id, 1, "").await), (404, Some("INVITE_NOT_FOUND")));
    let (status, body) = answer(app, &tb, invite_id, 1, "hello!").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["result"], "friends");
    assert_eq!(
        code(&answer(app, &tb, invite_id, 1, "").await),
        (409, Some("INVITE_ALREADY_HANDLED"))
    );
    assert_eq!(
        code(&answer(app, &tb, invite_id, 3, "").await),
        (400, Some("INVITE_STATUS_INVALID"))
    );

    // Both are really friends: private chat is allowed both ways.
    friend::can_chat(&app.state, UserId(a), UserId(b)).await.unwrap();
    friend::can_chat(&app.state, UserId(b), UserId(a)).await.unwrap();
    let (_, list) = app.get_as(&ta, "/api/v1/friend/list").await;
    assert_eq!(list["data"][0]["user_id"], b);
    assert_eq!(list["data"][0]["mutual"], true);

    // The invitation and the greeting went out as events; the greeting is message 1 of the room.
    let mut seen_invite = false;
    let mut greeting = None;
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while let Ok(m) = events.recv().await {
            match &m.event {
                Event::Friend { kind: FriendEventKind::InviteReceived, recipient_ids, .. } => {
                    assert!(recipient_ids.contains(&UserId(b)));
                    seen_invite = true;
                }
                Event::ChatMessage { message, recipient_ids } => {
                    assert_eq!(recipient_ids.len(), 2);
                    greeting = Some(message.clone());
                    break;
                }
                _ => {}
            }
        }
    })
    .await;
    assert!(seen_invite, "invitation published");
    let greeting = greeting.expect("greeting published");
    assert_eq!(greeting.sender_id, b, "sent by the user who completed the friendship");
    assert_eq!(greeting.receiver_id, a);
    assert_eq!(greeting.message_id, 1);
    assert_eq!(greeting.room_id, jim::store::private_room_id(a, b));
    assert_eq!(greeting.body["text"], friend::GREETING_TEXT);

    // Rejection: the inviter hears it with the reply.
    let (c, tc) = app.user("cleo").await;
    let (_, body) = invite(app, &tc, a).await;
    let id = body["data"]["invite"]["id"].as_i64().unwrap();
    let mut events = app.state.bus.subscribe();
    let (status, body) = answer(app, &ta, id, 2, "sorry").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["invite"]["status"], 2);
    let heard = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            if let Ok(m) = events.recv().await
                && let Event::Friend {
                    kind: FriendEventKind::InviteRejected,
                    recipient_ids,
                    invite,
                    ..
                } = &m.event
            {
                return (recipient_ids.clone(), invite.clone());
            }
        }
    })
    .await
    .unwrap();
    assert!(heard.0.contains(&UserId(c)), "routed to the inviter");
    assert_eq!(heard.1.unwrap()["reply"], "sorry");
    assert_eq!(code(&answer(app, &ta, id, 1, "").await), (409, Some("INVITE_ALREADY_HANDLED")));
    // A rejected pair can try again.
    assert_eq!(invite(app, &tc, a).await.0, 200);
}

async fn invitation_rules(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let (a, ta) = app.user("dora").await;
    let (b, tb) = app.user("emil").await;
    assert_eq!(code(&invite(app, &ta, a).await), (400, Some("FRIEND_SELF")));
    assert_eq!(code(&invite(app, &ta, 0).await), (400, Some("INVALID_USER_ID")));
    assert_eq!(code(&invite(app, &ta, 999_999).await), (404, Some("TARGET_NOT_EXISTS")));
    let long = app
        .post_as(&ta, "/api/v1/friend/invite/add", &json!({"user_id": b, "note": "x".repeat(101)}))
        .await;
    assert_eq!(code(&long), (400, Some("INVALID_NOTE")));
    let (d, _) = app.user("dis").await;
    app.state.db.user_set_status(UserId(d), 0, 0).await.unwrap();
    assert_eq!(code(&invite(app, &ta, d).await), (403, Some("TARGET_DISABLED")));
    app.state.db.user_set_status(UserId(d), 2, 0).await.unwrap();
    assert_eq!(code(&invite(app, &ta, d).await), (403, Some("TARGET_DELETED")));

    // Mutual invitations make a friendship.
    assert_eq!(invite(app, &ta, b).await.1["data"]["result"], "invited");
    let (status, body) = invite(app, &tb, a).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["result"], "friends");
    assert_eq!(code(&invite(app, &ta, b).await), (409, Some("ALREADY_FRIENDS")));
    let (_, count) = app.get_as(&tb, "/api/v1/friend/invite/pending_count").await;
    assert_eq!(count["data"]["count"], 0);
}

async fn delete_restore_and_chat_permission(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let ((a, ta), (b, tb)) = friends(app, "fay", "gus").await;
    // Found allowed (and possibly remembered) before the delete.
    friend::can_chat(&app.state, UserId(a), UserId(b)).await.unwrap();
    friend::can_chat(&app.state, UserId(b), UserId(a)).await.unwrap();

    // A deletes B (one-sided): neither can chat; B still lists A, as not mutual.
    let r = update(app, &ta, json!({"user_id": b, "status": 0})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(r.1["data"]["changed"], true);
    for (x, y) in [(a, b), (b, a)] {
        let err = friend::can_chat(&app.state, UserId(x), UserId(y)).await.unwrap_err();
        assert_eq!(err.error_code().as_str(), "NOT_FRIENDS");
    }
    let (_, list_a) = app.get_as(&ta, "/api/v1/friend/list").await;
    assert_eq!(list_a["data"], json!([]));
    let (_, list_b) = app.get_as(&tb, "/api/v1/friend/list").await;
    assert_eq!(list_b["data"][0]["mutual"], false);
    // Deleting again changes nothing (and is not an error).
    assert_eq!(
        update(app, &ta, json!({"user_id": b, "status": 0})).await.1["data"]["changed"],
        false
    );

    // The deleter restores at once by inviting again.
    let (status, body) = invite(app, &ta, b).await;
    assert_eq!((status, body["data"]["result"].as_str()), (200, Some("friends")));
    friend::can_chat(&app.state, UserId(a), UserId(b)).await.unwrap();

    // The deleted party must be accepted again.
    update(app, &ta, json!({"user_id": b, "status": 0})).await;
    let (_, body) = invite(app, &tb, a).await;
    assert_eq!(body["data"]["result"], "invited");
    let id = body["data"]["invite"]["id"].as_i64().unwrap();
    assert_eq!(answer(app, &ta, id, 1, "").await.0, 200);
    friend::can_chat(&app.state, UserId(b), UserId(a)).await.unwrap();

    // Delete with history: my view of our conversation is cleared (for me only), and what it
    // hid is no longer counted as unread.
    let sent = app
        .post_as(
            &tb,
            "/api/v1/chat/message/send",
            &json!({"session_type": 1, "type": 1, "target_id": a, "body": {"text": "still there?"}}),
        )
        .await;
    assert_eq!(sent.0, 200, "{}", sent.1);
    let unread_from_b = |convs: Value| {
        convs["data"].as_array().unwrap().iter().find(|c| c["target_id"] == b).unwrap()["unread"]
            .clone()
    };
    let unread = unread_from_b(app.get_as(&ta, "/api/v1/chat/conversations").await.1);
    assert_eq!(unread, 2, "B's greeting on accepting, and the question");
    let r = update(app, &ta, json!({"user_id": b, "status": 0, "delete_history": true})).await;
    assert_eq!(r.0, 200);
    assert_eq!(unread_from_b(app.get_as(&ta, "/api/v1/chat/conversations").await.1), 0);
    let room = jim::store::private_room_id(a, b);
    let cleared: Vec<(i64, i64)> = app
        .state
        .db
        .run(move |mut conn| async move {
            use diesel::prelude::*;
            use diesel_async::RunQueryDsl;
            use jim::db::schema::conversation_clears as cc;
            Ok(jim::db_run!(&mut conn, |c| cc::table
                .filter(cc::room_id.eq(&room))
                .select((cc::user_id, cc::cleared_to_message_id))
                .load(c)
                .await)?)
        })
        .await
        .unwrap();
    assert_eq!(cleared.len(), 1);
    assert_eq!(cleared[0].0, a);
    assert!(cleared[0].1 >= 2, "greetings of both friendships are hidden for me");
}

async fn blocking(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let ((a, ta), (b, tb)) = friends(app, "hana", "ivo").await;
    friend::can_chat(&app.state, UserId(a), UserId(b)).await.unwrap();
    friend::can_chat(&app.state, UserId(b), UserId(a)).await.unwrap();

    assert_eq!(update(app, &ta, json!({"user_id": b, "block_status": 0})).await.0, 200);
    let e = friend::can_chat(&app.state, UserId(b), UserId(a)).await.unwrap_err();
    assert_eq!(e.error_code().as_str(), "BLOCKED_BY_TARGET");
    let e = friend::can_chat(&app.state, UserId(a), UserId(b)).await.unwrap_err();
    assert_eq!(e.error_code().as_str(), "TARGET_BLOCKED", "the blocker cannot message either");
    let (_, found) = app.get_as(&tb, &format!("/api/v1/friend/find?user_id={a}")).await;
    assert_eq!(found["data"], json!([]), "blocked users cannot find the blocker");
    update(app, &tb, json!({"user_id": a, "status": 0})).await;
    assert_eq!(code(&invite(app, &tb, a).await), (403, Some("BLOCKED_BY_TARGET")));
    let (_, list) = app.get_as(&ta, "/api/v1/friend/list").await;
    assert_eq!(list["data"][0]["blocked"], true);

    assert_eq!(update(app, &ta, json!({"user_id": b, "block_status": 1})).await.0, 200);
    let (_, found) = app.get_as(&tb, &format!("/api/v1/friend/find?user_id={a}")).await;
    assert_eq!(found["data"][0]["id"], a);

    // A stranger can be blocked before they ever invite.
    let (s, ts) = app.user("spam").await;
    assert_eq!(update(app, &ta, json!({"user_id": s, "block_status": 0})).await.0, 200);
    assert_eq!(code(&invite(app, &ts, a).await), (403, Some("BLOCKED_BY_TARGET")));
    assert_eq!(code(&invite(app, &ta, s).await), (403, Some("TARGET_BLOCKED")));
}

async fn remarks_and_update_rules(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let (a, ta) = app.user("jon").await;
    let (b, tb) = app.user("kai").await;
    let (c, _) = app.user("lou").await;
    befriend(app, (a, &ta), (b, &tb)).await;
    assert_eq!(update(app, &ta, json!({"user_id": b, "remark": "Kai from work"})).await.0, 200);
    let (_, list) = app.get_as(&ta, "/api/v1/friend/list").await;
    assert_eq!(list["data"][0]["remark"], "Kai from work");
    let (_, list) = app.get_as(&tb, "/api/v1/friend/list").await;
    assert_eq!(list["data"][0]["remark"], "", "remarks are private");
    // Invisible friends show as offline.
    app.post_as(&tb, "/api/v1/profile/update", &json!({"online_status": 4})).await;
    let (_, list) = app.get_as(&ta, "/api/v1/friend/list").await;
    assert_eq!(list["data"][0]["online_status"], 0);
    // A remark together with a block is one update (the original lost such changes).
    let r = update(app, &ta, json!({"user_id": b, "remark": "", "block_status": 0})).await;
    assert_eq!((r.0, r.1["data"]["changed"].as_bool()), (200, Some(true)));
    let (_, list) = app.get_as(&ta, "/api/v1/friend/list").await;
    assert_eq!(
        (list["data"][0]["remark"].as_str(), list["data"][0]["blocked"].as_bool()),
        (Some(""), Some(true))
    );

    for (body, expected) in [
        (json!({"user_id": b}), (400, Some("FRIEND_NOTHING_SET"))),
        (
            json!({"user_id": b, "status": 0, "block_status": 1}),
            (400, Some("FRIEND_STATUS_XOR_BLOCK")),
        ),
        (json!({"user_id": b, "status": 1}), (400, Some("FRIEND_STATUS_MUST_BE_0"))),
        (json!({"user_id": b, "block_status": 2}), (400, Some("FRIEND_BLOCK_MUST_BE_0_OR_1"))),
        (json!({"user_id": b, "remark": "x".repeat(31)}), (400, Some("INVALID_REMARK"))),
        (json!({"user_id": a, "remark": "me"}), (400, Some("FRIEND_SELF"))),
        (json!({"user_id": c, "remark": "stranger"}), (404, Some("FRIEND_NO_RELATION"))),
        (json!({"user_id": c, "status": 0}), (404, Some("FRIEND_NO_RELATION"))),
    ] {
        assert_eq!(code(&update(app, &ta, body.clone()).await), expected, "{body}");
    }
}

async fn search(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let (me, token) = app.user("seeker").await;
    let mut ids = Vec::new();
    for (name, nick) in [
        ("mia1", "Mia One"),
        ("mia2", "Mia Two"),
        ("mia3", "Mia Three"),
        ("pct", "M%a"),
        ("off", "Mia Off"),
    ] {
        let (id, t) = app.user(name).await;
        app.post_as(&t, "/api/v1/profile/update", &json!({"nickname": nick})).await;
        ids.push(id);
    }
    app.state.db.user_set_status(UserId(ids[4]), 0, 0).await.unwrap();
    app.post_as(&token, "/api/v1/profile/update", &json!({"nickname": "Mia Me"})).await;

    let (status, found) = app.get_as(&token, "/api/v1/friend/find?nickname=Mia").await;
    assert_eq!(status, 200);
    let got: Vec<i64> =
        found["data"].as_array().unwrap().iter().map(|u| u["id"].as_i64().unwrap()).collect();
    assert_eq!(got, ids[..3].to_vec(), "prefix match, no disabled users, not me");
    let (_, found) = app.get_as(&token, "/api/v1/friend/find?nickname=M%25").await;
    let got: Vec<i64> =
        found["data"].as_array().unwrap().iter().map(|u| u["id"].as_i64().unwrap()).collect();
    assert_eq!(got, vec![ids[3]], "% is taken literally");
    let (_, page) = app
        .get_as(&token, &format!("/api/v1/friend/find?nickname=Mia&limit=2&start_id={}", ids[0]))
        .await;
    let got: Vec<i64> =
        page["data"].as_array().unwrap().iter().map(|u| u["id"].as_i64().unwrap()).collect();
    assert_eq!(got, ids[1..3].to_vec(), "keyset paging by id");
    let (_, by_id) = app.get_as(&token, &format!("/api/v1/friend/find?user_id={}", ids[1])).await;
    assert_eq!(by_id["data"][0]["nickname"], "Mia Two");
    assert!(by_id["data"][0].get("username").is_none());
    let (_, by_me) = app.get_as(&token, &format!("/api/v1/friend/find?user_id={me}")).await;
    assert_eq!(by_me["data"], json!([]));
    assert_eq!(
        code(&app.get_as(&token, "/api/v1/friend/find?nickname=M").await),
        (400, Some("FIND_NICKNAME_TOO_SHORT"))
    );
    // A nickname given beside user_id is checked too (the document says so).
    assert_eq!(
        code(
            &app.get_as(&token, &format!("/api/v1/friend/find?user_id={}&nickname=M", ids[1]))
                .await
        ),
        (400, Some("FIND_NICKNAME_TOO_SHORT"))
    );
    assert_eq!(
        code(&app.get_as(&token, "/api/v1/friend/find").await),
        (400, Some("FIND_PARAMS_MISSING"))
    );
    assert_eq!(
        code(&app.get_as(&token, "/api/v1/friend/find?user_id=x").await),
        (400, Some("INVALID_PARAMS"))
    );
}

async fn races_leave_consistent_rows(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    // Two users inviting each other at once, ten pairs.
    for i in 0..10 {
        let (a, ta) = app.user(&format!("ra{i}")).await;
        let (b, tb) = app.user(&format!("rb{i}")).await;
        let (ra, rb) = tokio::join!(invite(app, &ta, b), invite(app, &tb, a));
        assert!(ra.0 == 200 || rb.0 == 200, "{ra:?} {rb:?}");
        let relation =
            app.state.db.relation_get(UserId(a), UserId(b)).await.unwrap().expect("one row");
        assert!(relation.user_a_id < relation.user_b_id);
        assert_eq!(relation.status, 3, "{ra:?} {rb:?}");
        assert!(
            app.state.db.invite_pending(UserId(a), UserId(b)).await.unwrap().is_none(),
            "nothing left pending"
        );
    }
    // Accept and a second accept of one invitation.
    let (a, ta) = app.user("acc_a").await;
    let (b, tb) = app.user("acc_b").await;
    let (_, body) = invite(app, &ta, b).await;
    let id = body["data"]["invite"]["id"].as_i64().unwrap();
    let (r1, r2) = tokio::join!(answer(app, &tb, id, 1, ""), answer(app, &tb, id, 1, ""));
    let mut statuses = [r1.0, r2.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{r1:?} {r2:?}");
    assert_eq!(app.state.db.relation_get(UserId(a), UserId(b)).await.unwrap().unwrap().status, 3);

    // Accept while the inviter deletes the (one-sided) relation.
    let (c, tc) = app.user("del_c").await;
    let (d, td) = app.user("del_d").await;
    befriend(app, (c, &tc), (d, &td)).await;
    update(app, &td, json!({"user_id": c, "status": 0})).await;
    let (_, body) = invite(app, &td, c).await;
    assert_eq!(body["data"]["result"], "friends", "restore by the deleter");
    update(app, &tc, json!({"user_id": d, "status": 0})).await;
    let (_, body) = invite(app, &tc, d).await;
    let id = body["data"]["invite"]["id"].as_i64();
    if let Some(id) = id {
        let (r1, r2) = tokio::join!(
            answer(app, &td, id, 1, ""),
            update(app, &tc, json!({"user_id": d, "status": 0}))
        );
        assert!(r1.0 == 200 || r1.0 == 409, "{r1:?}");
        assert_eq!(r2.0, 200);
    }
    let relation =
        app.state.db.relation_get(UserId(c), UserId(d)).await.unwrap().expect("still one row");
    assert!(relation.user_a_id < relation.user_b_id);
    assert!(app.state.db.invite_pending(UserId(c), UserId(d)).await.unwrap().is_none());
}
