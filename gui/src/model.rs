//! The chat as the window shows it: groups, their messages, unread counts, members and
//! presence, and the connection's state. Plain data with no FLTK in it, so every state change
//! is unit-tested; the UI thread owns the one instance and redraws from it.

use joint_wire::message::{Event, Group, UserEntry, UserInfo};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One message as the window shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// The group's gid.
    pub gid: u64,
    /// Its place in the group: 1, 2, 3, … without gap.
    pub seq: u64,
    /// The sender's login.
    pub from: String,
    /// The sender's display name when it was sent.
    pub name: String,
    /// The text; empty for a deleted message.
    pub body: String,
    /// When it was stored, milliseconds since the Unix epoch.
    pub at: u64,
    /// Whether the message was deleted (a tombstone keeps its seq; CONTRACT.md §12).
    pub deleted: bool,
}

impl ChatMessage {
    /// The one conversion from the wire's message: the place to map new wire fields.
    pub fn from_wire(m: &joint_wire::message::Message) -> ChatMessage {
        ChatMessage {
            gid: m.gid,
            seq: m.seq,
            from: m.from.clone(),
            name: m.name.clone(),
            body: m.body.clone(),
            at: m.at,
            deleted: m.deleted,
        }
    }

    /// Makes this message a tombstone: deleted, its text gone (a deletion is final).
    fn tombstone(&mut self) {
        self.deleted = true;
        self.body.clear();
    }
}

/// A member of a group and whether they are online.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// The login.
    pub login: String,
    /// The display name.
    pub name: String,
    /// Whether the user has a connection now.
    pub online: bool,
}

/// One group of the user, with the messages the window holds of it.
#[derive(Debug, Clone, Serialize)]
pub struct GroupState {
    /// The group's id.
    pub gid: u64,
    /// Its name.
    pub name: String,
    /// The admin's login; `None` for `all`.
    pub admin: Option<String>,
    /// How many members it has.
    pub member_count: u64,
    /// The group's latest seq.
    pub last_seq: u64,
    /// The user's read marker.
    pub read_seq: u64,
    /// Whether older messages exist than the oldest one held.
    pub more_before: bool,
    /// The members, once fetched, by login.
    pub members: Vec<Member>,
    /// The messages held, by seq: a map, so a message merged twice is held once.
    #[serde(skip)]
    messages: BTreeMap<u64, ChatMessage>,
}

impl GroupState {
    fn from_wire(g: &Group) -> GroupState {
        GroupState {
            gid: g.gid,
            name: g.name.clone(),
            admin: g.admin.clone(),
            member_count: g.members,
            last_seq: g.last_seq,
            read_seq: g.read_seq,
            more_before: g.last_seq > 0,
            members: Vec::new(),
            messages: BTreeMap::new(),
        }
    }

    /// Messages not yet marked read.
    pub fn unread(&self) -> u64 {
        self.last_seq.saturating_sub(self.read_seq)
    }

    /// The messages held, ascending by seq.
    pub fn messages(&self) -> impl Iterator<Item = &ChatMessage> {
        self.messages.values()
    }

    /// The messages held after `seq`, ascending.
    pub fn messages_after(&self, seq: u64) -> impl Iterator<Item = &ChatMessage> {
        self.messages.range(seq.saturating_add(1)..).map(|(_, m)| m)
    }

    /// How many messages are held.
    pub fn held(&self) -> usize {
        self.messages.len()
    }

    /// The seqs held, ascending.
    pub fn seqs(&self) -> Vec<u64> {
        self.messages.keys().copied().collect()
    }

    /// The oldest seq held.
    pub fn first_seq(&self) -> Option<u64> {
        self.messages.keys().next().copied()
    }

    /// The newest seq held.
    pub fn held_last_seq(&self) -> u64 {
        self.messages.keys().next_back().copied().unwrap_or(0)
    }

    /// Whether the held messages run without gap from the oldest held to the group's last.
    pub fn seqs_complete(&self) -> bool {
        match (self.first_seq(), self.messages.keys().next_back()) {
            (Some(first), Some(&last)) => last == self.last_seq && (last - first + 1) as usize == self.messages.len(),
            _ => true,
        }
    }
}

/// The connection as the user sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// Not signed in.
    SignedOut,
    /// Connected and signed in.
    Online,
    /// The connection dropped; the client is connecting again.
    Reconnecting,
}

/// What the UI must do after the model took an event in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowUp {
    /// Redraw only.
    Nothing,
    /// A new group: fetch its history and subscribe to it.
    Subscribe {
        /// Its gid.
        gid: u64,
        /// Its name.
        group: String,
    },
    /// The member list of this group changed in a way only a refetch shows (names).
    RefetchMembers(u64),
    /// The session died: back to the sign-in window.
    SessionEnded(joint_wire::message::EndReason),
    /// The broker dropped events: refetch groups and members.
    Resync,
}

/// The whole chat state of one signed-in user.
#[derive(Debug, Clone, Serialize)]
pub struct ChatModel {
    /// The signed-in user.
    pub me: Option<UserInfo>,
    /// The user's groups, by name.
    pub groups: Vec<GroupState>,
    /// The gid of the group shown.
    pub current: Option<u64>,
    /// The connection's state.
    pub connection: Connection,
    /// The address of the broker the connection is on.
    pub broker: Option<String>,
    /// The broker the connection left for `broker` when that one went away; `None` after a
    /// reconnection to the same broker.
    pub moved_from: Option<String>,
    /// Known presence by login.
    online: HashMap<String, bool>,
}

impl Default for ChatModel {
    fn default() -> Self {
        ChatModel {
            me: None,
            groups: Vec::new(),
            current: None,
            connection: Connection::SignedOut,
            broker: None,
            moved_from: None,
            online: HashMap::new(),
        }
    }
}

impl ChatModel {
    /// A session started: forget everything of the previous one.
    pub fn signed_in(&mut self, me: UserInfo, groups: &[Group]) {
        *self = ChatModel { me: Some(me), connection: Connection::Online, ..ChatModel::default() };
        self.set_groups(groups);
    }

    /// The session ended (log out, disconnect, or it died).
    pub fn signed_out(&mut self) {
        *self = ChatModel::default();
    }

    /// The group with this gid.
    pub fn group(&self, gid: u64) -> Option<&GroupState> {
        self.groups.iter().find(|g| g.gid == gid)
    }

    fn group_mut(&mut self, gid: u64) -> Option<&mut GroupState> {
        self.groups.iter_mut().find(|g| g.gid == gid)
    }

    /// The group shown, if any.
    pub fn current_group(&self) -> Option<&GroupState> {
        self.current.and_then(|gid| self.group(gid))
    }

    /// Takes in a fresh list of the user's groups (sign-in, resync, reconnect): messages and
    /// members of groups still there are kept, groups gone are dropped. Returns the groups
    /// that are new to the model.
    pub fn set_groups(&mut self, groups: &[Group]) -> Vec<(u64, String)> {
        let mut fresh = Vec::new();
        let mut next = Vec::with_capacity(groups.len());
        for g in groups {
            match self.groups.iter().position(|held| held.gid == g.gid) {
                Some(i) => {
                    let mut held = self.groups.swap_remove(i);
                    held.name = g.name.clone();
                    held.admin = g.admin.clone();
                    held.member_count = g.members;
                    held.last_seq = held.last_seq.max(g.last_seq);
                    held.read_seq = held.read_seq.max(g.read_seq);
                    next.push(held);
                }
                None => {
                    fresh.push((g.gid, g.name.clone()));
                    next.push(GroupState::from_wire(g));
                }
            }
        }
        next.sort_by(|a, b| a.name.cmp(&b.name));
        self.groups = next;
        if self.current.is_some_and(|gid| self.group(gid).is_none()) {
            self.current = None;
        }
        fresh
    }

    /// Merges a page of history. `more` tells whether older messages exist before the page
    /// (for a page of the latest or of older messages). Messages already held are not doubled.
    pub fn merge_history(&mut self, gid: u64, messages: &[joint_wire::message::Message], more: bool) {
        let Some(group) = self.group_mut(gid) else { return };
        let first_before = group.first_seq();
        for m in messages {
            group.last_seq = group.last_seq.max(m.seq);
            let held = group.messages.entry(m.seq).or_insert_with(|| ChatMessage::from_wire(m));
            if m.deleted {
                held.tombstone();
            }
        }
        let page_first = messages.first().map(|m| m.seq);
        // Only a page that reaches below what was held says whether anything is older.
        if page_first.is_some_and(|p| first_before.is_none_or(|f| p <= f)) || messages.is_empty() {
            group.more_before = more && group.first_seq().is_some_and(|f| f > 1);
        }
    }

    /// Takes in one live message; returns whether it was new.
    pub fn add_message(&mut self, m: &joint_wire::message::Message) -> bool {
        let Some(group) = self.group_mut(m.gid) else { return false };
        group.last_seq = group.last_seq.max(m.seq);
        if let Some(held) = group.messages.get_mut(&m.seq) {
            if m.deleted {
                held.tombstone();
            }
            return false;
        }
        if group.messages.is_empty() && m.seq > 1 {
            group.more_before = true;
        }
        group.messages.insert(m.seq, ChatMessage::from_wire(m));
        true
    }

    /// Shows a group. Returns the seq to mark read when it has unread messages; the model
    /// counts them read at once, and the broker's answer (or a `read` event) confirms it.
    pub fn open(&mut self, gid: u64) -> Option<u64> {
        self.group(gid)?;
        self.current = Some(gid);
        self.mark_current_read()
    }

    /// When the group shown has unread messages, counts them read and returns the seq to mark.
    pub fn mark_current_read(&mut self) -> Option<u64> {
        let gid = self.current?;
        let group = self.group_mut(gid)?;
        if group.unread() == 0 {
            return None;
        }
        group.read_seq = group.last_seq;
        Some(group.last_seq)
    }

    /// The seq before which older history is to be fetched, when there is any.
    pub fn older_anchor(&self, gid: u64) -> Option<u64> {
        let group = self.group(gid)?;
        if group.more_before {
            group.first_seq()
        } else {
            None
        }
    }

    /// Replaces a group's member list with a fresh one.
    pub fn set_members(&mut self, gid: u64, members: &[UserEntry]) {
        for m in members {
            self.online.insert(m.login.clone(), m.online);
        }
        if let Some(group) = self.group_mut(gid) {
            group.members = members
                .iter()
                .map(|m| Member { login: m.login.clone(), name: m.name.clone(), online: m.online })
                .collect();
            group.member_count = group.member_count.max(members.len() as u64);
        }
    }

    /// Whether the signed-in user administers the group.
    pub fn is_admin(&self, gid: u64) -> bool {
        let me = self.me.as_ref().map(|m| m.login.as_str());
        self.group(gid).is_some_and(|g| g.admin.is_some() && g.admin.as_deref() == me)
    }

    /// Whether the user may leave the group: not `all` and not as its admin.
    pub fn may_leave(&self, gid: u64) -> bool {
        self.group(gid).is_some_and(|g| g.admin.is_some()) && !self.is_admin(gid)
    }

    /// The connection dropped.
    pub fn disconnected(&mut self) {
        if self.connection == Connection::Online {
            self.connection = Connection::Reconnecting;
        }
    }

    /// The connection reached the broker at `broker` (at sign-in).
    pub fn connected_to(&mut self, broker: &str) {
        self.broker = Some(broker.to_owned());
        self.moved_from = None;
    }

    /// The connection is back and signed in again, on the broker at `broker`: the same one,
    /// or the next one of the list when the one it was on went away.
    pub fn reconnected(&mut self, broker: &str) {
        if self.connection != Connection::Reconnecting {
            return;
        }
        self.connection = Connection::Online;
        self.moved_from = match self.broker.replace(broker.to_owned()) {
            Some(left) if left != broker => Some(left),
            _ => None,
        };
    }

    /// The user's own name changed.
    pub fn renamed(&mut self, me: UserInfo) {
        self.me = Some(me);
    }

    /// Takes in a broker event and says what the UI must do next.
    pub fn apply(&mut self, event: &Event) -> FollowUp {
        match event {
            Event::Message(m) => {
                self.add_message(m);
            }
            Event::GroupAdded(g) => {
                if self.group(g.gid).is_none() {
                    let group = Group {
                        gid: g.gid,
                        name: g.group.clone(),
                        admin: g.admin.clone(),
                        members: g.members,
                        last_seq: g.last_seq,
                        read_seq: g.read_seq,
                    };
                    let mut groups: Vec<Group> = self.groups.iter().map(as_wire_group).collect();
                    groups.push(group);
                    self.set_groups(&groups);
                    return FollowUp::Subscribe { gid: g.gid, group: g.group.clone() };
                }
            }
            Event::GroupUpdated(g) => {
                if let Some(group) = self.group_mut(g.gid) {
                    group.admin = g.admin.clone();
                    group.member_count = g.members;
                    group.name = g.group.clone();
                }
            }
            Event::GroupRemoved { gid, .. } | Event::GroupDeleted { gid, .. } => {
                self.groups.retain(|g| g.gid != *gid);
                if self.current == Some(*gid) {
                    self.current = None;
                }
            }
            Event::MemberJoined { gid, login, .. } => {
                let online = self.online.get(login).copied().unwrap_or(false);
                if let Some(group) = self.group_mut(*gid) {
                    if !group.members.iter().any(|m| &m.login == login) {
                        group.members.push(Member { login: login.clone(), name: login.clone(), online });
                        group.members.sort_by(|a, b| a.login.cmp(&b.login));
                        group.member_count += 1;
                    }
                    return FollowUp::RefetchMembers(*gid);
                }
            }
            Event::MemberLeft { gid, login, .. } => {
                if let Some(group) = self.group_mut(*gid) {
                    if group.members.iter().any(|m| &m.login == login) {
                        group.members.retain(|m| &m.login != login);
                    }
                    group.member_count = group.member_count.saturating_sub(1);
                }
            }
            Event::Presence { login, online } => {
                self.online.insert(login.clone(), *online);
                for group in &mut self.groups {
                    for m in group.members.iter_mut().filter(|m| &m.login == login) {
                        m.online = *online;
                    }
                }
            }
            Event::Read { gid, read_seq, .. } => {
                if let Some(group) = self.group_mut(*gid) {
                    group.read_seq = group.read_seq.max(*read_seq);
                }
            }
            Event::SessionEnded { reason } => {
                self.signed_out();
                return FollowUp::SessionEnded(*reason);
            }
            Event::Resync => return FollowUp::Resync,
            Event::Lagged { .. } => {}
            Event::MessageDeleted { gid, seq, .. } => {
                if let Some(held) = self.group_mut(*gid).and_then(|g| g.messages.get_mut(seq)) {
                    held.tombstone();
                }
            }
        }
        FollowUp::Nothing
    }
}

fn as_wire_group(g: &GroupState) -> Group {
    Group {
        gid: g.gid,
        name: g.name.clone(),
        admin: g.admin.clone(),
        members: g.member_count,
        last_seq: g.last_seq,
        read_seq: g.read_seq,
    }
}

#[cfg(test)]
mod tests;
