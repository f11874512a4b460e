//! Mosquitto over MQTT 3.1.1 at QoS 1 (rumqttc): a message is acknowledged by PUBACK, and
//! subscribers receive at QoS 1 on clean sessions.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};

use super::{pace, Deliveries, Plan, Published};
use crate::payload::{now_ns, since, Stamp};

/// A Mosquitto broker.
pub struct MqttPeer {
    host: String,
    port: u16,
}

impl MqttPeer {
    /// A peer at `addr` (`host:port`); connections are opened per subscriber and publisher.
    pub fn new(addr: &str) -> Result<MqttPeer> {
        let (host, port) = addr.rsplit_once(':').context("an MQTT address is host:port")?;
        Ok(MqttPeer { host: host.to_string(), port: port.parse().context("an MQTT port")? })
    }

    fn options(&self, inflight: usize) -> MqttOptions {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut options = MqttOptions::new(format!("bench-{}-{id}", std::process::id()), &self.host, self.port);
        options.set_keep_alive(Duration::from_secs(30));
        options.set_clean_session(true);
        options.set_inflight(u16::try_from(inflight.clamp(1, 65_535)).expect("clamped into u16"));
        options.set_max_packet_size(1 << 20, 1 << 20);
        options
    }

    /// A new connection subscribed at QoS 1 to `topic`.
    pub(super) async fn subscribe(&self, topic: &str) -> Result<Deliveries> {
        let (client, mut events) = AsyncClient::new(self.options(100), 16);
        client.subscribe(topic, QoS::AtLeastOnce).await?;
        loop {
            match events.poll().await.context("subscribing over MQTT")? {
                Event::Incoming(Packet::SubAck(_)) => break,
                Event::Incoming(Packet::Publish(_)) => bail!("a message before the SUBACK on a fresh topic"),
                _ => continue,
            }
        }
        let stream = futures::stream::unfold((client, events), |(client, mut events)| async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        return Some((Ok(publish.payload), (client, events)))
                    }
                    Ok(_) => continue,
                    Err(error) => return Some((Err(error.into()), (client, events))),
                }
            }
        });
        Ok(stream.boxed())
    }

    /// Publishes `plan` at QoS 1; rumqttc keeps `plan.window` PUBACKs outstanding at most.
    pub(super) async fn publish(&self, topic: &str, plan: Plan) -> Result<Published> {
        let (client, events) = AsyncClient::new(self.options(plan.window), plan.window.max(1));
        // Send times in publish order; the event loop sends in that order and names each
        // packet id as it goes (Outgoing::Publish), which pairs an id with its send time.
        let sent: Arc<Mutex<VecDeque<u64>>> = Arc::default();
        let acks = tokio::spawn(acknowledgements(events, sent.clone(), plan.messages));
        let start_ns = now_ns();
        for seq in 0..plan.messages {
            let due = plan.due_ns(start_ns, seq);
            if let Some(due) = due {
                pace(due).await;
            }
            let sent_ns = due.unwrap_or_else(now_ns);
            let body = Stamp { publisher: plan.publisher, seq, sent_ns }.encode(plan.size);
            sent.lock().expect("no task panics holding the lock").push_back(sent_ns);
            if let Err(error) = client.publish(topic, QoS::AtLeastOnce, false, body.into_bytes()).await {
                // The event loop ended first: its error says why (the broker's answer, a
                // keep-alive that timed out), the failed send only that it had.
                return Err(match acks.await {
                    Ok(Err(cause)) => cause.context("the MQTT event loop ended while publishing"),
                    _ => error.into(),
                });
            }
        }
        let published = acks.await??;
        client.disconnect().await.ok();
        Ok(published)
    }
}

/// Drives a publisher's event loop until `messages` PUBACKs arrived.
async fn acknowledgements(mut events: EventLoop, sent: Arc<Mutex<VecDeque<u64>>>, messages: u64) -> Result<Published> {
    let mut published = Published::default();
    let mut pending: HashMap<u16, u64> = HashMap::new();
    while published.acked < messages {
        match events.poll().await.context("publishing over MQTT")? {
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                let sent_ns = sent.lock().expect("no task panics holding the lock").pop_front();
                pending.insert(pkid, sent_ns.context("a publish nobody sent")?);
            }
            Event::Incoming(Packet::PubAck(ack)) => {
                let sent_ns = pending.remove(&ack.pkid).context("a PUBACK for no outstanding publish")?;
                published.ack_latency.record(since(sent_ns));
                published.acked += 1;
                published.last_ack_ns = now_ns();
            }
            _ => {}
        }
    }
    Ok(published)
}
