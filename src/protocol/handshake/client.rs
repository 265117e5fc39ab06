//! Client side of the handshake: sends C0+C1 at once, reads S0+S1, answers C2, then reads S2.
//!
//! Never does I/O, reads a clock or logs; random bytes come from the seed given to `new`. Lenient
//! toward servers: S2 is counted, not checked, and a digest C1 answered by a simple S1 (zero
//! version or no valid digest, as nginx-rtmp, SRS and YouTube do at times) gets the simple C2,
//! an echo of S1.
//!
//! Call order: `new` (C0+C1 are queued), `poll_transmit`, `handle_input` until it has consumed
//! S0+S1 (C2 is then queued), `poll_transmit`, `handle_input` until `is_complete`.

use super::digest::{self, Block, Scheme, FMS_KEY, FMS_KEY_OPEN, FP_KEY, FP_KEY_OPEN};
use super::reader::PeerReader;
use super::{drain, HandshakeError, HANDSHAKE_SIZE, RTMP_VERSION};

/// The player version a digest C1 announces, with its digest at scheme 0: the pairing FFmpeg
/// has sent to every RTMP server for years (9.0.124.2). Flash Player 10+ paired 128.0.x.x with
/// scheme 1; servers try both schemes, but a few pick the scheme from the version.
const CLIENT_VERSION: [u8; 4] = [9, 0, 124, 2];
const CLIENT_SCHEME: Scheme = Scheme::Zero;

/// Client side: C0+C1 are ready at once; waits for S0+S1+S2 and answers C2 after S1.
pub struct ClientHandshake {
    rng: fastrand::Rng,
    /// Whether C1 carries a digest, i.e. whether to look for one in S1.
    digest: bool,
    reader: PeerReader,
    out: Vec<u8>,
    used_digest: bool,
}

impl ClientHandshake {
    /// `digest` selects the digest handshake (C1 carries a Flash Player digest, C2 answers S1's
    /// digest); otherwise the simple one (zero version bytes, C2 echoes S1).
    pub fn new(seed: u64, uptime_ms: u32, digest: bool) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut c1: Box<Block> = Box::new([0; HANDSHAKE_SIZE]);
        c1[..4].copy_from_slice(&uptime_ms.to_be_bytes());
        rng.fill(&mut c1[8..]);
        if digest {
            c1[4..8].copy_from_slice(&CLIENT_VERSION);
            digest::imprint(&mut c1, CLIENT_SCHEME, &FP_KEY[..FP_KEY_OPEN]);
        }
        let mut out = Vec::with_capacity(1 + HANDSHAKE_SIZE);
        out.push(RTMP_VERSION);
        out.extend_from_slice(&c1[..]);
        Self {
            rng,
            digest,
            reader: PeerReader::new(),
            out,
            used_digest: false,
        }
    }

    /// Consumes handshake bytes from `input` and returns how many; stops at the end of S2, so
    /// whatever follows belongs to the chunk stream. An S0 other than 3 fails the handshake.
    pub fn handle_input(&mut self, input: &[u8]) -> Result<usize, HandshakeError> {
        let (consumed, first) = self.reader.read(input)?;
        if let Some(first) = first {
            self.answer(first);
        }
        Ok(consumed)
    }

    /// Appends the bytes to send (if any) to `out`.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) {
        drain(&mut self.out, out);
    }

    /// True once S2 has been received and C2 handed out.
    pub fn is_complete(&self) -> bool {
        self.reader.is_done() && self.out.is_empty()
    }

    /// True if S1 carried a valid server digest and C2 answered it (only ever with `digest`).
    pub fn used_digest(&self) -> bool {
        self.used_digest
    }

    /// Queues C2 answering `s1`.
    fn answer(&mut self, mut s1: Box<Block>) {
        // A zero version is how servers say "simple handshake" (FFmpeg and librtmp read it so).
        let server_digest = if self.digest && s1[4..8] != [0; 4] {
            digest::find(&s1, &FMS_KEY[..FMS_KEY_OPEN])
        } else {
            None
        };
        match server_digest {
            Some((_, s1_digest)) => {
                self.used_digest = true;
                // S1 is no longer needed: reuse its box for C2, random bytes closed by the
                // signature FMS and librtmp's server check.
                let c2 = &mut s1;
                self.rng.fill(&mut c2[..]);
                digest::sign_response(c2, &s1_digest, &FP_KEY);
                self.out.extend_from_slice(&c2[..]);
            }
            None => self.out.extend_from_slice(&s1[..]),
        }
    }
}
