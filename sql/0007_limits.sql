-- Rate-limit state shared by every broker of one database (issue 11), so that spreading
-- attempts over brokers gains nothing. UNLOGGED: no WAL, so cheap to write; a crash of
-- PostgreSQL empties these tables, which forgives pending backoffs and refills buckets,
-- an acceptable loss for limits. No foreign keys: rows are swept when they expire.

-- Failed password checks and failed `auth` per key ("pw_login IP LOGIN", "pw_ip IP",
-- "auth_ip IP"): the count, the current block and when it was imposed.
CREATE UNLOGGED TABLE limit_backoffs (
    key           text PRIMARY KEY,
    failures      integer NOT NULL,
    blocked_until timestamptz,
    blocked_at    timestamptz,
    last_failure  timestamptz NOT NULL
);

-- Sliding windows of attempts per key ("register IP"): the times of the attempts counted
-- within the window.
CREATE UNLOGGED TABLE limit_windows (
    key   text PRIMARY KEY,
    times timestamptz[] NOT NULL
);

-- Publish token buckets per user: the tokens left at `at`; brokers lease from them.
CREATE UNLOGGED TABLE limit_buckets (
    user_id bigint PRIMARY KEY,
    tokens  double precision NOT NULL,
    at      timestamptz NOT NULL
);
