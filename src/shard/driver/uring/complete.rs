//! Completions in: what each kind of completion means, and what the layer does about it.
//!
//! Every completion is matched to its slot by its [`Tag`]; one whose slot has a new tenant (another
//! generation) or is closing is swallowed, and any receive buffer it carries goes back at once.
//! Receives and accepts that end are re-armed here. Called only from [`UringIo::drain`].

use super::ring::{Kind, Tag};
use super::{Completion, UringIo};
use io_uring::cqueue;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

impl UringIo {
    pub(super) fn handle(&mut self, cqe: cqueue::Entry, f: &mut impl FnMut(Completion<'_>)) {
        let Some(tag) = Tag::decode(cqe.user_data()) else {
            self.give_back_buffer(cqe.flags());
            return;
        };
        match tag.kind {
            Kind::Accept => self.on_accept(tag.slot as usize, &cqe, f),
            Kind::AcceptBackoff => {
                if let Some(Some(l)) = self.listeners.get_mut(tag.slot as usize) {
                    l.armed = false;
                    self.arm_accept(tag.slot as usize);
                }
            }
            Kind::Recv => self.on_recv(tag, &cqe, f),
            Kind::Send => self.on_send(tag, &cqe, f),
            Kind::Waker => self.on_waker(&cqe, f),
            Kind::Cancel => {}
        }
    }

    pub(super) fn on_accept(
        &mut self,
        listener: usize,
        cqe: &cqueue::Entry,
        f: &mut impl FnMut(Completion<'_>),
    ) {
        let more = cqueue::more(cqe.flags());
        let res = cqe.result();
        if res >= 0 {
            // SAFETY: a successful accept completion carries a new descriptor that the kernel
            // installed for us and that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(res as RawFd) };
            let known = matches!(self.listeners.get(listener), Some(Some(_)));
            if known && !self.shutting_down {
                // A peer that reset before we asked has no address: drop it unreported.
                if let Some(peer) = peer_addr(&fd) {
                    f(Completion::Accepted { listener, fd, peer });
                }
            }
        }
        let Some(Some(l)) = self.listeners.get_mut(listener) else {
            return;
        };
        if more {
            return;
        }
        l.armed = false;
        if self.shutting_down {
            return;
        }
        match -res {
            // Ended without error (or with a harmless error from one connection): accept again.
            e if e <= 0
                || matches!(
                    e,
                    libc::ECONNABORTED | libc::EINTR | libc::EAGAIN | libc::EPROTO
                ) =>
            {
                self.rearm_accept.push(listener)
            }
            e => {
                f(Completion::AcceptFailed {
                    listener,
                    error: io::Error::from_raw_os_error(e),
                });
                self.arm_accept_backoff(listener);
            }
        }
    }

    pub(super) fn on_recv(
        &mut self,
        tag: Tag,
        cqe: &cqueue::Entry,
        f: &mut impl FnMut(Completion<'_>),
    ) {
        let (res, flags) = (cqe.result(), cqe.flags());
        let more = cqueue::more(flags);
        let bid = cqueue::buffer_select(flags);
        let Some(c) = self
            .conns
            .get_mut(tag.slot as usize)
            .filter(|c| c.generation == tag.generation)
        else {
            self.give_back_buffer(flags);
            return;
        };
        if !more {
            c.recv_armed = false;
        }
        let conn = c.conn;
        if c.closing || self.shutting_down {
            self.give_back_buffer(flags);
            if more {
                // Data raced with our cancel: cancel again, or the receive would go on forever.
                self.cancel_conn(tag.slot);
            }
            self.free_if_done(tag.slot);
            return;
        }
        if res > 0 {
            match bid.and_then(|b| self.bufs.data(b, res as usize)) {
                Some(data) => f(Completion::Received { conn, data }),
                None => {
                    let error = io::Error::other("receive completion without a valid buffer");
                    f(Completion::RecvClosed {
                        conn,
                        error: Some(error),
                    });
                    self.give_back_buffer(flags);
                    return;
                }
            }
            self.give_back_buffer(flags);
            if !more {
                self.arm_recv(tag.slot);
            }
            return;
        }
        self.give_back_buffer(flags);
        match -res {
            0 => f(Completion::RecvClosed { conn, error: None }),
            // Out of buffers: every buffer is back once this drain ends; then receive again.
            libc::ENOBUFS | libc::EINTR | libc::EAGAIN => {
                self.rearm_recv.push((tag.slot, tag.generation))
            }
            e => f(Completion::RecvClosed {
                conn,
                error: Some(io::Error::from_raw_os_error(e)),
            }),
        }
    }

    pub(super) fn on_send(
        &mut self,
        tag: Tag,
        cqe: &cqueue::Entry,
        f: &mut impl FnMut(Completion<'_>),
    ) {
        let Some(c) = self
            .conns
            .get_mut(tag.slot as usize)
            .filter(|c| c.generation == tag.generation)
        else {
            return;
        };
        // The kernel is done with the msghdr, iovecs and bytes: drop them now.
        drop(c.send.take());
        let conn = c.conn;
        if c.closing || self.shutting_down {
            self.free_if_done(tag.slot);
            return;
        }
        let res = cqe.result();
        let result = if res >= 0 {
            Ok(res as usize)
        } else {
            Err(io::Error::from_raw_os_error(-res))
        };
        f(Completion::Sent { conn, result });
    }

    pub(super) fn on_waker(&mut self, cqe: &cqueue::Entry, f: &mut impl FnMut(Completion<'_>)) {
        let Some(w) = self.waker.as_mut() else {
            return;
        };
        w.armed = false;
        if self.shutting_down {
            return;
        }
        let res = cqe.result();
        f(Completion::Woken);
        if res == 8 || res == -libc::EINTR {
            self.arm_waker();
        } else {
            // A failing read would fail again at once: stop rather than spin.
            let error = io::Error::from_raw_os_error(-res.min(0));
            tracing::warn!(result = res, %error, "io_uring waker read failed; waker disarmed");
        }
    }

    pub(super) fn rearm_after_drain(&mut self) {
        let recvs = std::mem::take(&mut self.rearm_recv);
        for (key, generation) in &recvs {
            let live = self
                .conns
                .get(*key as usize)
                .is_some_and(|c| c.generation == *generation && !c.closing && !c.recv_armed);
            if live {
                self.arm_recv(*key);
            }
        }
        self.rearm_recv = recvs;
        self.rearm_recv.clear();
        let accepts = std::mem::take(&mut self.rearm_accept);
        for &listener in &accepts {
            self.arm_accept(listener);
        }
        self.rearm_accept = accepts;
        self.rearm_accept.clear();
    }

    pub(super) fn key_of(&self, conn: usize) -> Option<u32> {
        self.conn_keys.get(conn).copied().flatten()
    }

    pub(super) fn give_back_buffer(&mut self, flags: u32) {
        if let Some(bid) = cqueue::buffer_select(flags) {
            self.bufs.give_back(bid);
        }
    }

    pub(super) fn free_if_done(&mut self, key: u32) {
        let done = self
            .conns
            .get(key as usize)
            .is_some_and(|c| c.closing && !c.recv_armed && c.send.is_none());
        if done {
            // Dropping the slot closes the socket.
            self.conns.remove(key as usize);
        }
    }
}

fn peer_addr(fd: &OwnedFd) -> Option<SocketAddr> {
    socket2::SockRef::from(fd).peer_addr().ok()?.as_socket()
}
