//! The notes brokers send each other through PostgreSQL's `NOTIFY joint`: plain text, each
//! under PostgreSQL's 8000-byte payload limit, naming the sending broker so that it can
//! ignore its own.
//!
//! A message note says which seqs of which groups a broker committed, nothing more:
//! `m <broker> <gid>:<first>-<last> <gid>:<first>-<last> …`. The bodies stay in PostgreSQL.
//!
//! An event note, `e <broker> <base64 of MessagePack>`, carries [`Events`]: effects for
//! connections on every broker, and the last seq of each group the change touched at the
//! moment it committed, so that a receiver first delivers the messages before the change.

use super::BrokerId;
use crate::store::UserId;
use crate::token::TokenHash;
use base64::Engine;
use joint_wire::message::{EndReason, Event};
use serde::{Deserialize, Serialize};

/// The channel every broker listens on.
pub const CHANNEL: &str = "joint";

/// The longest payload a note may have: PostgreSQL refuses 8000 bytes and more.
pub const MAX_PAYLOAD: usize = 7900;

/// Seqs `first..=last` of group `gid`, committed by one broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// The group.
    pub gid: i64,
    /// The first seq committed.
    pub first: i64,
    /// The last seq committed.
    pub last: i64,
}

/// A note received from some broker.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    /// Messages committed.
    Messages {
        /// Who committed them.
        from: BrokerId,
        /// Which.
        ranges: Vec<Range>,
    },
    /// Users whose presence on the sending broker changed: each broker checks whether
    /// they are online anywhere once its debounce is over.
    Presence {
        /// Who sent it.
        from: BrokerId,
        /// The users.
        users: Vec<UserId>,
    },
    /// A change's effects.
    Events {
        /// Who committed the change.
        from: BrokerId,
        /// What they are.
        events: Events,
    },
}

/// What a change committed on one broker causes on the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Events {
    /// (gid, last seq at the change) of each group it touched: messages up to there are
    /// delivered before the effects.
    pub groups: Vec<(i64, i64)>,
    /// The effects, in order.
    pub effects: Vec<Shared>,
}

/// An effect that concerns connections on any broker (see `ops::Effect`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Shared {
    /// An event for every connection of these users (`Effect::Notify`; on the other
    /// brokers also `Effect::NotifyOtherConnections`, whose requesting connection is not there).
    Notify {
        /// The users.
        to: Vec<UserId>,
        /// The event.
        event: Event,
    },
    /// A message became a tombstone (`Effect::MessageDeleted`).
    MessageDeleted {
        /// The group's name.
        group: String,
        /// The group.
        gid: i64,
        /// The message.
        seq: i64,
    },
    /// Sessions died (`Effect::EndSessions`).
    EndSessions {
        /// Their token hashes.
        tokens: Vec<TokenHash>,
        /// Why.
        reason: EndReason,
    },
}

impl Shared {
    /// The effect's kind, for logs (which must not hold token hashes or user lists).
    fn kind(&self) -> &'static str {
        match self {
            Shared::Notify { .. } => "notify",
            Shared::MessageDeleted { .. } => "message_deleted",
            Shared::EndSessions { .. } => "end_sessions",
        }
    }

    /// Halves an effect too large for one note: keeps the first half and returns the
    /// second; `None` for one that cannot be split.
    fn split_off_half(&mut self) -> Option<Shared> {
        match self {
            Shared::Notify { to, event } if to.len() > 1 => {
                Some(Shared::Notify { to: to.split_off(to.len() / 2), event: event.clone() })
            }
            Shared::EndSessions { tokens, reason } if tokens.len() > 1 => {
                Some(Shared::EndSessions { tokens: tokens.split_off(tokens.len() / 2), reason: *reason })
            }
            _ => None,
        }
    }
}

impl Note {
    /// Reads a payload; `None` for one this broker cannot read (logged by the caller).
    pub fn parse(payload: &str) -> Option<Note> {
        let mut words = payload.split(' ');
        let kind = words.next()?;
        let from = BrokerId::parse(words.next()?)?;
        match kind {
            "m" => {
                let ranges = words.map(parse_range).collect::<Option<Vec<Range>>>()?;
                Some(Note::Messages { from, ranges })
            }
            "p" => {
                let users = words.map(|w| w.parse().ok()).collect::<Option<Vec<UserId>>>()?;
                Some(Note::Presence { from, users })
            }
            "e" => {
                let packed = base64::engine::general_purpose::STANDARD.decode(words.next()?).ok()?;
                let events = rmp_serde::from_slice(&packed).ok()?;
                words.next().is_none().then_some(Note::Events { from, events })
            }
            _ => None,
        }
    }

    /// Who sent the note.
    pub fn from(&self) -> BrokerId {
        match self {
            Note::Messages { from, .. } | Note::Presence { from, .. } | Note::Events { from, .. } => *from,
        }
    }
}

fn parse_range(word: &str) -> Option<Range> {
    let (gid, seqs) = word.split_once(':')?;
    let (first, last) = seqs.split_once('-')?;
    let range = Range { gid: gid.parse().ok()?, first: first.parse().ok()?, last: last.parse().ok()? };
    (range.first >= 1 && range.first <= range.last).then_some(range)
}

/// The payloads announcing `ranges` committed by `from`: as few as fit under
/// [`MAX_PAYLOAD`] each.
pub fn message_payloads(from: BrokerId, ranges: &[Range]) -> Vec<String> {
    let words = ranges.iter().map(|r| format!("{}:{}-{}", r.gid, r.first, r.last));
    word_payloads(&format!("m {from}"), words)
}

/// The payloads telling that the presence of `users` on `from` changed.
pub fn presence_payloads(from: BrokerId, users: &[UserId]) -> Vec<String> {
    word_payloads(&format!("p {from}"), users.iter().map(|u| u.to_string()))
}

/// `head` followed by the words, split into payloads under [`MAX_PAYLOAD`].
fn word_payloads(head: &str, words: impl Iterator<Item = String>) -> Vec<String> {
    let mut payloads = Vec::new();
    let mut current = head.to_owned();
    for word in words {
        let word = format!(" {word}");
        if current.len() + word.len() > MAX_PAYLOAD && current.len() > head.len() {
            payloads.push(std::mem::replace(&mut current, head.to_owned()));
        }
        current.push_str(&word);
    }
    if current.len() > head.len() {
        payloads.push(current);
    }
    payloads
}

/// The most groups an event note carries: a (gid, last seq) pair takes at most 19 bytes of
/// MessagePack, 26 in base64, so 150 of them leave half a note for the effects.
const GROUPS_PER_NOTE: usize = 150;

/// The payloads carrying `effects` from `from`: as many effects per note as fit under
/// [`MAX_PAYLOAD`], a list too long for one note split across several. Every note with
/// effects carries the same groups; a change of more groups than one note holds (an account
/// in hundreds of groups deleted) first sends the others in notes of their own, which bring
/// those groups' messages up to date before the effects arrive. An effect that still does
/// not fit (a single huge event) is dropped and logged.
pub fn event_payloads(from: BrokerId, groups: &[(i64, i64)], effects: Vec<Shared>) -> Vec<String> {
    let (leading, groups) = groups.split_at(groups.len().saturating_sub(GROUPS_PER_NOTE));
    let mut payloads: Vec<String> =
        leading.chunks(GROUPS_PER_NOTE).map(|chunk| encode_events(from, chunk, &[])).collect();
    let mut current: Vec<Shared> = Vec::new();
    let mut pending: std::collections::VecDeque<Shared> = effects.into();
    while let Some(effect) = pending.pop_front() {
        current.push(effect);
        if encode_events(from, groups, &current).len() <= MAX_PAYLOAD {
            continue;
        }
        let Some(effect) = current.pop() else { continue };
        if !current.is_empty() {
            payloads.push(encode_events(from, groups, &current));
            current.clear();
            pending.push_front(effect);
            continue;
        }
        let mut first = effect;
        match first.split_off_half() {
            Some(second) => {
                pending.push_front(second);
                pending.push_front(first);
            }
            None => tracing::error!(effect = first.kind(), "an effect too large for a note was not shared"),
        }
    }
    if !current.is_empty() {
        payloads.push(encode_events(from, groups, &current));
    }
    payloads
}

fn encode_events(from: BrokerId, groups: &[(i64, i64)], effects: &[Shared]) -> String {
    let events = Events { groups: groups.to_vec(), effects: effects.to_vec() };
    let packed = rmp_serde::to_vec_named(&events).expect("notes always serialize");
    format!("e {from} {}", base64::engine::general_purpose::STANDARD.encode(packed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_notes_read_back_and_stay_under_the_limit() {
        let from = BrokerId::random();
        let ranges: Vec<Range> =
            (0..2000).map(|i| Range { gid: i64::MAX - i, first: 1 + i, last: i64::MAX / 2 + i }).collect();
        let payloads = message_payloads(from, &ranges);
        assert!(payloads.len() > 1, "split");
        let mut read = Vec::new();
        for payload in &payloads {
            assert!(payload.len() <= MAX_PAYLOAD);
            match Note::parse(payload) {
                Some(Note::Messages { from: sender, ranges }) => {
                    assert_eq!(sender, from);
                    read.extend(ranges);
                }
                other => panic!("not a message note: {other:?}"),
            }
        }
        assert_eq!(read, ranges);
        assert!(message_payloads(from, &[]).is_empty());
    }

    #[test]
    fn event_notes_split_long_lists_and_read_back_in_order() {
        let from = BrokerId::random();
        let groups = vec![(7, 42), (9, 0)];
        let event = Event::MemberLeft { group: "Team".into(), gid: 7, login: "bob".into() };
        let effects = vec![
            Shared::Notify { to: (1..=5000).collect(), event: event.clone() },
            Shared::EndSessions { tokens: (0..=255u8).map(|b| [b; 32]).collect(), reason: EndReason::AccountDeleted },
            Shared::MessageDeleted { group: "Team".into(), gid: 7, seq: 3 },
        ];
        let payloads = event_payloads(from, &groups, effects);
        assert!(payloads.len() > 3, "split: {}", payloads.len());
        let (mut to, mut tokens, mut deleted) = (Vec::new(), Vec::new(), 0);
        for payload in &payloads {
            assert!(payload.len() <= MAX_PAYLOAD);
            let Some(Note::Events { from: sender, events }) = Note::parse(payload) else { panic!("an event note") };
            assert_eq!((sender, &events.groups), (from, &groups));
            for effect in events.effects {
                match effect {
                    Shared::Notify { to: users, event: e } => {
                        assert_eq!(e, event);
                        assert!(tokens.is_empty(), "in order");
                        to.extend(users);
                    }
                    Shared::EndSessions { tokens: t, .. } => tokens.extend(t),
                    Shared::MessageDeleted { seq, .. } => deleted = seq,
                }
            }
        }
        assert_eq!(to, (1..=5000).collect::<Vec<UserId>>());
        assert_eq!(tokens.len(), 256);
        assert_eq!(deleted, 3);
    }

    #[test]
    fn a_change_of_many_groups_sends_them_first_and_keeps_its_effects() {
        let from = BrokerId::random();
        let groups: Vec<(i64, i64)> = (0..2000).map(|i| (i64::MAX - i, i64::MAX / 3 + i)).collect();
        let effects = vec![
            Shared::EndSessions { tokens: vec![[9u8; 32]], reason: EndReason::AccountDeleted },
            Shared::Notify {
                to: (1..=300).collect(),
                event: Event::MemberLeft { group: "g".into(), gid: 1, login: "bob".into() },
            },
        ];
        let payloads = event_payloads(from, &groups, effects.clone());
        let (mut read_groups, mut read_effects) = (Vec::new(), Vec::new());
        for payload in &payloads {
            assert!(payload.len() <= MAX_PAYLOAD, "{} bytes", payload.len());
            let Some(Note::Events { events, .. }) = Note::parse(payload) else { panic!("not an event note") };
            assert!(read_effects.is_empty() || !events.effects.is_empty(), "every group comes before the effects");
            for group in events.groups {
                if !read_groups.contains(&group) {
                    read_groups.push(group);
                }
            }
            read_effects.extend(events.effects);
        }
        assert_eq!(read_groups, groups);
        assert_eq!(read_effects, effects);
    }

    #[test]
    fn presence_notes_read_back() {
        let from = BrokerId::random();
        let users: Vec<UserId> = (1..=3000).collect();
        let mut read = Vec::new();
        for payload in presence_payloads(from, &users) {
            assert!(payload.len() <= MAX_PAYLOAD);
            let Some(Note::Presence { users, .. }) = Note::parse(&payload) else { panic!("a presence note") };
            read.extend(users);
        }
        assert_eq!(read, users);
    }

    #[test]
    fn garbage_is_not_a_note() {
        let id = BrokerId::random();
        for bad in [
            "",
            "m",
            "m xyz 1:1-2",
            &format!("m {id} 1:2-1"),
            &format!("m {id} 1:0-1"),
            &format!("q {id}"),
            &format!("e {id} !!"),
            &format!("e {id} AAAA"),
        ] {
            assert_eq!(Note::parse(bad), None, "{bad:?}");
        }
    }
}
