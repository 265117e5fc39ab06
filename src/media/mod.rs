//! The media layer: streams between publishers and players.
//!
//! - [`frame`]: the encode-once [`Frame`] (a media message already encoded as outgoing RTMP
//!   chunks, shared by every player through a reference count).
//! - [`log`]: [`FrameLog`], a stream's recent frames kept once per shard; players hold a
//!   position in it instead of a copy of every frame.
//! - [`queue`]: the per-connection [`SendQueue`] (committed bytes plus a position in the log)
//!   and its slow-player policy (skip to the next keyframe over a span/byte bound, kick a
//!   player that cannot catch up).
//! - [`ingest`]: [`FrameBuilder`] turns a publisher's messages into frames, rebasing timestamps
//!   so a stream's timeline stays monotonic across publisher sessions.
//! - [`cache`]: [`HeaderCache`], what a joining player gets first (metadata, sequence headers);
//!   it then starts in the log at the last keyframe.
//! - [`variants`]: [`StreamLogs`], a log per encoded variant of a stream (enhanced for
//!   Enhanced RTMP players, legacy for the others; the second only when the forms differ).
//! - [`registry`]: which shard is home to a stream and which shards have its players.
//!
//! Never does I/O and never reads a clock: times are media timestamps (ms, wrapping at 2^32).
//! The shard core drives it: the home shard turns each published message into a `Frame` and
//! appends it to the stream's log; players take frames out of the log when they are written.

pub mod cache;
pub mod cmaf_directory;
pub mod frame;
pub mod ingest;
pub mod log;
pub mod queue;
pub mod registry;
pub mod variants;

pub use cache::HeaderCache;
pub use frame::{ConfigKind, Frame, MediaKind};
pub use ingest::{FrameBuilder, Timeline};
pub use log::{FrameLog, LogLimits};
pub use queue::{QueueLimits, SendQueue, Verdict};
pub use variants::{Built, LegacyFrame, StreamLogs, Variant};
