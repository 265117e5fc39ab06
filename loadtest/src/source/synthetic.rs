//! The synthetic source: metadata, AVC and AAC sequence headers at time 0, then video frames
//! (IDR every GOP, P_Skip otherwise, padded with filler to follow the bitrate: an IDR gets 10
//! times a P frame's budget within the GOP's budget) and silent AAC frames at 128 kbps.
//!
//! Video frame i is due at start + i/fps and carries sequence number i. Frame sizes use error
//! diffusion, so the average rate is exact even when a budget is not a whole byte count.
use super::{Body, Item};
use crate::aac;
use crate::clock::NS_PER_SEC;
use crate::h264::SyntheticVideo;
use crate::sei::{write_stamp_nal, Stamp};
use rtmp_edge::protocol::amf::AmfValue;

pub const AUDIO_BPS: u64 = 128_000;
pub const WIDTH: u32 = 64;
pub const HEIGHT: u32 = 64;
/// How much bigger an IDR frame is than a P frame.
const KEYFRAME_FACTOR: f64 = 10.0;

#[derive(Debug, Clone, Copy)]
pub struct SyntheticConfig {
    /// Video bits per second (audio comes on top).
    pub video_bps: u64,
    pub fps: f64,
    pub gop_s: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Header {
    Metadata,
    Video,
    Audio,
    Done,
}

pub struct SyntheticSource {
    config: SyntheticConfig,
    video: SyntheticVideo,
    gop_frames: u64,
    p_budget: f64,
    i_budget: f64,
    /// Bytes owed (positive) or overspent (negative) by earlier frames.
    video_carry: f64,
    audio_budget: f64,
    audio_carry: f64,
    /// Silent frames of `audio_short` and `audio_short + 1` raw bytes, FLV header included.
    audio_frames: [Vec<u8>; 2],
    audio_short: usize,
    metadata: AmfValue,
    video_header: Vec<u8>,
    audio_header: [u8; 4],
    header: Header,
    start_ns: u64,
    next_video: u64,
    next_audio: u64,
    frame: Vec<u8>,
    sei: Vec<u8>,
}

impl SyntheticSource {
    pub fn new(config: SyntheticConfig) -> Self {
        let video = SyntheticVideo::new(WIDTH, HEIGHT);
        let gop_frames = (config.gop_s * config.fps).round().max(1.0) as u64;
        let gop_bytes = config.video_bps as f64 / 8.0 * gop_frames as f64 / config.fps;
        let (p_budget, i_budget) = if gop_frames == 1 {
            (gop_bytes, gop_bytes)
        } else {
            let p = gop_bytes / (gop_frames as f64 - 1.0 + KEYFRAME_FACTOR);
            (p, p * KEYFRAME_FACTOR)
        };
        let audio_budget = AUDIO_BPS as f64 / 8.0 * f64::from(aac::SAMPLES_PER_FRAME)
            / f64::from(aac::SAMPLE_RATE);
        // The FLV AudioTagHeader takes 2 bytes of each frame's budget.
        let audio_short = (audio_budget.floor() as usize)
            .saturating_sub(2)
            .max(aac::MIN_FRAME_LEN);
        let audio_frame = |raw: usize| {
            let mut f = vec![aac::FLV_AAC_HEADER, aac::AAC_RAW];
            f.extend_from_slice(&aac::silent_frame(raw));
            f
        };
        let metadata = AmfValue::EcmaArray(
            [
                ("width", AmfValue::Number(f64::from(video.width()))),
                ("height", AmfValue::Number(f64::from(video.height()))),
                ("framerate", AmfValue::Number(config.fps)),
                ("videocodecid", AmfValue::Number(7.0)),
                (
                    "videodatarate",
                    AmfValue::Number(config.video_bps as f64 / 1000.0),
                ),
                ("audiocodecid", AmfValue::Number(10.0)),
                ("audiodatarate", AmfValue::Number(AUDIO_BPS as f64 / 1000.0)),
                (
                    "audiosamplerate",
                    AmfValue::Number(f64::from(aac::SAMPLE_RATE)),
                ),
                ("audiosamplesize", AmfValue::Number(16.0)),
                ("stereo", AmfValue::Boolean(true)),
                ("encoder", AmfValue::string("rtmp-loadtest")),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        );
        SyntheticSource {
            config,
            video_header: video.sequence_header(),
            video,
            gop_frames,
            p_budget,
            i_budget,
            video_carry: 0.0,
            audio_budget,
            audio_carry: 0.0,
            audio_frames: [audio_frame(audio_short), audio_frame(audio_short + 1)],
            audio_short,
            metadata,
            audio_header: aac::sequence_header(),
            header: Header::Metadata,
            start_ns: 0,
            next_video: 0,
            next_audio: 0,
            frame: Vec::new(),
            sei: Vec::new(),
        }
    }

    pub fn begin(&mut self, start_ns: u64) {
        self.start_ns = start_ns;
    }

    #[cfg(test)]
    pub fn gop_frames(&self) -> u64 {
        self.gop_frames
    }

    pub fn nominal_bps(&self) -> u64 {
        self.config.video_bps + AUDIO_BPS
    }

    fn video_offset_ns(&self, i: u64) -> u64 {
        (i as f64 * NS_PER_SEC as f64 / self.config.fps).round() as u64
    }

    fn audio_offset_ns(&self, k: u64) -> u64 {
        k * u64::from(aac::SAMPLES_PER_FRAME) * NS_PER_SEC / u64::from(aac::SAMPLE_RATE)
    }

    pub fn next_due_ns(&self) -> u64 {
        if self.header != Header::Done {
            return self.start_ns;
        }
        let video = self.video_offset_ns(self.next_video);
        let audio = self.audio_offset_ns(self.next_audio);
        self.start_ns + video.min(audio)
    }

    pub fn next(&mut self) -> Item<'_> {
        match self.header {
            Header::Metadata => {
                self.header = Header::Video;
                let body = Body::Metadata(&self.metadata);
                return Item {
                    type_id: 18,
                    timestamp: 0,
                    body,
                    stamp: None,
                };
            }
            Header::Video => {
                self.header = Header::Audio;
                let body = Body::Media(&self.video_header);
                return Item {
                    type_id: 9,
                    timestamp: 0,
                    body,
                    stamp: None,
                };
            }
            Header::Audio => {
                self.header = Header::Done;
                let body = Body::Media(&self.audio_header);
                return Item {
                    type_id: 8,
                    timestamp: 0,
                    body,
                    stamp: None,
                };
            }
            Header::Done => {}
        }
        let video_at = self.video_offset_ns(self.next_video);
        if video_at <= self.audio_offset_ns(self.next_audio) {
            self.next_video_frame(video_at)
        } else {
            self.next_audio_frame()
        }
    }

    fn next_video_frame(&mut self, offset_ns: u64) -> Item<'_> {
        let i = self.next_video;
        self.next_video += 1;
        let keyframe = i % self.gop_frames == 0;
        let stamp = Stamp {
            scheduled_ns: self.start_ns + offset_ns,
            sequence: i,
        };
        write_stamp_nal(stamp, &mut self.sei);
        let want = self.video_carry
            + if keyframe {
                self.i_budget
            } else {
                self.p_budget
            };
        self.video
            .frame(keyframe, &self.sei, want.max(0.0) as usize, &mut self.frame);
        self.video_carry = want - self.frame.len() as f64;
        let timestamp = (offset_ns / 1_000_000) as u32;
        Item {
            type_id: 9,
            timestamp,
            body: Body::Media(&self.frame),
            stamp: Some(stamp),
        }
    }

    fn next_audio_frame(&mut self) -> Item<'_> {
        let k = self.next_audio;
        self.next_audio += 1;
        let timestamp = (self.audio_offset_ns(k) / 1_000_000) as u32;
        let want = self.audio_carry + self.audio_budget;
        let index = usize::from(want >= (self.audio_short + 3) as f64);
        let frame = &self.audio_frames[index];
        self.audio_carry = want - frame.len() as f64;
        Item {
            type_id: 8,
            timestamp,
            body: Body::Media(frame),
            stamp: None,
        }
    }
}

#[cfg(test)]
mod tests;
