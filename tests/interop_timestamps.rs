//! Timestamps across 0xFFFFFF ms (16,777.215 s), where RTMP chunk headers switch to the
//! extended timestamp field: a stream crossing it must keep flowing with continuous timestamps.
//!
//! FFmpeg publishes with `-output_ts_offset` so the stream starts 3.2 s before the boundary and
//! crosses it mid-publish; an FFmpeg player joins before the boundary and records with `-copyts`
//! (the stream's own timestamps) until well after it. The recording's packets must be monotonic
//! per stream with no gap or jump over 1 s, start before the boundary and reach past it.
//! Each test starts its own server and takes about 7-9 s.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;
use support::*;

/// 0xFFFFFF ms in seconds: the largest timestamp a chunk header's 24-bit field holds.
const BOUNDARY: f64 = 16_777.215;
/// Publisher's first timestamp in seconds: 3.215 s before the boundary.
const OFFSET: &str = "16774";
const PUBLISH: f64 = 8.0;
const JOIN_AFTER: f64 = 1.0;
/// Stream seconds the player records: from about 16775 s to about 16780.5 s.
const RECORD: f64 = 5.5;
/// Largest allowed step between consecutive packets of one stream.
const MAX_GAP: f64 = 1.0;
/// The player must get at least this much of each stream past the boundary.
const MIN_AFTER: f64 = 1.5;

fn check_extended_timestamps(server: &dyn RtmpServer) {
    let dir = TempDir::new("timestamps");
    let url = server.url(APP, &unique_name("ts"));
    let mut publisher = ffmpeg_publish_testsrc(&url, PUBLISH, &["-output_ts_offset", OFFSET]);
    sleep_secs(JOIN_AFTER);
    let out = dir.join("ts.flv");
    let mut player = ffmpeg_record_with(&url, &out, RECORD, &["-copyts"]);
    player.wait_success(Duration::from_secs(25));
    publisher.wait_success(Duration::from_secs(25));

    let streams = assert_h264_aac(&out, 50..=250, true, 50);
    let packets = ffprobe_packets(&out);
    let mut per_stream: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for (i, packet) in packets.iter().enumerate() {
        let dts = packet
            .dts
            .or(packet.pts)
            .unwrap_or_else(|| panic!("packet {i} has no timestamp: {packet:?}"));
        per_stream.entry(packet.stream_index).or_default().push(dts);
    }
    assert_eq!(per_stream.len(), 2, "want video + audio: {streams:?}");
    for (index, times) in &per_stream {
        for pair in times.windows(2) {
            let step = pair[1] - pair[0];
            assert!(
                (0.0..=MAX_GAP).contains(&step),
                "[{}] stream {index}: timestamp step {step:.3} s from {:.3} to {:.3} \
                 (non-monotonic, gap or jump)",
                server.name(),
                pair[0],
                pair[1]
            );
        }
        let first = times[0];
        let last = times[times.len() - 1];
        assert!(
            first < BOUNDARY,
            "[{}] stream {index} starts at {first:.3} s, after the boundary: the test did not \
             cross it (timestamps rebased?)",
            server.name()
        );
        assert!(
            last > BOUNDARY + MIN_AFTER,
            "[{}] stream {index} ends at {last:.3} s: stalled at the 0xFFFFFF ms boundary",
            server.name()
        );
        let after = times.iter().filter(|&&t| t > BOUNDARY).count();
        eprintln!(
            "[{}] stream {index}: {} packets {first:.3}..{last:.3} s, {after} after the boundary",
            server.name(),
            times.len()
        );
    }
}

#[test]
fn extended_timestamps_nginx() {
    check_extended_timestamps(&Nginx::start());
}

#[test]
fn extended_timestamps_rtmp_edge() {
    check_extended_timestamps(&RtmpEdge::start(2, ""));
}
