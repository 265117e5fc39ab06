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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_player_handshakes_and_gets_plaintext_from_a_rustls_server() {
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let der = rustls::pki_types::CertificateDer::from(generated.cert.der().to_vec());
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(generated.key_pair.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![der.clone()], key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let plan = TlsPlan {
            config: Arc::new(client),
            server_name: ServerName::try_from("localhost").unwrap(),
        };
        let mut player = PlayerTls::new(&plan).unwrap();
        let mut server = rustls::ServerConnection::new(Arc::new(server)).unwrap();
        let mut to_server = player.seal(b"C0C1").unwrap().to_vec();
        let mut got = Vec::new();
        for _ in 0..10 {
            server.read_tls(&mut &to_server[..]).unwrap();
            server.process_new_packets().unwrap();
            let _ = server.reader().read_to_end(&mut got);
            if !server.is_handshaking() {
                server.writer().write_all(b"S0S1").unwrap();
            }
            let mut back = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut back).unwrap();
            }
            let plain = player.open(&back).unwrap().to_vec();
            if plain == b"S0S1" {
                assert_eq!(got, b"C0C1");
                return;
            }
            to_server = player.seal(&[]).map(|b| b.to_vec()).unwrap_or_default();
        }
        panic!("no handshake");
    }
}
