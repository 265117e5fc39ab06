//! HLS media playlists (RFC 8216bis with Low-Latency HLS) over a stream's CMAF window, and
//! the blocking-reload decision for `_HLS_msn` / `_HLS_part`.
//!
//! [`media_playlist`] writes `index.m3u8`: EXT-X-MAP per init version, one EXTINF per complete
//! segment, and with `low_latency` the LL-HLS tags: EXT-X-SERVER-CONTROL
//! (CAN-BLOCK-RELOAD=YES, PART-HOLD-BACK, HOLD-BACK), EXT-X-PART-INF, EXT-X-PART for the parts
//! of the newest segments and of the open one, and EXT-X-PRELOAD-HINT for the next part.
//! Clients that do not know the LL tags ignore them (FFmpeg and GStreamer do; see the
//! interop tests), so one playlist serves both; `low_latency: false` gives the plain form.
//! [`blocking_reload`] says whether a request may be answered now. URIs are relative
//! ([`Resource::name`]), so the playlist lives beside its files; each carries the caller's
//! `query` (the request's credentials, so segment requests pass the same access checks).
//! Pure: no I/O, no clock.
use crate::http::cmaf::{Resource, Segment, Snapshot};
use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Parts are listed for segments within this many target durations of the live edge (the
/// RFC asks for at least three).
const PART_LIST_TARGETS: u64 = 3;
/// PART-HOLD-BACK in part targets (the RFC's minimum is 2; 3 is the recommended value).
const PART_HOLD_BACK_PARTS: u64 = 3;
/// HOLD-BACK in target durations (the RFC's minimum).
const HOLD_BACK_TARGETS: u64 = 3;

/// What to do with a playlist request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// Answer now with the current playlist.
    Ready,
    /// Hold the request until segment `msn` (part `part`, when given) is in the playlist:
    /// re-check whenever the stream's version moves; give up after 3 target durations.
    WaitUntil { msn: u64, part: Option<u64> },
    /// 400: `_HLS_part` without `_HLS_msn`, or an msn more than two segments ahead.
    BadRequest,
}

/// An `_HLS_msn` / `_HLS_part` value that is not a decimal number (answer 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("_HLS_msn / _HLS_part must be decimal numbers")]
pub struct BadQuery;

/// The LL-HLS query of a playlist request: `_HLS_msn`, `_HLS_part` (other keys, such as
/// `_HLS_skip`, are ignored). Err for a value that is not a decimal number: answer 400.
pub fn parse_query(query: &str) -> Result<(Option<u64>, Option<u64>), BadQuery> {
    let mut msn = None;
    let mut part = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match key {
            "_HLS_msn" => &mut msn,
            "_HLS_part" => &mut part,
            _ => continue,
        };
        let valid =
            !value.is_empty() && value.len() <= 19 && value.bytes().all(|b| b.is_ascii_digit());
        *slot = Some(if valid {
            value.parse().map_err(|_| BadQuery)?
        } else {
            return Err(BadQuery);
        });
    }
    Ok((msn, part))
}

/// The `_HLS_msn` / `_HLS_part` decision of RFC 8216bis section 6.2.5.2.
pub fn blocking_reload(snapshot: &Snapshot, msn: Option<u64>, part: Option<u64>) -> Reload {
    let Some(msn) = msn else {
        return if part.is_some() {
            Reload::BadRequest
        } else {
            Reload::Ready
        };
    };
    // The last segment in the playlist: the open one once it has a part.
    let last = match &snapshot.open {
        Some(open) if !open.parts.is_empty() => Some(open.msn),
        _ => snapshot.last_complete_msn(),
    };
    if msn > last.map_or(0, |m| m + 1) + 1 {
        return Reload::BadRequest;
    }
    if snapshot.ended {
        return Reload::Ready;
    }
    let ready = match part {
        None => snapshot.last_complete_msn().is_some_and(|m| m >= msn),
        Some(p) => {
            let has_part = snapshot
                .segment(msn)
                .is_some_and(|s| (p as usize) < s.parts.len() || s.is_complete());
            has_part || last.is_some_and(|m| m > msn)
        }
    };
    if ready {
        Reload::Ready
    } else {
        Reload::WaitUntil { msn, part }
    }
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// ISO 8601 UTC with milliseconds (`2026-12-02T01:02:03.456Z`).
pub fn iso8601(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm), valid for every date after 1970.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// `name` with `?query` when there is one.
pub(crate) fn uri(name: &str, query: &str) -> String {
    if query.is_empty() {
        name.to_owned()
    } else {
        format!("{name}?{query}")
    }
}

/// The media playlist of `snapshot`; see the module doc. `query` (without `?`, empty for
/// none) is appended to every URI; it must hold no `"` or line break.
pub fn media_playlist(snapshot: &Snapshot, low_latency: bool, query: &str) -> String {
    let timing = snapshot.timing;
    // EXTINF rounded to the nearest second must not exceed the target (RFC 8216bis 4.4.3.1).
    let target_s = (timing.max_segment_ms + 500) / 1000;
    let target_s = target_s.max(1);
    let mut out = String::with_capacity(2048);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:6\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target_s}");
    if low_latency {
        let _ = writeln!(
            out,
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={},HOLD-BACK={}",
            seconds(timing.part_target_ms * PART_HOLD_BACK_PARTS),
            seconds(target_s * 1000 * HOLD_BACK_TARGETS)
        );
        let _ = writeln!(
            out,
            "#EXT-X-PART-INF:PART-TARGET={}",
            seconds(timing.part_target_ms)
        );
    }
    let first_msn = snapshot
        .segments
        .first()
        .or(snapshot.open.as_ref())
        .map_or(0, |s| s.msn);
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first_msn}");
    let _ = writeln!(
        out,
        "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
        snapshot.discontinuity_sequence
    );
    let mut init = None;
    let edge_ms = snapshot
        .open
        .as_ref()
        .map(|s| s.start_ms)
        .or_else(|| snapshot.segments.last().map(|s| s.start_ms + s.duration_ms))
        .unwrap_or(0);
    let part_horizon = edge_ms.saturating_sub(PART_LIST_TARGETS * target_s * 1000);
    for segment in &snapshot.segments {
        segment_header(&mut out, snapshot, segment, &mut init, query);
        if low_latency && segment.start_ms + segment.duration_ms > part_horizon {
            parts(&mut out, segment, query);
        }
        let _ = writeln!(out, "#EXTINF:{},", seconds(segment.duration_ms));
        let _ = writeln!(
            out,
            "{}",
            uri(&Resource::Segment(segment.msn).name(), query)
        );
    }
    if low_latency {
        if let Some(open) = snapshot.open.as_ref().filter(|s| !s.parts.is_empty()) {
            segment_header(&mut out, snapshot, open, &mut init, query);
            parts(&mut out, open, query);
        }
        if let Some((msn, part)) = snapshot.next_part() {
            let _ = writeln!(
                out,
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"",
                uri(&Resource::Part(msn, part).name(), query)
            );
        }
    }
    if snapshot.ended {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

/// DISCONTINUITY, MAP (when the init changes) and PROGRAM-DATE-TIME before a segment.
fn segment_header(
    out: &mut String,
    snapshot: &Snapshot,
    segment: &Segment,
    init: &mut Option<u32>,
    query: &str,
) {
    // Also before the first segment: EXT-X-DISCONTINUITY-SEQUENCE counts the tag only once
    // its segment has left the window.
    if segment.discontinuity {
        out.push_str("#EXT-X-DISCONTINUITY\n");
    }
    if *init != Some(segment.init) {
        let _ = writeln!(
            out,
            "#EXT-X-MAP:URI=\"{}\"",
            uri(&Resource::Init(segment.init).name(), query)
        );
        *init = Some(segment.init);
    }
    if let Some((anchor_ms, anchor_at)) = snapshot.anchor {
        let offset = std::time::Duration::from_millis(segment.start_ms.saturating_sub(anchor_ms));
        let pdt = snapshot.clock.at(anchor_at) + offset;
        let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", iso8601(pdt));
    }
}

fn parts(out: &mut String, segment: &Segment, query: &str) {
    for (index, part) in segment.parts.iter().enumerate() {
        let _ = write!(
            out,
            "#EXT-X-PART:DURATION={},URI=\"{}\"",
            seconds(part.duration_ms),
            uri(&Resource::Part(segment.msn, index as u32).name(), query)
        );
        if part.independent {
            out.push_str(",INDEPENDENT=YES");
        }
        out.push('\n');
    }
}

#[cfg(test)]
#[path = "hls_tests.rs"]
mod tests;
