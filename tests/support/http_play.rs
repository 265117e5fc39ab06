//! HTTP delivery helpers: an rtmp-edge with an HTTP play listener, raw HTTP exchanges over
//! loopback, and a process's resident memory.
//!
//! What it does: starts [`RtmpEdge`] with `--http-play 127.0.0.1:PORT` on a free port and
//! waits (at most 10 s) until that port accepts; sends raw request bytes and reads what comes
//! back until the server closes or a read times out.
//!
//! What it never does: talk to anything but 127.0.0.1, or wait without a bound.
use super::{free_port, RtmpEdge};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// An rtmp-edge serving HTTP delivery too, and its HTTP port.
pub struct HttpEdge {
    pub edge: RtmpEdge,
    pub http_port: u16,
}

impl HttpEdge {
    /// [`RtmpEdge::start_with_args`] plus `--http-play 127.0.0.1:PORT`.
    pub fn start(shards: usize, toml: &str, extra_args: &[&str]) -> HttpEdge {
        let http_port = free_port();
        let listen = format!("127.0.0.1:{http_port}");
        let mut args = vec!["--http-play", listen.as_str()];
        args.extend_from_slice(extra_args);
        let edge = RtmpEdge::start_with_args(shards, toml, &args);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", http_port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "HTTP port {http_port} never opened"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        HttpEdge { edge, http_port }
    }

    /// The server's process id.
    pub fn edge_pid(&self) -> u32 {
        self.edge.pid()
    }

    pub fn http_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.http_port))
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }
}

/// What came back for raw request bytes.
#[derive(Debug)]
pub struct Exchange {
    pub bytes: Vec<u8>,
    /// The server closed the connection (EOF or reset) within the limit.
    pub closed: bool,
    /// From the write until the first response byte.
    pub first_byte: Option<Duration>,
}

impl Exchange {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The status of the first response.
    pub fn status(&self) -> Option<u16> {
        self.text().get(9..12)?.parse().ok()
    }
}

/// `GET path` (HTTP/1.1, `Connection: close`) on `addr`: the status, the head and the body
/// bytes (de-chunked), read within `limit`.
pub fn http_get_bytes(addr: SocketAddr, path: &str, limit: Duration) -> (u16, String, Vec<u8>) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    let got = http_exchange(addr, request.as_bytes(), limit, limit);
    let status = got.status().unwrap_or(0);
    let end = got
        .bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(got.bytes.len(), |p| p + 4);
    let head = String::from_utf8_lossy(&got.bytes[..end]).into_owned();
    let mut body = got.bytes[end..].to_vec();
    if head.contains("Transfer-Encoding: chunked") {
        body = dechunk(&body);
    }
    (status, head, body)
}

/// The data of a chunked body (as far as it is whole).
fn dechunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line) = bytes.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&bytes[..line])
            .ok()
            .and_then(|s| usize::from_str_radix(s, 16).ok());
        let Some(size) = size.filter(|&n| n > 0 && bytes.len() >= line + 2 + n) else {
            break;
        };
        out.extend_from_slice(&bytes[line + 2..line + 2 + size]);
        bytes = bytes.get(line + 2 + size + 2..).unwrap_or(&[]);
    }
    out
}

/// Sends `request` to `addr` and reads until the server closes or nothing came for `quiet`
/// (at most `limit` in all).
pub fn http_exchange(
    addr: SocketAddr,
    request: &[u8],
    quiet: Duration,
    limit: Duration,
) -> Exchange {
    let mut s = TcpStream::connect(addr).expect("connect to the HTTP listener");
    s.set_read_timeout(Some(quiet)).expect("read timeout");
    let start = Instant::now();
    s.write_all(request).expect("write the request");
    read_until_close(&mut s, start, limit)
}

/// Reads `s` until EOF/reset, a quiet read timeout, or `limit` after `start`.
pub fn read_until_close(s: &mut TcpStream, start: Instant, limit: Duration) -> Exchange {
    let mut bytes = Vec::new();
    let mut first_byte = None;
    let mut buf = [0u8; 16 * 1024];
    let closed = loop {
        if start.elapsed() > limit {
            break false;
        }
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => {
                first_byte.get_or_insert_with(|| start.elapsed());
                bytes.extend_from_slice(&buf[..n]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break false
            }
            Err(_) => break true,
        }
    };
    Exchange {
        bytes,
        closed,
        first_byte,
    }
}
