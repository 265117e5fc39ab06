//! HLS, LL-HLS and DASH end to end with real peers on loopback: FFmpeg publishes over RTMP;
//! ffprobe reads `index.m3u8` and `index.mpd` from the relay's HTTP listener, FFmpeg decodes
//! both without errors, GStreamer's playbin plays the HLS; the in-house checks over HTTP
//! (every segment starts with a keyframe, EXT-X-TARGETDURATION holds, the media sequence is
//! continuous across polls); a blocking playlist reload for the next part returns once that
//! part exists; pull on demand: an edge serves HLS for a stream published only at its origin.
//!
//! Bounded: every child is waited for with a generous limit; no assertion on speed. Run with
//! `RTMP_EDGE_TEST_IO=epoll`.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};
use support::*;

const LIMIT: Duration = Duration::from_secs(20);

/// An FFmpeg publisher of `name` (H.264 + AAC test source), given time for a few segments.
fn publish(server: &dyn RtmpServer, name: &str, seconds: f64) -> Process {
    let p = ffmpeg_publish_testsrc(&server.url(APP, name), seconds, &[]);
    sleep_secs(5.0);
    p
}

fn get(edge: &HttpEdge, path: &str) -> (u16, String, Vec<u8>) {
    http_get_bytes(edge.http_addr(), path, LIMIT)
}

fn playlist(edge: &HttpEdge, path: &str) -> String {
    let (status, head, body) = get(edge, path);
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("Content-Type: application/vnd.apple.mpegurl\r\n"));
    assert!(head.contains("Cache-Control: no-cache\r\n"));
    String::from_utf8(body).expect("a text playlist")
}

fn tag_number(playlist: &str, tag: &str) -> u64 {
    playlist
        .lines()
        .find_map(|l| l.strip_prefix(tag))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {tag} in {playlist}"))
}

/// The complete segments of a playlist: (duration in seconds, URI).
fn segments(playlist: &str) -> Vec<(f64, String)> {
    let mut out = Vec::new();
    let mut lines = playlist.lines().peekable();
    while let Some(l) = lines.next() {
        if let Some(d) = l.strip_prefix("#EXTINF:") {
            let d: f64 = d
                .trim_end_matches(',')
                .split(',')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            // The URI is the next line that is not a tag.
            for next in lines.by_ref() {
                if !next.starts_with('#') {
                    out.push((d, next.to_owned()));
                    break;
                }
            }
        }
    }
    out
}

fn init_uri(playlist: &str) -> String {
    let line = playlist
        .lines()
        .find(|l| l.starts_with("#EXT-X-MAP:"))
        .expect("an EXT-X-MAP");
    line.split("URI=\"")
        .nth(1)
        .unwrap()
        .trim_end_matches('"')
        .to_owned()
}

/// What FFmpeg printed decoding `seconds` of a live URL, less one note: FFmpeg's HLS demuxer
/// feeds the EXT-X-MAP init segment to its mov demuxer again after a live playlist reload,
/// which then notes "Found duplicated MOOV Atom. Skipped it" (the same init, not an error).
fn live_decode_errors(url: &str, seconds: f64) -> Vec<String> {
    decode_errors(Path::new(url), Some(seconds))
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("Found duplicated MOOV Atom"))
        .map(str::to_owned)
        .collect()
}

/// ffprobe's stream codec types of a live URL (no frame counting: a live stream never ends).
fn probe_codec_types(url: &str) -> String {
    let mut cmd = std::process::Command::new(tool("ffprobe"));
    cmd.args([
        "-v",
        "error",
        "-show_entries",
        "stream=codec_type",
        "-of",
        "csv=p=0",
        url,
    ]);
    let mut p = Process::spawn("ffprobe-live", cmd);
    p.wait_success(PROBE_LIMIT);
    std::fs::read_to_string(p.log_path()).unwrap_or_default()
}

#[test]
fn ffprobe_ffmpeg_and_gstreamer_read_hls_and_dash_from_the_relay() {
    let edge = HttpEdge::start(2, "", &[]);
    let mut publisher = publish(&edge.edge, "s", 30.0);
    for path in ["/live/s/index.m3u8", "/live/s/index.mpd"] {
        let url = edge.http_url(path);
        let streams = probe_codec_types(&url);
        assert!(streams.contains("video"), "{path}: {streams}");
        assert!(streams.contains("audio"), "{path}: {streams}");
        let errors = live_decode_errors(&url, 5.0);
        assert!(errors.is_empty(), "{path}: {errors:?}");
    }
    let log = gst_play_live(&edge.http_url("/live/s/index.m3u8"), 8.0);
    assert!(log.contains("Setting pipeline to PLAYING"), "{log}");
    assert!(!log.contains("ERROR"), "{log}");
    // Decoded media reached the video sink.
    assert!(
        log.contains("fakesink") && log.contains("video/x-raw"),
        "{log}"
    );
    publisher.wait_timeout(Duration::from_secs(60));
}

#[test]
fn segments_start_on_keyframes_target_duration_holds_and_the_sequence_is_continuous() {
    let edge = HttpEdge::start(2, "", &[]);
    let mut publisher = publish(&edge.edge, "k", 20.0);
    let dir = TempDir::new("hls-keyframes");
    let first = playlist(&edge, "/live/k/index.m3u8");
    let target = tag_number(&first, "#EXT-X-TARGETDURATION:");
    let (status, _, init) = get(&edge, &format!("/live/k/{}", init_uri(&first)));
    assert_eq!(status, 200);
    let mut last: Option<(u64, Vec<String>)> = None;
    let mut checked = 0;
    for poll in 0..4 {
        let list = playlist(&edge, "/live/k/index.m3u8");
        assert_eq!(tag_number(&list, "#EXT-X-TARGETDURATION:"), target);
        let sequence = tag_number(&list, "#EXT-X-MEDIA-SEQUENCE:");
        let segs = segments(&list);
        for (d, uri) in &segs {
            assert!(d.round() as u64 <= target, "{d} > {target}: {list}");
            let (status, head, body) = get(&edge, &format!("/live/k/{uri}"));
            assert_eq!(status, 200, "{head}");
            let file = dir.join(&format!("p{poll}-{uri}.mp4"));
            std::fs::write(&file, [init.as_slice(), &body].concat()).unwrap();
            let keys = ffprobe_video_keyflags(&file);
            assert!(
                keys.first() == Some(&true),
                "{uri} does not start on a keyframe"
            );
            checked += 1;
        }
        if let Some((previous, previous_uris)) = &last {
            // Segments that stayed in the window keep their numbers.
            assert!(sequence >= *previous);
            let shift = (sequence - previous) as usize;
            let uris: Vec<String> = segs.iter().map(|s| s.1.clone()).collect();
            let kept = previous_uris.get(shift..).unwrap_or(&[]);
            assert_eq!(
                &uris[..kept.len().min(uris.len())],
                &kept[..kept.len().min(uris.len())]
            );
        }
        last = Some((sequence, segs.into_iter().map(|s| s.1).collect()));
        sleep_secs(2.0);
    }
    assert!(checked > 0);
    publisher.wait_timeout(Duration::from_secs(60));
}

#[test]
fn a_blocking_reload_returns_once_the_next_part_exists() {
    let edge = HttpEdge::start(2, "", &[]);
    let mut publisher = publish(&edge.edge, "b", 20.0);
    let list = playlist(&edge, "/live/b/index.m3u8");
    let hint = list
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT"))
        .expect("a preload hint");
    let uri = hint.split("URI=\"").nth(1).unwrap().trim_end_matches('"');
    let (msn, part) = uri.strip_suffix(".m4s").unwrap().split_once('.').unwrap();
    let started = Instant::now();
    let reloaded = playlist(
        &edge,
        &format!("/live/b/index.m3u8?_HLS_msn={msn}&_HLS_part={part}"),
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        reloaded
            .lines()
            .any(|l| l.starts_with("#EXT-X-PART:") && l.contains(&format!("URI=\"{uri}\""))),
        "{uri} not in {reloaded}"
    );
    // The part itself is served now.
    let (status, _, body) = get(&edge, &format!("/live/b/{uri}"));
    assert_eq!(status, 200);
    assert!(body.windows(4).any(|w| w == b"moof"));
    publisher.wait_timeout(Duration::from_secs(60));
}

#[test]
fn an_edge_serves_hls_pulled_on_demand_from_its_origin() {
    let origin = RtmpEdge::start(1, "");
    let origin_app = format!("rtmp://127.0.0.1:{}/live", origin.port());
    let edge = HttpEdge::start(2, "", &["--origin", origin_app.as_str()]);
    let mut publisher = publish(&origin, "o", 25.0);
    // The first request starts the pull and waits (stream_wait) for its first part.
    let first = get(&edge, "/live/o/index.m3u8");
    assert!(first.0 == 200 || first.0 == 404, "{}", first.1);
    let deadline = Instant::now() + Duration::from_secs(15);
    let list = loop {
        let (status, _, body) = get(&edge, "/live/o/index.m3u8");
        if status == 200 && !segments(&String::from_utf8_lossy(&body)).is_empty() {
            break String::from_utf8(body).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "no pulled HLS: {}",
            edge.edge.log_tail()
        );
        sleep_secs(0.5);
    };
    let url = edge.http_url("/live/o/index.m3u8");
    let errors = live_decode_errors(&url, 3.0);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(list.contains("#EXT-X-PART:"));
    assert!(
        edge.edge.log().contains("pull live"),
        "{}",
        edge.edge.log_tail()
    );
    publisher.wait_timeout(Duration::from_secs(60));
}

#[test]
fn an_ended_stream_is_read_to_its_end_with_endlist() {
    // Kept long enough for the reads below on a slow machine.
    let edge = HttpEdge::start(2, "[hls]\nended_keep_ms = 120000\n", &[]);
    let mut publisher = ffmpeg_publish_testsrc(&edge.edge.url(APP, "e"), 6.0, &[]);
    publisher.wait_success(LIMIT * 2);
    let list = playlist(&edge, "/live/e/index.m3u8");
    assert!(list.ends_with("#EXT-X-ENDLIST\n"), "{list}");
    assert!(!list.contains("#EXT-X-PRELOAD-HINT"), "{list}");
    // FFmpeg reads an ended playlist like a file: from its first segment to its end, then
    // exits by itself (a live one would wait for more).
    let url = edge.http_url("/live/e/index.m3u8");
    let streams = ffprobe_streams(Path::new(&url));
    let video = streams
        .iter()
        .find(|s| s.codec_type == "video")
        .unwrap_or_else(|| panic!("no video in {streams:?}"));
    // 6 s at FPS, less what the first keyframe-less moments and the window may lose.
    assert!(
        video.frames >= u64::from(FPS) * 4,
        "{} video frames: {streams:?}",
        video.frames
    );
    assert!(streams
        .iter()
        .any(|s| s.codec_type == "audio" && s.frames > 0));
    let errors = decode_errors(Path::new(&url), None);
    assert!(errors.trim().is_empty(), "{errors}");
    // The DASH manifest is static now.
    let (status, _, mpd) = get(&edge, "/live/e/index.mpd");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&mpd).contains("type=\"static\""));
}
