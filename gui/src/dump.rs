//! What the window shows, written as JSON to `JOINT_GUI_STATE_FILE` after every change, for
//! the end-to-end tests (they check the model, not pixels); and the stall meter, a 10 ms
//! timer on the UI thread that records every tick that came late.

use crate::app::Shown;
use crate::model::ChatModel;
use fltk::app;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How often the stall meter's timer ticks.
pub const TICK: Duration = Duration::from_millis(10);

/// A late tick is recorded when it comes this much later than due.
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
    /// Late ticks of the event loop: (milliseconds since start, how late in milliseconds).
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

#[derive(Default)]
struct Ticks {
    last: Option<Instant>,
    stalls: Vec<(u64, u64)>,
    news: bool,
}

/// Measures how late the event loop runs a 10 ms timer: a late tick means the loop was busy.
pub struct StallMeter {
    start: Instant,
    ticks: Rc<RefCell<Ticks>>,
}

impl StallMeter {
    /// Starts the timer (on the UI thread, after `app::App` exists).
    pub fn start() -> StallMeter {
        let start = Instant::now();
        let ticks = Rc::new(RefCell::new(Ticks::default()));
        let inner = ticks.clone();
        app::add_timeout3(TICK.as_secs_f64(), move |handle| {
            let now = Instant::now();
            let mut t = inner.borrow_mut();
            if let Some(last) = t.last {
                let late = now.duration_since(last).saturating_sub(TICK);
                if late > LATE {
                    let at = u64::try_from(now.duration_since(start).as_millis()).unwrap_or(u64::MAX);
                    t.stalls.push((at, u64::try_from(late.as_millis()).unwrap_or(u64::MAX)));
                    if t.stalls.len() > 1000 {
                        t.stalls.remove(0);
                    }
                    t.news = true;
                }
            }
            t.last = Some(now);
            app::repeat_timeout3(TICK.as_secs_f64(), handle);
        });
        StallMeter { start, ticks }
    }

    /// Forgets the stalls recorded so far.
    pub fn reset(&mut self) {
        self.ticks.borrow_mut().stalls.clear();
    }

    /// Whether a stall was recorded since the last call.
    pub fn take_news(&mut self) -> bool {
        std::mem::take(&mut self.ticks.borrow_mut().news)
    }

    /// The stalls recorded.
    pub fn stalls(&self) -> Vec<(u64, u64)> {
        self.ticks.borrow().stalls.clone()
    }

    /// Milliseconds since the meter started.
    pub fn uptime_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}
