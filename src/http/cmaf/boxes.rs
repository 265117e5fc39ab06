//! The CMAF boxes: the init segment (`ftyp` + `moov` with `avc1`/`avcC`, `hvc1`/`hvcC`,
//! `mp4a`/`esds`) and media fragments (`moof` with `mfhd`, `tfhd`, `tfdt`, `trun`, then `mdat`).
//!
//! Written with the `mp4-atom` crate; the codec configuration records from RTMP are decoded
//! into its types once per sequence header ([`VideoTrack::new`], [`AudioTrack::new`]), so a
//! malformed record is a typed error there and never reaches a player. Pure functions: no I/O.
use super::input::VideoCodecKind;
use mp4_atom::{
    Atom, Audio, Avc1, Avcc, Codec, Dinf, Dref, Encode, Esds, Ftyp, Hdlr, Hvc1, Hvcc, Mdhd, Mdia,
    Mfhd, Minf, Moof, Moov, Mp4a, Mvex, Mvhd, Smhd, Stbl, Stco, Stsd, Tfdt, Tfhd, Tkhd, Traf, Trak,
    Trex, Trun, TrunEntry, TrunSamples, Url, Visual, Vmhd,
};

/// Track id of the video track in every init segment and fragment.
pub const VIDEO_TRACK_ID: u32 = 1;
/// Track id of the audio track.
pub const AUDIO_TRACK_ID: u32 = 2;
/// Video timescale: 90 kHz, the MPEG convention, so 1 ms RTMP timestamps map exactly
/// (90 ticks) and 23.976/29.97 fps frame durations stay integral as players expect.
pub const VIDEO_TIMESCALE: u32 = 90_000;
/// Samples per AAC-LC access unit; audio uses the sample rate as timescale so every frame
/// lasts exactly this many ticks, free of the 1 ms rounding of RTMP timestamps.
pub const AAC_FRAME_SAMPLES: u32 = 1024;

/// ISO/IEC 14496-12 sample flags: a sync sample that depends on no other.
pub const FLAGS_SYNC: u32 = 0x0200_0000;
/// A non-sync sample that depends on others.
pub const FLAGS_NON_SYNC: u32 = 0x0101_0000;

const MDAT_HEADER: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoxError {
    #[error("video decoder configuration record is malformed")]
    BadVideoConfig,
    #[error("AAC AudioSpecificConfig is malformed or not AAC")]
    BadAudioConfig,
    #[error("fragment of {0} bytes is too large for one mdat")]
    TooLarge(usize),
    #[error("writing an MP4 box failed: {0}")]
    Encode(String),
}

/// A video track's sample entry, decoded from its RTMP sequence header.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoTrack {
    pub codec: VideoCodecKind,
    /// RFC 6381 codec string for playlists (`avc1.64001f`, `hvc1.1.6.L93.B0`).
    pub codec_string: String,
    entry: Codec,
    /// The record as received: a repeated identical sequence header changes nothing.
    pub record: Vec<u8>,
    /// Picture size from the H.264 / H.265 SPS; 0x0 when unknown (decoders read the SPS).
    pub width: u16,
    pub height: u16,
}

impl VideoTrack {
    pub fn new(codec: VideoCodecKind, record: &[u8]) -> Result<Self, BoxError> {
        let mut visual = Visual {
            data_reference_index: 1,
            ..Visual::default()
        };
        let (entry, codec_string) = match codec {
            VideoCodecKind::Avc => {
                let avcc =
                    Avcc::decode_body(&mut &record[..]).map_err(|_| BoxError::BadVideoConfig)?;
                let size = avcc.sequence_parameter_sets.first();
                if let Some((w, h)) = size.and_then(|sps| super::sps::avc_dimensions(sps)) {
                    (visual.width, visual.height) = (w, h);
                }
                let s = format!(
                    "avc1.{:02x}{:02x}{:02x}",
                    avcc.avc_profile_indication,
                    avcc.profile_compatibility,
                    avcc.avc_level_indication
                );
                let entry = Avc1 {
                    visual,
                    avcc,
                    btrt: None,
                    colr: None,
                    pasp: None,
                    taic: None,
                    fiel: None,
                    spatial: None,
                };
                (Codec::from(entry), s)
            }
            VideoCodecKind::Hevc => {
                let hvcc =
                    Hvcc::decode_body(&mut &record[..]).map_err(|_| BoxError::BadVideoConfig)?;
                let s = hevc_codec_string(&hvcc);
                let size = hvcc
                    .arrays
                    .iter()
                    .filter(|a| a.nal_unit_type & 0x3f == super::hevc_sps::SPS_NUT)
                    .flat_map(|a| &a.nalus)
                    .find_map(|sps| super::hevc_sps::hevc_dimensions(sps));
                if let Some((w, h)) = size {
                    (visual.width, visual.height) = (w, h);
                }
                let entry = Hvc1 {
                    visual,
                    hvcc,
                    lhvc: None,
                    btrt: None,
                    colr: None,
                    pasp: None,
                    taic: None,
                    fiel: None,
                    ccst: None,
                    spatial: None,
                };
                (Codec::from(entry), s)
            }
        };
        let (width, height) = match &entry {
            Codec::Avc1(avc1) => (avc1.visual.width, avc1.visual.height),
            Codec::Hvc1(hvc1) => (hvc1.visual.width, hvc1.visual.height),
            _ => (0, 0),
        };
        Ok(Self {
            codec,
            codec_string,
            entry,
            record: record.to_vec(),
            width,
            height,
        })
    }
}

/// ISO/IEC 14496-15 Annex E codec string of an HEVC configuration.
fn hevc_codec_string(h: &Hvcc) -> String {
    let space = match h.general_profile_space {
        1 => "A",
        2 => "B",
        3 => "C",
        _ => "",
    };
    // The 32 compatibility flags in reverse bit order, hex without leading zeros.
    let compat = u32::from_be_bytes(h.general_profile_compatibility_flags).reverse_bits();
    let tier = if h.general_tier_flag { 'H' } else { 'L' };
    let mut s = format!(
        "hvc1.{space}{}.{compat:x}.{tier}{}",
        h.general_profile_idc, h.general_level_idc
    );
    let flags = &h.general_constraint_indicator_flags;
    let used = flags.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    for b in flags.iter().take(used) {
        s.push_str(&format!(".{b:X}"));
    }
    s
}

/// An AAC track's sample entry, decoded from its AudioSpecificConfig.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioTrack {
    /// The AudioSpecificConfig as received.
    pub config: Vec<u8>,
    /// Audio object type (2 = AAC-LC, 5 = HE-AAC).
    pub object_type: u8,
    /// Core sampling rate: the track's timescale.
    pub sample_rate: u32,
    pub channels: u16,
    /// RFC 6381 codec string (`mp4a.40.2`).
    pub codec_string: String,
}

const AAC_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

impl AudioTrack {
    pub fn new(config: &[u8]) -> Result<Self, BoxError> {
        if config.len() < 2 {
            return Err(BoxError::BadAudioConfig);
        }
        let bits = config
            .iter()
            .take(5)
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
            << (8 * (8 - config.len().min(5)));
        let field = |at: u32, width: u32| ((bits >> (64 - at - width)) & ((1 << width) - 1)) as u32;
        let mut at = 0;
        let mut object_type = field(at, 5);
        at += 5;
        if object_type == 31 {
            object_type = 32 + field(at, 6);
            at += 6;
        }
        let freq_index = field(at, 4);
        at += 4;
        let sample_rate = if freq_index == 15 {
            at += 24;
            field(at - 24, 24)
        } else {
            *AAC_RATES
                .get(freq_index as usize)
                .ok_or(BoxError::BadAudioConfig)?
        };
        let channels = field(at, 4) as u16;
        let needed_bits = (at + 4) as usize;
        if config.len() * 8 < needed_bits
            || object_type == 0
            || sample_rate == 0
            || sample_rate > 96000
        {
            return Err(BoxError::BadAudioConfig);
        }
        Ok(Self {
            config: config.to_vec(),
            object_type: object_type as u8,
            sample_rate,
            channels: channels.max(1),
            codec_string: format!("mp4a.40.{object_type}"),
        })
    }

    fn entry(&self) -> Codec {
        let mut esds = Esds::default();
        esds.es_desc.es_id = AUDIO_TRACK_ID as u16;
        esds.es_desc.dec_config.object_type_indication = 0x40;
        esds.es_desc.dec_config.stream_type = 5;
        esds.es_desc.dec_config.up_stream = 0;
        esds.es_desc.dec_config.dec_specific = Some(mp4_atom::esds::DecoderSpecific {
            profile: self.object_type,
            freq_index: AAC_RATES
                .iter()
                .position(|&r| r == self.sample_rate)
                .unwrap_or(15) as u8,
            chan_conf: self.channels as u8,
            raw: self.config.clone(),
        });
        Codec::from(Mp4a {
            audio: Audio {
                data_reference_index: 1,
                channel_count: self.channels,
                sample_size: 16,
                // The 16.16 field holds rates up to 65535 Hz; above that it is informative only.
                sample_rate: (self.sample_rate.min(65535) as u16).into(),
            },
            esds,
            btrt: None,
            taic: None,
        })
    }
}

fn encode(atom: &impl Encode, out: &mut Vec<u8>) -> Result<(), BoxError> {
    atom.encode(out)
        .map_err(|e| BoxError::Encode(e.to_string()))
}

/// The init segment (`ftyp` + `moov`) for the given tracks: both for HLS (muxed), one for a
/// DASH representation.
pub fn init_segment(
    video: Option<&VideoTrack>,
    audio: Option<&AudioTrack>,
) -> Result<Vec<u8>, BoxError> {
    let mut out = Vec::with_capacity(1024);
    encode(
        &Ftyp {
            major_brand: b"iso6".into(),
            minor_version: 0,
            compatible_brands: vec![b"iso6".into(), b"cmfc".into(), b"mp41".into()],
        },
        &mut out,
    )?;
    let mut trak = Vec::new();
    let mut trex = Vec::new();
    if let Some(v) = video {
        let mut video_trak = track_box(VIDEO_TRACK_ID, VIDEO_TIMESCALE, v.entry.clone(), true);
        video_trak.tkhd.width = v.width.into();
        video_trak.tkhd.height = v.height.into();
        trak.push(video_trak);
        trex.push(trex_box(VIDEO_TRACK_ID));
    }
    if let Some(a) = audio {
        trak.push(track_box(AUDIO_TRACK_ID, a.sample_rate, a.entry(), false));
        trex.push(trex_box(AUDIO_TRACK_ID));
    }
    let moov = Moov {
        mvhd: Mvhd {
            timescale: 1000,
            rate: 1.into(),
            volume: 1.into(),
            next_track_id: AUDIO_TRACK_ID + 1,
            ..Mvhd::default()
        },
        mvex: Some(Mvex { mehd: None, trex }),
        trak,
        ..Moov::default()
    };
    encode(&moov, &mut out)?;
    Ok(out)
}

fn trex_box(track_id: u32) -> Trex {
    Trex {
        track_id,
        default_sample_description_index: 1,
        default_sample_duration: 0,
        default_sample_size: 0,
        default_sample_flags: 0,
    }
}

fn track_box(track_id: u32, timescale: u32, entry: Codec, video: bool) -> Trak {
    Trak {
        tkhd: Tkhd {
            track_id,
            enabled: true,
            in_movie: true,
            alternate_group: if video { 0 } else { 1 },
            volume: if video { 0.into() } else { 1.into() },
            ..Tkhd::default()
        },
        mdia: Mdia {
            mdhd: Mdhd {
                timescale,
                language: "und".into(),
                ..Mdhd::default()
            },
            hdlr: Hdlr {
                handler: if video {
                    b"vide".into()
                } else {
                    b"soun".into()
                },
                name: if video { "Video" } else { "Audio" }.to_string(),
            },
            minf: Minf {
                vmhd: video.then(Vmhd::default),
                smhd: (!video).then(Smhd::default),
                dinf: Dinf {
                    dref: Dref {
                        entries: vec![Url::default().into()],
                    },
                },
                stbl: Stbl {
                    stsd: Stsd {
                        codecs: vec![entry],
                    },
                    stco: Some(Stco::default()),
                    ..Stbl::default()
                },
                ..Minf::default()
            },
        },
        ..Trak::default()
    }
}

/// One sample of a fragment's `trun`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleEntry {
    pub duration: u32,
    pub size: u32,
    pub flags: u32,
    /// Composition offset in track ticks (signed: `trun` version 1).
    pub composition: i32,
}

/// One track's fragment: `moof` (mfhd, traf: tfhd with default-base-is-moof, tfdt, trun with
/// per-sample durations, sizes, flags and composition offsets) then `mdat` holding `data`,
/// the samples back to back in `samples` order.
pub fn fragment(
    sequence: u32,
    track_id: u32,
    base_decode_time: u64,
    samples: &[SampleEntry],
    data: &[u8],
) -> Result<Vec<u8>, BoxError> {
    let mdat_len = data
        .len()
        .checked_add(MDAT_HEADER)
        .filter(|&n| u32::try_from(n).is_ok())
        .ok_or(BoxError::TooLarge(data.len()))?;
    let entries = samples
        .iter()
        .map(|s| TrunEntry {
            duration: Some(s.duration),
            size: Some(s.size),
            flags: Some(s.flags),
            cts: Some(i64::from(s.composition)),
        })
        .collect();
    let mut moof = Moof {
        mfhd: Mfhd {
            sequence_number: sequence,
        },
        traf: vec![Traf {
            tfhd: Tfhd {
                track_id,
                default_base_is_moof: true,
                ..Tfhd::default()
            },
            tfdt: Some(Tfdt {
                base_media_decode_time: base_decode_time,
            }),
            trun: vec![Trun {
                data_offset: Some(0),
                samples: TrunSamples::Explicit(entries),
            }],
            ..Traf::default()
        }],
    };
    // The data offset counts from the start of moof to the first sample byte; a first pass
    // measures moof (its size does not depend on the offset's value).
    let mut probe = Vec::new();
    encode(&moof, &mut probe)?;
    let offset = i32::try_from(probe.len() + MDAT_HEADER).map_err(|_| BoxError::TooLarge(0))?;
    if let Some(trun) = moof.traf.first_mut().and_then(|t| t.trun.first_mut()) {
        trun.data_offset = Some(offset);
    }
    let mut out = Vec::with_capacity(probe.len() + mdat_len);
    encode(&moof, &mut out)?;
    out.extend_from_slice(&(mdat_len as u32).to_be_bytes());
    out.extend_from_slice(b"mdat");
    out.extend_from_slice(data);
    Ok(out)
}

#[cfg(test)]
#[path = "boxes_tests.rs"]
mod tests;
