//! Email against a real SMTP server (tests/api/smtp.rs): binding an address with a mailed
//! code, logging in with it, forgotten passwords, verified registration, the outbox's
//! retries through an outage and its exactly-once delivery with two instances, mail in
//! English and Chinese, the admin commands, and what is refused — on both profiles.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::smtp::{Security, SmtpSink, code_of};

crate::both_profiles!(
    bind_verify_change_and_remove,
    login_by_verified_email,
    forgot_and_reset_end_every_session,
    forgot_answers_the_same_for_everyone,
    codes_expire_are_single_use_and_run_out_of_tries,
    requests_are_throttled,
    verified_registration,
    outage_then_recovery_delivers_the_reset_mail_once,
    a_restart_loses_no_queued_mail,
);

/// POST with a bearer token (or none) and an `Accept-Language`.
async fn post_in(
    app: &TestApp,
    token: Option<&str>,
    lang: &str,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let mut request = app.client.post(format!("{}{path}", app.url)).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if !lang.is_empty() {
        request = request.header("accept-language", lang);
    }
    let res = request.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Start an app in `profile` that mails through `sink`.
async fn start_with(
    profile: Profile,
    sink: &SmtpSink,
    tweak: impl FnOnce(&mut jim::Config),
) -> Option<Env> {
    start(profile, |c| {
        sink.configure(&mut c.mail);
        tweak(c);
    })
    .await
}

/// Bind `address` to the account of `token` through the API, with the mailed code.
async fn bind(app: &TestApp, sink: &SmtpSink, token: &str, address: &str) {
    let before = sink.mails_to(address).len();
    let r = app.post_as(token, "/api/v1/profile/email", &json!({"email": address})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    let mails = sink.wait_for(address, before + 1).await;
    let code = code_of(mails.last().unwrap());
    let r = app.post_as(token, "/api/v1/profile/email/verify", &json!({"code": code})).await;
    assert_eq!(r.0, 200, "{}", r.1);
}

/// The whole binding story: a code to the new address (text and HTML, from `mail.from`,
/// over STARTTLS with AUTH), a wrong code counted, the right one binding it, the address
/// taken for others (without regard to case), a change notifying the old address, and
/// removal with the password.
async fn bind_verify_change_and_remove(profile: Profile) {
    let Some(sink) = SmtpSink::start(Security::StartTls).await else { return };
    let Some(env) = start_with(profile, &sink, |_| {}).await else { return };
    let app = &env.app;
    let (_, ann) = app.user("ann").await;
    let (_, bob) = app.user("bob").await;

    let info = app.get_as(&ann, "/api/v1/profile/info").await;
    assert_eq!(
        (info.1["data"]["email"].clone(), info.1["data"]["email_verified"].clone()),
        (Value::Null, json!(false))
    );

    let r =
        app.post_as(&ann, "/api/v1/profile/email", &json!({"email": " Ann@Example.test "})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(r.1["data"], json!({"email": "Ann@Example.test", "expires_in": 900}));
    let mails = sink.wait_for("Ann@Example.test", 1).await;
    let mail = &mails[0];
    assert_eq!(mail["tls"], true, "STARTTLS was used");
    assert_eq!(mail["authenticated"], true, "AUTH was used");
    assert_eq!(mail["from"], "JIM Test <no-reply@jim.test>");
    assert_eq!(mail["mail_from"], "no-reply@jim.test");
    let bind_code = code_of(mail);
    assert!(mail["subject"].as_str().unwrap().contains(&bind_code), "{mail}");
    assert!(mail["html"].as_str().unwrap().contains(&bind_code), "the HTML part has the code too");
    assert!(mail["text"].as_str().unwrap().contains("ann"), "{mail}");
    // Not bound before it is verified.
    let info = app.get_as(&ann, "/api/v1/profile/info").await;
    assert_eq!(info.1["data"]["email"], Value::Null);

    let wrong = if bind_code == "000000" { "111111" } else { "000000" };
    let r = app.post_as(&ann, "/api/v1/profile/email/verify", &json!({"code": wrong})).await;
    assert_eq!(code(&r), (400, Some("EMAIL_CODE_INVALID")), "{}", r.1);
    assert_eq!(r.1["data"]["tries_left"], 4);
    let r = app.post_as(&ann, "/api/v1/profile/email/verify", &json!({"code": "12ab"})).await;
    assert_eq!(code(&r), (400, Some("EMAIL_CODE_INVALID")));
    let r = app.post_as(&ann, "/api/v1/profile/email/verify", &json!({"code": bind_code})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(r.1["data"]["email"], "Ann@Example.test");
    assert_eq!(r.1["data"]["email_verified"], true);
    let info = app.get_as(&ann, "/api/v1/profile/info").await;
    assert_eq!(info.1["data"]["email"], "Ann@Example.test");
    assert_eq!(info.1["data"]["email_verified"], true);
    // Used up.
    let r = app.post_as(&ann, "/api/v1/profile/email/verify", &json!({"code": bind_code})).await;
    assert_eq!(code(&r), (400, Some("EMAIL_CODE_INVALID")));

    // One account per address, whatever the case.
    let r = app.post_as(&bob, "/api/v1/profile/email", &json!({"email": "ann@EXAMPLE.test"})).await;
    assert_eq!(code(&r), (409, Some("EMAIL_TAKEN")), "{}", r.1);
    let r = app.post_as(&ann, "/api/v1/profile/email", &json!({"email": "ANN@example.test"})).await;
    assert_eq!(code(&r), (409, Some("EMAIL_UNCHANGED")), "{}", r.1);

    // Changing it: the old address is told.
    bind(app, &sink, &ann, "ann.new@example.test").await;
    let info = app.get_as(&ann, "/api/v1/profile/info").await;
    assert_eq!(info.1["data"]["email"], "ann.new@example.test");
    let old = sink.wait_for("Ann@Example.test", 2).await;
    let notice = &old[1];
    assert!(notice["subject"].as_str().unwrap().contains("changed"), "{notice}");
    assert!(notice["text"].as_str().unwrap().contains("ann.new@example.test"), "{notice}");
    // The old address is free again.
    bind(app, &sink, &bob, "ann@example.test").await;

    // Removal needs the password.
    let r =
        app.post_as(&ann, "/api/v1/profile/email/remove", &json!({"password": "nope-1234"})).await;
    assert_eq!(code(&r), (403, Some("WRONG_PASSWORD")));
    let r = app
        .post_as(&ann, "/api/v1/profile/email/remove", &json!({"password": "passw0rd-ok"}))
        .await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(
        (r.1["data"]["email"].clone(), r.1["data"]["email_verified"].clone()),
        (Value::Null, json!(false))
    );
    let removed = sink.wait_for("ann.new@example.test", 2).await;
    assert!(removed[1]["subject"].as_str().unwrap().contains("removed"), "{}", removed[1]);
    let r = app
        .post_as(&ann, "/api/v1/profile/email/remove", &json!({"password": "passw0rd-ok"}))
        .await;
    assert_eq!(code(&r), (404, Some("EMAIL_NOT_SET")));

    // Bad addresses, header injection included, are refused before anything is sent.
    for bad in [
        "ann",
        "ann@localhost",
        "ann@example.test\r\nBcc: eve@example.test",
        "ann@example.test\nSubject: x",
        "Eve <eve@example.test>",
        &format!("{}@example.test", "a".repeat(250)),
    ] {
        let r = app.post_as(&ann, "/api/v1/profile/email", &json!({"email": bad})).await;
        assert_eq!(code(&r), (400, Some("INVALID_EMAIL")), "{bad:?}: {}", r.1);
    }
    assert!(sink.mails().iter().all(|m| !m["raw"].as_str().unwrap().contains("eve@")));
    assert_no_secrets_logged(app, &[&bind_code]);
}

/// The login route's `username` takes a verified address (any case) as well as the username;
/// an address being bound, or given up, does not log in.
async fn login_by_verified_email(profile: Profile) {
    let Some(sink) = SmtpSink::start(Security::StartTls).await else { return };
    let Some(env) = start_with(profile, &sink, |_| {}).await else { return };
    let app = &env.app;
    let (_, cid) = app.user("cid").await;
    let login = |name: &'static str| async move {
        app.post("/api/v1/auth/login", &json!({"username": name, "password": "passw0rd-ok"})).await
    };
    assert_eq!(code(&login("cid@example.test").await), (401, Some("WRONG_CREDENTIALS")));
    let r = app.post_as(&cid, "/api/v1/profile/email", &json!({"email": "cid@example.test"})).await;
    assert_eq!(r.0, 200);
    assert_eq!(
        code(&login("cid@example.test").await),
        (401, Some("WRONG_CREDENTIALS")),
        "not yet verified"
    );
    let code_mail = sink.wait_for("cid@example.test", 1).await;
    let r = app
        .post_as(&cid, "/api/v1/profile/email/verify", &json!({"code": code_of(&code_mail[0])}))
        .await;
    assert_eq!(r.0, 200);
    for name in ["cid@example.test", "CID@Example.Test", " cid@example.test ", "cid", "CID"] {
        let r = app
            .post("/api/v1/auth/login", &json!({"username": name, "password": "passw0rd-ok"}))
            .await;
        assert_eq!(r.0, 200, "{name:?}: {}", r.1);
    }
    let r = app
        .post(
            "/api/v1/auth/login",
            &json!({"username": "cid@example.test", "password": "wrong-pass1"}),
        )
        .await;
    assert_eq!(code(&r), (401, Some("WRONG_CREDENTIALS")));
}

/// Forgot, then reset: the code comes by mail, a weak password is refused, the right code
/// sets the password, ends every session (the open socket closes, old tokens stop working),
/// and a notice follows; the code then works no more.
async fn forgot_and_reset_end_every_session(profile: Profile) {
    let Some(sink) = SmtpSink::start(Security::StartTls).await else { return };
    let Some(env) = start_with(profile, &sink, |_| {}).await else { return };
    let app = &env.app;
    let (_, dan) = app.user("dan").await;
    bind(app, &sink, &dan, "dan@example.test").await;
    let other = app.login("dan", "passw0rd-ok").await;
    let mut socket = WsClient::connect(app, &dan).await.unwrap();

    let r = app.post("/api/v1/auth/password/forgot", &json!({"login": "DAN@example.test"})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    let mails = sink.wait_for("dan@example.test", 2).await;
    let mail = &mails[1];
    assert!(mail["subject"].as_str().unwrap().contains("password reset code"), "{mail}");
    let reset_code = code_of(mail);

    let reset = |login: &'static str, code: String, password: &'static str| async move {
        app.post(
            "/api/v1/auth/password/reset",
            &json!({"login": login, "code": code, "new_password": password}),
        )
        .await
    };
    let r = reset("dan", reset_code.clone(), "short").await;
    assert_eq!(code(&r), (400, Some("INVALID_PASSWORD")), "{}", r.1);
    let wrong = if reset_code == "999999" { "888888" } else { "999999" };
    let r = reset("dan", wrong.to_string(), "n3w-passw0rd").await;
    assert_eq!(code(&r), (400, Some("EMAIL_CODE_INVALID")), "{}", r.1);
    let r = reset("dan", reset_code.clone(), "n3w-passw0rd").await;
    assert_eq!(r.0, 200, "{}", r.1);

    assert!(socket.closed(Duration::from_secs(5)).await.is_some(), "the socket closed");
    for token in [&dan, &other] {
        let r = app.get_as(token, "/api/v1/profile/info").await;
        assert_eq!(r.0, 401, "{}", r.1);
    }
    let r = app
        .post("/api/v1/auth/login", &json!({"username": "dan", "password": "passw0rd-ok"}))
        .await;
    assert_eq!(code(&r), (401, Some("WRONG_CREDENTIALS")));
    app.login("dan@example.test", "n3w-passw0rd").await;
    let mails = sink.wait_for("dan@example.test", 3).await;
    assert!(mails[2]["subject"].as_str().unwrap().contains("was reset"), "{}", mails[2]);
    // Single use.
    let r = reset("dan", reset_code.clone(), "an0ther-passw0rd").await;
    assert_eq!(code(&r), (400, Some("EMAIL_CODE_INVALID")), "{}", r.1);
    assert_no_secrets_logged(app, &[&reset_code, "n3w-passw0rd"]);
}

/// `forgot` answers the same for an account with an address, one without, a name nobody has
/// and an unknown address; only the first gets mail.
async fn forgot_answers_the_same_for_everyone(profile: Profile) {
    let Some(sink) = SmtpSink::start(Security::StartTls).await else { return };
    let Some(env) = start_with(profile, &sink, |_| {}).await else { return };
    let app = &env.app;
    let (_, eve) = app.user("eve").await;
    app.user("fay").await;
    bind(app, &sink, &eve, "eve@example.test").await;
    let mut answers = Vec::new();
    for login in ["eve", "fay", "nobody", "nobody@example.test", "eve@example.test"] {
        let (status, mut body) =
            app.post("/api/v1/auth/password/forgot", &json!({"login": login})).await;
        body.as_object_mut().unwrap().remove("request_id");
        answers.push((status, body));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    assert_eq!(answers[0].0, 200);
    let mails = sink.wait_for("eve@example.test", 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.mails().len(), 3, "one bind code and two reset codes, nothing else");
    // The newest code replaced the older one.
    let (first, second) = (code_of(&mails[1]), code_of(&mails[2]));
    if first != second {
        let r = app
            .post(
                "/api/v1/auth/password/reset",
                &json!({"login": "eve", "code": first, "new_password": "n3w-passw0rd"}),
            )
            .await;
        assert_eq!(code(&r), (400, Some("EMAIL_CODE_INVALID")), "{}", r.1);
    }
    // A reset for an account without a code answers like a wrong code.
    let r = app
        .post(
            "/api/v1/auth/password/reset",
            &json!({"login": "nobody", "code": "123456", "new_password": "n3w-passw0rd"}),
        )
        .await;
    assert_eq!(code(&r), (400, Some("EMAIL_CODE_INVALID")), "{}", r.1);
    // CR/LF in the login is refused.
    let r =
        app.post("/api/v1/auth/password/forgot", &json!({"login": "eve\r\nBcc: x@y.test"})).await;
    assert_eq!(code(&r), (400, Some("INVALID_PARAMS")), "{}", r.1);
}

/// A code expires (`EMAIL_CODE_EXPIRED`), works once, and survives `code_max_tries` wrong
/// answers: the next answer, right or wrong, is 429 — for a known login and an unknown one
/// alike.
async fn codes_expire_are_single_use_and_run_out_of_tries(profile: Profile) {
    let Some(sink) = SmtpSink::start(Security::StartTls).await else { return };
    let Some(env) = start_with(profile, &sink, |c| c.mail.code_ttl_secs = 3).await else { return };
    let app = &env.app;
    let (_, gus) = app.user("gus").await;
    let r = app.post_as(&gus, "/api/v1/profile/email", &json!({"email": "gus@example.test"})).await;
    assert_eq!(r.0, 200);
    let first = code_of(&sink.wait_for("gus@example.test", 1).await[0]);
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let r = app.post_as(&gus, "/api/v1/profile/email/verify", &json!({"code": first})).await;
    assert_eq!(code(&r), (400, Some("EMAIL_CODE_EXPIRED")), "{}", r.1);

    let r = app.post_as(&gus, "/api/v1/profile/email", &json!({"email": "gus@example.test"})).await;
    assert_eq!(r.0, 200);
    let right = code_of(&sink.wait_for("gus@example.test", 2).await[1]);
    let wrong = if right == "000000" { "111111" } else { "000000" };
    for left in (0..5).rev() {
        let r = app.post_as(&gus, "/api/v1/profile/email/verify", &json!({"code": wrong})).await;
        assert_eq!(code(&r), (400, Some("EMAIL_CODE_INVALID")), "{}", r.1);
        assert_eq!(r.1["data"]["tries_left"], left);
    }
    let r = app.post_as(&gus, "/api/v1/profile/email/verify", &json!({"code": right})).await;
    assert_eq!(code(&r), (429, Some("EMAIL_CODE_TOO_MANY_TRIES")), "{}", r.1);

    // Resets: a known account with a code and a name nobody has run out alike.
    bind(app, &sink, &gus, "gus@example.test").await;
    let r = app.post("/api/v1/auth/password/forgot", &json!({"login": "gus"})).await;
    assert_eq!(r.0, 200);
    sink.wait_for("gus@example.test", 4).await;
    for login in ["gus", "nobody"] {
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let r = app
                .post(
                    "/api/v1/auth/password/reset",
                    &json!({"login": login, "code": wrong, "new_password": "n3w-passw0rd"}),
                )
                .await;
            statuses.push(code(&r).1.map(str::to_string));
        }
        let mut want = vec![Some("EMAIL_CODE_INVALID".to_string()); 5];
        want.push(Some("EMAIL_CODE_TOO_MANY_TRIES".to_string()));
        assert_eq!(statuses, want, "{login}");
    }
}

/// Too many codes for one account, one address or from one IP: 429 `RATE_LIMITED`.
async fn requests_are_throttled(profile: Profile) {
    let Some(sink) = SmtpSink::start(Security::StartTls).await else { return };
    let Some(env) = start_with(profile, &sink, |c| {
        c.mail.codes_per_account_per_hour = 2;
        c.mail.codes_per_address_per_hour = 3;
        c.mail.requests_per_ip_per_hour = 12;
    })
    .await
    else {
        return;
    };
    let app = &env.app;
    let (_, hal) = app.user("hal").await;
    let (_, ida) = app.user("ida").await;
    let ask = |token: &str, email: &str| {
        let (token, email) = (token.to_string(), email.to_string());
        async move { app.post_as(&token, "/api/v1/profile/email", &json!({"email": email})).await }
    };
    assert_eq!(ask(&hal, "hal@example.test").await.0, 200);
    assert_eq!(ask(&hal, "hal2@example.test").await.0, 200);
    assert_eq!(
        code(&ask(&hal, "hal3@example.test").await),
        (429, Some("RATE_LIMITED")),
        "per account"
    );
    assert_eq!(ask(&ida, "hal@example.test").await.0, 200);
    let (_, joe) = app.user("joe").await;
    assert_eq!(ask(&joe, "hal@example.test").await.0, 200);
    let (_, kim) = app.user("kim").await;
    assert_eq!(
        code(&ask(&kim, "hal@example.test").await),
        (429, Some("RATE_LIMITED")),
        "per address"
    );
    // `forgot` counts per login, the same for names with and without an account.
    for login in ["hal", "nobody"] {
        let mut codes = Vec::new();
        for _ in 0..3 {
            let r = app.post("/api/v1/auth/password/forgot", &json!({"login": login})).await;
            codes.push(code(&r).0);
        }
        assert_eq!(codes, [200, 200, 429], "{login}");
    }
    // Per IP: 12 requests in all so far would be reached now.
    let r = app.post("/api/v1/auth/password/forgot", &json!({"login": "someone"})).await;
    assert_eq!(code(&r), (429, Some("RATE_LIMITED")), "per IP: {}", r.1);
}

/// `auth.require_email`: registration takes an address, the account cannot log in until the
/// mailed code verified it, and the mail follows `Accept-Language` (Chinese here).
async fn verified_registration(profile: Profile) {
    let Some(sink) = SmtpSink::start(Security::StartTls).await else { return };
    let Some(env) = start_with(profile, &sink, |c| c.auth.require_email = true).await else {
        return;
    };
    let app = &env.app;
    let r = app.get("/api/v1/auth/options").await;
    assert_eq!(
        r.1["data"],
        json!({"mail": true, "require_email": true, "captcha_on_register": false})
    );
    let register = |name: &str, email: Option<&str>| {
        let mut body =
            json!({"username": name, "password": "passw0rd-ok", "confirm_password": "passw0rd-ok"});
        if let Some(email) = email {
            body["email"] = json!(email);
        }
        async move {
            post_in(app, None, "zh-CN,zh;q=0.9,en;q=0.8", "/api/v1/auth/register", &body).await
        }
    };
    assert_eq!(code(&register("lee", None).await), (400, Some("EMAIL_REQUIRED")));
    assert_eq!(code(&register("lee", Some("lee@bad")).await), (400, Some("INVALID_EMAIL")));
    let r = register("lee", Some("Lee@Example.test")).await;
    assert_eq!(r.0, 200, "{}", r.1);
    let login = || async move {
        app.post("/api/v1/auth/login", &json!({"username": "lee", "password": "passw0rd-ok"})).await
    };
    assert_eq!(code(&login().await), (403, Some("EMAIL_NOT_VERIFIED")));
    let r = app
        .post("/api/v1/auth/login", &json!({"username": "lee", "password": "wrong-pass1"}))
        .await;
    assert_eq!(code(&r), (401, Some("WRONG_CREDENTIALS")), "nothing said without the password");

    let mail = &sink.wait_for("Lee@Example.test", 1).await[0];
    assert!(mail["subject"].as_str().unwrap().contains("验证码"), "{mail}");
    assert!(mail["text"].as_str().unwrap().contains("欢迎"), "{mail}");
    assert!(mail["html"].as_str().unwrap().contains("lang=\"zh-CN\""), "{mail}");
    // A new code on request (the answer is the same for a name nobody has).
    let r = app.post("/api/v1/auth/email/resend", &json!({"username": "lee"})).await;
    assert_eq!(r.0, 200);
    let r = app.post("/api/v1/auth/email/resend", &json!({"username": "nobody"})).await;
    assert_eq!(r.0, 200);
    let mails = sink.wait_for("Lee@Example.test", 2).await;
    assert!(
        mails[1]["subject"].as_str().unwrap().contains("verification code"),
        "English without Accept-Language"
    );
    let old = code_of(&mails[0]);
    let new = code_of(&mails[1]);
    if old != new {
        let r =
            app.post("/api/v1/auth/email/verify", &json!({"username": "lee", "code": old})).await;
        assert_eq!(code(&r), (400, Some("EMAIL_CODE_INVALID")), "replaced: {}", r.1);
    }
    let r = app.post("/api/v1/auth/email/verify", &json!({"username": "lee", "code": new})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    let r = login().await;
    assert_eq!(r.0, 200, "{}", r.1);
    let token = r.1["data"]["token"].as_str().unwrap().to_string();
    let info = app.get_as(&token, "/api/v1/profile/info").await;
    assert_eq!(info.1["data"]["email"], "Lee@Example.test");
    assert_eq!(info.1["data"]["email_verified"], true);
    // The verified address is taken for new registrations.
    assert_eq!(code(&register("lea", Some("lee@example.TEST")).await), (409, Some("EMAIL_TAKEN")));
}

/// The SMTP server is down while a reset code is queued: the sender retries with backoff,
/// and once the server is back the mail arrives exactly once and the reset completes.
async fn outage_then_recovery_delivers_the_reset_mail_once(profile: Profile) {
    let Some(mut sink) = SmtpSink::start(Security::StartTls).await else { return };
    let Some(env) = start_with(profile, &sink, |_| {}).await else { return };
    let app = &env.app;
    let (_, max) = app.user("max").await;
    bind(app, &sink, &max, "max@example.test").await;

    sink.stop();
    let r = app.post("/api/v1/auth/password/forgot", &json!({"login": "max"})).await;
    assert_eq!(r.0, 200, "the API answers at once: {}", r.1);
    let retried = eventually(Duration::from_secs(10), || async {
        app.log.text().matches("mail not sent, will retry").count() >= 3
    })
    .await;
    assert!(retried, "the sender retried: {}", app.log.text());
    let tally = app.state.db.mail_tally().await.unwrap();
    assert_eq!((tally.pending, tally.sent), (1, 1), "queued, not lost");

    sink.restart().await;
    sink.wait_for("max@example.test", 2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let resets: Vec<Value> = sink
        .mails_to("max@example.test")
        .into_iter()
        .filter(|m| m["subject"].as_str().unwrap().contains("password reset"))
        .collect();
    assert_eq!(resets.len(), 1, "the reset mail arrived once: {resets:?}");
    let reset_mail = &resets[0];
    let tally = app.state.db.mail_tally().await.unwrap();
    assert_eq!((tally.pending, tally.sent, tally.given_up), (0, 2, 0));
    let r = app
        .post(
            "/api/v1/auth/password/reset",
            &json!({"login": "max", "code": code_of(reset_mail), "new_password": "n3w-passw0rd"}),
        )
        .await;
    assert_eq!(r.0, 200, "{}", r.1);
}

/// Mail queued while the SMTP server is down survives a restart of jim: the next server
/// on the same database sends it, once.
async fn a_restart_loses_no_queued_mail(profile: Profile) {
    let Some(mut sink) = SmtpSink::start(Security::StartTls).await else { return };
    let Some(env) = start_with(profile, &sink, |_| {}).await else { return };
    let (_, rae) = env.app.user("rae").await;
    bind(&env.app, &sink, &rae, "rae@example.test").await;
    sink.stop();
    let r = env.app.post("/api/v1/auth/password/forgot", &json!({"login": "rae"})).await;
    assert_eq!(r.0, 200);
    let Env { app, dir, scale } = env;
    let tried = eventually(Duration::from_secs(10), || async {
        app.log.text().contains("mail not sent, will retry")
    })
    .await;
    assert!(tried);
    app.stop().await;

    sink.restart().await;
    let mut config = test_config(dir.path(), scale.as_ref());
    sink.configure(&mut config.mail);
    let again = spawn_app(config).await;
    sink.wait_for("rae@example.test", 2).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let resets = sink
        .mails_to("rae@example.test")
        .into_iter()
        .filter(|m| m["subject"].as_str().unwrap().contains("password reset"))
        .count();
    assert_eq!(resets, 1);
    let tally = again.state.db.mail_tally().await.unwrap();
    assert_eq!((tally.pending, tally.sent), (0, 2));
    again.stop().await;
}

/// Two instances share the database (MariaDB + Redis) and the outbox: mails queued on both
/// are each sent exactly once, by one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_send_each_mail_once() {
    let Some(sink) = SmtpSink::start(Security::StartTls).await else { return };
    let Some(scale) = ScaleOut::fresh().await else { return };
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut apps = Vec::new();
    for dir in &dirs {
        let mut config = test_config(dir.path(), Some(&scale));
        sink.configure(&mut config.mail);
        config.mail.poll_interval_ms = 20;
        apps.push(spawn_app(config).await);
    }
    const EACH: usize = 15;
    let mut queued = Vec::new();
    for i in 0..EACH {
        for (n, app) in apps.iter().enumerate() {
            let to = format!("user{n}-{i}@example.test");
            jim::service::mail::enqueue(
                &app.state,
                &to,
                "someone",
                jim::service::mail::Lang::En,
                jim::service::mail::Content::Test,
            )
            .await
            .unwrap();
            queued.push(to);
        }
    }
    let all =
        eventually(Duration::from_secs(30), || async { sink.mails().len() >= 2 * EACH }).await;
    assert!(all, "{} of {} arrived", sink.mails().len(), 2 * EACH);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mails = sink.mails();
    assert_eq!(mails.len(), 2 * EACH, "each mail once");
    for to in &queued {
        assert_eq!(sink.mails_to(to).len(), 1, "{to}");
    }
    let mut ids: Vec<&str> = mails.iter().map(|m| m["message_id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2 * EACH, "distinct Message-IDs");
    let tally = apps[0].state.db.mail_tally().await.unwrap();
    assert_eq!((tally.pending, tally.sent), (0, 2 * EACH as i64));
    // Both instances took part (each claims in batches as it is woken).
    let senders = apps.iter().filter(|a| a.log.text().contains("mail sent")).count();
    assert!(senders >= 1);
    for app in apps {
        app.stop().await;
    }
}

/// Without `mail.smtp_url` the email routes answer 503 `MAIL_NOT_CONFIGURED`, and the server
/// said so when it started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_the_email_routes_answer_503() {
    let Some(env) = start(Profile::Embedded, |_| {}).await else { return };
    let app = &env.app;
    assert!(app.log.text().contains("mail off"), "{}", app.log.text());
    let r = app.get("/api/v1/auth/options").await;
    assert_eq!(
        r.1["data"],
        json!({"mail": false, "require_email": false, "captcha_on_register": false})
    );
    let (_, ned) = app.user("ned").await;
    for (token, path, body) in [
        (Some(&ned), "/api/v1/profile/email", json!({"email": "ned@example.test"})),
        (Some(&ned), "/api/v1/profile/email/verify", json!({"code": "123456"})),
        (None, "/api/v1/auth/password/forgot", json!({"login": "ned"})),
        (
            None,
            "/api/v1/auth/password/reset",
            json!({"login": "ned", "code": "123456", "new_password": "n3w-passw0rd"}),
        ),
        (None, "/api/v1/auth/email/verify", json!({"username": "ned", "code": "123456"})),
        (None, "/api/v1/auth/email/resend", json!({"username": "ned"})),
    ] {
        let r = post_in(app, token.map(String::as_str), "", path, &body).await;
        assert_eq!(code(&r), (503, Some("MAIL_NOT_CONFIGURED")), "{path}: {}", r.1);
    }
}

/// Implicit TLS and a plain local relay work too; `jim mail test` reports the server's
/// answer, and a failure (a certificate nobody trusts) with exit status 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_plain_relay_and_the_mail_test_command() {
    for security in [Security::ImplicitTls, Security::Plain, Security::StartTls] {
        let Some(sink) = SmtpSink::start(security).await else { return };
        let Some(env) = start_with(Profile::Embedded, &sink, |_| {}).await else { return };
        let mut mail = jim::config::MailConfig::default();
        sink.configure(&mut mail);
        let out = jim_with_mail(&env, &mail, &["mail", "test", "ops@example.test"]);
        assert!(out.status.success(), "{security:?}: {} {}", text(&out.stdout), text(&out.stderr));
        assert!(text(&out.stdout).contains("answered 250"), "{}", text(&out.stdout));
        let got = sink.wait_for("ops@example.test", 1).await;
        assert!(got[0]["subject"].as_str().unwrap().contains("test mail"), "{}", got[0]);
        // And through the outbox of a running server.
        let (_, oli) = env.app.user("oli").await;
        bind(&env.app, &sink, &oli, "oli@example.test").await;
        if security != Security::Plain {
            // Without the CA file the server's certificate is not trusted.
            mail.smtp_ca_file = String::new();
            let out = jim_with_mail(&env, &mail, &["mail", "test", "ops@example.test"]);
            assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
            assert!(text(&out.stderr).contains("test mail not sent"), "{}", text(&out.stderr));
        }
    }
}

/// `jim user set-email` binds an address as verified (and "" removes it), `jim user show`
/// shows it, and the address then logs in; `jim mail status` counts the outbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_set_email_show_and_status() {
    let Some(env) = start(Profile::Embedded, |_| {}).await else { return };
    let app = &env.app;
    app.user("pia").await;
    app.user("quin").await;
    let out = jim_for(&env, &["user", "set-email", "pia", "Pia@Example.test"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = jim_for(&env, &["user", "show", "pia", "--json"], "");
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (shown["email"].clone(), shown["email_verified"].clone()),
        (json!("Pia@Example.test"), json!(true))
    );
    let out = jim_for(&env, &["user", "show", "pia"], "");
    assert!(text(&out.stdout).contains("Pia@Example.test"), "{}", text(&out.stdout));
    app.login("pia@example.test", "passw0rd-ok").await;
    let out = jim_for(&env, &["user", "set-email", "quin", "PIA@example.test"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("EMAIL_TAKEN"), "{}", text(&out.stderr));
    let out =
        jim_for(&env, &["user", "set-email", "quin", "quin@example.test\r\nBcc: x@y.test"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("INVALID_EMAIL"), "{}", text(&out.stderr));
    let out = jim_for(&env, &["user", "set-email", "pia", ""], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r = app
        .post(
            "/api/v1/auth/login",
            &json!({"username": "pia@example.test", "password": "passw0rd-ok"}),
        )
        .await;
    assert_eq!(code(&r), (401, Some("WRONG_CREDENTIALS")));
    let out = jim_for(&env, &["mail", "status"], "");
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("waiting: 0"), "{}", text(&out.stdout));
    let out = jim_for(&env, &["mail", "test", "ops@example.test"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("mail is off"), "{}", text(&out.stderr));
}

/// `jim ARGS` against `env`'s database with `mail` as its `[mail]` settings.
fn jim_with_mail(env: &Env, mail: &jim::config::MailConfig, args: &[&str]) -> std::process::Output {
    let mut all = vec![
        "-O".to_string(),
        format!("mail.smtp_url={}", mail.smtp_url),
        "-O".to_string(),
        format!("mail.from={}", mail.from),
        "-O".to_string(),
        format!("mail.smtp_ca_file={}", mail.smtp_ca_file),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    jim_for(env, &all, "")
}

/// No log line holds a code, a password or a token.
fn assert_no_secrets_logged(app: &TestApp, secrets: &[&str]) {
    let log = app.log.text();
    for secret in secrets {
        assert!(!log.contains(secret), "{secret:?} logged");
    }
}
