//! `RequestReader`: HTTP/1.x request heads out of a byte stream, bounded.
//!
//! Bytes are pushed as they arrive (any split); `poll_request` hands out one complete head at
//! a time, so pipelined requests are answered in order, one response after the other. The
//! buffer never grows past `max_head` (a head that does not fit is `HeadTooLarge`: 431) plus
//! one more head's worth of pipelined input read while a response is still being written;
//! more than that is `Overflow`. Requests with a body are refused (`BodyNotAllowed`): every
//! route here is a GET. No I/O, no clock; the caller times idle connections.

use thiserror::Error;

/// Most headers in one request head.
const MAX_HEADERS: usize = 48;

/// Bounds of one connection's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Largest request head (request line and headers) in bytes.
    pub max_head: usize,
}

/// Why a request cannot be answered normally. Every one ends the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RequestError {
    /// Not an HTTP/1.x request head (400).
    #[error("malformed HTTP request")]
    Malformed,
    /// The head does not fit in `max_head`, or has too many headers (431).
    #[error("request head too large")]
    HeadTooLarge,
    /// A request with a body (Content-Length > 0 or Transfer-Encoding) (400).
    #[error("request bodies are not accepted")]
    BodyNotAllowed,
    /// More pipelined input than the bound while a response was written (no answer).
    #[error("too much pipelined input")]
    Overflow,
}

impl RequestError {
    /// The status to answer with, when there is one to send.
    pub fn status(self) -> Option<u16> {
        match self {
            RequestError::Malformed | RequestError::BodyNotAllowed => Some(400),
            RequestError::HeadTooLarge => Some(431),
            RequestError::Overflow => None,
        }
    }
}

/// The request methods the router tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Options,
    Other,
}

/// One request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The request target as sent (path and query).
    pub target: String,
    /// HTTP/1.1 (else 1.0).
    pub http11: bool,
    /// The client wants the connection kept after the response.
    pub keep_alive: bool,
    /// `Access-Control-Request-Headers` of a preflight.
    pub cors_request_headers: Option<String>,
}

/// The push parser of one connection. See the module doc.
#[derive(Debug)]
pub struct RequestReader {
    limits: RequestLimits,
    buf: Vec<u8>,
}

impl RequestReader {
    pub fn new(limits: RequestLimits) -> Self {
        RequestReader {
            limits,
            buf: Vec::new(),
        }
    }

    /// Unparsed bytes held.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Bytes read from the connection.
    pub fn push(&mut self, input: &[u8]) -> Result<(), RequestError> {
        if self.buf.len() + input.len() > self.limits.max_head.saturating_mul(2) {
            return Err(RequestError::Overflow);
        }
        self.buf.extend_from_slice(input);
        Ok(())
    }

    /// The next complete request head, if one is buffered.
    pub fn poll_request(&mut self) -> Result<Option<Request>, RequestError> {
        // Blank lines between pipelined requests are allowed (RFC 9112 2.2).
        let blank = self
            .buf
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        self.buf.drain(..blank);
        if self.buf.is_empty() {
            return Ok(None);
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let parsed = match req.parse(&self.buf) {
            Ok(httparse::Status::Complete(n)) if n <= self.limits.max_head => n,
            Ok(httparse::Status::Complete(_)) => return Err(RequestError::HeadTooLarge),
            Ok(httparse::Status::Partial) if self.buf.len() > self.limits.max_head => {
                return Err(RequestError::HeadTooLarge)
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => return Err(RequestError::HeadTooLarge),
            Err(_) => return Err(RequestError::Malformed),
        };
        let request = head_of(&req)?;
        self.buf.drain(..parsed);
        Ok(Some(request))
    }
}

fn head_of(req: &httparse::Request<'_, '_>) -> Result<Request, RequestError> {
    let (Some(method), Some(path), Some(version)) = (req.method, req.path, req.version) else {
        return Err(RequestError::Malformed);
    };
    let http11 = version >= 1;
    let mut keep_alive = http11;
    let mut cors_request_headers = None;
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value).map_err(|_| RequestError::Malformed)?;
        if h.name.eq_ignore_ascii_case("content-length") {
            let len: u64 = value.trim().parse().map_err(|_| RequestError::Malformed)?;
            if len > 0 {
                return Err(RequestError::BodyNotAllowed);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(RequestError::BodyNotAllowed);
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        } else if h
            .name
            .eq_ignore_ascii_case("access-control-request-headers")
        {
            cors_request_headers = Some(value.to_owned());
        }
    }
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "OPTIONS" => Method::Options,
        _ => Method::Other,
    };
    Ok(Request {
        method,
        target: path.to_owned(),
        http11,
        keep_alive,
        cors_request_headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader() -> RequestReader {
        RequestReader::new(RequestLimits { max_head: 1024 })
    }

    const GET: &[u8] = b"GET /live/s.flv?token=x HTTP/1.1\r\nHost: a\r\nOrigin: http://o\r\n\r\n";

    #[test]
    fn a_request_split_at_every_byte_parses_the_same() {
        for split in 0..=GET.len() {
            let mut r = reader();
            r.push(&GET[..split]).unwrap();
            let first = r.poll_request().unwrap();
            r.push(&GET[split..]).unwrap();
            let req = match first {
                Some(req) => {
                    assert_eq!(split, GET.len());
                    req
                }
                None => r.poll_request().unwrap().expect("complete"),
            };
            assert_eq!(req.method, Method::Get);
            assert_eq!(req.target, "/live/s.flv?token=x");
            assert!(req.http11 && req.keep_alive);
            assert_eq!(r.buffered(), 0);
        }
    }

    #[test]
    fn byte_by_byte_input_completes_once() {
        let mut r = reader();
        let mut got = 0;
        for b in GET {
            r.push(&[*b]).unwrap();
            if r.poll_request().unwrap().is_some() {
                got += 1;
            }
        }
        assert_eq!(got, 1);
    }

    #[test]
    fn pipelined_requests_come_out_in_order() {
        let mut r = reader();
        let two = b"GET /a HTTP/1.1\r\n\r\nOPTIONS /b HTTP/1.1\r\nConnection: close\r\n\r\nGET /c";
        r.push(two).unwrap();
        let a = r.poll_request().unwrap().unwrap();
        let b = r.poll_request().unwrap().unwrap();
        assert_eq!((a.target.as_str(), a.method), ("/a", Method::Get));
        assert_eq!((b.target.as_str(), b.method), ("/b", Method::Options));
        assert!(!b.keep_alive);
        assert_eq!(r.poll_request().unwrap(), None);
        r.push(b" HTTP/1.0\r\n\r\n").unwrap();
        let c = r.poll_request().unwrap().unwrap();
        assert!(!c.http11 && !c.keep_alive);
    }

    #[test]
    fn keep_alive_follows_version_and_connection_header() {
        let mut r = reader();
        r.push(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        assert!(r.poll_request().unwrap().unwrap().keep_alive);
        r.push(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n")
            .unwrap();
        assert!(!r.poll_request().unwrap().unwrap().keep_alive);
    }

    #[test]
    fn garbage_is_malformed() {
        for bad in [
            &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
            b"GET / HTTP/2.0\r\n\r\n",
            b"G\0T / HTTP/1.1\r\n\r\n",
        ] {
            let mut r = reader();
            r.push(bad).unwrap();
            assert_eq!(r.poll_request(), Err(RequestError::Malformed), "{bad:?}");
        }
        assert_eq!(RequestError::Malformed.status(), Some(400));
    }

    #[test]
    fn an_oversized_head_is_431_before_it_completes() {
        let mut r = reader();
        r.push(b"GET / HTTP/1.1\r\nX-Long: ").unwrap();
        r.push(&[b'a'; 1100]).unwrap();
        assert_eq!(r.poll_request(), Err(RequestError::HeadTooLarge));
        assert_eq!(RequestError::HeadTooLarge.status(), Some(431));
        let mut r = reader();
        let many: String = (0..60).map(|i| format!("X-{i}: 1\r\n")).collect();
        r.push(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes())
            .unwrap();
        assert_eq!(r.poll_request(), Err(RequestError::HeadTooLarge));
    }

    #[test]
    fn input_is_bounded_while_requests_wait() {
        let mut r = reader();
        r.push(&[b'x'; 2048]).unwrap();
        assert_eq!(r.push(b"y"), Err(RequestError::Overflow));
        assert_eq!(RequestError::Overflow.status(), None);
    }

    #[test]
    fn bodies_are_refused() {
        let mut r = reader();
        r.push(b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        assert!(r.poll_request().unwrap().is_some());
        r.push(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
            .unwrap();
        assert_eq!(r.poll_request(), Err(RequestError::BodyNotAllowed));
        let mut r = reader();
        r.push(b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap();
        assert_eq!(r.poll_request(), Err(RequestError::BodyNotAllowed));
    }

    #[test]
    fn preflight_headers_are_kept() {
        let mut r = reader();
        r.push(b"OPTIONS /live/s.flv HTTP/1.1\r\nAccess-Control-Request-Headers: range\r\n\r\n")
            .unwrap();
        let req = r.poll_request().unwrap().unwrap();
        assert_eq!(req.cors_request_headers.as_deref(), Some("range"));
    }
}
