//! When each connection's queued output is written: at the end of this pass ("now"), or no
//! later than a deadline (the write-merge window).
//!
//! Deadlines are handed out in time order (a new one is never earlier than the last one), so
//! the due connections are always at the front: a pass looks only at those, never at every
//! waiting player, and the next wake-up is the front's deadline. No I/O here.
use super::conn::Conn;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Default)]
pub(crate) struct FlushSchedule {
    /// Flush at the end of this pass.
    urgent: Vec<usize>,
    /// Flush at the deadline; deadlines never decrease from front to back.
    timed: VecDeque<(Instant, usize)>,
}

impl FlushSchedule {
    /// Flush `conn` at the end of this pass, even if it was waiting for a deadline.
    pub(crate) fn now(&mut self, conn: &mut Conn, token: usize) {
        if conn.dirty && conn.flush_at.is_none() {
            return;
        }
        conn.dirty = true;
        conn.flush_at = None;
        self.urgent.push(token);
    }

    /// Flush `conn` no later than `window` from `now` (at the end of this pass if `window` is
    /// zero). A connection already scheduled keeps its earlier turn.
    pub(crate) fn within(&mut self, conn: &mut Conn, token: usize, window: Duration, now: Instant) {
        if window.is_zero() {
            return self.now(conn, token);
        }
        if conn.dirty {
            return;
        }
        // When an adaptive window shrinks, a new deadline could fall before the last one;
        // keeping the order costs that connection at most the difference of two windows.
        let at = (now + window).max(self.timed.back().map_or(now, |&(last, _)| last));
        conn.dirty = true;
        conn.flush_at = Some(at);
        self.timed.push_back((at, token));
    }

    /// When the next flush is due: `now` if something is urgent.
    pub(crate) fn next_deadline(&self, now: Instant) -> Option<Instant> {
        if !self.urgent.is_empty() {
            return Some(now);
        }
        self.timed.front().map(|&(at, _)| at)
    }

    /// Moves the tokens due at `now` to `out`. A token may be stale (its connection closed, or
    /// already flushed through another entry): the caller flushes only connections still
    /// marked dirty.
    pub(crate) fn take_due(&mut self, now: Instant, out: &mut Vec<usize>) {
        out.append(&mut self.urgent);
        while let Some(&(at, token)) = self.timed.front() {
            if at > now {
                break;
            }
            self.timed.pop_front();
            out.push(token);
        }
    }
}
