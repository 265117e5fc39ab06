//! The HTTP control listener: `/metrics` (Prometheus), `/healthz`, `/readyz` and the JSON
//! stats and control API (`/api/streams`, `/api/clients`, `DELETE /api/clients/{id}`), on its
//! own threads, off unless `http.listen` (or `--http`) is set.
//!
//! Built on `httparse` and blocking `std::net`: one accept thread, one short-lived thread per
//! connection (at most [`MAX_CONNECTIONS`] at once; beyond that a connection gets a 503), a
//! 5 s read and write timeout, heads up to 16 KiB, one request per connection (`Connection:
//! close`). No async runtime: the traffic is a scrape every few seconds and an operator's
//! curl. Nothing here can slow a shard: it only reads the snapshots each shard publishes on
//! its sweep (one short mutex hold per shard per scrape) and sends kicks through the shard's
//! mailbox.
//!
//! Call order: build a [`ControlState`] from [`Server::control`](crate::shard::Server::control)
//! and the config, then [`HttpServer::start`]; the threads live as long as the process.
use crate::control::config::HttpConfig;
use crate::control::metrics::MetricsOptions;
use crate::shard::snapshot::{ClientId, ShardSnapshot};
use crate::shard::ShardControl;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, info, warn};

pub mod request;
pub mod router;

use request::read_request;
use router::{reason, route, Response};

/// Connections served at once; more get a 503 at once.
pub const MAX_CONNECTIONS: usize = 32;
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// What the router needs from the shards (a trait so the router is tested without them).
pub trait ShardView: Send + Sync {
    fn shards(&self) -> usize;
    /// The latest snapshot of every shard (None: not published yet).
    fn snapshots(&self) -> Vec<Option<Arc<ShardSnapshot>>>;
    /// Sends a kick to the client's shard; false if the shard is gone.
    fn kick(&self, id: ClientId) -> bool;
    /// The recorder's counters (none without a recorder).
    fn recording(&self) -> crate::record::RecorderTotals {
        crate::record::RecorderTotals::default()
    }
}

impl ShardView for ShardControl {
    fn shards(&self) -> usize {
        ShardControl::shards(self)
    }
    fn snapshots(&self) -> Vec<Option<Arc<ShardSnapshot>>> {
        ShardControl::snapshots(self)
    }
    fn kick(&self, id: ClientId) -> bool {
        ShardControl::kick(self, id)
    }
    fn recording(&self) -> crate::record::RecorderTotals {
        ShardControl::recording(self)
    }
}

/// Shared state of the control side.
pub struct ControlState {
    pub shards: Box<dyn ShardView>,
    /// Set while the server drains (healthz answers 503); nothing sets it yet.
    pub draining: AtomicBool,
    /// Bearer token for `/api/*`, if one is configured.
    pub api_token: Option<String>,
    pub metrics: MetricsOptions,
}

impl ControlState {
    pub fn new(shards: Box<dyn ShardView>, config: &HttpConfig) -> Self {
        let token = config.api_token.trim();
        ControlState {
            shards,
            draining: AtomicBool::new(false),
            api_token: (!token.is_empty()).then(|| token.to_owned()),
            metrics: MetricsOptions {
                stream_labels: config.stream_labels,
                max_labelled_streams: config.max_labelled_streams,
            },
        }
    }
}

/// The running listener.
pub struct HttpServer {
    addr: SocketAddr,
}

impl HttpServer {
    /// Binds `addr` (so a bad address fails the start) and serves on background threads.
    pub fn start(addr: SocketAddr, state: Arc<ControlState>) -> io::Result<HttpServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let active = Arc::new(AtomicUsize::new(0));
        std::thread::Builder::new()
            .name("http-accept".to_owned())
            .spawn(move || accept_loop(listener, state, active))?;
        info!(%addr, "HTTP control listener serving");
        Ok(HttpServer { addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

fn accept_loop(listener: TcpListener, state: Arc<ControlState>, active: Arc<AtomicUsize>) {
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                debug!(error = %e, "HTTP accept failed");
                // EMFILE and friends: do not spin.
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
        if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::AcqRel);
            let _ = write_response(&mut stream, &Response::for_status(503), false);
            continue;
        }
        let (state, done) = (state.clone(), active.clone());
        let spawned = std::thread::Builder::new()
            .name("http-conn".to_owned())
            .spawn(move || {
                serve(stream, &state);
                done.fetch_sub(1, Ordering::AcqRel);
            });
        if let Err(e) = spawned {
            active.fetch_sub(1, Ordering::AcqRel);
            warn!(error = %e, "cannot start an HTTP connection thread");
        }
    }
}

/// One connection: one request, one response, close.
fn serve(mut stream: TcpStream, state: &ControlState) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let (response, head_only) = match read_request(&mut stream) {
        Ok(req) => (route(&req, state), req.method == "HEAD"),
        Err(e) => match e.status() {
            Some(status) => {
                debug!(error = %e, "bad HTTP request");
                (Response::for_status(status), false)
            }
            None => return,
        },
    };
    if let Err(e) = write_response(&mut stream, &response, head_only) {
        debug!(error = %e, "HTTP response not written");
    }
}

fn write_response(stream: &mut TcpStream, r: &Response, head_only: bool) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
         Cache-Control: no-store\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len()
    );
    for (name, value) in &r.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(&r.body)?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests;
