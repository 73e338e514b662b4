-- Uploaded media (photos, voice notes, videos, files, avatars): one row per upload, the
-- bytes in the media store under keys derived from the random id. `state`: 0 uploading
-- (bytes reserved against the quota), 1 stored, 2 being deleted.
CREATE TABLE media (
    id TEXT PRIMARY KEY NOT NULL,
    owner_id BIGINT NOT NULL,
    kind SMALLINT NOT NULL,
    state SMALLINT NOT NULL,
    mime TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    name TEXT NOT NULL,
    width INTEGER,
    height INTEGER,
    thumb_mime TEXT,
    thumb_size BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX media_owner_idx ON media (owner_id);
CREATE INDEX media_state_idx ON media (state, updated_at);

-- What keeps an upload alive and who may download it: a message in a conversation
-- (ref_kind 1; party_a/party_b the two users of a private chat, or the group/world id), a
-- user's avatar (2) or a group's avatar (3; party_a the user or group).
CREATE TABLE media_refs (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    media_id TEXT NOT NULL,
    ref_kind SMALLINT NOT NULL,
    room_id TEXT NOT NULL,
    session_type SMALLINT NOT NULL,
    party_a BIGINT NOT NULL,
    party_b BIGINT NOT NULL,
    ref_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX media_refs_unique_idx ON media_refs (media_id, ref_kind, room_id, ref_key);
CREATE INDEX media_refs_key_idx ON media_refs (ref_kind, room_id, ref_key);
CREATE INDEX media_refs_party_idx ON media_refs (ref_kind, party_a);

-- Bytes each user holds (stored uploads and those in flight), kept beside the rows so a
-- quota check is one conditional update, safe under concurrent uploads.
CREATE TABLE media_usage (
    user_id BIGINT PRIMARY KEY NOT NULL,
    bytes BIGINT NOT NULL
);
