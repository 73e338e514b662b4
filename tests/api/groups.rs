//! Groups on both profiles: the corrected permission matrix (table-driven), the member limit
//! under concurrent joins, bans on every path, the life cycle (policies, requests,
//! invitations, links, roles, transfer, mutes, dissolve), bad input, and `jim group …`; links
//! that die with their creator's right to invite, pending invitations and requests closed by
//! joining and removal, and recall under the same rank rule as every other group action.

use std::time::Duration;

use jim::bus::{Event, GroupEventKind};
use jim::db::friend::RelationChanges;
use jim::domain::{GroupId, UserId};
use jim::service::group::can_send;
use serde_json::{Value, json};

use crate::helpers::*;

both_profiles!(
    permission_matrix,
    member_limit_holds_under_concurrent_joins,
    banned_user_cannot_rejoin_by_any_path,
    group_life_cycle,
    bad_input_gets_clear_errors,
    cli_group_commands_reach_running_servers,
    recall_follows_the_group_ranks,
    joining_or_removal_closes_pending_invitations_and_requests,
    invite_links_work_only_while_their_creator_may_invite,
    a_block_either_way_means_not_friends_for_groups,
);

fn code(body: &Value) -> String {
    body["code"].as_str().unwrap_or("").to_string()
}

/// Make `a` and `b` mutual friends (their `user_relation` row gets status 3; blocks stay as
/// they are), without the invitation round trip's greeting and events.
async fn befriend(app: &TestApp, a: i64, b: i64) {
    let now = jim::db::now_ms();
    app.state
        .db
        .relation_modify(UserId(a), UserId(b), now, move |r| RelationChanges {
            status: 3,
            block_status: r.block_status,
            remark_on_a: r.remark_on_a.clone(),
            remark_on_b: r.remark_on_b.clone(),
            updated_at: now,
        })
        .await
        .unwrap();
}

/// Create a group as `owner` with `members` (made friends first); returns its id.
async fn new_group(app: &TestApp, owner: &(i64, String), members: &[i64]) -> i64 {
    for &m in members {
        befriend(app, owner.0, m).await;
    }
    let (status, body) =
        app.post_as(&owner.1, "/api/v1/group/create", &json!({"member_ids": members})).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["group_id"].as_i64().unwrap()
}

async fn ok(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let (status, res) = app.post_as(token, path, &body).await;
    assert_eq!(status, 200, "{path} {body}: {res}");
    res
}

/// Post and return (HTTP status, code or "ok").
async fn attempt(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, String) {
    let (status, res) = app.post_as(token, path, &body).await;
    assert_ne!(status, 500, "{path}: {res}");
    (status, if status == 200 { "ok".into() } else { code(&res) })
}

#[derive(Debug, Clone, Copy)]
enum Act {
    Info,
    Members,
    Join,
    Leave,
    Rename,
    Announce,
    MuteAll,
    Transfer,
    AddMember,
    RemoveMember,
    RemoveAdmin,
    AppointAdmin,
    MuteMember,
    MuteAdmin,
    TouchOwner,
    Bans,
    Requests,
    Links,
    CreateLink,
    Invite,
    Nickname,
    Dissolve,
    Send,
    SendWhenAllMuted,
}

/// The cast of the matrix: owner, admin, member, non-member, a plain-member target and an
/// outsider who is everybody's friend.
struct Cast {
    o: (i64, String),
    a: (i64, String),
    m: (i64, String),
    n: (i64, String),
    t: (i64, String),
    x: (i64, String),
}

/// How an [`Act`] is tried: a read (`GET …?group_id=`), a change (a POST answered "ok" or a
/// code), a change that counts who it reached ("ok:N"), or the send check.
enum Try {
    Read(&'static str),
    Change(&'static str, Value),
    Counted(&'static str, Value),
    Send,
}

async fn perform(app: &TestApp, c: &Cast, act: Act, gid: i64, who: &(i64, String)) -> String {
    use Act::*;
    let tok = who.1.as_str();
    let g = |extra: Value| {
        let mut body = json!({"group_id": gid});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let member_update = "/api/v1/group/member/update";
    let how = match act {
        Info => Try::Read("/api/v1/group/info"),
        Members => Try::Read("/api/v1/group/members"),
        Bans => Try::Read("/api/v1/group/bans"),
        Requests => Try::Read("/api/v1/group/requests"),
        Links => Try::Read("/api/v1/group/links"),
        Join => Try::Change("/api/v1/group/join", g(json!({}))),
        Leave => Try::Change("/api/v1/group/leave", g(json!({}))),
        Rename => Try::Change("/api/v1/group/update", g(json!({"name": "New"}))),
        Announce => Try::Change("/api/v1/group/update", g(json!({"announcement": "hi"}))),
        MuteAll => Try::Change("/api/v1/group/update", g(json!({"speak_status": 0}))),
        Transfer => Try::Change("/api/v1/group/transfer", g(json!({"user_id": c.t.0}))),
        AddMember => Try::Counted("/api/v1/group/member/add", g(json!({"user_ids": [c.x.0]}))),
        RemoveMember | RemoveAdmin => {
            Try::Counted("/api/v1/group/member/remove", g(json!({"user_ids": [c.t.0]})))
        }
        AppointAdmin => Try::Change(member_update, g(json!({"user_id": c.t.0, "role": 2}))),
        MuteMember => Try::Change(member_update, g(json!({"user_id": c.t.0, "speak_status": 0}))),
        MuteAdmin => Try::Change(member_update, g(json!({"user_id": c.a.0, "speak_status": 0}))),
        TouchOwner => Try::Change(member_update, g(json!({"user_id": c.o.0, "speak_status": 0}))),
        CreateLink => Try::Change("/api/v1/group/link/create", g(json!({}))),
        Invite => Try::Counted("/api/v1/group/invite", g(json!({"user_ids": [c.x.0]}))),
        Nickname => Try::Change("/api/v1/group/member/nickname", g(json!({"nickname": "nick"}))),
        Dissolve => Try::Change("/api/v1/group/dissolve", g(json!({}))),
        Send | SendWhenAllMuted => Try::Send,
    };
    match how {
        Try::Read(path) => {
            let (status, res) = app.get_as(tok, &format!("{path}?group_id={gid}")).await;
            assert_ne!(status, 500, "{res}");
            if status == 200 { "ok".to_string() } else { code(&res) }
        }
        Try::Change(path, body) => attempt(app, tok, path, body).await.1,
        Try::Counted(path, body) => {
            let (status, res) = app.post_as(tok, path, &body).await;
            if status == 200 { format!("ok:{}", res["data"]["count"]) } else { code(&res) }
        }
        Try::Send => match can_send(app.state.get_ref(), GroupId(gid), UserId(who.0)).await {
            Ok(()) => "ok".into(),
            Err(e) => e.error_code().as_str().to_string(),
        },
    }
}

async fn permission_matrix(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let c = Cast {
        o: app.user("owner").await,
        a: app.user("admin").await,
        m: app.user("member").await,
        n: app.user("nonmember").await,
        t: app.user("target").await,
        x: app.user("outsider").await,
    };
    for u in [c.o.0, c.a.0, c.m.0, c.n.0] {
        befriend(app, u, c.x.0).await;
    }
    use Act::*;
    const NM: &str = "NOT_GROUP_MEMBER";
    #[rustfmt::skip]
    let table: &[(Act, [&str; 4])] = &[
        //                 owner                    admin                      member                      non-member
        (Info,            ["ok",                    "ok",                      "ok",                       NM]),
        (Members,         ["ok",                    "ok",                      "ok",                       NM]),
        (Join,            ["ALREADY_GROUP_MEMBER",  "ALREADY_GROUP_MEMBER",    "ALREADY_GROUP_MEMBER",     "GROUP_INVITE_ONLY"]),
        (Leave,           ["OWNER_CANNOT_LEAVE",    "ok",                      "ok",                       NM]),
        (Rename,          ["ok",                    "ok",                      "NOT_ADMIN",                NM]),
        (Announce,        ["ok",                    "ok",                      "NOT_ADMIN",                NM]),
        (MuteAll,         ["ok",                    "ok",                      "NOT_ADMIN",                NM]),
        (Transfer,        ["ok",                    "NOT_OWNER",               "NOT_OWNER",                NM]),
        (AddMember,       ["ok:1",                  "ok:1",                    "NOT_ADMIN",                NM]),
        (RemoveMember,    ["ok:1",                  "ok:1",                    "NOT_ADMIN",                NM]),
        (RemoveAdmin,     ["ok:1",                  "ok:0",                    "NOT_ADMIN",                NM]),
        (AppointAdmin,    ["ok",                    "NOT_OWNER",               "NOT_ADMIN",                NM]),
        (MuteMember,      ["ok",                    "ok",                      "NOT_ADMIN",                NM]),
        (MuteAdmin,       ["ADMIN_CANNOT_BE_MUTED", "CANNOT_EDIT_SELF",        "NOT_ADMIN",                NM]),
        (TouchOwner,      ["CANNOT_EDIT_SELF",      "CANNOT_EDIT_PEER_ADMIN",  "NOT_ADMIN",                NM]),
        (Bans,            ["ok",                    "ok",                      "NOT_ADMIN",                NM]),
        (Requests,        ["ok",                    "ok",                      "NOT_ADMIN",                NM]),
        (Links,           ["ok",                    "ok",                      "NOT_ADMIN",                NM]),
        (CreateLink,      ["ok",                    "ok",                      "GROUP_INVITE_NOT_ALLOWED", NM]),
        (Invite,          ["ok:1",                  "ok:1",                    "GROUP_INVITE_NOT_ALLOWED", NM]),
        (Nickname,        ["ok",                    "ok",                      "ok",                       NM]),
        (Dissolve,        ["ok",                    "NOT_OWNER",               "NOT_OWNER",                NM]),
        (Send,            ["ok",                    "ok",                      "ok",                       NM]),
        (SendWhenAllMuted,["ok",                    "ok",                      "GROUP_ALL_MUTED",          NM]),
    ];
    let mut failures = Vec::new();
    for (act, expected) in table {
        for (i, who) in [&c.o, &c.a, &c.m, &c.n].into_iter().enumerate() {
            // A fresh group per cell: owner o; admin a; members m and t.
            let gid = new_group(app, &c.o, &[c.a.0, c.m.0, c.t.0]).await;
            let promote = json!({"group_id": gid, "user_id": c.a.0, "role": 2});
            ok(app, &c.o.1, "/api/v1/group/member/update", promote).await;
            match act {
                RemoveAdmin => {
                    let body = json!({"group_id": gid, "user_id": c.t.0, "role": 2});
                    ok(app, &c.o.1, "/api/v1/group/member/update", body).await;
                }
                SendWhenAllMuted => {
                    let body = json!({"group_id": gid, "speak_status": 0});
                    ok(app, &c.o.1, "/api/v1/group/update", body).await;
                }
                _ => {}
            }
            let got = perform(app, &c, *act, gid, who).await;
            if got != expected[i] {
                let role = ["owner", "admin", "member", "non-member"][i];
                failures.push(format!("{act:?} as {role}: expected {}, got {got}", expected[i]));
            }
        }
    }
    assert!(failures.is_empty(), "permission matrix:\n{}", failures.join("\n"));
}

async fn member_limit_holds_under_concurrent_joins(profile: Profile) {
    let Some(env) = start(profile, |c| c.groups.default_max_members = 3).await else { return };
    let app = &env.app;
    let owner = app.user("owner").await;
    let mut others = Vec::new();
    for i in 0..3 {
        let u = app.user(&format!("friend{i}")).await;
        befriend(app, owner.0, u.0).await;
        others.push(u);
    }
    // Create: the limit counts the owner; exactly the limit is fine, one more is not.
    let ids: Vec<i64> = others.iter().map(|u| u.0).collect();
    let (status, body) =
        app.post_as(&owner.1, "/api/v1/group/create", &json!({"member_ids": ids})).await;
    assert_eq!((status, code(&body).as_str()), (409, "GROUP_FULL"), "{body}");
    assert_eq!(body["data"], json!({"max": 3, "total": 4}));
    let full = new_group(app, &owner, &ids[..2]).await;
    let (status, body) = app
        .post_as(
            &owner.1,
            "/api/v1/group/member/add",
            &json!({"group_id": full, "user_ids": [ids[2]]}),
        )
        .await;
    assert_eq!((status, code(&body).as_str()), (409, "GROUP_FULL"), "{body}");

    // One seat left in an open group, twenty people join at once: exactly one gets in.
    let gid = new_group(app, &owner, &ids[..1]).await;
    ok(app, &owner.1, "/api/v1/group/update", json!({"group_id": gid, "join_policy": "open"}))
        .await;
    let mut tokens = Vec::new();
    for i in 0..20 {
        tokens.push(app.user(&format!("joiner{i}")).await.1);
    }
    let mut tasks = Vec::new();
    for token in tokens {
        let client = app.client.clone();
        let url = format!("{}/api/v1/group/join", app.url);
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"group_id": gid}))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap();
            (status, body["code"].as_str().unwrap_or("").to_string())
        }));
    }
    let mut joined = 0;
    for task in tasks {
        match task.await.unwrap() {
            (200, _) => joined += 1,
            (409, c) if c == "GROUP_FULL" => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(joined, 1, "exactly one seat was left");
    let (_, info) = app.get_as(&owner.1, &format!("/api/v1/group/info?group_id={gid}")).await;
    assert_eq!(info["data"]["member_count"], 3);
    let (_, members) = app.get_as(&owner.1, &format!("/api/v1/group/members?group_id={gid}")).await;
    assert_eq!(members["data"].as_array().unwrap().len(), 3);
    // The server-wide ceiling wins over a group's own limit.
    let (status, body) = app
        .post_as(&owner.1, "/api/v1/group/update", &json!({"group_id": gid, "max_member": 5000}))
        .await;
    assert_eq!((status, code(&body).as_str()), (400, "INVALID_MAX_MEMBER"));
}

async fn banned_user_cannot_rejoin_by_any_path(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let owner = app.user("owner").await;
    let member = app.user("member").await;
    let bad = app.user("troll").await;
    let gid = new_group(app, &owner, &[member.0, bad.0]).await;
    ok(
        app,
        &owner.1,
        "/api/v1/group/update",
        json!({"group_id": gid, "join_policy": "open", "member_invite": true}),
    )
    .await;
    let mut events = app.state.bus.subscribe();
    let res = ok(
        app,
        &owner.1,
        "/api/v1/group/member/remove",
        json!({"group_id": gid, "user_ids": [bad.0], "ban": true}),
    )
    .await;
    assert_eq!(res["data"]["count"], 1);
    let heard = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if let Ok(m) = events.recv().await
                && let Event::Group {
                    kind: GroupEventKind::MembersRemoved,
                    target_ids,
                    member_ids,
                    values,
                    ..
                } = m.event.clone()
            {
                return (target_ids, member_ids, values);
            }
        }
    })
    .await
    .expect("removal published");
    assert_eq!(heard.0, vec![UserId(bad.0)]);
    assert!(
        heard.1.contains(&UserId(bad.0)) && heard.1.contains(&UserId(member.0)),
        "removed user is told too"
    );
    assert_eq!(heard.2["banned"], json!([bad.0]));

    let (_, bans) = app.get_as(&owner.1, &format!("/api/v1/group/bans?group_id={gid}")).await;
    assert_eq!(bans["data"][0]["user_id"], bad.0);
    // join (open group)
    let r = attempt(app, &bad.1, "/api/v1/group/join", json!({"group_id": gid})).await;
    assert_eq!(r, (403, "GROUP_BANNED".into()));
    // add by the owner (even as a friend)
    let r = attempt(
        app,
        &owner.1,
        "/api/v1/group/member/add",
        json!({"group_id": gid, "user_ids": [bad.0]}),
    )
    .await;
    assert_eq!(r, (403, "GROUP_BANNED".into()));
    // invitation by a member
    let r = attempt(
        app,
        &member.1,
        "/api/v1/group/invite",
        json!({"group_id": gid, "user_ids": [bad.0]}),
    )
    .await;
    assert_eq!(r, (403, "GROUP_BANNED".into()));
    // invite link
    let link = ok(app, &member.1, "/api/v1/group/link/create", json!({"group_id": gid})).await;
    let token = link["data"]["token"].as_str().unwrap().to_string();
    let r = attempt(app, &bad.1, "/api/v1/group/link/join", json!({"token": token})).await;
    assert_eq!(r, (403, "GROUP_BANNED".into()));
    // a join request in an approval group cannot be accepted either
    ok(app, &owner.1, "/api/v1/group/update", json!({"group_id": gid, "join_policy": "approval"}))
        .await;
    let r = attempt(app, &bad.1, "/api/v1/group/join", json!({"group_id": gid})).await;
    assert_eq!(r, (403, "GROUP_BANNED".into()));
    assert!(can_send(app.state.get_ref(), GroupId(gid), UserId(bad.0)).await.is_err());

    // Unban: the link works again.
    let r =
        attempt(app, &member.1, "/api/v1/group/unban", json!({"group_id": gid, "user_id": bad.0}))
            .await;
    assert_eq!(r, (403, "NOT_ADMIN".into()));
    ok(app, &owner.1, "/api/v1/group/unban", json!({"group_id": gid, "user_id": bad.0})).await;
    let r =
        attempt(app, &owner.1, "/api/v1/group/unban", json!({"group_id": gid, "user_id": bad.0}))
            .await;
    assert_eq!(r, (404, "GROUP_BAN_NOT_FOUND".into()));
    ok(app, &bad.1, "/api/v1/group/link/join", json!({"token": token})).await;
    // Banning a non-member outright also works (remove lists them with ban).
    let stranger = app.user("stranger").await;
    let res = ok(
        app,
        &owner.1,
        "/api/v1/group/member/remove",
        json!({"group_id": gid, "user_ids": [stranger.0], "ban": true}),
    )
    .await;
    assert_eq!(res["data"]["count"], 0);
    ok(app, &owner.1, "/api/v1/group/update", json!({"group_id": gid, "join_policy": "open"}))
        .await;
    let r = attempt(app, &stranger.1, "/api/v1/group/join", json!({"group_id": gid})).await;
    assert_eq!(r, (403, "GROUP_BANNED".into()));
}

async fn group_life_cycle(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let owner = app.user("olivia").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;
    let erin = app.user("erin").await;

    // Create: members must be friends, active and existing.
    let r = attempt(app, &owner.1, "/api/v1/group/create", json!({"member_ids": [bob.0]})).await;
    assert_eq!(r, (403, "GROUP_MEMBER_NOT_FRIEND".into()));
    let r = attempt(app, &owner.1, "/api/v1/group/create", json!({"member_ids": [999_999]})).await;
    assert_eq!(r, (400, "GROUP_MEMBER_INACTIVE".into()));
    befriend(app, owner.0, bob.0).await;
    befriend(app, owner.0, carol.0).await;
    app.state.db.user_set_status(UserId(carol.0), 0, jim::db::now_ms()).await.unwrap();
    let r = attempt(app, &owner.1, "/api/v1/group/create", json!({"member_ids": [bob.0, carol.0]}))
        .await;
    assert_eq!(r, (400, "GROUP_MEMBER_INACTIVE".into()), "disabled users cannot be added");
    app.state.db.user_set_status(UserId(carol.0), 1, jim::db::now_ms()).await.unwrap();
    let carol = (carol.0, app.login("carol", "passw0rd-ok").await);

    let mut events = app.state.bus.subscribe();
    let res =
        ok(app, &owner.1, "/api/v1/group/create", json!({"member_ids": [bob.0, carol.0, bob.0]}))
            .await;
    let gid = res["data"]["group_id"].as_i64().unwrap();
    assert_eq!(res["data"]["group_name"], "olivia, bob, carol", "default name from nicknames");
    match events.recv().await.unwrap().event.clone() {
        Event::Group { kind, group_id, member_ids, .. } => {
            assert_eq!((kind, group_id), (GroupEventKind::Created, GroupId(gid)));
            assert_eq!(member_ids.len(), 3);
        }
        other => panic!("{other:?}"),
    }

    let (_, info) = app.get_as(&bob.1, &format!("/api/v1/group/info?group_id={gid}")).await;
    let d = &info["data"];
    assert_eq!((d["owner_id"].as_i64(), d["member_count"].as_i64()), (Some(owner.0), Some(3)));
    assert_eq!((d["join_policy"].as_str(), d["my_role"].as_i64()), (Some("invite_only"), Some(0)));
    assert_eq!((d["max_member"].as_i64(), d["status"].as_str()), (Some(500), Some("active")));

    // Edit info, nickname, member list, my groups.
    ok(app, &owner.1, "/api/v1/group/update", json!({"group_id": gid, "name": "Climbers", "announcement": "Sat 9am", "avatar": "https://cdn.example.com/g.png"})).await;
    ok(app, &bob.1, "/api/v1/group/member/nickname", json!({"group_id": gid, "nickname": "Bobby"}))
        .await;
    let (_, members) = app.get_as(&carol.1, &format!("/api/v1/group/members?group_id={gid}")).await;
    let list = members["data"].as_array().unwrap();
    let b = list.iter().find(|m| m["user_id"] == bob.0).unwrap();
    assert_eq!(
        (b["group_nickname"].as_str(), b["role"].as_i64(), b["muted"].as_bool()),
        (Some("Bobby"), Some(0), Some(false))
    );
    let (_, mine) = app.get_as(&bob.1, "/api/v1/group/mine").await;
    assert_eq!(mine["data"][0]["name"], "Climbers");
    assert_eq!(mine["data"][0]["my_nickname"], "Bobby");

    // Mute one member until a time; mute all (owner/admins still speak).
    let until = jim::db::now_ms() + 3_600_000;
    ok(
        app,
        &owner.1,
        "/api/v1/group/member/update",
        json!({"group_id": gid, "user_id": carol.0, "muted_until": until}),
    )
    .await;
    assert_eq!(
        can_send(app.state.get_ref(), GroupId(gid), UserId(carol.0))
            .await
            .unwrap_err()
            .error_code()
            .as_str(),
        "MEMBER_MUTED"
    );
    let (_, members) = app.get_as(&carol.1, &format!("/api/v1/group/members?group_id={gid}")).await;
    let c = members["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == carol.0)
        .unwrap()
        .clone();
    assert_eq!((c["muted"].as_bool(), c["muted_until"].as_i64()), (Some(true), Some(until)));
    // An expired mute no longer counts.
    let past = jim::db::group::MemberChanges {
        muted_until: Some(Some(jim::db::now_ms() - 1)),
        ..Default::default()
    };
    app.state.db.group_member_update(GroupId(gid), UserId(carol.0), past).await.unwrap();
    can_send(app.state.get_ref(), GroupId(gid), UserId(carol.0)).await.unwrap();
    ok(
        app,
        &owner.1,
        "/api/v1/group/member/update",
        json!({"group_id": gid, "user_id": bob.0, "role": 2}),
    )
    .await;
    ok(app, &bob.1, "/api/v1/group/update", json!({"group_id": gid, "speak_status": 0})).await;
    assert_eq!(
        can_send(app.state.get_ref(), GroupId(gid), UserId(carol.0))
            .await
            .unwrap_err()
            .error_code()
            .as_str(),
        "GROUP_ALL_MUTED"
    );
    can_send(app.state.get_ref(), GroupId(gid), UserId(bob.0)).await.unwrap();
    can_send(app.state.get_ref(), GroupId(gid), UserId(owner.0)).await.unwrap();
    ok(app, &bob.1, "/api/v1/group/update", json!({"group_id": gid, "speak_status": 1})).await;

    // Approval policy: request, list, reject, request again, accept.
    ok(app, &owner.1, "/api/v1/group/update", json!({"group_id": gid, "join_policy": "approval"}))
        .await;
    let res =
        ok(app, &dave.1, "/api/v1/group/join", json!({"group_id": gid, "message": "let me in"}))
            .await;
    assert_eq!(res["data"]["status"], "requested");
    let (_, reqs) = app.get_as(&bob.1, &format!("/api/v1/group/requests?group_id={gid}")).await;
    assert_eq!(
        (reqs["data"][0]["user_id"].as_i64(), reqs["data"][0]["message"].as_str()),
        (Some(dave.0), Some("let me in"))
    );
    ok(app, &bob.1, "/api/v1/group/request/reject", json!({"group_id": gid, "user_id": dave.0}))
        .await;
    // The same person asking five times at once leaves one pending request, never a 500.
    let asks = (0..5).map(|_| {
        let client = app.client.clone();
        let url = format!("{}/api/v1/group/join", app.url);
        let token = erin.1.clone();
        tokio::spawn(async move {
            let res = client.post(url).bearer_auth(token).json(&json!({"group_id": gid})).send();
            res.await.unwrap().status().as_u16()
        })
    });
    for ask in asks.collect::<Vec<_>>() {
        assert_eq!(ask.await.unwrap(), 200);
    }
    let (_, reqs) = app.get_as(&bob.1, &format!("/api/v1/group/requests?group_id={gid}")).await;
    assert_eq!(reqs["data"].as_array().unwrap().len(), 1, "{reqs}");
    ok(app, &bob.1, "/api/v1/group/request/reject", json!({"group_id": gid, "user_id": erin.0}))
        .await;
    let r = attempt(
        app,
        &bob.1,
        "/api/v1/group/request/accept",
        json!({"group_id": gid, "user_id": dave.0}),
    )
    .await;
    assert_eq!(r, (404, "GROUP_REQUEST_NOT_FOUND".into()));
    ok(app, &dave.1, "/api/v1/group/join", json!({"group_id": gid})).await;
    ok(app, &owner.1, "/api/v1/group/request/accept", json!({"group_id": gid, "user_id": dave.0}))
        .await;
    assert!(app.state.db.group_member_find(GroupId(gid), UserId(dave.0)).await.unwrap().is_some());

    // Direct invitation by a member once the group allows it.
    let r = attempt(
        app,
        &dave.1,
        "/api/v1/group/invite",
        json!({"group_id": gid, "user_ids": [erin.0]}),
    )
    .await;
    assert_eq!(r, (403, "GROUP_INVITE_NOT_ALLOWED".into()));
    ok(app, &owner.1, "/api/v1/group/update", json!({"group_id": gid, "member_invite": true}))
        .await;
    ok(app, &dave.1, "/api/v1/group/invite", json!({"group_id": gid, "user_ids": [erin.0]})).await;
    let (_, invites) = app.get_as(&erin.1, "/api/v1/group/invites").await;
    assert_eq!(
        (invites["data"][0]["group_id"].as_i64(), invites["data"][0]["inviter_id"].as_i64()),
        (Some(gid), Some(dave.0))
    );
    ok(app, &erin.1, "/api/v1/group/invite/accept", json!({"group_id": gid})).await;
    let r = attempt(app, &erin.1, "/api/v1/group/invite/accept", json!({"group_id": gid})).await;
    assert_eq!(r, (404, "GROUP_INVITE_NOT_FOUND".into()));

    // Leave; the owner cannot; transfer makes the old owner an admin.
    ok(app, &erin.1, "/api/v1/group/leave", json!({"group_id": gid})).await;
    let r = attempt(app, &owner.1, "/api/v1/group/leave", json!({"group_id": gid})).await;
    assert_eq!(r, (409, "OWNER_CANNOT_LEAVE".into()));
    let r = attempt(
        app,
        &owner.1,
        "/api/v1/group/transfer",
        json!({"group_id": gid, "user_id": erin.0}),
    )
    .await;
    assert_eq!(r, (400, "NEW_OWNER_NOT_MEMBER".into()));
    let r = attempt(
        app,
        &owner.1,
        "/api/v1/group/update",
        json!({"group_id": gid, "owner_id": owner.0}),
    )
    .await;
    assert_eq!(r, (400, "CANNOT_EDIT_SELF".into()));
    ok(app, &owner.1, "/api/v1/group/update", json!({"group_id": gid, "owner_id": carol.0})).await;
    let old = app.state.db.group_member_find(GroupId(gid), UserId(owner.0)).await.unwrap().unwrap();
    let new = app.state.db.group_member_find(GroupId(gid), UserId(carol.0)).await.unwrap().unwrap();
    assert_eq!((old.role, new.role), (2, 1));
    let (_, info) = app.get_as(&owner.1, &format!("/api/v1/group/info?group_id={gid}")).await;
    assert_eq!(info["data"]["owner_id"], carol.0);
    ok(app, &owner.1, "/api/v1/group/leave", json!({"group_id": gid})).await;

    // Dissolve: members told; nothing can join or be written; history stays readable.
    let mut events = app.state.bus.subscribe();
    ok(app, &carol.1, "/api/v1/group/dissolve", json!({"group_id": gid})).await;
    let heard = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if let Ok(m) = events.recv().await
                && let Event::Group { kind: GroupEventKind::Dissolved, member_ids, .. } =
                    m.event.clone()
            {
                return member_ids;
            }
        }
    })
    .await
    .unwrap();
    assert!(heard.contains(&UserId(bob.0)) && heard.contains(&UserId(dave.0)));
    assert_eq!(
        can_send(app.state.get_ref(), GroupId(gid), UserId(carol.0))
            .await
            .unwrap_err()
            .error_code()
            .as_str(),
        "GROUP_DISSOLVED"
    );
    let r = attempt(app, &erin.1, "/api/v1/group/join", json!({"group_id": gid})).await;
    assert_eq!(r, (409, "GROUP_DISSOLVED".into()));
    let r =
        attempt(app, &carol.1, "/api/v1/group/update", json!({"group_id": gid, "name": "x"})).await;
    assert_eq!(r, (409, "GROUP_DISSOLVED".into()));
    let (status, info) = app.get_as(&bob.1, &format!("/api/v1/group/info?group_id={gid}")).await;
    assert_eq!((status, info["data"]["status"].as_str()), (200, Some("dissolved")));
    let (status, _) = app.get_as(&bob.1, &format!("/api/v1/group/members?group_id={gid}")).await;
    assert_eq!(status, 200);
}

async fn bad_input_gets_clear_errors(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let owner = app.user("owner").await;
    let bob = app.user("bob").await;
    let gid = new_group(app, &owner, &[bob.0]).await;
    let long = "x".repeat(51);
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        ("/api/v1/group/create", json!({"member_ids": []}), 400, "GROUP_MEMBERS_EMPTY"),
        ("/api/v1/group/create", json!({"member_ids": [owner.0]}), 400, "GROUP_MEMBERS_EMPTY"),
        ("/api/v1/group/create", json!({"member_ids": [-1]}), 400, "INVALID_USER_ID"),
        ("/api/v1/group/create", json!({"member_ids": "1"}), 400, "INVALID_PARAMS"),
        ("/api/v1/group/create", json!({}), 400, "INVALID_PARAMS"),
        (
            "/api/v1/group/create",
            json!({"member_ids": [bob.0], "name": long}),
            400,
            "GROUP_NAME_TOO_LONG",
        ),
        (
            "/api/v1/group/create",
            json!({"member_ids": [bob.0], "name": "  "}),
            400,
            "GROUP_NAME_EMPTY",
        ),
        (
            "/api/v1/group/create",
            json!({"member_ids": [bob.0], "join_policy": "public"}),
            400,
            "INVALID_JOIN_POLICY",
        ),
        (
            "/api/v1/group/create",
            json!({"member_ids": [bob.0], "avatar": "ftp://x"}),
            400,
            "INVALID_AVATAR",
        ),
        ("/api/v1/group/join", json!({"group_id": 0}), 400, "INVALID_GROUP_ID"),
        ("/api/v1/group/join", json!({"group_id": 987_654}), 404, "GROUP_NOT_FOUND"),
        ("/api/v1/group/join", json!({"group_id": "abc"}), 400, "INVALID_PARAMS"),
        ("/api/v1/group/leave", json!({"group_id": -5}), 400, "INVALID_GROUP_ID"),
        ("/api/v1/group/update", json!({"group_id": gid}), 400, "GROUP_NOTHING_TO_UPDATE"),
        (
            "/api/v1/group/update",
            json!({"group_id": gid, "speak_status": 7}),
            400,
            "GROUP_SPEAK_INVALID",
        ),
        ("/api/v1/group/update", json!({"group_id": gid, "name": ""}), 400, "GROUP_NAME_EMPTY"),
        (
            "/api/v1/group/update",
            json!({"group_id": gid, "announcement": "a".repeat(1001)}),
            400,
            "GROUP_ANNOUNCEMENT_TOO_LONG",
        ),
        (
            "/api/v1/group/update",
            json!({"group_id": gid, "max_member": 1}),
            400,
            "INVALID_MAX_MEMBER",
        ),
        ("/api/v1/group/update", json!({"group_id": gid, "owner_id": 0}), 400, "INVALID_USER_ID"),
        (
            "/api/v1/group/member/add",
            json!({"group_id": gid, "user_ids": []}),
            400,
            "GROUP_MEMBER_LIST_EMPTY",
        ),
        (
            "/api/v1/group/member/add",
            json!({"group_id": gid, "user_ids": [0]}),
            400,
            "INVALID_USER_ID",
        ),
        (
            "/api/v1/group/member/add",
            json!({"group_id": gid, "user_ids": [123_456]}),
            400,
            "GROUP_MEMBER_INACTIVE",
        ),
        (
            "/api/v1/group/member/remove",
            json!({"group_id": gid, "user_ids": []}),
            400,
            "GROUP_MEMBER_LIST_EMPTY",
        ),
        (
            "/api/v1/group/member/update",
            json!({"group_id": gid, "user_id": bob.0}),
            400,
            "GROUP_NOTHING_TO_UPDATE",
        ),
        (
            "/api/v1/group/member/update",
            json!({"group_id": gid, "user_id": owner.0, "role": 2}),
            400,
            "CANNOT_EDIT_SELF",
        ),
        (
            "/api/v1/group/member/update",
            json!({"group_id": gid, "user_id": bob.0, "role": 1}),
            400,
            "INVALID_ROLE",
        ),
        (
            "/api/v1/group/member/update",
            json!({"group_id": gid, "user_id": bob.0, "speak_status": 5}),
            400,
            "GROUP_SPEAK_INVALID",
        ),
        (
            "/api/v1/group/member/update",
            json!({"group_id": gid, "user_id": bob.0, "muted_until": 1}),
            400,
            "INVALID_MUTE_UNTIL",
        ),
        (
            "/api/v1/group/member/update",
            json!({"group_id": gid, "user_id": 424_242, "role": 2}),
            404,
            "TARGET_NOT_GROUP_MEMBER",
        ),
        (
            "/api/v1/group/member/nickname",
            json!({"group_id": gid, "nickname": "n".repeat(33)}),
            400,
            "INVALID_GROUP_NICKNAME",
        ),
        (
            "/api/v1/group/link/create",
            json!({"group_id": gid, "ttl_secs": 1}),
            400,
            "INVALID_PARAMS",
        ),
        ("/api/v1/group/link/join", json!({"token": "nope"}), 404, "GROUP_LINK_INVALID"),
        ("/api/v1/group/link/join", json!({"token": ""}), 404, "GROUP_LINK_INVALID"),
        ("/api/v1/group/invite/accept", json!({"group_id": gid}), 404, "GROUP_INVITE_NOT_FOUND"),
        (
            "/api/v1/group/unban",
            json!({"group_id": gid, "user_id": bob.0}),
            404,
            "GROUP_BAN_NOT_FOUND",
        ),
        (
            "/api/v1/group/request/accept",
            json!({"group_id": gid, "user_id": bob.0}),
            404,
            "GROUP_REQUEST_NOT_FOUND",
        ),
    ];
    for (path, body, status, expected) in cases {
        let (got_status, res) = app.post_as(&owner.1, path, &body).await;
        assert_eq!((got_status, code(&res).as_str()), (status, expected), "{path} {body}: {res}");
    }
    for path in
        ["/api/v1/group/info", "/api/v1/group/members?group_id=x", "/api/v1/group/bans?group_id="]
    {
        let (status, res) = app.get_as(&owner.1, path).await;
        assert_eq!((status, code(&res).as_str()), (400, "INVALID_PARAMS"), "{path}: {res}");
    }
    let (status, res) = app.get("/api/v1/group/mine").await;
    assert_eq!((status, code(&res).as_str()), (401, "TOKEN_EMPTY"));
    // A revoked link and an expired one are refused alike.
    let link =
        ok(app, &owner.1, "/api/v1/group/link/create", json!({"group_id": gid, "ttl_secs": 60}))
            .await;
    let token = link["data"]["token"].as_str().unwrap().to_string();
    ok(app, &owner.1, "/api/v1/group/link/revoke", json!({"group_id": gid, "token": token})).await;
    let stranger = app.user("stranger").await;
    let r = attempt(app, &stranger.1, "/api/v1/group/link/join", json!({"token": token})).await;
    assert_eq!(r, (404, "GROUP_LINK_INVALID".into()));
}

async fn cli_group_commands_reach_running_servers(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let owner = app.user("owner").await;
    let bob = app.user("bob").await;
    let gid = new_group(app, &owner, &[bob.0]).await;
    let id = gid.to_string();

    let out = jim_for(&env, &["group", "list", "--json"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed: Vec<Value> =
        text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!((listed.len(), listed[0]["group_id"].as_i64()), (1, Some(gid)));
    let out = jim_for(&env, &["group", "show", &id, "--json"], "");
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["members"].as_array().unwrap().len(), 2);
    let out = jim_for(&env, &["group", "show", "999999"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("GROUP_NOT_FOUND"));

    // Mute all from the CLI: the running server refuses plain members at once, and hears it.
    let mut events = app.state.bus.subscribe();
    let out = jim_for(&env, &["group", "mute", &id], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        can_send(app.state.get_ref(), GroupId(gid), UserId(bob.0))
            .await
            .unwrap_err()
            .error_code()
            .as_str(),
        "GROUP_ALL_MUTED"
    );
    can_send(app.state.get_ref(), GroupId(gid), UserId(owner.0)).await.unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if let Ok(m) = events.recv().await
                && let Event::Group {
                    kind: GroupEventKind::InfoUpdated, values, member_ids, ..
                } = m.event.clone()
            {
                return (values, member_ids);
            }
        }
    })
    .await
    .expect("the server hears the CLI's mute within 2 s");
    assert_eq!(heard.0["speak_status"], 0);
    assert!(heard.1.contains(&UserId(bob.0)));
    let out = jim_for(&env, &["group", "unmute", &id], "");
    assert!(out.status.success());
    can_send(app.state.get_ref(), GroupId(gid), UserId(bob.0)).await.unwrap();

    // One member, for a while.
    let out = jim_for(&env, &["group", "mute", &id, "--member", "bob", "--until", "30m"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        can_send(app.state.get_ref(), GroupId(gid), UserId(bob.0))
            .await
            .unwrap_err()
            .error_code()
            .as_str(),
        "MEMBER_MUTED"
    );
    let m = app.state.db.group_member_find(GroupId(gid), UserId(bob.0)).await.unwrap().unwrap();
    let left = m.muted_until.unwrap() - jim::db::now_ms();
    assert!((1_700_000..=1_800_000).contains(&left), "{left}");
    let out = jim_for(&env, &["group", "mute", &id, "--member", "owner"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("ADMIN_CANNOT_BE_MUTED"));
    let out = jim_for(&env, &["group", "mute", &id, "--member", "bob", "--until", "later"], "");
    assert_eq!(out.status.code(), Some(1));
    let out = jim_for(&env, &["group", "unmute", &id, "--member", &bob.0.to_string()], "");
    assert!(out.status.success());
    can_send(app.state.get_ref(), GroupId(gid), UserId(bob.0)).await.unwrap();

    // Dissolve needs confirmation.
    let out = jim_for(&env, &["group", "dissolve", &id], "y\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--yes"));
    let out = jim_for(&env, &["group", "dissolve", &id, "--yes"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        can_send(app.state.get_ref(), GroupId(gid), UserId(owner.0))
            .await
            .unwrap_err()
            .error_code()
            .as_str(),
        "GROUP_DISSOLVED"
    );
    let (_, info) = app.get_as(&bob.1, &format!("/api/v1/group/info?group_id={gid}")).await;
    assert_eq!(info["data"]["status"], "dissolved");
    let out = jim_for(&env, &["group", "dissolve", &id, "--yes"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("GROUP_DISSOLVED"));
}

/// Send a text to the group as `who`; returns its message id.
async fn say(app: &TestApp, who: &(i64, String), gid: i64, text: &str) -> i64 {
    let body = json!({"session_type": 2, "type": 1, "target_id": gid, "body": {"text": text}});
    let res = ok(app, &who.1, "/api/v1/chat/message/send", body).await;
    res["data"]["message_id"].as_i64().unwrap()
}

async fn recall_follows_the_group_ranks(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let owner = app.user("owner").await;
    let a1 = app.user("admin1").await;
    let a2 = app.user("admin2").await;
    let m = app.user("member").await;
    let gone = app.user("gone").await;
    let gid = new_group(app, &owner, &[a1.0, a2.0, m.0, gone.0]).await;
    for a in [a1.0, a2.0] {
        let body = json!({"group_id": gid, "user_id": a, "role": 2});
        ok(app, &owner.1, "/api/v1/group/member/update", body).await;
    }
    let from_owner = say(app, &owner, gid, "owner").await;
    let from_a1 = say(app, &a1, gid, "a1").await;
    let from_a2 = say(app, &a2, gid, "a2").await;
    let from_m = say(app, &m, gid, "m").await;
    let from_gone = say(app, &gone, gid, "gone").await;
    let body = json!({"group_id": gid, "user_ids": [gone.0]});
    ok(app, &owner.1, "/api/v1/group/member/remove", body).await;
    let recall = |who: &(i64, String), id: i64| {
        let body = json!({"session_type": 2, "target_id": gid, "message_id": id});
        let token = who.1.clone();
        async move { attempt(app, &token, "/api/v1/chat/message/rollback", body).await }
    };
    const PEER: &str = "CANNOT_EDIT_PEER_ADMIN";
    // Admins act on plain members only, as for removal and mutes.
    assert_eq!(recall(&a1, from_owner).await, (403, PEER.into()), "admin on the owner");
    assert_eq!(recall(&a1, from_a2).await, (403, PEER.into()), "admin on an admin");
    assert_eq!(recall(&m, from_a1).await, (403, "RECALL_FAILED".into()), "member on an admin");
    assert_eq!(recall(&a1, from_m).await, (200, "ok".into()), "admin on a member");
    assert_eq!(recall(&a1, from_gone).await, (200, "ok".into()), "admin on a former member");
    assert_eq!(recall(&owner, from_a2).await, (200, "ok".into()), "owner on an admin");
    assert_eq!(recall(&a1, from_a1).await, (200, "ok".into()), "admin on themself");
    assert_eq!(recall(&owner, from_owner).await, (200, "ok".into()), "owner on themself");
}

/// Create an invite link as `who`; returns its token.
async fn new_link(app: &TestApp, who: &(i64, String), gid: i64) -> String {
    let res = ok(app, &who.1, "/api/v1/group/link/create", json!({"group_id": gid})).await;
    res["data"]["token"].as_str().unwrap().to_string()
}

async fn join_link(app: &TestApp, who: &(i64, String), token: &str) -> (u16, String) {
    attempt(app, &who.1, "/api/v1/group/link/join", json!({"token": token})).await
}

async fn joining_or_removal_closes_pending_invitations_and_requests(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let owner = app.user("owner").await;
    let bob = app.user("bob").await;
    let xena = app.user("xena").await;
    let yuri = app.user("yuri").await;
    let zoe = app.user("zoe").await;
    let gid = new_group(app, &owner, &[bob.0]).await;
    let g = json!({"group_id": gid});
    let member = |id: i64| async move {
        app.state.db.group_member_find(GroupId(gid), UserId(id)).await.unwrap()
    };
    let owner_token = owner.1.as_str();
    let remove = |id: i64| async move {
        let body = json!({"group_id": gid, "user_ids": [id]});
        let res = ok(app, owner_token, "/api/v1/group/member/remove", body).await;
        assert_eq!(res["data"]["count"], 1);
    };

    // Invited, then joined through a link: the invitation is closed, so once removed they
    // cannot come back through it.
    ok(app, &owner.1, "/api/v1/group/invite", json!({"group_id": gid, "user_ids": [xena.0]})).await;
    let token = new_link(app, &owner, gid).await;
    assert_eq!(join_link(app, &xena, &token).await, (200, "ok".into()));
    let (_, invites) = app.get_as(&xena.1, "/api/v1/group/invites").await;
    assert_eq!(invites["data"], json!([]), "no pending invitation to a group I am in");
    remove(xena.0).await;
    let r = attempt(app, &xena.1, "/api/v1/group/invite/accept", g.clone()).await;
    assert_eq!(r, (404, "GROUP_INVITE_NOT_FOUND".into()));
    assert!(member(xena.0).await.is_none(), "a removed user rejoined through an old invitation");

    // Invited, then joined an open group, then left: the same.
    ok(app, &owner.1, "/api/v1/group/invite", json!({"group_id": gid, "user_ids": [zoe.0]})).await;
    ok(app, &owner.1, "/api/v1/group/update", json!({"group_id": gid, "join_policy": "open"}))
        .await;
    ok(app, &zoe.1, "/api/v1/group/join", g.clone()).await;
    ok(app, &zoe.1, "/api/v1/group/leave", g.clone()).await;
    let r = attempt(app, &zoe.1, "/api/v1/group/invite/accept", g.clone()).await;
    assert_eq!(r, (404, "GROUP_INVITE_NOT_FOUND".into()));
    assert!(member(zoe.0).await.is_none());

    // Asked to join, then added directly: the request is closed (the admins no longer see
    // it), so accepting it after a removal is refused.
    ok(app, &owner.1, "/api/v1/group/update", json!({"group_id": gid, "join_policy": "approval"}))
        .await;
    let res = ok(app, &yuri.1, "/api/v1/group/join", g.clone()).await;
    assert_eq!(res["data"]["status"], "requested");
    befriend(app, owner.0, yuri.0).await;
    ok(app, &owner.1, "/api/v1/group/member/add", json!({"group_id": gid, "user_ids": [yuri.0]}))
        .await;
    let (_, reqs) = app.get_as(&owner.1, &format!("/api/v1/group/requests?group_id={gid}")).await;
    assert_eq!(reqs["data"], json!([]), "no pending request from a member");
    remove(yuri.0).await;
    let accept = json!({"group_id": gid, "user_id": yuri.0});
    let r = attempt(app, &owner.1, "/api/v1/group/request/accept", accept).await;
    assert_eq!(r, (404, "GROUP_REQUEST_NOT_FOUND".into()));
    assert!(member(yuri.0).await.is_none(), "a removed user rejoined through an old request");

    // Removal closes what was filed while they were a member (an invitation or request that
    // raced their joining), too.
    let now = jim::db::now_ms();
    app.state
        .db
        .group_invite_upsert(GroupId(gid), UserId(owner.0), UserId(bob.0), now)
        .await
        .unwrap();
    app.state
        .db
        .group_request_upsert(GroupId(gid), UserId(bob.0), String::new(), now)
        .await
        .unwrap();
    remove(bob.0).await;
    let r = attempt(app, &bob.1, "/api/v1/group/invite/accept", g.clone()).await;
    assert_eq!(r, (404, "GROUP_INVITE_NOT_FOUND".into()));
    let accept = json!({"group_id": gid, "user_id": bob.0});
    let r = attempt(app, &owner.1, "/api/v1/group/request/accept", accept).await;
    assert_eq!(r, (404, "GROUP_REQUEST_NOT_FOUND".into()));
    assert!(member(bob.0).await.is_none());

    // A fresh invitation after the removal still works.
    ok(app, &owner.1, "/api/v1/group/invite", json!({"group_id": gid, "user_ids": [xena.0]})).await;
    ok(app, &xena.1, "/api/v1/group/invite/accept", g.clone()).await;
    assert!(member(xena.0).await.is_some());
}

/// The live links of a group as the owner or an admin sees them, newest first.
async fn live_links(app: &TestApp, who: &(i64, String), gid: i64) -> Vec<Value> {
    let (status, res) = app.get_as(&who.1, &format!("/api/v1/group/links?group_id={gid}")).await;
    assert_eq!(status, 200, "{res}");
    res["data"].as_array().unwrap().clone()
}

fn tokens(links: &[Value]) -> Vec<String> {
    links.iter().map(|l| l["token"].as_str().unwrap().to_string()).collect()
}

async fn invite_links_work_only_while_their_creator_may_invite(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let owner = app.user("owner").await;
    let admin = app.user("admin").await;
    let mem = app.user("member").await;
    let leaver = app.user("leaver").await;
    let gid = new_group(app, &owner, &[admin.0, mem.0, leaver.0]).await;
    let promote = json!({"group_id": gid, "user_id": admin.0, "role": 2});
    ok(app, &owner.1, "/api/v1/group/member/update", promote).await;
    let owner_token = owner.1.as_str();
    let set_member_invite = |on: bool| {
        let body = json!({"group_id": gid, "member_invite": on});
        async move { ok(app, owner_token, "/api/v1/group/update", body).await }
    };
    set_member_invite(true).await;
    let by_owner = new_link(app, &owner, gid).await;
    let by_admin = new_link(app, &admin, gid).await;
    let by_member = new_link(app, &mem, gid).await;
    let by_leaver = new_link(app, &leaver, gid).await;
    let outsiders = [
        app.user("out1").await,
        app.user("out2").await,
        app.user("out3").await,
        app.user("out4").await,
    ];

    // The case: a member's link, then `member_invite` off, then the member removed
    // and banned. Nobody joins through that link any more.
    set_member_invite(false).await;
    assert_eq!(join_link(app, &outsiders[0], &by_member).await, (404, "GROUP_LINK_INVALID".into()));
    let ban = json!({"group_id": gid, "user_ids": [mem.0], "ban": true});
    ok(app, &owner.1, "/api/v1/group/member/remove", ban).await;
    set_member_invite(true).await;
    assert_eq!(
        join_link(app, &outsiders[0], &by_member).await,
        (404, "GROUP_LINK_INVALID".into()),
        "the setting is back on, but the creator is gone"
    );
    // Coming back does not revive the links of the earlier membership.
    ok(app, &owner.1, "/api/v1/group/unban", json!({"group_id": gid, "user_id": mem.0})).await;
    let add = json!({"group_id": gid, "user_ids": [mem.0]});
    ok(app, &owner.1, "/api/v1/group/member/add", add).await;
    assert_eq!(join_link(app, &outsiders[0], &by_member).await, (404, "GROUP_LINK_INVALID".into()));

    // Owners and admins see the live links with what revoking and judging them takes; plain
    // members may not look.
    let listed = live_links(app, &owner, gid).await;
    assert_eq!(tokens(&listed), vec![by_leaver.clone(), by_admin.clone(), by_owner.clone()]);
    let l = &listed[0];
    assert_eq!((l["group_id"].as_i64(), l["creator_id"].as_i64()), (Some(gid), Some(leaver.0)));
    assert_eq!(l["uses"], 0);
    assert!(l["expires_at"].as_i64().unwrap() > l["created_at"].as_i64().unwrap(), "{l}");
    assert_eq!(tokens(&live_links(app, &admin, gid).await).len(), 3);
    let r = app.get_as(&mem.1, &format!("/api/v1/group/links?group_id={gid}")).await;
    assert_eq!((r.0, code(&r.1)), (403, "NOT_ADMIN".into()));
    // A join through a link is counted.
    assert_eq!(join_link(app, &outsiders[0], &by_leaver).await, (200, "ok".into()));
    assert_eq!(live_links(app, &owner, gid).await[0]["uses"], 1);

    // A creator who leaves takes their links along.
    ok(app, &leaver.1, "/api/v1/group/leave", json!({"group_id": gid})).await;
    assert_eq!(join_link(app, &outsiders[1], &by_leaver).await, (404, "GROUP_LINK_INVALID".into()));
    assert_eq!(
        tokens(&live_links(app, &owner, gid).await),
        vec![by_admin.clone(), by_owner.clone()]
    );

    // A demoted admin's link works only while plain members may invite.
    let demote = json!({"group_id": gid, "user_id": admin.0, "role": 0});
    ok(app, &owner.1, "/api/v1/group/member/update", demote).await;
    set_member_invite(false).await;
    assert_eq!(tokens(&live_links(app, &owner, gid).await), vec![by_owner.clone()]);
    assert_eq!(join_link(app, &outsiders[1], &by_admin).await, (404, "GROUP_LINK_INVALID".into()));
    set_member_invite(true).await;
    assert_eq!(join_link(app, &outsiders[1], &by_admin).await, (200, "ok".into()));

    // A listed link is revoked with the existing route, and is gone.
    let revoke = json!({"group_id": gid, "token": by_owner});
    ok(app, &owner.1, "/api/v1/group/link/revoke", revoke).await;
    assert_eq!(tokens(&live_links(app, &owner, gid).await), vec![by_admin.clone()]);
    assert_eq!(join_link(app, &outsiders[2], &by_owner).await, (404, "GROUP_LINK_INVALID".into()));
    assert!(
        app.state
            .db
            .group_member_find(GroupId(gid), UserId(outsiders[2].0))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        app.state
            .db
            .group_member_find(GroupId(gid), UserId(outsiders[3].0))
            .await
            .unwrap()
            .is_none()
    );
}

/// Group rules ask the friends feature whether two users are friends, so a block counts: a
/// friend who blocked me, or whom I blocked, cannot be put in a group by me (creation or
/// adding), and can be again once the block is lifted.
async fn a_block_either_way_means_not_friends_for_groups(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let owner = app.user("olga").await;
    let bob = app.user("boris").await;
    let carol = app.user("clara").await;
    let gid = new_group(app, &owner, &[carol.0]).await;
    befriend(app, owner.0, bob.0).await;
    let block = |token: String, other: i64, status: i64| async move {
        let body = json!({"user_id": other, "block_status": status});
        ok(app, &token, "/api/v1/friend/update", body).await;
    };
    let create = json!({"member_ids": [bob.0]});
    let add = json!({"group_id": gid, "user_ids": [bob.0]});
    for (blocker, blocked) in [(&bob, owner.0), (&owner, bob.0)] {
        block(blocker.1.clone(), blocked, 0).await;
        let r = attempt(app, &owner.1, "/api/v1/group/create", create.clone()).await;
        assert_eq!(r, (403, "GROUP_MEMBER_NOT_FRIEND".into()), "blocked by {}", blocker.0);
        let r = attempt(app, &owner.1, "/api/v1/group/member/add", add.clone()).await;
        assert_eq!(r, (403, "GROUP_MEMBER_NOT_FRIEND".into()), "blocked by {}", blocker.0);
        block(blocker.1.clone(), blocked, 1).await;
    }
    ok(app, &owner.1, "/api/v1/group/member/add", add).await;
    ok(app, &owner.1, "/api/v1/group/create", create).await;
}
