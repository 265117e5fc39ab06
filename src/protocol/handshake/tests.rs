//! Tests of both sides together and against peers' algorithms and captured bytes.
//!
//! The `ffmpeg` module below re-implements, independently of `digest.rs`, the checks FFmpeg's
//! rtmpproto.c (and librtmp's handshake.h) run on S1/S2/C2, so a bug shared by our sender and
//! our receiver cannot hide. Captured C1/S1 vectors in `testdata/` come from Red5's
//! RTMPHandshakeTest.java (Red5/red5-client, Apache-2.0): Chrome 47 + Flash Player 20,
//! Firefox 43 + Flash Player 11, FFmpeg 2.4.8 built with librtmp, and an S1 from YouTube.

use super::*;

const C0C1_LEN: usize = 1 + HANDSHAKE_SIZE;
const S0S1S2_LEN: usize = 1 + 2 * HANDSHAKE_SIZE;

mod ffmpeg {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    pub const SIZE: usize = 1536;
    const TAIL: [u8; 32] = [
        0xf0, 0xee, 0xc2, 0x4a, 0x80, 0x68, 0xbe, 0xe8, 0x2e, 0x00, 0xd0, 0xd1, 0x02, 0x9e, 0x7e,
        0x57, 0x6e, 0xec, 0x5d, 0x2d, 0x29, 0x80, 0x6f, 0xab, 0x93, 0xb8, 0xe6, 0x36, 0xcf, 0xeb,
        0x31, 0xae,
    ];
    const PLAYER: &[u8] = b"Genuine Adobe Flash Player 001";
    const SERVER: &[u8] = b"Genuine Adobe Flash Media Server 001";

    fn full(open: &[u8]) -> Vec<u8> {
        [open, &TAIL[..]].concat()
    }

    fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// ff_rtmp_calc_digest_pos: sum of 4 bytes at `off`, modulo `modulo`, plus `add`.
    fn digest_pos(buf: &[u8], off: usize, modulo: usize, add: usize) -> usize {
        buf[off..off + 4].iter().map(|&b| b as usize).sum::<usize>() % modulo + add
    }

    /// ff_rtmp_calc_digest with a gap: HMAC over `buf` without the 32 bytes at `pos`.
    fn digest(buf: &[u8], pos: usize, key: &[u8]) -> [u8; 32] {
        let mut msg = buf[..pos].to_vec();
        msg.extend_from_slice(&buf[pos + 32..]);
        hmac(key, &msg)
    }

    /// A C1 as FFmpeg builds it (version 9.0.124.2, digest at offset base 8), or as librtmp's
    /// FP9 mode does (128.0.3.2, offset base 772) when `base` is 772. Returns C1 and the
    /// digest position.
    pub fn client_c1(seed: u64, base: usize) -> ([u8; SIZE], usize) {
        let mut c1 = [0u8; SIZE];
        fastrand::Rng::with_seed(seed).fill(&mut c1[8..]);
        let version = if base == 8 {
            [9, 0, 124, 2]
        } else {
            [128, 0, 3, 2]
        };
        c1[4..8].copy_from_slice(&version);
        let pos = digest_pos(&c1, base, 728, base + 4);
        let d = digest(&c1, pos, PLAYER);
        c1[pos..pos + 32].copy_from_slice(&d);
        (c1, pos)
    }

    /// rtmp_validate_digest on C1 (player key): the digest position under either base.
    pub fn validate_c1(c1: &[u8]) -> Option<usize> {
        validate(c1, PLAYER)
    }

    /// FFmpeg's check of S1: skipped below version 3 (serverdata[5] < 3), else the server
    /// digest must be found at base 772 or 8. Some(None) means "not checked".
    pub fn validate_s1(s1: &[u8]) -> Option<Option<usize>> {
        if s1[4] < 3 {
            return Some(None);
        }
        validate(s1, SERVER).map(Some)
    }

    fn validate(block: &[u8], key: &[u8]) -> Option<usize> {
        [772, 8].into_iter().find_map(|base| {
            let pos = digest_pos(block, base, 728, base + 4);
            (digest(block, pos, key) == block[pos..pos + 32]).then_some(pos)
        })
    }

    /// FFmpeg's check of S2: last 32 bytes = HMAC(HMAC(FMS key 68, C1 digest), S2[..1504]).
    pub fn validate_s2(c1: &[u8], c1_pos: usize, s2: &[u8]) -> bool {
        let key = hmac(&full(SERVER), &c1[c1_pos..c1_pos + 32]);
        hmac(&key, &s2[..SIZE - 32]) == s2[SIZE - 32..]
    }

    /// librtmp's server check of C2: HMAC(HMAC(FP key 62, S1 digest), C2[..1504]).
    pub fn validate_c2(s1: &[u8], s1_pos: usize, c2: &[u8]) -> bool {
        let key = hmac(&full(PLAYER), &s1[s1_pos..s1_pos + 32]);
        hmac(&key, &c2[..SIZE - 32]) == c2[SIZE - 32..]
    }
}

fn hex(text: &str) -> Vec<u8> {
    let text: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    text.chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// Feeds `bytes` to `handle` as two pieces split at `split`; returns the total consumed.
fn feed_split(
    mut handle: impl FnMut(&[u8]) -> Result<usize, HandshakeError>,
    bytes: &[u8],
    split: usize,
) -> usize {
    let first = handle(&bytes[..split]).unwrap();
    assert_eq!(
        first, split,
        "a piece that is all handshake must be consumed whole"
    );
    first + handle(&bytes[split..]).unwrap()
}

/// What a server with `seed` sends in answer to `c0c1`.
fn server_answer(seed: u64, c0c1: &[u8]) -> (ServerHandshake, Vec<u8>) {
    let mut server = ServerHandshake::new(seed, 1234);
    assert_eq!(server.handle_input(c0c1).unwrap(), c0c1.len());
    let mut out = Vec::new();
    server.poll_transmit(&mut out);
    assert_eq!(out.len(), S0S1S2_LEN);
    (server, out)
}

/// Runs a whole handshake in memory; returns (client's C0C1+C2, server's S0S1S2, client, server).
fn run_pair(digest: bool) -> (Vec<u8>, Vec<u8>, ClientHandshake, ServerHandshake) {
    let mut client = ClientHandshake::new(11, 500, digest);
    let mut server = ServerHandshake::new(22, 900);
    let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
    client.poll_transmit(&mut to_server);
    assert_eq!(to_server.len(), C0C1_LEN);
    assert_eq!(server.handle_input(&to_server).unwrap(), C0C1_LEN);
    server.poll_transmit(&mut to_client);
    assert_eq!(client.handle_input(&to_client).unwrap(), S0S1S2_LEN);
    client.poll_transmit(&mut to_server);
    assert_eq!(to_server.len(), C0C1_LEN + HANDSHAKE_SIZE);
    assert_eq!(
        server.handle_input(&to_server[C0C1_LEN..]).unwrap(),
        HANDSHAKE_SIZE
    );
    assert!(client.is_complete() && server.is_complete());
    (to_server, to_client, client, server)
}

#[test]
fn simple_pair_completes_with_echoes_and_zero_versions() {
    let (c, s, client, server) = run_pair(false);
    assert!(!client.used_digest() && !server.used_digest());
    let (c1, c2) = (&c[1..C0C1_LEN], &c[C0C1_LEN..]);
    let (s1, s2) = (&s[1..C0C1_LEN], &s[C0C1_LEN..]);
    assert_eq!((c[0], s[0]), (RTMP_VERSION, RTMP_VERSION));
    assert_eq!(c1[..8], [0, 0, 0x01, 0xF4, 0, 0, 0, 0]);
    assert_eq!(s1[..8], [0, 0, 0x03, 0x84, 0, 0, 0, 0]);
    assert_eq!(s2, c1);
    assert_eq!(c2, s1);
}

#[test]
fn digest_pair_completes_and_every_signature_checks_out() {
    let (c, s, client, server) = run_pair(true);
    assert!(client.used_digest() && server.used_digest());
    let (c1, c2) = (&c[1..C0C1_LEN], &c[C0C1_LEN..]);
    let (s1, s2) = (&s[1..C0C1_LEN], &s[C0C1_LEN..]);
    let c1_pos = ffmpeg::validate_c1(c1).expect("our C1 carries a player digest");
    let s1_pos = ffmpeg::validate_s1(s1)
        .unwrap()
        .expect("S1 is validated and valid");
    assert!(ffmpeg::validate_s2(c1, c1_pos, s2));
    assert!(ffmpeg::validate_c2(s1, s1_pos, c2));
    assert_ne!(s2, c1);
}

#[test]
fn server_accepts_input_split_at_every_byte_boundary() {
    for digest in [false, true] {
        let (c, expected, _, _) = run_pair(digest);
        for split in 0..=c.len() {
            let mut server = ServerHandshake::new(22, 900);
            assert_eq!(feed_split(|b| server.handle_input(b), &c, split), c.len());
            let mut out = Vec::new();
            server.poll_transmit(&mut out);
            assert_eq!(out, expected, "digest={digest} split={split}");
            assert!(server.is_complete());
            assert_eq!(server.used_digest(), digest);
        }
    }
}

#[test]
fn client_accepts_input_split_at_every_byte_boundary() {
    for digest in [false, true] {
        let (c, s, _, _) = run_pair(digest);
        for split in 0..=s.len() {
            let mut client = ClientHandshake::new(11, 500, digest);
            let mut out = Vec::new();
            client.poll_transmit(&mut out);
            assert_eq!(feed_split(|b| client.handle_input(b), &s, split), s.len());
            client.poll_transmit(&mut out);
            assert_eq!(out, c, "digest={digest} split={split}");
            assert!(client.is_complete());
        }
    }
}

#[test]
fn one_byte_at_a_time_works_on_both_sides() {
    for digest in [false, true] {
        let (c, s, _, _) = run_pair(digest);
        let mut server = ServerHandshake::new(22, 900);
        let mut client = ClientHandshake::new(11, 500, digest);
        for b in c.chunks(1) {
            assert_eq!(server.handle_input(b).unwrap(), 1);
        }
        for b in s.chunks(1) {
            assert_eq!(client.handle_input(b).unwrap(), 1);
        }
        let (mut s_out, mut c_out) = (Vec::new(), Vec::new());
        server.poll_transmit(&mut s_out);
        client.poll_transmit(&mut c_out);
        assert_eq!((s_out, c_out), (s, c));
        assert!(server.is_complete() && client.is_complete());
    }
}

#[test]
fn ffmpeg_and_librtmp_digest_c1_get_an_s1_and_s2_they_accept() {
    for base in [8, 772] {
        let (c1, c1_pos) = ffmpeg::client_c1(99, base);
        let c0c1 = [&[RTMP_VERSION][..], &c1[..]].concat();
        let (server, out) = server_answer(5, &c0c1);
        assert!(server.used_digest(), "base {base}");
        let (s1, s2) = (&out[1..C0C1_LEN], &out[C0C1_LEN..]);
        assert_eq!(s1[4..8], [0x0D, 0x0E, 0x0A, 0x0D]);
        let s1_pos = ffmpeg::validate_s1(s1)
            .unwrap()
            .expect("S1 digest checked and valid");
        // Same half as the client's digest.
        assert_eq!(s1_pos >= 776, base == 772);
        assert!(ffmpeg::validate_s2(&c1, c1_pos, s2));
    }
}

#[test]
fn version_bytes_with_a_garbage_digest_fall_back_to_simple() {
    let (mut c1, c1_pos) = ffmpeg::client_c1(7, 8);
    c1[c1_pos] ^= 0xFF;
    let c0c1 = [&[RTMP_VERSION][..], &c1[..]].concat();
    let (server, out) = server_answer(5, &c0c1);
    assert!(!server.used_digest());
    assert_eq!(
        out[1 + 4..1 + 8],
        [0; 4],
        "S1 version must be zero so FFmpeg skips checks"
    );
    assert_eq!(ffmpeg::validate_s1(&out[1..C0C1_LEN]), Some(None));
    assert_eq!(out[C0C1_LEN..], c1);
}

#[test]
fn wrong_c0_fails_at_once_and_stays_failed() {
    for version in [0u8, 6, 8, 0x16, 0xFF] {
        let mut server = ServerHandshake::new(1, 0);
        assert_eq!(
            server.handle_input(&[version]),
            Err(HandshakeError::UnsupportedVersion(version))
        );
        assert_eq!(server.handle_input(&[3; 10]), Err(HandshakeError::Failed));
        let mut out = Vec::new();
        server.poll_transmit(&mut out);
        assert!(out.is_empty() && !server.is_complete());
    }
}

#[test]
fn wrong_s0_fails_the_client() {
    let mut client = ClientHandshake::new(1, 0, true);
    let mut s = vec![6u8];
    s.extend_from_slice(&[0; 2 * HANDSHAKE_SIZE]);
    assert_eq!(
        client.handle_input(&s),
        Err(HandshakeError::UnsupportedVersion(6))
    );
    assert_eq!(client.handle_input(&s), Err(HandshakeError::Failed));
    assert!(!client.is_complete());
}

#[test]
fn bytes_after_the_handshake_are_left_for_the_chunk_stream() {
    for digest in [false, true] {
        let (c, s, _, _) = run_pair(digest);
        let extra = b"\x02\x00\x00\x00\x00\x00\x04\x01";

        let mut server = ServerHandshake::new(22, 900);
        let input = [&c[..], &extra[..]].concat();
        assert_eq!(server.handle_input(&input).unwrap(), c.len());
        assert_eq!(server.handle_input(extra).unwrap(), 0);

        let mut client = ClientHandshake::new(11, 500, digest);
        let input = [&s[..], &extra[..]].concat();
        assert_eq!(client.handle_input(&input).unwrap(), s.len());
        assert_eq!(client.handle_input(extra).unwrap(), 0);
    }
}

#[test]
fn complete_only_once_the_answer_is_handed_out() {
    let (c, _, _, _) = run_pair(true);
    let mut server = ServerHandshake::new(22, 900);
    server.handle_input(&c).unwrap();
    assert!(!server.is_complete());
    let mut out = Vec::new();
    server.poll_transmit(&mut out);
    assert!(server.is_complete());
    server.poll_transmit(&mut out);
    assert_eq!(out.len(), S0S1S2_LEN, "nothing is sent twice");
}

#[test]
fn randomness_follows_the_seed() {
    let c0c1 = |seed| {
        let mut out = Vec::new();
        ClientHandshake::new(seed, 0, false).poll_transmit(&mut out);
        out
    };
    assert_eq!(c0c1(1), c0c1(1));
    assert_ne!(c0c1(1), c0c1(2));
}

#[test]
fn captured_flash_player_c1s_get_the_digest_handshake() {
    for (name, text) in [
        (
            "chrome47 fp20",
            include_str!("testdata/chrome47_fp20_c1.hex"),
        ),
        (
            "firefox43 fp11",
            include_str!("testdata/firefox43_fp11_c1.hex"),
        ),
    ] {
        let c1 = hex(text);
        assert_eq!(c1.len(), HANDSHAKE_SIZE, "{name}");
        assert_eq!(c1[4..8], [0x80, 0, 0x07, 0x02], "{name}");
        let c1_pos = ffmpeg::validate_c1(&c1).expect("capture carries a player digest");
        assert!(
            c1_pos >= 776,
            "{name}: Flash Player 10+ uses the second half"
        );
        let c0c1 = [&[RTMP_VERSION][..], &c1[..]].concat();
        for split in [0, 1, 9, 775, C0C1_LEN] {
            let mut server = ServerHandshake::new(3, 77);
            assert_eq!(
                feed_split(|b| server.handle_input(b), &c0c1, split),
                C0C1_LEN
            );
            let mut out = Vec::new();
            server.poll_transmit(&mut out);
            assert!(server.used_digest(), "{name}");
            let s1_pos = ffmpeg::validate_s1(&out[1..C0C1_LEN]).unwrap().unwrap();
            assert!(s1_pos >= 776, "{name}: S1 digest in the same half as C1's");
            assert!(ffmpeg::validate_s2(&c1, c1_pos, &out[C0C1_LEN..]), "{name}");
        }
    }
}

#[test]
fn captured_librtmp_c1_gets_the_simple_handshake() {
    let c1 = hex(include_str!("testdata/ffmpeg248_librtmp_c1.hex"));
    assert_eq!(c1.len(), HANDSHAKE_SIZE);
    let c0c1 = [&[RTMP_VERSION][..], &c1[..]].concat();
    let (server, out) = server_answer(3, &c0c1);
    assert!(!server.used_digest());
    assert_eq!(out[1 + 4..1 + 8], [0; 4]);
    assert_eq!(out[C0C1_LEN..], c1[..]);
}

#[test]
fn captured_youtube_s1_without_digest_gets_an_echo_from_a_digest_client() {
    // YouTube answered with version 4.0.0.1 but no server digest at either offset.
    let s1 = hex(include_str!("testdata/youtube_s1.hex"));
    assert_eq!(s1.len(), HANDSHAKE_SIZE);
    assert_eq!(s1[4..8], [4, 0, 0, 1]);
    let mut client = ClientHandshake::new(8, 0, true);
    let mut out = Vec::new();
    client.poll_transmit(&mut out);
    let s0s1 = [&[RTMP_VERSION][..], &s1[..]].concat();
    assert_eq!(client.handle_input(&s0s1).unwrap(), C0C1_LEN);
    let mut c2 = Vec::new();
    client.poll_transmit(&mut c2);
    assert_eq!(c2, s1);
    assert!(!client.used_digest());
    assert_eq!(
        client.handle_input(&[0; HANDSHAKE_SIZE]).unwrap(),
        HANDSHAKE_SIZE
    );
    assert!(client.is_complete());
}

#[test]
fn digest_client_is_lenient_toward_a_server_that_answers_simple() {
    // A simple server (zero S1 version, S2 = echo of C1), as nginx-rtmp and SRS answer a C1
    // they do not validate.
    let mut client = ClientHandshake::new(4, 0, true);
    let mut c0c1 = Vec::new();
    client.poll_transmit(&mut c0c1);
    let mut s = vec![RTMP_VERSION, 0, 0, 0, 9, 0, 0, 0, 0];
    s.extend((0..HANDSHAKE_SIZE - 8).map(|i| i as u8));
    s.extend_from_slice(&c0c1[1..]);
    assert_eq!(client.handle_input(&s).unwrap(), S0S1S2_LEN);
    let mut c2 = Vec::new();
    client.poll_transmit(&mut c2);
    assert_eq!(c2, s[1..C0C1_LEN]);
    assert!(client.is_complete() && !client.used_digest());
}
