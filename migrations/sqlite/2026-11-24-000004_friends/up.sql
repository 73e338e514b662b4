-- Per-user history clearing ("delete the conversation for me"): messages of room_id up to
-- cleared_to_message_id are hidden from user_id's history; nobody else is affected.
CREATE TABLE conversation_clears (
    user_id BIGINT NOT NULL,
    room_id TEXT NOT NULL,
    cleared_to_message_id BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id)
);
CREATE INDEX users_nickname_id_idx ON users (status, nickname, id);
