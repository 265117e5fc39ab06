//! The relay's signals, on the real binary: SIGHUP reloads the config file while
//! rtmp-loadtest plays (no player dropped, no frame lost; an invalid file is refused with its
//! line and serving goes on), SIGTERM drains (no new connections, players keep receiving until
//! the drain timeout, a reconnect-capable client gets ReconnectRequest, exit 0), and a second
//! signal during a drain stops at once.

#[path = "support/rtmp_client.rs"]
#[allow(dead_code)]
mod rtmp_client;
mod support;

use rtmp_client::TestClient;
use rtmp_edge::session::{ClientConfig, ClientEvent};
use serde_json::Value;
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

const WAIT: Duration = Duration::from_secs(20);
const RECONNECT: &str = "NetConnection.Connect.ReconnectRequest";

/// Waits until the relay's log contains `text`.
fn wait_log(edge: &RtmpEdge, text: &str) {
    edge.wait_log(text, WAIT);
}

#[test]
fn sighup_reloads_without_dropping_players_and_refuses_an_invalid_config() {
    let mut edge = RtmpEdge::start(2, "[play]\nqueue_max_ms = 5000\n");
    let config = edge.dir().join("rtmp-edge.toml");
    let dir = TempDir::new("reload");
    let json = dir.join("report.json");
    let url = edge.url(APP, &unique_name("reload"));
    let mut cmd = Command::new(rtmp_loadtest_binary());
    cmd.args(["--url", &url, "--players", "40", "--duration", "8"])
        .args(["--threads", "2", "--json", json.to_str().unwrap()]);
    let mut loadtest = Process::spawn_logged("rtmp-loadtest", cmd, &dir.join("loadtest.log"));
    wait_log(&edge, "play started");
    std::thread::sleep(Duration::from_secs(1));

    // A valid change of runtime settings, and one that needs a restart.
    std::fs::write(
        &config,
        "[server]\nmax_connections = 15000\nchunk_size = 8192\ntrusted_proxies = [\"10.0.0.0/8\"]\n\
         [play]\nqueue_max_ms = 4000\nkick_after_ms = 20000\n[timeouts]\nhandshake_ms = 8000\n",
    )
    .unwrap();
    edge.process().signal(libc::SIGHUP);
    wait_log(&edge, "SIGHUP: configuration reloaded");
    wait_log(&edge, "key=\"server.chunk_size\"");

    // An invalid file: refused with its line, the running config stays.
    std::thread::sleep(Duration::from_secs(1));
    std::fs::write(
        &config,
        "[play]\nqueue_max_ms = 4000\nwrite_merge_ms = 5000\n",
    )
    .unwrap();
    edge.process().signal(libc::SIGHUP);
    wait_log(&edge, "SIGHUP: configuration refused");
    let log = edge.log();
    let line = format!("{}:3:1: play.write_merge_ms = 5000", config.display());
    assert!(log.contains(&line), "no {line:?} in:\n{log}");

    let status = loadtest.wait_timeout(Duration::from_secs(40));
    assert!(status.success(), "rtmp-loadtest: {}", loadtest.log_tail());
    let text = std::fs::read_to_string(&json).expect("report");
    let v: Value = serde_json::from_str(&text).expect("report is JSON");
    eprintln!("report: {v}");
    assert_eq!(v["players_connected"], 40, "{v}");
    assert_eq!(v["players_failed"], 0, "{v}");
    assert_eq!(v["disconnects"], 0, "{v}");
    assert_eq!(v["frames_lost"], 0, "{v}");
    assert!(v["frames_received"].as_f64().unwrap_or(0.0) > 0.0, "{v}");
    assert_eq!(
        edge.log().matches("SIGHUP: configuration reloaded").count(),
        1
    );

    // Still serving after the refused reload.
    let publisher = TestClient::publish(edge.addr(), APP, "after-reload").expect("publish");
    let stop = Arc::new(AtomicBool::new(false));
    let feed = publisher.feed(stop.clone());
    let mut player = TestClient::play(edge.addr(), APP, "after-reload").expect("play");
    assert!(player.next_media(WAIT).unwrap().is_some());
    stop.store(true, Ordering::Relaxed);
    let _ = feed.join();
    assert!(edge.process().try_wait().is_none(), "rtmp-edge exited");
}

#[test]
fn sigterm_drains_until_the_timeout_then_exits_zero() {
    const DRAIN: Duration = Duration::from_secs(4);
    let mut edge = RtmpEdge::start(2, "[server]\ndrain_timeout_ms = 4000\n");
    let stream = unique_name("drain");
    let publisher = TestClient::publish(edge.addr(), APP, &stream).expect("publish");
    let stop = Arc::new(AtomicBool::new(false));
    let feed = publisher.feed(stop.clone());
    let mut plain = TestClient::play(edge.addr(), APP, &stream).expect("play");
    let mut caps = ClientConfig::new(APP, &format!("rtmp://{}/{APP}", edge.addr()));
    caps.caps_ex = 0x01;
    let local = "127.0.0.1".parse().unwrap();
    let mut capable = TestClient::play_from(local, edge.addr(), caps, &stream).expect("play");
    for p in [&mut plain, &mut capable] {
        assert!(p.next_media(WAIT).unwrap().is_some());
    }

    let signalled = Instant::now();
    edge.process().signal(libc::SIGTERM);
    capable
        .wait_for(
            WAIT,
            |e| matches!(e, ClientEvent::Status { code, .. } if code == RECONNECT),
        )
        .expect("ReconnectRequest");
    wait_log(&edge, "listeners closed");
    // New connections are refused (the listeners are closed).
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect_timeout(&edge.addr(), Duration::from_secs(1)).is_ok() {
        assert!(Instant::now() < deadline, "still accepting while draining");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Both players keep receiving until shortly before the drain timeout: media in its
    // last second too (25 fps of video plus audio are published all along).
    let until = signalled + DRAIN - Duration::from_millis(700);
    let late = until - Duration::from_secs(1);
    let (mut got, mut got_late) = ([0u32; 2], [0u32; 2]);
    while Instant::now() < until {
        for (i, p) in [&mut plain, &mut capable].into_iter().enumerate() {
            if p.next_media(Duration::from_millis(50))
                .expect("served while draining")
                .is_some()
            {
                got[i] += 1;
                if Instant::now() >= late {
                    got_late[i] += 1;
                }
            }
        }
    }
    eprintln!("media while draining: {got:?}, in the last second: {got_late:?}");
    assert!(got.iter().all(|&n| n >= 25), "{got:?}");
    assert!(got_late.iter().all(|&n| n >= 5), "{got_late:?}");
    assert!(!plain.take_status_codes().iter().any(|c| c == RECONNECT));
    assert!(
        edge.process().try_wait().is_none(),
        "exited before the drain timeout"
    );

    let status = edge.process().wait_timeout(DRAIN + WAIT);
    assert!(status.success(), "exit after the drain: {status}");
    assert!(
        signalled.elapsed() >= DRAIN,
        "exited after {:?}",
        signalled.elapsed()
    );
    stop.store(true, Ordering::Relaxed);
    let _ = feed.join();
}

#[test]
fn a_second_signal_during_a_drain_stops_at_once() {
    for second in [libc::SIGTERM, libc::SIGINT] {
        let mut edge = RtmpEdge::start(1, "[server]\ndrain_timeout_ms = 600000\n");
        let _player = TestClient::play(edge.addr(), APP, "nothing-yet").expect("play");
        edge.process().signal(libc::SIGTERM);
        wait_log(&edge, "listeners closed");
        edge.process().signal(second);
        let status = edge.process().wait_timeout(Duration::from_secs(10));
        assert!(status.success(), "signal {second}: {status}");
    }
}
