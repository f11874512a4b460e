//! Accounts: register, login, logout, whoami, passwd, name, account delete.

use super::{confirm, Context};
use crate::args::{Confirmed, Login, Name, PasswordInput, Register};
use crate::error::CliResult;
use crate::password::Passwords;
use rust_i18n::t;
use serde_json::json;

/// `joint register LOGIN [--name NAME]`: creates the account and saves its session.
pub async fn register(ctx: &mut Context, args: Register) -> CliResult {
    let password = Passwords::new(args.password.password_stdin).read_new()?;
    let session = ctx.anonymous().await?;
    let name = args.name.unwrap_or_else(|| args.login.clone());
    let ok = session.client.register(&args.login, &name, &password).await?;
    session.save_token()?;
    let sentence = t!("cli.out.registered", login = ok.user.login, name = ctx.out.clean(&ok.user.name));
    ctx.out.result(&json!({ "user": ok.user }), &sentence)?;
    Ok(())
}

/// `joint login LOGIN`: signs in and saves the session.
pub async fn login(ctx: &mut Context, args: Login) -> CliResult {
    let password = Passwords::new(args.password.password_stdin).read(&t!("cli.prompt.password"))?;
    let session = ctx.anonymous().await?;
    let ok = session.client.login(&args.login, &password).await?;
    session.save_token()?;
    let sentence = t!("cli.out.logged_in", login = ok.user.login, name = ctx.out.clean(&ok.user.name));
    ctx.out.result(&json!({ "user": ok.user }), &sentence)?;
    Ok(())
}

/// `joint logout`: ends the saved session and forgets it.
pub async fn logout(ctx: &mut Context) -> CliResult {
    let session = ctx.session().await?;
    session.client.logout().await?;
    session.forget_token()?;
    ctx.out.result(&json!({}), &t!("cli.out.logged_out"))?;
    Ok(())
}

/// `joint whoami`.
pub async fn whoami(ctx: &mut Context) -> CliResult {
    let session = ctx.session().await?;
    let user = session.client.me().await?;
    let sentence = format!("{} ({})", user.login, ctx.out.clean(&user.name));
    ctx.out.result(&json!({ "user": user, "broker": session.client.broker() }), &sentence)?;
    Ok(())
}

/// `joint passwd`: the old password, then the new one; other sessions end.
pub async fn passwd(ctx: &mut Context, args: PasswordInput) -> CliResult {
    let mut passwords = Passwords::new(args.password_stdin);
    let old = passwords.read(&t!("cli.prompt.old_password"))?;
    let new = passwords.read_new()?;
    let session = ctx.session().await?;
    session.client.passwd(&old, &new).await?;
    ctx.out.result(&json!({}), &t!("cli.out.password_changed"))?;
    Ok(())
}

/// `joint name NEW_NAME`.
pub async fn name(ctx: &mut Context, args: Name) -> CliResult {
    let session = ctx.session().await?;
    let user = session.client.set_name(&args.name).await?;
    let sentence = t!("cli.out.renamed", name = ctx.out.clean(&user.name));
    ctx.out.result(&json!({ "user": user }), &sentence)?;
    Ok(())
}

/// `joint account delete`: asks for confirmation and the password, then deletes the account.
pub async fn delete(ctx: &mut Context, args: Confirmed) -> CliResult {
    if !confirm(&t!("cli.prompt.delete_account"), args.yes)? {
        ctx.out.result(&json!({ "deleted": false }), &t!("cli.out.cancelled"))?;
        return Ok(());
    }
    let password = Passwords::new(args.password.password_stdin).read(&t!("cli.prompt.password"))?;
    let session = ctx.session().await?;
    session.client.delete_account(&password).await?;
    session.forget_token()?;
    ctx.out.result(&json!({ "deleted": true }), &t!("cli.out.account_deleted"))?;
    Ok(())
}
