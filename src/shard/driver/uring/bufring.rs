//! The provided-buffer ring that every multishot receive of one ring shares.
//!
//! A fixed number of equal buffers in one allocation, announced to the kernel through a ring of
//! `io_uring_buf` entries (`IORING_REGISTER_PBUF_RING`, Linux 5.19). The kernel picks a buffer
//! when data arrives and names it in the completion (`IORING_CQE_F_BUFFER`); the layer lends the
//! bytes to its caller for one callback and then hands the buffer back with [`BufRing::give_back`].
//! Never grows, never registers or unregisters itself: the owner does that with the ring, and must
//! unregister before this memory is freed.

use io_uring::types::BufRingEntry;
use std::alloc::{self, Layout};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

/// Buffers start on a page boundary (the entry ring must; the buffers merely like to).
fn page_size() -> usize {
    // SAFETY: sysconf only reads a constant of the running system.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|s| s.is_power_of_two())
        .unwrap_or(4096)
}

pub(crate) struct BufRing {
    /// `entries` entries of 16 bytes; the first entry's reserved field is the ring's tail.
    ring: NonNull<BufRingEntry>,
    ring_layout: Layout,
    /// `entries * buf_size` bytes the kernel writes into.
    bufs: NonNull<u8>,
    bufs_layout: Layout,
    entries: u16,
    buf_size: u32,
    /// Our copy of the tail: entries up to here have been handed to the kernel.
    tail: u16,
    /// Set when the kernel may still use the memory; then drop leaks it instead of freeing.
    leak: bool,
}

impl BufRing {
    /// Allocates `entries` (a power of two, at most 32768) buffers of `buf_size` bytes, all
    /// zeroed. Nothing is visible to the kernel until the owner registers [`Self::ring_addr`] and
    /// calls [`Self::fill`].
    pub fn new(entries: u16, buf_size: usize) -> io::Result<BufRing> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
        if entries == 0 || !entries.is_power_of_two() || entries > 32768 {
            return Err(invalid(
                "recv_buffers must be a power of two between 1 and 32768",
            ));
        }
        let buf_size32 = u32::try_from(buf_size)
            .ok()
            .filter(|&s| s > 0)
            .ok_or_else(|| invalid("recv_buffer_size must be between 1 and u32::MAX"))?;
        let total = buf_size
            .checked_mul(usize::from(entries))
            .ok_or_else(|| invalid("recv_buffers * recv_buffer_size overflows"))?;
        let ring_layout = Layout::from_size_align(
            usize::from(entries) * std::mem::size_of::<BufRingEntry>(),
            page_size(),
        )
        .map_err(|_| invalid("buffer ring layout"))?;
        let bufs_layout =
            Layout::from_size_align(total, page_size()).map_err(|_| invalid("buffer layout"))?;
        // SAFETY: both layouts have a non-zero size (entries >= 1, buf_size >= 1).
        let ring = NonNull::new(unsafe { alloc::alloc_zeroed(ring_layout) }.cast::<BufRingEntry>());
        let Some(ring) = ring else {
            return Err(io::ErrorKind::OutOfMemory.into());
        };
        // SAFETY: as above.
        let Some(bufs) = NonNull::new(unsafe { alloc::alloc_zeroed(bufs_layout) }) else {
            // SAFETY: `ring` was allocated just above with `ring_layout` and never shared.
            unsafe { alloc::dealloc(ring.as_ptr().cast(), ring_layout) };
            return Err(io::ErrorKind::OutOfMemory.into());
        };
        Ok(BufRing {
            ring,
            ring_layout,
            bufs,
            bufs_layout,
            entries,
            buf_size: buf_size32,
            tail: 0,
            leak: false,
        })
    }

    pub fn ring_addr(&self) -> u64 {
        self.ring.as_ptr() as u64
    }

    pub fn entries(&self) -> u16 {
        self.entries
    }

    /// Hands every buffer to the kernel. Call once, right after registering the ring.
    pub fn fill(&mut self) {
        for bid in 0..self.entries {
            self.put(bid);
        }
        self.publish();
    }

    /// The bytes the kernel wrote into buffer `bid`, or `None` when the kernel's numbers are out
    /// of range (never expected; the caller then treats the completion as an error).
    ///
    /// Only call for a buffer a completion has just handed over and that has not been given back:
    /// then the kernel does not write into it until [`Self::give_back`].
    pub fn data(&self, bid: u16, len: usize) -> Option<&[u8]> {
        if bid >= self.entries || len > self.buf_size as usize {
            return None;
        }
        let offset = usize::from(bid) * self.buf_size as usize;
        // SAFETY: `offset + len` lies inside the `entries * buf_size` allocation (checked above),
        // which lives as long as `self`; the kernel owns a buffer only between `put` and the
        // completion naming it, so while the caller holds this borrow (before `give_back`, which
        // takes `&mut self`) nothing writes these bytes.
        Some(unsafe { std::slice::from_raw_parts(self.bufs.as_ptr().add(offset), len) })
    }

    /// Returns buffer `bid` to the kernel. Out-of-range ids are ignored.
    pub fn give_back(&mut self, bid: u16) {
        if bid < self.entries {
            self.put(bid);
            self.publish();
        }
    }

    /// Keeps the memory alive forever: for a ring that could not be shut down cleanly.
    pub fn leak_on_drop(&mut self) {
        self.leak = true;
    }

    fn put(&mut self, bid: u16) {
        let idx = usize::from(self.tail & (self.entries - 1));
        let addr = self.bufs.as_ptr() as u64 + u64::from(bid) * u64::from(self.buf_size);
        // SAFETY: `idx < entries`, so the entry lies inside the ring allocation. The kernel reads
        // entries only up to the published tail, and this one is past it (the kernel has consumed
        // it, or it was never published), so nobody reads it while we write. The three setters
        // leave the entry's reserved field, which in entry 0 is the shared tail, untouched.
        let entry = unsafe { &mut *self.ring.as_ptr().add(idx) };
        entry.set_addr(addr);
        entry.set_len(self.buf_size);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: `ring` points at entry 0 of the ring, which is initialised (zeroed, then set by
        // `put`); `tail` returns the address of its 16-bit reserved field, 2-byte aligned, that
        // the kernel reads as the tail. The kernel only reads it, so an atomic release store is
        // the right access and makes the entries written before it visible first.
        let tail =
            unsafe { AtomicU16::from_ptr(BufRingEntry::tail(self.ring.as_ptr()).cast_mut()) };
        tail.store(self.tail, Ordering::Release);
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        if self.leak {
            return;
        }
        // SAFETY: both blocks were allocated in `new` with these layouts. The owner unregistered
        // the ring (or never registered it) and saw every receive finish before dropping us, so
        // the kernel no longer reads the entries or writes the buffers.
        unsafe {
            alloc::dealloc(self.ring.as_ptr().cast(), self.ring_layout);
            alloc::dealloc(self.bufs.as_ptr(), self.bufs_layout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_sizes() {
        assert!(BufRing::new(0, 4096).is_err());
        assert!(BufRing::new(3, 4096).is_err());
        assert!(BufRing::new(4, 0).is_err());
        assert!(BufRing::new(4, 16).is_ok());
    }

    #[test]
    fn data_checks_range() {
        let ring = BufRing::new(4, 16).expect("alloc");
        assert_eq!(ring.data(3, 16).map(<[u8]>::len), Some(16));
        assert!(ring.data(4, 1).is_none());
        assert!(ring.data(0, 17).is_none());
    }
}
