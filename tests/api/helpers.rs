//! Test harness: start the real application on 127.0.0.1:0 in either profile, with a fresh
//! SQLite file or a fresh MariaDB database, and talk to it over HTTP.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use actix_web::web;
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl};
use jim::app::Stopper;
use jim::logging::{self, CapturedLog};
use jim::state::AppState;
use jim::{Application, Config};
use serde_json::{Value, json};
use tempfile::TempDir;

/// A running application plus what a test needs to talk to it.
pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    pub state: web::Data<AppState>,
    pub log: CapturedLog,
    stopper: Stopper,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Send `request`; the answer's status and JSON body (`null` when it has none).
async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let res = request.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

impl TestApp {
    /// GET `path`, returning the status and the JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        answer(self.client.get(format!("{}{path}", self.url))).await
    }

    /// POST a JSON body to `path`, returning the status and the JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        answer(self.client.post(format!("{}{path}", self.url)).json(body)).await
    }

    /// Stop the server gracefully and wait for it.
    pub async fn stop(mut self) {
        self.stopper.stop().await;
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// A config for a test: loopback, port 0, one worker, state under `dir`.
pub fn base_config(dir: &Path) -> Config {
    let mut config = Config { data_dir: dir.to_path_buf(), ..Config::default() };
    config.http.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.http.workers = 1;
    config.log.level = jim::config::LogLevel::Debug;
    config
}

/// Start the application with `config`; panics if it cannot start.
pub async fn spawn_app(config: Config) -> TestApp {
    let (log, captured) = logging::capture(slog::Level::Debug);
    let app = Application::build(config, log).await.expect("application starts");
    let url = format!("http://{}", app.local_addr());
    let state = app.state();
    let stopper = app.stopper();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        url,
        client: reqwest::Client::new(),
        state,
        log: captured,
        stopper,
        server: Some(server),
    }
}

/// An embedded-profile app on a fresh SQLite file. Keep the `TempDir` alive as long as the app.
pub async fn spawn_embedded() -> (TestApp, TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = spawn_app(base_config(dir.path())).await;
    (app, dir)
}

/// Whether scale-out tests must run (CI) rather than be skipped when services are missing.
pub fn scaleout_required() -> bool {
    std::env::var("JIM_TEST_REQUIRE_SCALEOUT").is_ok_and(|v| v == "1" || v == "true")
}

/// Base URL of the test MariaDB server (no database part).
pub fn mysql_base_url() -> String {
    std::env::var("JIM_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// URL of the test Redis server.
pub fn redis_url() -> String {
    std::env::var("JIM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A fresh MariaDB database and a private Redis key space for one test.
#[derive(Clone, Debug)]
pub struct ScaleOut {
    pub mysql_url: String,
    pub redis_url: String,
    pub server_name: String,
}

impl ScaleOut {
    /// Create a fresh database. Returns `None` (test skipped) when MariaDB or Redis is not
    /// reachable, unless `JIM_TEST_REQUIRE_SCALEOUT=1`, in which case it panics.
    pub async fn fresh() -> Option<ScaleOut> {
        let name = format!("jim_test_{}", uuid::Uuid::new_v4().simple());
        let base = mysql_base_url();
        let created = async {
            let mut conn = AsyncMysqlConnection::establish(&format!("{base}/mysql")).await?;
            diesel::sql_query(format!(
                "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            ))
            .execute(&mut conn)
            .await?;
            Ok::<_, Box<dyn std::error::Error>>(())
        };
        let mysql_ok = match tokio::time::timeout(Duration::from_secs(10), created).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        };
        let redis_ok = redis_ping(&redis_url()).await;
        match (mysql_ok, redis_ok) {
            (Ok(()), Ok(())) => Some(ScaleOut {
                mysql_url: format!("{base}/{name}"),
                redis_url: redis_url(),
                server_name: name,
            }),
            (m, r) => {
                let why = format!("MariaDB: {m:?}, Redis: {r:?}");
                if scaleout_required() {
                    panic!(
                        "scale-out services required (JIM_TEST_REQUIRE_SCALEOUT=1) but unreachable: {why}"
                    );
                }
                eprintln!("SKIPPED scale-out test: {why}");
                None
            }
        }
    }

    /// A config pointing at this database and Redis.
    pub fn config(&self, dir: &Path) -> Config {
        let mut config = base_config(dir);
        config.database.url = self.mysql_url.clone();
        config.database.pool_size = 4;
        config.redis.url = self.redis_url.clone();
        config.redis.pool_size = 4;
        config.server_name = self.server_name.clone();
        config
    }
}

/// PING a Redis server.
pub async fn redis_ping(url: &str) -> Result<(), String> {
    let pool = jim::bus::redis::pool(url, 1).map_err(|e| e.to_string())?;
    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
    deadpool_redis::redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A private `redis-server` on its own port, which a test may kill and restart.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Start one on a free port; `None` when no `redis-server` binary is installed (and
    /// scale-out tests are not required).
    pub async fn start() -> Option<PrivateRedis> {
        let port = free_port();
        let mut redis = PrivateRedis { port, child: None };
        if let Err(e) = redis.restart().await {
            if scaleout_required() {
                panic!("cannot start a private redis-server: {e}");
            }
            eprintln!("SKIPPED: cannot start a private redis-server: {e}");
            return None;
        }
        Some(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kill the server (SIGKILL) and wait for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start the server again on the same port and wait until it answers.
    pub async fn restart(&mut self) -> Result<(), String> {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        self.child = Some(child);
        let url = self.url();
        if eventually(Duration::from_secs(5), || async { redis_ping(&url).await.is_ok() }).await {
            Ok(())
        } else {
            Err("redis-server did not answer within 5 s".into())
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Run `jim ARGS` (feeding `stdin`) against the same database and Redis as `env`'s server,
/// with none of this process's `JIM_*` variables.
pub fn jim_for(env: &Env, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut cmd = Command::new(jim_bin());
    cmd.current_dir(env.dir.path()).args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("JIM_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("JIM_DATA_DIR", env.dir.path()).env("JIM_AUTH__BCRYPT_COST", "4");
    if let Some(scale) = &env.scale {
        cmd.env("JIM_DATABASE__URL", &scale.mysql_url)
            .env("JIM_REDIS__URL", &scale.redis_url)
            .env("JIM_SERVER_NAME", &scale.server_name);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run jim");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("jim output")
}

/// Process output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Path of the built `jim` binary.
pub fn jim_bin() -> &'static str {
    env!("CARGO_BIN_EXE_jim")
}

/// A response's status and error code, for comparing both at once.
pub fn code(r: &(u16, Value)) -> (u16, Option<&str>) {
    (r.0, r.1["code"].as_str())
}

/// Make the existing users `a` and `b` (id, token) friends through the API: `a` invites,
/// `b` accepts.
pub async fn befriend(app: &TestApp, a: (i64, &str), b: (i64, &str)) {
    let (status, body) =
        app.post_as(a.1, "/api/v1/friend/invite/add", &json!({"user_id": b.0})).await;
    assert_eq!(status, 200, "{body}");
    let id = body["data"]["invite"]["id"].as_i64().unwrap();
    let (status, body) =
        app.post_as(b.1, "/api/v1/friend/invite/update", &json!({"id": id, "status": 1})).await;
    assert_eq!(status, 200, "{body}");
}

/// Two new users who are friends: ((a, token a), (b, token b)).
pub async fn friends(app: &TestApp, a: &str, b: &str) -> ((i64, String), (i64, String)) {
    let (ida, ta) = app.user(a).await;
    let (idb, tb) = app.user(b).await;
    befriend(app, (ida, &ta), (idb, &tb)).await;
    ((ida, ta), (idb, tb))
}

/// Poll `check` every 20 ms until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Which storage profile a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Embedded,
    ScaleOut,
}

/// A running app with what keeps it alive.
#[allow(dead_code)]
pub struct Env {
    pub app: TestApp,
    pub dir: TempDir,
    pub scale: Option<ScaleOut>,
}

/// The config tests use: cheap bcrypt, no captcha on register (tests that want it turn it on).
pub fn test_config(dir: &Path, scale: Option<&ScaleOut>) -> Config {
    let mut config = match scale {
        Some(s) => s.config(dir),
        None => base_config(dir),
    };
    config.auth.bcrypt_cost = 4;
    config.auth.captcha_on_register = false;
    config
}

/// Start an app in `profile` after applying `tweak` to the test config. `None` when the
/// scale-out services are unavailable and not required.
pub async fn start(profile: Profile, tweak: impl FnOnce(&mut Config)) -> Option<Env> {
    let dir = tempfile::tempdir().expect("tempdir");
    let scale = match profile {
        Profile::Embedded => None,
        Profile::ScaleOut => Some(ScaleOut::fresh().await?),
    };
    let mut config = test_config(dir.path(), scale.as_ref());
    tweak(&mut config);
    let app = spawn_app(config).await;
    Some(Env { app, dir, scale })
}

/// Run a test body once per profile: `both_profiles!(name)` makes `name::embedded` and
/// `name::scale_out` from `async fn name(profile: Profile)`.
#[macro_export]
macro_rules! both_profiles {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$name(Profile::Embedded).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn scale_out() {
                super::$name(Profile::ScaleOut).await
            }
        }
    )*};
}

impl TestApp {
    /// GET with a bearer token.
    pub async fn get_as(&self, token: &str, path: &str) -> (u16, Value) {
        answer(self.client.get(format!("{}{path}", self.url)).bearer_auth(token)).await
    }

    /// POST JSON with a bearer token.
    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        answer(self.client.post(format!("{}{path}", self.url)).bearer_auth(token).json(body)).await
    }

    /// Register `username` with `password`; returns the new user id.
    pub async fn register(&self, username: &str, password: &str) -> i64 {
        let (status, body) = self
            .post(
                "/api/v1/auth/register",
                &serde_json::json!({"username": username, "password": password, "confirm_password": password}),
            )
            .await;
        assert_eq!(status, 200, "register {username}: {body}");
        body["data"]["id"].as_i64().expect("id")
    }

    /// Log in; returns the token.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let (status, body) = self
            .post(
                "/api/v1/auth/login",
                &serde_json::json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(status, 200, "login {username}: {body}");
        body["data"]["token"].as_str().expect("token").to_string()
    }

    /// Register and log in; returns (user id, token).
    pub async fn user(&self, username: &str) -> (i64, String) {
        let id = self.register(username, "passw0rd-ok").await;
        (id, self.login(username, "passw0rd-ok").await)
    }
}

/// A WebSocket client for tests.
pub struct WsClient {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

/// What a test sees on a socket.
#[derive(Debug, Clone, PartialEq)]
pub enum WsEvent {
    Frame(Value),
    Closed(Option<u16>),
    Timeout,
}

impl WsClient {
    /// Connect with `?token=`; a refused handshake gives its HTTP status and JSON body.
    pub async fn connect(app: &TestApp, token: &str) -> Result<WsClient, (u16, Value)> {
        let url = format!("{}/api/v1/ws?token={token}", app.url.replace("http://", "ws://"));
        Self::connect_request(url.as_str()).await
    }

    /// Connect promising a `catch_up` first frame (`?catch_up=1`).
    pub async fn connect_catching_up(app: &TestApp, token: &str) -> Result<WsClient, (u16, Value)> {
        let url =
            format!("{}/api/v1/ws?token={token}&catch_up=1", app.url.replace("http://", "ws://"));
        Self::connect_request(url.as_str()).await
    }

    /// Connect with a custom request (headers).
    pub async fn connect_request(
        request: impl tokio_tungstenite::tungstenite::client::IntoClientRequest + Unpin,
    ) -> Result<WsClient, (u16, Value)> {
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => Ok(WsClient { stream }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let status = response.status().as_u16();
                let body = response
                    .body()
                    .as_ref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                Err((status, body))
            }
            Err(e) => Err((0, Value::String(e.to_string()))),
        }
    }

    /// Send a JSON frame.
    pub async fn send(&mut self, frame: Value) {
        use futures_util::SinkExt;
        let _ = self
            .stream
            .send(tokio_tungstenite::tungstenite::Message::text(frame.to_string()))
            .await;
    }

    /// Send raw text.
    pub async fn send_text(&mut self, text: String) {
        use futures_util::SinkExt;
        let _ = self.stream.send(tokio_tungstenite::tungstenite::Message::text(text)).await;
    }

    /// The next JSON frame (control frames are answered and skipped), a close, or a timeout.
    pub async fn next(&mut self, timeout: Duration) -> WsEvent {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(remaining, self.stream.next()).await {
                Err(_) => return WsEvent::Timeout,
                Ok(None) | Ok(Some(Err(_))) => return WsEvent::Closed(None),
                Ok(Some(Ok(Message::Text(t)))) => {
                    return WsEvent::Frame(serde_json::from_str(t.as_str()).unwrap_or(Value::Null));
                }
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return WsEvent::Closed(frame.map(|f| u16::from(f.code)));
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// The next frame of `kind`, skipping others (None on timeout or close).
    pub async fn expect(&mut self, kind: &str, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(remaining).await {
                WsEvent::Frame(f) if f["type"] == kind => return Some(f["data"].clone()),
                WsEvent::Frame(_) => continue,
                _ => return None,
            }
        }
    }

    /// Every frame of `kind` until `quiet` passes without one.
    pub async fn drain(&mut self, kind: &str, quiet: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(f) = self.expect(kind, quiet).await {
            out.push(f);
        }
        out
    }

    /// Wait for the server to close the socket; returns the close code.
    pub async fn closed(&mut self, timeout: Duration) -> Option<Option<u16>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(remaining).await {
                WsEvent::Closed(code) => return Some(code),
                WsEvent::Timeout => return None,
                WsEvent::Frame(_) => continue,
            }
        }
    }
}

/// A TCP proxy a test owns, on 127.0.0.1, in front of a server the test must not stop (the
/// shared MariaDB or Redis): [`TcpProxy::cut`] resets every connection through it and refuses
/// new ones, as a lost link would; [`TcpProxy::restore`] lets connections through again.
pub struct TcpProxy {
    pub port: u16,
    target: String,
    inner: std::sync::Arc<std::sync::Mutex<ProxyState>>,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// The proxy's listener and live connections (tasks; aborting one resets both its sockets).
#[derive(Default)]
struct ProxyState {
    listener: Option<tokio::task::JoinHandle<()>>,
    pipes: Vec<tokio::task::JoinHandle<()>>,
    /// Moved by every cut: a connection accepted just before one is reset, not kept.
    generation: u64,
}

impl TcpProxy {
    /// A proxy on a free port forwarding to `target` (`host:port`).
    pub async fn start(target: &str) -> TcpProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let port = listener.local_addr().expect("proxy address").port();
        let proxy = TcpProxy {
            port,
            target: target.to_string(),
            inner: Default::default(),
            accepted: Default::default(),
        };
        proxy.listen(listener);
        proxy
    }

    /// A proxy in front of the host and port of `url` (e.g. `mysql://root@127.0.0.1:3306/db`).
    pub async fn for_url(url: &str) -> TcpProxy {
        let parsed = url::Url::parse(url).expect("a URL");
        let host = parsed.host_str().expect("a host");
        let port = parsed.port_or_known_default().expect("a port");
        TcpProxy::start(&format!("{host}:{port}")).await
    }

    /// `url` with its host and port replaced by this proxy's.
    pub fn url_through(&self, url: &str) -> String {
        let mut parsed = url::Url::parse(url).expect("a URL");
        parsed.set_host(Some("127.0.0.1")).expect("a host");
        parsed.set_port(Some(self.port)).expect("a port");
        parsed.to_string()
    }

    /// How many connections the proxy has accepted so far.
    pub fn accepted(&self) -> usize {
        // Spelled out: diesel's `RunQueryDsl::load` (in scope) would shadow the method.
        std::sync::atomic::AtomicUsize::load(&self.accepted, std::sync::atomic::Ordering::SeqCst)
    }

    /// Reset every connection through the proxy and refuse new ones.
    pub fn cut(&self) {
        let mut state = self.inner.lock().unwrap();
        state.generation += 1;
        if let Some(listener) = state.listener.take() {
            listener.abort();
        }
        for pipe in state.pipes.drain(..) {
            pipe.abort();
        }
    }

    /// Accept and forward connections again (on the same port).
    pub async fn restore(&self) {
        if self.inner.lock().unwrap().listener.is_some() {
            return;
        }
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                // The port may be busy for a moment after the cut.
                Err(_) if tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("proxy rebind on {}: {e}", self.port),
            }
        };
        self.listen(listener);
    }

    fn listen(&self, listener: tokio::net::TcpListener) {
        let (target, inner, accepted) =
            (self.target.clone(), self.inner.clone(), self.accepted.clone());
        let generation = self.inner.lock().unwrap().generation;
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let target = target.clone();
                let pipe = tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else {
                        let _ = client.set_zero_linger();
                        return;
                    };
                    // Dropped (cut) mid-stream, both sides see a reset, not an orderly close.
                    let _ = client.set_zero_linger();
                    let _ = server.set_zero_linger();
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                let mut state = inner.lock().unwrap();
                if state.generation != generation {
                    pipe.abort();
                    break;
                }
                state.pipes.retain(|p| !p.is_finished());
                state.pipes.push(pipe);
            }
        });
        self.inner.lock().unwrap().listener = Some(task);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Store a private message from `a` to `b` without publishing it: a push lost on its way.
pub async fn store_without_push(app: &TestApp, a: i64, b: i64, action_id: &str) -> i64 {
    let lost = jim::store::NewMessage {
        room_id: jim::store::private_room_id(a, b),
        session_type: 1,
        message_type: 1,
        sender_id: a,
        receiver_id: b,
        action_id: action_id.into(),
        body: serde_json::json!({"text": "lost"}).to_string(),
        created_at: 0,
    };
    app.state.messages.append(lost).await.unwrap().message_id
}

/// Run `scripts/<script>`, which installs a tool the tests need when absent (once per
/// machine, into a cache outside the checkout) and prints the path to run it by.
pub fn installed_by(script: &str) -> Result<std::path::PathBuf, String> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts").join(script);
    let out = std::process::Command::new("bash")
        .arg(&script)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!("{} failed ({})", script.display(), out.status));
    }
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if path.is_empty() {
        return Err(format!("{} printed no path", script.display()));
    }
    Ok(std::path::PathBuf::from(path))
}
