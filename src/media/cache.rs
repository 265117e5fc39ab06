//! What a joining player is handed before any frame of the log: the stream's latest metadata
//! and the latest configuration of every (kind, track): sequence headers / SequenceStart of
//! each Enhanced RTMP v2 track, video Metadata (HDR, colour) and audio MultichannelConfig. The
//! GOP itself is not copied: it stays in the stream's [`FrameLog`](super::log::FrameLog), and
//! the player starts at its keyframe by position.
//!
//! Holds reference-counted [`Frame`]s only, at most [`MAX_CACHED_CONFIGS`] of them (a publisher
//! inventing track ids cannot grow it). Call `on_frame` for every frame of the stream in order;
//! `frames` for each joining player.
use super::frame::{ConfigKind, Frame, MediaKind};

/// Most configuration frames kept per stream (tracks times kinds of configuration).
pub const MAX_CACHED_CONFIGS: usize = 32;

#[derive(Debug, Default, Clone)]
pub struct HeaderCache {
    /// One latest frame per (kind, track, config), in the order each slot was first filled.
    slots: Vec<Frame>,
}

fn slot_key(f: &Frame) -> (MediaKind, u8, ConfigKind) {
    (f.kind, f.track, f.config)
}

impl HeaderCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets everything: a new publisher session sends its own headers.
    pub fn clear(&mut self) {
        self.slots.clear();
    }

    /// Keeps `frame` if it is metadata or a configuration frame.
    pub fn on_frame(&mut self, frame: &Frame) {
        if !frame.sequence_header {
            return;
        }
        let key = slot_key(frame);
        if let Some(slot) = self.slots.iter_mut().find(|f| slot_key(f) == key) {
            *slot = frame.clone();
        } else if self.slots.len() < MAX_CACHED_CONFIGS {
            self.slots.push(frame.clone());
        }
    }

    /// Metadata, then every video configuration, then every audio configuration (each in the
    /// order its slot was first filled, so a SequenceStart precedes its track's Metadata).
    pub fn frames(&self) -> impl Iterator<Item = &Frame> {
        let of = move |kind: MediaKind| self.slots.iter().filter(move |f| f.kind == kind);
        of(MediaKind::Data)
            .chain(of(MediaKind::Video))
            .chain(of(MediaKind::Audio))
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn frame(kind: MediaKind, ts: u32, keyframe: bool, header: bool) -> Frame {
        Frame::new(kind, ts, keyframe, header, Bytes::from(vec![0u8; 10]))
    }

    #[test]
    fn keeps_the_latest_header_of_each_kind_in_order() {
        let mut c = HeaderCache::new();
        c.on_frame(&frame(MediaKind::Audio, 0, false, true));
        c.on_frame(&frame(MediaKind::Video, 0, false, true));
        c.on_frame(&frame(MediaKind::Video, 0, true, false));
        c.on_frame(&frame(MediaKind::Data, 0, false, true));
        c.on_frame(&frame(MediaKind::Video, 500, false, true));
        let got: Vec<_> = c.frames().map(|f| (f.kind, f.timestamp)).collect();
        assert_eq!(
            got,
            vec![
                (MediaKind::Data, 0),
                (MediaKind::Video, 500),
                (MediaKind::Audio, 0)
            ]
        );
        c.clear();
        assert!(c.is_empty());
    }

    #[test]
    fn keeps_every_track_and_config_kind() {
        let mut c = HeaderCache::new();
        let f = |kind, ts, track, config| frame(kind, ts, false, true).with_slot(track, config);
        c.on_frame(&f(MediaKind::Video, 0, 0, ConfigKind::SequenceStart));
        c.on_frame(&f(MediaKind::Audio, 0, 0, ConfigKind::SequenceStart));
        c.on_frame(&f(MediaKind::Audio, 0, 1, ConfigKind::SequenceStart));
        c.on_frame(&f(MediaKind::Audio, 0, 1, ConfigKind::Multichannel));
        c.on_frame(&f(MediaKind::Video, 0, 0, ConfigKind::VideoMetadata));
        c.on_frame(&f(MediaKind::Audio, 9, 1, ConfigKind::SequenceStart));
        let got: Vec<_> = c
            .frames()
            .map(|f| (f.kind, f.track, f.config, f.timestamp))
            .collect();
        use ConfigKind::*;
        use MediaKind::*;
        assert_eq!(
            got,
            vec![
                (Video, 0, SequenceStart, 0),
                (Video, 0, VideoMetadata, 0),
                (Audio, 0, SequenceStart, 0),
                (Audio, 1, SequenceStart, 9),
                (Audio, 1, Multichannel, 0),
            ]
        );
        for track in 0..=255u8 {
            c.on_frame(&f(Audio, 0, track, SequenceStart));
        }
        assert_eq!(c.frames().count(), MAX_CACHED_CONFIGS);
    }
}
