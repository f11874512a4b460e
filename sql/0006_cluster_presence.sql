-- Presence across brokers: which users are signed in on which broker. Both tables are
-- UNLOGGED: they describe live connections, which a crash of PostgreSQL ends anyway. Each
-- broker refreshes its row in `brokers` every few seconds; the rows of a broker unseen for
-- longer than the stale bound (killed, say) are ignored, and deleted by the others.
CREATE UNLOGGED TABLE brokers (
    id text PRIMARY KEY,
    seen_at timestamptz NOT NULL
);

CREATE UNLOGGED TABLE online_users (
    broker_id text NOT NULL REFERENCES brokers (id) ON DELETE CASCADE,
    user_id bigint NOT NULL,
    PRIMARY KEY (broker_id, user_id)
);

CREATE INDEX online_users_by_user ON online_users (user_id);
