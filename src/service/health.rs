//! Readiness: whether the dependencies this instance needs answer right now.

use std::time::Duration;

use serde::Serialize;

use crate::bus::Bus;
use crate::db::Db;

/// How long one dependency may take to answer a readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The result of probing every dependency.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ok` or `error`.
    pub database: &'static str,
    /// `ok`, `error`, or `not configured` (embedded profile).
    pub redis: &'static str,
    /// Whether the instance should receive traffic.
    pub ready: bool,
}

/// Probe the database and, when configured, Redis.
pub async fn readiness(db: &Db, bus: &Bus, uses_redis: bool, shutting_down: bool) -> Readiness {
    let database = match tokio::time::timeout(PROBE_TIMEOUT, db.ping()).await {
        Ok(Ok(())) => "ok",
        _ => "error",
    };
    let redis = if !uses_redis {
        "not configured"
    } else {
        match tokio::time::timeout(PROBE_TIMEOUT, bus.ping()).await {
            Ok(Ok(())) => "ok",
            _ => "error",
        }
    };
    let ready = !shutting_down && database == "ok" && redis != "error";
    Readiness { database, redis, ready }
}
