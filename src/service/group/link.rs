//! Invite links: create, list, join through, revoke. A link carries its creator's right to
//! invite ([`link_works`]).

use base64::Engine;
use rand::RngCore;

use super::admission::admit;
use super::rules::*;
use super::view::*;
use crate::db::group::LinkRow;
use crate::db::now_ms;
use crate::domain::{GroupId, UserId};
use crate::error::{AppError, ErrorCode, Result};
use crate::state::Core;

/// Create an invite link (owner/admins; plain members when the group allows it). It expires
/// after `ttl_secs` (at most the configured `groups.invite_link_ttl_secs`).
pub async fn create_link(
    state: &Core,
    user_id: UserId,
    group_id: GroupId,
    ttl_secs: Option<i64>,
) -> Result<LinkView> {
    let (g, me) = member_context(state, group_id, user_id).await?;
    if !may_invite(&g, &me) {
        return Err(AppError::code(ErrorCode::GroupInviteNotAllowed));
    }
    let max_ttl = state.config.groups.invite_link_ttl_secs as i64;
    let ttl = ttl_secs.unwrap_or(max_ttl);
    if !(60..=max_ttl).contains(&ttl) {
        return Err(AppError::invalid(format!("ttl_secs must be between 60 and {max_ttl}")));
    }
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = now_ms();
    let expires_at = now + ttl * 1000;
    let link = LinkRow {
        id: 0,
        group_id: g.id,
        token,
        creator_id: user_id,
        expires_at,
        revoked_at: None,
        created_at: now,
        uses: 0,
    };
    state.db.group_link_insert(link.clone()).await?;
    Ok(LinkView::from(&link))
}

/// The group's links that still work (see [`link_works`]), newest first (owner/admins), so
/// they can revoke what they do not want.
pub async fn links(state: &Core, user_id: UserId, group_id: GroupId) -> Result<Vec<LinkView>> {
    let (g, _) = admin_context(state, group_id, user_id).await?;
    Ok(state
        .db
        .group_link_list_unexpired(g.id, now_ms())
        .await?
        .iter()
        .filter(|(link, creator)| link_works(&g, link, creator.as_ref()))
        .map(|(link, _)| LinkView::from(link))
        .collect())
}

/// Join through an invite link (whatever the join policy; never when banned; only while the
/// link's creator may still invite, see [`link_works`]).
pub async fn join_by_link(state: &Core, user_id: UserId, token: &str) -> Result<JoinResult> {
    let token = token.trim();
    if token.is_empty() || token.len() > 64 {
        return Err(AppError::code(ErrorCode::GroupLinkInvalid));
    }
    let link = state
        .db
        .group_link_find(token.to_string())
        .await?
        .filter(|l| l.revoked_at.is_none() && l.expires_at > now_ms())
        .ok_or_else(|| AppError::code(ErrorCode::GroupLinkInvalid))?;
    let g = load_group(state, link.group_id).await?;
    ensure_active(&g)?;
    let creator = state.db.group_member_find(g.id, link.creator_id).await?;
    if !link_works(&g, &link, creator.as_ref()) {
        return Err(AppError::with_message(
            ErrorCode::GroupLinkInvalid,
            "the link's creator may no longer invite to this group",
        ));
    }
    if state.db.group_member_find(g.id, user_id).await?.is_some() {
        return Err(AppError::code(ErrorCode::AlreadyGroupMember));
    }
    if state.db.group_ban_exists(g.id, user_id).await? {
        return Err(AppError::code(ErrorCode::GroupBanned));
    }
    if admit(state, &g, user_id, link.creator_id, user_id, "link").await?
        && let Err(e) = state.db.group_link_count_use(link.id).await
    {
        // The join is done and stays done; only the counter shown to admins misses one.
        slog::warn!(state.log, "invite link use not counted"; "error" => e.to_string());
    }
    Ok(JoinResult { group_id: g.id, status: "joined".into() })
}

/// Revoke an invite link (owner/admins, or whoever created it).
pub async fn revoke_link(
    state: &Core,
    user_id: UserId,
    group_id: GroupId,
    token: &str,
) -> Result<()> {
    let (g, me) = member_context(state, group_id, user_id).await?;
    let link = state
        .db
        .group_link_find(token.trim().to_string())
        .await?
        .filter(|l| l.group_id == g.id && l.revoked_at.is_none())
        .ok_or_else(|| AppError::code(ErrorCode::GroupLinkInvalid))?;
    if link.creator_id != user_id {
        require_admin(&me)?;
    }
    state.db.group_link_revoke(g.id, link.token, now_ms()).await?;
    Ok(())
}
