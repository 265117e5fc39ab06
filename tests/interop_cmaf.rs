//! The CMAF segmenter against real readers: FFmpeg-made FLV files (H.264 + AAC with B-frames,
//! HEVC + AAC as Enhanced RTMP from FFmpeg 9, audio only, video only) read with the project's
//! FLV reader, pushed through the segmenter, written out as the HTTP routes would serve them,
//! then read back: ffprobe and ffmpeg through `index.m3u8` (LL-HLS tags included) and
//! `index.mpd`, GStreamer's playbin (hlsdemux), and the structure checked directly: every
//! segment starts with a keyframe, EXTINF within EXT-X-TARGETDURATION, media sequence numbers
//! continuous, the HEVC init's tkhd / hvc1 picture size, and init + segments as one .mp4
//! recording.
mod support;

use rtmp_edge::http::cmaf::{boxes, SegmenterSettings, Snapshot};
use std::path::Path;
use support::*;

const SECONDS: f64 = 8.0;

fn settings() -> SegmenterSettings {
    SegmenterSettings {
        segment_target_ms: 2000,
        part_target_ms: 500,
        // Room for the whole file: the readers see every segment.
        window_segments: 100,
        max_bytes: 64 << 20,
    }
}

fn av(video: &'static str) -> FlvSource {
    FlvSource {
        video: Some(video),
        audio: true,
        seconds: SECONDS,
        gop: 50,
    }
}

/// EXTINF durations within the target, consecutive msn, keyframe starts.
fn check_structure(snapshot: &Snapshot, m3u8: &Path, with_video: bool) {
    let text = std::fs::read_to_string(m3u8).expect("read m3u8");
    let target: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
        .expect("TARGETDURATION")
        .parse()
        .expect("integer TARGETDURATION");
    let mut count = 0;
    for line in text.lines() {
        if let Some(d) = line.strip_prefix("#EXTINF:") {
            let d: f64 = d.trim_end_matches(',').parse().expect("EXTINF seconds");
            assert!(d.round() as u64 <= target, "EXTINF {d} > target {target}");
            count += 1;
        }
    }
    assert_eq!(count, snapshot.segments.len());
    assert!(count >= 3, "only {count} segments:\n{text}");
    for pair in snapshot.segments.windows(2) {
        assert_eq!(pair[1].msn, pair[0].msn + 1);
        assert_eq!(pair[1].start_ms, pair[0].start_ms + pair[0].duration_ms);
    }
    for segment in &snapshot.segments {
        assert!(segment.independent);
        let first = &segment.parts[0];
        assert!(first.independent);
        if with_video {
            let video = first.video.as_ref().expect("video fragment");
            let moof =
                <mp4_atom::Moof as mp4_atom::Decode>::decode(&mut &video[..]).expect("decode moof");
            let flags = moof.traf[0].trun[0].samples.get(0).and_then(|s| s.flags);
            assert_eq!(flags, Some(boxes::FLAGS_SYNC), "segment {}", segment.msn);
        }
    }
}

fn check_decodes(dir: &TempDir, snapshot: &Snapshot, with_video: bool, with_audio: bool) {
    let (m3u8, mpd) = write_window(snapshot, dir.path(), true);
    check_structure(snapshot, &m3u8, with_video);
    let expected_frames = (SECONDS * 25.0) as u64;
    for manifest in [&m3u8, &mpd] {
        let streams = ffprobe_streams(manifest);
        if with_video {
            let v = stream_of(&streams, "video").expect("video stream");
            assert!(
                v.frames + 2 >= expected_frames,
                "{}: {} video frames of {expected_frames}",
                manifest.display(),
                v.frames
            );
        }
        if with_audio {
            let a = stream_of(&streams, "audio").expect("audio stream");
            assert!(
                a.frames as f64 >= SECONDS * 44_100.0 / 1024.0 - 5.0,
                "{a:?}"
            );
        }
        let errors = decode_errors(manifest, None);
        assert!(
            errors.trim().is_empty(),
            "{}: ffmpeg reported:\n{errors}",
            manifest.display()
        );
    }
    // Recording: init + fragments is one valid fragmented MP4.
    let mp4 = dir.join("recording.mp4");
    let mut file = std::fs::File::create(&mp4).expect("create recording");
    rtmp_edge::http::cmaf::recording::write_recording(snapshot, 0, &mut file).expect("record");
    drop(file);
    let errors = decode_errors(&mp4, None);
    assert!(errors.trim().is_empty(), "recording: {errors}");
    let streams = ffprobe_streams(&mp4);
    assert_eq!(stream_of(&streams, "video").is_some(), with_video);
    assert_eq!(stream_of(&streams, "audio").is_some(), with_audio);
}

#[test]
fn h264_aac_plays_through_hls_and_dash() {
    let dir = TempDir::new("cmaf-h264");
    let flv = dir.join("in.flv");
    make_flv(av("libx264"), &flv);
    let segmenter = segment_flv(&flv, settings(), true);
    let snapshot = segmenter.shared().snapshot();
    check_decodes(&dir, &snapshot, true, true);
    let streams = ffprobe_streams(&dir.join("index.m3u8"));
    assert_eq!(stream_of(&streams, "video").unwrap().codec_name, "h264");
    assert_eq!(stream_of(&streams, "audio").unwrap().codec_name, "aac");
    for manifest in ["index.m3u8", "index.mpd"] {
        let log = gst_play(&dir.join(manifest));
        assert!(!log.contains("ERROR"), "GStreamer {manifest}: {log}");
    }
}

#[test]
fn hevc_aac_from_enhanced_flv_plays() {
    let dir = TempDir::new("cmaf-hevc");
    let flv = dir.join("in.flv");
    make_flv_with(&ffmpeg9(), av("libx265"), &flv);
    let segmenter = segment_flv(&flv, settings(), true);
    let snapshot = segmenter.shared().snapshot();
    let init = snapshot.current_init().expect("init");
    assert!(init.codecs().starts_with("hvc1."), "{}", init.codecs());
    // The presentation size from the libx265 SPS (Safari reads it from tkhd / hvc1, FFmpeg
    // from the SPS itself, so ffprobe could not tell).
    let buf = &mut &init.muxed[..];
    <mp4_atom::Ftyp as mp4_atom::Decode>::decode(buf).expect("decode ftyp");
    let moov = <mp4_atom::Moov as mp4_atom::Decode>::decode(buf).expect("decode moov");
    let video = &moov.trak[0];
    assert_eq!(
        (video.tkhd.width, video.tkhd.height),
        (320u16.into(), 240u16.into())
    );
    match &video.mdia.minf.stbl.stsd.codecs[0] {
        mp4_atom::Codec::Hvc1(hvc1) => {
            assert_eq!((hvc1.visual.width, hvc1.visual.height), (320, 240));
        }
        other => panic!("not hvc1: {other:?}"),
    }
    check_decodes(&dir, &snapshot, true, true);
    let streams = ffprobe_streams(&dir.join("index.m3u8"));
    assert_eq!(stream_of(&streams, "video").unwrap().codec_name, "hevc");
}

#[test]
fn audio_only_and_video_only_streams() {
    let dir = TempDir::new("cmaf-audio");
    let flv = dir.join("in.flv");
    let source = FlvSource {
        video: None,
        ..av("libx264")
    };
    make_flv(source, &flv);
    let snapshot = segment_flv(&flv, settings(), true).shared().snapshot();
    assert_eq!(snapshot.current_init().unwrap().codecs(), "mp4a.40.2");
    check_decodes(&dir, &snapshot, false, true);

    let dir = TempDir::new("cmaf-video");
    let flv = dir.join("in.flv");
    let source = FlvSource {
        audio: false,
        ..av("libx264")
    };
    make_flv(source, &flv);
    let snapshot = segment_flv(&flv, settings(), true).shared().snapshot();
    assert!(snapshot
        .current_init()
        .unwrap()
        .codecs()
        .starts_with("avc1."));
    check_decodes(&dir, &snapshot, true, false);
}

#[test]
fn sliding_window_plays_from_its_live_edge() {
    let dir = TempDir::new("cmaf-window");
    let flv = dir.join("in.flv");
    make_flv(av("libx264"), &flv);
    let small = SegmenterSettings {
        window_segments: 2,
        ..settings()
    };
    // Not finished: a live window, the open segment listed by parts only.
    let segmenter = segment_flv(&flv, small, false);
    let snapshot = segmenter.shared().snapshot();
    assert_eq!(snapshot.segments.len(), 2);
    assert!(snapshot.segments[0].msn >= 1, "the oldest were evicted");
    let (m3u8, mpd) = write_window(&snapshot, dir.path(), true);
    let text = std::fs::read_to_string(&m3u8).unwrap();
    assert!(text.contains(&format!(
        "#EXT-X-MEDIA-SEQUENCE:{}",
        snapshot.segments[0].msn
    )));
    assert!(text.contains("#EXT-X-PRELOAD-HINT:TYPE=PART"));
    assert!(!text.contains("#EXT-X-ENDLIST"));
    // A live playlist (no ENDLIST): FFmpeg starts near its end and would wait for more, so it
    // decodes one second.
    let errors = decode_errors(&m3u8, Some(1.0));
    assert!(errors.trim().is_empty(), "live window: {errors}");
    let text = std::fs::read_to_string(&mpd).unwrap();
    assert!(text.contains("type=\"dynamic\""));
    assert!(text.contains(&format!("startNumber=\"{}\"", snapshot.segments[0].msn)));
    let errors = decode_errors(&mpd, Some(1.0));
    assert!(errors.trim().is_empty(), "live MPD: {errors}");
}
