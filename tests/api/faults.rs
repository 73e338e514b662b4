//! Failures of the database link, made by a TCP proxy the test owns between the server and the
//! shared MariaDB (never stopped): a lost link answers 503 `UNAVAILABLE`, never a 500 and
//! never "nothing missed"; the URL's host and port are where the server connects.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

const T: Duration = Duration::from_secs(5);

/// A scale-out app whose database link goes through a proxy; `None` when MariaDB or Redis is
/// missing (and not required).
async fn behind_proxy() -> Option<(Env, TcpProxy)> {
    let scale = ScaleOut::fresh().await?;
    let proxy = TcpProxy::for_url(&scale.mysql_url).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path(), Some(&scale));
    config.database.url = proxy.url_through(&scale.mysql_url);
    let app = spawn_app(config).await;
    Some((Env { app, dir, scale: Some(scale) }, proxy))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_url_is_where_the_server_connects() {
    let Some((env, proxy)) = behind_proxy().await else { return };
    let app = &env.app;
    assert_eq!(app.get("/readyz").await.0, 200);
    assert!(proxy.accepted() > 0, "connected through the proxy");
    // Were the pool's connections anywhere but through the proxy (the server's Unix socket),
    // cutting it would change nothing.
    proxy.cut();
    let (status, body) = app.get("/readyz").await;
    assert_eq!((status, body["data"]["database"].clone()), (503, json!("error")), "{body}");
    proxy.restore().await;
    assert!(eventually(T, || async { app.get("/readyz").await.0 == 200 }).await, "back");
}
