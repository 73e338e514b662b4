//! A person's data on request: `jim user export` (profile, friends, groups, invitations, the
//! messages they sent and the files they uploaded, as JSON plus files) and `jim user purge`
//! (their personal data removed for good, others' conversations kept whole: their messages
//! become tombstones that keep their numbers).

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::bus::RevokeReason;
use crate::db::now_ms;
use crate::domain::{GroupRole, MediaKind, MediaState, UserId, UserStatus};
use crate::error::{AppError, ErrorCode, Result};
use crate::service::media;
use crate::service::user::{self, Actor};
use crate::state::Core;

/// Messages read from the store per round trip while exporting.
const EXPORT_PAGE: i64 = 500;
/// Friendships read at most (the friend list's own cap is far lower).
const RELATION_CAP: i64 = 100_000;

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub dir: PathBuf,
    pub friends: usize,
    pub groups: usize,
    pub messages: usize,
    pub media_files: usize,
    pub media_bytes: u64,
}

/// What a purge removed.
#[derive(Debug, Clone, Serialize)]
pub struct PurgeReport {
    pub user_id: i64,
    pub messages_erased: u64,
    pub media_deleted: u64,
    /// Uploads of theirs kept because someone else's message or group still refers to them.
    pub media_kept: u64,
    /// Uploads whose bytes could not be removed now (the store was unreachable); the
    /// clean-up removes them later, as nothing refers to them.
    pub media_failed: u64,
}

fn io_failure(what: &Path, e: std::io::Error) -> AppError {
    AppError::Unavailable(anyhow::anyhow!("{}: {e}", what.display()))
}

async fn write_json(dir: &Path, name: &str, value: &Value) -> Result<()> {
    let path = dir.join(name);
    let text = serde_json::to_vec_pretty(value)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("{name}: {e}")))?;
    tokio::fs::write(&path, text).await.map_err(|e| io_failure(&path, e))
}

/// Write everything `id_or_name` put into the service to `dir`, which must be absent or
/// empty: `profile.json`, `friends.json`, `groups.json`, `invitations.json`,
/// `messages.json` (every message they sent, tombstones included) and `media.json` with the
/// uploaded files under `media/`.
pub async fn export(state: &Core, id_or_name: &str, dir: &Path) -> Result<ExportReport> {
    let person = user::find(state, id_or_name).await?;
    let uid = person.id;
    if let Ok(mut entries) = std::fs::read_dir(dir)
        && entries.next().is_some()
    {
        return Err(AppError::with_message(
            ErrorCode::InvalidParams,
            format!("{} is not empty: export into a new or empty directory", dir.display()),
        ));
    }
    tokio::fs::create_dir_all(dir.join("media")).await.map_err(|e| io_failure(dir, e))?;

    write_json(
        dir,
        "profile.json",
        &json!({
            "id": uid, "username": person.username, "nickname": person.nickname,
            "avatar": person.avatar, "birth_date": person.birth_date,
            "online_status": person.online_status, "status": user::status_name(person.status),
            "created_at": person.created_at, "updated_at": person.updated_at,
        }),
    )
    .await?;

    let relations = state.db.relation_list(uid, RELATION_CAP).await?;
    let others: Vec<UserId> = relations
        .iter()
        .map(|r| if r.user_a_id == uid { r.user_b_id } else { r.user_a_id })
        .collect();
    let names: std::collections::HashMap<UserId, (String, String)> = state
        .db
        .users_by_ids(others)
        .await?
        .into_iter()
        .map(|u| (u.id, (u.username, u.nickname)))
        .collect();
    let friends: Vec<Value> = relations
        .iter()
        .map(|r| {
            let (other, my_remark) = if r.user_a_id == uid {
                (r.user_b_id, &r.remark_on_b)
            } else {
                (r.user_a_id, &r.remark_on_a)
            };
            let (username, nickname) = names.get(&other).cloned().unwrap_or_default();
            json!({"user_id": other, "username": username, "nickname": nickname,
                "status": r.status, "block_status": r.block_status, "my_remark": my_remark,
                "since": r.created_at})
        })
        .collect();
    write_json(dir, "friends.json", &Value::from(friends.clone())).await?;

    let groups: Vec<Value> = state
        .db
        .group_list_for_user(uid)
        .await?
        .into_iter()
        .map(|(g, m)| {
            json!({"group_id": g.id, "name": g.name, "role":
                GroupRole::from_i16(m.role).map_or("unknown", GroupRole::name),
                "my_nickname": m.nickname, "joined_at": m.created_at})
        })
        .collect();
    write_json(dir, "groups.json", &Value::from(groups.clone())).await?;

    let invites = state.db.invites_of(uid).await?;
    write_json(dir, "invitations.json", &serde_json::to_value(&invites).unwrap_or_default())
        .await?;

    let mut messages = Vec::new();
    let mut after = String::new();
    loop {
        let page = state.messages.sent_by(uid.get(), &after, EXPORT_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        let full = (page.len() as i64) < EXPORT_PAGE;
        messages.extend(page);
        if full {
            break;
        }
    }
    write_json(dir, "messages.json", &serde_json::to_value(&messages).unwrap_or_default()).await?;

    let mut listed = Vec::new();
    let mut media_bytes = 0u64;
    for row in state.db.media_owned_by(uid).await? {
        if row.state != MediaState::Stored.as_i16() {
            continue;
        }
        let file = format!("media/{}", row.id);
        let written = copy_blob(state, &row.id, &dir.join(&file)).await?;
        media_bytes += written;
        listed.push(json!({
            "id": row.id, "kind": MediaKind::from_i16(row.kind).map_or("unknown", MediaKind::name),
            "mime": row.mime, "size": row.size, "sha256": row.sha256, "name": row.name,
            "created_at": row.created_at, "file": file,
        }));
    }
    write_json(dir, "media.json", &Value::from(listed.clone())).await?;
    Ok(ExportReport {
        dir: dir.to_path_buf(),
        friends: friends.len(),
        groups: groups.len(),
        messages: messages.len(),
        media_files: listed.len(),
        media_bytes,
    })
}

/// Stream one upload's original bytes from the media store into `path`.
async fn copy_blob(state: &Core, id: &str, path: &Path) -> Result<u64> {
    let mut read = state
        .blobs
        .get(&media::blob_key(id, media::Variant::Original), None)
        .await
        .map_err(|e| AppError::Unavailable(anyhow::anyhow!("media store: {e}")))?;
    let mut file = tokio::fs::File::create(path).await.map_err(|e| io_failure(path, e))?;
    let mut written = 0u64;
    while let Some(chunk) = read.stream.next().await {
        let chunk =
            chunk.map_err(|e| AppError::Unavailable(anyhow::anyhow!("media store: {e}")))?;
        file.write_all(&chunk).await.map_err(|e| io_failure(path, e))?;
        written += chunk.len() as u64;
    }
    file.flush().await.map_err(|e| io_failure(path, e))?;
    Ok(written)
}

/// Remove `id_or_name`'s personal data for good. Their sessions end and sockets close on
/// every server (as for a deleted account); the profile becomes a placeholder nobody can log
/// in to; sessions, invitation notes, remarks and group nicknames go; every message they sent
/// becomes a recalled tombstone with an empty body (numbers and rooms untouched); the uploads
/// nothing else refers to any more (their avatar, files only their messages carried) are
/// deleted from the media store now.
pub async fn purge(state: &Core, id_or_name: &str, actor: Actor) -> Result<PurgeReport> {
    let person = user::find(state, id_or_name).await?;
    let uid = person.id;
    // First the account stops working everywhere: sessions revoked, sockets closed.
    if person.status != UserStatus::Deleted.as_i16() {
        user::set_status(state, uid, UserStatus::Deleted, actor).await?;
    } else {
        user::revoke_all(state, uid, RevokeReason::AccountDeleted, actor).await?;
    }
    let messages_erased = state.messages.erase_sender(uid.get()).await?;
    if !state.db.user_purge(uid, format!("#purged-{uid}"), now_ms()).await? {
        return Err(AppError::code(ErrorCode::UserNotFound));
    }
    let mut report = PurgeReport {
        user_id: uid.get(),
        messages_erased,
        media_deleted: 0,
        media_kept: 0,
        media_failed: 0,
    };
    for row in state.db.media_owned_by(uid).await? {
        if state.db.media_is_referenced(row.id.clone()).await? {
            report.media_kept += 1;
            continue;
        }
        if media::remove_blobs(state, &row.id).await {
            state.db.media_remove(row.id.clone()).await?;
            report.media_deleted += 1;
        } else {
            report.media_failed += 1;
        }
    }
    Ok(report)
}
