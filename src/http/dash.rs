//! The DASH manifest (`index.mpd`) over a stream's CMAF window: a dynamic MPD with one
//! adaptation set per track (dash.js plays no multiplexed representations), SegmentTemplate
//! with `$Number$` and a SegmentTimeline of the complete segments, and the low-latency
//! attributes: `availabilityTimeOffset` with `availabilityTimeComplete="false"` (a segment
//! may be fetched while it is cut, its parts arriving by chunked transfer), a
//! ServiceDescription latency target, and UTCTiming by `urn:mpeg:dash:utc:direct:2014` (the
//! server's time written in the MPD itself: no extra route).
//!
//! Only the segments of the newest init version are listed (one Period per init version,
//! id = the version): a configuration change starts a new Period. Times: the Period starts at
//! 0 and the track timelines are the segmenter's (video 90 kHz, audio its sample rate), so a
//! segment ending at media time `e` is available at `availabilityStartTime + e`.
//! The initialization and media templates carry the caller's `query` (the request's
//! credentials, XML-escaped), so segment requests pass the same access checks.
//! Pure: no I/O, no clock (`now` is the caller's wall-clock time).
use crate::http::cmaf::{Resource, Snapshot, TrackKind};
use crate::http::hls::iso8601;
use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Latency target in segment targets (ServiceDescription).
const LATENCY_TARGET_PARTS: u64 = 3;

fn duration(ms: u64) -> String {
    format!("PT{}.{:03}S", ms / 1000, ms % 1000)
}

/// The MPD of `snapshot` at wall-clock time `now`; None until every track of the current
/// init has a complete segment (a Period without an AdaptationSet, or with one track
/// missing, makes dash.js fail or start without that track, and never recover).
///
/// `query` (without `?`, empty for none; URL-safe characters and `&`) is appended to the
/// template URIs.
pub fn mpd(snapshot: &Snapshot, now: SystemTime, query: &str) -> Option<String> {
    let query = query.replace('&', "&amp;");
    let uri = |name: &str| crate::http::hls::uri(name, &query);
    let init = snapshot.current_init()?;
    let (anchor_ms, anchor_at) = snapshot.anchor?;
    let timing = snapshot.timing;
    // Media time 0 of the timeline is available at availabilityStartTime.
    let ast = snapshot
        .clock
        .at(anchor_at)
        .checked_sub(Duration::from_millis(anchor_ms))
        .unwrap_or(UNIX_EPOCH);
    let segments: Vec<_> = snapshot
        .segments
        .iter()
        .filter(|s| s.init == init.version)
        .collect();
    let every_track_listed = [TrackKind::Video, TrackKind::Audio]
        .into_iter()
        .filter(|&track| init.track(track).is_some())
        .all(|track| segments.iter().any(|s| s.span(track).is_some()));
    if !every_track_listed {
        return None;
    }
    let window_ms: u64 = segments.iter().map(|s| s.duration_ms).sum();
    let mut out = String::with_capacity(2048);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    if snapshot.ended {
        // The stream is over: a static MPD of what remains (players then read it to the end
        // instead of waiting at a live edge that no longer moves).
        let _ = writeln!(
            out,
            "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" \
             profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" type=\"static\" \
             mediaPresentationDuration=\"{}\" minBufferTime=\"{}\" maxSegmentDuration=\"{}\">",
            duration(window_ms),
            duration(timing.part_target_ms * 2),
            duration(timing.max_segment_ms),
        );
    } else {
        let _ = writeln!(
            out,
            "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" \
             profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" type=\"dynamic\" \
             availabilityStartTime=\"{}\" publishTime=\"{}\" minimumUpdatePeriod=\"{}\" \
             minBufferTime=\"{}\" timeShiftBufferDepth=\"{}\" maxSegmentDuration=\"{}\">",
            iso8601(ast),
            iso8601(now),
            duration(timing.part_target_ms),
            duration(timing.part_target_ms * 2),
            duration(window_ms.max(timing.segment_target_ms)),
            duration(timing.max_segment_ms),
        );
    }
    let _ = writeln!(
        out,
        "  <ServiceDescription id=\"0\"><Latency target=\"{}\" min=\"{}\" max=\"{}\"/>\
         <PlaybackRate min=\"0.96\" max=\"1.04\"/></ServiceDescription>",
        timing.part_target_ms * LATENCY_TARGET_PARTS + timing.part_target_ms,
        timing.part_target_ms * 2,
        timing.max_segment_ms * 3,
    );
    let _ = writeln!(out, "  <Period id=\"{}\" start=\"PT0S\">", init.version);
    // The part before the end of a segment is its last chunk: the segment is requestable that
    // long before it completes.
    let offset_ms = timing
        .segment_target_ms
        .saturating_sub(timing.part_target_ms);
    for (set_id, track) in [TrackKind::Video, TrackKind::Audio].into_iter().enumerate() {
        let Some((_, info)) = init.track(track) else {
            continue;
        };
        let spans: Vec<_> = segments
            .iter()
            .filter_map(|s| s.span(track).map(|span| (s, span)))
            .collect();
        let Some((first, first_span)) = spans.first() else {
            continue;
        };
        let bytes: usize = spans
            .iter()
            .map(|(s, _)| s.track(track).iter().map(|b| b.len()).sum::<usize>())
            .sum();
        let span_ms: u64 = spans.iter().map(|(s, _)| s.duration_ms).sum();
        let bandwidth = (bytes as u64 * 8 * 1000) / span_ms.max(1);
        let name = track.name();
        let _ = write!(
            out,
            "    <AdaptationSet id=\"{set_id}\" contentType=\"{name}\" mimeType=\"{name}/mp4\" \
             segmentAlignment=\"true\" startWithSAP=\"1\">\n      <Representation \
             id=\"{name}\" codecs=\"{}\" bandwidth=\"{}\"",
            info.codec,
            bandwidth.max(1)
        );
        if track == TrackKind::Audio {
            let _ = write!(
                out,
                " audioSamplingRate=\"{}\">\n        <AudioChannelConfiguration \
                 schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" \
                 value=\"{}\"/>\n",
                info.sample_rate, info.channels
            );
        } else {
            out.push_str(">\n");
        }
        // Static: the presentation starts at the first sample left in the window.
        let pto = if snapshot.ended { first_span.start } else { 0 };
        let _ = writeln!(
            out,
            "        <SegmentTemplate timescale=\"{}\" initialization=\"{}\" \
             media=\"{}\" startNumber=\"{}\" presentationTimeOffset=\"{pto}\" \
             availabilityTimeOffset=\"{}.{:03}\" availabilityTimeComplete=\"false\">",
            info.timescale,
            uri(&Resource::TrackInit(track, init.version).name()),
            uri(&format!("{name}-$Number$.m4s")),
            first.msn,
            offset_ms / 1000,
            offset_ms % 1000,
        );
        out.push_str("          <SegmentTimeline>\n");
        let mut expected = None;
        for (_, span) in &spans {
            if expected == Some(span.start) {
                let _ = writeln!(out, "            <S d=\"{}\"/>", span.duration);
            } else {
                let _ = writeln!(
                    out,
                    "            <S t=\"{}\" d=\"{}\"/>",
                    span.start, span.duration
                );
            }
            expected = Some(span.start + span.duration);
        }
        out.push_str(
            "          </SegmentTimeline>\n        </SegmentTemplate>\n      </Representation>\n    </AdaptationSet>\n",
        );
    }
    out.push_str("  </Period>\n");
    if !snapshot.ended {
        let _ = writeln!(
            out,
            "  <UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:direct:2014\" value=\"{}\"/>",
            iso8601(now)
        );
    }
    out.push_str("</MPD>\n");
    Some(out)
}

#[cfg(test)]
#[path = "dash_tests.rs"]
mod tests;
