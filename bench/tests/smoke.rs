//! CI's seconds-long version of the benchmark against the real broker: not speed, but that
//! every delivery arrives once and in order (at a fixed rate too, and to a subscriber that
//! stopped reading for a while), that history pages hold the right messages, how logins
//! meet the hasher's bounded queue, and what an idle connection costs the broker.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use joint_bench::checker::Verdict;
use joint_bench::peers::{JointPeer, Peer};
use joint_bench::soak;
use joint_bench::workloads::fanout::{self, Watched};
use joint_bench::workloads::multi_broker;
use joint_bench::workloads::{history, idle, login, Shape};
use joint_testkit::{spawn_app, spawn_on, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_delivers_every_message_once_and_in_order() {
    let app = spawn_app().await;
    let peer = Peer::Joint(JointPeer::connect(&app.addr.to_string(), "smoke").await.unwrap());
    // Workload 1's fan-out and window with fewer messages: 100 publishes pipelined per
    // connection is what would reorder them if anything on the way did.
    let shape = Shape::closed(10, 10, 200, 200, 100);

    let round = fanout::round(&peer, &Watched::default(), shape, "smoke").await.unwrap();

    assert_eq!(round.acked, 10 * 200);
    assert_eq!(round.verdict, Verdict { delivered: 10 * 10 * 200, ..Verdict::default() });
    assert_eq!(round.end_to_end.len(), 10 * 10 * 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_spread_over_two_brokers_get_every_message_once_and_in_order() {
    let first = spawn_app().await;
    let second = spawn_on(first.db.clone(), first.settings.clone()).await;
    let peer = JointPeer::connect(&first.addr.to_string(), "smokemulti").await.unwrap();
    let brokers: Vec<multi_broker::Broker> = [first.addr, second.addr]
        .iter()
        .map(|addr| multi_broker::Broker { addr: addr.to_string(), pid: None })
        .collect();
    // Workload 8 small: with two brokers half the subscribers and publishers are on each,
    // so half the deliveries cross brokers through PostgreSQL.
    let shape = Shape::closed(4, 4, 150, 200, 50);

    let steps = multi_broker::run(&peer, &brokers, None, shape, 1, "smokemb").await.unwrap();

    assert_eq!(steps.iter().map(|s| s.brokers).collect::<Vec<_>>(), [1, 2]);
    for step in &steps {
        assert_eq!(step.rounds[0].acked, 4 * 150, "with {} broker(s)", step.brokers);
        assert_eq!(
            step.verdict(),
            Verdict { delivered: 4 * 4 * 150, ..Verdict::default() },
            "{} broker(s)",
            step.brokers
        );
    }
    let section = multi_broker::markdown(&steps, shape, "");
    assert!(section.contains("\n| 2 | "), "a line for two brokers: {section}");
    assert!(section.contains("not measured per broker"), "no limits claimed without CPU figures: {section}");
}

/// The broker binary, built next to this test's crate; built now if it is not there yet
/// (`cargo nextest run --workspace` builds it, `-p joint-bench` alone does not).
fn broker_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/smoke-<hash> → target/<profile>/joint-broker
    let binary = exe.parent().and_then(|deps| deps.parent()).expect("a target directory").join("joint-broker");
    if !binary.exists() {
        let status = Command::new(env!("CARGO")).args(["build", "-p", "joint-broker"]).status().expect("cargo runs");
        assert!(status.success(), "building joint-broker");
    }
    binary
}

/// A broker process of our own, so that its RSS is the broker's alone; killed on drop.
struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// Starts the broker binary on port 0 with cheap password hashing (unless `extra` sets the
/// cost) and reads the bound address from its log.
fn start_broker(db_url: &str, extra: &[&str]) -> (Broker, SocketAddr) {
    let cheap: &[&str] =
        if extra.contains(&"--scrypt-log-n") { &[] } else { &["--scrypt-log-n", "4", "--scrypt-r", "1"] };
    let mut child = Command::new(broker_binary())
        .args(["--listen", "127.0.0.1:0", "--database-url", db_url])
        .args(cheap)
        // One account publishes everything, as in scripts/bench: flood control off.
        .args(["--max-connections-per-ip", "2000", "--publish-rate", "0"])
        .args(extra)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("the broker binary starts");
    let mut lines = std::io::BufReader::new(child.stderr.take().expect("piped stderr")).lines();
    let broker = Broker(child);
    let addr = loop {
        let line = lines.next().expect("the broker logs its address").expect("a log line");
        if let Some(rest) = line.split("listen=").nth(1) {
            break rest.trim().parse().expect("an address");
        }
    };
    // Keep draining the log so the broker never blocks on a full pipe.
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    (broker, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_connections_stay_connected_and_their_memory_is_measured() {
    rlimit::increase_nofile_limit(u64::MAX).unwrap();
    let db = TestDb::create().await;
    let (broker, addr) = start_broker(&db.url, &[]);
    let peer = JointPeer::connect(&addr.to_string(), "idle").await.unwrap();

    let idle = idle::run(&peer, broker.0.id(), 1_000, "idle").await.unwrap();

    assert_eq!(idle.connections, 1_000);
    assert!(idle.rss_after > idle.rss_warm && idle.rss_warm > idle.rss_before, "{idle:?}");
    let (all, marginal) = (idle.bytes_per_connection() / 1024.0, idle.marginal_bytes_per_connection() / 1024.0);
    eprintln!("broker RSS per idle connection: {all:.2} KiB, {marginal:.2} KiB for one more");
    // Issue 5's bound for what a connection costs (read buffers must not keep their peak).
    assert!(marginal <= 8.0, "an idle connection costs {marginal:.2} KiB of broker RSS: {idle:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_rate_delivers_every_message_once_and_in_order() {
    let db = TestDb::create().await;
    let (_broker, addr) = start_broker(&db.url, &[]);
    let peer = Peer::Joint(JointPeer::connect(&addr.to_string(), "rate").await.unwrap());
    // Workload 2's fan-out, open loop: 2,000 msg/s in total for one second.
    let shape = Shape::open(10, 10, 2_000.0, 1.0);
    assert_eq!((shape.messages, shape.rate), (200, Some(200.0)));

    let started = std::time::Instant::now();
    let round = fanout::round(&peer, &Watched::default(), shape, "rate").await.unwrap();

    assert_eq!(round.acked, 10 * 200);
    assert_eq!(round.verdict, Verdict { delivered: 10 * 10 * 200, ..Verdict::default() });
    assert_eq!(round.ack_latency.len(), 10 * 200);
    // On a schedule: the last messages are not due before a second has passed.
    assert!(started.elapsed() >= std::time::Duration::from_millis(995), "{:?}", started.elapsed());
    assert!(round.slow.is_none());
}

/// A free port on the loopback interface, for the broker's metrics.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_still_gets_everything_in_order() {
    let db = TestDb::create().await;
    let metrics = format!("127.0.0.1:{}", free_port());
    let (broker, addr) = start_broker(&db.url, &["--metrics-listen", &metrics]);
    let peer = Peer::Joint(JointPeer::connect(&addr.to_string(), "slow").await.unwrap());
    // One publisher at 500 msg/s of 32 KB for 6 s; the first subscriber does not read from
    // 0.5 s to 5.5 s: 80 MB of backlog, more than the socket buffers (here up to 32 MiB to
    // receive and 4 MiB to send) and its client hold.
    let shape = Shape {
        size: 32_000,
        pause: Some((std::time::Duration::from_millis(500), std::time::Duration::from_millis(5_500))),
        ..Shape::open(1, 3, 500.0, 6.0)
    };
    let watched = Watched { broker: Some(broker.0.id()), metrics: Some(metrics), ..Watched::default() };

    let round = fanout::round(&peer, &watched, shape, "slow").await.unwrap();

    let slow = round.slow.expect("a slow subscriber");
    assert_eq!(slow.verdict, Verdict { delivered: 3_000, ..Verdict::default() }, "{slow:?}");
    assert_eq!(round.verdict, Verdict { delivered: 2 * 3_000, ..Verdict::default() });
    assert!(slow.others_before > 0.0 && slow.others_during > 0.0, "{slow:?}");
    assert!(round.rss.len() >= 3, "RSS sampled every second: {:?}", round.rss);
    // Whether the backlog outgrew the socket buffers, so that the broker fed the slow one from
    // storage, depends on how fast this shared machine let the publisher go: shown, not asserted.
    let lagged = round.lagged.expect("the lagged count from the metrics");
    eprintln!("subscriptions lagged: {lagged}; broker RSS every second: {:?}", round.rss);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_at_random_before_hold_the_messages_published() {
    let db = TestDb::create().await;
    let (_broker, addr) = start_broker(&db.url, &[]);
    let peer = JointPeer::connect(&addr.to_string(), "history").await.unwrap();

    let filled = history::fill(&peer, "history", 1_000).await.unwrap();
    assert_eq!(filled.messages, 1_000);
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let stopper = async {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        stop_tx.send_replace(true);
    };
    let ((), pages) = tokio::join!(stopper, history::read(&peer, &filled, 4, stop));
    let pages = pages.unwrap();

    assert!(pages.pages >= 4, "{} pages", pages.pages);
    assert_eq!(pages.wrong, 0, "{} of {} pages wrong", pages.wrong, pages.pages);
    assert_eq!(pages.latency.len(), pages.pages);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_logins_beyond_the_hashers_queue_gets_unavailable() {
    let db = TestDb::create().await;
    // One hash at a time and one waiting, at a cost that takes a while: most of 100 logins
    // at once find the queue full.
    let tight = ["--hash-concurrency", "1", "--hash-queue", "1", "--scrypt-log-n", "12", "--scrypt-r", "8"];
    let (_broker, addr) = start_broker(&db.url, &tight);
    let peer = JointPeer::connect(&addr.to_string(), "logins").await.unwrap();

    let logins = login::run(&peer, std::time::Duration::from_millis(500)).await.unwrap();

    assert!(logins.steady > 0 && logins.per_second() > 0.0, "{logins:?}");
    assert_eq!(logins.steady_latency.len(), logins.steady);
    assert_eq!(logins.burst_ok + logins.burst_unavailable, login::BURST as u64, "{logins:?}");
    assert_eq!(logins.burst_other, 0);
    assert!(logins.burst_ok >= 1 && logins.burst_unavailable >= 1, "{logins:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_runs_every_actor_and_finds_nothing_wrong() {
    let db = TestDb::create().await;
    let (broker, addr) = start_broker(&db.url, &[]);
    let plan = soak::Plan {
        addr: addr.to_string(),
        broker_pid: broker.0.id(),
        duration: std::time::Duration::from_secs(8),
        warm_up: std::time::Duration::from_secs(2),
        interval: std::time::Duration::from_secs(1),
        load: soak::actors::Load { groups: 3, subscribers: 2, rate: 60.0, size: 100, churners: 2, readers: 1 },
    };

    let (series, counters) = soak::run(&plan).await.unwrap();

    assert_eq!(counters.anomalies(), Vec::<String>::new());
    assert_eq!(series.samples.len(), 8, "a sample a second: {series:?}");
    let last = series.samples.last().unwrap();
    // Every actor did its part: ~60 messages/s for 8 s, each to 2 steady subscribers.
    assert!(last.published >= 300, "{last:?}");
    assert!(last.delivered >= 2 * last.published.saturating_sub(60), "{last:?}");
    assert!(last.reconnects >= 2 && last.pages >= 2 && last.logins >= 2 && last.groups_cycled >= 2, "{last:?}");
    assert!(last.rss > 1024 * 1024 && last.fds > 3, "{last:?}");
    // Too short for a minute after the warm-up.
    assert_eq!(series.verdict(), None);
}
