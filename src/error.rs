//! The one error type of the crate: a stable machine `code`, an HTTP status, a safe message for
//! the client, and (for internal failures) a cause that is logged and never sent.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::Value;

use crate::http::envelope;

macro_rules! error_codes {
    ($($variant:ident => $code:literal, $status:ident, $message:literal;)*) => {
        /// Stable error codes sent in the envelope's `code` field. Never renamed once released.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant),* }

        impl ErrorCode {
            /// Every code, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The wire form, e.g. `INVALID_PARAMS`.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),* }
            }

            /// The HTTP status this code is answered with.
            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status),* }
            }

            /// The default human-readable message.
            pub fn message(self) -> &'static str {
                match self { $(ErrorCode::$variant => $message),* }
            }
        }
    };
}

error_codes! {
    InvalidParams => "INVALID_PARAMS", BAD_REQUEST, "invalid parameters";
    PayloadTooLarge => "PAYLOAD_TOO_LARGE", PAYLOAD_TOO_LARGE, "request body too large";
    NotFound => "NOT_FOUND", NOT_FOUND, "not found";
    MethodNotAllowed => "METHOD_NOT_ALLOWED", METHOD_NOT_ALLOWED, "method not allowed";
    RateLimited => "RATE_LIMITED", TOO_MANY_REQUESTS, "too many requests, slow down";
    Internal => "INTERNAL", INTERNAL_SERVER_ERROR, "internal server error";
    Unavailable => "UNAVAILABLE", SERVICE_UNAVAILABLE, "service temporarily unavailable";
    Forbidden => "FORBIDDEN", FORBIDDEN, "no permission";
    InvalidUsername => "INVALID_USERNAME", BAD_REQUEST, "username must be 3-32 characters: letters, digits, '_', '.', '-', starting with a letter or digit";
    InvalidPassword => "INVALID_PASSWORD", BAD_REQUEST, "password does not meet the password rules";
    ConfirmPasswordMismatch => "CONFIRM_PASSWORD_MISMATCH", BAD_REQUEST, "password and confirmation differ";
    InvalidNickname => "INVALID_NICKNAME", BAD_REQUEST, "nickname must be 1-32 characters without control characters";
    InvalidTimeFormat => "INVALID_TIME_FORMAT", BAD_REQUEST, "birth_date must be a real date written YYYY-MM-DD";
    InvalidAvatar => "INVALID_AVATAR", BAD_REQUEST, "avatar must be an http(s) URL of at most 512 bytes";
    InvalidOnlineStatus => "INVALID_ONLINE_STATUS", BAD_REQUEST, "online_status must be 1 (online), 2 (away), 3 (busy) or 4 (invisible)";
    InvalidCaptchaType => "INVALID_CAPTCHA_TYPE", BAD_REQUEST, "captcha type must be digit or string";
    CaptchaIdEmpty => "CAPTCHA_ID_EMPTY", BAD_REQUEST, "captcha_id is required";
    CaptchaEmpty => "CAPTCHA_EMPTY", BAD_REQUEST, "captcha is required";
    CaptchaInvalid => "CAPTCHA_INVALID", BAD_REQUEST, "captcha is wrong or expired";
    RegistrationClosed => "REGISTRATION_CLOSED", FORBIDDEN, "registration is closed";
    AccountExists => "ACCOUNT_EXISTS", CONFLICT, "username already taken";
    WrongCredentials => "WRONG_CREDENTIALS", UNAUTHORIZED, "wrong username or password";
    TooManyLoginFailures => "TOO_MANY_LOGIN_FAILURES", TOO_MANY_REQUESTS, "too many failed logins, try again later";
    AccountDisabled => "ACCOUNT_DISABLED", FORBIDDEN, "account disabled";
    AccountDeleted => "ACCOUNT_DELETED", FORBIDDEN, "account deleted";
    WrongPassword => "WRONG_PASSWORD", FORBIDDEN, "the current password is wrong";
    TokenEmpty => "TOKEN_EMPTY", UNAUTHORIZED, "no token: send Authorization: Bearer <token>";
    TokenInvalid => "TOKEN_INVALID", UNAUTHORIZED, "token invalid";
    TokenExpired => "TOKEN_EXPIRED", UNAUTHORIZED, "token expired, log in again";
    TokenRevoked => "TOKEN_REVOKED", UNAUTHORIZED, "session ended, log in again";
    SessionNotFound => "SESSION_NOT_FOUND", NOT_FOUND, "no such session";
    UserNotFound => "USER_NOT_FOUND", NOT_FOUND, "no such user";
}

/// The crate-wide error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// An expected failure the client can act on.
    #[error("{}: {message}", code.as_str())]
    Api {
        code: ErrorCode,
        message: Cow<'static, str>,
        data: Option<Value>,
        /// Overrides the code's usual HTTP status (e.g. ACCOUNT_DISABLED is 401 on a token).
        status: Option<StatusCode>,
    },
    /// A dependency (database, Redis) is down or timed out: 503, cause logged.
    #[error("unavailable: {0:#}")]
    Unavailable(anyhow::Error),
    /// A bug or unexpected failure: 500, cause logged.
    #[error("internal: {0:#}")]
    Internal(#[from] anyhow::Error),
}

/// `Result` with [`AppError`].
pub type Result<T, E = AppError> = std::result::Result<T, E>;

impl AppError {
    /// An API error with the code's default message.
    pub fn code(code: ErrorCode) -> Self {
        Self::Api { code, message: Cow::Borrowed(code.message()), data: None, status: None }
    }

    /// An API error with a specific message.
    pub fn with_message(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Api { code, message: message.into(), data: None, status: None }
    }

    /// Attach a `data` payload (e.g. `fail_times`) to an API error.
    pub fn with_data(self, value: Value) -> Self {
        match self {
            Self::Api { code, message, status, .. } => {
                Self::Api { code, message, data: Some(value), status }
            }
            other => other,
        }
    }

    /// Answer with `status` instead of the code's usual HTTP status.
    pub fn with_status(self, new_status: StatusCode) -> Self {
        match self {
            Self::Api { code, message, data, .. } => {
                Self::Api { code, message, data, status: Some(new_status) }
            }
            other => other,
        }
    }

    /// Shorthand for a 400 `INVALID_PARAMS` with a message.
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self::with_message(ErrorCode::InvalidParams, message)
    }

    /// The stable code of this error.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::Api { code, .. } => *code,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Api { status: Some(status), .. } => *status,
            _ => self.error_code().status(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = self.error_code();
        let (message, data) = match self {
            Self::Api { message, data, .. } => (message.as_ref(), data.clone()),
            Self::Unavailable(cause) | Self::Internal(cause) => {
                // The cause may name hosts, queries or keys: log it, never send it.
                let log = envelope::current_logger();
                slog::error!(log, "request failed"; "code" => code.as_str(), "cause" => format!("{cause:#}"));
                (code.message(), None)
            }
        };
        envelope::error(self.status_code(), code.as_str(), message, data)
    }
}
