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
}

/// The crate-wide error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// An expected failure the client can act on.
    #[error("{code:?}: {message}")]
    Api {
        code: ErrorCode,
        message: Cow<'static, str>,
        data: Option<Value>,
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
        Self::Api {
            code,
            message: Cow::Borrowed(code.message()),
            data: None,
        }
    }

    /// An API error with a specific message.
    pub fn with_message(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Api {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// Attach a `data` payload (e.g. `fail_times`) to an API error.
    pub fn with_data(self, value: Value) -> Self {
        match self {
            Self::Api { code, message, .. } => Self::Api {
                code,
                message,
                data: Some(value),
            },
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
        self.error_code().status()
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
        envelope::error(code.status(), code.as_str(), message, data)
    }
}
