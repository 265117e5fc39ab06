//! The media layer: streams between publishers and players.
//!
//! - [`frame`]: the encode-once [`Frame`] (a media message already encoded as outgoing RTMP
//!   chunks, shared by every player through a reference count).
//! - [`queue`]: the per-player send queue [`PlayerQueue`] and its slow-player policy (drop to
//!   the next keyframe over a span/byte bound, kick a player that cannot catch up).
//! - Still to come beside them: the hub of one stream (publisher side, GOP cache, metadata,
//!   sequence headers) and the stream registry (which shard is home to a stream).
//!
//! Never does I/O and never reads a clock: times are media timestamps (ms, wrapping at 2^32).
//! The shard layer drives it: the home shard turns each published message into a `Frame`,
//! pushes it into every local player's queue and flushes each queue once per event-loop pass.

pub mod frame;
pub mod queue;

pub use frame::{Frame, MediaKind};
pub use queue::{PlayerQueue, Push, QueueLimits};
