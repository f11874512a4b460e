//! Everything a chaos run starts, wired together: PostgreSQL, a proxy in front of it, the
//! brokers (one, or several on the one database) using that proxy, a proxy in front of each
//! broker for the clients, and one account.

use crate::args::{Args, Fault};
use crate::cluster::{Broker, Postgres};
use crate::load::Shape;
use crate::proxy::Proxy;
use anyhow::{bail, Context, Result};
use joint_wire::{Client, ClientConfig};
use std::path::PathBuf;
use std::time::Duration;

/// The application name the broker gives its PostgreSQL connections.
const BROKER_APPLICATION: &str = "joint-broker";

/// The account every client of the load signs in as.
const LOGIN: &str = "chaos";

/// A small, seeded random number generator (SplitMix64): runs are repeatable by seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The running system under test.
pub struct Lab {
    /// The command line.
    pub args: Args,
    /// Drives the random choices.
    pub rng: Rng,
    /// The broker processes (clients reach broker `i` through `client_proxies[i]`).
    pub brokers: Vec<Broker>,
    /// The broker `broker-kill-one` killed, to be started again.
    pub killed: Option<usize>,
    /// Between the brokers and PostgreSQL.
    pub pg_proxy: Proxy,
    /// Between the clients and each broker.
    pub client_proxies: Vec<Proxy>,
    /// Between the subscriber a freeze stops and the first broker.
    pub victim_proxy: Proxy,
    /// The account's session token.
    pub token: String,
    /// The PostgreSQL cluster; dropped after the broker.
    pub pg: Postgres,
    nonce: u64,
    /// Dropped last, when everything in it has stopped.
    dir: WorkDir,
}

/// The run's directory: removed at the end unless kept for a post-mortem.
struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

impl Lab {
    /// Starts everything in a new directory under the system's temporary directory.
    pub async fn start(args: Args, seed: u64) -> Result<Lab> {
        let nonce = seed % 1_000_000;
        let path = std::env::temp_dir().join(format!("joint-chaos-{}-{nonce}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        let dir = WorkDir { path, keep: false };
        // The postgres user needs to reach the cluster's directory inside.
        std::fs::set_permissions(&dir.path, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        let pg = Postgres::create(&dir.path, &args.pg_bin).context("starting PostgreSQL")?;
        let (admin, connection) = tokio_postgres::connect(&pg.url("postgres"), tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        admin.batch_execute("CREATE DATABASE joint").await?;
        drop(admin);
        let pg_proxy = Proxy::start(format!("127.0.0.1:{}", pg.port).parse()?, false).await?;
        let bin = match &args.broker_bin {
            Some(bin) => bin.clone(),
            None => std::env::current_exe()?.with_file_name("joint-broker"),
        };
        let database_url = format!("postgres://postgres@{}/joint", pg_proxy.addr);
        let sabotage = args.sabotage.map(|s| s.name());
        let count = args.broker_count();
        let (mut brokers, mut client_proxies) = (Vec::new(), Vec::new());
        // One after the other: the first applies the migrations before the others start.
        for i in 0..count {
            let log = dir.path.join(if count == 1 { "broker.log".to_owned() } else { format!("broker-{i}.log") });
            let broker = Broker::start(&bin, &database_url, &log, sabotage.clone()).await?;
            if sabotage.is_some() && !broker.log().contains("SABOTAGE ACTIVE") {
                bail!(
                    "{} was built without the sabotage feature: `cargo build -p joint-broker --features sabotage` \
                     (`cargo nextest run --workspace` builds it so; `-p joint-chaos` alone does not rebuild it)",
                    bin.display()
                );
            }
            client_proxies.push(Proxy::start(broker.addr, true).await?);
            brokers.push(broker);
        }
        let victim_proxy = Proxy::start(brokers[0].addr, true).await?;
        let (client, _events) = Client::connect(ClientConfig::new(vec![brokers[0].addr.to_string()])).await?;
        let session = client.register(LOGIN, "Chaos", "chaos-password").await?;
        let token = session.token.context("register answers a token")?;
        let rng = Rng::new(seed);
        Ok(Lab { rng, args, brokers, killed: None, pg_proxy, client_proxies, victim_proxy, token, pg, nonce, dir })
    }

    /// The addresses the clients are given: each broker's client proxy.
    pub fn client_addrs(&self) -> Vec<String> {
        self.client_proxies.iter().map(|p| p.addr.to_string()).collect()
    }

    /// The addresses of the subscriber a freeze stops: its own proxy to the first broker,
    /// then the other brokers' proxies.
    pub fn victim_addrs(&self) -> Vec<String> {
        let others = self.client_proxies.iter().skip(1).map(|p| p.addr.to_string());
        std::iter::once(self.victim_proxy.addr.to_string()).chain(others).collect()
    }

    /// The brokers' addresses, straight (not through the proxies).
    fn broker_addrs(&self) -> Vec<String> {
        self.brokers.iter().map(|b| b.addr.to_string()).collect()
    }

    /// SIGKILLs broker `i`; [`Lab::restart_killed`] starts it again.
    pub async fn kill_one(&mut self, i: usize) -> Result<()> {
        self.brokers[i].kill().await?;
        self.killed = Some(i);
        Ok(())
    }

    /// Starts the broker `broker-kill-one` killed again, if there is one.
    pub async fn restart_killed(&mut self) -> Result<()> {
        if let Some(i) = self.killed.take() {
            self.brokers[i].restart().await?;
        }
        Ok(())
    }

    /// The load's shape from the command line.
    pub fn shape(&self) -> Shape {
        Shape {
            publishers: self.args.publishers,
            subscribers: self.args.subscribers,
            rate: self.args.rate,
            window: self.args.window.max(1),
            body_size: self.args.body_size,
        }
    }

    /// A client straight to the brokers (not through the proxies), signed in.
    pub async fn direct_client(&self) -> Result<Client> {
        let mut tries = 0;
        loop {
            let attempt = async {
                let (client, _events) = Client::connect(ClientConfig::new(self.broker_addrs())).await?;
                client.auth(&self.token).await?;
                Ok::<_, joint_wire::ClientError>(client)
            };
            match attempt.await {
                Ok(client) => return Ok(client),
                Err(err) if tries > 100 => bail!("cannot reach the broker: {err}"),
                Err(_) => tries += 1,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Creates this run's groups.
    pub async fn new_groups(&self, fault: Fault, run: u32) -> Result<Vec<String>> {
        let client = self.direct_client().await?;
        let mut names = Vec::new();
        for g in 0..self.args.groups {
            let name = format!("{}-{run}-{g}-{}", fault.name(), self.nonce);
            let mut tries = 0;
            while let Err(err) = client.group_create(&name, &[]).await {
                // An earlier attempt whose reply was lost may have created it.
                if err.code() == Some(joint_wire::ErrorCode::GroupExists) {
                    break;
                }
                tries += 1;
                if tries > 100 {
                    bail!("creating group {name}: {err}");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            names.push(name);
        }
        Ok(names)
    }

    /// Kills every PostgreSQL connection of the broker (not ours); returns how many.
    pub async fn terminate_broker_backends(&self) -> Result<u64> {
        let url = format!("{}?application_name=joint-chaos", self.pg.url("postgres"));
        let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        let row = admin
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE application_name = $1 AND pid <> pg_backend_pid()",
                &[&BROKER_APPLICATION],
            )
            .await?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// Keeps the brokers' logs (and the run's directory) after the end; returns where they
    /// are: `broker.log`, or `broker-N.log` for each of several brokers.
    pub fn keep_broker_logs(&mut self) -> PathBuf {
        self.dir.keep = true;
        self.dir.path.clone()
    }
}
