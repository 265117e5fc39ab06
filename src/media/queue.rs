//! `PlayerQueue`: what one player connection still has to send, in order, and the slow-player
//! policy that keeps it bounded.
//!
//! The queue holds control bytes (RTMP command/status messages, never dropped) and shared media
//! [`Frame`] wire bytes (reference-counted, never copied). It never does I/O and never reads a
//! clock: every time is a media timestamp in ms that wraps at 2^32, compared with
//! `wrapping_sub` read as `i32`.
//!
//! Call order, per player:
//! 1. `push_control` / `push_frame` as messages arrive (fan-out hot path: O(1) unless over a
//!    limit). `Push::Kick` means "disconnect this player"; the queue stays kicked.
//! 2. Once per event-loop pass, if `!is_empty()`: `fill_iovecs`, one `writev`, then
//!    `advance(written)`; repeat until the socket would block or the queue is empty.
//! 3. When the publisher goes away: `clear_media`; when a new one starts (or a player joins
//!    without a GOP cache): `reset_wait_keyframe`.
//!
//! Policy (see `push_frame`): over `max_span_ms` or `max_bytes`, the oldest droppable frames
//! are dropped up to the next keyframe; with no keyframe left, all of them are dropped and the
//! queue waits for the next keyframe. A player that has not emptied its queue for
//! `kick_after_ms` of media time, or whose undroppable backlog passes twice `max_bytes`, is
//! kicked.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::Bytes;

use super::frame::{Frame, MediaKind};

#[cfg(test)]
mod tests;

/// Bounds of one player queue. Spans and lags are media time (ms), not wall time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Media time the droppable backlog may span before frames are dropped.
    pub max_span_ms: u32,
    /// Queued bytes before frames are dropped.
    pub max_bytes: usize,
    /// Media time since the queue was last empty after which the player is kicked.
    pub kick_after_ms: u32,
}

impl Default for QueueLimits {
    /// 5 s of backlog, 8 MiB (5 s of a 13 Mbit/s stream), kick after 30 s without catching up.
    fn default() -> Self {
        Self {
            max_span_ms: 5_000,
            max_bytes: 8 << 20,
            kick_after_ms: 30_000,
        }
    }
}

/// What `push_frame` did.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Queued; nothing dropped.
    Queued,
    /// Not queued: the queue is waiting for a keyframe (counted in `dropped_frames`).
    Dropped,
    /// Queued, then the queue was over its limits and dropped `frames` frames, possibly
    /// including this one (counted in `dropped_frames`).
    Trimmed { frames: usize },
    /// The player cannot keep up: disconnect it. Sticky: every later push returns `Kick` and
    /// queues nothing, so a player awaiting disconnection holds no more memory.
    Kick,
}

#[derive(Debug)]
struct Entry {
    bytes: Bytes,
    /// None for control bytes.
    kind: Option<MediaKind>,
    timestamp: u32,
    /// A video keyframe (sequence headers excluded).
    keyframe: bool,
    /// A plain audio/video frame: no control, metadata or sequence header.
    droppable: bool,
}

/// The send queue of one player. See the module doc for the call order.
#[derive(Debug)]
pub struct PlayerQueue {
    limits: QueueLimits,
    entries: VecDeque<Entry>,
    /// Bytes of the front entry already written; a non-zero offset pins that entry, since
    /// the player has seen part of its chunks and must get the rest.
    offset: usize,
    /// Unwritten bytes over all entries.
    bytes: usize,
    /// Timestamp of the first trimmable entry (droppable and not partly written). Metadata and
    /// sequence headers are left out because their timestamps are often 0 mid-stream.
    oldest_ts: Option<u32>,
    /// Timestamp of the last queued droppable frame.
    newest_ts: u32,
    /// Timestamp of the first droppable frame queued since `advance` last emptied the queue.
    lag_since: Option<u32>,
    waiting_keyframe: bool,
    /// Any video pushed since creation or `reset_wait_keyframe`; until then audio frames are
    /// keyframes, so audio-only streams trim and resume at audio frames.
    seen_video: bool,
    kicked: bool,
    dropped_frames: u64,
    dropped_bytes: u64,
}

impl PlayerQueue {
    pub fn new(limits: QueueLimits) -> Self {
        Self {
            limits,
            entries: VecDeque::new(),
            offset: 0,
            bytes: 0,
            oldest_ts: None,
            newest_ts: 0,
            lag_since: None,
            waiting_keyframe: false,
            seen_video: false,
            kicked: false,
            dropped_frames: 0,
            dropped_bytes: 0,
        }
    }

    // ---- getters ----

    pub fn limits(&self) -> QueueLimits {
        self.limits
    }

    /// Nothing left to write.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Unwritten bytes, the partly written front entry's remainder included.
    pub fn queued_bytes(&self) -> usize {
        self.bytes
    }

    /// Media time between the oldest and the newest queued droppable frame that could still
    /// be dropped (a partly written front entry is committed, so it is not counted).
    pub fn span_ms(&self) -> u32 {
        match self.oldest_ts {
            Some(oldest) => ts_after(self.newest_ts, oldest).unwrap_or(0),
            None => 0,
        }
    }

    /// Frames dropped by the slow-player policy (`clear_media` is not counted).
    pub fn dropped_frames(&self) -> u64 {
        self.dropped_frames
    }

    /// Bytes of the frames counted by `dropped_frames`.
    pub fn dropped_bytes(&self) -> u64 {
        self.dropped_bytes
    }

    /// Media frames are being dropped until the next keyframe.
    pub fn is_waiting_keyframe(&self) -> bool {
        self.waiting_keyframe
    }

    /// A push returned `Kick`.
    pub fn is_kicked(&self) -> bool {
        self.kicked
    }

    // ---- input ----

    /// Queue RTMP control/command bytes. They are never dropped; empty input is ignored.
    pub fn push_control(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        self.bytes += bytes.len();
        self.entries.push_back(Entry {
            bytes,
            kind: None,
            timestamp: 0,
            keyframe: false,
            droppable: false,
        });
    }

    /// Queue a media frame under the slow-player policy:
    /// - metadata and sequence headers are always queued and never dropped;
    /// - while waiting for a keyframe, video inter frames and audio are dropped; a video
    ///   keyframe (an audio frame if no video was seen) ends the wait;
    /// - over `max_span_ms` or `max_bytes`, trimmable frames are dropped from the oldest up to
    ///   the first keyframe that brings the queue back within both limits; if there is none,
    ///   all of them are dropped and the queue waits for a keyframe;
    /// - `Kick` if `kick_after_ms` of media time passed since the first frame queued after
    ///   the queue was last emptied by `advance`, or if undroppable bytes exceed 2 x
    ///   `max_bytes`.
    ///
    /// O(1) unless a limit is crossed. An empty frame is a no-op.
    pub fn push_frame(&mut self, frame: &Frame) -> Push {
        if self.kicked {
            return Push::Kick;
        }
        if frame.wire.is_empty() {
            return Push::Queued;
        }
        if frame.kind == MediaKind::Video {
            self.seen_video = true;
        }
        let droppable = frame.is_droppable();
        let keyframe = frame.is_video_keyframe();
        let mut outcome = Push::Queued;
        if droppable && self.waiting_keyframe && !self.is_resume(frame.kind, keyframe) {
            self.dropped_frames += 1;
            self.dropped_bytes += frame.wire.len() as u64;
            outcome = Push::Dropped;
        } else {
            if droppable {
                self.waiting_keyframe = false;
                // A fresh entry is never partly written, so it is trimmable.
                self.oldest_ts.get_or_insert(frame.timestamp);
                self.newest_ts = frame.timestamp;
                self.lag_since.get_or_insert(frame.timestamp);
            }
            self.bytes += frame.wire.len();
            self.entries.push_back(Entry {
                bytes: frame.wire.clone(),
                kind: Some(frame.kind),
                timestamp: frame.timestamp,
                keyframe,
                droppable,
            });
            if self.over_limits() {
                outcome = Push::Trimmed {
                    frames: self.trim(),
                };
            }
        }
        if self.should_kick(droppable, frame.timestamp) {
            self.kicked = true;
            return Push::Kick;
        }
        outcome
    }

    /// Drop every media entry that is not partly written (metadata and sequence headers too:
    /// they belong to the publisher that left). Control bytes stay. Also forgets the lag
    /// reference, since the next publisher's timestamps are unrelated. Returns the number of
    /// frames dropped; they are not counted as slow-player drops.
    pub fn clear_media(&mut self) -> usize {
        let pinned = self.offset > 0;
        let mut index = 0;
        let mut frames = 0;
        let mut bytes = 0;
        self.entries.retain(|e| {
            let keep = e.kind.is_none() || (index == 0 && pinned);
            index += 1;
            if !keep {
                frames += 1;
                bytes += e.bytes.len();
            }
            keep
        });
        self.bytes -= bytes;
        self.oldest_ts = None;
        self.lag_since = None;
        frames
    }

    /// Wait for the next keyframe and forget whether the stream has video: media frames are
    /// dropped until a video keyframe, or, while no video frame has been pushed since this
    /// call, an audio frame. Call when a new publisher starts (after `clear_media`), or when a
    /// player joins a stream without a GOP cache (before its sequence headers, which tell the
    /// queue the stream has video).
    pub fn reset_wait_keyframe(&mut self) {
        self.waiting_keyframe = true;
        self.seen_video = false;
    }

    // ---- output ----

    /// Append up to `max` slices for one `writev`: the front entry from its write offset, then
    /// the following entries in order. Returns the number of bytes they cover.
    pub fn fill_iovecs<'a>(&'a self, iov: &mut Vec<IoSlice<'a>>, max: usize) -> usize {
        let mut total = 0;
        for (index, entry) in self.entries.iter().take(max).enumerate() {
            let from = if index == 0 { self.offset } else { 0 };
            let slice = entry.bytes.get(from..).unwrap_or_default();
            total += slice.len();
            iov.push(IoSlice::new(slice));
        }
        total
    }

    /// Consume `written` bytes from the front after a (possibly partial) write. Writing more
    /// than is queued is a driver bug: the excess is ignored.
    pub fn advance(&mut self, mut written: usize) {
        debug_assert!(written <= self.bytes, "advance past the queued bytes");
        let mut oldest_moved = false;
        while written > 0 {
            let Some(front) = self.entries.front() else {
                break;
            };
            let rest = front.bytes.len() - self.offset;
            // Whether the front was counted in `oldest_ts` before this write.
            oldest_moved |= front.droppable && self.offset == 0;
            if written < rest {
                self.offset += written;
                self.bytes -= written;
                break;
            }
            written -= rest;
            self.bytes -= rest;
            self.offset = 0;
            self.entries.pop_front();
        }
        if self.entries.is_empty() {
            self.lag_since = None;
            self.oldest_ts = None;
        } else if oldest_moved {
            self.oldest_ts = self.first_trimmable_ts();
        }
    }

    // ---- policy internals ----

    /// Where a player can start decoding again.
    fn is_resume(&self, kind: MediaKind, keyframe: bool) -> bool {
        match kind {
            MediaKind::Video => keyframe,
            MediaKind::Audio => !self.seen_video,
            MediaKind::Data => false,
        }
    }

    fn is_trimmable(&self, index: usize, entry: &Entry) -> bool {
        entry.droppable && !(index == 0 && self.offset > 0)
    }

    fn first_trimmable_ts(&self) -> Option<u32> {
        self.entries
            .iter()
            .enumerate()
            .find(|(i, e)| self.is_trimmable(*i, e))
            .map(|(_, e)| e.timestamp)
    }

    fn over_limits(&self) -> bool {
        self.span_ms() > self.limits.max_span_ms || self.bytes > self.limits.max_bytes
    }

    fn should_kick(&self, droppable: bool, timestamp: u32) -> bool {
        // Metadata and sequence header timestamps are unreliable (often 0), so only plain
        // frames measure the lag.
        let lagging = droppable
            && self
                .lag_since
                .and_then(|since| ts_after(timestamp, since))
                .is_some_and(|lag| lag > self.limits.kick_after_ms);
        lagging || self.bytes > self.limits.max_bytes.saturating_mul(2)
    }

    /// Drop trimmable entries from the oldest up to the first resume point (past the first
    /// trimmable entry) that leaves the queue within both limits; with no such point, drop
    /// them all and wait for a keyframe. Returns the number of frames dropped.
    fn trim(&mut self) -> usize {
        let mut cut = None;
        let mut before = 0; // bytes of the trimmable entries ahead of `index`
        let mut first = true;
        for (index, entry) in self.entries.iter().enumerate() {
            if !self.is_trimmable(index, entry) {
                continue;
            }
            let kind = entry.kind.unwrap_or(MediaKind::Data);
            if !first && self.is_resume(kind, entry.keyframe) {
                let span = ts_after(self.newest_ts, entry.timestamp).unwrap_or(0);
                if span <= self.limits.max_span_ms && self.bytes - before <= self.limits.max_bytes {
                    cut = Some(index);
                    break;
                }
            }
            first = false;
            before += entry.bytes.len();
        }
        let end = match cut {
            Some(index) => index,
            None => {
                self.waiting_keyframe = true;
                self.entries.len()
            }
        };
        let pinned = self.offset > 0;
        let mut index = 0;
        let mut frames = 0;
        let mut bytes = 0;
        self.entries.retain(|e| {
            let drop = index < end && e.droppable && !(index == 0 && pinned);
            index += 1;
            if drop {
                frames += 1;
                bytes += e.bytes.len();
            }
            !drop
        });
        self.bytes -= bytes;
        self.dropped_frames += frames as u64;
        self.dropped_bytes += bytes as u64;
        self.oldest_ts = self.first_trimmable_ts();
        frames
    }
}

/// How far `later` is after `earlier` in wrapping media time; None if it is not after it
/// (a timestamp going back, e.g. a publisher restart, never counts as lag).
fn ts_after(later: u32, earlier: u32) -> Option<u32> {
    let delta = later.wrapping_sub(earlier) as i32;
    u32::try_from(delta).ok()
}
