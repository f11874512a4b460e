//! groups, group_create, group_delete, group_admin, members, member_add, member_remove, leave.

use super::{Effect, Outcome, Reply};
use crate::error::BrokerError;
use crate::hub::Session;
use crate::names;
use crate::paging;
use crate::server::Ctx;
use crate::store::{Committed, GroupChange, GroupQuotas};
use joint_wire::message::{AddedOk, Empty, GroupOk, GroupsOk, MembersPage, RemovedOk, UserEntry};

/// The group quotas the broker was started with.
fn quotas(ctx: &Ctx) -> GroupQuotas {
    GroupQuotas { max_groups: ctx.settings.max_groups_per_user, max_members: ctx.settings.max_members_per_group }
}

fn notify(changes: Vec<GroupChange>) -> Vec<Effect> {
    changes.into_iter().map(Effect::Notify).collect()
}

/// `groups`: the caller's groups.
pub async fn groups(ctx: &Ctx, reply: Reply, me: &Session) -> Result<Outcome, BrokerError> {
    let groups = ctx.store.groups(me.account.id).await?;
    Ok(reply.ok(&GroupsOk { groups }))
}

/// `group_create`: a new group administered by the caller.
pub async fn create(
    ctx: &Ctx,
    reply: Reply,
    me: &Session,
    group: String,
    members: Vec<String>,
) -> Result<Outcome, BrokerError> {
    let name = names::group_name("group", &group)?;
    let members = names::logins("members", &members)?;
    let Committed { value: (group, changes), order } =
        ctx.store.group_create(me.account.id, &name, &members, quotas(ctx)).await?;
    tracing::info!(gid = group.gid, "group created");
    Ok(reply.with(&GroupOk { group }, notify(changes)).in_order(order))
}

/// `group_delete`: deletes a group (admin only).
pub async fn delete(ctx: &Ctx, reply: Reply, me: &Session, group: String) -> Result<Outcome, BrokerError> {
    let name = names::group_name("group", &group)?;
    let Committed { value: change, order } = ctx.store.group_delete(me.account.id, &name).await?;
    Ok(reply.with(&Empty {}, notify(vec![change])).in_order(order))
}

/// `group_admin`: hands administration to another member.
pub async fn admin(
    ctx: &Ctx,
    reply: Reply,
    me: &Session,
    group: String,
    login: String,
) -> Result<Outcome, BrokerError> {
    let name = names::group_name("group", &group)?;
    let login = names::login("login", &login)?;
    let Committed { value: (group, changes), order } = ctx.store.group_admin(me.account.id, &name, &login).await?;
    Ok(reply.with(&GroupOk { group }, notify(changes)).in_order(order))
}

/// `members`: one page of a group's members in login byte order.
pub async fn members(
    ctx: &Ctx,
    reply: Reply,
    me: &Session,
    group: String,
    after: Option<String>,
    limit: Option<u64>,
) -> Result<Outcome, BrokerError> {
    let name = names::group_name("group", &group)?;
    let window = paging::list_window(after, limit)?;
    let (rows, more) = ctx.store.members(me.account.id, &name, window.after.as_deref(), window.limit).await?;
    let online = super::online(ctx, &rows.iter().map(|m| m.id).collect::<Vec<_>>()).await?;
    let entries: Vec<UserEntry> =
        rows.into_iter().map(|m| UserEntry { online: online.contains(&m.id), login: m.login, name: m.name }).collect();
    Ok(reply.page(ctx.settings.max_frame, entries, more, |members, more| MembersPage { members, more }))
}

/// `member_add`: adds members (admin only).
pub async fn member_add(
    ctx: &Ctx,
    reply: Reply,
    me: &Session,
    group: String,
    logins: Vec<String>,
) -> Result<Outcome, BrokerError> {
    let name = names::group_name("group", &group)?;
    let logins = names::logins("logins", &logins)?;
    let Committed { value: change, order } = ctx.store.member_add(me.account.id, &name, &logins, quotas(ctx)).await?;
    Ok(reply.with(&AddedOk { added: change.logins }, notify(change.changes)).in_order(order))
}

/// `member_remove`: removes members (admin only).
pub async fn member_remove(
    ctx: &Ctx,
    reply: Reply,
    me: &Session,
    group: String,
    logins: Vec<String>,
) -> Result<Outcome, BrokerError> {
    let name = names::group_name("group", &group)?;
    let logins = names::logins("logins", &logins)?;
    let Committed { value: change, order } = ctx.store.member_remove(me.account.id, &name, &logins).await?;
    Ok(reply.with(&RemovedOk { removed: change.logins }, notify(change.changes)).in_order(order))
}

/// `leave`: the caller leaves a group.
pub async fn leave(ctx: &Ctx, reply: Reply, me: &Session, group: String) -> Result<Outcome, BrokerError> {
    let name = names::group_name("group", &group)?;
    let Committed { value: changes, order } = ctx.store.leave(me.account.id, &me.account.login, &name).await?;
    Ok(reply.with(&Empty {}, notify(changes)).in_order(order))
}
