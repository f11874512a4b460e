//! Rate-limit state shared by every broker of the database (sql/0007_limits.sql). Each
//! operation reads a key's state, lets the caller's rule decide, and writes the outcome,
//! all in one transaction under a lock of the key, so that verdicts reached on different
//! brokers at once are judged one after the other. Times come from PostgreSQL's clock,
//! the one clock all brokers share.

use super::{db_error, Store, UserId};
use crate::error::BrokerError;
use std::time::{Duration, SystemTime};

/// The class of the advisory locks of rate-limit keys (a two-key lock: the second key is
/// the hash of the limit's key; two keys that share a hash merely wait for each other).
const LIMIT_LOCK_CLASS: i32 = 0x4a4c_494d;

/// One backoff key's failures as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    /// Failures counted since the last success or quiet spell.
    pub count: i32,
    /// Until when every attempt is refused.
    pub blocked_until: Option<SystemTime>,
    /// When the latest block was imposed.
    pub blocked_at: Option<SystemTime>,
    /// When the last failure was counted.
    pub last_failure: SystemTime,
}

/// A user's publish token bucket as stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Tokens left at `at`.
    pub tokens: f64,
    /// When `tokens` was counted.
    pub at: SystemTime,
}

/// How many rows each table lost to a sweep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Backoff keys neither blocked nor remembered any longer.
    pub backoffs: u64,
    /// Windows with no attempt left in them.
    pub windows: u64,
    /// Buckets full again, the same as no bucket.
    pub buckets: u64,
}

async fn lock_keys(tx: &deadpool_postgres::Transaction<'_>, keys: &[String]) -> Result<(), BrokerError> {
    // Taken in one order everywhere, so two brokers locking overlapping keys cannot deadlock.
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, h)
           FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest($2::text[]) AS k ORDER BY h) AS sorted",
        &[&LIMIT_LOCK_CLASS, &keys],
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

impl Store {
    /// The database's clock now and the longest block still running among `keys`.
    pub async fn backoff_blocked(&self, keys: &[String]) -> Result<(SystemTime, Option<Duration>), BrokerError> {
        self.timed(async {
            let client = self.client().await?;
            let row = client
                .query_one(
                    "SELECT clock_timestamp(), max(blocked_until) FROM limit_backoffs WHERE key = ANY($1)",
                    &[&keys],
                )
                .await
                .map_err(db_error)?;
            let now: SystemTime = row.get(0);
            let until: Option<SystemTime> = row.get(1);
            Ok((now, until.and_then(|until| until.duration_since(now).ok()).filter(|wait| !wait.is_zero())))
        })
        .await
    }

    /// Reads the failures of `keys` (in that order; `None` for a key with none) under their
    /// locks, lets `judge` decide with the database's clock, and stores what it leaves when
    /// it accepts. A refusal (`Err(wait)`) changes nothing.
    pub async fn backoff_judge(
        &self,
        keys: &[String],
        judge: impl FnOnce(&mut [Option<Failures>], SystemTime) -> Result<(), Duration>,
    ) -> Result<Result<(), Duration>, BrokerError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            lock_keys(&tx, keys).await?;
            let rows = tx
                .query(
                    "SELECT b.failures, b.blocked_until, b.blocked_at, b.last_failure, clock_timestamp()
                       FROM unnest($1::text[]) WITH ORDINALITY AS k(key, n)
                       LEFT JOIN limit_backoffs b ON b.key = k.key
                      ORDER BY k.n",
                    &[&keys],
                )
                .await
                .map_err(db_error)?;
            let now: SystemTime = rows.first().map_or_else(SystemTime::now, |row| row.get(4));
            let mut states: Vec<Option<Failures>> = rows
                .iter()
                .map(|row| {
                    row.get::<_, Option<i32>>(0).map(|count| Failures {
                        count,
                        blocked_until: row.get(1),
                        blocked_at: row.get(2),
                        last_failure: row.get(3),
                    })
                })
                .collect();
            let verdict = judge(&mut states, now);
            if verdict.is_ok() {
                let kept: Vec<(&String, Failures)> =
                    keys.iter().zip(&states).filter_map(|(key, state)| state.map(|s| (key, s))).collect();
                let names: Vec<&str> = kept.iter().map(|(key, _)| key.as_str()).collect();
                let counts: Vec<i32> = kept.iter().map(|(_, s)| s.count).collect();
                let untils: Vec<Option<SystemTime>> = kept.iter().map(|(_, s)| s.blocked_until).collect();
                let ats: Vec<Option<SystemTime>> = kept.iter().map(|(_, s)| s.blocked_at).collect();
                let lasts: Vec<SystemTime> = kept.iter().map(|(_, s)| s.last_failure).collect();
                tx.execute(
                    "INSERT INTO limit_backoffs (key, failures, blocked_until, blocked_at, last_failure)
                     SELECT * FROM unnest($1::text[], $2::integer[], $3::timestamptz[], $4::timestamptz[],
                                          $5::timestamptz[])
                     ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,
                         blocked_until = excluded.blocked_until, blocked_at = excluded.blocked_at,
                         last_failure = excluded.last_failure",
                    &[&names, &counts, &untils, &ats, &lasts],
                )
                .await
                .map_err(db_error)?;
            }
            tx.commit().await.map_err(db_error)?;
            Ok(verdict)
        })
        .await
    }

    /// Reads the attempt times of `key`'s window under its lock, lets `attempt` decide with
    /// the database's clock (it prunes and appends), and stores the times it leaves when
    /// it accepts.
    pub async fn window_attempt(
        &self,
        key: &str,
        attempt: impl FnOnce(&mut Vec<SystemTime>, SystemTime) -> Result<(), Duration>,
    ) -> Result<Result<(), Duration>, BrokerError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            let keys = [key.to_owned()];
            lock_keys(&tx, &keys).await?;
            let row = tx
                .query_one("SELECT (SELECT times FROM limit_windows WHERE key = $1), clock_timestamp()", &[&key])
                .await
                .map_err(db_error)?;
            let mut times: Vec<SystemTime> = row.get::<_, Option<Vec<SystemTime>>>(0).unwrap_or_default();
            let verdict = attempt(&mut times, row.get(1));
            if verdict.is_ok() {
                tx.execute(
                    "INSERT INTO limit_windows (key, times) VALUES ($1, $2)
                     ON CONFLICT (key) DO UPDATE SET times = excluded.times",
                    &[&key, &times],
                )
                .await
                .map_err(db_error)?;
            }
            tx.commit().await.map_err(db_error)?;
            Ok(verdict)
        })
        .await
    }

    /// Reads `user`'s publish bucket under a row lock (made with `full` tokens when there
    /// is none), lets `lease` take tokens with the database's clock, and stores the bucket
    /// it leaves.
    pub async fn bucket_lease<T>(
        &self,
        user: UserId,
        full: f64,
        lease: impl FnOnce(Bucket, SystemTime) -> (Bucket, T),
    ) -> Result<T, BrokerError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            tx.execute(
                "INSERT INTO limit_buckets (user_id, tokens, at) VALUES ($1, $2, clock_timestamp())
                 ON CONFLICT (user_id) DO NOTHING",
                &[&user, &full],
            )
            .await
            .map_err(db_error)?;
            let row = tx
                .query_one(
                    "SELECT tokens, at, clock_timestamp() FROM limit_buckets WHERE user_id = $1 FOR UPDATE",
                    &[&user],
                )
                .await
                .map_err(db_error)?;
            let (bucket, taken) = lease(Bucket { tokens: row.get(0), at: row.get(1) }, row.get(2));
            tx.execute(
                "UPDATE limit_buckets SET tokens = $2, at = $3 WHERE user_id = $1",
                &[&user, &bucket.tokens, &bucket.at],
            )
            .await
            .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            Ok(taken)
        })
        .await
    }

    /// Deletes rate-limit rows that no longer hold anything: backoff keys unblocked and
    /// without a failure for `forget_after`, windows whose attempts are all older than
    /// `window`, and buckets untouched for `full_after` (full again by then).
    pub async fn sweep_limits(
        &self,
        forget_after: Duration,
        window: Duration,
        full_after: Duration,
    ) -> Result<Swept, BrokerError> {
        self.timed(async {
            let client = self.client().await?;
            let secs = |d: Duration| d.as_secs_f64();
            let backoffs = client
                .execute(
                    "DELETE FROM limit_backoffs
                      WHERE last_failure < clock_timestamp() - make_interval(secs => $1)
                        AND (blocked_until IS NULL OR blocked_until < clock_timestamp())",
                    &[&secs(forget_after)],
                )
                .await
                .map_err(db_error)?;
            let windows = client
                .execute(
                    "DELETE FROM limit_windows
                      WHERE times[cardinality(times)] IS NULL
                         OR times[cardinality(times)] < clock_timestamp() - make_interval(secs => $1)",
                    &[&secs(window)],
                )
                .await
                .map_err(db_error)?;
            let buckets = client
                .execute(
                    "DELETE FROM limit_buckets WHERE at < clock_timestamp() - make_interval(secs => $1)",
                    &[&secs(full_after)],
                )
                .await
                .map_err(db_error)?;
            Ok(Swept { backoffs, windows, buckets })
        })
        .await
    }
}
