//! The HMAC-SHA256 pieces of the digest ("Flash Player 9+") handshake: the keys, where a digest
//! sits inside C1/S1, and the signature that closes C2/S2.
//!
//! Pure functions over fixed-size 1536-byte blocks; no state, no I/O, no randomness. Every
//! offset computed from peer bytes is bounded by construction (a sum of four bytes modulo 728),
//! so nothing here can index out of bounds whatever the peer sent.
//!
//! Call order: a sender fills its block, then [`imprint`]s a digest into it; a receiver
//! [`find`]s the peer's digest, and answers with a block closed by [`sign_response`];
//! [`response_signature`] checks such an answer.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::HANDSHAKE_SIZE;

/// C1/S1/C2/S2 as a fixed-size block, so offsets below need no runtime length checks.
pub(crate) type Block = [u8; HANDSHAKE_SIZE];

/// Length of an HMAC-SHA256 digest.
pub(crate) const DIGEST_LEN: usize = 32;

/// C2/S2 end with a signature over everything before it.
pub(crate) const SIGNATURE_POS: usize = HANDSHAKE_SIZE - DIGEST_LEN;

/// The 32 bytes every published Flash key ends with.
const KEY_TAIL: [u8; 32] = [
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
];

/// "Genuine Adobe Flash Player 001" + the tail (62 bytes). The whole key keys the C2 signature;
/// its first 30 bytes ([`FP_KEY_OPEN`]) key the C1 digest.
pub(crate) const FP_KEY: [u8; 62] = join(b"Genuine Adobe Flash Player 001", &KEY_TAIL);
pub(crate) const FP_KEY_OPEN: usize = 30;

/// "Genuine Adobe Flash Media Server 001" + the tail (68 bytes). The whole key keys the S2
/// signature; its first 36 bytes ([`FMS_KEY_OPEN`]) key the S1 digest.
pub(crate) const FMS_KEY: [u8; 68] = join(b"Genuine Adobe Flash Media Server 001", &KEY_TAIL);
pub(crate) const FMS_KEY_OPEN: usize = 36;

/// Concatenates two byte arrays at compile time; a wrong `N` fails the build.
const fn join<const A: usize, const B: usize, const N: usize>(a: &[u8; A], b: &[u8; B]) -> [u8; N] {
    assert!(A + B == N);
    let mut out = [0u8; N];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < N {
        out[i] = b[i - A];
        i += 1;
    }
    out
}

/// Where the digest sits. The block after the 8-byte time+version header is two 764-byte halves;
/// each half starts with 4 bytes whose sum picks where in that half the 32-byte digest goes.
/// Players and servers disagree on which half to use (FFmpeg: scheme 0; Flash Player 10+ and
/// librtmp's FP9 mode: scheme 1), so receivers try both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// Offset bytes at 8..12, digest within 12..772.
    Zero,
    /// Offset bytes at 772..776, digest within 776..1536.
    One,
}

impl Scheme {
    const ALL: [Scheme; 2] = [Scheme::Zero, Scheme::One];

    /// Start of the 4 offset bytes.
    fn base(self) -> usize {
        match self {
            Scheme::Zero => 8,
            Scheme::One => 772,
        }
    }

    /// Position of the digest in `block`: at most base + 4 + 727, so the digest always ends
    /// inside its own half (771 or 1535).
    pub(crate) fn digest_pos(self, block: &Block) -> usize {
        let base = self.base();
        let sum: usize = block[base..base + 4].iter().map(|&b| usize::from(b)).sum();
        // 728 = 764 (half) - 4 (offset bytes) - 32 (digest).
        sum % 728 + base + 4
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    // HMAC accepts keys of any length; every key here is ours (a constant or a 32-byte digest).
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The digest of `block` with the 32 bytes at `pos` left out.
fn digest_at(block: &Block, pos: usize, key: &[u8]) -> [u8; DIGEST_LEN] {
    hmac_sha256(key, &[&block[..pos], &block[pos + DIGEST_LEN..]])
}

/// Writes the digest of `block` (keyed by `key`) at the position `scheme` picks; returns it.
/// The offset bytes lie before the digest's range, so writing it does not move it.
pub(crate) fn imprint(block: &mut Block, scheme: Scheme, key: &[u8]) -> [u8; DIGEST_LEN] {
    let pos = scheme.digest_pos(block);
    let digest = digest_at(block, pos, key);
    block[pos..pos + DIGEST_LEN].copy_from_slice(&digest);
    digest
}

/// The scheme and digest of `block` if it carries a valid digest keyed by `key` under either
/// scheme (scheme 0 first; a block valid under both is astronomically unlikely).
pub(crate) fn find(block: &Block, key: &[u8]) -> Option<(Scheme, [u8; DIGEST_LEN])> {
    Scheme::ALL.into_iter().find_map(|scheme| {
        let pos = scheme.digest_pos(block);
        let digest = digest_at(block, pos, key);
        (block[pos..pos + DIGEST_LEN] == digest).then_some((scheme, digest))
    })
}

/// The signature closing a C2/S2: HMAC(HMAC(key, peer_digest), block[..1504]).
pub(crate) fn response_signature(
    block: &Block,
    peer_digest: &[u8; DIGEST_LEN],
    key: &[u8],
) -> [u8; DIGEST_LEN] {
    let signing_key = hmac_sha256(key, &[peer_digest]);
    hmac_sha256(&signing_key, &[&block[..SIGNATURE_POS]])
}

/// Writes [`response_signature`] into the last 32 bytes of `block`.
pub(crate) fn sign_response(block: &mut Block, peer_digest: &[u8; DIGEST_LEN], key: &[u8]) {
    let signature = response_signature(block, peer_digest, key);
    block[SIGNATURE_POS..].copy_from_slice(&signature);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_the_published_strings() {
        assert_eq!(&FP_KEY[..FP_KEY_OPEN], b"Genuine Adobe Flash Player 001");
        assert_eq!(
            &FMS_KEY[..FMS_KEY_OPEN],
            b"Genuine Adobe Flash Media Server 001"
        );
        assert_eq!(FP_KEY[FP_KEY_OPEN..], KEY_TAIL);
        assert_eq!(FMS_KEY[FMS_KEY_OPEN..], KEY_TAIL);
    }

    #[test]
    fn digest_positions_stay_inside_their_half() {
        let mut block = [0u8; HANDSHAKE_SIZE];
        for fill in [0u8, 0xFF] {
            block.fill(fill);
            assert!(Scheme::Zero.digest_pos(&block) + DIGEST_LEN <= 772);
            assert!(Scheme::One.digest_pos(&block) + DIGEST_LEN <= HANDSHAKE_SIZE);
            assert!(Scheme::One.digest_pos(&block) >= 776);
        }
        // Sum 4 * 0xFF = 1020; 1020 % 728 = 292.
        assert_eq!(Scheme::Zero.digest_pos(&block), 292 + 12);
        assert_eq!(Scheme::One.digest_pos(&block), 292 + 776);
    }

    #[test]
    fn imprinted_digest_is_found_under_its_scheme() {
        for scheme in Scheme::ALL {
            let mut block = [0u8; HANDSHAKE_SIZE];
            for (i, b) in block.iter_mut().enumerate() {
                *b = (i * 7 + 3) as u8;
            }
            let digest = imprint(&mut block, scheme, &FP_KEY[..FP_KEY_OPEN]);
            assert_eq!(find(&block, &FP_KEY[..FP_KEY_OPEN]), Some((scheme, digest)));
            // The wrong key finds nothing.
            assert_eq!(find(&block, &FMS_KEY[..FMS_KEY_OPEN]), None);
        }
    }

    #[test]
    fn signed_response_verifies_and_detects_tampering() {
        let mut block = [0x5Au8; HANDSHAKE_SIZE];
        let peer = [7u8; DIGEST_LEN];
        sign_response(&mut block, &peer, &FMS_KEY);
        assert_eq!(
            block[SIGNATURE_POS..],
            response_signature(&block, &peer, &FMS_KEY)
        );
        block[0] ^= 1;
        assert_ne!(
            block[SIGNATURE_POS..],
            response_signature(&block, &peer, &FMS_KEY)
        );
    }
}
