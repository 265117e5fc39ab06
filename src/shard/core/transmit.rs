//! `Transmit`: one send the core hands a driver, a view over a connection's committed bytes
//! (pinned until `handle_written`), as iovecs for a synchronous `sendmsg` or as `Bytes`
//! handles for a driver whose send completes later.
use super::ConnId;
use crate::media::queue::SendQueue;
use bytes::Bytes;
use std::io::IoSlice;

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
