-- Accounts and their sessions.
-- A deleted account keeps its row (its login stays retired and its past messages keep a
-- sender) with password NULL and deleted_at set.
CREATE TABLE users (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login       text COLLATE "C" NOT NULL UNIQUE,
    name        text NOT NULL,
    password    text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    CHECK ((deleted_at IS NULL) = (password IS NOT NULL))
);

-- Session tokens, stored only as the SHA-256 of their 32 random bytes.
CREATE TABLE sessions (
    token_hash  bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id     bigint NOT NULL REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_used   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_last_used ON sessions (last_used);
