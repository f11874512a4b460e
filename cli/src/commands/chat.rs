//! `joint chat GROUP`: recent history, then live messages printed above a line editor.

use super::Context;
use crate::args::GroupArg;
use crate::error::{CliError, CliResult};
use joint_wire::message::Event;
use joint_wire::{ClientEvent, ErrorBody, ErrorCode};
use rust_i18n::t;
use rustyline::error::ReadlineError;
use rustyline::ExternalPrinter;
use tokio::sync::mpsc;

/// Messages of history shown when the chat opens.
const RECENT: u64 = 20;

/// What the line editor thread hands over.
enum Input {
    /// A line the user entered.
    Line(String),
    /// Ctrl-D, Ctrl-C or a closed terminal.
    End,
}

/// Runs the chat until `/quit`, Ctrl-D or Ctrl-C. Lines are published with the client's
/// cids; the user's own messages come back through the subscription like everyone else's.
pub async fn chat(ctx: &mut Context, args: GroupArg) -> CliResult {
    let mut session = ctx.session().await?;
    let recent = session.client.history(&args.group, None, None, None, Some(RECENT)).await?;
    for message in &recent.messages {
        ctx.out.message(message)?;
    }
    session.client.subscribe(&args.group, None, Some(recent.last_seq)).await?;
    if recent.last_seq > 0 {
        session.client.mark_read(&args.group, recent.last_seq).await?;
    }
    let local = |err: ReadlineError| CliError::Local(t!("cli.err.terminal", detail = err.to_string()).into_owned());
    let mut editor = rustyline::DefaultEditor::new().map_err(local)?;
    let mut printer = editor.create_external_printer().map_err(local)?;
    let (input_tx, mut input) = mpsc::unbounded_channel();
    let prompt = format!("{}> ", args.group);
    eprintln!("{}", t!("cli.out.chat_help"));
    std::thread::spawn(move || loop {
        match editor.readline(&prompt) {
            Ok(line) => {
                let _ = editor.add_history_entry(line.as_str());
                if input_tx.send(Input::Line(line)).is_err() {
                    break;
                }
            }
            Err(_) => {
                let _ = input_tx.send(Input::End);
                break;
            }
        }
    });
    loop {
        tokio::select! {
            entered = input.recv() => match entered {
                Some(Input::Line(line)) if line.trim() == "/quit" => return Ok(()),
                Some(Input::Line(line)) if line.trim().is_empty() => {}
                Some(Input::Line(line)) => {
                    if let Err(err) = session.client.publish(&args.group, &line).await {
                        let err = CliError::from(err);
                        let (code, sentence) = err.describe();
                        let _ = printer.print(format!("{}: {code}: {sentence}", t!("cli.err.not_sent")));
                        if !matches!(err, CliError::Refused(_)) {
                            return Err(err);
                        }
                    }
                }
                Some(Input::End) | None => return Ok(()),
            },
            event = session.events.next() => match event {
                Some(ClientEvent::Event(Event::Message(message))) if message.group == args.group => {
                    let line = ctx.out.message_line(&message)?;
                    let _ = printer.print(line);
                    session.client.mark_read(&args.group, message.seq).await?;
                }
                Some(ClientEvent::Event(Event::SessionEnded { .. })) => {
                    session.forget_token()?;
                    return Err(CliError::Refused(ErrorBody::new(ErrorCode::BadToken, "the session ended")));
                }
                Some(ClientEvent::SubscriptionLost { error, .. }) => return Err(CliError::Refused(error)),
                Some(ClientEvent::Disconnected) => { let _ = printer.print(t!("cli.out.reconnecting").into_owned()); }
                Some(ClientEvent::Reconnected { broker, .. }) => {
                    let _ = printer.print(t!("cli.out.reconnected", broker = broker).into_owned());
                }
                Some(_) => {}
                None => return Err(CliError::Lost),
            },
        }
    }
}
