//! The results: the JSON report (field names are a contract: scripts and the integration
//! tests read them), the human summary on stdout and the progress line on stderr.
//!
//! Counting, precisely:
//! - `frames_published`: stamped video frames the publisher sent before the end of the run.
//!   `last` is the sequence number of the last one.
//! - Per player that played: its window starts at the first stamped frame it received
//!   (sequence `first`), or, if it received none, just after the last frame published when
//!   its play was accepted. `expected = last - first + 1`; `received` counts distinct
//!   in-order frames; `lost_gaps` are sequence numbers skipped between received frames;
//!   `lost_tail` the frames after its last received one up to `last` (not delivered before
//!   the drain ended or before the player was disconnected). So
//!   `expected = received + lost_gaps + lost_tail` and `frames_lost = lost_gaps + lost_tail`:
//!   a perfect run has `frames_lost = 0` and `frames_received = frames_expected`.
//! - Without a publisher (`--no-publish`), `last` is each player's own last frame: tail
//!   losses are unknown and counted as 0.
//! - Latency is `arrival time - scheduled send time` of each stamped frame scheduled after
//!   the player's RTMP connect completed; older frames came from the server's startup cache
//!   (`frames_cached`) and measure the cache, not delivery. Arrival is the kernel's receive
//!   timestamp of the read that completed the frame. Measuring from the schedule (not from
//!   the actual send) keeps a late publisher from hiding delay (no coordinated omission).
//! - `connect_ms`: TCP connect. `handshake_ms`: TCP connected to the `connect` `_result`
//!   (RTMP handshake + connect). `first_frame_ms`: TCP connect start to the first coded video
//!   frame; `first_frame_keyframe_ratio`: share of players whose first coded video frame was
//!   a keyframe with the AVC sequence header received before it.
//! - With `--read-interval-ms` (echoed as `read_interval_ms`), arrival is still when the bytes
//!   reached this host: a paused player notes arrivals as they come (see `worker`).
//! - `delivered_mbps`: media payload bytes (FLV tag bodies) received by all players / run
//!   duration. `expected_mbps`: the publisher's measured payload rate x the average number of
//!   players playing during the run. `wire_mbps`: socket bytes, RTMP framing included.
//!
//! No I/O here except [`write_json`].
use crate::stats::ThreadStats;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LatencyMs {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ShortMs {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub players_requested: u64,
    pub players_connected: u64,
    pub players_failed: u64,
    pub duration_s: f64,
    /// Configured video bitrate (synthetic source), or the file's average media bitrate.
    pub bitrate_kbps: f64,
    /// Media bitrate the publisher actually sent (audio included).
    pub published_kbps: f64,
    /// `--read-interval-ms`: players read in bursts this far apart (0: continuously).
    pub read_interval_ms: u64,
    pub latency_ms: LatencyMs,
    /// Latency samples behind the percentiles.
    pub latency_samples: u64,
    pub first_frame_ms: ShortMs,
    pub first_frame_keyframe_ratio: f64,
    pub connect_ms: ShortMs,
    pub handshake_ms: ShortMs,
    pub frames_published: u64,
    pub frames_expected: u64,
    pub frames_received: u64,
    pub frames_lost: u64,
    pub frames_lost_gaps: u64,
    pub frames_lost_tail: u64,
    pub frames_duplicate: u64,
    pub frames_cached: u64,
    pub frames_unstamped: u64,
    pub delivered_mbps: f64,
    /// Null without a publisher of our own.
    pub expected_mbps: Option<f64>,
    pub wire_mbps: f64,
    pub disconnects: u64,
    pub errors: BTreeMap<String, u64>,
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        return 0.0;
    }
    round3(h.value_at_quantile(q) as f64 / 1000.0)
}

fn max_ms(h: &Histogram<u64>) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        round3(h.max() as f64 / 1000.0)
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn short(h: &Histogram<u64>) -> ShortMs {
    ShortMs {
        p50: ms(h, 0.5),
        p99: ms(h, 0.99),
        max: max_ms(h),
    }
}

/// What the report needs besides the merged stats.
#[derive(Debug, Clone, Copy)]
pub struct RunInfo {
    pub players_requested: u64,
    pub duration_s: f64,
    pub bitrate_kbps: f64,
    pub read_interval_ms: u64,
}

impl Report {
    pub fn build(info: RunInfo, s: &ThreadStats) -> Report {
        let duration = info.duration_s.max(1e-9);
        let publisher = s.publisher.as_ref().filter(|p| p.published);
        let published_bps = publisher.map_or(0.0, |p| {
            let secs = p.stop_ns.saturating_sub(p.start_ns) as f64 / 1e9;
            if secs > 0.0 {
                p.payload_bytes as f64 * 8.0 / secs
            } else {
                0.0
            }
        });
        let avg_players = s.player_ns as f64 / 1e9 / duration;
        let ratio = if s.first_video == 0 {
            0.0
        } else {
            s.first_video_keyframe as f64 / s.first_video as f64
        };
        Report {
            players_requested: info.players_requested,
            players_connected: s.players_connected,
            players_failed: s.players_failed,
            duration_s: info.duration_s,
            bitrate_kbps: info.bitrate_kbps,
            published_kbps: round3(published_bps / 1e3),
            read_interval_ms: info.read_interval_ms,
            latency_ms: LatencyMs {
                p50: ms(&s.latency, 0.5),
                p90: ms(&s.latency, 0.9),
                p99: ms(&s.latency, 0.99),
                p999: ms(&s.latency, 0.999),
                max: max_ms(&s.latency),
            },
            latency_samples: s.latency.len(),
            first_frame_ms: short(&s.first_frame),
            first_frame_keyframe_ratio: round3(ratio),
            connect_ms: short(&s.connect),
            handshake_ms: short(&s.handshake),
            frames_published: publisher.map_or(0, |p| p.frames),
            frames_expected: s.frames_expected,
            frames_received: s.frames_received,
            frames_lost: s.frames_lost_gaps + s.frames_lost_tail,
            frames_lost_gaps: s.frames_lost_gaps,
            frames_lost_tail: s.frames_lost_tail,
            frames_duplicate: s.frames_duplicate,
            frames_cached: s.frames_cached,
            frames_unstamped: s.frames_unstamped,
            delivered_mbps: round3(s.payload_bytes as f64 * 8.0 / duration / 1e6),
            expected_mbps: publisher.map(|_| round3(published_bps * avg_players / 1e6)),
            wire_mbps: round3(s.wire_bytes as f64 * 8.0 / duration / 1e6),
            disconnects: s.disconnects,
            errors: s.errors.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    /// The human summary printed on stdout.
    pub fn summary(&self) -> String {
        let l = &self.latency_ms;
        let f = &self.first_frame_ms;
        let c = &self.connect_ms;
        let h = &self.handshake_ms;
        let errors = if self.errors.is_empty() {
            "none".to_string()
        } else {
            let parts: Vec<String> = self
                .errors
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            parts.join(" ")
        };
        let reading = match self.read_interval_ms {
            0 => String::new(),
            ms => format!("; reading in bursts {ms} ms apart"),
        };
        let expected = self
            .expected_mbps
            .map_or("unknown".to_string(), |e| format!("{e:.2}"));
        format!(
            "players:     {} connected, {} failed of {}, {} disconnected{}\n\
             latency:     p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms ({} frames)\n\
             first frame: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; keyframe first {:.1} %\n\
             setup:       connect p50 {:.2} / p99 {:.2} / max {:.2} ms, handshake+connect p50 {:.2} / p99 {:.2} / max {:.2} ms\n\
             frames:      published {}, expected {}, received {}, lost {} (gaps {}, tail {}), duplicate {}, from cache {}\n\
             throughput:  delivered {:.2} Mbps, expected {} Mbps, wire {:.2} Mbps; published {:.0} kbps\n\
             errors:      {}\n",
            self.players_connected, self.players_failed, self.players_requested, self.disconnects,
            reading,
            l.p50, l.p90, l.p99, l.p999, l.max, self.latency_samples,
            f.p50, f.p99, f.max, self.first_frame_keyframe_ratio * 100.0,
            c.p50, c.p99, c.max, h.p50, h.p99, h.max,
            self.frames_published, self.frames_expected, self.frames_received, self.frames_lost,
            self.frames_lost_gaps, self.frames_lost_tail, self.frames_duplicate, self.frames_cached,
            self.delivered_mbps, expected, self.wire_mbps, self.published_kbps,
            errors,
        )
    }
}

/// The once-a-second progress line for stderr.
pub fn progress_line(
    t_s: u64,
    up: u64,
    requested: u64,
    mbps: f64,
    p99_ms: Option<f64>,
    lost: u64,
    errors: u64,
) -> String {
    let p99 = p99_ms.map_or("-".to_string(), |v| format!("{v:.1}ms"));
    format!("t={t_s}s players={up}/{requested} up, {mbps:.1} Mbps, p99={p99}, lost={lost}, errors={errors}")
}

pub fn write_json(path: &Path, report: &Report) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{record_us, PublisherStats};

    fn sample() -> ThreadStats {
        let mut s = ThreadStats::default();
        for us in 1..=10_000 {
            record_us(&mut s.latency, us);
        }
        record_us(&mut s.first_frame, 50_000);
        record_us(&mut s.connect, 200);
        s.players_connected = 2;
        s.first_video = 2;
        s.first_video_keyframe = 1;
        s.frames_expected = 100;
        s.frames_received = 97;
        s.frames_lost_gaps = 2;
        s.frames_lost_tail = 1;
        s.payload_bytes = 1_250_000;
        s.wire_bytes = 1_300_000;
        s.player_ns = 20_000_000_000;
        s.error("connect_refused");
        s.publisher = Some(PublisherStats {
            published: true,
            frames: 50,
            payload_bytes: 500_000,
            start_ns: 0,
            stop_ns: 10_000_000_000,
            ..Default::default()
        });
        s
    }

    #[test]
    fn json_field_names() {
        let info = RunInfo {
            players_requested: 3,
            duration_s: 10.0,
            bitrate_kbps: 600.0,
            read_interval_ms: 200,
        };
        let report = Report::build(info, &sample());
        let v: serde_json::Value = serde_json::to_value(&report).unwrap();
        for key in [
            "players_connected",
            "players_failed",
            "latency_ms",
            "first_frame_ms",
            "first_frame_keyframe_ratio",
            "frames_expected",
            "frames_received",
            "frames_lost",
            "delivered_mbps",
            "expected_mbps",
            "disconnects",
            "errors",
            "connect_ms",
            "duration_s",
            "players_requested",
            "bitrate_kbps",
            "read_interval_ms",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        for key in ["p50", "p90", "p99", "p999", "max"] {
            assert!(v["latency_ms"][key].is_number(), "latency_ms.{key}");
        }
        for key in ["p50", "p99", "max"] {
            assert!(v["first_frame_ms"][key].is_number());
            assert!(v["connect_ms"][key].is_number());
        }
        assert_eq!(v["errors"]["connect_refused"], 1);
        assert_eq!(v["frames_lost"], 3);
        assert_eq!(v["first_frame_keyframe_ratio"], 0.5);
        // 1.25 MB over 10 s = 1 Mbps; the publisher sent 400 kbps to 2 players on average.
        assert_eq!(v["delivered_mbps"], 1.0);
        assert_eq!(v["expected_mbps"], 0.8);
        assert_eq!(v["frames_published"], 50);
        let p50 = v["latency_ms"]["p50"].as_f64().unwrap();
        assert!((p50 - 5.0).abs() < 0.01, "{p50}");
        assert!(report.summary().contains("connect_refused=1"));
        assert_eq!(v["read_interval_ms"], 200);
        assert!(report.summary().contains("bursts 200 ms apart"));
    }

    #[test]
    fn empty_run_reports_zeros() {
        let info = RunInfo {
            players_requested: 0,
            duration_s: 1.0,
            bitrate_kbps: 600.0,
            read_interval_ms: 0,
        };
        let report = Report::build(info, &ThreadStats::default());
        assert_eq!(report.latency_ms.max, 0.0);
        assert_eq!(report.expected_mbps, None);
        assert_eq!(report.first_frame_keyframe_ratio, 0.0);
        let v = serde_json::to_value(&report).unwrap();
        assert!(v["expected_mbps"].is_null());
    }

    #[test]
    fn progress_format() {
        assert_eq!(
            progress_line(3, 50, 50, 12.34, Some(4.12), 0, 0),
            "t=3s players=50/50 up, 12.3 Mbps, p99=4.1ms, lost=0, errors=0"
        );
        assert!(progress_line(1, 0, 5, 0.0, None, 0, 2).contains("p99=-"));
    }
}
