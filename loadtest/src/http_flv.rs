//! The HTTP-FLV player side: the GET request, then the response read incrementally (status
//! line and headers, a chunked or close-delimited body) and the FLV tags in it, handed out as
//! `(tag type, payload)` like the media events of an RTMP client session, so the players'
//! measurements (first frame, SEI latency, gaps) are the same code for both protocols.
//!
//! Sans-IO: bytes in, events out; bounded (a head over 16 KiB, a chunk size line over 32
//! bytes or a tag over 16 MiB is an error).
use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

const MAX_HEAD: usize = 16 * 1024;
const MAX_TAG: usize = 16 << 20;
const FLV_HEADER: usize = 13;
const TAG_HEADER: usize = 11;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FlvReadError {
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("malformed HTTP response")]
    BadResponse,
    #[error("malformed FLV")]
    BadFlv,
}

/// What the response brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlvEvent {
    /// 200 and the FLV file header: the play started.
    Started,
    Tag {
        tag_type: u8,
        payload: Bytes,
    },
}

enum Body {
    Head,
    /// Chunked: bytes left in the current chunk (None: at a size line).
    Chunked(Option<usize>),
    Raw,
    /// After the last chunk: trailers and the final CRLF are ignored.
    Done,
}

/// One HTTP-FLV play. Call `request` once, then `handle_input` and `poll_event`.
pub struct FlvReader {
    body: Body,
    raw: BytesMut,
    flv: BytesMut,
    header_seen: bool,
    started_pending: bool,
}

impl FlvReader {
    pub fn new() -> Self {
        FlvReader {
            body: Body::Head,
            raw: BytesMut::new(),
            flv: BytesMut::new(),
            header_seen: false,
            started_pending: false,
        }
    }

    /// The request for `path` on `host`.
    pub fn request(host: &str, path: &str) -> Bytes {
        Bytes::from(format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: rtmp-loadtest\r\nAccept: */*\r\n\r\n"
        ))
    }

    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), FlvReadError> {
        self.raw.extend_from_slice(data);
        loop {
            match self.body {
                Body::Head => {
                    let Some(end) = self.raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                        if self.raw.len() > MAX_HEAD {
                            return Err(FlvReadError::BadResponse);
                        }
                        return Ok(());
                    };
                    let head = self.raw.split_to(end + 4);
                    self.body = parse_head(&head)?;
                }
                Body::Done => {
                    self.raw.clear();
                    return Ok(());
                }
                Body::Raw => {
                    let all = self.raw.split();
                    self.flv.extend_from_slice(&all);
                    return Ok(());
                }
                Body::Chunked(None) => {
                    let Some(eol) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                        if self.raw.len() > 32 {
                            return Err(FlvReadError::BadResponse);
                        }
                        return Ok(());
                    };
                    let line = std::str::from_utf8(&self.raw[..eol])
                        .map_err(|_| FlvReadError::BadResponse)?;
                    let size = line.split(';').next().unwrap_or_default().trim();
                    let size =
                        usize::from_str_radix(size, 16).map_err(|_| FlvReadError::BadResponse)?;
                    if size > MAX_TAG {
                        return Err(FlvReadError::BadResponse);
                    }
                    self.raw.advance(eol + 2);
                    // The last chunk: the stream ended (the caller sees the close).
                    self.body = match size {
                        0 => Body::Done,
                        n => Body::Chunked(Some(n + 2)),
                    };
                }
                Body::Chunked(Some(left)) => {
                    if self.raw.is_empty() {
                        return Ok(());
                    }
                    let take = left.min(self.raw.len());
                    let part = self.raw.split_to(take);
                    // The chunk's closing CRLF is not FLV data.
                    let data_left = left.saturating_sub(2);
                    let data = &part[..take.min(data_left)];
                    self.flv.extend_from_slice(data);
                    let rest = left - take;
                    self.body = Body::Chunked((rest > 0).then_some(rest));
                }
            }
        }
    }

    pub fn poll_event(&mut self) -> Result<Option<FlvEvent>, FlvReadError> {
        if !self.header_seen {
            if self.flv.len() < FLV_HEADER {
                return Ok(None);
            }
            if &self.flv[..3] != b"FLV" {
                return Err(FlvReadError::BadFlv);
            }
            self.flv.advance(FLV_HEADER);
            self.header_seen = true;
            self.started_pending = true;
        }
        if std::mem::take(&mut self.started_pending) {
            return Ok(Some(FlvEvent::Started));
        }
        let Some(h) = self.flv.get(..TAG_HEADER) else {
            return Ok(None);
        };
        let tag_type = h[0] & 0x1f;
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        if self.flv.len() < TAG_HEADER + size + 4 {
            return Ok(None);
        }
        let mut tag = self.flv.split_to(TAG_HEADER + size + 4).freeze();
        tag.advance(TAG_HEADER);
        tag.truncate(size);
        Ok(Some(FlvEvent::Tag {
            tag_type,
            payload: tag,
        }))
    }
}

impl Default for FlvReader {
    fn default() -> Self {
        Self::new()
    }
}

fn parse_head(head: &[u8]) -> Result<Body, FlvReadError> {
    let text = std::str::from_utf8(head).map_err(|_| FlvReadError::BadResponse)?;
    let status: u16 = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .filter(|_| text.starts_with("HTTP/1."))
        .ok_or(FlvReadError::BadResponse)?;
    if status != 200 {
        return Err(FlvReadError::Status(status));
    }
    let chunked = text.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.eq_ignore_ascii_case("transfer-encoding") && v.trim().eq_ignore_ascii_case("chunked")
        })
    });
    Ok(if chunked {
        Body::Chunked(None)
    } else {
        Body::Raw
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtmp_edge::protocol::flv::{write_file_header, write_tag};

    fn chunk(data: &[u8]) -> Vec<u8> {
        let mut out = format!("{:x}\r\n", data.len()).into_bytes();
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        out
    }

    fn response() -> Vec<u8> {
        let mut out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        let mut header = Vec::new();
        write_file_header(true, true, &mut header);
        out.extend(chunk(&header));
        for i in 0..3u8 {
            let mut tag = Vec::new();
            write_tag(9, u32::from(i) * 40, &[0x17, 1, 0, 0, 0, i], &mut tag);
            out.extend(chunk(&tag));
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    fn events(r: &mut FlvReader) -> Vec<FlvEvent> {
        let mut out = Vec::new();
        while let Some(e) = r.poll_event().unwrap() {
            out.push(e);
        }
        out
    }

    #[test]
    fn a_chunked_response_split_anywhere_gives_the_same_tags() {
        let bytes = response();
        for split in 0..bytes.len() {
            let mut r = FlvReader::new();
            let mut got = Vec::new();
            r.handle_input(&bytes[..split])
                .unwrap_or_else(|e| panic!("split {split}: {e}"));
            got.extend(events(&mut r));
            r.handle_input(&bytes[split..])
                .unwrap_or_else(|e| panic!("rest at {split}: {e}"));
            got.extend(events(&mut r));
            assert_eq!(got.len(), 4, "split {split}");
            assert_eq!(got[0], FlvEvent::Started);
            assert_eq!(
                got[3],
                FlvEvent::Tag {
                    tag_type: 9,
                    payload: Bytes::from_static(&[0x17, 1, 0, 0, 0, 2])
                }
            );
        }
    }

    #[test]
    fn errors() {
        let mut r = FlvReader::new();
        assert_eq!(
            r.handle_input(b"HTTP/1.1 404 Not Found\r\n\r\n"),
            Err(FlvReadError::Status(404))
        );
        let mut r = FlvReader::new();
        assert_eq!(
            r.handle_input(b"SSH-2.0\r\n\r\n"),
            Err(FlvReadError::BadResponse)
        );
    }
}
