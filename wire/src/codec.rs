//! Framing: a 4-byte big-endian length, then that many bytes holding one MessagePack map.
//!
//! Two steps, kept apart so each can fail in its own way:
//! 1. [`FrameCodec`] cuts the byte stream into payloads. A length above the limit is
//!    refused before any allocation ([`FrameError::TooLarge`]); that is the only error
//!    that loses framing, so it is the only one that closes a connection.
//! 2. [`Payload::parse`] checks that a payload is exactly one map with unique UTF-8
//!    string keys and nothing after it. Its failures keep framing intact.

use bytes::{Bytes, BytesMut};
use rmpv::Value;
use std::collections::HashSet;
use std::io;
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec, LengthDelimitedCodecError};

/// The default and usual maximum payload length: 1 MiB.
pub const DEFAULT_MAX_FRAME: usize = 1024 * 1024;

/// How deeply values may nest inside a payload; protocol values nest at most three levels,
/// and the limit keeps hostile input from exhausting the stack.
pub(crate) const MAX_NESTING: usize = 32;

/// Why the byte stream could not be cut into frames.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix announced more than the limit; nothing was allocated for it.
    #[error("frame length exceeds the limit of {max} bytes")]
    TooLarge {
        /// The limit in force.
        max: usize,
    },
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Cuts a byte stream into payloads and prefixes outgoing payloads with their length.
///
/// Wraps tokio-util's [`LengthDelimitedCodec`] (4-byte big-endian length, payload only)
/// so that an oversized length becomes the typed [`FrameError::TooLarge`].
#[derive(Debug)]
pub struct FrameCodec {
    inner: LengthDelimitedCodec,
    max_frame: usize,
}

impl FrameCodec {
    /// A codec refusing payloads longer than `max_frame` bytes in both directions.
    pub fn new(max_frame: usize) -> Self {
        let inner =
            LengthDelimitedCodec::builder().big_endian().length_field_length(4).max_frame_length(max_frame).new_codec();
        FrameCodec { inner, max_frame }
    }

    /// The payload limit in force.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// The broker's decoding: hands the inner codec only whole frames, so that a length
    /// prefix alone never makes it reserve the announced size (a server facing thousands of
    /// connections must not set aside a megabyte for four bytes) nor take the prefix out of
    /// the buffer (then a stream ending after it would look like a clean end). The buffer
    /// grows only as bytes arrive, and holds every byte after the last frame returned.
    /// [`Decoder::decode`], the client's, is this plus room for an incomplete frame.
    pub fn decode_whole(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let Some(whole) = announced_frame_len(src) else { return Ok(None) };
        if whole - 4 > self.max_frame {
            return Err(FrameError::TooLarge { max: self.max_frame });
        }
        if src.len() < whole {
            return Ok(None);
        }
        match self.inner.decode(src) {
            Ok(frame) => Ok(frame.map(BytesMut::freeze)),
            Err(err) => Err(self.map_error(err)),
        }
    }

    fn map_error(&self, err: io::Error) -> FrameError {
        let too_large = err.get_ref().is_some_and(|inner| inner.is::<LengthDelimitedCodecError>());
        if too_large {
            FrameError::TooLarge { max: self.max_frame }
        } else {
            FrameError::Io(err)
        }
    }
}

/// The whole size (prefix included) of the frame at the start of `src`, once its 4-byte
/// length prefix is there.
fn announced_frame_len(src: &[u8]) -> Option<usize> {
    let prefix = src.get(..4)?;
    Some(4 + u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize)
}

impl Decoder for FrameCodec {
    /// One payload; it may be empty (an `N = 0` frame), which [`Payload::parse`] refuses.
    type Item = Bytes;
    type Error = FrameError;

    /// [`FrameCodec::decode_whole`], then, for a frame still incomplete, room for all of
    /// it at once (the announced size, within the limit): a client reading a large reply
    /// fills one buffer instead of growing it by doubling.
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let frame = self.decode_whole(src)?;
        if frame.is_none() {
            if let Some(whole) = announced_frame_len(src) {
                src.reserve(whole.saturating_sub(src.len()));
            }
        }
        Ok(frame)
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, payload: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.inner.encode(payload, dst).map_err(|err| self.map_error(err))
    }
}

/// Prefixes a payload with its 4-byte big-endian length, for callers that write whole frames.
///
/// # Panics
/// Never for payloads produced by this crate; a payload of 4 GiB or more cannot be framed
/// and is refused by the `expect`, which names that invariant.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("payloads are limited far below 4 GiB");
    let mut out = Vec::with_capacity(4 + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Why a payload is not a valid frame body; the connection stays open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct PayloadError {
    /// The request id, when the payload was a map whose `id` could be read.
    pub id: Option<u64>,
    /// An English sentence saying what is wrong.
    pub reason: String,
}

/// A validated payload: exactly one MessagePack map with unique, valid UTF-8 string keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    entries: Vec<(String, Value)>,
}

impl Payload {
    /// Checks and splits a payload. Never panics and never allocates more than the input
    /// can justify (the decoder does not trust announced lengths).
    pub fn parse(bytes: &[u8]) -> Result<Payload, PayloadError> {
        if bytes.is_empty() {
            return Err(PayloadError { id: None, reason: "empty frame".into() });
        }
        let mut rest = bytes;
        let value = rmpv::decode::read_value_with_max_depth(&mut rest, MAX_NESTING)
            .map_err(|err| PayloadError { id: None, reason: format!("payload is not valid MessagePack: {err}") })?;
        let Value::Map(pairs) = value else {
            return Err(PayloadError { id: None, reason: "payload is not a map".into() });
        };
        let id = readable_id(&pairs);
        if !rest.is_empty() {
            return Err(PayloadError { id, reason: "trailing bytes after the map".into() });
        }
        // A set keeps the duplicate check linear: a 1 MiB map can hold ~170,000 keys.
        let mut seen = HashSet::with_capacity(pairs.len());
        let mut entries: Vec<(String, Value)> = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            let Some(key) = key.as_str() else {
                return Err(PayloadError { id, reason: "a map key is not a valid UTF-8 string".into() });
            };
            if !seen.insert(key.to_owned()) {
                return Err(PayloadError { id, reason: format!("duplicate key {:?}", excerpt(key)) });
            }
            entries.push((key.to_owned(), value));
        }
        Ok(Payload { entries })
    }

    /// A payload from entries built by this crate's encoders.
    pub fn from_entries(entries: Vec<(String, Value)>) -> Payload {
        Payload { entries }
    }

    /// The value under `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The keys in wire order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    /// The whole map as a generic value, keys in wire order.
    pub fn to_value(&self) -> Value {
        Value::Map(self.entries.iter().map(|(k, v)| (Value::from(k.as_str()), v.clone())).collect())
    }

    /// The MessagePack bytes of this map (without the length prefix).
    pub fn encode(&self) -> Vec<u8> {
        encode_value(&self.to_value())
    }
}

/// The `id` of a map whose keys may be broken: readable only when exactly one key is the
/// string `id` and its value is an unsigned integer.
fn readable_id(pairs: &[(Value, Value)]) -> Option<u64> {
    let mut ids = pairs.iter().filter(|(k, _)| k.as_str() == Some("id"));
    match (ids.next(), ids.next()) {
        (Some((_, value)), None) => value.as_u64(),
        _ => None,
    }
}

/// The start of a client's string, for quoting it in an error message without echoing a
/// megabyte back (which would not fit in a reply).
pub fn excerpt(text: &str) -> &str {
    match text.char_indices().nth(64) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// Encodes a generic value as MessagePack, in the smallest width for every integer and header.
pub fn encode_value(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, value).expect("writing to a Vec cannot fail");
    out
}

/// Decodes a generic value into a typed one with rmp-serde, the same decoder the frames use,
/// so enums and integer widths read exactly as they do on the wire.
pub fn from_value<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, rmp_serde::decode::Error> {
    rmp_serde::from_slice(&encode_value(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut FrameCodec, bytes: &[u8]) -> Result<Vec<Bytes>, FrameError> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(frame) = codec.decode(&mut buf)? {
            out.push(frame);
        }
        Ok(out)
    }

    #[test]
    fn read_incomplete_payload_waits() {
        let mut codec = FrameCodec::new(64);
        assert!(decode_all(&mut codec, &[0, 0, 0, 5, 1, 2]).unwrap().is_empty());
    }

    #[test]
    fn zero_length_frame_is_an_empty_payload() {
        let mut codec = FrameCodec::new(64);
        let frames = decode_all(&mut codec, &[0, 0, 0, 0]).unwrap();
        assert_eq!(frames, vec![Bytes::new()]);
        assert_eq!(Payload::parse(&frames[0]).unwrap_err().id, None);
    }

    #[test]
    fn length_above_limit_is_too_large() {
        let mut codec = FrameCodec::new(64);
        let err = decode_all(&mut codec, &[0, 0, 0, 65]).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { max: 64 }), "{err:?}");
        let mut codec = FrameCodec::new(64);
        assert_eq!(decode_all(&mut codec, &[0, 0, 0, 64]).unwrap().len(), 0);
    }

    #[test]
    fn excerpts_are_short_and_whole_characters() {
        assert_eq!(excerpt("short"), "short");
        assert_eq!(excerpt(&"я".repeat(100)).chars().count(), 64);
    }

    #[test]
    fn decode_whole_waits_without_reserving() {
        let mut codec = FrameCodec::new(1 << 20);
        let mut buf = BytesMut::from(&[0x00, 0x10, 0x00, 0x00, 1, 2][..]); // announces 1 MiB
        let before = buf.capacity();
        assert!(codec.decode_whole(&mut buf).unwrap().is_none());
        assert_eq!(buf.capacity(), before, "nothing reserved for the announced length");
        assert_eq!(buf.len(), 6, "the prefix stays in the buffer while the frame is incomplete");
        let mut whole = BytesMut::from(&[0, 0, 0, 2, 7, 8, 0, 0][..]);
        assert_eq!(codec.decode_whole(&mut whole).unwrap().unwrap(), Bytes::from_static(&[7, 8]));
        assert_eq!(whole.len(), 2);
        let mut huge = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        assert!(matches!(codec.decode_whole(&mut huge), Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn a_stream_ending_after_a_length_prefix_is_an_error() {
        // Found by the frame_decoder fuzz invariants (fuzz/regressions/frame_decoder/):
        // tokio-util's decoder took the prefix into its own state, and its decode_eof then
        // saw an empty buffer and reported a clean end of a stream cut inside a frame.
        for stream in [&[0, 0, 0, 5][..], &[0, 0, 0, 5, 1, 2], &[0, 0, 0, 1, 9, 0, 0, 0, 3]] {
            let mut codec = FrameCodec::new(64);
            let mut buf = BytesMut::from(stream);
            while codec.decode(&mut buf).unwrap().is_some() {}
            assert!(matches!(codec.decode_eof(&mut buf), Err(FrameError::Io(_))), "{stream:?} ended cleanly");
        }
        let mut codec = FrameCodec::new(64);
        let mut buf = BytesMut::from(&[0, 0, 0, 1, 9][..]);
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), Some(Bytes::from_static(&[9])));
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None, "a stream ending between frames ends cleanly");
    }

    #[test]
    fn many_keys_parse_in_linear_time() {
        let count = 150_000u32;
        let mut bytes = vec![0xdf];
        bytes.extend_from_slice(&count.to_be_bytes());
        for i in 0..count {
            let key = format!("k{i}");
            bytes.push(0xa0 | key.len() as u8);
            bytes.extend_from_slice(key.as_bytes());
            bytes.push(0xc0);
        }
        let started = std::time::Instant::now();
        assert_eq!(Payload::parse(&bytes).unwrap().keys().count(), count as usize);
        // Quadratic checking took tens of seconds here; linear takes well under one.
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[test]
    fn encoder_refuses_oversized_payloads() {
        let mut codec = FrameCodec::new(4);
        let mut out = BytesMut::new();
        let err = codec.encode(Bytes::from_static(b"12345"), &mut out).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { max: 4 }));
    }

    #[test]
    fn payload_rules() {
        // {"id": 7, "op": "ping"}
        let ok = [0x82, 0xa2, b'i', b'd', 0x07, 0xa2, b'o', b'p', 0xa4, b'p', b'i', b'n', b'g'];
        let payload = Payload::parse(&ok).unwrap();
        assert_eq!(payload.get("id").and_then(Value::as_u64), Some(7));
        assert_eq!(payload.encode(), ok);

        let mut trailing = ok.to_vec();
        trailing.push(0xc0);
        assert_eq!(Payload::parse(&trailing).unwrap_err().id, Some(7));

        // {"id": 7, "id": 8}
        let dup = [0x82, 0xa2, b'i', b'd', 0x07, 0xa2, b'i', b'd', 0x08];
        assert_eq!(Payload::parse(&dup).unwrap_err().id, None);

        // {"id": 7, 1: 2}: a non-string key, readable id
        let int_key = [0x82, 0xa2, b'i', b'd', 0x07, 0x01, 0x02];
        assert_eq!(Payload::parse(&int_key).unwrap_err().id, Some(7));

        // {"id": 7, <invalid utf-8 key>: 1}
        let bad_utf8 = [0x82, 0xa2, b'i', b'd', 0x07, 0xa1, 0xff, 0x01];
        assert_eq!(Payload::parse(&bad_utf8).unwrap_err().id, Some(7));

        // [1, 2]: an array
        assert_eq!(Payload::parse(&[0x92, 1, 2]).unwrap_err().id, None);
        // truncated map
        assert!(Payload::parse(&[0x82, 0xa2, b'i']).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let mut bytes = vec![0x81, 0xa1, b'x'];
        bytes.extend(std::iter::repeat_n(0x91, 100_000));
        bytes.push(0xc0);
        assert!(Payload::parse(&bytes).is_err());
    }
}
