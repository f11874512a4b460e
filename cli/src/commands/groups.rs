//! People and groups: users, user, groups, group create/delete/admin, members, member
//! add/remove, leave.

use super::{confirm, Context};
use crate::args::{GroupAdmin, GroupArg, GroupCreate, GroupDelete, Members, UserArg};
use crate::error::CliResult;
use joint_wire::message::{Group, UserEntry};
use rust_i18n::t;
use serde_json::json;

/// Page size for lists.
const PAGE: u64 = 1000;

fn yes_no(value: bool) -> String {
    if value { t!("cli.out.yes") } else { t!("cli.out.no") }.into_owned()
}

/// Prints people as a table (login, name, online) or one JSON object each.
fn people(ctx: &mut Context, people: &[UserEntry]) -> CliResult {
    if ctx.out.is_json() {
        for person in people {
            ctx.out.json(person)?;
        }
        return Ok(());
    }
    let header = [t!("cli.col.login").into_owned(), t!("cli.col.name").into_owned(), t!("cli.col.online").into_owned()];
    let rows: Vec<Vec<String>> =
        people.iter().map(|p| vec![p.login.clone(), p.name.clone(), yes_no(p.online)]).collect();
    ctx.out.table(&header, &rows)?;
    Ok(())
}

/// `joint users`: every account, all pages.
pub async fn users(ctx: &mut Context) -> CliResult {
    let session = ctx.session().await?;
    let mut all = Vec::new();
    loop {
        let page = session.client.users(all.last().map(|u: &UserEntry| u.login.as_str()), Some(PAGE)).await?;
        all.extend(page.users);
        if !page.more {
            break;
        }
    }
    people(ctx, &all)
}

/// `joint user LOGIN`.
pub async fn user(ctx: &mut Context, args: UserArg) -> CliResult {
    let session = ctx.session().await?;
    let user = session.client.user(&args.login).await?;
    if ctx.out.is_json() {
        ctx.out.json(&user)?;
        return Ok(());
    }
    ctx.out.line(&format!("{}: {}", t!("cli.col.login"), user.login))?;
    ctx.out.line(&format!("{}: {}", t!("cli.col.name"), user.name))?;
    ctx.out.line(&format!("{}: {}", t!("cli.col.online"), yes_no(user.online)))?;
    ctx.out.line(&format!("{}: {}", t!("cli.col.shared_groups"), user.groups.join(", ")))?;
    Ok(())
}

/// Prints groups as a table with unread counts, or one JSON object each (with `unread`).
fn group_list(ctx: &mut Context, groups: &[Group]) -> CliResult {
    if ctx.out.is_json() {
        for group in groups {
            let mut value = serde_json::to_value(group).map_err(std::io::Error::other)?;
            value["unread"] = json!(group.last_seq.saturating_sub(group.read_seq));
            ctx.out.json(&value)?;
        }
        return Ok(());
    }
    let header = [
        t!("cli.col.group").into_owned(),
        t!("cli.col.admin").into_owned(),
        t!("cli.col.members").into_owned(),
        t!("cli.col.last_seq").into_owned(),
        t!("cli.col.unread").into_owned(),
    ];
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            vec![
                g.name.clone(),
                g.admin.clone().unwrap_or_else(|| "-".into()),
                g.members.to_string(),
                g.last_seq.to_string(),
                g.last_seq.saturating_sub(g.read_seq).to_string(),
            ]
        })
        .collect();
    ctx.out.table(&header, &rows)?;
    Ok(())
}

/// `joint groups`: the caller's groups with unread counts.
pub async fn groups(ctx: &mut Context) -> CliResult {
    let session = ctx.session().await?;
    let groups = session.client.groups().await?;
    group_list(ctx, &groups)
}

/// `joint group create NAME [--member LOGIN]…`.
pub async fn create(ctx: &mut Context, args: GroupCreate) -> CliResult {
    let session = ctx.session().await?;
    let group = session.client.group_create(&args.group, &args.members).await?;
    let sentence = t!("cli.out.group_created", group = ctx.out.clean(&group.name), members = group.members);
    ctx.out.result(&group, &sentence)?;
    Ok(())
}

/// `joint group delete NAME [--yes]`: asks for confirmation on a terminal.
pub async fn delete(ctx: &mut Context, args: GroupDelete) -> CliResult {
    let question = t!("cli.prompt.delete_group", group = ctx.out.clean(&args.group));
    if !confirm(&question, args.yes)? {
        ctx.out.result(&json!({ "deleted": false }), &t!("cli.out.cancelled"))?;
        return Ok(());
    }
    let session = ctx.session().await?;
    session.client.group_delete(&args.group).await?;
    let sentence = t!("cli.out.group_deleted", group = ctx.out.clean(&args.group));
    ctx.out.result(&json!({ "deleted": true, "group": args.group }), &sentence)?;
    Ok(())
}

/// `joint group admin NAME LOGIN`.
pub async fn admin(ctx: &mut Context, args: GroupAdmin) -> CliResult {
    let session = ctx.session().await?;
    let group = session.client.group_admin(&args.group, &args.login).await?;
    let sentence = t!("cli.out.admin_changed", group = ctx.out.clean(&group.name), login = args.login);
    ctx.out.result(&group, &sentence)?;
    Ok(())
}

/// `joint members GROUP`: all pages.
pub async fn members(ctx: &mut Context, args: GroupArg) -> CliResult {
    let session = ctx.session().await?;
    let mut all = Vec::new();
    loop {
        let after = all.last().map(|u: &UserEntry| u.login.as_str());
        let page = session.client.members(&args.group, after, Some(PAGE)).await?;
        all.extend(page.members);
        if !page.more {
            break;
        }
    }
    people(ctx, &all)
}

/// `joint member add GROUP LOGIN…`.
pub async fn member_add(ctx: &mut Context, args: Members) -> CliResult {
    let session = ctx.session().await?;
    let added = session.client.member_add(&args.group, &args.logins).await?;
    let sentence = t!("cli.out.members_added", count = added.len(), logins = added.join(", "));
    ctx.out.result(&json!({ "added": added }), &sentence)?;
    Ok(())
}

/// `joint member remove GROUP LOGIN…`.
pub async fn member_remove(ctx: &mut Context, args: Members) -> CliResult {
    let session = ctx.session().await?;
    let removed = session.client.member_remove(&args.group, &args.logins).await?;
    let sentence = t!("cli.out.members_removed", count = removed.len(), logins = removed.join(", "));
    ctx.out.result(&json!({ "removed": removed }), &sentence)?;
    Ok(())
}

/// `joint leave GROUP`.
pub async fn leave(ctx: &mut Context, args: GroupArg) -> CliResult {
    let session = ctx.session().await?;
    session.client.leave(&args.group).await?;
    let sentence = t!("cli.out.left", group = ctx.out.clean(&args.group));
    ctx.out.result(&json!({ "left": args.group }), &sentence)?;
    Ok(())
}
