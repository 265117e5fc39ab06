//! Tiny HTTP on loopback for tests: an access-callback server ([`CallbackServer`]) that
//! allows, denies or answers too late, recording every request body (over plain HTTP, or
//! HTTPS with a test certificate), and one-shot requests ([`http_get`], [`try_http_request`]).
//!
//! What it never does: listen beyond 127.0.0.1, keep a thread after Drop, or wait unbounded
//! (reads time out after 5 s; a sleeping answer sleeps only as long as it was told).
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How a [`CallbackServer`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackMode {
    /// 200 OK.
    Allow,
    /// 403 Forbidden.
    Deny,
    /// 200 OK, after this long.
    Sleep(Duration),
}

/// An HTTP server on 127.0.0.1 answering every POST as its mode says.
pub struct CallbackServer {
    addr: SocketAddr,
    scheme: &'static str,
    bodies: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CallbackServer {
    pub fn start(mode: CallbackMode) -> CallbackServer {
        Self::serve(mode, None)
    }

    /// The same over HTTPS with `cert` (its PEM files: certificate and key).
    pub fn start_tls(mode: CallbackMode, cert: &super::tls::TestCert) -> CallbackServer {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain = CertificateDer::pem_file_iter(&cert.cert)
            .expect("read cert")
            .collect::<Result<Vec<_>, _>>()
            .expect("parse cert");
        let key = PrivateKeyDer::from_pem_file(&cert.key).expect("read key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server certificate");
        Self::serve(mode, Some(Arc::new(config)))
    }

    fn serve(mode: CallbackMode, tls: Option<Arc<rustls::ServerConfig>>) -> CallbackServer {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind callback server");
        let addr = listener.local_addr().expect("callback server address");
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, s) = (bodies.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let (b, tls) = (b.clone(), tls.clone());
                // One thread per request: a sleeping answer must not hold up the next one.
                std::thread::spawn(move || match tls {
                    None => answer(stream, mode, &b),
                    Some(config) => {
                        let Ok(conn) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        answer(rustls::StreamOwned::new(conn, stream), mode, &b)
                    }
                });
            }
        });
        CallbackServer {
            addr,
            scheme,
            bodies,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT{path}` (`https://` when started with TLS).
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    /// The JSON bodies received so far, in arrival order.
    pub fn bodies(&self) -> Vec<serde_json::Value> {
        let bodies = self.bodies.lock().expect("bodies");
        bodies
            .iter()
            .map(|b| serde_json::from_str(b).unwrap_or_else(|e| panic!("callback body {b:?}: {e}")))
            .collect()
    }
}

impl Drop for CallbackServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(mut stream: impl Read + Write, mode: CallbackMode, bodies: &Mutex<Vec<String>>) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let body = loop {
        let Ok(n) = stream.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).to_string();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let length = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        if body.len() >= length {
            break body.to_owned();
        }
    };
    bodies.lock().expect("bodies").push(body);
    let status = match mode {
        CallbackMode::Allow => "200 OK",
        CallbackMode::Deny => "403 Forbidden",
        CallbackMode::Sleep(d) => {
            std::thread::sleep(d);
            "200 OK"
        }
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let _ = stream.flush();
}

/// `GET path` on `addr`: the status and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    try_http_request(addr, "GET", path, None).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// `method path` on `addr`, with `Authorization: Bearer token` if given: the status and
/// the body, or the I/O error (for polls that wait until a listener answers).
pub fn try_http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{auth}\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    Ok((status, body))
}
