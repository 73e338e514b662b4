-- The relational tables of the original JIM (users, user_relation, user_relation_invite,
-- groups, group_member) plus sessions, the SQL message store (rooms, messages) and server_meta.
-- Times are Unix milliseconds (BIGINT) on both backends. utf8mb4_bin makes comparisons exact,
-- as SQLite's are. Forward-only: never drop data here.

CREATE TABLE users (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username VARCHAR(32) NOT NULL,
    username_norm VARCHAR(32) NOT NULL,
    password_hash VARCHAR(100) NOT NULL DEFAULT '',
    nickname VARCHAR(64) NOT NULL DEFAULT '',
    avatar VARCHAR(512) NOT NULL DEFAULT '',
    birth_date VARCHAR(10) NULL,
    online_status SMALLINT NOT NULL DEFAULT 1,
    status SMALLINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE KEY users_username_norm_uidx (username_norm),
    KEY users_nickname_idx (nickname)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE sessions (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    token_hash VARCHAR(64) NOT NULL,
    user_agent VARCHAR(256) NOT NULL DEFAULT '',
    ip VARCHAR(64) NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NULL,
    UNIQUE KEY sessions_token_hash_uidx (token_hash),
    KEY sessions_user_idx (user_id),
    CONSTRAINT sessions_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE user_relation (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_a_id BIGINT NOT NULL,
    user_b_id BIGINT NOT NULL,
    status SMALLINT NOT NULL DEFAULT 0,
    block_status SMALLINT NOT NULL DEFAULT 0,
    remark_on_a VARCHAR(64) NOT NULL DEFAULT '',
    remark_on_b VARCHAR(64) NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE KEY user_relation_pair_uidx (user_a_id, user_b_id),
    KEY user_relation_b_idx (user_b_id),
    CONSTRAINT user_relation_a_fk FOREIGN KEY (user_a_id) REFERENCES users (id),
    CONSTRAINT user_relation_b_fk FOREIGN KEY (user_b_id) REFERENCES users (id),
    CONSTRAINT user_relation_order_chk CHECK (user_a_id < user_b_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE user_relation_invite (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    target_id BIGINT NOT NULL,
    note VARCHAR(200) NOT NULL DEFAULT '',
    reply VARCHAR(200) NOT NULL DEFAULT '',
    status SMALLINT NOT NULL DEFAULT 0,
    pending_pair VARCHAR(50) NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE KEY user_relation_invite_pending_uidx (pending_pair),
    KEY user_relation_invite_target_idx (target_id, status),
    KEY user_relation_invite_user_idx (user_id, status),
    CONSTRAINT user_relation_invite_user_fk FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT user_relation_invite_target_fk FOREIGN KEY (target_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE `groups` (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(64) NOT NULL DEFAULT '',
    avatar VARCHAR(512) NOT NULL DEFAULT '',
    announcement VARCHAR(2000) NOT NULL DEFAULT '',
    join_policy SMALLINT NOT NULL DEFAULT 0,
    max_member INT NOT NULL DEFAULT 500,
    member_count INT NOT NULL DEFAULT 0,
    owner_id BIGINT NOT NULL,
    speak_status SMALLINT NOT NULL DEFAULT 1,
    status SMALLINT NOT NULL DEFAULT 1,
    creator_id BIGINT NOT NULL,
    updater_id BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE group_member (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    group_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    role SMALLINT NOT NULL DEFAULT 0,
    nickname VARCHAR(64) NOT NULL DEFAULT '',
    speak_status SMALLINT NOT NULL DEFAULT 1,
    muted_until BIGINT NULL,
    creator_id BIGINT NOT NULL DEFAULT 0,
    updater_id BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE KEY group_member_uidx (group_id, user_id),
    KEY group_member_user_idx (user_id),
    CONSTRAINT group_member_group_fk FOREIGN KEY (group_id) REFERENCES `groups` (id),
    CONSTRAINT group_member_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE rooms (
    room_id VARCHAR(64) NOT NULL PRIMARY KEY,
    session_type SMALLINT NOT NULL,
    last_message_id BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE messages (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    room_id VARCHAR(64) NOT NULL,
    message_id BIGINT NOT NULL,
    session_type SMALLINT NOT NULL,
    type SMALLINT NOT NULL,
    sender_id BIGINT NOT NULL,
    receiver_id BIGINT NOT NULL,
    action_id VARCHAR(64) NOT NULL,
    body TEXT NOT NULL,
    status SMALLINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE KEY messages_room_seq_uidx (room_id, message_id),
    UNIQUE KEY messages_sender_action_uidx (sender_id, action_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE server_meta (
    meta_key VARCHAR(64) NOT NULL PRIMARY KEY,
    meta_value VARCHAR(255) NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
