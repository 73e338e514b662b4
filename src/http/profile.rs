//! `/api/v1/profile/*`: read and edit my profile, change my password.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::envelope::{self, Envelope, ErrorEnvelope};
use super::extract::AuthUser;
use super::schema;
use crate::error::AppError;
use crate::service::auth;
use crate::service::user::{self, Profile, ProfileUpdate};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/profile/info", web::get().to(info))
        .route("/api/v1/profile/update", web::post().to(update))
        .route("/api/v1/profile/password", web::post().to(password));
}

/// My profile.
#[utoipa::path(get, path = "/api/v1/profile/info", tag = "profile", security(("bearer" = [])),
    responses((status = 200, body = inline(Envelope<Profile>)),
        (status = 401, description = "TOKEN_*, ACCOUNT_*", body = ErrorEnvelope)))]
pub async fn info(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(user::profile(&state, user.0.user_id).await?))
}

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

/// Edit my profile; returns the updated profile.
#[utoipa::path(post, path = "/api/v1/profile/update", tag = "profile", security(("bearer" = [])),
    request_body = ProfileUpdateRequest,
    responses((status = 200, body = inline(Envelope<Profile>)),
        (status = 400, description = "INVALID_NICKNAME, INVALID_AVATAR, INVALID_TIME_FORMAT, INVALID_ONLINE_STATUS, INVALID_PARAMS", body = ErrorEnvelope)))]
pub async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<ProfileUpdateRequest>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let update = ProfileUpdate {
        nickname: b.nickname,
        avatar: b.avatar,
        birth_date: b.birth_date,
        online_status: b.online_status,
    };
    Ok(envelope::ok(user::update_profile(&state, user.0.user_id, update).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordChangeRequest {
    pub old_password: String,
    pub new_password: String,
    pub confirm_password: String,
}

/// Change my password. Every other session of mine ends; this one stays.
#[utoipa::path(post, path = "/api/v1/profile/password", tag = "profile", security(("bearer" = [])),
    request_body = PasswordChangeRequest,
    responses((status = 200, body = inline(Envelope<Object>)),
        (status = 400, description = "INVALID_PASSWORD, CONFIRM_PASSWORD_MISMATCH", body = ErrorEnvelope),
        (status = 403, description = "WRONG_PASSWORD", body = ErrorEnvelope)))]
pub async fn password(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<PasswordChangeRequest>,
) -> Result<HttpResponse, AppError> {
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
