//! Uploads: receiving them (limits, quota, rate, the type read from the bytes, photos and
//! avatars processed), who may download them, attaching them to messages and avatars, and
//! the clean-up of what nothing refers to any more.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::db::media::{MediaRefRow, MediaRow, NewMedia, StoredMedia};
use crate::db::now_ms;
use crate::domain::{
    GroupId, MediaKind, MediaRefKind, MediaState, MessageType, SessionType, UserId,
};
use crate::error::{AppError, ErrorCode, Result};
use crate::media::blob::{BlobError, BlobRead};
use crate::media::image::{ImageError, ImageLimits};
use crate::media::inspect::{self, ContentClass};
use crate::media::workers::PictureWorkers;
use crate::state::Core;

/// The path every upload is served under (`/api/v1/media/{id}`, `/api/v1/media/{id}/thumbnail`).
pub const MEDIA_PATH: &str = "/api/v1/media/";

/// Bytes reserved against the quota at a time while an upload streams in: large enough that
/// a big upload costs few database writes, small enough that parallel small uploads of one
/// user are not refused for what they might have been.
const RESERVE_STEP: u64 = 4 * 1024 * 1024;

/// How long an upload may sit in "uploading" without progress before the clean-up takes it
/// for the leftovers of a server that died mid-upload.
const STALE_UPLOAD_MS: i64 = 3600 * 1000;

/// The first bytes kept to read the type from.
const SNIFF_BYTES: usize = 8192;

/// How much of an upload is gathered in memory before it is written to the scratch file.
const SCRATCH_WRITE_BYTES: usize = 256 * 1024;

/// Which of an upload's blobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Original,
    Thumbnail,
}

impl Variant {
    fn suffix(self) -> &'static str {
        match self {
            Self::Original => "",
            Self::Thumbnail => "/thumbnail",
        }
    }
}

/// The store key of an upload's blob. Ids are random, so keys are unique by construction
/// (some S3 stores ignore "create only if absent").
pub(crate) fn blob_key(id: &str, variant: Variant) -> String {
    match variant {
        Variant::Original => format!("media/{id}"),
        Variant::Thumbnail => format!("media/{id}.thumb"),
    }
}

/// An upload's URL path.
pub fn url_of(id: &str, variant: Variant) -> String {
    format!("{MEDIA_PATH}{id}{}", variant.suffix())
}

/// What an upload answers with (and what the media part of a message is filled from).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MediaInfo {
    /// Opaque and unguessable (128 random bits, hex).
    pub id: String,
    /// `image`, `voice`, `video`, `file` or `avatar`.
    pub kind: String,
    /// Where to download it (with the token header, or signed: `POST /api/v1/media/sign`).
    pub url: String,
    /// The type read from the bytes.
    pub mime: String,
    pub size: i64,
    /// SHA-256 of the stored bytes, hex.
    pub sha256: String,
    /// The file name as given, made safe.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
}

impl MediaInfo {
    fn of(row: &MediaRow) -> Self {
        Self {
            id: row.id.clone(),
            kind: MediaKind::from_i16(row.kind).map(MediaKind::name).unwrap_or("file").into(),
            url: url_of(&row.id, Variant::Original),
            mime: row.mime.clone(),
            size: row.size,
            sha256: row.sha256.clone(),
            name: row.name.clone(),
            width: row.width,
            height: row.height,
            thumbnail_url: row.thumb_mime.as_ref().map(|_| url_of(&row.id, Variant::Thumbnail)),
            created_at: row.created_at,
        }
    }
}

fn kind_limit(state: &Core, kind: Option<MediaKind>) -> u64 {
    let m = &state.config.media;
    let per_kind = match kind {
        Some(MediaKind::Image) => m.max_image_bytes,
        Some(MediaKind::Voice) => m.max_voice_bytes,
        Some(MediaKind::Video) => m.max_video_bytes,
        Some(MediaKind::File) => m.max_file_bytes,
        Some(MediaKind::Avatar) => m.max_avatar_bytes,
        None => [
            m.max_image_bytes,
            m.max_voice_bytes,
            m.max_video_bytes,
            m.max_file_bytes,
            m.max_avatar_bytes,
        ]
        .into_iter()
        .max()
        .unwrap_or(0),
    };
    per_kind.min(m.max_upload_bytes)
}

/// Whether bytes of this type may be stored as `kind`: photos and avatars must be images we
/// can decode, voice notes audio, videos video; a file may be anything.
fn kind_accepts(kind: MediaKind, sniffed: &inspect::Sniffed) -> bool {
    match kind {
        MediaKind::Image | MediaKind::Avatar => {
            sniffed.class == ContentClass::Image && inspect::decodable_image(sniffed.mime)
        }
        // Browsers record voice into WebM (Chrome, Firefox) or MP4 (Safari) containers, which
        // read as video from their first bytes.
        MediaKind::Voice => {
            sniffed.class == ContentClass::Audio
                || matches!(sniffed.mime, "video/webm" | "video/mp4")
        }
        MediaKind::Video => sniffed.class == ContentClass::Video,
        MediaKind::File => true,
    }
}

/// The kind an upload without one is stored as.
fn kind_for(sniffed: &inspect::Sniffed) -> MediaKind {
    match sniffed.class {
        ContentClass::Image if inspect::decodable_image(sniffed.mime) => MediaKind::Image,
        ContentClass::Audio => MediaKind::Voice,
        ContentClass::Video => MediaKind::Video,
        _ => MediaKind::File,
    }
}

pub fn parse_kind(raw: Option<&str>) -> Result<Option<MediaKind>> {
    match raw.map(str::trim).filter(|k| !k.is_empty()) {
        None => Ok(None),
        Some(name) => MediaKind::from_name(name)
            .map(Some)
            .ok_or_else(|| AppError::code(ErrorCode::MediaKindInvalid)),
    }
}

/// Temporary files of one upload, removed whatever happens.
struct Scratch {
    paths: Vec<PathBuf>,
}

impl Scratch {
    fn path(&mut self, dir: &Path, name: String) -> PathBuf {
        let path = dir.join(name);
        self.paths.push(path.clone());
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for path in &self.paths {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The directory for uploads in progress (under `data_dir`, created on first use).
fn scratch_dir(state: &Core) -> Result<PathBuf> {
    let dir = state.config.data_dir.join("tmp");
    std::fs::create_dir_all(&dir).map_err(|e| {
        AppError::Unavailable(anyhow::anyhow!("cannot create {}: {e}", dir.display()))
    })?;
    Ok(dir)
}

fn storage_error(e: BlobError) -> AppError {
    match e {
        BlobError::NotFound => AppError::code(ErrorCode::MediaNotFound),
        other => AppError::Unavailable(anyhow::anyhow!("media store: {other}")),
    }
}

fn disk_error(e: std::io::Error) -> AppError {
    AppError::Unavailable(anyhow::anyhow!("writing an upload to disk: {e}"))
}

/// Receive an upload: `body` is streamed to a scratch file (never held whole in memory),
/// refused as soon as it crosses its limit or the owner's quota, its type read from its
/// first bytes, photos and avatars processed off the async workers, then stored. Nothing
/// is left behind when any step fails: no row points at a missing blob.
pub async fn upload<S, E>(
    state: &Core,
    owner: UserId,
    kind: Option<MediaKind>,
    file_name: &str,
    expected_len: Option<u64>,
    body: S,
) -> Result<MediaInfo>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: Into<AppError>,
{
    let m = &state.config.media;
    if m.uploads_per_minute > 0 {
        let n =
            state.cache.incr(&format!("media_uploads:{owner}"), Duration::from_secs(60)).await?;
        if n > i64::from(m.uploads_per_minute) {
            return Err(AppError::with_message(
                ErrorCode::RateLimited,
                format!("at most {} uploads a minute", m.uploads_per_minute),
            ));
        }
    }
    let now = now_ms();
    let begun = NewMedia {
        id: hex::encode(rand::random::<[u8; 16]>()),
        owner_id: owner,
        kind: kind.unwrap_or(MediaKind::File).as_i16(),
        state: MediaState::Uploading.as_i16(),
        mime: String::new(),
        size: 0,
        sha256: String::new(),
        name: inspect::sanitize_name(file_name),
        created_at: now,
        updated_at: now,
    };
    state.db.media_begin(begun.clone()).await?;
    let result = receive_and_store(state, &begun, kind, expected_len, body).await;
    if result.is_err() {
        // The blobs were never written or are removed by `receive_and_store`; the row and its
        // reservation go now (if the database is down, the clean-up takes the stale row).
        let _ = state.db.media_remove(begun.id).await;
    }
    result
}

/// The body of [`upload`] once its row (`begun`) exists.
async fn receive_and_store<S, E>(
    state: &Core,
    begun: &NewMedia,
    kind: Option<MediaKind>,
    expected_len: Option<u64>,
    mut body: S,
) -> Result<MediaInfo>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: Into<AppError>,
{
    let (owner, id) = (begun.owner_id, begun.id.as_str());
    let m = &state.config.media;
    let limit = kind_limit(state, kind);
    let quota = i64::try_from(m.user_quota_bytes).unwrap_or(i64::MAX);
    let dir = scratch_dir(state)?;
    let mut scratch = Scratch { paths: Vec::new() };
    let received = scratch.path(&dir, format!("upload-{id}"));
    // Each write of a tokio file is a trip to the blocking pool: gather the request's small
    // chunks into large writes.
    let mut file = tokio::io::BufWriter::with_capacity(
        SCRATCH_WRITE_BYTES,
        tokio::fs::File::create(&received).await.map_err(disk_error)?,
    );
    let mut hasher = Sha256::new();
    let mut head: Vec<u8> = Vec::with_capacity(SNIFF_BYTES);
    let (mut size, mut reserved) = (0u64, 0u64);
    // The request's length bounds the file's: reserved at once, the quota decides before a
    // byte is written (so parallel uploads that would not all fit are not all half-received).
    if let Some(expected) = expected_len.filter(|n| *n > 0) {
        let first = expected.min(limit);
        if !reserve(state, owner, id, first, quota).await? {
            return Err(AppError::code(ErrorCode::MediaQuotaExceeded));
        }
        reserved = first;
    }
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(Into::into)?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large(kind, limit));
        }
        if size > reserved {
            // A generous step keeps database writes few; near the quota, only what is needed.
            let needed = size - reserved;
            let step = RESERVE_STEP.max(needed).min(limit - reserved);
            let granted = if reserve(state, owner, id, step, quota).await? {
                step
            } else if step > needed && reserve(state, owner, id, needed, quota).await? {
                needed
            } else {
                return Err(AppError::code(ErrorCode::MediaQuotaExceeded));
            };
            reserved += granted;
        }
        if head.len() < SNIFF_BYTES {
            let take = (SNIFF_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(disk_error)?;
    }
    // No fsync: the scratch file is copied into the store and removed, never kept.
    file.flush().await.map_err(disk_error)?;
    drop(file);
    if size == 0 {
        return Err(AppError::code(ErrorCode::MediaEmpty));
    }
    let sniffed = inspect::sniff(&head);
    let kind = match kind {
        Some(kind) if !kind_accepts(kind, &sniffed) => {
            return Err(AppError::with_message(
                ErrorCode::MediaTypeRefused,
                format!("the content is {}, which is not allowed as {}", sniffed.mime, kind.name()),
            ));
        }
        Some(kind) => kind,
        None => kind_for(&sniffed),
    };
    let limit = kind_limit(state, Some(kind));
    if size > limit {
        return Err(too_large(Some(kind), limit));
    }

    let mut stored = StoredMedia {
        kind: kind.as_i16(),
        mime: sniffed.mime.to_string(),
        size: size as i64,
        sha256: hex::encode(hasher.finalize()),
        name: begun.name.clone(),
        width: None,
        height: None,
        thumb_mime: None,
        thumb_size: None,
    };
    let original = blob_key(id, Variant::Original);
    let thumbnail_key = blob_key(id, Variant::Thumbnail);
    let limits = ImageLimits {
        max_pixels: m.max_image_pixels,
        max_edge: u32::try_from(m.max_image_pixels.min(u64::from(u32::MAX))).unwrap_or(u32::MAX),
    };
    let written = match kind {
        MediaKind::Image => {
            let rewritten_path = scratch.path(&dir, format!("upload-{id}.clean"));
            let (src, dst) = (received.clone(), rewritten_path.clone());
            let (strip, edge) = (m.strip_location, m.thumbnail_edge);
            let photo = process_blocking(state, move || {
                crate::media::image::process_photo(&src, &dst, strip, edge, &limits)
            })
            .await?;
            stored.width = Some(photo.width as i32);
            stored.height = Some(photo.height as i32);
            stored.mime = photo.mime.to_string();
            let source = if photo.rewritten {
                let (hash, len) = hash_file(rewritten_path.clone()).await?;
                stored.sha256 = hash;
                stored.size = len as i64;
                rewritten_path
            } else {
                received.clone()
            };
            stored.thumb_mime = Some(photo.thumbnail.mime.to_string());
            stored.thumb_size = Some(photo.thumbnail.bytes.len() as i64);
            let thumb = Bytes::from(photo.thumbnail.bytes);
            put_all(
                state,
                &[
                    (original.clone(), Payload::File(source), stored.mime.clone()),
                    (
                        thumbnail_key.clone(),
                        Payload::Bytes(thumb),
                        photo.thumbnail.mime.to_string(),
                    ),
                ],
            )
            .await
        }
        MediaKind::Avatar => {
            let src = received.clone();
            let edge = m.avatar_edge;
            let avatar = process_blocking(state, move || {
                crate::media::image::make_avatar(&src, edge, &limits)
            })
            .await?;
            stored.width = Some(avatar.edge as i32);
            stored.height = Some(avatar.edge as i32);
            stored.mime = avatar.mime.to_string();
            stored.size = avatar.bytes.len() as i64;
            stored.sha256 = hex::encode(Sha256::digest(&avatar.bytes));
            put_all(
                state,
                &[(
                    original.clone(),
                    Payload::Bytes(Bytes::from(avatar.bytes)),
                    stored.mime.clone(),
                )],
            )
            .await
        }
        _ => {
            put_all(
                state,
                &[(original.clone(), Payload::File(received.clone()), stored.mime.clone())],
            )
            .await
        }
    };
    written?;
    let finished = now_ms();
    if let Err(e) = state.db.media_finish(id.to_string(), stored.clone(), finished).await {
        remove_blobs(state, id).await;
        return Err(e.into());
    }
    metrics::counter!("jim_media_bytes_total", "direction" => "in").increment(stored.size as u64);
    Ok(MediaInfo::of(&MediaRow {
        id: id.to_string(),
        owner_id: owner,
        kind: stored.kind,
        state: MediaState::Stored.as_i16(),
        mime: stored.mime,
        size: stored.size,
        sha256: stored.sha256,
        name: stored.name,
        width: stored.width,
        height: stored.height,
        thumb_mime: stored.thumb_mime,
        thumb_size: stored.thumb_size,
        created_at: begun.created_at,
        updated_at: finished,
    }))
}

async fn reserve(state: &Core, owner: UserId, id: &str, bytes: u64, quota: i64) -> Result<bool> {
    let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
    Ok(state.db.media_reserve(owner, id.to_string(), bytes, quota, now_ms()).await?)
}

fn too_large(kind: Option<MediaKind>, limit: u64) -> AppError {
    let what = kind.map(|k| format!("{} uploads", k.name())).unwrap_or_else(|| "uploads".into());
    AppError::with_message(ErrorCode::MediaTooLarge, format!("{what} are limited to {limit} bytes"))
        .with_data(json!({ "max_bytes": limit }))
}

enum Payload {
    File(PathBuf),
    Bytes(Bytes),
}

/// Store blobs; when any fails, the ones already stored are removed again.
async fn put_all(state: &Core, blobs: &[(String, Payload, String)]) -> Result<()> {
    for (i, (key, payload, mime)) in blobs.iter().enumerate() {
        let result = match payload {
            Payload::File(path) => state.blobs.put_file(key, path, mime).await.map(|_| ()),
            Payload::Bytes(bytes) => state.blobs.put_bytes(key, bytes.clone(), mime).await,
        };
        if let Err(e) = result {
            for (key, _, _) in &blobs[..=i] {
                let _ = state.blobs.delete(key).await;
            }
            return Err(storage_error(e));
        }
    }
    Ok(())
}

pub(crate) async fn remove_blobs(state: &Core, id: &str) -> bool {
    let original = state.blobs.delete(&blob_key(id, Variant::Original)).await;
    let thumbnail = state.blobs.delete(&blob_key(id, Variant::Thumbnail)).await;
    original.is_ok() && thumbnail.is_ok()
}

async fn hash_file(path: PathBuf) -> Result<(String, u64)> {
    tokio::task::spawn_blocking(move || -> std::io::Result<(String, u64)> {
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Sha256::new();
        let len = std::io::copy(&mut file, &mut hasher)?;
        Ok((hex::encode(hasher.finalize()), len))
    })
    .await
    .map_err(|e| AppError::Internal(anyhow::anyhow!("hashing task: {e}")))?
    .map_err(disk_error)
}

/// Run image work on the picture threads (at most `media.image_workers` at once, at idle CPU
/// priority), so photos never occupy the async workers that carry chat nor outrun it for CPU.
async fn process_blocking<T, F>(state: &Core, work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> std::result::Result<T, ImageError> + Send + 'static,
{
    let outcome = state
        .pictures
        .run(work)
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("image task: {e}")))?;
    outcome.map_err(|e| match e {
        ImageError::TooLarge { width, height } => AppError::with_message(
            ErrorCode::MediaImageTooLarge,
            format!("the image is {width}x{height} pixels, more than allowed"),
        ),
        ImageError::Corrupt(why) => AppError::with_message(
            ErrorCode::MediaImageCorrupt,
            format!("the image cannot be decoded: {why}"),
        ),
        ImageError::Io(e) => disk_error(e),
    })
}

/// Remove an upload just made (its request turned out to be malformed after the file).
pub async fn discard(state: &Core, id: &str) -> Result<()> {
    if remove_blobs(state, id).await {
        state.db.media_remove(id.to_string()).await?;
    }
    Ok(())
}

/// An upload the caller may download, with the bytes asked for.
pub struct Download {
    pub mime: String,
    /// A strong validator: the same bytes always have the same tag.
    pub etag: String,
    /// Whether a browser may show it inline (raster images, audio, video); anything else is
    /// served as an attachment.
    pub inline: bool,
    pub name: String,
    /// The bytes, or `None` when the caller's copy is current (`If-None-Match`).
    pub body: Option<BlobRead>,
    /// The whole blob's size.
    pub size: u64,
}

/// Who asks for a download: a signed-in user (token), or a signed URL made for one.
pub async fn download(
    state: &Core,
    user: UserId,
    id: &str,
    variant: Variant,
    range: Option<&str>,
    if_none_match: Option<&str>,
) -> Result<Download> {
    let row = readable(state, user, id).await?;
    let (mime, size, etag) = match variant {
        Variant::Original => (row.mime.clone(), row.size as u64, format!("\"{}\"", row.sha256)),
        Variant::Thumbnail => match (&row.thumb_mime, row.thumb_size) {
            (Some(mime), Some(size)) => {
                (mime.clone(), size as u64, format!("\"t-{}\"", row.sha256))
            }
            _ => return Err(AppError::code(ErrorCode::MediaNotFound)),
        },
    };
    let inline = inspect::inline_safe(&mime);
    let name = match variant {
        Variant::Original => row.name.clone(),
        Variant::Thumbnail => format!("thumbnail-{}", row.name),
    };
    let current = if_none_match
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if current {
        return Ok(Download { mime, etag, inline, name, body: None, size });
    }
    let range = parse_range(range, size)?;
    let sent = range.as_ref().map_or(size, |r| r.end - r.start);
    let body = state.blobs.get(&blob_key(id, variant), range).await.map_err(storage_error)?;
    metrics::counter!("jim_media_bytes_total", "direction" => "out").increment(sent);
    Ok(Download { mime, etag, inline, name, body: Some(body), size })
}

/// The stored upload `id` if `user` may download it; 404 otherwise (never 403: whether an
/// id exists is nobody else's business).
async fn readable(state: &Core, user: UserId, id: &str) -> Result<MediaRow> {
    let row = stored_upload(state, id).await?;
    if row.owner_id == user || row.kind == MediaKind::Avatar {
        return Ok(row);
    }
    for r in state.db.media_refs_of(id.to_string(), 50).await? {
        let granted = match MediaRefKind::from_i16(r.ref_kind) {
            Some(MediaRefKind::UserAvatar | MediaRefKind::GroupAvatar) => true,
            Some(MediaRefKind::Message) => match SessionType::from_i16(r.session_type) {
                Some(SessionType::Private) => r.party_a == user.get() || r.party_b == user.get(),
                Some(SessionType::Group) => {
                    crate::service::chat::readable_room(state, user, r.session_type, r.party_a)
                        .await
                        .is_ok()
                }
                Some(SessionType::World) => true,
                None => false,
            },
            None => false,
        };
        if granted {
            return Ok(row);
        }
    }
    Err(AppError::code(ErrorCode::MediaNotFound))
}

/// The upload `id` if it is stored (not uploading, not being deleted); 404 otherwise.
async fn stored_upload(state: &Core, id: &str) -> Result<MediaRow> {
    let not_found = || AppError::code(ErrorCode::MediaNotFound);
    if !is_media_id(id) {
        return Err(not_found());
    }
    let row = state.db.media_get(id.to_string()).await?.ok_or_else(not_found)?;
    if row.state != MediaState::Stored {
        return Err(not_found());
    }
    Ok(row)
}

/// Whether `id` has the shape of an upload id (32 lower-case hex digits).
pub fn is_media_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The byte range asked for by a `Range` header, checked against the blob's size. One range
/// of bytes is served (206); several ranges, or a header in another unit, get the whole blob
/// (200), as HTTP allows; a range outside the blob gets 416.
pub fn parse_range(header: Option<&str>, size: u64) -> Result<Option<Range<u64>>> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let unsatisfiable =
        || AppError::code(ErrorCode::MediaRangeInvalid).with_data(json!({ "size": size }));
    let (start, end) = spec.split_once('-').ok_or_else(unsatisfiable)?;
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        // A suffix: the last N bytes.
        let n: u64 = end.parse().map_err(|_| unsatisfiable())?;
        if n == 0 {
            return Err(unsatisfiable());
        }
        size.saturating_sub(n)..size
    } else {
        let first: u64 = start.parse().map_err(|_| unsatisfiable())?;
        let last = if end.is_empty() {
            size.saturating_sub(1)
        } else {
            end.parse::<u64>().map_err(|_| unsatisfiable())?.min(size.saturating_sub(1))
        };
        if first >= size || last < first {
            return Err(unsatisfiable());
        }
        first..last + 1
    };
    Ok(Some(range))
}

/// A download URL for browsers (`<img>`, `<video>`), which cannot send the token header:
/// valid for `media.signed_url_ttl_secs`, for this user only (the user's rights are checked
/// again at download), and carrying no token. Request logs record paths without queries.
pub fn signed_url(state: &Core, user: UserId, id: &str, variant: Variant) -> String {
    let expires = now_ms() / 1000 + state.config.media.signed_url_ttl_secs as i64;
    let signature = signature(state, user, id, variant, expires);
    format!("{}?u={user}&e={expires}&s={signature}", url_of(id, variant))
}

fn signature(state: &Core, user: UserId, id: &str, variant: Variant, expires: i64) -> String {
    let text = format!("media-url\n{id}{}\n{user}\n{expires}", variant.suffix());
    state.secret.keyed_hash(text.as_bytes())[..32].to_string()
}

/// The user a signed URL was made for, if its signature holds and it has not expired.
pub fn signed_user(
    state: &Core,
    id: &str,
    variant: Variant,
    user: UserId,
    expires: i64,
    sig: &str,
) -> Result<UserId> {
    let expected = signature(state, user, id, variant, expires);
    let matches: bool = expected.len() == sig.len()
        && expected.bytes().zip(sig.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if !matches || expires < now_ms() / 1000 {
        return Err(AppError::code(ErrorCode::MediaSignatureInvalid));
    }
    Ok(user)
}

/// Signed URLs for uploads the user may download (others are left out of the answer).
pub async fn sign(state: &Core, user: UserId, ids: &[String]) -> Result<Map<String, Value>> {
    if ids.len() > 100 {
        return Err(AppError::invalid("at most 100 ids at a time"));
    }
    let mut out = Map::new();
    for id in ids {
        let Ok(row) = readable(state, user, id).await else { continue };
        let mut urls = Map::new();
        urls.insert("url".into(), json!(signed_url(state, user, id, Variant::Original)));
        if row.thumb_mime.is_some() {
            urls.insert(
                "thumbnail_url".into(),
                json!(signed_url(state, user, id, Variant::Thumbnail)),
            );
        }
        out.insert(id.clone(), Value::Object(urls));
    }
    Ok(out)
}

/// Fill a media message body from an upload (`media_id`): the server knows the source, size,
/// type, dimensions, name and thumbnail. Only the uploader may attach an upload, and its
/// kind must fit the message type (any upload may be sent as a file).
pub async fn fill_body(
    state: &Core,
    sender: UserId,
    message_type: MessageType,
    media_id: &str,
    out: &mut Map<String, Value>,
) -> Result<()> {
    let row = stored_upload(state, media_id).await?;
    if row.owner_id != sender {
        return Err(AppError::code(ErrorCode::MediaNotYours));
    }
    let kind = MediaKind::from_i16(row.kind).unwrap_or(MediaKind::File);
    let fits = match message_type {
        MessageType::Image | MessageType::Sticker => kind == MediaKind::Image,
        MessageType::Voice => kind == MediaKind::Voice,
        MessageType::Video => kind == MediaKind::Video,
        MessageType::File => true,
        _ => false,
    };
    if !fits {
        return Err(AppError::with_message(
            ErrorCode::MediaKindMismatch,
            format!("a {} upload cannot be sent as this message type", kind.name()),
        ));
    }
    let info = MediaInfo::of(&row);
    out.insert("media_id".into(), json!(info.id));
    out.insert("src".into(), json!(info.url));
    out.insert("size".into(), json!(info.size));
    out.insert("mime".into(), json!(info.mime));
    if let Some(format) = extension_of(&info.mime) {
        out.insert("format".into(), json!(format));
    }
    if let (Some(w), Some(h)) = (info.width, info.height) {
        out.insert("width".into(), json!(w));
        out.insert("height".into(), json!(h));
    }
    if let Some(thumbnail) = info.thumbnail_url {
        out.insert("thumbnail".into(), json!(thumbnail));
    }
    out.insert("name".into(), json!(info.name));
    Ok(())
}

/// The usual file extension of a type (a media message's `format`).
fn extension_of(mime: &str) -> Option<&'static str> {
    match mime {
        "image/jpeg" => Some("jpg"),
        "image/png" => Some("png"),
        "image/gif" => Some("gif"),
        "image/webp" => Some("webp"),
        "audio/ogg" | "audio/opus" => Some("ogg"),
        "audio/mpeg" => Some("mp3"),
        "audio/mp4" | "audio/x-m4a" | "audio/m4a" => Some("m4a"),
        "audio/aac" => Some("aac"),
        "audio/wav" | "audio/x-wav" => Some("wav"),
        "audio/x-flac" | "audio/flac" => Some("flac"),
        "audio/webm" | "video/webm" => Some("webm"),
        "video/mp4" => Some("mp4"),
        "video/quicktime" => Some("mov"),
        "video/x-matroska" => Some("mkv"),
        "application/pdf" => Some("pdf"),
        "application/zip" => Some("zip"),
        _ => None,
    }
}

/// Record that a message in a conversation refers to an upload, before the message is
/// stored, so that its readers may download it from the moment they can see the message.
pub async fn refer_from_message(
    state: &Core,
    media_id: &str,
    room_id: &str,
    session_type: i16,
    sender: UserId,
    target_id: i64,
    action_id: &str,
) -> Result<()> {
    let (party_a, party_b) = if session_type == SessionType::Private {
        (sender.get().min(target_id), sender.get().max(target_id))
    } else {
        (target_id, 0)
    };
    let reference = MediaRefRow {
        media_id: media_id.to_string(),
        ref_kind: MediaRefKind::Message.as_i16(),
        room_id: room_id.to_string(),
        session_type,
        party_a,
        party_b,
        ref_key: message_ref_key(sender, action_id),
        created_at: now_ms(),
    };
    if !state.db.media_refs_add(None, vec![reference], now_ms()).await? {
        return Err(AppError::code(ErrorCode::MediaNotFound));
    }
    Ok(())
}

fn message_ref_key(sender: UserId, action_id: &str) -> String {
    format!("{sender}:{action_id}")
}

/// A recalled message stops granting downloads of what it carried.
pub async fn forget_message(
    state: &Core,
    room_id: &str,
    sender: UserId,
    action_id: &str,
) -> Result<()> {
    state
        .db
        .media_refs_remove(
            MediaRefKind::Message.as_i16(),
            room_id.to_string(),
            message_ref_key(sender, action_id),
        )
        .await?;
    Ok(())
}

/// Whose avatar an upload becomes.
#[derive(Debug, Clone, Copy)]
pub enum AvatarOf {
    User(UserId),
    Group(GroupId),
}

/// The value stored for an avatar given as `raw`: empty (none), an http(s) URL, or the id of
/// an avatar upload of `by` (stored as its URL path, and referenced so the clean-up keeps
/// it). The previous avatar upload, if any, is released (the clean-up deletes it later).
pub async fn set_avatar(state: &Core, by: UserId, of: AvatarOf, raw: &str) -> Result<String> {
    let raw = raw.trim();
    let (ref_kind, party) = match of {
        AvatarOf::User(id) => (MediaRefKind::UserAvatar, id.get()),
        AvatarOf::Group(id) => (MediaRefKind::GroupAvatar, id.get()),
    };
    if !is_media_id(raw) {
        let value = crate::service::validate::avatar(raw)?;
        state.db.media_refs_add(Some((ref_kind.as_i16(), party)), Vec::new(), now_ms()).await?;
        return Ok(value);
    }
    let row = stored_upload(state, raw).await?;
    if row.owner_id != by {
        return Err(AppError::code(ErrorCode::MediaNotFound));
    }
    if row.kind != MediaKind::Avatar {
        return Err(AppError::with_message(
            ErrorCode::MediaKindMismatch,
            "upload the picture with kind=avatar to use it as an avatar",
        ));
    }
    let reference = MediaRefRow {
        media_id: row.id.clone(),
        ref_kind: ref_kind.as_i16(),
        room_id: String::new(),
        session_type: 0,
        party_a: party,
        party_b: 0,
        ref_key: party.to_string(),
        created_at: now_ms(),
    };
    let replacing = Some((ref_kind.as_i16(), party));
    if !state.db.media_refs_add(replacing, vec![reference], now_ms()).await? {
        return Err(AppError::code(ErrorCode::MediaNotFound));
    }
    Ok(url_of(&row.id, Variant::Original))
}

/// What a clean-up run did (or, dry, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct GcReport {
    pub deleted: u64,
    pub bytes: u64,
    /// Uploads whose blobs could not be removed (store unreachable): retried next run.
    pub failed: u64,
}

/// Delete uploads nothing refers to any more (after `media.unreferenced_grace_secs`), the
/// leftovers of uploads a dead server never finished, and retry deletions a store outage
/// interrupted. Blobs go first, then the row, so no row ever points at a missing blob that
/// a download could ask for.
pub async fn gc(state: &Core, dry_run: bool) -> Result<GcReport> {
    let now = now_ms();
    let stored_before = now - state.config.media.unreferenced_grace_secs as i64 * 1000;
    let uploading_before = now - STALE_UPLOAD_MS;
    let mut report = GcReport::default();
    let mut seen = std::collections::HashSet::new();
    loop {
        let batch = state.db.media_gc_candidates(stored_before, uploading_before, 200).await?;
        let fresh: Vec<MediaRow> =
            batch.into_iter().filter(|r| seen.insert(r.id.clone())).collect();
        if fresh.is_empty() {
            break;
        }
        for row in fresh {
            if dry_run {
                report.deleted += 1;
                report.bytes += row.size as u64;
                continue;
            }
            if !state
                .db
                .media_mark_deleting(row.id.clone(), stored_before, uploading_before)
                .await?
            {
                continue;
            }
            if remove_blobs(state, &row.id).await {
                state.db.media_remove(row.id.clone()).await?;
                report.deleted += 1;
                report.bytes += row.size as u64;
            } else {
                report.failed += 1;
            }
        }
    }
    Ok(report)
}

/// Counts and bytes per kind (`jim media stats`).
#[derive(Debug, Clone, Serialize)]
pub struct KindStats {
    pub kind: String,
    pub count: i64,
    pub bytes: i64,
    /// Uploads in progress or being deleted.
    pub pending: i64,
}

pub async fn stats(state: &Core) -> Result<Vec<KindStats>> {
    let tally = state.db.media_tally().await?;
    Ok(MediaKind::ALL
        .iter()
        .map(|kind| {
            let of_kind = tally.iter().filter(|t| t.kind == kind.as_i16());
            let (mut count, mut bytes, mut pending) = (0, 0, 0);
            for t in of_kind {
                if t.state == MediaState::Stored {
                    count += t.count;
                    bytes += t.bytes;
                } else {
                    pending += t.count;
                }
            }
            KindStats { kind: kind.name().into(), count, bytes, pending }
        })
        .collect())
}

/// The picture threads: `media.image_workers` of them, 0 meaning half the cores (at least one).
pub fn picture_workers(configured: usize) -> PictureWorkers {
    let n = if configured > 0 {
        configured
    } else {
        std::thread::available_parallelism().map(|n| n.get() / 2).unwrap_or(1).max(1)
    };
    PictureWorkers::start(n)
}
