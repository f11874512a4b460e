//! Replays the request and paging fuzz targets' committed inputs (seed corpus and
//! regressions under `fuzz/`) through the same invariant checks the fuzz targets run, on
//! stable Rust and without cargo-fuzz or PostgreSQL, so CI keeps them passing.

use joint_broker::fuzzing::{paging, request};
use joint_wire::fuzzing::replay;

#[test]
fn request_corpus_keeps_its_invariants() {
    let count = replay("request", request);
    assert!(count >= 20, "only {count} committed inputs found for request");
}

#[test]
fn paging_corpus_keeps_its_invariants() {
    let count = replay("paging", paging);
    assert!(count >= 20, "only {count} committed inputs found for paging");
}
