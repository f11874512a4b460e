//! The operations of CONTRACT.md §12: message_delete, user_disable, user_enable and user_create.

use super::{Effect, Outcome, Reply};
use crate::error::BrokerError;
use crate::hub::Session;
use crate::names;
use crate::server::Ctx;
use crate::store::Committed;
use joint_wire::message::{EndReason, UserInfo, UserOk};
use joint_wire::ErrorCode;

/// Refuses anyone but the configured operators with `not_allowed`.
fn require_operator(ctx: &Ctx, me: &Session) -> Result<(), BrokerError> {
    if ctx.settings.is_operator(&me.account.login) {
        return Ok(());
    }
    Err(BrokerError::refused(ErrorCode::NotAllowed, "only an operator may do that"))
}

/// `message_delete`: the message becomes a tombstone; subscribers get `message_deleted`.
pub async fn message_delete(
    ctx: &Ctx,
    reply: Reply,
    me: &Session,
    group: String,
    seq: u64,
) -> Result<Outcome, BrokerError> {
    let group = names::group_name("group", &group)?;
    let seq = i64::try_from(seq).unwrap_or(i64::MAX);
    let operator = ctx.settings.is_operator(&me.account.login);
    let Committed { value: tombstone, order } = ctx.store.message_delete(me.account.id, &group, seq, operator).await?;
    let effects = match tombstone {
        Some(tombstone) => {
            tracing::info!(gid = tombstone.gid, seq = tombstone.seq, operator, "message deleted");
            vec![Effect::MessageDeleted(tombstone)]
        }
        None => Vec::new(),
    };
    Ok(reply.with(&joint_wire::message::Empty {}, effects).in_order(order))
}

/// `user_disable` / `user_enable` (operators): a disabled account's sessions end with
/// `disabled`; its memberships and messages stay.
pub async fn set_disabled(
    ctx: &Ctx,
    reply: Reply,
    me: &Session,
    login: String,
    disabled: bool,
) -> Result<Outcome, BrokerError> {
    let login = names::login("login", &login)?;
    require_operator(ctx, me)?;
    let tokens = ctx.store.set_disabled(&login, disabled).await?;
    tracing::info!(login = %login, disabled, by = %me.account.login, "account disabled state set");
    let effects = match disabled {
        true => vec![Effect::EndSessions { tokens, reason: EndReason::Disabled }],
        false => Vec::new(),
    };
    super::announce(ctx, &effects).await;
    Ok(reply.with(&joint_wire::message::Empty {}, effects))
}

/// `user_create` (operators): an account made for someone else; the caller stays signed in
/// as themself.
pub async fn user_create(
    ctx: &Ctx,
    reply: Reply,
    me: &Session,
    login: String,
    name: String,
    password: String,
) -> Result<Outcome, BrokerError> {
    let login = names::login("login", &login)?;
    let name = names::display_name("name", &name)?;
    names::password("password", &password)?;
    require_operator(ctx, me)?;
    let hash = ctx.hasher.hash(password).await?;
    let account = ctx.store.user_create(&login, &name, &hash).await?;
    tracing::info!(login = %account.login, by = %me.account.login, "account created by an operator");
    Ok(reply.ok(&UserOk { user: UserInfo { login: account.login, name: account.name } }))
}
