//! Accounts: captcha, registration, login throttling, tokens, sessions, profile, password —
//! on both profiles.

use std::time::Duration;

use jim::domain::UserId;
use serde_json::{Value, json};

use crate::helpers::*;

fn register_body(username: &str, password: &str) -> Value {
    json!({"username": username, "password": password, "confirm_password": password})
}

async fn captcha(app: &TestApp, kind: &str) -> (String, String) {
    let (status, body) = app.get(&format!("/api/v1/auth/captcha?type={kind}")).await;
    assert_eq!(status, 200, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_string();
    assert!(body["data"]["data"].as_str().unwrap().starts_with("data:image/png;base64,"));
    // The answer is only in the cache (Redis in scale-out); a test reads it from there.
    let answer = app.state.cache.get(&format!("captcha:{id}")).await.unwrap().expect("stored");
    (id, answer)
}

both_profiles!(
    register_login_profile_logout,
    registration_rules,
    concurrent_registrations_of_one_name,
    captcha_rules,
    login_failures_need_captcha_then_lock,
    parallel_logins_run_no_more_checks_than_sequential_ones,
    sessions_can_be_listed_and_revoked,
    password_change_ends_other_sessions,
    profile_edits,
);

async fn register_login_profile_logout(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let (status, body) =
        app.post("/api/v1/auth/register", &register_body("Alice", "passw0rd-ok")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["username"], "Alice");
    assert_eq!(body["data"]["nickname"], "Alice", "nickname defaults to the username");
    let id = body["data"]["id"].as_i64().unwrap();

    // Usernames are case-insensitive for login.
    let (status, body) = app
        .post("/api/v1/auth/login", &json!({"username": "ALICE", "password": "passw0rd-ok"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let token = body["data"]["token"].as_str().unwrap().to_string();
    assert!(token.len() >= 43, "at least 256 bits");
    let expires_at = body["data"]["expires_at"].as_i64().unwrap();
    let week = chrono::Utc::now().timestamp() + 7 * 24 * 3600;
    assert!((expires_at - week).abs() < 60, "7 days by default");

    // The token works as Bearer, raw (as the original sent it) and as ?token=.
    let (status, body) = app.get_as(&token, "/api/v1/profile/info").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"],
        json!({"id": id, "username": "Alice", "nickname": "Alice", "avatar": "",
        "birth_date": null, "online_status": 1, "email": null, "email_verified": false})
    );
    let raw = app
        .client
        .get(format!("{}/api/v1/profile/info", app.url))
        .header("Authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    assert_eq!(app.get(&format!("/api/v1/profile/info?token={token}")).await.0, 200);

    // Missing and tampered tokens.
    let (status, body) = app.get("/api/v1/profile/info").await;
    assert_eq!((status, body["code"].as_str()), (401, Some("TOKEN_EMPTY")));
    let mut tampered = token.clone().into_bytes();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    let (status, body) =
        app.get_as(&String::from_utf8(tampered).unwrap(), "/api/v1/profile/info").await;
    assert_eq!((status, body["code"].as_str()), (401, Some("TOKEN_INVALID")));

    // Logout revokes the session.
    assert_eq!(app.post_as(&token, "/api/v1/auth/logout", &json!({})).await.0, 200);
    let (status, body) = app.get_as(&token, "/api/v1/profile/info").await;
    assert_eq!((status, body["code"].as_str()), (401, Some("TOKEN_REVOKED")));

    // The request log names the user, and never the password or the token.
    let logged = app.log.text();
    assert!(logged.contains(&format!("\"user_id\":{id}")), "user id in the request log");
    assert!(
        !logged.contains("passw0rd-ok") && !logged.contains(&token),
        "secrets leaked into logs"
    );

    // Passwords are stored only as bcrypt hashes with a per-user salt.
    let bob = app.register("bob", "passw0rd-ok").await;
    let a = app.state.db.user_find_by_id(UserId(id)).await.unwrap().unwrap().password_hash;
    let b = app.state.db.user_find_by_id(UserId(bob)).await.unwrap().unwrap().password_hash;
    assert!(a.starts_with("$2") && b.starts_with("$2"));
    assert_ne!(a, b, "same password, different salt");
}

async fn registration_rules(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let cases = [
        (register_body("ab", "passw0rd-ok"), "INVALID_USERNAME"),
        (register_body("-alice", "passw0rd-ok"), "INVALID_USERNAME"),
        (register_body("al ice", "passw0rd-ok"), "INVALID_USERNAME"),
        (register_body("carol", "short1"), "INVALID_PASSWORD"),
        (register_body("carol", "lettersonly"), "INVALID_PASSWORD"),
        (register_body("carol", &format!("a1{}", "x".repeat(71))), "INVALID_PASSWORD"),
        (
            json!({"username": "carol", "password": "passw0rd-ok", "confirm_password": "passw0rd-no"}),
            "CONFIRM_PASSWORD_MISMATCH",
        ),
        (
            json!({"username": "carol", "password": "passw0rd-ok", "confirm_password": "passw0rd-ok",
            "birth_date": "2001-02-30"}),
            "INVALID_TIME_FORMAT",
        ),
        (
            json!({"username": "carol", "password": "passw0rd-ok", "confirm_password": "passw0rd-ok",
            "nickname": "x".repeat(33)}),
            "INVALID_NICKNAME",
        ),
        (json!({"username": "carol"}), "INVALID_PARAMS"),
    ];
    for (body, code) in cases {
        let (status, answer) = app.post("/api/v1/auth/register", &body).await;
        assert_eq!((status, answer["code"].as_str()), (400, Some(code)), "{body}");
    }
    // Malformed JSON and oversized bodies are clear errors, never 500.
    let res = app
        .client
        .post(format!("{}/api/v1/auth/register", app.url))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let big = json!({"username": "x".repeat(100_000), "password": "p"});
    let (status, body) = app.post("/api/v1/auth/register", &big).await;
    assert_eq!((status, body["code"].as_str()), (413, Some("PAYLOAD_TOO_LARGE")));

    app.register("dave", "passw0rd-ok").await;
    let (status, body) =
        app.post("/api/v1/auth/register", &register_body("DAVE", "passw0rd-ok")).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("ACCOUNT_EXISTS")));

    let (status, body) = app
        .post(
            "/api/v1/auth/register",
            &json!({"username": "erin",
        "password": "passw0rd-ok", "confirm_password": "passw0rd-ok", "nickname": " Erin E. ",
        "birth_date": "1990-05-17"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let token = app.login("erin", "passw0rd-ok").await;
    let (_, profile) = app.get_as(&token, "/api/v1/profile/info").await;
    assert_eq!(profile["data"]["nickname"], "Erin E.");
    assert_eq!(profile["data"]["birth_date"], "1990-05-17");
}

async fn concurrent_registrations_of_one_name(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let body = register_body("racer", "passw0rd-ok");
    let attempts = (0..10).map(|_| app.post("/api/v1/auth/register", &body));
    let results = futures_util::future::join_all(attempts).await;
    let won = results.iter().filter(|(s, _)| *s == 200).count();
    let lost: Vec<_> = results.iter().filter(|(s, _)| *s != 200).collect();
    assert_eq!(won, 1, "{results:?}");
    for (status, body) in lost {
        assert_eq!((*status, body["code"].as_str()), (409, Some("ACCOUNT_EXISTS")));
    }
}

async fn captcha_rules(profile: Profile) {
    let Some(env) = start(profile, |c| {
        c.auth.captcha_on_register = true;
        c.auth.captcha_per_ip_per_minute = 8;
    })
    .await
    else {
        return;
    };
    let app = &env.app;
    let with = |name: &str, id: &str, answer: &str| {
        json!({"username": name, "password": "passw0rd-ok", "confirm_password": "passw0rd-ok",
            "captcha_id": id, "captcha": answer})
    };
    // Missing captcha fields.
    let (status, body) =
        app.post("/api/v1/auth/register", &register_body("frank", "passw0rd-ok")).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("CAPTCHA_ID_EMPTY")));

    // An invalid cheap field does not consume the captcha.
    let (id, answer) = captcha(app, "digit").await;
    assert!(answer.len() == 5 && answer.chars().all(|c| c.is_ascii_digit()));
    let (status, _) = app.post("/api/v1/auth/register", &with("f", &id, &answer)).await;
    assert_eq!(status, 400);
    // A wrong answer consumes it: the right answer afterwards is refused.
    let (status, body) = app.post("/api/v1/auth/register", &with("frank", &id, "00000x")).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("CAPTCHA_INVALID")));
    let (status, body) = app.post("/api/v1/auth/register", &with("frank", &id, &answer)).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("CAPTCHA_INVALID")));

    // Letter captchas compare case-insensitively; POST works like GET.
    let res = app
        .client
        .post(format!("{}/api/v1/auth/captcha?type=string", app.url))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    let id = body["data"]["id"].as_str().unwrap().to_string();
    let answer = app.state.cache.get(&format!("captcha:{id}")).await.unwrap().unwrap();
    let (status, body) =
        app.post("/api/v1/auth/register", &with("frank", &id, &answer.to_uppercase())).await;
    assert_eq!(status, 200, "{body}");

    // Unknown types are a clear 400.
    for kind in ["audio", "language", "math"] {
        let (status, body) = app.get(&format!("/api/v1/auth/captcha?type={kind}")).await;
        assert_eq!((status, body["code"].as_str()), (400, Some("INVALID_CAPTCHA_TYPE")), "{kind}");
    }
    // Per-IP rate limit: 8 per minute; 2 issued so far (refused types do not count).
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(app.get("/api/v1/auth/captcha").await.0);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 429]);
}

async fn login_failures_need_captcha_then_lock(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    app.register("grace", "passw0rd-ok").await;
    let attempt = |name: &str, password: &str, captcha: Option<(String, String)>| {
        let mut body = json!({"username": name, "password": password});
        if let Some((id, answer)) = captcha {
            body["captcha_id"] = json!(id);
            body["captcha"] = json!(answer);
        }
        async move { app.post("/api/v1/auth/login", &body).await }
    };
    // Failures are counted per account, whatever the spelling of the name.
    for (i, name) in ["grace", "GRACE"].iter().enumerate() {
        let (status, body) = attempt(name, "wrong-pass1", None).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("WRONG_CREDENTIALS")), "try {i}");
        assert_eq!(body["data"], json!({}));
    }
    let (status, body) = attempt("Grace", "wrong-pass1", None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("WRONG_CREDENTIALS")));
    assert_eq!(body["data"], json!({"fail_times": 3, "need_captcha": true}));

    // From now on a captcha is required, even with the right password.
    let (status, body) = attempt("grace", "passw0rd-ok", None).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("CAPTCHA_ID_EMPTY")));
    assert_eq!(body["data"]["need_captcha"], true);
    let (status, body) = attempt("grace", "wrong-pass1", Some(captcha(app, "digit").await)).await;
    assert_eq!((status, body["data"]["fail_times"].as_i64()), (401, Some(4)));
    let (status, body) = attempt("grace", "wrong-pass1", Some(captcha(app, "digit").await)).await;
    assert_eq!((status, body["code"].as_str()), (429, Some("TOO_MANY_LOGIN_FAILURES")));

    // Locked: even the right password (and a right captcha) is refused, without bcrypt work.
    let before = app.state.hasher.operations();
    let (status, body) = attempt("grace", "passw0rd-ok", Some(captcha(app, "digit").await)).await;
    assert_eq!((status, body["code"].as_str()), (429, Some("TOO_MANY_LOGIN_FAILURES")));
    assert_eq!(app.state.hasher.operations(), before, "no bcrypt while locked");

    // Unknown usernames answer exactly like wrong passwords.
    app.register("heidi", "passw0rd-ok").await;
    for _ in 0..4 {
        let (s1, mut known) = attempt("heidi", "wrong-pass1", None).await;
        let (s2, mut unknown) = attempt("nobody-here", "wrong-pass1", None).await;
        known["request_id"] = json!(null);
        unknown["request_id"] = json!(null);
        assert_eq!((s1, known), (s2, unknown));
    }
}

/// 100 logins at once for one account, from one address and from 100: no more password
/// checks run than one-at-a-time attempts allow (3 before the captcha is required), and once
/// the captcha rule applies the right password without a captcha gets no token.
async fn parallel_logins_run_no_more_checks_than_sequential_ones(profile: Profile) {
    let Some(env) = start(profile, |c| c.http.trusted_proxies = vec!["127.0.0.1".into()]).await
    else {
        return;
    };
    let app = &env.app;
    let burst = |name: &'static str, right_at: usize, many_ips: bool| {
        futures_util::future::join_all((0..100).map(move |i| {
            let password = if i == right_at { "passw0rd-ok" } else { "wrong-pass1" };
            let ip = if many_ips {
                format!("10.1.{}.{}", i / 250, i % 250 + 1)
            } else {
                "10.0.0.7".into()
            };
            async move {
                let res = app
                    .client
                    .post(format!("{}/api/v1/auth/login", app.url))
                    .header("x-forwarded-for", ip)
                    .json(&json!({"username": name, "password": password}))
                    .send()
                    .await
                    .expect("request");
                let status = res.status().as_u16();
                (status, res.json::<Value>().await.unwrap())
            }
        }))
    };
    let captcha_after = u64::from(app.state.config.auth.login_captcha_after);
    for (name, many_ips) in [("oscar", false), ("peggy", true)] {
        app.register(name, "passw0rd-ok").await;
        // All wrong: at most 3 checks, then the captcha is required even for the right password.
        let before = app.state.hasher.operations();
        let answers = burst(name, usize::MAX, many_ips).await;
        let checks = app.state.hasher.operations() - before;
        assert!(checks <= captcha_after, "{name}: {checks} password checks ran");
        assert!(answers.iter().all(|(s, _)| *s != 200 && *s < 500), "{answers:?}");
        let (status, body) = app
            .post("/api/v1/auth/login", &json!({"username": name, "password": "passw0rd-ok"}))
            .await;
        assert_eq!((status, body["data"]["need_captcha"].as_bool()), (400, Some(true)), "{body}");

        // The right password inside a burst, once the captcha applies: refused like the rest,
        // and no password is checked at all.
        let before = app.state.hasher.operations();
        let answers = burst(name, 50, many_ips).await;
        assert_eq!(app.state.hasher.operations(), before, "{name}: no checks without a captcha");
        assert!(answers.iter().all(|(s, _)| *s != 200), "{name}: a token leaked: {answers:?}");
    }
}

/// Many people logging in at once from one address (a NAT, a school) with the right
/// passwords are all let in: only failures count against an address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_right_logins_from_one_address_are_not_refused() {
    let Some(env) = start(Profile::Embedded, |c| {
        c.http.trusted_proxies = vec!["127.0.0.1".into()];
        c.auth.login_ip_max_failures = 5;
    })
    .await
    else {
        return;
    };
    let app = &env.app;
    let names: Vec<String> = (0..30).map(|i| format!("nat{i}")).collect();
    for name in &names {
        app.register(name, "passw0rd-ok").await;
    }
    let answers = futures_util::future::join_all(names.iter().map(|name| async move {
        let res = app
            .client
            .post(format!("{}/api/v1/auth/login", app.url))
            .header("x-forwarded-for", "10.9.9.9")
            .json(&json!({"username": name, "password": "passw0rd-ok"}))
            .send()
            .await
            .expect("request");
        res.status().as_u16()
    }))
    .await;
    assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ip_guessing_many_accounts_is_throttled_before_bcrypt() {
    let Some(env) = start(Profile::Embedded, |c| c.auth.login_ip_max_failures = 5).await else {
        return;
    };
    let app = &env.app;
    app.register("ivan", "passw0rd-ok").await;
    for i in 0..5 {
        let (status, _) = app
            .post("/api/v1/auth/login", &json!({"username": format!("user{i}"), "password": "x1"}))
            .await;
        assert_eq!(status, 401);
    }
    let before = app.state.hasher.operations();
    let (status, body) = app
        .post("/api/v1/auth/login", &json!({"username": "ivan", "password": "passw0rd-ok"}))
        .await;
    assert_eq!((status, body["code"].as_str()), (429, Some("RATE_LIMITED")));
    assert_eq!(app.state.hasher.operations(), before, "refused before bcrypt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_and_disabled_accounts_get_401() {
    let Some(env) = start(Profile::Embedded, |c| c.auth.session_ttl_secs = 1).await else { return };
    let app = &env.app;
    let (id, token) = app.user("judy").await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (status, body) = app.get_as(&token, "/api/v1/profile/info").await;
    assert_eq!((status, body["code"].as_str()), (401, Some("TOKEN_EXPIRED")));

    let Some(env) = start(Profile::Embedded, |_| {}).await else { return };
    let app = &env.app;
    let (id2, token) = app.user("judy").await;
    // A status changed behind the server's back (no revocation) is still caught on every request.
    app.state.db.user_set_status(UserId(id2), 0, 0).await.unwrap();
    let (status, body) = app.get_as(&token, "/api/v1/profile/info").await;
    assert_eq!((status, body["code"].as_str()), (401, Some("ACCOUNT_DISABLED")));
    app.state.db.user_set_status(UserId(id2), 2, 0).await.unwrap();
    let (status, body) = app.get_as(&token, "/api/v1/profile/info").await;
    assert_eq!((status, body["code"].as_str()), (401, Some("ACCOUNT_DELETED")));
    // Disabled and deleted accounts cannot log in; the code shows only after a right password.
    let (status, body) = app
        .post("/api/v1/auth/login", &json!({"username": "judy", "password": "passw0rd-ok"}))
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("ACCOUNT_DELETED")));
    let (status, body) = app
        .post("/api/v1/auth/login", &json!({"username": "judy", "password": "passw0rd-no1"}))
        .await;
    assert_eq!((status, body["code"].as_str()), (401, Some("WRONG_CREDENTIALS")));
    let _ = id;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_can_be_closed_or_limited_to_a_window() {
    let closed: [fn(&mut jim::Config); 2] = [
        |c| c.auth.registration = jim::config::Registration::Closed,
        |c| c.auth.registration_opens_at = "2999-01-01T00:00:00Z".into(),
    ];
    for close in closed {
        let Some(env) = start(Profile::Embedded, close).await else { return };
        let (status, body) =
            env.app.post("/api/v1/auth/register", &register_body("kim", "passw0rd-ok")).await;
        assert_eq!((status, body["code"].as_str()), (403, Some("REGISTRATION_CLOSED")));
    }
    let Some(env) =
        start(Profile::Embedded, |c| c.auth.registration_closes_at = "2999-01-01T00:00:00Z".into())
            .await
    else {
        return;
    };
    env.app.register("kim", "passw0rd-ok").await;
}

async fn sessions_can_be_listed_and_revoked(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    app.register("leo", "passw0rd-ok").await;
    let phone = app.login("leo", "passw0rd-ok").await;
    let laptop = app.login("leo", "passw0rd-ok").await;
    let tablet = app.login("leo", "passw0rd-ok").await;
    let (status, body) = app.get_as(&laptop, "/api/v1/auth/sessions").await;
    assert_eq!(status, 200);
    let sessions = body["data"].as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert_eq!(sessions[0]["ip"], "127.0.0.1");
    let phone_id = sessions[2]["id"].as_i64().unwrap();

    let (status, body) = app
        .post_as(&laptop, "/api/v1/auth/sessions/revoke", &json!({"session_id": phone_id}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["revoked"], json!([phone_id]));
    assert_eq!(app.get_as(&phone, "/api/v1/profile/info").await.0, 401);
    let (status, body) =
        app.post_as(&laptop, "/api/v1/auth/sessions/revoke", &json!({"session_id": 999_999})).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("SESSION_NOT_FOUND")));

    // Nobody can revoke someone else's session.
    let (_, other) = app.user("mallory").await;
    let (_, listed) = app.get_as(&tablet, "/api/v1/auth/sessions").await;
    let tablet_id = listed["data"][0]["id"].as_i64().unwrap();
    let (status, _) = app
        .post_as(&other, "/api/v1/auth/sessions/revoke", &json!({"session_id": tablet_id}))
        .await;
    assert_eq!(status, 404);
    assert_eq!(app.get_as(&tablet, "/api/v1/profile/info").await.0, 200);

    let (status, _) =
        app.post_as(&laptop, "/api/v1/auth/sessions/revoke", &json!({"all_others": true})).await;
    assert_eq!(status, 200);
    assert_eq!(app.get_as(&tablet, "/api/v1/profile/info").await.0, 401);
    assert_eq!(app.get_as(&laptop, "/api/v1/profile/info").await.0, 200);
}

async fn password_change_ends_other_sessions(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    app.register("nina", "passw0rd-ok").await;
    let current = app.login("nina", "passw0rd-ok").await;
    let other = app.login("nina", "passw0rd-ok").await;
    let change = |old: &str, new: &str| json!({"old_password": old, "new_password": new, "confirm_password": new});
    let (status, body) =
        app.post_as(&current, "/api/v1/profile/password", &change("nope-123", "newpassw0rd")).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("WRONG_PASSWORD")));
    let (status, body) =
        app.post_as(&current, "/api/v1/profile/password", &change("passw0rd-ok", "short")).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("INVALID_PASSWORD")));
    let (status, _) = app
        .post_as(&current, "/api/v1/profile/password", &change("passw0rd-ok", "newpassw0rd"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.get_as(&other, "/api/v1/profile/info").await.0, 401);
    assert_eq!(app.get_as(&current, "/api/v1/profile/info").await.0, 200);
    let (status, _) = app
        .post("/api/v1/auth/login", &json!({"username": "nina", "password": "passw0rd-ok"}))
        .await;
    assert_eq!(status, 401);
    app.login("nina", "newpassw0rd").await;
}

async fn profile_edits(profile: Profile) {
    let Some(env) = start(profile, |_| {}).await else { return };
    let app = &env.app;
    let (_, token) = app.user("olga").await;
    let update = |body: Value| {
        let token = token.clone();
        async move { app.post_as(&token, "/api/v1/profile/update", &body).await }
    };
    let (status, body) =
        update(json!({"nickname": "Olga K", "avatar": "https://img.example.com/o.png",
        "birth_date": "1985-12-01", "online_status": 4}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["nickname"], "Olga K");
    assert_eq!(body["data"]["online_status"], 4);
    for (patch, code) in [
        (json!({"avatar": "javascript:alert(1)"}), "INVALID_AVATAR"),
        (json!({"online_status": 9}), "INVALID_ONLINE_STATUS"),
        (json!({"nickname": ""}), "INVALID_NICKNAME"),
        (json!({"birth_date": "tomorrow"}), "INVALID_TIME_FORMAT"),
        (json!({}), "INVALID_PARAMS"),
    ] {
        let (status, body) = update(patch.clone()).await;
        assert_eq!((status, body["code"].as_str()), (400, Some(code)), "{patch}");
    }
    let (status, body) = update(json!({"birth_date": "", "avatar": ""})).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["birth_date"], Value::Null);
    assert_eq!(body["data"]["avatar"], "");
    assert_eq!(body["data"]["nickname"], "Olga K", "untouched fields stay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_instance_is_honoured_by_another_at_once() {
    let Some(scale) = ScaleOut::fresh().await else { return };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = spawn_app(test_config(dir_a.path(), Some(&scale))).await;
    let b = spawn_app(test_config(dir_b.path(), Some(&scale))).await;
    let (_, token) = a.user("pat").await;
    for _ in 0..3 {
        // More than once: B may remember a session it verified (and must still not be fooled).
        assert_eq!(
            b.get_as(&token, "/api/v1/profile/info").await.0,
            200,
            "shared secret and sessions"
        );
    }
    let mut events = b.state.bus.subscribe();
    assert_eq!(a.post_as(&token, "/api/v1/auth/logout", &json!({})).await.0, 200);
    let (status, body) = b.get_as(&token, "/api/v1/profile/info").await;
    assert_eq!((status, body["code"].as_str()), (401, Some("TOKEN_REVOKED")));
    let heard = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if let Ok(m) = events.recv().await
                && matches!(m.event, jim::bus::Event::SessionsRevoked { .. })
            {
                return true;
            }
        }
    })
    .await;
    assert!(heard.is_ok(), "instance B hears the revocation");

    // Nothing secret (tokens, password hashes) is kept in Redis.
    let pool = jim::bus::redis::pool(&scale.redis_url, 1).unwrap();
    let mut conn = pool.get().await.unwrap();
    let keys: Vec<String> = deadpool_redis::redis::cmd("KEYS")
        .arg(format!("{}:*", scale.server_name))
        .query_async(&mut conn)
        .await
        .unwrap();
    let hash = a.state.db.user_find_by_username("pat".into()).await.unwrap().unwrap().password_hash;
    for key in keys {
        let value: Option<String> = deadpool_redis::redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap_or(None);
        let value = value.unwrap_or_default();
        assert!(
            !value.contains(&token) && !value.contains(&hash) && !value.contains("passw0rd"),
            "{key}"
        );
    }
    a.stop().await;
    b.stop().await;
}
