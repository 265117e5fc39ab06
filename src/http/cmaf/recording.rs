//! Recording support: a stream's segments written out as one fragmented MP4 file.
//!
//! An init segment followed by its fragments is a valid fragmented MP4, so recording is
//! concatenation: [`write_recording`] writes the muxed init of the first segment's version,
//! then every part's fragments in order, stopping before the first segment that needs another
//! init (a new file is needed there). Writes into any `io::Write`; the caller owns the file.
use super::store::Snapshot;
use std::io::{self, Write};

/// Writes `snapshot`'s complete segments from `from_msn` on as one fragmented MP4. Returns the
/// msn of the first segment not written (a later init version, or the end of the window).
pub fn write_recording(
    snapshot: &Snapshot,
    from_msn: u64,
    out: &mut impl Write,
) -> io::Result<u64> {
    let mut segments = snapshot
        .segments
        .iter()
        .filter(|s| s.msn >= from_msn)
        .peekable();
    let Some(first) = segments.peek() else {
        return Ok(from_msn);
    };
    let version = first.init;
    let mut next = first.msn;
    let init = snapshot
        .init(version)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "init segment evicted"))?;
    out.write_all(&init.muxed)?;
    for segment in segments {
        if segment.init != version {
            break;
        }
        for chunk in segment.muxed() {
            out.write_all(&chunk)?;
        }
        next = segment.msn + 1;
    }
    Ok(next)
}
