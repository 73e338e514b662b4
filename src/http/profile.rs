//! `/api/v1/profile/*`: read and edit my profile, change my password, bind my email address.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::envelope::{self, Envelope, ErrorEnvelope};
use super::extract::{AuthUser, client_info};
use super::schema;
use crate::error::AppError;
use crate::service::auth;
use crate::service::email::{self, CodeSent};
use crate::service::user::{self, Profile, ProfileUpdate};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct ProfileUpdateRequest {
    /// 1-32 characters.
    pub nickname: Option<String>,
    /// An http(s) URL; empty clears it.
    pub avatar: Option<String>,
    /// `YYYY-MM-DD`; empty clears it.
    pub birth_date: Option<String>,
    #[schema(schema_with = schema::online_status)]
    pub online_status: Option<i16>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordChangeRequest {
    pub old_password: String,
    pub new_password: String,
    pub confirm_password: String,
}

signed_in_handlers! {
    tag "profile", routes routes;

    /// My profile.
    get "/api/v1/profile/info" => [Profile], errors [401 "TOKEN_*, ACCOUNT_*"];
    fn info(state, user) {
        Ok(envelope::ok(user::profile(&state, user.0.user_id).await?))
    }

    /// Edit my profile; returns the updated profile.
    post "/api/v1/profile/update", json ProfileUpdateRequest => [Profile],
    errors [400 "INVALID_NICKNAME, INVALID_AVATAR, INVALID_TIME_FORMAT, INVALID_ONLINE_STATUS, INVALID_PARAMS"];
    fn update(state, user, body) {
        let ProfileUpdateRequest { nickname, avatar, birth_date, online_status } =
            body.into_inner();
        let update = ProfileUpdate { nickname, avatar, birth_date, online_status };
        Ok(envelope::ok(user::update_profile(&state, user.0.user_id, update).await?))
    }

    /// Change my password. Every other session of mine ends; this one stays.
    post "/api/v1/profile/password", json PasswordChangeRequest => [Object],
    errors [400 "INVALID_PASSWORD, CONFIRM_PASSWORD_MISMATCH",
        403 "WRONG_PASSWORD"];
    fn password(state, user, body) {
        auth::change_password(
            &state,
            &user.0,
            &body.old_password,
            &body.new_password,
            &body.confirm_password,
        )
        .await?;
        Ok(envelope::ok_empty())
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EmailBindRequest {
    /// The address to bind; a 6-digit code is mailed to it.
    #[schema(max_length = 254)]
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EmailCodeRequest {
    /// The 6-digit code from the mail.
    #[schema(pattern = r"^\s*[0-9]{6}\s*$")]
    pub code: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EmailRemoveRequest {
    /// My current password.
    pub password: String,
}

/// Register the email routes (written by hand: they read `Accept-Language` for the mail).
pub fn email_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/profile/email", web::post().to(email_bind))
        .route("/api/v1/profile/email/verify", web::post().to(email_verify))
        .route("/api/v1/profile/email/remove", web::post().to(email_remove));
}

/// Bind an email address: a 6-digit code is mailed to it (in the language of
/// `Accept-Language`, English or Chinese); `/profile/email/verify` with that code binds it.
#[utoipa::path(post, path = "/api/v1/profile/email", tag = "profile", security(("bearer" = [])),
    request_body = EmailBindRequest,
    responses((status = 200, body = inline(Envelope<CodeSent>)),
        (status = 400, description = "INVALID_EMAIL", body = ErrorEnvelope),
        (status = 401, description = "TOKEN_*", body = ErrorEnvelope),
        (status = 409, description = "EMAIL_TAKEN, EMAIL_UNCHANGED", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope),
        (status = 503, description = "MAIL_NOT_CONFIGURED", body = ErrorEnvelope)))]
pub async fn email_bind(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    body: web::Json<EmailBindRequest>,
) -> Result<HttpResponse, AppError> {
    let client = client_info(&req);
    let sent = email::request_bind(&state, &user.0, &body.email, &client, client.lang).await?;
    Ok(envelope::ok(sent))
}

/// Bind the address the newest code was mailed to. The address bound before, if any, is
/// told by mail. Returns my profile.
#[utoipa::path(post, path = "/api/v1/profile/email/verify", tag = "profile",
    security(("bearer" = [])), request_body = EmailCodeRequest,
    responses((status = 200, body = inline(Envelope<Profile>)),
        (status = 400, description = "EMAIL_CODE_INVALID (data: tries_left), EMAIL_CODE_EXPIRED", body = ErrorEnvelope),
        (status = 401, description = "TOKEN_*", body = ErrorEnvelope),
        (status = 409, description = "EMAIL_TAKEN", body = ErrorEnvelope),
        (status = 429, description = "EMAIL_CODE_TOO_MANY_TRIES", body = ErrorEnvelope),
        (status = 503, description = "MAIL_NOT_CONFIGURED", body = ErrorEnvelope)))]
pub async fn email_verify(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    body: web::Json<EmailCodeRequest>,
) -> Result<HttpResponse, AppError> {
    let lang = client_info(&req).lang;
    email::verify_bind(&state, &user.0, &body.code, lang).await?;
    Ok(envelope::ok(user::profile(&state, user.0.user_id).await?))
}

/// Remove my email address (my password is required); the address is told by mail.
/// Returns my profile.
#[utoipa::path(post, path = "/api/v1/profile/email/remove", tag = "profile",
    security(("bearer" = [])), request_body = EmailRemoveRequest,
    responses((status = 200, body = inline(Envelope<Profile>)),
        (status = 401, description = "TOKEN_*", body = ErrorEnvelope),
        (status = 403, description = "WRONG_PASSWORD", body = ErrorEnvelope),
        (status = 404, description = "EMAIL_NOT_SET", body = ErrorEnvelope)))]
pub async fn email_remove(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    body: web::Json<EmailRemoveRequest>,
) -> Result<HttpResponse, AppError> {
    let lang = client_info(&req).lang;
    email::remove(&state, &user.0, &body.password, lang).await?;
    Ok(envelope::ok(user::profile(&state, user.0.user_id).await?))
}
