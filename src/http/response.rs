//! Response heads and bodies of the HTTP side, as bytes ready to queue. Every response
//! carries `Access-Control-Allow-Origin: *` so a page on another origin can play, and says
//! whether the connection stays open. Pure: no I/O, no clock.
use bytes::Bytes;
use std::fmt::Write;

/// Server header value.
const SERVER: &str = concat!("rtmp-edge/", env!("CARGO_PKG_VERSION"));
/// Methods the shards answer.
const ALLOW: &str = "GET, HEAD, OPTIONS";

/// The end of a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// The status line and the headers every response has.
fn start(status: u16, keep_alive: bool) -> String {
    let mut s = String::with_capacity(256);
    let connection = if keep_alive { "keep-alive" } else { "close" };
    // Writing to a String cannot fail.
    let _ = write!(
        s,
        "HTTP/1.1 {status} {}\r\nServer: {SERVER}\r\nAccess-Control-Allow-Origin: *\r\nConnection: {connection}\r\n",
        reason(status)
    );
    s
}

/// A short plain-text response (errors, 404) with its body.
pub fn simple(status: u16, keep_alive: bool) -> Bytes {
    let body = format!("{} {}\n", status, reason(status));
    let mut s = start(status, keep_alive);
    if status == 405 {
        let _ = write!(s, "Allow: {ALLOW}\r\n");
    }
    let _ = write!(
        s,
        "Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    Bytes::from(s)
}

/// The head of a whole response (`HEAD`: the same status and headers, no body). Zero-copy.
pub fn without_body(response: &Bytes) -> Bytes {
    match response.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => response.slice(..at + 4),
        None => response.clone(),
    }
}

/// The answer to a CORS preflight (`OPTIONS`): any origin, the methods served, and the
/// request headers the page asked for when they are plain header names.
pub fn preflight(request_headers: Option<&str>, keep_alive: bool) -> Bytes {
    let mut s = start(204, keep_alive);
    let _ = write!(s, "Access-Control-Allow-Methods: {ALLOW}\r\n");
    let safe = |h: &&str| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_, ".contains(&b))
    };
    if let Some(h) = request_headers.map(str::trim).filter(safe) {
        let _ = write!(s, "Access-Control-Allow-Headers: {h}\r\n");
    }
    s.push_str("Access-Control-Max-Age: 86400\r\nContent-Length: 0\r\n\r\n");
    Bytes::from(s)
}

/// The head of an HTTP-FLV response: chunked for HTTP/1.1 clients, else the body runs until
/// the connection closes.
pub fn flv_head(chunked: bool, keep_alive: bool) -> Bytes {
    let mut s = start(200, keep_alive && chunked);
    s.push_str("Content-Type: video/x-flv\r\nCache-Control: no-cache, no-store\r\nAccess-Control-Expose-Headers: Server\r\n");
    if chunked {
        s.push_str("Transfer-Encoding: chunked\r\n");
    }
    s.push_str("\r\n");
    Bytes::from(s)
}

/// `data` as one chunk of a chunked body (or as it is, for a close-delimited body).
pub fn body_chunk(data: &[u8], chunked: bool) -> Bytes {
    if !chunked {
        return Bytes::copy_from_slice(data);
    }
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(b: &Bytes) -> &str {
        std::str::from_utf8(b).unwrap()
    }

    #[test]
    fn every_response_allows_any_origin() {
        for r in [
            simple(404, true),
            preflight(None, true),
            flv_head(true, true),
        ] {
            assert!(text(&r).contains("\r\nAccess-Control-Allow-Origin: *\r\n"));
        }
    }

    #[test]
    fn simple_responses_have_a_length_and_say_close() {
        let r = simple(400, false);
        let t = text(&r);
        assert!(t.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(t.contains("Connection: close\r\n"));
        let (head, body) = t.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(text(&simple(405, true)).contains("Allow: GET, HEAD, OPTIONS\r\n"));
    }

    #[test]
    fn head_answers_keep_the_head_only() {
        let full = simple(404, true);
        let head = without_body(&full);
        assert!(text(&head).ends_with("\r\n\r\n"));
        assert!(text(&head).contains("Content-Length: 14\r\n"));
        assert_eq!(head.len() + "404 Not Found\n".len(), full.len());
    }

    #[test]
    fn preflight_echoes_only_plain_header_names() {
        let t = preflight(Some("range, x-token"), true);
        assert!(text(&t).contains("Access-Control-Allow-Headers: range, x-token\r\n"));
        let t = preflight(Some("a\r\nSet-Cookie: x"), true);
        assert!(!text(&t).contains("Allow-Headers"));
        assert!(text(&t).starts_with("HTTP/1.1 204 No Content\r\n"));
    }

    #[test]
    fn flv_head_and_chunks() {
        assert!(text(&flv_head(true, true)).contains("Transfer-Encoding: chunked\r\n"));
        let plain = flv_head(false, true);
        assert!(!text(&plain).contains("chunked") && text(&plain).contains("Connection: close"));
        assert_eq!(&body_chunk(b"hello", true)[..], b"5\r\nhello\r\n");
        assert_eq!(&body_chunk(b"hello", false)[..], b"hello");
    }
}
