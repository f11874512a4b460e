//! The client library against a scripted peer on 127.0.0.1, for what a real broker does
//! not do on demand: fall silent, or answer with an error code this version does not know.

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use joint_wire::codec::{encode_value, FrameCodec, Payload};
use joint_wire::message::{encode_ok, Envelope, HelloOk};
use joint_wire::{Client, ClientConfig, ClientError, ClientEvent};
use rmpv::Value;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::codec::Framed;

type Peer = Framed<tokio::net::TcpStream, FrameCodec>;

/// Accepts one connection and answers its `hello` with the given ping interval.
async fn scripted_peer(ping_interval_ms: u64) -> (String, tokio::task::JoinHandle<Peer>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut peer = Framed::new(stream, FrameCodec::new(1 << 20));
        let id = next_request_id(&mut peer).await;
        let hello = HelloOk {
            version: 1,
            server: "scripted".into(),
            max_frame: 4096,
            max_body: 1024,
            history_max: 1000,
            ping_interval_ms,
            idle_timeout_ms: 120_000,
        };
        peer.send(Bytes::from(encode_ok(id, &hello))).await.unwrap();
        peer
    });
    (addr, task)
}

async fn next_request_id(peer: &mut Peer) -> u64 {
    let frame = peer.next().await.expect("a request").unwrap();
    Envelope::read(Payload::parse(&frame).unwrap()).unwrap().id
}

async fn connect(addr: String) -> (Client, joint_wire::Events) {
    let mut config = ClientConfig::new(vec![addr]);
    config.reconnect = false;
    Client::connect(config).await.unwrap()
}

/// A peer that stops answering, without closing, is taken for dead after a few pings.
#[tokio::test]
async fn a_silent_peer_is_noticed() {
    let (addr, peer) = scripted_peer(200).await;
    let (client, mut events) = connect(addr).await;
    let _peer = peer.await.unwrap(); // kept open, never read again
    let event = tokio::time::timeout(Duration::from_secs(5), events.next()).await.expect("noticed in time");
    assert_eq!(event, Some(ClientEvent::Disconnected));
    assert!(matches!(client.ping().await, Err(ClientError::Closed | ClientError::Disconnected)));
}

/// A reply with an error code this version does not know still answers its request.
#[tokio::test]
async fn an_unknown_error_code_answers_the_request() {
    let (addr, peer) = scripted_peer(30_000).await;
    let (client, _events) = connect(addr).await;
    let mut peer = peer.await.unwrap();
    let asking = tokio::spawn(async move { client.me().await });
    let id = next_request_id(&mut peer).await;
    let reply = Value::Map(vec![
        ("re".into(), Value::from(id)),
        (
            "err".into(),
            Value::Map(vec![("code".into(), "a_code_from_the_future".into()), ("msg".into(), "too many".into())]),
        ),
    ]);
    peer.send(Bytes::from(encode_value(&reply))).await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(5), asking).await.expect("no hang").unwrap();
    assert!(matches!(result, Err(ClientError::Protocol(_))), "{result:?}");
}

/// A request larger than the broker's limit fails alone; the connection goes on.
#[tokio::test]
async fn an_oversized_request_fails_alone() {
    let (addr, peer) = scripted_peer(30_000).await;
    let (client, mut events) = connect(addr).await;
    let mut peer = peer.await.unwrap();
    let result = client.set_name(&"x".repeat(5000)).await;
    assert!(matches!(result, Err(ClientError::RequestTooLarge { max: 4096 })), "{result:?}");
    let pinging = tokio::spawn(async move { client.ping().await });
    let id = next_request_id(&mut peer).await;
    peer.send(Bytes::from(encode_ok(id, &joint_wire::message::Empty {}))).await.unwrap();
    pinging.await.unwrap().expect("the connection is still up");
    assert!(events.try_next().is_none());
}
