//! rtmp-edge behind Debian's HAProxy configured by the shipped `tuning/haproxy.cfg` (its ports
//! and paths put in, its system-install lines dropped): send-proxy-v2 with a trusted proxy,
//! check-send-proxy health checks (PROXY v2 LOCAL), and agent-check. HAProxy's runtime API
//! (`show stat` on its stats socket) must show the weight the agent reports and DRAIN once
//! the relay drains; the relay must log the player's own address (127.0.0.7), refuse a PROXY
//! header from an untrusted source, and ask a reconnect-capable player to reconnect.

#[path = "support/rtmp_client.rs"]
#[allow(dead_code)]
mod rtmp_client;
mod support;

use rtmp_client::TestClient;
use rtmp_edge::session::ClientConfig;
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

const WAIT: Duration = Duration::from_secs(20);
const RECONNECT: &str = "NetConnection.Connect.ReconnectRequest";

/// HAProxy from `tuning/haproxy.cfg`, its frontend on a free port, edge1 at `edge_port`
/// with its agent on `agent_port`, the stats socket in HAProxy's temp dir.
fn shipped_haproxy(edge_port: u16, agent_port: u16) -> Haproxy {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tuning/haproxy.cfg");
    let text = std::fs::read_to_string(path).expect("read tuning/haproxy.cfg");
    let system_only = ["chroot ", "user ", "group ", "daemon", "server edge2 "];
    Haproxy::start_config(|port, dir| {
        let socket = dir.join("stats.sock");
        let swaps = [
            ("bind :1935", format!("bind 127.0.0.1:{port}")),
            ("192.0.2.11:1935", format!("127.0.0.1:{edge_port}")),
            ("agent-port 1936", format!("agent-port {agent_port}")),
            ("/run/haproxy/rtmp-edge.sock", socket.display().to_string()),
            (
                "log /dev/log local0 info",
                "log stderr format short local0 info".into(),
            ),
            // A test needs no 200k connections (nor the file limit HAProxy would ask for).
            ("maxconn 200000", "maxconn 1000".into()),
            // Health checks every 300 ms, so a few reach the relay during the test, and a
            // high fall: a draining node's closed listeners fail its checks, and the DOWN
            // that follows would hide the DRAIN the test looks for.
            (
                "check-send-proxy inter 2s fall 3",
                "check-send-proxy inter 300ms fall 1000".into(),
            ),
        ];
        for (from, _) in &swaps {
            assert!(text.contains(from), "tuning/haproxy.cfg lost {from:?}");
        }
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !system_only.iter().any(|s| l.trim_start().starts_with(s)))
            .collect();
        let mut config = kept.join("\n") + "\n";
        for (from, to) in &swaps {
            config = config.replace(from, to);
        }
        config
    })
}

fn edge1(haproxy: &Haproxy) -> Option<HashMap<String, String>> {
    haproxy_server_stat(&haproxy.dir().join("stats.sock"), "edges", "edge1")
}

/// Waits until edge1's `show stat` row satisfies `want`; returns it.
fn wait_stat(
    haproxy: &Haproxy,
    what: &str,
    want: impl Fn(&HashMap<String, String>) -> bool,
) -> HashMap<String, String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let row = edge1(haproxy);
        if let Some(row) = row.as_ref().filter(|r| want(r)) {
            return row.clone();
        }
        assert!(
            Instant::now() < deadline,
            "HAProxy never showed {what}: last row {row:?}\nHAProxy log:\n{}",
            haproxy.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `rtmp_edge_connections_closed_total{reason="REASON"}` from the relay's /metrics.
fn closed_by(http: SocketAddr, reason: &str) -> u64 {
    let mut s = TcpStream::connect_timeout(&http, Duration::from_secs(5)).expect("HTTP");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let series = format!("rtmp_edge_connections_closed_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"))
}

fn field<'a>(row: &'a HashMap<String, String>, key: &str) -> &'a str {
    row.get(key).map_or("", String::as_str)
}

/// The `peer=` of the "play started" line for `stream`.
fn logged_player(log: &str, stream: &str) -> Option<SocketAddr> {
    let key = format!("stream={APP}/{stream}");
    let line = log
        .lines()
        .find(|l| l.contains("play started") && l.split_whitespace().any(|w| w == key))?;
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("peer="))?
        .parse()
        .ok()
}

/// A connection from `local` straight to the relay, with a well-formed PROXY header: must be
/// closed without an answer.
fn assert_untrusted_refused(local: IpAddr, edge: SocketAddr) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::new(local, 0).into()).unwrap();
    socket
        .connect_timeout(&edge.into(), Duration::from_secs(5))
        .unwrap();
    let mut stream: TcpStream = socket.into();
    // The write may already fail: the relay closes at accept.
    let _ = stream.write_all(b"PROXY TCP4 203.0.113.9 127.0.0.1 5000 1935\r\n");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("an untrusted source got {n} bytes"),
        Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {}
        Err(e) => panic!("an untrusted source was not closed within 5 s: {e}"),
    }
}

#[test]
fn agent_weight_real_client_address_untrusted_refusal_and_drain() {
    let agent_port = free_port();
    let agent = format!("127.0.0.1:{agent_port}");
    let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let http_arg = http.to_string();
    let config = "[server]\nproxy_protocol = true\ndrain_timeout_ms = 60000\n\
                  [agent]\nmax_players = 4\n";
    let mut edge = RtmpEdge::start_with_args(
        2,
        config,
        &[
            "--trusted-proxy",
            "127.0.0.1/32",
            "--agent",
            &agent,
            "--http",
            &http_arg,
        ],
    );
    let haproxy = shipped_haproxy(edge.port(), agent_port);
    let up = wait_stat(&haproxy, "UP, the agent checked, weight 100", |r| {
        field(r, "status").starts_with("UP")
            && field(r, "agent_status") == "L7OK"
            && field(r, "weight") == "100"
    });
    eprintln!("edge1 before players: {up:?}");

    let stream = unique_name("agent");
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = TestClient::publish(haproxy.addr(), APP, &stream).expect("publish");
    let feed = publisher.feed(stop.clone());
    let mut caps = ClientConfig::new(APP, &format!("rtmp://{}/{APP}", haproxy.addr()));
    caps.caps_ex = 0x01;
    let mut player =
        TestClient::play_from("127.0.0.7".parse().unwrap(), haproxy.addr(), caps, &stream)
            .expect("play from 127.0.0.7");
    let own = player.local_addr().unwrap();
    assert!(player.next_media(WAIT).unwrap().is_some(), "no media");

    // The relay saw the player's own address, not HAProxy's.
    let deadline = Instant::now() + WAIT;
    let logged = loop {
        if let Some(peer) = logged_player(&edge.log(), &stream) {
            break peer;
        }
        assert!(Instant::now() < deadline, "no play line:\n{}", edge.log());
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        logged, own,
        "the relay logged {logged}, the player is {own}"
    );

    // One player of four: the agent says 75 %, HAProxy's weight follows.
    let row = wait_stat(&haproxy, "weight 75", |r| field(r, "weight") == "75");
    eprintln!("edge1 with one player: {row:?}");

    // A PROXY header from outside the trusted proxies is refused.
    assert_untrusted_refused("127.0.0.9".parse().unwrap(), edge.addr());
    let deadline = Instant::now() + WAIT;
    while closed_by(http, "untrusted_proxy") == 0 {
        assert!(Instant::now() < deadline, "the refusal was not counted");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        edge.log()
            .contains("refusing a connection from outside the trusted proxies"),
        "{}",
        edge.log()
    );
    // HAProxy's own health checks (PROXY v2 LOCAL, passing: L4OK) leave no error and no
    // access-log line.
    let log = edge.log();
    assert!(!log.contains("PROXY protocol error"), "{log}");
    assert!(!log.contains("reason=\"proxy_health_check\""), "{log}");
    // A few checks (every 300 ms). HAProxy resets a check's connection right after its
    // LOCAL header, so whether the relay reads the header or finds the connection already
    // reset (and drops it unreported) is a race: count them, do not require them.
    std::thread::sleep(Duration::from_millis(1500));
    eprintln!(
        "health checks closed after their LOCAL header: {}",
        closed_by(http, "proxy_health_check")
    );
    assert_eq!(closed_by(http, "proxy_error"), 0);
    assert_eq!(field(&row, "check_status"), "L4OK", "{row:?}");
    let log = edge.log();
    assert!(!log.contains("PROXY protocol error"), "{log}");
    assert!(!log.contains("reason=\"proxy_health_check\""), "{log}");

    // SIGTERM: HAProxy shows DRAIN, the capable player is asked to reconnect and still plays.
    edge.process().signal(libc::SIGTERM);
    let row = wait_stat(&haproxy, "DRAIN", |r| field(r, "status").contains("DRAIN"));
    eprintln!("edge1 draining: {row:?}");
    player
        .wait_for(WAIT, |e| {
            matches!(e, rtmp_edge::session::ClientEvent::Status { code, .. } if code == RECONNECT)
        })
        .expect("ReconnectRequest");
    let before = player.bytes_read();
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        player
            .next_media(Duration::from_millis(200))
            .expect("still playing");
    }
    assert!(player.bytes_read() > before, "no media while draining");
    assert!(edge.process().try_wait().is_none(), "exited while draining");

    // A second SIGTERM stops at once.
    edge.process().signal(libc::SIGTERM);
    let status = edge.process().wait_timeout(Duration::from_secs(10));
    assert!(status.success(), "{status}");
    stop.store(true, Ordering::Relaxed);
    let _ = feed.join();
}
