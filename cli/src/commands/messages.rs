//! Messages: send, history, tail, read, delete, export.

use super::{new_cid, Context};
use crate::args::{Delete, GroupArg, History, Read, Send, Tail};
use crate::error::{CliError, CliResult};
use joint_wire::message::Event;
use joint_wire::{ClientError, ClientEvent, ErrorCode};
use rust_i18n::t;
use serde_json::json;
use std::io::{IsTerminal, Read as _, Write};
use std::time::Duration;

/// How often `send` publishes again, with the same cid, when the outcome is unknown.
const SEND_ATTEMPTS: u32 = 5;

/// Messages per `export` page (the broker's maximum).
const EXPORT_PAGE: u64 = 1000;

/// `joint send GROUP [TEXT]`: the text, or stdin without its final newline. The message
/// gets one cid for all attempts, so a retry after a lost connection never doubles it,
/// whichever broker of `--broker` the retry reaches; a move to another broker is told on
/// stderr.
pub async fn send(ctx: &mut Context, args: Send) -> CliResult {
    let body = match args.text {
        Some(text) => text,
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::Usage(t!("cli.err.stdin", detail = e.to_string()).to_string()))?;
            text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text).to_owned()
        }
    };
    let mut session = ctx.session().await?;
    let cid = new_cid()?;
    let mut attempt = 1;
    let ok = loop {
        match session.client.publish_with_cid(&args.group, &body, &cid).await {
            // The client is moving to the next broker meanwhile; the retry goes there.
            Err(ClientError::Disconnected) if attempt < SEND_ATTEMPTS => eprintln!("{}", t!("cli.out.reconnecting")),
            Err(ClientError::Broker(err)) if err.code == ErrorCode::Unavailable && attempt < SEND_ATTEMPTS => {}
            other => break other?,
        }
        attempt += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
        session.report_reconnections();
    };
    session.report_reconnections();
    let sentence = t!("cli.out.sent", seq = ok.seq, group = ctx.out.clean(&args.group));
    ctx.out.result(&json!({ "group": args.group, "seq": ok.seq, "at": ok.at }), &sentence)?;
    Ok(())
}

/// `joint history GROUP [--before N] [--after N] [--limit N]`. With `--json` the messages
/// are followed by one `{"more": …, "last_seq": …}` line, so a script can tell a cut page.
pub async fn history(ctx: &mut Context, args: History) -> CliResult {
    let session = ctx.session().await?;
    let page = session.client.history(&args.group, None, args.before, args.after, args.limit).await?;
    for message in &page.messages {
        ctx.out.message(message)?;
    }
    if ctx.out.is_json() {
        ctx.out.json(&json!({ "more": page.more, "last_seq": page.last_seq }))?;
    } else if page.more {
        eprintln!("{}", t!("cli.out.more_history"));
    }
    Ok(())
}

/// `joint tail GROUP [--after N]`: prints messages as they arrive until interrupted. The
/// client library reconnects (to the next address of `--broker` when there are several)
/// and resumes after the last message it delivered, so a broker restart or death leaves
/// no gap and no duplicate.
pub async fn tail(ctx: &mut Context, args: Tail) -> CliResult {
    let mut session = ctx.session().await?;
    // Events are matched on the gid: the broker spells the group's name in NFC, which need
    // not be how the user typed it.
    let gid = session.client.subscribe(&args.group, None, args.after).await?.gid;
    loop {
        let Some(event) = session.events.next().await else { return Err(CliError::Lost) };
        match event {
            ClientEvent::Event(Event::Message(message)) if message.gid == gid => ctx.out.message(&message)?,
            ClientEvent::Event(Event::MessageDeleted { group, gid: of, seq }) if of == gid => {
                let line = ctx.out.deleted_line(&group, gid, seq)?;
                ctx.out.raw_line(&line)?;
            }
            ClientEvent::Event(Event::GroupDeleted { gid: deleted, .. }) if deleted == gid => {
                return Err(CliError::Denied(ErrorCode::NoSuchGroup));
            }
            ClientEvent::Event(Event::GroupRemoved { gid: removed, .. }) if removed == gid => {
                return Err(CliError::Denied(ErrorCode::NotMember));
            }
            ClientEvent::Event(Event::SessionEnded { .. }) => {
                session.forget_token()?;
                return Err(CliError::Denied(ErrorCode::BadToken));
            }
            ClientEvent::SubscriptionLost { error, .. } => return Err(CliError::Refused(error)),
            ClientEvent::Reconnected { authenticated: false, session_lost, .. } => {
                session.forget_token()?;
                return Err(session_lost.map_or(CliError::Denied(ErrorCode::BadToken), CliError::Refused));
            }
            ClientEvent::Disconnected => eprintln!("{}", t!("cli.out.reconnecting")),
            ClientEvent::Reconnected { broker, .. } => eprintln!("{}", session.reconnected_line(&broker)),
            _ => {}
        }
    }
}

/// `joint read GROUP [SEQ]`: moves the read marker (to the latest message by default).
pub async fn read(ctx: &mut Context, args: Read) -> CliResult {
    let session = ctx.session().await?;
    let seq = match args.seq {
        Some(seq) => seq,
        None => session.client.history(&args.group, None, None, None, Some(1)).await?.last_seq,
    };
    let read_seq = session.client.mark_read(&args.group, seq).await?;
    let sentence = t!("cli.out.read", group = ctx.out.clean(&args.group), seq = read_seq);
    ctx.out.result(&json!({ "group": args.group, "read_seq": read_seq }), &sentence)?;
    Ok(())
}

/// `joint delete GROUP SEQ`: the message becomes a tombstone for everyone.
pub async fn delete(ctx: &mut Context, args: Delete) -> CliResult {
    let session = ctx.session().await?;
    session.client.message_delete(&args.group, args.seq).await?;
    let sentence = t!("cli.out.message_deleted", group = ctx.out.clean(&args.group), seq = args.seq);
    ctx.out.result(&json!({ "group": args.group, "seq": args.seq, "deleted": true }), &sentence)?;
    Ok(())
}

/// `joint export GROUP`: the whole history as JSON lines, page by page, with a progress bar
/// on stderr when stderr is a terminal.
pub async fn export(ctx: &mut Context, args: GroupArg) -> CliResult {
    let session = ctx.session().await?;
    let progress = std::io::stderr().is_terminal();
    let mut after = 0;
    let mut done: u64 = 0;
    loop {
        let page = session.client.history(&args.group, None, None, Some(after), Some(EXPORT_PAGE)).await?;
        for message in &page.messages {
            ctx.out.json(message)?;
            after = message.seq;
            done += 1;
        }
        if progress {
            draw_progress(done, page.last_seq);
        }
        if !page.more || page.messages.is_empty() {
            break;
        }
    }
    if progress {
        eprintln!();
    }
    Ok(())
}

/// `[#####     ] done/total` on one rewritten line of stderr.
fn draw_progress(done: u64, total: u64) {
    const WIDTH: u64 = 30;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH).min(WIDTH) as usize;
    let bar = format!("{}{}", "#".repeat(filled), " ".repeat(WIDTH as usize - filled));
    let mut err = std::io::stderr();
    let _ = write!(err, "\r[{bar}] {done}/{total}");
    let _ = err.flush();
}
