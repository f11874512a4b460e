-- Messages: one row per (group, seq). No foreign keys: they would double the cost of each
-- insert, and groups and accounts are never deleted as rows. `at` is the database clock
-- at insert in milliseconds since the Unix epoch, stored once. A (sender, group, cid) is
-- stored once, so a retried publish never doubles a message.
CREATE TABLE messages (
    gid         bigint NOT NULL,
    seq         bigint NOT NULL,
    sender_id   bigint NOT NULL,
    cid         text,
    name        text NOT NULL,
    body        text NOT NULL,
    at          bigint NOT NULL,
    PRIMARY KEY (gid, seq)
);
CREATE UNIQUE INDEX messages_sender_cid ON messages (sender_id, gid, cid) WHERE cid IS NOT NULL;
