-- Email: an account's address (verified before it counts), the one-time codes mailed to
-- prove an address or reset a password, and the outbox mail is sent from.

-- `email` is the address as typed: the verified one, or (with auth.require_email) the one a
-- new account registered with until it is verified. `email_norm` (lower-cased) is set only
-- while the address is verified: an address belongs to one account, compared without case,
-- and an unverified claim blocks no one.
ALTER TABLE users ADD COLUMN email VARCHAR(254) NULL;
ALTER TABLE users ADD COLUMN email_norm VARCHAR(254) NULL;
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE;
CREATE UNIQUE INDEX users_email_norm_uidx ON users (email_norm);

-- One live code per account and purpose (1 bind an address, 2 reset the password, 3 verify
-- the address an account registered with): a new one ends the previous one. Only the code's
-- keyed hash is kept; `tries` counts wrong answers.
CREATE TABLE email_codes (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    purpose SMALLINT NOT NULL,
    email VARCHAR(254) NOT NULL,
    code_hash VARCHAR(64) NOT NULL,
    tries INT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL,
    used_at BIGINT NULL,
    created_at BIGINT NOT NULL,
    KEY email_codes_user_idx (user_id, purpose)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Mail waiting to be sent (state 0), sent (1) or given up (2). A sender claims a row by
-- writing its lease (`claimed_by`, `claim_until`) in one conditional update, so with many
-- instances each mail is sent by one of them; a lease that runs out (its instance died) lets
-- another take the row over. The bodies are cleared once the mail is sent.
CREATE TABLE mail_outbox (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    kind VARCHAR(32) NOT NULL,
    recipient VARCHAR(254) NOT NULL,
    subject VARCHAR(998) NOT NULL,
    body_text MEDIUMTEXT NOT NULL,
    body_html MEDIUMTEXT NOT NULL,
    state SMALLINT NOT NULL DEFAULT 0,
    attempts INT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_by VARCHAR(64) NULL,
    claim_until BIGINT NULL,
    last_error VARCHAR(1000) NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    sent_at BIGINT NULL,
    KEY mail_outbox_due_idx (state, next_attempt_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
