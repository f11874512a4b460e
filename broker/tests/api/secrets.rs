//! Secrets hygiene: the real binary at RUST_LOG=trace, over TLS, through register, login
//! (right and wrong), auth (good and bogus tokens), passwd, publish and history. Neither a
//! password, a token, a token's hash, a password hash nor a message body reaches the log,
//! an error message sent to a client, or `joint-broker status`.

use crate::helpers::*;
use joint_wire::{Client, ClientError};
use std::time::Duration;

/// Every way a 32-byte hash could be printed: hex, and Rust's `Debug` of the bytes.
fn spellings(bytes: &[u8]) -> Vec<String> {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    vec![hex.clone(), hex.to_uppercase(), format!("{bytes:?}")]
}

#[tokio::test]
async fn no_secret_reaches_the_log_error_messages_or_status() {
    let db = TestDb::create().await;
    let cert = TestCert::new();
    let tls = cert.broker_flags();
    let (mut child, addr, log) = start_binary_with(&db.url, "trace", &["--listen", "127.0.0.1:0"], &tls);
    let config = cert.client_config(&addr.to_string());
    let first = "first-secret-Pa55word";
    let second = "second-secret-Pa55word";
    let wrong = "wrong-secret-guess-Pa55";
    let body = "recognisable-secret-body-7f3a";
    let bogus_token = "bogus-token-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    let (ann, _ann_events) = Client::connect(config.clone()).await.unwrap();
    let token = ann.register("ann", "Ann", first).await.unwrap().token.unwrap();
    let (other, _e) = Client::connect(config.clone()).await.unwrap();
    other.auth(&token).await.unwrap();
    let (third, _e) = Client::connect(config.clone()).await.unwrap();
    let mut errors: Vec<ClientError> = Vec::new();
    errors.push(third.login("ann", wrong).await.unwrap_err());
    errors.push(third.auth(bogus_token).await.unwrap_err());
    let login_token = third.login("ann", first).await.unwrap().token.unwrap();
    errors.push(ann.passwd(wrong, second).await.unwrap_err());
    ann.passwd(first, second).await.unwrap();
    errors.push(third.auth(&login_token).await.unwrap_err());
    ann.publish("all", body).await.unwrap();
    errors.push(ann.publish("no-such-group", body).await.unwrap_err());
    let page = other.history("all", None, None, None, None).await.unwrap();
    assert_eq!(page.messages[0].body, body, "the body went through");

    let status = broker_command().args(["status", "--database-url", &db.url]).output().unwrap();
    assert!(status.status.success());
    let status = format!("{}{}", String::from_utf8_lossy(&status.stdout), String::from_utf8_lossy(&status.stderr));
    assert!(status.contains("messages: 1"), "{status}");

    terminate(&child);
    let exit = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(exit.success());
    tokio::time::sleep(Duration::from_millis(100)).await;

    let sql = db.sql().await;
    let mut secrets: Vec<String> =
        [first, second, wrong, body, bogus_token, &token, &login_token].iter().map(|s| s.to_string()).collect();
    for row in sql.query("SELECT password FROM users", &[]).await.unwrap() {
        let hash: String = row.get(0);
        secrets.push(hash.rsplit('$').next().unwrap().to_owned());
        secrets.push(hash);
    }
    for row in sql.query("SELECT token_hash FROM sessions", &[]).await.unwrap() {
        let hash: Vec<u8> = row.get(0);
        secrets.extend(spellings(&hash));
    }
    let log = log.lock().unwrap().clone();
    assert!(log.contains("TRACE"), "the log ran at TRACE");
    assert!(log.len() > 10_000, "the log has something to search: {} bytes", log.len());
    let errors: Vec<String> = errors.iter().map(|e| format!("{e} {e:?}")).collect();
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "a secret reached the log: {secret}");
        assert!(!status.contains(secret.as_str()), "a secret reached status: {secret}");
        for error in &errors {
            assert!(!error.contains(secret.as_str()), "a secret reached an error message: {error}");
        }
    }
}
