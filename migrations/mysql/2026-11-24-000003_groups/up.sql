-- Groups: who may invite, ban lists, join requests (approval groups), direct invitations and
-- invite links. Forward-only.

-- 1: plain members may invite people and create invite links; 0: only the owner and admins.
ALTER TABLE `groups` ADD COLUMN member_invite SMALLINT NOT NULL DEFAULT 0;

-- People removed with a ban (or banned outright): they cannot come back by any path.
CREATE TABLE group_ban (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    group_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    banned_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE KEY group_ban_uidx (group_id, user_id),
    CONSTRAINT group_ban_group_fk FOREIGN KEY (group_id) REFERENCES `groups` (id),
    CONSTRAINT group_ban_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per (group, user): status 0 pending, 1 accepted, 2 rejected; asking again reopens it.
CREATE TABLE group_join_request (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    group_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    message VARCHAR(200) NOT NULL DEFAULT '',
    status SMALLINT NOT NULL DEFAULT 0,
    handled_by BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE KEY group_join_request_uidx (group_id, user_id),
    CONSTRAINT group_join_request_group_fk FOREIGN KEY (group_id) REFERENCES `groups` (id),
    CONSTRAINT group_join_request_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Direct invitations, one row per (group, invitee): status 0 pending, 1 accepted, 2 rejected.
CREATE TABLE group_invite (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    group_id BIGINT NOT NULL,
    inviter_id BIGINT NOT NULL,
    invitee_id BIGINT NOT NULL,
    status SMALLINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE KEY group_invite_uidx (group_id, invitee_id),
    KEY group_invite_invitee_idx (invitee_id, status),
    CONSTRAINT group_invite_group_fk FOREIGN KEY (group_id) REFERENCES `groups` (id),
    CONSTRAINT group_invite_user_fk FOREIGN KEY (invitee_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Invite links: whoever holds the token may join until it expires or is revoked.
CREATE TABLE group_invite_link (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    group_id BIGINT NOT NULL,
    token VARCHAR(64) NOT NULL,
    creator_id BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE KEY group_invite_link_token_uidx (token),
    KEY group_invite_link_group_idx (group_id),
    CONSTRAINT group_invite_link_group_fk FOREIGN KEY (group_id) REFERENCES `groups` (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
