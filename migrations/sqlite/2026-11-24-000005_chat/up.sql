-- Per-user conversation state (read position, pin, mute) and per-user hidden messages
-- ("delete for me"). Messages themselves live in the message store.
CREATE TABLE conversation_state (
    user_id BIGINT NOT NULL,
    room_id TEXT NOT NULL,
    session_type SMALLINT NOT NULL,
    target_id BIGINT NOT NULL,
    read_message_id BIGINT NOT NULL DEFAULT 0,
    pinned BOOLEAN NOT NULL DEFAULT FALSE,
    muted BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id)
);
CREATE INDEX conversation_state_room_read_idx ON conversation_state (room_id, read_message_id);

CREATE TABLE message_hides (
    user_id BIGINT NOT NULL,
    room_id TEXT NOT NULL,
    message_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, message_id)
);
