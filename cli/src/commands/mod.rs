//! One function per subcommand, behind one `match`.

mod account;
mod admin;
mod chat;
mod debug;
mod docs;
mod groups;
mod messages;

use crate::args::{AccountCommand, AdminCommand, Cli, Command, GroupCommand, MemberCommand};
use crate::error::{CliError, CliResult};
use crate::output::Output;
use crate::session::Session;
use joint_wire::TlsConfig;
use rust_i18n::t;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

/// What every subcommand gets: where to connect and where to print.
pub struct Context {
    /// The broker addresses, in failover order.
    pub brokers: Vec<String>,
    /// TLS to the broker, when `--tls` or `--tls-ca` asked for it.
    pub tls: Option<TlsConfig>,
    /// stdout.
    pub out: Output,
}

impl Context {
    /// A connection signed in with the saved session.
    pub async fn session(&self) -> CliResult<Session> {
        Session::open(&self.brokers, self.tls.clone(), true).await
    }

    /// A connection that is not signed in yet.
    pub async fn anonymous(&self) -> CliResult<Session> {
        Session::open(&self.brokers, self.tls.clone(), false).await
    }
}

/// The TLS configuration `--tls` (system roots) or `--tls-ca FILE` asks for.
fn tls_config(tls: bool, ca_file: Option<&Path>) -> CliResult<Option<TlsConfig>> {
    if !tls && ca_file.is_none() {
        return Ok(None);
    }
    TlsConfig::new(ca_file)
        .map(Some)
        .map_err(|e| CliError::Local(t!("cli.err.tls", detail = e.to_string()).to_string()))
}

/// Runs the chosen subcommand.
pub async fn run(cli: Cli) -> CliResult {
    let tls = tls_config(cli.tls, cli.tls_ca.as_deref())?;
    let mut ctx = Context { brokers: cli.brokers, tls, out: Output::new(cli.json) };
    let ctx = &mut ctx;
    match cli.command {
        Command::Register(args) => account::register(ctx, args).await,
        Command::Login(args) => account::login(ctx, args).await,
        Command::Logout => account::logout(ctx).await,
        Command::Whoami => account::whoami(ctx).await,
        Command::Passwd(args) => account::passwd(ctx, args).await,
        Command::Name(args) => account::name(ctx, args).await,
        Command::Account(AccountCommand::Delete(args)) => account::delete(ctx, args).await,
        Command::Users => groups::users(ctx).await,
        Command::User(args) => groups::user(ctx, args).await,
        Command::Groups => groups::groups(ctx).await,
        Command::Group(GroupCommand::Create(args)) => groups::create(ctx, args).await,
        Command::Group(GroupCommand::Delete(args)) => groups::delete(ctx, args).await,
        Command::Group(GroupCommand::Admin(args)) => groups::admin(ctx, args).await,
        Command::Members(args) => groups::members(ctx, args).await,
        Command::Member(MemberCommand::Add(args)) => groups::member_add(ctx, args).await,
        Command::Member(MemberCommand::Remove(args)) => groups::member_remove(ctx, args).await,
        Command::Leave(args) => groups::leave(ctx, args).await,
        Command::Send(args) => messages::send(ctx, args).await,
        Command::History(args) => messages::history(ctx, args).await,
        Command::Tail(args) => messages::tail(ctx, args).await,
        Command::Read(args) => messages::read(ctx, args).await,
        Command::Delete(args) => messages::delete(ctx, args).await,
        Command::Admin(AdminCommand::Disable(args)) => admin::disable(ctx, args).await,
        Command::Admin(AdminCommand::Enable(args)) => admin::enable(ctx, args).await,
        Command::Admin(AdminCommand::CreateUser(args)) => admin::create_user(ctx, args).await,
        Command::Export(args) => messages::export(ctx, args).await,
        Command::Chat(args) => chat::chat(ctx, args).await,
        Command::Raw => debug::raw(ctx).await,
        Command::Encode => debug::encode(),
        Command::Decode(args) => debug::decode(ctx, args),
        Command::Completions(args) => docs::completions(args),
        Command::Man => docs::man(),
    }
}

/// A cid for one message: 16 random bytes in hex.
pub fn new_cid() -> CliResult<String> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| CliError::Local(t!("cli.err.random", detail = e.to_string()).into_owned()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Asks a yes/no question on the terminal; off a terminal, refuses unless `--yes` was given.
pub fn confirm(question: &str, yes: bool) -> CliResult<bool> {
    if yes {
        return Ok(true);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::Usage(t!("cli.err.needs_yes").to_string()));
    }
    eprint!("{question} [{}] ", t!("cli.prompt.yes_no"));
    std::io::stderr().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    let answer = answer.trim().to_lowercase();
    Ok(!answer.is_empty() && t!("cli.prompt.yes_answers").split(',').any(|word| word.trim() == answer))
}
