//! rtmp-edge behind Debian's HAProxy, as on a CDN edge node: plain TCP proxying, and the PROXY
//! protocol (v1 `send-proxy`, v2 `send-proxy-v2`) with `server.proxy_protocol = true`, which
//! must make the relay see (and log) FFmpeg's own address instead of HAProxy's.
//!
//! Which address is whose comes from the kernel: while the FFmpeg peers are connected, the
//! loopback sockets whose remote end is HAProxy's frontend port are FFmpeg's, and those whose
//! remote end is rtmp-edge's port are HAProxy's (`/proc/net/tcp`). The relay logs the peer of
//! every publish and play at info level. Each FFmpeg test takes about 7 s.

#[path = "support/rtmp_client.rs"]
#[allow(dead_code)] // this test uses only the play side
mod rtmp_client;
mod support;

use rtmp_client::TestClient;
use std::collections::HashSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use support::*;

const PUBLISH: f64 = 6.0;
const JOIN_AFTER: f64 = 1.0;
const RECORD: f64 = 3.0;
const PUBLISH_LIMIT: Duration = Duration::from_secs(25);
const RECORD_LIMIT: Duration = Duration::from_secs(20);
const PROXY_ON: &str = "[server]\nproxy_protocol = true\n";

/// Who was connected while both FFmpeg peers were: the local ports of FFmpeg's sockets to
/// HAProxy, and of HAProxy's sockets to the relay.
struct Sockets {
    ffmpeg: HashSet<u16>,
    haproxy: HashSet<u16>,
}

/// FFmpeg publishes and plays through HAProxy; the player gets H.264 + AAC. Returns the
/// stream name and the sockets seen while both peers were connected.
fn publish_play_through(haproxy: &Haproxy, edge: &RtmpEdge) -> (String, Sockets) {
    let dir = TempDir::new("haproxy-play");
    let name = unique_name("haproxy");
    let url = haproxy.url(APP, &name);
    let mut publisher = ffmpeg_publish_testsrc(&url, PUBLISH, &[]);
    sleep_secs(JOIN_AFTER);
    let out = dir.join("play.flv");
    let mut player = ffmpeg_record(&url, &out, RECORD);
    let sockets = wait_for_two_clients(haproxy.port(), edge.port());
    player.wait_success(RECORD_LIMIT);
    publisher.wait_success(PUBLISH_LIMIT);
    let streams = assert_recording(&out, RECORD);
    eprintln!("[haproxy] player got {streams:?}");
    (name, sockets)
}

/// Polls `/proc/net/tcp` (at most 5 s) until two clients are connected to HAProxy.
fn wait_for_two_clients(haproxy_port: u16, edge_port: u16) -> Sockets {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ffmpeg = loopback_clients_of(haproxy_port);
        if ffmpeg.len() >= 2 || Instant::now() >= deadline {
            assert_eq!(
                ffmpeg.len(),
                2,
                "FFmpeg's connections to HAProxy: {ffmpeg:?}"
            );
            let haproxy = loopback_clients_of(edge_port);
            return Sockets { ffmpeg, haproxy };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Local ports of the established 127.0.0.1 -> 127.0.0.1:`port` TCP connections.
fn loopback_clients_of(port: u16) -> HashSet<u16> {
    const LOOPBACK: &str = "0100007F"; // 127.0.0.1 as /proc/net/tcp prints it.
    const ESTABLISHED: &str = "01";
    let text = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    let split = |addr: &str| {
        let (ip, port) = addr.split_once(':')?;
        Some((ip.to_owned(), u16::from_str_radix(port, 16).ok()?))
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, remote) = (split(fields.get(1)?)?, split(fields.get(2)?)?);
            let wanted = *fields.get(3)? == ESTABLISHED
                && local.0 == LOOPBACK
                && remote == (LOOPBACK.to_owned(), port);
            wanted.then_some(local.1)
        })
        .collect()
}

/// The `peer=` of the log line with `what` ("publish started", "play started") for `stream`.
fn logged_peer(log: &str, what: &str, stream: &str) -> SocketAddr {
    let key = format!("stream={APP}/{stream}");
    let line = log
        .lines()
        .find(|l| l.contains(what) && l.split_whitespace().any(|w| w == key))
        .unwrap_or_else(|| panic!("no `{what}` line for {key} in the log:\n{log}"));
    let peer = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("peer="))
        .unwrap_or_else(|| panic!("no peer= in {line:?}"));
    peer.parse()
        .unwrap_or_else(|e| panic!("peer {peer:?} in {line:?}: {e}"))
}

fn publisher_and_player(edge: &RtmpEdge, stream: &str) -> [SocketAddr; 2] {
    let log = edge.log();
    [
        logged_peer(&log, "publish started", stream),
        logged_peer(&log, "play started", stream),
    ]
}

/// With the PROXY protocol, the relay's peers are FFmpeg's sockets, not HAProxy's.
fn check_real_client_addresses(send_proxy: &str) {
    let edge = RtmpEdge::start(2, PROXY_ON);
    let haproxy = Haproxy::start(edge.port(), Some(send_proxy));
    let (stream, sockets) = publish_play_through(&haproxy, &edge);
    let peers = publisher_and_player(&edge, &stream);
    eprintln!(
        "[{send_proxy}] relay peers {peers:?}; FFmpeg ports {:?}, HAProxy ports {:?}",
        sockets.ffmpeg, sockets.haproxy
    );
    assert_ne!(peers[0], peers[1]);
    for peer in peers {
        assert!(peer.ip().is_loopback(), "{peer}");
        assert!(
            sockets.ffmpeg.contains(&peer.port()),
            "relay logged {peer}, FFmpeg's sockets are {:?} (HAProxy's {:?})",
            sockets.ffmpeg,
            sockets.haproxy
        );
    }
}

/// Reads until the server closes the connection (EOF or reset); panics after 5 s.
fn assert_closed_by_server(stream: &mut TcpStream, what: &str) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 4096];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("{what}: the server sent {n} bytes instead of closing"),
        Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {}
        Err(e) => panic!("{what}: not closed by the server within 5 s: {e}"),
    }
}

#[test]
fn plain_tcp_publish_play() {
    let edge = RtmpEdge::start(2, "");
    let haproxy = Haproxy::start(edge.port(), None);
    let (stream, sockets) = publish_play_through(&haproxy, &edge);
    // Without the PROXY protocol the relay can only see HAProxy: what this feature fixes.
    for peer in publisher_and_player(&edge, &stream) {
        assert!(
            sockets.haproxy.contains(&peer.port()),
            "relay logged {peer}; HAProxy's sockets are {:?}",
            sockets.haproxy
        );
    }
}

#[test]
fn proxy_protocol_v2_shows_real_client() {
    check_real_client_addresses("send-proxy-v2");
}

#[test]
fn proxy_protocol_v1_shows_real_client() {
    check_real_client_addresses("send-proxy");
}

#[test]
fn connection_without_header_is_closed_and_others_go_on() {
    let mut edge = RtmpEdge::start(1, &format!("{PROXY_ON}[timeouts]\nhandshake_ms = 1000\n"));
    let haproxy = Haproxy::start(edge.port(), Some("send-proxy-v2"));

    // An RTMP client straight at the relay: C0+C1 is not a PROXY header.
    let mut direct = TcpStream::connect(edge.addr()).unwrap();
    let mut c0c1 = vec![0u8; 1537];
    c0c1[0] = 3;
    direct.write_all(&c0c1).unwrap();
    assert_closed_by_server(&mut direct, "RTMP without a PROXY header");

    // A client that sends nothing is closed at the handshake timeout.
    let mut silent = TcpStream::connect(edge.addr()).unwrap();
    assert_closed_by_server(&mut silent, "silent connection");

    publish_play_through(&haproxy, &edge);
    let log = edge.log();
    assert!(
        log.contains("closing connection after PROXY protocol error"),
        "{log}"
    );
    assert!(edge.process().try_wait().is_none(), "rtmp-edge exited");
}

/// Headers written by hand (no HAProxy): v1 and v2, IPv4 and IPv6 sources, and UNKNOWN, which
/// keeps the socket's own address; a v2 LOCAL header (a health check) is closed quietly.
#[test]
fn hand_written_headers_set_the_peer() {
    let edge = RtmpEdge::start(1, PROXY_ON);
    let mut v2_tcp6 = b"\r\n\r\n\0\r\nQUIT\n\x21\x21\x00\x24".to_vec();
    v2_tcp6.extend_from_slice(
        &"2001:db8::7"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    v2_tcp6.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    v2_tcp6.extend_from_slice(&[0xc3, 0x50, 0x07, 0x8f]); // ports 50000 -> 1935
    let v2_local = b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00".to_vec();
    let cases: [(&[u8], Option<&str>); 3] = [
        (
            b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 1935\r\n",
            Some("203.0.113.7:40000"),
        ),
        (&v2_tcp6, Some("[2001:db8::7]:50000")),
        (b"PROXY UNKNOWN\r\n", None),
    ];
    for (header, want) in cases {
        let stream = unique_name("hand");
        let mut local = None;
        let player = TestClient::play_with(edge.addr(), APP, &stream, |socket| {
            local = socket.local_addr().ok();
            let mut socket = socket;
            socket.write_all(header).unwrap();
        });
        player.unwrap_or_else(|e| panic!("play after {header:?}: {e:?}"));
        let want = want.map_or_else(|| local.unwrap(), |w| w.parse().unwrap());
        let log = edge.log();
        assert_eq!(logged_peer(&log, "play started", &stream), want);
    }
    // v2 LOCAL is the proxy's own health check: accepted, then closed without an error.
    let mut check = TcpStream::connect(edge.addr()).unwrap();
    check.write_all(&v2_local).unwrap();
    assert_closed_by_server(&mut check, "v2 LOCAL");
    let log = edge.log();
    assert!(!log.contains("PROXY protocol error"), "{log}");
}
