//! A static HTTP file server on 127.0.0.1 with CORS, and a bounded HTTP status probe: what the
//! browser tests use to serve FFmpeg-made HLS/DASH/FLV files to the players as the relay would.
//!
//! What it does: [`StaticHttpServer::serve`] binds 127.0.0.1:0 and answers `GET`/`HEAD` for the
//! files under one directory (one request per connection, `Connection: close`), with
//! `Access-Control-Allow-Origin: *` and `Cache-Control: no-store` (live playlists change under
//! it), and the media types players check (`.m3u8`, `.mpd`, `.m4s`, `.ts`, `.flv`, ...).
//! [`http_status_of`] and [`wait_http_ok`] ask any loopback URL for its status line.
//!
//! What it never does: serve outside its directory (a path with `..` or a NUL is a 404), hold
//! more than [`MAX_CONNECTIONS`] connections, wait on a client more than [`IO_LIMIT`], or
//! outlive its value (Drop stops the accept loop and joins it).
//!
//! Call order: `let files = StaticHttpServer::serve(dir)`, then `files.url("x/index.m3u8")` for
//! the player; drop it after the player.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Connections served at once (a player opens a handful).
pub const MAX_CONNECTIONS: usize = 64;
/// Longest wait on one client read or write.
pub const IO_LIMIT: Duration = Duration::from_secs(5);
/// Largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// Serves one directory over HTTP on 127.0.0.1 until dropped.
pub struct StaticHttpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept_loop: Option<JoinHandle<()>>,
}

impl StaticHttpServer {
    /// Starts serving `dir` on a kernel-picked loopback port.
    pub fn serve(dir: &Path) -> StaticHttpServer {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind static HTTP server");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local_addr");
        let stop = Arc::new(AtomicBool::new(false));
        let root = dir.to_path_buf();
        let stopping = Arc::clone(&stop);
        let accept_loop = std::thread::spawn(move || accept_until(listener, &root, &stopping));
        StaticHttpServer {
            addr,
            stop,
            accept_loop: Some(accept_loop),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT/path` for a path relative to the served directory.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }
}

impl Drop for StaticHttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.accept_loop.take() {
            let _ = handle.join();
        }
    }
}

fn accept_until(listener: TcpListener, root: &Path, stop: &AtomicBool) {
    let open = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                if open.fetch_add(1, Ordering::Relaxed) >= MAX_CONNECTIONS {
                    open.fetch_sub(1, Ordering::Relaxed);
                    continue; // dropped: the client sees a reset and retries
                }
                let root = root.to_path_buf();
                let open = Arc::clone(&open);
                std::thread::spawn(move || {
                    let _ = answer(stream, &root);
                    open.fetch_sub(1, Ordering::Relaxed);
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Reads one request head and answers it.
fn answer(mut stream: TcpStream, root: &Path) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_LIMIT))?;
    stream.set_write_timeout(Some(IO_LIMIT))?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    let (method, path) = loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&head) {
            Ok(httparse::Status::Complete(_)) => {
                break (
                    request.method.unwrap_or("").to_string(),
                    request.path.unwrap_or("").to_string(),
                );
            }
            Ok(httparse::Status::Partial) if head.len() < MAX_HEAD => continue,
            _ => return respond(&mut stream, "400 Bad Request", "text/plain", b"", true),
        }
    };
    match method.as_str() {
        "GET" | "HEAD" => {}
        "OPTIONS" => return respond(&mut stream, "204 No Content", "text/plain", b"", true),
        _ => {
            return respond(
                &mut stream,
                "405 Method Not Allowed",
                "text/plain",
                b"",
                true,
            )
        }
    }
    let with_body = method == "GET";
    match resolve(root, &path).and_then(|file| std::fs::read(&file).ok().map(|b| (file, b))) {
        Some((file, body)) => respond(&mut stream, "200 OK", media_type(&file), &body, with_body),
        None => respond(&mut stream, "404 Not Found", "text/plain", b"", true),
    }
}

/// The file a request path names under `root`, if it is a plain relative path to a file.
fn resolve(root: &Path, request_path: &str) -> Option<PathBuf> {
    let path = request_path.split(['?', '#']).next().unwrap_or("");
    let relative = path.trim_start_matches('/');
    let safe = !relative.is_empty()
        && !relative.contains('\0')
        && relative
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    let file = root.join(relative);
    (safe && file.is_file()).then_some(file)
}

fn media_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "m3u8" => "application/vnd.apple.mpegurl",
        "mpd" => "application/dash+xml",
        "m4s" => "video/iso.segment",
        "mp4" | "m4v" => "video/mp4",
        "m4a" => "audio/mp4",
        "ts" => "video/mp2t",
        "flv" => "video/x-flv",
        "html" => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    with_body: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Headers: *\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if with_body {
        stream.write_all(body)?;
    }
    stream.flush()
}

/// The status code `GET url` answers with (only the status line is read, so an endless
/// HTTP-FLV body is fine), or the error. `url` must be `http://127.0.0.1:PORT/...`.
pub fn http_status_of(url: &str) -> Result<u16, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http:// URL: {url}"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr: SocketAddr = authority
        .parse()
        .map_err(|e| format!("{url}: host must be IP:PORT ({e})"))?;
    assert!(
        addr.ip().is_loopback(),
        "{url}: tests talk to loopback only"
    );
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(IO_LIMIT))
        .map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 1024 && !line.ends_with(b"\r\n") {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => line.push(byte[0]),
            Err(e) => return Err(format!("read from {addr}: {e}")),
        }
    }
    let line = String::from_utf8_lossy(&line);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("no HTTP status line from {url}: {line:?}"))
}

/// Polls `url` until it answers 200, at most `limit`; panics with the last answer otherwise.
pub fn wait_http_ok(url: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let answer = http_status_of(url);
        if answer == Ok(200) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer 200 within {limit:?}; last answer: {answer:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
