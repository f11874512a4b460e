-- What `joint-broker import-legacy` created from the old chat's database, so that running it
-- again imports nothing twice, never takes an account or group made in Joint for one of the
-- old chat's (it adds old memberships only to accounts and groups it created), and never
-- puts back a member whom an admin removed after the import.
CREATE TABLE legacy_users (
    legacy_login text PRIMARY KEY,
    user_id      bigint NOT NULL UNIQUE REFERENCES users (id),
    imported_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE legacy_chats (
    legacy_name  text PRIMARY KEY,
    gid          bigint NOT NULL UNIQUE REFERENCES groups (gid),
    imported_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE legacy_memberships (
    legacy_login text NOT NULL,
    legacy_chat  text NOT NULL,
    imported_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (legacy_login, legacy_chat)
);
