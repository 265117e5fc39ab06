//! [`LimitKind`]: which limit refused something, by a stable name for logs and metrics,
//! and which limit a session's fatal error or refusal hit (the session and the decoders
//! enforce some limits themselves; the core only counts them).
use crate::protocol::amf::DecodeError;
use crate::protocol::chunk::ChunkError;
use crate::protocol::command::CommandError;
use crate::protocol::message::MessageError;
use crate::session::names::Refusal;
use crate::session::SessionError;

/// Which limit refused something (metric label `limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// `limits.max_connections`, node-wide.
    Connections,
    ConnectionsPerIp,
    HandshakeRate,
    Streams,
    PlayersPerStream,
    MessageSize,
    ChunkStreams,
    Reassembly,
    AmfDepth,
    AmfElements,
    HandshakeTimeout,
    CommandTimeout,
    StreamName,
    /// publish or play before createStream, a command before connect.
    CommandOrder,
}

impl LimitKind {
    /// Every kind, for counters indexed by kind.
    pub const ALL: [LimitKind; 14] = [
        LimitKind::Connections,
        LimitKind::ConnectionsPerIp,
        LimitKind::HandshakeRate,
        LimitKind::Streams,
        LimitKind::PlayersPerStream,
        LimitKind::MessageSize,
        LimitKind::ChunkStreams,
        LimitKind::Reassembly,
        LimitKind::AmfDepth,
        LimitKind::AmfElements,
        LimitKind::HandshakeTimeout,
        LimitKind::CommandTimeout,
        LimitKind::StreamName,
        LimitKind::CommandOrder,
    ];

    /// A stable snake_case name (log field, metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Connections => "connections",
            LimitKind::ConnectionsPerIp => "connections_per_ip",
            LimitKind::HandshakeRate => "handshake_rate",
            LimitKind::Streams => "streams",
            LimitKind::PlayersPerStream => "players_per_stream",
            LimitKind::MessageSize => "message_size",
            LimitKind::ChunkStreams => "chunk_streams",
            LimitKind::Reassembly => "reassembly",
            LimitKind::AmfDepth => "amf_depth",
            LimitKind::AmfElements => "amf_elements",
            LimitKind::HandshakeTimeout => "handshake_timeout",
            LimitKind::CommandTimeout => "command_timeout",
            LimitKind::StreamName => "stream_name",
            LimitKind::CommandOrder => "command_order",
        }
    }

    /// Index into [`LimitKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The limit a session's fatal error hit, if it was one.
    pub fn of_error(e: &SessionError) -> Option<LimitKind> {
        let amf = |e: &DecodeError| match e {
            DecodeError::TooDeep(_) => Some(LimitKind::AmfDepth),
            DecodeError::TooManyElements(_) => Some(LimitKind::AmfElements),
            _ => None,
        };
        match e {
            SessionError::Chunk(ChunkError::MessageTooLarge { .. }) => Some(LimitKind::MessageSize),
            SessionError::Chunk(ChunkError::TooManyChunkStreams(_)) => {
                Some(LimitKind::ChunkStreams)
            }
            SessionError::Chunk(ChunkError::ReassemblyTooLarge { .. }) => {
                Some(LimitKind::Reassembly)
            }
            SessionError::Amf(e)
            | SessionError::Message(MessageError::Data(e))
            | SessionError::Message(MessageError::Command(CommandError::Amf(e))) => amf(e),
            SessionError::PeerMisbehaved(text) if text.ends_with("before connect") => {
                Some(LimitKind::CommandOrder)
            }
            SessionError::Refused(text) if text.starts_with("app name") => {
                Some(LimitKind::StreamName)
            }
            _ => None,
        }
    }

    /// The limit behind a refusal the session made itself.
    pub fn of_refusal(r: &Refusal) -> LimitKind {
        match r {
            Refusal::Name(_) => LimitKind::StreamName,
            Refusal::BeforeCreateStream => LimitKind::CommandOrder,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_indexed_by_discriminant() {
        for (i, k) in LimitKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i, "{}", k.as_str());
        }
    }
}
