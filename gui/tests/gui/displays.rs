//! The harness's X displays: tests that start at the same moment each get a server of their own.

use crate::harness::Display;
use std::sync::Barrier;

/// Displays started at once, as nextest starts window tests in parallel processes.
const AT_ONCE: usize = 4;

#[test]
fn displays_started_at_the_same_moment_are_each_their_own() {
    let start = Barrier::new(AT_ONCE);
    let mut displays: Vec<Display> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..AT_ONCE)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    Display::start()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().expect("Display::start does not panic")).collect()
    });
    let mut names: Vec<String> = displays.iter().map(|d| d.name.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), AT_ONCE, "two tests would share a display (their windows and keys mix): {names:?}");
    for display in &mut displays {
        assert!(display.serving(), "the Xvfb started for {} is gone: another server answers there", display.name);
    }
}
