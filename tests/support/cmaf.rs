//! CMAF segmenter interop helpers: FLV test media made by FFmpeg, fed through the project's
//! FLV file reader into a [`Segmenter`], the window written to a directory as the HTTP routes
//! would serve it (playlists beside the files), and the real readers: ffprobe / ffmpeg
//! decoding the m3u8 and mpd, GStreamer's playbin to fakesinks.
//!
//! What it never does: run a child without a bound (encoders end by `-t`, readers by
//! [`super::PROBE_LIMIT`]), touch the network (files only), or read a clock inside the
//! segmenter (arrival instants are simulated from the FLV timestamps).
//!
//! Call order: [`make_flv`] (or [`make_flv_with`] for FFmpeg 9), [`segment_flv`],
//! [`write_window`], then [`decode_errors`], [`ffprobe_streams`](super::ffprobe_streams),
//! [`gst_play`].
use super::{tool, Process, PROBE_LIMIT};
use rtmp_edge::http::cmaf::{Resource, Segmenter, SegmenterSettings, Snapshot, WallClock};
use rtmp_edge::http::{dash, hls};
use rtmp_edge::media::frame::MediaKind;
use rtmp_edge::protocol::flv::{parse_file_header, TagIter, TAG_AUDIO, TAG_VIDEO};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

/// What the FLV test file carries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlvSource {
    /// Video encoder (`libx264`, `libx265`), None for audio only.
    pub video: Option<&'static str>,
    pub audio: bool,
    pub seconds: f64,
    /// Frames per keyframe (25 fps).
    pub gop: u32,
}

/// Writes `source` as FLV to `out` with `ffmpeg` (Debian's for H.264, FFmpeg 9 for HEVC,
/// whose FLV muxer writes Enhanced RTMP), as fast as it encodes (no -re).
pub fn make_flv_with(ffmpeg: &Path, source: FlvSource, out: &Path) {
    let mut cmd = Command::new(ffmpeg);
    cmd.args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]);
    if source.video.is_some() {
        cmd.args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"]);
    }
    if source.audio {
        cmd.args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]);
    }
    cmd.arg("-t").arg(format!("{}", source.seconds));
    match source.video {
        Some("libx265") => {
            cmd.args(["-c:v", "libx265", "-preset", "ultrafast"])
                .args(["-x265-params", "log-level=error:bframes=0"]);
        }
        Some(encoder) => {
            // B-frames on: composition offsets must survive.
            cmd.args(["-c:v", encoder, "-preset", "veryfast", "-bf", "2"]);
        }
        None => {}
    }
    if source.video.is_some() {
        cmd.args(["-threads", "1", "-pix_fmt", "yuv420p", "-g"])
            .arg(source.gop.to_string())
            .args(["-keyint_min"])
            .arg(source.gop.to_string());
    }
    if source.audio {
        cmd.args(["-c:a", "aac", "-b:a", "64k"]);
    }
    cmd.args(["-f", "flv"]).arg(out);
    let mut p = Process::spawn("ffmpeg-make-flv", cmd);
    p.wait_success(Duration::from_secs(120));
}

/// [`make_flv_with`] Debian's FFmpeg.
pub fn make_flv(source: FlvSource, out: &Path) {
    make_flv_with(&tool("ffmpeg"), source, out);
}

/// Reads the FLV file with the project's reader and pushes every audio/video tag through a
/// new segmenter, the arrival instant of each tag simulated as `start + timestamp` with the
/// wall clock set so that the last tag arrives now (a live MPD's availability times are then
/// those of a stream that has just been published); finishes the stream when `finish`.
/// Returns the segmenter (its window holds the result).
pub fn segment_flv(path: &Path, settings: SegmenterSettings, finish: bool) -> Segmenter {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let first = parse_file_header(&data).expect("FLV header");
    let span = TagIter::new(&data, first)
        .filter_map(Result::ok)
        .map(|t| t.timestamp)
        .max()
        .unwrap_or(0);
    let start = Instant::now();
    let clock = WallClock {
        instant: start,
        system: SystemTime::now() - Duration::from_millis(u64::from(span)),
    };
    let mut segmenter = Segmenter::new(settings, clock);
    let mut last = start;
    for tag in TagIter::new(&data, first) {
        let tag = tag.expect("FLV tag");
        let kind = match tag.tag_type {
            TAG_AUDIO => MediaKind::Audio,
            TAG_VIDEO => MediaKind::Video,
            _ => continue,
        };
        let at = start + Duration::from_millis(u64::from(tag.timestamp));
        last = last.max(at);
        let body = &data[tag.data.clone()];
        if let Err(e) = segmenter.push(kind, tag.timestamp, body, at) {
            panic!(
                "segmenter rejected a {kind:?} tag at {} ms: {e}",
                tag.timestamp
            );
        }
    }
    if finish {
        segmenter.finish(last).expect("finish");
    }
    segmenter
}

/// Writes every file of the window (inits, segments, parts, per-track DASH files) and both
/// manifests into `dir`; returns the paths of `index.m3u8` and `index.mpd`.
pub fn write_window(snapshot: &Snapshot, dir: &Path, low_latency: bool) -> (PathBuf, PathBuf) {
    use rtmp_edge::http::cmaf::{Lookup, TrackKind};
    let mut names = Vec::new();
    for init in &snapshot.inits {
        names.push(Resource::Init(init.version));
        for track in [TrackKind::Video, TrackKind::Audio] {
            if init.track(track).is_some() {
                names.push(Resource::TrackInit(track, init.version));
            }
        }
    }
    for segment in snapshot.segments.iter().chain(snapshot.open.iter()) {
        names.push(Resource::Segment(segment.msn));
        for index in 0..segment.parts.len() {
            names.push(Resource::Part(segment.msn, index as u32));
        }
        for track in [TrackKind::Video, TrackKind::Audio] {
            if segment.span(track).is_some() {
                names.push(Resource::TrackSegment(track, segment.msn));
            }
        }
    }
    for name in names {
        let body = match snapshot.lookup(name) {
            Lookup::Ready(chunks) | Lookup::Partial(chunks) => chunks.concat(),
            other => panic!("{} listed but {other:?}", name.name()),
        };
        std::fs::write(dir.join(name.name()), body).expect("write media file");
    }
    let m3u8 = dir.join("index.m3u8");
    std::fs::write(&m3u8, hls::media_playlist(snapshot, low_latency, "")).expect("write m3u8");
    let mpd = dir.join("index.mpd");
    let text = dash::mpd(snapshot, SystemTime::now(), "").expect("an MPD once parts exist");
    std::fs::write(&mpd, text).expect("write mpd");
    (m3u8, mpd)
}

/// Decodes `input` entirely with Debian's ffmpeg (`-f null -`) and returns what it printed at
/// level warning and above (empty = clean), after checking that it exited successfully.
/// `limit` stops after that many seconds of output (a live playlist never ends by itself).
pub fn decode_errors(input: &Path, limit: Option<f64>) -> String {
    let mut cmd = Command::new(tool("ffmpeg"));
    cmd.args(["-nostdin", "-hide_banner", "-loglevel", "warning"])
        .arg("-i")
        .arg(input);
    if let Some(seconds) = limit {
        cmd.arg("-t").arg(format!("{seconds}"));
    }
    cmd.args(["-f", "null", "-"]);
    let mut p = Process::spawn("ffmpeg-decode", cmd);
    p.wait_success(PROBE_LIMIT);
    std::fs::read_to_string(p.log_path()).unwrap_or_default()
}

/// Plays `input` with GStreamer's playbin to fake sinks (hlsdemux / dashdemux pick the
/// manifest) and returns the log; panics if it did not reach end of stream cleanly.
pub fn gst_play(input: &Path) -> String {
    let mut p = Process::spawn(
        "gst-playbin",
        playbin(&format!("file://{}", input.display()), "-q"),
    );
    p.wait_success(PROBE_LIMIT);
    std::fs::read_to_string(p.log_path()).unwrap_or_default()
}

/// GStreamer's playbin on a live `uri` for `seconds` (a live stream does not end by itself),
/// then stopped; returns its log (gst-launch prints the state changes and any ERROR).
pub fn gst_play_live(uri: &str, seconds: f64) -> String {
    let cmd = playbin(uri, "-v");
    let mut p = Process::spawn("gst-playbin-live", cmd);
    std::thread::sleep(Duration::from_secs_f64(seconds));
    assert!(p.try_wait().is_none(), "playbin quit: {}", p.log_tail());
    p.kill();
    std::fs::read_to_string(p.log_path()).unwrap_or_default()
}

/// gst-launch-1.0 `verbosity` (`-q`, `-v`) playbin of `uri` into fake sinks.
fn playbin(uri: &str, verbosity: &str) -> Command {
    let mut cmd = Command::new(tool("gst-launch-1.0"));
    cmd.arg(verbosity)
        .arg("playbin")
        .arg(format!("uri={uri}"))
        .args([
            "video-sink=\"fakesink sync=false\"",
            "audio-sink=\"fakesink sync=false\"",
        ]);
    cmd
}
