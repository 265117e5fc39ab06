//! Stream health on the home shard: what a publisher's media says about the stream (codecs,
//! picture size and frame rate from onMetaData, keyframe interval, ingest bitrate against its
//! recent average, timestamp jumps, audio/video drift, time since the last frame).
//!
//! `on_frame` runs once per media message on the publisher's path and costs a few integer
//! operations; sequence headers and metadata (rare) are parsed further. `on_sweep` closes a
//! bitrate window. Sans-IO: times are arguments (`now`) and media timestamps.
use crate::media::frame::{Frame, MediaKind};
use crate::protocol::amf::{amf0, AmfValue, Limits};
use crate::protocol::flv::{self, VideoCodec};
use crate::shard::snapshot::{MediaInfo, StreamHealth};
use std::time::Instant;

/// A timestamp step of one kind beyond this (or backwards) counts as a jump.
const JUMP_MS: u32 = 1_000;
/// Weight of the newest window in the recent-average bitrate.
const AVG_WEIGHT: f64 = 0.1;

/// Health of one stream while its publisher is live.
#[derive(Debug)]
pub(crate) struct Health {
    started: Instant,
    last_frame: Instant,
    media: MediaInfo,
    frames_in: u64,
    bytes_in: u64,
    window_start: Instant,
    window_bytes: u64,
    ingest_bps: f64,
    ingest_bps_avg: Option<f64>,
    last_video_ts: Option<u32>,
    last_audio_ts: Option<u32>,
    last_keyframe: Option<(u32, u64)>,
    keyframe_interval_ms: Option<u32>,
    gop_frames: Option<u64>,
    timestamp_jumps: u64,
}

impl Health {
    pub(crate) fn new(now: Instant) -> Self {
        Health {
            started: now,
            last_frame: now,
            media: MediaInfo::default(),
            frames_in: 0,
            bytes_in: 0,
            window_start: now,
            window_bytes: 0,
            ingest_bps: 0.0,
            ingest_bps_avg: None,
            last_video_ts: None,
            last_audio_ts: None,
            last_keyframe: None,
            keyframe_interval_ms: None,
            gop_frames: None,
            timestamp_jumps: 0,
        }
    }

    /// One media message of the publisher, as built into `frame` from `payload`.
    pub(crate) fn on_frame(&mut self, frame: &Frame, payload: &[u8], now: Instant) {
        self.last_frame = now;
        self.frames_in += 1;
        self.bytes_in += payload.len() as u64;
        self.window_bytes += payload.len() as u64;
        let ts = frame.timestamp;
        match frame.kind {
            MediaKind::Video => {
                if frame.sequence_header {
                    self.media.video_codec = flv::video_facts(payload).map(|f| codec_name(f.codec));
                    return;
                }
                self.note_jump(self.last_video_ts, ts);
                self.last_video_ts = Some(ts);
                if frame.keyframe {
                    if let Some((prev, frames)) = self.last_keyframe {
                        self.keyframe_interval_ms = Some(ts.wrapping_sub(prev));
                        self.gop_frames = Some(self.frames_in - frames);
                    }
                    self.last_keyframe = Some((ts, self.frames_in));
                }
            }
            MediaKind::Audio => {
                if frame.sequence_header {
                    self.media.audio_codec =
                        flv::audio_header(payload).map(|h| match (h.sound_format, h.fourcc) {
                            (_, Some(fourcc)) => String::from_utf8_lossy(&fourcc).into_owned(),
                            (f, None) => sound_format_name(f).to_owned(),
                        });
                    return;
                }
                self.note_jump(self.last_audio_ts, ts);
                self.last_audio_ts = Some(ts);
            }
            MediaKind::Data => self.on_metadata(payload),
        }
    }

    fn note_jump(&mut self, last: Option<u32>, ts: u32) {
        if let Some(last) = last {
            let step = ts.wrapping_sub(last) as i32;
            if step < 0 || step as u32 > JUMP_MS {
                self.timestamp_jumps += 1;
            }
        }
    }

    /// onMetaData: width, height, frame rate, and codec names when no header said them yet.
    fn on_metadata(&mut self, payload: &[u8]) {
        let Ok(values) = amf0::decode_all(payload, &Limits::default()) else {
            return;
        };
        let Some(object) = values.get(1) else {
            return;
        };
        let number = |key: &str| object.get(key).and_then(AmfValue::as_f64);
        self.media.width = number("width").or(self.media.width);
        self.media.height = number("height").or(self.media.height);
        self.media.frame_rate = number("framerate")
            .or_else(|| number("fps"))
            .or(self.media.frame_rate);
    }

    /// Closes the bitrate window at `now` (the core's sweep).
    pub(crate) fn on_sweep(&mut self, now: Instant) {
        let secs = now
            .saturating_duration_since(self.window_start)
            .as_secs_f64();
        if secs <= 0.0 {
            return;
        }
        self.ingest_bps = self.window_bytes as f64 * 8.0 / secs;
        self.ingest_bps_avg = Some(match self.ingest_bps_avg {
            None => self.ingest_bps,
            Some(avg) => avg + AVG_WEIGHT * (self.ingest_bps - avg),
        });
        self.window_bytes = 0;
        self.window_start = now;
    }

    pub(crate) fn snapshot(&self, now: Instant) -> StreamHealth {
        let av_drift_ms = match (self.last_video_ts, self.last_audio_ts) {
            (Some(v), Some(a)) => Some(i64::from(v.wrapping_sub(a) as i32)),
            _ => None,
        };
        StreamHealth {
            media: self.media.clone(),
            publishing_for: now.saturating_duration_since(self.started),
            since_last_frame: now.saturating_duration_since(self.last_frame),
            frames_in: self.frames_in,
            bytes_in: self.bytes_in,
            ingest_bps: self.ingest_bps,
            ingest_bps_avg: self.ingest_bps_avg.unwrap_or(0.0),
            keyframe_interval_ms: self.keyframe_interval_ms,
            gop_frames: self.gop_frames,
            timestamp_jumps: self.timestamp_jumps,
            av_drift_ms,
        }
    }
}

fn codec_name(codec: VideoCodec) -> String {
    match codec {
        VideoCodec::Avc => "h264".to_owned(),
        VideoCodec::Hevc => "hevc".to_owned(),
        VideoCodec::Av1 => "av1".to_owned(),
        VideoCodec::Vp9 => "vp9".to_owned(),
        VideoCodec::Legacy(2) => "h263".to_owned(),
        VideoCodec::Legacy(4) | VideoCodec::Legacy(5) => "vp6".to_owned(),
        VideoCodec::Legacy(12) => "hevc".to_owned(),
        VideoCodec::Legacy(id) => format!("flv_codec_{id}"),
        VideoCodec::FourCc(fourcc) => String::from_utf8_lossy(&fourcc).into_owned(),
    }
}

fn sound_format_name(format: u8) -> &'static str {
    match format {
        2 | 14 => "mp3",
        10 => "aac",
        11 => "speex",
        13 => "opus",
        4..=6 => "nellymoser",
        7 => "g711a",
        8 => "g711u",
        0 | 3 => "pcm",
        1 => "adpcm",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::Duration;

    fn frame(kind: MediaKind, ts: u32, key: bool, header: bool) -> Frame {
        Frame::new(kind, ts, key, header, Bytes::from_static(b"x"))
    }

    #[test]
    fn keyframe_interval_jumps_drift_and_bitrate() {
        let t0 = Instant::now();
        let mut h = Health::new(t0);
        h.on_frame(
            &frame(MediaKind::Video, 0, true, true),
            &[0x17, 0, 0, 0, 0, 1, 0x42],
            t0,
        );
        h.on_frame(
            &frame(MediaKind::Audio, 0, false, true),
            &[0xAF, 0, 0x12],
            t0,
        );
        let mut ts = 0;
        for i in 0..50u32 {
            ts = i * 40;
            h.on_frame(
                &frame(MediaKind::Video, ts, i % 25 == 0, false),
                &[0; 100],
                t0,
            );
            h.on_frame(&frame(MediaKind::Audio, ts + 5, false, false), &[0; 25], t0);
        }
        // A jump backwards on audio.
        h.on_frame(&frame(MediaKind::Audio, 10, false, false), &[0; 25], t0);
        h.on_sweep(t0 + Duration::from_secs(1));
        let s = h.snapshot(t0 + Duration::from_secs(2));
        assert_eq!(s.media.video_codec.as_deref(), Some("h264"));
        assert_eq!(s.media.audio_codec.as_deref(), Some("aac"));
        assert_eq!(s.keyframe_interval_ms, Some(1000));
        assert_eq!(s.gop_frames, Some(50));
        assert_eq!(s.timestamp_jumps, 1);
        assert_eq!(s.av_drift_ms, Some(i64::from(ts) - 10));
        assert_eq!(s.since_last_frame, Duration::from_secs(2));
        let bytes = 7 + 3 + 50 * 125 + 25;
        assert_eq!(s.bytes_in, bytes);
        assert!((s.ingest_bps - bytes as f64 * 8.0).abs() < 1e-6);
        assert_eq!(s.ingest_bps, s.ingest_bps_avg);
    }

    #[test]
    fn metadata_gives_picture_facts() {
        let t0 = Instant::now();
        let mut h = Health::new(t0);
        let mut payload = Vec::new();
        amf0::encode(&AmfValue::string("onMetaData"), &mut payload);
        amf0::encode(
            &AmfValue::object([
                ("width", AmfValue::Number(1280.0)),
                ("height", AmfValue::Number(720.0)),
                ("framerate", AmfValue::Number(25.0)),
            ]),
            &mut payload,
        );
        h.on_frame(&frame(MediaKind::Data, 0, false, false), &payload, t0);
        // Garbage is ignored.
        h.on_frame(&frame(MediaKind::Data, 0, false, false), &[0xff, 1, 2], t0);
        let m = h.snapshot(t0).media;
        assert_eq!(
            (m.width, m.height, m.frame_rate),
            (Some(1280.0), Some(720.0), Some(25.0))
        );
    }
}
