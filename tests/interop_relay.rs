//! The edge relay with real processes on loopback: pull on demand through chains of rtmp-edge
//! processes (origin -> edge -> edge), nginx-rtmp as origin and as pusher, push to nginx,
//! one upstream connection per stream per node (counted on the edge's sockets), an origin
//! killed and restarted under connected players, failover to a second origin, rendezvous
//! hashing across two edges, the idle window, and StreamNotFound when no origin has a stream.
//!
//! Bounded: every child is waited for with a generous limit; no assertion on speed.

#[path = "support/rtmp_client.rs"]
#[allow(dead_code)]
mod rtmp_client;
mod support;

use rtmp_client::TestClient;
use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use support::*;

const RECORD: f64 = 4.0;
const RECORD_LIMIT: Duration = Duration::from_secs(30);

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

/// An origin URL on a free port where nothing listens.
fn dead_origin_url() -> String {
    format!("rtmp://127.0.0.1:{}/{APP}", free_port())
}

/// Asserts that `player` gets a keyframe within `secs` seconds, showing `edge`'s log if not.
#[track_caller]
fn assert_keyframe(player: &mut TestClient, secs: u64, edge: &RtmpEdge) {
    assert!(
        keyframe_within(player, Duration::from_secs(secs)),
        "{}",
        edge.log()
    );
}

/// Asserts that `needle` stands exactly once in `edge`'s log.
#[track_caller]
fn assert_logged_once(edge: &RtmpEdge, needle: &str) {
    assert_eq!(edge.log().matches(needle).count(), 1, "{}", edge.log());
}

/// Asserts that `player` was never told the stream ended.
#[track_caller]
fn assert_no_unpublish_notify(player: &mut TestClient) {
    let codes = player.take_status_codes();
    assert!(
        !codes.iter().any(|c| c.contains("UnpublishNotify")),
        "player was told the stream ended: {codes:?}"
    );
}

/// Starts a synthetic publisher of `name` on `origin` for `seconds`, gives it half a second,
/// then plays `name` on `edge`.
fn publish_then_play(
    origin: SocketAddr,
    edge: SocketAddr,
    name: &str,
    seconds: u32,
) -> (JoinHandle<()>, TestClient) {
    let publisher = synthetic_publisher(origin, name, seconds);
    std::thread::sleep(Duration::from_millis(500));
    let player = TestClient::play(edge, APP, name).expect("play");
    (publisher, player)
}

/// FFmpeg publishes its test source (`seconds` long) to `publish`; after `settle` seconds
/// FFmpeg records `play` into `file` in a new temp dir `dir`, and the recording is checked.
/// Returns the still running publisher and the recording's streams.
fn publish_and_record(
    publish: &str,
    seconds: f64,
    settle: f64,
    play: &str,
    dir: &str,
    file: &str,
) -> (Process, Vec<StreamInfo>) {
    let publisher = ffmpeg_publish_testsrc(publish, seconds, &[]);
    sleep_secs(settle);
    let dir = TempDir::new(dir);
    let out = dir.join(file);
    let mut player = ffmpeg_record(play, &out, RECORD);
    player.wait_success(RECORD_LIMIT);
    let streams = assert_recording(&out, RECORD);
    (publisher, streams)
}

#[test]
fn chain_origin_edge_edge_with_ffmpeg() {
    let origin = RtmpEdge::start(1, "");
    let edge1 = edge(2, &[app_url(&origin)], "");
    let edge2 = edge(1, &[app_url(&edge1)], "");
    let name = unique_name("chain");
    let (mut publisher, streams) = publish_and_record(
        &origin.url(APP, &name),
        12.0,
        1.5,
        &edge2.url(APP, &name),
        "relay-chain",
        "edge2.flv",
    );
    eprintln!("origin -> edge -> edge: {streams:?}");
    publisher.kill();
}

/// One upstream connection per stream per node, with players on both shards of a two-shard
/// edge (8 players: the kernel's SO_REUSEPORT spread puts them all on one shard with a chance
/// of 1 in 128), counted on the edge's own sockets.
#[test]
fn one_upstream_per_stream_with_players_on_both_shards() {
    let origin = RtmpEdge::start(1, "");
    let mut edge = edge(2, &[app_url(&origin)], "");
    let name = unique_name("one-up");
    let publisher = synthetic_publisher(origin.addr(), &name, 12);
    std::thread::sleep(Duration::from_millis(500));
    let mut players: Vec<TestClient> = (0..8)
        .map(|_| TestClient::play(edge.addr(), APP, &name).expect("play on the edge"))
        .collect();
    for (i, p) in players.iter_mut().enumerate() {
        assert!(
            keyframe_within(p, Duration::from_secs(15)),
            "player {i} got no keyframe. Edge log:\n{}",
            edge.log_tail()
        );
    }
    let pid = edge.process().id();
    assert_eq!(established_to(pid, origin.port()), 1, "{}", edge.log());
    // The pull started once on the whole node.
    assert_logged_once(&edge, "pull started");
    drop(players);
    let _ = publisher.join();
}

/// nginx-rtmp as origin: rtmp-edge pulls from it; FFmpeg records from the edge.
#[test]
fn pull_from_nginx_origin() {
    let nginx = Nginx::start();
    let edge = edge(2, &[app_url(&nginx)], "");
    let name = unique_name("from-nginx");
    let (mut publisher, _) = publish_and_record(
        &nginx.url(APP, &name),
        10.0,
        1.5,
        &edge.url(APP, &name),
        "relay-nginx-origin",
        "edge.flv",
    );
    publisher.kill();
}

/// nginx-rtmp pushes (its `push` directive) into rtmp-edge; FFmpeg records from the edge.
#[test]
fn nginx_pushes_into_edge() {
    let edge = RtmpEdge::start(2, "");
    let nginx = Nginx::start_with(&format!("push {};", app_url(&edge)));
    let name = unique_name("nginx-push");
    let (mut publisher, _) = publish_and_record(
        &nginx.url(APP, &name),
        10.0,
        2.0,
        &edge.url(APP, &name),
        "relay-nginx-push",
        "edge.flv",
    );
    publisher.kill();
}

/// rtmp-edge forwards a stream published into it to nginx-rtmp (`--push`); FFmpeg records
/// from nginx.
#[test]
fn edge_pushes_to_nginx() {
    let nginx = Nginx::start();
    let edge = RtmpEdge::start_with_args(2, "", &["--push", &app_url(&nginx)]);
    let name = unique_name("edge-push");
    let (mut publisher, _) = publish_and_record(
        &edge.url(APP, &name),
        10.0,
        2.0,
        &nginx.url(APP, &name),
        "relay-edge-push",
        "nginx.flv",
    );
    assert!(edge.log().contains("push live"), "{}", edge.log());
    publisher.kill();
}

/// Ingest edge -> origin -> edge: an encoder publishes into an edge that pushes to the
/// origin, and a second edge pulls from the origin.
#[test]
fn ingest_edge_pushes_to_origin_and_another_edge_pulls() {
    let origin = RtmpEdge::start(1, "");
    let ingest = RtmpEdge::start_with_args(1, "", &["--push", &app_url(&origin)]);
    let delivery = edge(2, &[app_url(&origin)], "");
    let name = unique_name("ingest");
    let (mut publisher, _) = publish_and_record(
        &ingest.url(APP, &name),
        10.0,
        2.0,
        &delivery.url(APP, &name),
        "relay-ingest",
        "delivery.flv",
    );
    publisher.kill();
}

/// The origin is killed and restarted while a player on the edge stays connected: the
/// player gets media again, without UnpublishNotify, and its timestamps never go back.
#[test]
fn origin_killed_and_restarted_players_stay_and_get_media_again() {
    let mut origin = RtmpEdge::start(1, "");
    let edge = edge(2, &[app_url(&origin)], "");
    let name = unique_name("restart");
    let (first, mut player) = publish_then_play(origin.addr(), edge.addr(), &name, 30);
    assert_keyframe(&mut player, 15, &edge);
    origin.kill();
    let _ = first.join();
    origin.restart();
    let second = synthetic_publisher(origin.addr(), &name, 15);
    let mut last_ts = 0;
    let mut media_after = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while media_after < 50 && Instant::now() < deadline {
        if let Ok(Some(m)) = player.next_media(Duration::from_millis(500)) {
            assert!(
                m.timestamp >= last_ts,
                "timestamp went back: {} < {last_ts}",
                m.timestamp
            );
            last_ts = m.timestamp;
            media_after += 1;
        }
    }
    assert!(
        media_after >= 50,
        "no media after the restart. Edge log:\n{}",
        edge.log()
    );
    assert_no_unpublish_notify(&mut player);
    drop(player);
    let _ = second.join();
}

/// The first origin is down: the edge fails over to the second one.
#[test]
fn failover_to_the_second_origin() {
    let dead = dead_origin_url();
    let origin = RtmpEdge::start(1, "");
    let edge = edge(1, &[dead, app_url(&origin)], "");
    let name = unique_name("failover");
    let publisher = synthetic_publisher(origin.addr(), &name, 10);
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let mut player = TestClient::play(edge.addr(), APP, &name).expect("play");
    assert_keyframe(&mut player, 15, &edge);
    eprintln!(
        "first keyframe through the second origin after {:?}",
        started.elapsed()
    );
    drop(player);
    let _ = publisher.join();
}

/// Two edges with `origin_choice = "hash"` over the same two origins pull a stream from the
/// same origin.
#[test]
fn two_hash_edges_pull_a_stream_from_the_same_origin() {
    let a = RtmpEdge::start(1, "");
    let b = RtmpEdge::start(1, "");
    let toml = format!(
        "[[app]]\nname = \"{APP}\"\norigin_choice = \"hash\"\norigins = [\"{}\", \"{}\"]\n",
        app_url(&a),
        app_url(&b)
    );
    let mut e1 = RtmpEdge::start(1, &toml);
    let mut e2 = RtmpEdge::start(1, &toml);
    let name = unique_name("hash");
    let pa = synthetic_publisher(a.addr(), &name, 10);
    let pb = synthetic_publisher(b.addr(), &name, 10);
    std::thread::sleep(Duration::from_millis(500));
    let mut p1 = TestClient::play(e1.addr(), APP, &name).expect("play e1");
    let mut p2 = TestClient::play(e2.addr(), APP, &name).expect("play e2");
    assert_keyframe(&mut p1, 15, &e1);
    assert_keyframe(&mut p2, 15, &e2);
    let (pid1, pid2) = (e1.process().id(), e2.process().id());
    let to = |pid| (established_to(pid, a.port()), established_to(pid, b.port()));
    let (c1, c2) = (to(pid1), to(pid2));
    assert_eq!(c1.0 + c1.1, 1, "{c1:?}");
    assert_eq!(c1, c2, "the edges chose different origins");
    drop((p1, p2));
    let _ = (pa.join(), pb.join());
}

/// The idle window: the last player leaves and a new one arrives within `idle_close`; it
/// gets a keyframe at once over the same upstream (no second pull).
#[test]
fn idle_window_reuses_the_upstream() {
    let origin = RtmpEdge::start(1, "");
    let toml = format!(
        "[[app]]\nname = \"{APP}\"\norigins = [\"{}\"]\nidle_close_ms = 4000\n",
        app_url(&origin)
    );
    let mut edge = RtmpEdge::start(2, &toml);
    let name = unique_name("idle");
    let (publisher, mut first) = publish_then_play(origin.addr(), edge.addr(), &name, 20);
    assert_keyframe(&mut first, 15, &edge);
    drop(first);
    std::thread::sleep(Duration::from_millis(800));
    let pid = edge.process().id();
    assert_eq!(
        established_to(pid, origin.port()),
        1,
        "upstream closed too early"
    );
    let mut second = TestClient::play(edge.addr(), APP, &name).expect("play again");
    // The GOP cache: the first media is the cached keyframe (after metadata and headers).
    assert_keyframe(&mut second, 3, &edge);
    assert_logged_once(&edge, "pull started");
    drop(second);
    // Nobody left: the upstream closes after the idle window.
    assert!(
        eventually(Duration::from_secs(15), || established_to(
            pid,
            origin.port()
        ) == 0),
        "upstream still open. {}",
        edge.log()
    );
    let _ = publisher.join();
}

/// No origin has the stream: the player gets NetStream.Play.StreamNotFound, and the failure
/// is logged once for the stream.
#[test]
fn stream_on_no_origin_is_not_found() {
    let origin = RtmpEdge::start(1, "");
    let dead = dead_origin_url();
    let toml = format!(
        "[[app]]\nname = \"{APP}\"\norigins = [\"{dead}\", \"{}\"]\nplay_timeout_ms = 1000\n",
        app_url(&origin)
    );
    let edge = RtmpEdge::start(2, &toml);
    let name = unique_name("missing");
    let mut players: Vec<TestClient> = (0..3)
        .map(|_| TestClient::play(edge.addr(), APP, &name).expect("play"))
        .collect();
    for p in &mut players {
        let got = p.wait_for(Duration::from_secs(20), |_| false);
        assert!(
            matches!(&got, Err(rtmp_client::ClientError::Status(c)) if c == "NetStream.Play.StreamNotFound"),
            "{got:?}. Edge log:\n{}",
            edge.log()
        );
    }
    assert_logged_once(&edge, "stream found on no origin");
}

/// A publish whose name carries more hops than the limit is refused (loop prevention).
#[test]
fn hop_limit_refuses_a_looping_stream() {
    let edge = RtmpEdge::start(1, "[relay]\nhop_limit = 2\n");
    assert!(TestClient::publish(edge.addr(), APP, "s?hops=3").is_err());
    assert!(TestClient::publish(edge.addr(), APP, "s?hops=2").is_ok());
}

/// The live origin dies: players on the edge stay connected and get frames from the second
/// origin. Prints the time from the death to the first keyframe (no assertion on speed).
#[test]
fn live_origin_dies_players_move_to_the_second_origin() {
    let mut a = RtmpEdge::start(1, "");
    let b = RtmpEdge::start(1, "");
    let edge = edge(2, &[app_url(&a), app_url(&b)], "");
    let name = unique_name("death");
    let pa = synthetic_publisher(a.addr(), &name, 14);
    let pb = synthetic_publisher(b.addr(), &name, 14);
    std::thread::sleep(Duration::from_millis(500));
    let mut player = TestClient::play(edge.addr(), APP, &name).expect("play");
    assert_keyframe(&mut player, 15, &edge);
    // Live long enough to count as a stable run.
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        let _ = player.next_media(Duration::from_millis(200));
    }
    a.kill();
    let died = Instant::now();
    assert_keyframe(&mut player, 20, &edge);
    eprintln!(
        "origin death -> first keyframe from the second origin: {:?}",
        died.elapsed()
    );
    assert_no_unpublish_notify(&mut player);
    drop(player);
    let _ = (pa.join(), pb.join());
}
