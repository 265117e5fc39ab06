//! The write path of the core: handing out each connection's queued bytes as one send
//! ([`ShardCore::poll_transmit`]), what the driver reports back (`handle_written`, a full
//! socket, the end of the pass's sends), and when a connection is due again: at once for
//! control output, after the write-merge window for media, parked while it has nothing.
//!
//! A connection is handed out once at a time: `poll_transmit` marks it in flight until
//! `handle_written` reports the send; its bytes stay pinned until then.
use super::conn::WriteState;
use super::{http, CloseReason, ConnId, ShardCore, Transmit};
use crate::media::queue::Verdict;
use std::time::{Duration, Instant};
use tracing::info;

impl ShardCore {
    /// The next send: one connection's queued bytes, as one vectored send. `now` is when the
    /// driver started this pass's sends.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit<'_>> {
        self.last_now = now;
        while let Some(wake) = self.schedule.pop_due(now) {
            let id = wake.conn;
            let Some(c) = self.conns.get_mut(id) else {
                continue;
            };
            if c.epoch != wake.epoch
                || matches!(c.write, WriteState::InFlight | WriteState::Blocked)
            {
                continue;
            }
            let log = c.player_log(&self.streams);
            match c.queue.prepare(log) {
                Verdict::Kick => {
                    info!(shard = self.index, peer = %c.peer(), "player too slow: disconnecting");
                    self.stats.players_kicked += 1;
                    self.close_now(id, CloseReason::PlayerTooSlow);
                    continue;
                }
                Verdict::Keep { dropped } => self.stats.frames_dropped += dropped,
            }
            http::before_send(c, log);
            self.seal_tls(id, now);
            let Some(c) = self.conns.get_mut(id) else {
                continue;
            };
            if c.wire().committed_bytes() == 0 {
                if let Some(reason) = c.close_after_flush {
                    self.close_now(id, reason);
                } else {
                    self.park(id, now);
                }
                continue;
            }
            c.wake(id, WriteState::InFlight);
            self.flush_started.get_or_insert(now);
            // Re-borrow immutably for the returned view.
            let queue = self.conns[id].wire();
            return Some(Transmit::new(ConnId(id), queue));
        }
        None
    }

    /// A send handed out by `poll_transmit` took `written` bytes (possibly fewer than it
    /// covered; 0 is allowed and means nothing was taken).
    pub fn handle_written(&mut self, conn: ConnId, written: usize, now: Instant) {
        let id = conn.0;
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        self.last_now = now;
        if c.write != WriteState::InFlight {
            return;
        }
        self.with_delivery(id, now, |c, log, record| match c.tls.as_mut() {
            // The plaintext left the queue when it was sealed (see `tls`).
            Some(tls) => tls.advance(written),
            None => c.queue.advance_with(written, log, record),
        });
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        let log = c.player_log(&self.streams);
        self.stats.bytes_out += written as u64;
        c.bytes_out += written as u64;
        if written > 0 {
            c.last_write = now;
        }
        if !c.is_idle(log) {
            let wake = c.wake(id, WriteState::Due { urgent: true });
            self.schedule.urgent(wake);
        } else if let Some(reason) = c.close_after_flush {
            self.close_now(id, reason);
        } else {
            self.park(id, now);
            // Pipelined requests that waited for this output.
            self.http_serve(id, now);
        }
    }

    /// The socket of `conn` would block: wait for `handle_writable`. (Drivers whose sends
    /// wait in the kernel, like io_uring, never call this.)
    pub fn handle_send_blocked(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(conn.0) else {
            return;
        };
        if let Some(reason) = c.close_after_flush {
            // The peer does not read the explanation; do not wait for it.
            return self.close_now(conn.0, reason);
        }
        c.wake(conn.0, WriteState::Blocked);
    }

    /// The socket of `conn` has room again.
    pub fn handle_writable(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(conn.0) else {
            return;
        };
        if c.write == WriteState::Blocked {
            let wake = c.wake(conn.0, WriteState::Due { urgent: true });
            self.schedule.urgent(wake);
        }
    }

    /// The sends of this pass are done, at `now`.
    pub fn handle_pass_end(&mut self, now: Instant) {
        // Passes that flushed nobody say nothing about the load.
        if let Some(started) = self.flush_started.take() {
            self.last_flush = now.saturating_duration_since(started);
        }
    }

    /// Hand `id` out at the end of this pass.
    pub(super) fn schedule_now(&mut self, id: usize) {
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        match c.write {
            WriteState::Parked | WriteState::Due { urgent: false } => {
                let wake = c.wake(id, WriteState::Due { urgent: true });
                self.schedule.urgent(wake);
            }
            // Already due, or picked up again when the write completes / the socket drains.
            WriteState::Due { urgent: true } | WriteState::InFlight | WriteState::Blocked => {}
        }
    }

    /// Nothing to write: a player waits on its stream's list of caught-up players.
    pub(super) fn park(&mut self, id: usize, now: Instant) {
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        c.last_write = now;
        let wake = c.wake(id, WriteState::Parked);
        if let Some(stream) = c.playing().and_then(|s| self.streams.get_mut(s)) {
            stream.caught_up.push(wake);
        }
    }

    /// How long a player's new frames may wait before they are written (see `ShardSettings`).
    pub(super) fn merge_window(&self) -> Duration {
        if self.settings.write_merge.is_zero() {
            self.last_flush.min(self.settings.adaptive_merge_max)
        } else {
            self.settings.write_merge
        }
    }
}
