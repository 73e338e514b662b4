-- Groups: who may invite, ban lists, join requests (approval groups), direct invitations and
-- invite links. Forward-only.

-- 1: plain members may invite people and create invite links; 0: only the owner and admins.
ALTER TABLE groups ADD COLUMN member_invite SMALLINT NOT NULL DEFAULT 0;

-- People removed with a ban (or banned outright): they cannot come back by any path.
CREATE TABLE group_ban (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id BIGINT NOT NULL REFERENCES groups (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    banned_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX group_ban_uidx ON group_ban (group_id, user_id);

-- One row per (group, user): status 0 pending, 1 accepted, 2 rejected; asking again reopens it.
CREATE TABLE group_join_request (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id BIGINT NOT NULL REFERENCES groups (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    message TEXT NOT NULL DEFAULT '',
    status SMALLINT NOT NULL DEFAULT 0,
    handled_by BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX group_join_request_uidx ON group_join_request (group_id, user_id);

-- Direct invitations, one row per (group, invitee): status 0 pending, 1 accepted, 2 rejected.
CREATE TABLE group_invite (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id BIGINT NOT NULL REFERENCES groups (id),
    inviter_id BIGINT NOT NULL,
    invitee_id BIGINT NOT NULL REFERENCES users (id),
    status SMALLINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX group_invite_uidx ON group_invite (group_id, invitee_id);
CREATE INDEX group_invite_invitee_idx ON group_invite (invitee_id, status);

-- Invite links: whoever holds the token may join until it expires or is revoked.
CREATE TABLE group_invite_link (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id BIGINT NOT NULL REFERENCES groups (id),
    token TEXT NOT NULL,
    creator_id BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX group_invite_link_token_uidx ON group_invite_link (token);
CREATE INDEX group_invite_link_group_idx ON group_invite_link (group_id);
