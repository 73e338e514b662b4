//! Behind a reverse proxy: a real nginx (Debian's, scripts/install-nginx.sh) configured with
//! contrib/nginx/jim-locations.conf in front of a running server carries a WebSocket, an
//! upload larger than nginx's default body limit, and the client's real address (which a
//! client cannot spoof, through the proxy or around it). Also: the systemd unit verifies.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

fn contrib(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib").join(path)
}

fn nginx_bin() -> Option<&'static str> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| Path::new(p).exists()).or_else(
        || {
            assert!(!scaleout_required(), "nginx is required: run scripts/install-nginx.sh");
            eprintln!("skipped: no nginx (scripts/install-nginx.sh installs it)");
            None
        },
    )
}

/// The address my current session was recorded with.
async fn session_ip(client: &reqwest::Client, base: &str, token: &str) -> String {
    let body: Value = client
        .get(format!("{base}/api/v1/auth/sessions"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = if body["data"].is_array() { &body["data"] } else { &body["data"]["sessions"] };
    let current = list.as_array().unwrap().iter().find(|s| s["current"] == true).unwrap();
    current["ip"].as_str().unwrap().to_string()
}

async fn login_from(client: &reqwest::Client, base: &str, spoof: Option<&str>) -> String {
    let mut req = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "pia", "password": "passw0rd-ok"}));
    if let Some(spoof) = spoof {
        req = req.header("x-forwarded-for", spoof).header("x-real-ip", spoof);
    }
    let body: Value = req.send().await.unwrap().json().await.unwrap();
    body["data"]["token"].as_str().unwrap_or_else(|| panic!("login: {body}")).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_carries_websocket_upload_and_the_client_address() {
    let Some(nginx) = nginx_bin() else { return };
    let Some(env) = start(Profile::Embedded, |c| {
        c.http.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await
    else {
        return;
    };
    let app = &env.app;
    let upstream = app.url.trim_start_matches("http://").to_string();
    let ((pia, _), (quin, tq)) = friends(app, "pia", "quin").await;

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let d = dir.path().display();
    let conf = format!(
        "daemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nworker_processes 1;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
           fastcgi_temp_path {d}/fcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
           map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
           upstream jim {{ server {upstream}; keepalive 8; }}\n\
           server {{ listen 127.0.0.1:{port}; include {}; }}\n}}\n",
        contrib("nginx/jim-locations.conf").display()
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let check = std::process::Command::new(nginx)
        .args(["-t", "-c"])
        .arg(dir.path().join("nginx.conf"))
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check.stderr));
    let mut proxy = tokio::process::Command::new(nginx)
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start nginx");
    let front = format!("http://127.0.0.1:{port}");
    let up = eventually(Duration::from_secs(10), || async {
        reqwest::get(format!("{front}/livez")).await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(up, "nginx answers");

    // The client's address: a client on 127.0.0.2 behind the proxy is seen as 127.0.0.2,
    // even when it claims another address in X-Forwarded-For / X-Real-IP.
    let from_2 = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .build()
        .unwrap();
    let token = login_from(&from_2, &front, None).await;
    assert_eq!(session_ip(&from_2, &front, &token).await, "127.0.0.2");
    let spoofed = login_from(&from_2, &front, Some("203.0.113.9")).await;
    assert_eq!(session_ip(&from_2, &front, &spoofed).await, "127.0.0.2", "spoofed through nginx");
    // Straight to the server from an untrusted peer, the headers are ignored.
    let direct = login_from(&from_2, &app.url, Some("203.0.113.9")).await;
    assert_eq!(session_ip(&from_2, &app.url, &direct).await, "127.0.0.2", "spoofed around nginx");

    // A WebSocket through nginx: pushes arrive.
    let ws_url = format!("ws://127.0.0.1:{port}/api/v1/ws?token={token}");
    let mut socket = WsClient::connect_request(ws_url.as_str()).await.expect("ws through nginx");
    let r = app
        .post_as(
            &tq,
            "/api/v1/chat/message/send",
            &json!({"session_type": 1, "type": 1,
            "target_id": pia, "body": {"text": "through the proxy"}}),
        )
        .await;
    assert_eq!(r.0, 200, "{}", r.1);
    let pushed = socket.expect("chat_message", Duration::from_secs(5)).await.expect("pushed");
    assert!(pushed.to_string().contains("through the proxy"), "{pushed}");
    let _ = quin;

    // An upload over nginx's default 1 MiB body limit goes through.
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.resize(3 * 1024 * 1024, b'%');
    let form = reqwest::multipart::Form::new()
        .text("kind", "file")
        .part("file", reqwest::multipart::Part::bytes(pdf.clone()).file_name("big.pdf"));
    let res = from_2
        .post(format!("{front}/api/v1/media/upload"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let url = body["data"]["url"].as_str().unwrap();
    let back = from_2.get(format!("{front}{url}")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(back.status(), 200);
    assert_eq!(back.bytes().await.unwrap().len(), pdf.len());

    let _ = proxy.kill().await;
}

#[test]
fn the_systemd_unit_verifies() {
    let Ok(out) = std::process::Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("skipped: no systemd-analyze");
        return;
    };
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(contrib("systemd/jim.service"))
        .unwrap()
        .replace("/usr/local/bin/jim", jim_bin());
    let path = dir.path().join("jim.service");
    std::fs::write(&path, unit).unwrap();
    let out =
        std::process::Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}
