//! `[hls]`: the CMAF segmenter behind HLS and DASH delivery, with its defaults (the segmenter
//! itself is `http::cmaf`). No I/O.
use crate::http::cmaf::SegmenterSettings;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[hls]`: segment and part durations, window length and memory per stream. The same
/// segments serve HLS (`index.m3u8`, LL-HLS parts) and DASH (`index.mpd`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HlsConfig {
    /// Segment every stream for HLS/DASH (only when the node has an HTTP listener).
    pub enabled: bool,
    /// A segment is cut at the first video keyframe at or past this duration (audio only: at
    /// this duration).
    pub segment_target_ms: u64,
    /// LL-HLS partial segments (and DASH chunks) last at most this long.
    pub part_target_ms: u64,
    /// Complete segments kept per stream (the playlist window).
    pub window_segments: usize,
    /// Media bytes kept per stream; the oldest segments go first beyond it.
    pub max_bytes_per_stream: usize,
    /// An ended stream's last window stays served this long (HLS with EXT-X-ENDLIST, a static
    /// MPD), so players reloading see the end instead of a 404; a new publisher replaces it.
    pub ended_keep_ms: u64,
}

impl Default for HlsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            segment_target_ms: 2000,
            part_target_ms: 500,
            window_segments: 6,
            max_bytes_per_stream: 32 << 20,
            ended_keep_ms: 10_000,
        }
    }
}

impl HlsConfig {
    /// The segmenter's settings (call on a validated config).
    pub fn segmenter_settings(&self) -> SegmenterSettings {
        SegmenterSettings {
            segment_target_ms: self.segment_target_ms,
            part_target_ms: self.part_target_ms,
            window_segments: self.window_segments,
            max_bytes: self.max_bytes_per_stream,
        }
    }

    /// How long an ended stream's window stays served.
    pub fn ended_keep(&self) -> Duration {
        Duration::from_millis(self.ended_keep_ms)
    }

    /// (key, value, default) of every range-checked key, for `Config::validate`.
    pub(crate) fn numbers(&self) -> [(&'static str, u64, u64); 5] {
        let d = HlsConfig::default();
        [
            (
                "hls.segment_target_ms",
                self.segment_target_ms,
                d.segment_target_ms,
            ),
            ("hls.part_target_ms", self.part_target_ms, d.part_target_ms),
            (
                "hls.window_segments",
                self.window_segments as u64,
                d.window_segments as u64,
            ),
            (
                "hls.max_bytes_per_stream",
                self.max_bytes_per_stream as u64,
                d.max_bytes_per_stream as u64,
            ),
            ("hls.ended_keep_ms", self.ended_keep_ms, d.ended_keep_ms),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_become_the_segmenter_settings() {
        let s = HlsConfig::default().segmenter_settings();
        assert_eq!(
            (s.segment_target_ms, s.part_target_ms, s.window_segments),
            (2000, 500, 6)
        );
        assert_eq!(s.max_bytes, 32 << 20);
    }

    #[test]
    fn apps_turn_segmenting_on_or_off_against_the_node_default() {
        use crate::control::config::Config;
        let only_live = Config::from_toml_str(
            "[hls]\nenabled = false\n[[app]]\nname = \"live\"\nhls = true\n[[app]]\nname = \"vod\"\n",
        )
        .expect("valid")
        .shard_settings();
        assert!(only_live.hls.is_some(), "one app needs the segmenter");
        assert!(only_live.hls_apps.segments("live"));
        assert!(!only_live.hls_apps.segments("vod"));
        let all_but_ingest = Config::from_toml_str(
            "[[app]]\nname = \"ingest\"\nhls = false\n[[app]]\nname = \"*\"\n",
        )
        .expect("valid")
        .shard_settings();
        assert!(!all_but_ingest.hls_apps.segments("ingest"));
        assert!(all_but_ingest.hls_apps.segments("live"));
        let star_off = Config::from_toml_str("[[app]]\nname = \"*\"\nhls = false\n")
            .expect("valid")
            .shard_settings();
        assert!(!star_off.hls_apps.segments("live"));
        let none = Config::from_toml_str("[hls]\nenabled = false\n")
            .expect("valid")
            .shard_settings();
        assert!(none.hls.is_none());
    }

    #[test]
    fn ranges_and_the_part_rule_are_checked() {
        use crate::control::config::Config;
        let c = Config::from_toml_str("[hls]\nsegment_target_ms = 4000\npart_target_ms = 1000\n")
            .expect("valid");
        assert!(c.validate().is_empty());
        assert_eq!(c.hls.segmenter_settings().segment_target_ms, 4000);
        let keys = |text: &str| -> Vec<&'static str> {
            toml::from_str::<Config>(text)
                .expect("parses")
                .validate()
                .iter()
                .map(|p| p.key)
                .collect()
        };
        assert_eq!(
            keys("[hls]\nsegment_target_ms = 1000\npart_target_ms = 1000\n"),
            ["hls.part_target_ms"]
        );
        assert_eq!(
            keys("[hls]\nwindow_segments = 1\n"),
            ["hls.window_segments"]
        );
        assert_eq!(
            keys("[hls]\nmax_bytes_per_stream = 1000\n"),
            ["hls.max_bytes_per_stream"]
        );
        assert_eq!(keys("[hls]\nsegment_target_ms = 60\n").len(), 2);
        assert!(Config::from_toml_str("[hls]\nsegment_ms = 1\n").is_err());
        assert!(
            Config::from_toml_str("[hls]\npart_target_ms = 900\nsegment_target_ms = 900\n")
                .is_err()
        );
    }
}
