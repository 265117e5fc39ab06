//! One FLV recording file: the file header (audio/video flags), then each tag (header,
//! the RTMP message payload as its body, PreviousTagSize), through a buffer; `close` flushes
//! and fsyncs. The tag layout is `protocol::flv`'s ([`tag_header`], [`previous_tag_size`]),
//! the same as the FLV reader's.
//!
//! Only the recorder thread uses it; every error is returned, never swallowed, so the
//! recorder can stop the recording and say why.
use super::RecordFrame;
use crate::media::frame::MediaKind;
use crate::protocol::flv::{
    previous_tag_size, tag_header, write_file_header, MAX_TAG_DATA, TAG_AUDIO, TAG_SCRIPT,
    TAG_VIDEO,
};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Size of the write buffer: large writes, few syscalls.
pub(crate) const BUFFER: usize = 256 << 10;

/// Names tried for one file (`NAME`, `NAME-1`, ...) before giving up.
const ATTEMPTS: u32 = 16;

/// Creates `dir` (with its parents) and a new file in it named `name(attempt)`: an existing
/// file is never overwritten, the next attempt's name is tried instead (every format).
pub(crate) fn create_new(dir: &Path, name: impl Fn(u32) -> String) -> io::Result<(PathBuf, File)> {
    std::fs::create_dir_all(dir)?;
    let mut last = None;
    for attempt in 0..ATTEMPTS {
        let path = dir.join(name(attempt));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no file name left")))
}

/// An open FLV file being written.
pub struct FlvFile {
    path: PathBuf,
    out: BufWriter<File>,
}

impl FlvFile {
    /// Creates `dir` (with its parents) and a new file in it named `name(attempt)`: an
    /// existing file is never overwritten, the next attempt's name is tried instead.
    pub fn create(dir: &Path, name: impl Fn(u32) -> String) -> io::Result<FlvFile> {
        let (path, file) = create_new(dir, name)?;
        Ok(FlvFile::from_file(path, file))
    }

    /// Writes into an already open `file` (known as `path` in messages).
    pub fn from_file(path: PathBuf, file: File) -> FlvFile {
        FlvFile {
            path,
            out: BufWriter::with_capacity(BUFFER, file),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The FLV file header and PreviousTagSize0. Returns the bytes written.
    pub fn write_header(&mut self, audio: bool, video: bool) -> io::Result<u64> {
        let mut head = Vec::with_capacity(13);
        write_file_header(audio, video, &mut head);
        self.out.write_all(&head)?;
        Ok(head.len() as u64)
    }

    /// One tag: `f`'s payload at file timestamp `timestamp`. Returns the bytes written.
    pub fn write_frame(&mut self, f: &RecordFrame, timestamp: u32) -> io::Result<u64> {
        let len = f.payload.len();
        if len > MAX_TAG_DATA {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a message of {len} bytes does not fit an FLV tag"),
            ));
        }
        let tag_type = match f.kind {
            MediaKind::Audio => TAG_AUDIO,
            MediaKind::Video => TAG_VIDEO,
            MediaKind::Data => TAG_SCRIPT,
        };
        self.out.write_all(&tag_header(tag_type, timestamp, len))?;
        self.out.write_all(&f.payload)?;
        let back = previous_tag_size(len);
        self.out.write_all(&back)?;
        Ok((crate::protocol::flv::TAG_HEADER_LEN + len + back.len()) as u64)
    }

    /// Flushes the buffer and fsyncs the file.
    pub fn close(self) -> io::Result<()> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::flv::{parse_file_header, read_file_header, TagIter};
    use crate::record::temp_dir;

    fn frame(kind: MediaKind, payload: &'static [u8]) -> RecordFrame {
        crate::record::test_frame(kind, 0, false, false, payload)
    }

    #[test]
    fn writes_a_file_the_reader_reads_back_and_never_overwrites() {
        let dir = temp_dir("flv");
        let sub = dir.join("a/b");
        let mut f = FlvFile::create(&sub, |n| format!("s-{n}.flv")).unwrap();
        let mut n = f.write_header(true, true).unwrap();
        n += f
            .write_frame(&frame(MediaKind::Data, b"\x02\x00\x0aonMetaData"), 0)
            .unwrap();
        n += f
            .write_frame(&frame(MediaKind::Video, b"\x17\x01"), 40)
            .unwrap();
        n += f
            .write_frame(&frame(MediaKind::Audio, b"\xaf\x01\x21"), 0x0100_0000)
            .unwrap();
        let path = f.path().to_owned();
        f.close().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, n);
        let h = read_file_header(&bytes).unwrap();
        assert!(h.has_audio && h.has_video);
        let start = parse_file_header(&bytes).unwrap();
        let tags: Vec<_> = TagIter::new(&bytes, start).map(Result::unwrap).collect();
        let seen: Vec<_> = tags
            .iter()
            .map(|t| (t.tag_type, t.timestamp, bytes[t.data.clone()].to_vec()))
            .collect();
        assert_eq!(
            seen,
            [
                (TAG_SCRIPT, 0, b"\x02\x00\x0aonMetaData".to_vec()),
                (TAG_VIDEO, 40, b"\x17\x01".to_vec()),
                (TAG_AUDIO, 0x0100_0000, b"\xaf\x01\x21".to_vec()),
            ]
        );
        // The same name again: the next attempt's name, the first file untouched.
        let g = FlvFile::create(&sub, |n| format!("s-{n}.flv")).unwrap();
        assert_eq!(g.path(), sub.join("s-1.flv"));
        g.close().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_full_disk_and_a_file_in_the_way_are_errors() {
        // /dev/full takes the open and fails every write with ENOSPC.
        let full = OpenOptions::new().write(true).open("/dev/full").unwrap();
        let mut f = FlvFile::from_file("/dev/full".into(), full);
        f.write_header(true, true).unwrap();
        let big = frame(MediaKind::Video, &[0u8; 4096]);
        let err = (0..200)
            .map(|_| f.write_frame(&big, 0))
            .find_map(Result::err)
            .expect("writes into /dev/full fail once the buffer is full");
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
        // A directory whose parent is a file cannot be created.
        let dir = temp_dir("flv-notdir");
        std::fs::write(dir.join("app"), b"x").unwrap();
        let err = FlvFile::create(&dir.join("app/stream"), |_| "s.flv".into())
            .err()
            .expect("a file where the directory should be");
        assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
