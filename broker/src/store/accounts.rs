//! Accounts and sessions.

use super::groups::{groups_of, leave_everything, GroupChange, ALL};
use super::{db_error, Account, Committed, SessionLookup, Store, UserId};
use crate::error::BrokerError;
use crate::token::TokenHash;
use deadpool_postgres::GenericClient;
use joint_wire::message::Group;
use joint_wire::ErrorCode;
use std::time::Duration;

/// A live account's password hash, for checking a login.
/// (No `Debug`: the hash must never reach a log by accident.)
pub struct Credentials {
    /// The account.
    pub account: Account,
    /// Its scrypt PHC string.
    pub password: String,
    /// Whether an operator disabled the account (`account_disabled`).
    pub disabled: bool,
}

/// What deleting an account ended and caused.
#[derive(Debug, Clone, Default)]
pub struct AccountDeletion {
    /// The account's sessions, now gone.
    pub tokens: Vec<TokenHash>,
    /// Events for the members of the groups the account was in.
    pub changes: Vec<GroupChange>,
}

/// How often `delete_account` starts over when memberships change under it.
const DELETE_ATTEMPTS: usize = 5;

fn hashes(rows: &[tokio_postgres::Row]) -> Vec<TokenHash> {
    rows.iter().filter_map(|r| r.get::<_, Vec<u8>>(0).try_into().ok()).collect()
}

fn lifetime_secs(lifetime: Duration) -> f64 {
    lifetime.as_secs_f64()
}

/// Inserts an account and its membership of `all` (`login_taken` if the login is or was used).
pub(crate) async fn insert_account(
    db: &impl GenericClient,
    login: &str,
    name: &str,
    password_hash: &str,
) -> Result<UserId, BrokerError> {
    let row = db
        .query_opt(
            "INSERT INTO users (login, name, password) VALUES ($1, $2, $3)
             ON CONFLICT (login) DO NOTHING RETURNING id",
            &[&login, &name, &password_hash],
        )
        .await
        .map_err(db_error)?
        .ok_or_else(|| BrokerError::refused(ErrorCode::LoginTaken, format!("the login {login:?} is taken")))?;
    let id: UserId = row.get(0);
    db.execute(
        "INSERT INTO memberships (gid, user_id, read_seq)
         SELECT gid, $1, last_seq FROM groups WHERE name = $2 AND admin_id IS NULL AND deleted_at IS NULL",
        &[&id, &ALL],
    )
    .await
    .map_err(db_error)?;
    Ok(id)
}

impl Store {
    /// Creates an account, its membership of `all` and its first session.
    pub async fn register(
        &self,
        login: &str,
        name: &str,
        password_hash: &str,
        token: &TokenHash,
    ) -> Result<(Account, Vec<Group>), BrokerError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            let id = insert_account(&tx, login, name, password_hash).await?;
            tx.execute("INSERT INTO sessions (token_hash, user_id) VALUES ($1, $2)", &[&token.as_slice(), &id])
                .await
                .map_err(db_error)?;
            let groups = groups_of(&tx, id).await?;
            tx.commit().await.map_err(db_error)?;
            Ok((Account { id, login: login.to_owned(), name: name.to_owned() }, groups))
        })
        .await
    }

    /// A live account's id, name, password hash and whether it is disabled.
    pub async fn credentials(&self, login: &str) -> Result<Option<Credentials>, BrokerError> {
        self.timed(async {
            let client = self.client().await?;
            let row = client
                .query_opt(
                    "SELECT id, login, name, password, disabled_at IS NOT NULL FROM users
                     WHERE login = $1 AND deleted_at IS NULL",
                    &[&login],
                )
                .await
                .map_err(db_error)?;
            Ok(row.map(|r| Credentials {
                account: Account { id: r.get(0), login: r.get(1), name: r.get(2) },
                password: r.get(3),
                disabled: r.get(4),
            }))
        })
        .await
    }

    /// The password hash of a live account.
    pub async fn password_of(&self, user: UserId) -> Result<Option<String>, BrokerError> {
        self.timed(async {
            let client = self.client().await?;
            let row = client
                .query_opt("SELECT password FROM users WHERE id = $1 AND deleted_at IS NULL", &[&user])
                .await
                .map_err(db_error)?;
            Ok(row.map(|r| r.get(0)))
        })
        .await
    }

    /// Stores a new session for `user` and returns the user's groups, provided the account
    /// is still live with the password hash that was just verified, and not disabled. The
    /// share lock orders this against a concurrent `passwd`, `delete_account` or
    /// `user_disable`: either they wait and then end this session too, or this waits and
    /// finds the hash changed (`bad_credentials`) or the account disabled (`account_disabled`).
    pub async fn create_session(
        &self,
        user: UserId,
        verified: &str,
        token: &TokenHash,
    ) -> Result<Vec<Group>, BrokerError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            let live = tx
                .query_opt(
                    "SELECT disabled_at IS NOT NULL FROM users
                     WHERE id = $1 AND deleted_at IS NULL AND password = $2 FOR SHARE",
                    &[&user, &verified],
                )
                .await
                .map_err(db_error)?;
            match live.map(|row| row.get::<_, bool>(0)) {
                None => return Err(BrokerError::refused(ErrorCode::BadCredentials, "wrong login or password")),
                Some(true) => return Err(super::moderation::account_disabled()),
                Some(false) => {}
            }
            tx.execute("INSERT INTO sessions (token_hash, user_id) VALUES ($1, $2)", &[&token.as_slice(), &user])
                .await
                .map_err(db_error)?;
            let groups = groups_of(&tx, user).await?;
            tx.commit().await.map_err(db_error)?;
            Ok(groups)
        })
        .await
    }

    /// The account and groups of a live, unexpired session, marking it used; a session of
    /// a disabled account is reported as such and left untouched.
    pub async fn session(&self, token: &TokenHash, lifetime: Duration) -> Result<SessionLookup, BrokerError> {
        self.timed(async {
            let client = self.client().await?;
            let row = client
                .query_opt(
                    "UPDATE sessions s SET last_used = CASE WHEN u.disabled_at IS NULL THEN now() ELSE s.last_used END
                     FROM users u
                     WHERE s.token_hash = $1 AND u.id = s.user_id AND u.deleted_at IS NULL
                       AND s.last_used > now() - make_interval(secs => $2)
                     RETURNING u.id, u.login, u.name, u.disabled_at IS NOT NULL",
                    &[&token.as_slice(), &lifetime_secs(lifetime)],
                )
                .await
                .map_err(db_error)?;
            let Some(row) = row else { return Ok(SessionLookup::Unknown) };
            if row.get::<_, bool>(3) {
                return Ok(SessionLookup::Disabled);
            }
            let account = Account { id: row.get(0), login: row.get(1), name: row.get(2) };
            let groups = groups_of(&client, account.id).await?;
            Ok(SessionLookup::Live(account, groups))
        })
        .await
    }

    /// Deletes a session (logout).
    pub async fn end_session(&self, token: &TokenHash) -> Result<(), BrokerError> {
        self.timed(async {
            let client = self.client().await?;
            client
                .execute("DELETE FROM sessions WHERE token_hash = $1", &[&token.as_slice()])
                .await
                .map_err(db_error)?;
            Ok(())
        })
        .await
    }

    /// Marks the sessions of open connections as used now and deletes the other sessions
    /// unused for longer than `lifetime`, in one statement so that a session in use never
    /// expires; returns the deleted hashes.
    pub async fn sweep_sessions(
        &self,
        in_use: &[TokenHash],
        lifetime: Duration,
    ) -> Result<Vec<TokenHash>, BrokerError> {
        let in_use: Vec<&[u8]> = in_use.iter().map(|t| t.as_slice()).collect();
        self.timed(async {
            let client = self.client().await?;
            let rows = client
                .query(
                    "WITH touched AS (
                         UPDATE sessions SET last_used = now() WHERE token_hash = ANY($1) RETURNING token_hash
                     )
                     DELETE FROM sessions
                     WHERE last_used <= now() - make_interval(secs => $2)
                       AND token_hash NOT IN (SELECT token_hash FROM touched)
                     RETURNING token_hash",
                    &[&in_use, &lifetime_secs(lifetime)],
                )
                .await
                .map_err(db_error)?;
            Ok(hashes(&rows))
        })
        .await
    }

    /// A live account as stored now.
    pub async fn account(&self, user: UserId) -> Result<Account, BrokerError> {
        self.timed(async {
            let client = self.client().await?;
            let row = client
                .query_opt("SELECT id, login, name FROM users WHERE id = $1 AND deleted_at IS NULL", &[&user])
                .await
                .map_err(db_error)?
                .ok_or_else(|| BrokerError::refused(ErrorCode::Unauthenticated, "this account was deleted"))?;
            Ok(Account { id: row.get(0), login: row.get(1), name: row.get(2) })
        })
        .await
    }

    /// Changes a display name.
    pub async fn set_name(&self, user: UserId, name: &str) -> Result<Account, BrokerError> {
        self.timed(async {
            let client = self.client().await?;
            let row = client
                .query_one("UPDATE users SET name = $2 WHERE id = $1 RETURNING id, login, name", &[&user, &name])
                .await
                .map_err(db_error)?;
            Ok(Account { id: row.get(0), login: row.get(1), name: row.get(2) })
        })
        .await
    }

    /// Stores a new password hash and ends every session but `keep`; returns the ended ones.
    pub async fn change_password(
        &self,
        user: UserId,
        hash: &str,
        keep: &TokenHash,
    ) -> Result<Vec<TokenHash>, BrokerError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            tx.execute("UPDATE users SET password = $2 WHERE id = $1", &[&user, &hash]).await.map_err(db_error)?;
            let rows = tx
                .query(
                    "DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2 RETURNING token_hash",
                    &[&user, &keep.as_slice()],
                )
                .await
                .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            Ok(hashes(&rows))
        })
        .await
    }

    /// Deletes an account: sessions end, memberships end (administered groups pass on or are
    /// deleted), the login is retired and past messages stay.
    pub async fn delete_account(&self, user: UserId, login: &str) -> Result<Committed<AccountDeletion>, BrokerError> {
        self.timed(async {
            let mut client = self.client().await?;
            for _ in 0..DELETE_ATTEMPTS {
                let tx = client.transaction().await.map_err(db_error)?;
                // Groups first, then the account, the order every group change takes (it
                // locks its group, then the accounts it names): no deadlock between the two.
                let (changes, gids) = leave_everything(&tx, user, login).await?;
                tx.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", &[&user]).await.map_err(db_error)?;
                // A membership added after the groups were locked and before the account
                // was: locking its group now, while holding the account, could deadlock with
                // a change of that group waiting for the account. Start over instead; the
                // next round locks that group with the others.
                let late: i64 = tx
                    .query_one("SELECT count(*) FROM memberships WHERE user_id = $1", &[&user])
                    .await
                    .map_err(db_error)?
                    .get(0);
                if late > 0 {
                    tx.rollback().await.map_err(db_error)?;
                    continue;
                }
                let rows = tx
                    .query("DELETE FROM sessions WHERE user_id = $1 RETURNING token_hash", &[&user])
                    .await
                    .map_err(db_error)?;
                tx.execute("UPDATE users SET password = NULL, deleted_at = now() WHERE id = $1", &[&user])
                    .await
                    .map_err(db_error)?;
                return self.commit(tx, gids, AccountDeletion { tokens: hashes(&rows), changes }).await;
            }
            Err(BrokerError::Unavailable(anyhow::anyhow!("memberships kept changing during account deletion")))
        })
        .await
    }

    /// One page of live accounts after `after` in login byte order, and whether more follow.
    pub async fn users(&self, after: Option<&str>, limit: i64) -> Result<(Vec<Account>, bool), BrokerError> {
        self.timed(async {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT id, login, name FROM users WHERE deleted_at IS NULL AND ($1::text IS NULL OR login > $1)
                     ORDER BY login LIMIT $2",
                    &[&after, &(limit + 1)],
                )
                .await
                .map_err(db_error)?;
            let mut users: Vec<Account> =
                rows.iter().map(|r| Account { id: r.get(0), login: r.get(1), name: r.get(2) }).collect();
            let more = users.len() as i64 > limit;
            users.truncate(limit as usize);
            Ok((users, more))
        })
        .await
    }

    /// A live account and the names of the groups it shares with `caller`.
    pub async fn user(&self, caller: UserId, login: &str) -> Result<(Account, Vec<String>), BrokerError> {
        self.timed(async {
            let client = self.client().await?;
            let row = client
                .query_opt("SELECT id, login, name FROM users WHERE login = $1 AND deleted_at IS NULL", &[&login])
                .await
                .map_err(db_error)?
                .ok_or_else(|| {
                    joint_wire::ErrorBody::new(ErrorCode::UnknownUser, format!("there is no user {login:?}"))
                        .with_logins(vec![login.to_owned()])
                })?;
            let account = Account { id: row.get(0), login: row.get(1), name: row.get(2) };
            let shared = client
                .query(
                    "SELECT g.name FROM groups g
                     JOIN memberships a ON a.gid = g.gid AND a.user_id = $1
                     JOIN memberships b ON b.gid = g.gid AND b.user_id = $2
                     WHERE g.deleted_at IS NULL ORDER BY g.gid",
                    &[&caller, &account.id],
                )
                .await
                .map_err(db_error)?;
            Ok((account, shared.iter().map(|r| r.get(0)).collect()))
        })
        .await
    }
}
