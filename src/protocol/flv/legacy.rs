//! How an audio or video message looks to a legacy player (one that announced no Enhanced RTMP
//! capabilities in its connect command): the default track of each kind, in the legacy codec
//! ids where one exists, other tracks and ModEx blocks dropped.
//!
//! Rules, per message ([`legacy_form`]):
//! - A legacy message (no ex-header) is passed as it is: [`LegacyForm::Same`].
//! - The default track in `avc1` becomes legacy codec id 7 (AVCPacketType and composition
//!   time), `mp4a` becomes SoundFormat 10 (AACPacketType), `.mp3` SoundFormat 2.
//! - The default track in any other FourCC (HEVC, AV1, VP9, Opus, ...) has no legacy form: it
//!   stays an ex-header message (FFmpeg 6.1+ reads those), unwrapped from Multitrack and ModEx
//!   when it had them, else [`LegacyForm::Same`].
//! - Other tracks, command frames, and packet types with no legacy meaning (video Metadata,
//!   audio MultichannelConfig of AAC/MP3, ...) are [`LegacyForm::Drop`]ped.
//!
//! Pure function over the payload: returns a short new header and a slice of the original body,
//! never copies the body itself, never panics on short input.
use super::tracks::{
    audio_fourcc, audio_pt, tracks, video_fourcc, video_pt, AvKind, Track, Tracks,
};

const CODEC_AVC: u8 = 7;
const FORMAT_AAC: u8 = 10;
const FORMAT_MP3: u8 = 2;
/// AAC and MP3 headers as FFmpeg writes them: 44 kHz, 16-bit, stereo (decoders read the real
/// values from the codec data).
const SOUND_FLAGS: u8 = 0x0f;

/// A rewritten message header (at most 5 bytes: the ex-header byte and a FourCC, or the AVC
/// header with its composition time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    bytes: [u8; 5],
    len: u8,
}

impl Head {
    fn new(bytes: &[u8]) -> Self {
        let mut head = Head {
            bytes: [0; 5],
            len: 0,
        };
        let n = bytes.len().min(5);
        head.bytes[..n].copy_from_slice(&bytes[..n]);
        head.len = n as u8;
        head
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// What a legacy player gets for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyForm<'a> {
    /// The message as it is.
    Same,
    /// Nothing.
    Drop,
    /// `head` followed by `body`.
    Rewrite { head: Head, body: &'a [u8] },
}

impl LegacyForm<'_> {
    /// Length of the rewritten payload; None for `Same` and `Drop`.
    pub fn rewritten_len(&self) -> Option<usize> {
        match self {
            LegacyForm::Rewrite { head, body } => Some(head.as_slice().len() + body.len()),
            _ => None,
        }
    }
}

/// The legacy form of an audio (`kind` Audio) or video message whose default track of that
/// kind is `default_track`. See the module doc.
pub fn legacy_form(kind: AvKind, payload: &[u8], default_track: u8) -> LegacyForm<'_> {
    let Some(first) = payload.first() else {
        return LegacyForm::Same;
    };
    let ex = match kind {
        AvKind::Video => first & 0x80 != 0,
        AvKind::Audio => first >> 4 == 9,
    };
    if !ex {
        return LegacyForm::Same;
    }
    let Some(view) = tracks(kind, payload) else {
        // Command frames (no FourCC) and truncated headers: nothing a legacy player can use.
        return LegacyForm::Drop;
    };
    let Some(track) = view.find(default_track) else {
        return LegacyForm::Drop;
    };
    match kind {
        AvKind::Video => video(&view, track),
        AvKind::Audio => audio(&view, track),
    }
}

fn video<'a>(view: &Tracks<'a>, t: Track<'a>) -> LegacyForm<'a> {
    let ft = view.frame_type << 4;
    if t.fourcc == video_fourcc::AVC {
        let avc = ft | CODEC_AVC;
        return match t.packet_type {
            video_pt::SEQUENCE_START => rewrite(&[avc, 0, 0, 0, 0], t.body),
            // CodedFrames carries its SI24 composition time first, as AVCPacketType 1 does.
            video_pt::CODED_FRAMES => rewrite(&[avc, 1], t.body),
            video_pt::CODED_FRAMES_X => rewrite(&[avc, 1, 0, 0, 0], t.body),
            video_pt::SEQUENCE_END => rewrite(&[avc, 2, 0, 0, 0], &[]),
            _ => LegacyForm::Drop,
        };
    }
    unwrapped(view, 0x80 | ft | t.packet_type, t)
}

fn audio<'a>(view: &Tracks<'a>, t: Track<'a>) -> LegacyForm<'a> {
    if t.fourcc == audio_fourcc::AAC {
        let aac = FORMAT_AAC << 4 | SOUND_FLAGS;
        return match t.packet_type {
            audio_pt::SEQUENCE_START => rewrite(&[aac, 0], t.body),
            audio_pt::CODED_FRAMES => rewrite(&[aac, 1], t.body),
            _ => LegacyForm::Drop,
        };
    }
    if t.fourcc == audio_fourcc::MP3 {
        return match t.packet_type {
            audio_pt::CODED_FRAMES => rewrite(&[FORMAT_MP3 << 4 | SOUND_FLAGS], t.body),
            _ => LegacyForm::Drop,
        };
    }
    unwrapped(view, 0x90 | t.packet_type, t)
}

/// A codec with no legacy id: the single-track ex-header form, or the message itself when it
/// already is one.
fn unwrapped<'a>(view: &Tracks<'a>, first: u8, t: Track<'a>) -> LegacyForm<'a> {
    if view.multitrack.is_none() && !view.mod_ex {
        return LegacyForm::Same;
    }
    let f = t.fourcc;
    rewrite(&[first, f[0], f[1], f[2], f[3]], t.body)
}

fn rewrite<'a>(head: &[u8], body: &'a [u8]) -> LegacyForm<'a> {
    LegacyForm::Rewrite {
        head: Head::new(head),
        body,
    }
}

#[cfg(test)]
#[path = "legacy_tests.rs"]
mod tests;
