//! The message view: a read-only text display that wraps long lines, with the sender's name
//! in bold, the local time, a separator line where the day changes, and deleted messages
//! shown as such. New messages are appended; a page of older ones re-renders and keeps the
//! line the user was reading at the top.

use crate::model::{ChatMessage, GroupState};
use chrono::{NaiveDate, TimeZone};
use fltk::enums::{Color, Font};
use fltk::prelude::*;
use fltk::text::{StyleTableEntry, TextBuffer, TextDisplay, WrapMode};
use rust_i18n::t;

/// Style letters of the style buffer, one per byte of text.
const PLAIN: char = 'A';
const NAME: char = 'B';
const QUIET: char = 'C';
const GONE: char = 'D';

/// Text and its per-byte styles.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Styled {
    /// The text.
    pub text: String,
    /// One style letter per byte of `text`.
    pub style: String,
}

impl Styled {
    fn push(&mut self, text: &str, style: char) {
        self.text.push_str(text);
        self.style.extend(std::iter::repeat_n(style, text.len()));
    }
}

/// Formats messages in the time zone `tz`. `day` is the day of the message shown just before
/// them (no separator is drawn when the first one is on it); returns the day of the last one.
pub fn format_messages<'a, Tz: TimeZone>(
    messages: impl IntoIterator<Item = &'a ChatMessage>,
    mut day: Option<NaiveDate>,
    tz: &Tz,
    out: &mut Styled,
) -> Option<NaiveDate>
where
    Tz::Offset: std::fmt::Display,
{
    for m in messages {
        let Some(local) = i64::try_from(m.at).ok().and_then(|at| tz.timestamp_millis_opt(at).single()) else {
            continue;
        };
        let today = local.date_naive();
        if day != Some(today) {
            out.push(&format!("───── {} ─────\n", today.format("%Y-%m-%d")), QUIET);
            day = Some(today);
        }
        out.push(&local.format("%H:%M  ").to_string(), QUIET);
        out.push(&m.name, NAME);
        out.push("\n", PLAIN);
        if m.deleted {
            out.push(&format!("    {}\n", t!("gui.main.deleted")), GONE);
        } else {
            for line in m.body.split('\n') {
                out.push(&format!("    {line}\n"), PLAIN);
            }
        }
    }
    day
}

/// The widget and what it shows.
pub struct MessageView {
    /// The display.
    pub display: TextDisplay,
    text: TextBuffer,
    style: TextBuffer,
    shown: Option<u64>,
    rendered: Vec<u64>,
    last_day: Option<NaiveDate>,
}

impl MessageView {
    /// Builds the display at x, y, w, h.
    pub fn new(x: i32, y: i32, w: i32, h: i32) -> MessageView {
        let mut display = TextDisplay::new(x, y, w, h, None);
        let text = TextBuffer::default();
        let style = TextBuffer::default();
        display.set_buffer(text.clone());
        let entry = |color: Color, font: Font, size: i32| StyleTableEntry { color, font, size };
        display.set_highlight_data(
            style.clone(),
            vec![
                entry(Color::Black, Font::Helvetica, super::TEXT_SIZE),
                entry(Color::from_rgb(0x1a, 0x4a, 0x8a), Font::HelveticaBold, super::TEXT_SIZE),
                entry(Color::from_rgb(0x70, 0x70, 0x70), Font::Helvetica, super::TEXT_SIZE - 2),
                entry(Color::from_rgb(0x90, 0x90, 0x90), Font::HelveticaItalic, super::TEXT_SIZE),
            ],
        );
        display.wrap_mode(WrapMode::AtBounds, 0);
        display.show_cursor(false);
        MessageView { display, text, style, shown: None, rendered: Vec::new(), last_day: None }
    }

    /// The seqs shown, in order (tests check them for gaps and duplicates).
    pub fn rendered(&self) -> &[u64] {
        &self.rendered
    }

    /// Whether the first line is on screen (scrolled to the top).
    pub fn at_top(&self) -> bool {
        self.display.scroll_row() <= 1
    }

    /// Shows `group` (or nothing), doing as little work as its change needs.
    pub fn show(&mut self, group: Option<&GroupState>) {
        let Some(group) = group else {
            if self.shown.take().is_some() {
                self.clear();
            }
            return;
        };
        let last = self.rendered.last().copied();
        let newer: Vec<&ChatMessage> = group.messages_after(last.unwrap_or(0)).collect();
        let same_start = group.first_seq() == self.rendered.first().copied();
        let held = group.held();
        if self.shown == Some(group.gid) && same_start && held == self.rendered.len() + newer.len() {
            if !newer.is_empty() {
                self.append(&newer);
            }
            return;
        }
        let keep = (self.shown == Some(group.gid)).then(|| self.rendered.first().copied()).flatten();
        self.rerender(group, keep);
    }

    /// Forgets what is shown, so the next `show` renders afresh (after a language switch).
    pub fn invalidate(&mut self) {
        self.shown = None;
        self.clear();
    }

    fn clear(&mut self) {
        self.text.set_text("");
        self.style.set_text("");
        self.rendered.clear();
        self.last_day = None;
        self.display.redraw();
    }

    fn append(&mut self, messages: &[&ChatMessage]) {
        let mut out = Styled::default();
        self.last_day = format_messages(messages.iter().copied(), self.last_day, &chrono::Local, &mut out);
        self.text.append(&out.text);
        self.style.append(&out.style);
        self.rendered.extend(messages.iter().map(|m| m.seq));
        self.scroll_to_end();
    }

    fn rerender(&mut self, group: &GroupState, keep_at_top: Option<u64>) {
        let mut out = Styled::default();
        let mut anchor_byte = None;
        let mut day = None;
        for m in group.messages() {
            if Some(m.seq) == keep_at_top {
                anchor_byte = Some(out.text.len());
            }
            day = format_messages(std::iter::once(m), day, &chrono::Local, &mut out);
        }
        self.text.set_text(&out.text);
        self.style.set_text(&out.style);
        self.rendered = group.messages().map(|m| m.seq).collect();
        self.last_day = day;
        self.shown = Some(group.gid);
        match anchor_byte {
            Some(byte) => {
                let byte = i32::try_from(byte).unwrap_or(i32::MAX);
                let line = self.display.count_lines(0, byte, true);
                self.display.scroll(line + 1, 0);
            }
            None => self.scroll_to_end(),
        }
        self.display.redraw();
    }

    /// Shows the last line. Moving the (hidden) cursor there costs only the lines on screen;
    /// counting every wrapped line of the buffer would grow with the history.
    fn scroll_to_end(&mut self) {
        self.display.set_insert_position(self.text.length());
        self.display.show_insert_position();
        self.display.redraw();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn message(seq: u64, at: u64, body: &str, deleted: bool) -> ChatMessage {
        ChatMessage { gid: 1, seq, from: "bob".into(), name: "Боб".into(), body: body.into(), at, deleted }
    }

    #[test]
    fn days_are_separated_and_bodies_indented() {
        let day1 = 1_700_000_000_000; // 2023-11-14 22:13 UTC
        let day2 = day1 + 3 * 3_600_000; // 2023-11-15 01:13 UTC
        let messages = [
            message(1, day1, "hi\nthere", false),
            message(2, day1 + 60_000, "", true),
            message(3, day2, "later", false),
        ];
        let mut out = Styled::default();
        let last = format_messages(&messages, None, &Utc, &mut out);
        assert_eq!(last, NaiveDate::from_ymd_opt(2023, 11, 15));
        let expected = format!(
            "───── 2023-11-14 ─────\n22:13  Боб\n    hi\n    there\n22:14  Боб\n    {}\n───── 2023-11-15 ─────\n01:13  Боб\n    later\n",
            t!("gui.main.deleted")
        );
        assert_eq!(out.text, expected);
        assert_eq!(out.style.len(), out.text.len(), "one style per byte");
        // Continuing on the same day draws no separator.
        let mut more = Styled::default();
        format_messages(&[message(4, day2 + 1, "x", false)], last, &Utc, &mut more);
        assert!(!more.text.contains('─'));
    }
}
