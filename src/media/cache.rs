//! What a joining player is handed first so it starts at once, on a keyframe: metadata,
//! sequence headers, then the frames since the last video keyframe (the GOP).
//!
//! Holds reference-counted [`Frame`]s only; bounded in bytes. Call `on_frame` for every frame
//! of the stream in order; `startup_frames` for each joining player.
use super::frame::{Frame, MediaKind};

pub struct StartupCache {
    metadata: Option<Frame>,
    video_header: Option<Frame>,
    audio_header: Option<Frame>,
    gop: Vec<Frame>,
    gop_bytes: usize,
    max_gop_bytes: usize,
    gop_enabled: bool,
    seen_video: bool,
}

impl StartupCache {
    /// `gop_enabled` false keeps only metadata and sequence headers (players then wait for the
    /// next keyframe). A GOP over `max_gop_bytes` is dropped until the next keyframe.
    pub fn new(gop_enabled: bool, max_gop_bytes: usize) -> Self {
        StartupCache {
            metadata: None,
            video_header: None,
            audio_header: None,
            gop: Vec::new(),
            gop_bytes: 0,
            max_gop_bytes,
            gop_enabled,
            seen_video: false,
        }
    }

    /// Forgets everything: a new publisher session sends its own headers.
    pub fn clear(&mut self) {
        self.metadata = None;
        self.video_header = None;
        self.audio_header = None;
        self.clear_gop();
        self.seen_video = false;
    }

    fn clear_gop(&mut self) {
        self.gop.clear();
        self.gop_bytes = 0;
    }

    pub fn on_frame(&mut self, frame: &Frame) {
        if frame.sequence_header {
            let slot = match frame.kind {
                MediaKind::Video => &mut self.video_header,
                MediaKind::Audio => &mut self.audio_header,
                MediaKind::Data => &mut self.metadata,
            };
            *slot = Some(frame.clone());
            return;
        }
        if frame.kind == MediaKind::Video {
            self.seen_video = true;
            if frame.keyframe {
                self.clear_gop();
            }
        }
        // Without video there is no keyframe to start from: audio players start live.
        if !self.gop_enabled || !self.seen_video || frame.kind == MediaKind::Data {
            return;
        }
        if self.gop.is_empty() && !frame.keyframe {
            return;
        }
        self.gop_bytes += frame.wire.len();
        if self.gop_bytes > self.max_gop_bytes {
            self.clear_gop();
            return;
        }
        self.gop.push(frame.clone());
    }

    /// True once the cache can start a player on a keyframe (or the stream has no video).
    pub fn has_keyframe(&self) -> bool {
        !self.gop.is_empty()
    }

    /// Metadata, video and audio sequence headers, then the GOP, in that order.
    pub fn startup_frames(&self) -> impl Iterator<Item = &Frame> {
        self.metadata
            .iter()
            .chain(self.video_header.iter())
            .chain(self.audio_header.iter())
            .chain(self.gop.iter())
    }

    /// Everything the cache holds, for handing a copy to another shard.
    pub fn snapshot(&self) -> Vec<Frame> {
        self.startup_frames().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn frame(kind: MediaKind, ts: u32, keyframe: bool, header: bool) -> Frame {
        Frame {
            kind,
            timestamp: ts,
            keyframe,
            sequence_header: header,
            wire: Bytes::from(vec![0u8; 100]),
        }
    }

    #[test]
    fn startup_is_headers_then_gop_from_the_last_keyframe() {
        let mut c = StartupCache::new(true, 1 << 20);
        c.on_frame(&frame(MediaKind::Data, 0, false, true));
        c.on_frame(&frame(MediaKind::Video, 0, false, true));
        c.on_frame(&frame(MediaKind::Audio, 0, false, true));
        c.on_frame(&frame(MediaKind::Video, 0, true, false));
        c.on_frame(&frame(MediaKind::Video, 40, false, false));
        c.on_frame(&frame(MediaKind::Video, 80, true, false));
        c.on_frame(&frame(MediaKind::Audio, 85, false, false));
        c.on_frame(&frame(MediaKind::Video, 120, false, false));
        let ts: Vec<_> = c
            .startup_frames()
            .map(|f| (f.kind, f.timestamp, f.keyframe))
            .collect();
        assert_eq!(
            ts,
            vec![
                (MediaKind::Data, 0, false),
                (MediaKind::Video, 0, false),
                (MediaKind::Audio, 0, false),
                (MediaKind::Video, 80, true),
                (MediaKind::Audio, 85, false),
                (MediaKind::Video, 120, false),
            ]
        );
        assert!(c.has_keyframe());
    }

    #[test]
    fn frames_before_the_first_keyframe_are_not_cached() {
        let mut c = StartupCache::new(true, 1 << 20);
        c.on_frame(&frame(MediaKind::Video, 0, false, false));
        c.on_frame(&frame(MediaKind::Audio, 5, false, false));
        assert!(!c.has_keyframe());
        assert_eq!(c.startup_frames().count(), 0);
    }

    #[test]
    fn oversized_gop_is_dropped_until_the_next_keyframe() {
        let mut c = StartupCache::new(true, 250);
        c.on_frame(&frame(MediaKind::Video, 0, true, false));
        c.on_frame(&frame(MediaKind::Video, 40, false, false));
        c.on_frame(&frame(MediaKind::Video, 80, false, false));
        assert!(!c.has_keyframe());
        c.on_frame(&frame(MediaKind::Video, 120, false, false));
        assert!(!c.has_keyframe());
        c.on_frame(&frame(MediaKind::Video, 160, true, false));
        assert_eq!(c.startup_frames().count(), 1);
    }

    #[test]
    fn gop_cache_disabled_keeps_headers_only() {
        let mut c = StartupCache::new(false, 1 << 20);
        c.on_frame(&frame(MediaKind::Video, 0, false, true));
        c.on_frame(&frame(MediaKind::Video, 0, true, false));
        assert_eq!(c.startup_frames().count(), 1);
    }
}
