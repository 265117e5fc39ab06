//! Enhanced RTMP v2 end to end, against a two-shard rtmp-edge on loopback: FFmpeg 9 (from
//! imageio-ffmpeg) publishes HEVC, AV1 and VP9 with Opus, and H.264 with two AAC tracks;
//! FFmpeg 9 players that announce Enhanced RTMP join early (before the publisher) and late
//! (after keyframes passed) and get every codec and track; legacy players (Debian's FFmpeg 5.1,
//! rtmpdump, GStreamer's rtmp2src, and FFmpeg 9 without `-rtmp_enhanced_codecs`) get the
//! stream's legacy variant of the multitrack stream: H.264 + the default AAC track, decodable.
//!
//! Frame counts are ranges (a late joiner starts at the cached GOP's keyframe; a loaded machine
//! loses a little at either end); no test asserts on speed, every wait is bounded.

mod support;

use std::time::Duration;
use support::*;

const PUBLISH: f64 = 8.0;
/// Stream time every player records.
const RECORD: f64 = 3.0;
/// A late player starts this long after the publisher: two keyframes (1 s GOP) have passed.
const LATE: f64 = 2.5;
const PLAYER_LIMIT: Duration = Duration::from_secs(30);
const PUBLISH_LIMIT: Duration = Duration::from_secs(40);

fn video_range() -> std::ops::RangeInclusive<u64> {
    let fps = f64::from(ENHANCED_FPS);
    (((RECORD - 1.5) * fps) as u64)..=(((RECORD + 1.2) * fps) as u64)
}

/// Audio frames at least: AAC 1024 and Opus 960 samples at 48 kHz, with the same slack.
fn min_audio() -> u64 {
    ((RECORD - 1.5) * 48_000.0 / 1024.0) as u64
}

fn assert_decoded(what: &str, got: &[DecodedStream], want: &[(&str, &str)]) {
    let kinds: Vec<(&str, &str)> = got
        .iter()
        .map(|s| (s.codec_type.as_str(), s.codec_name.as_str()))
        .collect();
    assert_eq!(kinds, want, "{what}: streams {got:?}");
    for s in got {
        let ok = match s.codec_type.as_str() {
            "video" => video_range().contains(&s.frames),
            _ => s.frames >= min_audio(),
        };
        assert!(
            ok,
            "{what}: {} frames of {} out of range: {got:?}",
            s.frames, s.codec_name
        );
    }
    eprintln!("[interop_enhanced] {what}: {got:?}");
}

/// Publishes `source`; an early and a late enhanced FFmpeg 9 player record it; both decode to
/// `want`. Returns the relay, the URL and the publisher for further legacy players.
fn enhanced_players(tag: &str, source: EnhancedSource, want: &[(&str, &str)]) {
    let server = RtmpEdge::start(2, "");
    let dir = TempDir::new(tag);
    let url = server.url(APP, &unique_name(tag));
    let early_out = dir.join("early.flv");
    let late_out = dir.join("late.flv");
    let mut early = ffmpeg9_record(&url, &early_out, RECORD, true);
    sleep_secs(0.5);
    let mut publisher = ffmpeg9_publish(&url, PUBLISH, source);
    sleep_secs(LATE);
    let mut late = ffmpeg9_record(&url, &late_out, RECORD, true);
    early.wait_success(PLAYER_LIMIT);
    late.wait_success(PLAYER_LIMIT);
    publisher.wait_success(PUBLISH_LIMIT);
    assert_decoded(&format!("{tag} early"), &ffmpeg9_decode(&early_out), want);
    assert_decoded(&format!("{tag} late"), &ffmpeg9_decode(&late_out), want);
}

#[test]
fn hevc_opus_to_enhanced_players() {
    enhanced_players(
        "hevc-opus",
        EnhancedSource::VideoOpus("libx265"),
        &[("video", "hevc"), ("audio", "opus")],
    );
}

#[test]
fn av1_opus_to_enhanced_players() {
    enhanced_players(
        "av1-opus",
        EnhancedSource::VideoOpus("libsvtav1"),
        &[("video", "av1"), ("audio", "opus")],
    );
}

#[test]
fn vp9_opus_to_enhanced_players() {
    enhanced_players(
        "vp9-opus",
        EnhancedSource::VideoOpus("libvpx-vp9"),
        &[("video", "vp9"), ("audio", "opus")],
    );
}

#[test]
fn h264_two_aac_to_enhanced_players_with_every_track_config() {
    enhanced_players(
        "h264-2aac",
        EnhancedSource::H264TwoAac,
        &[("video", "h264"), ("audio", "aac"), ("audio", "aac")],
    );
}

/// The multitrack stream to legacy players joining late: FFmpeg 5.1, FFmpeg 9 without an
/// announcement, rtmpdump and rtmp2src each get H.264 + the default AAC track, decodable.
#[test]
fn h264_two_aac_to_legacy_players() {
    let server = RtmpEdge::start(2, "");
    let dir = TempDir::new("legacy");
    let url = server.url(APP, &unique_name("legacy"));
    let mut publisher = ffmpeg9_publish(&url, PUBLISH, EnhancedSource::H264TwoAac);
    sleep_secs(LATE);

    let ff5_out = dir.join("ffmpeg5.flv");
    let mut ff5 = ffmpeg_record(&url, &ff5_out, RECORD);
    let ff9_out = dir.join("ffmpeg9-legacy.flv");
    let mut ff9 = ffmpeg9_record(&url, &ff9_out, RECORD, false);
    let rd_out = dir.join("rtmpdump.flv");
    let mut cmd = std::process::Command::new(tool("rtmpdump"));
    cmd.args(["--live", "-m", "5", "-r", &url, "-o"])
        .arg(&rd_out);
    let mut rtmpdump = Process::spawn("rtmpdump", cmd);
    let gst_out = dir.join("gst.flv");
    let mut cmd = std::process::Command::new(tool("gst-launch-1.0"));
    cmd.args(["-e", "rtmp2src"])
        .arg(format!("location={url}"))
        // About 3 s of 25 video and 2 x 47 audio messages a second (one audio track arrives).
        .arg("num-buffers=200")
        .args(["!", "filesink"])
        .arg(format!("location={}", gst_out.display()));
    let mut gst = Process::spawn("gst-play", cmd);

    ff5.wait_success(PLAYER_LIMIT);
    ff9.wait_success(PLAYER_LIMIT);
    gst.wait_success(PLAYER_LIMIT);
    sleep_secs(0.5);
    // rtmpdump on a live stream ends by SIGINT (exit 2, "incomplete") or by itself (0).
    let status = rtmpdump.stop(Duration::from_secs(5));
    assert!(
        matches!(status.code(), Some(0) | Some(2)),
        "rtmpdump failed: {status}. Log:\n{}",
        rtmpdump.log_tail()
    );
    publisher.wait_success(PUBLISH_LIMIT);

    // Debian's ffprobe (FFmpeg 5.1) reads the legacy recordings: one H.264 and one AAC stream.
    let min_aac = ((RECORD - 1.5) * 48_000.0 / 1024.0) as u64;
    for (what, out, video) in [
        ("ffmpeg 5.1", &ff5_out, video_range()),
        ("ffmpeg 9 legacy", &ff9_out, video_range()),
        ("rtmpdump", &rd_out, 25..=400),
        ("rtmp2src", &gst_out, 25..=*video_range().end()),
    ] {
        assert_flv_file(out);
        let streams = assert_h264_aac(out, video, true, min_aac.min(40));
        let audio = streams.iter().filter(|s| s.codec_type == "audio").count();
        assert_eq!(audio, 1, "{what}: one AAC track only: {streams:?}");
        eprintln!("[interop_enhanced] {what}: {streams:?}");
    }
    // FFmpeg 9 decodes the legacy form the same way.
    let got = ffmpeg9_decode(&ff9_out);
    assert_decoded(
        "ffmpeg 9 legacy",
        &got,
        &[("video", "h264"), ("audio", "aac")],
    );
}
