//! The invariants the fuzz targets check (see `fuzz/` at the repository root), kept here so
//! that the fuzzer and the corpus replay test (`wire/tests/fuzz_corpus.rs`) judge every input
//! by the same code.
//!
//! Each check returns normally for any input the code under test handles correctly,
//! including inputs it rightly refuses, and panics naming the broken invariant otherwise.

use crate::codec::{frame, FrameCodec, FrameError, Payload, DEFAULT_MAX_FRAME};
use crate::error::ErrorCode;
use crate::message::{Envelope, Op, Request};
use bytes::{Bytes, BytesMut};
use rmpv::Value;
use tokio_util::codec::{Decoder, Encoder};

/// How `data` is read by [`frame_stream`]: the byte stream and the lengths of the chunks it
/// arrives in (the last chunk takes whatever is left).
struct Arrival<'a> {
    stream: &'a [u8],
    chunks: Vec<usize>,
}

impl<'a> Arrival<'a> {
    /// The first byte (mod 16) is the number of cuts, the next that many bytes are the
    /// lengths of the chunks before each cut, the rest is the stream.
    fn read(data: &'a [u8]) -> Arrival<'a> {
        let Some((&cuts, rest)) = data.split_first() else { return Arrival { stream: data, chunks: Vec::new() } };
        let cuts = usize::from(cuts % 16).min(rest.len());
        let (lengths, stream) = rest.split_at(cuts);
        Arrival { stream, chunks: lengths.iter().map(|&len| usize::from(len)).collect() }
    }

    /// The stream cut into its chunks, every byte exactly once and in order.
    fn pieces(&self) -> Vec<&'a [u8]> {
        let mut rest = self.stream;
        let mut out = Vec::with_capacity(self.chunks.len() + 1);
        for &len in &self.chunks {
            let (piece, tail) = rest.split_at(len.min(rest.len()));
            out.push(piece);
            rest = tail;
        }
        out.push(rest);
        out
    }
}

/// What the framing rules say about a whole stream: its complete frames, where the bytes
/// after them start, and whether a length prefix there announces more than the limit.
struct Expected<'a> {
    frames: Vec<&'a [u8]>,
    end: usize,
    too_large: bool,
}

/// The framing rules of CONTRACT.md §1 written out directly: a 4-byte big-endian length,
/// then that many bytes; a length above `max` is an error as soon as the prefix is known.
fn expected(stream: &[u8], max: usize) -> Expected<'_> {
    let mut frames = Vec::new();
    let mut pos = 0;
    while let Some(prefix) = stream.get(pos..pos + 4) {
        let announced = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        if announced > max {
            return Expected { frames, end: pos, too_large: true };
        }
        let Some(body) = stream.get(pos + 4..pos + 4 + announced) else { break };
        frames.push(body);
        pos += 4 + announced;
    }
    Expected { frames, end: pos, too_large: false }
}

/// Which of the codec's two decoding entry points is under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// [`FrameCodec::decode_whole`], the broker's.
    Whole,
    /// [`Decoder::decode`] then [`Decoder::decode_eof`], the client's (through `Framed`).
    Tokio,
}

/// Feeds a byte stream to [`FrameCodec`] with the real frame limit ([`DEFAULT_MAX_FRAME`]),
/// in chunks cut at the points `data` chooses (see [`Arrival::read`]), through both the
/// broker's and the client's decoding path, and checks that:
/// - the frames come out exactly as the framing rules cut the stream, none skipped, none
///   invented, in order, and each re-encodes to the very bytes it came from;
/// - the decoder never consumes more than it was given: what stays buffered is always exactly
///   the stream's bytes after the last frame returned;
/// - it never waits while a whole frame is buffered;
/// - an oversized length prefix is reported as [`FrameError::TooLarge`] with the limit, as
///   soon as its four bytes have arrived, and nothing else is ever an error;
/// - the broker's decoding never grows the buffer (a length prefix alone costs no memory);
///   the client's grows it at most to hold the frame it waits for;
/// - at end of stream, leftover bytes are an I/O error and no leftover is a clean end.
pub fn frame_stream(data: &[u8]) {
    let arrival = Arrival::read(data);
    let want = expected(arrival.stream, DEFAULT_MAX_FRAME);
    for path in [Path::Whole, Path::Tokio] {
        check_decoding(&arrival, &want, path);
    }
}

fn check_decoding(arrival: &Arrival<'_>, want: &Expected<'_>, path: Path) {
    let mut codec = FrameCodec::new(DEFAULT_MAX_FRAME);
    let mut buf = BytesMut::new();
    let (mut fed, mut consumed, mut got) = (0usize, 0usize, 0usize);
    for piece in arrival.pieces() {
        buf.extend_from_slice(piece);
        fed += piece.len();
        loop {
            let capacity = buf.capacity();
            // The frame the buffer starts with, when its prefix is there and within the limit,
            // and not all of it has arrived: the only thing the client's path makes room for.
            let pending = buf
                .get(..4)
                .map(|p| 4 + u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize)
                .filter(|&whole| whole - 4 <= DEFAULT_MAX_FRAME && buf.len() < whole);
            let result = match path {
                Path::Whole => codec.decode_whole(&mut buf),
                Path::Tokio => codec.decode(&mut buf),
            };
            if buf.capacity() > capacity {
                // The broker's path never grows the buffer; the client's only for a pending
                // frame, by BytesMut's growth policy (at most doubling what it holds).
                let whole = pending.filter(|_| path == Path::Tokio);
                let whole =
                    whole.unwrap_or_else(|| panic!("{path:?}: grew the buffer from {capacity} to {}", buf.capacity()));
                assert!(buf.capacity() <= 4 * (whole + fed) + 64, "{path:?}: grew the buffer to {}", buf.capacity());
            }
            match result {
                Ok(Some(frame)) => {
                    let expected = want.frames.get(got).unwrap_or_else(|| panic!("{path:?}: a frame the stream lacks"));
                    assert_eq!(&frame[..], *expected, "{path:?}: frame {got} differs from the stream's");
                    check_reencoding(&mut codec, &frame, &arrival.stream[consumed..]);
                    consumed += 4 + frame.len();
                    got += 1;
                }
                Ok(None) => {
                    assert_incomplete(&arrival.stream[consumed..fed], path);
                    break;
                }
                Err(FrameError::TooLarge { max }) => {
                    assert_eq!(max, DEFAULT_MAX_FRAME, "{path:?}: TooLarge names another limit");
                    assert!(want.too_large, "{path:?}: TooLarge for a stream whose prefixes are all within the limit");
                    assert_eq!((got, consumed), (want.frames.len(), want.end), "{path:?}: TooLarge at the wrong frame");
                    assert!(fed >= want.end + 4, "{path:?}: TooLarge before the whole prefix arrived");
                    return;
                }
                Err(FrameError::Io(err)) => panic!("{path:?}: I/O error while decoding from memory: {err}"),
            }
            assert_buffered(&buf, &arrival.stream[..fed], consumed, path);
        }
        assert_buffered(&buf, &arrival.stream[..fed], consumed, path);
    }
    assert!(!want.too_large, "{path:?}: the oversized prefix at byte {} was never reported", want.end);
    assert_eq!((got, consumed), (want.frames.len(), want.end), "{path:?}: frames missing at end of stream");
    if path == Path::Tokio {
        match codec.decode_eof(&mut buf) {
            Ok(None) => assert_eq!(consumed, fed, "{path:?}: a clean end with {} bytes of a frame", fed - consumed),
            Ok(Some(_)) => panic!("{path:?}: decode_eof found a frame that decode missed"),
            Err(FrameError::Io(_)) => assert!(consumed < fed, "{path:?}: an I/O error at a clean end"),
            Err(FrameError::TooLarge { .. }) => panic!("{path:?}: TooLarge at end of stream only"),
        }
    }
}

/// After `Ok(None)`, the stream's bytes not yet returned as frames (`held`) must not make a
/// whole frame: the decoder would stall on it.
fn assert_incomplete(held: &[u8], path: Path) {
    if let Some(prefix) = held.get(..4) {
        let announced = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        assert!(held.len() < 4 + announced, "{path:?}: waits although a whole frame of {announced} bytes is buffered");
    }
}

/// The buffer holds exactly the bytes fed after the last frame returned: nothing consumed
/// beyond what arrived, nothing lost, nothing invented, a pending length prefix included.
fn assert_buffered(buf: &BytesMut, fed: &[u8], consumed: usize, path: Path) {
    assert!(consumed <= fed.len(), "{path:?}: consumed {consumed} bytes of {}", fed.len());
    assert_eq!(&buf[..], &fed[consumed..], "{path:?}: the buffer lost or gained bytes");
}

/// A decoded frame, encoded again by the codec and by [`frame`], is the bytes it came from.
fn check_reencoding(codec: &mut FrameCodec, payload: &Bytes, original: &[u8]) {
    let mut out = BytesMut::new();
    codec.encode(payload.clone(), &mut out).expect("a decoded frame is within the limit");
    assert_eq!(&out[..], &original[..4 + payload.len()], "the encoder framed a payload differently");
    assert_eq!(frame(payload), &out[..], "frame() and the encoder disagree");
}

/// Decodes `data` as one request payload the way the broker does ([`Payload::parse`], then
/// [`Envelope::read`]) and reads it as the arguments of every operation with
/// [`Request::parse`], checking that:
/// - a valid payload re-encodes canonically (its encoding parses back to the same encoding),
///   and a refused one has a reason;
/// - the envelope refuses a missing or non-u64 `id` as `bad_frame` and reads any other;
///   `op` is the operation of that name or an `unknown_op`/`invalid_argument` on `op`;
/// - each typed request is of the operation it was read as, and encodes into a frame that
///   decodes to the same request and id;
/// - each refusal is `invalid_argument` naming a field, said to be missing exactly when the
///   payload has no value (or nil) there.
///
/// Returns the requests read, for the broker's own argument checks.
pub fn request(data: &[u8]) -> Vec<Request> {
    let payload = match Payload::parse(data) {
        Ok(payload) => payload,
        Err(err) => {
            assert!(!err.reason.is_empty(), "a refused payload without a reason");
            return Vec::new();
        }
    };
    let canonical = payload.encode();
    let again = Payload::parse(&canonical).expect("a re-encoded payload parses");
    assert_eq!(again.encode(), canonical, "re-encoding a payload is not stable");
    let id = check_envelope(&payload);
    Op::ALL.into_iter().filter_map(|op| check_arguments(op, &payload, id)).collect()
}

/// Checks the envelope of a valid payload; returns the id to reuse when re-encoding.
fn check_envelope(payload: &Payload) -> u64 {
    let id = payload.get("id").and_then(Value::as_u64);
    let envelope = match Envelope::read(payload.clone()) {
        Ok(envelope) => envelope,
        Err(err) => {
            assert_eq!(err.code, ErrorCode::BadFrame, "an unreadable id must be bad_frame");
            assert_eq!(id, None, "the envelope refused a readable id");
            return 0;
        }
    };
    assert_eq!(Some(envelope.id), id, "the envelope read another id");
    let named = payload.get("op").and_then(Value::as_str);
    match envelope.op {
        Ok(op) => assert_eq!(Some(op.name()), named, "the envelope read another op"),
        Err(err) => {
            assert!(
                matches!(err.code, ErrorCode::UnknownOp | ErrorCode::InvalidArgument),
                "op refused as {:?}",
                err.code
            );
            assert_eq!(err.field.as_deref(), Some("op"), "an op refusal names another field");
            assert_eq!(err.code == ErrorCode::UnknownOp, named.is_some(), "unknown_op only for a string op");
        }
    }
    envelope.id
}

/// Checks reading `payload` as the arguments of `op`; returns the request when it reads.
fn check_arguments(op: Op, payload: &Payload, id: u64) -> Option<Request> {
    match Request::parse(op, payload) {
        Ok(request) => {
            assert_eq!(request.op(), op, "a request read as {} is of another op", op.name());
            let bytes = request.encode(id);
            let back = Payload::parse(&bytes).expect("an encoded request is a valid payload");
            let envelope = Envelope::read(back).expect("an encoded request has an id");
            assert_eq!(envelope.id, id, "the id changed in the round trip");
            assert_eq!(envelope.op, Ok(op), "the op changed in the round trip");
            let again = Request::parse(op, &envelope.payload).expect("an encoded request reads back");
            assert_eq!(again, request, "the request changed in the round trip");
            Some(request)
        }
        Err(err) => {
            assert_eq!(err.code, ErrorCode::InvalidArgument, "{}: arguments refused as {:?}", op.name(), err.code);
            let field = err.field.as_deref().unwrap_or_else(|| panic!("{}: a refusal names no field", op.name()));
            let absent = matches!(payload.get(field), None | Some(Value::Nil));
            assert_eq!(err.msg.ends_with("is missing"), absent, "{}: {field} is present but {}", op.name(), err.msg);
            None
        }
    }
}

/// Runs `check` on every committed input of a fuzz target: its seed corpus
/// (`fuzz/corpus/<target>/`) and its regression inputs (`fuzz/regressions/<target>/`, which
/// may not exist yet). Panics naming the input whose check failed; returns how many ran.
pub fn replay(target: &str, check: fn(&[u8])) -> usize {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut inputs = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else { continue };
        inputs.extend(entries.map(|entry| entry.expect("a readable directory entry").path()));
    }
    inputs.sort();
    for path in &inputs {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        if let Err(panic) = std::panic::catch_unwind(|| check(&data)) {
            let why = panic.downcast_ref::<String>().map(String::as_str).or(panic.downcast_ref::<&str>().copied());
            panic!("{}: {}", path.display(), why.unwrap_or("panicked"));
        }
    }
    inputs.len()
}
