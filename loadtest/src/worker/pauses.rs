//! The pauses of a thread's bursty players (`--read-interval-ms`): which player's socket to
//! read again, and when.
//!
//! Every pause of a run lasts the same interval and starts at the current monotonic time, so
//! pauses end in the order they began: a FIFO queue is a complete timer, with O(1) insertion
//! and removal and the next deadline always at the front, however many players wait. A
//! player that closes leaves its entry behind; each entry carries a serial that the player
//! keeps while paused, so a stale entry (or one whose slab key now belongs to a newer
//! player) is recognised and skipped. No I/O, no clock: times are passed in.
use std::collections::VecDeque;

#[derive(Debug, Clone, Copy)]
struct Pause {
    due: u64,
    key: usize,
    serial: u64,
}

/// Pending pauses in the order they end.
#[derive(Debug, Default)]
pub struct Pauses {
    queue: VecDeque<Pause>,
    next_serial: u64,
}

impl Pauses {
    /// Queues a pause of the player at slab `key` ending at `due`; returns the serial the
    /// player keeps until it is resumed. A `due` earlier than the last queued one (not
    /// expected: intervals are equal and time is monotonic) is moved up to it, so the queue
    /// stays ordered.
    pub fn push(&mut self, key: usize, due: u64) -> u64 {
        let due = self.queue.back().map_or(due, |last| due.max(last.due));
        let serial = self.next_serial;
        self.next_serial += 1;
        self.queue.push_back(Pause { due, key, serial });
        serial
    }

    /// When the earliest pause ends, if any is queued.
    pub fn next_due(&self) -> Option<u64> {
        self.queue.front().map(|p| p.due)
    }

    /// Removes and returns `(key, serial)` of the earliest pause if it has ended by `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<(usize, u64)> {
        if self.queue.front()?.due > now {
            return None;
        }
        self.queue.pop_front().map(|p| (p.key, p.serial))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_end_in_order() {
        let mut q = Pauses::default();
        assert_eq!(q.next_due(), None);
        assert_eq!(q.pop_due(u64::MAX), None);
        let a = q.push(3, 100);
        let b = q.push(7, 150);
        assert_ne!(a, b);
        assert_eq!(q.next_due(), Some(100));
        assert_eq!(q.pop_due(99), None);
        assert_eq!(q.pop_due(100), Some((3, a)));
        assert_eq!(q.pop_due(120), None);
        assert_eq!(q.next_due(), Some(150));
        assert_eq!(q.pop_due(1000), Some((7, b)));
        assert_eq!(q.next_due(), None);
    }

    #[test]
    fn an_earlier_deadline_keeps_the_queue_ordered() {
        let mut q = Pauses::default();
        q.push(1, 500);
        let late = q.push(2, 400);
        assert_eq!(q.pop_due(450), None, "nothing may end before the front");
        assert!(q.pop_due(500).is_some());
        assert_eq!(q.pop_due(500), Some((2, late)));
    }

    #[test]
    fn a_reused_key_gets_a_new_serial() {
        let mut q = Pauses::default();
        let old = q.push(5, 10);
        let new = q.push(5, 20);
        assert_eq!(q.pop_due(30), Some((5, old)));
        assert_eq!(q.pop_due(30), Some((5, new)));
        assert_ne!(old, new);
    }
}
