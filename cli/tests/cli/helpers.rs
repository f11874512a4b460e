//! Runs the real `joint` binary with a private config directory against a test broker.

use joint_testkit::TestApp;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// A user's environment: a private HOME and XDG_CONFIG_HOME, a broker address, a language.
pub struct Joint {
    /// The private home directory.
    pub home: tempfile::TempDir,
    /// What `--broker` defaults to (through JOINT_BROKER).
    pub broker: String,
    /// The LANG of the process.
    pub lang: String,
}

/// What one run of `joint` did.
#[derive(Debug)]
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
}

impl Run {
    /// stdout as JSON lines; fails the test if any line is not one JSON object.
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|line| {
                let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
                assert!(value.is_object(), "{line}");
                value
            })
            .collect()
    }

    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub fn expect(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "stdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }
}

impl Joint {
    /// A fresh user environment for the broker of `app`, in English.
    pub fn new(app: &TestApp) -> Joint {
        Joint { home: tempfile::tempdir().unwrap(), broker: app.addr.to_string(), lang: "C".into() }
    }

    /// The same environment with another LANG.
    pub fn with_lang(mut self, lang: &str) -> Joint {
        self.lang = lang.into();
        self
    }

    /// The config directory `joint` uses.
    pub fn config_dir(&self) -> std::path::PathBuf {
        self.home.path().join("config").join("joint")
    }

    /// `program` in this environment only: HOME, XDG_CONFIG_HOME, JOINT_BROKER, LANG, PATH
    /// with the directory of `joint` first.
    pub fn program(&self, program: &str) -> std::process::Command {
        let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_joint")).parent().unwrap();
        let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
        let mut cmd = std::process::Command::new(program);
        cmd.env_clear()
            .env("PATH", path)
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("JOINT_BROKER", &self.broker)
            .env("LANG", &self.lang)
            .env("TZ", "UTC");
        cmd
    }

    /// A `joint` process in this environment, with inherited stdio (for a pseudo-terminal).
    pub fn std_command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = self.program(env!("CARGO_BIN_EXE_joint"));
        cmd.args(args);
        cmd
    }

    /// A `joint` process ready to start, stdin/stdout/stderr piped.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::from(self.std_command(args));
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        cmd
    }

    /// Runs `joint ARGS` with `stdin` as its input and waits for it (at most 30 s).
    pub async fn run_with(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = self.command(args).spawn().expect("joint starts");
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("joint {args:?} did not finish"))
            .unwrap();
        Run {
            code: output.status.code().expect("joint exited normally"),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// Runs `joint ARGS` with empty stdin.
    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, "").await
    }

    /// Registers `login` with the test password through `joint register --password-stdin`.
    pub async fn register(&self, login: &str) -> Run {
        let password = format!("{}\n", joint_testkit::password(login));
        let run = self.run_with(&["register", login, "--password-stdin"], &password).await;
        run.expect(0);
        run
    }
}

/// A TCP proxy to `broker` that cuts the connection instead of forwarding the first
/// publish acknowledgement: the message is committed, but the client never hears so.
pub async fn proxy_losing_the_first_ack(broker: std::net::SocketAddr) -> std::net::SocketAddr {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let lost = std::sync::Arc::new(AtomicBool::new(false));
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = tokio::net::TcpStream::connect(broker).await.unwrap();
            let lost = lost.clone();
            tokio::spawn(async move {
                let (mut client_read, mut client_write) = client.into_split();
                let (mut upstream_read, mut upstream_write) = upstream.into_split();
                let requests = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut upstream_write).await;
                });
                loop {
                    let mut len = [0u8; 4];
                    if upstream_read.read_exact(&mut len).await.is_err() {
                        break;
                    }
                    let mut payload = vec![0u8; u32::from_be_bytes(len) as usize];
                    if upstream_read.read_exact(&mut payload).await.is_err() {
                        break;
                    }
                    let frame = rmpv::decode::read_value(&mut payload.as_slice()).unwrap();
                    let ok = frame.as_map().and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some("ok")));
                    let ack = ok
                        .and_then(|(_, ok)| ok.as_map())
                        .is_some_and(|ok| ok.iter().any(|(k, _)| k.as_str() == Some("seq")));
                    if ack && !lost.swap(true, Ordering::SeqCst) {
                        break;
                    }
                    if client_write.write_all(&len).await.is_err() || client_write.write_all(&payload).await.is_err() {
                        break;
                    }
                }
                requests.abort();
            });
        }
    });
    addr
}
