//! The limits of CONTRACT.md §11 and §12 hold across brokers (issue 11): two brokers on one
//! database count the same failures, registrations and publishes, so an attacker gains
//! nothing by spreading attempts over them; and a limit PostgreSQL cannot check is
//! `unavailable`, never skipped.

use crate::helpers::*;
use joint_wire::{Client, ErrorCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A second broker on the first one's database, with the same settings.
async fn second_broker(first: &TestApp) -> TestApp {
    spawn_on(first.db.clone(), first.settings.clone()).await
}

#[tokio::test]
async fn failed_logins_spread_over_two_brokers_hit_the_backoff_at_the_contracts_count() {
    let a = spawn_app().await;
    let b = second_broker(&a).await;
    a.user("ann").await;
    let (on_a, _ea) = a.client().await;
    let (on_b, _eb) = b.client().await;
    for client in [&on_a, &on_b, &on_a, &on_b, &on_a] {
        assert_eq!(code(client.login("ann", "wrong-password").await), ErrorCode::BadCredentials);
    }
    // The sixth attempt, on the other broker, is refused before any hashing, right or wrong.
    let wait = retry_after(on_b.login("ann", &password("ann")).await);
    assert!((1..=1000).contains(&wait), "first backoff is about 1 s, got {wait}");
    assert!(retry_after(on_a.login("ann", "wrong-password").await) <= 1000);
    // Per IP too: another login from the same IP, on either broker.
    assert_eq!(code(on_b.login("bob", "wrong-password").await), ErrorCode::RateLimited);

    tokio::time::sleep(Duration::from_millis(wait + 50)).await;
    // One more failure on b doubles the backoff that a then enforces.
    assert_eq!(code(on_b.login("ann", "wrong-password").await), ErrorCode::BadCredentials);
    let wait = retry_after(on_a.login("ann", &password("ann")).await);
    assert!((1001..=2000).contains(&wait), "second backoff is about 2 s, got {wait}");
    tokio::time::sleep(Duration::from_millis(wait + 50)).await;
    on_a.login("ann", &password("ann")).await.expect("the right password after the wait");
    // The success cleared ann's count at this IP but not the IP's own, on either broker:
    // the next failure, on b, blocks the IP again, and a refuses it.
    assert_eq!(code(on_b.login("ann", "wrong-password").await), ErrorCode::BadCredentials);
    let (again_on_a, _e) = a.client().await;
    let wait = retry_after(again_on_a.login("carol", "wrong-password").await);
    assert!((2001..=4000).contains(&wait), "the IP's third backoff is about 4 s, got {wait}");
}

#[tokio::test]
async fn failed_auth_spread_over_two_brokers_backs_off() {
    let a = spawn_app().await;
    let b = second_broker(&a).await;
    let (ann, _e) = a.user("ann").await;
    let token = ann.token().unwrap();
    let (on_a, _ea) = a.client().await;
    let (on_b, _eb) = b.client().await;
    for client in [&on_a, &on_b, &on_a, &on_b, &on_a] {
        assert_eq!(code(client.auth(&"x".repeat(43)).await), ErrorCode::BadToken);
    }
    let wait = retry_after(on_b.auth(&token).await);
    assert!((1..=1000).contains(&wait), "{wait}");
}

#[tokio::test]
async fn registrations_per_ip_are_counted_across_brokers() {
    let a = spawn_app_with(|s| s.registrations_per_minute = 4).await;
    let b = second_broker(&a).await;
    a.user("ann").await;
    b.user("bob").await;
    let (on_a, _ea) = a.client().await;
    let (on_b, _eb) = b.client().await;
    // Refused attempts count too, on whichever broker.
    assert_eq!(code(on_b.register("ann", "Dup", "password-1").await), ErrorCode::LoginTaken);
    assert_eq!(code(on_a.register("bob", "Dup", "password-1").await), ErrorCode::LoginTaken);
    let wait = retry_after(on_b.register("carol", "Carol", "password-1").await);
    assert!(wait > 50_000 && wait <= 60_000, "{wait}");
    assert_eq!(code(on_a.register("carol", "Carol", "password-1").await), ErrorCode::RateLimited);
}

#[tokio::test]
async fn parallel_guesses_spread_over_two_brokers_cannot_outrun_the_backoff() {
    // Slow hashes keep every guess in flight at once, on both brokers.
    let a = spawn_app_with(|s| {
        s.scrypt_log_n = 14;
        s.scrypt_r = 8;
        s.hash_queue = 64;
    })
    .await;
    let b = second_broker(&a).await;
    a.user("ann").await;
    let bad_credentials = parallel_wrong_guesses(&[&a, &b]).await;
    assert!(bad_credentials <= 5, "{bad_credentials} guesses were checked; at most 5 may be");
}

/// Publishes as `client` until `running` turns false; the count accepted and the longest
/// `retry_after_ms` of the refusals.
async fn publish_flat_out(client: Client, running: Arc<AtomicBool>) -> (u64, u64) {
    let (mut accepted, mut longest_wait) = (0, 0);
    let mut n = 0u64;
    while running.load(Ordering::Relaxed) {
        n += 1;
        match client.publish("all", &format!("flood {n}")).await {
            Ok(_) => accepted += 1,
            Err(err) => longest_wait = longest_wait.max(retry_after(Err::<(), _>(err))),
        }
    }
    (accepted, longest_wait)
}

#[tokio::test]
async fn a_user_publishing_through_two_brokers_at_once_is_held_to_the_rate() {
    const RATE: u64 = 20;
    const BURST: u64 = 16;
    let a = spawn_app_with(|s| {
        s.publish_rate = RATE as u32;
        s.publish_burst = BURST as u32;
    })
    .await;
    let b = second_broker(&a).await;
    let lease = u64::from(joint_broker::flood::lease_size(RATE as u32, BURST as u32));
    a.user("ann").await;
    let (on_a, _ea) = a.login("ann").await;
    let (on_b, _eb) = b.login("ann").await;
    let running = Arc::new(AtomicBool::new(true));
    let started = Instant::now();
    let first = tokio::spawn(publish_flat_out(on_a, running.clone()));
    let second = tokio::spawn(publish_flat_out(on_b, running.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    running.store(false, Ordering::Relaxed);
    let ((on_a, wait_a), (on_b, wait_b)) = (first.await.unwrap(), second.await.unwrap());
    let span = started.elapsed().as_secs_f64();
    let accepted = on_a + on_b;
    // The bound ARCHITECTURE.md states: burst + rate × T + one lease less a token per broker.
    let bound = BURST as f64 + RATE as f64 * span + 2.0 * (lease - 1) as f64;
    assert!(accepted as f64 <= bound, "{accepted} publishes in {span:.2} s; at most {bound:.1} may pass");
    assert!(accepted >= BURST, "the burst passes: {accepted}");
    assert!(on_a > 0 && on_b > 0, "both brokers got tokens: {on_a} and {on_b}");
    let stored: i64 = a.db.sql().await.query_one("SELECT count(*) FROM messages", &[]).await.unwrap().get(0);
    assert_eq!(stored as u64, accepted, "every accepted publish was stored, no refused one");
    // A refused publish is told to wait for about one token.
    for wait in [wait_a, wait_b] {
        assert!(wait <= 1000 / RATE, "retry_after_ms {wait} exceeds one token's {} ms", 1000 / RATE);
    }
}

#[tokio::test]
async fn publishes_spend_a_lease_without_reaching_postgresql() {
    // A lease of min(100 ÷ 10, 80 ÷ 8) = 10 tokens.
    let app = spawn_app_with(|s| {
        s.publish_rate = 100;
        s.publish_burst = 80;
    })
    .await;
    let (ann, _e) = app.user("ann").await;
    let sql = app.db.sql().await;
    let bucket = "SELECT tokens, at FROM limit_buckets";
    ann.publish("all", "first").await.unwrap();
    let row = sql.query_one(bucket, &[]).await.unwrap();
    let (tokens, at): (f64, std::time::SystemTime) = (row.get(0), row.get(1));
    assert_eq!(tokens, 70.0, "the first publish leased ten tokens from the full bucket");
    for n in 0..9 {
        ann.publish("all", &format!("from the lease {n}")).await.unwrap();
    }
    let row = sql.query_one(bucket, &[]).await.unwrap();
    assert_eq!((row.get::<_, f64>(0), row.get::<_, std::time::SystemTime>(1)), (tokens, at), "nine more, no lease");
    ann.publish("all", "the eleventh leases again").await.unwrap();
    let at_now: std::time::SystemTime = sql.query_one(bucket, &[]).await.unwrap().get(1);
    assert!(at_now > at);
}

#[tokio::test]
async fn a_disabled_flood_limit_stores_nothing() {
    let app = spawn_app_with(|s| s.publish_rate = 0).await;
    let (ann, _e) = app.user("ann").await;
    for n in 0..300 {
        ann.publish("all", &format!("{n}")).await.unwrap();
    }
    let rows: i64 = app.db.sql().await.query_one("SELECT count(*) FROM limit_buckets", &[]).await.unwrap().get(0);
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn a_limit_postgresql_cannot_check_is_unavailable_not_skipped() {
    let app = spawn_app_with(|s| {
        s.db_timeout_ms = 800;
        s.publish_rate = 1;
        s.publish_burst = 1;
    })
    .await;
    let (ann, _e) = app.user("ann").await;
    let token = ann.token().unwrap();
    let (guest, _g) = app.client().await;
    // Another session holds every limit table locked: the limit checks time out.
    let mut blocker = app.db.sql().await;
    let tx = blocker.transaction().await.unwrap();
    tx.batch_execute("LOCK TABLE limit_backoffs, limit_windows, limit_buckets IN ACCESS EXCLUSIVE MODE").await.unwrap();
    assert_eq!(code(guest.login("ann", &password("ann")).await), ErrorCode::Unavailable);
    assert_eq!(code(guest.auth(&token).await), ErrorCode::Unavailable);
    assert_eq!(code(guest.register("carol", "Carol", "password-1").await), ErrorCode::Unavailable);
    assert_eq!(code(ann.publish("all", "held").await), ErrorCode::Unavailable);
    tx.rollback().await.unwrap();
    ann.publish("all", "through").await.expect("the limit works again");
    assert_eq!(code(ann.publish("all", "over the rate").await), ErrorCode::RateLimited);
    guest.login("ann", &password("ann")).await.expect("login works again");
    let stored: i64 = app.db.sql().await.query_one("SELECT count(*) FROM messages", &[]).await.unwrap().get(0);
    assert_eq!(stored, 1, "nothing was stored while the limit could not be checked");
}

#[tokio::test]
async fn expired_limit_rows_are_swept() {
    let app = spawn_app_with(|s| s.login_backoff_max_ms = 100).await;
    let (client, _e) = app.client().await;
    assert_eq!(code(client.login("ann", "wrong-password").await), ErrorCode::BadCredentials);
    let sql = app.db.sql().await;
    let count = |table: &'static str| {
        let sql = &sql;
        async move { sql.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!(count("limit_backoffs").await, 2, "the (login, IP) and IP keys");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let store = joint_broker::store::Store::new(&app.db.url, 1, Duration::from_secs(5)).unwrap();
    let swept =
        store.sweep_limits(Duration::from_millis(200), Duration::from_secs(60), Duration::from_secs(4)).await.unwrap();
    assert_eq!(swept.backoffs, 2);
    assert_eq!(count("limit_backoffs").await, 0);
    assert_eq!(count("limit_windows").await, 0, "no registration was attempted");
}
