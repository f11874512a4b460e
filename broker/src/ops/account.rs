//! me, set_name, passwd, delete_account, users and user.

use super::session::PasswordCheck;
use super::{ConnState, Effect, Outcome, Reply};
use crate::error::BrokerError;
use crate::hub::Session;
use crate::names;
use crate::paging;
use crate::server::Ctx;
use crate::store::{Account, Committed};
use joint_wire::message::{EndReason, UserDetail, UserEntry, UserInfo, UserOk, UsersPage};

/// The wire form of an account.
pub(crate) fn user_info(account: &Account) -> UserInfo {
    UserInfo { login: account.login.clone(), name: account.name.clone() }
}

/// `set_name`: changes the caller's display name.
pub async fn set_name(ctx: &Ctx, reply: Reply, me: &Session, name: String) -> Result<Outcome, BrokerError> {
    let name = names::display_name("name", &name)?;
    let account = ctx.store.set_name(me.account.id, &name).await?;
    Ok(reply.ok(&UserOk { user: user_info(&account) }))
}

/// `me`: the caller's login and current display name.
pub async fn me(ctx: &Ctx, reply: Reply, me: &Session) -> Result<Outcome, BrokerError> {
    let account = ctx.store.account(me.account.id).await?;
    Ok(reply.ok(&UserOk { user: user_info(&account) }))
}

/// `passwd`: changes the password and ends the caller's other sessions.
pub async fn passwd(
    ctx: &Ctx,
    conn: &ConnState,
    reply: Reply,
    me: &Session,
    old: String,
    new: String,
) -> Result<Outcome, BrokerError> {
    names::password("old", &old)?;
    names::password("new", &new)?;
    let check = PasswordCheck::begin(ctx, &me.account.login, conn.ip).await?;
    let stored = ctx.store.password_of(me.account.id).await?;
    check.verify(old, stored).await?;
    let hash = ctx.hasher.hash(new).await?;
    let ended = ctx.store.change_password(me.account.id, &hash, &me.token).await?;
    let effects = vec![Effect::EndSessions { tokens: ended, reason: EndReason::PasswordChanged }];
    super::announce(ctx, &effects).await;
    Ok(reply.with(&joint_wire::message::Empty {}, effects))
}

/// `delete_account`: deletes the caller's account after checking the password.
pub async fn delete_account(
    ctx: &Ctx,
    conn: &ConnState,
    reply: Reply,
    me: &Session,
    password: String,
) -> Result<Outcome, BrokerError> {
    names::password("password", &password)?;
    let check = PasswordCheck::begin(ctx, &me.account.login, conn.ip).await?;
    let stored = ctx.store.password_of(me.account.id).await?;
    check.verify(password, stored).await?;
    let Committed { value: deletion, order } = ctx.store.delete_account(me.account.id, &me.account.login).await?;
    tracing::info!(login = %me.account.login, "account deleted");
    let mut effects: Vec<Effect> = deletion.changes.into_iter().map(Effect::Notify).collect();
    effects.push(Effect::EndSessions { tokens: deletion.tokens, reason: EndReason::AccountDeleted });
    Ok(reply.with(&joint_wire::message::Empty {}, effects).in_order(order))
}

/// `users`: one page of accounts in login byte order.
pub async fn users(ctx: &Ctx, reply: Reply, after: Option<String>, limit: Option<u64>) -> Result<Outcome, BrokerError> {
    let window = paging::list_window(after, limit)?;
    let (accounts, more) = ctx.store.users(window.after.as_deref(), window.limit).await?;
    let online = super::online(ctx, &accounts.iter().map(|a| a.id).collect::<Vec<_>>()).await?;
    let entries: Vec<UserEntry> = accounts
        .iter()
        .map(|a| UserEntry { login: a.login.clone(), name: a.name.clone(), online: online.contains(&a.id) })
        .collect();
    Ok(reply.page(ctx.settings.max_frame, entries, more, |users, more| UsersPage { users, more }))
}

/// `user`: one account and the groups it shares with the caller.
pub async fn user(ctx: &Ctx, reply: Reply, me: &Session, login: String) -> Result<Outcome, BrokerError> {
    let login = names::login("login", &login)?;
    let (account, groups) = ctx.store.user(me.account.id, &login).await?;
    let online = super::online(ctx, &[account.id]).await?.contains(&account.id);
    Ok(reply.ok(&UserDetail { login: account.login, name: account.name, online, groups }))
}
