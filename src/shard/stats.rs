//! Per-shard counters, owned by the shard thread and read as snapshots (no shared atomics on
//! the hot path).

use super::CloseReason;
use crate::auth::{Action, DenyReason};
use crate::session::SessionError;
use std::time::Duration;

/// What kind of input error closed a connection, for counters by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolErrorKind {
    Handshake,
    Chunk,
    Message,
    Amf,
    PeerMisbehaved,
    Refused,
    Proxy,
}

impl ProtocolErrorKind {
    /// Every kind, for counters indexed by kind.
    pub const ALL: [ProtocolErrorKind; 7] = [
        ProtocolErrorKind::Handshake,
        ProtocolErrorKind::Chunk,
        ProtocolErrorKind::Message,
        ProtocolErrorKind::Amf,
        ProtocolErrorKind::PeerMisbehaved,
        ProtocolErrorKind::Refused,
        ProtocolErrorKind::Proxy,
    ];

    /// The kind of a session's fatal error.
    pub fn of(e: &SessionError) -> Self {
        match e {
            SessionError::Handshake(_) => ProtocolErrorKind::Handshake,
            SessionError::Chunk(_) => ProtocolErrorKind::Chunk,
            SessionError::Message(_) => ProtocolErrorKind::Message,
            SessionError::Amf(_) => ProtocolErrorKind::Amf,
            SessionError::PeerMisbehaved(_) => ProtocolErrorKind::PeerMisbehaved,
            SessionError::Refused(_) => ProtocolErrorKind::Refused,
        }
    }

    /// A stable snake_case name (metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolErrorKind::Handshake => "handshake",
            ProtocolErrorKind::Chunk => "chunk",
            ProtocolErrorKind::Message => "message",
            ProtocolErrorKind::Amf => "amf",
            ProtocolErrorKind::PeerMisbehaved => "peer_misbehaved",
            ProtocolErrorKind::Refused => "refused",
            ProtocolErrorKind::Proxy => "proxy",
        }
    }

    /// Index into [`ProtocolErrorKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, Default)]
pub struct ShardStats {
    pub accepted: u64,
    /// Clients asked to reconnect elsewhere when the drain started (Enhanced RTMP v2).
    pub reconnect_requests: u64,
    pub closed: u64,
    pub protocol_errors: u64,
    /// Audio/video messages the HLS/DASH segmenter refused (bad codec data, limits).
    pub segment_errors: u64,
    /// Protocol errors by kind, indexed by `ProtocolErrorKind::index`.
    pub protocol_errors_by_kind: [u64; ProtocolErrorKind::ALL.len()],
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
    /// Refusals by the limit that made them, indexed by `LimitKind::index`.
    pub limit_refused: [u64; super::LimitKind::ALL.len()],
    /// RTMPS: TLS handshakes completed (inbound and upstream).
    pub tls_handshakes: u64,
    /// RTMPS: connections closed for a TLS error (also counted by close reason).
    pub tls_errors: u64,
    /// Closes by reason, indexed by `CloseReason::index`.
    pub closed_by_reason: [u64; CloseReason::ALL.len()],
    /// Time the shard's event loop spent working (not waiting for events).
    pub busy: Duration,
    /// Publishes and plays refused by access control, by `Action::index` and
    /// `DenyReason::index`.
    pub auth_refused: [[u64; DenyReason::ALL.len()]; Action::ALL.len()],
    /// Connects to an app that is not configured.
    pub connects_refused: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_indexed_by_discriminant() {
        for (i, k) in ProtocolErrorKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i, "{}", k.as_str());
        }
    }
}
