//! joint-chaos against the real broker binary of this build: every fault once with a small
//! load must lose nothing, nor must killing one of three brokers on one PostgreSQL (its
//! clients fail over to the others), and a broker sabotaged on purpose (joint-broker's `sabotage`
//! feature, on in the workspace's test build through this crate's dev-dependency) must be
//! caught, each sabotage as its own anomaly class.
//!
//! Needs root (PostgreSQL runs as the postgres user) and the `joint-broker` binary next
//! to `joint-chaos`, built with the `sabotage` feature, as `cargo nextest run --workspace`
//! builds it. `-p joint-chaos` alone does not rebuild that binary: run
//! `cargo build -p joint-broker --features sabotage` first.

use joint_chaos::args::{Args, Fault};
use joint_chaos::checker::Anomalies;
use joint_chaos::Outcome;
use std::path::PathBuf;

/// The joint-broker binary built with this test.
fn broker_bin() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_joint-chaos")).with_file_name("joint-broker");
    assert!(bin.exists(), "{} is missing: build the workspace (cargo nextest run --workspace)", bin.display());
    bin
}

/// A short run with a small load; `extra` flags replace the defaults of the same name.
async fn chaos(extra: &[&str]) -> Outcome {
    let pg_bin = std::env::var("JOINT_TEST_PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into());
    let broker = broker_bin();
    let defaults = [
        ("--broker-bin", broker.to_str().unwrap()),
        ("--pg-bin", &pg_bin),
        ("--groups", "2"),
        ("--publishers", "2"),
        ("--subscribers", "2"),
        ("--rate", "50"),
        ("--body-size", "256"),
        ("--warmup-ms", "1500"),
        ("--after-ms", "1000"),
        ("--outage-ms", "2000"),
        ("--freeze-ms", "3000"),
        ("--seed", "10"),
    ];
    let mut argv = vec!["joint-chaos"];
    for (flag, value) in defaults {
        if !extra.contains(&flag) {
            argv.extend([flag, value]);
        }
    }
    argv.extend_from_slice(extra);
    let args = <Args as clap::Parser>::parse_from(argv);
    joint_chaos::run(args, "cargo nextest run -p joint-chaos").await.expect("the chaos run completes")
}

async fn sabotaged(sabotage: &str) -> Anomalies {
    // Enough messages for every sabotage to strike (it strikes once per 1000 deliveries at
    // the rarest), and short settling: a sabotaged broker may never let its subscribers
    // catch up.
    let extra =
        ["--fault", "none", "--sabotage", sabotage, "--rate", "150", "--warmup-ms", "4000", "--settle-ms", "5000"];
    let outcome = chaos(&extra).await;
    let found = outcome.anomalies();
    assert!(outcome.results[0].acks > 1000, "the load ran: {:?}", outcome.results[0]);
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledging_before_the_commit_is_reported_as_lost() {
    let found = sabotaged("ack_before_commit").await;
    assert!(found.lost > 0, "{found:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_delivery_is_reported_as_lost_from_the_stream_and_a_gap() {
    let found = sabotaged("drop_delivery").await;
    assert!(found.lost_from_stream > 0 && found.reordered > 0, "{found:?}");
    assert_eq!(found.lost, 0, "nothing acknowledged is missing from storage: {found:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_seq_is_reported_as_a_gap() {
    let found = sabotaged("skip_seq").await;
    assert!(found.reordered > 0, "{found:?}");
    assert_eq!(found.lost, 0, "nothing acknowledged is missing from storage: {found:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_run_reports_nothing() {
    let outcome = chaos(&["--fault", "none", "--settle-ms", "20000"]).await;
    assert!(outcome.results[0].acks > 0 && outcome.results[0].deliveries > 0);
    assert_eq!(outcome.anomalies(), Anomalies::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_once_loses_nothing() {
    let outcome = chaos(&["--runs", "1", "--settle-ms", "30000"]).await;
    let faults: Vec<Fault> = outcome.results.iter().map(|r| r.fault).collect();
    assert_eq!(faults, Fault::ALL.to_vec());
    for result in &outcome.results {
        assert!(result.acks > 0 && result.deliveries > 0, "{result:?}");
        assert!(result.recovery.is_some(), "publishing resumed after {:?}", result.fault);
        assert_eq!(result.anomalies, Anomalies::default(), "{result:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_of_three_brokers_under_load_loses_nothing_across_the_cluster() {
    let outcome = chaos(&["--fault", "broker-kill-one", "--brokers", "3", "--settle-ms", "30000"]).await;
    let result = &outcome.results[0];
    assert_eq!(result.fault, Fault::BrokerKillOne);
    assert!(result.acks > 0 && result.deliveries > 0, "{result:?}");
    assert!(result.recovery.is_some(), "every publisher was acknowledged again after the kill: {result:?}");
    assert_eq!(result.anomalies, Anomalies::default(), "{result:?}");
}
