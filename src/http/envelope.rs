//! The response envelope of the original JIM (`{"request_id","status","error","data"}`, plus a
//! stable `code` on errors) and the per-request context (request id, logger) it draws on.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};
use slog::{Logger, o};

/// `status` value of a successful answer.
pub const STATUS_OK: u8 = 1;
/// `status` value of an error answer.
pub const STATUS_ERROR: u8 = 2;

/// What every request carries while it is being handled.
#[derive(Clone)]
pub struct RequestContext {
    /// Fresh UUID v4 per request; the same id is in the envelope and the request log line.
    pub request_id: String,
    /// Logger with `request_id` attached.
    pub logger: Logger,
}

tokio::task_local! {
    static REQUEST: RequestContext;
}

/// Run `fut` with `ctx` as the current request context.
pub async fn with_context<F: std::future::Future>(ctx: RequestContext, fut: F) -> F::Output {
    REQUEST.scope(ctx, fut).await
}

/// The current request id, or an empty string outside a request.
pub fn current_request_id() -> String {
    REQUEST.try_with(|r| r.request_id.clone()).unwrap_or_default()
}

/// The current request's logger, or a discarding one outside a request.
pub fn current_logger() -> Logger {
    REQUEST.try_with(|r| r.logger.clone()).unwrap_or_else(|_| Logger::root(slog::Discard, o!()))
}

/// The success envelope, as documented in the OpenAPI spec.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Envelope<T> {
    /// Request id (UUID v4), also found in the server's request log.
    pub request_id: String,
    /// 1 = success, 2 = error.
    pub status: u8,
    /// The payload; `{}` when there is nothing to return.
    pub data: T,
}

/// The error envelope, as documented in the OpenAPI spec.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorEnvelope {
    /// Request id (UUID v4), also found in the server's request log.
    pub request_id: String,
    /// Always 2.
    pub status: u8,
    /// Human-readable message.
    pub error: String,
    /// Stable machine-readable code, e.g. `INVALID_PARAMS`.
    pub code: String,
    /// Extra detail for some errors; `{}` otherwise.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// 200 with `data`.
pub fn ok<T: Serialize>(data: T) -> HttpResponse {
    HttpResponse::Ok().json(Envelope { request_id: current_request_id(), status: STATUS_OK, data })
}

/// 200 with `data: {}`.
pub fn ok_empty() -> HttpResponse {
    ok(json!({}))
}

/// An error answer with the given HTTP status and code.
pub fn error(status: StatusCode, code: &str, message: &str, data: Option<Value>) -> HttpResponse {
    HttpResponse::build(status).json(ErrorEnvelope {
        request_id: current_request_id(),
        status: STATUS_ERROR,
        error: message.to_string(),
        code: code.to_string(),
        data: data.unwrap_or_else(|| json!({})),
    })
}
