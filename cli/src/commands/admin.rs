//! Operator commands: admin disable, admin enable, admin create-user.

use super::Context;
use crate::args::{Register, UserArg};
use crate::error::CliResult;
use crate::password::Passwords;
use rust_i18n::t;
use serde_json::json;

/// `joint admin disable LOGIN`: the account's sessions end and it cannot sign in.
pub async fn disable(ctx: &mut Context, args: UserArg) -> CliResult {
    let session = ctx.session().await?;
    session.client.user_disable(&args.login).await?;
    ctx.out
        .result(&json!({ "login": args.login, "disabled": true }), &t!("cli.out.user_disabled", login = args.login))?;
    Ok(())
}

/// `joint admin enable LOGIN`: the account may sign in again.
pub async fn enable(ctx: &mut Context, args: UserArg) -> CliResult {
    let session = ctx.session().await?;
    session.client.user_enable(&args.login).await?;
    ctx.out
        .result(&json!({ "login": args.login, "disabled": false }), &t!("cli.out.user_enabled", login = args.login))?;
    Ok(())
}

/// `joint admin create-user LOGIN [--name NAME]`: the new account's password is read like
/// `register`'s (twice from the terminal, or once from --password-stdin); the operator's
/// saved session stays theirs.
pub async fn create_user(ctx: &mut Context, args: Register) -> CliResult {
    let password = Passwords::new(args.password.password_stdin).read_new()?;
    let session = ctx.session().await?;
    let name = args.name.unwrap_or_else(|| args.login.clone());
    let user = session.client.user_create(&args.login, &name, &password).await?;
    let sentence = t!("cli.out.user_created", login = user.login, name = ctx.out.clean(&user.name));
    ctx.out.result(&json!({ "user": user }), &sentence)?;
    Ok(())
}
