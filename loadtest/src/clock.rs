//! The one clock of the load tester: CLOCK_MONOTONIC in nanoseconds.
//!
//! The publisher stamps each video frame with its scheduled send time on this clock and the
//! players subtract it from their receive time, so latency is only meaningful when publisher
//! and players run on the same host (they do: one process). Never touches the wall clock.

/// Nanoseconds since an arbitrary fixed point (boot), never going backwards.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    debug_assert_eq!(rc, 0);
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}

pub const NS_PER_MS: u64 = 1_000_000;
pub const NS_PER_SEC: u64 = 1_000_000_000;

/// Milliseconds (fractional) between two clock readings, 0 if `later` is not later.
pub fn ms_between(earlier: u64, later: u64) -> f64 {
    later.saturating_sub(earlier) as f64 / NS_PER_MS as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic() {
        let a = now_ns();
        let b = now_ns();
        assert!(b >= a);
        assert!(a > 0);
        assert_eq!(ms_between(b, a), 0.0);
        assert_eq!(ms_between(0, 1_500_000), 1.5);
    }
}
