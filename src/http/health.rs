//! `/livez` and `/readyz`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use serde_json::json;

use super::envelope;
use crate::service::health::{Readiness, readiness};
use crate::state::AppState;

/// What `/livez` returns.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Liveness {
    /// Server version.
    pub version: &'static str,
}

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/livez", tag = "health",
    responses((status = 200, description = "alive", body = inline(envelope::Envelope<Liveness>))))]
#[get("/livez")]
pub async fn livez() -> HttpResponse {
    envelope::ok(Liveness { version: env!("CARGO_PKG_VERSION") })
}

/// Whether this instance can serve: the database (and Redis, when configured) answer.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "ready", body = inline(envelope::Envelope<Readiness>)),
        (status = 503, description = "a dependency is down, or the server is shutting down",
            body = envelope::ErrorEnvelope)))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let report =
        readiness(&state.db, &state.bus, state.config.uses_redis(), state.is_shutting_down()).await;
    if report.ready {
        envelope::ok(report)
    } else {
        envelope::error(
            StatusCode::SERVICE_UNAVAILABLE,
            crate::error::ErrorCode::Unavailable.as_str(),
            "not ready",
            Some(json!(report)),
        )
    }
}
