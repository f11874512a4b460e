//! The test harness every crate of the workspace shares: a real broker on 127.0.0.1:0
//! against a fresh PostgreSQL database per test, clients through `joint_wire::Client`, raw
//! sockets for bytes a client would never send, and PostgreSQL clusters of a test's own.
//!
//! The database server comes from `JOINT_TEST_DATABASE_URL` (scripts/test starts one). A
//! template database with the migrations applied is made once per schema version; each
//! test copies it (`CREATE DATABASE … TEMPLATE`, a few milliseconds) and drops it at the end.

use bytes::{Bytes, BytesMut};
use joint_broker::password::Hasher;
use joint_broker::server::Broker;
/// The broker's settings, for tests (of other crates too) that edit them.
pub use joint_broker::settings::{Registration, Settings};
use joint_broker::store::migrate::MIGRATIONS;
use joint_broker::store::Store;
use joint_wire::codec::{frame, FrameCodec, Payload};
use joint_wire::message::{Event, Incoming, Request};
use joint_wire::{Client, ClientConfig, ClientEvent, ErrorCode, Events};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

/// How long a test waits for something that should happen promptly.
pub const WAIT: Duration = Duration::from_secs(10);

/// The superuser URL of the test server's `postgres` database.
pub fn admin_url() -> String {
    std::env::var("JOINT_TEST_DATABASE_URL")
        .expect("JOINT_TEST_DATABASE_URL must point at a PostgreSQL server; run the tests with scripts/test")
}

/// `admin_url` with another database name.
pub fn url_for(admin_url: &str, db: &str) -> String {
    let (base, _) = admin_url.rsplit_once('/').expect("database URL has a path");
    format!("{base}/{db}")
}

/// Installs logging once when `TEST_LOG` is set; silent otherwise.
pub fn init_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            joint_broker::telemetry::init();
        }
    });
}

/// A name unique across the test processes of one run.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let mut random = [0u8; 4];
    getrandom::getrandom(&mut random).unwrap();
    format!("{prefix}_{}_{}_{}", std::process::id(), nanos % 1_000_000_000, u32::from_le_bytes(random))
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect to PostgreSQL");
    tokio::spawn(connection);
    client
}

/// Makes the template database for the current migrations, once per schema version.
async fn template(admin: &str) -> String {
    // Named after the migrations' contents, so that an edited migration gets a new template.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for migration in MIGRATIONS {
        std::hash::Hash::hash(migration.sql, &mut hasher);
    }
    let name = format!("joint_tmpl_{:016x}", std::hash::Hasher::finish(&hasher));
    let db = connect(admin).await;
    db.execute("SELECT pg_advisory_lock(7878)", &[]).await.unwrap();
    let exists = db.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name]).await.unwrap().is_some();
    if !exists {
        let building = format!("{name}_building");
        db.batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)")).await.unwrap();
        db.batch_execute(&format!("CREATE DATABASE {building}")).await.unwrap();
        let store = Store::new(&url_for(admin, &building), 1, Duration::from_secs(10)).unwrap();
        store.migrate().await.expect("migrations apply to an empty database");
        drop(store);
        db.batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}")).await.ok();
        // Renaming fails while the pool's connection lingers; force it.
        if db.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name]).await.unwrap().is_none() {
            db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", &[&building])
                .await
                .unwrap();
            db.batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}")).await.unwrap();
        }
    }
    db.execute("SELECT pg_advisory_unlock(7878)", &[]).await.unwrap();
    name
}

/// A fresh database with the schema applied; dropped when the value is dropped.
pub struct TestDb {
    /// The database's name.
    pub name: String,
    /// A superuser URL to it.
    pub url: String,
    /// The admin URL to drop the database with; `None` for a database the test does not own.
    admin: Option<String>,
}

impl TestDb {
    /// Copies the template into a new database.
    pub async fn create() -> TestDb {
        let admin = admin_url();
        let template = template(&admin).await;
        let name = unique("t");
        let db = connect(&admin).await;
        let sql = format!("CREATE DATABASE {name} TEMPLATE {template}");
        let mut tries = 0;
        while let Err(err) = db.batch_execute(&sql).await {
            // "source database is being accessed by other users": another test is copying.
            tries += 1;
            assert!(tries < 100, "cannot create the test database: {err}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        TestDb { url: url_for(&admin, &name), name, admin: Some(admin) }
    }

    /// A new database with no schema at all (what a first start or an upgrade test begins with).
    pub async fn empty() -> TestDb {
        let admin = admin_url();
        let name = unique("t");
        connect(&admin).await.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create a database");
        TestDb { url: url_for(&admin, &name), name, admin: Some(admin) }
    }

    /// A database the broker migrates itself, on a server the test runs (see [`PrivatePg`]).
    pub fn external(url: &str) -> TestDb {
        TestDb { url: url.to_owned(), name: url.rsplit('/').next().unwrap_or_default().to_owned(), admin: None }
    }

    /// A direct connection for arranging and asserting.
    pub async fn sql(&self) -> tokio_postgres::Client {
        connect(&self.url).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(admin) = self.admin.clone() else { return };
        let name = self.name.clone();
        // Drop runs outside async; use a small runtime on its own thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok((client, conn)) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await {
                    tokio::spawn(conn);
                    let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                }
            });
        })
        .join();
    }
}

/// A running broker and its database.
pub struct TestApp {
    /// Where the broker listens.
    pub addr: SocketAddr,
    /// Its database.
    pub db: std::sync::Arc<TestDb>,
    /// The settings it was started with (to restart it alike).
    pub settings: Settings,
    /// Where its metrics are served, when the settings asked for them.
    pub metrics: Option<SocketAddr>,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Starts a broker with test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a broker with test settings edited by `edit`.
pub async fn spawn_app_with(edit: impl FnOnce(&mut Settings)) -> TestApp {
    init_logs();
    let db = TestDb::create().await;
    let mut settings = Settings::for_tests(&db.url);
    edit(&mut settings);
    spawn_on(db, settings).await
}

/// Starts a broker on an existing database with the given settings.
pub async fn spawn_on(db: impl Into<std::sync::Arc<TestDb>>, settings: Settings) -> TestApp {
    let db = db.into();
    let broker = Broker::build(settings.clone()).await.expect("broker starts");
    let addr = broker.local_addr().unwrap();
    let metrics = broker.metrics_addr();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(broker.run(shutdown.clone()));
    TestApp { addr, db, settings, metrics, shutdown, task: Some(task) }
}

/// The password tests use for `login`.
pub fn password(login: &str) -> String {
    format!("pw-of-{login}")
}

impl TestApp {
    /// A connected client that does not reconnect.
    pub async fn client(&self) -> (Client, Events) {
        let mut config = ClientConfig::new(vec![self.addr.to_string()]);
        config.reconnect = false;
        Client::connect(config).await.expect("client connects")
    }

    /// A new account `login` (display name = login upper-cased), signed in on a new client.
    /// An operator's login cannot `register`: its account is made in the database, as
    /// `joint-broker user-create` makes it, and then signed in.
    pub async fn user(&self, login: &str) -> (Client, Events) {
        if self.settings.is_operator(login) {
            self.create_in_database(login).await;
            return self.login(login).await;
        }
        let (client, events) = self.client().await;
        client.register(login, &login.to_uppercase(), &password(login)).await.expect("register");
        (client, events)
    }

    /// Creates the account `login` with its test password straight in the database.
    pub async fn create_in_database(&self, login: &str) {
        let s = &self.settings;
        let params = scrypt::Params::new(s.scrypt_log_n, s.scrypt_r, s.scrypt_p, 32).expect("scrypt parameters");
        let hash = Hasher::new(params, 1, 0).unwrap().hash(password(login)).await.expect("hash");
        let store = Store::new(&self.db.url, 1, Duration::from_secs(10)).unwrap();
        store.user_create(login, &login.to_uppercase(), &hash).await.expect("the account is created");
    }

    /// Another client signed in as an existing `login` with its test password.
    pub async fn login(&self, login: &str) -> (Client, Events) {
        let (client, events) = self.client().await;
        client.login(login, &password(login)).await.expect("login");
        (client, events)
    }

    /// A raw TCP connection.
    pub async fn raw(&self) -> RawConn {
        RawConn::connect(self.addr).await
    }

    /// Stops this broker and starts a new one on the same database and settings.
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        spawn_on(self.db.clone(), self.settings.clone()).await
    }

    /// Shuts the broker down as SIGTERM would and waits for it.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(20), task).await.expect("broker stops").unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The next broker event, failing the test after [`WAIT`]. `presence` events, which arrive
/// about a second after any user comes or goes, are skipped: tests/api/presence.rs checks
/// them with [`next_event_or_presence`].
pub async fn next_event(events: &mut Events) -> Event {
    loop {
        match next_event_or_presence(events).await {
            Event::Presence { .. } => continue,
            event => return event,
        }
    }
}

/// The next broker event, `presence` included, failing the test after [`WAIT`].
pub async fn next_event_or_presence(events: &mut Events) -> Event {
    match tokio::time::timeout(WAIT, events.next()).await.expect("an event arrives in time") {
        Some(ClientEvent::Event(event)) => event,
        Some(other) => panic!("expected a broker event, got {other:?}"),
        None => panic!("event stream ended"),
    }
}

/// Asserts that no event but `presence` arrives within `ms` milliseconds.
pub async fn assert_no_event(events: &mut Events, ms: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.next()).await {
        if !matches!(event, ClientEvent::Event(Event::Presence { .. })) {
            panic!("unexpected event {event:?}");
        }
    }
}

/// Asserts that no event at all arrives within `ms` milliseconds.
pub async fn assert_no_event_or_presence(events: &mut Events, ms: u64) {
    if let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(ms), events.next()).await {
        panic!("unexpected event {event:?}");
    }
}

/// The broker error code of a failed call.
pub fn code<T: std::fmt::Debug>(result: Result<T, joint_wire::ClientError>) -> ErrorCode {
    match result {
        Err(err) => err.code().unwrap_or_else(|| panic!("expected a broker error, got {err:?}")),
        Ok(value) => panic!("expected an error, got {value:?}"),
    }
}

/// A TCP connection speaking frames by hand.
pub struct RawConn {
    /// The socket, for tests that shut it down or write half a frame.
    pub stream: TcpStream,
    buffer: BytesMut,
    codec: FrameCodec,
}

impl RawConn {
    /// Connects without saying anything.
    pub async fn connect(addr: SocketAddr) -> RawConn {
        RawConn::from_stream(TcpStream::connect(addr).await.expect("connect"))
    }

    /// Speaks frames over a connected stream.
    pub fn from_stream(stream: TcpStream) -> RawConn {
        RawConn { stream, buffer: BytesMut::new(), codec: FrameCodec::new(16 << 20) }
    }

    /// Sends bytes as they are.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Sends a payload with its length prefix.
    pub async fn send_payload(&mut self, payload: &[u8]) {
        self.send_bytes(&frame(payload)).await;
    }

    /// Sends a typed request.
    pub async fn send(&mut self, id: u64, request: &Request) {
        self.send_payload(&request.encode(id)).await;
    }

    /// Sends a request and returns the broker's answer.
    pub async fn call(&mut self, id: u64, request: &Request) -> Incoming {
        self.send(id, request).await;
        self.recv().await.expect("an answer")
    }

    /// The next raw frame, or `None` when the broker closed the connection.
    pub async fn recv_frame(&mut self) -> Option<Bytes> {
        loop {
            if let Some(frame) = self.codec.decode(&mut self.buffer).expect("broker frames are well formed") {
                return Some(frame);
            }
            let read = tokio::time::timeout(WAIT, self.stream.read_buf(&mut self.buffer))
                .await
                .expect("broker answers in time");
            match read {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next frame, classified, or `None` when the broker closed the connection.
    pub async fn recv(&mut self) -> Option<Incoming> {
        let frame = self.recv_frame().await?;
        let payload = Payload::parse(&frame).expect("broker payloads are valid maps");
        Some(Incoming::parse(&payload).expect("broker frames are replies, events or errors"))
    }

    /// Asserts that the broker closes the connection (after any frames it still sends).
    pub async fn expect_closed(&mut self) {
        if let Some(frame) = self.recv_frame().await {
            let payload = Payload::parse(&frame).unwrap();
            panic!("expected the connection to close, got {:?}", Incoming::parse(&payload));
        }
    }
}

/// Encodes a map with string keys as a payload, for frames the typed requests cannot express.
pub fn map(pairs: Vec<(&str, rmpv::Value)>) -> Vec<u8> {
    let value = rmpv::Value::Map(pairs.into_iter().map(|(k, v)| (rmpv::Value::from(k), v)).collect());
    joint_wire::codec::encode_value(&value)
}

/// Unwraps a reply's error code.
pub fn err_code(incoming: &Incoming) -> ErrorCode {
    match incoming {
        Incoming::Err { err, .. } | Incoming::ConnectionError(err) => err.code,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// A PostgreSQL cluster of a test's own, for tests that stop and start the server.
/// Needs root (the server runs as the `postgres` user) and `JOINT_TEST_PG_BIN`.
pub struct PrivatePg {
    dir: std::path::PathBuf,
    bin: std::path::PathBuf,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl PrivatePg {
    fn as_postgres(&self, program: &str, args: &[&str]) -> std::process::Output {
        let output = std::process::Command::new("runuser")
            .current_dir("/")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(program))
            .args(args)
            .output()
            .expect("runuser runs");
        assert!(output.status.success(), "{program} failed: {}", String::from_utf8_lossy(&output.stderr));
        output
    }

    /// Creates and starts a cluster on a free port.
    pub fn start() -> PrivatePg {
        let pg = PrivatePg::unstarted();
        let data = pg.data();
        pg.as_postgres("initdb", &["-D", &data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]);
        pg.start_again();
        pg
    }

    /// A streaming-replication hot standby of this (running) cluster on a free port, started:
    /// a base backup by `pg_basebackup -R`, so that it follows this server and answers
    /// read-only queries with what it has replayed (hot_standby is on by default).
    /// `SELECT pg_wal_replay_pause()` on it stops replay, `pg_wal_replay_resume()` resumes.
    pub fn standby(&self) -> PrivatePg {
        let standby = PrivatePg::unstarted();
        let port = self.port.to_string();
        standby.as_postgres(
            "pg_basebackup",
            &["-D", &standby.data(), "-R", "-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-c", "fast", "--no-sync"],
        );
        standby.start_again();
        standby
    }

    /// An empty directory owned by `postgres` and a free port, for a cluster to be made in.
    fn unstarted() -> PrivatePg {
        let bin = std::env::var("JOINT_TEST_PG_BIN").expect("JOINT_TEST_PG_BIN names PostgreSQL's bin directory");
        let dir = std::env::temp_dir().join(unique("joint-pg"));
        std::fs::create_dir_all(&dir).unwrap();
        let status = std::process::Command::new("chown").arg("postgres:").arg(&dir).status().unwrap();
        assert!(status.success());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        PrivatePg { dir, bin: bin.into(), port }
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// The superuser URL of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the (stopped) server.
    pub fn start_again(&self) {
        let options = format!("-c listen_addresses=127.0.0.1 -p {} -k {}", self.port, self.dir.display());
        let log = self.dir.join("log").display().to_string();
        self.as_postgres("pg_ctl", &["-D", &self.data(), "-l", &log, "-w", "-o", &options, "start"]);
    }

    /// Stops the server in the given mode (`fast`, `immediate`).
    pub fn stop(&self, mode: &str) {
        self.as_postgres("pg_ctl", &["-D", &self.data(), "-m", mode, "-w", "stop"]);
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = std::process::Command::new("runuser")
            .current_dir("/")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A private CA and a broker certificate it signed for `localhost` and `127.0.0.1`, made
/// at test time and written as PEM files; removed when dropped.
pub struct TestCert {
    dir: std::path::PathBuf,
    /// The CA certificate clients trust (`--tls-ca`).
    pub ca: std::path::PathBuf,
    /// The broker's certificate (`--tls-cert`).
    pub cert: std::path::PathBuf,
    /// The broker's private key (`--tls-key`).
    pub key: std::path::PathBuf,
}

impl TestCert {
    /// Generates the CA and the certificate.
    pub fn new() -> TestCert {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "Joint test CA");
        let ca = ca_params.self_signed(&ca_key).expect("a self-signed CA");
        let key = KeyPair::generate().expect("a broker key");
        let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("names");
        let cert = params.signed_by(&key, &ca, &ca_key).expect("a certificate signed by the CA");
        let dir = std::env::temp_dir().join(unique("joint-tls"));
        std::fs::create_dir_all(&dir).unwrap();
        let files = TestCert { ca: dir.join("ca.pem"), cert: dir.join("cert.pem"), key: dir.join("key.pem"), dir };
        std::fs::write(&files.ca, ca.pem()).unwrap();
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        files
    }

    /// The broker's flags that make it serve TLS with this certificate.
    pub fn broker_flags(&self) -> [String; 4] {
        let path = |p: &std::path::Path| p.display().to_string();
        ["--tls-cert".into(), path(&self.cert), "--tls-key".into(), path(&self.key)]
    }

    /// A client configuration for `addr` that speaks TLS trusting this CA and does not reconnect.
    pub fn client_config(&self, addr: &str) -> ClientConfig {
        let mut config = ClientConfig::new(vec![addr.to_string()]);
        config.reconnect = false;
        config.tls = Some(joint_wire::TlsConfig::from_ca_file(&self.ca).expect("the test CA loads"));
        config
    }
}

impl Default for TestCert {
    fn default() -> Self {
        TestCert::new()
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
