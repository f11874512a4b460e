//! Everything `joint` prints on stdout: JSON lines with `--json`, otherwise aligned tables
//! and message lines with local times, control characters escaped on a terminal.

use chrono::{Local, TimeZone};
use joint_wire::message::{Event, Message};
use rust_i18n::t;
use serde::Serialize;
use std::io::{self, IsTerminal, Write};
use unicode_width::UnicodeWidthStr;

/// The stdout of one command.
pub struct Output {
    json: bool,
    terminal: bool,
    out: io::Stdout,
}

impl Output {
    /// Output in JSON lines when `json`, else for people.
    pub fn new(json: bool) -> Self {
        let out = io::stdout();
        Output { json, terminal: out.is_terminal(), out }
    }

    /// Whether `--json` was given.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Writes one JSON object on one line.
    pub fn json<T: Serialize>(&mut self, value: &T) -> io::Result<()> {
        let line = serde_json::to_string(value).map_err(io::Error::other)?;
        self.raw_line(&line)
    }

    /// Writes a line as it is, and flushes it (for `tail` and pipes).
    pub fn raw_line(&mut self, line: &str) -> io::Result<()> {
        let mut out = self.out.lock();
        writeln!(out, "{line}")?;
        out.flush()
    }

    /// Writes a line of text for people.
    pub fn line(&mut self, text: &str) -> io::Result<()> {
        let text = self.clean(text);
        self.raw_line(&text)
    }

    /// Either the JSON object or the sentence, depending on `--json`.
    pub fn result<T: Serialize>(&mut self, value: &T, sentence: &str) -> io::Result<()> {
        if self.json {
            self.json(value)
        } else {
            self.line(sentence)
        }
    }

    /// Text from the broker made safe for a terminal: control characters (and bidi
    /// controls) are shown escaped; piped output stays byte-exact.
    pub fn clean(&self, text: &str) -> String {
        if self.terminal {
            escape_controls(text)
        } else {
            text.to_owned()
        }
    }

    /// An aligned table with a header row (columns measured in terminal cells, so Chinese
    /// text lines up); cells are cleaned for the terminal.
    pub fn table(&mut self, header: &[String], rows: &[Vec<String>]) -> io::Result<()> {
        let rows: Vec<Vec<String>> = rows.iter().map(|row| row.iter().map(|c| self.clean(c)).collect()).collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.width());
            }
        }
        let mut out = self.out.lock();
        for row in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
            let mut line = String::new();
            for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let pad = width - cell.width();
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad + 2));
                }
            }
            writeln!(out, "{line}")?;
        }
        out.flush()
    }

    /// One message: its JSON object, or `#seq time name (login): body`.
    pub fn message(&mut self, message: &Message) -> io::Result<()> {
        let line = self.message_line(message)?;
        self.raw_line(&line)
    }

    /// The line [`Output::message`] prints, for printing it elsewhere (above a prompt). A
    /// tombstone shows a translated note in place of its (empty) body; its JSON object
    /// carries `"deleted": true`.
    pub fn message_line(&self, message: &Message) -> io::Result<String> {
        if self.json {
            return serde_json::to_string(message).map_err(io::Error::other);
        }
        let body = match message.deleted {
            true => t!("cli.out.tombstone").into_owned(),
            false => self.clean(&message.body),
        };
        Ok(format!(
            "#{} {} {} ({}): {}",
            message.seq,
            local_time(message.at),
            self.clean(&message.name),
            message.from,
            body
        ))
    }

    /// The line for a `message_deleted` event: `#seq` and the tombstone note, or the
    /// event's JSON object (`{"ev": "message_deleted", "group", "gid", "seq"}`).
    pub fn deleted_line(&self, group: &str, gid: u64, seq: u64) -> io::Result<String> {
        if self.json {
            let event = Event::MessageDeleted { group: group.to_owned(), gid, seq };
            return serde_json::to_string(&event).map_err(io::Error::other);
        }
        Ok(format!("#{seq} {}", t!("cli.out.tombstone")))
    }
}

/// Milliseconds since the epoch as a local date and time.
pub fn local_time(ms: u64) -> String {
    let ms = i64::try_from(ms).unwrap_or(i64::MAX);
    match Local.timestamp_millis_opt(ms).single() {
        Some(time) => time.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => ms.to_string(),
    }
}

/// Escapes control characters and bidi controls as `\n`, `\u{1b}`, ...
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("a\nb\u{1b}[31mc"), "a\\nb\\u{1b}[31mc");
        assert_eq!(escape_controls("x\u{202E}y"), "x\\u{202e}y");
        assert_eq!(escape_controls("Привет, 世界"), "Привет, 世界");
    }
}
