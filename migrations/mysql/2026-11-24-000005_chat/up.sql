-- Per-user conversation state (read position, pin, mute) and per-user hidden messages
-- ("delete for me"). Messages themselves live in the message store.
CREATE TABLE conversation_state (
    user_id BIGINT NOT NULL,
    room_id VARCHAR(64) NOT NULL,
    session_type SMALLINT NOT NULL,
    target_id BIGINT NOT NULL,
    read_message_id BIGINT NOT NULL DEFAULT 0,
    pinned BOOLEAN NOT NULL DEFAULT FALSE,
    muted BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id),
    KEY conversation_state_room_read_idx (room_id, read_message_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE message_hides (
    user_id BIGINT NOT NULL,
    room_id VARCHAR(64) NOT NULL,
    message_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, message_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
