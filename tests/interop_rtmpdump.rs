//! Interop with rtmpdump (librtmp) as a player: FFmpeg publishes, `rtmpdump --live` records to
//! an FLV file, ffprobe checks it holds decodable H.264 (and AAC).
//!
//! rtmpdump's `--stop`/`-B` only works when the server honours the play command's duration
//! argument (nginx-rtmp ignores it for live streams), so the test stops rtmpdump with SIGINT,
//! which it handles by closing the file cleanly (it then exits with 2, "incomplete").
//! Each test starts its own server and takes about 5-7 s.

mod support;

use std::time::Duration;
use support::*;

const PUBLISH: f64 = 6.0;
const JOIN_AFTER: f64 = 1.0;
/// Wall-clock seconds rtmpdump records before it is interrupted.
const RECORD: f64 = 3.0;

/// rtmpdump's exit codes: 0 complete, 1 failed, 2 incomplete (what SIGINT on a live stream
/// gives).
const RD_SUCCESS: i32 = 0;
const RD_INCOMPLETE: i32 = 2;

fn check_rtmpdump_play(server: &dyn RtmpServer) {
    let dir = TempDir::new("rtmpdump");
    let url = server.url(APP, &unique_name("rtmpdump"));
    let mut publisher = ffmpeg_publish_testsrc(&url, PUBLISH, &[]);
    sleep_secs(JOIN_AFTER);
    let out = dir.join("rtmpdump.flv");
    let mut cmd = std::process::Command::new(tool("rtmpdump"));
    // -m: give up after 5 s without data, so rtmpdump also ends by itself.
    cmd.args(["--live", "-m", "5", "-r", &url, "-o"]).arg(&out);
    let mut player = Process::spawn("rtmpdump", cmd);
    sleep_secs(RECORD);
    assert!(
        player.try_wait().is_none(),
        "rtmpdump ended early: {:?}. Log:\n{}",
        player.try_wait(),
        player.log_tail()
    );
    let status = player.stop(Duration::from_secs(5));
    assert!(
        matches!(status.code(), Some(RD_SUCCESS) | Some(RD_INCOMPLETE)),
        "rtmpdump failed: {status}. Log:\n{}",
        player.log_tail()
    );
    publisher.wait_success(Duration::from_secs(25));
    assert_flv_file(&out);
    let streams = assert_recording(&out, RECORD);
    eprintln!("[{}] rtmpdump got {streams:?}", server.name());
}

#[test]
fn rtmpdump_play_nginx() {
    check_rtmpdump_play(&Nginx::start());
}

#[test]
fn rtmpdump_play_rtmp_edge() {
    check_rtmpdump_play(&RtmpEdge::start(2, ""));
}
