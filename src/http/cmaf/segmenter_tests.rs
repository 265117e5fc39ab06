use super::*;
use crate::http::cmaf::building::Timeline;
use crate::http::cmaf::fixtures::*;
use crate::http::cmaf::TrackKind;
use mp4_atom::{Decode, Moof};

fn moof(bytes: &[u8]) -> Moof {
    Moof::decode(&mut &bytes[..]).expect("a moof")
}

fn av(ms: u64) -> Feed {
    av_feed(settings(), ms)
}

#[test]
fn segments_cut_at_keyframes_once_the_target_is_reached() {
    let feed = av(9000);
    let snap = feed.segmenter.shared().snapshot();
    // 2 s GOPs, 2 s target: segments at 0, 2, 4, 6 s; 8 s is still open.
    let starts: Vec<u64> = snap.segments.iter().map(|s| s.start_ms).collect();
    assert_eq!(starts, [0, 2000, 4000, 6000]);
    assert!(snap.segments.iter().all(|s| s.duration_ms == 2000));
    let msns: Vec<u64> = snap.segments.iter().map(|s| s.msn).collect();
    assert_eq!(msns, [0, 1, 2, 3]);
    assert_eq!(snap.open.as_ref().map(|s| s.msn), Some(4));
    for s in &snap.segments {
        let first = moof(s.parts[0].video.as_ref().unwrap());
        let flags = first.traf[0].trun[0].samples.get(0).unwrap().flags;
        assert_eq!(flags, Some(FLAGS_SYNC));
        assert!(s.independent && s.parts[0].independent);
        assert!(!s.discontinuity);
        assert_eq!(s.video.unwrap().start, s.start_ms * 90);
        assert_eq!(s.video.unwrap().duration, 2000 * 90);
    }
}

#[test]
fn short_gops_fill_the_target_and_long_gops_stretch_it() {
    let mut feed = Feed::new(settings());
    feed.gop = 25; // 1 s
    feed.headers(true, true);
    feed.run(7000, true, true);
    let snap = feed.segmenter.shared().snapshot();
    assert!(snap.segments.iter().all(|s| s.duration_ms == 2000));
    assert_eq!(snap.timing.max_segment_ms, 2000);

    let mut feed = Feed::new(settings());
    feed.gop = 75; // 3 s
    feed.headers(true, true);
    feed.run(10_000, true, true);
    let snap = feed.segmenter.shared().snapshot();
    assert!(snap.segments.iter().all(|s| s.duration_ms == 3000));
    assert_eq!(snap.timing.max_segment_ms, 3000);
}

#[test]
fn parts_stay_within_the_part_target() {
    let feed = av(4100);
    let snap = feed.segmenter.shared().snapshot();
    let seg = &snap.segments[0];
    let durations: Vec<u64> = seg.parts.iter().map(|p| p.duration_ms).collect();
    // 25 fps: 12 frames (480 ms) fit in 500 ms; the segment's last part holds the rest.
    assert_eq!(durations, [480, 480, 480, 480, 80]);
    assert_eq!(durations.iter().sum::<u64>(), seg.duration_ms);
    let independent: Vec<bool> = seg.parts.iter().map(|p| p.independent).collect();
    assert_eq!(independent, [true, false, false, false, false]);
    assert!(seg
        .parts
        .iter()
        .all(|p| p.audio.is_some() && p.video.is_some()));
    assert_eq!(snap.timing.part_target_ms, 500);
}

#[test]
fn sample_durations_sizes_and_composition_offsets() {
    let feed = av(2100);
    let snap = feed.segmenter.shared().snapshot();
    let parts = &snap.segments[0].parts;
    let mut next_video = 0;
    let mut next_audio = 0;
    for part in parts {
        let v = moof(part.video.as_ref().unwrap());
        let traf = &v.traf[0];
        assert_eq!(traf.tfhd.track_id, VIDEO_TRACK_ID);
        assert!(traf.tfhd.default_base_is_moof);
        assert_eq!(
            traf.tfdt.as_ref().unwrap().base_media_decode_time,
            next_video
        );
        for s in traf.trun[0].samples.iter() {
            assert_eq!(s.duration, Some(3600));
            assert_eq!(s.size, Some(1000));
            assert_eq!(s.cts, Some(40 * 90));
            next_video += 3600;
        }
        // The data offset lands on the first sample byte, right after the mdat header.
        let bytes = part.video.as_ref().unwrap();
        let offset = traf.trun[0].data_offset.unwrap() as usize;
        assert_eq!(&bytes[offset - 4..offset], b"mdat");
        assert_eq!(bytes[offset + 4], 0x65_u8.min(bytes[offset + 4]));
        let a = moof(part.audio.as_ref().unwrap());
        let traf = &a.traf[0];
        assert_eq!(traf.tfhd.track_id, AUDIO_TRACK_ID);
        let base = traf.tfdt.as_ref().unwrap().base_media_decode_time;
        if next_audio != 0 {
            assert_eq!(base, next_audio, "audio timeline continuous across parts");
        }
        let n = traf.trun[0].samples.len() as u64;
        assert!(traf.trun[0]
            .samples
            .iter()
            .all(|s| s.duration == Some(1024)));
        next_audio = base + n * 1024;
    }
    assert_eq!(next_video, 2000 * 90);
}

#[test]
fn window_slides_and_memory_is_bounded() {
    let feed = av_feed(window(3), 21_000);
    let snap = feed.segmenter.shared().snapshot();
    let msns: Vec<u64> = snap.segments.iter().map(|s| s.msn).collect();
    assert_eq!(msns, [7, 8, 9]);
    assert_eq!(feed.segmenter.stats().evicted, 7);
    assert_eq!(snap.inits.len(), 1);

    // 25 frames/s of 20 kB: a 2 s segment holds about 1 MB; a 2.5 MB budget keeps two.
    let budget = 2_500_000;
    let mut feed = Feed::new(SegmenterSettings {
        max_bytes: budget,
        ..settings()
    });
    feed.frame_size = 20_000;
    feed.headers(true, true);
    feed.run(21_000, true, true);
    let snap = feed.segmenter.shared().snapshot();
    assert_eq!(snap.segments.len(), 2);
    let complete: usize = snap.segments.iter().map(|s| s.len()).sum();
    assert!(complete <= budget, "{complete} > {budget}");
}

#[test]
fn keyframe_less_video_is_cut_by_the_bounds() {
    let mut feed = Feed::new(settings());
    feed.gop = 10_000;
    feed.headers(true, true);
    feed.run(25_000, true, true);
    let snap = feed.segmenter.shared().snapshot();
    assert_eq!(
        snap.segments[0].duration_ms,
        settings().segment_target_ms * MAX_SEGMENT_FACTOR
    );
    assert!(!snap.segments[1].independent);
    assert!(feed.segmenter.stats().forced_cuts >= 2);
}

#[test]
fn nothing_before_the_first_keyframe_and_its_configuration() {
    let mut feed = Feed::new(settings());
    let inter = avc_frame(false, 0, 100);
    assert_eq!(feed.push(MediaKind::Video, 0, &inter), Pushed::Dropped);
    feed.push(MediaKind::Video, 0, &avc_seq(AVCC));
    assert_eq!(feed.push(MediaKind::Video, 40, &inter), Pushed::Dropped);
    assert_eq!(
        feed.push(MediaKind::Video, 80, &avc_frame(true, 0, 100)),
        Pushed::Buffered
    );
    let snap = feed.segmenter.shared().snapshot();
    assert!(snap.segments.is_empty() && snap.next_part().is_none());
    assert_eq!(feed.segmenter.stats().dropped, 2);
}

#[test]
fn bad_configuration_is_an_error_and_the_stream_goes_on() {
    let mut feed = Feed::new(settings());
    let now = feed.at(0);
    let bad = avc_seq(&[0x01, 0x64]);
    assert!(matches!(
        feed.segmenter.push(MediaKind::Video, 0, &bad, now),
        Err(SegmentError::Box(BoxError::BadVideoConfig))
    ));
    let bad = aac_seq(&[0xff]);
    assert!(feed.segmenter.push(MediaKind::Audio, 0, &bad, now).is_err());
    let opus = [0x91, b'O', b'p', b'u', b's', 0xfc];
    assert!(matches!(
        feed.segmenter.push(MediaKind::Audio, 0, &opus, now),
        Err(SegmentError::Input(InputError::UnsupportedAudio))
    ));
    feed.headers(true, true);
    feed.run(4100, true, true);
    assert_eq!(feed.segmenter.shared().snapshot().segments.len(), 2);
}

#[test]
fn a_new_sequence_header_starts_a_new_init_with_a_discontinuity() {
    let mut feed = av(3000);
    // Same record again: nothing changes.
    feed.push(MediaKind::Video, 3000, &avc_seq(AVCC));
    feed.run(1000, true, true);
    let mut other = AVCC.to_vec();
    other[3] = 0x28; // level 4.0
    feed.push(MediaKind::Video, 4000, &avc_seq(&other));
    feed.run(4100, true, true);
    let snap = feed.segmenter.shared().snapshot();
    let inits: Vec<(u64, u32, bool)> = snap
        .segments
        .iter()
        .map(|s| (s.msn, s.init, s.discontinuity))
        .collect();
    assert_eq!(
        inits,
        [(0, 0, false), (1, 0, false), (2, 1, true), (3, 1, false)]
    );
    assert_eq!(snap.inits.len(), 2);
    assert!(snap.init(1).unwrap().codecs().starts_with("avc1.640028"));
}

#[test]
fn audio_only_is_cut_by_duration() {
    let mut feed = Feed::new(settings());
    feed.headers(false, true);
    feed.run(7000, false, true);
    let snap = feed.segmenter.shared().snapshot();
    assert_eq!(snap.current_init().unwrap().codecs(), "mp4a.40.2");
    assert!(snap.segments.len() >= 3);
    for s in &snap.segments {
        // Cut at the first AAC frame at or past 2 s (frames last 23.2 ms).
        assert!((2000..2024).contains(&s.duration_ms), "{}", s.duration_ms);
        assert!(s
            .parts
            .iter()
            .all(|p| p.duration_ms <= 500 && p.video.is_none()));
        assert!(s.parts.iter().all(|p| p.independent));
        assert!(s.video.is_none() && s.audio.is_some());
    }
}

#[test]
fn video_only_then_audio_joins_at_a_keyframe() {
    let mut feed = Feed::new(settings());
    feed.headers(true, false);
    feed.run(3000, true, false);
    feed.push(MediaKind::Audio, 3000, &aac_seq(ASC));
    feed.run(3100, true, true);
    let snap = feed.segmenter.shared().snapshot();
    let first = &snap.segments[0];
    assert!(first.audio.is_none());
    assert_eq!(snap.init(0).unwrap().codecs(), "avc1.64001f");
    // Audio before the next keyframe waits; from 4 s on the init has both tracks.
    let joined = &snap.segments[2];
    assert_eq!((joined.start_ms, joined.init), (4000, 1));
    assert!(joined.discontinuity && joined.audio.is_some());
    assert_eq!(snap.init(1).unwrap().codecs(), "avc1.64001f,mp4a.40.2");
    assert!(snap.init(1).unwrap().track(TrackKind::Audio).is_some());
}

#[test]
fn timestamp_jumps_and_wraparound_keep_the_timeline_continuous() {
    let mut t = Timeline::default();
    assert_eq!(t.map(u32::MAX - 20), (u64::from(u32::MAX) - 20, false));
    assert_eq!(t.map(19), (u64::from(u32::MAX) + 20, false));
    let (after_jump, jumped) = t.map(3_600_000);
    assert!(jumped);
    assert_eq!(after_jump, u64::from(u32::MAX) + 21);
    assert_eq!(t.map(3_600_040).0, after_jump + 40);
    // Small steps back (audio behind video) are media time.
    assert_eq!(t.map(3_600_000).0, after_jump);

    let mut feed = av(3000);
    let key = avc_frame(true, 0, 100);
    feed.push(MediaKind::Video, 1_000_000, &key);
    assert_eq!(feed.segmenter.stats().timestamp_jumps, 1);
    feed.push(MediaKind::Video, 1_000_040, &avc_frame(false, 0, 100));
    let snap = feed.segmenter.shared().snapshot();
    assert!(snap.segments.iter().all(|s| s.duration_ms <= 3000));
}

#[test]
fn published_versions_mark_completed_parts() {
    let mut feed = Feed::new(settings());
    feed.headers(true, false);
    let mut published = Vec::new();
    for i in 0..30u64 {
        let frame = avc_frame(i % 50 == 0, 0, 100);
        if let Pushed::Published(v) = feed.push(MediaKind::Video, i * 40, &frame) {
            published.push((i, v));
        }
    }
    // Parts of 12 frames: completed when frames 12 and 24 arrive.
    assert_eq!(published, [(12, 1), (24, 2)]);
    assert_eq!(feed.segmenter.shared().version(), 2);
    assert_eq!(feed.segmenter.shared().snapshot().version, 2);
}

#[test]
fn finish_closes_the_open_segment_and_ends_the_window() {
    let mut feed = av(3000);
    let last = feed.at(3000);
    let version = feed.segmenter.finish(last).unwrap();
    let snap = feed.segmenter.shared().snapshot();
    assert!(snap.ended && snap.open.is_none());
    assert_eq!(snap.version, version);
    assert_eq!(snap.segments.len(), 2);
    // The held-back last frame got the previous frame's duration (2960 + 40); the segment
    // reaches the end of the last audio frame.
    assert!((1000..1024).contains(&snap.segments[1].duration_ms));
    assert_eq!(snap.segments[1].video.unwrap().duration, 1000 * 90);
    assert!(snap.next_part().is_none());
    let frame = avc_frame(true, 0, 10);
    assert_eq!(feed.push(MediaKind::Video, 3040, &frame), Pushed::Dropped);
}
