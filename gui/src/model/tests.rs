//! Every state change of the chat model.

use super::*;
use joint_wire::message::{EndReason, GroupEvent, Message, RemovedReason};

fn me() -> UserInfo {
    UserInfo { login: "ann".into(), name: "Ann".into() }
}

fn group(gid: u64, name: &str, admin: Option<&str>, last_seq: u64, read_seq: u64) -> Group {
    Group { gid, name: name.into(), admin: admin.map(Into::into), members: 2, last_seq, read_seq }
}

fn msg(gid: u64, seq: u64) -> Message {
    Message {
        group: format!("g{gid}"),
        gid,
        seq,
        from: "bob".into(),
        name: "Bob".into(),
        body: format!("m{seq}"),
        at: 1_700_000_000_000 + seq,
        deleted: false,
    }
}

fn msgs(gid: u64, seqs: std::ops::RangeInclusive<u64>) -> Vec<Message> {
    seqs.map(|s| msg(gid, s)).collect()
}

fn signed_in(groups: &[Group]) -> ChatModel {
    let mut model = ChatModel::default();
    model.signed_in(me(), groups);
    model
}

#[test]
fn sign_in_sorts_groups_and_goes_online() {
    let model = signed_in(&[group(2, "team", Some("ann"), 0, 0), group(1, "all", None, 0, 0)]);
    assert_eq!(model.connection, Connection::Online);
    let names: Vec<&str> = model.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["all", "team"]);
    assert_eq!(model.current, None);
}

#[test]
fn history_merges_without_duplicates_in_any_order() {
    let mut model = signed_in(&[group(1, "all", None, 10, 0)]);
    model.merge_history(1, &msgs(1, 6..=10), true);
    model.add_message(&msg(1, 11));
    model.merge_history(1, &msgs(1, 8..=11), true);
    model.merge_history(1, &msgs(1, 1..=7), false);
    assert!(!model.add_message(&msg(1, 11)), "a message held is not new");
    let group = model.group(1).unwrap();
    assert_eq!(group.seqs(), (1..=11).collect::<Vec<_>>());
    assert!(group.seqs_complete());
    assert_eq!(group.last_seq, 11);
    assert!(!group.more_before);
    assert_eq!(group.messages().next().unwrap().body, "m1");
}

#[test]
fn older_history_is_asked_before_the_oldest_message_held() {
    let mut model = signed_in(&[group(1, "all", None, 100, 100)]);
    assert_eq!(model.older_anchor(1), None, "nothing held yet");
    model.merge_history(1, &msgs(1, 51..=100), true);
    assert_eq!(model.older_anchor(1), Some(51));
    model.merge_history(1, &msgs(1, 1..=50), false);
    assert_eq!(model.older_anchor(1), None, "the whole history is held");
    // A later page of newer messages does not bring the 'more' flag back.
    model.merge_history(1, &msgs(1, 90..=100), true);
    assert_eq!(model.older_anchor(1), None);
}

#[test]
fn a_gap_shows_as_incomplete() {
    let mut model = signed_in(&[group(1, "all", None, 0, 0)]);
    model.add_message(&msg(1, 1));
    model.add_message(&msg(1, 3));
    assert!(!model.group(1).unwrap().seqs_complete());
    model.add_message(&msg(1, 2));
    assert!(model.group(1).unwrap().seqs_complete());
}

#[test]
fn unread_counts_follow_messages_opening_and_reads_from_other_devices() {
    let mut model = signed_in(&[group(1, "all", None, 5, 2), group(2, "team", Some("bob"), 0, 0)]);
    assert_eq!(model.group(1).unwrap().unread(), 3);
    model.add_message(&msg(2, 1));
    assert_eq!(model.group(2).unwrap().unread(), 1);
    // Another device of the user read group 1 up to 4.
    model.apply(&Event::Read { group: "all".into(), gid: 1, read_seq: 4 });
    assert_eq!(model.group(1).unwrap().unread(), 1);
    // A stale read event never moves the marker back.
    model.apply(&Event::Read { group: "all".into(), gid: 1, read_seq: 1 });
    assert_eq!(model.group(1).unwrap().unread(), 1);
    // Opening a group marks it read.
    assert_eq!(model.open(1), Some(5));
    assert_eq!(model.group(1).unwrap().unread(), 0);
    assert_eq!(model.open(1), None, "nothing left to mark");
    // A message to the group shown is marked on the next call.
    model.add_message(&msg(1, 6));
    assert_eq!(model.mark_current_read(), Some(6));
    assert_eq!(model.open(99), None, "an unknown group is not opened");
    assert_eq!(model.current, Some(1));
}

#[test]
fn reconnect_bookkeeping_keeps_messages_and_adds_new_groups() {
    let mut model = signed_in(&[group(1, "all", None, 3, 3)]);
    model.merge_history(1, &msgs(1, 1..=3), false);
    model.open(1);
    model.disconnected();
    assert_eq!(model.connection, Connection::Reconnecting);
    model.disconnected();
    assert_eq!(model.connection, Connection::Reconnecting);
    // Messages resumed after the last seq held arrive, then the groups are refetched.
    model.add_message(&msg(1, 4));
    model.reconnected("a:1");
    assert_eq!(model.connection, Connection::Online);
    assert_eq!(model.moved_from, None, "back on the same broker");
    let fresh = model.set_groups(&[group(1, "all", None, 4, 3), group(7, "new", Some("bob"), 2, 0)]);
    assert_eq!(fresh, vec![(7, "new".to_string())]);
    let all = model.group(1).unwrap();
    assert_eq!(all.seqs(), vec![1, 2, 3, 4]);
    assert!(all.seqs_complete());
    assert_eq!(model.current, Some(1));
    // A group gone while away is dropped, and with it the selection.
    model.set_groups(&[group(7, "new", Some("bob"), 2, 0)]);
    assert_eq!(model.current, None);
    assert!(model.group(1).is_none());
}

#[test]
fn reconnecting_is_only_entered_from_online() {
    let mut model = ChatModel::default();
    model.disconnected();
    assert_eq!(model.connection, Connection::SignedOut);
    model.reconnected("a:1");
    assert_eq!(model.connection, Connection::SignedOut);
}

#[test]
fn a_reconnection_to_another_broker_is_a_move() {
    let mut model = signed_in(&[group(1, "all", None, 0, 0)]);
    model.connected_to("a:1");
    model.disconnected();
    model.reconnected("b:2");
    assert_eq!(model.connection, Connection::Online);
    assert_eq!((model.broker.as_deref(), model.moved_from.as_deref()), (Some("b:2"), Some("a:1")));
    model.disconnected();
    model.reconnected("b:2");
    assert_eq!((model.broker.as_deref(), model.moved_from), (Some("b:2"), None), "back where it was");
}

#[test]
fn admin_rights_follow_the_admin_field() {
    let mut model = signed_in(&[
        group(1, "all", None, 0, 0),
        group(2, "mine", Some("ann"), 0, 0),
        group(3, "bobs", Some("bob"), 0, 0),
    ]);
    assert!(!model.is_admin(1));
    assert!(model.is_admin(2));
    assert!(!model.is_admin(3));
    assert!(!model.may_leave(1), "nobody leaves all");
    assert!(!model.may_leave(2), "the admin hands over first");
    assert!(model.may_leave(3));
    let handed =
        GroupEvent { group: "mine".into(), gid: 2, admin: Some("bob".into()), members: 2, last_seq: 0, read_seq: 0 };
    model.apply(&Event::GroupUpdated(handed));
    assert!(!model.is_admin(2));
    assert!(model.may_leave(2));
}

#[test]
fn group_events_add_and_remove_groups() {
    let mut model = signed_in(&[group(1, "all", None, 0, 0)]);
    let added =
        GroupEvent { group: "team".into(), gid: 5, admin: Some("bob".into()), members: 2, last_seq: 3, read_seq: 0 };
    assert_eq!(model.apply(&Event::GroupAdded(added.clone())), FollowUp::Subscribe { gid: 5, group: "team".into() });
    assert_eq!(model.apply(&Event::GroupAdded(added)), FollowUp::Nothing, "added once");
    assert_eq!(model.group(5).unwrap().unread(), 3);
    model.open(5);
    model.apply(&Event::GroupRemoved { group: "team".into(), gid: 5, reason: RemovedReason::Removed });
    assert!(model.group(5).is_none());
    assert_eq!(model.current, None);
    model.apply(&Event::GroupDeleted { group: "all".into(), gid: 1, last_seq: 0 });
    assert!(model.groups.is_empty());
}

#[test]
fn members_and_presence() {
    let mut model = signed_in(&[group(2, "team", Some("ann"), 0, 0)]);
    let entry = |login: &str, online| UserEntry { login: login.into(), name: login.to_uppercase(), online };
    model.set_members(2, &[entry("ann", true), entry("bob", false)]);
    model.apply(&Event::Presence { login: "bob".into(), online: true });
    assert!(model.group(2).unwrap().members.iter().all(|m| m.online));
    assert_eq!(
        model.apply(&Event::MemberJoined { group: "team".into(), gid: 2, login: "cat".into() }),
        FollowUp::RefetchMembers(2)
    );
    assert_eq!(model.group(2).unwrap().member_count, 3);
    model.apply(&Event::MemberLeft { group: "team".into(), gid: 2, login: "bob".into() });
    let logins: Vec<&str> = model.group(2).unwrap().members.iter().map(|m| m.login.as_str()).collect();
    assert_eq!(logins, ["ann", "cat"]);
    assert_eq!(model.group(2).unwrap().member_count, 2);
}

#[test]
fn session_end_and_resync_are_handed_to_the_ui() {
    let mut model = signed_in(&[group(1, "all", None, 0, 0)]);
    assert_eq!(model.apply(&Event::Resync), FollowUp::Resync);
    assert_eq!(
        model.apply(&Event::SessionEnded { reason: EndReason::PasswordChanged }),
        FollowUp::SessionEnded(EndReason::PasswordChanged)
    );
    assert_eq!(model.connection, Connection::SignedOut);
    assert!(model.groups.is_empty() && model.me.is_none());
}

#[test]
fn wire_messages_convert_to_live_ones_and_tombstones_keep_their_seq() {
    let wire = msg(1, 4);
    let converted = ChatMessage::from_wire(&wire);
    assert_eq!((converted.seq, converted.body.as_str(), converted.deleted), (4, "m4", false));
    let mut model = signed_in(&[group(1, "all", None, 0, 0)]);
    model.add_message(&wire);
    let mut tombstone = msg(1, 5);
    tombstone.deleted = true;
    tombstone.body.clear();
    assert!(ChatMessage::from_wire(&tombstone).deleted);
    model.add_message(&tombstone);
    let held: Vec<(bool, &str)> = model.group(1).unwrap().messages().map(|m| (m.deleted, m.body.as_str())).collect();
    assert_eq!(held, [(false, "m4"), (true, "")]);
    assert!(model.group(1).unwrap().seqs_complete(), "a tombstone fills its place");
}

#[test]
fn a_deletion_turns_a_held_message_into_a_tombstone_whichever_way_it_comes() {
    let mut model = signed_in(&[group(1, "all", None, 0, 0)]);
    model.merge_history(1, &msgs(1, 1..=3), false);
    // Live: the message_deleted event.
    let event = Event::MessageDeleted { group: "all".into(), gid: 1, seq: 2 };
    assert_eq!(model.apply(&event), FollowUp::Nothing);
    // From storage: a history page (after a reconnect) or a replayed message carrying deleted.
    let mut replayed = msg(1, 3);
    replayed.deleted = true;
    replayed.body.clear();
    model.merge_history(1, std::slice::from_ref(&replayed), false);
    let mut again = msg(1, 1);
    again.deleted = true;
    again.body.clear();
    assert!(!model.add_message(&again), "not a new message");
    let held: Vec<(u64, bool, &str)> =
        model.group(1).unwrap().messages().map(|m| (m.seq, m.deleted, m.body.as_str())).collect();
    assert_eq!(held, [(1, true, ""), (2, true, ""), (3, true, "")]);
    // Unknown groups and seqs are ignored.
    assert_eq!(model.apply(&Event::MessageDeleted { group: "x".into(), gid: 9, seq: 1 }), FollowUp::Nothing);
}

#[test]
fn events_for_unknown_groups_are_ignored() {
    let mut model = signed_in(&[group(1, "all", None, 0, 0)]);
    assert!(!model.add_message(&msg(9, 1)));
    model.merge_history(9, &msgs(9, 1..=2), false);
    model.set_members(9, &[]);
    assert_eq!(model.apply(&Event::MemberJoined { group: "x".into(), gid: 9, login: "cat".into() }), FollowUp::Nothing);
    assert_eq!(model.groups.len(), 1);
}
