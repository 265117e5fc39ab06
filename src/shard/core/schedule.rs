//! When each connection's output is written: at the end of this pass (urgent), or no later
//! than a deadline (the write-merge window), in batches.
//!
//! Fan-out schedules by batch: a stream keeps the list of its players that are caught up, and
//! a new frame hands that whole list to the schedule as one entry, without touching a player.
//! Entries are [`Wake`]s that carry the connection's epoch when they were made; any later
//! change of the connection's schedule state bumps its epoch, so stale entries (a connection
//! closed, flushed through another entry, or re-listed) are skipped when they come due. No
//! I/O, no clock: `now` is an argument.
use std::collections::VecDeque;
use std::time::Instant;

/// One connection's turn, valid while its epoch is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wake {
    pub conn: usize,
    pub epoch: u32,
}

#[derive(Default)]
pub(crate) struct FlushSchedule {
    /// Due at the end of this pass.
    urgent: Vec<Wake>,
    /// Whole lists due at the end of this pass.
    urgent_batches: Vec<Vec<Wake>>,
    /// Lists due at a deadline; deadlines never decrease from front to back.
    timed: VecDeque<(Instant, Vec<Wake>)>,
    /// Emptied lists, reused so a steady stream allocates nothing.
    spare: Vec<Vec<Wake>>,
}

/// Emptied lists kept for reuse, at most.
const MAX_SPARE: usize = 64;

impl FlushSchedule {
    pub(crate) fn urgent(&mut self, wake: Wake) {
        self.urgent.push(wake);
    }

    /// Hands a whole list over, due at `at` (`None`: at the end of this pass).
    pub(crate) fn batch(&mut self, batch: Vec<Wake>, at: Option<Instant>) {
        if batch.is_empty() {
            return self.recycle(batch);
        }
        match at {
            None => self.urgent_batches.push(batch),
            Some(at) => {
                // An adaptive window that shrank could put this deadline before the last one;
                // keeping the order costs these players at most the difference of two windows.
                let at = self.timed.back().map_or(at, |&(last, _)| at.max(last));
                match self.timed.back_mut() {
                    // Same deadline as the last list: append (only when that list is small,
                    // so a merge of lists stays cheap).
                    Some((last, list)) if *last == at && list.len() + batch.len() <= 4096 => {
                        list.extend_from_slice(&batch);
                        self.recycle(batch);
                    }
                    _ => self.timed.push_back((at, batch)),
                }
            }
        }
    }

    /// A list to fill (from the spare pool).
    pub(crate) fn new_list(&mut self) -> Vec<Wake> {
        self.spare.pop().unwrap_or_default()
    }

    pub(crate) fn recycle(&mut self, mut list: Vec<Wake>) {
        if self.spare.len() < MAX_SPARE && list.capacity() > 0 {
            list.clear();
            self.spare.push(list);
        }
    }

    /// When the next entry is due: `now` if something is urgent.
    pub(crate) fn next_deadline(&self, now: Instant) -> Option<Instant> {
        if !self.urgent.is_empty() || !self.urgent_batches.is_empty() {
            return Some(now);
        }
        self.timed.front().map(|&(at, _)| at)
    }

    /// Whole lists waiting (urgent or timed): one per fan-out that found caught-up players.
    #[cfg(test)]
    pub(crate) fn scheduled_batches(&self) -> usize {
        self.urgent_batches.len() + self.timed.len()
    }

    /// Wakes waiting, single or in lists (stale ones included).
    #[cfg(test)]
    pub(crate) fn scheduled_wakes(&self) -> usize {
        let lists = self
            .urgent_batches
            .iter()
            .chain(self.timed.iter().map(|(_, l)| l));
        self.urgent.len() + lists.map(Vec::len).sum::<usize>()
    }

    /// The next wake due at `now`, if any. Entries may be stale: the caller checks epochs.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Wake> {
        loop {
            if let Some(wake) = self.urgent.pop() {
                return Some(wake);
            }
            if let Some(mut list) = self.urgent_batches.pop() {
                std::mem::swap(&mut self.urgent, &mut list);
                self.recycle(list);
                continue;
            }
            match self.timed.front() {
                Some(&(at, _)) if at <= now => {
                    if let Some((_, mut list)) = self.timed.pop_front() {
                        std::mem::swap(&mut self.urgent, &mut list);
                        self.recycle(list);
                    }
                }
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn w(conn: usize) -> Wake {
        Wake { conn, epoch: 0 }
    }

    #[test]
    fn urgent_then_due_batches_in_deadline_order() {
        let t0 = Instant::now();
        let mut s = FlushSchedule::default();
        s.batch(vec![w(1), w(2)], Some(t0 + Duration::from_millis(10)));
        s.batch(vec![w(3)], Some(t0 + Duration::from_millis(20)));
        s.urgent(w(9));
        assert_eq!(s.next_deadline(t0), Some(t0));
        assert_eq!(s.pop_due(t0), Some(w(9)));
        assert_eq!(s.pop_due(t0), None);
        assert_eq!(s.next_deadline(t0), Some(t0 + Duration::from_millis(10)));
        let t1 = t0 + Duration::from_millis(15);
        let mut got = vec![s.pop_due(t1).unwrap().conn, s.pop_due(t1).unwrap().conn];
        got.sort();
        assert_eq!(got, vec![1, 2]);
        assert_eq!(s.pop_due(t1), None);
        assert_eq!(s.pop_due(t0 + Duration::from_millis(20)), Some(w(3)));
    }

    #[test]
    fn a_shrinking_window_never_reorders_deadlines() {
        let t0 = Instant::now();
        let mut s = FlushSchedule::default();
        s.batch(vec![w(1)], Some(t0 + Duration::from_millis(20)));
        s.batch(vec![w(2)], Some(t0 + Duration::from_millis(5)));
        assert_eq!(s.pop_due(t0 + Duration::from_millis(10)), None);
        assert!(s.pop_due(t0 + Duration::from_millis(20)).is_some());
        assert!(s.pop_due(t0 + Duration::from_millis(20)).is_some());
    }

    #[test]
    fn urgent_batches_come_due_at_once() {
        let t0 = Instant::now();
        let mut s = FlushSchedule::default();
        s.batch(vec![w(4), w(5)], None);
        s.batch(Vec::new(), None);
        assert_eq!(s.next_deadline(t0), Some(t0));
        assert!(s.pop_due(t0).is_some());
        assert!(s.pop_due(t0).is_some());
        assert_eq!(s.pop_due(t0), None);
        assert_eq!(s.next_deadline(t0), None);
    }
}
