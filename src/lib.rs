//! rtmp-edge: a high-performance RTMP edge relay.
//!
//! Layers (data flows down on ingest, up on delivery; nothing points upward):
//! - [`protocol`]: sans-IO handshake, chunk codec, AMF, messages, FLV facts.
//! - [`session`]: the RTMP state machine of one connection (server and client side), sans-IO.
//! - [`media`]: stream hubs, the encode-once `Frame`, per-player send queues.
//! - [`shard`]: per-core threads, mio event loops, slabs of connections, mailboxes.
//! - [`record`]: recording streams to files (the recorder thread, FLV, splitting).
//! - [`relay`]: pull from origins and push upstream: URLs, connects, origin choice.
//! - [`auth`]: access control (IP rules, signed URLs, JWT, stream keys, callbacks), sans-IO.
//! - [`http`]: HTTP delivery from the shards (HTTP-FLV; CMAF segmenter, HLS and DASH), sans-IO.
//! - [`control`]: configuration, command line, signals.

pub mod auth;
pub mod control;
pub mod http;
pub mod media;
pub mod protocol;
pub mod record;
pub mod relay;
pub mod session;
pub mod shard;
