//! Live streams (SSE): delivery, resume without gap or duplicate across bridge and broker
//! restarts, one subscription per stream, end events and keep-alives.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn messages_arrive_live_with_gid_seq_ids_and_after_replays_history() {
    let s = stack().await;
    let ann = s.register("ann").await;
    let gid = s.group(&ann, "tea", &[]).await;
    s.publish(&ann, "tea", "before").await;
    let mut live = s.stream(&ann, "tea", None).await;
    s.publish(&ann, "tea", "after").await;
    let m = live.message().await;
    assert_eq!(
        (&m["seq"], &m["body"], &m["gid"], &m["from"]),
        (&json!(2), &json!("after"), &json!(gid), &json!("ann"))
    );

    let resp = s.req(Method::GET, "/v1/groups/tea/stream?after=0", Some(&ann)).send().await.unwrap();
    let mut replay = crate::helpers::Sse::from_response(resp);
    assert_eq!(replay.message().await["body"], "before");
    assert_eq!(replay.message().await["body"], "after");
    s.publish(&ann, "tea", "third").await;
    assert_eq!(replay.message().await["seq"], 3);
    assert_eq!(live.message().await["seq"], 3);
}

#[tokio::test]
async fn two_streams_of_one_token_both_receive_everything() {
    let s = stack().await;
    let ann = s.register("ann").await;
    s.group(&ann, "tea", &[]).await;
    let mut one = s.stream(&ann, "tea", None).await;
    let mut two = s.stream(&ann, "tea", None).await;
    for i in 1..=3 {
        s.publish(&ann, "tea", &format!("m{i}")).await;
    }
    for stream in [&mut one, &mut two] {
        for i in 1..=3 {
            assert_eq!(stream.message().await["body"], format!("m{i}"));
        }
    }
}

#[tokio::test]
async fn last_event_id_resumes_across_a_bridge_restart_without_gap_or_duplicate() {
    let mut s = stack().await;
    let ann = s.register("ann").await;
    s.group(&ann, "tea", &[]).await;
    let mut stream = s.stream(&ann, "tea", None).await;
    for i in 1..=3 {
        s.publish(&ann, "tea", &format!("m{i}")).await;
    }
    let mut last_id = String::new();
    for i in 1..=3 {
        let event = stream.next().await.unwrap();
        assert_eq!(event.json()["body"], format!("m{i}"));
        last_id = event.id;
    }
    s.bridge.stop().await;
    assert_eq!(stream.next().await, None, "the stream ends when the bridge stops");

    // Messages sent while no bridge runs, straight to the broker.
    let (direct, _events) = s.app.login("ann").await;
    for i in 4..=5 {
        direct.publish("tea", &format!("m{i}")).await.unwrap();
    }
    s.bridge = TestBridge::start(s.app.addr, |_| {}).await;
    let mut resumed = s.stream(&ann, "tea", Some(&last_id)).await;
    s.publish(&ann, "tea", "m6").await;
    for i in 4..=6 {
        let m = resumed.message().await;
        assert_eq!((&m["seq"], &m["body"]), (&json!(i), &json!(format!("m{i}"))));
    }
    resumed.assert_quiet(300).await;
}

#[tokio::test]
async fn a_stream_survives_a_broker_restart_without_gap_or_duplicate() {
    // The bridge reaches the broker through a proxy, so the test decides when the stream's
    // wire client may reconnect.
    let (s, proxy) = proxied_stack(|_| {}).await;
    let ann = s.register("ann").await;
    s.group(&ann, "tea", &[]).await;
    let mut stream = s.stream(&ann, "tea", None).await;
    s.publish(&ann, "tea", "m1").await;
    assert_eq!(stream.message().await["seq"], 1);

    let Stack { mut app, bridge } = s;
    let mut settings = app.settings.clone();
    settings.listen = app.addr.to_string();
    let db = app.db.clone();
    proxy.block(true);
    app.stop().await;
    proxy.wait_open(0).await;
    let app = spawn_on(db, settings).await;
    // Published straight to the restarted broker while the stream is disconnected.
    let (direct, _events) = app.login("ann").await;
    for i in 2..=4 {
        direct.publish("tea", &format!("m{i}")).await.unwrap();
    }
    let s = Stack { app, bridge };
    proxy.block(false);
    // The stream's wire client reconnects by itself and resumes after seq 1.
    for i in 2..=4 {
        let m = stream.message().await;
        assert_eq!((&m["seq"], &m["body"]), (&json!(i), &json!(format!("m{i}"))));
    }
    // Live again: a message through the bridge (its shared connection reconnects too, with
    // backoff) arrives once.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let path = "/v1/groups/tea/messages";
        let (status, json) =
            send(s.req(Method::POST, path, Some(&ann)).json(&json!({"body": "m5", "cid": "c5"}))).await;
        if status.is_success() {
            assert_eq!(json["seq"], 5);
            break;
        }
        assert_eq!(json["code"], "unavailable", "{json}");
        assert!(tokio::time::Instant::now() < deadline, "the bridge never reached the restarted broker");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let m = stream.message().await;
    assert_eq!((&m["seq"], &m["body"]), (&json!(5), &json!("m5")));
    stream.assert_quiet(300).await;
}

#[tokio::test]
async fn a_re_created_group_is_not_resumed() {
    let s = stack().await;
    let ann = s.register("ann").await;
    let gid = s.group(&ann, "tea", &[]).await;
    s.publish(&ann, "tea", "old").await;
    let (status, _) = send(s.req(Method::DELETE, "/v1/groups/tea", Some(&ann))).await;
    assert!(status.is_success());
    s.group(&ann, "tea", &[]).await;
    let req = s.req(Method::GET, "/v1/groups/tea/stream", Some(&ann)).header("Last-Event-ID", format!("{gid}:1"));
    expect_error(req, 404, "no_such_group").await;
    let req = s.req(Method::GET, "/v1/groups/tea/stream", Some(&ann)).header("Last-Event-ID", "garbage");
    expect_error(req, 400, "invalid_argument").await;
}

#[tokio::test]
async fn a_stream_ends_cleanly_when_the_group_is_deleted_or_the_member_removed() {
    let s = stack().await;
    let ann = s.register("ann").await;
    let bob = s.register("bob").await;
    s.group(&ann, "tea", &["bob"]).await;
    let mut anns = s.stream(&ann, "tea", None).await;
    let mut bobs = s.stream(&bob, "tea", None).await;
    let (status, _) = send(s.req(Method::DELETE, "/v1/groups/tea/members/bob", Some(&ann))).await;
    assert!(status.is_success());
    let end = bobs.next().await.unwrap();
    assert_eq!((end.event.as_str(), end.json()), ("end", json!({"reason": "removed"})));
    assert_eq!(bobs.next().await, None);

    let (status, _) = send(s.req(Method::DELETE, "/v1/groups/tea", Some(&ann))).await;
    assert!(status.is_success());
    let end = anns.next().await.unwrap();
    assert_eq!((end.event.as_str(), end.json()), ("end", json!({"reason": "deleted"})));
    assert_eq!(anns.next().await, None);
}

#[tokio::test]
async fn idle_streams_get_keep_alive_comments() {
    let s = stack_with(|_| {}, |h| h.keep_alive_ms = 100).await;
    let ann = s.register("ann").await;
    let mut stream = s.stream(&ann, "all", None).await;
    stream.assert_quiet(500).await;
    assert!(stream.comments >= 2, "{} comments", stream.comments);
}
