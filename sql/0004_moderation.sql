-- Moderation and quotas (CONTRACT.md §12), in one transaction.
-- A disabled account keeps its row, memberships and messages; it cannot sign in.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;

-- Who created a group, for the groups-per-user quota (NULL for `all` and for groups
-- created before this migration, which count for nobody).
ALTER TABLE groups ADD COLUMN created_by bigint REFERENCES users (id);
CREATE INDEX groups_created_by ON groups (created_by) WHERE deleted_at IS NULL;

-- A deleted message keeps its row as a tombstone: its seq, sender and cid stay (so a
-- retried publish still gets its first seq), its body is emptied. Every existing row has
-- deleted = false, so the check need not scan them (NOT VALID still guards new writes).
ALTER TABLE messages ADD COLUMN deleted boolean NOT NULL DEFAULT false;
ALTER TABLE messages ADD CONSTRAINT messages_tombstone_empty CHECK (NOT deleted OR body = '') NOT VALID;
