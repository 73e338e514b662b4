//! `/api/v1/media/*`: upload (multipart, streamed), download (ranges, validators, safe
//! dispositions), and signed URLs for browsers.

use actix_multipart::{Multipart, MultipartError};
use actix_web::body::SizedStream;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::ToSchema;

use super::envelope::{self, Envelope, ErrorEnvelope};
use super::extract::AuthUser;
use crate::domain::UserId;
use crate::error::{AppError, ErrorCode};
use crate::service::media::{self, MediaInfo, Variant};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/media/upload", web::post().to(upload))
        .route("/api/v1/media/sign", web::post().to(sign))
        // Ids are 32 hex digits: `sign` and `upload` are never taken for one.
        .route("/api/v1/media/{id:[0-9a-f]{32}}", web::get().to(download))
        .route("/api/v1/media/{id:[0-9a-f]{32}}/thumbnail", web::get().to(thumbnail));
}

/// The form of an upload.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The bytes (one part). Its type is read from the bytes, not from the part's header.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// Before `file`; default: from the bytes.
    #[schema(value_type = Option<UploadKind>)]
    kind: Option<String>,
}

/// What an upload is for.
#[derive(Debug, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum UploadKind {
    Image,
    Voice,
    Video,
    File,
    Avatar,
}

#[derive(Debug, Deserialize, ToSchema, utoipa::IntoParams)]
pub struct UploadQuery {
    /// The kind, as the form field `kind` (either may be given).
    #[param(value_type = Option<UploadKind>)]
    pub kind: Option<String>,
}

fn multipart_error(e: MultipartError) -> AppError {
    let why = match &e {
        MultipartError::Incomplete => "the upload ended before its closing boundary".to_string(),
        MultipartError::ContentTypeMissing | MultipartError::ContentTypeParse => {
            "send Content-Type: multipart/form-data with a boundary".to_string()
        }
        other => format!("invalid multipart body: {other}"),
    };
    AppError::with_message(ErrorCode::MediaMultipartInvalid, why)
}

/// Upload a photo, voice note, video, file or avatar. The body is streamed to storage and
/// refused (413) as soon as it crosses its limit; photos get a thumbnail and lose their
/// location data; avatars are cropped to a square.
#[utoipa::path(post, path = "/api/v1/media/upload", tag = "media", security(("bearer" = [])),
    params(UploadQuery),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 200, body = inline(Envelope<MediaInfo>)),
        (status = 400, description = "MEDIA_MULTIPART_INVALID, MEDIA_EMPTY, MEDIA_KIND_INVALID, MEDIA_IMAGE_TOO_LARGE", body = ErrorEnvelope),
        (status = 413, description = "MEDIA_TOO_LARGE, MEDIA_QUOTA_EXCEEDED", body = ErrorEnvelope),
        (status = 415, description = "MEDIA_TYPE_REFUSED, MEDIA_IMAGE_CORRUPT", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope),
        (status = 503, description = "UNAVAILABLE: the media store cannot be reached", body = ErrorEnvelope)))]
pub async fn upload(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    query: web::Query<UploadQuery>,
    mut form: Multipart,
) -> Result<HttpResponse, AppError> {
    let mut kind = media::parse_kind(query.kind.as_deref())?;
    while let Some(part) = form.next().await {
        let mut part = part.map_err(multipart_error)?;
        match part.name().unwrap_or_default() {
            "file" => {
                let file_name = part
                    .content_disposition()
                    .and_then(|d| d.get_filename())
                    .unwrap_or_default()
                    .to_string();
                let expected = req
                    .headers()
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let bytes = (&mut part).map(|chunk| chunk.map_err(multipart_error));
                let info = media::upload(&state, user.0.user_id, kind, &file_name, expected, bytes)
                    .await?;
                // `file` must come last: a `kind` after it would have been read too late. (The
                // form yields its next part only once this one is dropped.)
                drop(part);
                if form.next().await.is_some() {
                    media::discard(&state, &info.id).await?;
                    return Err(AppError::with_message(
                        ErrorCode::MediaMultipartInvalid,
                        "file must be the last part (send kind before it)",
                    ));
                }
                return Ok(envelope::ok(info));
            }
            "kind" => {
                let mut text = Vec::new();
                while let Some(chunk) = part.next().await {
                    text.extend_from_slice(&chunk.map_err(multipart_error)?);
                    if text.len() > 64 {
                        return Err(AppError::code(ErrorCode::MediaKindInvalid));
                    }
                }
                kind = media::parse_kind(Some(&String::from_utf8_lossy(&text)))?;
            }
            // Other parts are read past (bounded: the whole body is, by the upload limit).
            _ => {
                let mut seen = 0usize;
                while let Some(chunk) = part.next().await {
                    seen += chunk.map_err(multipart_error)?.len();
                    if seen > 64 * 1024 {
                        return Err(AppError::with_message(
                            ErrorCode::MediaMultipartInvalid,
                            "parts other than file and kind are not expected",
                        ));
                    }
                }
            }
        }
    }
    Err(AppError::with_message(ErrorCode::MediaMultipartInvalid, "no part named file"))
}

/// A signed URL's parts (for browsers: `<img>`/`<video>` cannot send the token header).
#[derive(Debug, Deserialize, ToSchema, utoipa::IntoParams)]
pub struct SignedQuery {
    /// The user the URL was signed for.
    pub u: Option<i64>,
    /// Expiry, Unix seconds.
    pub e: Option<i64>,
    /// Signature.
    pub s: Option<String>,
}

/// Download an upload: the uploader, anyone who may read a conversation where a message
/// refers to it, and (avatars) any signed-in user; 404 for anyone else. `Range` gives 206,
/// `If-None-Match` 304. Authenticate with the token header or a signed URL's `u`, `e`, `s`.
#[utoipa::path(get, path = "/api/v1/media/{id}", tag = "media", security(("bearer" = [])),
    params(("id" = String, Path, description = "The upload's id"), SignedQuery),
    responses((status = 200, description = "The bytes, with the type read from them at upload", content_type = "*/*"),
        (status = 206, description = "The range asked for", content_type = "*/*"),
        (status = 304, description = "Not modified"),
        (status = 401, description = "TOKEN_*", body = ErrorEnvelope),
        (status = 404, description = "MEDIA_NOT_FOUND", body = ErrorEnvelope),
        (status = 416, description = "MEDIA_RANGE_INVALID", body = ErrorEnvelope),
        (status = 503, description = "UNAVAILABLE", body = ErrorEnvelope)))]
pub async fn download(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    signed: web::Query<SignedQuery>,
) -> Result<HttpResponse, AppError> {
    serve(&state, &req, &id, Variant::Original, &signed).await
}

/// A photo's thumbnail (same rules as the upload itself).
#[utoipa::path(get, path = "/api/v1/media/{id}/thumbnail", tag = "media", security(("bearer" = [])),
    params(("id" = String, Path, description = "The upload's id"), SignedQuery),
    responses((status = 200, description = "The thumbnail (JPEG, or PNG for pictures with transparency)", content_type = "image/*"),
        (status = 304, description = "Not modified"),
        (status = 401, description = "TOKEN_*", body = ErrorEnvelope),
        (status = 404, description = "MEDIA_NOT_FOUND", body = ErrorEnvelope),
        (status = 503, description = "UNAVAILABLE", body = ErrorEnvelope)))]
pub async fn thumbnail(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    signed: web::Query<SignedQuery>,
) -> Result<HttpResponse, AppError> {
    serve(&state, &req, &id, Variant::Thumbnail, &signed).await
}

async fn serve(
    state: &AppState,
    req: &HttpRequest,
    id: &str,
    variant: Variant,
    signed: &SignedQuery,
) -> Result<HttpResponse, AppError> {
    let user = match (signed.u, signed.e, &signed.s) {
        (Some(u), Some(e), Some(s)) => media::signed_user(state, id, variant, UserId(u), e, s)?,
        _ => AuthUser::extract(req).await?.0.user_id,
    };
    let header_text = |name: header::HeaderName| {
        req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    };
    let range = header_text(header::RANGE);
    let if_none_match = header_text(header::IF_NONE_MATCH);
    let found =
        media::download(state, user, id, variant, range.as_deref(), if_none_match.as_deref()).await;
    let download = match found {
        Ok(d) => d,
        Err(e) if e.error_code() == ErrorCode::MediaRangeInvalid => {
            let size = e.data().and_then(|d| d.get("size")).and_then(|s| s.as_u64());
            let mut res = e.error_response();
            if let Some(value) = size.and_then(|s| format!("bytes */{s}").parse().ok()) {
                res.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return Ok(res);
        }
        Err(e) => return Err(e),
    };
    let disposition = ContentDisposition {
        disposition: if download.inline {
            DispositionType::Inline
        } else {
            DispositionType::Attachment
        },
        parameters: vec![DispositionParam::Filename(download.name.clone())],
    };
    let Some(read) = download.body else {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, download.etag))
            .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
            .finish());
    };
    let length = read.range.end - read.range.start;
    let partial = length != download.size;
    let mut res =
        HttpResponse::build(if partial { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK });
    res.insert_header((header::CONTENT_TYPE, download.mime))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::ETAG, download.etag))
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .insert_header(disposition);
    if partial {
        res.insert_header((
            header::CONTENT_RANGE,
            format!("bytes {}-{}/{}", read.range.start, read.range.end - 1, download.size),
        ));
    }
    Ok(res.body(SizedStream::new(length, read.stream)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SignRequest {
    /// Upload ids (at most 100).
    #[schema(max_items = 100)]
    pub ids: Vec<String>,
}

/// Signed download URLs for a browser's `<img>`/`<video>` (valid for
/// `media.signed_url_ttl_secs`, for the caller only). Ids the caller may not download are
/// left out of the answer.
#[utoipa::path(post, path = "/api/v1/media/sign", tag = "media", security(("bearer" = [])),
    request_body = SignRequest,
    responses((status = 200, description = "id → {url, thumbnail_url}", body = inline(Envelope<Object>)),
        (status = 400, description = "INVALID_PARAMS", body = ErrorEnvelope),
        (status = 401, description = "TOKEN_*", body = ErrorEnvelope)))]
pub async fn sign(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<SignRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(media::sign(&state, user.0.user_id, &body.ids).await?))
}
