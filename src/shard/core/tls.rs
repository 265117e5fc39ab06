//! RTMPS: TLS as one more layer between the driver and the session, inside the sans-IO core.
//!
//! The drivers keep moving raw bytes. For a connection with a [`TlsLayer`] (accepted on a TLS
//! listener, or an `rtmps://` upstream), `handle_input` passes what the driver read (after a
//! PROXY header, which comes before TLS on the wire) through rustls' `read_tls` /
//! `process_new_packets` / `reader`, and only the plaintext reaches the session. On the way
//! out, `poll_transmit` applies the slow-player policy to the plaintext send queue as for any
//! connection, then takes from it only as much plaintext as the ciphertext buffer has room
//! for ([`TLS_BUFFER`]), seals it through rustls' `writer` / `write_tls` into that buffer, and
//! hands the ciphertext out. Encryption copies (the shared frames of the log are sealed per
//! connection); the ciphertext stays pinned until `handle_written`, like plaintext would.
//!
//! The fan-out latency of a TLS player is recorded when its frame is sealed, not when the
//! last ciphertext byte is written (the ciphertext no longer knows its frames).
//!
//! Handshake: a TLS client is `Role::Pending` until it publishes or plays, so the handshake
//! timeout covers the TLS handshake too; an upstream's TLS handshake falls in its handshake
//! phase. A TLS error closes at once with [`CloseReason::TlsError`].
use super::conn::Connection;
use super::{CloseReason, ShardCore, MAX_IOVECS};
use crate::media::log::FrameLog;
use crate::media::queue::SendQueue;
use bytes::Bytes;
use rustls::pki_types::ServerName;
use std::io::{IoSlice, Read, Write};
use std::sync::Arc;
use std::time::Instant;
use tracing::{debug, info};

/// Ciphertext one connection keeps at most (sealed, not yet written), and the plaintext rustls
/// may buffer before the handshake is done. Bounds the copy TLS makes per connection.
pub const TLS_BUFFER: usize = 256 * 1024;

/// The certificate a TLS listener presents, shared by its connections. New handshakes use the
/// one in the settings in force; a reload swaps it without touching running connections.
#[derive(Debug, Clone)]
pub struct TlsServer(pub Arc<rustls::ServerConfig>);

impl PartialEq for TlsServer {
    /// The same loaded configuration (certificates are compared by identity, not content).
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for TlsServer {}

/// Why a TLS layer failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS: {0}")]
    Protocol(#[from] rustls::Error),
    #[error("TLS record input: {0}")]
    Input(std::io::Error),
    #[error("TLS server name {0:?} is not a DNS name or an IP address")]
    ServerName(String),
    #[error("rtmps:// upstream but no TLS client configuration (tls.ca_file or system roots)")]
    NoClientConfig,
}

/// The TLS state of one connection: rustls' sans-IO connection and the sealed ciphertext.
pub(crate) struct TlsLayer {
    tls: rustls::Connection,
    /// Ciphertext not yet written: what `poll_transmit` hands out, pinned until
    /// `handle_written` (a control-only queue: never dropped, never changed).
    cipher: SendQueue,
}

impl TlsLayer {
    /// The server side of a connection accepted on a TLS listener.
    pub(crate) fn server(config: &TlsServer) -> Result<TlsLayer, TlsError> {
        let conn = rustls::ServerConnection::new(config.0.clone())?;
        Ok(TlsLayer::new(conn.into()))
    }

    /// The client side of an `rtmps://` upstream; `host` is the name the certificate must
    /// carry (a DNS name or an IP address).
    pub(crate) fn client(
        config: Arc<rustls::ClientConfig>,
        host: &str,
    ) -> Result<TlsLayer, TlsError> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| TlsError::ServerName(host.to_owned()))?;
        let conn = rustls::ClientConnection::new(config, name)?;
        Ok(TlsLayer::new(conn.into()))
    }

    fn new(mut tls: rustls::Connection) -> TlsLayer {
        tls.set_buffer_limit(Some(TLS_BUFFER));
        TlsLayer {
            tls,
            cipher: SendQueue::new(crate::media::queue::QueueLimits {
                max_span_ms: u32::MAX,
                max_bytes: usize::MAX,
                kick_after_ms: u32::MAX,
            }),
        }
    }

    pub(crate) fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    /// Whether rustls has records to write (handshake messages, tickets, sealed data).
    pub(crate) fn wants_write(&self) -> bool {
        self.tls.wants_write()
    }

    /// Nothing sealed is waiting and rustls has nothing to write.
    pub(crate) fn is_idle(&self) -> bool {
        self.cipher.committed_bytes() == 0 && !self.tls.wants_write()
    }

    /// Ciphertext not yet written.
    pub(crate) fn cipher(&self) -> &SendQueue {
        &self.cipher
    }

    /// Decrypts `input` (records as read from the socket), appending the plaintext to `out`.
    /// All of `input` is taken: rustls buffers a partial record.
    pub(crate) fn open(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), TlsError> {
        while !input.is_empty() {
            // `read_tls` takes at most what its record buffer has room for; the records are
            // processed and their plaintext read out before the next part.
            if self.tls.read_tls(&mut input).map_err(TlsError::Input)? == 0 {
                break;
            }
            self.tls.process_new_packets()?;
            match self.tls.reader().read_to_end(out) {
                Ok(_) => {}
                // No more plaintext for now (the usual case); the bytes read are in `out`.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(TlsError::Input(e)),
            }
        }
        Ok(())
    }

    /// Seals committed plaintext of `queue` (as much as the ciphertext buffer has room for)
    /// and moves what rustls has to write into the ciphertext buffer. `completed` gets the
    /// arrival of every frame whose last byte was sealed.
    pub(crate) fn seal(
        &mut self,
        queue: &mut SendQueue,
        log: Option<&FrameLog>,
        completed: impl FnMut(Instant),
    ) {
        let room = TLS_BUFFER.saturating_sub(self.cipher.committed_bytes());
        if room > 0 && queue.committed_bytes() > 0 {
            let mut slices: Vec<IoSlice<'_>> = Vec::new();
            queue.fill_iovecs(&mut slices, MAX_IOVECS);
            let mut taken = 0;
            let mut writer = self.tls.writer();
            for slice in &slices {
                let want = slice.len().min(room - taken);
                let Some(part) = slice.get(..want).filter(|p| !p.is_empty()) else {
                    break;
                };
                // Writing to rustls only fails when it is closed; then nothing is taken.
                let n = writer.write(part).unwrap_or(0);
                taken += n;
                if n < slice.len() {
                    break;
                }
            }
            drop(slices);
            queue.advance_with(taken, log, completed);
        }
        let mut sealed = Vec::new();
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut sealed) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        self.cipher.push_control(Bytes::from(sealed));
    }

    /// A send of the ciphertext took `written` bytes.
    pub(crate) fn advance(&mut self, written: usize) {
        self.cipher.advance(written, None);
    }
}

impl Connection {
    /// What goes on the wire: the ciphertext of a TLS connection, else the send queue.
    pub(crate) fn wire(&self) -> &SendQueue {
        self.tls.as_ref().map_or(&self.queue, |t| t.cipher())
    }

    /// Nothing left to write: the queue (and, with TLS, the ciphertext and rustls) is empty.
    pub(crate) fn is_idle(&self, log: Option<&FrameLog>) -> bool {
        self.queue.is_idle(log) && self.tls.as_ref().is_none_or(|t| t.is_idle())
    }
}

impl ShardCore {
    /// Starts the server side of TLS on a connection accepted on listener `listener`, when
    /// that listener has TLS.
    pub(super) fn start_tls_server(&mut self, id: usize, listener: usize) {
        let Some(config) = self
            .settings
            .listeners
            .get(listener)
            .and_then(|l| l.tls.clone())
        else {
            return;
        };
        match TlsLayer::server(&config) {
            Ok(layer) => {
                if let Some(c) = self.conns.get_mut(id) {
                    c.tls = Some(Box::new(layer));
                }
            }
            Err(e) => self.tls_failed(id, &e),
        }
    }

    /// Starts the client side of TLS on an `rtmps://` upstream to `host`. False when it
    /// could not start (the connection is closed).
    pub(super) fn start_tls_client(&mut self, id: usize, host: &str) -> bool {
        let layer = match self.settings.tls_client.clone() {
            Some(config) => TlsLayer::client(config, host),
            None => Err(TlsError::NoClientConfig),
        };
        match layer {
            Ok(layer) => {
                if let Some(c) = self.conns.get_mut(id) {
                    c.tls = Some(Box::new(layer));
                }
                true
            }
            Err(e) => {
                // No socket yet (the connect is still queued): forget it, as a failed connect.
                info!(shard = self.index, conn = id, error = %e, "cannot start TLS to the upstream");
                self.stats.tls_errors += 1;
                self.forget(id, CloseReason::TlsError);
                false
            }
        }
    }

    /// Records from the socket of TLS connection `id`: their plaintext goes to the session.
    pub(super) fn tls_input(&mut self, id: usize, input: &[u8], now: Instant) {
        let Some(tls) = self.conns.get_mut(id).and_then(|c| c.tls.as_mut()) else {
            return;
        };
        let handshaking = tls.is_handshaking();
        let mut plain = Vec::new();
        if let Err(e) = tls.open(input, &mut plain) {
            return self.tls_failed(id, &e);
        }
        let (done, wants_write) = (handshaking && !tls.is_handshaking(), tls.wants_write());
        if done {
            self.stats.tls_handshakes += 1;
            debug!(shard = self.index, conn = id, "TLS handshake done");
        }
        if wants_write {
            // Handshake records, session tickets: out at the end of this pass.
            self.schedule_now(id);
        }
        self.plain_input(id, &plain, now);
    }

    /// Seals what `id` has to send (see [`TlsLayer::seal`]); no-op without TLS.
    pub(super) fn seal_tls(&mut self, id: usize, now: Instant) {
        self.with_delivery(id, now, |c, log, record| {
            if let Some(tls) = c.tls.as_mut() {
                tls.seal(&mut c.queue, log, record);
            }
        });
    }

    /// A TLS error (or a TLS layer that could not start) on `id`: closed at once.
    fn tls_failed(&mut self, id: usize, e: &TlsError) {
        if let Some(c) = self.conns.get(id) {
            info!(shard = self.index, peer = %c.peer(), conn = id, error = %e, "closing connection after TLS error");
        }
        self.stats.tls_errors += 1;
        self.close_now(id, CloseReason::TlsError);
    }
}
