//! `SendQueue`: what one connection still has to send, in order, and the slow-player policy
//! that keeps a player bounded.
//!
//! A player does not get a copy of every frame. It holds a position in its stream's
//! [`FrameLog`] (shared by every player of the stream on the shard) and only takes frames out
//! of the log when it is about to be written (`prepare`), so a new frame costs nothing per
//! player. What was taken out, and every control message, is *committed*: it is never dropped
//! or changed, because a write handed to the driver may still reference it (io_uring sends
//! complete later) or the player has seen part of its chunks.
//!
//! Never does I/O and never reads a clock: every time is a media timestamp in ms that wraps at
//! 2^32.
//!
//! Call order, per connection:
//! 1. `push_control` for session output, `push_frame` for the startup headers of a joining
//!    player, `follow` to start at a position of the stream's log, `unfollow` when the
//!    publisher leaves.
//! 2. To write: `prepare(log)` (the policy, then frames move from the log into the committed
//!    part), `fill_iovecs` or `clone_chunks` over the committed part, one send, then
//!    `advance(written, log)`.
//! 3. `check_lag(log)` from a periodic sweep, for players the socket has kept from writing.
//!
//! Policy (applied by `prepare` and `check_lag`, never on the publisher's path): when the
//! frames between the position and the log's end span more than `max_span_ms` or more than
//! `max_bytes`, or the position fell behind the log, the position skips to the first resume
//! point (video keyframe; audio frame of an audio-only stream) that brings the player within
//! both bounds; without one, it waits for the next keyframe. Skipped metadata and sequence
//! headers are still sent. A player that has not caught up for `kick_after_ms` of media time,
//! or whose committed bytes pass twice `max_bytes`, is kicked.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::time::Instant;

use bytes::Bytes;

use super::frame::{Frame, MediaKind, WireForm};
use super::log::{ts_after, FrameLog};

#[cfg(test)]
mod tests;

/// Bounds of one player. Spans and lags are media time (ms), not wall time. The values in
/// force come from the configuration (`control::Config`), the one place defaults live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Media time the unsent backlog may span before frames are skipped.
    pub max_span_ms: u32,
    /// Unsent bytes before frames are skipped.
    pub max_bytes: usize,
    /// Media time since the player was last caught up after which it is kicked.
    pub kick_after_ms: u32,
}

/// Most entries taken out of the log per `prepare`: one vectored send's worth.
pub const MAX_PREPARED_ENTRIES: usize = 64;
/// Most bytes taken out of the log per `prepare`.
pub const MAX_PREPARED_BYTES: usize = 1 << 20;
/// Skipped metadata and sequence headers kept for the player, at most.
const MAX_SKIPPED_HEADERS: usize = 8;

/// What `prepare` or `check_lag` decided.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go on; `dropped` frames were skipped by the policy on this call.
    Keep { dropped: u64 },
    /// The player cannot keep up: disconnect it. Sticky.
    Kick,
}

#[derive(Debug, Clone, Copy)]
struct Cursor {
    /// Sequence number of the next log frame this player needs.
    next: u64,
    /// Skip audio and video until a resume point.
    waiting_keyframe: bool,
}

/// One committed piece of output: a frame's wire bytes with its arrival (for the fan-out
/// latency), or control bytes (`arrival` None).
#[derive(Debug)]
struct Entry {
    bytes: Bytes,
    arrival: Option<Instant>,
}

/// The send queue of one connection. See the module doc for the call order.
#[derive(Debug)]
pub struct SendQueue {
    limits: QueueLimits,
    /// Bytes to send in order; never dropped.
    committed: VecDeque<Entry>,
    /// Unwritten bytes of `committed`.
    committed_bytes: usize,
    /// Bytes of the front entry already written.
    offset: usize,
    cursor: Option<Cursor>,
    /// Span timestamp of the first frame this player had not sent since it was last caught
    /// up: the lag reference of the kick rule.
    behind_since: Option<u32>,
    audio: bool,
    video: bool,
    kicked: bool,
    dropped_frames: u64,
    /// Which encoded form of each frame this connection is sent.
    form: WireForm,
}

impl SendQueue {
    pub fn new(limits: QueueLimits) -> Self {
        Self {
            limits,
            committed: VecDeque::new(),
            committed_bytes: 0,
            offset: 0,
            cursor: None,
            behind_since: None,
            audio: true,
            video: true,
            kicked: false,
            dropped_frames: 0,
            form: WireForm::Rtmp,
        }
    }

    // ---- getters ----

    pub fn limits(&self) -> QueueLimits {
        self.limits
    }

    /// New limits (a reload); they apply from the next `prepare` or lag check on.
    pub fn set_limits(&mut self, limits: QueueLimits) {
        self.limits = limits;
    }

    /// Send frames in `form` from now on (an HTTP-FLV response).
    pub fn set_form(&mut self, form: WireForm) {
        self.form = form;
    }

    /// Queue control bytes ahead of everything committed. Only before anything was written
    /// (an HTTP response head that waited for its stream's first frame).
    pub fn push_front_control(&mut self, bytes: Bytes) {
        debug_assert_eq!(self.offset, 0, "push_front_control after a write");
        if bytes.is_empty() || self.offset != 0 {
            return;
        }
        self.committed_bytes += bytes.len();
        self.committed.push_front(Entry {
            bytes,
            arrival: None,
        });
    }

    /// Committed bytes not yet written.
    pub fn committed_bytes(&self) -> usize {
        self.committed_bytes
    }

    /// Entries of the committed part (memory held by this player, beyond the shared log).
    pub fn committed_len(&self) -> usize {
        self.committed.len()
    }

    /// Nothing committed and nothing to take from `log`.
    pub fn is_idle(&self, log: Option<&FrameLog>) -> bool {
        self.committed.is_empty() && !self.behind(log)
    }

    /// Whether the log has frames past this player's position.
    pub fn behind(&self, log: Option<&FrameLog>) -> bool {
        match (self.cursor, log) {
            (Some(c), Some(log)) => c.next < log.end(),
            _ => false,
        }
    }

    /// Unwritten bytes: committed plus what the log holds past the position.
    pub fn queued_bytes(&self, log: Option<&FrameLog>) -> u64 {
        let log_part = match (self.cursor, log) {
            (Some(c), Some(log)) => log.bytes_from(c.next),
            _ => 0,
        };
        self.committed_bytes as u64 + log_part
    }

    /// Where the player is in the log, if it follows one.
    pub fn position(&self) -> Option<u64> {
        self.cursor.map(|c| c.next)
    }

    pub fn is_waiting_keyframe(&self) -> bool {
        self.cursor.is_some_and(|c| c.waiting_keyframe)
    }

    /// Frames skipped by the slow-player policy.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped_frames
    }

    pub fn is_kicked(&self) -> bool {
        self.kicked
    }

    // ---- input ----

    /// Queue control/command bytes. Never dropped; empty input is ignored.
    pub fn push_control(&mut self, bytes: Bytes) {
        self.push_entry(bytes, None);
    }

    fn push_entry(&mut self, bytes: Bytes, arrival: Option<Instant>) {
        if bytes.is_empty() {
            return;
        }
        self.committed_bytes += bytes.len();
        self.committed.push_back(Entry { bytes, arrival });
    }

    /// Queue one frame outside the log (a joining player's metadata and sequence headers),
    /// unless the player turned its kind off.
    pub fn push_frame(&mut self, frame: &Frame) {
        if self.wants(frame.kind) {
            self.push_entry(frame.bytes_for(self.form), frame.arrival);
        }
    }

    /// Follow a log from `position`; with `wait_keyframe`, audio and video are skipped until
    /// a resume point.
    pub fn follow(&mut self, position: u64, wait_keyframe: bool) {
        self.cursor = Some(Cursor {
            next: position,
            waiting_keyframe: wait_keyframe,
        });
        self.behind_since = None;
    }

    /// Stop following (the publisher left). Committed bytes stay.
    pub fn unfollow(&mut self) {
        self.cursor = None;
        self.behind_since = None;
    }

    /// receiveAudio / receiveVideo.
    pub fn set_wanted(&mut self, kind: MediaKind, on: bool) {
        match kind {
            MediaKind::Audio => self.audio = on,
            MediaKind::Video => self.video = on,
            MediaKind::Data => {}
        }
    }

    // ---- output ----

    /// Applies the policy, then moves frames from `log` into the committed part, up to one
    /// send's worth. Call before `fill_iovecs`; never while a send is in flight is fine too,
    /// since it only appends.
    pub fn prepare(&mut self, log: Option<&FrameLog>) -> Verdict {
        let verdict = self.check_lag(log);
        let (Verdict::Keep { .. }, Some(log), Some(mut cursor)) = (verdict, log, self.cursor)
        else {
            return verdict;
        };
        let end = log.end();
        let mut waited = 0;
        while cursor.next < end
            && self.committed.len() < MAX_PREPARED_ENTRIES
            && self.committed_bytes < MAX_PREPARED_BYTES
        {
            let seq = cursor.next;
            cursor.next += 1;
            let Some(frame) = log.get(seq) else { break };
            // A resume point ends the wait even for a player that does not want its kind
            // (video off: audio goes on from the keyframe).
            if cursor.waiting_keyframe && frame.is_droppable() {
                if log.is_resume(seq) {
                    cursor.waiting_keyframe = false;
                } else {
                    waited += u64::from(self.wants(frame.kind));
                    continue;
                }
            }
            if !self.wants(frame.kind) {
                continue;
            }
            self.push_entry(frame.bytes_for(self.form), frame.arrival);
        }
        self.cursor = Some(cursor);
        // Nothing to write and nothing left in the log: caught up, as in `advance` (the core
        // parks such a player without a send, so `advance` would not see it).
        if self.committed.is_empty() && cursor.next >= end {
            self.behind_since = None;
        }
        self.dropped_frames += waited;
        match verdict {
            Verdict::Keep { dropped } => Verdict::Keep {
                dropped: dropped + waited,
            },
            Verdict::Kick => Verdict::Kick,
        }
    }

    /// The policy alone: skips a position that fell out of bounds, and decides a kick.
    pub fn check_lag(&mut self, log: Option<&FrameLog>) -> Verdict {
        if self.kicked {
            return Verdict::Kick;
        }
        let mut dropped = 0;
        if let (Some(log), Some(cursor)) = (log, self.cursor) {
            if cursor.next < log.end() {
                // Before the stream's first audio or video frame there is no media time to
                // lag behind (metadata timestamps are not on the media timeline).
                if self.behind_since.is_none() && log.newest_ts().is_some() {
                    self.behind_since = log.span_ts(cursor.next);
                }
                dropped = self.enforce_window(log, cursor);
            }
            let lag = match (self.behind_since, log.newest_ts()) {
                (Some(since), Some(newest)) => ts_after(newest, since).unwrap_or(0),
                _ => 0,
            };
            if lag > self.limits.kick_after_ms {
                self.kicked = true;
            }
        }
        if self.committed_bytes > self.limits.max_bytes.saturating_mul(2) {
            self.kicked = true;
        }
        self.dropped_frames += dropped;
        if self.kicked {
            Verdict::Kick
        } else {
            Verdict::Keep { dropped }
        }
    }

    /// Append up to `max` slices for one vectored send, from the write offset. Returns the
    /// bytes they cover.
    pub fn fill_iovecs<'a>(&'a self, iov: &mut Vec<IoSlice<'a>>, max: usize) -> usize {
        let mut total = 0;
        for (index, entry) in self.committed.iter().take(max).enumerate() {
            let from = if index == 0 { self.offset } else { 0 };
            let slice = entry.bytes.get(from..).unwrap_or_default();
            total += slice.len();
            iov.push(IoSlice::new(slice));
        }
        total
    }

    /// Like `fill_iovecs`, as reference-counted handles a driver can keep until its send
    /// completes. Returns the bytes they cover.
    pub fn clone_chunks(&self, out: &mut Vec<Bytes>, max: usize) -> usize {
        let mut total = 0;
        for (index, entry) in self.committed.iter().take(max).enumerate() {
            let bytes = &entry.bytes;
            let chunk = if index == 0 {
                bytes.slice(self.offset.min(bytes.len())..)
            } else {
                bytes.clone()
            };
            total += chunk.len();
            out.push(chunk);
        }
        total
    }

    /// Consume `written` committed bytes after a (possibly partial) send. Once everything is
    /// written and the position is at the log's end, the player is caught up.
    pub fn advance(&mut self, written: usize, log: Option<&FrameLog>) {
        self.advance_with(written, log, |_| {});
    }

    /// Like `advance`; `completed` gets the arrival of every frame whose last byte this write
    /// took (control bytes have none), in order.
    pub fn advance_with(
        &mut self,
        mut written: usize,
        log: Option<&FrameLog>,
        mut completed: impl FnMut(Instant),
    ) {
        debug_assert!(written <= self.committed_bytes, "advance past the queue");
        while written > 0 {
            let Some(front) = self.committed.front() else {
                break;
            };
            let rest = front.bytes.len() - self.offset;
            if written < rest {
                self.offset += written;
                self.committed_bytes -= written;
                break;
            }
            written -= rest;
            self.committed_bytes -= rest;
            self.offset = 0;
            if let Some(arrival) = self.committed.pop_front().and_then(|e| e.arrival) {
                completed(arrival);
            }
        }
        if self.committed.is_empty() && !self.behind(log) {
            self.behind_since = None;
        }
    }

    // ---- policy internals ----

    fn wants(&self, kind: MediaKind) -> bool {
        match kind {
            MediaKind::Audio => self.audio,
            MediaKind::Video => self.video,
            MediaKind::Data => true,
        }
    }

    fn within(&self, log: &FrameLog, seq: u64) -> bool {
        log.span_from(seq) <= self.limits.max_span_ms
            && log.bytes_from(seq) <= self.limits.max_bytes as u64
    }

    /// Skips the position forward when it fell behind the log or out of the window. Returns
    /// the audio and video frames skipped.
    fn enforce_window(&mut self, log: &FrameLog, cursor: Cursor) -> u64 {
        let fell_out = cursor.next < log.base();
        if !fell_out && self.within(log, cursor.next) {
            return 0;
        }
        let from = cursor.next.max(log.base());
        let mut target = log.resume_at_or_after(from + u64::from(!fell_out));
        while let Some(seq) = target {
            if self.within(log, seq) {
                break;
            }
            target = log.resume_at_or_after(seq + 1);
        }
        let (to, waiting) = match target {
            Some(seq) => (seq, false),
            None => (log.end(), true),
        };
        // Frames already evicted from the log are counted as dropped too.
        let mut dropped = log.base().saturating_sub(cursor.next);
        let mut headers = 0;
        for frame in log.frames_from(from).take((to - from) as usize) {
            if !self.wants(frame.kind) {
                continue;
            }
            if frame.is_droppable() {
                dropped += 1;
            } else if headers < MAX_SKIPPED_HEADERS {
                // Metadata and sequence headers are state for what follows: keep them.
                headers += 1;
                self.push_entry(frame.bytes_for(self.form), frame.arrival);
            }
        }
        self.cursor = Some(Cursor {
            next: to,
            waiting_keyframe: waiting,
        });
        dropped
    }
}
