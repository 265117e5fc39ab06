//! `Transmit`: one send the core hands a driver, a view over a connection's committed bytes
//! (pinned until `handle_written`), as iovecs for a synchronous `sendmsg` or as `Bytes`
//! handles for a driver whose send completes later; and what a completed send records.
use super::conn::Connection;
use super::{ConnId, ShardCore};
use crate::media::log::FrameLog;
use crate::media::queue::SendQueue;
use bytes::Bytes;
use std::io::IoSlice;
use std::time::Instant;

/// Most slices in one vectored send.
pub const MAX_IOVECS: usize = 64;

impl<'a> Transmit<'a> {
    pub(super) fn new(conn: ConnId, queue: &'a SendQueue) -> Self {
        Transmit { conn, queue }
    }
}

/// One send for one connection; see [`ShardCore::poll_transmit`].
#[must_use]
pub struct Transmit<'a> {
    pub conn: ConnId,
    queue: &'a SendQueue,
}

impl<'a> Transmit<'a> {
    /// Bytes this send covers at most (over `MAX_IOVECS` slices).
    pub fn len(&self) -> usize {
        self.queue.committed_bytes()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The slices of the send, for a synchronous `sendmsg`. Returns the bytes they cover.
    pub fn iovecs(&self, out: &mut Vec<IoSlice<'a>>) -> usize {
        self.queue.fill_iovecs(out, MAX_IOVECS)
    }

    /// The same bytes as reference-counted handles, for a driver whose send completes later
    /// (io_uring keeps them until the completion). Returns the bytes they cover.
    pub fn chunks(&self, out: &mut Vec<Bytes>) -> usize {
        self.queue.clone_chunks(out, MAX_IOVECS)
    }
}

impl ShardCore {
    /// Runs `f` on connection `id` with its log and a recorder for the frames whose last byte
    /// leaves its queue: it counts them and, for frames that arrived after the play started
    /// (not the startup GOP), records their fan-out latency.
    pub(super) fn with_delivery(
        &mut self,
        id: usize,
        now: Instant,
        f: impl FnOnce(&mut Connection, Option<&FrameLog>, &mut dyn FnMut(Instant)),
    ) {
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        let log = c.player_log(&self.streams);
        let since = c.play_since();
        let (latency, sum, delivered) = (
            &mut self.latency,
            &mut self.latency_sum,
            &mut self.stats.frames_delivered,
        );
        f(c, log, &mut |arrival| {
            *delivered += 1;
            if since.is_some_and(|since| arrival >= since) {
                let d = now.saturating_duration_since(arrival);
                latency.saturating_record((d.as_micros() as u64).max(1));
                *sum += d;
            }
        });
    }
}
