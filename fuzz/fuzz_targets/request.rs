//! A payload read as a request of every operation, then through the broker's own argument
//! checks; the invariants are `joint_broker::fuzzing::request`'s.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| joint_broker::fuzzing::request(data));
