//! The HTTP control side against live traffic: `/metrics` scraped while a stream is live and
//! checked by Debian's `promtool check metrics` and against the traffic the test itself made
//! and counted; the JSON API against an FFmpeg publish and several players, kicks of a player
//! and a publisher, the bearer token; the Grafana dashboard's metrics in a live scrape; JSON
//! logs line by line and the access event of a finished session.
//!
//! Everything runs on 127.0.0.1 and is bounded; waits poll until a deadline, no fixed sleeps.
//! A missing promtool or ffmpeg fails the test (support::tool), it never skips.
#[path = "support/rtmp_client.rs"]
#[allow(dead_code)]
mod rtmp_client;
mod support;

use rtmp_client::TestClient;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{free_port, try_http_request, unique_name, RtmpEdge, RtmpServer, APP};

const LIMIT: Duration = Duration::from_secs(20);

/// A running rtmp-edge with its HTTP listener.
struct Edge {
    edge: RtmpEdge,
    http: SocketAddr,
}

fn start(shards: usize, toml: &str, extra: &[&str]) -> Edge {
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let addr = http.to_string();
    let mut args = vec!["--http", addr.as_str()];
    args.extend_from_slice(extra);
    let edge = RtmpEdge::start_with_args(shards, toml, &args);
    let e = Edge { edge, http };
    // Ready once every shard published its first snapshot.
    poll(LIMIT, "readyz", || {
        matches!(e.try_request("GET", "/readyz", None), Ok((200, _)))
    });
    e
}

impl Edge {
    fn try_request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
    ) -> std::io::Result<(u16, String)> {
        try_http_request(self.http, method, path, token)
    }

    fn request(&self, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
        self.try_request(method, path, token)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.edge.log_tail()))
    }

    fn json(&self, path: &str, token: Option<&str>) -> Value {
        let (status, body) = self.request("GET", path, token);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    fn metrics(&self) -> String {
        let (status, body) = self.request("GET", "/metrics", None);
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// Polls `f` until it is true; panics with `what` after `limit`.
fn poll(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The value of the sample `series` (name with its labels as written) in a scrape.
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

/// The sum of every sample of metric `name` whose labels contain `with`.
fn sum_of(scrape: &str, name: &str, with: &str) -> f64 {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| l.contains(with))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn promtool_check(scrape: &str) {
    let mut child = Command::new(support::tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child
        .stdin
        .take()
        .expect("promtool stdin")
        .write_all(scrape.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool output");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}\n{}{}\n--- scrape:\n{scrape}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Publishes `frames` video frames (a keyframe every 25) with an audio frame after each,
/// after metadata and both sequence headers: `3 + 2 * frames` media messages.
fn publish_frames(publisher: &mut TestClient, frames: u32) {
    publisher.send_metadata().expect("metadata");
    publisher.send_headers().expect("headers");
    for n in 0..frames {
        publisher
            .send_video(n * 40, n, n % 25 == 0, 1500)
            .expect("video");
        publisher.send_audio(n * 40 + 10).expect("audio");
    }
}

/// Reads media from `player` until it has `want` messages.
fn read_media(player: &mut TestClient, want: usize) {
    let mut got = 0;
    let deadline = Instant::now() + LIMIT;
    while got < want {
        assert!(
            Instant::now() < deadline,
            "player got {got} of {want} messages"
        );
        if player
            .next_media(Duration::from_millis(200))
            .expect("player connection")
            .is_some()
        {
            got += 1;
        }
    }
}

#[test]
fn metrics_pass_promtool_and_match_the_traffic() {
    // Generous queue bounds: nothing may be dropped while the test reads players in turn.
    let toml = "[play]\nqueue_max_ms = 60000\nkick_after_ms = 120000\n\
                [http]\nstream_labels = true\nmax_labelled_streams = 10\n";
    let e = start(2, toml, &[]);
    let name = unique_name("metrics");
    const PLAYERS: usize = 3;
    const FRAMES: u32 = 100;
    let messages = 3 + 2 * FRAMES as usize;
    let addr = e.edge.addr();
    // Players first: every message of the publish reaches each of them (no startup GOP, no
    // wait for a keyframe: the first video frame is one).
    let mut players: Vec<TestClient> = (0..PLAYERS)
        .map(|_| TestClient::play(addr, APP, &name).expect("play"))
        .collect();
    let mut publisher = TestClient::publish(addr, APP, &name).expect("publish");
    publish_frames(&mut publisher, FRAMES);
    for p in &mut players {
        read_media(p, messages);
    }
    let received: u64 = players.iter().map(TestClient::bytes_read).sum();
    // One connection that speaks HTTP where the RTMP handshake belongs.
    let mut junk = TcpStream::connect(addr).expect("connect");
    junk.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
    let mut rest = Vec::new();
    let _ = junk.read_to_end(&mut rest);

    // Exact: the histogram counts one sample per frame per player written in full after the
    // player's play started, which is every message each player read; the counters settle
    // by the next snapshot (500 ms).
    let want = (PLAYERS * messages) as f64;
    let mut scrape = String::new();
    poll(LIMIT, "the latency count to reach frames x players", || {
        scrape = e.metrics();
        sample(&scrape, "rtmp_edge_fanout_latency_seconds_count") == Some(want)
            && sample(
                &scrape,
                "rtmp_edge_protocol_errors_total{kind=\"handshake\"}",
            ) == Some(1.0)
    });
    promtool_check(&scrape);
    assert_eq!(
        sample(&scrape, "rtmp_edge_frames_delivered_total"),
        Some(want)
    );
    assert_eq!(
        sample(&scrape, "rtmp_edge_frames_received_total"),
        Some(messages as f64)
    );
    assert_eq!(
        sample(
            &scrape,
            "rtmp_edge_fanout_latency_seconds_bucket{le=\"+Inf\"}"
        ),
        Some(want)
    );
    assert_eq!(sample(&scrape, "rtmp_edge_frames_dropped_total"), Some(0.0));
    assert_eq!(
        sum_of(&scrape, "rtmp_edge_connections", "role=\"player\""),
        PLAYERS as f64
    );
    assert_eq!(
        sum_of(&scrape, "rtmp_edge_connections", "role=\"publisher\""),
        1.0
    );
    assert_eq!(sample(&scrape, "rtmp_edge_streams"), Some(1.0));
    assert!(sum_of(&scrape, "rtmp_edge_shard_busy_seconds_total", "shard=") > 0.0);
    let stream = format!("rtmp_edge_stream_players{{stream=\"{APP}/{name}\"}}");
    assert_eq!(sample(&scrape, &stream), Some(PLAYERS as f64));
    // Bytes sent: what the players read, plus the little the publisher was sent (handshake
    // and replies), so within 3 % + 16 KiB.
    let sent = sample(&scrape, "rtmp_edge_sent_bytes_total").expect("sent bytes");
    let received = received as f64;
    assert!(
        sent >= received && sent <= received * 1.03 + 16384.0,
        "sent {sent} vs players read {received}"
    );
    let ingest = sample(&scrape, "rtmp_edge_received_bytes_total").expect("received bytes");
    assert!(ingest >= f64::from(FRAMES) * 1500.0, "{ingest}");

    // Every metric the dashboard queries exists in this live scrape.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tuning/grafana-dashboard.json");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("dashboard")).expect("JSON");
    let mut names = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            names.extend(metric_names(target["expr"].as_str().expect("expr")));
        }
    }
    assert!(names.len() >= 10, "{names:?}");
    for name in &names {
        let present = scrape
            .lines()
            .any(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")));
        assert!(
            present,
            "dashboard metric {name} is not in the scrape:\n{scrape}"
        );
    }
}

/// Metric names in a PromQL expression: words starting `rtmp_edge_` or `process_`.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        if word(bytes[i]) && (i == 0 || !word(bytes[i - 1])) {
            let start = i;
            while i < bytes.len() && word(bytes[i]) {
                i += 1;
            }
            let w = &expr[start..i];
            if w.starts_with("rtmp_edge_") || w.starts_with("process_") {
                out.push(w.to_owned());
            }
        } else {
            i += 1;
        }
    }
    out
}

fn client_ids(e: &Edge, token: &str, role: &str) -> Vec<String> {
    let clients = e.json("/api/clients", Some(token));
    clients["clients"]
        .as_array()
        .expect("clients")
        .iter()
        .filter(|c| c["role"] == role)
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn api_shows_an_ffmpeg_stream_kicks_clients_and_wants_the_token() {
    const TOKEN: &str = "t0ken-for-tests";
    let e = start(2, &format!("[http]\napi_token = \"{TOKEN}\"\n"), &[]);
    let name = unique_name("api");
    let mut ffmpeg = support::ffmpeg_publish_testsrc(&e.edge.url(APP, &name), 60.0, &[]);
    let path = format!("/api/streams/{APP}/{name}");
    poll(
        LIMIT,
        "the FFmpeg stream in the API",
        || matches!(e.request("GET", &path, Some(TOKEN)), (200, ref b) if b.contains("h264")),
    );
    let addr = e.edge.addr();
    let mut players: Vec<TestClient> = (0..3)
        .map(|_| TestClient::play(addr, APP, &name).expect("play"))
        .collect();
    for p in &mut players {
        read_media(p, 5);
    }

    // The token guards /api/*, and only that.
    assert_eq!(e.request("GET", "/api/streams", None).0, 401);
    assert_eq!(e.request("GET", "/api/streams", Some("wrong")).0, 401);
    assert_eq!(e.request("DELETE", "/api/clients/0-0-1", None).0, 401);
    assert_eq!(e.request("GET", "/metrics", None).0, 200);
    assert_eq!(e.request("GET", "/healthz", None), (200, "ok\n".to_owned()));
    assert_eq!(e.request("GET", "/nowhere", None).0, 404);
    assert_eq!(e.request("POST", "/api/streams", Some(TOKEN)).0, 405);

    let mut stream = Value::Null;
    poll(LIMIT, "3 players, metadata and health in the API", || {
        stream = e.json(&path, Some(TOKEN));
        stream["players"] == 3 && stream["health"]["keyframe_interval_seconds"].is_number()
    });
    assert_eq!(stream["app"], APP);
    assert_eq!(stream["stream"], name.as_str());
    assert_eq!(stream["video"]["codec"], "h264");
    assert_eq!(stream["audio"]["codec"], "aac");
    assert_eq!(stream["video"]["width"], 320.0);
    assert_eq!(stream["video"]["height"], 240.0);
    assert_eq!(stream["video"]["frame_rate"], f64::from(support::FPS));
    assert_eq!(stream["source"]["kind"], "local_publisher");
    assert!(stream["publisher"]["address"]
        .as_str()
        .is_some_and(|a| a.starts_with("127.0.0.1:")));
    let by_shard: u64 = stream["players_by_shard"]
        .as_array()
        .expect("players by shard")
        .iter()
        .filter_map(|s| s["players"].as_u64())
        .sum();
    assert_eq!(by_shard, 3);
    assert!(
        stream["uptime_seconds"].as_f64().unwrap_or(0.0) > 0.0,
        "{stream:#}"
    );
    assert!(
        stream["health"]["since_last_frame_seconds"]
            .as_f64()
            .unwrap_or(99.0)
            < 5.0
    );
    assert!(
        stream["health"]["ingest_bitrate_avg_bps"]
            .as_f64()
            .unwrap_or(0.0)
            > 0.0
    );
    let clients = e.json("/api/clients", Some(TOKEN));
    let publisher = clients["clients"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["role"] == "publisher"))
        .expect("the publisher in /api/clients");
    assert_eq!(publisher["stream"], name.as_str());
    assert!(
        publisher["bytes_in"].as_u64().unwrap_or(0) > 10_000,
        "{publisher}"
    );
    assert!(publisher["connected_seconds"].as_f64().unwrap_or(0.0) > 0.0);
    let all = e.json("/api/streams", Some(TOKEN));
    assert!(all["streams"]
        .as_array()
        .is_some_and(|s| s.iter().any(|s| s["stream"] == name.as_str())));

    // Kick one player: its connection ends, and it leaves the client list.
    let listed = e.json("/api/clients", Some(TOKEN));
    let entries: Vec<&Value> = listed["clients"]
        .as_array()
        .expect("clients")
        .iter()
        .filter(|c| c["role"] == "player")
        .collect();
    assert_eq!(entries.len(), 3, "{listed:#}");
    let victim_addr = players[0].local_addr().expect("local addr").to_string();
    let victim = entries
        .iter()
        .find(|c| c["address"] == victim_addr.as_str())
        .and_then(|c| c["id"].as_str())
        .expect("the first player in the API")
        .to_owned();
    let victim = &victim;
    let (status, body) = e.request("DELETE", &format!("/api/clients/{victim}"), Some(TOKEN));
    assert_eq!(status, 202, "{body}");
    let deadline = Instant::now() + LIMIT;
    while players[0].next_media(Duration::from_millis(100)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the kicked player is still connected"
        );
    }
    poll(LIMIT, "the kicked player to leave the API", || {
        let ids = client_ids(&e, TOKEN, "player");
        ids.len() == 2 && !ids.contains(victim)
    });
    for p in &mut players[1..] {
        read_media(p, 5);
    }
    assert_eq!(
        e.request("DELETE", &format!("/api/clients/{victim}"), Some(TOKEN))
            .0,
        404,
        "a kicked id is gone"
    );
    assert_eq!(
        e.request("DELETE", "/api/clients/not-an-id", Some(TOKEN)).0,
        400
    );

    // Kick the publisher: FFmpeg's connection ends, and the stream has no publisher.
    let publishers = client_ids(&e, TOKEN, "publisher");
    assert_eq!(publishers.len(), 1);
    let publisher = &publishers[0];
    let status = e.request("DELETE", &format!("/api/clients/{publisher}"), Some(TOKEN));
    assert_eq!(status.0, 202);
    ffmpeg.wait_timeout(LIMIT);
    poll(LIMIT, "the stream without its publisher", || {
        let (status, body) = e.request("GET", &path, Some(TOKEN));
        status == 404 || body.contains("\"publisher\": null")
    });
    let scrape = e.metrics();
    assert_eq!(
        sample(
            &scrape,
            "rtmp_edge_connections_closed_total{reason=\"kicked\"}"
        ),
        Some(2.0)
    );
}

#[test]
fn json_logs_parse_and_a_session_ends_in_one_access_event() {
    let e = start(1, "", &["--log-format", "json"]);
    let name = unique_name("access");
    let addr = e.edge.addr();
    let mut player = TestClient::play(addr, APP, &name).expect("play");
    let player_addr = player.local_addr().expect("local addr").to_string();
    let mut publisher = TestClient::publish(addr, APP, &name).expect("publish");
    publish_frames(&mut publisher, 30);
    read_media(&mut player, 63);
    // Everything the server wrote has been read: its count for this client is ours.
    poll(
        LIMIT,
        "the server's byte count to match the player's",
        || {
            let _ = player.next_media(Duration::from_millis(10));
            let clients = e.json("/api/clients", None);
            clients["clients"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["address"] == player_addr.as_str())
                .is_some_and(|c| c["bytes_out"].as_u64() == Some(player.bytes_read()))
        },
    );
    let read = player.bytes_read();
    drop(player);

    let access = |log: &str| -> Vec<Value> {
        log.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .filter(|v| v["target"] == "rtmp_edge::access" && v["client"] == player_addr.as_str())
            .collect()
    };
    poll(LIMIT, "the player's access event", || {
        !access(&e.edge.log()).is_empty()
    });
    let events = access(&e.edge.log());
    assert_eq!(events.len(), 1, "{events:#?}");
    let ev = &events[0];
    assert_eq!(ev["role"], "player");
    assert_eq!(ev["listener"], e.edge.addr().to_string().as_str());
    assert_eq!(ev["app"], APP);
    assert_eq!(ev["stream"], name.as_str());
    assert_eq!(ev["reason"], "peer_closed");
    assert_eq!(ev["bytes_out"].as_u64(), Some(read));
    assert!(ev["bytes_in"].as_u64().unwrap_or(0) > 1536, "{ev}");
    assert!(ev["duration_ms"].is_u64() && ev["level"] == "INFO", "{ev}");
    // Every line of the log is one JSON object.
    for line in e.edge.log().lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v.is_object() && v["timestamp"].is_string(), "{line}");
    }
}
