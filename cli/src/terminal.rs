//! The chat's line editor: keys decoded from raw terminal bytes, an input line that stays
//! intact while messages are printed above it, and raw mode that is always restored.

use nix::sys::termios::{self, LocalFlags, SetArg, Termios};
use std::io::IsTerminal;
use std::os::fd::AsRawFd;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// One key press, decoded from the bytes a terminal sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// A printable character.
    Char(char),
    /// Backspace or Delete.
    Backspace,
    /// Enter (CR or LF).
    Enter,
    /// Ctrl-C.
    Interrupt,
    /// Ctrl-D.
    EndOfInput,
}

/// Turns terminal bytes into keys: UTF-8 is reassembled across reads; escape sequences
/// (arrows, function keys) and other control bytes are skipped.
#[derive(Debug, Default)]
pub struct KeyDecoder {
    pending: Vec<u8>,
    escape: Escape,
}

#[derive(Debug, Default, PartialEq, Eq)]
enum Escape {
    #[default]
    None,
    /// After ESC.
    Start,
    /// Inside `ESC [` or `ESC O`, until a final byte.
    Sequence,
}

impl KeyDecoder {
    /// The keys in `bytes` (a partial UTF-8 character waits for the next call).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Key> {
        let mut keys = Vec::new();
        for &byte in bytes {
            match self.escape {
                Escape::Start => {
                    self.escape = if byte == b'[' || byte == b'O' { Escape::Sequence } else { Escape::None };
                    continue;
                }
                Escape::Sequence => {
                    if (0x40..=0x7e).contains(&byte) {
                        self.escape = Escape::None;
                    }
                    continue;
                }
                Escape::None => {}
            }
            match byte {
                0x1b => self.escape = Escape::Start,
                b'\r' | b'\n' => keys.push(Key::Enter),
                0x7f | 0x08 => keys.push(Key::Backspace),
                0x03 => keys.push(Key::Interrupt),
                0x04 => keys.push(Key::EndOfInput),
                0x00..=0x1f => {}
                _ => {
                    self.pending.push(byte);
                    match std::str::from_utf8(&self.pending) {
                        Ok(text) => {
                            keys.extend(text.chars().map(Key::Char));
                            self.pending.clear();
                        }
                        Err(err) if err.error_len().is_some() => self.pending.clear(),
                        Err(_) => {}
                    }
                }
            }
        }
        keys
    }
}

/// What a key did to the line.
#[derive(Debug, PartialEq, Eq)]
pub enum Edit {
    /// The line changed (or not): redraw it.
    Changed,
    /// The user entered this line.
    Entered(String),
    /// The user wants to leave (Ctrl-C, or Ctrl-D on an empty line).
    Quit,
}

/// The line being typed, after a prompt, drawn on one row of the terminal.
#[derive(Debug)]
pub struct LineEditor {
    prompt: String,
    line: String,
    columns: usize,
}

impl LineEditor {
    /// An empty line after `prompt`, for a terminal `columns` cells wide.
    pub fn new(prompt: String, columns: usize) -> Self {
        LineEditor { prompt, line: String::new(), columns }
    }

    /// Follows a resized terminal.
    pub fn set_columns(&mut self, columns: usize) {
        self.columns = columns;
    }

    /// Applies one key.
    pub fn key(&mut self, key: Key) -> Edit {
        match key {
            Key::Char(c) => self.line.push(c),
            Key::Backspace => {
                self.line.pop();
            }
            Key::Enter => return Edit::Entered(std::mem::take(&mut self.line)),
            Key::Interrupt => return Edit::Quit,
            Key::EndOfInput if self.line.is_empty() => return Edit::Quit,
            Key::EndOfInput => {}
        }
        Edit::Changed
    }

    /// The prompt line as it should look now: clear the row, then the prompt and as much
    /// of the end of the line as fits (after `…` when the start is cut), so it never wraps.
    pub fn render(&self) -> String {
        let room = self.columns.saturating_sub(self.prompt.width() + 1);
        if self.line.width() <= room {
            return format!("\r\x1b[K{}{}", self.prompt, self.line);
        }
        let mut shown = Vec::new();
        let mut used = 1; // the ellipsis
        for c in self.line.chars().rev() {
            used += c.width().unwrap_or(0);
            if used > room {
                break;
            }
            shown.push(c);
        }
        let tail: String = shown.into_iter().rev().collect();
        format!("\r\x1b[K{}…{tail}", self.prompt)
    }

    /// `text` printed above the prompt line, which is drawn again below it.
    pub fn above(&self, text: &str) -> String {
        format!("\r\x1b[K{text}\r\n{}", self.render())
    }
}

/// The width of the terminal on stdout in cells, or 80 when it cannot be told.
pub fn columns() -> usize {
    let mut size = nix::libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct passed, which lives on this stack.
    let ok = unsafe { nix::libc::ioctl(std::io::stdout().as_raw_fd(), nix::libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 {
        usize::from(size.ws_col)
    } else {
        80
    }
}

/// Raw mode on the terminal of stdin while alive (no echo, no line buffering, Ctrl-C as a
/// key); restores the previous settings when dropped. Does nothing when stdin is not a terminal.
pub struct RawMode {
    saved: Option<Termios>,
}

impl RawMode {
    /// Switches stdin's terminal to raw mode.
    pub fn enable() -> std::io::Result<RawMode> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Ok(RawMode { saved: None });
        }
        let saved = termios::tcgetattr(&stdin)?;
        let mut raw = saved.clone();
        raw.local_flags.remove(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG | LocalFlags::IEXTEN);
        termios::tcsetattr(&stdin, SetArg::TCSADRAIN, &raw)?;
        Ok(RawMode { saved: Some(saved) })
    }

    /// Whether the terminal is in raw mode (stdin is a terminal).
    pub fn active(&self) -> bool {
        self.saved.is_some()
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSADRAIN, saved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_decoded_across_reads() {
        let mut decoder = KeyDecoder::default();
        let mut keys = decoder.feed("hé".as_bytes().split_at(2).0);
        keys.extend(decoder.feed(&"hé".as_bytes()[2..]));
        keys.extend(decoder.feed(b"\x1b[A\x1bOBx\x7f\r\x03\x04"));
        assert_eq!(
            keys,
            [
                Key::Char('h'),
                Key::Char('é'),
                Key::Char('x'),
                Key::Backspace,
                Key::Enter,
                Key::Interrupt,
                Key::EndOfInput
            ]
        );
        assert_eq!(decoder.feed(&[0xff, b'a']), [Key::Char('a')], "an invalid byte is dropped");
    }

    #[test]
    fn the_editor_keeps_the_line_while_messages_arrive() {
        let mut editor = LineEditor::new("team> ".into(), 80);
        for c in "héllo".chars() {
            assert_eq!(editor.key(Key::Char(c)), Edit::Changed);
        }
        editor.key(Key::Backspace);
        assert_eq!(editor.above("#1 bob: hi"), "\r\x1b[K#1 bob: hi\r\n\r\x1b[Kteam> héll");
        assert_eq!(editor.key(Key::EndOfInput), Edit::Changed, "Ctrl-D only quits on an empty line");
        assert_eq!(editor.key(Key::Enter), Edit::Entered("héll".into()));
        assert_eq!(editor.render(), "\r\x1b[Kteam> ");
        assert_eq!(editor.key(Key::EndOfInput), Edit::Quit);
        assert_eq!(editor.key(Key::Interrupt), Edit::Quit);
    }

    #[test]
    fn a_long_line_shows_its_end_on_one_row() {
        let mut editor = LineEditor::new("g> ".into(), 12);
        for c in "abcdefgh".chars() {
            editor.key(Key::Char(c));
        }
        assert_eq!(editor.render(), "\r\x1b[Kg> abcdefgh", "3 + 8 cells fit in 12 with the cursor");
        editor.key(Key::Char('i'));
        assert_eq!(editor.render(), "\r\x1b[Kg> …cdefghi");
        editor.key(Key::Char('世'));
        assert_eq!(editor.render(), "\r\x1b[Kg> …efghi世", "wide characters count two cells");
        editor.set_columns(40);
        assert_eq!(editor.render(), "\r\x1b[Kg> abcdefghi世");
    }
}
