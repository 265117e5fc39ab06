//! Tests of the track walker against FFmpeg 9.0.2 captures (`-f flv`, the same tags its RTMP
//! muxer sends) and hand-built vectors of the Enhanced RTMP v2 spec's multitrack layouts.
use super::*;

/// FFmpeg 9: H.264 + 2x AAC (`-map 0:v -map 1:a -map 2:a`): the second AAC track's
/// SequenceStart, as Multitrack OneTrack, track 1.
pub(crate) const FF9_AAC_T1_SEQ: &[u8] = &[
    0x95, 0x00, b'm', b'p', b'4', b'a', 0x01, 0x11, 0x88, 0x56, 0xe5, 0x00,
];
/// FFmpeg 9: the same track's MultichannelConfig (native order, 1 channel, mono layout).
pub(crate) const FF9_AAC_T1_CHANNELS: &[u8] = &[
    0x95, 0x04, b'm', b'p', b'4', b'a', 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x04,
];
/// FFmpeg 9: start of a coded AAC frame of track 1.
pub(crate) const FF9_AAC_T1_FRAME: &[u8] = &[
    0x95, 0x01, b'm', b'p', b'4', b'a', 0x01, 0xdc, 0x00, 0x4c, 0x61, 0x76,
];
/// FFmpeg 9: track 0 of the same stream stays legacy AAC (SoundFormat 10).
pub(crate) const FF9_AAC_T0_SEQ: &[u8] = &[0xaf, 0x00, 0x11, 0x88, 0x56, 0xe5, 0x00];
/// FFmpeg 9: Opus SequenceStart (OpusHead) and MultichannelConfig, single track.
pub(crate) const FF9_OPUS_SEQ: &[u8] = &[
    0x90, b'O', b'p', b'u', b's', b'O', b'p', b'u', b's', b'H', b'e', b'a', b'd', 0x01, 0x01, 0x38,
    0x01, 0x80, 0xbb, 0x00, 0x00, 0x00, 0x00, 0x00,
];
pub(crate) const FF9_OPUS_CHANNELS: &[u8] = &[
    0x94, b'O', b'p', b'u', b's', 0x01, 0x01, 0x00, 0x00, 0x00, 0x04,
];
/// FFmpeg 9: AV1 SequenceStart (av1C) and the HDR/colour Metadata frame it sends after it.
pub(crate) const FF9_AV1_SEQ: &[u8] = &[
    0x90, 0x61, 0x76, 0x30, 0x31, 0x81, 0x00, 0x0c, 0x00, 0x0a, 0x0b, 0x02, 0x00, 0x00, 0x05, 0x5d,
    0xa7, 0xfb, 0x80, 0x5f, 0x00, 0x08,
];
pub(crate) const FF9_AV1_COLOR: &[u8] = &[
    0xd4, 0x61, 0x76, 0x30, 0x31, 0x02, 0x00, 0x09, 0x63, 0x6f, 0x6c, 0x6f, 0x72, 0x49, 0x6e, 0x66,
    0x6f, 0x03, 0x00, 0x0b, 0x63, 0x6f, 0x6c, 0x6f, 0x72, 0x43, 0x6f, 0x6e, 0x66, 0x69, 0x67, 0x03,
    0x00, 0x00, 0x09, 0x00, 0x00, 0x09,
];
/// FFmpeg 9: VP9 SequenceStart (vpcC).
pub(crate) const FF9_VP9_SEQ: &[u8] = &[
    0x90, 0x76, 0x70, 0x30, 0x39, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x87, 0x02, 0x02, 0x00, 0x00,
    0x00,
];

fn ids(t: &Tracks<'_>) -> Vec<(u8, [u8; 4], usize)> {
    t.iter().map(|t| (t.id, t.fourcc, t.body.len())).collect()
}

#[test]
fn ffmpeg9_multitrack_audio_is_one_track_with_its_id() {
    let t = tracks(AvKind::Audio, FF9_AAC_T1_SEQ).unwrap();
    assert_eq!(t.multitrack, Some(MultitrackType::OneTrack));
    assert_eq!(t.packet_type, audio_pt::SEQUENCE_START);
    let all: Vec<_> = t.iter().collect();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].id, 1);
    assert_eq!(all[0].fourcc, audio_fourcc::AAC);
    assert_eq!(all[0].body, &[0x11, 0x88, 0x56, 0xe5, 0x00]);
    let t = tracks(AvKind::Audio, FF9_AAC_T1_CHANNELS).unwrap();
    assert_eq!(t.packet_type, audio_pt::MULTICHANNEL_CONFIG);
    assert_eq!(ids(&t), vec![(1, audio_fourcc::AAC, 6)]);
    let t = tracks(AvKind::Audio, FF9_AAC_T1_FRAME).unwrap();
    assert_eq!(t.packet_type, audio_pt::CODED_FRAMES);
    assert_eq!(t.find(1).map(|t| t.body.len()), Some(5));
    assert_eq!(t.find(0), None);
    // Legacy AAC is no ex-header.
    assert_eq!(tracks(AvKind::Audio, FF9_AAC_T0_SEQ), None);
}

#[test]
fn ffmpeg9_single_track_enhanced_is_track_zero() {
    let t = tracks(AvKind::Audio, FF9_OPUS_SEQ).unwrap();
    assert_eq!((t.multitrack, t.mod_ex), (None, false));
    assert_eq!(ids(&t), vec![(0, audio_fourcc::OPUS, 19)]);
    let t = tracks(AvKind::Audio, FF9_OPUS_CHANNELS).unwrap();
    assert_eq!(t.packet_type, audio_pt::MULTICHANNEL_CONFIG);
    let t = tracks(AvKind::Video, FF9_AV1_SEQ).unwrap();
    assert_eq!((t.frame_type, t.packet_type), (1, video_pt::SEQUENCE_START));
    assert_eq!(ids(&t), vec![(0, video_fourcc::AV1, 17)]);
    // Metadata reuses frame type 5 but is no command frame: it has a FourCC.
    let t = tracks(AvKind::Video, FF9_AV1_COLOR).unwrap();
    assert_eq!((t.frame_type, t.packet_type), (5, video_pt::METADATA));
    assert_eq!(t.find(0).unwrap().fourcc, video_fourcc::AV1);
    let t = tracks(AvKind::Video, FF9_VP9_SEQ).unwrap();
    assert_eq!(t.find(0).unwrap().fourcc, video_fourcc::VP9);
    // Legacy AVC, and a command frame, have no tracks to walk.
    assert_eq!(tracks(AvKind::Video, &[0x17, 0x01, 0, 0, 0]), None);
    assert_eq!(tracks(AvKind::Video, &[0xd1, 0x00]), None);
}

#[test]
fn many_tracks_share_a_fourcc_and_carry_sizes() {
    // Key + Multitrack; ManyTracks, CodedFramesX, hvc1; track 0 (2 bytes), track 2 (3 bytes).
    let p = [
        0x96, 0x13, b'h', b'v', b'c', b'1', 0x00, 0x00, 0x00, 0x02, 0xaa, 0xbb, 0x02, 0x00, 0x00,
        0x03, 0x01, 0x02, 0x03,
    ];
    let t = tracks(AvKind::Video, &p).unwrap();
    assert_eq!(t.multitrack, Some(MultitrackType::ManyTracks));
    assert_eq!(t.packet_type, video_pt::CODED_FRAMES_X);
    assert_eq!(
        ids(&t),
        vec![(0, video_fourcc::HEVC, 2), (2, video_fourcc::HEVC, 3)]
    );
    assert_eq!(t.find(2).unwrap().body, &[1, 2, 3]);
}

#[test]
fn many_tracks_many_codecs_name_each_fourcc() {
    // Audio Multitrack; ManyTracksManyCodecs, CodedFrames; mp4a track 0, Opus track 1.
    let p = [
        0x95, 0x21, b'm', b'p', b'4', b'a', 0x00, 0x00, 0x00, 0x01, 0x21, b'O', b'p', b'u', b's',
        0x01, 0x00, 0x00, 0x02, 0xf8, 0x01,
    ];
    let t = tracks(AvKind::Audio, &p).unwrap();
    assert_eq!(t.multitrack, Some(MultitrackType::ManyTracksManyCodecs));
    assert_eq!(
        ids(&t),
        vec![(0, audio_fourcc::AAC, 1), (1, audio_fourcc::OPUS, 2)]
    );
}

#[test]
fn mod_ex_before_the_packet_type_is_noted() {
    // ModEx TimestampOffsetNano (3 bytes), then Multitrack OneTrack CodedFrames av01 track 3.
    let p = [
        0x97, 0x02, 0x00, 0x01, 0x00, 0x06, 0x01, b'a', b'v', b'0', b'1', 0x03, 0x12, 0x00,
    ];
    let t = tracks(AvKind::Video, &p).unwrap();
    assert!(t.mod_ex);
    assert_eq!(ids(&t), vec![(3, video_fourcc::AV1, 2)]);
}

#[test]
fn sizes_past_the_end_stop_the_walk() {
    // Track 0 says 9 bytes, 2 follow.
    let p = [
        0x96, 0x11, b'h', b'v', b'c', b'1', 0x00, 0x00, 0x00, 0x09, 0xaa, 0xbb,
    ];
    assert_eq!(tracks(AvKind::Video, &p).unwrap().iter().count(), 0);
    // Second track cut inside its header.
    let p = [
        0x96, 0x11, b'h', b'v', b'c', b'1', 0x00, 0x00, 0x00, 0x01, 0xaa, 0x01, 0x00,
    ];
    assert_eq!(tracks(AvKind::Video, &p).unwrap().iter().count(), 1);
    // A reserved multitrack mode is no message to walk.
    assert_eq!(
        tracks(AvKind::Video, &[0x96, 0x51, b'h', b'v', b'c', b'1']),
        None
    );
}

#[test]
fn every_prefix_and_byte_pair_is_safe() {
    let vectors: &[&[u8]] = &[
        FF9_AAC_T1_SEQ,
        FF9_AAC_T1_CHANNELS,
        FF9_OPUS_SEQ,
        FF9_AV1_COLOR,
        &[
            0x96, 0x21, b'a', b'v', b'c', b'1', 0x00, 0x00, 0x00, 0x01, 0x21,
        ],
    ];
    for kind in [AvKind::Audio, AvKind::Video] {
        for v in vectors {
            for end in 0..=v.len() {
                if let Some(t) = tracks(kind, &v[..end]) {
                    for track in t.iter() {
                        assert!(track.body.len() <= end);
                    }
                }
            }
        }
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                for p in [&[a, b][..], &[a, b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff][..]] {
                    if let Some(t) = tracks(kind, p) {
                        let _ = t.iter().count();
                    }
                }
            }
        }
    }
}
