//! End-to-end runs of the built `rtmp-loadtest` binary against real servers: our `rtmp-edge`
//! (built next to it by `cargo build --workspace` / `cargo test --workspace`) and nginx-rtmp
//! as the reference, both started on free loopback ports by the shared test support.
//!
//! Every child is bounded (the load tester has its own hard deadline; waits here add a margin)
//! and killed on drop.
#[path = "../../tests/support/mod.rs"]
mod support;

use serde_json::Value;
use std::process::Command;
use std::time::Duration;
use support::{tool, HttpEdge, Nginx, Process, RtmpEdge, RtmpServer, TempDir, TlsEdge};

const BIN: &str = env!("CARGO_BIN_EXE_rtmp-loadtest");

/// Runs the load tester to the end; returns its exit code and its combined output.
fn run_loadtest(dir: &TempDir, name: &str, args: &[&str], limit: Duration) -> (i32, String) {
    let mut p = spawn_loadtest(dir, name, args);
    let status = p.wait_timeout(limit);
    (status.code().unwrap_or(-1), p.log_tail())
}

fn spawn_loadtest(dir: &TempDir, name: &str, args: &[&str]) -> Process {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    Process::spawn_logged(name, cmd, &dir.join(&format!("{name}.log")))
}

fn read_json(path: &std::path::Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("report is JSON")
}

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// Runs `players` players for 5 s against `server` (plus `extra` flags) and checks what any
/// healthy run shows, however slow the machine: everyone played, nothing lost, no errors,
/// latency figures present. Returns the JSON report.
///
/// No speed figure is asserted (the machines are shared): latency, first-frame time and the
/// delivered rate are only checked for being there, ordered and within logical bounds.
fn play_and_check(server: &dyn RtmpServer, stream: &str, players: u64, extra: &[&str]) -> Value {
    let dir = TempDir::new("loadtest");
    let json = dir.join("report.json");
    let url = server.url("live", stream);
    let players_arg = players.to_string();
    let mut args = vec![
        "--url",
        &url,
        "--players",
        &players_arg,
        "--duration",
        "5",
        "--threads",
        "2",
        "--json",
        json.to_str().expect("temp path is UTF-8"),
    ];
    args.extend_from_slice(extra);
    let (code, log) = run_loadtest(&dir, "loadtest", &args, Duration::from_secs(40));
    assert_eq!(
        code,
        0,
        "rtmp-loadtest against {}:\n{log}\nserver:\n{}",
        server.name(),
        server.log_tail()
    );
    let v = read_json(&json);
    eprintln!("{} report: {v}", server.name());
    assert_eq!(v["players_connected"], players, "{v}");
    assert_eq!(v["players_failed"], 0, "{v}");
    assert_eq!(v["frames_lost"], 0, "{v}");
    assert_eq!(v["frames_duplicate"], 0, "{v}");
    // The report's own identity (expected = received + lost), whatever the timing.
    assert_eq!(
        f(&v, "frames_expected"),
        f(&v, "frames_received") + f(&v, "frames_lost"),
        "{v}"
    );
    assert!(f(&v, "frames_received") > 0.0, "{v}");
    assert_eq!(v["disconnects"], 0, "{v}");
    assert_eq!(v["errors"], serde_json::json!({}), "{v}");
    let lat = &v["latency_ms"];
    let quantiles = ["p50", "p90", "p99", "p999", "max"].map(|q| f(lat, q));
    assert!(quantiles.iter().all(|q| q.is_finite()), "{v}");
    assert!(quantiles[0] > 0.0, "{v}");
    assert!(quantiles.windows(2).all(|w| w[0] <= w[1]), "{v}");
    assert!(f(&v, "latency_samples") > 0.0, "{v}");
    let first = &v["first_frame_ms"];
    assert!(f(first, "p50") > 0.0 && f(first, "max").is_finite(), "{v}");
    // Delivered media: some, and never more than every player getting all that was
    // published (the startup cache is published data too; 1 % for the rounding).
    let delivered = f(&v, "delivered_mbps");
    let bound = f(&v, "players_connected") * f(&v, "published_kbps") / 1000.0;
    assert!(
        delivered > 0.0 && delivered <= bound * 1.01,
        "delivered {delivered} Mbps, at most {bound}: {v}"
    );
    v
}

#[test]
fn rtmp_edge_fifty_players() {
    let server = RtmpEdge::start(1, "");
    let v = play_and_check(&server, "edge50", 50, &[]);
    // The edge hands a joining player the cached GOP: its first picture is a keyframe with
    // the sequence header before it.
    assert_eq!(f(&v, "first_frame_keyframe_ratio"), 1.0, "{v}");
    assert_eq!(v["read_interval_ms"], 0, "{v}");
}

/// HTTP-FLV players (`--http-flv`) of a stream published over RTMP: every frame, in order,
/// with SEI latency measured as for RTMP players, starting on a keyframe.
#[test]
fn rtmp_edge_http_flv_players() {
    let server = HttpEdge::start(2, "", &[]);
    let url = server.http_url("/live/httpflv.flv");
    let v = play_and_check(&server.edge, "httpflv", 20, &["--http-flv", &url]);
    assert_eq!(f(&v, "first_frame_keyframe_ratio"), 1.0, "{v}");
}

/// RTMPS players (`--tls-port`, verifying rtmp-edge's test certificate with `--tls-ca`) get
/// every frame of the plain publisher, from the GOP cache on.
#[test]
fn rtmp_edge_tls_players() {
    let server = TlsEdge::start(1, "", &[]);
    let (port, ca) = (
        server.tls_port.to_string(),
        server.cert.cert.display().to_string(),
    );
    let v = play_and_check(
        &server.edge,
        "tls",
        20,
        &["--tls-port", &port, "--tls-ca", &ca],
    );
    assert_eq!(f(&v, "first_frame_keyframe_ratio"), 1.0, "{v}");
}

/// Players that read in bursts (200 ms unread, then everything at once) still get every
/// frame, in order, from rtmp-edge.
#[test]
fn rtmp_edge_bursty_players() {
    let server = RtmpEdge::start(1, "");
    let v = play_and_check(&server, "bursty", 16, &["--read-interval-ms", "200"]);
    assert_eq!(f(&v, "first_frame_keyframe_ratio"), 1.0, "{v}");
    assert_eq!(v["read_interval_ms"], 200, "{v}");
}

#[test]
fn nginx_rtmp_fifty_players() {
    let server = Nginx::start();
    let v = play_and_check(&server, "nginx50", 50, &[]);
    // nginx-rtmp does not replay a GOP: a player gets the sequence header, then waits for the
    // next keyframe. So the first picture IS a keyframe, and every frame from it on arrives
    // (frames_lost == 0).
    assert_eq!(f(&v, "first_frame_keyframe_ratio"), 1.0, "{v}");
}

/// What the synthetic source publishes survives a server and decodes without one error.
#[test]
fn synthetic_stream_decodes_after_nginx() {
    let server = Nginx::start();
    let dir = TempDir::new("loadtest-decode");
    let url = server.url("live", "decode");
    let mut publisher = spawn_loadtest(
        &dir,
        "publisher",
        &["--url", &url, "--players", "0", "--duration", "8"],
    );
    std::thread::sleep(Duration::from_millis(500));
    let rec = dir.join("rec.flv");
    let mut record = Command::new(tool("ffmpeg"));
    record
        .args([
            "-nostdin",
            "-v",
            "error",
            "-rw_timeout",
            "10000000",
            "-i",
            &url,
        ])
        .args(["-c", "copy", "-t", "3"])
        .arg(&rec);
    Process::spawn_logged("ffmpeg-record", record, &dir.join("record.log"))
        .wait_success(Duration::from_secs(20));
    let mut decode = Command::new(tool("ffmpeg"));
    decode
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&rec)
        .args(["-f", "null", "-"]);
    let mut decoder = Process::spawn_logged("ffmpeg-decode", decode, &dir.join("decode.log"));
    decoder.wait_success(Duration::from_secs(20));
    assert_eq!(
        decoder.log_tail().trim(),
        "",
        "decoding the recording reported errors"
    );
    let status = publisher.wait_timeout(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{}", publisher.log_tail());
}

/// An FFmpeg-made FLV replayed through rtmp-edge, SEI stamps inserted, decodes cleanly.
#[test]
fn flv_file_source_through_rtmp_edge() {
    let dir = TempDir::new("loadtest-file");
    let flv = dir.join("x.flv");
    let mut make = Command::new(tool("ffmpeg"));
    make.args(["-nostdin", "-v", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine",
        ])
        .args([
            "-t",
            "6",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-c:a",
            "aac",
        ])
        .args(["-f", "flv"])
        .arg(&flv);
    Process::spawn_logged("ffmpeg-make", make, &dir.join("make.log"))
        .wait_success(Duration::from_secs(60));

    let server = RtmpEdge::start(1, "");
    let url = server.url("live", "s");
    let json = dir.join("report.json");
    let mut publisher = spawn_loadtest(
        &dir,
        "publisher",
        &[
            "--url",
            &url,
            "--source",
            flv.to_str().unwrap(),
            "--players",
            "0",
            "--duration",
            "8",
            "--json",
            json.to_str().unwrap(),
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    let mut play = Command::new(tool("ffmpeg"));
    play.args([
        "-nostdin",
        "-v",
        "error",
        "-rw_timeout",
        "10000000",
        "-i",
        &url,
    ])
    .args(["-t", "3", "-f", "null", "-"]);
    let mut player = Process::spawn_logged("ffmpeg-play", play, &dir.join("play.log"));
    player.wait_success(Duration::from_secs(20));
    assert_eq!(
        player.log_tail().trim(),
        "",
        "FFmpeg reported errors decoding the stamped stream"
    );
    let status = publisher.wait_timeout(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{}", publisher.log_tail());
    let v = read_json(&json);
    // 8 s at 25 fps, looping over the 6 s file.
    assert!(v["frames_published"].as_u64().unwrap() >= 190, "{v}");
}

#[test]
fn exit_codes() {
    let dir = TempDir::new("loadtest-exit");
    let limit = Duration::from_secs(30);
    // Bad arguments: 2.
    let (code, _) = run_loadtest(
        &dir,
        "bad-url",
        &["--url", "http://x/a/b", "--players", "1", "--duration", "1"],
        limit,
    );
    assert_eq!(code, 2);
    let (code, _) = run_loadtest(
        &dir,
        "bad-number",
        &[
            "--url",
            "rtmp://127.0.0.1/a/b",
            "--players",
            "many",
            "--duration",
            "1",
        ],
        limit,
    );
    assert_eq!(code, 2);
    let (code, _) = run_loadtest(
        &dir,
        "bad-file",
        &[
            "--url",
            "rtmp://127.0.0.1/a/b",
            "--players",
            "0",
            "--duration",
            "1",
            "--source",
            "/nonexistent.flv",
        ],
        limit,
    );
    assert_eq!(code, 2);
    // Nothing listens: the publisher cannot publish: 1.
    let port = support::free_port();
    let url = format!("rtmp://127.0.0.1:{port}/live/s");
    let (code, log) = run_loadtest(
        &dir,
        "refused",
        &["--url", &url, "--players", "3", "--duration", "1"],
        limit,
    );
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("could not publish"), "{log}");
}
