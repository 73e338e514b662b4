//! The HTTP layer's own promises, whatever route answers: headers on every answer, 405 with
//! `Allow` for a wrong method, a real request id in every envelope, whole numbers however
//! written, and an API description that lists what operations answer.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// Methods a client might try on any path.
const METHODS: [&str; 6] = ["GET", "POST", "PUT", "DELETE", "PATCH", "TRACE"];

fn assert_request_id(body: &Value, what: &str) {
    let id = body["request_id"].as_str().unwrap_or_default();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{what}: request_id {id:?} in {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_is_nosniff_and_json_says_its_charset() {
    let (app, _dir) = spawn_embedded().await;
    let url = |p: &str| format!("{}{p}", app.url);
    let answers = [
        ("livez", app.client.get(url("/livez")).send().await.unwrap()),
        ("unknown path", app.client.get(url("/nope")).send().await.unwrap()),
        ("no token", app.client.get(url("/api/v1/profile/info")).send().await.unwrap()),
        ("bad JSON", app.client.post(url("/api/v1/auth/login")).body("{").send().await.unwrap()),
        ("wrong method", app.client.put(url("/livez")).send().await.unwrap()),
        ("spec", app.client.get(url("/api/openapi.json")).send().await.unwrap()),
        ("plain GET on the socket", app.client.get(url("/api/v1/ws")).send().await.unwrap()),
    ];
    for (what, res) in answers {
        let headers = res.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
        assert_eq!(headers["content-type"], "application/json; charset=utf-8", "{what}");
    }
    let page = app.client.get(url("/api/docs")).send().await.unwrap();
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");

    // A refused WebSocket upgrade is answered outside the routes; it has the same headers.
    let ws = url("/api/v1/ws").replace("http://", "ws://");
    match tokio_tungstenite::connect_async(ws.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status().as_u16(), 401);
            assert_eq!(res.headers()["x-content-type-options"], "nosniff");
            assert_eq!(res.headers()["content-type"], "application/json; charset=utf-8");
        }
        other => panic!("expected a refused upgrade, got {other:?}"),
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_a_path_does_not_allow_is_405_with_allow() {
    let (app, _dir) = spawn_embedded().await;
    let (_, spec) = app.get("/api/openapi.json").await;
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.len() > 50, "every route is described");
    for (path, item) in paths {
        let allowed: Vec<&str> = METHODS
            .iter()
            .copied()
            .filter(|m| item.get(m.to_ascii_lowercase()).is_some())
            .collect();
        assert!(!allowed.is_empty(), "{path}");
        // A templated segment (`{id}`) is asked for with a value of the right shape.
        let path = &path
            .split('/')
            .map(|s| if s.starts_with('{') { "0123456789abcdef0123456789abcdef" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        for method in METHODS {
            let res = app
                .client
                .request(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    format!("{}{path}", app.url),
                )
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            if allowed.contains(&method) {
                // The router serves what the description lists.
                assert!(status != 404 && status != 405, "{method} {path} answered {status}");
                continue;
            }
            let allow = res.headers().get("allow").map(|v| v.to_str().unwrap().to_string());
            let body: Value = res.json().await.unwrap_or(Value::Null);
            assert_eq!(status, 405, "{method} {path}: {body}");
            assert_eq!(allow.as_deref(), Some(allowed.join(", ").as_str()), "{method} {path}");
            assert_eq!(body["code"], "METHOD_NOT_ALLOWED", "{method} {path}");
            assert_request_id(&body, path);
        }
    }
    // The GET-only pages outside the description, and paths that do not exist at all.
    let res = app.client.post(format!("{}/api/openapi.json", app.url)).send().await.unwrap();
    assert_eq!((res.status().as_u16(), res.headers()["allow"].to_str().unwrap()), (405, "GET"));
    let res = app.client.delete(format!("{}/api/v1/nothing", app.url)).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 404);
    assert!(res.headers().get("allow").is_none());
    let (status, body) = app.post("/api/v1/nothing", &json!({})).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("NOT_FOUND")));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_envelope_carries_a_real_request_id() {
    let (app, _dir) = spawn_embedded().await;
    // The socket's refusals are answered outside the routes.
    let (status, body) = WsClient::connect(&app, "").await.err().unwrap();
    assert_eq!((status, body["code"].as_str()), (401, Some("TOKEN_EMPTY")));
    assert_request_id(&body, "refused upgrade");
    let logged = app.log.text();
    assert!(logged.contains(body["request_id"].as_str().unwrap()), "the log line has the id");

    let (_, body) = app.get("/livez").await;
    assert_request_id(&body, "livez");
    let (_, body) = app.get("/api/v1/profile/info").await;
    assert_request_id(&body, "401");
    let (_, body) = app.get("/nope").await;
    assert_request_id(&body, "404");
    let (_, body) = app.post("/api/v1/auth/login", &json!({"username": 1})).await;
    assert_request_id(&body, "400");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_description_lists_the_answers_every_operation_can_give() {
    let (app, _dir) = spawn_embedded().await;
    let (_, spec) = app.get("/api/openapi.json").await;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let what = format!("{method} {path}");
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                assert!(
                    responses["401"]["description"].as_str().unwrap().contains("TOKEN_EXPIRED")
                );
            }
            if op.get("requestBody").is_some() {
                assert!(responses.contains_key("400"), "{what}: malformed bodies");
                assert!(responses.contains_key("413"), "{what}: bodies over the limit");
            }
            if path != "/livez" {
                assert!(responses.contains_key("503"), "{what}: a dependency down");
            }
        }
    }
    // Two request types of the same name once shared one schema (a friend update was
    // described with the group update's fields).
    let friend_update = &spec["paths"]["/api/v1/friend/update"]["post"]["requestBody"];
    assert!(friend_update.to_string().contains("FriendUpdateRequest"), "{friend_update}");
    let session_type = &spec["components"]["schemas"]["SendRequest"]["properties"]["session_type"];
    assert_eq!(session_type["enum"], json!([1, 2, 99]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_numbers_written_as_floats_are_integers() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(test_config(dir.path(), None)).await;
    let (_, token) = app.user("floaty").await;
    // JSON Schema calls 1.0 an integer; so does the server now.
    let (status, body) = app.post_as(&token, "/api/v1/group/join", &json!({"group_id": 1.0})).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("GROUP_NOT_FOUND")), "{body}");
    let (status, body) = app.post_as(&token, "/api/v1/group/join", &json!({"group_id": 1.5})).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("INVALID_PARAMS")), "{body}");
    // A body over the limit is still refused while it is read.
    let big = "x".repeat(app.state.config.http.body_limit_bytes + 1);
    let (status, body) =
        app.post_as(&token, "/api/v1/profile/update", &json!({"nickname": big})).await;
    assert_eq!((status, body["code"].as_str()), (413, Some("PAYLOAD_TOO_LARGE")), "{body}");
    assert_request_id(&body, "413");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_status_filter_outside_the_documented_set_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(test_config(dir.path(), None)).await;
    let (_, token) = app.user("filter").await;
    for path in ["/api/v1/friend/invite/sent", "/api/v1/friend/invite/received"] {
        let (status, body) = app.get_as(&token, &format!("{path}?status=-1")).await;
        assert_eq!((status, body["code"].as_str()), (400, Some("INVALID_PARAMS")), "{path}");
        let (status, _) = app.get_as(&token, &format!("{path}?status=2")).await;
        assert_eq!(status, 200, "{path}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_client_is_served_at_the_root_unless_turned_off() {
    let (app, _dir) = spawn_embedded().await;
    let url = |p: &str| format!("{}{p}", app.url);
    let res = app.client.get(url("/")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let headers = res.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let csp = headers["content-security-policy"].to_str().unwrap();
    for rule in ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"] {
        assert!(csp.contains(rule), "{rule} in {csp}");
    }
    assert!(!csp.contains("unsafe-"), "no inline script or eval: {csp}");
    let page = res.text().await.unwrap();
    assert!(page.contains(r#"<script type="module" src="/js/app.js"></script>"#));
    assert!(!page.contains("<script>"), "no inline script");

    // Revalidation by ETag; modules are JavaScript, gzipped when the browser asks.
    let etag = headers["etag"].to_str().unwrap();
    let again = app.client.get(url("/")).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 304);
    let module =
        app.client.get(url("/js/app.js")).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(module.status().as_u16(), 200);
    assert_eq!(module.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(module.headers()["content-encoding"], "gzip");

    // Everything else answers as before.
    for path in ["/livez", "/readyz", "/api/docs", "/api/openapi.json"] {
        assert_eq!(
            app.client.get(url(path)).send().await.unwrap().status().as_u16(),
            200,
            "{path}"
        );
    }
    assert_eq!(app.get("/nope").await.0, 404);
    assert_eq!(app.get("/api/v1/auth/login").await.0, 405);
    let (status, body) = app.post("/", &json!({})).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("NOT_FOUND")));
    app.stop().await;

    let Some(env) = start(Profile::Embedded, |c| c.web.enabled = false).await else { return };
    for path in ["/", "/index.html", "/js/app.js"] {
        assert_eq!(env.app.get(path).await.0, 404, "{path} with the web client off");
    }
    assert_eq!(env.app.get("/livez").await.0, 200);
    env.app.stop().await;
}
