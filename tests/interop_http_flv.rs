//! HTTP-FLV end to end with real peers on loopback: FFmpeg publishes over RTMP, FFmpeg plays
//! `http://127.0.0.1:PORT/live/STREAM.flv` (two at once, beside an RTMP player) and ffprobe
//! counts the decoded frames; a missing stream is a 404 after the bounded wait; CORS headers
//! and the OPTIONS preflight; HEAD; bad requests (400 and a close, 431); 10,000 idle HTTP
//! connections within bounded memory while an RTMP player goes on; a client that never reads
//! is dropped while another plays on; pull on demand from an origin through HTTP-FLV.
//!
//! Bounded: every child is waited for with a generous limit; no assertion on speed. Run with
//! `RTMP_EDGE_TEST_IO=epoll` and `=uring`.

mod support;

use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::*;

const RECORD: f64 = 4.0;
const RECORD_LIMIT: Duration = Duration::from_secs(40);
const SHORT: Duration = Duration::from_secs(2);

/// An FFmpeg publisher of `name` on `edge`, given a moment to start.
fn publish(server: &dyn RtmpServer, name: &str, seconds: f64) -> Process {
    let p = ffmpeg_publish_testsrc(&server.url(APP, name), seconds, &[]);
    sleep_secs(1.5);
    p
}

#[test]
fn ffmpeg_plays_http_flv_twice_beside_an_rtmp_player() {
    let http = HttpEdge::start(2, "", &[]);
    let dir = TempDir::new("http-flv");
    let mut publisher = publish(&http.edge, "s", RECORD + 6.0);
    let outs = ["http1.flv", "http2.flv", "rtmp.flv"].map(|f| dir.join(f));
    let url = http.http_url("/live/s.flv");
    let mut players = [
        ffmpeg_record(&url, &outs[0], RECORD),
        ffmpeg_record(&url, &outs[1], RECORD),
        ffmpeg_record(&http.edge.url(APP, "s"), &outs[2], RECORD),
    ];
    for p in &mut players {
        p.wait_success(RECORD_LIMIT);
    }
    for out in &outs {
        assert_flv_file(out);
        assert_recording(out, RECORD);
    }
    publisher.wait_timeout(RECORD_LIMIT);
}

#[test]
fn a_missing_stream_is_404_after_the_bounded_wait_with_cors_headers() {
    let http = HttpEdge::start(1, "[http_play]\nstream_wait_ms = 1500\n", &[]);
    let got = http_exchange(
        http.http_addr(),
        b"GET /live/nobody.flv HTTP/1.1\r\nHost: x\r\nOrigin: http://page.example\r\n\r\n",
        Duration::from_secs(5),
        Duration::from_secs(10),
    );
    assert_eq!(got.status(), Some(404), "{}", got.text());
    let waited = got.first_byte.expect("an answer");
    assert!(
        waited >= Duration::from_millis(1400),
        "answered after {waited:?}"
    );
    assert!(got.text().contains("Access-Control-Allow-Origin: *\r\n"));

    let preflight = http_exchange(
        http.http_addr(),
        b"OPTIONS /live/s.flv HTTP/1.1\r\nOrigin: http://page.example\r\n\
          Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: range\r\n\
          Connection: close\r\n\r\n",
        SHORT,
        SHORT * 5,
    );
    assert_eq!(preflight.status(), Some(204), "{}", preflight.text());
    let t = preflight.text();
    assert!(t.contains("Access-Control-Allow-Origin: *\r\n"), "{t}");
    assert!(
        t.contains("Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n"),
        "{t}"
    );
    assert!(t.contains("Access-Control-Allow-Headers: range\r\n"), "{t}");
    assert!(preflight.closed, "Connection: close was asked for");

    // HEAD: a GET's status and headers, no body.
    let head = http_exchange(
        http.http_addr(),
        b"HEAD /live/nobody.flv HTTP/1.1\r\nConnection: close\r\n\r\n",
        SHORT,
        SHORT * 5,
    );
    assert_eq!(head.status(), Some(404), "{}", head.text());
    assert!(head.text().ends_with("\r\n\r\n"), "{}", head.text());
    assert!(head.text().contains("Content-Length: 14\r\n"));
    assert!(head.closed);
}

#[test]
fn bad_requests_get_400_or_431_and_a_close_and_unknown_paths_404() {
    let http = HttpEdge::start(1, "", &[]);
    let garbage = http_exchange(
        http.http_addr(),
        b"\x16\x03\x01 hello\r\n\r\n",
        SHORT,
        SHORT * 5,
    );
    assert_eq!(garbage.status(), Some(400), "{}", garbage.text());
    assert!(garbage.closed);
    let mut big = b"GET /live/s.flv HTTP/1.1\r\nX-Pad: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 9000));
    let big = http_exchange(http.http_addr(), &big, SHORT, SHORT * 5);
    assert_eq!(big.status(), Some(431), "{}", big.text());
    assert!(big.closed);
    let unknown = http_exchange(
        http.http_addr(),
        b"GET /favicon.ico HTTP/1.1\r\n\r\nGET /live/s/unknown.txt HTTP/1.1\r\nConnection: close\r\n\r\n",
        SHORT,
        SHORT * 5,
    );
    assert_eq!(
        unknown.text().matches("HTTP/1.1 404 Not Found").count(),
        2,
        "{}",
        unknown.text()
    );
    assert!(unknown.closed);
}

#[test]
fn ten_thousand_idle_http_connections_stay_bounded_while_an_rtmp_player_plays() {
    const IDLE: usize = 10_000;
    let http = HttpEdge::start(2, "", &[]);
    let pid = http.edge_pid();
    let dir = TempDir::new("http-idle");
    let mut publisher = publish(&http.edge, "s", RECORD + 12.0);
    let before = vm_rss(pid) / 1024;
    let out = dir.join("rtmp.flv");
    let mut player = ffmpeg_record(&http.edge.url(APP, "s"), &out, RECORD);
    let mut idle = Vec::with_capacity(IDLE);
    let start = Instant::now();
    while idle.len() < IDLE && start.elapsed() < Duration::from_secs(60) {
        match TcpStream::connect(http.http_addr()) {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connection {} refused: {e}", idle.len()),
        }
    }
    assert_eq!(idle.len(), IDLE);
    // Every one is still open and accounted for by the server.
    let deadline = Instant::now() + Duration::from_secs(20);
    while established_on(pid, http.http_port) < IDLE && Instant::now() < deadline {
        sleep_secs(0.2);
    }
    let after = vm_rss(pid) / 1024;
    player.wait_success(RECORD_LIMIT);
    assert_recording(&out, RECORD);
    // A new request is still answered at once.
    let answer = http_exchange(
        http.http_addr(),
        b"GET /x HTTP/1.1\r\nConnection: close\r\n\r\n",
        SHORT,
        SHORT * 5,
    );
    assert_eq!(answer.status(), Some(404));
    let grown = after.saturating_sub(before);
    eprintln!(
        "RSS {before} KiB -> {after} KiB with {IDLE} idle HTTP connections: {} B each",
        grown * 1024 / IDLE as u64
    );
    // Generous: a few KiB per idle connection at most (no per-connection buffers held).
    assert!(grown < 100 * 1024, "RSS grew by {grown} KiB");
    drop(idle);
    publisher.wait_timeout(RECORD_LIMIT);
}

#[test]
fn a_client_that_never_reads_is_dropped_and_another_plays_on() {
    let toml = "[play]\nqueue_max_ms = 1000\nkick_after_ms = 2000\n[socket]\nsend_buffer = 8192\n";
    let http = HttpEdge::start(1, toml, &[]);
    let dir = TempDir::new("http-slow");
    let mut publisher = ffmpeg_publish_testsrc(
        &http.edge.url(APP, "s"),
        20.0,
        &["-b:v", "2M", "-x264-params", "nal-hrd=cbr"],
    );
    sleep_secs(1.5);
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&http.http_addr().into()).unwrap();
    let mut stuck: TcpStream = socket.into();
    use std::io::Write;
    stuck
        .write_all(b"GET /live/s.flv HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let out = dir.join("reader.flv");
    let mut reader = ffmpeg_record(&http.http_url("/live/s.flv"), &out, 8.0);
    reader.wait_success(RECORD_LIMIT);
    assert_recording(&out, 8.0);
    // By now the stuck client was dropped: what it has not read is followed by the close.
    stuck.set_read_timeout(Some(SHORT)).unwrap();
    let got = read_until_close(&mut stuck, Instant::now(), Duration::from_secs(20));
    assert!(got.closed, "the server kept a client that never reads");
    assert!(
        http.edge.log().contains("too slow"),
        "no kick logged:\n{}",
        http.edge.log_tail()
    );
    publisher.kill();
}

#[test]
fn an_edge_pulls_from_the_origin_on_demand_for_an_http_flv_player() {
    let origin = RtmpEdge::start(1, "");
    let origin_app = format!("rtmp://127.0.0.1:{}/live", origin.port());
    let edge = HttpEdge::start(2, "", &["--origin", origin_app.as_str()]);
    let dir = TempDir::new("http-pull");
    let mut publisher = publish(&origin, "s", RECORD + 6.0);
    let out = dir.join("pulled.flv");
    let mut player = ffmpeg_record(&edge.http_url("/live/s.flv"), &out, RECORD);
    player.wait_success(RECORD_LIMIT);
    assert_recording(&out, RECORD);
    assert!(
        edge.edge.log().contains("pull live"),
        "{}",
        edge.edge.log_tail()
    );
    publisher.wait_timeout(RECORD_LIMIT);
}
