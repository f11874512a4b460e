//! The broker's dedicated `LISTEN joint` connection (plain tokio-postgres, not from the
//! pool: a pooled connection would be recycled, and its notes lost, between uses). It
//! reconnects with backoff; after each (re)connect, and every `--cluster-check-ms`, it
//! runs the check that turns lost notes into catch-ups from storage.

use super::note::{Note, CHANNEL};
use super::remote;
use crate::server::Ctx;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;

/// The application name of the listening connection in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "joint-broker-listen";

/// Notes read from the connection but not yet handled; beyond this the connection is not
/// read and PostgreSQL keeps them in its queue.
const BACKLOG: usize = 1024;

/// The first and the longest pause between attempts to connect.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Listens for the other brokers' notes and acts on them until `shutdown`.
pub async fn run(ctx: Arc<Ctx>, shutdown: CancellationToken) {
    let mut backoff = BACKOFF_MIN;
    let mut connected_before = false;
    let period = Duration::from_millis(ctx.settings.cluster_check_ms.max(10));
    loop {
        let notes = tokio::select! {
            _ = shutdown.cancelled() => return,
            connected = connect(&ctx) => connected,
        };
        let mut listening = match notes {
            Ok(listening) => listening,
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "cannot listen for the other brokers' notes; will retry");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        if connected_before {
            ctx.metrics.listener_reconnects.inc();
            tracing::info!("listening for the other brokers' notes again");
        }
        connected_before = true;
        // What the others changed while nobody listened here (before the first connection,
        // too: connections accepted meanwhile) is read from PostgreSQL now that new notes
        // are heard again.
        if let Err(err) = remote::resync(&ctx).await {
            tracing::warn!(error = %err, "could not check sessions and memberships after (re)connecting; will retry");
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
            continue;
        }
        backoff = BACKOFF_MIN;
        // Notes sent while nobody listened are gone: storage has what they said. The first
        // tick comes at once.
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                note = listening.notes.recv() => match note {
                    Some(payload) => handle(&ctx, &payload).await,
                    None => {
                        tracing::warn!("the connection listening for notes was lost; reconnecting");
                        break;
                    }
                },
                _ = tick.tick() => {
                    if let Err(err) = remote::check(&ctx).await {
                        tracing::warn!(error = %err, "the periodic check of last seqs failed; will retry");
                    }
                }
            }
        }
    }
}

/// Connects, listens, and returns the notes as they come; the channel closes when the
/// connection is lost.
async fn connect(ctx: &Ctx) -> anyhow::Result<Listening> {
    let mut config: tokio_postgres::Config = ctx.settings.database_url.parse()?;
    config.application_name(APPLICATION_NAME);
    config.connect_timeout(Duration::from_secs(3));
    // A connection that died without a word (a half-open TCP connection) is noticed within
    // about 25 s, not the kernel's default of many minutes: until then nothing is heard.
    config.keepalives_idle(Duration::from_secs(10));
    config.keepalives_interval(Duration::from_secs(5));
    config.keepalives_retries(3);
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
    let (sender, notes) = mpsc::channel(BACKLOG);
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(note)) => {
                    if sender.send(note.payload().to_owned()).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::debug!(%err, "the listening connection ended");
                    return;
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    Ok(Listening { _client: client, notes })
}

/// A listening connection: its notes, and its client, whose drop would close it.
struct Listening {
    _client: tokio_postgres::Client,
    notes: mpsc::Receiver<String>,
}

async fn handle(ctx: &Ctx, payload: &str) {
    let Some(note) = Note::parse(payload) else {
        tracing::warn!(len = payload.len(), "a note this broker cannot read was ignored");
        return;
    };
    if note.from() == ctx.store.broker_id() {
        return;
    }
    ctx.metrics.notes_received.inc();
    match note {
        Note::Messages { ranges, .. } => remote::messages(ctx, &ranges).await,
        Note::Events { events, .. } => remote::events(ctx, events).await,
        Note::Presence { users, .. } => {
            let _ = ctx.remote_presence.send(users);
        }
    }
}
