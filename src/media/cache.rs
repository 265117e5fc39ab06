//! What a joining player is handed before any frame of the log: the stream's latest metadata
//! and sequence headers. The GOP itself is not copied: it stays in the stream's
//! [`FrameLog`](super::log::FrameLog), and the player starts at its keyframe by position.
//!
//! Holds reference-counted [`Frame`]s only. Call `on_frame` for every frame of the stream in
//! order; `frames` for each joining player.
use super::frame::{Frame, MediaKind};

#[derive(Debug, Default)]
pub struct HeaderCache {
    metadata: Option<Frame>,
    video_header: Option<Frame>,
    audio_header: Option<Frame>,
}

impl HeaderCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets everything: a new publisher session sends its own headers.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Keeps `frame` if it is metadata or a sequence header.
    pub fn on_frame(&mut self, frame: &Frame) {
        if !frame.sequence_header {
            return;
        }
        let slot = match frame.kind {
            MediaKind::Video => &mut self.video_header,
            MediaKind::Audio => &mut self.audio_header,
            MediaKind::Data => &mut self.metadata,
        };
        *slot = Some(frame.clone());
    }

    /// Metadata, video and audio sequence headers, in that order.
    pub fn frames(&self) -> impl Iterator<Item = &Frame> {
        self.metadata
            .iter()
            .chain(self.video_header.iter())
            .chain(self.audio_header.iter())
    }

    pub fn is_empty(&self) -> bool {
        self.frames().next().is_none()
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
}
