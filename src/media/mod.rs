//! The media layer: streams between publishers and players.
//!
//! - [`frame`]: the encode-once [`Frame`] (a media message already encoded as outgoing RTMP
//!   chunks, shared by every player through a reference count).
//! - [`queue`]: the per-player send queue [`PlayerQueue`] and its slow-player policy (drop to
//!   the next keyframe over a span/byte bound, kick a player that cannot catch up).
//! - [`ingest`]: [`FrameBuilder`] turns a publisher's messages into frames, rebasing timestamps
//!   so a stream's timeline stays monotonic across publisher sessions.
//! - [`cache`]: [`StartupCache`], what a joining player gets first (metadata, sequence headers,
//!   the GOP since the last keyframe).
//! - [`registry`]: which shard is home to a stream and which shards have its players.
//!
//! Never does I/O and never reads a clock: times are media timestamps (ms, wrapping at 2^32).
//! The shard layer drives it: the home shard turns each published message into a `Frame`,
//! pushes it into every local player's queue and flushes each queue once per event-loop pass.

pub mod cache;
pub mod frame;
pub mod ingest;
pub mod queue;
pub mod registry;

pub use cache::StartupCache;
pub use frame::{Frame, MediaKind};
pub use ingest::{FrameBuilder, Timeline};
pub use queue::{PlayerQueue, Push, QueueLimits};
