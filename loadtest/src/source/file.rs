//! The FLV file source: replays a memory-mapped FLV file in real time, following the tag
//! timestamps, in a loop whose timestamps keep increasing across loops.
//!
//! Tags are sent as slices of the mapping. Only an AVC coded frame gets a new buffer: its
//! latency SEI is inserted as the first NAL unit (with the file's NAL length size). Sequence
//! headers and script data are sent on the first pass only; script data named `onMetaData`
//! goes out as `@setDataFrame onMetaData`. Video in other codecs is sent unstamped.
use super::{Body, Item};
use crate::h264::nal_length_size;
use crate::sei::{write_stamp_nal, Stamp};
use rtmp_edge::protocol::flv::{
    audio_facts, parse_file_header, video_facts, FlvTag, TagIter, VideoCodec, TAG_AUDIO,
    TAG_SCRIPT, TAG_VIDEO,
};
use std::path::Path;

const SET_DATA_FRAME: &[u8] = b"\x02\x00\x0d@setDataFrame";
const ON_METADATA: &[u8] = b"\x02\x00\x0aonMetaData";
/// Loop gap when the file gives no frame interval to copy.
const DEFAULT_FRAME_MS: u64 = 40;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not an FLV file: {detail}")]
    Format { path: String, detail: String },
}

/// The bytes of the file: a mapping, or a vector in tests.
enum Data {
    Map(memmap2::Mmap),
    #[cfg(test)]
    Owned(Vec<u8>),
}

impl std::ops::Deref for Data {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Data::Map(m) => m,
            #[cfg(test)]
            Data::Owned(v) => v,
        }
    }
}

struct Tag {
    tag: FlvTag,
    /// ms after the first tag.
    offset_ms: u64,
    /// Sent on the first pass only (sequence headers, script data).
    setup: bool,
    /// AVC coded frame: gets the stamp.
    stamp: bool,
}

pub struct FileSource {
    data: Data,
    tags: Vec<Tag>,
    /// Length of one pass, added to timestamps on every loop.
    loop_ms: u64,
    /// Average media bitrate of one pass.
    bps: u64,
    next: usize,
    pass: u64,
    start_ns: u64,
    length_size: usize,
    sequence: u64,
    buf: Vec<u8>,
    sei: Vec<u8>,
}

impl FileSource {
    pub fn open(path: &Path) -> Result<FileSource, FileError> {
        let name = path.display().to_string();
        let io = |source| FileError::Io {
            path: name.clone(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: the file is only read; a concurrent truncation by another process could
        // fault, which is the accepted risk of replaying a file in place.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        FileSource::from_data(Data::Map(map)).map_err(|detail| FileError::Format {
            path: name.clone(),
            detail,
        })
    }

    #[cfg(test)]
    pub fn from_bytes(bytes: Vec<u8>) -> Result<FileSource, String> {
        FileSource::from_data(Data::Owned(bytes))
    }

    fn from_data(data: Data) -> Result<FileSource, String> {
        let first = parse_file_header(&data).map_err(|e| e.to_string())?;
        let mut tags = Vec::new();
        let mut first_ts = None;
        let mut length_size = 4;
        let (mut last_video, mut video_gap) = (None::<u64>, None::<u64>);
        let mut bytes = 0u64;
        for tag in TagIter::new(&data, first) {
            // Unknown tag types are skipped; a truncated tail ends the file.
            let Ok(tag) = tag else { continue };
            let payload = &data[tag.data.clone()];
            let base = *first_ts.get_or_insert(tag.timestamp);
            // Timestamps before the first one (B-frame reordering in odd muxers) count as 0.
            let offset_ms = u64::from(tag.timestamp.saturating_sub(base));
            let (setup, stamp) = match tag.tag_type {
                TAG_VIDEO => match video_facts(payload) {
                    Some(f) if f.sequence_header => {
                        if f.codec == VideoCodec::Avc && !f.ex_header {
                            length_size = nal_length_size(payload).unwrap_or(4);
                        }
                        (true, false)
                    }
                    Some(f) => {
                        let avc = f.codec == VideoCodec::Avc
                            && !f.ex_header
                            && payload.get(1) == Some(&1);
                        if let Some(prev) = last_video {
                            if offset_ms > prev {
                                video_gap = Some(offset_ms - prev);
                            }
                        }
                        last_video = Some(offset_ms);
                        (false, avc && !f.command_frame)
                    }
                    None => (false, false),
                },
                TAG_AUDIO => (
                    audio_facts(payload).is_some_and(|f| f.sequence_header),
                    false,
                ),
                TAG_SCRIPT => (true, false),
                _ => continue,
            };
            bytes += payload.len() as u64;
            tags.push(Tag {
                tag,
                offset_ms,
                setup,
                stamp,
            });
        }
        let Some(last) = tags.iter().map(|t| t.offset_ms).max() else {
            return Err("no audio, video or script tags".into());
        };
        if tags.iter().all(|t| t.setup) {
            return Err("only headers, no media frames".into());
        }
        // The next pass starts one frame interval after the last video frame (or the last
        // tag), so frame spacing holds across the loop.
        let gap = video_gap.unwrap_or(DEFAULT_FRAME_MS);
        let loop_ms = last_video.map_or(last + gap, |v| (v + gap).max(last + 1));
        let bps = bytes * 8 * 1000 / loop_ms.max(1);
        Ok(FileSource {
            data,
            tags,
            loop_ms,
            bps,
            next: 0,
            pass: 0,
            start_ns: 0,
            length_size,
            sequence: 0,
            buf: Vec::new(),
            sei: Vec::new(),
        })
    }

    pub fn begin(&mut self, start_ns: u64) {
        self.start_ns = start_ns;
    }

    pub fn nominal_bps(&self) -> u64 {
        self.bps
    }

    /// Skips setup tags after the first pass; returns the index of the next tag to send.
    fn current(&mut self) -> usize {
        loop {
            if self.next == self.tags.len() {
                self.next = 0;
                self.pass += 1;
            }
            if self.pass == 0 || !self.tags[self.next].setup {
                return self.next;
            }
            self.next += 1;
        }
    }

    fn offset_ms(&self, index: usize) -> u64 {
        self.tags[index].offset_ms + self.pass * self.loop_ms
    }

    pub fn next_due_ns(&self) -> u64 {
        // `current` may have to skip setup tags; do it on a peek without mutating.
        let (mut i, mut pass) = (self.next, self.pass);
        loop {
            if i == self.tags.len() {
                i = 0;
                pass += 1;
            }
            if pass == 0 || !self.tags[i].setup {
                break;
            }
            i += 1;
        }
        let ms = self.tags[i].offset_ms + pass * self.loop_ms;
        self.start_ns + ms * 1_000_000
    }

    pub fn next(&mut self) -> Item<'_> {
        let index = self.current();
        self.next += 1;
        let offset_ms = self.offset_ms(index);
        let timestamp = offset_ms as u32;
        let tag = &self.tags[index];
        let payload = &self.data[tag.tag.data.clone()];
        let type_id = tag.tag.tag_type;
        if tag.stamp {
            let stamp = Stamp {
                scheduled_ns: self.start_ns + offset_ms * 1_000_000,
                sequence: self.sequence,
            };
            self.sequence += 1;
            write_stamp_nal(stamp, &mut self.sei);
            self.buf.clear();
            let (header, nals) = payload.split_at(5.min(payload.len()));
            self.buf.extend_from_slice(header);
            let len = (self.sei.len() as u32).to_be_bytes();
            self.buf
                .extend_from_slice(&len[4 - self.length_size.min(4)..]);
            self.buf.extend_from_slice(&self.sei);
            self.buf.extend_from_slice(nals);
            return Item {
                type_id,
                timestamp,
                body: Body::Media(&self.buf),
                stamp: Some(stamp),
            };
        }
        if type_id == TAG_SCRIPT && payload.starts_with(ON_METADATA) {
            self.buf.clear();
            self.buf.extend_from_slice(SET_DATA_FRAME);
            self.buf.extend_from_slice(payload);
            return Item {
                type_id,
                timestamp,
                body: Body::Media(&self.buf),
                stamp: None,
            };
        }
        Item {
            type_id,
            timestamp,
            body: Body::Media(payload),
            stamp: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sei::find_stamp;
    use crate::source::synthetic::{SyntheticConfig, SyntheticSource};
    use rtmp_edge::protocol::flv::{write_file_header, write_tag};

    /// An FLV file of `seconds` of the synthetic stream plus an onMetaData script tag.
    fn sample_file(seconds: u64) -> Vec<u8> {
        let mut s = SyntheticSource::new(SyntheticConfig {
            video_bps: 300_000,
            fps: 25.0,
            gop_s: 1.0,
        });
        s.begin(0);
        let mut flv = Vec::new();
        write_file_header(true, true, &mut flv);
        let mut script = ON_METADATA.to_vec();
        script.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 0, 9]);
        write_tag(TAG_SCRIPT, 0, &script, &mut flv);
        while s.next_due_ns() < seconds * 1_000_000_000 {
            let item = s.next();
            if let Body::Media(p) = item.body {
                // Strip our own stamp so the file looks like an encoder's output.
                if item.stamp.is_some() {
                    let mut bare = p[..5].to_vec();
                    let sei_len = u32::from_be_bytes([p[5], p[6], p[7], p[8]]) as usize;
                    bare.extend_from_slice(&p[9 + sei_len..]);
                    write_tag(item.type_id, item.timestamp, &bare, &mut flv);
                } else {
                    write_tag(item.type_id, item.timestamp, p, &mut flv);
                }
            }
        }
        flv
    }

    #[test]
    fn replays_in_a_loop_with_stamps() {
        let mut src = FileSource::from_bytes(sample_file(2)).unwrap();
        // Last video frame at 1960 ms, plus one frame interval.
        assert_eq!(src.loop_ms, 2000);
        src.begin(5_000_000_000);
        let first = src.next();
        assert_eq!(first.type_id, TAG_SCRIPT);
        let Body::Media(p) = first.body else { panic!() };
        assert!(p.starts_with(SET_DATA_FRAME));
        let mut seq = 0;
        let mut setup_seen = 1;
        let mut last_ts = 0;
        for _ in 0..400 {
            let due = src.next_due_ns();
            let item = src.next();
            assert!(
                item.timestamp + 30 >= last_ts,
                "{} after {last_ts}",
                item.timestamp
            );
            last_ts = item.timestamp;
            assert_eq!(due, 5_000_000_000 + u64::from(item.timestamp) * 1_000_000);
            let Body::Media(p) = item.body else { panic!() };
            if let Some(stamp) = item.stamp {
                assert_eq!(stamp.sequence, seq);
                assert_eq!(stamp.scheduled_ns, due);
                assert_eq!(find_stamp(p, 4), Some(stamp));
                seq += 1;
            } else if item.type_id == TAG_VIDEO && video_facts(p).unwrap().sequence_header
                || item.type_id == TAG_AUDIO && audio_facts(p).unwrap().sequence_header
            {
                setup_seen += 1;
            }
        }
        // Script + two sequence headers, on the first pass only, and past one loop.
        assert_eq!(setup_seen, 3);
        assert!(last_ts > 4000, "{last_ts}");
        assert!(seq > 100);
    }

    #[test]
    fn rejects_bad_files() {
        assert!(FileSource::from_bytes(b"not flv".to_vec()).is_err());
        let mut header_only = Vec::new();
        write_file_header(true, true, &mut header_only);
        assert!(FileSource::from_bytes(header_only).is_err());
        // Cut in the middle of a tag: the whole tags before are still used.
        let mut cut = sample_file(1);
        cut.truncate(cut.len() - 10);
        assert!(FileSource::from_bytes(cut).is_ok());
        assert!(FileSource::open(Path::new("/nonexistent/x.flv")).is_err());
    }
}
