//! The RTMP state machine of one connection, server side ([`ServerSession`]) and client side
//! ([`ClientSession`]), built on [`crate::protocol`].
//!
//! Sans-IO like the protocol core: a session takes received bytes (`handle_input`), and hands
//! out events (`poll_event`) and bytes to send (`poll_transmit`). It owns no socket, reads no
//! clock and starts no thread; the shard driver and the load tester move the bytes.
//! A fatal error is sticky: later input returns the same error, while queued output (the
//! `_error` or status that explains the close) can still be drained.

pub mod caps;
mod client;
mod link;
pub mod names;
mod replies;
mod server;

pub use caps::ClientCaps;
pub use client::{ClientConfig, ClientEvent, ClientSession};
pub use server::{PlayRequest, PublishRequest, ServerEvent, ServerSession};

use crate::protocol::amf::{self, Limits};
use crate::protocol::chunk::ChunkError;
use crate::protocol::handshake::HandshakeError;
use crate::protocol::message::MessageError;

/// Every message stream a server creates for a client is this one: the encode-once fan-out
/// writes media with one message stream id, so every player must play on it.
pub const MEDIA_STREAM_ID: u32 = 1;
/// Outgoing chunk stream ids. Every message is written with a fmt-0 header, so they only need
/// to be distinct per kind to keep peers that track per-csid state happy.
pub const CSID_COMMAND: u32 = 3;
pub const CSID_AUDIO: u32 = 4;
pub const CSID_DATA: u32 = 5;
pub const CSID_VIDEO: u32 = 6;

/// Settings one session needs; the shard builds it from the config once.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Outgoing chunk size, announced with Set Chunk Size right after connect.
    pub chunk_size: u32,
    /// Window Acknowledgement Size we announce to the peer.
    pub window_ack_size: u32,
    /// Largest message accepted from the peer.
    pub max_message_size: u32,
    /// Most chunk streams a peer may keep open at once.
    pub max_chunk_streams: usize,
    /// Most message streams a client may create.
    pub max_streams: u32,
    pub amf_limits: Limits,
    /// With a list, a `connect` to any other app is refused (`NetConnection.Connect.Rejected`).
    pub known_apps: Option<std::sync::Arc<[String]>>,
    /// Most bytes all partial messages from the peer may hold together.
    pub max_reassembly_bytes: usize,
    /// Longest app or stream name accepted (see [`names`]).
    pub max_name_bytes: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            chunk_size: 4096,
            window_ack_size: 2_500_000,
            max_message_size: 16 * 1024 * 1024 - 1,
            max_chunk_streams: 64,
            max_streams: 8,
            amf_limits: Limits::default(),
            known_apps: None,
            max_reassembly_bytes: 32 << 20,
            max_name_bytes: 1024,
        }
    }
}

/// Why a session failed. Split by blame, as the driver logs and counts them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SessionError {
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("malformed chunk stream: {0}")]
    Chunk(#[from] ChunkError),
    #[error("malformed message: {0}")]
    Message(#[from] MessageError),
    #[error("bad AMF: {0}")]
    Amf(#[from] amf::DecodeError),
    #[error("peer misbehaved: {0}")]
    PeerMisbehaved(String),
    #[error("peer refused: {0}")]
    Refused(String),
}

#[cfg(test)]
mod tests;
