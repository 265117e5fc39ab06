//! Why a connection was closed: typed, so drivers log it, counters count it by kind, and the
//! access log (later) reports it without string matching.
use std::fmt;

/// Why the shard closed (or saw the close of) a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The peer closed its side (EOF).
    PeerClosed,
    /// Reading the socket failed (reset, ...).
    ReadError,
    /// Writing the socket failed.
    WriteError,
    /// Malformed or refused RTMP input (handshake, chunks, AMF, commands).
    ProtocolError,
    /// A malformed or oversized PROXY protocol header.
    ProxyError,
    /// No publish or play request within the handshake timeout.
    HandshakeTimeout,
    /// The PROXY header did not arrive within the proxy header timeout.
    ProxyTimeout,
    /// A publisher sent no media for the idle timeout.
    PublisherIdle,
    /// A player's socket accepted nothing for the write-stall timeout.
    WriteStalled,
    /// A player lagged beyond the kick limit of the slow-player policy.
    PlayerTooSlow,
    /// A newer publisher took the stream over.
    ReplacedByNewerPublisher,
    /// The server is stopping.
    Shutdown,
    /// An operator kicked it through the control API.
    Kicked,
    /// A PROXY listener's connection came from a source outside its trusted proxies.
    UntrustedProxy,
    /// A PROXY v2 LOCAL command: the proxy's own health check, done once it connected.
    ProxyHealthCheck,
    /// An outbound relay connection failed: connect, handshake or play timeout, refused,
    /// or the upstream answered with an error.
    UpstreamFailed,
    /// A pulled stream's upstream closed after its last player left (idle close).
    UpstreamIdle,
    /// A push ended because its stream's publisher left.
    PushEnded,
    /// Access control refused a publish or play (see `auth`).
    AccessDenied,
    /// Refused at accept by a connection limit (`[limits]`: total, per IP, handshake rate).
    LimitRefused,
    /// The handshake completed but no publish or play followed within the command timeout.
    CommandTimeout,
    /// A malformed, oversized or overflowing HTTP request (answered 400 / 431 when possible).
    HttpBadRequest,
    /// An HTTP response without keep-alive was written whole.
    HttpComplete,
    /// An HTTP connection sent no (complete) request within its keep-alive or head timeout.
    HttpIdle,
    /// A TLS error (bad records, handshake failure, certificate refused) on an RTMPS
    /// connection.
    TlsError,
}

impl CloseReason {
    /// Every reason, for counters indexed by reason.
    pub const ALL: [CloseReason; 25] = [
        CloseReason::PeerClosed,
        CloseReason::ReadError,
        CloseReason::WriteError,
        CloseReason::ProtocolError,
        CloseReason::ProxyError,
        CloseReason::HandshakeTimeout,
        CloseReason::ProxyTimeout,
        CloseReason::PublisherIdle,
        CloseReason::WriteStalled,
        CloseReason::PlayerTooSlow,
        CloseReason::ReplacedByNewerPublisher,
        CloseReason::Shutdown,
        CloseReason::Kicked,
        CloseReason::UntrustedProxy,
        CloseReason::ProxyHealthCheck,
        CloseReason::UpstreamFailed,
        CloseReason::UpstreamIdle,
        CloseReason::PushEnded,
        CloseReason::AccessDenied,
        CloseReason::LimitRefused,
        CloseReason::CommandTimeout,
        CloseReason::HttpBadRequest,
        CloseReason::HttpComplete,
        CloseReason::HttpIdle,
        CloseReason::TlsError,
    ];

    /// A stable snake_case name (log field, metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::PeerClosed => "peer_closed",
            CloseReason::ReadError => "read_error",
            CloseReason::WriteError => "write_error",
            CloseReason::ProtocolError => "protocol_error",
            CloseReason::ProxyError => "proxy_error",
            CloseReason::HandshakeTimeout => "handshake_timeout",
            CloseReason::ProxyTimeout => "proxy_timeout",
            CloseReason::PublisherIdle => "publisher_idle",
            CloseReason::WriteStalled => "write_stalled",
            CloseReason::PlayerTooSlow => "player_too_slow",
            CloseReason::ReplacedByNewerPublisher => "replaced_by_newer_publisher",
            CloseReason::Shutdown => "shutdown",
            CloseReason::Kicked => "kicked",
            CloseReason::UntrustedProxy => "untrusted_proxy",
            CloseReason::ProxyHealthCheck => "proxy_health_check",
            CloseReason::UpstreamFailed => "upstream_failed",
            CloseReason::UpstreamIdle => "upstream_idle",
            CloseReason::PushEnded => "push_ended",
            CloseReason::AccessDenied => "access_denied",
            CloseReason::LimitRefused => "limit_refused",
            CloseReason::CommandTimeout => "command_timeout",
            CloseReason::HttpBadRequest => "http_bad_request",
            CloseReason::HttpComplete => "http_complete",
            CloseReason::HttpIdle => "http_idle",
            CloseReason::TlsError => "tls_error",
        }
    }

    /// Index into [`CloseReason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_indexed_by_discriminant() {
        for (i, r) in CloseReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r}");
        }
    }
}
