//! `joint chat GROUP`: recent history, then live messages printed above a prompt line that
//! keeps what the user is typing.

use super::{new_cid, Context};
use crate::args::GroupArg;
use crate::error::{CliError, CliResult};
use crate::terminal::{columns, Edit, KeyDecoder, LineEditor, RawMode};
use joint_wire::message::Event;
use joint_wire::{ClientError, ClientEvent, ErrorCode};
use rust_i18n::t;
use std::io::{Read, Write};
use std::time::Duration;
use tokio::sync::mpsc;

/// Messages of history shown when the chat opens.
const RECENT: u64 = 20;

/// The pause before a line whose outcome is unknown is sent again.
const RESEND_PAUSE: Duration = Duration::from_millis(500);

/// Writes to the terminal and flushes.
fn show(text: &str) -> CliResult {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Runs the chat until `/quit`, Ctrl-C, Ctrl-D or the end of stdin. Each line is published
/// with a cid of its own and sent again with it until the broker acknowledges or refuses it,
/// so a broker restart neither loses nor doubles it; the user's own messages come back
/// through the subscription like everyone else's. Off a terminal, stdin is read line by line and no prompt is drawn.
pub async fn chat(ctx: &mut Context, args: GroupArg) -> CliResult {
    let mut session = ctx.session().await?;
    let recent = session.client.history(&args.group, None, None, None, Some(RECENT)).await?;
    for message in &recent.messages {
        ctx.out.message(message)?;
    }
    // Messages are matched on the gid: the broker spells the group's name in NFC, which
    // need not be how the user typed it.
    let gid = session.client.subscribe(&args.group, None, Some(recent.last_seq)).await?.gid;
    if recent.last_seq > 0 {
        session.client.mark_read(&args.group, recent.last_seq).await?;
    }
    eprintln!("{}", t!("cli.out.chat_help"));

    let raw = RawMode::enable()
        .map_err(|err| CliError::Local(t!("cli.err.terminal", detail = err.to_string()).into_owned()))?;
    let terminal = raw.active();
    let mut editor = LineEditor::new(format!("{}> ", ctx.out.clean(&args.group)), columns());
    let mut decoder = KeyDecoder::default();
    // stdin is read on a thread of its own: an empty chunk means it ended.
    let (bytes_tx, mut bytes) = mpsc::unbounded_channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 1024];
        loop {
            let n = stdin.read(&mut buf).unwrap_or(0);
            if bytes_tx.send(buf[..n].to_vec()).is_err() || n == 0 {
                break;
            }
        }
    });
    // Shows a line above the prompt on a terminal, or as a plain line otherwise.
    let above = |editor: &LineEditor, text: &str| {
        if terminal {
            show(&editor.above(text))
        } else {
            show(&format!("{text}\n"))
        }
    };
    if terminal {
        show(&editor.render())?;
    }
    let result = loop {
        tokio::select! {
            chunk = bytes.recv() => {
                let chunk = chunk.unwrap_or_default();
                if chunk.is_empty() {
                    break Ok(());
                }
                editor.set_columns(columns());
                let mut entered = Vec::new();
                let mut quit = false;
                for key in decoder.feed(&chunk) {
                    match editor.key(key) {
                        Edit::Changed => {}
                        Edit::Entered(line) => entered.push(line),
                        Edit::Quit => quit = true,
                    }
                }
                if terminal {
                    show(&editor.render())?;
                }
                for line in entered {
                    if line.trim() == "/quit" {
                        quit = true;
                        break;
                    }
                    if line.trim().is_empty() {
                        continue;
                    }
                    // One cid for all attempts: a line whose acknowledgement was lost with the
                    // connection is sent again and stored once.
                    let cid = new_cid()?;
                    loop {
                        match session.client.publish_with_cid(&args.group, &line, &cid).await {
                            Ok(_) => break,
                            Err(ClientError::Disconnected) => {}
                            Err(ClientError::Broker(body)) if body.code == ErrorCode::Unavailable => {}
                            // Flood control: the line was not stored; it goes once the wait is over.
                            Err(ClientError::Broker(body)) if body.code == ErrorCode::RateLimited => {
                                let wait = body.retry_after_ms.unwrap_or(1000);
                                tokio::time::sleep(Duration::from_millis(wait)).await;
                                continue;
                            }
                            Err(err) => {
                                let err = CliError::from(err);
                                let (code, sentence) = err.describe();
                                above(&editor, &format!("{}: {code}: {sentence}", t!("cli.err.not_sent")))?;
                                if !matches!(err, CliError::Refused(_)) {
                                    return Err(err);
                                }
                                break;
                            }
                        }
                        above(&editor, &t!("cli.out.resending"))?;
                        tokio::time::sleep(RESEND_PAUSE).await;
                    }
                }
                if quit {
                    break Ok(());
                }
            }
            event = session.events.next() => match event {
                Some(ClientEvent::Event(Event::Message(message))) if message.gid == gid => {
                    above(&editor, &ctx.out.message_line(&message)?)?;
                    // A marker lost with the connection is moved by the next message; the
                    // Disconnected event tells the user.
                    match session.client.mark_read(&args.group, message.seq).await {
                        Ok(_) | Err(ClientError::Disconnected) => {}
                        Err(err) => break Err(err.into()),
                    }
                }
                Some(ClientEvent::Event(Event::MessageDeleted { group, gid: of, seq })) if of == gid => {
                    above(&editor, &ctx.out.deleted_line(&group, gid, seq)?)?;
                }
                Some(ClientEvent::Event(Event::SessionEnded { .. })) => {
                    session.forget_token()?;
                    break Err(CliError::Denied(ErrorCode::BadToken));
                }
                Some(ClientEvent::SubscriptionLost { error, .. }) => break Err(CliError::Refused(error)),
                Some(ClientEvent::Disconnected) => above(&editor, &t!("cli.out.reconnecting"))?,
                Some(ClientEvent::Reconnected { broker, .. }) => {
                    let line = session.reconnected_line(&broker);
                    above(&editor, &line)?;
                }
                Some(_) => {}
                None => break Err(CliError::Lost),
            },
        }
    };
    if terminal {
        show("\r\n")?;
    }
    result
}
