//! Nothing acknowledged is lost and nothing retried is doubled, whatever happens to the
//! broker process: SIGKILL right after acks, then retries with the same cids.

use crate::helpers::*;
use joint_wire::{Client, ClientConfig};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn signed_in(addr: std::net::SocketAddr, login: &str, register: bool) -> Client {
    let mut config = ClientConfig::new(vec![addr.to_string()]);
    config.reconnect = false;
    let (client, events) = Client::connect(config).await.unwrap();
    std::mem::forget(events); // events are not read here; keep the channel open
    if register {
        client.register(login, login, &password(login)).await.unwrap();
    } else {
        client.login(login, &password(login)).await.unwrap();
    }
    client
}

#[tokio::test]
async fn sigkill_after_acks_then_retries_store_every_message_exactly_once() {
    let db = TestDb::create().await;
    let (mut broker, addr, _log) = start_binary(&db.url, "info");
    let admin = signed_in(addr, "ann", true).await;
    let logins: Vec<String> = (0..4).map(|i| format!("pub{i}")).collect();
    for login in &logins {
        signed_in(addr, login, true).await;
    }
    admin.group_create("Kept", &logins).await.unwrap();

    // Four publishers publish 150 messages each; the broker is killed while they run.
    let acked: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let mut publishers = Vec::new();
    for login in logins.clone() {
        let client = signed_in(addr, &login, false).await;
        let acked = acked.clone();
        publishers.push(tokio::spawn(async move {
            for n in 0..150 {
                let cid = format!("{login}-{n}");
                match client.publish_with_cid("Kept", &cid, &cid).await {
                    Ok(ack) => {
                        acked.lock().unwrap().insert(cid, ack.seq);
                    }
                    Err(_) => return, // the broker is gone: the outcome of this one is unknown
                }
            }
        }));
    }
    while acked.lock().unwrap().len() < 100 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    broker.kill().unwrap(); // SIGKILL
    broker.wait().unwrap();
    for publisher in publishers {
        publisher.await.unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(acked.len() >= 100);

    // A new broker on the same database; every publisher retries everything with its cids.
    let (mut broker, addr, _log) = start_binary(&db.url, "info");
    let mut retried = HashMap::new();
    for login in &logins {
        let client = signed_in(addr, login, false).await;
        for n in 0..150 {
            let cid = format!("{login}-{n}");
            let ack = client.publish_with_cid("Kept", &cid, &cid).await.unwrap();
            retried.insert(cid, ack.seq);
        }
    }
    for (cid, seq) in &acked {
        assert_eq!(retried.get(cid), Some(seq), "acknowledged {cid} kept its seq");
    }
    let reader = signed_in(addr, "ann", false).await;
    let mut bodies = Vec::new();
    let mut after = 0;
    loop {
        let page = reader.history("Kept", None, None, Some(after), Some(1000)).await.unwrap();
        for m in &page.messages {
            assert_eq!(m.seq, after + 1, "no gap");
            after = m.seq;
            bodies.push(m.body.clone());
        }
        if !page.more {
            break;
        }
    }
    assert_eq!(bodies.len(), 600, "every message once");
    let distinct: std::collections::HashSet<&String> = bodies.iter().collect();
    assert_eq!(distinct.len(), 600, "no message twice");
    terminate(&broker);
    broker.wait().unwrap();
}
