//! Tests of the legacy rewrite on FFmpeg 9.0.2 captures and spec layouts.
use super::super::tracks::tests::*;
use super::*;

fn rewritten(form: LegacyForm<'_>) -> Vec<u8> {
    match form {
        LegacyForm::Rewrite { head, body } => [head.as_slice(), body].concat(),
        other => panic!("not rewritten: {other:?}"),
    }
}

#[test]
fn legacy_messages_stay_as_they_are() {
    assert_eq!(
        legacy_form(AvKind::Audio, FF9_AAC_T0_SEQ, 0),
        LegacyForm::Same
    );
    assert_eq!(
        legacy_form(AvKind::Video, &[0x17, 0x01, 0, 0, 0, 9], 0),
        LegacyForm::Same
    );
    assert_eq!(legacy_form(AvKind::Video, &[], 0), LegacyForm::Same);
    // Single-track enhanced codecs with no legacy id stay enhanced, untouched.
    assert_eq!(
        legacy_form(AvKind::Audio, FF9_OPUS_SEQ, 0),
        LegacyForm::Same
    );
    assert_eq!(legacy_form(AvKind::Video, FF9_AV1_SEQ, 0), LegacyForm::Same);
    assert_eq!(legacy_form(AvKind::Video, FF9_VP9_SEQ, 0), LegacyForm::Same);
}

#[test]
fn other_tracks_are_dropped() {
    for p in [FF9_AAC_T1_SEQ, FF9_AAC_T1_CHANNELS, FF9_AAC_T1_FRAME] {
        assert_eq!(legacy_form(AvKind::Audio, p, 0), LegacyForm::Drop);
    }
    // Track 1 as the default: it becomes legacy AAC.
    assert_eq!(
        rewritten(legacy_form(AvKind::Audio, FF9_AAC_T1_SEQ, 1)),
        [0xaf, 0x00, 0x11, 0x88, 0x56, 0xe5, 0x00]
    );
    assert_eq!(
        legacy_form(AvKind::Audio, FF9_AAC_T1_CHANNELS, 1),
        LegacyForm::Drop
    );
    // Command frames have no track; video Metadata of AVC has no legacy form.
    assert_eq!(
        legacy_form(AvKind::Video, &[0xd1, 0x00], 0),
        LegacyForm::Drop
    );
    let avc_meta = [0xd4, b'a', b'v', b'c', b'1', 0x02, 0x00];
    assert_eq!(legacy_form(AvKind::Video, &avc_meta, 0), LegacyForm::Drop);
}

#[test]
fn avc1_becomes_codec_id_7() {
    let seq = [0x90, b'a', b'v', b'c', b'1', 0x01, 0x64];
    assert_eq!(
        rewritten(legacy_form(AvKind::Video, &seq, 0)),
        [0x17, 0x00, 0, 0, 0, 0x01, 0x64]
    );
    // CodedFrames keeps its composition time; CodedFramesX gets a zero one.
    let coded = [0xa1, b'a', b'v', b'c', b'1', 0x00, 0x00, 0x50, 0x41];
    assert_eq!(
        rewritten(legacy_form(AvKind::Video, &coded, 0)),
        [0x27, 0x01, 0x00, 0x00, 0x50, 0x41]
    );
    let x = [0x93, b'a', b'v', b'c', b'1', 0x65];
    assert_eq!(
        rewritten(legacy_form(AvKind::Video, &x, 0)),
        [0x17, 0x01, 0, 0, 0, 0x65]
    );
    let end = [0x92, b'a', b'v', b'c', b'1'];
    assert_eq!(
        rewritten(legacy_form(AvKind::Video, &end, 0)),
        [0x17, 0x02, 0, 0, 0]
    );
}

#[test]
fn multitrack_and_mod_ex_are_unwrapped() {
    // ManyTracks avc1 CodedFramesX: track 0 becomes legacy AVC, track 1 is gone.
    let p = [
        0x96, 0x13, b'a', b'v', b'c', b'1', 0x00, 0x00, 0x00, 0x01, 0x65, 0x01, 0x00, 0x00, 0x01,
        0x66,
    ];
    assert_eq!(
        rewritten(legacy_form(AvKind::Video, &p, 0)),
        [0x17, 0x01, 0, 0, 0, 0x65]
    );
    // ManyTracksManyCodecs audio: track 0 mp4a becomes legacy AAC.
    let p = [
        0x95, 0x21, b'm', b'p', b'4', b'a', 0x00, 0x00, 0x00, 0x01, 0x21, b'O', b'p', b'u', b's',
        0x01, 0x00, 0x00, 0x02, 0xf8, 0x01,
    ];
    assert_eq!(
        rewritten(legacy_form(AvKind::Audio, &p, 0)),
        [0xaf, 0x01, 0x21]
    );
    assert_eq!(
        rewritten(legacy_form(AvKind::Audio, &p, 1)),
        [0x91, b'O', b'p', b'u', b's', 0xf8, 0x01]
    );
    // ModEx on HEVC is stripped: a plain ex-header CodedFrames message remains.
    let p = [
        0x97, 0x02, 0x00, 0x01, 0x00, 0x01, b'h', b'v', b'c', b'1', 0, 0, 0, 0x26,
    ];
    assert_eq!(
        rewritten(legacy_form(AvKind::Video, &p, 0)),
        [0x91, b'h', b'v', b'c', b'1', 0, 0, 0, 0x26]
    );
    // .mp3 becomes SoundFormat 2.
    let p = [0x91, b'.', b'm', b'p', b'3', 0xff, 0xfb];
    assert_eq!(
        rewritten(legacy_form(AvKind::Audio, &p, 0)),
        [0x2f, 0xff, 0xfb]
    );
}

#[test]
fn any_input_is_safe() {
    for a in 0..=255u8 {
        for b in 0..=255u8 {
            for kind in [AvKind::Audio, AvKind::Video] {
                let p = [a, b, b'm', b'p', b'4', b'a', 0x00, 0x00, 0x00, 0x05, 0x01];
                for end in [1, 2, 6, 7, 10, 11] {
                    if let Some(n) = legacy_form(kind, &p[..end], 0).rewritten_len() {
                        assert!(n <= end + 5);
                    }
                }
            }
        }
    }
}
