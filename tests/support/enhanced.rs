//! FFmpeg 9 with Enhanced RTMP v2 (the static build inside PyPI's `imageio-ffmpeg`, installed
//! by `tuning/install-test-deps.sh`): publishers of HEVC/AV1/VP9 + Opus and of H.264 with two
//! AAC tracks, players that announce Enhanced RTMP (or not), and frame counts read back with
//! the same FFmpeg (the static build ships no ffprobe; Debian's 5.1 cannot read these files).
//!
//! What it never does: skip when the build is missing (it panics with the install hint, as
//! [`super::tool`] does), run a child without a bound (publishers end by `-t`, recorders by
//! input `-t` and `-rw_timeout`, counts by [`super::PROBE_LIMIT`]), or leave loopback.
use super::{Process, INSTALL_HINT, PROBE_LIMIT};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The pinned imageio-ffmpeg release (keep in step with tuning/install-test-deps.sh).
pub const IMAGEIO_FFMPEG_VERSION: &str = "0.8.1";

/// Path of FFmpeg 9 from imageio-ffmpeg. Panics with the install hint when it is missing.
pub fn ffmpeg9() -> PathBuf {
    static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    PATH.get_or_init(|| {
        let out = Command::new("python3")
            .args([
                "-c",
                "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())",
            ])
            .output()
            .ok()?;
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        (out.status.success() && path.is_file()).then_some(path)
    })
    .clone()
    .unwrap_or_else(|| {
        panic!(
            "FFmpeg 9 (python3 imageio_ffmpeg=={IMAGEIO_FFMPEG_VERSION}) not found: {INSTALL_HINT} \
             (RTMP_EDGE_REQUIRE_INTEROP {}; tests never skip either way)",
            if std::env::var_os("RTMP_EDGE_REQUIRE_INTEROP").is_some() {
                "is set"
            } else {
                "is unset"
            }
        )
    })
}

/// What an FFmpeg 9 test publisher sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnhancedSource {
    /// Video encoder (libx265, libsvtav1, libvpx-vp9) + Opus, one track each.
    VideoOpus(&'static str),
    /// libx264 + two AAC tracks (440 Hz and 880 Hz): `-map 0:v -map 1:a -map 2:a`.
    H264TwoAac,
}

/// Video frame rate and GOP of the FFmpeg 9 publishers (one keyframe a second).
pub const ENHANCED_FPS: u32 = 25;

/// Starts FFmpeg 9 publishing `seconds` of `source` in real time to `url`.
pub fn ffmpeg9_publish(url: &str, seconds: f64, source: EnhancedSource) -> Process {
    let mut cmd = Command::new(ffmpeg9());
    cmd.args(["-nostdin", "-hide_banner", "-loglevel", "warning", "-re"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=160x120:rate={ENHANCED_FPS}"))
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]);
    match source {
        EnhancedSource::H264TwoAac => {
            cmd.args(["-f", "lavfi", "-i", "sine=frequency=880:sample_rate=48000"])
                .args(["-map", "0:v", "-map", "1:a", "-map", "2:a"])
                .args([
                    "-c:v",
                    "libx264",
                    "-preset",
                    "ultrafast",
                    "-tune",
                    "zerolatency",
                ])
                .args(["-c:a", "aac", "-b:a", "64k"]);
        }
        EnhancedSource::VideoOpus(encoder) => {
            cmd.args(["-map", "0:v", "-map", "1:a", "-c:v", encoder]);
            match encoder {
                "libx265" => cmd.args(["-preset", "ultrafast", "-x265-params", "log-level=error"]),
                "libsvtav1" => cmd.args(["-preset", "12", "-svtav1-params", "lp=1"]),
                "libvpx-vp9" => cmd.args(["-deadline", "realtime", "-cpu-used", "8"]),
                _ => &mut cmd,
            };
            cmd.args(["-c:a", "libopus", "-b:a", "64k"]);
        }
    }
    cmd.arg("-t")
        .arg(format!("{seconds}"))
        .args(["-threads", "1", "-pix_fmt", "yuv420p", "-g"])
        .arg(ENHANCED_FPS.to_string())
        .args([
            "-flvflags",
            "no_duration_filesize",
            "-rw_timeout",
            "10000000",
        ])
        .args(["-f", "flv"])
        .arg(url);
    Process::spawn("ffmpeg9-publish", cmd)
}

/// Starts FFmpeg 9 playing `url` into the FLV file `out` (`-map 0 -c copy`), `seconds` of
/// stream time. With `enhanced` it announces Enhanced RTMP in connect (`fourCcList` through
/// `-rtmp_enhanced_codecs`); without, it is a legacy player as far as the server can tell.
pub fn ffmpeg9_record(url: &str, out: &Path, seconds: f64, enhanced: bool) -> Process {
    let mut cmd = Command::new(ffmpeg9());
    cmd.args(["-nostdin", "-hide_banner", "-loglevel", "warning"])
        .args(["-rw_timeout", "5000000"]);
    if enhanced {
        cmd.args(["-rtmp_enhanced_codecs", "avc1,hvc1,av01,vp09,mp4a,Opus"]);
    }
    cmd.arg("-t")
        .arg(format!("{seconds}"))
        .arg("-i")
        .arg(url)
        .args(["-map", "0", "-c", "copy", "-f", "flv"])
        .args(["-flvflags", "no_duration_filesize", "-y"])
        .arg(out);
    Process::spawn("ffmpeg9-record", cmd)
}

/// One stream of a recording as FFmpeg 9 decodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedStream {
    /// "video" / "audio".
    pub codec_type: String,
    /// "hevc", "av1", "vp9", "h264", "opus", "aac".
    pub codec_name: String,
    /// Frames that decoded.
    pub frames: u64,
}

/// Decodes every stream of `path` with FFmpeg 9 (`-xerror`: a decode error fails) and counts
/// the decoded frames per stream (`-f framecrc`: one line per frame).
pub fn ffmpeg9_decode(path: &Path) -> Vec<DecodedStream> {
    let mut cmd = Command::new(ffmpeg9());
    cmd.args([
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "info",
        "-xerror",
        "-i",
    ])
    .arg(path)
    .args(["-map", "0", "-f", "framecrc", "-y"]);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = path.parent().unwrap_or(Path::new("."));
    let log = dir.join(format!("{name}.decode.log"));
    let crc = dir.join(format!("{name}.framecrc"));
    cmd.arg(&crc);
    let mut p = Process::spawn_logged("ffmpeg9-decode", cmd, &log);
    p.wait_success(PROBE_LIMIT);
    let info = std::fs::read_to_string(&log).unwrap_or_default();
    let mut streams: Vec<DecodedStream> = Vec::new();
    // "  Stream #0:1: Audio: aac (LC), ..." lines of the input, before "Stream mapping".
    for line in info
        .lines()
        .take_while(|l| !l.starts_with("Stream mapping"))
    {
        let Some(rest) = line.trim_start().strip_prefix("Stream #0:") else {
            continue;
        };
        let mut parts = rest.splitn(3, ": ");
        let (_, kind, codec) = (parts.next(), parts.next(), parts.next());
        let (Some(kind), Some(codec)) = (kind, codec) else {
            continue;
        };
        let codec_name = codec
            .split([' ', ','])
            .next()
            .unwrap_or_default()
            .to_string();
        streams.push(DecodedStream {
            codec_type: kind.to_lowercase(),
            codec_name,
            frames: 0,
        });
    }
    let crcs = std::fs::read_to_string(&crc).unwrap_or_default();
    for line in crcs.lines().filter(|l| !l.starts_with('#')) {
        let index = line
            .split(',')
            .next()
            .and_then(|i| i.trim().parse::<usize>().ok());
        if let Some(s) = index.and_then(|i| streams.get_mut(i)) {
            s.frames += 1;
        }
    }
    streams
}
