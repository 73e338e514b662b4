-- How many people joined through each invite link, so owners and admins can judge which
-- live links to revoke.
ALTER TABLE group_invite_link ADD COLUMN uses INTEGER NOT NULL DEFAULT 0;
