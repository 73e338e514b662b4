-- The relational tables of the original JIM (users, user_relation, user_relation_invite,
-- groups, group_member) plus sessions, the SQL message store (rooms, messages) and server_meta.
-- Times are Unix milliseconds (BIGINT) on both backends. Forward-only: never drop data here.

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL,
    -- Lower-cased username: uniqueness and lookups are case-insensitive on both backends.
    username_norm TEXT NOT NULL,
    password_hash TEXT NOT NULL DEFAULT '',
    nickname TEXT NOT NULL DEFAULT '',
    avatar TEXT NOT NULL DEFAULT '',
    birth_date TEXT NULL,
    online_status SMALLINT NOT NULL DEFAULT 1,
    status SMALLINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_username_norm_uidx ON users (username_norm);
CREATE INDEX users_nickname_idx ON users (nickname);

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id),
    token_hash TEXT NOT NULL,
    user_agent TEXT NOT NULL DEFAULT '',
    ip TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NULL
);
CREATE UNIQUE INDEX sessions_token_hash_uidx ON sessions (token_hash);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE user_relation (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_a_id BIGINT NOT NULL REFERENCES users (id),
    user_b_id BIGINT NOT NULL REFERENCES users (id),
    status SMALLINT NOT NULL DEFAULT 0,
    block_status SMALLINT NOT NULL DEFAULT 0,
    remark_on_a TEXT NOT NULL DEFAULT '',
    remark_on_b TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (user_a_id < user_b_id)
);
CREATE UNIQUE INDEX user_relation_pair_uidx ON user_relation (user_a_id, user_b_id);
CREATE INDEX user_relation_b_idx ON user_relation (user_b_id);

CREATE TABLE user_relation_invite (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id),
    target_id BIGINT NOT NULL REFERENCES users (id),
    note TEXT NOT NULL DEFAULT '',
    reply TEXT NOT NULL DEFAULT '',
    status SMALLINT NOT NULL DEFAULT 0,
    -- "<min>_<max>" while pending, NULL once answered: at most one pending invite per pair.
    pending_pair TEXT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX user_relation_invite_pending_uidx ON user_relation_invite (pending_pair);
CREATE INDEX user_relation_invite_target_idx ON user_relation_invite (target_id, status);
CREATE INDEX user_relation_invite_user_idx ON user_relation_invite (user_id, status);

CREATE TABLE groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL DEFAULT '',
    avatar TEXT NOT NULL DEFAULT '',
    announcement TEXT NOT NULL DEFAULT '',
    join_policy SMALLINT NOT NULL DEFAULT 0,
    max_member INTEGER NOT NULL DEFAULT 500,
    member_count INTEGER NOT NULL DEFAULT 0,
    owner_id BIGINT NOT NULL,
    speak_status SMALLINT NOT NULL DEFAULT 1,
    status SMALLINT NOT NULL DEFAULT 1,
    creator_id BIGINT NOT NULL,
    updater_id BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE group_member (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id BIGINT NOT NULL REFERENCES groups (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    role SMALLINT NOT NULL DEFAULT 0,
    nickname TEXT NOT NULL DEFAULT '',
    speak_status SMALLINT NOT NULL DEFAULT 1,
    muted_until BIGINT NULL,
    creator_id BIGINT NOT NULL DEFAULT 0,
    updater_id BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX group_member_uidx ON group_member (group_id, user_id);
CREATE INDEX group_member_user_idx ON group_member (user_id);

-- One row per conversation: the per-room sequence lives here and is advanced in the same
-- transaction as the message insert.
CREATE TABLE rooms (
    room_id TEXT PRIMARY KEY NOT NULL,
    session_type SMALLINT NOT NULL,
    last_message_id BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id TEXT NOT NULL,
    message_id BIGINT NOT NULL,
    session_type SMALLINT NOT NULL,
    type SMALLINT NOT NULL,
    sender_id BIGINT NOT NULL,
    receiver_id BIGINT NOT NULL,
    action_id TEXT NOT NULL,
    body TEXT NOT NULL,
    status SMALLINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX messages_room_seq_uidx ON messages (room_id, message_id);
CREATE UNIQUE INDEX messages_sender_action_uidx ON messages (sender_id, action_id);

CREATE TABLE server_meta (
    meta_key TEXT PRIMARY KEY NOT NULL,
    meta_value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
