//! `/api/v1/auth/*`: captcha, register, login, logout, sessions.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::envelope::{self, Envelope, ErrorEnvelope};
use super::extract::{AuthUser, client_info};
use super::schema;
use crate::error::AppError;
use crate::service::auth::{
    self, LoginInput, LoginOutput, RegisterInput, SessionView, UserSummary,
};
use crate::service::captcha::{self, CaptchaChallenge};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/auth/captcha", web::get().to(captcha_issue))
        .route("/api/v1/auth/captcha", web::post().to(captcha_issue_post))
        .route("/api/v1/auth/register", web::post().to(register))
        .route("/api/v1/auth/login", web::post().to(login))
        .route("/api/v1/auth/logout", web::post().to(logout))
        .route("/api/v1/auth/sessions", web::get().to(sessions))
        .route("/api/v1/auth/sessions/revoke", web::post().to(revoke));
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CaptchaQuery {
    #[serde(rename = "type")]
    #[param(schema_with = schema::captcha_type)]
    pub kind: Option<String>,
}

/// Get a captcha challenge (GET, or POST as in the original). Rate-limited per client IP.
#[utoipa::path(get, path = "/api/v1/auth/captcha", tag = "auth", params(CaptchaQuery),
    responses((status = 200, body = inline(Envelope<CaptchaChallenge>)),
        (status = 400, description = "INVALID_CAPTCHA_TYPE", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope)))]
pub async fn captcha_issue(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<CaptchaQuery>,
) -> Result<HttpResponse, AppError> {
    let ip = client_info(&req).ip;
    Ok(envelope::ok(captcha::issue(&state, query.kind.as_deref(), ip).await?))
}

/// The same as `GET` (the original used POST).
#[utoipa::path(post, path = "/api/v1/auth/captcha", tag = "auth", params(CaptchaQuery),
    responses((status = 200, body = inline(Envelope<CaptchaChallenge>)),
        (status = 400, description = "INVALID_CAPTCHA_TYPE", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope)))]
pub async fn captcha_issue_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<CaptchaQuery>,
) -> Result<HttpResponse, AppError> {
    captcha_issue(state, req, query).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// 3-32 characters: letters, digits, `_ . -`, starting with a letter or digit; unique
    /// without regard to case.
    #[schema(pattern = r"^\s*[A-Za-z0-9][A-Za-z0-9_.-]{2,31}\s*$")]
    pub username: String,
    /// At least 8 characters with letters and digits (configurable); at most 72 bytes.
    pub password: String,
    pub confirm_password: String,
    /// 1-32 characters; defaults to the username.
    pub nickname: Option<String>,
    /// `YYYY-MM-DD`, between 1900-01-01 and today.
    pub birth_date: Option<String>,
    /// Answer to the captcha (when `auth.captcha_on_register`).
    pub captcha: Option<String>,
    pub captcha_id: Option<String>,
}

/// Create an account.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 200, body = inline(Envelope<UserSummary>)),
        (status = 400, description = "INVALID_USERNAME, INVALID_PASSWORD, CONFIRM_PASSWORD_MISMATCH, INVALID_NICKNAME, INVALID_TIME_FORMAT, CAPTCHA_*", body = ErrorEnvelope),
        (status = 403, description = "REGISTRATION_CLOSED", body = ErrorEnvelope),
        (status = 409, description = "ACCOUNT_EXISTS", body = ErrorEnvelope)))]
pub async fn register(
    state: web::Data<AppState>,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let input = RegisterInput {
        username: b.username,
        password: b.password,
        confirm_password: b.confirm_password,
        nickname: b.nickname,
        birth_date: b.birth_date,
        captcha: b.captcha,
        captcha_id: b.captcha_id,
    };
    Ok(envelope::ok(auth::register(&state, input).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(pattern = r"\S")]
    pub username: String,
    #[schema(min_length = 1)]
    pub password: String,
    /// Required after `auth.login_captcha_after` failures (the error says `need_captcha`).
    pub captcha: Option<String>,
    pub captcha_id: Option<String>,
}

/// Log in and get a bearer token. Failed attempts answer `data: {fail_times, need_captcha}`
/// once a captcha becomes necessary.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = inline(Envelope<LoginOutput>)),
        (status = 400, description = "CAPTCHA_ID_EMPTY, CAPTCHA_EMPTY, CAPTCHA_INVALID", body = ErrorEnvelope),
        (status = 401, description = "WRONG_CREDENTIALS", body = ErrorEnvelope),
        (status = 403, description = "ACCOUNT_DISABLED, ACCOUNT_DELETED", body = ErrorEnvelope),
        (status = 429, description = "TOO_MANY_LOGIN_FAILURES, RATE_LIMITED", body = ErrorEnvelope)))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let input = LoginInput {
        username: b.username,
        password: b.password,
        captcha: b.captcha,
        captcha_id: b.captcha_id,
    };
    Ok(envelope::ok(auth::login(&state, input, client_info(&req)).await?))
}

/// End the current session (its token stops working on every instance at once).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = inline(Envelope<Object>)),
        (status = 401, description = "TOKEN_*", body = ErrorEnvelope)))]
pub async fn logout(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, AppError> {
    auth::logout(&state, &user.0).await?;
    Ok(envelope::ok_empty())
}

/// My live sessions (devices), newest first.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = inline(Envelope<Vec<SessionView>>)),
        (status = 401, description = "TOKEN_*", body = ErrorEnvelope)))]
pub async fn sessions(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(auth::list_sessions(&state, &user.0).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RevokeRequest {
    /// Revoke this one session…
    #[schema(minimum = 1)]
    pub session_id: Option<i64>,
    /// …or every session except the current one.
    #[serde(default)]
    pub all_others: bool,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct RevokeResult {
    /// Ids of the sessions that ended.
    pub revoked: Vec<i64>,
}

/// Revoke one of my sessions, or all the others.
#[utoipa::path(post, path = "/api/v1/auth/sessions/revoke", tag = "auth", security(("bearer" = [])),
    request_body = RevokeRequest,
    responses((status = 200, body = inline(Envelope<RevokeResult>)),
        (status = 404, description = "SESSION_NOT_FOUND", body = ErrorEnvelope)))]
pub async fn revoke(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<RevokeRequest>,
) -> Result<HttpResponse, AppError> {
    let revoked = auth::revoke_sessions(&state, &user.0, body.session_id, body.all_others).await?;
    Ok(envelope::ok(RevokeResult { revoked }))
}
