//! rtmp-edge: a high-performance RTMP edge relay.
//!
//! Layers (data flows down on ingest, up on delivery; nothing points upward):
//! - [`protocol`]: sans-IO handshake, chunk codec, AMF, messages, FLV facts.
//! - [`session`]: the RTMP state machine of one connection (server and client side), sans-IO.
//! - [`media`]: stream hubs, the encode-once `Frame`, per-player send queues.
//! - [`shard`]: per-core threads, mio event loops, slabs of connections, mailboxes.
//! - [`relay`]: pull from origins and push upstream: URLs, connects, origin choice.
//! - [`http`]: HTTP delivery from the shards (HTTP-FLV; the HLS/DASH routes), sans-IO.
//! - [`control`]: configuration, command line, signals.

pub mod control;
pub mod http;
pub mod media;
pub mod protocol;
pub mod relay;
pub mod session;
pub mod shard;
