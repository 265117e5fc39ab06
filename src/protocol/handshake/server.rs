//! Server side of the handshake: reads C0+C1, answers S0+S1+S2 at once, then reads C2.
//!
//! Never does I/O, reads a clock or logs; random bytes come from the seed given to `new`. C2 is
//! counted, not checked: players that botch it (old librtmp echoes S1 with its own time patched
//! in) work everywhere else, so rejecting them here would only lose viewers.
//!
//! Call order: `new`, `handle_input` until it has consumed C0+C1 (S0+S1+S2 are then queued),
//! `poll_transmit`, `handle_input` until `is_complete`.

use super::digest::{self, Block, FMS_KEY, FMS_KEY_OPEN, FP_KEY, FP_KEY_OPEN, SIGNATURE_POS};
use super::reader::PeerReader;
use super::{drain, HandshakeError, HANDSHAKE_SIZE, RTMP_VERSION};

/// The version S1 announces on the digest path (FMS does the same); on the simple path S1's
/// version is zero, the signal FFmpeg and librtmp use to skip validating S1/S2.
const SERVER_VERSION: [u8; 4] = [0x0D, 0x0E, 0x0A, 0x0D];

/// Server side: waits for C0+C1, answers S0+S1+S2 at once, then waits for C2.
///
/// When C1 carries a valid Flash Player digest (either offset scheme), S1 and S2 carry valid
/// digests made with the Flash Media Server key, so players that validate (FFmpeg, librtmp)
/// accept them; otherwise S1 has zero version bytes and S2 echoes C1 (the simple handshake).
pub struct ServerHandshake {
    rng: fastrand::Rng,
    uptime_ms: u32,
    reader: PeerReader,
    out: Vec<u8>,
    used_digest: bool,
}

impl ServerHandshake {
    /// `seed` feeds the random bytes of S1/S2; `uptime_ms` is written as S1's time field.
    pub fn new(seed: u64, uptime_ms: u32) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(seed),
            uptime_ms,
            reader: PeerReader::new(),
            out: Vec::new(),
            used_digest: false,
        }
    }

    /// Consumes handshake bytes from `input` and returns how many; stops at the end of C2, so
    /// whatever follows belongs to the chunk stream. A C0 other than 3 fails the handshake.
    pub fn handle_input(&mut self, input: &[u8]) -> Result<usize, HandshakeError> {
        let (consumed, first) = self.reader.read(input)?;
        if let Some(first) = first {
            self.answer(&first);
        }
        Ok(consumed)
    }

    /// Appends the bytes to send (if any) to `out`.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) {
        drain(&mut self.out, out);
    }

    /// True once C2 has been received and S0+S1+S2 handed out.
    pub fn is_complete(&self) -> bool {
        self.reader.is_done() && self.out.is_empty()
    }

    /// True if the peer used the digest handshake.
    pub fn used_digest(&self) -> bool {
        self.used_digest
    }

    /// Queues S0+S1+S2 answering `c1`.
    fn answer(&mut self, c1: &Block) {
        let client_digest = if c1[4..8] == [0; 4] {
            // The spec's "zero" field: the simple handshake. librtmp sends it unless asked for
            // RTMPE or SWF verification (so OBS, rtmpdump, FFmpeg built with librtmp).
            None
        } else {
            digest::find(c1, &FP_KEY[..FP_KEY_OPEN])
        };
        self.used_digest = client_digest.is_some();

        let mut s1: Box<Block> = Box::new([0; HANDSHAKE_SIZE]);
        s1[..4].copy_from_slice(&self.uptime_ms.to_be_bytes());
        self.rng.fill(&mut s1[8..]);
        if let Some((scheme, _)) = client_digest {
            s1[4..8].copy_from_slice(&SERVER_VERSION);
            // Same scheme as the client: players that only look where they put their own
            // digest (some Flash-era clients) then find ours.
            digest::imprint(&mut s1, scheme, &FMS_KEY[..FMS_KEY_OPEN]);
        }

        self.out.reserve_exact(1 + 2 * HANDSHAKE_SIZE);
        self.out.push(RTMP_VERSION);
        self.out.extend_from_slice(&s1[..]);
        match client_digest {
            Some((_, c1_digest)) => {
                // Reuse S1's box for S2: random bytes closed by the signature FFmpeg and librtmp
                // check.
                let s2 = &mut s1;
                self.rng.fill(&mut s2[..SIGNATURE_POS]);
                digest::sign_response(s2, &c1_digest, &FMS_KEY);
                self.out.extend_from_slice(&s2[..]);
            }
            None => self.out.extend_from_slice(c1),
        }
    }
}
