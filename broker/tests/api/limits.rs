//! The limits of CONTRACT.md §11: login backoff, registrations per minute, auth backoff,
//! connection caps and the password-hash waiting line.

use crate::helpers::*;
use joint_wire::message::{Incoming, Request};
use joint_wire::ErrorCode;
use std::time::Duration;

#[tokio::test]
async fn failed_logins_back_off_and_a_success_resets() {
    let app = spawn_app().await;
    app.user("ann").await;
    let (client, _e) = app.client().await;
    for _ in 0..5 {
        assert_eq!(code(client.login("ann", "wrong-password").await), ErrorCode::BadCredentials);
    }
    // The sixth attempt is refused before any hashing, right password or not.
    let wait = retry_after(client.login("ann", &password("ann")).await);
    assert!((1..=1000).contains(&wait), "first backoff is about 1 s, got {wait}");
    let wait = retry_after(client.login("ann", "wrong-password").await);
    assert!(wait <= 1000);
    // Per IP: another login from the same IP is blocked too.
    assert_eq!(code(client.login("bob", "wrong-password").await), ErrorCode::RateLimited);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    // After the wait one more failure doubles the backoff.
    assert_eq!(code(client.login("ann", "wrong-password").await), ErrorCode::BadCredentials);
    let wait = retry_after(client.login("ann", &password("ann")).await);
    assert!((1001..=2000).contains(&wait), "second backoff is about 2 s, got {wait}");
    tokio::time::sleep(Duration::from_millis(wait + 50)).await;
    client.login("ann", &password("ann")).await.expect("the right password after the wait");
    // The success cleared ann's count at this IP but not the IP's own: signing in to one
    // account must not let this IP guess further at others.
    let (other, _e) = app.client().await;
    assert_eq!(code(other.login("bob", "wrong-password").await), ErrorCode::BadCredentials);
    assert_eq!(code(other.login("bob", "wrong-password").await), ErrorCode::RateLimited);
}

#[tokio::test]
async fn failures_are_forgotten_after_twice_the_longest_backoff() {
    let app = spawn_app_with(|s| s.login_backoff_max_ms = 400).await;
    let (client, _e) = app.client().await;
    for _ in 0..5 {
        assert_eq!(code(client.login("ann", "wrong-password").await), ErrorCode::BadCredentials);
    }
    assert_eq!(code(client.login("ann", "wrong-password").await), ErrorCode::RateLimited);
    tokio::time::sleep(Duration::from_millis(900)).await;
    // The count started over: four failures pass before the fifth blocks again.
    for _ in 0..5 {
        assert_eq!(code(client.login("ann", "wrong-password").await), ErrorCode::BadCredentials);
    }
    assert_eq!(code(client.login("ann", "wrong-password").await), ErrorCode::RateLimited);
}

#[tokio::test]
async fn backoff_is_capped() {
    let app = spawn_app_with(|s| s.login_backoff_max_ms = 1500).await;
    let (client, _e) = app.client().await;
    for _ in 0..5 {
        assert_eq!(code(client.login("ann", "wrong-password").await), ErrorCode::BadCredentials);
    }
    for _ in 0..3 {
        let wait = retry_after(client.login("ann", "wrong-password").await);
        tokio::time::sleep(Duration::from_millis(wait + 20)).await;
        let _ = client.login("ann", "wrong-password").await;
    }
    assert!(retry_after(client.login("ann", "x-password").await) <= 1500);
}

#[tokio::test]
async fn registrations_are_limited_per_ip_per_minute() {
    let app = spawn_app_with(|s| s.registrations_per_minute = 10).await;
    for i in 0..8 {
        app.user(&format!("user{i}")).await;
    }
    let (client, _e) = app.client().await;
    // Refused attempts count too, whatever refused them.
    assert_eq!(code(client.register("user0", "Dup", "password-1").await), ErrorCode::LoginTaken);
    assert_eq!(code(client.register("x", "Bad", "password-1").await), ErrorCode::InvalidArgument);
    // Over the limit, invalid arguments are still reported first.
    assert_eq!(code(client.register("x", "Bad", "password-1").await), ErrorCode::InvalidArgument);
    let wait = retry_after(client.register("late", "Late", "password-1").await);
    assert!(wait > 50_000 && wait <= 60_000, "{wait}");
}

#[tokio::test]
async fn failed_auth_backs_off_per_ip() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    let token = ann.token().unwrap();
    let (client, _e) = app.client().await;
    for _ in 0..5 {
        assert_eq!(code(client.auth(&"x".repeat(43)).await), ErrorCode::BadToken);
    }
    retry_after(client.auth(&token).await);
}

#[tokio::test]
async fn connection_caps_answer_too_many_connections() {
    let app = spawn_app_with(|s| {
        s.max_connections = 3;
        s.max_connections_per_ip = 2;
    })
    .await;
    let mut first = app.raw().await;
    let mut second = app.raw().await;
    let mut third = app.raw().await;
    match third.recv().await {
        Some(Incoming::ConnectionError(err)) => assert_eq!(err.code, ErrorCode::TooManyConnections),
        other => panic!("expected too_many_connections, got {other:?}"),
    }
    third.expect_closed().await;
    drop(third);
    assert!(matches!(first.call(1, &Request::Ping).await, Incoming::Ok { .. }));
    assert!(matches!(second.call(1, &Request::Ping).await, Incoming::Ok { .. }));
    drop(first);
    // The slot comes back once the broker sees the close.
    let mut again = None;
    for _ in 0..50 {
        let mut raw = app.raw().await;
        if let Incoming::Ok { .. } = raw.call(1, &Request::Ping).await {
            again = Some(raw);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "a closed connection frees its slot");
}

#[tokio::test]
async fn total_connection_cap() {
    let app = spawn_app_with(|s| {
        s.max_connections = 2;
        s.max_connections_per_ip = 100;
    })
    .await;
    let _a = app.raw().await;
    let _b = app.raw().await;
    let mut c = app.raw().await;
    match c.recv().await {
        Some(Incoming::ConnectionError(err)) => assert_eq!(err.code, ErrorCode::TooManyConnections),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn saturated_hashing_is_unavailable_at_once() {
    let app = spawn_app_with(|s| {
        s.hash_concurrency = Some(1);
        s.hash_queue = 0;
        s.scrypt_log_n = 16;
        s.scrypt_r = 8;
    })
    .await;
    let mut tasks = Vec::new();
    for i in 0..4 {
        let (client, events) = app.client().await;
        tasks.push(tokio::spawn(async move {
            let result = client.register(&format!("user{i}"), "U", "password-1").await;
            drop(events);
            result.map(drop).map_err(|e| e.code())
        }));
    }
    let mut unavailable = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => {}
            Err(code) => {
                assert_eq!(code, Some(ErrorCode::Unavailable));
                unavailable += 1;
            }
        }
    }
    assert!(unavailable >= 1, "with one hash at a time and no queue, concurrent registrations are refused");
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_ip_for_limits() {
    let app = spawn_app_with(|s| s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    let behind_proxy = |ip: &'static str| {
        let addr = app.addr;
        async move {
            let mut raw = RawConn::connect(addr).await;
            let hello = Request::Hello { version: 1, client: None, client_ip: Some(ip.into()) };
            assert!(matches!(raw.call(0, &hello).await, Incoming::Ok { .. }));
            raw
        }
    };
    let login = Request::Login { login: "ann".into(), password: "wrong-password".into() };
    let mut first = behind_proxy("203.0.113.7").await;
    for id in 1..=5 {
        assert_eq!(err_code(&first.call(id, &login).await), ErrorCode::BadCredentials);
    }
    assert_eq!(err_code(&first.call(6, &login).await), ErrorCode::RateLimited);
    let mut same_ip = behind_proxy("203.0.113.7").await;
    assert_eq!(err_code(&same_ip.call(1, &login).await), ErrorCode::RateLimited);
    let mut other_ip = behind_proxy("198.51.100.9").await;
    assert_eq!(err_code(&other_ip.call(1, &login).await), ErrorCode::BadCredentials, "another client is not limited");
    let mut bad = RawConn::connect(app.addr).await;
    let hello = Request::Hello { version: 1, client: None, client_ip: Some("not an ip".into()) };
    assert_eq!(err_code(&bad.call(0, &hello).await), ErrorCode::InvalidArgument);
}

#[tokio::test]
async fn client_ip_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app().await;
    let login = Request::Login { login: "ann".into(), password: "wrong-password".into() };
    for (n, ip) in ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5", "192.0.2.6"].iter().enumerate() {
        let mut raw = app.raw().await;
        let hello = Request::Hello { version: 1, client: None, client_ip: Some(ip.to_string()) };
        assert!(matches!(raw.call(0, &hello).await, Incoming::Ok { .. }));
        let expected = if n < 5 { ErrorCode::BadCredentials } else { ErrorCode::RateLimited };
        assert_eq!(err_code(&raw.call(1, &login).await), expected, "a spoofed client_ip does not dodge the limit");
    }
}

#[tokio::test]
async fn parallel_guesses_cannot_outrun_the_backoff() {
    // Slow hashes keep every guess in flight at once.
    let app = spawn_app_with(|s| {
        s.scrypt_log_n = 14;
        s.scrypt_r = 8;
        s.hash_queue = 64;
    })
    .await;
    app.user("ann").await;
    let bad_credentials = parallel_wrong_guesses(&[&app]).await;
    assert!(bad_credentials <= 5, "{bad_credentials} guesses were checked; at most 5 may be");
}

#[tokio::test]
async fn many_successful_logins_at_once_are_never_limited() {
    let app = spawn_app_with(|s| {
        s.scrypt_log_n = 14;
        s.scrypt_r = 8;
    })
    .await;
    for i in 0..8 {
        app.user(&format!("user{i}")).await;
    }
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (client, events) = app.client().await;
        tasks.push(tokio::spawn(async move {
            let login = format!("user{i}");
            let result = client.login(&login, &password(&login)).await;
            drop(events);
            result.map(drop)
        }));
    }
    for task in tasks {
        task.await.unwrap().expect("a right password is never rate limited while nothing failed");
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_connection_cap_is_per_client() {
    let app = spawn_app_with(|s| {
        s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        s.max_connections_per_ip = 2;
    })
    .await;
    let hello = |ip: &str| Request::Hello { version: 1, client: None, client_ip: Some(ip.into()) };
    // The proxy itself holds five connections: the cap of two is not the proxy's.
    let mut kept = Vec::new();
    for ip in ["203.0.113.7", "203.0.113.7", "198.51.100.9", "198.51.100.9", "192.0.2.1"] {
        let mut raw = app.raw().await;
        assert!(matches!(raw.call(0, &hello(ip)).await, Incoming::Ok { .. }), "{ip}");
        kept.push(raw);
    }
    // A third connection of one client is refused and closed.
    let mut third = app.raw().await;
    assert_eq!(err_code(&third.call(0, &hello("203.0.113.7")).await), ErrorCode::TooManyConnections);
    third.expect_closed().await;
    drop(third);
    // Its slot comes back when one of its connections closes.
    drop(kept.remove(0));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = app.raw().await;
    assert!(matches!(again.call(0, &hello("203.0.113.7")).await, Incoming::Ok { .. }));
    // Connections that name no client stay counted against the proxy's own address.
    let plain = Request::Hello { version: 1, client: None, client_ip: None };
    for _ in 0..2 {
        let mut raw = app.raw().await;
        assert!(matches!(raw.call(0, &plain).await, Incoming::Ok { .. }));
        kept.push(raw);
    }
    let mut over = app.raw().await;
    assert_eq!(err_code(&over.recv().await.expect("refused at accept")), ErrorCode::TooManyConnections);
}
