//! What a shard tells the control side: a [`ShardSnapshot`] of its counters, connections,
//! streams, clients and fan-out latency histogram, built by the sans-IO core
//! ([`ShardCore::snapshot`](super::ShardCore::snapshot)) on its sweep cadence and published by
//! the shard's driver into its [`SnapshotSlot`].
//!
//! Nothing shared is written per message: a shard's counters live in its core, and the slot
//! (one mutex per shard, taken once per sweep by the shard and once per scrape by the reader)
//! only swaps an `Arc`. Never does I/O, never reads a clock: every time in here was passed in.
use super::ShardStats;
use hdrhistogram::Histogram;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Latency histogram values are microseconds, 1 us to 100 s, two significant digits (the
/// Prometheus buckets are far coarser than that).
pub const LATENCY_MAX_US: u64 = 100_000_000;

/// A new, empty fan-out latency histogram (microseconds).
pub fn latency_histogram() -> Histogram<u64> {
    // `new_with_bounds` only fails for bad bounds, and these are constants.
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 2).expect("constant histogram bounds are valid")
}

/// A client across the server: its shard, its connection id there, and the generation that
/// tells it apart from a later connection with the same (reused) id. Written `S-C-G`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientId {
    pub shard: usize,
    pub conn: usize,
    pub generation: u64,
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.shard, self.conn, self.generation)
    }
}

/// A client id that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a client id (SHARD-CONN-GENERATION): {0:?}")]
pub struct BadClientId(pub String);

impl FromStr for ClientId {
    type Err = BadClientId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadClientId(s.to_owned());
        let mut parts = s.split('-');
        let mut next = || parts.next().ok_or_else(bad);
        let shard = next()?.parse().map_err(|_| bad())?;
        let conn = next()?.parse().map_err(|_| bad())?;
        let generation = next()?.parse().map_err(|_| bad())?;
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(ClientId {
            shard,
            conn,
            generation,
        })
    }
}

/// What a connection does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientRole {
    /// Handshake, connect, createStream; or between a stop and the next publish/play.
    Pending,
    Publisher,
    Player,
}

impl ClientRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientRole::Pending => "pending",
            ClientRole::Publisher => "publisher",
            ClientRole::Player => "player",
        }
    }
}

/// Open connections of one listener, by role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenerConns {
    pub addr: Option<SocketAddr>,
    /// What the listener serves: "rtmp" or "http".
    pub protocol: &'static str,
    pub pending: u64,
    pub publishers: u64,
    pub players: u64,
}

/// One connection, as the API shows it.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub id: ClientId,
    /// The client: the socket's peer, or the source its PROXY header announced.
    pub peer: SocketAddr,
    pub listener: Option<SocketAddr>,
    pub role: ClientRole,
    /// "app/name" while publishing or playing.
    pub stream: Option<Arc<str>>,
    pub connected: Duration,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Bytes queued for the client and not yet written (its lag).
    pub queued_bytes: u64,
    /// Media time between the player's position in its stream and the newest frame (ms).
    pub lag_ms: u32,
    pub dropped_frames: u64,
}

/// Codecs and picture facts of a stream, from its sequence headers and onMetaData.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaInfo {
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub width: Option<f64>,
    pub height: Option<f64>,
    pub frame_rate: Option<f64>,
}

/// The health of a stream fed by a publisher on this shard.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamHealth {
    pub media: MediaInfo,
    pub publishing_for: Duration,
    /// Time since the publisher's last media message.
    pub since_last_frame: Duration,
    pub frames_in: u64,
    pub bytes_in: u64,
    /// Payload bits per second over the last sweep interval, and its recent average.
    pub ingest_bps: f64,
    pub ingest_bps_avg: f64,
    /// Media time between the last two video keyframes (ms), and the frames in that GOP.
    pub keyframe_interval_ms: Option<u32>,
    pub gop_frames: Option<u64>,
    /// Audio or video timestamps that went back, or forward by more than a second.
    pub timestamp_jumps: u64,
    /// Last video timestamp minus last audio timestamp (ms), when both are flowing.
    pub av_drift_ms: Option<i64>,
}

/// The publisher side of a stream, on its home shard.
#[derive(Debug, Clone)]
pub struct HomeInfo {
    pub publisher: ClientId,
    pub peer: SocketAddr,
    pub health: StreamHealth,
}

/// One stream on one shard.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    pub key: Arc<str>,
    /// Players of the stream on this shard.
    pub players: u64,
    /// A publisher is feeding this shard's players (from here or another shard).
    pub live: bool,
    /// Present on the stream's home shard.
    pub home: Option<HomeInfo>,
}

/// Everything one shard publishes for the control side.
#[derive(Debug, Clone)]
pub struct ShardSnapshot {
    pub shard: usize,
    pub uptime: Duration,
    pub stats: ShardStats,
    /// Fan-out latency (microseconds): arrival off the publisher's socket to the last byte
    /// written into each player's socket, per frame per player.
    pub latency: Histogram<u64>,
    /// The exact sum of the latencies recorded in `latency`.
    pub latency_sum: Duration,
    /// LL-HLS part latency (microseconds): a message's arrival to the publication of the
    /// CMAF part holding it (home shards; see `core::cmaf`).
    pub part_latency: Histogram<u64>,
    pub part_latency_sum: Duration,
    /// Open connections by listener (indexed as the listeners are configured).
    pub listeners: Vec<ListenerConns>,
    pub streams: Vec<StreamInfo>,
    pub clients: Vec<ClientInfo>,
}

/// Where one shard's latest snapshot waits for readers.
#[derive(Debug, Default)]
pub struct SnapshotSlot {
    latest: Mutex<Option<Arc<ShardSnapshot>>>,
}

impl SnapshotSlot {
    /// Replaces the published snapshot.
    pub fn publish(&self, snapshot: ShardSnapshot) {
        let snapshot = Arc::new(snapshot);
        // A reader that panicked while holding the lock cannot have left the Option torn.
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        *latest = Some(snapshot);
    }

    /// The latest snapshot, if the shard published one yet.
    pub fn latest(&self) -> Option<Arc<ShardSnapshot>> {
        self.latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_round_trip_and_reject_junk() {
        let id = ClientId {
            shard: 3,
            conn: 17,
            generation: 42,
        };
        assert_eq!(id.to_string(), "3-17-42");
        assert_eq!("3-17-42".parse::<ClientId>(), Ok(id));
        for bad in ["", "3-17", "3-17-42-1", "a-1-2", "3--2", "-1-2-3", "3-17-x"] {
            assert!(bad.parse::<ClientId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn slot_publishes_the_latest() {
        let slot = SnapshotSlot::default();
        assert!(slot.latest().is_none());
        let snap = |shard| ShardSnapshot {
            shard,
            uptime: Duration::ZERO,
            stats: ShardStats::default(),
            latency: latency_histogram(),
            latency_sum: Duration::ZERO,
            part_latency: latency_histogram(),
            part_latency_sum: Duration::ZERO,
            listeners: Vec::new(),
            streams: Vec::new(),
            clients: Vec::new(),
        };
        slot.publish(snap(1));
        slot.publish(snap(2));
        assert_eq!(slot.latest().map(|s| s.shard), Some(2));
    }
}
