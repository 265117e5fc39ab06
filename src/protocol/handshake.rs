//! The RTMP handshake, server and client sides: simple and digest (HMAC-SHA256) variants.
//!
//! Sans-IO: feed received bytes with `handle_input` (returns bytes consumed; bytes past the
//! handshake belong to the chunk stream) and drain bytes to send with `poll_transmit`.
//! Randomness comes from a caller-given seed and time from a caller-given value.

/// Size of C1/S1/C2/S2.
pub const HANDSHAKE_SIZE: usize = 1536;
/// The RTMP version byte (C0/S0).
pub const RTMP_VERSION: u8 = 3;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("unsupported RTMP version {0} in C0/S0")]
    UnsupportedVersion(u8),
    #[error("handshake already failed")]
    Failed,
}

/// Server side: waits for C0+C1, answers S0+S1+S2 at once, then waits for C2.
///
/// When C1 carries a valid Flash Player digest (either offset scheme), S1 and S2 carry valid
/// digests made with the Flash Media Server key, so players that validate (FFmpeg) accept them;
/// otherwise S1 has zero version bytes and S2 echoes C1 (the simple handshake).
pub struct ServerHandshake {}

impl ServerHandshake {
    /// `seed` feeds the random bytes of S1/S2; `uptime_ms` is written as S1's time field.
    pub fn new(seed: u64, uptime_ms: u32) -> Self {
        let _ = (seed, uptime_ms);
        todo!()
    }

    pub fn handle_input(&mut self, input: &[u8]) -> Result<usize, HandshakeError> {
        let _ = input;
        todo!()
    }

    /// Appends the bytes to send (if any) to `out`.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) {
        let _ = out;
        todo!()
    }

    /// True once C2 has been received and S0+S1+S2 handed out.
    pub fn is_complete(&self) -> bool {
        todo!()
    }

    /// True if the peer used the digest handshake.
    pub fn used_digest(&self) -> bool {
        todo!()
    }
}

/// Client side: C0+C1 are ready at once; waits for S0+S1+S2 and answers C2 after S1.
pub struct ClientHandshake {}

impl ClientHandshake {
    /// `digest` selects the digest handshake (C1 carries a Flash Player digest, C2 answers S1's
    /// digest); otherwise the simple one (zero version bytes, C2 echoes S1).
    pub fn new(seed: u64, uptime_ms: u32, digest: bool) -> Self {
        let _ = (seed, uptime_ms, digest);
        todo!()
    }

    pub fn handle_input(&mut self, input: &[u8]) -> Result<usize, HandshakeError> {
        let _ = input;
        todo!()
    }

    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) {
        let _ = out;
        todo!()
    }

    /// True once S2 has been received and C2 handed out.
    pub fn is_complete(&self) -> bool {
        todo!()
    }
}
