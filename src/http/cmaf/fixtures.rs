//! Synthetic RTMP media for the unit tests of the segmenter, the store and the manifests:
//! FLV tag bodies (AVC sequence header and frames, AAC config and frames), real HEVC SPS NAL
//! units, and a feeder that pushes an interleaved stream with arrival instants equal to the timestamps.
use super::{Segmenter, SegmenterSettings, WallClock};
use crate::media::frame::MediaKind;
use std::time::{Duration, Instant, SystemTime};

/// AVCDecoderConfigurationRecord: High profile level 3.1, one SPS, one PPS.
pub const AVCC: &[u8] = &[
    0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x1a, 0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50,
    0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83,
    0x19, 0x60, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0,
];
/// HEVC SPS NAL units as FFmpeg's libx265 writes them for testsrc2 (Main, 4:2:0): 320x240
/// (no conformance window) and 1920x1080 with `min-cu-size=16`, coded as 1088 lines with a
/// conformance window of 4 chroma lines at the bottom.
pub const X265_SPS_320X240: &[u8] = &[
    0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03,
    0x00, 0x3c, 0xa0, 0x0a, 0x08, 0x0f, 0x16, 0x59, 0x59, 0xa4, 0x93, 0x2b, 0xc0, 0x5a, 0x02, 0x00,
    0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x32, 0x10,
];
pub const X265_SPS_1920X1088_CROPPED: &[u8] = &[
    0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03,
    0x00, 0x78, 0xa0, 0x03, 0xc0, 0x80, 0x11, 0x07, 0xcb, 0x96, 0x56, 0x64, 0xe4, 0xca, 0xf0, 0x16,
    0x80, 0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x0c, 0x84,
];
/// AAC-LC, 44.1 kHz, stereo.
pub const ASC: &[u8] = &[0x12, 0x10];

pub fn avc_seq(record: &[u8]) -> Vec<u8> {
    let mut b = vec![0x17, 0x00, 0, 0, 0];
    b.extend_from_slice(record);
    b
}

/// A coded frame of `size` bytes of NAL data, composition time `cts` ms.
pub fn avc_frame(keyframe: bool, cts: i32, size: usize) -> Vec<u8> {
    let c = cts.to_be_bytes();
    let mut b = vec![if keyframe { 0x17 } else { 0x27 }, 0x01, c[1], c[2], c[3]];
    let nal = size.saturating_sub(4) as u32;
    b.extend_from_slice(&nal.to_be_bytes());
    b.push(if keyframe { 0x65 } else { 0x41 });
    b.resize(5 + size, 0xab);
    b
}

pub fn aac_seq(config: &[u8]) -> Vec<u8> {
    let mut b = vec![0xaf, 0x00];
    b.extend_from_slice(config);
    b
}

pub fn aac_frame(size: usize) -> Vec<u8> {
    let mut b = vec![0xaf, 0x01];
    b.resize(2 + size, 0x21);
    b
}

pub fn settings() -> SegmenterSettings {
    SegmenterSettings {
        segment_target_ms: 2000,
        part_target_ms: 500,
        window_segments: 100,
        max_bytes: 64 << 20,
    }
}

/// A stream of `ms` milliseconds of H.264 + AAC (2 s GOPs) through a new segmenter.
pub fn av_feed(settings: SegmenterSettings, ms: u64) -> Feed {
    let mut feed = Feed::new(settings);
    feed.headers(true, true);
    feed.run(ms, true, true);
    feed
}

/// [`settings`] with a window of `segments`.
pub fn window(segments: usize) -> SegmenterSettings {
    SegmenterSettings {
        window_segments: segments,
        ..settings()
    }
}

/// Drives a segmenter with a simulated stream: instants are `start + media time`.
pub struct Feed {
    pub segmenter: Segmenter,
    pub start: Instant,
    /// Frames per second and frames per keyframe of the video.
    pub fps: u32,
    pub gop: u32,
    pub frame_size: usize,
    next_video: u64,
    next_audio: u64,
}

impl Feed {
    pub fn new(settings: SegmenterSettings) -> Self {
        let start = Instant::now();
        let clock = WallClock {
            instant: start,
            system: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        };
        Feed {
            segmenter: Segmenter::new(settings, clock),
            start,
            fps: 25,
            gop: 50,
            frame_size: 1000,
            next_video: 0,
            next_audio: 0,
        }
    }

    pub fn at(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }

    pub fn push(&mut self, kind: MediaKind, ts: u64, body: &[u8]) -> super::Pushed {
        let now = self.at(ts);
        self.segmenter
            .push(kind, ts as u32, body, now)
            .expect("push accepted")
    }

    pub fn headers(&mut self, video: bool, audio: bool) {
        if video {
            self.push(MediaKind::Video, 0, &avc_seq(AVCC));
        }
        if audio {
            self.push(MediaKind::Audio, 0, &aac_seq(ASC));
        }
    }

    /// Pushes `ms` more milliseconds of interleaved media (video every 1/fps s, a keyframe
    /// every `gop` frames; AAC frames of 1024 samples at 44.1 kHz), in timestamp order.
    pub fn run(&mut self, ms: u64, video: bool, audio: bool) {
        let end_video = self.next_video + ms * u64::from(self.fps) / 1000;
        let end_ms = self.next_video * 1000 / u64::from(self.fps) + ms;
        loop {
            let video_ms = self.next_video * 1000 / u64::from(self.fps);
            let audio_ms = self.next_audio * 1024 * 1000 / 44_100;
            let video_due = video && self.next_video < end_video;
            let audio_due = audio && audio_ms < end_ms;
            if video_due && (!audio_due || video_ms <= audio_ms) {
                let key = self.next_video % u64::from(self.gop) == 0;
                let frame = avc_frame(key, 40, self.frame_size);
                self.push(MediaKind::Video, video_ms, &frame);
                self.next_video += 1;
            } else if audio_due {
                self.push(MediaKind::Audio, audio_ms, &aac_frame(200));
                self.next_audio += 1;
            } else {
                break;
            }
        }
        if !video {
            self.next_video = end_video;
        }
    }
}
