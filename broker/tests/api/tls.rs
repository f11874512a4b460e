//! TLS on the listener, with a CA and certificate made at test time: a whole session over
//! TLS, and each wrong pairing of client and port failing with a message that says why.

use crate::helpers::*;
use joint_wire::message::Event;
use joint_wire::{Client, ClientConfig, ClientError, ErrorCode, TlsConfig};

async fn tls_app(cert: &TestCert) -> TestApp {
    spawn_app_with(|s| {
        s.tls_cert = Some(cert.cert.clone());
        s.tls_key = Some(cert.key.clone());
    })
    .await
}

#[tokio::test]
async fn a_whole_session_runs_over_tls() {
    let cert = TestCert::new();
    let app = tls_app(&cert).await;
    // By IP address (an IP SAN) and by host name (a DNS SAN).
    let by_ip = cert.client_config(&app.addr.to_string());
    let by_name = cert.client_config(&format!("localhost:{}", app.addr.port()));

    let (ann, _ann_events) = Client::connect(by_ip).await.expect("TLS by IP address");
    ann.register("ann", "Ann", &password("ann")).await.unwrap();
    let (bob, mut bob_events) = Client::connect(by_name).await.expect("TLS by host name");
    bob.register("bob", "Bob", &password("bob")).await.unwrap();
    let team = ann.group_create("Team", &["bob".to_string()]).await.unwrap();
    bob.subscribe("Team", Some(team.gid), Some(0)).await.unwrap();
    let ack = ann.publish("Team", "over TLS").await.unwrap();
    assert_eq!(ack.seq, 1);
    let message = loop {
        match next_event(&mut bob_events).await {
            Event::Message(message) => break message,
            _ => continue,
        }
    };
    assert_eq!((message.body.as_str(), message.seq, message.from.as_str()), ("over TLS", 1, "ann"));
    let page = bob.history("Team", None, None, None, None).await.unwrap();
    assert_eq!(page.messages.len(), 1);
}

#[tokio::test]
async fn a_plaintext_client_on_the_tls_port_is_told_to_use_tls_and_the_broker_goes_on() {
    let cert = TestCert::new();
    let app = tls_app(&cert).await;
    let mut plain = ClientConfig::new(vec![app.addr.to_string()]);
    plain.reconnect = false;
    let err = Client::connect(plain).await.err().expect("plaintext is refused");
    match &err {
        ClientError::Connect(detail) => assert!(detail.contains("speaks TLS only"), "{detail}"),
        other => panic!("expected the broker's explanation, got {other:?}"),
    }
    // Raw bytes that are not a TLS record get the same plaintext frame, then the close.
    let mut raw = app.raw().await;
    raw.send_bytes(b"\0\0\0\x05hello").await;
    let incoming = raw.recv().await.expect("an error frame in plaintext");
    assert_eq!(err_code(&incoming), ErrorCode::BadFrame);
    raw.expect_closed().await;

    let (client, _events) = Client::connect(cert.client_config(&app.addr.to_string())).await.expect("TLS still works");
    client.ping().await.unwrap();
}

#[tokio::test]
async fn a_tls_client_on_a_plaintext_port_fails_saying_so() {
    let app = spawn_app().await;
    let cert = TestCert::new();
    let err = Client::connect(cert.client_config(&app.addr.to_string())).await.err().expect("no TLS there");
    match &err {
        ClientError::Connect(detail) => {
            assert!(detail.contains("TLS handshake failed") && detail.contains("plaintext"), "{detail}")
        }
        other => panic!("expected a connection failure, got {other:?}"),
    }
    let (client, _events) = app.client().await;
    client.ping().await.expect("the broker goes on");
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_not_trusted() {
    let cert = TestCert::new();
    let app = tls_app(&cert).await;
    let stranger = TestCert::new();
    let mut config = ClientConfig::new(vec![app.addr.to_string()]);
    config.reconnect = false;
    config.tls = Some(TlsConfig::from_ca_file(&stranger.ca).unwrap());
    let err = Client::connect(config).await.err().expect("an untrusted certificate");
    assert!(err.to_string().contains("not trusted"), "{err}");
}

#[tokio::test]
async fn the_binary_refuses_plaintext_on_a_network_address() {
    let db = TestDb::create().await;
    let output = broker_command()
        .args(["--listen", "0.0.0.0:0", "--database-url", &db.url])
        .output()
        .expect("the broker binary runs");
    assert!(!output.status.success(), "it must not serve");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refusing to listen on 0.0.0.0:"), "{stderr}");
    assert!(stderr.contains("--insecure-plaintext"), "it says how to insist: {stderr}");
}

#[tokio::test]
async fn the_binary_serves_tls_on_a_network_address() {
    let db = TestDb::create().await;
    let cert = TestCert::new();
    let tls = cert.broker_flags();
    let (_child, addr, _log) = start_binary_with(&db.url, "info", &["--listen", "0.0.0.0:0"], &tls);
    let (client, _events) =
        Client::connect(cert.client_config(&format!("127.0.0.1:{}", addr.port()))).await.expect("TLS on 0.0.0.0");
    client.register("ann", "Ann", &password("ann")).await.unwrap();
}

#[tokio::test]
async fn a_tls_client_over_the_connection_cap_hears_too_many_connections_over_tls() {
    let cert = TestCert::new();
    let app = spawn_app_with(|s| {
        s.tls_cert = Some(cert.cert.clone());
        s.tls_key = Some(cert.key.clone());
        s.max_connections_per_ip = 1;
    })
    .await;
    let (first, _events) = Client::connect(cert.client_config(&app.addr.to_string())).await.unwrap();
    let err = Client::connect(cert.client_config(&app.addr.to_string())).await.err().expect("over the cap");
    assert_eq!(err.code(), Some(ErrorCode::TooManyConnections), "{err}");
    first.ping().await.expect("the first connection goes on");
}

#[tokio::test]
async fn a_subscriber_that_pauses_over_tls_still_gets_every_message() {
    let cert = TestCert::new();
    let app = tls_app(&cert).await;
    let (ann, _e) = Client::connect(cert.client_config(&app.addr.to_string())).await.unwrap();
    ann.register("ann", "Ann", &password("ann")).await.unwrap();
    let mut config = cert.client_config(&app.addr.to_string());
    config.event_capacity = Some(16);
    let (bob, mut bob_events) = Client::connect(config).await.unwrap();
    bob.register("bob", "Bob", &password("bob")).await.unwrap();
    bob.subscribe("all", None, Some(0)).await.unwrap();
    let body = "x".repeat(2000);
    let total = 300;
    for _ in 0..total {
        ann.publish("all", &body).await.unwrap();
    }
    // Bob has not read: the broker's writes to him stopped on a full socket (the TLS
    // stream's halves share one lock, and its buffers sit between). Now he reads them all.
    let mut last = 0;
    while last < total {
        match tokio::time::timeout(WAIT, bob_events.next()).await.expect("every message arrives") {
            Some(joint_wire::ClientEvent::Event(Event::Message(m))) => last = m.seq,
            Some(_) => {}
            None => panic!("the client closed"),
        }
    }
}
