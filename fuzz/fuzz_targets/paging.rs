//! The paging arguments of `history`, `users` and `members` turned into store windows; the
//! invariants are `joint_broker::fuzzing::paging`'s.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| joint_broker::fuzzing::paging(data));
