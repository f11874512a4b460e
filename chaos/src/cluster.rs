//! The processes under test: a private PostgreSQL cluster and the real `joint-broker`
//! binary, each started, stopped and killed on demand.

use anyhow::{bail, ensure, Context, Result};
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::process::Child;

/// A TCP port free a moment ago on 127.0.0.1 (the kernel picks it).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until something accepts TCP connections on `addr`.
async fn wait_listening(addr: SocketAddr, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if TcpStream::connect(addr).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A PostgreSQL cluster of this run in its own directory, on 127.0.0.1 only; removed on drop.
pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    /// The port it listens on.
    pub port: u16,
}

impl Postgres {
    /// Runs `program` of PostgreSQL's bin directory, as the `postgres` user when we are
    /// root (initdb and postgres refuse to run as root).
    fn run(&self, program: &str, args: &[&str]) -> Result<()> {
        let as_root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
        let mut command = if as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(program));
            c
        } else {
            Command::new(self.bin.join(program))
        };
        let output = command.current_dir("/").args(args).stdin(Stdio::null()).output();
        let output = output.with_context(|| format!("running {program}"))?;
        ensure!(output.status.success(), "{program} failed: {}", String::from_utf8_lossy(&output.stderr).trim());
        Ok(())
    }

    /// Creates a cluster under `root` and starts it on a free port.
    pub fn create(root: &Path, bin: &Path) -> Result<Postgres> {
        let dir = root.join("pg");
        std::fs::create_dir_all(&dir)?;
        let chown = Command::new("chown").arg("postgres:").arg(&dir).status();
        let as_root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
        ensure!(!as_root || chown.is_ok_and(|s| s.success()), "cannot hand {} to the postgres user", dir.display());
        let pg = Postgres { dir, bin: bin.to_owned(), port: free_port()? };
        let data = pg.data();
        pg.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
        )?;
        pg.start()?;
        Ok(pg)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// The superuser URL of database `db`, straight to the server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Starts the stopped server and waits until it accepts connections.
    pub fn start(&self) -> Result<()> {
        let options = format!("-c listen_addresses=127.0.0.1 -p {} -k {}", self.port, self.dir.display());
        let log = self.dir.join("log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-l", &log, "-w", "-t", "60", "-o", &options, "start"])
    }

    /// Stops the server in `mode` (`fast` or `immediate`).
    pub fn stop(&self, mode: &str) -> Result<()> {
        self.run("pg_ctl", &["-D", &self.data(), "-m", mode, "-w", "stop"])
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.stop("immediate");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `joint-broker` binary run as a child process, so that it can be SIGKILLed and
/// started again on the same port. Its output goes to a log file.
pub struct Broker {
    command: Vec<String>,
    env: Vec<(String, String)>,
    bin: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Broker {
    /// Starts the broker on a free port of 127.0.0.1 against `database_url`; `sabotage`
    /// becomes its `JOINT_SABOTAGE`.
    pub async fn start(bin: &Path, database_url: &str, log: &Path, sabotage: Option<String>) -> Result<Broker> {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let command = [
            "--listen",
            &addr.to_string(),
            "--database-url",
            database_url,
            // Load, not limits, is under test: no flood control, cheap password hashes,
            // room for the checker's own connections.
            "--publish-rate",
            "0",
            "--scrypt-log-n",
            "4",
            "--scrypt-r",
            "1",
            "--registrations-per-minute",
            "1000",
            "--max-connections-per-ip",
            "4096",
            // Every run creates its groups with the one account of the load.
            "--max-groups-per-user",
            "0",
        ]
        .map(str::to_owned)
        .to_vec();
        let mut env = vec![("RUST_LOG".to_owned(), "info".to_owned())];
        env.extend(sabotage.map(|s| ("JOINT_SABOTAGE".to_owned(), s)));
        let mut broker = Broker { command, env, bin: bin.to_owned(), log: log.to_owned(), child: None, addr };
        broker.restart().await?;
        Ok(broker)
    }

    /// Starts the broker (again) and waits until it listens.
    pub async fn restart(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let child = tokio::process::Command::new(&self.bin)
            .args(&self.command)
            .envs(self.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!("the broker exited during start-up ({status}); see {}", self.log.display());
                }
            }
            if wait_listening(self.addr, Duration::from_millis(200)).await {
                return Ok(());
            }
        }
        bail!("the broker did not listen on {} within 30 s; see {}", self.addr, self.log.display())
    }

    /// SIGKILLs the broker and reaps it.
    pub async fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await?;
        }
        Ok(())
    }

    /// Everything the broker logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
