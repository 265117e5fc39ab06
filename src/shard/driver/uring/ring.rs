//! Ring setup and the `user_data` tag of every operation.
//!
//! [`build_ring`] tries the best setup flags first and falls back when the kernel refuses them
//! with `EINVAL`; [`Tag`] packs what an operation was for (its kind, a slot and the slot's
//! generation) into the 64 bits the kernel hands back with each completion. Nothing here submits.

use io_uring::IoUring;
use std::fmt;
use std::io;

/// The setup flags a ring was built with, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetupMode {
    /// `IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN` (Linux 6.1): completions are
    /// posted only when this thread enters the kernel to wait, never by interrupting it.
    SingleIssuerDeferTaskrun,
    /// `IORING_SETUP_COOP_TASKRUN` (Linux 5.19): no inter-processor interrupt to run task work.
    CoopTaskrun,
    /// No setup flags.
    Plain,
}

impl fmt::Display for SetupMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SetupMode::SingleIssuerDeferTaskrun => "SINGLE_ISSUER|DEFER_TASKRUN",
            SetupMode::CoopTaskrun => "COOP_TASKRUN",
            SetupMode::Plain => "plain",
        })
    }
}

/// Builds a ring of `entries` submission entries and `4 * entries` completion entries (multishot
/// operations post several completions per submission), with the best setup flags the kernel
/// accepts. Any error other than `EINVAL` (`EPERM`, `ENOSYS`, `ENOMEM`) is returned at once.
pub(crate) fn build_ring(entries: u32) -> io::Result<(IoUring, SetupMode)> {
    let cq_entries = entries.saturating_mul(4);
    let modes = [
        SetupMode::SingleIssuerDeferTaskrun,
        SetupMode::CoopTaskrun,
        SetupMode::Plain,
    ];
    let mut last = io::Error::from_raw_os_error(libc::EINVAL);
    for mode in modes {
        let mut builder = IoUring::builder();
        builder.setup_cqsize(cq_entries).setup_clamp();
        match mode {
            SetupMode::SingleIssuerDeferTaskrun => {
                builder.setup_single_issuer().setup_defer_taskrun();
            }
            SetupMode::CoopTaskrun => {
                builder.setup_coop_taskrun();
            }
            SetupMode::Plain => {}
        }
        match builder.build(entries) {
            Ok(ring) => return Ok((ring, mode)),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// What an operation was submitted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Accept = 1,
    AcceptBackoff = 2,
    Recv = 3,
    Send = 4,
    Waker = 5,
    /// A cancel request's own completion; always ignored.
    Cancel = 6,
}

impl Kind {
    fn from_u8(v: u8) -> Option<Kind> {
        Some(match v {
            1 => Kind::Accept,
            2 => Kind::AcceptBackoff,
            3 => Kind::Recv,
            4 => Kind::Send,
            5 => Kind::Waker,
            6 => Kind::Cancel,
            _ => return None,
        })
    }
}

/// The `user_data` of an operation: kind (8 bits), generation (24 bits), slot (32 bits).
///
/// The slot is an index into the layer's own tables (a listener id, or the internal key of a
/// connection); the generation tells a slot's current tenant from an earlier one, so a late
/// completion of a closed connection is recognised and swallowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tag {
    pub kind: Kind,
    pub generation: u32,
    pub slot: u32,
}

/// Generations wrap within these bits.
pub(crate) const GENERATION_MASK: u32 = (1 << 24) - 1;

impl Tag {
    pub fn new(kind: Kind, generation: u32, slot: u32) -> Tag {
        Tag {
            kind,
            generation: generation & GENERATION_MASK,
            slot,
        }
    }

    pub fn encode(self) -> u64 {
        (self.kind as u64) << 56
            | u64::from(self.generation & GENERATION_MASK) << 32
            | u64::from(self.slot)
    }

    /// `None` for a value this layer never submitted.
    pub fn decode(user_data: u64) -> Option<Tag> {
        let kind = Kind::from_u8((user_data >> 56) as u8)?;
        Some(Tag {
            kind,
            generation: (user_data >> 32) as u32 & GENERATION_MASK,
            slot: user_data as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_round_trips() {
        for kind in [
            Kind::Accept,
            Kind::AcceptBackoff,
            Kind::Recv,
            Kind::Send,
            Kind::Waker,
            Kind::Cancel,
        ] {
            for (generation, slot) in [(0, 0), (1, 7), (GENERATION_MASK, u32::MAX)] {
                let tag = Tag::new(kind, generation, slot);
                assert_eq!(Tag::decode(tag.encode()), Some(tag));
            }
        }
        assert_eq!(Tag::new(Kind::Recv, GENERATION_MASK + 1, 3).generation, 0);
        assert_eq!(Tag::decode(0), None);
    }
}
