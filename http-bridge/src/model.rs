//! The JSON shapes of requests and responses, with their OpenAPI schemas. They mirror the
//! wire types (CONTRACT.md §8) so the HTTP API stays stable whatever the wire crate adds.

use joint_wire::message as wire;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

// Schemas of the strings the broker checks (CONTRACT.md §5), so generated clients and
// fuzzers know the rules: the fields below name them with `value_type`. They describe;
// the broker decides.

/// A login: 3–32 characters of `a-z 0-9 _ . -`, starting with a letter or digit.
#[derive(ToSchema)]
#[schema(pattern = "^[a-z0-9][a-z0-9_.-]{2,31}$")]
pub struct Login(pub String);

/// A display name: 1–64 characters after NFC normalization, no control or bidi control
/// characters, no white space at either end.
#[derive(ToSchema)]
#[schema(
    pattern = "^[^\\s\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069]([^\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069]{0,62}[^\\s\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069])?$"
)]
pub struct DisplayName(pub String);

/// A group name: as a display name, without `/`.
#[derive(ToSchema)]
#[schema(
    pattern = "^[^/\\s\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069]([^/\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069]{0,62}[^/\\s\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069])?$"
)]
pub struct GroupName(pub String);

/// A password: 8–1024 bytes.
#[derive(ToSchema)]
#[schema(pattern = "^[\\s\\S]{8,1024}$")]
pub struct Password(pub String);

/// A message body: 1–65,536 bytes of UTF-8 without U+0000.
#[derive(ToSchema)]
#[schema(pattern = "^[^\\u0000]{1,65536}$")]
pub struct MessageText(pub String);

/// A publish's client id: 1–64 visible ASCII characters (it also travels as a header).
#[derive(ToSchema)]
#[schema(pattern = "^[!-~]{1,64}$")]
pub struct Cid(pub String);

/// `POST /v1/register`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Registration {
    /// 3–32 characters of `a-z 0-9 _ . -`, starting with a letter or digit.
    #[schema(value_type = Login)]
    pub login: String,
    /// Display name, 1–64 characters.
    #[schema(value_type = DisplayName)]
    pub name: String,
    /// 8–1024 bytes.
    #[schema(value_type = Password)]
    pub password: String,
}

/// `POST /v1/login`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Credentials {
    /// The account's login.
    #[schema(value_type = Login)]
    pub login: String,
    /// Its password.
    #[schema(value_type = Password)]
    pub password: String,
}

/// A new session: the token goes into `Authorization: Bearer` from now on.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    /// The session token.
    pub token: String,
    /// The signed-in account.
    pub user: User,
    /// The account's groups.
    pub groups: Vec<Group>,
}

/// An account.
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    /// Login.
    pub login: String,
    /// Display name.
    pub name: String,
}

impl From<wire::UserInfo> for User {
    fn from(u: wire::UserInfo) -> User {
        User { login: u.login, name: u.name }
    }
}

/// `PATCH /v1/me`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NameChange {
    /// The new display name.
    #[schema(value_type = DisplayName)]
    pub name: String,
}

/// `POST /v1/me/password`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordChange {
    /// The current password.
    #[schema(value_type = Password)]
    pub old: String,
    /// The new password (8–1024 bytes).
    #[schema(value_type = Password)]
    pub new: String,
}

/// `DELETE /v1/me`: the password confirms the deletion.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AccountDeletion {
    /// The account's password.
    #[schema(value_type = Password)]
    pub password: String,
}

/// An account in a list, with its presence.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserEntry {
    /// Login.
    pub login: String,
    /// Display name.
    pub name: String,
    /// Whether the user has a signed-in connection now.
    pub online: bool,
}

impl From<wire::UserEntry> for UserEntry {
    fn from(u: wire::UserEntry) -> UserEntry {
        UserEntry { login: u.login, name: u.name, online: u.online }
    }
}

/// One page of accounts (or of a group's members) in login byte order.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsersPage {
    /// The accounts.
    pub users: Vec<UserEntry>,
    /// Whether more follow: ask again with `after` = the last login (see the `Link` header).
    pub more: bool,
}

/// An account with the groups it shares with the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserDetail {
    /// Login.
    pub login: String,
    /// Display name.
    pub name: String,
    /// Whether the user has a signed-in connection now.
    pub online: bool,
    /// Names of the groups shared with the caller.
    pub groups: Vec<String>,
}

impl From<wire::UserDetail> for UserDetail {
    fn from(u: wire::UserDetail) -> UserDetail {
        UserDetail { login: u.login, name: u.name, online: u.online, groups: u.groups }
    }
}

/// A group as its members see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Group {
    /// Never reused, even when a deleted group's name is.
    pub gid: u64,
    /// The name.
    pub name: String,
    /// The admin's login (null only for `all`).
    pub admin: Option<String>,
    /// Number of members, admin included.
    pub members: u64,
    /// The latest message's seq (0 when none).
    pub last_seq: u64,
    /// The caller's read marker.
    pub read_seq: u64,
}

impl From<wire::Group> for Group {
    fn from(g: wire::Group) -> Group {
        Group {
            gid: g.gid,
            name: g.name,
            admin: g.admin,
            members: g.members,
            last_seq: g.last_seq,
            read_seq: g.read_seq,
        }
    }
}

/// `POST /v1/groups`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewGroup {
    /// The group's name.
    #[schema(value_type = GroupName)]
    pub name: String,
    /// Logins to add besides the caller, who becomes admin (at most 1,000).
    #[serde(default)]
    #[schema(value_type = Vec<Login>, max_items = 1000)]
    pub members: Vec<String>,
}

/// `PUT /v1/groups/{group}/admin`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AdminChange {
    /// The member who becomes admin.
    #[schema(value_type = Login)]
    pub login: String,
}

/// `POST /v1/groups/{group}/members`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MembersChange {
    /// Logins to add (at most 1,000).
    #[schema(value_type = Vec<Login>, max_items = 1000)]
    pub logins: Vec<String>,
}

/// The logins that became members.
#[derive(Debug, Serialize, ToSchema)]
pub struct Added {
    /// Those that were not members before.
    pub added: Vec<String>,
}

/// The logins that stopped being members.
#[derive(Debug, Serialize, ToSchema)]
pub struct Removed {
    /// Those that were members.
    pub removed: Vec<String>,
}

/// `POST /v1/groups/{group}/messages` as JSON; a `text/plain` body is the message itself.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewMessage {
    /// The message, 1–65,536 bytes of UTF-8.
    #[schema(value_type = MessageText)]
    pub body: String,
    /// Client id, 1–64 bytes: a repeated publish with the same cid is stored once. The
    /// `Idempotency-Key` header, when sent, is the cid instead.
    #[serde(default)]
    #[schema(value_type = Option<Cid>)]
    pub cid: Option<String>,
}

/// A committed message's place.
#[derive(Debug, Serialize, ToSchema)]
pub struct Published {
    /// Its seq in the group.
    pub seq: u64,
    /// The broker's clock at insert, milliseconds since the Unix epoch.
    pub at: u64,
}

/// A message.
#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    /// The group's name.
    pub group: String,
    /// The group's gid.
    pub gid: u64,
    /// 1, 2, 3, … per group, without gap.
    pub seq: u64,
    /// The sender's login.
    pub from: String,
    /// The sender's display name when it was sent.
    pub name: String,
    /// The text; empty once the message is deleted.
    pub body: String,
    /// The broker's clock at insert, milliseconds since the Unix epoch.
    pub at: u64,
    /// True for a tombstone: the message was deleted and its text is gone.
    pub deleted: bool,
}

impl From<wire::Message> for Message {
    fn from(m: wire::Message) -> Message {
        Message {
            group: m.group,
            gid: m.gid,
            seq: m.seq,
            from: m.from,
            name: m.name,
            body: m.body,
            at: m.at,
            deleted: m.deleted,
        }
    }
}

/// The data of a stream's `message_deleted` event.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageDeleted {
    /// The group's name.
    pub group: String,
    /// The group's gid.
    pub gid: u64,
    /// The deleted message's seq: it is a tombstone from now on.
    pub seq: u64,
}

/// One page of history, ascending seq.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPage {
    /// The messages.
    pub messages: Vec<Message>,
    /// Whether the asked range holds messages this page left out.
    pub more: bool,
    /// The group's latest seq.
    pub last_seq: u64,
}

/// `POST /v1/groups/{group}/read`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReadMark {
    /// The highest seq read (never moves the marker back; above last_seq is clamped).
    #[serde(deserialize_with = "crate::extract::whole_number")]
    #[schema(value_type = i64, minimum = 0, required = true)]
    pub seq: Option<i64>,
}

/// The read marker after the call.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadState {
    /// The highest seq marked read.
    pub read_seq: u64,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the broker answered a ping.
    pub status: String,
}
