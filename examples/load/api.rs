//! The HTTP API as the load tool uses it: requests on kept-alive connections, users, friend pairs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::net::TcpStream;

use crate::Res;
use crate::ws::*;

#[derive(Clone)]
pub(crate) struct Api {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) addr: SocketAddr,
    /// Keep-alive connections for the message sends (see [`Api::send_message`]).
    pub(crate) idle: Arc<std::sync::Mutex<Vec<(TcpStream, Instant)>>>,
}

#[derive(Clone, Debug)]
pub(crate) struct User {
    pub(crate) id: i64,
    pub(crate) token: String,
}

impl Api {
    pub(crate) fn new(base: &str) -> Res<Api> {
        let url = url::Url::parse(base).map_err(|e| format!("--url: {e}"))?;
        let host = url.host_str().unwrap_or("127.0.0.1");
        let addr = format!("{host}:{}", url.port_or_known_default().unwrap_or(80))
            .parse()
            .map_err(|e| format!("--url must be http://IP:PORT: {e}"))?;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(4096)
            // Under the server's keep-alive (5 s): a connection the server is closing at the
            // moment it is reused fails the request before it is sent (seen once in B2).
            .pool_idle_timeout(Duration::from_secs(3))
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Api { http, base: base.trim_end_matches('/').to_string(), addr, idle: Arc::default() })
    }

    /// POST `body`; the `data` of a 200 answer, or the error.
    pub(crate) async fn post(&self, token: Option<&str>, path: &str, body: &Value) -> Res<Value> {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.map_err(|e| format!("{path}: {e}"))?;
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if status != 200 {
            return Err(format!("{path}: HTTP {status} {body}"));
        }
        Ok(body["data"].clone())
    }

    /// POST a message send on a keep-alive connection of our own: the timed path of b1, b2
    /// and b5. Plain HTTP/1.1 written and read by hand, because reqwest/hyper cost ~65 µs of
    /// CPU per send on the cores the server shares. A reused connection the server closed
    /// meanwhile is retried once on a new one (safe: the action id makes the send idempotent).
    pub(crate) async fn send_message(&self, token: &str, body: &Value) -> Res<SentData> {
        let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let mut request = format!(
            "POST /api/v1/chat/message/send HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(&body);
        for attempt in 0..2 {
            let pooled = {
                let mut idle = self.idle.lock().unwrap();
                // The most recently used first; one idle near the server's 5 s keep-alive may
                // be closing, so it is dropped.
                std::iter::from_fn(|| idle.pop())
                    .find(|(_, at)| at.elapsed() < Duration::from_secs(3))
            };
            let (mut stream, reused) = match pooled {
                Some((stream, _)) => (stream, true),
                None => {
                    let stream = TcpStream::connect(self.addr).await.map_err(|e| e.to_string())?;
                    stream.set_nodelay(true).map_err(|e| e.to_string())?;
                    (stream, false)
                }
            };
            match http_exchange(&mut stream, &request).await {
                Ok((status, answer, keep_alive)) => {
                    if keep_alive {
                        self.idle.lock().unwrap().push((stream, Instant::now()));
                    }
                    // Typed, only what is used: the answer is parsed at every send.
                    let parsed = serde_json::from_slice::<SendAnswer>(&answer).ok();
                    return match (status, parsed) {
                        (200, Some(SendAnswer { data: Some(data) })) => Ok(data),
                        _ => Err(format!(
                            "message/send: HTTP {status} {}",
                            String::from_utf8_lossy(&answer)
                        )),
                    };
                }
                Err(_) if reused && attempt == 0 => continue,
                Err(e) => return Err(format!("message/send: {e}")),
            }
        }
        unreachable!("the second attempt returns")
    }

    pub(crate) async fn ready(&self) -> bool {
        matches!(self.http.get(format!("{}/readyz", self.base)).send().await,
            Ok(r) if r.status().is_success())
    }

    pub(crate) async fn user(&self, name: &str) -> Res<User> {
        let pw = "passw0rd-load";
        let reg = json!({"username": name, "password": pw, "confirm_password": pw});
        let id = self.post(None, "/api/v1/auth/register", &reg).await?["id"]
            .as_i64()
            .ok_or("register: no id")?;
        let login = json!({"username": name, "password": pw});
        let token = self.post(None, "/api/v1/auth/login", &login).await?["token"]
            .as_str()
            .ok_or("login: no token")?
            .to_string();
        Ok(User { id, token })
    }

    pub(crate) async fn befriend(&self, a: &User, b: &User) -> Res<()> {
        let invite = json!({"user_id": b.id});
        let inv = self.post(Some(&a.token), "/api/v1/friend/invite/add", &invite);
        let id = inv.await?["invite"]["id"].as_i64().ok_or("invite: no id")?;
        let accept = json!({"id": id, "status": 1});
        self.post(Some(&b.token), "/api/v1/friend/invite/update", &accept).await?;
        Ok(())
    }
}

/// Write one HTTP/1.1 request and read its answer: status, body, whether the connection
/// stays open. Only what jim sends is understood (a `Content-Length` body).
pub(crate) async fn http_exchange(
    stream: &mut TcpStream,
    request: &[u8],
) -> std::io::Result<(u16, Vec<u8>, bool)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string());
    stream.write_all(request).await?;
    let mut buf = Vec::with_capacity(1024);
    loop {
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad("head not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| bad("no status line"))?;
        let mut length = None;
        let mut keep_alive = true;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("connection") {
                keep_alive = !value.eq_ignore_ascii_case("close");
            }
        }
        let length = length.ok_or_else(|| bad("answer without Content-Length"))?;
        let total = end + 4 + length;
        while buf.len() < total {
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        if buf.len() > total {
            return Err(bad("bytes after the answer"));
        }
        return Ok((status, buf[end + 4..total].to_vec(), keep_alive));
    }
}

/// Register and log in `n` users named `{prefix}{i}`.
pub(crate) async fn make_users(api: &Api, prefix: &str, n: usize) -> Res<Vec<User>> {
    let started = Instant::now();
    let users: Vec<Res<User>> = futures_util::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            let name = format!("{prefix}{i}");
            async move { api.user(&name).await }
        })
        .buffered(64)
        .collect()
        .await;
    let users = users.into_iter().collect::<Res<Vec<_>>>()?;
    eprintln!("setup: {n} users in {:.1} s", started.elapsed().as_secs_f64());
    Ok(users)
}

/// Make `users[2i]` and `users[2i+1]` friends.
pub(crate) async fn make_pairs(api: &Api, users: &[User]) -> Res<()> {
    let done: Vec<Res<()>> = futures_util::stream::iter(users.chunks(2))
        .map(|p| {
            let api = api.clone();
            let (a, b) = (p[0].clone(), p[1].clone());
            async move { api.befriend(&a, &b).await }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    done.into_iter().collect()
}
