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
