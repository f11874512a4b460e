//! The broker's own test helpers on top of the shared harness (`joint-testkit`): the real
//! binary as a child process.

pub use joint_testkit::*;
use std::io::BufRead;

/// The log of a broker started with [`start_binary`].
pub type Log = std::sync::Arc<std::sync::Mutex<String>>;

/// A broker process that is killed when the test ends, even when it fails half-way.
pub struct BrokerProcess(std::process::Child);

impl std::ops::Deref for BrokerProcess {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for BrokerProcess {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts the binary on port 0 and reads the bound address from its log, which it keeps;
/// `rust_log` must let INFO through (the address is logged at INFO). Flood control and the
/// groups-per-user quota are off: these tests publish and create in bulk.
pub fn start_binary(db_url: &str, rust_log: &str) -> (BrokerProcess, std::net::SocketAddr, Log) {
    start_binary_with(db_url, rust_log, &["--listen", "127.0.0.1:0"], &[])
}

/// The binary as [`broker_command`] makes it, with cheap scrypt and the given extra flags.
pub fn start_binary_with(
    db_url: &str,
    rust_log: &str,
    flags: &[&str],
    more: &[String],
) -> (BrokerProcess, std::net::SocketAddr, Log) {
    let mut child = broker_command()
        .args(["--database-url", db_url, "--scrypt-log-n", "4", "--scrypt-r", "1"])
        .args(["--publish-rate", "0", "--max-groups-per-user", "0"])
        .args(flags)
        .args(more)
        .env("RUST_LOG", rust_log)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the broker binary starts");
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let log = Log::default();
    let addr = loop {
        let line = lines.next().expect("the broker logs its address").unwrap();
        log.lock().unwrap().push_str(&line);
        if let Some(rest) = line.split("listen=").nth(1) {
            break rest.trim().parse().expect("an address");
        }
    };
    // Keep draining the log so the broker never blocks on a full pipe.
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let mut kept = kept.lock().unwrap();
            kept.push_str(&line);
            kept.push('\n');
        }
    });
    (BrokerProcess(child), addr, log)
}

/// The broker binary with no `JOINT_*` variable inherited from the test's environment, so
/// that only what a test sets counts.
pub fn broker_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_joint-broker"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("JOINT_") {
            command.env_remove(name);
        }
    }
    command
}

/// Sends SIGTERM, as a service manager would.
pub fn terminate(child: &std::process::Child) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
}

/// Reads every table of a test database into one text, rows sorted, so that tests can
/// assert that a refused request changed nothing in PostgreSQL. Sequences are left out on
/// purpose: an INSERT refused by a unique key (an existing login or group name) still
/// consumes an id, as PostgreSQL sequences are not transactional; the gap is harmless and
/// no row changes.
pub struct Snapshots {
    db: tokio_postgres::Client,
    sql: String,
}

impl Snapshots {
    /// Prepares the one query that reads every table of the public schema but the UNLOGGED
    /// ones, which describe live brokers and connections (heartbeats), not data.
    pub async fn new(db: &TestDb) -> Snapshots {
        let db = db.sql().await;
        let tables = db
            // UNLOGGED tables hold rate-limit counts (limit_*), which CONTRACT.md §11 counts
            // even for refused requests, and who is online on which broker: neither is data.
            .query(
                "SELECT t.tablename FROM pg_tables t
                 JOIN pg_class c ON c.relname = t.tablename AND c.relnamespace = 'public'::regnamespace
                 WHERE t.schemaname = 'public' AND c.relpersistence <> 'u' ORDER BY t.tablename",
                &[],
            )
            .await
            .expect("list the tables");
        let sql = tables
            .iter()
            .map(|row| {
                let table: String = row.get(0);
                format!(
                    "SELECT '{table}' || E'\\n' || coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '') \
                     FROM \"{table}\" r"
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        Snapshots { db, sql }
    }

    /// Every row of every table, as text.
    pub async fn take(&self) -> String {
        let rows = self.db.query(&self.sql, &[]).await.expect("read every table");
        rows.iter().map(|row| row.get::<_, String>(0)).collect::<Vec<_>>().join("\n")
    }
}

/// Fails naming the rows that differ between two snapshots.
pub fn assert_unchanged(before: &str, after: &str, what: &str) {
    if before == after {
        return;
    }
    let old: std::collections::BTreeSet<&str> = before.lines().collect();
    let new: std::collections::BTreeSet<&str> = after.lines().collect();
    let gone: Vec<&&str> = old.difference(&new).collect();
    let added: Vec<&&str> = new.difference(&old).collect();
    panic!("{what}: the database changed; rows gone {gone:?}, rows added {added:?}");
}

/// Sends `payload` (a request with this `id`) and returns the broker's reply to it,
/// skipping the events that arrive first.
pub async fn answer(raw: &mut RawConn, id: u64, payload: &[u8]) -> Result<rmpv::Value, joint_wire::ErrorBody> {
    raw.send_payload(payload).await;
    loop {
        match raw.recv().await {
            Some(joint_wire::message::Incoming::Ok { re, ok }) if re == id => return Ok(ok),
            Some(joint_wire::message::Incoming::Err { re, err }) if re == id => return Err(err),
            Some(joint_wire::message::Incoming::Event(_)) => continue,
            other => panic!("expected the reply to request {id}, got {other:?}"),
        }
    }
}

/// Asserts that the connection still answers a `ping`.
pub async fn assert_answers_ping(raw: &mut RawConn, what: &str) {
    let ping = joint_wire::message::Request::Ping.encode(u64::MAX);
    if let Err(err) = answer(raw, u64::MAX, &ping).await {
        panic!("{what}: the connection no longer answers a ping: {err:?}");
    }
}

/// The `retry_after_ms` of a `rate_limited` refusal; panics on any other outcome.
pub fn retry_after(result: Result<impl std::fmt::Debug, joint_wire::ClientError>) -> u64 {
    match result {
        Err(joint_wire::ClientError::Broker(body)) => {
            assert_eq!(body.code, joint_wire::ErrorCode::RateLimited, "{body:?}");
            body.retry_after_ms.expect("rate_limited carries retry_after_ms")
        }
        other => panic!("expected rate_limited, got {other:?}"),
    }
}

/// Sends 20 wrong guesses of ann's password at once, one connection each, taking the
/// brokers in turn, and returns how many were checked (`bad_credentials`); every other
/// answer must be `rate_limited`. Start the brokers with slow hashes, so that every guess
/// is in flight at once.
pub async fn parallel_wrong_guesses(brokers: &[&TestApp]) -> usize {
    let mut tasks = Vec::new();
    for n in 0..20 {
        let (client, events) = brokers[n % brokers.len()].client().await;
        tasks.push(tokio::spawn(async move {
            let result = client.login("ann", "wrong-password").await;
            drop(events);
            result.map(drop).map_err(|e| e.code())
        }));
    }
    let mut bad_credentials = 0;
    for task in tasks {
        match task.await.unwrap() {
            Err(Some(joint_wire::ErrorCode::BadCredentials)) => bad_credentials += 1,
            Err(Some(joint_wire::ErrorCode::RateLimited)) => {}
            other => panic!("{other:?}"),
        }
    }
    bad_credentials
}
