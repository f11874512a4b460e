//! Joint through `joint_wire::Client`: one account, shared by its session token across every
//! connection, so setting up hundreds of connections costs no password hashing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use joint_wire::message::Event;
use joint_wire::{Client, ClientConfig, ClientEvent};

use super::{take_acks_until, Deliveries, Plan, Published};
use crate::payload::{now_ns, since, Stamp};

/// A Joint broker (or several of one cluster) and the benchmark's account on it.
pub struct JointPeer {
    addr: String,
    /// The brokers new sessions connect to, in turn (just `addr` unless [`JointPeer::spread`]).
    brokers: Vec<String>,
    /// How many sessions were opened, to pick the next broker.
    opened: AtomicUsize,
    login: String,
    token: String,
    /// The connection that created the account; it creates each round's groups.
    admin: Client,
}

impl JointPeer {
    /// Registers a fresh account `login` (one scrypt hash at the broker's cost).
    pub async fn connect(addr: &str, login: &str) -> Result<JointPeer> {
        let (admin, _events) = connect(addr, None).await?;
        admin.register(login, "joint-bench", &password_of(login)).await.context("registering")?;
        let token = admin.token().context("a session token after register")?;
        Ok(JointPeer {
            addr: addr.to_string(),
            brokers: vec![addr.to_string()],
            opened: AtomicUsize::new(0),
            login: login.to_string(),
            token,
            admin,
        })
    }

    /// The same account with its sessions (subscribers and publishers) spread over
    /// `brokers` in turn: brokers of one cluster, on one database. Groups are still
    /// created on the first broker.
    pub fn spread(&self, brokers: &[String]) -> JointPeer {
        JointPeer {
            addr: self.addr.clone(),
            brokers: if brokers.is_empty() { vec![self.addr.clone()] } else { brokers.to_vec() },
            opened: AtomicUsize::new(0),
            login: self.login.clone(),
            token: self.token.clone(),
            admin: self.admin.clone(),
        }
    }

    /// A new connection that has said `hello` and is not signed in yet.
    pub async fn anonymous(&self) -> Result<Client> {
        Ok(connect(&self.addr, None).await?.0)
    }

    /// The account's login and password, for the login workload.
    pub fn credentials(&self) -> (&str, String) {
        (&self.login, password_of(&self.login))
    }

    /// A new connection signed in by the shared token.
    pub async fn session(&self) -> Result<(Client, joint_wire::Events)> {
        self.session_with(None).await
    }

    /// A new connection signed in by the shared token, leaving at most `event_capacity`
    /// events unread before it stops reading its socket (see `ClientConfig::event_capacity`).
    async fn session_with(&self, event_capacity: Option<usize>) -> Result<(Client, joint_wire::Events)> {
        let turn = self.opened.fetch_add(1, Ordering::Relaxed) % self.brokers.len();
        let (client, events) = connect(&self.brokers[turn], event_capacity).await?;
        client.auth(&self.token).await.context("auth by token")?;
        Ok((client, events))
    }

    /// The connection that registered the account (it owns every group it creates).
    pub fn admin(&self) -> &Client {
        &self.admin
    }

    /// Creates `groups` groups named `{tag}-g{i}`.
    pub async fn prepare(&self, tag: &str, groups: usize) -> Result<Vec<String>> {
        let mut names = Vec::with_capacity(groups);
        for g in 0..groups {
            let name = format!("{tag}-g{g}");
            self.admin.group_create(&name, &[]).await.with_context(|| format!("creating group {name}"))?;
            names.push(name);
        }
        Ok(names)
    }

    /// A new connection subscribed to `group` from now on.
    pub(super) async fn subscribe(&self, group: &str) -> Result<Deliveries> {
        // A subscriber that stops reading must leave its backlog with the broker, as a real
        // slow client would, not in this process: its client stops reading the socket.
        let (client, events) = self.session_with(Some(SUBSCRIBER_EVENTS)).await?;
        client.subscribe(group, None, None).await.with_context(|| format!("subscribing to {group}"))?;
        let stream = futures::stream::unfold((client, events), |(client, mut events)| async move {
            loop {
                match events.next().await? {
                    ClientEvent::Event(Event::Message(message)) => {
                        return Some((Ok(Bytes::from(message.body.into_bytes())), (client, events)))
                    }
                    ClientEvent::Disconnected | ClientEvent::ConnectionError(_) => {
                        return Some((Err(anyhow::anyhow!("the subscriber's connection dropped")), (client, events)))
                    }
                    // Lagged: the broker replays from storage, the messages still come.
                    _ => continue,
                }
            }
        });
        Ok(stream.boxed())
    }

    /// Publishes `plan` on a new connection, `plan.window` requests pipelined at most (and
    /// never more than [`MAX_PIPELINED`]: an open-loop publisher then waits, and its late
    /// sends count in its latency from their scheduled time).
    pub async fn publish(&self, group: &str, plan: Plan) -> Result<Published> {
        let window = plan.window.min(MAX_PIPELINED);
        let (client, _events) = self.session().await?;
        let mut published = Published::default();
        let mut inflight = FuturesUnordered::new();
        let start_ns = now_ns();
        for seq in 0..plan.messages {
            let due = plan.due_ns(start_ns, seq);
            if let Some(due) = due {
                take_acks_until(due, &mut inflight, |result| acknowledged(&mut published, Some(result))).await?;
            }
            if inflight.len() >= window {
                acknowledged(&mut published, inflight.next().await)?;
            }
            let sent_ns = due.unwrap_or_else(now_ns);
            let body = Stamp { publisher: plan.publisher, seq, sent_ns }.encode(plan.size);
            let (client, group) = (client.clone(), group.to_string());
            let mut publish = Box::pin(tokio::task::unconstrained(async move {
                client.publish_with_cid(&group, &body, &seq.to_string()).await.map(|_| sent_ns)
            }));
            // The client queues a request when its future is first polled. Poll it now, so
            // publishes leave in seq order: FuturesUnordered would first-poll them in an order
            // of its own, and tokio's cooperative budget (hence `unconstrained`) could defer
            // the queueing of some of them past later ones.
            match futures::poll!(&mut publish) {
                Poll::Ready(result) => acknowledged(&mut published, Some(result))?,
                Poll::Pending => inflight.push(publish),
            }
        }
        while let Some(result) = inflight.next().await {
            acknowledged(&mut published, Some(result))?;
        }
        Ok(published)
    }
}

/// Records one acknowledgement; a refused publish ends the run.
fn acknowledged(published: &mut Published, result: Option<Result<u64, joint_wire::ClientError>>) -> Result<()> {
    match result {
        Some(Ok(sent_ns)) => {
            published.ack_latency.record(since(sent_ns));
            published.acked += 1;
            published.last_ack_ns = now_ns();
            Ok(())
        }
        Some(Err(error)) => bail!("publish failed: {error}"),
        None => Ok(()),
    }
}

/// Requests the wire client queues at once (its command channel): up to this many, a
/// request is queued when its future is first polled, so publishes leave in seq order;
/// beyond it they would wait for room in an order of their own, and commit out of order.
pub const MAX_PIPELINED: usize = 256;

/// Events a subscriber's client holds unread at most.
const SUBSCRIBER_EVENTS: usize = 1024;

/// The benchmark account's password.
fn password_of(login: &str) -> String {
    format!("{login}-password")
}

/// A connection that does not reconnect: a drop must show in the results, not be papered over.
async fn connect(addr: &str, event_capacity: Option<usize>) -> Result<(Client, joint_wire::Events)> {
    let mut config = ClientConfig::new(vec![addr.to_string()]);
    config.reconnect = false;
    config.event_capacity = event_capacity;
    config.client_name = format!("joint-bench/{}", env!("CARGO_PKG_VERSION"));
    Client::connect(config).await.with_context(|| format!("connecting to Joint at {addr}"))
}
