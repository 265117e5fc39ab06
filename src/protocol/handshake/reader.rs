//! The reading half of the handshake, the same on both sides: the peer's version byte (C0/S0),
//! its first block (C1/S1), which the side answers, and its second block (C2/S2), counted only.
//!
//! Never does I/O and never consumes a byte past the second block: what follows belongs to the
//! chunk stream. A wrong version byte is sticky, as the sides promise: the first `read` reports
//! it, every later one [`HandshakeError::Failed`].
//!
//! Call order: `read` with each piece of input until `is_done`; when it hands out the first
//! block, the side answers it (the reader has already gone on counting the second one).

use super::digest::Block;
use super::{HandshakeError, HANDSHAKE_SIZE, RTMP_VERSION};

/// Where the peer's half of the handshake stands.
pub(super) enum PeerReader {
    /// Waiting for C0/S0.
    Version,
    /// Collecting C1/S1.
    Block {
        buf: Box<Block>,
        filled: usize,
    },
    /// Counting C2/S2, which neither side checks.
    Skip {
        remaining: usize,
    },
    Done,
    Failed,
}

impl PeerReader {
    pub(super) fn new() -> Self {
        PeerReader::Version
    }

    /// Consumes handshake bytes from `input` and returns how many, with the first block if it
    /// was completed by this call.
    pub(super) fn read(
        &mut self,
        input: &[u8],
    ) -> Result<(usize, Option<Box<Block>>), HandshakeError> {
        let mut consumed = 0;
        let mut first = None;
        loop {
            let rest = input.get(consumed..).unwrap_or_default();
            match self {
                PeerReader::Failed => return Err(HandshakeError::Failed),
                PeerReader::Done => break,
                _ if rest.is_empty() => break,
                PeerReader::Version => {
                    let Some(&version) = rest.first() else {
                        break;
                    };
                    if version != RTMP_VERSION {
                        *self = PeerReader::Failed;
                        return Err(HandshakeError::UnsupportedVersion(version));
                    }
                    consumed += 1;
                    *self = PeerReader::Block {
                        buf: Box::new([0; HANDSHAKE_SIZE]),
                        filled: 0,
                    };
                }
                PeerReader::Block { buf, filled } => {
                    consumed += fill(&mut buf[..], filled, rest);
                    if *filled < HANDSHAKE_SIZE {
                        // `fill` took all of `rest`: nothing more to do until more arrives.
                        break;
                    }
                    let next = PeerReader::Skip {
                        remaining: HANDSHAKE_SIZE,
                    };
                    if let PeerReader::Block { buf, .. } = std::mem::replace(self, next) {
                        first = Some(buf);
                    }
                }
                PeerReader::Skip { remaining } => {
                    let n = rest.len().min(*remaining);
                    consumed += n;
                    *remaining -= n;
                    if *remaining == 0 {
                        *self = PeerReader::Done;
                    }
                }
            }
        }
        Ok((consumed, first))
    }

    /// True once the second block has been read.
    pub(super) fn is_done(&self) -> bool {
        matches!(self, PeerReader::Done)
    }
}

/// Copies as much of `input` as fits into `dst[*filled..]`, advances `filled`, and returns the
/// number of bytes taken. Never reads past `input` nor writes past `dst`.
fn fill(dst: &mut [u8], filled: &mut usize, input: &[u8]) -> usize {
    let room = dst.len().saturating_sub(*filled);
    let n = room.min(input.len());
    if let (Some(to), Some(from)) = (dst.get_mut(*filled..*filled + n), input.get(..n)) {
        to.copy_from_slice(from);
        *filled += n;
        n
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// C0/S0, a first block of 1s, a second of 2s, then 7 bytes of chunk stream.
    fn peer_bytes() -> Vec<u8> {
        let mut bytes = vec![RTMP_VERSION];
        bytes.extend_from_slice(&[1; HANDSHAKE_SIZE]);
        bytes.extend_from_slice(&[2; HANDSHAKE_SIZE]);
        bytes.extend_from_slice(&[7; 7]);
        bytes
    }

    #[test]
    fn split_at_every_byte_boundary_hands_out_the_block_once_and_stops_at_the_end() {
        let bytes = peer_bytes();
        let handshake_len = 1 + 2 * HANDSHAKE_SIZE;
        for split in 0..=bytes.len() {
            let mut reader = PeerReader::new();
            let (a, first_a) = reader.read(&bytes[..split]).unwrap();
            let (b, first_b) = reader.read(&bytes[a..]).unwrap();
            assert_eq!(a, split.min(handshake_len), "split {split}");
            assert_eq!(a + b, handshake_len, "split {split}");
            assert!(reader.is_done());
            let blocks: Vec<_> = first_a.into_iter().chain(first_b).collect();
            assert_eq!(blocks.len(), 1, "split {split}");
            assert!(blocks[0].iter().all(|&b| b == 1));
            assert_eq!(reader.read(&bytes[handshake_len..]), Ok((0, None)));
        }
    }

    #[test]
    fn wrong_version_fails_then_stays_failed() {
        let mut reader = PeerReader::new();
        assert_eq!(
            reader.read(&[6, 0]),
            Err(HandshakeError::UnsupportedVersion(6))
        );
        assert_eq!(reader.read(&peer_bytes()), Err(HandshakeError::Failed));
        assert_eq!(reader.read(&[]), Err(HandshakeError::Failed));
    }
}
