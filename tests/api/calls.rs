//! Calls over the WebSocket: ringing every device, answering on one, signals to one device,
//! every way a call ends (with its reason, duration and record in the conversation), busy,
//! forbidden, group calls up to the cap, retried invites, calls across two instances and an
//! instance that dies mid-call; and TURN credentials, checked by recomputing them and by a
//! real coturn.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

const T: Duration = Duration::from_secs(5);
/// How long a test waits to be sure a frame does not come.
const QUIET: Duration = Duration::from_millis(400);

fn new_call_id() -> String {
    format!("call-{}", uuid::Uuid::new_v4().simple())
}

async fn invite(ws: &mut WsClient, call_id: &str, session_type: i16, target_id: i64, media: &str) {
    let data = json!({"call_id": call_id, "session_type": session_type, "target_id": target_id, "media": media});
    ws.send(json!({"type": "call_invite", "data": data})).await;
}

/// Send `call_accept`, `call_reject` or `call_hangup`.
async fn act(ws: &mut WsClient, kind: &str, call_id: &str) {
    ws.send(json!({"type": kind, "data": {"call_id": call_id}})).await;
}

async fn signal(ws: &mut WsClient, call_id: &str, to: &str, data: Value) {
    ws.send(json!({"type": "call_signal", "data": {"call_id": call_id, "to": to, "data": data}}))
        .await;
}

/// The next frame of `kind` about `call_id` (others skipped); panics after [`T`].
async fn frame_of(ws: &mut WsClient, kind: &str, call_id: &str) -> Value {
    frame_within(ws, kind, call_id, T).await
}

async fn frame_within(ws: &mut WsClient, kind: &str, call_id: &str, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws.expect(kind, left).await {
            Some(data) if data["call_id"] == call_id => return data,
            Some(_) => continue,
            None => panic!("no {kind} for {call_id} within {within:?}"),
        }
    }
}

/// Every call frame (`call_*`) that arrives within [`QUIET`].
async fn call_frames(ws: &mut WsClient) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        match ws.next(QUIET).await {
            WsEvent::Frame(f) if f["type"].as_str().is_some_and(|t| t.starts_with("call_")) => {
                out.push(f)
            }
            WsEvent::Frame(_) => continue,
            _ => return out,
        }
    }
}

/// The call records (messages of type 8) of a conversation, as `token`'s owner sees them.
async fn records(app: &TestApp, token: &str, session_type: i16, target_id: i64) -> Vec<Value> {
    let path = format!(
        "/api/v1/chat/message/list?session_type={session_type}&target_id={target_id}&limit=100"
    );
    let (status, body) = app.get_as(token, &path).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["type"] == 8)
        .cloned()
        .collect()
}

/// Wait until the conversation has `n` call records, and return them.
async fn records_eventually(
    app: &TestApp,
    token: &str,
    session_type: i16,
    target_id: i64,
    n: usize,
) -> Vec<Value> {
    let mut found = Vec::new();
    for _ in 0..100 {
        found = records(app, token, session_type, target_id).await;
        if found.len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(found.len(), n, "call records: {found:?}");
    found
}

fn outcome(record: &Value) -> &str {
    record["body"]["outcome"].as_str().unwrap_or("")
}

async fn connect(app: &TestApp, token: &str) -> WsClient {
    WsClient::connect(app, token).await.unwrap()
}

/// Wait until `users` each have a connection on `app` (pushes to them need it).
async fn online(app: &TestApp, users: &[i64]) {
    let ok = eventually(T, || async {
        let on = app.state.hub.online_users().await;
        users.iter().all(|u| on.contains(&jim::domain::UserId(*u)))
    })
    .await;
    assert!(ok, "users {users:?} connected");
}

crate::both_profiles!(
    an_invite_rings_every_device_and_one_answer_stops_the_others,
    every_way_a_private_call_ends_has_its_reason_and_record,
    only_people_who_may_message_each_other_may_call,
    a_group_call_is_joined_and_left_up_to_its_cap,
    a_retried_invite_is_the_same_call,
);

async fn an_invite_rings_every_device_and_one_answer_stops_the_others(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let ((a, ta), (b, tb)) = friends(app, "caller", "callee").await;
    let mut wa = connect(app, &ta).await;
    let mut b1 = connect(app, &tb).await;
    let mut b2 = connect(app, &tb).await;
    online(app, &[a, b]).await;

    let id = new_call_id();
    invite(&mut wa, &id, 1, b, "video").await;
    let ringing = frame_of(&mut wa, "call_ringing", &id).await;
    let a_pid = ringing["participant_id"].as_str().unwrap().to_string();
    assert_eq!(ringing["participants"], json!([{"participant_id": a_pid, "user_id": a}]));
    for device in [&mut b1, &mut b2] {
        let incoming = frame_of(device, "call_incoming", &id).await;
        assert_eq!(
            (&incoming["caller_id"], &incoming["session_type"], &incoming["target_id"]),
            (&json!(a), &json!(1), &json!(b))
        );
        assert_eq!(incoming["media"], "video");
        assert_eq!(incoming["ring_timeout_s"], 45);
    }

    act(&mut b1, "call_accept", &id).await;
    let accepted_b = frame_of(&mut b1, "call_accepted", &id).await;
    let b_pid = accepted_b["participant_id"].as_str().unwrap().to_string();
    let accepted_a = frame_of(&mut wa, "call_accepted", &id).await;
    assert_eq!(accepted_a["participant_id"], a_pid.as_str());
    let both =
        json!([{"participant_id": a_pid, "user_id": a}, {"participant_id": b_pid, "user_id": b}]);
    assert_eq!(accepted_a["participants"], both);
    assert_eq!(accepted_b["participants"], both);
    assert!(accepted_a["answered_at"].as_i64().is_some());
    frame_of(&mut b2, "call_answered_elsewhere", &id).await;

    // Signals go to the named participant's device only, both ways, with who sent them.
    let offer = json!({"sdp": {"type": "offer", "sdp": "v=0 …"}});
    signal(&mut b1, &id, &a_pid, offer.clone()).await;
    let got = frame_of(&mut wa, "call_signal", &id).await;
    assert_eq!(
        (&got["from"], &got["from_user_id"], &got["data"]),
        (&json!(b_pid), &json!(b), &offer)
    );
    let answer = json!({"sdp": {"type": "answer", "sdp": "v=0 …"}});
    signal(&mut wa, &id, &b_pid, answer.clone()).await;
    assert_eq!(frame_of(&mut b1, "call_signal", &id).await["data"], answer);
    for n in 0..10 {
        signal(&mut wa, &id, &b_pid, json!({"candidate": n})).await;
    }
    for n in 0..10 {
        assert_eq!(frame_of(&mut b1, "call_signal", &id).await["data"]["candidate"], n, "in order");
    }
    assert!(call_frames(&mut b2).await.is_empty(), "the other device hears none of it");
    // To nobody, and from a device that is not in the call: errors, and the call goes on.
    signal(&mut wa, &id, "nobody", json!({})).await;
    let e = wa.expect("error", T).await.unwrap();
    assert_eq!(
        (e["code"].as_str(), e["call_id"].as_str()),
        (Some("CALL_PARTICIPANT_NOT_FOUND"), Some(id.as_str()))
    );
    signal(&mut b2, &id, &a_pid, json!({})).await;
    assert_eq!(b2.expect("error", T).await.unwrap()["code"], "NOT_CALL_PARTICIPANT");
    signal(&mut wa, &id, &b_pid, json!("not an object")).await;
    assert_eq!(wa.expect("error", T).await.unwrap()["code"], "INVALID_CALL_SIGNAL");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    act(&mut wa, "call_hangup", &id).await;
    for device in [&mut wa, &mut b1] {
        let ended = frame_of(device, "call_ended", &id).await;
        assert_eq!(ended["reason"], "completed");
        assert!(ended["duration_s"].as_i64().unwrap() >= 1, "{ended}");
    }
    // One record in the conversation, pushed to both sides like any message.
    let found = records_eventually(app, &tb, 1, a, 1).await;
    let body = &found[0]["body"];
    assert_eq!((body["media"].as_str(), outcome(&found[0])), (Some("video"), "completed"));
    assert_eq!(body["started_by"], a);
    assert!(body["duration_s"].as_i64().unwrap() >= 1);
    assert_eq!(found[0]["sender_id"], a);
    for device in [&mut wa, &mut b1, &mut b2] {
        let pushed = device.expect("chat_message", T).await.unwrap();
        assert_eq!(
            (pushed["type"].as_i64(), pushed["message_id"].clone()),
            (Some(8), found[0]["message_id"].clone())
        );
    }
    assert!(call_frames(&mut b2).await.is_empty(), "b2 stopped ringing when b1 answered");
    // Clients cannot write call records themselves, nor recall one.
    let (status, body) = app
        .post_as(&ta, "/api/v1/chat/message/send", &json!({"session_type": 1, "type": 8, "target_id": b, "body": {"outcome": "completed"}}))
        .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("INVALID_TYPE")));
    let (status, body) = app
        .post_as(
            &ta,
            "/api/v1/chat/message/rollback",
            &json!({"session_type": 1, "target_id": b, "message_id": found[0]["message_id"]}),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("RECALL_FAILED")), "{body}");
}

async fn every_way_a_private_call_ends_has_its_reason_and_record(profile: Profile) {
    let Some(env) = start(profile, |c| c.calls.ring_timeout_secs = 1).await else { return };
    let app = &env.app;
    let ((a, ta), (b, tb)) = friends(app, "ann", "ben").await;
    let (c, tc) = app.user("cat").await;
    befriend(app, (c, &tc), (b, &tb)).await;
    befriend(app, (c, &tc), (a, &ta)).await;
    let mut wa = connect(app, &ta).await;
    let mut wb = connect(app, &tb).await;
    let mut wc = connect(app, &tc).await;
    online(app, &[a, b, c]).await;

    // Rejected: the caller and every device of the callee hear it.
    let id = new_call_id();
    invite(&mut wa, &id, 1, b, "audio").await;
    frame_of(&mut wb, "call_incoming", &id).await;
    act(&mut wb, "call_reject", &id).await;
    for device in [&mut wa, &mut wb] {
        let ended = frame_of(device, "call_ended", &id).await;
        assert_eq!(
            (ended["reason"].as_str(), ended["duration_s"].as_i64()),
            (Some("rejected"), Some(0))
        );
    }

    // Missed: nobody answers within ring_timeout_secs (1 s here).
    let id = new_call_id();
    let started = std::time::Instant::now();
    invite(&mut wa, &id, 1, b, "audio").await;
    frame_of(&mut wb, "call_incoming", &id).await;
    for device in [&mut wa, &mut wb] {
        assert_eq!(frame_of(device, "call_ended", &id).await["reason"], "missed");
    }
    assert!(started.elapsed() >= Duration::from_millis(900), "rang for the ring timeout");

    // Cancelled: the caller hangs up before an answer, or its socket closes.
    let id = new_call_id();
    invite(&mut wa, &id, 1, b, "video").await;
    frame_of(&mut wb, "call_incoming", &id).await;
    act(&mut wa, "call_hangup", &id).await;
    assert_eq!(frame_of(&mut wb, "call_ended", &id).await["reason"], "cancelled");
    assert_eq!(frame_of(&mut wa, "call_ended", &id).await["reason"], "cancelled");
    let id = new_call_id();
    let mut wa2 = connect(app, &ta).await;
    invite(&mut wa2, &id, 1, b, "audio").await;
    frame_of(&mut wb, "call_incoming", &id).await;
    drop(wa2);
    assert_eq!(frame_of(&mut wb, "call_ended", &id).await["reason"], "cancelled");

    // Busy: B is in a call with A; C's call to B does not ring B and ends at once.
    let with_a = new_call_id();
    invite(&mut wa, &with_a, 1, b, "audio").await;
    frame_of(&mut wb, "call_incoming", &with_a).await;
    act(&mut wb, "call_accept", &with_a).await;
    frame_of(&mut wa, "call_accepted", &with_a).await;
    let from_c = new_call_id();
    invite(&mut wc, &from_c, 1, b, "audio").await;
    let ended = frame_of(&mut wc, "call_ended", &from_c).await;
    assert_eq!(
        (ended["reason"].as_str(), ended["code"].as_str()),
        (Some("busy"), Some("CALLEE_BUSY"))
    );
    // A, in a call, cannot start another.
    let again = new_call_id();
    invite(&mut wa, &again, 1, c, "audio").await;
    let ended = frame_of(&mut wa, "call_ended", &again).await;
    assert_eq!(
        (ended["reason"].as_str(), ended["code"].as_str()),
        (Some("busy"), Some("ALREADY_IN_CALL"))
    );
    assert!(
        call_frames(&mut wb).await.iter().all(|f| f["data"]["call_id"] != from_c.as_str()),
        "B never heard C's call"
    );
    // B's socket closes: the call ends for A, completed.
    drop(wb);
    let ended = frame_of(&mut wa, "call_ended", &with_a).await;
    assert_eq!(ended["reason"], "completed");
    // Free again: C's next call rings B.
    let mut wb = connect(app, &tb).await;
    online(app, &[b]).await;
    let later = new_call_id();
    invite(&mut wc, &later, 1, b, "audio").await;
    frame_of(&mut wb, "call_incoming", &later).await;
    act(&mut wc, "call_hangup", &later).await;
    frame_of(&mut wb, "call_ended", &later).await;

    // Every call left one record, in order, as its conversation's messages.
    let ab = records_eventually(app, &ta, 1, b, 5).await;
    let outcomes: Vec<&str> = ab.iter().map(outcome).collect();
    assert_eq!(outcomes, ["rejected", "missed", "cancelled", "cancelled", "completed"]);
    assert!(ab.iter().all(|r| r["sender_id"] == a && r["body"]["started_by"] == a));
    let cb = records_eventually(app, &tc, 1, b, 2).await;
    assert_eq!(cb.iter().map(outcome).collect::<Vec<_>>(), ["busy", "cancelled"]);
    assert!(records(app, &ta, 1, c).await.is_empty(), "a refused call leaves no record");
    // A missed call counts as unread for the callee (the caller sent it).
    let (_, convs) = app.get_as(&tb, "/api/v1/chat/conversations").await;
    let with_ann = convs["data"].as_array().unwrap().iter().find(|c| c["target_id"] == a).unwrap();
    assert_eq!(with_ann["unread"], 5, "{with_ann}");
}

async fn only_people_who_may_message_each_other_may_call(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let ((a, ta), (b, tb)) = friends(app, "dora", "eli").await;
    let (s, ts) = app.user("stranger").await;
    let (m, tm) = app.user("mia").await;
    befriend(app, (a, &ta), (m, &tm)).await;
    let (_, created) =
        app.post_as(&ta, "/api/v1/group/create", &json!({"member_ids": [b, m]})).await;
    let gid = created["data"]["group_id"].as_i64().unwrap();
    let mut wa = connect(app, &ta).await;
    let mut wb = connect(app, &tb).await;
    let mut ws = connect(app, &ts).await;
    let mut wm = connect(app, &tm).await;
    online(app, &[a, b, s, m]).await;

    let refused = async |ws: &mut WsClient, st: i16, target: i64| {
        let id = new_call_id();
        invite(ws, &id, st, target, "audio").await;
        let ended = frame_of(ws, "call_ended", &id).await;
        assert_eq!(ended["reason"], "forbidden", "{ended}");
        ended["code"].as_str().unwrap().to_string()
    };
    assert_eq!(refused(&mut ws, 1, a).await, "NOT_FRIENDS");
    assert_eq!(refused(&mut ws, 2, gid).await, "NOT_GROUP_MEMBER");
    assert_eq!(refused(&mut wa, 1, a).await, "FRIEND_SELF");
    // Blocked, either way.
    let (st, _) =
        app.post_as(&tb, "/api/v1/friend/update", &json!({"user_id": a, "block_status": 0})).await;
    assert_eq!(st, 200);
    assert_eq!(refused(&mut wa, 1, b).await, "BLOCKED_BY_TARGET");
    assert_eq!(refused(&mut wb, 1, a).await, "TARGET_BLOCKED");
    app.post_as(&tb, "/api/v1/friend/update", &json!({"user_id": a, "block_status": 1})).await;
    // A muted member neither starts nor joins a group call.
    let until = jim::db::now_ms() + 3_600_000;
    let (st, body) = app
        .post_as(
            &ta,
            "/api/v1/group/member/update",
            &json!({"group_id": gid, "user_id": m, "muted_until": until}),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(refused(&mut wm, 2, gid).await, "MEMBER_MUTED");
    let id = new_call_id();
    invite(&mut wa, &id, 2, gid, "audio").await;
    frame_of(&mut wm, "call_incoming", &id).await;
    act(&mut wm, "call_accept", &id).await;
    let ended = frame_of(&mut wm, "call_ended", &id).await;
    assert_eq!(
        (ended["reason"].as_str(), ended["code"].as_str()),
        (Some("forbidden"), Some("MEMBER_MUTED"))
    );
    // Someone else's call: not the stranger's to answer, reject or hang up.
    act(&mut ws, "call_accept", &id).await;
    assert_eq!(frame_of(&mut ws, "call_ended", &id).await["code"], "NOT_GROUP_MEMBER");
    act(&mut wa, "call_hangup", &id).await;
    assert_eq!(frame_of(&mut wa, "call_ended", &id).await["reason"], "cancelled");
    let private = new_call_id();
    invite(&mut wa, &private, 1, b, "audio").await;
    frame_of(&mut wb, "call_incoming", &private).await;
    act(&mut ws, "call_accept", &private).await;
    assert_eq!(frame_of(&mut ws, "call_ended", &private).await["code"], "NOT_CALL_INVITEE");
    act(&mut ws, "call_reject", &private).await;
    assert_eq!(ws.expect("error", T).await.unwrap()["code"], "NOT_CALL_PARTICIPANT");
    act(&mut wa, "call_hangup", &private).await;
    frame_of(&mut wb, "call_ended", &private).await;

    // Bad input: a clear answer, never silence.
    ws.send(json!({"type": "call_invite", "data": {"call_id": "short", "session_type": 1, "target_id": a, "media": "audio"}})).await;
    assert_eq!(ws.expect("error", T).await.unwrap()["code"], "INVALID_CALL_ID");
    ws.send(json!({"type": "call_accept", "data": {}})).await;
    assert_eq!(ws.expect("error", T).await.unwrap()["code"], "INVALID_CALL_ID");
    let bad = new_call_id();
    invite(&mut wa, &bad, 1, b, "hologram").await;
    let ended = frame_of(&mut wa, "call_ended", &bad).await;
    assert_eq!(
        (ended["reason"].as_str(), ended["code"].as_str()),
        (Some("invalid"), Some("INVALID_CALL_MEDIA"))
    );
    invite(&mut wa, &bad, 99, 1, "audio").await;
    assert_eq!(frame_of(&mut wa, "call_ended", &bad).await["code"], "INVALID_SESSION_TYPE");
    let unknown = new_call_id();
    for kind in ["call_accept", "call_reject", "call_hangup"] {
        act(&mut wb, kind, &unknown).await;
        let ended = frame_of(&mut wb, "call_ended", &unknown).await;
        assert_eq!(
            (ended["reason"].as_str(), ended["code"].as_str()),
            (Some("not_found"), Some("CALL_NOT_FOUND"))
        );
    }
    assert!(records(app, &ts, 1, a).await.is_empty(), "refused calls leave no record");
    let ab = records_eventually(app, &ta, 1, b, 1).await;
    assert_eq!(outcome(&ab[0]), "cancelled", "only the call that rang: {ab:?}");
}

async fn a_group_call_is_joined_and_left_up_to_its_cap(profile: Profile) {
    let Some(env) = start(profile, |c| c.calls.max_group_participants = 3).await else { return };
    let app = &env.app;
    let (o, to) = app.user("owner").await;
    let mut members = Vec::new();
    for name in ["member1", "member2", "member3"] {
        let (id, t) = app.user(name).await;
        befriend(app, (o, &to), (id, &t)).await;
        members.push((id, t));
    }
    let ids: Vec<i64> = members.iter().map(|m| m.0).collect();
    let (_, created) = app.post_as(&to, "/api/v1/group/create", &json!({"member_ids": ids})).await;
    let gid = created["data"]["group_id"].as_i64().unwrap();
    let mut wo = connect(app, &to).await;
    let mut ws = Vec::new();
    for (_, t) in &members {
        ws.push(connect(app, t).await);
    }
    online(app, &[o, ids[0], ids[1], ids[2]]).await;

    let id = new_call_id();
    invite(&mut wo, &id, 2, gid, "video").await;
    let o_pid = frame_of(&mut wo, "call_ringing", &id).await["participant_id"].clone();
    for w in ws.iter_mut() {
        let incoming = frame_of(w, "call_incoming", &id).await;
        assert_eq!((&incoming["session_type"], &incoming["target_id"]), (&json!(2), &json!(gid)));
    }
    act(&mut ws[0], "call_accept", &id).await;
    let first = frame_of(&mut ws[0], "call_accepted", &id).await;
    let m1_pid = first["participant_id"].clone();
    assert_eq!(first["participants"].as_array().unwrap().len(), 2);
    let joined = frame_of(&mut wo, "call_joined", &id).await;
    assert_eq!(joined["participant"], json!({"participant_id": m1_pid, "user_id": ids[0]}));
    act(&mut ws[1], "call_accept", &id).await;
    let second = frame_of(&mut ws[1], "call_accepted", &id).await;
    let m2_pid = second["participant_id"].clone();
    let everyone: Vec<&Value> =
        second["participants"].as_array().unwrap().iter().map(|p| &p["participant_id"]).collect();
    assert_eq!(everyone, [&o_pid, &m1_pid, &m2_pid]);
    for w in [&mut wo, &mut ws[0]] {
        assert_eq!(frame_of(w, "call_joined", &id).await["participant"]["participant_id"], m2_pid);
    }
    // The cap (3 devices here): a fourth is refused, the call goes on.
    act(&mut ws[2], "call_accept", &id).await;
    let full = frame_of(&mut ws[2], "call_ended", &id).await;
    assert_eq!((full["reason"].as_str(), full["code"].as_str()), (Some("full"), Some("CALL_FULL")));
    // The newcomer signals every participant; each gets only what is addressed to it.
    signal(&mut ws[1], &id, o_pid.as_str().unwrap(), json!({"to": "owner"})).await;
    signal(&mut ws[1], &id, m1_pid.as_str().unwrap(), json!({"to": "m1"})).await;
    assert_eq!(frame_of(&mut wo, "call_signal", &id).await["data"], json!({"to": "owner"}));
    assert_eq!(frame_of(&mut ws[0], "call_signal", &id).await["data"], json!({"to": "m1"}));
    // One leaves: the others are told, and the leaver's call is over.
    act(&mut ws[0], "call_hangup", &id).await;
    assert_eq!(frame_of(&mut ws[0], "call_ended", &id).await["reason"], "completed");
    for w in [&mut wo, &mut ws[1]] {
        let left = frame_of(w, "call_left", &id).await;
        assert_eq!(
            (&left["participant"]["participant_id"], left["reason"].as_str()),
            (&m1_pid, Some("hangup"))
        );
    }
    // With a place free, the third member joins after all.
    act(&mut ws[2], "call_accept", &id).await;
    assert_eq!(
        frame_of(&mut ws[2], "call_accepted", &id).await["participants"].as_array().unwrap().len(),
        3
    );
    // Everyone hangs up: the call ends and leaves one record in the group.
    act(&mut wo, "call_hangup", &id).await;
    frame_of(&mut wo, "call_ended", &id).await;
    for w in &mut ws[1..] {
        act(w, "call_hangup", &id).await;
        frame_of(w, "call_ended", &id).await;
    }
    let found = records_eventually(app, &to, 2, gid, 1).await;
    assert_eq!(
        (outcome(&found[0]), found[0]["body"]["started_by"].clone()),
        ("completed", json!(o))
    );

    // A group call nobody answers is missed; one everyone declines ends as rejected.
    let declined = new_call_id();
    invite(&mut wo, &declined, 2, gid, "audio").await;
    for w in ws.iter_mut() {
        frame_of(w, "call_incoming", &declined).await;
        act(w, "call_reject", &declined).await;
        assert_eq!(frame_of(w, "call_ended", &declined).await["reason"], "rejected");
    }
    assert_eq!(frame_of(&mut wo, "call_ended", &declined).await["reason"], "rejected");
    let found = records_eventually(app, &to, 2, gid, 2).await;
    assert_eq!(outcome(&found[1]), "rejected");
}

async fn a_retried_invite_is_the_same_call(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let ((a, ta), (b, tb)) = friends(app, "retry", "target").await;
    let (c, tc) = app.user("other").await;
    befriend(app, (c, &tc), (b, &tb)).await;
    let mut wa = connect(app, &ta).await;
    let mut wb = connect(app, &tb).await;
    let mut wc = connect(app, &tc).await;
    online(app, &[a, b, c]).await;

    let id = new_call_id();
    invite(&mut wa, &id, 1, b, "audio").await;
    let first = frame_of(&mut wa, "call_ringing", &id).await;
    invite(&mut wa, &id, 1, b, "audio").await;
    let again = frame_of(&mut wa, "call_ringing", &id).await;
    assert_eq!(
        again["participant_id"], first["participant_id"],
        "the same call, the same place in it"
    );
    let rung: Vec<Value> =
        call_frames(&mut wb).await.into_iter().filter(|f| f["type"] == "call_incoming").collect();
    assert_eq!(rung.len(), 1, "B rang once: {rung:?}");
    // Someone else cannot take over this call_id.
    invite(&mut wc, &id, 1, b, "audio").await;
    let ended = frame_of(&mut wc, "call_ended", &id).await;
    assert_eq!(
        (ended["reason"].as_str(), ended["code"].as_str()),
        (Some("invalid"), Some("CALL_ID_IN_USE"))
    );
    act(&mut wb, "call_accept", &id).await;
    frame_of(&mut wa, "call_accepted", &id).await;
    invite(&mut wa, &id, 1, b, "audio").await;
    let state = frame_of(&mut wa, "call_accepted", &id).await;
    assert_eq!(state["participants"].as_array().unwrap().len(), 2);
    act(&mut wa, "call_hangup", &id).await;
    let ended = frame_of(&mut wa, "call_ended", &id).await;
    // A retry after the end gets the same end, and no second call or record.
    invite(&mut wa, &id, 1, b, "audio").await;
    assert_eq!(frame_of(&mut wa, "call_ended", &id).await, ended);
    assert!(
        call_frames(&mut wb).await.iter().all(|f| f["type"] != "call_incoming"),
        "no new ringing"
    );
    let found = records_eventually(app, &ta, 1, b, 1).await;
    assert_eq!(outcome(&found[0]), "completed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(records(app, &ta, 1, b).await.len(), 1, "exactly one record");
}

/// The TURN password the REST API scheme gives `username` under `secret`, computed here
/// independently of the server.
fn expected_credential(secret: &str, username: &str) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_servers_hand_out_turn_rest_api_credentials() {
    let turn = vec![
        "turn:turn.example.org:3478?transport=udp".to_string(),
        "turns:turn.example.org:5349".to_string(),
    ];
    let env = start(Profile::Embedded, |c| {
        c.calls.stun_urls = vec!["stun:stun.example.org:3478".into()];
        c.calls.turn_urls = turn.clone();
        c.calls.turn_secret = "shared-with-coturn".into();
        c.calls.turn_ttl_secs = 600;
    })
    .await
    .unwrap();
    let app = &env.app;
    let (uid, token) = app.user("icy").await;
    assert_eq!(code(&app.get("/api/v1/call/ice_servers").await), (401, Some("TOKEN_EMPTY")));
    let (status, body) = app.get_as(&token, "/api/v1/call/ice_servers").await;
    assert_eq!(status, 200, "{body}");
    let servers = body["data"]["ice_servers"].as_array().unwrap();
    assert_eq!(servers.len(), 2);
    assert_eq!(
        servers[0],
        json!({"urls": ["stun:stun.example.org:3478"]}),
        "STUN needs no credentials"
    );
    assert_eq!(servers[1]["urls"], json!(turn));
    let username = servers[1]["username"].as_str().unwrap();
    let (expiry, user) = username.split_once(':').unwrap();
    assert_eq!(user, uid.to_string());
    let expiry: i64 = expiry.parse().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!(
        (now + 590..=now + 610).contains(&expiry),
        "valid turn_ttl_secs from now: {expiry} vs {now}"
    );
    assert_eq!(body["data"]["expires_at"], expiry);
    assert_eq!(servers[1]["credential"], expected_credential("shared-with-coturn", username));
    assert_ne!(servers[1]["credential"], expected_credential("another-secret", username));

    // Without TURN or STUN configured: an empty list (direct connections only).
    let plain = start(Profile::Embedded, |_| {}).await.unwrap();
    let (_, token) = plain.app.user("plain").await;
    let (status, body) = plain.app.get_as(&token, "/api/v1/call/ice_servers").await;
    assert_eq!((status, &body["data"]), (200, &json!({"ice_servers": []})));
    // Calls switched off: the route and every call frame say so.
    let off = start(Profile::Embedded, |c| c.calls.enabled = false).await.unwrap();
    let ((_, ta), (b, _)) = friends(&off.app, "offa", "offb").await;
    assert_eq!(
        code(&off.app.get_as(&ta, "/api/v1/call/ice_servers").await),
        (403, Some("CALLS_DISABLED"))
    );
    let mut ws = connect(&off.app, &ta).await;
    let id = new_call_id();
    invite(&mut ws, &id, 1, b, "audio").await;
    let ended = frame_of(&mut ws, "call_ended", &id).await;
    assert_eq!(
        (ended["reason"].as_str(), ended["code"].as_str()),
        (Some("forbidden"), Some("CALLS_DISABLED"))
    );
}

/// The credentials the server hands out are the ones a real coturn (`use-auth-secret`) takes:
/// it grants a relay with them, and refuses the same request when the server's secret differs
/// from its own or the credentials have expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_coturn_accepts_the_credentials_and_refuses_wrong_ones() {
    let secret = format!("turn-{}", uuid::Uuid::new_v4().simple());
    let Some(coturn) = crate::coturn::Coturn::start(&secret).await else { return };
    let url = format!("turn:127.0.0.1:{}?transport=udp", coturn.port);
    let credentials = async |turn_secret: &str| {
        let (url, turn_secret) = (url.clone(), turn_secret.to_string());
        let env = start(Profile::Embedded, move |c| {
            c.calls.turn_urls = vec![url];
            c.calls.turn_secret = turn_secret;
        })
        .await
        .unwrap();
        let (_, token) = env.app.user("turner").await;
        let (status, body) = env.app.get_as(&token, "/api/v1/call/ice_servers").await;
        assert_eq!(status, 200, "{body}");
        let turn = body["data"]["ice_servers"][0].clone();
        (
            turn["username"].as_str().unwrap().to_string(),
            turn["credential"].as_str().unwrap().to_string(),
        )
    };

    let (username, password) = credentials(&secret).await;
    let relayed = coturn.allocate(&username, &password).await;
    let relayed =
        relayed.unwrap_or_else(|code| panic!("coturn refused ({code}); log:\n{}", coturn.log()));
    assert_eq!(relayed.ip(), std::net::Ipv4Addr::LOCALHOST, "a relay on coturn's relay address");
    assert!(coturn.log().contains(&format!("username=<{username}>")), "coturn saw our user");

    // The server configured with another secret: refused.
    let (wrong_user, wrong_password) = credentials("not-the-secret-coturn-has").await;
    assert_eq!(coturn.allocate(&wrong_user, &wrong_password).await, Err(401));
    // The right secret but an expiry in the past: refused too.
    let (_, user) = username.split_once(':').unwrap();
    let expired = format!("{}:{user}", chrono::Utc::now().timestamp() - 60);
    let expired_password = jim::service::call::turn_credential(&secret, &expired);
    assert_eq!(coturn.allocate(&expired, &expired_password).await, Err(401));
    // A password that is not the HMAC of the username: refused.
    assert_eq!(coturn.allocate(&username, "guessed").await, Err(401));
}

/// A socket to an instance at `url` (`http://127.0.0.1:port`).
async fn connect_url(url: &str, token: &str) -> WsClient {
    let ws = format!("{}/api/v1/ws?token={token}", url.replace("http://", "ws://"));
    WsClient::connect_request(ws.as_str()).await.unwrap()
}

/// Two instances on MariaDB + Redis: the caller on one, the callee's devices on both. The
/// call rings everywhere, the answer on the other instance stops the ringing here, signals
/// cross in order both ways, busy is known across instances, and the record is written once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_crosses_two_instances() {
    let Some(scale) = ScaleOut::fresh().await else { return };
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = spawn_app(test_config(da.path(), Some(&scale))).await;
    let b = spawn_app(test_config(db.path(), Some(&scale))).await;
    assert!(a.state.bus.wait_subscribed(T).await && b.state.bus.wait_subscribed(T).await);
    let ((x, tx), (y, ty)) = friends(&a, "xavier", "yolanda").await;
    let (z, tz) = a.user("zoe").await;
    befriend(&a, (z, &tz), (y, &ty)).await;
    befriend(&a, (z, &tz), (x, &tx)).await;
    let mut wx = connect(&a, &tx).await;
    let mut y_on_b = connect(&b, &ty).await;
    let mut y_on_a = connect(&a, &ty).await;
    let mut wz = connect(&b, &tz).await;
    online(&a, &[x, y]).await;
    online(&b, &[y, z]).await;

    let id = new_call_id();
    invite(&mut wx, &id, 1, y, "video").await;
    let x_pid = frame_of(&mut wx, "call_ringing", &id).await["participant_id"].clone();
    frame_of(&mut y_on_b, "call_incoming", &id).await;
    frame_of(&mut y_on_a, "call_incoming", &id).await;
    act(&mut y_on_b, "call_accept", &id).await;
    let y_pid = frame_of(&mut y_on_b, "call_accepted", &id).await["participant_id"].clone();
    let accepted = frame_of(&mut wx, "call_accepted", &id).await;
    assert_eq!(accepted["participants"][1], json!({"participant_id": y_pid, "user_id": y}));
    frame_of(&mut y_on_a, "call_answered_elsewhere", &id).await;

    // Signals cross instances in order, both ways, and only to the named device.
    let (x_pid, y_pid) = (x_pid.as_str().unwrap().to_string(), y_pid.as_str().unwrap().to_string());
    for n in 0..30 {
        signal(&mut wx, &id, &y_pid, json!({"n": n})).await;
        signal(&mut y_on_b, &id, &x_pid, json!({"n": n})).await;
    }
    for n in 0..30 {
        assert_eq!(frame_of(&mut y_on_b, "call_signal", &id).await["data"]["n"], n);
        assert_eq!(frame_of(&mut wx, "call_signal", &id).await["data"]["n"], n);
    }
    assert!(call_frames(&mut y_on_a).await.is_empty(), "Y's device on A hears no signal");

    // Z, on B, calls Y (in a call owned by A) and X: both busy.
    for target in [y, x] {
        let busy = new_call_id();
        invite(&mut wz, &busy, 1, target, "audio").await;
        let ended = frame_of(&mut wz, "call_ended", &busy).await;
        assert_eq!(ended["reason"], "busy", "{ended}");
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    act(&mut y_on_b, "call_hangup", &id).await;
    for device in [&mut wx, &mut y_on_b] {
        let ended = frame_of(device, "call_ended", &id).await;
        assert_eq!(ended["reason"], "completed");
        assert!(ended["duration_s"].as_i64().unwrap() >= 1);
    }

    // A call owned by B: Z (on B) calls X (on A); X's socket closes mid-call.
    let from_z = new_call_id();
    invite(&mut wz, &from_z, 1, x, "audio").await;
    frame_of(&mut wx, "call_incoming", &from_z).await;
    act(&mut wx, "call_accept", &from_z).await;
    frame_of(&mut wz, "call_accepted", &from_z).await;
    drop(wx);
    assert_eq!(frame_of(&mut wz, "call_ended", &from_z).await["reason"], "completed");

    // Each call left exactly one record, whichever instance reads it.
    let xy = records_eventually(&b, &ty, 1, x, 1).await;
    assert_eq!(outcome(&xy[0]), "completed");
    let zy = records_eventually(&a, &tz, 1, y, 1).await;
    assert_eq!(outcome(&zy[0]), "busy");
    let zx = records_eventually(&a, &tz, 1, x, 2).await;
    assert_eq!(zx.iter().map(outcome).collect::<Vec<_>>(), ["busy", "completed"]);
    a.stop().await;
    b.stop().await;
}

/// A `jim serve` of its own (a real process, so that the test can kill it like a crash) on
/// the same MariaDB and Redis.
struct Instance {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Instance {
    async fn start(scale: &ScaleOut) -> Instance {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cmd = std::process::Command::new(jim_bin());
        for (k, _) in std::env::vars() {
            if k.starts_with("JIM_") {
                cmd.env_remove(k);
            }
        }
        let child = cmd
            .current_dir(dir.path())
            .arg("serve")
            .env("JIM_DATA_DIR", dir.path())
            .env("JIM_DATABASE__URL", &scale.mysql_url)
            .env("JIM_REDIS__URL", &scale.redis_url)
            .env("JIM_SERVER_NAME", &scale.server_name)
            .env("JIM_HTTP__LISTEN", format!("127.0.0.1:{port}"))
            .env("JIM_LOG__LEVEL", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start jim serve");
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let ready = eventually(Duration::from_secs(20), || async {
            let answer = client.get(format!("{url}/readyz")).send().await;
            answer.is_ok_and(|r| r.status().is_success())
        })
        .await;
        assert!(ready, "jim serve answered /readyz");
        Instance { child, url, _dir: dir }
    }

    /// SIGKILL: no goodbye to anyone.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An instance dies mid-call (SIGKILL): when it owned the call, the call ends for the device
/// on the other instance; when it held the other party's device, the call owned elsewhere
/// ends. Either way within a few seconds (never ringing or hanging on forever), as `failed`,
/// recorded once, and the survivor is free for the next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_ends_within_seconds_when_an_instance_dies() {
    let Some(scale) = ScaleOut::fresh().await else { return };
    let db = tempfile::tempdir().unwrap();
    let b = spawn_app(test_config(db.path(), Some(&scale))).await;
    assert!(b.state.bus.wait_subscribed(T).await);
    let ((x, tx), (y, ty)) = friends(&b, "doomed", "survivor").await;

    // The home dies: X on the doomed instance calls Y on B.
    let mut doomed = Instance::start(&scale).await;
    let mut wx = connect_url(&doomed.url, &tx).await;
    let mut wy = connect(&b, &ty).await;
    online(&b, &[y]).await;
    let id = new_call_id();
    invite(&mut wx, &id, 1, y, "audio").await;
    frame_of(&mut wx, "call_ringing", &id).await;
    frame_of(&mut wy, "call_incoming", &id).await;
    act(&mut wy, "call_accept", &id).await;
    frame_of(&mut wx, "call_accepted", &id).await;
    frame_of(&mut wy, "call_accepted", &id).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    doomed.kill();
    let killed = std::time::Instant::now();
    let ended = frame_within(&mut wy, "call_ended", &id, Duration::from_secs(10)).await;
    assert_eq!(ended["reason"], "failed", "{ended}");
    assert!(ended["duration_s"].as_i64().unwrap() >= 1);
    assert!(
        killed.elapsed() < Duration::from_secs(8),
        "ended {:?} after the kill",
        killed.elapsed()
    );
    let found = records_eventually(&b, &ty, 1, x, 1).await;
    assert_eq!(outcome(&found[0]), "failed");

    // The other party's instance dies: Y on B (the home) calls X on a second doomed instance.
    let mut doomed = Instance::start(&scale).await;
    let mut wx = connect_url(&doomed.url, &tx).await;
    let id = new_call_id();
    invite(&mut wy, &id, 1, x, "video").await;
    frame_of(&mut wy, "call_ringing", &id).await;
    frame_of(&mut wx, "call_incoming", &id).await;
    act(&mut wx, "call_accept", &id).await;
    frame_of(&mut wy, "call_accepted", &id).await;
    doomed.kill();
    let killed = std::time::Instant::now();
    let ended = frame_within(&mut wy, "call_ended", &id, Duration::from_secs(10)).await;
    assert_eq!(ended["reason"], "failed", "{ended}");
    assert!(
        killed.elapsed() < Duration::from_secs(8),
        "ended {:?} after the kill",
        killed.elapsed()
    );
    let found = records_eventually(&b, &ty, 1, x, 2).await;
    assert_eq!(outcome(&found[1]), "failed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(records(&b, &ty, 1, x).await.len(), 2, "each call recorded once");

    // Y is free again.
    let (z, tz) = b.user("next").await;
    befriend(&b, (z, &tz), (y, &ty)).await;
    let mut wz = connect(&b, &tz).await;
    let next = new_call_id();
    invite(&mut wz, &next, 1, y, "audio").await;
    frame_of(&mut wy, "call_incoming", &next).await;
    b.stop().await;
}
