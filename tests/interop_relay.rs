//! The edge relay with real processes on loopback: pull on demand through chains of rtmp-edge
//! processes (origin -> edge -> edge), nginx-rtmp as origin and as pusher, push to nginx,
//! one upstream connection per stream per node (counted on the edge's sockets), an origin
//! killed and restarted under connected players, failover to a second origin, rendezvous
//! hashing across two edges, the idle window, and StreamNotFound when no origin has a stream.
//!
//! Bounded: every child is waited for with a generous limit; no assertion on speed.

mod support;
#[path = "support/rtmp_client.rs"]
#[allow(dead_code)]
mod rtmp_client;

use rtmp_client::TestClient;
use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use support::*;

const RECORD: f64 = 4.0;
const RECORD_LIMIT: Duration = Duration::from_secs(30);
const PUBLISH_LIMIT: Duration = Duration::from_secs(40);

/// `rtmp://127.0.0.1:PORT/live` of a server.
fn app_url(server: &dyn RtmpServer) -> String {
    format!("rtmp://127.0.0.1:{}/{APP}", server.port())
}

/// An edge of `shards` shards pulling from `origins` (in order).
fn edge(shards: usize, origins: &[String], toml: &str) -> RtmpEdge {
    let mut args = Vec::new();
    for o in origins {
        args.push("--origin");
        args.push(o.as_str());
    }
    RtmpEdge::start_with_args(shards, toml, &args)
}

/// Waits (at most `limit`) until `f` holds.
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

/// A synthetic publisher (TestClient) on its own thread: 25 fps, a keyframe per second,
/// audio, for `seconds`.
fn synthetic_publisher(addr: SocketAddr, name: &str, seconds: u32) -> JoinHandle<()> {
    let name = name.to_string();
    std::thread::spawn(move || {
        let Ok(mut p) = TestClient::publish(addr, APP, &name) else {
            return;
        };
        let _ = p.send_metadata();
        let _ = p.send_headers();
        let start = Instant::now();
        for n in 0..seconds * 25 {
            let ts = n * 40;
            if p.send_video(ts, n, n % 25 == 0, 600).is_err() || p.send_audio(ts).is_err() {
                return;
            }
            let _ = p.pump(Duration::from_millis(1));
            let due = start + Duration::from_millis(u64::from(ts) + 40);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
    })
}

/// Plays `name` on `server` until a keyframe arrives (at most `limit`).
fn keyframe_within(player: &mut TestClient, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        match player.next_media(Duration::from_millis(500)) {
            Ok(Some(m)) if m.is_keyframe() => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

#[test]
fn chain_origin_edge_edge_with_ffmpeg() {
    let origin = RtmpEdge::start(1, "");
    let edge1 = edge(2, &[app_url(&origin)], "");
    let edge2 = edge(1, &[app_url(&edge1)], "");
    let name = unique_name("chain");
    let mut publisher = ffmpeg_publish_testsrc(&origin.url(APP, &name), 12.0, &[]);
    sleep_secs(1.5);
    let dir = TempDir::new("relay-chain");
    let out = dir.join("edge2.flv");
    let mut player = ffmpeg_record(&edge2.url(APP, &name), &out, RECORD);
    player.wait_success(RECORD_LIMIT);
    let streams = assert_recording(&out, RECORD);
    eprintln!("origin -> edge -> edge: {streams:?}");
    publisher.kill();
}
