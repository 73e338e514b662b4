//! A person's data on request, in both profiles: `jim user export` writes what they put in
//! (profile, friends, groups, messages, files), `jim user purge` removes it for good while
//! the others' conversations keep every number.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

crate::both_profiles!(export_then_purge_keeps_others_conversations_whole);

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

async fn history(app: &TestApp, token: &str, session_type: i64, target: i64) -> Vec<Value> {
    let (s, page) = app
        .get_as(token, &format!("/api/v1/chat/message/list?session_type={session_type}&target_id={target}&after_message_id=0&limit=50"))
        .await;
    assert_eq!(s, 200, "{page}");
    page["data"]["messages"].as_array().unwrap().clone()
}

async fn export_then_purge_keeps_others_conversations_whole(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let ((alice, ta), (bob, tb)) = friends(app, "alice", "bob").await;
    let r = app
        .post_as(&ta, "/api/v1/group/create", &json!({"name": "club", "member_ids": [bob]}))
        .await;
    assert_eq!(r.0, 200, "{}", r.1);
    let group = r.1["data"]["group_id"].as_i64().unwrap();

    // Alice uploads a file and sends it with texts; Bob answers in between.
    let pdf = b"%PDF-1.4\n% alice's own file\n".to_vec();
    let form = reqwest::multipart::Form::new()
        .text("kind", "file")
        .part("file", reqwest::multipart::Part::bytes(pdf.clone()).file_name("mine.pdf"));
    let res = app
        .client
        .post(format!("{}/api/v1/media/upload", app.url))
        .bearer_auth(&ta)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let file: Value = res.json().await.unwrap();
    let file_id = file["data"]["id"].as_str().unwrap().to_string();
    let file_url = file["data"]["url"].as_str().unwrap().to_string();
    let say = |token: &str, st: i64, target: i64, kind: i64, body: Value| {
        let token = token.to_string();
        async move {
            let r = app
                .post_as(
                    &token,
                    "/api/v1/chat/message/send",
                    &json!({"session_type": st,
                    "target_id": target, "type": kind, "body": body}),
                )
                .await;
            assert_eq!(r.0, 200, "{}", r.1);
        }
    };
    say(&ta, 1, bob, 1, json!({"text": "hello bob"})).await;
    say(&tb, 1, alice, 1, json!({"text": "hi alice"})).await;
    say(&ta, 1, bob, 6, json!({"media_id": file_id})).await;
    say(&tb, 1, alice, 1, json!({"text": "got it"})).await;
    say(&ta, 1, bob, 1, json!({"text": "my secret plans"})).await;
    say(&ta, 2, group, 1, json!({"text": "hello club"})).await;
    say(&tb, 2, group, 1, json!({"text": "welcome"})).await;
    assert_eq!(app.get_as(&tb, &file_url).await.0, 200, "bob may download it");

    // Export.
    let out_dir = tempfile::tempdir().unwrap();
    let dest = out_dir.path().join("alice");
    let out = jim_for(&env, &["user", "export", "alice", dest.to_str().unwrap()], "");
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(read_json(&dest.join("profile.json"))["username"], "alice");
    let friends = read_json(&dest.join("friends.json"));
    assert_eq!(friends[0]["user_id"], bob);
    assert_eq!(friends[0]["username"], "bob");
    let groups = read_json(&dest.join("groups.json"));
    assert_eq!(
        (groups[0]["group_id"].as_i64(), groups[0]["role"].as_str()),
        (Some(group), Some("owner"))
    );
    let sent = read_json(&dest.join("messages.json"));
    let sent = sent.as_array().unwrap();
    assert_eq!(sent.len(), 4, "only alice's own messages: {sent:?}");
    assert!(sent.iter().all(|m| m["sender_id"] == alice));
    assert!(sent.iter().any(|m| m["body"]["text"] == "my secret plans"));
    let media = read_json(&dest.join("media.json"));
    assert_eq!(media.as_array().unwrap().len(), 1);
    assert_eq!(std::fs::read(dest.join(media[0]["file"].as_str().unwrap())).unwrap(), pdf);
    let out = jim_for(&env, &["user", "export", "alice", dest.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(1), "never into a non-empty directory");
    assert!(text(&out.stderr).contains("not empty"), "{}", text(&out.stderr));

    let before = [history(app, &tb, 1, alice).await, history(app, &tb, 2, group).await];

    // Purge, with alice's socket open.
    let mut socket = WsClient::connect(app, &ta).await.expect("alice connects");
    let out = jim_for(&env, &["user", "purge", "alice"], "");
    assert_eq!(out.status.code(), Some(1), "needs --yes without a terminal");
    let out = jim_for(&env, &["user", "purge", "alice", "--yes"], "");
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("4 message(s) erased"), "{}", text(&out.stdout));
    assert!(socket.closed(Duration::from_secs(5)).await.is_some(), "her socket closes");
    assert_eq!(app.get_as(&ta, "/api/v1/profile/info").await.0, 401);
    let (status, _) = app
        .post("/api/v1/auth/login", &json!({"username": "alice", "password": "passw0rd-ok"}))
        .await;
    assert_ne!(status, 200);

    // Bob's conversations keep every number; alice's messages are empty tombstones.
    for ((st, target), before) in [(1, alice), (2, group)].into_iter().zip(before) {
        let msgs = history(app, &tb, st, target).await;
        let ids: Vec<i64> = msgs.iter().map(|m| m["message_id"].as_i64().unwrap()).collect();
        assert_eq!(ids, (1..=before.len() as i64).collect::<Vec<_>>(), "numbering untouched");
        for (m, was) in msgs.iter().zip(&before) {
            assert_eq!(m["message_id"], was["message_id"]);
            if m["sender_id"] == alice {
                assert_eq!(m["status"], 3, "{m}");
                assert!(
                    !m.to_string().contains("secret plans") && !m.to_string().contains("hello"),
                    "{m}"
                );
            } else {
                assert_eq!(m, was, "others' messages unchanged");
            }
        }
    }
    let stored = app.state.messages.sent_by(alice, "", 100).await.unwrap();
    assert_eq!(stored.len(), 4);
    assert!(stored.iter().all(|m| m.body == json!({}) && m.status == 3), "{stored:?}");

    // Her upload is gone from the media store and the database.
    assert_eq!(app.get_as(&tb, &file_url).await.0, 404);
    assert!(app.state.db.media_get(file_id.clone()).await.unwrap().is_none());
    // Her profile is a placeholder; the name is free again.
    let out = jim_for(&env, &["user", "show", &alice.to_string(), "--json"], "");
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (shown["nickname"].as_str(), shown["status"].as_str()),
        (Some("Deleted user"), Some("deleted"))
    );
    assert_ne!(shown["username"], "alice");
    let again = app.register("alice", "passw0rd-ok").await;
    assert_ne!(again, alice);
}
