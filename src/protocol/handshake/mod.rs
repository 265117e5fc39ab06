//! The RTMP handshake, server and client sides: simple and digest (HMAC-SHA256) variants.
//!
//! Sans-IO: feed received bytes with `handle_input` (returns bytes consumed; bytes past the
//! handshake belong to the chunk stream and are never consumed) and drain bytes to send with
//! `poll_transmit`. Randomness comes from a caller-given seed and time from a caller-given
//! value; nothing here reads a clock, touches a socket or logs.
//!
//! Call order for both sides: `new`, then repeatedly `poll_transmit` (send what it appended) and
//! `handle_input` (with what arrived; keep the unconsumed tail for the chunk decoder) until
//! `is_complete`. An error is sticky: the first call returns what went wrong, later calls
//! [`HandshakeError::Failed`].
//!
//! The digest handshake is not in Adobe's published spec; its layout (two 764-byte halves, a
//! digest placed by a sum of four bytes modulo 728, keys "Genuine Adobe Flash Player 001" and
//! "Genuine Adobe Flash Media Server 001") is what Flash Player, FMS, FFmpeg, librtmp,
//! nginx-rtmp and SRS all agree on; `digest.rs` holds it.
//!
//! C0/S0 value 6 (and 8, 9) announce RTMPE, which encrypts everything after the handshake with
//! keys from a Diffie-Hellman exchange hidden in C1/S1. We do not implement it, so such clients
//! get [`HandshakeError::UnsupportedVersion`]; plain clients (FFmpeg, OBS, librtmp without
//! `rtmpe://`, GStreamer, Flash Player) all send 3.

mod client;
mod digest;
mod reader;
mod server;

#[cfg(test)]
mod tests;

pub use client::ClientHandshake;
pub use server::ServerHandshake;

/// Size of C1/S1/C2/S2.
pub const HANDSHAKE_SIZE: usize = 1536;
/// The RTMP version byte (C0/S0).
pub const RTMP_VERSION: u8 = 3;

/// Why a handshake failed. Both are fatal: the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The peer's C0/S0 is not 3 (6, 8 and 9 are RTMPE, which we do not speak).
    #[error("unsupported RTMP version {0} in C0/S0")]
    UnsupportedVersion(u8),
    /// Returned by every call after the one that reported the failure.
    #[error("handshake already failed")]
    Failed,
}

/// Moves queued output to the caller and frees it: the handshake's 3 KiB are sent once, and
/// thousands of idle connections should not keep them.
fn drain(queued: &mut Vec<u8>, out: &mut Vec<u8>) {
    if !queued.is_empty() {
        out.extend_from_slice(queued);
        *queued = Vec::new();
    }
}
