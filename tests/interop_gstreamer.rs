//! Interop with GStreamer's RTMP elements (rtmp2sink / rtmp2src from gst-plugins-bad):
//! GStreamer publishes while FFmpeg records, and GStreamer plays while FFmpeg publishes.
//!
//! The AAC encoder is whichever of avenc_aac (gst-libav), voaacenc or fdkaacenc exists.
//! Each test starts its own server and takes about 5-8 s (the first GStreamer run on a fresh
//! machine also builds the plugin registry, which the generous limits allow for).

mod support;

use std::process::Command;
use std::time::Duration;
use support::*;

const PUBLISH_SECONDS: u32 = 6;
const JOIN_AFTER: f64 = 1.0;
const RECORD: f64 = 3.0;
/// Messages rtmp2src reads before it ends: about 3 s of 25 video + 43 audio messages a second.
const PLAY_BUFFERS: u32 = 200;
const GST_LIMIT: Duration = Duration::from_secs(30);

/// The first AAC encoder element GStreamer has; panics with the install hint if none.
fn aac_encoder() -> &'static str {
    let inspect = tool("gst-inspect-1.0");
    let candidates = ["avenc_aac", "voaacenc", "fdkaacenc"];
    for element in candidates {
        let mut cmd = Command::new(&inspect);
        cmd.args(["--exists", element]);
        let mut probe = Process::spawn("gst-inspect", cmd);
        if probe.wait_timeout(GST_LIMIT).success() {
            return element;
        }
    }
    panic!("no GStreamer AAC encoder among {candidates:?}: {INSTALL_HINT}");
}

/// `gst-launch-1.0 -e` publishing PUBLISH_SECONDS of live test video (x264, 1 s GOP) + tone (AAC)
/// through flvmux to `url`.
fn gst_publish(url: &str) -> Process {
    let audio_buffers = PUBLISH_SECONDS * SAMPLE_RATE / 1024;
    let pipeline = format!(
        "videotestsrc is-live=true num-buffers={video} \
           ! video/x-raw,width=320,height=240,framerate={FPS}/1 \
           ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={FPS} threads=1 \
           ! h264parse ! queue ! flvmux streamable=true name=mux \
           ! rtmp2sink location={url} \
         audiotestsrc is-live=true num-buffers={audio_buffers} \
           ! audio/x-raw,rate={SAMPLE_RATE} ! audioconvert ! {aac} ! aacparse ! queue ! mux.",
        video = PUBLISH_SECONDS * FPS,
        aac = aac_encoder(),
    );
    let mut cmd = Command::new(tool("gst-launch-1.0"));
    cmd.arg("-e").args(pipeline.split_whitespace());
    Process::spawn("gst-publish", cmd)
}

/// GStreamer publishes; an FFmpeg player records decodable H.264 + AAC.
fn check_gst_publish(server: &dyn RtmpServer) {
    let dir = TempDir::new("gst-publish");
    let url = server.url(APP, &unique_name("gst-pub"));
    let mut publisher = gst_publish(&url);
    sleep_secs(JOIN_AFTER);
    let out = dir.join("play.flv");
    let mut player = ffmpeg_record(&url, &out, RECORD);
    player.wait_success(Duration::from_secs(20));
    publisher.wait_success(GST_LIMIT);
    let streams = assert_recording(&out, RECORD);
    eprintln!("[{}] ffmpeg got {streams:?}", server.name());
}

/// FFmpeg publishes; GStreamer's rtmp2src plays PLAY_BUFFERS messages into an FLV file, exits 0,
/// and the file holds decodable H.264.
fn check_gst_play(server: &dyn RtmpServer) {
    let dir = TempDir::new("gst-play");
    let url = server.url(APP, &unique_name("gst-play"));
    let mut publisher = ffmpeg_publish_testsrc(&url, f64::from(PUBLISH_SECONDS), &[]);
    sleep_secs(JOIN_AFTER);
    let out = dir.join("gst.flv");
    let mut cmd = Command::new(tool("gst-launch-1.0"));
    cmd.args(["-e", "rtmp2src"])
        .arg(format!("location={url}"))
        .arg(format!("num-buffers={PLAY_BUFFERS}"))
        .args(["!", "filesink"])
        .arg(format!("location={}", out.display()));
    let mut player = Process::spawn("gst-play", cmd);
    player.wait_success(GST_LIMIT);
    publisher.wait_success(Duration::from_secs(25));
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    assert!(size > 0, "rtmp2src wrote nothing");
    assert_flv_file(&out);
    let streams = assert_h264_aac(&out, 25..=*expected_video_frames(RECORD).end(), true, 40);
    eprintln!("[{}] rtmp2src got {size} bytes: {streams:?}", server.name());
}

#[test]
fn gst_publish_nginx() {
    check_gst_publish(&Nginx::start());
}

#[test]
fn gst_publish_rtmp_edge() {
    check_gst_publish(&RtmpEdge::start(2, ""));
}

#[test]
fn gst_play_nginx() {
    check_gst_play(&Nginx::start());
}

#[test]
fn gst_play_rtmp_edge() {
    check_gst_play(&RtmpEdge::start(2, ""));
}
