//! The encoded variants of one stream: the enhanced form (every track, untouched, for players
//! that announced Enhanced RTMP in their connect) and the legacy form (the default track in
//! legacy codec ids, for players that announced nothing), each encoded once per stream.
//!
//! [`FrameBuilder`](super::ingest::FrameBuilder) hands out a [`Built`] per message: the enhanced
//! frame and what legacy players get instead ([`LegacyFrame`]). [`StreamLogs`] keeps a
//! [`FrameLog`] per variant, but the legacy one only exists once the stream sent its first
//! message whose legacy form differs: until then legacy players read the enhanced log, so an
//! ordinary stream costs no second log and no second encode. The legacy log starts as a clone
//! of the enhanced one (reference counts, same sequence numbers), so every position stays valid
//! when players move to it; afterwards it holds at most one frame per enhanced frame, so its
//! end never passes the enhanced end. Both logs apply the same limits and GOP rule, and every
//! player, whatever its variant, goes through the same send queue and slow-player policy.
//!
//! No I/O, no clock. Call order: `push` for every built message in order; `clear` when the
//! publisher leaves; `start` on a shard that starts feeding players from a snapshot.
use super::frame::Frame;
use super::log::{FrameLog, LogLimits};

/// Which form of a stream a player gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Variant {
    /// Every track and codec as published.
    #[default]
    Enhanced,
    /// The default track of each kind in legacy FLV codec ids where one exists.
    Legacy,
}

/// What legacy players get for one message.
#[derive(Debug, Clone)]
pub enum LegacyFrame {
    /// The enhanced frame itself (shared).
    Same,
    /// Nothing (another track, or no legacy meaning).
    Drop,
    /// A frame of its own, encoded once.
    Own(Frame),
}

/// One published message in both forms.
#[derive(Debug, Clone)]
pub struct Built {
    pub frame: Frame,
    pub legacy: LegacyFrame,
}

impl Built {
    /// Stamps both forms with the time the message was read (see `Frame::arrival`).
    pub fn set_arrival(&mut self, now: std::time::Instant) {
        self.frame.arrival = Some(now);
        if let LegacyFrame::Own(frame) = &mut self.legacy {
            frame.arrival = Some(now);
        }
    }

    /// A message legacy players get as it is.
    pub fn same(frame: Frame) -> Self {
        Built {
            frame,
            legacy: LegacyFrame::Same,
        }
    }
}

/// The logs of one stream on one shard. See the module doc.
#[derive(Debug)]
pub struct StreamLogs {
    enhanced: FrameLog,
    legacy: Option<FrameLog>,
}

impl StreamLogs {
    pub fn new(limits: LogLimits) -> Self {
        StreamLogs {
            enhanced: FrameLog::new(limits),
            legacy: None,
        }
    }

    /// The log players of `variant` read.
    pub fn get(&self, variant: Variant) -> &FrameLog {
        match (variant, &self.legacy) {
            (Variant::Legacy, Some(legacy)) => legacy,
            _ => &self.enhanced,
        }
    }

    /// New limits for both logs (a reload); a legacy log made later clones the enhanced one's.
    pub fn set_limits(&mut self, limits: LogLimits) {
        self.enhanced.set_limits(limits);
        if let Some(legacy) = &mut self.legacy {
            legacy.set_limits(limits);
        }
    }

    /// Whether legacy players have a log of their own.
    pub fn has_legacy(&self) -> bool {
        self.legacy.is_some()
    }

    /// Appends one message to both variants.
    pub fn push(&mut self, built: Built) {
        if self.legacy.is_none() && !matches!(built.legacy, LegacyFrame::Same) {
            self.legacy = Some(self.enhanced.clone());
        }
        if let Some(legacy) = &mut self.legacy {
            match built.legacy {
                LegacyFrame::Same => {
                    legacy.push(built.frame.clone());
                }
                LegacyFrame::Drop => {}
                LegacyFrame::Own(frame) => {
                    legacy.push(frame);
                }
            }
        }
        self.enhanced.push(built.frame);
    }

    /// Forgets the media of a publisher that left. Legacy players then read the enhanced log,
    /// where their positions are at or behind the end (the legacy end never passes it).
    pub fn clear(&mut self) {
        self.enhanced.clear();
        self.legacy = None;
    }

    /// Clears, then records a snapshot from the home shard (see [`StreamLogs::snapshot`]).
    pub fn start(&mut self, enhanced: Vec<Frame>, legacy: Option<Vec<Frame>>) {
        self.clear();
        let legacy_log = legacy.map(|frames| {
            let mut log = self.enhanced.clone();
            for frame in frames {
                log.push(frame);
            }
            log
        });
        for frame in enhanced {
            self.enhanced.push(frame);
        }
        self.legacy = legacy_log;
    }

    /// What a shard that starts feeding players needs: per variant, the headers then the log
    /// from the last keyframe (only headers without one). The legacy part is None while legacy
    /// players read the enhanced log.
    pub fn snapshot(&self) -> (Vec<Frame>, Option<Vec<Frame>>) {
        (startup(&self.enhanced), self.legacy.as_ref().map(startup))
    }
}

fn startup(log: &FrameLog) -> Vec<Frame> {
    let mut out: Vec<Frame> = log.headers().frames().cloned().collect();
    if let Some(start) = log.gop_start() {
        out.extend(
            log.frames_from(start)
                .filter(|f| !f.sequence_header)
                .cloned(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::frame::MediaKind;
    use crate::media::queue::QueueLimits;
    use bytes::Bytes;

    fn limits() -> LogLimits {
        LogLimits {
            queue: QueueLimits {
                max_span_ms: 5_000,
                max_bytes: 1 << 20,
                kick_after_ms: 15_000,
            },
            gop_cache: true,
            max_gop_bytes: 1 << 20,
        }
    }

    fn frame(kind: MediaKind, ts: u32, key: bool, header: bool, tag: u8) -> Frame {
        Frame::new(kind, ts, key, header, Bytes::from(vec![tag; 4]))
    }

    #[test]
    fn an_ordinary_stream_has_one_log() {
        let mut logs = StreamLogs::new(limits());
        logs.push(Built::same(frame(MediaKind::Video, 0, false, true, 1)));
        logs.push(Built::same(frame(MediaKind::Video, 0, true, false, 2)));
        assert!(!logs.has_legacy());
        assert!(std::ptr::eq(
            logs.get(Variant::Legacy),
            logs.get(Variant::Enhanced)
        ));
        assert!(logs.snapshot().1.is_none());
    }

    #[test]
    fn the_legacy_log_forks_at_the_first_difference_with_the_same_positions() {
        let mut logs = StreamLogs::new(limits());
        logs.push(Built::same(frame(MediaKind::Video, 0, false, true, 1)));
        logs.push(Built::same(frame(MediaKind::Audio, 0, false, true, 2)));
        // Track 1's sequence start: legacy players do not get it.
        logs.push(Built {
            frame: frame(MediaKind::Audio, 0, false, true, 3).with_slot(1, Default::default()),
            legacy: LegacyFrame::Drop,
        });
        let legacy = logs.get(Variant::Legacy);
        assert!(logs.has_legacy());
        assert_eq!((legacy.base(), legacy.end()), (0, 2));
        assert_eq!(logs.get(Variant::Enhanced).end(), 3);
        // A rewritten keyframe: each log has its own wire, the same GOP start.
        logs.push(Built {
            frame: frame(MediaKind::Video, 40, true, false, 4),
            legacy: LegacyFrame::Own(frame(MediaKind::Video, 40, true, false, 5)),
        });
        let e = logs.get(Variant::Enhanced);
        let l = logs.get(Variant::Legacy);
        assert_eq!(e.get(e.gop_start().unwrap()).unwrap().wire[0], 4);
        assert_eq!(l.get(l.gop_start().unwrap()).unwrap().wire[0], 5);
        assert_eq!(e.headers().frames().count(), 3);
        assert_eq!(l.headers().frames().count(), 2);

        let (enhanced, legacy) = logs.snapshot();
        let tags = |v: &[Frame]| v.iter().map(|f| f.wire[0]).collect::<Vec<_>>();
        assert_eq!(tags(&enhanced), vec![1, 2, 3, 4]);
        assert_eq!(tags(legacy.as_deref().unwrap()), vec![1, 2, 5]);

        // Another shard starts from the snapshot; a clear drops the legacy log again.
        let mut remote = StreamLogs::new(limits());
        remote.start(enhanced, legacy);
        assert!(remote.has_legacy());
        assert!(remote.get(Variant::Legacy).end() <= remote.get(Variant::Enhanced).end());
        assert_eq!(remote.get(Variant::Legacy).gop_start(), Some(2));
        remote.clear();
        assert!(!remote.has_legacy());
    }
}
