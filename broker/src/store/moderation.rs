//! Moderation (CONTRACT.md §12): tombstones, disabled accounts and accounts made by operators.

use super::accounts::insert_account;
use super::groups::{lock_group, require_member};
use super::{db_error, Account, Committed, Store, UserId};
use crate::error::BrokerError;
use crate::token::TokenHash;
use joint_wire::message::{invalid, Group};
use joint_wire::{ErrorBody, ErrorCode};

/// What `auth` found for a token.
#[derive(Debug)]
pub enum SessionLookup {
    /// A live session: the account and its groups.
    Live(Account, Vec<Group>),
    /// The token belongs to a disabled account.
    Disabled,
    /// No live, unexpired session has this token.
    Unknown,
}

/// A message that became a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    /// The group's name.
    pub group: String,
    /// The group's gid.
    pub gid: i64,
    /// The deleted message's seq.
    pub seq: i64,
}

/// The refusal of a sign-in as a disabled account.
pub(crate) fn account_disabled() -> BrokerError {
    BrokerError::refused(ErrorCode::AccountDisabled, "this account is disabled; ask an operator")
}

fn unknown_user(login: &str) -> BrokerError {
    ErrorBody::new(ErrorCode::UnknownUser, format!("there is no user {login:?}"))
        .with_logins(vec![login.to_owned()])
        .into()
}

impl Store {
    /// Deletes message `seq` of a group, leaving a tombstone: the row keeps its seq, sender
    /// and cid, the body is emptied in the same UPDATE. The group's row is locked like any
    /// change of the group, so the tombstone is ordered with its publishes and their fan-out.
    /// Checks, in the contract's order: `no_such_group` → `not_member` (operators may
    /// moderate groups they are not in) → `not_allowed` (neither the sender, the admin nor
    /// an operator) → `invalid_argument` (no such seq). Deleting a tombstone again changes
    /// nothing and returns `None`.
    pub async fn message_delete(
        &self,
        caller: UserId,
        name: &str,
        seq: i64,
        operator: bool,
    ) -> Result<Committed<Option<Tombstone>>, BrokerError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            let group = lock_group(&tx, name).await?;
            if !operator {
                require_member(&tx, &group, caller).await?;
            }
            let row = tx
                .query_opt("SELECT sender_id, deleted FROM messages WHERE gid = $1 AND seq = $2", &[&group.gid, &seq])
                .await
                .map_err(db_error)?;
            let sender: Option<UserId> = row.as_ref().map(|r| r.get(0));
            if !(operator || group.admin_id == Some(caller) || sender == Some(caller)) {
                let msg = "only the sender, the group's admin or an operator may delete a message";
                return Err(BrokerError::refused(ErrorCode::NotAllowed, msg));
            }
            let Some(row) = row else {
                return Err(invalid("seq", "names no message of the group").into());
            };
            if row.get::<_, bool>(1) {
                return self.commit(tx, [group.gid], None).await;
            }
            // The group's tombstone count tells a lagging standby's history that it has not
            // replayed this deletion yet (see `Store::history`).
            tx.execute(
                "UPDATE messages SET body = '', deleted = true WHERE gid = $1 AND seq = $2",
                &[&group.gid, &seq],
            )
            .await
            .map_err(db_error)?;
            tx.execute("UPDATE groups SET tombstones = tombstones + 1 WHERE gid = $1", &[&group.gid])
                .await
                .map_err(db_error)?;
            let tombstone = Tombstone { group: group.name.clone(), gid: group.gid, seq };
            self.commit(tx, [group.gid], Some(tombstone)).await
        })
        .await
    }

    /// Disables or enables the live account `login` (`unknown_user` if there is none).
    /// Disabling keeps the account's sessions, so that `auth` with one of them answers
    /// `account_disabled`, and returns them: their connections must end. Enabling deletes
    /// them: they ended when the account was disabled, and stay dead.
    pub async fn set_disabled(&self, login: &str, disabled: bool) -> Result<Vec<TokenHash>, BrokerError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            // The row lock orders this with a login's `create_session` (FOR SHARE).
            let row = tx
                .query_opt(
                    "SELECT id, disabled_at IS NOT NULL FROM users WHERE login = $1 AND deleted_at IS NULL FOR UPDATE",
                    &[&login],
                )
                .await
                .map_err(db_error)?
                .ok_or_else(|| unknown_user(login))?;
            let (user, was_disabled): (UserId, bool) = (row.get(0), row.get(1));
            let tokens = if disabled {
                tx.execute("UPDATE users SET disabled_at = now() WHERE id = $1 AND disabled_at IS NULL", &[&user])
                    .await
                    .map_err(db_error)?;
                let rows =
                    tx.query("SELECT token_hash FROM sessions WHERE user_id = $1", &[&user]).await.map_err(db_error)?;
                rows.iter().filter_map(|r| r.get::<_, Vec<u8>>(0).try_into().ok()).collect()
            } else {
                if was_disabled {
                    tx.execute("UPDATE users SET disabled_at = NULL WHERE id = $1", &[&user])
                        .await
                        .map_err(db_error)?;
                    tx.execute("DELETE FROM sessions WHERE user_id = $1", &[&user]).await.map_err(db_error)?;
                }
                Vec::new()
            };
            tx.commit().await.map_err(db_error)?;
            Ok(tokens)
        })
        .await
    }

    /// Whether `login` names a live, disabled account.
    pub async fn login_disabled(&self, login: &str) -> Result<bool, BrokerError> {
        self.timed(async {
            let client = self.client().await?;
            let row = client
                .query_opt(
                    "SELECT 1 FROM users WHERE login = $1 AND deleted_at IS NULL AND disabled_at IS NOT NULL",
                    &[&login],
                )
                .await
                .map_err(db_error)?;
            Ok(row.is_some())
        })
        .await
    }

    /// Whether `token` is a session of a live, disabled account (without marking it used).
    pub async fn token_disabled(&self, token: &TokenHash) -> Result<bool, BrokerError> {
        self.timed(async {
            let client = self.client().await?;
            let row = client
                .query_opt(
                    "SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.token_hash = $1 AND u.deleted_at IS NULL AND u.disabled_at IS NOT NULL",
                    &[&token.as_slice()],
                )
                .await
                .map_err(db_error)?;
            Ok(row.is_some())
        })
        .await
    }

    /// Creates an account and its membership of `all`, without a session (`user_create`).
    pub async fn user_create(&self, login: &str, name: &str, password_hash: &str) -> Result<Account, BrokerError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            let id = insert_account(&tx, login, name, password_hash).await?;
            tx.commit().await.map_err(db_error)?;
            Ok(Account { id, login: login.to_owned(), name: name.to_owned() })
        })
        .await
    }
}
