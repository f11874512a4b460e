//! The network side: a tokio runtime on a background thread owns the broker connection
//! (`joint_wire::Client`), carries out the UI's [`Command`]s and reports every outcome and
//! broker event as a [`NetEvent`] through a callback that posts to the UI's channel. It never
//! touches a widget.

use crate::i18n::error_text;
use joint_wire::message::{Group, Message, SessionOk, UserDetail, UserEntry, UserInfo};
use joint_wire::{Client, ClientConfig, ClientError, ClientEvent, TlsConfig};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Messages of a group fetched when it is loaded and per scroll-back page.
pub const PAGE: u64 = 50;

/// Members fetched per page.
const MEMBERS_PAGE: u64 = 500;

/// What the UI asks of the network.
#[derive(Debug, Clone)]
pub enum Command {
    /// Connect and sign in with a password.
    SignIn {
        /// Broker addresses, comma-separated, in failover order.
        broker: String,
        /// Login.
        login: String,
        /// Password.
        password: String,
    },
    /// Connect and create an account.
    SignUp {
        /// Broker addresses, comma-separated, in failover order.
        broker: String,
        /// Login.
        login: String,
        /// Display name.
        name: String,
        /// Password.
        password: String,
    },
    /// Connect and sign in with a session kept by Disconnect.
    Resume {
        /// Broker addresses, comma-separated, in failover order.
        broker: String,
        /// The saved session token.
        token: String,
    },
    /// Fetch a group's latest messages, then subscribe after the last one fetched.
    LoadGroup {
        /// Its gid.
        gid: u64,
        /// Its name.
        group: String,
    },
    /// Fetch the page of messages before `before`.
    Older {
        /// Its gid.
        gid: u64,
        /// Its name.
        group: String,
        /// The oldest seq held.
        before: u64,
    },
    /// Fetch a group's members.
    Members {
        /// Its gid.
        gid: u64,
        /// Its name.
        group: String,
    },
    /// Send a message.
    Publish {
        /// The group's name.
        group: String,
        /// The text.
        body: String,
    },
    /// Move the read marker.
    MarkRead {
        /// The group's name.
        group: String,
        /// The seq read.
        seq: u64,
    },
    /// Fetch one user's details.
    UserInfo {
        /// Their login.
        login: String,
    },
    /// Fetch the user's groups again (after a reconnect or `resync`).
    RefetchGroups,
    /// Create a group.
    CreateGroup {
        /// Its name.
        group: String,
        /// Its first members.
        members: Vec<String>,
    },
    /// Add members.
    AddMembers {
        /// The group.
        group: String,
        /// Logins to add.
        logins: Vec<String>,
    },
    /// Remove members.
    RemoveMembers {
        /// The group.
        group: String,
        /// Logins to remove.
        logins: Vec<String>,
    },
    /// Hand the group's administration over.
    HandOver {
        /// The group.
        group: String,
        /// The new admin.
        login: String,
    },
    /// Delete a group.
    DeleteGroup {
        /// The group.
        group: String,
    },
    /// Leave a group.
    Leave {
        /// The group.
        group: String,
    },
    /// Change the display name.
    SetName {
        /// The new name.
        name: String,
    },
    /// Change the password.
    Passwd {
        /// The current password.
        old: String,
        /// The new one.
        new: String,
    },
    /// Delete the account.
    DeleteAccount {
        /// The password, as confirmation.
        password: String,
    },
    /// End the session.
    Logout,
    /// Close the connection but keep the session for later.
    Disconnect,
}

/// What the network reports to the UI.
#[derive(Debug, Clone)]
pub enum NetEvent {
    /// Signed in.
    SignedIn {
        /// The broker addresses signed in with, as the user wrote them.
        broker: String,
        /// The address of the broker the connection reached.
        connected: String,
        /// The session.
        session: SessionOk,
    },
    /// Signing in or up failed; the translated reason.
    SignInFailed(String),
    /// A page of messages.
    History {
        /// The group.
        gid: u64,
        /// Messages ascending by seq.
        messages: Vec<Message>,
        /// Whether older ones exist before the page.
        more: bool,
    },
    /// A group's members.
    Members {
        /// The group.
        gid: u64,
        /// All its members.
        members: Vec<UserEntry>,
    },
    /// The user's groups, refetched.
    Groups(Vec<Group>),
    /// A user's details for the info popup.
    UserInfo(UserDetail),
    /// An event of the connection or the broker.
    Client(ClientEvent),
    /// The message was stored.
    Sent,
    /// The message was not sent; the translated reason. The input keeps the text.
    SendFailed(String),
    /// The display name changed.
    Renamed(UserInfo),
    /// An administrative or account request succeeded.
    Done,
    /// A request failed; the translated reason.
    Failed(String),
    /// The connection is closed. `kept` is the session Disconnect keeps; `reason` the
    /// translated reason when the session died.
    SignedOut {
        /// The broker and token to resume with, after Disconnect.
        kept: Option<(String, String)>,
        /// Why, when it was not the user's choice.
        reason: Option<String>,
    },
}

/// Where the network posts its reports.
pub type Report = Arc<dyn Fn(NetEvent) + Send + Sync>;

/// The handle the UI keeps: commands go into a queue the network thread reads.
#[derive(Clone)]
pub struct Network {
    commands: mpsc::UnboundedSender<Command>,
}

impl Network {
    /// Starts the network thread, connecting with `tls` when given; `report` is called on it
    /// for every outcome.
    pub fn start(report: Report, tls: Option<TlsConfig>) -> std::io::Result<Network> {
        let (commands, rx) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        std::thread::Builder::new().name("joint-gui-net".into()).spawn(move || {
            runtime.block_on(serve(rx, report, tls));
        })?;
        Ok(Network { commands })
    }

    /// Queues a command; dropped silently if the network thread is gone (the window is closing).
    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }
}

/// The connection of the current session, and a number that changes with every session so
/// events of an old connection are not reported.
#[derive(Default)]
struct Session {
    client: Mutex<Option<Client>>,
    generation: AtomicU64,
    /// The broker field the client was opened with: a kept session belongs to all of them.
    brokers: Mutex<String>,
}

impl Session {
    fn client(&self) -> Option<Client> {
        self.client.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn replace(&self, client: Option<Client>) -> u64 {
        *self.client.lock().unwrap_or_else(|p| p.into_inner()) = client;
        self.generation.fetch_add(1, Ordering::SeqCst) + 1
    }
}

async fn serve(mut commands: mpsc::UnboundedReceiver<Command>, report: Report, tls: Option<TlsConfig>) {
    let session = Arc::new(Session::default());
    while let Some(command) = commands.recv().await {
        // Each command runs on its own task, so a slow history page never delays a publish;
        // sign-in and sign-out run in order because they replace the session.
        match command {
            Command::SignIn { .. } | Command::SignUp { .. } | Command::Resume { .. } => {
                connect(command, &session, &report, tls.clone()).await;
            }
            Command::Logout | Command::Disconnect | Command::DeleteAccount { .. } => {
                sign_out(command, &session, &report).await;
            }
            other => {
                let Some(client) = session.client() else { continue };
                let report = report.clone();
                tokio::spawn(async move { run(other, client, report).await });
            }
        }
    }
}

async fn connect(command: Command, session: &Arc<Session>, report: &Report, tls: Option<TlsConfig>) {
    let broker = match &command {
        Command::SignIn { broker, .. } | Command::SignUp { broker, .. } | Command::Resume { broker, .. } => {
            broker.clone()
        }
        _ => return,
    };
    let mut config = ClientConfig::new(broker_list(&broker));
    config.client_name = format!("joint-gui/{}", env!("CARGO_PKG_VERSION"));
    config.event_capacity = Some(4096);
    config.tls = tls;
    let (client, mut events) = match Client::connect(config).await {
        Ok(connected) => connected,
        Err(err) => return report(NetEvent::SignInFailed(error_text(&err))),
    };
    let signed = match command {
        Command::SignIn { login, password, .. } => client.login(&login, &password).await,
        Command::SignUp { login, name, password, .. } => client.register(&login, &name, &password).await,
        Command::Resume { token, .. } => client.auth(&token).await,
        _ => return,
    };
    match signed {
        Ok(ok) => {
            let generation = session.replace(Some(client.clone()));
            *session.brokers.lock().unwrap_or_else(|p| p.into_inner()) = broker.clone();
            let forward = report.clone();
            let current = session.clone();
            tokio::spawn(async move {
                while let Some(event) = events.next().await {
                    if current.generation.load(Ordering::SeqCst) != generation {
                        break;
                    }
                    forward(NetEvent::Client(event));
                }
            });
            report(NetEvent::SignedIn { broker, connected: client.broker(), session: ok });
        }
        Err(err) => report(NetEvent::SignInFailed(error_text(&err))),
    }
}

/// The addresses of a broker field: comma- or space-separated `host:port`s, in failover order.
pub fn broker_list(field: &str) -> Vec<String> {
    field.split([',', ' ']).map(str::trim).filter(|a| !a.is_empty()).map(str::to_owned).collect()
}

async fn sign_out(command: Command, session: &Session, report: &Report) {
    let Some(client) = session.client() else {
        return report(NetEvent::SignedOut { kept: None, reason: None });
    };
    let result = match &command {
        Command::Logout => client.logout().await,
        Command::DeleteAccount { password } => client.delete_account(password).await,
        _ => Ok(()),
    };
    match (command, result) {
        (Command::Disconnect, _) => {
            let brokers = session.brokers.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let kept = client.token().map(|token| (brokers, token));
            session.replace(None);
            report(NetEvent::SignedOut { kept, reason: None });
        }
        // Logging out of a dead connection still ends the session here; the token is forgotten.
        (Command::Logout, Ok(()) | Err(ClientError::Disconnected)) => {
            session.replace(None);
            report(NetEvent::SignedOut { kept: None, reason: None });
        }
        (Command::DeleteAccount { .. }, Ok(())) => {
            session.replace(None);
            report(NetEvent::SignedOut {
                kept: None,
                reason: Some(crate::i18n::end_reason_text(joint_wire::message::EndReason::AccountDeleted)),
            });
        }
        (_, Err(err)) => report(NetEvent::Failed(error_text(&err))),
        (_, Ok(())) => {}
    }
}

async fn run(command: Command, client: Client, report: Report) {
    let outcome = match command {
        Command::LoadGroup { gid, group } => load_group(&client, gid, &group, &report).await,
        Command::Older { gid, group, before } => client
            .history(&group, Some(gid), Some(before), None, Some(PAGE))
            .await
            .map(|page| report(NetEvent::History { gid, messages: page.messages, more: page.more })),
        Command::Members { gid, group } => members(&client, gid, &group, &report).await,
        Command::Publish { group, body } => {
            let event = match client.publish(&group, &body).await {
                Ok(_) => NetEvent::Sent,
                Err(err) => NetEvent::SendFailed(error_text(&err)),
            };
            report(event);
            Ok(())
        }
        // A marker lost with the connection moves with the next one.
        Command::MarkRead { group, seq } => client.mark_read(&group, seq).await.map(drop).or_else(ignore_lost),
        Command::UserInfo { login } => client.user(&login).await.map(|user| report(NetEvent::UserInfo(user))),
        Command::RefetchGroups => client.groups().await.map(|groups| report(NetEvent::Groups(groups))),
        Command::CreateGroup { group, members } => {
            client.group_create(&group, &members).await.map(|_| report(NetEvent::Done))
        }
        Command::AddMembers { group, logins } => {
            client.member_add(&group, &logins).await.map(|_| report(NetEvent::Done))
        }
        Command::RemoveMembers { group, logins } => {
            client.member_remove(&group, &logins).await.map(|_| report(NetEvent::Done))
        }
        Command::HandOver { group, login } => client.group_admin(&group, &login).await.map(|_| report(NetEvent::Done)),
        Command::DeleteGroup { group } => client.group_delete(&group).await.map(|_| report(NetEvent::Done)),
        Command::Leave { group } => client.leave(&group).await.map(|_| report(NetEvent::Done)),
        Command::SetName { name } => client.set_name(&name).await.map(|me| report(NetEvent::Renamed(me))),
        Command::Passwd { old, new } => client.passwd(&old, &new).await.map(|_| report(NetEvent::Done)),
        Command::SignIn { .. }
        | Command::SignUp { .. }
        | Command::Resume { .. }
        | Command::Logout
        | Command::Disconnect
        | Command::DeleteAccount { .. } => Ok(()),
    };
    if let Err(err) = outcome {
        report(NetEvent::Failed(error_text(&err)));
    }
}

fn ignore_lost(err: ClientError) -> Result<(), ClientError> {
    match err {
        ClientError::Disconnected => Ok(()),
        other => Err(other),
    }
}

/// The latest page, then a subscription after its last seq: the subscription replays
/// whatever was stored in between, so nothing is missed and the model merges by seq.
async fn load_group(client: &Client, gid: u64, group: &str, report: &Report) -> Result<(), ClientError> {
    let page = client.history(group, Some(gid), None, None, Some(PAGE)).await?;
    let after = page.messages.last().map_or(page.last_seq, |m| m.seq);
    report(NetEvent::History { gid, messages: page.messages, more: page.more });
    client.subscribe(group, Some(gid), Some(after)).await?;
    Ok(())
}

async fn members(client: &Client, gid: u64, group: &str, report: &Report) -> Result<(), ClientError> {
    let mut all: Vec<UserEntry> = Vec::new();
    loop {
        let after = all.last().map(|m| m.login.clone());
        let page = client.members(group, after.as_deref(), Some(MEMBERS_PAGE)).await?;
        all.extend(page.members);
        if !page.more {
            break;
        }
    }
    report(NetEvent::Members { gid, members: all });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::broker_list;

    #[test]
    fn the_broker_field_holds_one_or_several_addresses() {
        assert_eq!(broker_list("a:1"), vec!["a:1"]);
        assert_eq!(broker_list(" a:1, b:2 ,c:3"), vec!["a:1", "b:2", "c:3"]);
        assert_eq!(broker_list("a:1 b:2"), vec!["a:1", "b:2"]);
        assert!(broker_list(" , ").is_empty());
    }
}
