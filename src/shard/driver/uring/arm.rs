//! Work out: the submission entries of each operation, and the queue they wait in.
//!
//! Each `arm_*` queues one operation unless it is already in flight; [`UringIo::push`] is the one
//! place entries enter the submission queue (or, when it is full, a backlog handed over at the
//! next submit, in order). Nothing here enters the kernel except [`UringIo::flush_backlog`].

use super::ring::{Kind, Tag};
use super::{UringIo, ACCEPT_BACKOFF, BGID};
use io_uring::{opcode, squeue, types};
use std::io;
use std::os::fd::AsRawFd;

impl UringIo {
    pub(super) fn arm_accept(&mut self, listener: usize) {
        let Some(Some(l)) = self.listeners.get_mut(listener) else {
            return;
        };
        if l.armed || self.shutting_down {
            return;
        }
        l.armed = true;
        let entry = opcode::AcceptMulti::new(types::Fd(l.fd.as_raw_fd()))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(Tag::new(Kind::Accept, 0, listener as u32).encode());
        // SAFETY: a multishot accept passes no address buffer; it references no memory of ours.
        unsafe { self.push(entry) };
    }

    pub(super) fn arm_accept_backoff(&mut self, listener: usize) {
        let Some(Some(l)) = self.listeners.get_mut(listener) else {
            return;
        };
        l.armed = true;
        let entry = opcode::Timeout::new(&ACCEPT_BACKOFF)
            .build()
            .user_data(Tag::new(Kind::AcceptBackoff, 0, listener as u32).encode());
        // SAFETY: the timespec is a static, valid for the life of the program.
        unsafe { self.push(entry) };
    }

    pub(super) fn arm_recv(&mut self, key: u32) {
        let Some(c) = self.conns.get_mut(key as usize) else {
            return;
        };
        if c.recv_armed || c.closing || self.shutting_down {
            return;
        }
        c.recv_armed = true;
        let entry = opcode::RecvMulti::new(types::Fd(c.fd.as_raw_fd()), BGID)
            .build()
            .user_data(Tag::new(Kind::Recv, c.generation, key).encode());
        // SAFETY: the receive writes only into the registered buffer ring, which lives as long
        // as the ring (unregistered in `Drop` only after every receive has ended, else leaked).
        unsafe { self.push(entry) };
    }

    pub(super) fn arm_waker(&mut self) {
        let Some(w) = self.waker.as_mut() else {
            return;
        };
        if w.armed || self.shutting_down {
            return;
        }
        w.armed = true;
        let entry = opcode::Read::new(types::Fd(w.fd.as_raw_fd()), w.buf.as_mut_ptr(), 8)
            .build()
            .user_data(Tag::new(Kind::Waker, 0, 0).encode());
        // SAFETY: the 8-byte buffer is boxed in `self.waker`, which is never replaced (one waker
        // per ring) and is kept until `Drop` has seen this read end, or leaked.
        unsafe { self.push(entry) };
    }

    /// Cancels every operation on the connection's socket (receive and send).
    pub(super) fn cancel_conn(&mut self, key: u32) {
        let Some(c) = self.conns.get(key as usize) else {
            return;
        };
        let builder = types::CancelBuilder::fd(types::Fd(c.fd.as_raw_fd())).all();
        let entry = opcode::AsyncCancel2::new(builder)
            .build()
            .user_data(Tag::new(Kind::Cancel, 0, key).encode());
        // SAFETY: a cancel request references no memory of ours.
        unsafe { self.push(entry) };
    }

    /// Queues `entry`, or keeps it for the next submit when the submission queue is full.
    ///
    /// # Safety
    /// Everything `entry` points to must stay valid until its (last) completion is read.
    pub(super) unsafe fn push(&mut self, entry: squeue::Entry) {
        // Behind a backlog, queue behind it too: order matters (an arm before its cancel).
        // SAFETY: passed on from the caller.
        if !self.backlog.is_empty() || unsafe { self.ring.submission().push(&entry) }.is_err() {
            self.backlog.push_back(entry);
        }
    }

    /// Moves the backlog into the submission queue, submitting whenever the queue fills up.
    pub(super) fn flush_backlog(&mut self) -> io::Result<()> {
        while let Some(entry) = self.backlog.pop_front() {
            // SAFETY: each backlog entry met `push`'s contract when it was queued.
            if unsafe { self.ring.submission().push(&entry) }.is_err() {
                self.backlog.push_front(entry);
                if self.ring.submit()? == 0 {
                    // The kernel took nothing (completion queue overflowing): retry next pass.
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}
