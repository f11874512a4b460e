//! Starting a broker and a bridge, and speaking HTTP and SSE to it.

use futures::StreamExt;
use joint_http_bridge::settings::Settings;
use joint_http_bridge::Bridge;
pub use joint_testkit::{password, spawn_app_with, spawn_on, TestApp, WAIT};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A running bridge.
pub struct TestBridge {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestBridge {
    /// Starts a bridge with test settings edited by `edit`, reaching `broker`.
    pub async fn start(broker: SocketAddr, edit: impl FnOnce(&mut Settings)) -> TestBridge {
        let mut settings = Settings::for_tests(&broker.to_string());
        edit(&mut settings);
        let bridge = Bridge::build(settings).await.expect("bridge starts");
        let addr = bridge.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(bridge.run(shutdown.clone()));
        TestBridge { url: format!("http://{addr}"), shutdown, task: Some(task) }
    }

    /// Stops the bridge and waits for it (live streams end).
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(WAIT, task).await.expect("bridge stops").unwrap();
        }
    }
}

impl Drop for TestBridge {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A broker that trusts 127.0.0.1 as a proxy, and a bridge in front of it.
pub struct Stack {
    /// The broker.
    pub app: TestApp,
    /// The bridge.
    pub bridge: TestBridge,
}

/// A broker (settings edited by `broker`) and a bridge (by `bridge`).
pub async fn stack_with(
    broker: impl FnOnce(&mut joint_broker::settings::Settings),
    bridge: impl FnOnce(&mut Settings),
) -> Stack {
    let app = spawn_app_with(|s| {
        s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        broker(s);
    })
    .await;
    let bridge = TestBridge::start(app.addr, bridge).await;
    Stack { app, bridge }
}

/// A broker and a bridge with test settings.
pub async fn stack() -> Stack {
    stack_with(|_| {}, |_| {}).await
}

/// A TCP proxy in front of a broker that counts the connections made through it and can
/// refuse new ones: it shows how many broker connections the bridge opens and holds.
#[derive(Clone)]
pub struct Proxy {
    /// Where the bridge connects.
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    blocked: Arc<AtomicBool>,
}

impl Proxy {
    /// Starts a proxy to `broker` on an ephemeral port of 127.0.0.1.
    pub async fn start(broker: SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Proxy {
            addr: listener.local_addr().unwrap(),
            accepted: Arc::default(),
            open: Arc::default(),
            blocked: Arc::default(),
        };
        let counts = proxy.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if counts.blocked.load(Ordering::SeqCst) {
                    continue;
                }
                counts.accepted.fetch_add(1, Ordering::SeqCst);
                counts.open.fetch_add(1, Ordering::SeqCst);
                let open = counts.open.clone();
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(broker).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        proxy
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Waits until exactly `n` connections are open; fails after [`WAIT`].
    pub async fn wait_open(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.open.load(Ordering::SeqCst) != n {
            let open = self.open.load(Ordering::SeqCst);
            assert!(tokio::time::Instant::now() < deadline, "{open} connections open, expected {n}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// While blocked, new connections are closed at once and not counted.
    pub fn block(&self, blocked: bool) {
        self.blocked.store(blocked, Ordering::SeqCst);
    }
}

/// A broker, a [`Proxy`] to it and a bridge (settings edited by `bridge`) reaching the
/// broker only through the proxy.
pub async fn proxied_stack(bridge: impl FnOnce(&mut Settings)) -> (Stack, Proxy) {
    let app = spawn_app_with(|s| s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    let proxy = Proxy::start(app.addr).await;
    let bridge = TestBridge::start(proxy.addr, bridge).await;
    (Stack { app, bridge }, proxy)
}

/// An HTTP client talking from `ip` (any 127.0.0.0/8 address reaches the bridge).
pub fn http_from(ip: &str) -> reqwest::Client {
    let ip: IpAddr = ip.parse().unwrap();
    reqwest::Client::builder().local_address(ip).build().unwrap()
}

impl Stack {
    /// A request to the bridge, signed with `token` when given.
    pub fn req(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        self.req_from("127.0.0.1", method, path, token)
    }

    /// A request to the bridge from the client address `ip`, signed with `token` when given.
    pub fn req_from(&self, ip: &str, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = http_from(ip).request(method, format!("{}{path}", self.bridge.url));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// Registers `login` through the bridge and returns its token.
    pub async fn register(&self, login: &str) -> String {
        let body = serde_json::json!({"login": login, "name": login.to_uppercase(), "password": password(login)});
        let (status, json) = send(self.req(Method::POST, "/v1/register", None).json(&body)).await;
        assert_eq!(status, StatusCode::CREATED, "{json}");
        json["token"].as_str().unwrap().to_owned()
    }

    /// Creates `group` as `token`'s user with `members`.
    pub async fn group(&self, token: &str, group: &str, members: &[&str]) -> u64 {
        let body = serde_json::json!({"name": group, "members": members});
        let (status, json) = send(self.req(Method::POST, "/v1/groups", Some(token)).json(&body)).await;
        assert_eq!(status, StatusCode::CREATED, "{json}");
        json["gid"].as_u64().unwrap()
    }

    /// Publishes `body` to `group` as text and returns its seq.
    pub async fn publish(&self, token: &str, group: &str, body: &str) -> u64 {
        let path = format!("/v1/groups/{group}/messages");
        let (status, json) = send(self.req(Method::POST, &path, Some(token)).body(body.to_owned())).await;
        assert_eq!(status, StatusCode::CREATED, "{json}");
        json["seq"].as_u64().unwrap()
    }

    /// Opens the SSE stream of `group`, asserting a 200 `text/event-stream`.
    pub async fn stream(&self, token: &str, group: &str, last_event_id: Option<&str>) -> Sse {
        let mut req = self.req(Method::GET, &format!("/v1/groups/{group}/stream"), Some(token));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let response = tokio::time::timeout(WAIT, req.send()).await.expect("stream answers").unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Sse::from_response(response)
    }
}

/// Sends a request; returns the status and the JSON body (`Null` when empty).
pub async fn send(req: RequestBuilder) -> (StatusCode, Value) {
    let response = tokio::time::timeout(WAIT, req.send()).await.expect("answer in time").unwrap();
    json_of(response).await
}

/// The status and JSON body of a response; any non-empty body must be JSON.
pub async fn json_of(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let json = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("a JSON body") };
    (status, json)
}

/// Asserts an error response: its status and its JSON `code`.
pub async fn expect_error(req: RequestBuilder, status: u16, code: &str) -> Value {
    let (got, json) = send(req).await;
    assert_eq!((got.as_u16(), json["code"].as_str()), (status, Some(code)), "{json}");
    assert!(json["msg"].as_str().is_some_and(|m| !m.is_empty()), "{json}");
    json
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// `event:`.
    pub event: String,
    /// `id:`.
    pub id: String,
    /// `data:` lines joined.
    pub data: String,
}

impl SseEvent {
    /// The data as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).expect("JSON data")
    }
}

/// A parser of an SSE response body.
pub struct Sse {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
    /// Keep-alive comments seen so far.
    pub comments: usize,
}

impl Sse {
    /// Reads the body of `response` as events.
    pub fn from_response(response: Response) -> Sse {
        Sse { body: response.bytes_stream().boxed(), buffer: String::new(), comments: 0 }
    }

    /// The next event (comments skipped) or `None` when the stream ended; fails after [`WAIT`].
    pub async fn next(&mut self) -> Option<SseEvent> {
        tokio::time::timeout(WAIT, self.next_inner()).await.expect("an SSE event in time")
    }

    async fn next_inner(&mut self) -> Option<SseEvent> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent::default();
                let mut fields = 0;
                for line in block.lines().filter(|line| !line.is_empty()) {
                    if line.starts_with(':') {
                        self.comments += 1;
                        continue;
                    }
                    let (name, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    fields += 1;
                    match name {
                        "event" => event.event = value.into(),
                        "id" => event.id = value.into(),
                        "data" if event.data.is_empty() => event.data = value.into(),
                        "data" => event.data = format!("{}\n{value}", event.data),
                        _ => {}
                    }
                }
                if fields > 0 {
                    return Some(event);
                }
            }
            let chunk = self.body.next().await?.ok()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8 events"));
        }
    }

    /// The next event, which must be a `message`: returns its JSON.
    pub async fn message(&mut self) -> Value {
        let event = self.next().await.expect("the stream goes on");
        assert_eq!(event.event, "message", "{event:?}");
        let json = event.json();
        assert_eq!(event.id, format!("{}:{}", json["gid"], json["seq"]));
        json
    }

    /// Asserts nothing but comments arrives for `ms` milliseconds.
    pub async fn assert_quiet(&mut self, ms: u64) {
        let waited = tokio::time::timeout(std::time::Duration::from_millis(ms), self.next_inner()).await;
        assert!(waited.is_err(), "unexpected {waited:?}");
    }
}
