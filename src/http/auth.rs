//! `/api/v1/auth/*`: captcha, register, login, logout, sessions, forgotten passwords, and
//! verifying the address an account registered with.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::envelope::{self, Envelope, ErrorEnvelope};
use super::extract::{AuthUser, client_info};
use super::schema;
use crate::error::AppError;
use crate::service::auth::{
    self, AuthOptions, LoginInput, LoginOutput, RegisterInput, SessionView, UserSummary,
};
use crate::service::captcha::{self, CaptchaChallenge};
use crate::service::email;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/auth/captcha", web::get().to(captcha_issue))
        .route("/api/v1/auth/captcha", web::post().to(captcha_issue_post))
        .route("/api/v1/auth/options", web::get().to(options))
        .route("/api/v1/auth/register", web::post().to(register))
        .route("/api/v1/auth/login", web::post().to(login))
        .route("/api/v1/auth/password/forgot", web::post().to(password_forgot))
        .route("/api/v1/auth/password/reset", web::post().to(password_reset))
        .route("/api/v1/auth/email/verify", web::post().to(email_verify))
        .route("/api/v1/auth/email/resend", web::post().to(email_resend))
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

/// Which sign-in and registration forms this server offers: whether it sends mail (then
/// "forgot password" and binding an address work), whether registration needs a verified
/// address, whether it asks for a captcha.
#[utoipa::path(get, path = "/api/v1/auth/options", tag = "auth",
    responses((status = 200, body = inline(Envelope<AuthOptions>))))]
pub async fn options(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(auth::options(&state)))
}

/// Create an account. With `auth.require_email`, `email` is required: a code is mailed to
/// it, and the account can log in once `/api/v1/auth/email/verify` took the code.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterInput,
    responses((status = 200, body = inline(Envelope<UserSummary>)),
        (status = 400, description = "INVALID_USERNAME, INVALID_PASSWORD, CONFIRM_PASSWORD_MISMATCH, INVALID_NICKNAME, INVALID_TIME_FORMAT, CAPTCHA_*, EMAIL_REQUIRED, INVALID_EMAIL", body = ErrorEnvelope),
        (status = 403, description = "REGISTRATION_CLOSED", body = ErrorEnvelope),
        (status = 409, description = "ACCOUNT_EXISTS, EMAIL_TAKEN", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope),
        (status = 503, description = "MAIL_NOT_CONFIGURED", body = ErrorEnvelope)))]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<RegisterInput>,
) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(auth::register(&state, body.into_inner(), &client_info(&req)).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ForgotRequest {
    /// A username or a verified email address.
    #[schema(max_length = 254)]
    pub login: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetRequest {
    /// The username or address the code was asked for with.
    #[schema(max_length = 254)]
    pub login: String,
    /// The 6-digit code from the mail.
    #[schema(pattern = r"^\s*[0-9]{6}\s*$")]
    pub code: String,
    /// The new password (the same rules as registration).
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegistrationVerifyRequest {
    /// The new account's username.
    pub username: String,
    /// The 6-digit code mailed at registration.
    #[schema(pattern = r"^\s*[0-9]{6}\s*$")]
    pub code: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegistrationResendRequest {
    /// The new account's username.
    pub username: String,
}

/// "I forgot my password": when `login` names an account with a verified address, a 6-digit
/// reset code is mailed to it (English or Chinese after `Accept-Language`). The answer is
/// the same whether or not there is such an account.
#[utoipa::path(post, path = "/api/v1/auth/password/forgot", tag = "auth",
    request_body = ForgotRequest,
    responses((status = 200, body = inline(Envelope<Object>)),
        (status = 400, description = "INVALID_PARAMS", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope),
        (status = 503, description = "MAIL_NOT_CONFIGURED", body = ErrorEnvelope)))]
pub async fn password_forgot(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<ForgotRequest>,
) -> Result<HttpResponse, AppError> {
    let client = client_info(&req);
    email::forgot(&state, &body.login, &client, client.lang).await?;
    Ok(envelope::ok_empty())
}

/// Set a new password with the mailed code. Every session of the account ends (open
/// sockets close) and the address is told by mail.
#[utoipa::path(post, path = "/api/v1/auth/password/reset", tag = "auth",
    request_body = ResetRequest,
    responses((status = 200, body = inline(Envelope<Object>)),
        (status = 400, description = "EMAIL_CODE_INVALID (data: tries_left), INVALID_PASSWORD, INVALID_PARAMS", body = ErrorEnvelope),
        (status = 429, description = "EMAIL_CODE_TOO_MANY_TRIES, RATE_LIMITED", body = ErrorEnvelope),
        (status = 503, description = "MAIL_NOT_CONFIGURED", body = ErrorEnvelope)))]
pub async fn password_reset(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<ResetRequest>,
) -> Result<HttpResponse, AppError> {
    let client = client_info(&req);
    email::reset(&state, &body.login, &body.code, &body.new_password, &client, client.lang).await?;
    Ok(envelope::ok_empty())
}

/// Verify the address a new account registered with (`auth.require_email`); the account
/// can log in from then on.
#[utoipa::path(post, path = "/api/v1/auth/email/verify", tag = "auth",
    request_body = RegistrationVerifyRequest,
    responses((status = 200, body = inline(Envelope<Object>)),
        (status = 400, description = "EMAIL_CODE_INVALID (data: tries_left), EMAIL_CODE_EXPIRED", body = ErrorEnvelope),
        (status = 409, description = "EMAIL_TAKEN", body = ErrorEnvelope),
        (status = 429, description = "EMAIL_CODE_TOO_MANY_TRIES", body = ErrorEnvelope),
        (status = 503, description = "MAIL_NOT_CONFIGURED", body = ErrorEnvelope)))]
pub async fn email_verify(
    state: web::Data<AppState>,
    body: web::Json<RegistrationVerifyRequest>,
) -> Result<HttpResponse, AppError> {
    email::verify_registration(&state, &body.username, &body.code).await?;
    Ok(envelope::ok_empty())
}

/// Mail a new code to the address a new account registered with. The answer is the same
/// whatever the account.
#[utoipa::path(post, path = "/api/v1/auth/email/resend", tag = "auth",
    request_body = RegistrationResendRequest,
    responses((status = 200, body = inline(Envelope<Object>)),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope),
        (status = 503, description = "MAIL_NOT_CONFIGURED", body = ErrorEnvelope)))]
pub async fn email_resend(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<RegistrationResendRequest>,
) -> Result<HttpResponse, AppError> {
    let client = client_info(&req);
    email::resend_registration(&state, &body.username, &client, client.lang).await?;
    Ok(envelope::ok_empty())
}

/// Log in and get a bearer token. Failed attempts answer `data: {fail_times, need_captcha}`
/// once a captcha becomes necessary.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginInput,
    responses((status = 200, body = inline(Envelope<LoginOutput>)),
        (status = 400, description = "CAPTCHA_ID_EMPTY, CAPTCHA_EMPTY, CAPTCHA_INVALID", body = ErrorEnvelope),
        (status = 401, description = "WRONG_CREDENTIALS", body = ErrorEnvelope),
        (status = 403, description = "ACCOUNT_DISABLED, ACCOUNT_DELETED, EMAIL_NOT_VERIFIED", body = ErrorEnvelope),
        (status = 429, description = "TOO_MANY_LOGIN_FAILURES, RATE_LIMITED", body = ErrorEnvelope)))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginInput>,
) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(auth::login(&state, body.into_inner(), client_info(&req)).await?))
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

signed_in_handlers! {
    tag "auth", routes signed_in_routes;

    /// End the current session (its token stops working on every instance at once).
    post "/api/v1/auth/logout" => [Object], errors [401 "TOKEN_*"];
    fn logout(state, user) {
        auth::logout(&state, &user.0).await?;
        Ok(envelope::ok_empty())
    }

    /// My live sessions (devices), newest first.
    get "/api/v1/auth/sessions" => [Vec<SessionView>], errors [401 "TOKEN_*"];
    fn sessions(state, user) {
        Ok(envelope::ok(auth::list_sessions(&state, &user.0).await?))
    }

    /// Revoke one of my sessions, or all the others.
    post "/api/v1/auth/sessions/revoke", json RevokeRequest => [RevokeResult],
    errors [404 "SESSION_NOT_FOUND"];
    fn revoke(state, user, body) {
        let revoked = auth::revoke_sessions(&state, &user.0, body.session_id, body.all_others).await?;
        Ok(envelope::ok(RevokeResult { revoked }))
    }
}
