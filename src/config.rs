//! Configuration: the typed `Config`, its layered loading (defaults < jim.toml < `JIM_*` env <
//! `-O key=value`), validation that names the offending key and its source, and the profile it
//! selects. Settings with a closed set of words are enums and the listen address a
//! `SocketAddr`, so a bad one is refused while loading; `validate` keeps ranges and the rules
//! that tie keys together.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

/// Everything `jim` can be configured with. Every field has a default; see `jim.toml.example`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Directory for local state: the SQLite database and the generated secret.
    pub data_dir: PathBuf,
    /// Name of this deployment. Prefixes Redis keys and pub/sub channels so that two
    /// deployments can share one Redis.
    pub server_name: String,
    /// Secret material for keyed hashes. Empty: generated on first start and kept in
    /// `data_dir/secret.key` (embedded) or in the shared database (scale-out).
    pub secret: String,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub messages: MessagesConfig,
    pub log: LogConfig,
    pub auth: AuthConfig,
    pub groups: GroupsConfig,
    pub chat: ChatConfig,
    pub ws: WsConfig,
    pub media: MediaConfig,
    pub web: WebConfig,
    pub mail: MailConfig,
    pub metrics: MetricsConfig,
    pub calls: CallsConfig,
}

/// Outbound mail: address codes, password resets and notices, sent over SMTP from a durable
/// outbox by a background sender on every instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MailConfig {
    /// The SMTP server. `smtps://user:password@host:465` (implicit TLS),
    /// `smtp://user:password@host:587` (STARTTLS, required), or `smtp://host:25?tls=none`
    /// (no TLS: only for a relay on the same machine or network). Empty: mail is off and the
    /// email routes answer 503 `MAIL_NOT_CONFIGURED`.
    pub smtp_url: String,
    /// The sender, e.g. `JIM <no-reply@example.com>`.
    pub from: String,
    /// A PEM file of extra certificate authorities to trust for the SMTP server (a private
    /// CA or a self-signed relay), besides the built-in Mozilla roots. Empty: none.
    pub smtp_ca_file: String,
    /// Seconds one SMTP conversation may take.
    pub smtp_timeout_secs: u64,
    /// Seconds a mailed code stays valid.
    pub code_ttl_secs: u64,
    /// Wrong answers a code survives; the next answer is refused (429) and the code ends.
    pub code_max_tries: u32,
    /// Codes one account may have mailed per hour (binding and resets alike).
    pub codes_per_account_per_hour: u32,
    /// Codes one address may receive per hour.
    pub codes_per_address_per_hour: u32,
    /// Code requests and reset attempts one client IP may make per hour.
    pub requests_per_ip_per_hour: u32,
    /// Milliseconds between two looks at the outbox (mail queued on this instance is sent
    /// at once; this is how mail queued elsewhere or due for a retry is found).
    pub poll_interval_ms: u64,
    /// Milliseconds before the first retry of a mail the SMTP server did not take; each
    /// further retry waits twice as long, up to `retry_max_ms`.
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// Attempts after which a mail is given up (and logged). A mail the server refuses for
    /// good (a 5xx answer) is given up at once.
    pub max_attempts: u32,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: String::new(),
            from: String::new(),
            smtp_ca_file: String::new(),
            smtp_timeout_secs: 30,
            code_ttl_secs: 900,
            code_max_tries: 5,
            codes_per_account_per_hour: 5,
            codes_per_address_per_hour: 5,
            requests_per_ip_per_hour: 30,
            poll_interval_ms: 2000,
            retry_initial_ms: 5000,
            retry_max_ms: 3_600_000,
            max_attempts: 20,
        }
    }
}

impl MailConfig {
    /// Whether mail is configured (the email routes work).
    pub fn enabled(&self) -> bool {
        !self.smtp_url.trim().is_empty()
    }
}

/// Prometheus metrics, served on a listen address of their own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsConfig {
    /// `IP:PORT` to serve `/metrics` on (Prometheus text format), apart from the API so it
    /// is never exposed with it by accident. Empty: no metrics (the default).
    pub listen: String,
}

/// Voice and video calls: the server rings, relays signalling and hands out STUN/TURN
/// servers; the media flows between browsers (or through the TURN server), never through us.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallsConfig {
    /// Whether calls may be made at all. False: every call frame is answered with
    /// `call_ended` (reason `forbidden`, code `CALLS_DISABLED`) and the ICE route with 403.
    pub enabled: bool,
    /// STUN servers handed to clients (`stun:host:port`), which let browsers behind NAT find
    /// their public address. Empty: none.
    pub stun_urls: Vec<String>,
    /// TURN servers handed to clients (`turn:host:port?transport=udp`, `turns:…`), which relay
    /// the media when browsers cannot reach each other directly. Empty: none.
    pub turn_urls: Vec<String>,
    /// The secret shared with the TURN server (coturn: `use-auth-secret` and
    /// `static-auth-secret`); each client gets a username `<expiry>:<user id>` and
    /// base64(HMAC-SHA1(secret, username)) as its password. Required with `turn_urls`.
    pub turn_secret: String,
    /// Seconds the TURN credentials handed out stay valid (a call longer than this loses its
    /// relay, so keep it above the longest call).
    pub turn_ttl_secs: u64,
    /// Seconds a call rings before it counts as missed.
    pub ring_timeout_secs: u64,
    /// Most devices in one group call (every browser connects to every other one).
    pub max_group_participants: usize,
}

impl Default for CallsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            stun_urls: Vec::new(),
            turn_urls: Vec::new(),
            turn_secret: String::new(),
            turn_ttl_secs: 86_400,
            ring_timeout_secs: 45,
            max_group_participants: 6,
        }
    }
}

/// The browser client served at `/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebConfig {
    /// Serve the web client (its files are compiled into the binary). False: `/` and the
    /// client's files answer 404; the API is unaffected.
    pub enabled: bool,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// Uploads: where they are stored, how large they may be, and when unused ones go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaConfig {
    /// Where the bytes live: `fs` (a local directory) or `s3` (any S3-compatible store).
    /// Several instances must share one store: use `s3`, or one shared directory.
    pub backend: MediaBackend,
    /// `fs` only: the directory. Empty: `data_dir/media`.
    pub dir: String,
    /// `s3` only: the endpoint URL, e.g. `https://s3.eu-west-1.amazonaws.com` or
    /// `http://127.0.0.1:3900` (Garage, MinIO).
    pub s3_endpoint: String,
    pub s3_bucket: String,
    /// Must equal the store's own region name (signatures are scoped to it).
    pub s3_region: String,
    pub s3_access_key_id: String,
    pub s3_secret_access_key: String,
    /// Address buckets as `endpoint/bucket` (true, what self-hosted stores expect) rather
    /// than `bucket.endpoint`.
    pub s3_path_style: bool,
    /// Largest upload of any kind, in bytes: an upload is refused (413) as soon as it
    /// crosses this or its kind's limit, without reading the rest.
    pub max_upload_bytes: u64,
    pub max_image_bytes: u64,
    pub max_voice_bytes: u64,
    pub max_video_bytes: u64,
    pub max_file_bytes: u64,
    pub max_avatar_bytes: u64,
    /// Largest image in pixels (width x height), checked from the header before decoding.
    pub max_image_pixels: u64,
    /// Bytes one user may hold in uploads (0: no quota).
    pub user_quota_bytes: u64,
    /// Uploads one user may start per minute (0: no limit).
    pub uploads_per_minute: u32,
    /// Remove GPS and other location data from stored photos.
    pub strip_location: bool,
    /// Longest side of a photo's thumbnail, in pixels.
    pub thumbnail_edge: u32,
    /// Side of a stored (square) avatar, in pixels.
    pub avatar_edge: u32,
    /// Seconds an upload may stay unreferenced (never sent, avatar replaced, message
    /// recalled) before it is deleted.
    pub unreferenced_grace_secs: u64,
    /// Seconds between two runs of the background clean-up on each instance (0: only
    /// `jim media gc`).
    pub gc_interval_secs: u64,
    /// Seconds a signed download URL (for `<img>`/`<video>` in browsers) stays valid.
    pub signed_url_ttl_secs: u64,
    /// Photos processed at once, on threads at idle CPU priority (decoding and thumbnails use
    /// only CPU time chat does not need). 0: half the CPU cores, at least one.
    pub image_workers: usize,
}

/// `media.backend`: where uploaded bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaBackend {
    Fs,
    S3,
}

impl Default for MediaConfig {
    fn default() -> Self {
        const MIB: u64 = 1024 * 1024;
        Self {
            backend: MediaBackend::Fs,
            dir: String::new(),
            s3_endpoint: String::new(),
            s3_bucket: String::new(),
            s3_region: "us-east-1".into(),
            s3_access_key_id: String::new(),
            s3_secret_access_key: String::new(),
            s3_path_style: true,
            max_upload_bytes: 100 * MIB,
            max_image_bytes: 20 * MIB,
            max_voice_bytes: 20 * MIB,
            max_video_bytes: 100 * MIB,
            max_file_bytes: 100 * MIB,
            max_avatar_bytes: 5 * MIB,
            max_image_pixels: 100_000_000,
            user_quota_bytes: 2048 * MIB,
            uploads_per_minute: 60,
            strip_location: true,
            thumbnail_edge: 320,
            avatar_edge: 512,
            unreferenced_grace_secs: 24 * 3600,
            gc_interval_secs: 3600,
            signed_url_ttl_secs: 3600,
            image_workers: 0,
        }
    }
}

impl Config {
    /// The directory of the `fs` media backend.
    pub fn media_dir(&self) -> PathBuf {
        if self.media.dir.trim().is_empty() {
            self.data_dir.join("media")
        } else {
            PathBuf::from(self.media.dir.trim())
        }
    }
}

/// WebSocket connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WsConfig {
    /// Open connections one user may hold on one instance (devices, tabs).
    pub max_connections_per_user: usize,
    /// Frames queued for one connection; a client that falls this far behind is closed
    /// (code 1008) instead of growing memory.
    pub send_queue: usize,
    /// Bytes queued for one connection: the same bound by size (a few large frames hold as
    /// much as many small ones); beyond it the client is closed with 1008 too.
    pub send_queue_bytes: usize,
    /// Largest frame a client may send, in bytes (larger: closed with 1009).
    pub max_frame_bytes: usize,
    /// Seconds between server pings.
    pub ping_interval_secs: u64,
    /// Seconds without any frame from the client after which it is closed.
    pub idle_timeout_secs: u64,
    /// Most messages sent per conversation for a catch-up request; beyond that the answer
    /// says so and the client pages with `/chat/message/list`.
    pub catch_up_window: i64,
    /// Milliseconds to let sockets close (code 1001) on shutdown before the server stops.
    pub shutdown_grace_ms: u64,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            max_connections_per_user: 10,
            send_queue: 1024,
            send_queue_bytes: 4 * 1024 * 1024,
            max_frame_bytes: 64 * 1024,
            ping_interval_secs: 20,
            idle_timeout_secs: 60,
            catch_up_window: 500,
            shutdown_grace_ms: 2000,
        }
    }
}

/// Messages: limits, recall, history paging, the world channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatConfig {
    /// Longest text message, in characters.
    pub max_text_chars: usize,
    /// Longest text message, in bytes (UTF-8).
    pub max_text_bytes: usize,
    /// Seconds after sending during which a sender may recall a message.
    pub recall_window_secs: u64,
    /// Largest history page.
    pub history_page_max: i64,
    /// URL schemes accepted for media (`src` of images, voice, video, files, stickers).
    pub url_schemes: Vec<String>,
    /// Whether the world channel exists at all.
    pub world_enabled: bool,
    /// World channel ids users may use.
    pub world_ids: Vec<i64>,
    /// Whether the world channel is read-only (admins can also mute it with `jim world mute`).
    pub world_muted: bool,
    /// Seconds a user must wait between two world messages (0: no slow mode).
    pub world_slow_mode_secs: u64,
    /// Committed messages waiting to be published to the bus; beyond this, pushes are
    /// dropped (clients catch up by message id; nothing stored is lost).
    pub publish_queue: usize,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            max_text_chars: 4000,
            max_text_bytes: 16384,
            recall_window_secs: 120,
            history_page_max: 100,
            url_schemes: vec!["https".into(), "http".into()],
            world_enabled: true,
            world_ids: vec![1],
            world_muted: false,
            world_slow_mode_secs: 2,
            publish_queue: 65536,
        }
    }
}

/// Group sizes and invite links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupsConfig {
    /// Member limit of a new group (the owner and admins may change it up to `max_members`).
    pub default_max_members: u32,
    /// Server-wide ceiling on any group's size, whatever the group's own limit says.
    pub max_members: u32,
    /// Seconds an invite link stays valid unless its creator asks for less.
    pub invite_link_ttl_secs: u64,
}

impl Default for GroupsConfig {
    fn default() -> Self {
        Self { default_max_members: 500, max_members: 2000, invite_link_ttl_secs: 7 * 24 * 3600 }
    }
}

/// A time setting as text, written either as a string or bare: TOML reads an unquoted
/// `2030-01-01T00:00:00Z` (in `jim.toml` or `-O key=value`) as a datetime, not a string, and
/// both must mean the same. Checked as RFC 3339 by [`Config::validate`].
fn time_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TimeText {
        Text(String),
        Toml(toml::value::Datetime),
    }
    Ok(match TimeText::deserialize(deserializer)? {
        TimeText::Text(text) => text,
        TimeText::Toml(datetime) => datetime.to_string(),
    })
}

/// An `IP:port` address, refused with the text as written (serde's own message for a
/// socket address does not quote it).
fn socket_address<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse()
        .map_err(|_| serde::de::Error::custom(format!("{text:?} is not an IP:port address")))
}

/// Accounts, passwords, captcha, login throttling and sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// Whether new accounts can be registered through the API.
    pub registration: Registration,
    /// RFC 3339 time before which registration is refused; empty for no limit.
    #[serde(deserialize_with = "time_text")]
    pub registration_opens_at: String,
    /// RFC 3339 time from which registration is refused; empty for no limit.
    #[serde(deserialize_with = "time_text")]
    pub registration_closes_at: String,
    /// Require a captcha to register.
    pub captcha_on_register: bool,
    /// Seconds a captcha answer stays valid.
    pub captcha_ttl_secs: u64,
    /// Captchas one client IP may request per minute.
    pub captcha_per_ip_per_minute: u32,
    /// Minimum password length in characters.
    pub password_min_length: usize,
    /// Require at least one letter and one digit in passwords.
    pub password_require_letter_and_digit: bool,
    /// bcrypt cost factor (4..=31); each step doubles the work.
    pub bcrypt_cost: u32,
    /// Password hashes computed at once; 0 means one per CPU core.
    pub bcrypt_concurrency: usize,
    /// Failed logins of one account after which a captcha is required.
    pub login_captcha_after: u32,
    /// Failed logins of one account after which it is locked for `login_lock_secs`.
    pub login_lock_after: u32,
    /// Seconds an account stays locked (and failures are remembered).
    pub login_lock_secs: u64,
    /// Failed logins from one IP (any accounts) after which that IP is refused for
    /// `login_lock_secs`.
    pub login_ip_max_failures: u32,
    /// Seconds a login session (token) stays valid.
    pub session_ttl_secs: u64,
    /// Registration takes an email address, and the new account can log in once the address
    /// is verified with the code mailed to it (needs `[mail]`).
    pub require_email: bool,
}

/// `auth.registration`: whether the API accepts new accounts (`jim user add` always does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    Open,
    Closed,
}

/// The HTTP listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Address and port to listen on (an IP, not a host name). Port 0 picks a free port.
    #[serde(deserialize_with = "socket_address")]
    pub listen: SocketAddr,
    /// Worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Largest accepted request body in bytes (JSON routes).
    pub body_limit_bytes: usize,
    /// How long a client may take to send the request head, in milliseconds.
    pub request_timeout_ms: u64,
    /// Seconds to wait for in-flight requests on shutdown.
    pub shutdown_timeout_secs: u64,
    /// Peers whose `X-Forwarded-For` / `X-Real-IP` headers are believed (reverse proxies).
    pub trusted_proxies: Vec<String>,
    /// Origins allowed by CORS. Empty: no cross-origin access. `"*"` allows any origin
    /// (without credentials).
    pub cors_allowed_origins: Vec<String>,
}

/// The relational database (users, relations, groups, sessions, and by default messages).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `mysql://USER:PASS@HOST:PORT/DB`. Empty: `data_dir/jim.db`.
    pub url: String,
    /// Connections kept in the pool.
    pub pool_size: usize,
    /// Seconds to wait for a connection before failing a request with 503.
    pub connect_timeout_secs: u64,
    /// Apply pending migrations when `jim serve` starts.
    pub migrate_on_start: bool,
    /// SQLite only: milliseconds a writer waits for the lock before failing.
    pub sqlite_busy_timeout_ms: u64,
    /// SQLite only: how durable a commit is.
    pub sqlite_synchronous: SqliteSynchronous,
}

/// `database.sqlite_synchronous`: when SQLite considers a commit written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// Durable on power loss.
    Full,
    /// Durable on a process crash only; faster commits.
    Normal,
}

/// Redis: cross-instance events, cache, captcha and counters. Empty URL: in-process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RedisConfig {
    /// `redis://[:PASSWORD@]HOST:PORT[/DB]`. Empty: single-instance, in-process bus and cache.
    pub url: String,
    /// Most connections the command pool opens at once. Commands share one multiplexed
    /// connection from it, replaced after a failure; the subscriber has its own.
    pub pool_size: usize,
}

/// Where chat messages are stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MessagesConfig {
    /// The store chat messages go to.
    pub backend: MessagesBackend,
    /// MongoDB connection string, when `backend = "mongodb"`.
    pub url: String,
    /// MongoDB database name.
    pub database: String,
}

/// `messages.backend`: where chat messages are stored. Both are compiled into every build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessagesBackend {
    /// The relational database of `[database]`.
    Sql,
    /// MongoDB at `messages.url`.
    Mongodb,
}

impl MessagesBackend {
    /// The name as written in the config (and logged at startup).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sql => "sql",
            Self::Mongodb => "mongodb",
        }
    }
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// The least severe records written.
    pub level: LogLevel,
    /// How records are written to stderr.
    pub format: LogFormat,
}

/// `log.level`: the least severe records written. Read in any case, and `warning` means
/// `warn`, as the log crates spell it either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl TryFrom<String> for LogLevel {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        match name.to_ascii_lowercase().as_str() {
            "trace" => Ok(Self::Trace),
            "debug" => Ok(Self::Debug),
            "info" => Ok(Self::Info),
            "warn" | "warning" => Ok(Self::Warn),
            "error" => Ok(Self::Error),
            _ => Err(format!("{name:?} is not one of trace, debug, info, warn, error")),
        }
    }
}

/// `log.format`: how log records are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON lines unless stderr is a terminal, text on a terminal.
    Auto,
    /// One JSON object per line (for log collectors).
    Json,
    /// Readable text.
    Text,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            server_name: "jim".into(),
            secret: String::new(),
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            redis: RedisConfig::default(),
            messages: MessagesConfig::default(),
            log: LogConfig::default(),
            auth: AuthConfig::default(),
            groups: GroupsConfig::default(),
            chat: ChatConfig::default(),
            ws: WsConfig::default(),
            media: MediaConfig::default(),
            web: WebConfig::default(),
            mail: MailConfig::default(),
            metrics: MetricsConfig::default(),
            calls: CallsConfig::default(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            registration: Registration::Open,
            registration_opens_at: String::new(),
            registration_closes_at: String::new(),
            captcha_on_register: true,
            captcha_ttl_secs: 120,
            captcha_per_ip_per_minute: 30,
            password_min_length: 8,
            password_require_letter_and_digit: true,
            bcrypt_cost: 12,
            bcrypt_concurrency: 0,
            login_captcha_after: 3,
            login_lock_after: 5,
            login_lock_secs: 300,
            login_ip_max_failures: 20,
            session_ttl_secs: 7 * 24 * 3600,
            require_email: false,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            workers: 0,
            body_limit_bytes: 64 * 1024,
            request_timeout_ms: 5000,
            shutdown_timeout_secs: 10,
            trusted_proxies: Vec::new(),
            cors_allowed_origins: Vec::new(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            pool_size: 8,
            connect_timeout_secs: 5,
            migrate_on_start: true,
            sqlite_busy_timeout_ms: 5000,
            sqlite_synchronous: SqliteSynchronous::Full,
        }
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self { url: String::new(), pool_size: 16 }
    }
}

impl Default for MessagesConfig {
    fn default() -> Self {
        Self { backend: MessagesBackend::Sql, url: String::new(), database: "jim".into() }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: LogLevel::Info, format: LogFormat::Auto }
    }
}

/// Which relational backend a database URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Mysql,
}

impl DatabaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Mysql => "mysql",
        }
    }
}

impl Config {
    /// The database URL in effect: the configured one, or the SQLite file under `data_dir`.
    pub fn database_url(&self) -> String {
        if self.database.url.trim().is_empty() {
            format!("sqlite://{}", self.data_dir.join("jim.db").display())
        } else {
            self.database.url.trim().to_string()
        }
    }

    /// The relational backend selected by the URL scheme.
    pub fn database_kind(&self) -> Result<DatabaseKind, String> {
        database_kind_of(&self.database_url())
    }

    /// `embedded` or `scale-out`, as printed at startup.
    pub fn profile_name(&self) -> &'static str {
        match (self.database_kind(), self.redis.url.trim().is_empty()) {
            (Ok(DatabaseKind::Sqlite), true) => "embedded",
            (Ok(DatabaseKind::Sqlite), false) => "embedded+redis",
            (_, true) => "scale-out (no redis: single instance only)",
            (_, false) => "scale-out",
        }
    }

    /// Whether Redis is configured (bus and cache go through it).
    pub fn uses_redis(&self) -> bool {
        !self.redis.url.trim().is_empty()
    }
}

fn database_kind_of(url: &str) -> Result<DatabaseKind, String> {
    if url.starts_with("sqlite:") {
        Ok(DatabaseKind::Sqlite)
    } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        Ok(DatabaseKind::Mysql)
    } else {
        Err("must start with sqlite:// or mysql://".into())
    }
}

/// A problem found in the configuration, with the key and where its value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub key: String,
    pub source: String,
    pub message: String,
}

impl std::fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} (from {})", self.key, self.message, self.source)
    }
}

/// The outcome of loading: the config, the sources used, and anything worth reporting.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    /// Human-readable names of the sources that contributed, lowest precedence first.
    pub sources: Vec<String>,
    /// Keys that no part of `jim` reads (typos, stale settings). Reported, not fatal for `serve`.
    pub unknown: Vec<ConfigIssue>,
    /// The config file that was read, if any (`jim backup` keeps a copy of it).
    pub file: Option<PathBuf>,
    figment: Figment,
}

impl LoadedConfig {
    /// Where the value of `key` came from (e.g. "`JIM_` environment variable(s)").
    pub fn source_of(&self, key: &str) -> String {
        source_name(self.figment.find_metadata(key))
    }

    /// Settings that work but are probably not what the operator wants.
    pub fn warnings(&self) -> Vec<ConfigIssue> {
        let c = &self.config;
        let mut warnings = Vec::new();
        if c.uses_redis() && c.media.backend == MediaBackend::Fs {
            warnings.push(ConfigIssue {
                key: "media.backend".into(),
                source: self.source_of("media.backend"),
                message: format!(
                    "Redis is configured (several instances), but uploads go to a local \
                     directory ({}): an upload made through one instance cannot be downloaded \
                     through another unless that directory is shared; use media.backend = \
                     \"s3\"",
                    c.media_dir().display()
                ),
            });
        }
        warnings
    }

    /// Check values that deserialize fine but make no sense. Every issue names its key.
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let c = &self.config;
        let mut issues = Vec::new();
        let mut bad = |key: &str, message: String| {
            issues.push(ConfigIssue { key: key.into(), source: self.source_of(key), message });
        };
        if c.http.body_limit_bytes < 1024 {
            bad("http.body_limit_bytes", "must be at least 1024".into());
        }
        if !c.metrics.listen.trim().is_empty()
            && c.metrics.listen.trim().parse::<std::net::SocketAddr>().is_err()
        {
            bad(
                "metrics.listen",
                "must be IP:PORT (e.g. 127.0.0.1:9464), or empty for none".into(),
            );
        }
        for proxy in &c.http.trusted_proxies {
            if proxy.parse::<std::net::IpAddr>().is_err() {
                bad("http.trusted_proxies", format!("{proxy:?} is not an IP address"));
            }
        }
        if let Err(e) = c.database_kind() {
            bad("database.url", e);
        }
        if c.database.pool_size == 0 || c.database.pool_size > 1024 {
            bad("database.pool_size", "must be between 1 and 1024".into());
        }
        let redis = c.redis.url.trim();
        if !(redis.is_empty() || redis.starts_with("redis://") || redis.starts_with("rediss://")) {
            bad("redis.url", "must start with redis:// or rediss://".into());
        }
        if c.redis.pool_size == 0 {
            bad("redis.pool_size", "must be at least 1".into());
        }
        if c.messages.backend == MessagesBackend::Mongodb && c.messages.url.trim().is_empty() {
            bad("messages.url", "is required when messages.backend = \"mongodb\"".into());
        }
        let a = &c.auth;
        for (key, value) in [
            ("auth.registration_opens_at", &a.registration_opens_at),
            ("auth.registration_closes_at", &a.registration_closes_at),
        ] {
            if !value.is_empty() && chrono::DateTime::parse_from_rfc3339(value).is_err() {
                bad(key, format!("{value:?} is not an RFC 3339 time like 2027-01-31T00:00:00Z"));
            }
        }
        if !(4..=31).contains(&a.bcrypt_cost) {
            bad("auth.bcrypt_cost", "must be between 4 and 31".into());
        }
        if a.password_min_length == 0 || a.password_min_length > 72 {
            bad("auth.password_min_length", "must be between 1 and 72".into());
        }
        if a.captcha_ttl_secs == 0 {
            bad("auth.captcha_ttl_secs", "must be at least 1".into());
        }
        if a.login_lock_after == 0 || a.login_captcha_after == 0 {
            bad("auth.login_lock_after", "login thresholds must be at least 1".into());
        }
        if a.session_ttl_secs < 60 {
            bad("auth.session_ttl_secs", "must be at least 60".into());
        }
        let g = &c.groups;
        if g.max_members < 2 || g.max_members > 100_000 {
            bad("groups.max_members", "must be between 2 and 100000".into());
        }
        if g.default_max_members < 2 || g.default_max_members > g.max_members {
            bad("groups.default_max_members", "must be between 2 and groups.max_members".into());
        }
        if g.invite_link_ttl_secs < 60 {
            bad("groups.invite_link_ttl_secs", "must be at least 60".into());
        }
        if c.chat.history_page_max < 1 || c.chat.max_text_chars == 0 || c.chat.max_text_bytes == 0 {
            bad("chat", "limits must be at least 1".into());
        }
        if c.chat.world_ids.iter().any(|id| *id <= 0) {
            bad("chat.world_ids", "world ids must be positive".into());
        }
        if c.ws.send_queue_bytes < 65_536 {
            bad("ws.send_queue_bytes", "must be at least 65536".into());
        }
        let m = &c.media;
        if m.backend == MediaBackend::S3 {
            for (key, value) in [
                ("media.s3_endpoint", &m.s3_endpoint),
                ("media.s3_bucket", &m.s3_bucket),
                ("media.s3_region", &m.s3_region),
                ("media.s3_access_key_id", &m.s3_access_key_id),
                ("media.s3_secret_access_key", &m.s3_secret_access_key),
            ] {
                if value.trim().is_empty() {
                    bad(key, "is required when media.backend = \"s3\"".into());
                }
            }
            let endpoint = m.s3_endpoint.trim();
            if !(endpoint.is_empty()
                || endpoint.starts_with("http://")
                || endpoint.starts_with("https://"))
            {
                bad("media.s3_endpoint", "must start with http:// or https://".into());
            }
        }
        for (key, value) in [
            ("media.max_upload_bytes", m.max_upload_bytes),
            ("media.max_image_bytes", m.max_image_bytes),
            ("media.max_voice_bytes", m.max_voice_bytes),
            ("media.max_video_bytes", m.max_video_bytes),
            ("media.max_file_bytes", m.max_file_bytes),
            ("media.max_avatar_bytes", m.max_avatar_bytes),
            ("media.max_image_pixels", m.max_image_pixels),
        ] {
            if value == 0 {
                bad(key, "must be at least 1".into());
            }
        }
        if !(16..=2048).contains(&m.thumbnail_edge) {
            bad("media.thumbnail_edge", "must be between 16 and 2048".into());
        }
        if !(16..=4096).contains(&m.avatar_edge) {
            bad("media.avatar_edge", "must be between 16 and 4096".into());
        }
        if m.signed_url_ttl_secs < 10 {
            bad("media.signed_url_ttl_secs", "must be at least 10".into());
        }
        if c.chat.publish_queue == 0 {
            bad("chat.publish_queue", "must be at least 1".into());
        }
        let mail = &c.mail;
        let smtp = mail.smtp_url.trim();
        if !smtp.is_empty() {
            match url::Url::parse(smtp) {
                Ok(u) if matches!(u.scheme(), "smtp" | "smtps") && u.host_str().is_some() => {
                    let tls = u.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.to_string());
                    if !matches!(tls.as_deref(), None | Some("none") | Some("required")) {
                        bad("mail.smtp_url", "tls= must be none or required".into());
                    }
                }
                _ => bad(
                    "mail.smtp_url",
                    "must be smtps://[user:password@]host[:port] or smtp://…[?tls=none]".into(),
                ),
            }
            if mail.from.trim().parse::<lettre::message::Mailbox>().is_err() {
                bad("mail.from", "must be an address like \"JIM <no-reply@example.com>\"".into());
            }
        }
        if a.require_email && smtp.is_empty() {
            bad("auth.require_email", "needs mail.smtp_url (codes are mailed)".into());
        }
        if mail.code_ttl_secs < 60 {
            bad("mail.code_ttl_secs", "must be at least 60".into());
        }
        if mail.code_max_tries == 0 {
            bad("mail.code_max_tries", "must be at least 1".into());
        }
        if mail.smtp_timeout_secs == 0 {
            bad("mail.smtp_timeout_secs", "must be at least 1".into());
        }
        if mail.poll_interval_ms < 10 || mail.retry_initial_ms < 10 {
            bad("mail.poll_interval_ms", "intervals must be at least 10 ms".into());
        }
        if mail.retry_max_ms < mail.retry_initial_ms {
            bad("mail.retry_max_ms", "must be at least mail.retry_initial_ms".into());
        }
        if mail.max_attempts == 0 {
            bad("mail.max_attempts", "must be at least 1".into());
        }
        let calls = &c.calls;
        for (key, urls, schemes) in [
            ("calls.stun_urls", &calls.stun_urls, &["stun:", "stuns:"][..]),
            ("calls.turn_urls", &calls.turn_urls, &["turn:", "turns:"][..]),
        ] {
            for url in urls {
                let host = schemes.iter().find_map(|s| url.strip_prefix(s));
                if !host.is_some_and(|h| !h.is_empty() && !h.chars().any(char::is_whitespace)) {
                    bad(key, format!("{url:?} must start with {}", schemes.join(" or ")));
                }
            }
        }
        if !calls.turn_urls.is_empty() && calls.turn_secret.trim().is_empty() {
            bad("calls.turn_secret", "is required when calls.turn_urls is set".into());
        }
        if calls.turn_ttl_secs < 60 {
            bad("calls.turn_ttl_secs", "must be at least 60".into());
        }
        if !(1..=3600).contains(&calls.ring_timeout_secs) {
            bad("calls.ring_timeout_secs", "must be between 1 and 3600".into());
        }
        if !(2..=32).contains(&calls.max_group_participants) {
            bad("calls.max_group_participants", "must be between 2 and 32".into());
        }
        if c.server_name.is_empty()
            || !c.server_name.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
        {
            bad("server_name", "must be non-empty ASCII letters, digits, '-', '_' or '.'".into());
        }
        issues
    }
}

/// Errors that stop loading altogether (unreadable file, wrong value type).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {message}")]
    File { path: String, message: String },
    #[error("invalid -O option {0:?}: expected KEY=VALUE")]
    Override(String),
    #[error("{0}")]
    Invalid(ConfigIssue),
}

/// Where to look for configuration.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    /// Explicit config file (`-c`). When `None`, `./jim.toml` is used if it exists.
    pub file: Option<PathBuf>,
    /// `-O key=value` overrides, applied last.
    pub overrides: Vec<String>,
    /// Read `JIM_*` environment variables (tests turn this off).
    pub use_env: bool,
}

/// Environment variables with the `JIM_` prefix that are not config keys.
const NON_CONFIG_ENV_PREFIXES: &[&str] = &["test_", "config"];

/// Load the configuration from all layers.
pub fn load(sources: &ConfigSources) -> Result<LoadedConfig, ConfigError> {
    let mut figment = Figment::from(NamedProvider {
        inner: Serialized::defaults(Config::default()),
        name: "defaults",
    });
    let mut names = vec!["defaults".to_string()];

    let file = match &sources.file {
        Some(path) => {
            if !path.is_file() {
                return Err(ConfigError::File {
                    path: path.display().to_string(),
                    message: "no such file".into(),
                });
            }
            Some(path.clone())
        }
        None => Some(PathBuf::from("jim.toml")).filter(|p| p.is_file()),
    };
    let file_read = file.clone();
    if let Some(path) = file {
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        if let Err(e) = text.parse::<toml::Table>() {
            return Err(ConfigError::File {
                path: path.display().to_string(),
                message: e.to_string(),
            });
        }
        figment = figment.merge(Toml::file_exact(&path));
        names.push(path.display().to_string());
    }

    if sources.use_env {
        let env = Env::prefixed("JIM_").split("__").filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            !NON_CONFIG_ENV_PREFIXES.iter().any(|p| key.starts_with(p))
        });
        if !env.data().map(|d| d.values().all(Dict::is_empty)).unwrap_or(true) {
            names.push("JIM_* environment".into());
        }
        figment = figment.merge(env);
    }

    if !sources.overrides.is_empty() {
        for raw in &sources.overrides {
            figment = figment.merge(parse_override(raw)?);
        }
        names.push("-O overrides".into());
    }

    let config: Config = figment.extract().map_err(|e| {
        let key = e.path.join(".");
        ConfigError::Invalid(ConfigIssue {
            key: if key.is_empty() { "(root)".into() } else { key.clone() },
            source: source_name(e.metadata.as_ref()),
            message: load_error_message(&e.kind),
        })
    })?;

    let unknown = unknown_keys(&figment);
    Ok(LoadedConfig { config, sources: names, unknown, file: file_read, figment })
}

/// What went wrong while reading a value. A word outside a setting's choices lists them
/// plainly (figment's own wording nests backquotes).
fn load_error_message(kind: &figment::error::Kind) -> String {
    match kind {
        figment::error::Kind::UnknownVariant(found, expected) => {
            format!("{found:?} is not one of {}", expected.join(", "))
        }
        other => other.to_string(),
    }
}

/// Every dotted key path of the defaults: the set of keys that mean something.
pub fn known_keys() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    if let Ok(data) = Serialized::defaults(Config::default()).data() {
        for dict in data.values() {
            collect_keys("", dict, &mut keys);
        }
    }
    keys
}

fn collect_keys(prefix: &str, dict: &Dict, out: &mut BTreeSet<String>) {
    for (k, v) in dict {
        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            Value::Dict(_, inner) => collect_keys(&path, inner, out),
            _ => {
                out.insert(path);
            }
        }
    }
}

fn unknown_keys(figment: &Figment) -> Vec<ConfigIssue> {
    let known = known_keys();
    let mut present = BTreeSet::new();
    if let Ok(data) = figment.data() {
        let data: Map<Profile, Dict> = data;
        for dict in data.values() {
            collect_keys("", dict, &mut present);
        }
    }
    present
        .into_iter()
        .filter(|k| !known.contains(k) && !known.iter().any(|kk| kk.starts_with(&format!("{k}."))))
        .map(|key| {
            let meta = figment.find_metadata(&key);
            let source = source_name(meta);
            let message = if source.contains("environment") {
                format!(
                    "unknown key (environment variable JIM_{})",
                    key.to_uppercase().replace('.', "__")
                )
            } else {
                "unknown key".to_string()
            };
            ConfigIssue { key, source, message }
        })
        .collect()
}

fn source_name(meta: Option<&Metadata>) -> String {
    match meta {
        None => "defaults".into(),
        Some(m) => match &m.source {
            Some(figment::Source::File(p)) => p.display().to_string(),
            _ => m.name.to_string(),
        },
    }
}

/// A `-O key=value` override. The value is read as TOML (numbers, booleans, arrays) and
/// falls back to a plain string.
fn parse_override(raw: &str) -> Result<NamedProvider<figment::providers::Data<Toml>>, ConfigError> {
    let (key, value) = raw.split_once('=').ok_or_else(|| ConfigError::Override(raw.into()))?;
    let key = key.trim();
    if key.is_empty()
        || !key
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        return Err(ConfigError::Override(raw.into()));
    }
    let as_toml = format!("{key} = {value}");
    let doc = if as_toml.parse::<toml::Table>().is_ok() {
        as_toml
    } else {
        format!("{key} = {}", toml::Value::String(value.to_string()))
    };
    Ok(NamedProvider { inner: Toml::string(&doc), name: "-O override" })
}

/// Wraps a provider to give its values a clear source name in messages.
struct NamedProvider<P> {
    inner: P,
    name: &'static str,
}

impl<P: Provider> Provider for NamedProvider<P> {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name)
    }
    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        self.inner.data()
    }
}

/// Render the effective configuration as TOML with the secret redacted.
pub fn render_redacted(config: &Config) -> String {
    let mut shown = config.clone();
    if !shown.secret.is_empty() {
        shown.secret = "<redacted>".into();
    }
    shown.database.url = redact_url(&shown.database.url);
    shown.redis.url = redact_url(&shown.redis.url);
    shown.messages.url = redact_url(&shown.messages.url);
    shown.mail.smtp_url = redact_url(&shown.mail.smtp_url);
    if !shown.media.s3_secret_access_key.is_empty() {
        shown.media.s3_secret_access_key = "<redacted>".into();
    }
    if !shown.calls.turn_secret.is_empty() {
        shown.calls.turn_secret = "<redacted>".into();
    }
    toml::to_string_pretty(&shown).unwrap_or_default()
}

/// Hide the password part of a connection URL.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("****"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Make `data_dir` exist (0700 on Unix) and return it.
pub fn ensure_data_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_with(overrides: &[&str]) -> Result<LoadedConfig, ConfigError> {
        load(&ConfigSources {
            file: None,
            overrides: overrides.iter().map(|s| s.to_string()).collect(),
            use_env: false,
        })
    }

    #[test]
    fn overrides_take_precedence_and_parse_types() {
        let loaded = load_with(&[
            "http.listen=0.0.0.0:9000",
            "database.pool_size=3",
            "database.migrate_on_start=false",
        ])
        .unwrap();
        assert_eq!(loaded.config.http.listen, SocketAddr::from(([0, 0, 0, 0], 9000)));
        assert_eq!(loaded.config.database.pool_size, 3);
        assert!(!loaded.config.database.migrate_on_start);
        assert_eq!(loaded.source_of("http.listen"), "-O override");
        assert_eq!(loaded.source_of("log.level"), "defaults");
    }

    #[test]
    fn times_may_be_written_bare_or_quoted() {
        for value in ["2030-01-01T00:00:00Z", "\"2030-01-01T00:00:00Z\""] {
            let loaded = load_with(&[
                &format!("auth.registration_opens_at={value}"),
                "auth.registration_closes_at=2031-06-30T12:00:00+08:00",
            ])
            .unwrap();
            assert_eq!(loaded.config.auth.registration_opens_at, "2030-01-01T00:00:00Z");
            assert_eq!(loaded.config.auth.registration_closes_at, "2031-06-30T12:00:00+08:00");
            assert!(loaded.validate().is_empty(), "{:?}", loaded.validate());
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jim.toml");
        std::fs::write(&path, "[auth]\nregistration_opens_at = 2030-01-01T00:00:00Z\n").unwrap();
        let loaded =
            load(&ConfigSources { file: Some(path), overrides: Vec::new(), use_env: false })
                .unwrap();
        assert_eq!(loaded.config.auth.registration_opens_at, "2030-01-01T00:00:00Z");
        // A bare date without a time is a TOML datetime too, but not an instant: refused by name.
        let loaded = load_with(&["auth.registration_opens_at=2030-01-01"]).unwrap();
        let issues = loaded.validate();
        assert_eq!(
            issues.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(),
            ["auth.registration_opens_at"]
        );
    }

    #[test]
    fn wrong_type_names_the_key_and_source() {
        let err = load_with(&["database.pool_size=lots"]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("database.pool_size"), "{text}");
        assert!(text.contains("-O override"), "{text}");
    }

    #[test]
    fn a_listen_address_must_be_ip_and_port() {
        let err = load_with(&["http.listen=nonsense"]).unwrap_err().to_string();
        assert!(err.contains("http.listen") && err.contains("-O override"), "{err}");
        assert!(err.contains("\"nonsense\" is not an IP:port address"), "{err}");
        assert!(load_with(&["http.listen=localhost:80"]).is_err(), "host names are not resolved");
        let loaded = load_with(&["http.listen=[::1]:0"]).unwrap();
        assert_eq!(loaded.config.http.listen, "[::1]:0".parse::<SocketAddr>().unwrap());
    }

    /// Every setting with a closed set of words: one of them loads and is shown as written;
    /// any other is refused while loading, naming the key, its source and the choices.
    #[test]
    fn word_settings_take_their_words_and_refuse_others() {
        for (key, word, choices) in [
            ("auth.registration", "closed", "open, closed"),
            ("database.sqlite_synchronous", "normal", "full, normal"),
            ("messages.backend", "mongodb", "sql, mongodb"),
            ("log.format", "text", "auto, json, text"),
            ("log.level", "trace", "trace, debug, info, warn, error"),
        ] {
            let loaded = load_with(&[&format!("{key}={word}")]).unwrap();
            let shown: toml::Table = render_redacted(&loaded.config).parse().unwrap();
            let (section, name) = key.split_once('.').unwrap();
            assert_eq!(shown[section][name].as_str(), Some(word), "{key} is shown as written");
            let err = load_with(&[&format!("{key}=bogus")]).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains("-O override"), "{err}");
            assert!(err.contains(&format!("\"bogus\" is not one of {choices}")), "{err}");
        }
        let c = load_with(&[
            "auth.registration=closed",
            "database.sqlite_synchronous=normal",
            "messages.backend=mongodb",
            "log.format=text",
        ])
        .unwrap()
        .config;
        assert_eq!(c.auth.registration, Registration::Closed);
        assert_eq!(c.database.sqlite_synchronous, SqliteSynchronous::Normal);
        assert_eq!(c.messages.backend, MessagesBackend::Mongodb);
        assert_eq!(c.log.format, LogFormat::Text);
    }

    #[test]
    fn mongodb_needs_a_url() {
        let loaded = load_with(&["messages.backend=mongodb"]).unwrap();
        let keys: Vec<_> = loaded.validate().into_iter().map(|i| i.key).collect();
        assert_eq!(keys, ["messages.url"]);
    }

    #[test]
    fn calls_settings_are_checked() {
        let loaded = load_with(&[
            "calls.turn_urls=[\"turn:turn.example.org:3478\"]",
            "calls.stun_urls=[\"http://stun.example.org\"]",
            "calls.ring_timeout_secs=0",
            "calls.max_group_participants=1",
            "calls.turn_ttl_secs=5",
        ])
        .unwrap();
        let mut keys: Vec<_> = loaded.validate().into_iter().map(|i| i.key).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "calls.max_group_participants",
                "calls.ring_timeout_secs",
                "calls.stun_urls",
                "calls.turn_secret",
                "calls.turn_ttl_secs"
            ]
        );
        let loaded = load_with(&[
            "calls.turn_urls=[\"turn:turn.example.org:3478?transport=udp\", \"turns:turn.example.org:5349\"]",
            "calls.stun_urls=[\"stun:stun.example.org:3478\"]",
            "calls.turn_secret=s3cret",
        ])
        .unwrap();
        assert!(loaded.validate().is_empty(), "{:?}", loaded.validate());
        assert!(!render_redacted(&loaded.config).contains("s3cret"), "the TURN secret is redacted");
    }

    #[test]
    fn unknown_keys_are_reported() {
        let loaded = load_with(&["http.lisen=1"]).unwrap();
        assert_eq!(loaded.unknown.len(), 1);
        assert_eq!(loaded.unknown[0].key, "http.lisen");
    }

    #[test]
    fn validation_names_key() {
        let loaded = load_with(&["database.url=postgres://x"]).unwrap();
        let issues = loaded.validate();
        let keys: Vec<_> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["database.url"]);
        // A word outside a setting's choices is refused while loading, before validation.
        match load_with(&["database.url=postgres://x", "log.level=loud"]) {
            Err(ConfigError::Invalid(issue)) => {
                assert_eq!(
                    (issue.key.as_str(), issue.source.as_str()),
                    ("log.level", "-O override")
                );
            }
            other => panic!("log.level=loud must not load: {other:?}"),
        }
    }

    #[test]
    fn log_levels_are_read_in_any_case() {
        for (written, level) in
            [("debug", LogLevel::Debug), ("WARN", LogLevel::Warn), ("warning", LogLevel::Warn)]
        {
            let loaded = load_with(&[&format!("log.level={written}")]).unwrap();
            assert_eq!(loaded.config.log.level, level, "{written}");
        }
        let loaded = load_with(&["log.level=Trace"]).unwrap();
        assert_eq!(loaded.config.log.level, LogLevel::Trace);
        assert!(render_redacted(&loaded.config).contains("level = \"trace\""));
    }

    #[test]
    fn a_socket_queue_needs_room_for_frames() {
        let loaded = load_with(&["ws.send_queue_bytes=1000"]).unwrap();
        let keys: Vec<_> = loaded.validate().into_iter().map(|i| i.key).collect();
        assert_eq!(keys, ["ws.send_queue_bytes"]);
    }

    #[test]
    fn profile_follows_urls() {
        let mut c = Config::default();
        assert_eq!(c.profile_name(), "embedded");
        assert_eq!(c.database_kind().unwrap(), DatabaseKind::Sqlite);
        c.database.url = "mysql://root@127.0.0.1/jim".into();
        c.redis.url = "redis://127.0.0.1".into();
        assert_eq!(c.profile_name(), "scale-out");
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_url("mysql://root:hunter2@db/jim"), "mysql://root:****@db/jim");
        assert_eq!(redact_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
