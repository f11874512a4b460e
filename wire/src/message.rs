//! Typed requests, reply payloads and events (CONTRACT.md §2, §8, §9).
//!
//! Requests are parsed from a validated [`Payload`] by hand rather than through serde so that
//! every failure names the argument that was wrong. Replies and events are plain serde types.

use crate::codec::{from_value, Payload};
use crate::error::{ErrorBody, ErrorCode};
use rmpv::Value;
use serde::{Deserialize, Serialize};

/// Every operation this version of the broker understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Announces the client's protocol version and returns the broker's limits; optional, first request only.
    Hello,
    /// Creates an account and signs the connection in as it, returning a new session token.
    Register,
    /// Signs the connection in with login and password, returning a new session token.
    Login,
    /// Signs the connection in with a saved session token.
    Auth,
    /// Ends the session: its token dies and every connection using it gets `session_ended`.
    Logout,
    /// Returns the signed-in user's login and display name.
    Me,
    /// Changes the caller's display name (stored in NFC); sends no event.
    SetName,
    /// Changes the caller's password and ends the account's other sessions.
    Passwd,
    /// Deletes the caller's account after checking its password; the login stays retired.
    DeleteAccount,
    /// Lists accounts, one page in login byte order, with whether each is online.
    Users,
    /// Returns one user, whether they are online and the groups they share with the caller.
    User,
    /// Lists the caller's groups, oldest first (`all` first).
    Groups,
    /// Creates a group with the caller as admin, optionally adding first members.
    GroupCreate,
    /// Deletes a group (admin only); every member gets `group_deleted`.
    GroupDelete,
    /// Hands a group's administration to another member (admin only).
    GroupAdmin,
    /// Lists a group's members, one page in login byte order (members only).
    Members,
    /// Adds accounts to a group (admin only); existing members are skipped.
    MemberAdd,
    /// Removes members from a group (admin only); logins that are not members are skipped.
    MemberRemove,
    /// Takes the caller out of a group (not its admin, not `all`).
    Leave,
    /// Starts live delivery of a group's messages, from a seq on.
    Subscribe,
    /// Stops live delivery of a group's messages.
    Unsubscribe,
    /// Stores a message in a group; answered once it is committed, with its seq.
    Publish,
    /// Reads one page of a group's stored messages.
    History,
    /// Moves the caller's read marker of a group forward.
    MarkRead,
    /// Does nothing and never fails: the keep-alive, allowed on anonymous connections too.
    Ping,
    /// Deletes a message, leaving a tombstone (the sender, the group's admin or an operator).
    MessageDelete,
    /// Disables an account: its sessions end and it cannot sign in (operators only).
    UserDisable,
    /// Lets a disabled account sign in again (operators only).
    UserEnable,
    /// Creates an account without signing in as it (operators only; for closed registration).
    UserCreate,
}

impl Op {
    /// All operations, for tables and tests.
    pub const ALL: [Op; 29] = [
        Op::Hello,
        Op::Register,
        Op::Login,
        Op::Auth,
        Op::Logout,
        Op::Me,
        Op::SetName,
        Op::Passwd,
        Op::DeleteAccount,
        Op::Users,
        Op::User,
        Op::Groups,
        Op::GroupCreate,
        Op::GroupDelete,
        Op::GroupAdmin,
        Op::Members,
        Op::MemberAdd,
        Op::MemberRemove,
        Op::Leave,
        Op::Subscribe,
        Op::Unsubscribe,
        Op::Publish,
        Op::History,
        Op::MarkRead,
        Op::Ping,
        Op::MessageDelete,
        Op::UserDisable,
        Op::UserEnable,
        Op::UserCreate,
    ];

    /// The operation's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Op::Hello => "hello",
            Op::Register => "register",
            Op::Login => "login",
            Op::Auth => "auth",
            Op::Logout => "logout",
            Op::Me => "me",
            Op::SetName => "set_name",
            Op::Passwd => "passwd",
            Op::DeleteAccount => "delete_account",
            Op::Users => "users",
            Op::User => "user",
            Op::Groups => "groups",
            Op::GroupCreate => "group_create",
            Op::GroupDelete => "group_delete",
            Op::GroupAdmin => "group_admin",
            Op::Members => "members",
            Op::MemberAdd => "member_add",
            Op::MemberRemove => "member_remove",
            Op::Leave => "leave",
            Op::Subscribe => "subscribe",
            Op::Unsubscribe => "unsubscribe",
            Op::Publish => "publish",
            Op::History => "history",
            Op::MarkRead => "mark_read",
            Op::Ping => "ping",
            Op::MessageDelete => "message_delete",
            Op::UserDisable => "user_disable",
            Op::UserEnable => "user_enable",
            Op::UserCreate => "user_create",
        }
    }

    /// The operation named `name`, or `None` for an unknown operation.
    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == name)
    }

    /// Whether an anonymous connection may use it.
    pub fn allowed_anonymous(self) -> bool {
        matches!(self, Op::Hello | Op::Register | Op::Login | Op::Auth | Op::Ping)
    }

    /// Whether it signs a connection in (refused with `already_authenticated` when signed in).
    pub fn signs_in(self) -> bool {
        matches!(self, Op::Register | Op::Login | Op::Auth)
    }
}

/// A request as the client meant it, after its arguments were checked for type.
///
/// Values (lengths, character classes) are checked by the broker, which owns those rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `hello`: asks for a protocol version and learns the broker's limits.
    Hello {
        /// The protocol version the client speaks; only 1 is supported.
        version: u64,
        /// The client program's name and version (e.g. `joint-wire/0.1.0`); not used by the broker yet.
        client: Option<String>,
        /// The end user's IPv4 or IPv6 address, believed only when the peer is a `--trusted-proxy`.
        client_ip: Option<String>,
    },
    /// `register`: creates an account and signs in as it.
    Register {
        /// The new account's login, 3–32 of `a-z 0-9 _ . -`, starting with a letter or digit.
        login: String,
        /// The display name, 1–64 scalar values after NFC, no control or bidi characters.
        name: String,
        /// The password, 8–1024 bytes.
        password: String,
    },
    /// `login`: signs in with a password.
    Login {
        /// The account's login, 3–32 of `a-z 0-9 _ . -`, starting with a letter or digit.
        login: String,
        /// The account's password, 8–1024 bytes.
        password: String,
    },
    /// `auth`: signs in with a saved session token.
    Auth {
        /// A token from `register` or `login`: 43 base64url characters.
        token: String,
    },
    /// `logout`: ends this connection's session.
    Logout,
    /// `me`: asks who is signed in.
    Me,
    /// `set_name`: changes the caller's display name.
    SetName {
        /// The new display name, 1–64 scalar values after NFC, no control or bidi characters.
        name: String,
    },
    /// `passwd`: changes the caller's password.
    Passwd {
        /// The current password, 8–1024 bytes.
        old: String,
        /// The new password, 8–1024 bytes.
        new: String,
    },
    /// `delete_account`: deletes the caller's account.
    DeleteAccount {
        /// The account's current password, checked before anything is deleted.
        password: String,
    },
    /// `users`: one page of accounts.
    Users {
        /// Start after this login (exclusive, compared bytewise); `None` starts at the first.
        after: Option<String>,
        /// Page size: default 100, above 1000 clamped, 0 is `invalid_argument`.
        limit: Option<u64>,
    },
    /// `user`: one account and the groups it shares with the caller.
    User {
        /// The login to look up.
        login: String,
    },
    /// `groups`: the caller's groups.
    Groups,
    /// `group_create`: creates a group administered by the caller.
    GroupCreate {
        /// The new group's name: a display name without `/`, not `all`.
        group: String,
        /// Logins to add besides the caller, at most 1,000; empty for none (then the key is not sent).
        members: Vec<String>,
    },
    /// `group_delete`: deletes a group the caller administers.
    GroupDelete {
        /// The name of the group to delete.
        group: String,
    },
    /// `group_admin`: hands a group's administration to another member.
    GroupAdmin {
        /// The group's name.
        group: String,
        /// The login of the member who becomes admin.
        login: String,
    },
    /// `members`: one page of a group's members.
    Members {
        /// The group's name.
        group: String,
        /// Start after this login (exclusive, compared bytewise); `None` starts at the first.
        after: Option<String>,
        /// Page size: default 100, above 1000 clamped, 0 is `invalid_argument`.
        limit: Option<u64>,
    },
    /// `member_add`: adds accounts to a group the caller administers.
    MemberAdd {
        /// The group's name.
        group: String,
        /// Logins to add, at most 1,000; duplicates and existing members are skipped.
        logins: Vec<String>,
    },
    /// `member_remove`: removes members from a group the caller administers.
    MemberRemove {
        /// The group's name.
        group: String,
        /// Logins to remove, at most 1,000; logins that are not members are skipped.
        logins: Vec<String>,
    },
    /// `leave`: takes the caller out of a group.
    Leave {
        /// The name of the group to leave.
        group: String,
    },
    /// `subscribe`: delivers every message with seq > `after` in order, stored ones first.
    Subscribe {
        /// The group's name.
        group: String,
        /// The group's gid, to refuse a group deleted and re-created under the same name.
        gid: Option<u64>,
        /// The last seq the client has; without it, only messages after the current last_seq.
        after: Option<u64>,
    },
    /// `unsubscribe`: no `message` of the group follows the reply.
    Unsubscribe {
        /// The group's name.
        group: String,
    },
    /// `publish`: stores a message.
    Publish {
        /// The group's name.
        group: String,
        /// The text, 1 byte to `max_body` bytes of UTF-8 without U+0000.
        body: String,
        /// The client's id for this message, 1–64 bytes: a retry with the same cid is
        /// stored once and answered with the first seq and `at`.
        cid: Option<String>,
    },
    /// `history`: one page of stored messages, ascending by seq.
    History {
        /// The group's name.
        group: String,
        /// The group's gid, to refuse a group deleted and re-created under the same name.
        gid: Option<u64>,
        /// Only messages with a smaller seq.
        before: Option<u64>,
        /// Only messages with a larger seq.
        after: Option<u64>,
        /// At most this many (1–1000, default 50; above 1000 is clamped).
        limit: Option<u64>,
    },
    /// `mark_read`: the caller has read the group up to `seq`.
    MarkRead {
        /// The group's name.
        group: String,
        /// The last seq read; clamped to the group's `last_seq`.
        seq: u64,
    },
    /// `ping`: the keep-alive.
    Ping,
    /// `message_delete`: replaces a message's body with a tombstone.
    MessageDelete {
        /// The group's name.
        group: String,
        /// The seq of the message to delete.
        seq: u64,
    },
    /// `user_disable`: disables an account (operators only).
    UserDisable {
        /// The account's login.
        login: String,
    },
    /// `user_enable`: enables a disabled account again (operators only).
    UserEnable {
        /// The account's login.
        login: String,
    },
    /// `user_create`: creates an account (operators only).
    UserCreate {
        /// The new account's login, 3–32 of `a-z 0-9 _ . -`, starting with a letter or digit.
        login: String,
        /// The display name, 1–64 scalar values after NFC, no control or bidi characters.
        name: String,
        /// The password, 8–1024 bytes.
        password: String,
    },
}

/// The envelope of a request: its id and the raw operation name, before anything else is
/// checked. Splitting this step out lets the broker apply the contract's precedence.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The client's request id, echoed as `re`.
    pub id: u64,
    /// The operation, or the error for a missing, mistyped or unknown `op`.
    pub op: Result<Op, ErrorBody>,
    /// The whole payload, for [`Request::parse`].
    pub payload: Payload,
}

impl Envelope {
    /// Reads `id` and `op`. A missing or invalid `id` is the `Err` case: a `bad_frame`
    /// connection error, since there is no id to answer.
    pub fn read(payload: Payload) -> Result<Envelope, ErrorBody> {
        let id = match payload.get("id") {
            Some(value) => value
                .as_u64()
                .ok_or_else(|| ErrorBody::new(ErrorCode::BadFrame, "the request id must be an unsigned integer"))?,
            None => return Err(ErrorBody::new(ErrorCode::BadFrame, "the request has no id")),
        };
        let op = match payload.get("op") {
            Some(Value::String(s)) => match s.as_str() {
                Some(name) => Op::from_name(name).ok_or_else(|| {
                    ErrorBody::new(ErrorCode::UnknownOp, format!("unknown operation {:?}", crate::codec::excerpt(name)))
                        .with_field("op")
                }),
                None => Err(invalid("op", "must be valid UTF-8")),
            },
            Some(_) => Err(invalid("op", "must be a string")),
            None => Err(invalid("op", "is missing")),
        };
        Ok(Envelope { id, op, payload })
    }
}

/// An `invalid_argument` error naming `field`.
pub fn invalid(field: &str, problem: &str) -> ErrorBody {
    ErrorBody::new(ErrorCode::InvalidArgument, format!("{field} {problem}")).with_field(field)
}

/// Typed access to a request's arguments, each failure naming the field.
struct Args<'a>(&'a Payload);

impl Args<'_> {
    fn opt_string(&self, field: &str) -> Result<Option<String>, ErrorBody> {
        match self.0.get(field) {
            None | Some(Value::Nil) => Ok(None),
            Some(Value::String(s)) => match s.as_str() {
                Some(text) => Ok(Some(text.to_owned())),
                None => Err(invalid(field, "must be valid UTF-8")),
            },
            Some(_) => Err(invalid(field, "must be a string")),
        }
    }

    fn string(&self, field: &str) -> Result<String, ErrorBody> {
        self.opt_string(field)?.ok_or_else(|| invalid(field, "is missing"))
    }

    fn opt_u64(&self, field: &str) -> Result<Option<u64>, ErrorBody> {
        match self.0.get(field) {
            None | Some(Value::Nil) => Ok(None),
            Some(value) => value.as_u64().map(Some).ok_or_else(|| invalid(field, "must be an unsigned integer")),
        }
    }

    fn u64(&self, field: &str) -> Result<u64, ErrorBody> {
        self.opt_u64(field)?.ok_or_else(|| invalid(field, "is missing"))
    }

    fn opt_strings(&self, field: &str) -> Result<Option<Vec<String>>, ErrorBody> {
        match self.0.get(field) {
            None | Some(Value::Nil) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item.as_str() {
                    Some(text) => Ok(text.to_owned()),
                    None => Err(invalid(field, "must be an array of strings")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(invalid(field, "must be an array of strings")),
        }
    }

    fn strings(&self, field: &str) -> Result<Vec<String>, ErrorBody> {
        self.opt_strings(field)?.ok_or_else(|| invalid(field, "is missing"))
    }
}

impl Request {
    /// Reads the arguments of `op` from `payload`; extra keys are ignored.
    pub fn parse(op: Op, payload: &Payload) -> Result<Request, ErrorBody> {
        let a = Args(payload);
        Ok(match op {
            Op::Hello => Request::Hello {
                version: a.u64("version")?,
                client: a.opt_string("client")?,
                client_ip: a.opt_string("client_ip")?,
            },
            Op::Register => Request::Register {
                login: a.string("login")?,
                name: a.string("name")?,
                password: a.string("password")?,
            },
            Op::Login => Request::Login { login: a.string("login")?, password: a.string("password")? },
            Op::Auth => Request::Auth { token: a.string("token")? },
            Op::Logout => Request::Logout,
            Op::Me => Request::Me,
            Op::SetName => Request::SetName { name: a.string("name")? },
            Op::Passwd => Request::Passwd { old: a.string("old")?, new: a.string("new")? },
            Op::DeleteAccount => Request::DeleteAccount { password: a.string("password")? },
            Op::Users => Request::Users { after: a.opt_string("after")?, limit: a.opt_u64("limit")? },
            Op::User => Request::User { login: a.string("login")? },
            Op::Groups => Request::Groups,
            Op::GroupCreate => Request::GroupCreate {
                group: a.string("group")?,
                members: a.opt_strings("members")?.unwrap_or_default(),
            },
            Op::GroupDelete => Request::GroupDelete { group: a.string("group")? },
            Op::GroupAdmin => Request::GroupAdmin { group: a.string("group")?, login: a.string("login")? },
            Op::Members => Request::Members {
                group: a.string("group")?,
                after: a.opt_string("after")?,
                limit: a.opt_u64("limit")?,
            },
            Op::MemberAdd => Request::MemberAdd { group: a.string("group")?, logins: a.strings("logins")? },
            Op::MemberRemove => Request::MemberRemove { group: a.string("group")?, logins: a.strings("logins")? },
            Op::Leave => Request::Leave { group: a.string("group")? },
            Op::Subscribe => {
                Request::Subscribe { group: a.string("group")?, gid: a.opt_u64("gid")?, after: a.opt_u64("after")? }
            }
            Op::Unsubscribe => Request::Unsubscribe { group: a.string("group")? },
            Op::Publish => {
                Request::Publish { group: a.string("group")?, body: a.string("body")?, cid: a.opt_string("cid")? }
            }
            Op::History => Request::History {
                group: a.string("group")?,
                gid: a.opt_u64("gid")?,
                before: a.opt_u64("before")?,
                after: a.opt_u64("after")?,
                limit: a.opt_u64("limit")?,
            },
            Op::MarkRead => Request::MarkRead { group: a.string("group")?, seq: a.u64("seq")? },
            Op::Ping => Request::Ping,
            Op::MessageDelete => Request::MessageDelete { group: a.string("group")?, seq: a.u64("seq")? },
            Op::UserDisable => Request::UserDisable { login: a.string("login")? },
            Op::UserEnable => Request::UserEnable { login: a.string("login")? },
            Op::UserCreate => Request::UserCreate {
                login: a.string("login")?,
                name: a.string("name")?,
                password: a.string("password")?,
            },
        })
    }

    /// The operation of this request.
    pub fn op(&self) -> Op {
        match self {
            Request::Hello { .. } => Op::Hello,
            Request::Register { .. } => Op::Register,
            Request::Login { .. } => Op::Login,
            Request::Auth { .. } => Op::Auth,
            Request::Logout => Op::Logout,
            Request::Me => Op::Me,
            Request::SetName { .. } => Op::SetName,
            Request::Passwd { .. } => Op::Passwd,
            Request::DeleteAccount { .. } => Op::DeleteAccount,
            Request::Users { .. } => Op::Users,
            Request::User { .. } => Op::User,
            Request::Groups => Op::Groups,
            Request::GroupCreate { .. } => Op::GroupCreate,
            Request::GroupDelete { .. } => Op::GroupDelete,
            Request::GroupAdmin { .. } => Op::GroupAdmin,
            Request::Members { .. } => Op::Members,
            Request::MemberAdd { .. } => Op::MemberAdd,
            Request::MemberRemove { .. } => Op::MemberRemove,
            Request::Leave { .. } => Op::Leave,
            Request::Subscribe { .. } => Op::Subscribe,
            Request::Unsubscribe { .. } => Op::Unsubscribe,
            Request::Publish { .. } => Op::Publish,
            Request::History { .. } => Op::History,
            Request::MarkRead { .. } => Op::MarkRead,
            Request::Ping => Op::Ping,
            Request::MessageDelete { .. } => Op::MessageDelete,
            Request::UserDisable { .. } => Op::UserDisable,
            Request::UserEnable { .. } => Op::UserEnable,
            Request::UserCreate { .. } => Op::UserCreate,
        }
    }

    /// The request's arguments in wire order (without `id` and `op`); absent options are left out.
    fn arguments(&self) -> Vec<(&'static str, Value)> {
        fn s(text: &str) -> Value {
            Value::from(text)
        }
        fn list(items: &[String]) -> Value {
            Value::Array(items.iter().map(|i| s(i)).collect())
        }
        let mut args = Vec::new();
        let mut opt = |key: &'static str, value: Option<Value>| {
            if let Some(value) = value {
                args.push((key, value));
            }
        };
        match self {
            Request::Hello { version, client, client_ip } => {
                opt("version", Some(Value::from(*version)));
                opt("client", client.as_deref().map(s));
                opt("client_ip", client_ip.as_deref().map(s));
            }
            Request::Register { login, name, password } | Request::UserCreate { login, name, password } => {
                opt("login", Some(s(login)));
                opt("name", Some(s(name)));
                opt("password", Some(s(password)));
            }
            Request::Login { login, password } => {
                opt("login", Some(s(login)));
                opt("password", Some(s(password)));
            }
            Request::Auth { token } => opt("token", Some(s(token))),
            Request::SetName { name } => opt("name", Some(s(name))),
            Request::Passwd { old, new } => {
                opt("old", Some(s(old)));
                opt("new", Some(s(new)));
            }
            Request::DeleteAccount { password } => opt("password", Some(s(password))),
            Request::Users { after, limit } => {
                opt("after", after.as_deref().map(s));
                opt("limit", limit.map(Value::from));
            }
            Request::User { login } | Request::UserDisable { login } | Request::UserEnable { login } => {
                opt("login", Some(s(login)))
            }
            Request::GroupCreate { group, members } => {
                opt("group", Some(s(group)));
                opt("members", (!members.is_empty()).then(|| list(members)));
            }
            Request::GroupDelete { group } | Request::Leave { group } => opt("group", Some(s(group))),
            Request::GroupAdmin { group, login } => {
                opt("group", Some(s(group)));
                opt("login", Some(s(login)));
            }
            Request::Members { group, after, limit } => {
                opt("group", Some(s(group)));
                opt("after", after.as_deref().map(s));
                opt("limit", limit.map(Value::from));
            }
            Request::MemberAdd { group, logins } | Request::MemberRemove { group, logins } => {
                opt("group", Some(s(group)));
                opt("logins", Some(list(logins)));
            }
            Request::Subscribe { group, gid, after } => {
                opt("group", Some(s(group)));
                opt("gid", gid.map(Value::from));
                opt("after", after.map(Value::from));
            }
            Request::Unsubscribe { group } => opt("group", Some(s(group))),
            Request::Publish { group, body, cid } => {
                opt("group", Some(s(group)));
                opt("body", Some(s(body)));
                opt("cid", cid.as_deref().map(s));
            }
            Request::History { group, gid, before, after, limit } => {
                opt("group", Some(s(group)));
                opt("gid", gid.map(Value::from));
                opt("before", before.map(Value::from));
                opt("after", after.map(Value::from));
                opt("limit", limit.map(Value::from));
            }
            Request::MarkRead { group, seq } | Request::MessageDelete { group, seq } => {
                opt("group", Some(s(group)));
                opt("seq", Some(Value::from(*seq)));
            }
            Request::Logout | Request::Me | Request::Groups | Request::Ping => {}
        }
        args
    }

    /// The request as a payload: `{"id", "op", ...arguments}`.
    pub fn to_payload(&self, id: u64) -> Payload {
        let mut entries = vec![("id".to_owned(), Value::from(id)), ("op".to_owned(), Value::from(self.op().name()))];
        entries.extend(self.arguments().into_iter().map(|(k, v)| (k.to_owned(), v)));
        Payload::from_entries(entries)
    }

    /// The request's MessagePack bytes (without the length prefix).
    pub fn encode(&self, id: u64) -> Vec<u8> {
        self.to_payload(id).encode()
    }
}

/// A user as others see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// The account's login, 3–32 of `a-z 0-9 _ . -`, starting with a letter or digit.
    pub login: String,
    /// The account's display name, as stored (NFC).
    pub name: String,
}

/// A user in a list, with whether they are connected now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEntry {
    /// The account's login, 3–32 of `a-z 0-9 _ . -`, starting with a letter or digit.
    pub login: String,
    /// The account's display name, as stored (NFC).
    pub name: String,
    /// Whether the user has at least one authenticated connection now (not debounced).
    pub online: bool,
}

/// The group object of §6, as seen by one member (`read_seq` is theirs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// The group's id, never reused: a group re-created under the same name gets a new gid.
    pub gid: u64,
    /// The group's name, as stored (NFC); unique among live groups.
    pub name: String,
    /// The admin's login; `None` only for `all`.
    pub admin: Option<String>,
    /// Number of members, admin included.
    pub members: u64,
    /// The group's latest message sequence number, 0 before any message.
    pub last_seq: u64,
    /// The highest seq this member marked read; starts at the group's `last_seq` when they join.
    pub read_seq: u64,
}

/// `hello`'s reply: the broker's version and real limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloOk {
    /// The protocol version the broker speaks on this connection (1).
    pub version: u64,
    /// The broker's program name and version, e.g. `joint-broker/0.1.0`.
    pub server: String,
    /// The largest payload the broker accepts or sends, in bytes (default 1 MiB).
    pub max_frame: u64,
    /// The largest message body `publish` accepts, in bytes (default 64 KiB).
    pub max_body: u64,
    /// The most messages one `history` reply holds (1000).
    pub history_max: u64,
    /// How often the client should send a request (e.g. `ping`) to keep the connection, in ms.
    pub ping_interval_ms: u64,
    /// How long a signed-in connection may stay silent before `idle_timeout`, in ms.
    pub idle_timeout_ms: u64,
}

/// The reply of `register`, `login` and `auth` (`auth` carries no token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionOk {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The new session token (43 base64url characters); `None` in `auth`'s reply.
    pub token: Option<String>,
    /// The account the connection is now signed in as.
    pub user: UserInfo,
    /// The account's groups, oldest first (`all` first).
    pub groups: Vec<Group>,
}

/// `me` and `set_name`: `{user}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserOk {
    /// The signed-in account, with its display name as stored (NFC).
    pub user: UserInfo,
}

/// `users`: one page in login byte order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsersPage {
    /// The page's accounts, deleted accounts left out.
    pub users: Vec<UserEntry>,
    /// Whether accounts after the last one returned exist (also when the page was cut to fit `max_frame`).
    pub more: bool,
}

/// `members`: one page in login byte order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembersPage {
    /// The page's members, the admin included.
    pub members: Vec<UserEntry>,
    /// Whether members after the last one returned exist (also when the page was cut to fit `max_frame`).
    pub more: bool,
}

/// `user`: one user and the groups they share with the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDetail {
    /// The account's login, 3–32 of `a-z 0-9 _ . -`, starting with a letter or digit.
    pub login: String,
    /// The account's display name, as stored (NFC).
    pub name: String,
    /// Whether the user has at least one authenticated connection now (not debounced).
    pub online: bool,
    /// Names of the live groups the user shares with the caller, oldest first (`all` included).
    pub groups: Vec<String>,
}

/// `groups`: the caller's groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupsOk {
    /// The caller's groups, oldest first (`all` first).
    pub groups: Vec<Group>,
}

/// `group_create` and `group_admin`: `{group}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupOk {
    /// The group as the caller sees it after the change.
    pub group: Group,
}

/// `member_add`: the logins that became members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddedOk {
    /// The logins that became members, in the order given.
    pub added: Vec<String>,
}

/// `member_remove`: the logins that stopped being members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedOk {
    /// The logins that stopped being members.
    pub removed: Vec<String>,
}

/// A stored message (CONTRACT.md §7), as `history` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The group's name.
    pub group: String,
    /// The group's gid.
    pub gid: u64,
    /// Its place in the group's order: 1, 2, 3, … without gap.
    pub seq: u64,
    /// The sender's login.
    pub from: String,
    /// The sender's display name when the message was published.
    pub name: String,
    /// The text, byte-exact; empty once the message is deleted.
    pub body: String,
    /// When the database stored it, in milliseconds since the Unix epoch (UTC).
    pub at: u64,
    /// True for a tombstone: the message was deleted (`message_delete`) and its body is gone.
    /// Sent only when true.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// `subscribe`: the group's identity and where it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeOk {
    /// The group's gid: pass it back when resubscribing.
    pub gid: u64,
    /// The group's latest seq when the subscription started.
    pub last_seq: u64,
}

/// `publish`: where the committed message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PublishOk {
    /// The message's seq in its group.
    pub seq: u64,
    /// When it was stored, in milliseconds since the Unix epoch.
    pub at: u64,
}

/// `history`: one page of messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryOk {
    /// The messages, ascending by seq.
    pub messages: Vec<Message>,
    /// Whether the requested range holds messages this page left out.
    pub more: bool,
    /// The group's latest seq.
    pub last_seq: u64,
}

/// `mark_read`: the caller's read marker after the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkReadOk {
    /// The read marker; it never moves back.
    pub read_seq: u64,
}

/// An empty reply, `{}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Empty {}

/// The group fields spread into `group_added` and `group_updated`: the group object with
/// its name under `group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupEvent {
    /// The group's name.
    pub group: String,
    /// The group's id, never reused.
    pub gid: u64,
    /// The admin's login; `None` only for `all`.
    pub admin: Option<String>,
    /// Number of members, admin included.
    pub members: u64,
    /// The group's latest message sequence number, 0 before any message.
    pub last_seq: u64,
    /// The receiving user's read position: the highest seq they marked read.
    pub read_seq: u64,
}

impl From<Group> for GroupEvent {
    fn from(g: Group) -> Self {
        GroupEvent {
            group: g.name,
            gid: g.gid,
            admin: g.admin,
            members: g.members,
            last_seq: g.last_seq,
            read_seq: g.read_seq,
        }
    }
}

/// Why a member left a group (`group_removed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovedReason {
    /// The admin removed the member with `member_remove`.
    Removed,
    /// The member left with `leave`.
    Left,
}

/// Why a session ended (`session_ended`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// `logout` with this token.
    Logout,
    /// The account was deleted (`delete_account`).
    AccountDeleted,
    /// `passwd` from another session of the account.
    PasswordChanged,
    /// The token went unused longer than its lifetime (30 days by default).
    Expired,
    /// An operator disabled the account (`user_disable`).
    Disabled,
}

/// An unsolicited frame from the broker (CONTRACT.md §9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event {
    /// A message, to the connections subscribed to its group, in seq order.
    Message(Message),
    /// To a subscription that fell behind: `seq` is the last message delivered; the next
    /// `message` is seq + 1, read from storage until it has caught up.
    Lagged {
        /// The group's name.
        group: String,
        /// The group's gid.
        gid: u64,
        /// The last seq delivered.
        seq: u64,
    },
    /// To every connection of each user added (`member_add`) and of each member of a new group (`group_create`).
    GroupAdded(GroupEvent),
    /// To every connection of a user removed from a group (`member_remove`) or who left it (`leave`).
    GroupRemoved {
        /// The group's name.
        group: String,
        /// The group's id.
        gid: u64,
        /// Whether the user was removed or left.
        reason: RemovedReason,
    },
    /// To every connection of every member, admin included, when the group is deleted (instead of `group_removed`).
    GroupDeleted {
        /// The group's name.
        group: String,
        /// The group's id.
        gid: u64,
        /// The group's latest message sequence number when it was deleted.
        last_seq: u64,
    },
    /// To every connection of every member when the admin changes (`group_admin`, or the admin's `delete_account`).
    GroupUpdated(GroupEvent),
    /// To every connection of the members from before a `member_add`, once per added login; never for `all`.
    MemberJoined {
        /// The group's name.
        group: String,
        /// The group's id.
        gid: u64,
        /// The new member's login.
        login: String,
    },
    /// To every connection of the remaining members after `member_remove`, `leave` or `delete_account`; not for `all`.
    MemberLeft {
        /// The group's name.
        group: String,
        /// The group's id.
        gid: u64,
        /// The login that stopped being a member.
        login: String,
    },
    /// To connections subscribed to a group other than `all` shared with the user, when the user's count of
    /// authenticated connections goes between 0 and 1 (debounced ~1 s; comes with messaging).
    Presence {
        /// The user whose presence changed.
        login: String,
        /// Whether the user now has an authenticated connection.
        online: bool,
    },
    /// To the user's other connections after their `mark_read` moved `read_seq` (comes with messaging).
    Read {
        /// The group's name.
        group: String,
        /// The group's id.
        gid: u64,
        /// The user's new read position: the highest seq marked read.
        read_seq: u64,
    },
    /// To every connection signed in with a token that died; the connection is anonymous again and stays open.
    SessionEnded {
        /// Why the token died.
        reason: EndReason,
    },
    /// To a connection whose queued events overflowed; refetch `groups` and `members`.
    Resync,
    /// To connections subscribed to the group that were already sent the message: it is now a
    /// tombstone (a `message` of it sent later carries `deleted: true` and an empty body).
    MessageDeleted {
        /// The group's name.
        group: String,
        /// The group's id.
        gid: u64,
        /// The deleted message's seq.
        seq: u64,
    },
}

#[derive(Serialize)]
struct OkFrame<'a, T> {
    re: u64,
    ok: &'a T,
}

#[derive(Serialize)]
struct ErrFrame<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    re: Option<u64>,
    err: &'a ErrorBody,
}

/// Encodes `{"re": id, "ok": ok}`.
pub fn encode_ok<T: Serialize>(re: u64, ok: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(&OkFrame { re, ok }).expect("reply types always serialize")
}

/// Encodes `{"re": id, "err": err}`, or a connection error `{"err": err}` when `re` is `None`.
pub fn encode_err(re: Option<u64>, err: &ErrorBody) -> Vec<u8> {
    rmp_serde::to_vec_named(&ErrFrame { re, err }).expect("error bodies always serialize")
}

/// Encodes an event.
pub fn encode_event(event: &Event) -> Vec<u8> {
    rmp_serde::to_vec_named(event).expect("events always serialize")
}

/// A frame received from the broker, classified by its envelope.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A successful reply; the payload is typed by whoever sent the request.
    Ok {
        /// The id of the request this answers.
        re: u64,
        /// The `ok` map, still undecoded.
        ok: Value,
    },
    /// An error reply.
    Err {
        /// The id of the request this answers.
        re: u64,
        /// Why the broker refused the request.
        err: ErrorBody,
    },
    /// An event.
    Event(Event),
    /// A connection error (the broker closes afterwards unless the code is `bad_frame`).
    ConnectionError(ErrorBody),
}

/// Why a broker frame could not be understood.
#[derive(Debug, thiserror::Error)]
#[error("unexpected frame from the broker: {0}")]
pub struct IncomingError(pub String);

impl Incoming {
    /// Decodes a payload sent by the broker. The broker writes an event's `ev`, and a reply's
    /// `re` then `ok`, as their first keys; such payloads are decoded in one pass, straight
    /// into their types (a subscriber decodes every message it gets, so this is a client's
    /// hot path). Anything else, and anything the fast path cannot read, goes through
    /// [`Payload::parse`] and [`Incoming::parse`], whose errors say what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Incoming, IncomingError> {
        if let Some(incoming) = decode_common(bytes) {
            return Ok(incoming);
        }
        let payload = Payload::parse(bytes).map_err(|err| IncomingError(err.reason))?;
        Incoming::parse(&payload)
    }

    /// Classifies a payload sent by the broker.
    pub fn parse(payload: &Payload) -> Result<Incoming, IncomingError> {
        let err = |what: &str| IncomingError(what.to_owned());
        if payload.get("ev").is_some() {
            let event = from_value(&payload.to_value()).map_err(|e| IncomingError(e.to_string()))?;
            return Ok(Incoming::Event(event));
        }
        let re = match payload.get("re") {
            Some(value) => Some(value.as_u64().ok_or_else(|| err("re is not an unsigned integer"))?),
            None => None,
        };
        match (re, payload.get("ok"), payload.get("err")) {
            (Some(re), Some(ok), None) => Ok(Incoming::Ok { re, ok: ok.clone() }),
            (re, None, Some(body)) => {
                let body: ErrorBody = from_value(body).map_err(|e| IncomingError(e.to_string()))?;
                Ok(match re {
                    Some(re) => Incoming::Err { re, err: body },
                    None => Incoming::ConnectionError(body),
                })
            }
            _ => Err(err("neither a reply, an event nor a connection error")),
        }
    }
}

/// A `message` event as it travels: the tag beside the message's own fields (as
/// [`Event::Message`] writes it), read without the enum's buffering.
#[derive(Deserialize)]
struct MessageFrame<'a> {
    ev: &'a str,
    group: String,
    gid: u64,
    seq: u64,
    from: String,
    name: String,
    body: String,
    at: u64,
    #[serde(default)]
    deleted: bool,
}

impl MessageFrame<'_> {
    fn message(self) -> Message {
        let MessageFrame { group, gid, seq, from, name, body, at, deleted, .. } = self;
        Message { group, gid, seq, from, name, body, at, deleted }
    }
}

/// The fast path of [`Incoming::decode`]: an event whose first key is `ev`, or a reply whose
/// keys are `re` then `ok`, each exactly one map with nothing after it. `None` for anything
/// else, including a payload it cannot read.
fn decode_common(bytes: &[u8]) -> Option<Incoming> {
    let mut rest = bytes;
    let keys = rmp::decode::read_map_len(&mut rest).ok()?;
    let (first, after_first) = rmp::decode::read_str_from_slice(rest).ok()?;
    match first {
        "ev" => {
            // Read in place: the event's strings are copied once, into the event. A
            // `message`, the event a client gets most, is read straight into its fields;
            // any other goes through the enum, which buffers the map to find its tag.
            let (tag, _) = rmp::decode::read_str_from_slice(after_first).ok()?;
            let mut decoder = rmp_serde::Deserializer::from_read_ref(bytes);
            let event = if tag == "message" {
                let frame = MessageFrame::deserialize(&mut decoder).ok()?;
                if frame.ev != "message" {
                    return None;
                }
                Event::Message(frame.message())
            } else {
                Event::deserialize(&mut decoder).ok()?
            };
            // Nothing may follow the map: reading one more value must meet the end.
            match serde::de::IgnoredAny::deserialize(&mut decoder) {
                Err(rmp_serde::decode::Error::InvalidMarkerRead(end))
                    if end.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    Some(Incoming::Event(event))
                }
                _ => None,
            }
        }
        "re" if keys == 2 => {
            let mut rest = after_first;
            let re = rmp::decode::read_int(&mut rest).ok()?;
            let (second, mut rest) = rmp::decode::read_str_from_slice(rest).ok()?;
            if second != "ok" {
                return None;
            }
            let ok = rmpv::decode::read_value_with_max_depth(&mut rest, crate::codec::MAX_NESTING).ok()?;
            rest.is_empty().then_some(Incoming::Ok { re, ok })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_request(payload: Payload) -> Result<Request, ErrorBody> {
        let envelope = Envelope::read(payload).expect("envelope");
        Request::parse(envelope.op?, &envelope.payload)
    }

    #[test]
    fn every_request_round_trips() {
        let samples = vec![
            Request::Hello { version: 1, client: Some("t".into()), client_ip: None },
            Request::Register { login: "ann".into(), name: "Ann".into(), password: "secret-pw".into() },
            Request::Login { login: "ann".into(), password: "secret-pw".into() },
            Request::Auth { token: "x".into() },
            Request::Logout,
            Request::Me,
            Request::SetName { name: "Анна".into() },
            Request::Passwd { old: "a".into(), new: "b".into() },
            Request::DeleteAccount { password: "p".into() },
            Request::Users { after: Some("a".into()), limit: Some(5) },
            Request::User { login: "bob".into() },
            Request::Groups,
            Request::GroupCreate { group: "g".into(), members: vec!["bob".into()] },
            Request::GroupDelete { group: "g".into() },
            Request::GroupAdmin { group: "g".into(), login: "bob".into() },
            Request::Members { group: "g".into(), after: None, limit: None },
            Request::MemberAdd { group: "g".into(), logins: vec!["a".into(), "b".into()] },
            Request::MemberRemove { group: "g".into(), logins: vec!["a".into()] },
            Request::Leave { group: "g".into() },
            Request::Subscribe { group: "g".into(), gid: Some(2), after: Some(4) },
            Request::Unsubscribe { group: "g".into() },
            Request::Publish { group: "g".into(), body: "héllo\n".into(), cid: Some("c-1".into()) },
            Request::History { group: "g".into(), gid: Some(2), before: Some(9), after: None, limit: Some(10) },
            Request::MarkRead { group: "g".into(), seq: 7 },
            Request::Ping,
            Request::MessageDelete { group: "g".into(), seq: 3 },
            Request::UserDisable { login: "bob".into() },
            Request::UserEnable { login: "bob".into() },
            Request::UserCreate { login: "cat".into(), name: "Cat".into(), password: "secret-pw".into() },
        ];
        let ops: Vec<Op> = samples.iter().map(Request::op).collect();
        assert_eq!(ops, Op::ALL.to_vec(), "one sample per operation");
        for (id, request) in samples.into_iter().enumerate() {
            let bytes = request.encode(id as u64);
            let back = parse_request(Payload::parse(&bytes).unwrap()).unwrap();
            assert_eq!(back, request);
        }
    }

    #[test]
    fn only_a_tombstone_carries_deleted() {
        let live = Message {
            group: "g".into(),
            gid: 2,
            seq: 1,
            from: "ann".into(),
            name: "Ann".into(),
            body: "hi".into(),
            at: 5,
            deleted: false,
        };
        let payload = Payload::parse(&encode_event(&Event::Message(live.clone()))).unwrap();
        assert!(payload.get("deleted").is_none(), "a live message has no deleted key");
        let tombstone = Message { body: String::new(), deleted: true, ..live };
        let payload = Payload::parse(&encode_event(&Event::Message(tombstone.clone()))).unwrap();
        assert_eq!(payload.get("deleted"), Some(&Value::Boolean(true)));
        assert_eq!(Incoming::parse(&payload).unwrap(), Incoming::Event(Event::Message(tombstone)));
    }

    #[test]
    fn envelope_errors_follow_the_contract() {
        let map = |pairs: Vec<(&str, Value)>| {
            Payload::from_entries(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        };
        let no_id = Envelope::read(map(vec![("op", "ping".into())])).unwrap_err();
        assert_eq!(no_id.code, ErrorCode::BadFrame);
        let negative = Envelope::read(map(vec![("id", Value::from(-1)), ("op", "ping".into())])).unwrap_err();
        assert_eq!(negative.code, ErrorCode::BadFrame);
        let no_op = Envelope::read(map(vec![("id", 1.into())])).unwrap().op.unwrap_err();
        assert_eq!((no_op.code, no_op.field.as_deref()), (ErrorCode::InvalidArgument, Some("op")));
        let int_op = Envelope::read(map(vec![("id", 1.into()), ("op", 5.into())])).unwrap().op.unwrap_err();
        assert_eq!(int_op.code, ErrorCode::InvalidArgument);
        let unknown = Envelope::read(map(vec![("id", 1.into()), ("op", "fly".into())])).unwrap().op.unwrap_err();
        assert_eq!(unknown.code, ErrorCode::UnknownOp);
        let bin =
            Request::parse(Op::Login, &map(vec![("login", Value::Binary(b"ann".to_vec())), ("password", "x".into())]))
                .unwrap_err();
        assert_eq!((bin.code, bin.field.as_deref()), (ErrorCode::InvalidArgument, Some("login")));
        let wide = Request::parse(Op::Users, &map(vec![("limit", Value::from(u64::MAX))])).unwrap();
        assert_eq!(wide, Request::Users { after: None, limit: Some(u64::MAX) });
    }

    #[test]
    fn events_and_replies_round_trip() {
        let events = vec![
            Event::GroupAdded(GroupEvent {
                group: "g".into(),
                gid: 2,
                admin: Some("ann".into()),
                members: 2,
                last_seq: 0,
                read_seq: 0,
            }),
            Event::GroupUpdated(GroupEvent {
                group: "all".into(),
                gid: 1,
                admin: None,
                members: 9,
                last_seq: 4,
                read_seq: 3,
            }),
            Event::GroupRemoved { group: "g".into(), gid: 2, reason: RemovedReason::Left },
            Event::GroupDeleted { group: "g".into(), gid: 2, last_seq: 7 },
            Event::MemberJoined { group: "g".into(), gid: 2, login: "bob".into() },
            Event::MemberLeft { group: "g".into(), gid: 2, login: "bob".into() },
            Event::Presence { login: "bob".into(), online: true },
            Event::Read { group: "g".into(), gid: 2, read_seq: 5 },
            Event::SessionEnded { reason: EndReason::PasswordChanged },
            Event::Resync,
            Event::MessageDeleted { group: "g".into(), gid: 2, seq: 7 },
            Event::SessionEnded { reason: EndReason::Disabled },
            Event::Lagged { group: "g".into(), gid: 2, seq: 9 },
            Event::Message(Message {
                group: "g".into(),
                gid: 2,
                seq: 10,
                from: "ann".into(),
                name: "Анна".into(),
                body: "héllo\n".into(),
                at: 1_700_000_000_000,
                deleted: false,
            }),
        ];
        for event in events {
            let bytes = encode_event(&event);
            let payload = Payload::parse(&bytes).unwrap();
            assert_eq!(Incoming::parse(&payload).unwrap(), Incoming::Event(event.clone()));
            // Every event the broker writes takes the one-pass path, with the same result.
            assert_eq!(decode_common(&bytes), Some(Incoming::Event(event.clone())), "{event:?}");
            assert_eq!(Incoming::decode(&bytes).unwrap(), Incoming::Event(event));
        }
        let bytes = encode_ok(9, &AddedOk { added: vec!["bob".into()] });
        let reply = Payload::parse(&bytes).unwrap();
        let Incoming::Ok { re, ok } = Incoming::parse(&reply).unwrap() else { panic!("not ok") };
        assert_eq!(re, 9);
        assert_eq!(from_value::<AddedOk>(&ok).unwrap().added, vec!["bob".to_owned()]);
        assert_eq!(decode_common(&bytes), Some(Incoming::Ok { re, ok }));
        let body = ErrorBody::new(ErrorCode::RateLimited, "slow down").with_retry_after_ms(1000);
        let conn = encode_err(None, &body);
        assert_eq!(Incoming::parse(&Payload::parse(&conn).unwrap()).unwrap(), Incoming::ConnectionError(body.clone()));
        assert_eq!(Incoming::decode(&conn).unwrap(), Incoming::ConnectionError(body));
    }

    /// The one-pass path is as strict as the general one: what it cannot vouch for goes the
    /// general way, and a payload that is not exactly one valid map is an error either way.
    #[test]
    fn decoding_a_broker_payload_is_strict_on_every_path() {
        let event = Event::Read { group: "g".into(), gid: 2, read_seq: 5 };
        let mut trailing = encode_event(&event);
        trailing.push(0xc0);
        assert!(decode_common(&trailing).is_none());
        assert!(Incoming::decode(&trailing).unwrap_err().0.contains("trailing"));
        // `ev` first, then `gid` twice.
        let entries = |gid_twice: bool| {
            let mut pairs = vec![
                (Value::from("ev"), Value::from("read")),
                (Value::from("group"), Value::from("g")),
                (Value::from("gid"), Value::from(2)),
                (Value::from("read_seq"), Value::from(5)),
            ];
            if gid_twice {
                pairs.push((Value::from("gid"), Value::from(3)));
            }
            crate::codec::encode_value(&Value::Map(pairs))
        };
        assert_eq!(decode_common(&entries(false)), Some(Incoming::Event(event.clone())));
        assert!(decode_common(&entries(true)).is_none());
        assert!(Incoming::decode(&entries(true)).unwrap_err().0.contains("duplicate"));
        // `ev` last: valid, read by the general path.
        let late = crate::codec::encode_value(&Value::Map(vec![
            (Value::from("group"), Value::from("g")),
            (Value::from("gid"), Value::from(2)),
            (Value::from("read_seq"), Value::from(5)),
            (Value::from("ev"), Value::from("read")),
        ]));
        assert!(decode_common(&late).is_none());
        assert_eq!(Incoming::decode(&late).unwrap(), Incoming::Event(event));
        // A reply with a third key is not the common shape; the general path refuses it.
        let odd = crate::codec::encode_value(&Value::Map(vec![
            (Value::from("re"), Value::from(4)),
            (Value::from("ok"), Value::Map(vec![])),
            (Value::from("err"), Value::Map(vec![])),
        ]));
        assert!(decode_common(&odd).is_none());
        assert!(Incoming::decode(&odd).is_err());
        assert!(Incoming::decode(&[0x92, 1, 2]).is_err());
        assert!(Incoming::decode(&[]).is_err());
        // A message, read field by field: an unknown key is ignored as the general path
        // ignores it, a repeated one is refused by both.
        let message = |extra: Vec<(Value, Value)>| {
            let mut pairs = vec![
                (Value::from("ev"), Value::from("message")),
                (Value::from("group"), Value::from("g")),
                (Value::from("gid"), Value::from(2)),
                (Value::from("seq"), Value::from(3)),
                (Value::from("from"), Value::from("ann")),
                (Value::from("name"), Value::from("Ann")),
                (Value::from("body"), Value::from("hi")),
                (Value::from("at"), Value::from(9)),
            ];
            pairs.extend(extra);
            crate::codec::encode_value(&Value::Map(pairs))
        };
        let newer = message(vec![(Value::from("edited"), Value::from(true))]);
        let general = Incoming::parse(&Payload::parse(&newer).unwrap()).unwrap();
        assert!(matches!(&general, Incoming::Event(Event::Message(m)) if m.body == "hi" && !m.deleted));
        assert_eq!(decode_common(&newer), Some(general));
        let twice = message(vec![(Value::from("body"), Value::from("again"))]);
        assert!(decode_common(&twice).is_none());
        assert!(Incoming::decode(&twice).is_err());
        let lacking = crate::codec::encode_value(&Value::Map(vec![
            (Value::from("ev"), Value::from("message")),
            (Value::from("group"), Value::from("g")),
        ]));
        assert!(decode_common(&lacking).is_none());
        assert!(Incoming::decode(&lacking).is_err());
    }
}
