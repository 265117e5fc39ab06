//! RTMPS players: a rustls client between a player's socket and its RTMP session
//! (`--tls-port`, `--tls-ca`). The publisher stays plain on `--url`; players play the same
//! stream over TLS from the server's TLS listener, so a run measures what TLS costs the
//! server per delivered byte.
//!
//! Sans-IO like the session: bytes read go through [`PlayerTls::open`] before the session,
//! and what the session (and rustls itself: the handshake) has to send comes out of
//! [`PlayerTls::seal`] as ciphertext for the player's outbox.
use bytes::Bytes;
use rustls::pki_types::ServerName;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

/// How players verify the server: its name (the `--url` host) and the roots.
#[derive(Debug, Clone)]
pub struct TlsPlan {
    pub config: Arc<rustls::ClientConfig>,
    pub server_name: ServerName<'static>,
}

impl TlsPlan {
    /// Trusts the CA certificates in `ca` (PEM), or the system roots without one; the server
    /// must present a certificate for `host`.
    pub fn new(host: &str, ca: Option<&Path>) -> Result<TlsPlan, String> {
        let config = rtmp_edge::control::tls::client_config(ca).map_err(|e| e.to_string())?;
        let server_name = ServerName::try_from(host.to_owned())
            .map_err(|_| format!("{host:?} is no TLS server name"))?;
        Ok(TlsPlan {
            config,
            server_name,
        })
    }
}

/// One player's TLS state.
pub struct PlayerTls {
    conn: rustls::ClientConnection,
    /// Plaintext decrypted by the last `open` (reused between reads).
    plain: Vec<u8>,
}

impl PlayerTls {
    pub fn new(plan: &TlsPlan) -> Result<PlayerTls, rustls::Error> {
        let conn = rustls::ClientConnection::new(plan.config.clone(), plan.server_name.clone())?;
        Ok(PlayerTls {
            conn,
            plain: Vec::new(),
        })
    }

    /// Decrypts records just read; returns their plaintext (valid until the next call).
    pub fn open(&mut self, mut records: &[u8]) -> Result<&[u8], rustls::Error> {
        self.plain.clear();
        while !records.is_empty() {
            match self.conn.read_tls(&mut records) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Err(rustls::Error::General(e.to_string())),
            }
            self.conn.process_new_packets()?;
            match self.conn.reader().read_to_end(&mut self.plain) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(rustls::Error::General(e.to_string())),
            }
        }
        Ok(&self.plain)
    }

    /// Seals `plain` (session output; rustls holds it until the handshake is done) and
    /// returns every record rustls has to send, if any.
    pub fn seal(&mut self, plain: &[u8]) -> Option<Bytes> {
        if !plain.is_empty() {
            // rustls takes everything (no buffer limit on the client side).
            let _ = self.conn.writer().write_all(plain);
        }
        let mut out = Vec::new();
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut out) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        (!out.is_empty()).then(|| Bytes::from(out))
    }
}
