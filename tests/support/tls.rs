//! RTMPS helpers: a self-signed certificate generated at test time (rcgen) for `localhost`
//! and `127.0.0.1`, rtmp-edge started with a TLS listener beside its plain one, and a rustls
//! client handshake to see which certificate a listener presents.
//!
//! Never touches the system's trust store: the certificate lives in the test's temp dir and
//! only clients told to trust it (`--tls-ca`, [`handshake_trusting`]) do.
use super::{free_port, RtmpEdge, TempDir};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A certificate and its key as PEM files (the certificate is its own CA).
pub struct TestCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCert {
    /// A fresh self-signed certificate for `localhost` and 127.0.0.1, written (or
    /// overwritten) as `NAME.pem` and `NAME.key` in `dir`.
    pub fn generate(dir: &Path, name: &str) -> TestCert {
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let generated = rcgen::generate_simple_self_signed(names).expect("rcgen");
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, generated.cert.pem()).expect("write cert");
        std::fs::write(&key, generated.key_pair.serialize_pem()).expect("write key");
        TestCert { cert, key }
    }

    /// Writes a new certificate over the same files (a renewal).
    pub fn renew(&self) {
        let generated =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".into()])
                .expect("rcgen");
        std::fs::write(&self.key, generated.key_pair.serialize_pem()).expect("write key");
        std::fs::write(&self.cert, generated.cert.pem()).expect("write cert");
    }

    /// The certificate as DER (what a handshake presents).
    pub fn der(&self) -> Vec<u8> {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::CertificateDer::from_pem_file(&self.cert)
            .expect("read cert")
            .to_vec()
    }
}

/// rtmp-edge with a plain listener (its `port()`) and a TLS one on `tls_port`.
pub struct TlsEdge {
    // Drop order: the process before the certificate's directory.
    pub edge: RtmpEdge,
    pub tls_port: u16,
    pub cert: TestCert,
    _dir: TempDir,
}

impl TlsEdge {
    /// Starts rtmp-edge with `--tls-listen 127.0.0.1:PORT --tls-cert --tls-key` (a fresh
    /// certificate) and `extra_args`, `toml` as its config file.
    pub fn start(shards: usize, toml: &str, extra_args: &[&str]) -> TlsEdge {
        let dir = TempDir::new("rtmp-edge-tls");
        let cert = TestCert::generate(dir.path(), "server");
        let tls_port = free_port();
        let listen = format!("127.0.0.1:{tls_port}");
        let (c, k) = (
            cert.cert.display().to_string(),
            cert.key.display().to_string(),
        );
        let mut args = vec!["--tls-listen", &listen, "--tls-cert", &c, "--tls-key", &k];
        args.extend_from_slice(extra_args);
        let edge = RtmpEdge::start_with_args(shards, toml, &args);
        TlsEdge {
            edge,
            tls_port,
            cert,
            _dir: dir,
        }
    }

    pub fn tls_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.tls_port))
    }

    /// `rtmps://127.0.0.1:TLS_PORT/APP/STREAM`.
    pub fn tls_url(&self, app: &str, stream: &str) -> String {
        format!("rtmps://127.0.0.1:{}/{app}/{stream}", self.tls_port)
    }
}

/// A TLS handshake with `addr` by a client that trusts only `trusted` (DER) and expects
/// `localhost`: Ok when it completed (the listener presents that certificate).
pub fn handshake_trusting(addr: SocketAddr, trusted: &[u8]) -> Result<(), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(trusted.to_vec()))
        .map_err(|e| e.to_string())?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let mut sock =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The first half of a real TLS ClientHello (a client that stops mid-handshake).
pub fn half_client_hello() -> Vec<u8> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).expect("ClientHello");
    hello.truncate(hello.len() / 2);
    hello
}

/// Sends `bytes` on a fresh connection to `addr` and waits (at most `limit`) until the
/// server closes it; returns how long that took, or None when it stayed open.
pub fn closed_after(addr: SocketAddr, bytes: &[u8], limit: Duration) -> Option<Duration> {
    let started = std::time::Instant::now();
    let mut sock = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    sock.write_all(bytes).expect("send");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match sock.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}
