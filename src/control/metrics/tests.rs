//! The exposition built from hand-made snapshots: families, sums over shards, close reasons,
//! the latency histogram, and the cap on labelled streams.
use super::*;
use crate::shard::snapshot::{
    ClientId, ClientInfo, ClientRole, HomeInfo, ListenerConns, StreamHealth, StreamInfo,
};

/// A snapshot of shard `shard` with a stream `live/s{shard}` published there (players:
/// `shard + 1`), one player client, and latencies of 2 ms and 300 ms.
pub(crate) fn sample(shard: usize) -> ShardSnapshot {
    let listener: std::net::SocketAddr = "127.0.0.1:1935".parse().unwrap();
    let peer: std::net::SocketAddr = "10.0.0.9:5000".parse().unwrap();
    let mut stats = ShardStats {
        accepted: 10,
        bytes_out: 1000,
        frames_in: 5,
        busy: Duration::from_millis(1500),
        ..ShardStats::default()
    };
    stats.closed_by_reason[CloseReason::PeerClosed.index()] = 2;
    stats.protocol_errors_by_kind[ProtocolErrorKind::Handshake.index()] = 1;
    let mut latency = latency_histogram();
    latency.record(2_000).unwrap();
    latency.record(300_000).unwrap();
    let publisher = ClientId {
        shard,
        conn: 0,
        generation: 1,
    };
    ShardSnapshot {
        shard,
        uptime: Duration::from_secs(3),
        stats,
        latency,
        latency_sum: Duration::from_millis(302),
        part_latency: latency_histogram(),
        part_latency_sum: Duration::ZERO,
        listeners: vec![ListenerConns {
            addr: Some(listener),
            protocol: "rtmp",
            pending: 0,
            publishers: 1,
            players: shard as u64 + 1,
        }],
        streams: vec![StreamInfo {
            key: format!("live/s{shard}").into(),
            players: shard as u64 + 1,
            live: true,
            home: Some(HomeInfo {
                publisher,
                peer,
                health: StreamHealth {
                    keyframe_interval_ms: Some(2000),
                    ingest_bps: 1e6,
                    ingest_bps_avg: 2e6,
                    ..StreamHealth::default()
                },
            }),
        }],
        clients: vec![ClientInfo {
            id: ClientId {
                shard,
                conn: 1,
                generation: 2,
            },
            peer,
            listener: Some(listener),
            role: ClientRole::Player,
            stream: Some(format!("live/s{shard}").into()),
            connected: Duration::from_secs(2),
            bytes_in: 100,
            bytes_out: 900,
            queued_bytes: 0,
            lag_ms: 0,
            dropped_frames: 0,
        }],
    }
}

fn lines(text: &str, prefix: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn sums_over_shards_by_the_conventions() {
    let snaps = vec![Arc::new(sample(0)), Arc::new(sample(1))];
    let options = MetricsOptions {
        stream_labels: false,
        max_labelled_streams: 100,
    };
    let text = render(&snaps, 2, options, &ProcessStats::default());
    assert!(text.contains("rtmp_edge_build_info{version=\""), "{text}");
    assert!(text.contains("\nrtmp_edge_connections_accepted_total 20\n"));
    assert!(text.contains("\nrtmp_edge_sent_bytes_total 2000\n"));
    assert!(text.contains("rtmp_edge_connections_closed_total{reason=\"peer_closed\"} 4\n"));
    assert!(text.contains("rtmp_edge_connections_closed_total{reason=\"kicked\"} 0\n"));
    assert!(text.contains("rtmp_edge_protocol_errors_total{kind=\"handshake\"} 2\n"));
    assert!(text.contains("rtmp_edge_protocol_errors_total{kind=\"amf\"} 0\n"));
    assert!(text.contains(
        "rtmp_edge_connections{role=\"player\",listener=\"127.0.0.1:1935\",protocol=\"rtmp\"} 3\n"
    ));
    assert!(text.contains("rtmp_edge_shard_busy_seconds_total{shard=\"1\"} 1.5\n"));
    assert!(text.contains("\nrtmp_edge_streams 2\n"));
    // Histogram: 2 ms and 300 ms per shard.
    assert!(text.contains("rtmp_edge_fanout_latency_seconds_bucket{le=\"0.001\"} 0\n"));
    assert!(text.contains("rtmp_edge_fanout_latency_seconds_bucket{le=\"0.0025\"} 2\n"));
    assert!(text.contains("rtmp_edge_fanout_latency_seconds_bucket{le=\"0.25\"} 2\n"));
    assert!(text.contains("rtmp_edge_fanout_latency_seconds_bucket{le=\"0.5\"} 4\n"));
    assert!(text.contains("rtmp_edge_fanout_latency_seconds_bucket{le=\"+Inf\"} 4\n"));
    assert!(text.contains("\nrtmp_edge_fanout_latency_seconds_count 4\n"));
    assert!(text.contains("\nrtmp_edge_fanout_latency_seconds_sum 0.604\n"));
    assert!(lines(&text, "rtmp_edge_stream_players").is_empty());
    // Every family has its HELP and TYPE, once; counters end in _total.
    for l in lines(&text, "# TYPE ") {
        let parts: Vec<&str> = l.split(' ').collect();
        let name = parts[2];
        assert_eq!(lines(&text, &format!("# TYPE {name} ")).len(), 1, "{name}");
        assert_eq!(lines(&text, &format!("# HELP {name} ")).len(), 1, "{name}");
        if parts[3] == "counter" {
            assert!(name.ends_with("_total"), "{name}");
        }
    }
}

#[test]
fn labelled_streams_are_capped_most_players_first() {
    let snaps = vec![
        Arc::new(sample(0)),
        Arc::new(sample(1)),
        Arc::new(sample(2)),
    ];
    let options = MetricsOptions {
        stream_labels: true,
        max_labelled_streams: 2,
    };
    let text = render(&snaps, 3, options, &ProcessStats::default());
    assert_eq!(
        lines(&text, "rtmp_edge_stream_players{"),
        vec![
            "rtmp_edge_stream_players{stream=\"live/s1\"} 2",
            "rtmp_edge_stream_players{stream=\"live/s2\"} 3",
        ]
    );
    assert!(text.contains("rtmp_edge_stream_keyframe_interval_seconds{stream=\"live/s2\"} 2\n"));
    assert!(text.contains("rtmp_edge_stream_ingest_bitrate_ratio{stream=\"live/s1\"} 0.5\n"));
}
