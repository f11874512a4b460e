//! CONTRACT.md §1: a length above `max_frame` is refused **before any allocation**.
//!
//! This binary installs a counting global allocator and measures the peak of extra heap bytes
//! during single decode calls. The harness runs tests on several threads and the counters are
//! process-wide, so the binary holds exactly one `#[test]` that runs every case in sequence.

use bytes::BytesMut;
use joint_wire::codec::{frame, FrameCodec, FrameError, Payload, DEFAULT_MAX_FRAME};
use joint_wire::message::Request;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use tokio_util::codec::{Decoder, LengthDelimitedCodec};

/// The system allocator, counting the bytes currently allocated and their peak.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = CURRENT.fetch_add(bytes, SeqCst) + bytes;
    PEAK.fetch_max(now, SeqCst);
}

fn shrank(bytes: usize) {
    CURRENT.fetch_sub(bytes, SeqCst);
}

// SAFETY: every call is forwarded unchanged to `System`; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns its result with the peak of heap bytes allocated beyond those live before it.
fn peak_extra<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = CURRENT.load(SeqCst);
    PEAK.store(base, SeqCst);
    let result = f();
    (result, PEAK.load(SeqCst).saturating_sub(base))
}

/// The bound on extra heap for refusing an oversized prefix: far below any announced length.
const REFUSAL_BUDGET: usize = 64 * 1024;

/// `Payload::parse` may preallocate one string or binary buffer of up to 64 KiB (rmpv's
/// `PREALLOC_MAX`) before it finds the input too short; this bounds that plus error text.
const PARSE_BUDGET: usize = 64 * 1024 + 16 * 1024;

/// Decodes `bytes` with a 1 MiB codec; asserts `TooLarge` and a peak below [`REFUSAL_BUDGET`].
fn assert_refused_cheaply(case: &str, bytes: &[u8]) {
    let mut codec = FrameCodec::new(DEFAULT_MAX_FRAME);
    let mut buf = BytesMut::from(bytes);
    let capacity_before = buf.capacity();
    let (result, extra) = peak_extra(|| codec.decode(&mut buf));
    match result {
        Err(FrameError::TooLarge { max }) => assert_eq!(max, DEFAULT_MAX_FRAME, "{case}"),
        other => panic!("{case}: expected TooLarge, got {other:?}"),
    }
    assert!(extra < REFUSAL_BUDGET, "{case}: refusing the prefix allocated {extra} bytes at peak");
    assert_eq!(buf.capacity(), capacity_before, "{case}: the read buffer grew for a refused frame");
}

/// Parses `bytes` as a payload; asserts it is refused and the peak stays below [`PARSE_BUDGET`].
fn assert_parse_refused_cheaply(case: &str, bytes: &[u8]) {
    let (result, extra) = peak_extra(|| Payload::parse(bytes));
    assert!(result.is_err(), "{case}: a truncated payload was accepted");
    assert!(extra < PARSE_BUDGET, "{case}: Payload::parse allocated {extra} bytes at peak");
}

/// Oversized prefixes are refused as `TooLarge` with no allocation for them, and a legitimate
/// 1 MiB one waits for its bytes without reserving room for them on the broker's path.
#[test]
fn oversized_prefix_is_refused_before_allocation() {
    // Warm up lazily allocated runtime state so it is not charged to the first case.
    let _ = FrameCodec::new(DEFAULT_MAX_FRAME).decode(&mut BytesMut::from(&frame(b"\x80")[..]));

    // 4 GiB announced, nothing else received.
    assert_refused_cheaply("0xFFFFFFFF alone", &[0xff, 0xff, 0xff, 0xff]);

    // 1 MiB + 1 announced, with part of a body already received.
    let mut over_by_one = 0x0010_0001u32.to_be_bytes().to_vec();
    over_by_one.extend(std::iter::repeat_n(0x5a, 1000));
    assert_refused_cheaply("0x00100001 with 1000 body bytes", &over_by_one);

    // 4 GiB announced right after a valid frame: the valid frame comes out, then the refusal.
    let ping = Request::Ping.encode(7);
    let mut stream = frame(&ping);
    stream.extend([0xff, 0xff, 0xff, 0xff]);
    let mut codec = FrameCodec::new(DEFAULT_MAX_FRAME);
    let mut buf = BytesMut::from(&stream[..]);
    let first = codec.decode(&mut buf).expect("the valid frame decodes").expect("the valid frame is complete");
    assert_eq!(&first[..], &ping[..]);
    let capacity_before = buf.capacity();
    let (second, extra) = peak_extra(|| codec.decode(&mut buf));
    assert!(matches!(second, Err(FrameError::TooLarge { max: DEFAULT_MAX_FRAME })), "{second:?}");
    assert!(extra < REFUSAL_BUDGET, "0xFFFFFFFF after a frame: allocated {extra} bytes at peak");
    assert_eq!(buf.capacity(), capacity_before, "0xFFFFFFFF after a frame: the read buffer grew");

    // Control: exactly 1 MiB announced, 16 body bytes received. This is legitimate, and
    // tokio-util's own codec, which FrameCodec wraps, reserves room for the whole frame: the
    // counter must see about 1 MiB, or it proves nothing.
    let mut half = 0x0010_0000u32.to_be_bytes().to_vec();
    half.extend([0x5a; 16]);
    let mut inner =
        LengthDelimitedCodec::builder().length_field_length(4).max_frame_length(DEFAULT_MAX_FRAME).new_codec();
    let mut buf = BytesMut::from(&half[..]);
    let (pending, extra) = peak_extra(|| inner.decode(&mut buf));
    assert!(matches!(pending, Ok(None)), "a half-received 1 MiB frame must wait: {pending:?}");
    assert!(extra >= DEFAULT_MAX_FRAME - 1024, "control: reserving a 1 MiB frame was counted as only {extra} bytes");
    // The broker's path waits for the same bytes without reserving: its buffer grows as they
    // arrive, so thousands of connections announcing big frames cost it nothing yet.
    let mut codec = FrameCodec::new(DEFAULT_MAX_FRAME);
    let mut buf = BytesMut::from(&half[..]);
    let (pending, extra) = peak_extra(|| codec.decode_whole(&mut buf));
    assert!(matches!(pending, Ok(None)), "a half-received 1 MiB frame must wait: {pending:?}");
    assert!(extra < REFUSAL_BUDGET, "a half-received 1 MiB frame: allocated {extra} bytes at peak");
    // The client's path reserves the legitimate frame at once, like tokio-util, so a large
    // reply fills one buffer instead of growing it by doubling.
    let mut client_buf = BytesMut::from(&half[..]);
    let (pending, extra) = peak_extra(|| codec.decode(&mut client_buf));
    assert!(matches!(pending, Ok(None)), "a half-received 1 MiB frame must wait: {pending:?}");
    assert!(extra >= DEFAULT_MAX_FRAME - 1024, "the client's decode reserved only {extra} bytes");
    assert!(client_buf.capacity() >= 4 + DEFAULT_MAX_FRAME);
    // The rest arrives and the whole frame comes out.
    buf.extend(std::iter::repeat_n(0x5a, DEFAULT_MAX_FRAME - 16));
    let whole = codec.decode(&mut buf).expect("the 1 MiB frame decodes").expect("the 1 MiB frame is complete");
    assert_eq!(whole.len(), DEFAULT_MAX_FRAME);

    // Announced lengths inside a payload are not trusted either (codec.rs: `Payload::parse`
    // "never allocates more than the input can justify"): 4 GiB str32, bin32, array32, map32.
    let header = [0x81, 0xa1, b'x'];
    for (case, value) in [
        ("str32 of 4 GiB", &[0xdb, 0xff, 0xff, 0xff, 0xff, b'a'][..]),
        ("bin32 of 4 GiB", &[0xc6, 0xff, 0xff, 0xff, 0xff, 1][..]),
        ("ext32 of 4 GiB", &[0xc9, 0xff, 0xff, 0xff, 0xff, 1, 2][..]),
        ("array32 of 4 Gi items", &[0xdd, 0xff, 0xff, 0xff, 0xff, 1, 2][..]),
        ("map32 of 4 Gi pairs", &[0xdf, 0xff, 0xff, 0xff, 0xff, 1, 2][..]),
    ] {
        assert_parse_refused_cheaply(case, &[&header[..], value].concat());
    }
    assert_parse_refused_cheaply("top-level map32 of 4 Gi pairs", &[0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, b'x', 1]);
}
