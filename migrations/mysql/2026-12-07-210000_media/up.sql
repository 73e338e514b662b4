-- Uploaded media (photos, voice notes, videos, files, avatars): one row per upload, the
-- bytes in the media store under keys derived from the random id. `state`: 0 uploading
-- (bytes reserved against the quota), 1 stored, 2 being deleted.
CREATE TABLE media (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    owner_id BIGINT NOT NULL,
    kind SMALLINT NOT NULL,
    state SMALLINT NOT NULL,
    mime VARCHAR(128) NOT NULL,
    size BIGINT NOT NULL,
    sha256 VARCHAR(64) NOT NULL,
    name VARCHAR(1024) NOT NULL,
    width INT NULL,
    height INT NULL,
    thumb_mime VARCHAR(128) NULL,
    thumb_size BIGINT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    KEY media_owner_idx (owner_id),
    KEY media_state_idx (state, updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- What keeps an upload alive and who may download it: a message in a conversation
-- (ref_kind 1; party_a/party_b the two users of a private chat, or the group/world id), a
-- user's avatar (2) or a group's avatar (3; party_a the user or group).
CREATE TABLE media_refs (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    media_id VARCHAR(64) NOT NULL,
    ref_kind SMALLINT NOT NULL,
    room_id VARCHAR(64) NOT NULL,
    session_type SMALLINT NOT NULL,
    party_a BIGINT NOT NULL,
    party_b BIGINT NOT NULL,
    ref_key VARCHAR(200) NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE KEY media_refs_unique_idx (media_id, ref_kind, room_id, ref_key),
    KEY media_refs_key_idx (ref_kind, room_id, ref_key),
    KEY media_refs_party_idx (ref_kind, party_a)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Bytes each user holds (stored uploads and those in flight), kept beside the rows so a
-- quota check is one conditional update, safe under concurrent uploads.
CREATE TABLE media_usage (
    user_id BIGINT NOT NULL PRIMARY KEY,
    bytes BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
