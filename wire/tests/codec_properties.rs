//! Property tests of the frame codec and the typed messages (CONTRACT.md §1, §2).
//!
//! Everything goes through the same path the broker and the client use: `frame` or the
//! encoders, then [`FrameCodec`] as a tokio-util `Decoder`, then [`Payload::parse`] and the
//! typed readers ([`Envelope::read`], [`Request::parse`], [`Incoming::parse`], [`Incoming::decode`]).

use bytes::{Bytes, BytesMut};
use joint_wire::codec::{encode_value, frame, from_value, FrameCodec, FrameError, Payload, DEFAULT_MAX_FRAME};
use joint_wire::error::{ErrorBody, ErrorCode};
use joint_wire::message::{
    encode_err, encode_event, encode_ok, AddedOk, EndReason, Envelope, Event, Group, GroupEvent, GroupOk, GroupsOk,
    HelloOk, Incoming, MembersPage, Message, Op, RemovedOk, RemovedReason, Request, SessionOk, UserDetail, UserEntry,
    UserInfo, UserOk, UsersPage,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use rmpv::Value;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use tokio_util::codec::Decoder;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Decodes every complete frame in `buf`, leaving any partial frame in place.
fn drain(codec: &mut FrameCodec, buf: &mut BytesMut, out: &mut Vec<Bytes>) -> Result<(), FrameError> {
    while let Some(frame) = codec.decode(buf)? {
        out.push(frame);
    }
    Ok(())
}

/// Cuts a whole byte stream into payloads and checks that nothing is left over at end of stream.
fn decode_stream(stream: &[u8]) -> Result<Vec<Bytes>, TestCaseError> {
    let mut codec = FrameCodec::new(DEFAULT_MAX_FRAME);
    let mut buf = BytesMut::from(stream);
    let mut frames = Vec::new();
    drain(&mut codec, &mut buf, &mut frames).map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
    let eof = codec.decode_eof(&mut buf).map_err(|e| TestCaseError::fail(format!("decode_eof: {e}")))?;
    prop_assert!(eof.is_none(), "a frame appeared only at end of stream");
    prop_assert!(buf.is_empty(), "{} bytes left undecoded", buf.len());
    Ok(frames)
}

/// Frames one payload, cuts it out of the stream again and validates it.
fn through_the_wire(payload: &[u8]) -> Result<Payload, TestCaseError> {
    let frames = decode_stream(&frame(payload))?;
    prop_assert_eq!(frames.len(), 1);
    prop_assert_eq!(&frames[0][..], payload);
    Payload::parse(&frames[0]).map_err(|e| TestCaseError::fail(format!("Payload::parse: {e}")))
}

/// Reads a request payload the way the broker does: envelope first, then the arguments of its op.
fn read_request(payload: Payload) -> Result<(u64, Request), TestCaseError> {
    let envelope = Envelope::read(payload).map_err(|e| TestCaseError::fail(format!("Envelope::read: {e}")))?;
    let op = envelope.op.clone().map_err(|e| TestCaseError::fail(format!("op: {e}")))?;
    let request =
        Request::parse(op, &envelope.payload).map_err(|e| TestCaseError::fail(format!("Request::parse: {e}")))?;
    Ok((envelope.id, request))
}

/// Runs every reader of the crate on `bytes` as a payload; any panic fails the calling property.
fn exercise_payload(bytes: &[u8]) {
    let _ = Incoming::decode(bytes);
    let Ok(payload) = Payload::parse(bytes) else { return };
    // An accepted payload re-encodes canonically: encoding is a fixed point after one round.
    let canonical = payload.encode();
    let again = Payload::parse(&canonical).expect("a re-encoded accepted payload parses");
    assert_eq!(again.encode(), canonical, "re-encoding an accepted payload is not stable");
    let _ = Incoming::parse(&payload);
    for op in Op::ALL {
        let _ = Request::parse(op, &payload);
    }
    if let Ok(envelope) = Envelope::read(payload) {
        if let Ok(op) = envelope.op {
            let _ = Request::parse(op, &envelope.payload);
        }
    }
}

/// Feeds `stream` to a codec and exercises every payload it yields, until it waits or fails.
fn exercise_stream(stream: &[u8], max_frame: usize) {
    let mut codec = FrameCodec::new(max_frame);
    let mut buf = BytesMut::from(stream);
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(payload)) => {
                assert!(payload.len() <= max_frame, "a payload above the limit was returned");
                exercise_payload(&payload);
            }
            Ok(None) => break,
            Err(FrameError::TooLarge { max }) => {
                assert_eq!(max, max_frame);
                break;
            }
            Err(other) => panic!("a decoder over memory cannot fail with {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Integers at every MessagePack width boundary.
const INT_EDGES: [u64; 14] = [
    0,
    1,
    127,
    128,
    255,
    256,
    65_535,
    65_536,
    u32::MAX as u64,
    u32::MAX as u64 + 1,
    i64::MAX as u64,
    i64::MAX as u64 + 1,
    u64::MAX - 1,
    u64::MAX,
];

fn uint() -> impl Strategy<Value = u64> {
    prop_oneof![any::<u64>(), select(INT_EDGES.to_vec()), 0u64..300]
}

/// Strings of every kind: arbitrary Unicode (NUL and controls included), login-like ASCII,
/// printable text in any script, and lengths past the str8 header limit.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        2 => "[a-z0-9_.-]{0,32}",
        2 => "\\PC{0,40}",
        1 => vec(any::<char>(), 200..400).prop_map(String::from_iter),
        1 => select(SPECIAL_TEXT.to_vec()).prop_map(str::to_owned),
    ]
}

/// Empty text, protocol words as values, several scripts, a ZWJ emoji sequence, NUL and a bidi control.
const SPECIAL_TEXT: [&str; 13] =
    ["", "id", "op", "ev", "re", "ok", "err", "Анна", "李小龙", "🎉👩‍👩‍👧", "مرحبا", "\u{0}", "a\u{202e}b"];

fn request() -> impl Strategy<Value = Request> {
    (
        select(Op::ALL.to_vec()),
        (text(), text(), text()),
        (option::of(text()), option::of(text()), option::of(uint())),
        vec(text(), 0..5),
        uint(),
    )
        .prop_map(|(op, (a, b, c), (oa, ob, limit), list, n)| match op {
            Op::Hello => Request::Hello { version: n, client: oa, client_ip: ob },
            Op::Register => Request::Register { login: a, name: b, password: c },
            Op::Login => Request::Login { login: a, password: b },
            Op::Auth => Request::Auth { token: a },
            Op::Logout => Request::Logout,
            Op::Me => Request::Me,
            Op::SetName => Request::SetName { name: a },
            Op::Passwd => Request::Passwd { old: a, new: b },
            Op::DeleteAccount => Request::DeleteAccount { password: a },
            Op::Users => Request::Users { after: oa, limit },
            Op::User => Request::User { login: a },
            Op::Groups => Request::Groups,
            Op::GroupCreate => Request::GroupCreate { group: a, members: list },
            Op::GroupDelete => Request::GroupDelete { group: a },
            Op::GroupAdmin => Request::GroupAdmin { group: a, login: b },
            Op::Members => Request::Members { group: a, after: oa, limit },
            Op::MemberAdd => Request::MemberAdd { group: a, logins: list },
            Op::MemberRemove => Request::MemberRemove { group: a, logins: list },
            Op::Leave => Request::Leave { group: a },
            Op::Subscribe => Request::Subscribe { group: a, gid: limit, after: limit.map(|l| l / 3) },
            Op::Unsubscribe => Request::Unsubscribe { group: a },
            Op::Publish => Request::Publish { group: a, body: b, cid: oa },
            Op::History => Request::History { group: a, gid: limit, before: limit.map(|l| l / 2), after: None, limit },
            Op::MarkRead => Request::MarkRead { group: a, seq: n },
            Op::Ping => Request::Ping,
            Op::MessageDelete => Request::MessageDelete { group: a, seq: n },
            Op::UserDisable => Request::UserDisable { login: a },
            Op::UserEnable => Request::UserEnable { login: a },
            Op::UserCreate => Request::UserCreate { login: a, name: b, password: c },
        })
}

fn group_event() -> impl Strategy<Value = GroupEvent> {
    (text(), uint(), option::of(text()), uint(), uint(), uint()).prop_map(
        |(group, gid, admin, members, last_seq, read_seq)| GroupEvent {
            group,
            gid,
            admin,
            members,
            last_seq,
            read_seq,
        },
    )
}

fn event() -> impl Strategy<Value = Event> {
    let removed = prop_oneof![Just(RemovedReason::Removed), Just(RemovedReason::Left)];
    let ended = select(vec![
        EndReason::Logout,
        EndReason::AccountDeleted,
        EndReason::PasswordChanged,
        EndReason::Expired,
        EndReason::Disabled,
    ]);
    (0usize..12, group_event(), text(), text(), uint(), uint(), any::<bool>(), removed, ended).prop_map(
        |(kind, g, group, login, gid, seq, online, removed, ended)| match kind {
            0 => Event::GroupAdded(g),
            1 => Event::GroupRemoved { group, gid, reason: removed },
            2 => Event::GroupDeleted { group, gid, last_seq: seq },
            3 => Event::GroupUpdated(g),
            4 => Event::MemberJoined { group, gid, login },
            5 => Event::MemberLeft { group, gid, login },
            6 => Event::Presence { login, online },
            7 => Event::Read { group, gid, read_seq: seq },
            8 => Event::SessionEnded { reason: ended },
            9 => Event::Resync,
            10 => Event::MessageDeleted { group, gid, seq },
            11 => Event::Message(Message {
                group,
                gid,
                seq,
                from: login.clone(),
                name: login,
                // A tombstone has an empty body; a live message keeps its text.
                body: if online { String::new() } else { "hi".into() },
                at: seq / 2,
                deleted: online,
            }),
            _ => unreachable!("kind is below 12"),
        },
    )
}

fn error_body() -> impl Strategy<Value = ErrorBody> {
    (select(ErrorCode::ALL.to_vec()), text(), option::of(text()), option::of(vec(text(), 0..4)), option::of(uint()))
        .prop_map(|(code, msg, field, logins, retry_after_ms)| ErrorBody { code, msg, field, logins, retry_after_ms })
}

fn user_info() -> impl Strategy<Value = UserInfo> {
    (text(), text()).prop_map(|(login, name)| UserInfo { login, name })
}

fn user_entry() -> impl Strategy<Value = UserEntry> {
    (text(), text(), any::<bool>()).prop_map(|(login, name, online)| UserEntry { login, name, online })
}

fn group() -> impl Strategy<Value = Group> {
    (uint(), text(), option::of(text()), uint(), uint(), uint()).prop_map(
        |(gid, name, admin, members, last_seq, read_seq)| Group { gid, name, admin, members, last_seq, read_seq },
    )
}

/// Every reply body type of `message.rs`, so one property covers them all.
#[derive(Debug, Clone)]
enum Reply {
    Hello(HelloOk),
    Session(SessionOk),
    User(UserOk),
    Users(UsersPage),
    Members(MembersPage),
    Detail(UserDetail),
    Groups(GroupsOk),
    Group(GroupOk),
    Added(AddedOk),
    Removed(RemovedOk),
    Empty,
}

fn reply() -> impl Strategy<Value = Reply> {
    let hello = (uint(), text(), uint(), uint(), uint(), uint(), uint()).prop_map(
        |(version, server, max_frame, max_body, history_max, ping_interval_ms, idle_timeout_ms)| HelloOk {
            version,
            server,
            max_frame,
            max_body,
            history_max,
            ping_interval_ms,
            idle_timeout_ms,
        },
    );
    prop_oneof![
        hello.prop_map(Reply::Hello),
        (option::of(text()), user_info(), vec(group(), 0..4))
            .prop_map(|(token, user, groups)| Reply::Session(SessionOk { token, user, groups })),
        user_info().prop_map(|user| Reply::User(UserOk { user })),
        (vec(user_entry(), 0..4), any::<bool>()).prop_map(|(users, more)| Reply::Users(UsersPage { users, more })),
        (vec(user_entry(), 0..4), any::<bool>())
            .prop_map(|(members, more)| Reply::Members(MembersPage { members, more })),
        (text(), text(), any::<bool>(), vec(text(), 0..4))
            .prop_map(|(login, name, online, groups)| Reply::Detail(UserDetail { login, name, online, groups })),
        vec(group(), 0..4).prop_map(|groups| Reply::Groups(GroupsOk { groups })),
        group().prop_map(|group| Reply::Group(GroupOk { group })),
        vec(text(), 0..4).prop_map(|added| Reply::Added(AddedOk { added })),
        vec(text(), 0..4).prop_map(|removed| Reply::Removed(RemovedOk { removed })),
        Just(Reply::Empty),
    ]
}

/// Encodes `{"re", "ok": body}`, sends it through the codec and reads `body` back as a `T`.
fn ok_round_trip<T>(re: u64, body: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let payload = through_the_wire(&encode_ok(re, body))?;
    match Incoming::parse(&payload) {
        Ok(Incoming::Ok { re: got, ok }) => {
            prop_assert_eq!(got, re);
            let back: T = from_value(&ok).map_err(|e| TestCaseError::fail(format!("from_value: {e}")))?;
            prop_assert_eq!(&back, body);
        }
        other => prop_assert!(false, "expected an ok reply, got {:?}", other),
    }
    Ok(())
}

/// Arbitrary MessagePack values whose strings are often protocol words, so that random maps
/// reach deep into the envelope and argument readers instead of failing at the first key.
fn protocol_word() -> impl Strategy<Value = String> {
    let mut words: Vec<&'static str> = vec![
        "id",
        "op",
        "ev",
        "re",
        "ok",
        "err",
        "code",
        "msg",
        "field",
        "logins",
        "retry_after_ms",
        "version",
        "client",
        "client_ip",
        "login",
        "name",
        "password",
        "token",
        "old",
        "new",
        "after",
        "limit",
        "group",
        "members",
        "gid",
        "admin",
        "last_seq",
        "read_seq",
        "reason",
        "online",
        "seq",
        "user",
        "groups",
        "",
    ];
    words.extend(Op::ALL.iter().map(|op| op.name()));
    words.extend(ErrorCode::ALL.iter().map(|code| code.as_str()));
    words.extend([
        "group_added",
        "group_removed",
        "group_deleted",
        "group_updated",
        "member_joined",
        "member_left",
        "presence",
        "read",
        "session_ended",
        "resync",
        "removed",
        "left",
        "logout",
        "account_deleted",
        "password_changed",
        "expired",
        "disabled",
    ]);
    prop_oneof![4 => select(words).prop_map(str::to_owned), 1 => any::<String>()]
}

fn mp_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::from),
        uint().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<f32>().prop_map(Value::from),
        protocol_word().prop_map(Value::from),
        vec(any::<u8>(), 0..8).prop_map(|b| raw_str(&b)),
        vec(any::<u8>(), 0..8).prop_map(Value::Binary),
        (any::<i8>(), vec(any::<u8>(), 0..8)).prop_map(|(t, b)| Value::Ext(t, b)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((protocol_word().prop_map(Value::from), inner), 0..6).prop_map(Value::Map),
        ]
    })
}

/// A MessagePack string holding `bytes` as they are, valid UTF-8 or not.
fn raw_str(bytes: &[u8]) -> Value {
    let mut encoded = vec![0xd9, u8::try_from(bytes.len()).expect("short")];
    encoded.extend_from_slice(bytes);
    let value = rmpv::decode::read_value(&mut &encoded[..]).expect("a str8 decodes");
    assert!(matches!(value, Value::String(_)));
    value
}

/// A top-level map with protocol keys, sometimes with a non-string key.
fn mp_map() -> impl Strategy<Value = Vec<u8>> {
    let key = prop_oneof![8 => protocol_word().prop_map(Value::from), 1 => mp_value()];
    vec((key, mp_value()), 0..8).prop_map(|pairs| encode_value(&Value::Map(pairs)))
}

/// Encodes `value` as MessagePack choosing, from `style`, a wider-than-needed integer width,
/// a signed encoding of a non-negative integer, or a 32-bit string/array/map header: all valid
/// MessagePack that the contract (§1: "decoders accept all" widths) requires readers to accept.
fn encode_wide(value: &Value, style: &mut impl Iterator<Item = u8>, out: &mut Vec<u8>) {
    let pick = style.next().unwrap_or(0);
    match value {
        Value::Integer(int) if int.as_u64().is_some() => {
            let u = int.as_u64().unwrap_or_default();
            match pick % 9 {
                1 if u <= u64::from(u8::MAX) => out.extend([0xcc, u as u8]),
                2 if u <= u64::from(u16::MAX) => out.extend([&[0xcd][..], &(u as u16).to_be_bytes()].concat()),
                3 if u <= u64::from(u32::MAX) => out.extend([&[0xce][..], &(u as u32).to_be_bytes()].concat()),
                4 => out.extend([&[0xcf][..], &u.to_be_bytes()].concat()),
                5 if u <= i8::MAX as u64 => out.extend([0xd0, u as u8]),
                6 if u <= i16::MAX as u64 => out.extend([&[0xd1][..], &(u as i16).to_be_bytes()].concat()),
                7 if u <= i32::MAX as u64 => out.extend([&[0xd2][..], &(u as i32).to_be_bytes()].concat()),
                8 if u <= i64::MAX as u64 => out.extend([&[0xd3][..], &(u as i64).to_be_bytes()].concat()),
                _ => out.extend(encode_value(value)),
            }
        }
        Value::String(text) if pick % 2 == 1 => {
            let bytes = text.as_bytes();
            out.push(0xdb);
            out.extend((bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(bytes);
        }
        Value::Array(items) => {
            if pick % 2 == 1 {
                out.push(0xdd);
                out.extend((items.len() as u32).to_be_bytes());
            } else {
                assert!(items.len() < 16, "the strategies build short arrays");
                out.push(0x90 | items.len() as u8);
            }
            for item in items {
                encode_wide(item, style, out);
            }
        }
        Value::Map(pairs) => {
            if pick % 2 == 1 {
                out.push(0xdf);
                out.extend((pairs.len() as u32).to_be_bytes());
            } else {
                assert!(pairs.len() < 16, "the strategies build small maps");
                out.push(0x80 | pairs.len() as u8);
            }
            for (key, item) in pairs {
                encode_wide(key, style, out);
                encode_wide(item, style, out);
            }
        }
        other => out.extend(encode_value(other)),
    }
}

/// [`encode_wide`] of the MessagePack bytes `canonical`, steered by `style`.
fn widen(canonical: &[u8], style: &[u8]) -> Vec<u8> {
    let value = rmpv::decode::read_value(&mut &canonical[..]).expect("canonical bytes decode");
    let mut out = Vec::new();
    encode_wide(&value, &mut style.iter().copied().cycle(), &mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    // No regression files: this crate keeps no proptest-regressions directory; a failure prints its seed.
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any sequence of valid requests, framed back to back, decodes to the same ids and requests in order.
    #[test]
    fn requests_round_trip_through_frames(requests in vec((uint(), request()), 1..6)) {
        let mut stream = Vec::new();
        for (id, request) in &requests {
            stream.extend_from_slice(&frame(&request.encode(*id)));
        }
        let frames = decode_stream(&stream)?;
        prop_assert_eq!(frames.len(), requests.len());
        for (bytes, (id, request)) in frames.iter().zip(&requests) {
            prop_assert_eq!(&bytes[..], &request.encode(*id)[..]);
            let payload = Payload::parse(bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            // Encoding is canonical: parsing and re-encoding gives the same bytes.
            prop_assert_eq!(&payload.encode()[..], &bytes[..]);
            let (got_id, got) = read_request(payload)?;
            prop_assert_eq!(got_id, *id);
            prop_assert_eq!(got.op(), request.op());
            prop_assert_eq!(&got, request);
        }
    }

    /// A stream of frames split in two at every byte yields the same frames, each as soon as it is complete.
    #[test]
    fn frames_survive_a_split_at_every_byte(
        payloads in vec(
            prop_oneof![
                (uint(), request()).prop_map(|(id, r)| r.encode(id)),
                vec(any::<u8>(), 0..40),
            ],
            1..6,
        )
    ) {
        let mut stream = Vec::new();
        let mut ends = Vec::new();
        for payload in &payloads {
            stream.extend_from_slice(&frame(payload));
            ends.push(stream.len());
        }
        for split in 0..=stream.len() {
            let mut codec = FrameCodec::new(DEFAULT_MAX_FRAME);
            let mut buf = BytesMut::from(&stream[..split]);
            let mut frames = Vec::new();
            drain(&mut codec, &mut buf, &mut frames).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let complete = ends.iter().filter(|&&end| end <= split).count();
            prop_assert_eq!(frames.len(), complete, "after the first {} bytes", split);
            buf.extend_from_slice(&stream[split..]);
            drain(&mut codec, &mut buf, &mut frames).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(buf.is_empty(), "{} bytes left after split {}", buf.len(), split);
            prop_assert_eq!(frames.len(), payloads.len(), "split at {}", split);
            for (got, want) in frames.iter().zip(&payloads) {
                prop_assert_eq!(&got[..], &want[..], "split at {}", split);
            }
        }
    }

    /// A length prefix alone is refused as too large exactly when it exceeds the limit; otherwise the codec waits.
    #[test]
    fn length_prefix_is_checked_against_the_limit(
        max in prop_oneof![0usize..70_000, Just(DEFAULT_MAX_FRAME)],
        delta in prop_oneof![-2i64..=2, any::<u32>().prop_map(i64::from)],
    ) {
        let announced = u32::try_from((max as i64 + delta).clamp(0, u32::MAX as i64)).unwrap();
        let mut codec = FrameCodec::new(max);
        prop_assert_eq!(codec.max_frame(), max);
        let mut buf = BytesMut::from(&announced.to_be_bytes()[..]);
        match codec.decode(&mut buf) {
            Err(FrameError::TooLarge { max: reported }) => {
                prop_assert!(announced as usize > max, "{} refused under the limit {}", announced, max);
                prop_assert_eq!(reported, max);
            }
            Ok(None) => prop_assert!(announced != 0 && announced as usize <= max, "{} accepted", announced),
            Ok(Some(empty)) => {
                prop_assert_eq!(announced, 0);
                prop_assert!(empty.is_empty());
            }
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    /// Arbitrary bytes as a stream or as a payload never panic in any decoder or reader.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..4096), small_limit in 0usize..64) {
        exercise_stream(&bytes, DEFAULT_MAX_FRAME);
        exercise_stream(&bytes, small_limit);
        exercise_payload(&bytes);
    }

    /// Arbitrary bytes behind a valid length prefix reach the payload readers and never panic them.
    #[test]
    fn arbitrary_payload_behind_a_valid_prefix_never_panics(bytes in vec(any::<u8>(), 0..4096)) {
        let stream = frame(&bytes);
        let frames = decode_stream(&stream)?;
        prop_assert_eq!(frames.len(), 1);
        prop_assert_eq!(&frames[0][..], &bytes[..]);
        exercise_payload(&frames[0]);
    }

    /// Random MessagePack maps built from protocol words never panic the envelope, request or incoming readers.
    #[test]
    fn random_protocol_maps_never_panic(map in mp_map()) {
        exercise_stream(&frame(&map), DEFAULT_MAX_FRAME);
        exercise_payload(&map);
    }

    /// Valid requests that are truncated, extended or have a byte changed never panic any reader.
    #[test]
    fn mutated_requests_never_panic(
        id in uint(),
        request in request(),
        cut in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        tail in vec(any::<u8>(), 0..16),
    ) {
        let good = request.encode(id);
        let mut changed = good.clone();
        let i = at.index(changed.len());
        changed[i] = byte;
        exercise_payload(&changed);
        exercise_payload(&good[..cut.index(good.len())]);
        let mut longer = good.clone();
        longer.extend_from_slice(&tail);
        exercise_payload(&longer);
        let mut stream = frame(&changed);
        stream.extend_from_slice(&frame(&longer));
        exercise_stream(&stream, DEFAULT_MAX_FRAME);
    }

    /// Unknown extra keys in a request are ignored (CONTRACT.md §2): it reads as the request without them.
    #[test]
    fn unknown_extra_keys_are_ignored(
        id in uint(),
        request in request(),
        extra in proptest::collection::btree_map("x_[a-z0-9_]{0,10}", mp_value(), 1..4),
    ) {
        let mut entries = request.to_payload(id).to_value().as_map().cloned().unwrap_or_default();
        let at = entries.len() / 2;
        for (i, (key, value)) in extra.into_iter().enumerate() {
            entries.insert((at + i).min(entries.len()), (Value::from(key), value));
        }
        let payload = through_the_wire(&encode_value(&Value::Map(entries)))?;
        let (got_id, got) = read_request(payload)?;
        prop_assert_eq!(got_id, id);
        prop_assert_eq!(got, request);
    }

    /// A request map followed by trailing bytes is refused, and the error still carries the request's id.
    #[test]
    fn trailing_bytes_keep_the_readable_id(id in uint(), request in request(), tail in vec(any::<u8>(), 1..8)) {
        let mut bytes = request.encode(id);
        bytes.extend_from_slice(&tail);
        let err = Payload::parse(&bytes).expect_err("trailing bytes are a bad frame");
        prop_assert_eq!(err.id, Some(id));
    }

    /// A duplicate key other than `id` is refused, and the error still carries the request's id.
    #[test]
    fn duplicate_key_keeps_the_readable_id(id in uint(), request in request(), value in mp_value()) {
        let mut entries = request.to_payload(id).to_value().as_map().cloned().unwrap_or_default();
        entries.push((Value::from("op"), value));
        let err = Payload::parse(&encode_value(&Value::Map(entries))).expect_err("a duplicate key is a bad frame");
        prop_assert_eq!(err.id, Some(id));
    }

    /// Every event the broker encodes is classified back as the same event.
    #[test]
    fn events_round_trip(events in vec(event(), 1..4)) {
        let mut stream = Vec::new();
        for event in &events {
            stream.extend_from_slice(&frame(&encode_event(event)));
        }
        let frames = decode_stream(&stream)?;
        prop_assert_eq!(frames.len(), events.len());
        for (bytes, event) in frames.iter().zip(&events) {
            let payload = Payload::parse(bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let incoming = Incoming::parse(&payload).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(incoming, Incoming::Event(event.clone()));
        }
    }

    /// Every ok reply the broker encodes is classified as a reply to the same id and reads back as the same body.
    #[test]
    fn ok_replies_round_trip(re in uint(), reply in reply()) {
        match &reply {
            Reply::Hello(body) => ok_round_trip(re, body)?,
            Reply::Session(body) => ok_round_trip(re, body)?,
            Reply::User(body) => ok_round_trip(re, body)?,
            Reply::Users(body) => ok_round_trip(re, body)?,
            Reply::Members(body) => ok_round_trip(re, body)?,
            Reply::Detail(body) => ok_round_trip(re, body)?,
            Reply::Groups(body) => ok_round_trip(re, body)?,
            Reply::Group(body) => ok_round_trip(re, body)?,
            Reply::Added(body) => ok_round_trip(re, body)?,
            Reply::Removed(body) => ok_round_trip(re, body)?,
            Reply::Empty => ok_round_trip(re, &joint_wire::message::Empty {})?,
        }
    }

    /// Every error reply and connection error the broker encodes is classified back with the same id and body.
    #[test]
    fn error_replies_round_trip(re in option::of(uint()), body in error_body()) {
        let payload = through_the_wire(&encode_err(re, &body))?;
        let incoming = Incoming::parse(&payload).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let expected = match re {
            Some(re) => Incoming::Err { re, err: body },
            None => Incoming::ConnectionError(body),
        };
        prop_assert_eq!(incoming, expected);
    }
    /// Requests whose integers and headers arrive in wider MessagePack encodings read exactly as the canonical ones.
    #[test]
    fn wide_encodings_of_requests_read_the_same(id in uint(), request in request(), style in vec(any::<u8>(), 1..32)) {
        let canonical = request.encode(id);
        let wide = widen(&canonical, &style);
        let payload = through_the_wire(&wide)?;
        prop_assert_eq!(&payload.encode()[..], &canonical[..]);
        let (got_id, got) = read_request(payload)?;
        prop_assert_eq!(got_id, id);
        prop_assert_eq!(got, request);
    }

    /// Events and replies whose integers and headers arrive in wider MessagePack encodings classify the same.
    #[test]
    fn wide_encodings_of_broker_frames_read_the_same(
        event in event(),
        re in option::of(uint()),
        body in error_body(),
        style in vec(any::<u8>(), 1..32),
    ) {
        let wide = widen(&encode_event(&event), &style);
        let payload = through_the_wire(&wide)?;
        let incoming = Incoming::parse(&payload).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&incoming, &Incoming::Event(event));
        // The client's one-pass decoder reads every width the same.
        prop_assert_eq!(Incoming::decode(&wide).map_err(|e| TestCaseError::fail(e.to_string()))?, incoming);

        let wide = widen(&encode_err(re, &body), &style);
        let payload = through_the_wire(&wide)?;
        let incoming = Incoming::parse(&payload).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let expected = match re {
            Some(re) => Incoming::Err { re, err: body },
            None => Incoming::ConnectionError(body),
        };
        prop_assert_eq!(&incoming, &expected);
        prop_assert_eq!(Incoming::decode(&wide).map_err(|e| TestCaseError::fail(e.to_string()))?, expected);
    }
}

// ---------------------------------------------------------------------------------------------
// Deterministic edges the random strategies reach rarely
// ---------------------------------------------------------------------------------------------

/// Strings at every MessagePack string-header boundary (fixstr, str8, str16, str32) round-trip in a request.
#[test]
fn string_header_boundaries_round_trip() {
    for len in [0usize, 31, 32, 255, 256, 65_535, 65_536, 200_000] {
        let name = "x".repeat(len);
        let request = Request::SetName { name: name.clone() };
        for id in INT_EDGES {
            let bytes = request.encode(id);
            let frames = decode_stream(&frame(&bytes)).expect("one frame");
            let payload = Payload::parse(&frames[0]).expect("valid payload");
            let (got_id, got) = read_request(payload).expect("valid request");
            assert_eq!((got_id, got), (id, Request::SetName { name: name.clone() }), "length {len}, id {id}");
        }
    }
}

/// A payload of exactly the limit is accepted and one byte more is refused before it is buffered.
#[test]
fn payload_at_the_limit_is_accepted() {
    let limit = 4096;
    let at_limit = vec![0xc0; limit];
    let mut codec = FrameCodec::new(limit);
    let mut buf = BytesMut::from(&frame(&at_limit)[..]);
    assert_eq!(codec.decode(&mut buf).expect("at the limit").as_deref(), Some(&at_limit[..]));
    let over = vec![0xc0; limit + 1];
    let mut buf = BytesMut::from(&frame(&over)[..]);
    let err = FrameCodec::new(limit).decode(&mut buf).expect_err("over the limit");
    assert!(matches!(err, FrameError::TooLarge { max } if max == limit), "{err:?}");
}
