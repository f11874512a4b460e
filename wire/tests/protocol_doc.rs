//! Keeps PROTOCOL.md honest: replays every ```joint-dump block of it through this crate's
//! codec and types, checks the byte annotations against the bytes, and checks the copy-paste
//! `nc` examples.
//!
//! Dump lines (see PROTOCOL.md, "Reading the dumps"):
//! - `C1> hex`: a request on connection 1; it must parse and re-encode byte-identically.
//! - `C1~ hex`: a valid request in a non-canonical encoding; it must parse, and re-encoding
//!   must change its bytes (otherwise it belongs on a `>` line).
//! - `C1! hex`: a frame the broker must refuse; the refusal it predicts is checked against
//!   the broker's next reply or connection error on that connection.
//! - `C1< hex`: a frame from the broker; it must parse and re-encode byte-identically.
//! - `#   OOOO  hex…  meaning`: the bytes at offset OOOO of the frame above; together these
//!   lines must spell out the whole frame, in order.
//! - any other `#` line or an empty line: prose.

use bytes::BytesMut;
use joint_wire::codec::{FrameCodec, FrameError, Payload, DEFAULT_MAX_FRAME};
use joint_wire::message::{Envelope, Incoming, Op, Request};
use joint_wire::ErrorCode;
use std::collections::{HashMap, HashSet, VecDeque};
use tokio_util::codec::Decoder;

fn protocol_md() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../PROTOCOL.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Who sent a frame and what the dump claims about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// `>`: a canonical, valid request.
    Request,
    /// `~`: a valid request in a non-canonical encoding.
    Loose,
    /// `!`: a frame the broker refuses.
    Refused,
    /// `<`: a frame from the broker.
    Broker,
}

/// One frame line of a dump and its byte annotations.
#[derive(Debug)]
struct FrameLine {
    line: usize,
    conn: u32,
    kind: Kind,
    bytes: Vec<u8>,
    /// (line number, offset, bytes) of each `#   OOOO  hex` line under the frame.
    notes: Vec<(usize, usize, Vec<u8>)>,
}

/// A block: its opening line number and its frames in order.
type Block = (usize, Vec<FrameLine>);

fn decode_hex(text: &str, line: usize) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len() % 2 == 0, "line {line}: odd number of hex digits");
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).expect("ASCII");
            u8::from_str_radix(pair, 16).unwrap_or_else(|_| panic!("line {line}: {pair:?} is not hex"))
        })
        .collect()
}

/// Parses `#   OOOO  hex hex  meaning` into (offset, bytes); `None` for prose.
fn byte_note(text: &str, line: usize) -> Option<(usize, Vec<u8>)> {
    let rest = text.strip_prefix("#   ")?;
    let offset = rest.get(..4).filter(|o| o.bytes().all(|b| b.is_ascii_hexdigit()))?;
    let rest = rest[4..].strip_prefix("  ")?;
    let offset = usize::from_str_radix(offset, 16).expect("checked hex");
    // The hex column ends at the first run of two spaces after the first hex token.
    let rest = rest.trim_start();
    let hex = rest.split("  ").next().unwrap_or_default().trim_end();
    assert!(
        hex.bytes().all(|b| b.is_ascii_hexdigit() || b == b' '),
        "line {line}: the hex column {hex:?} holds something other than hex"
    );
    Some((offset, decode_hex(hex, line)))
}

/// Every ```joint-dump block of the document.
fn dump_blocks(doc: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for (index, text) in doc.lines().enumerate() {
        let line = index + 1;
        match current.as_mut() {
            None => {
                if text.trim_end() == "```joint-dump" {
                    current = Some((line, Vec::new()));
                }
            }
            Some((_, frames)) => {
                if text.trim_end() == "```" {
                    blocks.push(current.take().expect("inside a block"));
                } else if text.starts_with('#') {
                    if let Some((offset, bytes)) = byte_note(text, line) {
                        let frame =
                            frames.last_mut().unwrap_or_else(|| panic!("line {line}: a byte note before any frame"));
                        frame.notes.push((line, offset, bytes));
                    }
                } else if !text.trim().is_empty() {
                    frames.push(frame_line(text, line));
                }
            }
        }
    }
    assert!(current.is_none(), "a joint-dump block is not closed");
    blocks
}

/// Parses `C<n><dir> hex`.
fn frame_line(text: &str, line: usize) -> FrameLine {
    let rest = text.strip_prefix('C').unwrap_or_else(|| panic!("line {line}: not a frame line: {text:?}"));
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let conn: u32 = rest[..digits].parse().unwrap_or_else(|_| panic!("line {line}: no connection number"));
    let kind = match rest.as_bytes().get(digits) {
        Some(b'>') => Kind::Request,
        Some(b'~') => Kind::Loose,
        Some(b'!') => Kind::Refused,
        Some(b'<') => Kind::Broker,
        _ => panic!("line {line}: the direction must be >, ~, ! or <"),
    };
    let bytes = decode_hex(&rest[digits + 1..], line);
    FrameLine { line, conn, kind, bytes, notes: Vec::new() }
}

/// Cuts a whole frame into its payload; exactly one frame and no byte left over.
fn cut(bytes: &[u8], line: usize) -> Result<Vec<u8>, FrameError> {
    let mut codec = FrameCodec::new(DEFAULT_MAX_FRAME);
    let mut buffer = BytesMut::from(bytes);
    let payload = codec.decode(&mut buffer)?.unwrap_or_else(|| panic!("line {line}: an incomplete frame"));
    assert!(buffer.is_empty(), "line {line}: {} bytes after the frame", buffer.len());
    Ok(payload.to_vec())
}

/// What a client frame makes the broker send on that connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A reply (ok or err) with this `re`.
    Reply(u64),
    /// An error reply with this `re` and code.
    ErrReply(u64, ErrorCode),
    /// A connection error (no `re`) with this code.
    ConnError(ErrorCode),
}

/// Checks a valid request frame and returns its id.
fn check_request(frame: &FrameLine) -> u64 {
    let line = frame.line;
    let payload = cut(&frame.bytes, line).unwrap_or_else(|e| panic!("line {line}: {e}"));
    let parsed = Payload::parse(&payload).unwrap_or_else(|e| panic!("line {line}: {e}"));
    let envelope = Envelope::read(parsed).unwrap_or_else(|e| panic!("line {line}: {e}"));
    let op = envelope.op.clone().unwrap_or_else(|e| panic!("line {line}: {e}"));
    let request = Request::parse(op, &envelope.payload).unwrap_or_else(|e| panic!("line {line}: {e}"));
    let canonical = request.encode(envelope.id);
    match frame.kind {
        Kind::Request => {
            assert_eq!(canonical, payload, "line {line}: the request does not re-encode to the same bytes")
        }
        Kind::Loose => assert_ne!(canonical, payload, "line {line}: canonical bytes: mark the line > instead of ~"),
        _ => unreachable!("not a request line"),
    }
    envelope.id
}

/// Predicts the broker's answer to a frame it must refuse.
fn predict_refusal(frame: &FrameLine) -> Expect {
    let line = frame.line;
    let payload = match cut(&frame.bytes, line) {
        Err(FrameError::TooLarge { .. }) => {
            assert_eq!(frame.bytes.len(), 4, "line {line}: only the length of an oversized frame is sent");
            return Expect::ConnError(ErrorCode::FrameTooLarge);
        }
        Err(e) => panic!("line {line}: {e}"),
        Ok(payload) => payload,
    };
    let parsed = match Payload::parse(&payload) {
        Err(e) => {
            return match e.id {
                Some(id) => Expect::ErrReply(id, ErrorCode::BadFrame),
                None => Expect::ConnError(ErrorCode::BadFrame),
            }
        }
        Ok(parsed) => parsed,
    };
    let envelope = match Envelope::read(parsed) {
        Err(body) => return Expect::ConnError(body.code),
        Ok(envelope) => envelope,
    };
    let op = match envelope.op {
        Err(body) => return Expect::ErrReply(envelope.id, body.code),
        Ok(op) => op,
    };
    match Request::parse(op, &envelope.payload) {
        Err(body) => Expect::ErrReply(envelope.id, body.code),
        Ok(request) => panic!("line {line}: marked ! but it is a valid request: {request:?}"),
    }
}

/// Checks a broker frame and returns what it is.
fn check_broker(frame: &FrameLine) -> Incoming {
    let line = frame.line;
    let payload = cut(&frame.bytes, line).unwrap_or_else(|e| panic!("line {line}: {e}"));
    let parsed = Payload::parse(&payload).unwrap_or_else(|e| panic!("line {line}: {e}"));
    assert_eq!(parsed.encode(), payload, "line {line}: the broker frame does not re-encode to the same bytes");
    Incoming::parse(&parsed).unwrap_or_else(|e| panic!("line {line}: {e}"))
}

/// The byte notes under a frame must spell out the whole frame, in order.
fn check_notes(frame: &FrameLine) {
    assert!(!frame.notes.is_empty(), "line {}: the frame has no byte notes", frame.line);
    let mut at = 0;
    for (line, offset, bytes) in &frame.notes {
        assert_eq!(*offset, at, "line {line}: the offset should be {at:04x}");
        let end = at + bytes.len();
        assert!(
            frame.bytes.get(at..end) == Some(bytes.as_slice()),
            "line {line}: the noted bytes differ from the frame's bytes at {at:04x}"
        );
        at = end;
    }
    assert_eq!(at, frame.bytes.len(), "line {}: the byte notes stop at {at:04x}", frame.line);
}

/// Codes the broker sends on its own, without a request.
fn unprompted(code: ErrorCode) -> bool {
    matches!(code, ErrorCode::IdleTimeout | ErrorCode::ShuttingDown | ErrorCode::TooManyConnections)
}

fn replay(start: usize, frames: &[FrameLine]) {
    let mut pending: HashMap<u32, VecDeque<Expect>> = HashMap::new();
    let mut closed: HashSet<u32> = HashSet::new();
    for frame in frames {
        let line = frame.line;
        check_notes(frame);
        assert!(!closed.contains(&frame.conn), "line {line}: C{} was closed by a connection error", frame.conn);
        let queue = pending.entry(frame.conn).or_default();
        match frame.kind {
            Kind::Request | Kind::Loose => queue.push_back(Expect::Reply(check_request(frame))),
            Kind::Refused => queue.push_back(predict_refusal(frame)),
            Kind::Broker => match check_broker(frame) {
                Incoming::Event(_) => {}
                Incoming::Ok { re, .. } => match queue.pop_front() {
                    Some(Expect::Reply(id)) if id == re => {}
                    other => panic!("line {line}: ok reply re {re}, but the dump awaits {other:?}"),
                },
                Incoming::Err { re, err } => match queue.pop_front() {
                    Some(Expect::Reply(id)) if id == re => {}
                    Some(Expect::ErrReply(id, code)) if id == re && code == err.code => {}
                    other => panic!("line {line}: error reply re {re} {}, but the dump awaits {other:?}", err.code),
                },
                Incoming::ConnectionError(err) => {
                    match queue.front() {
                        Some(Expect::ConnError(code)) if *code == err.code => {
                            queue.pop_front();
                        }
                        _ if unprompted(err.code) => {}
                        other => panic!("line {line}: connection error {}, but the dump awaits {other:?}", err.code),
                    }
                    if err.code != ErrorCode::BadFrame {
                        closed.insert(frame.conn);
                    }
                }
            },
        }
    }
    for (conn, queue) in pending {
        assert!(queue.is_empty(), "block at line {start}: C{conn} never got an answer to {queue:?}");
    }
}

#[test]
fn every_dump_replays() {
    let doc = protocol_md();
    let blocks = dump_blocks(&doc);
    assert!(blocks.len() >= 2, "PROTOCOL.md should hold the session dump and the refusals dump");
    let mut kinds = HashSet::new();
    for (start, frames) in &blocks {
        assert!(!frames.is_empty(), "the block at line {start} is empty");
        kinds.extend(frames.iter().map(|f| f.kind));
        replay(*start, frames);
    }
    for kind in [Kind::Request, Kind::Loose, Kind::Refused, Kind::Broker] {
        assert!(kinds.contains(&kind), "no dump line of kind {kind:?}");
    }
}

/// The hex between `printf '` and `'` on every `xxd -r -p | nc` line.
fn nc_examples(doc: &str) -> Vec<(usize, Vec<u8>)> {
    doc.lines()
        .enumerate()
        .filter(|(_, text)| text.contains("| xxd -r -p | nc"))
        .map(|(index, text)| {
            let start = text.find("printf '").unwrap_or_else(|| panic!("line {}: no printf '", index + 1)) + 8;
            let len = text[start..].find('\'').unwrap_or_else(|| panic!("line {}: unclosed quote", index + 1));
            (index + 1, decode_hex(&text[start..start + len], index + 1))
        })
        .collect()
}

#[test]
fn nc_examples_are_single_valid_requests() {
    let doc = protocol_md();
    let examples = nc_examples(&doc);
    assert!(examples.len() >= 2, "PROTOCOL.md should hold the nc ping and register examples");
    let mut ops = Vec::new();
    for (line, bytes) in &examples {
        let frame = FrameLine { line: *line, conn: 1, kind: Kind::Request, bytes: bytes.clone(), notes: Vec::new() };
        assert_eq!(check_request(&frame), 1, "line {line}: the examples use id 1");
        let payload = Payload::parse(&bytes[4..]).expect("checked above");
        let envelope = Envelope::read(payload).expect("checked above");
        ops.push(envelope.op.expect("checked above"));
    }
    assert_eq!(ops[0], Op::Ping, "the first nc example is the ping");
    assert_eq!(examples[0].1, decode_hex("0000000d82a2696401a26f70a470696e67", 0));
    assert!(ops.contains(&Op::Register), "an nc example registers");
}

#[test]
fn every_op_and_code_is_documented() {
    let doc = protocol_md();
    for op in Op::ALL {
        let heading = format!("### `{}`", op.name());
        assert!(doc.lines().any(|l| l.starts_with(&heading)), "PROTOCOL.md has no section {heading}");
        let row = format!("| `{}` |", op.name());
        assert!(doc.lines().any(|l| l.starts_with(&row)), "the error matrix has no row for {}", op.name());
    }
    for code in ErrorCode::ALL {
        let name = format!("`{}`", code.as_str());
        assert!(doc.contains(&name), "PROTOCOL.md never names the code {name}");
    }
}

#[test]
fn the_checks_catch_edits() {
    // A request whose string is edited still parses, so the byte notes must catch the edit.
    let doc = protocol_md();
    let blocks = dump_blocks(&doc);
    let (start, frames) = &blocks[0];
    let original = &frames[0];
    let mut edited = FrameLine {
        line: original.line,
        conn: original.conn,
        kind: original.kind,
        bytes: original.bytes.clone(),
        notes: original.notes.clone(),
    };
    let last = edited.bytes.len() - 1;
    edited.bytes[last] ^= 0x01;
    assert!(std::panic::catch_unwind(|| check_notes(&edited)).is_err(), "block at line {start}: edit not caught");
    // A wrong length prefix is caught by the codec.
    let mut short = original.bytes.clone();
    short[3] -= 1;
    let frame = FrameLine { line: 0, conn: 1, kind: Kind::Request, bytes: short, notes: Vec::new() };
    assert!(std::panic::catch_unwind(|| check_request(&frame)).is_err(), "a wrong length was not caught");
    // {"id": 7, "op": "ping"} with the id as uint8 (cc 07): valid, but not canonical.
    let wide = decode_hex("0000000e 82a26964cc07a26f70a470696e67", 0);
    let frame = FrameLine { line: 0, conn: 1, kind: Kind::Request, bytes: wide.clone(), notes: Vec::new() };
    assert!(std::panic::catch_unwind(|| check_request(&frame)).is_err(), "a non-canonical > line was not caught");
    let frame = FrameLine { line: 0, conn: 1, kind: Kind::Loose, bytes: wide, notes: Vec::new() };
    assert_eq!(check_request(&frame), 7);
    let canonical = decode_hex("0000000d 82a2696407a26f70a470696e67", 0);
    let frame = FrameLine { line: 0, conn: 1, kind: Kind::Loose, bytes: canonical, notes: Vec::new() };
    assert!(std::panic::catch_unwind(|| check_request(&frame)).is_err(), "a canonical ~ line was not caught");
}
