//! The Prometheus endpoint (`--metrics-listen`): what the broker did, counted.

use crate::helpers::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// GETs `path` from the metrics endpoint over plain HTTP/1.1; returns status line and body.
async fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

/// The value of one sample line, e.g. `joint_publishes_total`.
fn sample(body: &str, name: &str) -> f64 {
    body.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{name} missing from:\n{body}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn the_metrics_count_connections_publishes_batches_and_deliveries() {
    let app = spawn_app_with(|s| s.metrics_listen = Some("127.0.0.1:0".into())).await;
    let addr = app.metrics.expect("metrics asked for");
    let (ann, _e) = app.user("ann").await;
    ann.group_create("Team", &[]).await.unwrap();
    let (reader, mut events) = app.login("ann").await;
    reader.subscribe("Team", None, None).await.unwrap();
    for n in 0..5 {
        ann.publish("Team", &format!("m{n}")).await.unwrap();
    }
    for _ in 0..5 {
        assert!(matches!(next_event(&mut events).await, joint_wire::message::Event::Message(_)));
    }
    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(sample(&body, "joint_connections"), 2.0);
    assert_eq!(sample(&body, "joint_publishes_total"), 5.0);
    let batches = sample(&body, "joint_commit_batches_total");
    assert!((1.0..=5.0).contains(&batches), "{batches}");
    assert_eq!(sample(&body, "joint_commit_batch_size_sum"), 5.0, "five messages in all batches");
    assert_eq!(sample(&body, "joint_commit_batch_size_count"), batches);
    assert_eq!(sample(&body, "joint_commit_seconds_count"), batches);
    assert_eq!(sample(&body, "joint_deliveries_total"), 5.0);
    assert_eq!(sample(&body, "joint_lagged_total"), 0.0);
    let (status, _) = get(addr, "/elsewhere").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
}
