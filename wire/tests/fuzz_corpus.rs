//! Replays the frame decoder's committed fuzz inputs (seed corpus and regressions under
//! `fuzz/`) through the same invariant checks the fuzz target runs, on stable Rust and
//! without cargo-fuzz, so CI keeps them passing.

use joint_wire::fuzzing::{frame_stream, replay};

#[test]
fn frame_decoder_corpus_keeps_its_invariants() {
    let count = replay("frame_decoder", frame_stream);
    assert!(count >= 20, "only {count} committed inputs found for frame_decoder");
}
