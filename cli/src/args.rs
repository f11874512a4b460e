//! The command line, as clap derive types and nothing else.
//!
//! Help texts go through rust-i18n: the locale is chosen before [`Cli`] is built, so
//! `joint --help` speaks the user's language.

use clap::{Args, Parser, Subcommand, ValueEnum};
use joint_wire::DEFAULT_BROKER;
use rust_i18n::t;
use std::path::PathBuf;

/// `joint`: the command-line client of Joint.
#[derive(Debug, Parser)]
#[command(name = "joint", version, about = t!("cli.help.about").to_string(),
    after_help = t!("cli.help.exit_codes").to_string())]
pub struct Cli {
    /// Broker addresses, tried in order (repeatable or comma-separated).
    #[arg(long = "broker", value_name = "ADDR", env = "JOINT_BROKER", value_delimiter = ',',
        default_value = DEFAULT_BROKER, global = true, help = t!("cli.help.broker").to_string())]
    pub brokers: Vec<String>,
    /// One JSON object per line on stdout.
    #[arg(long, global = true, help = t!("cli.help.json").to_string())]
    pub json: bool,
    /// The language of messages (en, ru, de, es, fr, zh-CN, uk).
    #[arg(long, value_name = "LANG", global = true, help = t!("cli.help.lang").to_string())]
    pub lang: Option<String>,
    /// Speak TLS to the broker, trusting the system's root certificates.
    #[arg(long, env = "JOINT_TLS", global = true, value_parser = clap::builder::BoolishValueParser::new(),
        help = t!("cli.help.tls").to_string())]
    pub tls: bool,
    /// Speak TLS to the broker, trusting the CA certificates of this PEM file (implies --tls).
    #[arg(long, value_name = "FILE", env = "JOINT_TLS_CA", global = true, help = t!("cli.help.tls_ca").to_string())]
    pub tls_ca: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Every subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Creates an account and saves its session.
    #[command(about = t!("cli.help.register").to_string())]
    Register(Register),
    /// Signs in and saves the session.
    #[command(about = t!("cli.help.login").to_string())]
    Login(Login),
    /// Ends the saved session.
    #[command(about = t!("cli.help.logout").to_string())]
    Logout,
    /// Shows who the saved session belongs to.
    #[command(about = t!("cli.help.whoami").to_string())]
    Whoami,
    /// Changes the password.
    #[command(about = t!("cli.help.passwd").to_string())]
    Passwd(PasswordInput),
    /// Changes the display name.
    #[command(about = t!("cli.help.name").to_string())]
    Name(Name),
    /// Account management.
    #[command(subcommand, about = t!("cli.help.account").to_string())]
    Account(AccountCommand),
    /// Lists every user.
    #[command(about = t!("cli.help.users").to_string())]
    Users,
    /// Shows one user.
    #[command(about = t!("cli.help.user").to_string())]
    User(UserArg),
    /// Lists your groups with unread counts.
    #[command(about = t!("cli.help.groups").to_string())]
    Groups,
    /// Group management.
    #[command(subcommand, about = t!("cli.help.group").to_string())]
    Group(GroupCommand),
    /// Lists a group's members.
    #[command(about = t!("cli.help.members").to_string())]
    Members(GroupArg),
    /// Adds or removes members.
    #[command(subcommand, about = t!("cli.help.member").to_string())]
    Member(MemberCommand),
    /// Leaves a group.
    #[command(about = t!("cli.help.leave").to_string())]
    Leave(GroupArg),
    /// Sends a message.
    #[command(about = t!("cli.help.send").to_string())]
    Send(Send),
    /// Shows stored messages.
    #[command(about = t!("cli.help.history").to_string())]
    History(History),
    /// Prints messages as they arrive.
    #[command(about = t!("cli.help.tail").to_string())]
    Tail(Tail),
    /// Marks messages read.
    #[command(about = t!("cli.help.read").to_string())]
    Read(Read),
    /// Deletes a message: yours, or any as the group's admin or an operator.
    #[command(about = t!("cli.help.delete").to_string())]
    Delete(Delete),
    /// Operator commands.
    #[command(subcommand, about = t!("cli.help.admin").to_string())]
    Admin(AdminCommand),
    /// Writes a group's whole history as JSON lines.
    #[command(about = t!("cli.help.export").to_string())]
    Export(GroupArg),
    /// An interactive chat in a group.
    #[command(about = t!("cli.help.chat").to_string())]
    Chat(GroupArg),
    /// Sends JSON lines as frames and prints every received frame.
    #[command(about = t!("cli.help.raw").to_string())]
    Raw,
    /// Turns JSON lines into frame bytes.
    #[command(about = t!("cli.help.encode").to_string())]
    Encode,
    /// Turns frame bytes into JSON lines.
    #[command(about = t!("cli.help.decode").to_string())]
    Decode(Decode),
    /// Prints a shell completion script.
    #[command(about = t!("cli.help.completions").to_string())]
    Completions(Completions),
    /// Prints the man page.
    #[command(about = t!("cli.help.man").to_string())]
    Man,
}

/// How a password is read.
#[derive(Debug, Args)]
pub struct PasswordInput {
    /// Read the password(s) from stdin, one per line, instead of the terminal.
    #[arg(long, help = t!("cli.help.password_stdin").to_string())]
    pub password_stdin: bool,
}

/// `register`.
#[derive(Debug, Args)]
pub struct Register {
    /// The new login.
    #[arg(help = t!("cli.help.login_arg").to_string())]
    pub login: String,
    /// The display name (the login when left out).
    #[arg(long, help = t!("cli.help.display_name").to_string())]
    pub name: Option<String>,
    /// Password input.
    #[command(flatten)]
    pub password: PasswordInput,
}

/// `login`.
#[derive(Debug, Args)]
pub struct Login {
    /// The login.
    #[arg(help = t!("cli.help.login_arg").to_string())]
    pub login: String,
    /// Password input.
    #[command(flatten)]
    pub password: PasswordInput,
}

/// `name`.
#[derive(Debug, Args)]
pub struct Name {
    /// The new display name.
    #[arg(help = t!("cli.help.display_name").to_string())]
    pub name: String,
}

/// `account …`.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Deletes the account for good.
    #[command(about = t!("cli.help.account_delete").to_string())]
    Delete(Confirmed),
}

/// A destructive command: password input and confirmation.
#[derive(Debug, Args)]
pub struct Confirmed {
    /// Password input.
    #[command(flatten)]
    pub password: PasswordInput,
    /// Do not ask for confirmation.
    #[arg(long, help = t!("cli.help.yes").to_string())]
    pub yes: bool,
}

/// A command about one user.
#[derive(Debug, Args)]
pub struct UserArg {
    /// The user's login.
    #[arg(help = t!("cli.help.login_arg").to_string())]
    pub login: String,
}

/// A command about one group.
#[derive(Debug, Args)]
pub struct GroupArg {
    /// The group's name.
    #[arg(help = t!("cli.help.group_arg").to_string())]
    pub group: String,
}

/// `delete`.
#[derive(Debug, Args)]
pub struct Delete {
    /// The group's name.
    #[arg(help = t!("cli.help.group_arg").to_string())]
    pub group: String,
    /// The message's seq.
    #[arg(help = t!("cli.help.delete_seq").to_string())]
    pub seq: u64,
}

/// `admin …`: the operator operations.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Disables an account.
    #[command(about = t!("cli.help.admin_disable").to_string())]
    Disable(UserArg),
    /// Enables a disabled account.
    #[command(about = t!("cli.help.admin_enable").to_string())]
    Enable(UserArg),
    /// Creates an account.
    #[command(about = t!("cli.help.admin_create_user").to_string())]
    CreateUser(Register),
}

/// `group …`.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Creates a group.
    #[command(about = t!("cli.help.group_create").to_string())]
    Create(GroupCreate),
    /// Deletes a group.
    #[command(about = t!("cli.help.group_delete").to_string())]
    Delete(GroupDelete),
    /// Hands a group to another member.
    #[command(about = t!("cli.help.group_admin").to_string())]
    Admin(GroupAdmin),
}

/// `group create`.
#[derive(Debug, Args)]
pub struct GroupCreate {
    /// The group's name.
    #[arg(help = t!("cli.help.group_arg").to_string())]
    pub group: String,
    /// First members.
    #[arg(long = "member", value_name = "LOGIN", help = t!("cli.help.member_flag").to_string())]
    pub members: Vec<String>,
}

/// `group delete`.
#[derive(Debug, Args)]
pub struct GroupDelete {
    /// The group's name.
    #[arg(help = t!("cli.help.group_arg").to_string())]
    pub group: String,
    /// Do not ask for confirmation.
    #[arg(long, help = t!("cli.help.yes").to_string())]
    pub yes: bool,
}

/// `group admin`.
#[derive(Debug, Args)]
pub struct GroupAdmin {
    /// The group's name.
    #[arg(help = t!("cli.help.group_arg").to_string())]
    pub group: String,
    /// The new admin.
    #[arg(help = t!("cli.help.login_arg").to_string())]
    pub login: String,
}

/// `member …`.
#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Adds members.
    #[command(about = t!("cli.help.member_add").to_string())]
    Add(Members),
    /// Removes members.
    #[command(about = t!("cli.help.member_remove").to_string())]
    Remove(Members),
}

/// A group and logins.
#[derive(Debug, Args)]
pub struct Members {
    /// The group's name.
    #[arg(help = t!("cli.help.group_arg").to_string())]
    pub group: String,
    /// Logins.
    #[arg(required = true, help = t!("cli.help.logins_arg").to_string())]
    pub logins: Vec<String>,
}

/// `send`.
#[derive(Debug, Args)]
pub struct Send {
    /// The group's name.
    #[arg(help = t!("cli.help.group_arg").to_string())]
    pub group: String,
    /// The text (stdin when left out).
    #[arg(help = t!("cli.help.text_arg").to_string())]
    pub text: Option<String>,
}

/// `history`.
#[derive(Debug, Args)]
pub struct History {
    /// The group's name.
    #[arg(help = t!("cli.help.group_arg").to_string())]
    pub group: String,
    /// Only messages before this seq.
    #[arg(long, value_name = "N", help = t!("cli.help.before").to_string())]
    pub before: Option<u64>,
    /// Only messages after this seq.
    #[arg(long, value_name = "N", help = t!("cli.help.after").to_string())]
    pub after: Option<u64>,
    /// At most this many messages.
    #[arg(long, value_name = "N", help = t!("cli.help.limit").to_string())]
    pub limit: Option<u64>,
}

/// `tail`.
#[derive(Debug, Args)]
pub struct Tail {
    /// The group's name.
    #[arg(help = t!("cli.help.group_arg").to_string())]
    pub group: String,
    /// Start after this seq (default: new messages only).
    #[arg(long, value_name = "N", help = t!("cli.help.tail_after").to_string())]
    pub after: Option<u64>,
}

/// `read`.
#[derive(Debug, Args)]
pub struct Read {
    /// The group's name.
    #[arg(help = t!("cli.help.group_arg").to_string())]
    pub group: String,
    /// Mark read up to this seq (default: the latest).
    #[arg(help = t!("cli.help.seq_arg").to_string())]
    pub seq: Option<u64>,
}

/// `decode`.
#[derive(Debug, Args)]
pub struct Decode {
    /// The largest payload accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = joint_wire::codec::DEFAULT_MAX_FRAME,
        help = t!("cli.help.max_frame").to_string())]
    pub max_frame: usize,
}

/// `completions`.
#[derive(Debug, Args)]
pub struct Completions {
    /// The shell.
    #[arg(value_enum, help = t!("cli.help.shell").to_string())]
    pub shell: Shell,
}

/// Shells with completion scripts.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    /// GNU Bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_argument_takes_a_password() {
        fn walk(cmd: &clap::Command) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                assert!(
                    !arg.get_action().takes_values() || !id.contains("password"),
                    "{} --{id} takes a value",
                    cmd.get_name()
                );
            }
            cmd.get_subcommands().for_each(walk);
        }
        walk(&Cli::command());
    }
}
