//! ShardCore tests of the two stream variants: an FFmpeg 9 style multitrack stream (H.264 and
//! AAC on track 0, a second AAC track 1, an `avc1` ex-header frame) fanned out to enhanced and
//! legacy players on both shards, early and late.
use super::harness::{Harness, Media};
use crate::media::variants::Variant;

/// FFmpeg 9's track-1 AAC SequenceStart and MultichannelConfig (Multitrack OneTrack).
const T1_SEQ: &[u8] = &[
    0x95, 0x00, b'm', b'p', b'4', b'a', 0x01, 0x11, 0x88, 0x56, 0xe5, 0x00,
];
const T1_CHANNELS: &[u8] = &[
    0x95, 0x04, b'm', b'p', b'4', b'a', 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x04,
];

fn t1_frame(n: u32) -> Vec<u8> {
    let mut p = vec![0x95, 0x01, b'm', b'p', b'4', b'a', 0x01];
    p.extend_from_slice(&n.to_be_bytes());
    p
}

/// `frames` frames from `first`: AVC (every 3rd as an enhanced `avc1` CodedFramesX frame),
/// track 0 AAC and track 1 AAC after each; a keyframe every 10.
fn multitrack(h: &mut Harness, w: usize, first: u32, frames: u32) {
    for n in first..first + frames {
        if n % 3 == 1 {
            let mut p = vec![0xa3, b'a', b'v', b'c', b'1'];
            p.extend_from_slice(&n.to_be_bytes());
            h.send(w, 9, n * 40, p);
        } else {
            h.video(w, n * 40, n, n % 10 == 0, 40);
        }
        h.audio(w, n * 40 + 10);
        h.send(w, 8, n * 40 + 10, t1_frame(n));
        h.advance(40 * super::MS);
    }
}

fn is_enhanced(m: &Media) -> bool {
    match m.type_id {
        9 => m.payload.first().is_some_and(|b| b & 0x80 != 0),
        8 => m.payload.first().is_some_and(|b| b >> 4 == 9),
        _ => false,
    }
}

/// Index of the first message equal to `payload`.
fn position(media: &[Media], payload: &[u8]) -> Option<usize> {
    media.iter().position(|m| m.payload == payload)
}

#[test]
fn enhanced_and_legacy_players_get_their_variant_early_and_late() {
    let mut h = Harness::new(|_| {});
    let publisher = h.publisher(0, "mt");
    let early_enhanced = h.player_with(1, "mt", true);
    let early_legacy = h.player_with(0, "mt", false);
    h.headers(publisher);
    h.send(publisher, 8, 0, T1_SEQ.to_vec());
    h.send(publisher, 8, 0, T1_CHANNELS.to_vec());
    multitrack(&mut h, publisher, 0, 25);
    let late_enhanced = [h.player_with(0, "mt", true), h.player_with(1, "mt", true)];
    let late_legacy = [h.player_with(0, "mt", false), h.player_with(1, "mt", false)];
    multitrack(&mut h, publisher, 25, 10);

    let sent = h.wires[publisher].sent.clone();
    h.assert_healthy(early_enhanced);
    let got = h.media(early_enhanced);
    assert_eq!(
        got.len(),
        sent.len(),
        "an early enhanced player gets everything"
    );
    assert!(got.iter().zip(&sent).all(|(a, b)| a.same(b)));

    for w in late_enhanced {
        h.assert_healthy(w);
        let got = h.media(w);
        // Every track's configuration before its first frame, also track 1's.
        let seq = position(&got, T1_SEQ).expect("track 1 SequenceStart");
        let t0_seq = position(&got, &[0xAF, 0, 0x12, 0x10]).expect("track 0 AAC header");
        assert!(t0_seq < seq);
        let channels = position(&got, T1_CHANNELS).expect("track 1 MultichannelConfig");
        let first_t1 = got
            .iter()
            .position(|m| m.payload.starts_with(&[0x95, 0x01]))
            .expect("track 1 frames");
        assert!(
            seq < channels && channels < first_t1,
            "{seq} {channels} {first_t1}"
        );
        // Starts at the GOP of keyframe 20.
        let first_video = got.iter().find(|m| m.type_id == 9 && m.payload[1] == 1);
        assert_eq!(first_video.and_then(Media::number), Some(20));
    }

    for w in std::iter::once(early_legacy).chain(late_legacy) {
        h.assert_healthy(w);
        let got = h.media(w);
        assert!(
            !got.iter().any(is_enhanced),
            "legacy player got an ex-header message"
        );
        // The avc1 frames arrive as legacy AVC: codec id 7, AVCPacketType 1, CTS 0.
        let frame_31 = got
            .iter()
            .find(|m| m.payload.ends_with(&31u32.to_be_bytes()) && m.type_id == 9)
            .expect("frame 31");
        assert_eq!(&frame_31.payload[..5], &[0x27, 0x01, 0, 0, 0]);
        // Headers: metadata, AVC, AAC of track 0 only.
        let audio_headers = got
            .iter()
            .filter(|m| m.type_id == 8 && m.payload.get(1) == Some(&0))
            .count();
        assert_eq!(audio_headers, 1);
        assert!(got.iter().any(|m| m.type_id == 18));
    }
    let legacy_audio = h
        .media(early_legacy)
        .iter()
        .filter(|m| m.type_id == 8)
        .count();
    // Track 0's header and 35 frames.
    assert_eq!(legacy_audio, 36);

    // Both shards keep a legacy log of their own for this stream.
    for core in &h.cores {
        let sid = core.streams.find("live/mt").expect("stream");
        let logs = &core.streams.get(sid).expect("stream").logs;
        assert!(logs.has_legacy());
        assert!(logs.get(Variant::Legacy).end() <= logs.get(Variant::Enhanced).end());
    }
}

#[test]
fn an_ordinary_stream_keeps_one_log_for_every_player() {
    let mut h = Harness::new(|_| {});
    let publisher = h.publisher(0, "plain");
    let enhanced = h.player_with(1, "plain", true);
    let legacy = h.player_with(0, "plain", false);
    h.headers(publisher);
    h.stream(publisher, 0, 30, 10, 100);
    let sent = h.wires[publisher].sent.clone();
    for w in [enhanced, legacy] {
        h.assert_healthy(w);
        let got = h.media(w);
        assert_eq!(got.len(), sent.len());
        assert!(got.iter().zip(&sent).all(|(a, b)| a.same(b)));
    }
    for core in &h.cores {
        let sid = core.streams.find("live/plain").expect("stream");
        assert!(!core.streams.get(sid).expect("stream").logs.has_legacy());
    }
}
