//! Per-shard counters, owned by the shard thread and read as snapshots (no shared atomics on
//! the hot path).

use super::CloseReason;
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct ShardStats {
    pub accepted: u64,
    pub closed: u64,
    pub protocol_errors: u64,
    pub publishes: u64,
    pub publishes_refused: u64,
    pub plays: u64,
    pub frames_in: u64,
    /// Frames whose last byte was written to a player.
    pub frames_delivered: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub frames_dropped: u64,
    pub players_kicked: u64,
    pub timeouts: u64,
    /// Closes by reason, indexed by `CloseReason::index`.
    pub closed_by_reason: [u64; CloseReason::ALL.len()],
    /// Time the shard's event loop spent working (not waiting for events).
    pub busy: Duration,
}
