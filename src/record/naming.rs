//! Recording file names: `DIR/APP/STREAM/STREAM-YYYYMMDD-HHMMSS.EXT`, in UTC, from a wall
//! clock the caller passes in (this module never reads one).
//!
//! App and stream names come off the network, so each becomes one safe path component:
//! ASCII letters, digits, `-`, `_` and `.` are kept, every other byte (slashes, NUL,
//! control characters, spaces, non-ASCII) becomes `_`; a name made only of dots (`.`, `..`)
//! or empty becomes `_`, and at most [`MAX_COMPONENT`] bytes are kept. No name can climb
//! out of the directory. Pure functions.
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest app or stream component kept (file systems allow 255 bytes for the whole name,
/// which also holds the date and the extension).
pub const MAX_COMPONENT: usize = 200;

/// `name` as one safe path component (see the module doc).
pub fn sanitize(name: &str) -> String {
    let mut out: String = name
        .bytes()
        .take(MAX_COMPONENT)
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => b as char,
            _ => '_',
        })
        .collect();
    if out.bytes().all(|b| b == b'.') {
        out = "_".repeat(out.len().max(1));
    }
    out
}

/// The directory of one stream's files: `DIR/APP/STREAM`.
pub fn stream_dir(dir: &Path, app: &str, stream: &str) -> PathBuf {
    dir.join(sanitize(app)).join(sanitize(stream))
}

/// The file name for a file opened at `wall`: `STREAM-YYYYMMDD-HHMMSS.EXT`; `attempt` > 0
/// adds `-N` (a second file within the same second).
pub fn file_name(stream: &str, wall: SystemTime, extension: &str, attempt: u32) -> String {
    let secs = wall
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (y, mo, d, h, mi, s) = utc_fields(secs);
    let mut name = format!(
        "{}-{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}",
        sanitize(stream)
    );
    if attempt > 0 {
        name.push_str(&format!("-{attempt}"));
    }
    name.push('.');
    name.push_str(extension);
    name
}

/// Year, month, day, hour, minute, second of a Unix time in UTC. std has no calendar; this
/// is the proleptic Gregorian conversion from days (H. Hinnant's `civil_from_days`).
fn utc_fields(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem / 3600, rem / 60 % 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn names_carry_the_utc_time() {
        assert_eq!(file_name("cam", at(0), "flv", 0), "cam-19700101-000000.flv");
        // 2026-12-02 01:02:03 UTC.
        assert_eq!(
            file_name("cam", at(1_796_173_323), "flv", 0),
            "cam-20261202-010203.flv"
        );
        // A leap day, and the second file of a second.
        assert_eq!(
            file_name("cam", at(951_782_400 + 59), "mp4", 2),
            "cam-20000229-000059-2.mp4"
        );
        assert_eq!(utc_fields(-1), (1969, 12, 31, 23, 59, 59));
    }

    #[test]
    fn unsafe_names_are_made_safe() {
        assert_eq!(sanitize("cam_1-HD.v2"), "cam_1-HD.v2");
        assert_eq!(sanitize("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(sanitize(".."), "__");
        assert_eq!(sanitize("."), "_");
        assert_eq!(sanitize(""), "_");
        assert_eq!(sanitize("a/b\\c\0d e"), "a_b_c_d_e");
        assert_eq!(sanitize("é"), "__");
        assert_eq!(sanitize(&"x".repeat(1000)).len(), MAX_COMPONENT);
        let dir = stream_dir(Path::new("/rec"), "..", "../x");
        assert_eq!(dir, Path::new("/rec/__/.._x"));
        assert!(dir.starts_with("/rec"));
        let name = file_name("a/../b\0", at(0), "flv", 0);
        assert!(!name.contains('/') && !name.contains('\0'), "{name}");
    }
}
