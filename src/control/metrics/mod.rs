//! `GET /metrics`: the shards' latest snapshots (summed; busy time per shard) and the process
//! metrics in the Prometheus text format, by its naming conventions: prefix `rtmp_edge_`, base
//! units (seconds, bytes), `_total` counters, `rtmp_edge_build_info`. Label cardinality is
//! bounded: listeners, roles, close reasons and shards are few; per-stream series only when
//! `http.stream_labels` is on, for at most `http.max_labelled_streams` streams (most players
//! first). Pure function of its inputs except [`ProcessStats::read`].
use crate::control::api::{self, StreamView};
use crate::shard::snapshot::{latency_histogram, ShardSnapshot};
use crate::shard::{CloseReason, ProtocolErrorKind, ShardStats};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

mod auth;
mod limits;
pub mod process;
pub mod record;
pub mod text;

pub use process::ProcessStats;
use text::{Kind, PromText};

/// Upper bounds of the fan-out latency histogram's buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// A stream without frames for this long counts as stalled.
const STALLED_AFTER: Duration = Duration::from_secs(5);

/// What shapes the output beyond the snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsOptions {
    pub stream_labels: bool,
    pub max_labelled_streams: usize,
}

/// The whole exposition.
pub fn render(
    snapshots: &[Arc<ShardSnapshot>],
    shards: usize,
    options: MetricsOptions,
    process: &ProcessStats,
) -> String {
    let mut p = PromText::new();
    p.family(
        "rtmp_edge_build_info",
        Kind::Gauge,
        "Build information: the version in a label, value 1.",
    );
    p.sample(
        "rtmp_edge_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    p.single(
        "rtmp_edge_shards",
        Kind::Gauge,
        "Shard threads configured.",
        shards as f64,
    );
    p.single(
        "rtmp_edge_shards_ready",
        Kind::Gauge,
        "Shards that published a snapshot.",
        snapshots.len() as f64,
    );
    connections(&mut p, snapshots);
    counters(&mut p, snapshots);
    limits::write(&mut p, snapshots);
    busy(&mut p, snapshots);
    auth::refusals(&mut p, snapshots);
    latency(&mut p, snapshots);
    let views = api::streams(snapshots);
    streams(&mut p, &views);
    if options.stream_labels {
        labelled_streams(&mut p, &views, options.max_labelled_streams);
    }
    process.write(&mut p);
    p.finish()
}

fn connections(p: &mut PromText, snapshots: &[Arc<ShardSnapshot>]) {
    // By listener address (and its protocol), then role.
    let mut by: BTreeMap<(String, &'static str), [u64; 3]> = BTreeMap::new();
    for snap in snapshots {
        for l in &snap.listeners {
            let addr = l
                .addr
                .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
            let protocol = if l.protocol.is_empty() {
                "rtmp"
            } else {
                l.protocol
            };
            let e = by.entry((addr, protocol)).or_default();
            e[0] += l.publishers;
            e[1] += l.players;
            e[2] += l.pending;
        }
    }
    p.family(
        "rtmp_edge_connections",
        Kind::Gauge,
        "Open connections by role (publisher, player, pending: before publish or play), listener and its protocol (rtmp, http).",
    );
    for ((listener, protocol), counts) in &by {
        for (role, n) in ["publisher", "player", "pending"].iter().zip(counts) {
            p.sample(
                "rtmp_edge_connections",
                &[
                    ("role", role),
                    ("listener", listener),
                    ("protocol", protocol),
                ],
                *n as f64,
            );
        }
    }
}

fn sum(snapshots: &[Arc<ShardSnapshot>], f: impl Fn(&ShardStats) -> u64) -> f64 {
    snapshots.iter().map(|s| f(&s.stats)).sum::<u64>() as f64
}

/// A counter family: name, help, and the shard counter it sums.
type Counter = (&'static str, &'static str, fn(&ShardStats) -> u64);

fn counters(p: &mut PromText, snapshots: &[Arc<ShardSnapshot>]) {
    let plain: [Counter; 14] = [
        (
            "rtmp_edge_connections_accepted_total",
            "Connections accepted.",
            |s| s.accepted,
        ),
        (
            "rtmp_edge_timeouts_total",
            "Connections closed by a timeout (handshake, idle publisher, stalled writes).",
            |s| s.timeouts,
        ),
        ("rtmp_edge_publishes_total", "Publishes accepted.", |s| {
            s.publishes
        }),
        (
            "rtmp_edge_publishes_refused_total",
            "Publishes refused because the stream was live.",
            |s| s.publishes_refused,
        ),
        ("rtmp_edge_plays_total", "Plays started.", |s| s.plays),
        (
            "rtmp_edge_received_bytes_total",
            "Bytes read from client sockets.",
            |s| s.bytes_in,
        ),
        (
            "rtmp_edge_sent_bytes_total",
            "Bytes written to client sockets.",
            |s| s.bytes_out,
        ),
        (
            "rtmp_edge_frames_received_total",
            "Media messages (audio, video, metadata) received from publishers.",
            |s| s.frames_in,
        ),
        (
            "rtmp_edge_frames_delivered_total",
            "Media messages written in full to a player (one per frame per player).",
            |s| s.frames_delivered,
        ),
        (
            "rtmp_edge_frames_dropped_total",
            "Frames skipped for players that fell behind (slow-player policy).",
            |s| s.frames_dropped,
        ),
        (
            "rtmp_edge_players_kicked_total",
            "Players disconnected for lagging beyond the kick limit.",
            |s| s.players_kicked,
        ),
        (
            "rtmp_edge_reconnect_requests_total",
            "Clients asked to reconnect elsewhere when a drain started (Enhanced RTMP).",
            |s| s.reconnect_requests,
        ),
        (
            "rtmp_edge_tls_handshakes_total",
            "RTMPS: TLS handshakes completed (TLS listeners and rtmps:// upstreams).",
            |s| s.tls_handshakes,
        ),
        (
            "rtmp_edge_tls_errors_total",
            "RTMPS: connections closed for a TLS error (bad records, handshake or certificate).",
            |s| s.tls_errors,
        ),
    ];
    for (name, help, f) in plain {
        p.single(name, Kind::Counter, help, sum(snapshots, f));
    }
    p.family(
        "rtmp_edge_protocol_errors_total",
        Kind::Counter,
        "Connections closed for malformed or refused input, by kind (handshake, chunk, \
         message, amf, peer_misbehaved, refused, proxy).",
    );
    for kind in ProtocolErrorKind::ALL {
        let n = sum(snapshots, |s| s.protocol_errors_by_kind[kind.index()]);
        p.sample(
            "rtmp_edge_protocol_errors_total",
            &[("kind", kind.as_str())],
            n,
        );
    }
    p.family(
        "rtmp_edge_connections_closed_total",
        Kind::Counter,
        "Connections closed, by reason.",
    );
    for reason in CloseReason::ALL {
        let n = sum(snapshots, |s| s.closed_by_reason[reason.index()]);
        p.sample(
            "rtmp_edge_connections_closed_total",
            &[("reason", reason.as_str())],
            n,
        );
    }
}

fn busy(p: &mut PromText, snapshots: &[Arc<ShardSnapshot>]) {
    p.family(
        "rtmp_edge_shard_busy_seconds_total",
        Kind::Counter,
        "Time each shard's event loop spent working rather than waiting for events.",
    );
    for snap in snapshots {
        let shard = snap.shard.to_string();
        p.sample(
            "rtmp_edge_shard_busy_seconds_total",
            &[("shard", &shard)],
            snap.stats.busy.as_secs_f64(),
        );
    }
}

fn latency(p: &mut PromText, snapshots: &[Arc<ShardSnapshot>]) {
    latency_histogram_of(
        p,
        snapshots,
        |s| (&s.latency, s.latency_sum),
        "rtmp_edge_fanout_latency_seconds",
        "Time from a message's arrival off the publisher's socket to its last byte written into \
         a player's socket, per frame per player.",
    );
    latency_histogram_of(
        p,
        snapshots,
        |s| (&s.part_latency, s.part_latency_sum),
        "rtmp_edge_hls_part_latency_seconds",
        "Time from the arrival of the oldest message of an LL-HLS/DASH part to the part's \
         publication (home shards), per part.",
    );
}

fn latency_histogram_of(
    p: &mut PromText,
    snapshots: &[Arc<ShardSnapshot>],
    of: impl Fn(&ShardSnapshot) -> (&Histogram<u64>, Duration),
    name: &str,
    help: &str,
) {
    let mut all = latency_histogram();
    let mut sum = Duration::ZERO;
    for snap in snapshots {
        let (h, s) = of(snap);
        // Same bounds everywhere, so adding cannot fail; a failure would only lose a shard.
        let _ = all.add(h);
        sum += s;
    }
    let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
        .iter()
        .map(|&le| (le, all.count_between(0, (le * 1e6) as u64)))
        .collect();
    p.histogram(name, help, &buckets, sum.as_secs_f64(), all.len());
}

fn streams(p: &mut PromText, views: &[StreamView]) {
    let published = views.iter().filter(|v| v.home.is_some()).count();
    p.single(
        "rtmp_edge_streams",
        Kind::Gauge,
        "Streams with a live publisher.",
        published as f64,
    );
    let stalled = views
        .iter()
        .filter_map(|v| v.home.as_ref())
        .filter(|h| h.health.since_last_frame >= STALLED_AFTER)
        .count();
    p.single(
        "rtmp_edge_streams_stalled",
        Kind::Gauge,
        "Published streams without a frame for 5 seconds or more.",
        stalled as f64,
    );
    let jumps: u64 = views
        .iter()
        .filter_map(|v| v.home.as_ref())
        .map(|h| h.health.timestamp_jumps)
        .sum();
    p.single(
        "rtmp_edge_stream_timestamp_jumps",
        Kind::Gauge,
        "Timestamp jumps (backwards, or forward by more than 1 s) of the live streams.",
        jumps as f64,
    );
}

fn labelled_streams(p: &mut PromText, views: &[StreamView], max: usize) {
    let mut chosen: Vec<&StreamView> = views.iter().collect();
    chosen.sort_by(|a, b| b.players().cmp(&a.players()).then(a.key.cmp(&b.key)));
    chosen.truncate(max);
    chosen.sort_by(|a, b| a.key.cmp(&b.key));
    type Getter = fn(&StreamView) -> Option<f64>;
    let series: [(&str, Kind, &str, Getter); 7] = [
        (
            "rtmp_edge_stream_players",
            Kind::Gauge,
            "Players of the stream.",
            |v| Some(v.players() as f64),
        ),
        (
            "rtmp_edge_stream_received_bytes_total",
            Kind::Counter,
            "Media payload bytes received from the stream's current publisher.",
            |v| v.home.as_ref().map(|h| h.health.bytes_in as f64),
        ),
        (
            "rtmp_edge_stream_ingest_bitrate_ratio",
            Kind::Gauge,
            "Ingest bitrate of the last 500 ms over its recent average.",
            |v| {
                let h = &v.home.as_ref()?.health;
                (h.ingest_bps_avg > 0.0).then(|| h.ingest_bps / h.ingest_bps_avg)
            },
        ),
        (
            "rtmp_edge_stream_last_frame_age_seconds",
            Kind::Gauge,
            "Time since the stream's last media message.",
            |v| {
                v.home
                    .as_ref()
                    .map(|h| h.health.since_last_frame.as_secs_f64())
            },
        ),
        (
            "rtmp_edge_stream_keyframe_interval_seconds",
            Kind::Gauge,
            "Media time between the stream's last two video keyframes.",
            |v| {
                let ms = v.home.as_ref()?.health.keyframe_interval_ms?;
                Some(f64::from(ms) / 1000.0)
            },
        ),
        (
            "rtmp_edge_stream_av_drift_seconds",
            Kind::Gauge,
            "Last video timestamp minus last audio timestamp.",
            |v| {
                let ms = v.home.as_ref()?.health.av_drift_ms?;
                Some(ms as f64 / 1000.0)
            },
        ),
        (
            "rtmp_edge_stream_timestamp_jumps_total",
            Kind::Counter,
            "Timestamp jumps of the stream's current publisher.",
            |v| v.home.as_ref().map(|h| h.health.timestamp_jumps as f64),
        ),
    ];
    for (name, kind, help, get) in series {
        p.family(name, kind, help);
        for v in &chosen {
            if let Some(value) = get(v) {
                p.sample(name, &[("stream", &v.key)], value);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
