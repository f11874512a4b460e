//! A private X display (Xvfb on a display number of its own choosing) and the real `joint-gui` binary on it,
//! driven with xdotool and observed through the state file it writes after every change.

use joint_gui::ui::{centre, Rect};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a test waits for the window to reach a state.
pub const WAIT: Duration = Duration::from_secs(20);

/// Fails the test with a clear message when a tool is missing.
pub fn require(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false);
    assert!(found, "{tool} is not installed: run scripts/test (or apt-get install xvfb xauth xdotool imagemagick)");
}

/// An Xvfb server of this test's own.
pub struct Display {
    child: Child,
    /// `:N`, for DISPLAY.
    pub name: String,
}

impl Display {
    /// Starts Xvfb on a display number it picks itself (`-displayfd`) and reports once it
    /// accepts clients. The server claims the number by binding its socket, which only one
    /// process can do, so tests starting at the same moment never share a display. (Choosing
    /// a number here by looking for free lock files raced: two tests could pick the same one
    /// and drive each other's windows.)
    pub fn start() -> Display {
        require("Xvfb");
        require("xdotool");
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1280x900x24", "-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        // An empty line: Xvfb exited without a display.
        let number = rx.recv_timeout(Duration::from_secs(20)).ok().and_then(|line| line.trim().parse::<u32>().ok());
        let Some(number) = number else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("Xvfb exited or reported no display number within 20 s");
        };
        Display { child, name: format!(":{number}") }
    }

    /// Whether this display's own Xvfb still runs.
    pub fn serving(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `joint-gui`.
pub struct Gui {
    child: Child,
    display: String,
    state: PathBuf,
    /// Its configuration directory (XDG_CONFIG_HOME), removed when the test ends.
    _home: tempfile::TempDir,
}

impl Gui {
    /// Starts the window on `display` for `broker` in `lang`.
    pub fn start(display: &Display, broker: &str, lang: &str) -> Gui {
        let home = tempfile::tempdir().unwrap();
        let state = home.path().join("state.json");
        let child = Command::new(env!("CARGO_BIN_EXE_joint-gui"))
            .args(["--broker", broker, "--lang", lang])
            .env("DISPLAY", &display.name)
            .env("XDG_CONFIG_HOME", home.path())
            .env("JOINT_GUI_STATE_FILE", &state)
            .stdout(Stdio::null())
            .spawn()
            .expect("joint-gui starts");
        let gui = Gui { child, display: display.name.clone(), state, _home: home };
        gui.wait_for("the sign-in window", |s| s["windows"]["signin"].as_u64().unwrap_or(0) != 0);
        gui
    }

    /// The latest state the window wrote.
    pub fn state(&self) -> Value {
        std::fs::read(&self.state).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null)
    }

    /// Waits until the state satisfies `check`; fails with the last state after [`WAIT`].
    pub fn wait_for(&self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_long(what, WAIT, check)
    }

    /// [`Gui::wait_for`] with a limit of its own.
    pub fn wait_for_long(&self, what: &str, limit: Duration, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let state = self.state();
            if check(&state) {
                return state;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} on display {}; last state: {state}",
                self.display
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// The X id of a window, once it is shown.
    pub fn window(&self, name: &str) -> u64 {
        let state = self.wait_for(&format!("window {name}"), |s| s["windows"][name].as_u64().unwrap_or(0) != 0);
        state["windows"][name].as_u64().unwrap()
    }

    fn xdotool(&self, args: &[&str]) {
        let status = Command::new("xdotool").args(args).env("DISPLAY", &self.display).status().expect("xdotool runs");
        assert!(status.success(), "xdotool {args:?} failed");
    }

    /// Clicks the centre of `rect` in window `name` (offset by `dy` pixels, for list lines).
    pub fn click_at(&self, name: &str, rect: Rect, dy: Option<i32>) {
        let id = self.window(name).to_string();
        let (x, mut y) = centre(rect);
        if let Some(dy) = dy {
            y = rect.1 + dy;
        }
        self.xdotool(&["mousemove", "--sync", "--window", &id, &x.to_string(), &y.to_string()]);
        std::thread::sleep(Duration::from_millis(60));
        self.xdotool(&["click", "1"]);
        std::thread::sleep(Duration::from_millis(120));
    }

    /// Clicks the centre of `rect` in window `name`.
    pub fn click(&self, name: &str, rect: Rect) {
        self.click_at(name, rect, None);
    }

    /// Pages a text view at `rect` up by clicking its scrollbar's track just below the arrow,
    /// `pages` times (a wheel turn moves only three lines).
    pub fn page_up(&self, name: &str, rect: Rect, pages: usize) {
        let id = self.window(name).to_string();
        let (x, y) = (rect.0 + rect.2 - 8, rect.1 + 24);
        self.xdotool(&["mousemove", "--sync", "--window", &id, &x.to_string(), &y.to_string()]);
        self.xdotool(&["click", "--repeat", &pages.to_string(), "--delay", "60", "1"]);
        std::thread::sleep(Duration::from_millis(100));
    }

    /// Types text into the focused widget.
    pub fn type_text(&self, text: &str) {
        self.xdotool(&["type", "--delay", "15", text]);
        std::thread::sleep(Duration::from_millis(60));
    }

    /// Presses keys (xdotool names: Return, Down, ctrl+a, ...).
    pub fn key(&self, keys: &[&str]) {
        let mut args = vec!["key", "--delay", "40"];
        args.extend_from_slice(keys);
        self.xdotool(&args);
        std::thread::sleep(Duration::from_millis(80));
    }

    /// Clicks an input and replaces its text.
    pub fn fill(&self, name: &str, rect: Rect, text: &str) {
        self.click(name, rect);
        self.key(&["ctrl+a", "BackSpace"]);
        self.type_text(text);
    }

    /// Chooses language `index` (of `joint_gui::i18n::LANGUAGES`) in the selector at `rect`.
    pub fn choose_language(&self, name: &str, rect: Rect, index: usize) {
        let current = self.state()["language"].as_str().unwrap_or("en").to_owned();
        let from = joint_gui::i18n::LANGUAGES.iter().position(|l| *l == current).unwrap();
        self.click(name, rect);
        let step = if index > from { "Down" } else { "Up" };
        let mut keys = vec![step; index.abs_diff(from)];
        keys.push("Return");
        self.key(&keys);
        let wanted = joint_gui::i18n::LANGUAGES[index];
        self.wait_for(&format!("language {wanted}"), |s| s["language"] == wanted);
    }

    /// Writes a PNG of window `name` to `path`.
    pub fn screenshot(&self, name: &str, path: &Path) {
        require("import");
        std::thread::sleep(Duration::from_millis(300));
        let id = self.window(name).to_string();
        let status = Command::new("import")
            .args(["-window", &id, path.to_str().unwrap()])
            .env("DISPLAY", &self.display)
            .status()
            .expect("import runs");
        assert!(status.success(), "import failed for {}", path.display());
    }
}

impl Drop for Gui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The group called `name` in the state's model.
pub fn group<'a>(state: &'a Value, name: &str) -> Option<&'a Value> {
    state["model"]["groups"].as_array()?.iter().find(|g| g["name"] == name)
}

/// The seqs the model holds for group `gid`.
pub fn seqs(state: &Value, gid: u64) -> Vec<u64> {
    state["seqs"][gid.to_string()].as_array().map(|a| a.iter().filter_map(Value::as_u64).collect()).unwrap_or_default()
}

/// Whether `seqs` run 1, 2, 3, … `last` with no gap and no duplicate.
pub fn complete(seqs: &[u64], last: u64) -> bool {
    seqs.iter().copied().eq(1..=last)
}

/// Where the tests put their screenshots: `target/screenshots`.
pub fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
