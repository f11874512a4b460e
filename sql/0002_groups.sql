-- Groups and memberships. A deleted group keeps its row so that its gid is never reused
-- and its name is free again for a new group (the unique index covers live groups only).
CREATE TABLE groups (
    gid         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    admin_id    bigint REFERENCES users (id),
    last_seq    bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);
CREATE UNIQUE INDEX groups_live_name ON groups (name) WHERE deleted_at IS NULL;

CREATE TABLE memberships (
    gid         bigint NOT NULL REFERENCES groups (gid),
    user_id     bigint NOT NULL REFERENCES users (id),
    joined_at   timestamptz NOT NULL DEFAULT statement_timestamp(),
    read_seq    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (gid, user_id)
);
CREATE INDEX memberships_user_id ON memberships (user_id);

-- The global group every account belongs to. It has no admin and cannot be deleted.
INSERT INTO groups (name) VALUES ('all');
