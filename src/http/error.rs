//! How an [`AppError`] is answered over HTTP: its status and the error envelope. (The error
//! type itself lives in `error.rs`, free of the web framework, so that every layer can use it.)

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::error::AppError;
use crate::http::envelope;

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let code = self.error_code();
        if let Some(cause) = self.cause() {
            // The cause may name hosts, queries or keys: log it, never send it.
            let log = envelope::current_logger();
            slog::error!(log, "request failed"; "code" => code.as_str(), "cause" => format!("{cause:#}"));
        }
        envelope::error(
            self.status_code(),
            code.as_str(),
            self.client_message(),
            self.data().cloned(),
        )
    }
}
