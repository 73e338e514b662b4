-- Email: an account's address (verified before it counts), the one-time codes mailed to
-- prove an address or reset a password, and the outbox mail is sent from.

-- `email` is the address as typed: the verified one, or (with auth.require_email) the one a
-- new account registered with until it is verified. `email_norm` (lower-cased) is set only
-- while the address is verified: an address belongs to one account, compared without case,
-- and an unverified claim blocks no one.
ALTER TABLE users ADD COLUMN email TEXT NULL;
ALTER TABLE users ADD COLUMN email_norm TEXT NULL;
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE;
CREATE UNIQUE INDEX users_email_norm_uidx ON users (email_norm);

-- One live code per account and purpose (1 bind an address, 2 reset the password, 3 verify
-- the address an account registered with): a new one ends the previous one. Only the code's
-- keyed hash is kept; `tries` counts wrong answers.
CREATE TABLE email_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL,
    purpose SMALLINT NOT NULL,
    email TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL,
    used_at BIGINT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX email_codes_user_idx ON email_codes (user_id, purpose);

-- Mail waiting to be sent (state 0), sent (1) or given up (2). A sender claims a row by
-- writing its lease (`claimed_by`, `claim_until`) in one conditional update, so with many
-- instances each mail is sent by one of them; a lease that runs out (its instance died) lets
-- another take the row over. The bodies are cleared once the mail is sent.
CREATE TABLE mail_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT NOT NULL,
    state SMALLINT NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_by TEXT NULL,
    claim_until BIGINT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    sent_at BIGINT NULL
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (state, next_attempt_at);
