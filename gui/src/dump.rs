//! What the window shows, written as JSON to `JOINT_GUI_STATE_FILE` after every change, for
//! the end-to-end tests (they check the model, not pixels); and the stall meter, which
//! records every batch of work that kept the event loop busy too long.

use crate::app::Shown;
use crate::model::ChatModel;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A batch is recorded as a stall when it keeps the loop busy longer than this.
const LATE: Duration = Duration::from_millis(15);

/// The state written for the tests.
#[derive(Serialize)]
pub struct State<'a> {
    /// Which window has the user's attention.
    pub shown: Shown,
    /// The interface language.
    pub language: &'a str,
    /// Each window's X id, for xdotool.
    pub windows: BTreeMap<&'static str, u64>,
    /// The text of each window's error line.
    pub errors: BTreeMap<&'static str, String>,
    /// The chat model.
    pub model: &'a ChatModel,
    /// Every group's seqs held, ascending.
    pub seqs: BTreeMap<u64, Vec<u64>>,
    /// The seqs the message view rendered, in order.
    pub rendered: &'a [u64],
    /// The input box's text.
    pub input: String,
    /// The main window's status line (who, and the connection's state).
    pub status: String,
    /// Batches that kept the loop busy: (milliseconds since start, milliseconds busy).
    pub stalls: Vec<(u64, u64)>,
    /// Milliseconds since start when this was written.
    pub uptime_ms: u64,
}

/// The file the state goes to.
pub struct Dump {
    path: PathBuf,
}

impl Dump {
    /// Writes to `path`.
    pub fn new(path: PathBuf) -> Dump {
        Dump { path }
    }

    /// Replaces the file atomically, so a reader never sees half of it. A failure only
    /// costs the tests their view; the window goes on.
    pub fn write(&self, state: &State<'_>) {
        let tmp = self.path.with_extension("tmp");
        if let Ok(json) = serde_json::to_vec(state) {
            if std::fs::write(&tmp, json).is_ok() {
                let _ = std::fs::rename(&tmp, &self.path);
            }
        }
    }
}

/// Measures how long the loop is busy per batch: handling messages, redrawing (flushed
/// explicitly, so FLTK's own wait has nothing left to draw) and writing the dump. While it is
/// busy, no click or key is handled. It counts the UI thread's CPU time, so time the OS gave
/// to other processes on a loaded machine does not count as the window's stall.
pub struct StallMeter {
    start: Instant,
    batch: Option<Duration>,
    stalls: Vec<(u64, u64)>,
}

/// CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec we pass; CLOCK_THREAD_CPUTIME_ID exists on Linux.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0;
    if !ok {
        return Duration::ZERO;
    }
    Duration::new(u64::try_from(ts.tv_sec).unwrap_or(0), u32::try_from(ts.tv_nsec).unwrap_or(0))
}

impl StallMeter {
    /// Starts the clock.
    pub fn start() -> StallMeter {
        StallMeter { start: Instant::now(), batch: None, stalls: Vec::new() }
    }

    /// A batch of work begins.
    pub fn begin(&mut self) {
        self.batch = Some(thread_cpu_time());
    }

    /// The batch ended; records it when it took longer than [`LATE`].
    pub fn end(&mut self) {
        let Some(begun) = self.batch.take() else { return };
        let busy = thread_cpu_time().saturating_sub(begun);
        if busy > LATE {
            self.stalls.push((self.uptime_ms(), u64::try_from(busy.as_millis()).unwrap_or(u64::MAX)));
            if self.stalls.len() > 1000 {
                self.stalls.remove(0);
            }
        }
    }

    /// Forgets the stalls recorded so far.
    pub fn reset(&mut self) {
        self.stalls.clear();
    }

    /// The stalls recorded: (milliseconds since start, milliseconds busy).
    pub fn stalls(&self) -> Vec<(u64, u64)> {
        self.stalls.clone()
    }

    /// Milliseconds since the meter started.
    pub fn uptime_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}
