-- Admin actions taken outside a running server (the CLI) that servers must act on, such as
-- closing a disabled user's sockets. Every server polls this table for new rows.
CREATE TABLE control_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    user_id BIGINT NOT NULL,
    payload TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX control_events_created_idx ON control_events (created_at);
