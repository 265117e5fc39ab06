use super::*;
use crate::http::cmaf::fixtures::{ASC, AVCC, X265_SPS_1920X1088_CROPPED};
use mp4_atom::{Any, Decode, HvcCArray};

fn decode_init(bytes: &[u8]) -> (Ftyp, Moov) {
    let buf = &mut &bytes[..];
    let ftyp = Ftyp::decode(buf).expect("ftyp");
    let moov = Moov::decode(buf).expect("moov");
    assert!(buf.is_empty(), "trailing bytes after moov");
    (ftyp, moov)
}

fn hevc_record(sps: &[u8]) -> Vec<u8> {
    let hvcc = Hvcc {
        general_profile_idc: 1,
        general_profile_compatibility_flags: [0x60, 0, 0, 0],
        general_constraint_indicator_flags: [0xb0, 0, 0, 0, 0, 0],
        general_level_idc: 93,
        chroma_format_idc: 1,
        length_size_minus_one: 3,
        arrays: vec![HvcCArray {
            completeness: true,
            nal_unit_type: 33,
            nalus: vec![sps.to_vec()],
        }],
        ..Hvcc::new()
    };
    let mut body = Vec::new();
    hvcc.encode_body(&mut body).unwrap();
    body
}

#[test]
fn avc_and_aac_init_segment() {
    let video = VideoTrack::new(VideoCodecKind::Avc, AVCC).unwrap();
    assert_eq!(video.codec_string, "avc1.64001f");
    let audio = AudioTrack::new(ASC).unwrap();
    assert_eq!(
        (audio.object_type, audio.sample_rate, audio.channels),
        (2, 44_100, 2)
    );
    assert_eq!(audio.codec_string, "mp4a.40.2");
    let (ftyp, moov) = decode_init(&init_segment(Some(&video), Some(&audio)).unwrap());
    assert_eq!(ftyp.major_brand, b"iso6".into());
    assert!(ftyp.compatible_brands.contains(&b"cmfc".into()));
    assert_eq!(moov.trak.len(), 2);
    let trex: Vec<u32> = moov.mvex.unwrap().trex.iter().map(|t| t.track_id).collect();
    assert_eq!(trex, [VIDEO_TRACK_ID, AUDIO_TRACK_ID]);
    let v = &moov.trak[0];
    assert_eq!(v.tkhd.track_id, VIDEO_TRACK_ID);
    assert_eq!((video.width, video.height), (1280, 720));
    assert_eq!(
        (v.tkhd.width, v.tkhd.height),
        (1280u16.into(), 720u16.into())
    );
    assert_eq!(v.mdia.mdhd.timescale, VIDEO_TIMESCALE);
    assert_eq!(v.mdia.hdlr.handler, b"vide".into());
    match &v.mdia.minf.stbl.stsd.codecs[0] {
        Codec::Avc1(avc1) => {
            assert_eq!((avc1.visual.width, avc1.visual.height), (1280, 720));
            assert_eq!(avc1.avcc.avc_profile_indication, 0x64);
            assert_eq!(avc1.avcc.sequence_parameter_sets[0], &AVCC[8..34]);
            assert_eq!(avc1.avcc.picture_parameter_sets.len(), 1);
        }
        other => panic!("not avc1: {other:?}"),
    }
    let a = &moov.trak[1];
    assert_eq!(a.mdia.mdhd.timescale, 44_100);
    assert_eq!(a.mdia.hdlr.handler, b"soun".into());
    match &a.mdia.minf.stbl.stsd.codecs[0] {
        Codec::Mp4a(mp4a) => {
            assert_eq!(mp4a.audio.channel_count, 2);
            let dec = &mp4a.esds.es_desc.dec_config;
            assert_eq!(dec.object_type_indication, 0x40);
            assert_eq!(dec.dec_specific.as_ref().unwrap().raw, ASC);
        }
        other => panic!("not mp4a: {other:?}"),
    }
}

#[test]
fn single_track_inits_for_dash() {
    let audio = AudioTrack::new(ASC).unwrap();
    let (_, moov) = decode_init(&init_segment(None, Some(&audio)).unwrap());
    assert_eq!(moov.trak.len(), 1);
    assert_eq!(moov.trak[0].tkhd.track_id, AUDIO_TRACK_ID);
    let video = VideoTrack::new(VideoCodecKind::Avc, AVCC).unwrap();
    let (_, moov) = decode_init(&init_segment(Some(&video), None).unwrap());
    assert_eq!(moov.trak.len(), 1);
    assert_eq!(moov.mvex.unwrap().trex.len(), 1);
}

#[test]
fn hevc_sample_entry_and_codec_string() {
    let record = hevc_record(X265_SPS_1920X1088_CROPPED);
    let video = VideoTrack::new(VideoCodecKind::Hevc, &record).unwrap();
    assert_eq!(video.codec_string, "hvc1.1.6.L93.B0");
    assert_eq!((video.width, video.height), (1920, 1080));
    let (_, moov) = decode_init(&init_segment(Some(&video), None).unwrap());
    let v = &moov.trak[0];
    assert_eq!(
        (v.tkhd.width, v.tkhd.height),
        (1920u16.into(), 1080u16.into())
    );
    match &v.mdia.minf.stbl.stsd.codecs[0] {
        Codec::Hvc1(hvc1) => {
            assert_eq!((hvc1.visual.width, hvc1.visual.height), (1920, 1080));
            assert_eq!(hvc1.hvcc.general_level_idc, 93);
            assert_eq!(hvc1.hvcc.arrays[0].nalus[0], X265_SPS_1920X1088_CROPPED);
        }
        other => panic!("not hvc1: {other:?}"),
    }
    // An SPS the parser cannot read leaves the size unknown, the track still usable.
    let video = VideoTrack::new(VideoCodecKind::Hevc, &hevc_record(&[0x42, 0x01, 0x01])).unwrap();
    assert_eq!((video.width, video.height), (0, 0));
    let main10 = Hvcc {
        general_profile_idc: 2,
        general_tier_flag: true,
        general_profile_compatibility_flags: [0x20, 0, 0, 0],
        general_constraint_indicator_flags: [0xb0, 0, 0, 0, 0, 0],
        general_level_idc: 120,
        ..Hvcc::new()
    };
    assert_eq!(hevc_codec_string(&main10), "hvc1.2.4.H120.B0");
}

#[test]
fn malformed_configurations_are_errors() {
    assert_eq!(
        VideoTrack::new(VideoCodecKind::Avc, &[0x01, 0x64]),
        Err(BoxError::BadVideoConfig)
    );
    assert_eq!(
        VideoTrack::new(VideoCodecKind::Hevc, &[0x01]),
        Err(BoxError::BadVideoConfig)
    );
    for bad in [&[][..], &[0x12], &[0x07, 0x90], &[0x00, 0x10]] {
        assert_eq!(
            AudioTrack::new(bad),
            Err(BoxError::BadAudioConfig),
            "{bad:x?}"
        );
    }
    // Every prefix of a valid record and arbitrary bytes: errors, never panics.
    for end in 0..AVCC.len() {
        let _ = VideoTrack::new(VideoCodecKind::Avc, &AVCC[..end]);
    }
    for a in 0..=255u8 {
        let _ = AudioTrack::new(&[a, a.wrapping_mul(7), 0xff]);
        let _ = VideoTrack::new(VideoCodecKind::Hevc, &[1, a, 0, 0, 0, 0, 0xff]);
    }
}

#[test]
fn aac_config_variants() {
    let he = AudioTrack::new(&[0x2b, 0x92, 0x08, 0x00]).unwrap();
    assert_eq!((he.object_type, he.sample_rate), (5, 22_050));
    assert_eq!(he.codec_string, "mp4a.40.5");
    let mono48 = AudioTrack::new(&[0x11, 0x88]).unwrap();
    assert_eq!((mono48.sample_rate, mono48.channels), (48_000, 1));
    // Explicit frequency (index 15) of 32 kHz.
    let explicit = AudioTrack::new(&[0x17, 0x80, 0x3e, 0x80, 0x10]).unwrap();
    assert_eq!(explicit.sample_rate, 32_000);
}

#[test]
fn fragment_boxes() {
    let samples = [
        SampleEntry {
            duration: 3600,
            size: 3,
            flags: FLAGS_SYNC,
            composition: 7200,
        },
        SampleEntry {
            duration: 3600,
            size: 2,
            flags: FLAGS_NON_SYNC,
            composition: -3600,
        },
    ];
    let bytes = fragment(7, VIDEO_TRACK_ID, 90_000, &samples, &[1, 2, 3, 4, 5]).unwrap();
    let buf = &mut &bytes[..];
    let moof = match Any::decode(buf).unwrap() {
        Any::Moof(m) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(moof.mfhd.sequence_number, 7);
    let traf = &moof.traf[0];
    assert_eq!(traf.tfhd.track_id, VIDEO_TRACK_ID);
    assert!(traf.tfhd.default_base_is_moof);
    assert_eq!(traf.tfdt.as_ref().unwrap().base_media_decode_time, 90_000);
    let trun = &traf.trun[0];
    let entries: Vec<_> = trun.samples.iter().collect();
    assert_eq!(entries[0].cts, Some(7200));
    assert_eq!(entries[1].cts, Some(-3600));
    assert_eq!(entries[1].flags, Some(FLAGS_NON_SYNC));
    let offset = trun.data_offset.unwrap() as usize;
    assert_eq!(&bytes[offset..], [1, 2, 3, 4, 5]);
    match Any::decode(buf).unwrap() {
        Any::Mdat(m) => assert_eq!(m.data, [1, 2, 3, 4, 5]),
        other => panic!("{other:?}"),
    }
}
