//! Where each subscription of a client stands, so that after a reconnect the client
//! subscribes again with `after` = the last seq it handed on: no gap, no duplicate.
//!
//! Only the client's driver task touches this: it sees every subscribe reply and every
//! `message` in the order the broker sent them.

use crate::message::{Event, Request, SubscribeOk};
use std::collections::HashMap;

/// A live subscription: its group's name and the last seq delivered to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Position {
    group: String,
    last_seq: u64,
}

/// The client's subscriptions by gid.
#[derive(Debug, Default)]
pub(crate) struct Resumes {
    by_gid: HashMap<u64, Position>,
}

/// What a request means for the subscriptions once the broker accepts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tracks {
    /// Nothing.
    Nothing,
    /// A subscription starts after `after`, or after the group's `last_seq` without it.
    Subscribe {
        /// The group as the request named it.
        group: String,
        /// The request's `after`.
        after: Option<u64>,
    },
    /// The subscription to this group ends.
    Unsubscribe(String),
    /// Every subscription ends with the session.
    Logout,
}

impl Tracks {
    /// What `request` will change if it succeeds.
    pub(crate) fn of(request: &Request) -> Tracks {
        match request {
            Request::Subscribe { group, after, .. } => Tracks::Subscribe { group: group.clone(), after: *after },
            Request::Unsubscribe { group } => Tracks::Unsubscribe(group.clone()),
            Request::Logout => Tracks::Logout,
            _ => Tracks::Nothing,
        }
    }
}

impl Resumes {
    /// Applies an accepted request; `ok` is the subscribe reply when there is one.
    pub(crate) fn accepted(&mut self, tracks: Tracks, ok: Option<&SubscribeOk>) {
        match (tracks, ok) {
            (Tracks::Subscribe { group, after }, Some(ok)) => {
                // Subscribing again on the same connection replaces the earlier subscription.
                self.by_gid.retain(|_, p| p.group != group);
                self.by_gid.insert(ok.gid, Position { group, last_seq: after.unwrap_or(ok.last_seq) });
            }
            (Tracks::Unsubscribe(group), _) => self.by_gid.retain(|_, p| p.group != group),
            (Tracks::Logout, _) => self.by_gid.clear(),
            _ => {}
        }
    }

    /// Follows the events that move or end subscriptions.
    pub(crate) fn observe(&mut self, event: &Event) {
        match event {
            Event::Message(m) => {
                if let Some(position) = self.by_gid.get_mut(&m.gid) {
                    position.last_seq = position.last_seq.max(m.seq);
                }
            }
            Event::GroupRemoved { gid, .. } | Event::GroupDeleted { gid, .. } => {
                self.by_gid.remove(gid);
            }
            Event::SessionEnded { .. } => self.by_gid.clear(),
            _ => {}
        }
    }

    /// Forgets a subscription the broker refused to resume.
    pub(crate) fn lost(&mut self, gid: u64) {
        self.by_gid.remove(&gid);
    }

    /// The requests that resume every subscription on a new connection, with the gid each
    /// resumes (a group deleted and re-created meanwhile is refused, not silently joined).
    pub(crate) fn resubscribe(&self) -> Vec<(u64, Request)> {
        let mut resumes: Vec<(u64, Request)> = self
            .by_gid
            .iter()
            .map(|(gid, p)| {
                (*gid, Request::Subscribe { group: p.group.clone(), gid: Some(*gid), after: Some(p.last_seq) })
            })
            .collect();
        resumes.sort_by_key(|(gid, _)| *gid);
        resumes
    }

    /// Forgets everything (the session is gone).
    pub(crate) fn clear(&mut self) {
        self.by_gid.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    fn message(gid: u64, seq: u64) -> Event {
        Event::Message(Message {
            group: "g".into(),
            gid,
            seq,
            from: "ann".into(),
            name: "Ann".into(),
            body: "hi".into(),
            at: 0,
            deleted: false,
        })
    }

    fn subscribe(resumes: &mut Resumes, group: &str, after: Option<u64>, gid: u64, last_seq: u64) {
        let tracks = Tracks::of(&Request::Subscribe { group: group.into(), gid: None, after });
        resumes.accepted(tracks, Some(&SubscribeOk { gid, last_seq }));
    }

    fn after_of(resumes: &Resumes) -> Vec<(u64, Option<u64>)> {
        resumes
            .resubscribe()
            .into_iter()
            .map(|(gid, r)| match r {
                Request::Subscribe { after, .. } => (gid, after),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn resumes_after_the_last_message_handed_on() {
        let mut resumes = Resumes::default();
        subscribe(&mut resumes, "g", None, 2, 10);
        subscribe(&mut resumes, "h", Some(3), 5, 40);
        assert_eq!(after_of(&resumes), vec![(2, Some(10)), (5, Some(3))]);
        resumes.observe(&message(2, 11));
        resumes.observe(&message(2, 12));
        resumes.observe(&message(5, 4));
        resumes.observe(&message(9, 100)); // not subscribed: ignored
        assert_eq!(after_of(&resumes), vec![(2, Some(12)), (5, Some(4))]);
    }

    #[test]
    fn subscriptions_end_with_unsubscribe_removal_deletion_and_the_session() {
        let mut resumes = Resumes::default();
        subscribe(&mut resumes, "g", None, 2, 0);
        subscribe(&mut resumes, "g", None, 2, 7); // replaces
        assert_eq!(after_of(&resumes), vec![(2, Some(7))]);
        resumes.accepted(Tracks::Unsubscribe("g".into()), None);
        assert!(resumes.resubscribe().is_empty());
        subscribe(&mut resumes, "g", None, 2, 0);
        resumes.observe(&Event::GroupDeleted { group: "g".into(), gid: 2, last_seq: 0 });
        assert!(resumes.resubscribe().is_empty());
        subscribe(&mut resumes, "g", None, 2, 0);
        resumes.observe(&Event::SessionEnded { reason: crate::message::EndReason::Logout });
        assert!(resumes.resubscribe().is_empty());
        subscribe(&mut resumes, "g", None, 2, 0);
        resumes.accepted(Tracks::Logout, None);
        assert!(resumes.resubscribe().is_empty());
    }
}
