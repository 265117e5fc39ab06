//! Real media peers: FFmpeg publishers and recorders, and ffprobe to read recordings back.
//!
//! What it does: builds the FFmpeg command lines every test shares (test pattern + sine tone,
//! libx264 + AAC in FLV, paced with -re), records live streams with `-c copy`, and turns
//! ffprobe's JSON into plain structs with assertion helpers.
//!
//! What it never does: run a child without a bound (publishers end by `-t`, recorders by input
//! `-t` and `-rw_timeout`, probes by [`PROBE_LIMIT`]), or touch the network beyond the URL given.
//!
//! Call order: [`ffmpeg_publish_testsrc`], sleep a little so the stream exists, start the players
//! ([`ffmpeg_record`]), wait for them, then [`ffprobe_streams`] / [`ffprobe_packets`] and the
//! `assert_*` helpers.

use super::{tool, Process};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Video frame rate and key-frame interval (one GOP per second) of every test publisher.
pub const FPS: u32 = 25;
/// Audio sample rate of the sine tone; AAC frames hold 1024 samples (about 43 per second).
pub const SAMPLE_RATE: u32 = 44_100;
/// Upper bound on one ffprobe run (it decodes a few seconds of 320x240 video).
pub const PROBE_LIMIT: Duration = Duration::from_secs(30);

/// Starts FFmpeg publishing `seconds` of testsrc2 320x240@25 + a 440 Hz sine as H.264
/// (ultrafast, zerolatency, 1 s GOP) + AAC in FLV to `url`, in real time (-re).
/// `extra_args` are output options inserted before `-f flv` (e.g. `-output_ts_offset 16774`).
/// Ends by itself after `seconds`; waiting `seconds + 10 s` is a generous bound.
pub fn ffmpeg_publish_testsrc(url: &str, seconds: f64, extra_args: &[&str]) -> Process {
    let mut cmd = Command::new(tool("ffmpeg"));
    cmd.args(["-nostdin", "-hide_banner", "-loglevel", "warning", "-re"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=320x240:rate={FPS}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:sample_rate={SAMPLE_RATE}"))
        .arg("-t")
        .arg(format!("{seconds}"))
        .args(h264_aac_args())
        // The FLV muxer cannot seek back into an RTMP stream to patch duration/size.
        .args([
            "-flvflags",
            "no_duration_filesize",
            "-rw_timeout",
            "10000000",
        ])
        .args(extra_args)
        .args(["-f", "flv"])
        .arg(url);
    Process::spawn("ffmpeg-publish", cmd)
}

/// The encoder options of every test publisher (and of the browser tests' files): H.264
/// (ultrafast, zerolatency, one thread, yuv420p, 1 s GOP) + AAC at 64 kb/s.
pub fn h264_aac_args() -> Vec<String> {
    let gop = FPS.to_string();
    [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        "-threads",
        "1",
        "-pix_fmt",
        "yuv420p",
        "-g",
        &gop,
        "-c:a",
        "aac",
        "-b:a",
        "64k",
    ]
    .map(String::from)
    .to_vec()
}

/// Starts FFmpeg playing `url` and copying `seconds` of it (by stream time) into the FLV file
/// `out`. Gives up when no data arrives for 5 s. Waiting `seconds + 10 s` is a generous bound.
pub fn ffmpeg_record(url: &str, out: &Path, seconds: f64) -> Process {
    ffmpeg_record_with(url, out, seconds, &[])
}

/// Like [`ffmpeg_record`] with extra input options (e.g. `-copyts` to keep the stream's own
/// timestamps in the file). `-t` is given as an input option on purpose: as an output option it
/// would compare against the absolute timestamps kept by `-copyts` and stop at once.
pub fn ffmpeg_record_with(url: &str, out: &Path, seconds: f64, input_args: &[&str]) -> Process {
    let mut cmd = Command::new(tool("ffmpeg"));
    cmd.args(["-nostdin", "-hide_banner", "-loglevel", "warning"])
        // Microseconds; note that `-timeout` would make FFmpeg's RTMP client LISTEN instead.
        .args(["-rw_timeout", "5000000"])
        .args(input_args)
        .arg("-t")
        .arg(format!("{seconds}"))
        .arg("-i")
        .arg(url)
        .args([
            "-c",
            "copy",
            "-f",
            "flv",
            "-flvflags",
            "no_duration_filesize",
            "-y",
        ])
        .arg(out);
    Process::spawn("ffmpeg-record", cmd)
}

/// One stream of a media file as ffprobe sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    pub index: u64,
    /// "video" / "audio" / "data".
    pub codec_type: String,
    /// "h264", "aac", ...
    pub codec_name: String,
    /// Frames that decoded.
    pub frames: u64,
    pub packets: u64,
}

/// One packet of a media file, times in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketInfo {
    pub stream_index: u64,
    pub pts: Option<f64>,
    pub dts: Option<f64>,
}

/// The streams of `path` with decoded-frame and packet counts
/// (`ffprobe -count_frames -count_packets`).
pub fn ffprobe_streams(path: &Path) -> Vec<StreamInfo> {
    let json = ffprobe_json(
        path,
        &[
            "-count_frames",
            "-count_packets",
            "-show_entries",
            "stream=index,codec_type,codec_name,nb_read_frames,nb_read_packets",
        ],
    );
    let streams = json["streams"].as_array().cloned().unwrap_or_default();
    streams
        .iter()
        .map(|s| StreamInfo {
            index: number(&s["index"]).unwrap_or(0.0) as u64,
            codec_type: s["codec_type"].as_str().unwrap_or("").to_string(),
            codec_name: s["codec_name"].as_str().unwrap_or("").to_string(),
            frames: number(&s["nb_read_frames"]).unwrap_or(0.0) as u64,
            packets: number(&s["nb_read_packets"]).unwrap_or(0.0) as u64,
        })
        .collect()
}

/// Every packet of `path` in file order, with pts/dts in seconds.
pub fn ffprobe_packets(path: &Path) -> Vec<PacketInfo> {
    let json = ffprobe_json(
        path,
        &["-show_entries", "packet=stream_index,pts_time,dts_time"],
    );
    let packets = json["packets"].as_array().cloned().unwrap_or_default();
    packets
        .iter()
        .map(|p| PacketInfo {
            stream_index: number(&p["stream_index"]).unwrap_or(0.0) as u64,
            pts: number(&p["pts_time"]),
            dts: number(&p["dts_time"]),
        })
        .collect()
}

/// The key flag of every video packet of `path`, in file order (ffprobe's `K` flag).
pub fn ffprobe_video_keyflags(path: &Path) -> Vec<bool> {
    let json = ffprobe_json(
        path,
        &["-select_streams", "v", "-show_entries", "packet=flags"],
    );
    let packets = json["packets"].as_array().cloned().unwrap_or_default();
    packets
        .iter()
        .map(|p| p["flags"].as_str().unwrap_or("").contains('K'))
        .collect()
}

/// ffprobe prints counts and times as strings and indexes as numbers.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn ffprobe_json(path: &Path, args: &[&str]) -> Value {
    assert!(
        path.is_file() || path.to_str().is_some_and(|p| p.starts_with("http://")),
        "no recording at {} (the player wrote nothing)",
        path.display()
    );
    // Beside a file; for a URL in the temp dir (`-o URL` would make ffprobe POST it there).
    let out = if path.is_file() {
        path.with_extension(format!("probe{}.json", super::unique_name("")))
    } else {
        std::env::temp_dir().join(format!("{}.json", super::unique_name("ffprobe")))
    };
    let mut cmd = Command::new(tool("ffprobe"));
    cmd.args(["-v", "error"])
        .args(args)
        .args(["-of", "json", "-o"])
        .arg(&out)
        .arg(path);
    let mut probe = Process::spawn("ffprobe", cmd);
    probe.wait_success(PROBE_LIMIT);
    let text = std::fs::read_to_string(&out)
        .unwrap_or_else(|e| panic!("read ffprobe output {}: {e}", out.display()));
    let _ = std::fs::remove_file(&out);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("ffprobe JSON ({e}): {text}"))
}

/// The first stream of `codec_type` ("video"/"audio"), if any.
pub fn stream_of<'a>(streams: &'a [StreamInfo], codec_type: &str) -> Option<&'a StreamInfo> {
    streams.iter().find(|s| s.codec_type == codec_type)
}

/// Asserts that `path` is an FLV file (signature "FLV", version 1).
pub fn assert_flv_file(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(
        bytes.len() > 13 && bytes.starts_with(b"FLV\x01"),
        "{} is not an FLV file ({} bytes, starts with {:02x?})",
        path.display(),
        bytes.len(),
        &bytes[..bytes.len().min(8)]
    );
}

/// Asserts that `path` holds H.264 video with decodable frames in `video_frames` and, when
/// `want_aac`, AAC audio with at least `min_audio_frames`. Returns the streams.
pub fn assert_h264_aac(
    path: &Path,
    video_frames: std::ops::RangeInclusive<u64>,
    want_aac: bool,
    min_audio_frames: u64,
) -> Vec<StreamInfo> {
    let streams = ffprobe_streams(path);
    let video = stream_of(&streams, "video")
        .unwrap_or_else(|| panic!("no video stream in {}: {streams:?}", path.display()));
    assert_eq!(video.codec_name, "h264", "video codec: {streams:?}");
    assert!(
        video_frames.contains(&video.frames),
        "{} decoded video frames, expected {video_frames:?}: {streams:?}",
        video.frames
    );
    if want_aac {
        let audio = stream_of(&streams, "audio")
            .unwrap_or_else(|| panic!("no audio stream in {}: {streams:?}", path.display()));
        assert_eq!(audio.codec_name, "aac", "audio codec: {streams:?}");
        assert!(
            audio.frames >= min_audio_frames,
            "{} decoded audio frames, expected >= {min_audio_frames}: {streams:?}",
            audio.frames
        );
    }
    streams
}

/// [`assert_h264_aac`] with the frame counts a `seconds`-long recording of the test publisher
/// should hold ([`expected_video_frames`], [`min_audio_frames`]). Returns the streams.
pub fn assert_recording(path: &Path, seconds: f64) -> Vec<StreamInfo> {
    assert_h264_aac(
        path,
        expected_video_frames(seconds),
        true,
        min_audio_frames(seconds),
    )
}

/// Decoded video frames a `seconds`-long `-c copy` recording of a test publisher should hold:
/// FFmpeg drops everything before the first key frame, so up to one GOP (1 s, plus slack for a
/// loaded machine) may be missing at the start; a server that replays a cached GOP may add up to one more second.
pub fn expected_video_frames(seconds: f64) -> std::ops::RangeInclusive<u64> {
    let fps = f64::from(FPS);
    let min = ((seconds - 1.5) * fps).max(1.0) as u64;
    let max = ((seconds + 1.2) * fps) as u64;
    min..=max
}

/// At least this many AAC frames in a `seconds`-long recording (same one-second slack).
pub fn min_audio_frames(seconds: f64) -> u64 {
    ((seconds - 1.5).max(0.1) * f64::from(SAMPLE_RATE) / 1024.0) as u64
}

/// Sleeps `seconds` (peers need a moment to connect; tests never assert on wall time).
pub fn sleep_secs(seconds: f64) {
    std::thread::sleep(Duration::from_secs_f64(seconds));
}
