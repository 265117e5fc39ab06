//! Hostile input against the real binary while a legitimate stream runs: an FFmpeg publisher
//! on one stream, and rtmp-loadtest publishing and playing another (its players count every
//! lost frame). Each hostile case comes from its own loopback source address and checks how
//! the server ends it: malformed input closes at once (well before the handshake timeout),
//! stalled peers are closed by the handshake or command timeout, refused requests get a
//! status. After each case the server is alive and its VmRSS stays under a bound; at the end
//! the legitimate stream lost no frame and FFmpeg finished its publish. The per-IP limit is
//! checked through `/metrics`. Latency is reported by rtmp-loadtest, never asserted.
mod support;

use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};
use support::*;

/// Short deadlines so stalled peers end within the test.
const HANDSHAKE_MS: u64 = 3000;
const COMMAND_MS: u64 = 3000;
/// "At once": far below the handshake timeout, generous for a loaded machine.
const AT_ONCE: Duration = Duration::from_millis(1500);
/// Stalled peers must be closed by their timeout plus the sweep and a margin.
const BY_TIMEOUT: Duration = Duration::from_secs(8);
const MAX_MESSAGE: u32 = 1 << 20;
const MAX_REASSEMBLY: u32 = 4 << 20;
const PER_IP: usize = 200;
/// The README's bound per idle or half-open connection (16 KiB; they cost about 6-7 KiB)
/// with a generous margin for the debug build and allocator noise.
const RSS_PER_CONNECTION: u64 = 64 << 10;
/// What the hostile cases other than the idle connections may add, whatever they do.
const RSS_MARGIN: u64 = 64 << 20;
const LEGIT_SECONDS: u64 = 45;

fn config(http: u16) -> String {
    format!(
        "[timeouts]\nhandshake_ms = {HANDSHAKE_MS}\n\
         [publish]\nmax_message_size = {MAX_MESSAGE}\n\
         [http]\nlisten = \"127.0.0.1:{http}\"\n\
         [limits]\ncommand_timeout_ms = {COMMAND_MS}\nexempt = [\"127.0.0.1\"]\n\
         max_connections_per_ip = {PER_IP}\nhandshakes_per_ip_per_s = 1000\n\
         handshake_burst_per_ip = {PER_IP}\nmax_reassembly_bytes = {MAX_REASSEMBLY}\n"
    )
}

/// A source address of its own for case `n`.
fn source(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 1, n))
}

fn peer(n: u8, server: SocketAddr) -> HostilePeer {
    HostilePeer::connect_from(source(n), server).expect("connect from a loopback source")
}

/// Checks that the peer is closed within `limit` and returns how long it took.
fn assert_closed(p: &mut HostilePeer, limit: Duration, case: &str) -> Duration {
    match p.wait_close(limit) {
        Ending::Closed(after) => after,
        Ending::Open => panic!("{case}: still open after {limit:?}"),
    }
}

/// Every case: (name, source index, what it does, returning a description of the ending).
type Case = (&'static str, fn(SocketAddr, u8) -> String);

const CASES: &[Case] = &[
    ("random bytes instead of a handshake", |a, n| {
        let mut p = peer(n, a);
        let noise: Vec<u8> = (0..65536).map(|_| fastrand::u8(..)).collect();
        let _ = p.send(&[0x55]);
        let _ = p.send(&noise);
        format!("{:?}", assert_closed(&mut p, AT_ONCE, "random bytes"))
    }),
    ("random bytes after the handshake", |a, n| {
        let mut p = peer(n, a);
        p.handshake().unwrap();
        let noise: Vec<u8> = (0..65536).map(|_| fastrand::u8(..)).collect();
        let _ = p.send(&noise);
        // Random headers may claim a long message; the command timeout ends those.
        format!(
            "{:?}",
            assert_closed(&mut p, BY_TIMEOUT, "random after handshake")
        )
    }),
    ("truncated handshake", |a, n| {
        let mut p = peer(n, a);
        p.send(&[3]).unwrap();
        p.send(&[0; 700]).unwrap();
        let t = assert_closed(&mut p, BY_TIMEOUT, "truncated handshake");
        assert!(
            t >= Duration::from_millis(HANDSHAKE_MS / 2),
            "closed early: {t:?}"
        );
        format!("{t:?}")
    }),
    ("slowloris: one byte a second", |a, n| {
        let mut p = peer(n, a);
        let start = Instant::now();
        for _ in 0..8 {
            if p.send(&[3]).is_err() {
                break;
            }
            if let Ending::Closed(_) = p.wait_close(Duration::from_secs(1)) {
                return format!("{:?}", start.elapsed());
            }
        }
        panic!("slowloris: still open after {:?}", start.elapsed());
    }),
    ("chunk size 0", |a, n| {
        let mut p = peer(n, a);
        p.handshake().unwrap();
        let _ = p.send(&set_chunk_size(0));
        format!("{:?}", assert_closed(&mut p, AT_ONCE, "chunk size 0"))
    }),
    ("chunk size 2^31-1 is accepted", |a, n| {
        let mut p = peer(n, a);
        p.handshake().unwrap();
        p.send(&set_chunk_size(0x7FFF_FFFF)).unwrap();
        let mut connect = Vec::new();
        connect_command("live").encode(&mut connect);
        // One chunk, however long: the announced size allows it.
        p.send_message(3, 20, 0, &connect, 0x7FFF_FFFF).unwrap();
        assert!(p.wait_for_text("_result", AT_ONCE), "no connect reply");
        let t = assert_closed(&mut p, BY_TIMEOUT, "idle after connect");
        format!("answered, then closed by the command timeout after {t:?}")
    }),
    ("message length over the limit", |a, n| {
        let mut p = peer(n, a);
        p.handshake().unwrap();
        let _ = p.send(&partial_message(4, 9, MAX_MESSAGE + 1, &[0; 16]));
        format!("{:?}", assert_closed(&mut p, AT_ONCE, "over the limit"))
    }),
    ("many partial maximum-size messages", |a, n| {
        let mut p = peer(n, a);
        p.handshake().unwrap();
        for csid in 3..60 {
            let first = vec![0xAB; 128];
            if p.send(&partial_message(csid, 9, MAX_MESSAGE, &first))
                .is_err()
            {
                break;
            }
        }
        format!("{:?}", assert_closed(&mut p, AT_ONCE, "partial messages"))
    }),
    ("flood of new chunk stream ids", |a, n| {
        let mut p = peer(n, a);
        p.handshake().unwrap();
        let mut flood = Vec::new();
        for csid in 64..5000u32 {
            // Two-byte / three-byte basic headers, each a complete 1-byte audio message.
            let id = csid - 64;
            if id < 256 {
                flood.extend_from_slice(&[0x00, id as u8]);
            } else {
                flood.extend_from_slice(&[0x01, (id & 0xFF) as u8, (id >> 8) as u8]);
            }
            flood.extend_from_slice(&[0, 0, 0, 0, 0, 1, 8, 1, 0, 0, 0, 0xAF]);
        }
        let _ = p.send(&flood);
        format!("{:?}", assert_closed(&mut p, AT_ONCE, "chunk stream flood"))
    }),
    ("AMF nested 1,000 deep", |a, n| deep(a, n, 1000, 128)),
    ("AMF nested 20,000 deep", |a, n| deep(a, n, 20_000, 128)),
    ("AMF nested 20,000 deep in one oversized chunk", |a, n| {
        deep(a, n, 20_000, 1 << 30)
    }),
    ("command before connect", |a, n| {
        let mut p = peer(n, a);
        p.handshake().unwrap();
        let create = rtmp_edge::protocol::command::Command::new(
            "createStream",
            2.0,
            rtmp_edge::protocol::amf::AmfValue::Null,
            vec![],
        );
        let _ = p.send_command(0, &create);
        format!("{:?}", assert_closed(&mut p, AT_ONCE, "before connect"))
    }),
    ("publish without createStream", |a, n| {
        let mut p = peer(n, a);
        p.handshake().unwrap();
        p.connect_app("live").unwrap();
        p.send_message(3, 20, 1, &publish_raw_name(b"sneaky"), 128)
            .unwrap();
        assert!(
            p.wait_for_text("NetStream.Publish.BadName", AT_ONCE),
            "no refusal"
        );
        let t = assert_closed(&mut p, BY_TIMEOUT, "after the refusal");
        format!("refused, closed by the command timeout after {t:?}")
    }),
    ("stream names with path tricks", |a, n| {
        let long = vec![b'x'; 10_000];
        let mut out = Vec::new();
        // Not UTF-8: refused as such (never published as its valid prefix, "cam").
        for name in [
            &b"../../etc/passwd"[..],
            b"a\0b",
            &long,
            &[0xFF, 0xFE, b'a'],
            b"cam\xFFx",
        ] {
            let mut p = peer(n, a);
            p.handshake().unwrap();
            p.connect_app("live").unwrap();
            let create = rtmp_edge::protocol::command::Command::new(
                "createStream",
                2.0,
                rtmp_edge::protocol::amf::AmfValue::Null,
                vec![],
            );
            p.send_command(0, &create).unwrap();
            p.send_message(3, 20, 1, &publish_raw_name(name), 128)
                .unwrap();
            assert!(
                p.wait_for_text("NetStream.Publish.BadName", AT_ONCE),
                "no refusal for the name {:?}",
                String::from_utf8_lossy(&name[..name.len().min(20)])
            );
            out.push("refused");
        }
        format!("{out:?}")
    }),
];

/// A connect whose command object nests `levels` objects and is never closed, in chunks of
/// `chunk` bytes (1 << 30: one chunk while the chunk size is still 128).
fn deep(a: SocketAddr, n: u8, levels: usize, chunk: u32) -> String {
    let mut p = peer(n, a);
    p.handshake().unwrap();
    let payload = deep_command("connect", levels);
    let _ = p.send_message(3, 20, 0, &payload, chunk);
    format!("{:?}", assert_closed(&mut p, AT_ONCE, "deep AMF"))
}

#[test]
fn hostile_input_is_refused_while_a_legitimate_stream_is_unaffected() {
    let http = free_port();
    let mut edge = RtmpEdge::start(2, &config(http));
    let pid = edge.process().id();
    let http = SocketAddr::from((Ipv4Addr::LOCALHOST, http));
    let server = edge.addr();

    // The legitimate traffic, from the exempt 127.0.0.1.
    let dir = TempDir::new("hostile");
    let json = dir.join("report.json");
    let mut cmd = Command::new(rtmp_loadtest_binary());
    cmd.args(["--url", &edge.url(APP, &unique_name("legit"))])
        .args(["--players", "20", "--duration", &LEGIT_SECONDS.to_string()])
        .args(["--threads", "1", "--json", json.to_str().unwrap()]);
    let mut loadtest = Process::spawn_logged("rtmp-loadtest", cmd, &dir.join("loadtest.log"));
    let ffmpeg_url = edge.url(APP, &unique_name("ffmpeg"));
    let mut ffmpeg = ffmpeg_publish_testsrc(&ffmpeg_url, (LEGIT_SECONDS - 5) as f64, &[]);
    thread::sleep(Duration::from_secs(4));
    let baseline = vm_rss(pid);
    eprintln!(
        "VmRSS with the legitimate stream only: {} KiB",
        baseline >> 10
    );

    // Every case at once, each from its own source address.
    let started = Instant::now();
    let handles: Vec<_> = CASES
        .iter()
        .enumerate()
        .map(|(i, (name, case))| {
            let (name, case) = (*name, *case);
            let n = 10 + i as u8;
            thread::spawn(move || (name, case(server, n)))
        })
        .collect();
    for h in handles {
        match h.join() {
            Ok((name, ending)) => eprintln!("{name}: {ending}"),
            Err(e) => std::panic::resume_unwind(e),
        }
    }
    eprintln!("cases done in {:?}", started.elapsed());
    assert!(edge.process().try_wait().is_none(), "rtmp-edge died");
    let after_cases = vm_rss(pid);
    eprintln!("VmRSS after the cases: {} KiB", after_cases >> 10);
    assert!(
        after_cases < baseline + RSS_MARGIN,
        "RSS grew from {baseline} to {after_cases}"
    );

    // The per-IP limit: the first PER_IP connections from one source stay, the rest are
    // closed at once and counted.
    let limited: Vec<HostilePeer> = (0..PER_IP)
        .map(|_| HostilePeer::connect_from(source(200), server).unwrap())
        .collect();
    // Let both shards accept all of them first (SO_REUSEPORT splits them).
    thread::sleep(Duration::from_millis(500));
    let mut over = HostilePeer::connect_from(source(200), server).unwrap();
    assert_closed(&mut over, AT_ONCE, "over the per-IP limit");
    drop(limited);
    let series = "rtmp_edge_limit_refused_total{limit=\"connections_per_ip\"}";
    let refused = wait_metric(http, series, 1.0, Duration::from_secs(5));
    assert!(refused >= 1.0, "per-IP refusals counted: {refused}");
    for limit in [
        "amf_depth",
        "chunk_streams",
        "reassembly",
        "message_size",
        "stream_name",
    ] {
        let n = metric(
            http,
            &format!("rtmp_edge_limit_refused_total{{limit=\"{limit}\"}}"),
        );
        assert!(n >= 1.0, "{limit} refusals counted: {n}");
    }

    // Thousands of idle connections, then as many half-open ones (half a handshake), each
    // spread over sources below the per-IP limit. The timeouts close them all.
    for (what, bytes) in [("idle", &[][..]), ("half-open", &[3u8; 769][..])] {
        thread::sleep(Duration::from_secs(1));
        let before = vm_rss(pid);
        let peers: Vec<HostilePeer> = (0..3000)
            .map(|i| {
                let mut p = HostilePeer::connect_from(source(100 + (i / 150) as u8), server)
                    .expect("connect");
                p.send(bytes).unwrap();
                p
            })
            .collect();
        thread::sleep(Duration::from_millis(1000));
        let with = vm_rss(pid);
        let per = with.saturating_sub(before) / 3000;
        eprintln!(
            "{what}: VmRSS {} KiB -> {} KiB with 3000 connections: {per} bytes each",
            before >> 10,
            with >> 10
        );
        assert!(
            per < RSS_PER_CONNECTION,
            "{what}: {per} bytes per connection"
        );
        assert!(edge.process().try_wait().is_none(), "rtmp-edge died");
        let deadline = Instant::now() + BY_TIMEOUT;
        let mut peers = peers;
        let mut open = 0;
        for p in peers.iter_mut() {
            let left = deadline.saturating_duration_since(Instant::now());
            if p.wait_close(left.max(Duration::from_millis(1))) == Ending::Open {
                open += 1;
            }
        }
        assert_eq!(
            open, 0,
            "{what}: connections left open after the handshake timeout"
        );
    }

    let status = loadtest.wait_timeout(Duration::from_secs(LEGIT_SECONDS + 30));
    assert!(status.success(), "rtmp-loadtest: {}", loadtest.log_tail());
    ffmpeg.wait_success(Duration::from_secs(30));
    let text = std::fs::read_to_string(&json).expect("report");
    let v: Value = serde_json::from_str(&text).expect("report is JSON");
    eprintln!(
        "legitimate stream under attack: latency_ms {}",
        v["latency_ms"]
    );
    assert_eq!(v["players_connected"], 20, "{v}");
    assert_eq!(v["players_failed"], 0, "{v}");
    assert_eq!(v["disconnects"], 0, "{v}");
    assert_eq!(v["frames_lost"], 0, "{v}");
    assert!(v["frames_received"].as_f64().unwrap_or(0.0) > 0.0, "{v}");
    assert!(edge.process().try_wait().is_none(), "rtmp-edge died");
}
