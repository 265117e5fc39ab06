//! An eventfd that other threads write to so that a ring's wait ends.
//!
//! [`EventFdWaker::new`] returns the writing half (`Send + Sync`, shared by any number of threads)
//! and the reading half, which goes to [`super::UringIo::set_waker`]; the ring keeps a read armed
//! on it and reports [`super::Completion::Woken`]. Several wakes before the read count as one.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{FromRawFd, OwnedFd};

/// The writing half of the waker eventfd.
#[derive(Debug)]
pub(crate) struct EventFdWaker(File);

impl EventFdWaker {
    /// A new blocking eventfd (counter 0, close-on-exec): the waker and a duplicate descriptor of
    /// it for the ring to read.
    pub fn new() -> io::Result<(EventFdWaker, OwnedFd)> {
        // SAFETY: eventfd takes no pointers; a negative return is an error, checked below.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let reader = fd.try_clone()?;
        Ok((EventFdWaker(File::from(fd)), reader))
    }

    /// Adds 1 to the counter, which makes the ring's pending read complete. Never blocks in
    /// practice (only a counter near 2^64 would); errors other than `EINTR` are ignored, since
    /// the only one possible, a full counter, means a wake is pending anyway.
    pub fn wake(&self) {
        loop {
            match (&self.0).write(&1u64.to_ne_bytes()) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                _ => return,
            }
        }
    }
}
