//! Reading one HTTP/1.1 request head with `httparse`: a sans-IO parser over the bytes read so
//! far ([`parse_head`]) and the blocking read loop around it ([`read_request`]) that the
//! connection threads use. Heads are capped at [`MAX_HEAD`] bytes; request bodies are not
//! needed by any endpoint and are not read (the connection closes after the response).
use std::io::{self, Read};

/// Largest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most headers in one request.
const MAX_HEADERS: usize = 64;

/// The parts of a request the router looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    /// `Authorization` header value, if any.
    pub authorization: Option<String>,
}

/// Why no request could be read.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("request head larger than {MAX_HEAD} bytes or with more than {MAX_HEADERS} headers")]
    TooLarge,
    #[error("connection closed before a whole request head")]
    Closed,
    #[error("reading the request failed: {0}")]
    Io(#[from] io::Error),
}

impl RequestError {
    /// The status to answer with, or None when there is nobody to answer (closed, timeout).
    pub fn status(&self) -> Option<u16> {
        match self {
            RequestError::Malformed(_) => Some(400),
            RequestError::TooLarge => Some(431),
            RequestError::Closed | RequestError::Io(_) => None,
        }
    }
}

/// Parses the head in `buf`. `Ok(None)`: incomplete, read more.
pub fn parse_head(buf: &[u8]) -> Result<Option<Request>, RequestError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let status = req.parse(buf).map_err(|e| match e {
        httparse::Error::TooManyHeaders => RequestError::TooLarge,
        e => RequestError::Malformed(e.to_string()),
    })?;
    if status.is_partial() {
        return if buf.len() >= MAX_HEAD {
            Err(RequestError::TooLarge)
        } else {
            Ok(None)
        };
    }
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Err(RequestError::Malformed("no request line".to_owned()));
    };
    if !target.starts_with('/') {
        return Err(RequestError::Malformed(format!(
            "request target {target:?} is not a path"
        )));
    }
    let path = target.split(['?', '#']).next().unwrap_or(target).to_owned();
    let authorization = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("authorization"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(|v| v.trim().to_owned());
    Ok(Some(Request {
        method: method.to_owned(),
        path,
        authorization,
    }))
}

/// Reads from `stream` until one request head is complete (at most [`MAX_HEAD`] bytes; the
/// caller sets the read timeout).
pub fn read_request(stream: &mut impl Read) -> Result<Request, RequestError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let take = (MAX_HEAD - buf.len()).min(chunk.len());
        let n = match stream.read(&mut chunk[..take]) {
            Ok(0) => return Err(RequestError::Closed),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(req) = parse_head(&buf)? {
            return Ok(req);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its bytes `step` at a time.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(self.data.len()).min(out.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    const GET: &[u8] =
        b"GET /api/streams?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t0k\r\n\r\n";

    #[test]
    fn a_request_split_anywhere_parses_the_same() {
        for step in 1..GET.len() {
            let req = read_request(&mut Trickle { data: GET, step }).unwrap();
            assert_eq!(req.method, "GET");
            assert_eq!(req.path, "/api/streams");
            assert_eq!(req.authorization.as_deref(), Some("Bearer t0k"));
        }
        for cut in 0..GET.len() - 1 {
            assert!(parse_head(&GET[..cut]).unwrap().is_none(), "cut at {cut}");
        }
    }

    #[test]
    fn bad_requests_are_400() {
        for bad in [
            &b"GARBAGE\r\n\r\n"[..],
            b"GET\r\n\r\n",
            b"GET http://x/ HTTP/1.1\r\n\r\n",
            b"GET / HTTP/9\r\n\r\n",
            b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
        ] {
            let err = read_request(&mut Trickle { data: bad, step: 3 }).unwrap_err();
            assert_eq!(err.status(), Some(400), "{bad:?}: {err}");
        }
    }

    #[test]
    fn oversized_heads_are_431_and_early_closes_get_no_answer() {
        let mut big = b"GET / HTTP/1.1\r\n".to_vec();
        while big.len() < MAX_HEAD + 100 {
            big.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let err = read_request(&mut Trickle {
            data: &big,
            step: 4096,
        })
        .unwrap_err();
        assert_eq!(err.status(), Some(431));
        let err = read_request(&mut Trickle {
            data: b"GET / HT",
            step: 100,
        })
        .unwrap_err();
        assert!(matches!(err, RequestError::Closed));
        assert_eq!(err.status(), None);
    }
}
