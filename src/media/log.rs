//! `FrameLog`: the recent frames of one stream on one shard, kept once and shared by every
//! player through a position (a sequence number) instead of a copy per player.
//!
//! Fan-out by position: appending a frame is O(1) (plus evicting what fell out of the window);
//! a player's [`SendQueue`](super::queue::SendQueue) holds the sequence number of the next frame
//! it needs and takes frames out when it is written. The log keeps what any player may still
//! need: the window of the slow-player policy (`max_span_ms` of media time and `max_bytes`)
//! and, with the GOP cache on, everything since the last video keyframe, where a joining player
//! starts. Frames older than that are evicted; a player whose position fell behind the log
//! resumes at a keyframe (see the queue's policy).
//!
//! Never does I/O and never reads a clock: times are media timestamps (ms, wrapping at 2^32).
//! Call order: `push` for every frame of the stream in order; `clear` when its publisher
//! leaves; readers use `get`, `end`, `bytes_from`, `span_from`, `resume_at_or_after`.
use super::cache::HeaderCache;
use super::frame::{Frame, MediaKind};
use super::queue::QueueLimits;
use std::collections::VecDeque;

/// Most frames a log keeps, whatever its byte and time bounds say (a publisher sending tiny
/// frames with frozen timestamps must not grow it without end).
pub const MAX_LOG_FRAMES: usize = 16_384;

#[derive(Debug, Clone)]
struct Slot {
    frame: Frame,
    /// Bytes of every frame pushed before this one (a running total).
    bytes_before: u64,
    /// Media time used to measure spans: the frame's own timestamp for audio and video
    /// frames; for metadata and sequence headers (whose timestamps are often 0 mid-stream),
    /// that of the last audio or video frame before them, or, for those pushed before the
    /// first one since the log was created or cleared, that of the first one after them.
    span_ts: u32,
    /// A player can start decoding here: a video keyframe, or an audio frame of a stream
    /// that had shown no video when it was pushed.
    resume: bool,
}

/// Limits of one stream's log, derived from the player queue limits and the GOP cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    pub queue: QueueLimits,
    pub gop_cache: bool,
    /// Largest GOP kept for instant start; a longer GOP is not kept past the queue window.
    pub max_gop_bytes: usize,
}

/// The recent frames of one stream. See the module doc. A clone shares every frame (reference
/// counts) and keeps the sequence numbers, so players can move from one to the other.
#[derive(Debug, Clone)]
pub struct FrameLog {
    limits: LogLimits,
    slots: VecDeque<Slot>,
    /// Sequence number of `slots[0]` (or of the next frame when empty).
    base: u64,
    /// Bytes of every frame ever pushed.
    bytes_total: u64,
    /// Sequence numbers of the resume points still in the log, ascending.
    resume: VecDeque<u64>,
    /// Timestamp of the newest audio or video frame.
    newest_ts: Option<u32>,
    seen_video: bool,
    /// The last video keyframe while the GOP since it stays within `max_gop_bytes`.
    gop_start: Option<u64>,
    /// Trailing slots (metadata, sequence headers) pushed before any audio or video frame:
    /// their span timestamp is that of the next audio or video frame, set when it comes.
    unresolved: usize,
    /// The latest metadata and sequence headers, also once evicted from the log.
    headers: HeaderCache,
}

impl FrameLog {
    /// New limits (a reload); the log is trimmed to them as the next frames arrive.
    pub fn set_limits(&mut self, limits: LogLimits) {
        self.limits = limits;
    }

    pub fn new(limits: LogLimits) -> Self {
        FrameLog {
            limits,
            slots: VecDeque::new(),
            base: 0,
            bytes_total: 0,
            resume: VecDeque::new(),
            newest_ts: None,
            seen_video: false,
            gop_start: None,
            unresolved: 0,
            headers: HeaderCache::new(),
        }
    }

    // ---- getters ----

    /// Sequence number of the oldest frame kept.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Sequence number the next frame will get.
    pub fn end(&self) -> u64 {
        self.base + self.slots.len() as u64
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn get(&self, seq: u64) -> Option<&Frame> {
        self.slot(seq).map(|s| &s.frame)
    }

    /// Whether the frame at `seq` is a resume point (see the module doc).
    pub fn is_resume(&self, seq: u64) -> bool {
        self.slot(seq).is_some_and(|s| s.resume)
    }

    /// Bytes from `seq` (clamped to the log) to the end.
    pub fn bytes_from(&self, seq: u64) -> u64 {
        match self.slot(seq.max(self.base)) {
            Some(slot) => self.bytes_total - slot.bytes_before,
            None => 0,
        }
    }

    /// Bytes the log holds.
    pub fn bytes(&self) -> u64 {
        self.bytes_from(self.base)
    }

    /// Media time from the frame at `seq` (clamped to the log) to the newest frame.
    pub fn span_from(&self, seq: u64) -> u32 {
        let (Some(slot), Some(newest)) = (self.slot(seq.max(self.base)), self.newest_ts) else {
            return 0;
        };
        ts_after(newest, slot.span_ts).unwrap_or(0)
    }

    /// The span timestamp of the frame at `seq` (clamped), for lag bookkeeping.
    pub fn span_ts(&self, seq: u64) -> Option<u32> {
        self.slot(seq.max(self.base)).map(|s| s.span_ts)
    }

    /// The latest metadata and sequence headers of the stream (what a joining player, or a
    /// player whose position fell behind the log, needs before any frame).
    pub fn headers(&self) -> &HeaderCache {
        &self.headers
    }

    /// Timestamp of the newest audio or video frame.
    pub fn newest_ts(&self) -> Option<u32> {
        self.newest_ts
    }

    /// The first resume point at or after `seq`.
    pub fn resume_at_or_after(&self, seq: u64) -> Option<u64> {
        let i = self.resume.partition_point(|&r| r < seq);
        self.resume.get(i).copied()
    }

    /// Where a joining player starts with the GOP cache: the last video keyframe, if the log
    /// still holds it.
    pub fn gop_start(&self) -> Option<u64> {
        if !self.limits.gop_cache {
            return None;
        }
        self.gop_start.filter(|&s| s >= self.base)
    }

    /// The frames from `seq` to the end, oldest first.
    pub fn frames_from(&self, seq: u64) -> impl Iterator<Item = &Frame> {
        let start = seq.saturating_sub(self.base).min(self.slots.len() as u64) as usize;
        self.slots.range(start..).map(|s| &s.frame)
    }

    fn slot(&self, seq: u64) -> Option<&Slot> {
        let index = seq.checked_sub(self.base)?;
        self.slots.get(usize::try_from(index).ok()?)
    }

    // ---- input ----

    /// Appends a frame; returns its sequence number. O(1) plus the evictions it causes.
    pub fn push(&mut self, frame: Frame) -> u64 {
        let seq = self.end();
        let droppable = frame.is_droppable();
        if frame.kind == MediaKind::Video && !frame.sequence_header {
            self.seen_video = true;
        }
        let resume = match frame.kind {
            MediaKind::Video => frame.is_video_keyframe(),
            MediaKind::Audio => droppable && !self.seen_video,
            MediaKind::Data => false,
        };
        if frame.is_video_keyframe() {
            self.gop_start = Some(seq);
        }
        self.headers.on_frame(&frame);
        // Metadata and sequence headers carry unreliable timestamps (often 0 while the frames
        // are hours in): they are measured by the audio and video frames around them.
        let span_ts = if droppable {
            let len = self.slots.len();
            for slot in self.slots.range_mut(len - self.unresolved.min(len)..) {
                slot.span_ts = frame.timestamp;
            }
            self.unresolved = 0;
            frame.timestamp
        } else if let Some(newest) = self.newest_ts {
            newest
        } else {
            self.unresolved += 1;
            frame.timestamp
        };
        if resume {
            self.resume.push_back(seq);
        }
        if droppable {
            self.newest_ts = Some(frame.timestamp);
        }
        let len = frame.wire.len() as u64;
        self.slots.push_back(Slot {
            frame,
            bytes_before: self.bytes_total,
            span_ts,
            resume,
        });
        self.bytes_total += len;
        self.check_gop();
        self.evict();
        seq
    }

    /// Forgets every frame (the publisher left): positions stay valid numbers, but every
    /// player's position is then at or past the end or behind the base.
    pub fn clear(&mut self) {
        self.base = self.end();
        self.slots.clear();
        self.resume.clear();
        self.newest_ts = None;
        self.seen_video = false;
        self.gop_start = None;
        self.unresolved = 0;
        self.headers.clear();
    }

    /// Drops the GOP start once the GOP since it grew past `max_gop_bytes`.
    fn check_gop(&mut self) {
        if let Some(start) = self.gop_start {
            if self.bytes_from(start) > self.limits.max_gop_bytes as u64 {
                self.gop_start = None;
            }
        }
    }

    /// Evicts the front while no player can need it: outside the queue window (time or
    /// bytes) and before the GOP start, or past the hard frame cap.
    fn evict(&mut self) {
        let window = self.limits.queue;
        while self.slots.len() > 1 {
            let base = self.base;
            let over_cap = self.slots.len() > MAX_LOG_FRAMES;
            let in_gop = self.gop_start().is_some_and(|g| base >= g);
            let outside = self.span_from(base) > window.max_span_ms
                || self.bytes_from(base) > window.max_bytes as u64;
            if !(over_cap || (outside && !in_gop)) {
                break;
            }
            self.slots.pop_front();
            self.base += 1;
            self.unresolved = self.unresolved.min(self.slots.len());
            while self.resume.front().is_some_and(|&r| r < self.base) {
                self.resume.pop_front();
            }
        }
    }
}

/// How far `later` is after `earlier` in wrapping media time; None if it is not after it.
pub(crate) fn ts_after(later: u32, earlier: u32) -> Option<u32> {
    let delta = later.wrapping_sub(earlier) as i32;
    u32::try_from(delta).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    pub(crate) fn frame(kind: MediaKind, ts: u32, key: bool, header: bool, len: usize) -> Frame {
        Frame::new(kind, ts, key, header, Bytes::from(vec![0u8; len]))
    }

    fn limits(span: u32, bytes: usize, gop: bool) -> LogLimits {
        LogLimits {
            queue: QueueLimits {
                max_span_ms: span,
                max_bytes: bytes,
                kick_after_ms: 15_000,
            },
            gop_cache: gop,
            max_gop_bytes: 1 << 20,
        }
    }

    #[test]
    fn positions_bytes_and_spans() {
        let mut log = FrameLog::new(limits(5_000, 1 << 20, true));
        assert_eq!(log.push(frame(MediaKind::Video, 0, false, true, 10)), 0);
        assert_eq!(log.push(frame(MediaKind::Video, 0, true, false, 100)), 1);
        assert_eq!(log.push(frame(MediaKind::Audio, 20, false, false, 10)), 2);
        assert_eq!(log.push(frame(MediaKind::Video, 40, false, false, 50)), 3);
        assert_eq!(log.end(), 4);
        assert_eq!(log.bytes_from(1), 160);
        assert_eq!(log.bytes_from(4), 0);
        assert_eq!(log.span_from(1), 40);
        assert_eq!(log.gop_start(), Some(1));
        assert_eq!(log.resume_at_or_after(0), Some(1));
        assert_eq!(log.resume_at_or_after(2), None);
        // Video seen: audio is no resume point.
        assert!(!log.is_resume(2));
    }

    #[test]
    fn window_evicts_old_frames_but_keeps_the_gop() {
        let mut log = FrameLog::new(limits(1_000, 1 << 20, true));
        log.push(frame(MediaKind::Video, 0, true, false, 10));
        for i in 1..100u32 {
            log.push(frame(MediaKind::Video, i * 40, false, false, 10));
        }
        // 4 s of one GOP: all kept for joiners.
        assert_eq!(log.base(), 0);
        log.push(frame(MediaKind::Video, 4_000, true, false, 10));
        log.push(frame(MediaKind::Video, 4_040, false, false, 10));
        // The new GOP starts at 100; the window keeps 1 s before the newest.
        assert_eq!(log.gop_start(), Some(100));
        assert!(log.base() >= 75 && log.base() <= 100, "{}", log.base());
    }

    #[test]
    fn without_gop_cache_only_the_window_stays() {
        let mut log = FrameLog::new(limits(200, 1 << 20, false));
        for i in 0..50u32 {
            log.push(frame(MediaKind::Video, i * 40, i % 25 == 0, false, 10));
        }
        assert_eq!(log.gop_start(), None);
        assert!(log.span_from(log.base()) <= 200);
        assert!(log.len() <= 7);
    }

    #[test]
    fn byte_bound_and_frame_cap_hold_with_frozen_timestamps() {
        let mut log = FrameLog::new(limits(5_000, 1_000, false));
        for _ in 0..200 {
            log.push(frame(MediaKind::Audio, 0, false, false, 100));
        }
        assert!(log.bytes() <= 1_100);
        let mut log = FrameLog::new(limits(5_000, usize::MAX, false));
        for _ in 0..MAX_LOG_FRAMES + 10 {
            log.push(frame(MediaKind::Audio, 0, false, false, 1));
        }
        assert_eq!(log.len(), MAX_LOG_FRAMES);
    }

    #[test]
    fn audio_only_streams_resume_at_audio_frames() {
        let mut log = FrameLog::new(limits(5_000, 1 << 20, true));
        log.push(frame(MediaKind::Audio, 0, false, true, 4));
        log.push(frame(MediaKind::Audio, 20, false, false, 4));
        assert!(!log.is_resume(0));
        assert!(log.is_resume(1));
        assert_eq!(log.gop_start(), None);
    }

    #[test]
    fn clear_moves_the_base_to_the_end() {
        let mut log = FrameLog::new(limits(5_000, 1 << 20, true));
        log.push(frame(MediaKind::Video, 0, true, false, 4));
        log.push(frame(MediaKind::Video, 40, false, false, 4));
        log.clear();
        assert_eq!((log.base(), log.end()), (2, 2));
        assert_eq!(log.push(frame(MediaKind::Video, 0, true, false, 4)), 2);
        assert_eq!(log.gop_start(), Some(2));
    }

    #[test]
    fn headers_with_timestamp_zero_are_not_evicted_by_frames_hours_in() {
        let mut log = FrameLog::new(limits(5_000, 1 << 20, true));
        log.push(frame(MediaKind::Data, 0, false, true, 10));
        log.push(frame(MediaKind::Video, 0, false, true, 10));
        log.push(frame(MediaKind::Audio, 0, false, true, 10));
        log.push(frame(MediaKind::Video, 16_774_000, true, false, 10));
        log.push(frame(MediaKind::Audio, 16_774_020, false, false, 10));
        assert_eq!(
            log.base(),
            0,
            "headers stay for the players following the log"
        );
        assert_eq!(log.span_from(0), 20);
        assert_eq!(log.headers().frames().count(), 3);
    }

    #[test]
    fn oversized_gop_is_not_kept() {
        let mut l = limits(100, 1 << 20, true);
        l.max_gop_bytes = 250;
        let mut log = FrameLog::new(l);
        log.push(frame(MediaKind::Video, 0, true, false, 100));
        log.push(frame(MediaKind::Video, 40, false, false, 100));
        assert_eq!(log.gop_start(), Some(0));
        log.push(frame(MediaKind::Video, 80, false, false, 100));
        assert_eq!(log.gop_start(), None);
    }
}
