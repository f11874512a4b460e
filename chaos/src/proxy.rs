//! A TCP proxy the run controls: it forwards, blackholes (stops forwarding while keeping
//! every connection open), refuses (cuts every connection and closes new ones at once) or
//! cuts each connection after a random number of bytes, mid-frame.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward both ways.
    Forward,
    /// Keep connections open but move no byte; new connections are accepted and held.
    Blackhole,
    /// Close new connections at once (existing ones are cut when this mode is set).
    Refuse,
}

/// One proxied connection's controls.
struct Link {
    /// Bytes each direction may still forward before the connection is cut; -1: no limit.
    budget: [AtomicI64; 2],
    cut: CancellationToken,
}

struct Shared {
    target: SocketAddr,
    small_buffers: bool,
    mode: watch::Sender<Mode>,
    links: Mutex<HashMap<u64, Arc<Link>>>,
    next: AtomicU64,
    stop: CancellationToken,
}

impl Shared {
    fn links(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Link>>> {
        self.links.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Socket buffer size, each way, of a proxy with small buffers.
const SMALL_BUFFER: u32 = 4096;

/// A running proxy from its own port on 127.0.0.1 to `target`; stops when dropped.
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Starts forwarding from a free port to `target`. With `small_buffers` its sockets
    /// hold a few KiB instead of the kernel's megabytes, so that a client that stops
    /// reading soon stops the broker's writes too (the broker's slow-reader path).
    pub async fn start(target: SocketAddr, small_buffers: bool) -> std::io::Result<Proxy> {
        // Accepted sockets inherit the listening socket's buffer sizes.
        let socket = TcpSocket::new_v4()?;
        if small_buffers {
            socket.set_recv_buffer_size(SMALL_BUFFER)?;
            socket.set_send_buffer_size(SMALL_BUFFER)?;
        }
        socket.bind("127.0.0.1:0".parse().expect("a socket address"))?;
        let listener = socket.listen(1024)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target,
            small_buffers,
            mode: watch::Sender::new(Mode::Forward),
            links: Mutex::default(),
            next: AtomicU64::new(0),
            stop: CancellationToken::new(),
        });
        tokio::spawn(accept(listener, shared.clone()));
        Ok(Proxy { addr, shared })
    }

    /// Switches mode; `Refuse` cuts every open connection.
    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.send_replace(mode);
        if mode == Mode::Refuse {
            for link in self.shared.links().values() {
                link.cut.cancel();
            }
        }
    }

    /// Cuts every open connection once `pick(i)` more bytes of its direction `i % 2` have
    /// passed (whichever direction reaches its count first), or after `limit` at the latest.
    /// Returns how many connections are being cut.
    pub fn cut_all(&self, mut pick: impl FnMut() -> i64, limit: Duration) -> usize {
        let links: Vec<Arc<Link>> = self.shared.links().values().cloned().collect();
        for link in &links {
            for budget in &link.budget {
                budget.store(pick(), Ordering::SeqCst);
            }
            let cut = link.cut.clone();
            tokio::spawn(async move {
                tokio::time::sleep(limit).await;
                cut.cancel();
            });
        }
        links.len()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.cancel();
        for link in self.shared.links().values() {
            link.cut.cancel();
        }
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            _ = shared.stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((client, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if *shared.mode.borrow() == Mode::Refuse {
            continue;
        }
        tokio::spawn(serve(client, shared.clone()));
    }
}

/// Forwards one connection until either side closes or it is cut.
async fn serve(client: TcpStream, shared: Arc<Shared>) {
    let id = shared.next.fetch_add(1, Ordering::Relaxed);
    let link = Arc::new(Link { budget: [AtomicI64::new(-1), AtomicI64::new(-1)], cut: shared.stop.child_token() });
    shared.links().insert(id, link.clone());
    // Connecting waits like the bytes do while blackholed, so a new connection hangs.
    if forwarding(&mut shared.mode.subscribe(), &link.cut).await {
        if let Ok(server) = connect(&shared).await {
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::join!(
                pump(client_read, server_write, &link, 0, shared.mode.subscribe()),
                pump(server_read, client_write, &link, 1, shared.mode.subscribe()),
            );
        }
    }
    shared.links().remove(&id);
}

/// Connects to the target, with small buffers when the proxy has them.
async fn connect(shared: &Shared) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if shared.small_buffers {
        socket.set_recv_buffer_size(SMALL_BUFFER)?;
        socket.set_send_buffer_size(SMALL_BUFFER)?;
    }
    socket.connect(shared.target).await
}

/// Waits while the proxy blackholes; false once the connection is cut or refused.
async fn forwarding(mode: &mut watch::Receiver<Mode>, cut: &CancellationToken) -> bool {
    loop {
        match *mode.borrow_and_update() {
            Mode::Forward => return !cut.is_cancelled(),
            Mode::Refuse => return false,
            Mode::Blackhole => {}
        }
        tokio::select! {
            _ = cut.cancelled() => return false,
            changed = mode.changed() => if changed.is_err() { return false },
        }
    }
}

/// Copies one direction; a cut or the end of the other direction's life ends it, and
/// dropping the halves closes the sockets.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    link: &Link,
    direction: usize,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !forwarding(&mut mode, &link.cut).await {
            break;
        }
        let n = tokio::select! {
            _ = link.cut.cancelled() => break,
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => {
                    let _ = to.shutdown().await;
                    return;
                }
                Ok(n) => n,
            },
        };
        // Data read just as a blackhole began waits for it to end.
        if !forwarding(&mut mode, &link.cut).await {
            break;
        }
        let budget = link.budget[direction].load(Ordering::SeqCst);
        let (send, cut_now) = if budget >= 0 && (budget as usize) < n { (budget as usize, true) } else { (n, false) };
        if budget >= 0 {
            link.budget[direction].store(budget - send as i64, Ordering::SeqCst);
        }
        let written = tokio::select! {
            _ = link.cut.cancelled() => break,
            written = to.write_all(&buf[..send]) => written,
        };
        if written.is_err() || cut_now {
            break;
        }
    }
    link.cut.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that sends `bytes` to every connection, then reads until it closes and
    /// reports how many bytes it received.
    async fn talker(bytes: usize) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (received, report) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let received = received.clone();
                tokio::spawn(async move {
                    let _ = socket.write_all(&vec![7u8; bytes]).await;
                    let (mut sink, mut total) = ([0u8; 64], 0);
                    while let Ok(n @ 1..) = socket.read(&mut sink).await {
                        total += n;
                    }
                    let _ = received.send(total);
                });
            }
        });
        (addr, report)
    }

    /// Everything `stream` yields until it closes or goes quiet for a while.
    async fn read_all(stream: &mut TcpStream) -> (usize, bool) {
        let mut total = 0;
        let mut buf = [0u8; 4096];
        loop {
            match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return (total, true),
                Ok(Ok(n)) => total += n,
                Err(_) => return (total, false),
            }
        }
    }

    #[tokio::test]
    async fn forwards_until_cut_after_the_chosen_byte() {
        let (server, mut received) = talker(0).await;
        let proxy = Proxy::start(server, true).await.unwrap();
        let mut client = TcpStream::connect(proxy.addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(proxy.cut_all(|| 5, Duration::from_secs(5)), 1);
        client.write_all(&[1u8; 100]).await.unwrap();
        assert_eq!(read_all(&mut client).await, (0, true), "the client sees the connection close");
        assert_eq!(received.recv().await, Some(5), "the server got 5 bytes of the 100");
    }

    #[tokio::test]
    async fn a_blackhole_holds_bytes_until_forwarding_resumes() {
        let proxy = Proxy::start(talker(1000).await.0, false).await.unwrap();
        proxy.set_mode(Mode::Blackhole);
        let mut client = TcpStream::connect(proxy.addr).await.unwrap();
        assert_eq!(read_all(&mut client).await, (0, false), "nothing passes, nothing closes");
        proxy.set_mode(Mode::Forward);
        assert_eq!(read_all(&mut client).await, (1000, false));
    }

    #[tokio::test]
    async fn refusing_cuts_open_connections_and_closes_new_ones() {
        let proxy = Proxy::start(talker(10).await.0, false).await.unwrap();
        let mut open = TcpStream::connect(proxy.addr).await.unwrap();
        assert_eq!(read_all(&mut open).await, (10, false));
        proxy.set_mode(Mode::Refuse);
        assert_eq!(read_all(&mut open).await, (0, true));
        let mut new = TcpStream::connect(proxy.addr).await.unwrap();
        assert_eq!(read_all(&mut new).await, (0, true));
    }
}
