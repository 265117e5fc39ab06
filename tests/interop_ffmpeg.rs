//! Interop with FFmpeg on both ends: FFmpeg publishes H.264 + AAC, FFmpeg players record with
//! `-c copy`, ffprobe checks what arrived.
//!
//! Each check is written once against `&dyn RtmpServer` and run against rtmp-edge (`*_rtmp_edge`)
//! and against nginx-rtmp (`*_nginx`, the reference that proves the expectations are right).
//! Each test starts its own server on its own port and takes about 5-8 s.

mod support;

use std::time::Duration;
use support::*;

/// Publisher length; players join after [`JOIN_AFTER`] and record [`RECORD`] seconds.
const PUBLISH: f64 = 6.0;
const JOIN_AFTER: f64 = 1.0;
const RECORD: f64 = 3.0;
/// Generous bounds on the children (they normally finish in about PUBLISH / RECORD seconds).
const PUBLISH_LIMIT: Duration = Duration::from_secs(25);
const RECORD_LIMIT: Duration = Duration::from_secs(20);

/// One FFmpeg publisher, one FFmpeg player: the player gets decodable H.264 + AAC for the time it
/// asked for, and the publisher ends cleanly.
fn check_publish_play(server: &dyn RtmpServer) {
    let dir = TempDir::new("ffmpeg-play");
    let url = server.url(APP, &unique_name("ffmpeg"));
    let mut publisher = ffmpeg_publish_testsrc(&url, PUBLISH, &[]);
    sleep_secs(JOIN_AFTER);
    let out = dir.join("play.flv");
    let mut player = ffmpeg_record(&url, &out, RECORD);
    player.wait_success(RECORD_LIMIT);
    publisher.wait_success(PUBLISH_LIMIT);
    assert_flv_file(&out);
    let streams = assert_recording(&out, RECORD);
    eprintln!("[{}] player got {streams:?}", server.name());
}

/// Two FFmpeg players at once (on a multi-shard server they likely land on different shards):
/// both get the full stream.
fn check_two_players(server: &dyn RtmpServer) {
    let dir = TempDir::new("ffmpeg-two");
    let url = server.url(APP, &unique_name("two"));
    let mut publisher = ffmpeg_publish_testsrc(&url, PUBLISH + 1.0, &[]);
    sleep_secs(JOIN_AFTER);
    let outs = [dir.join("a.flv"), dir.join("b.flv")];
    let mut players: Vec<Process> = outs
        .iter()
        .map(|out| ffmpeg_record(&url, out, RECORD))
        .collect();
    for player in &mut players {
        player.wait_success(RECORD_LIMIT);
    }
    publisher.wait_success(PUBLISH_LIMIT);
    for out in &outs {
        let streams = assert_recording(out, RECORD);
        eprintln!("[{}] {} got {streams:?}", server.name(), out.display());
    }
}

#[test]
fn publish_play_nginx() {
    check_publish_play(&Nginx::start());
}

#[test]
fn publish_play_rtmp_edge() {
    check_publish_play(&RtmpEdge::start(2, ""));
}

#[test]
fn two_players_nginx() {
    check_two_players(&Nginx::start());
}

#[test]
fn two_players_rtmp_edge() {
    check_two_players(&RtmpEdge::start(2, ""));
}
