//! What one vectored send pins until its completion: the `Bytes`, their iovecs and the msghdr.
//!
//! A [`PinnedSend`] is boxed and kept in the connection's slot from the moment its `SENDMSG` is
//! queued until the kernel's completion for it has been read, so every pointer the kernel holds
//! stays valid. Never submits anything itself.

use bytes::Bytes;

/// `UIO_MAXIOV`: sendmsg refuses more iovecs than this with `EMSGSIZE`.
pub(crate) const MAX_IOVECS: usize = 1024;

pub(crate) struct PinnedSend {
    /// Owned until the completion; their heap bytes do not move when the `Vec` or `Box` does.
    _bufs: Vec<Bytes>,
    /// One per non-empty buffer, at most [`MAX_IOVECS`]; never resized after `new`. Read by
    /// the kernel through `msghdr`, which is why nothing here reads it.
    #[cfg_attr(not(test), allow(dead_code))]
    iovecs: Vec<libc::iovec>,
    /// Points at `iovecs`' heap array.
    msghdr: libc::msghdr,
}

impl PinnedSend {
    /// Describes `bufs` in one msghdr. Empty buffers are skipped; past [`MAX_IOVECS`] non-empty
    /// buffers the rest are kept (and dropped with the rest) but not sent, which the caller sees
    /// as a partial send.
    pub fn new(bufs: Vec<Bytes>) -> Box<PinnedSend> {
        let iovecs: Vec<libc::iovec> = bufs
            .iter()
            .filter(|b| !b.is_empty())
            .take(MAX_IOVECS)
            .map(|b| libc::iovec {
                // The kernel only reads through this pointer (sendmsg); `*mut` is the C type.
                iov_base: b.as_ptr().cast_mut().cast(),
                iov_len: b.len(),
            })
            .collect();
        // SAFETY: msghdr is a plain C struct for which all-zero is a valid value (no name, no
        // control data, no flags).
        let mut msghdr: libc::msghdr = unsafe { std::mem::zeroed() };
        msghdr.msg_iov = iovecs.as_ptr().cast_mut();
        msghdr.msg_iovlen = iovecs.len() as _;
        Box::new(PinnedSend {
            _bufs: bufs,
            iovecs,
            msghdr,
        })
    }

    /// The msghdr to hand to `SENDMSG`; valid while `self` lives.
    pub fn msghdr(&self) -> *const libc::msghdr {
        &self.msghdr
    }

    /// Bytes described by the iovecs.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.iovecs.iter().map(|v| v.iov_len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_empty_and_caps_iovecs() {
        let bufs = vec![
            Bytes::from_static(b"ab"),
            Bytes::new(),
            Bytes::from_static(b"c"),
        ];
        let p = PinnedSend::new(bufs);
        assert_eq!(p.len(), 3);
        let many = (0..MAX_IOVECS + 5)
            .map(|_| Bytes::from_static(b"x"))
            .collect();
        assert_eq!(PinnedSend::new(many).len(), MAX_IOVECS);
    }
}
