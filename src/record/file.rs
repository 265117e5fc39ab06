//! The open file of a recording, whichever the format: the recorder writes through this so
//! that splitting, naming and error handling are the same for FLV and fragmented MP4.
use super::flv::FlvFile;
use super::mp4::Mp4File;
use super::naming::file_name;
use super::{RecordFormat, RecordFrame};
use std::io;
use std::path::Path;
use std::time::SystemTime;

/// One open recording file.
pub enum RecordFile {
    Flv(FlvFile),
    /// Boxed: the segmenter state is large, the FLV writer small.
    Mp4(Box<Mp4File>),
}

impl RecordFile {
    /// Creates the next file of `stream` in `dir`, named from `wall`.
    pub fn create(
        format: RecordFormat,
        dir: &Path,
        stream: &str,
        wall: SystemTime,
    ) -> io::Result<RecordFile> {
        let ext = format.extension();
        let name = |n| file_name(stream, wall, ext, n);
        Ok(match format {
            RecordFormat::Flv => RecordFile::Flv(FlvFile::create(dir, name)?),
            RecordFormat::Mp4 => RecordFile::Mp4(Box::new(Mp4File::create(dir, name, wall)?)),
        })
    }

    pub fn path(&self) -> &Path {
        match self {
            RecordFile::Flv(f) => f.path(),
            RecordFile::Mp4(f) => f.path(),
        }
    }

    /// The FLV file header (an MP4 file's init is written with its first segment).
    pub fn write_header(&mut self, audio: bool, video: bool) -> io::Result<u64> {
        match self {
            RecordFile::Flv(f) => f.write_header(audio, video),
            RecordFile::Mp4(_) => Ok(0),
        }
    }

    pub fn write_frame(&mut self, f: &RecordFrame, timestamp: u32) -> io::Result<u64> {
        match self {
            RecordFile::Flv(file) => file.write_frame(f, timestamp),
            RecordFile::Mp4(file) => file.write_frame(f, timestamp),
        }
    }

    /// Whether `f` cannot go into this file and must begin the next one (a changed codec
    /// configuration in an MP4 file; an FLV file takes it where it arrives).
    pub fn needs_new_file_for(&self, f: &RecordFrame) -> bool {
        match self {
            RecordFile::Flv(_) => false,
            RecordFile::Mp4(file) => file.changes_config(f),
        }
    }

    /// Writes what is pending, flushes and fsyncs. Returns the bytes written by the close.
    pub fn close(self) -> io::Result<u64> {
        match self {
            RecordFile::Flv(f) => f.close().map(|()| 0),
            RecordFile::Mp4(f) => (*f).close(),
        }
    }
}
