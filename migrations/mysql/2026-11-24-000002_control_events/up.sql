-- Admin actions taken outside a running server (the CLI) that servers must act on, such as
-- closing a disabled user's sockets. Every server polls this table for new rows.
CREATE TABLE control_events (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    kind VARCHAR(32) NOT NULL,
    user_id BIGINT NOT NULL,
    payload VARCHAR(2000) NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    KEY control_events_created_idx (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
