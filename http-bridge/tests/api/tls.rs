//! The bridge reaching a TLS-only broker with `--tls-ca`; without it, requests fail as the
//! broker being unreachable, and a bad CA file stops the bridge from starting.

use crate::helpers::*;
use joint_http_bridge::settings::Settings;
use joint_http_bridge::Bridge;
use joint_testkit::TestCert;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn the_bridge_reaches_a_tls_broker_with_the_ca_file() {
    let cert = TestCert::new();
    let (cert_file, key_file, ca) = (cert.cert.clone(), cert.key.clone(), cert.ca.clone());
    let s = stack_with(
        |broker| {
            broker.tls_cert = Some(cert_file);
            broker.tls_key = Some(key_file);
        },
        |bridge| bridge.tls_ca = Some(ca),
    )
    .await;
    let token = s.register("ann").await;
    let body = serde_json::json!({"body": "through the bridge over TLS"});
    let (status, json) = send(s.req(Method::POST, "/v1/groups/all/messages", Some(&token)).json(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{json}");

    // A bridge that speaks plaintext to the same broker cannot reach it.
    let plain = TestBridge::start(s.app.addr, |_| {}).await;
    let register = serde_json::json!({"login": "bob", "name": "Bob", "password": password("bob")});
    let (status, json) = send(http_from("127.0.0.1").post(format!("{}/v1/register", plain.url)).json(&register)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{json}");
}

#[tokio::test]
async fn a_bad_ca_file_stops_the_bridge_from_starting() {
    let mut settings = Settings::for_tests("127.0.0.1:1");
    settings.tls_ca = Some("/nonexistent/ca.pem".into());
    let err = Bridge::build(settings).await.err().expect("the bridge refuses to start");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}
