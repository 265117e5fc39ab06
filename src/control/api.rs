//! The JSON stats API, built from the shards' latest snapshots: streams (merged across the
//! shards that carry them: the home shard's publisher and health, the players of each shard)
//! and clients. Pure functions of the snapshots; the HTTP router serves them.
use crate::shard::snapshot::{ClientInfo, HomeInfo, ShardSnapshot};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One stream across every shard.
#[derive(Debug, Clone)]
pub struct StreamView {
    pub key: Arc<str>,
    /// Players per shard (shards without players left out).
    pub players_by_shard: BTreeMap<usize, u64>,
    pub home_shard: Option<usize>,
    pub home: Option<HomeInfo>,
    pub live: bool,
}

impl StreamView {
    pub fn players(&self) -> u64 {
        self.players_by_shard.values().sum()
    }
}

/// Streams of every shard merged by key, sorted by key.
pub fn streams(snapshots: &[Arc<ShardSnapshot>]) -> Vec<StreamView> {
    let mut by_key: BTreeMap<Arc<str>, StreamView> = BTreeMap::new();
    for snap in snapshots {
        for s in &snap.streams {
            let view = by_key.entry(s.key.clone()).or_insert_with(|| StreamView {
                key: s.key.clone(),
                players_by_shard: BTreeMap::new(),
                home_shard: None,
                home: None,
                live: false,
            });
            if s.players > 0 {
                *view.players_by_shard.entry(snap.shard).or_default() += s.players;
            }
            view.live |= s.live || s.home.is_some();
            if let Some(home) = &s.home {
                view.home_shard = Some(snap.shard);
                view.home = Some(home.clone());
            }
        }
    }
    by_key.into_values().collect()
}

fn split(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or((key, ""))
}

/// The JSON of one stream.
pub fn stream_json(s: &StreamView) -> Value {
    let (app, name) = split(&s.key);
    let players_by_shard: Vec<Value> = s
        .players_by_shard
        .iter()
        .map(|(shard, players)| json!({"shard": shard, "players": players}))
        .collect();
    let mut v = json!({
        "app": app,
        "stream": name,
        "live": s.live,
        "players": s.players(),
        "players_by_shard": players_by_shard,
        "home_shard": s.home_shard,
    });
    if let Some(home) = &s.home {
        let h = &home.health;
        let m = &h.media;
        v["source"] = json!({"kind": "local_publisher", "client_id": home.publisher.to_string()});
        v["publisher"] = json!({
            "id": home.publisher.to_string(),
            "address": home.peer.to_string(),
        });
        v["video"] = json!({
            "codec": m.video_codec,
            "width": m.width,
            "height": m.height,
            "frame_rate": m.frame_rate,
        });
        v["audio"] = json!({"codec": m.audio_codec});
        v["uptime_seconds"] = json!(h.publishing_for.as_secs_f64());
        v["health"] = json!({
            "since_last_frame_seconds": h.since_last_frame.as_secs_f64(),
            "ingest_bitrate_bps": h.ingest_bps,
            "ingest_bitrate_avg_bps": h.ingest_bps_avg,
            "keyframe_interval_seconds": h.keyframe_interval_ms.map(|ms| f64::from(ms) / 1000.0),
            "gop_frames": h.gop_frames,
            "timestamp_jumps": h.timestamp_jumps,
            "av_drift_seconds": h.av_drift_ms.map(|ms| ms as f64 / 1000.0),
            "frames_in": h.frames_in,
            "bytes_in": h.bytes_in,
        });
    } else {
        v["source"] = Value::Null;
        v["publisher"] = Value::Null;
    }
    v
}

/// `GET /api/streams`.
pub fn streams_json(snapshots: &[Arc<ShardSnapshot>]) -> Value {
    let list: Vec<Value> = streams(snapshots).iter().map(stream_json).collect();
    json!({ "streams": list })
}

/// `GET /api/streams/{app}/{stream}`: None when no shard knows it.
pub fn stream_by_key_json(snapshots: &[Arc<ShardSnapshot>], key: &str) -> Option<Value> {
    streams(snapshots)
        .iter()
        .find(|s| &*s.key == key)
        .map(stream_json)
}

fn client_json(c: &ClientInfo) -> Value {
    let (app, stream) = match c.stream.as_deref().map(split) {
        Some((a, s)) => (Some(a), Some(s)),
        None => (None, None),
    };
    json!({
        "id": c.id.to_string(),
        "shard": c.id.shard,
        "address": c.peer.to_string(),
        "listener": c.listener.map(|l| l.to_string()),
        "role": c.role.as_str(),
        "app": app,
        "stream": stream,
        "connected_seconds": c.connected.as_secs_f64(),
        "bytes_in": c.bytes_in,
        "bytes_out": c.bytes_out,
        "queue_bytes": c.queued_bytes,
        "lag_seconds": f64::from(c.lag_ms) / 1000.0,
        "dropped_frames": c.dropped_frames,
    })
}

/// `GET /api/clients`.
pub fn clients_json(snapshots: &[Arc<ShardSnapshot>]) -> Value {
    let list: Vec<Value> = snapshots
        .iter()
        .flat_map(|s| s.clients.iter())
        .map(client_json)
        .collect();
    json!({ "clients": list })
}
