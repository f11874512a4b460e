//! The frame decoder fed arbitrary byte streams, cut at arbitrary points, with the real frame
//! limit; the invariants are `joint_wire::fuzzing::frame_stream`'s.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| joint_wire::fuzzing::frame_stream(data));
