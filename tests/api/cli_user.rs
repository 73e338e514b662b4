//! `jim user …` against a running server in both profiles: the same rules as the API, and
//! disabling a user reaches the running server (sessions refused, revocation event) within 2 s.

use std::time::Duration;

use jim::bus::Event;
use jim::domain::UserId;
use serde_json::json;

use crate::helpers::*;

crate::both_profiles!(admin_commands_share_the_api_rules_and_reach_running_servers);

async fn admin_commands_share_the_api_rules_and_reach_running_servers(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;

    let out = jim_for(&env, &["user", "create", "quinn", "--nickname", "Quinn Q"], "passw0rd-ok\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("created user"));
    let out = jim_for(&env, &["user", "create", "QUINN"], "passw0rd-ok\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("ACCOUNT_EXISTS"), "{}", text(&out.stderr));
    let out = jim_for(&env, &["user", "create", "rita"], "weak\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("INVALID_PASSWORD"));

    // The account made by the CLI logs in through the API.
    let token = app.login("quinn", "passw0rd-ok").await;
    let (_, me) = app.get_as(&token, "/api/v1/profile/info").await;
    assert_eq!(me["data"]["nickname"], "Quinn Q");

    let out = jim_for(&env, &["user", "list", "--json"], "");
    assert!(out.status.success());
    let listed: Vec<serde_json::Value> =
        text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["username"], "quinn");
    assert!(listed[0].get("password_hash").is_none(), "never printed");
    let out = jim_for(&env, &["user", "show", "Quinn", "--json"], "");
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["status"], "active");
    let out = jim_for(&env, &["user", "show", "nobody"], "");
    assert_eq!(out.status.code(), Some(1));

    // Destructive commands need confirmation; without a terminal that means --yes.
    let out = jim_for(&env, &["user", "disable", "quinn"], "y\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--yes"));
    assert_eq!(app.get_as(&token, "/api/v1/profile/info").await.0, 200, "nothing changed");

    // Disable: the running server refuses the token at once and hears the revocation.
    let mut events = app.state.bus.subscribe();
    let started = std::time::Instant::now();
    let out = jim_for(&env, &["user", "disable", "quinn", "--yes"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (status, body) = app.get_as(&token, "/api/v1/profile/info").await;
    assert_eq!((status, body["code"].as_str()), (401, Some("TOKEN_REVOKED")));
    let heard = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if let Ok(m) = events.recv().await
                && let Event::SessionsRevoked { user_id, .. } = m.event
            {
                return user_id;
            }
        }
    })
    .await
    .expect("the server hears the revocation within 2 s");
    assert_eq!(heard, UserId(me["data"]["id"].as_i64().unwrap()));
    assert!(started.elapsed() < Duration::from_secs(10));
    let (status, body) = app
        .post("/api/v1/auth/login", &json!({"username": "quinn", "password": "passw0rd-ok"}))
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("ACCOUNT_DISABLED")));

    let out = jim_for(&env, &["user", "enable", "quinn"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = app.login("quinn", "passw0rd-ok").await;

    let out = jim_for(&env, &["user", "reset-password", "quinn", "--yes"], "newpassw0rd\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(app.get_as(&token, "/api/v1/profile/info").await.0, 401, "sessions ended");
    let token = app.login("quinn", "newpassw0rd").await;

    let out = jim_for(&env, &["user", "delete", "quinn", "--yes"], "");
    assert!(out.status.success());
    assert_eq!(app.get_as(&token, "/api/v1/profile/info").await.0, 401);
    let (status, body) = app
        .post("/api/v1/auth/login", &json!({"username": "quinn", "password": "newpassw0rd"}))
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("ACCOUNT_DELETED")));
    let out = jim_for(&env, &["user", "show", "quinn", "--json"], "");
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["status"], "deleted", "soft delete keeps the row");
    let out = jim_for(&env, &["user", "enable", "quinn"], "");
    assert_eq!(out.status.code(), Some(1), "a deleted account stays deleted");
}
