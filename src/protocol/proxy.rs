//! The PROXY protocol header (HAProxy's `doc/proxy-protocol.txt`, versions 1 and 2) that a load
//! balancer puts in front of the first byte of a relayed TCP connection so the server learns the
//! real client address.
//!
//! [`parse`] looks at the bytes received so far and answers [`ProxyParse::Incomplete`] (call
//! again with more bytes), [`ProxyParse::Done`] (the header's length and addresses; what follows
//! it is the client's own stream, RTMP here) or a [`ProxyError`] (close the connection: the spec
//! forbids guessing whether a header is present). Garbage is rejected as soon as a byte differs
//! from both signatures, so a client that talks RTMP straight away fails on its first byte.
//!
//! It never does I/O, keeps no state between calls and never allocates. It never asks for more
//! than [`MAX_HEADER_LEN`] bytes: `Incomplete` is only returned for shorter input, so a caller
//! that buffers up to that many bytes always gets an answer. Version 2 TLVs are skipped, not
//! read; addresses the relay has no use for (UNKNOWN, LOCAL, AF_UNSPEC, AF_UNIX, UDP) are
//! reported as `None`, and the caller keeps the socket's own peer address.
//!
//! Call order: accumulate input, call [`parse`] after every read until it stops returning
//! `Incomplete`, drop `consumed` bytes, hand the rest to the RTMP session.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

/// The longest version 1 line, CRLF included ("PROXY UNKNOWN" with two full IPv6 addresses).
pub const V1_MAX_LEN: usize = 107;
/// The 12 bytes every version 2 header starts with.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Signature, version/command, family/protocol and the 2-byte length.
pub const V2_FIXED_LEN: usize = 16;
/// The most bytes a header may take. Version 2 allows 16 + 65535, but TCP addresses need 36
/// bytes and a proxy in front of an RTMP edge has no reason to send kilobytes of TLVs, so a
/// longer header is refused rather than buffered.
pub const MAX_HEADER_LEN: usize = 1024;

const V1_PREFIX: &[u8] = b"PROXY ";
const V2_VERSION: u8 = 2;
const CMD_LOCAL: u8 = 0;
const CMD_PROXY: u8 = 1;
const AF_INET: u8 = 1;
const AF_INET6: u8 = 2;
const AF_UNIX: u8 = 3;
const PROTO_STREAM: u8 = 1;
const PROTO_DGRAM: u8 = 2;

/// What the bytes seen so far amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyParse {
    /// A valid header so far, but not all of it yet.
    Incomplete,
    /// A complete header of `consumed` bytes. The addresses are `None` when the sender did not
    /// relay a TCP connection (v1 UNKNOWN, v2 LOCAL, or a family/protocol we do not use): use
    /// the connection's own addresses then.
    Done {
        consumed: usize,
        source: Option<SocketAddr>,
        destination: Option<SocketAddr>,
    },
}

/// Why the input is not an acceptable PROXY header. Every one of them means: close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("not a PROXY protocol header")]
    NotProxy,
    #[error("PROXY header longer than {limit} bytes")]
    TooLong { limit: usize },
    #[error("malformed PROXY v1 line: {0}")]
    V1Syntax(&'static str),
    #[error("PROXY v2 version {0} (only 2 exists)")]
    BadVersion(u8),
    #[error("PROXY v2 command {0} (only LOCAL and PROXY exist)")]
    BadCommand(u8),
    #[error("PROXY v2 family/protocol byte {0:#04x} is not defined")]
    BadFamily(u8),
    #[error("PROXY v2 address block of {got} bytes, its family needs {need}")]
    ShortAddresses { need: usize, got: usize },
}

/// Parses a PROXY v1 or v2 header at the start of `input` (see the module doc).
pub fn parse(input: &[u8]) -> Result<ProxyParse, ProxyError> {
    if starts_like(input, &V2_SIGNATURE) {
        parse_v2(input)
    } else if starts_like(input, V1_PREFIX) {
        parse_v1(input)
    } else {
        Err(ProxyError::NotProxy)
    }
}

/// Whether `header` (a header [`parse`] accepted) is a version 2 LOCAL command: the proxy
/// speaks for itself, as HAProxy's health checks with `check-send-proxy` do, rather than
/// relaying a client.
pub fn is_v2_local(header: &[u8]) -> bool {
    header.starts_with(&V2_SIGNATURE)
        && header
            .get(12)
            .is_some_and(|&b| b >> 4 == V2_VERSION && b & 0x0f == CMD_LOCAL)
}

/// `input` and `prefix` agree on the bytes both have.
fn starts_like(input: &[u8], prefix: &[u8]) -> bool {
    let n = input.len().min(prefix.len());
    input.get(..n) == prefix.get(..n)
}

fn parse_v1(input: &[u8]) -> Result<ProxyParse, ProxyError> {
    let window = &input[..input.len().min(V1_MAX_LEN)];
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        return if input.len() >= V1_MAX_LEN {
            Err(ProxyError::TooLong { limit: V1_MAX_LEN })
        } else {
            Ok(ProxyParse::Incomplete)
        };
    };
    // The spec forbids accepting a bare LF as the end of the line.
    let cr = lf.wrapping_sub(1);
    if window.get(cr) != Some(&b'\r') {
        return Err(ProxyError::V1Syntax("line does not end with CRLF"));
    }
    let line = &window[..cr];
    let done = |source, destination| {
        Ok(ProxyParse::Done {
            consumed: lf + 1,
            source,
            destination,
        })
    };
    let line = std::str::from_utf8(line)
        .ok()
        .filter(|l| l.is_ascii())
        .ok_or(ProxyError::V1Syntax("not US-ASCII"))?;
    let mut fields = line.split(' ');
    fields.next(); // "PROXY", checked by the caller.
    let v6 = match fields.next() {
        // The receiver must ignore whatever UNKNOWN carries up to the CRLF.
        Some("UNKNOWN") => return done(None, None),
        Some("TCP4") => false,
        Some("TCP6") => true,
        _ => {
            return Err(ProxyError::V1Syntax(
                "protocol is not TCP4, TCP6 or UNKNOWN",
            ))
        }
    };
    let mut next = || fields.next().ok_or(ProxyError::V1Syntax("missing field"));
    let (src, dst, src_port, dst_port) = (next()?, next()?, next()?, next()?);
    if fields.next().is_some() {
        return Err(ProxyError::V1Syntax("extra field"));
    }
    let (src, dst) = if v6 {
        (v1_ipv6(src)?, v1_ipv6(dst)?)
    } else {
        (v1_ipv4(src)?, v1_ipv4(dst)?)
    };
    done(
        Some(SocketAddr::new(src, v1_port(src_port)?)),
        Some(SocketAddr::new(dst, v1_port(dst_port)?)),
    )
}

fn v1_ipv4(text: &str) -> Result<std::net::IpAddr, ProxyError> {
    // std rejects leading zeros (octal look-alikes), as the spec asks.
    text.parse::<Ipv4Addr>()
        .map(Into::into)
        .map_err(|_| ProxyError::V1Syntax("bad IPv4 address"))
}

fn v1_ipv6(text: &str) -> Result<std::net::IpAddr, ProxyError> {
    text.parse::<Ipv6Addr>()
        .map(Into::into)
        .map_err(|_| ProxyError::V1Syntax("bad IPv6 address"))
}

fn v1_port(text: &str) -> Result<u16, ProxyError> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = text.len() > 1 && text.starts_with('0');
    match text.parse::<u16>() {
        Ok(port) if digits && !leading_zero => Ok(port),
        _ => Err(ProxyError::V1Syntax("bad port")),
    }
}

fn parse_v2(input: &[u8]) -> Result<ProxyParse, ProxyError> {
    // Check each fixed byte as soon as it arrives, so garbage fails early.
    let command = match input.get(12) {
        Some(&b) if b >> 4 != V2_VERSION => return Err(ProxyError::BadVersion(b >> 4)),
        Some(&b) if b & 0x0f > CMD_PROXY => return Err(ProxyError::BadCommand(b & 0x0f)),
        Some(&b) => b & 0x0f,
        None => return Ok(ProxyParse::Incomplete),
    };
    let (family, protocol) = match input.get(13) {
        Some(&b) if b >> 4 > AF_UNIX || b & 0x0f > PROTO_DGRAM => {
            return Err(ProxyError::BadFamily(b))
        }
        Some(&b) => (b >> 4, b & 0x0f),
        None => return Ok(ProxyParse::Incomplete),
    };
    let Some(&[hi, lo]) = input.get(14..16) else {
        return Ok(ProxyParse::Incomplete);
    };
    let consumed = V2_FIXED_LEN + usize::from(u16::from_be_bytes([hi, lo]));
    if consumed > MAX_HEADER_LEN {
        return Err(ProxyError::TooLong {
            limit: MAX_HEADER_LEN,
        });
    }
    let Some(block) = input.get(V2_FIXED_LEN..consumed) else {
        return Ok(ProxyParse::Incomplete);
    };
    let (source, destination) = match (command, family, protocol) {
        // Health checks and the like: the proxy speaks for itself, the block is skipped.
        (CMD_LOCAL, _, _) => (None, None),
        (_, AF_INET, PROTO_STREAM) => {
            let a = take::<12>(block)?;
            let ip = |i: usize| Ipv4Addr::new(a[i], a[i + 1], a[i + 2], a[i + 3]);
            v2_pair(ip(0).into(), ip(4).into(), [a[8], a[9], a[10], a[11]])
        }
        (_, AF_INET6, PROTO_STREAM) => {
            let a = take::<36>(block)?;
            let ip = |i: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&a[i..i + 16]);
                Ipv6Addr::from(octets)
            };
            v2_pair(ip(0).into(), ip(16).into(), [a[32], a[33], a[34], a[35]])
        }
        // UNSPEC, UNIX, UDP: nothing an RTMP edge can use; fall back to the socket's peer.
        _ => (None, None),
    };
    Ok(ProxyParse::Done {
        consumed,
        source,
        destination,
    })
}

/// The first `N` bytes of the address block; TLVs may follow them.
fn take<const N: usize>(block: &[u8]) -> Result<[u8; N], ProxyError> {
    block
        .get(..N)
        .and_then(|b| b.try_into().ok())
        .ok_or(ProxyError::ShortAddresses {
            need: N,
            got: block.len(),
        })
}

fn v2_pair(
    src: std::net::IpAddr,
    dst: std::net::IpAddr,
    ports: [u8; 4],
) -> (Option<SocketAddr>, Option<SocketAddr>) {
    let src_port = u16::from_be_bytes([ports[0], ports[1]]);
    let dst_port = u16::from_be_bytes([ports[2], ports[3]]);
    (
        Some(SocketAddr::new(src, src_port)),
        Some(SocketAddr::new(dst, dst_port)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> Option<SocketAddr> {
        Some(text.parse().unwrap())
    }

    fn done(consumed: usize, source: &str, destination: &str) -> ProxyParse {
        ProxyParse::Done {
            consumed,
            source: addr(source),
            destination: addr(destination),
        }
    }

    const NO_ADDRESSES: fn(usize) -> ProxyParse = |consumed| ProxyParse::Done {
        consumed,
        source: None,
        destination: None,
    };

    /// Every strict prefix of the header is Incomplete; the header alone and the header with
    /// what follows it give `want`.
    fn check_streaming(bytes: &[u8], want: ProxyParse) {
        let ProxyParse::Done { consumed, .. } = want else {
            panic!("want must be Done");
        };
        for cut in 0..consumed {
            assert_eq!(
                parse(&bytes[..cut]),
                Ok(ProxyParse::Incomplete),
                "cut {cut}"
            );
        }
        assert_eq!(parse(&bytes[..consumed]), Ok(want));
        assert_eq!(parse(bytes), Ok(want));
    }

    fn v2(ver_cmd: u8, fam: u8, block: &[u8]) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        out.push(ver_cmd);
        out.push(fam);
        out.extend_from_slice(&(block.len() as u16).to_be_bytes());
        out.extend_from_slice(block);
        out
    }

    #[test]
    fn v1_tcp4_spec_example() {
        let bytes = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n";
        check_streaming(bytes, done(47, "192.168.0.1:56324", "192.168.0.11:443"));
        let max = b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
        assert_eq!(max.len(), 56);
        check_streaming(
            max,
            done(56, "255.255.255.255:65535", "255.255.255.255:65535"),
        );
    }

    #[test]
    fn v1_tcp6_longest_and_compressed() {
        let full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        let line = format!("PROXY TCP6 {full} {full} 65535 65535\r\n\x03");
        assert_eq!(line.len(), 104 + 1);
        let sock = format!("[{full}]:65535");
        check_streaming(line.as_bytes(), done(104, &sock, &sock));
        check_streaming(
            b"PROXY TCP6 2001:db8::1 ::1 40000 1935\r\n",
            done(39, "[2001:db8::1]:40000", "[::1]:1935"),
        );
    }

    #[test]
    fn v1_unknown_short_and_worst_case() {
        check_streaming(b"PROXY UNKNOWN\r\n\x03\x00", NO_ADDRESSES(15));
        let full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        let line = format!("PROXY UNKNOWN {full} {full} 65535 65535\r\n");
        assert_eq!(line.len(), V1_MAX_LEN);
        check_streaming(line.as_bytes(), NO_ADDRESSES(V1_MAX_LEN));
    }

    #[test]
    fn v2_tcp4_capture() {
        // HAProxy's send-proxy-v2 in front of an HTTP request (from a packet dump).
        let bytes = [
            0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11,
            0x00, 0x0c, 0xac, 0x13, 0x00, 0x01, 0xac, 0x13, 0x00, 0x03, 0xa6, 0x52, 0x00, 0x50,
            b'G', b'E', b'T', b' ',
        ];
        check_streaming(&bytes, done(28, "172.19.0.1:42578", "172.19.0.3:80"));
    }

    #[test]
    fn v2_tcp6_with_tlvs_skipped() {
        let mut block = Vec::new();
        block.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        block.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        block.extend_from_slice(&[0xc3, 0x50, 0x07, 0x8f]);
        // PP2_TYPE_ALPN "h2", PP2_TYPE_NOOP of 3 bytes.
        block.extend_from_slice(&[0x01, 0x00, 0x02, b'h', b'2', 0x04, 0x00, 0x03, 0, 0, 0]);
        let mut bytes = v2(0x21, 0x21, &block);
        let consumed = bytes.len();
        assert_eq!(consumed, 16 + 36 + 11);
        bytes.extend_from_slice(&[0x03; 20]);
        check_streaming(&bytes, done(consumed, "[2001:db8::7]:50000", "[::1]:1935"));
    }

    #[test]
    fn v2_local_and_unused_families_give_no_addresses() {
        // LOCAL with a TLV only (a health check).
        let local = v2(0x20, 0x00, &[0x04, 0x00, 0x04, 1, 2, 3, 4]);
        check_streaming(&local, NO_ADDRESSES(23));
        // LOCAL that still carries TCP4 addresses: skipped, not used.
        let local4 = v2(0x20, 0x11, &[127, 0, 0, 1, 127, 0, 0, 1, 0, 1, 0, 2]);
        check_streaming(&local4, NO_ADDRESSES(28));
        // PROXY over AF_UNSPEC, AF_UNIX stream and UDP4: valid, nothing to use.
        check_streaming(&v2(0x21, 0x00, &[]), NO_ADDRESSES(16));
        check_streaming(&v2(0x21, 0x31, &[0; 216]), NO_ADDRESSES(232));
        check_streaming(&v2(0x21, 0x12, &[0; 12]), NO_ADDRESSES(28));
    }

    #[test]
    fn too_long_headers_are_refused_without_waiting() {
        let mut line = b"PROXY UNKNOWN ".to_vec();
        line.resize(V1_MAX_LEN - 1, b'a');
        assert_eq!(parse(&line), Ok(ProxyParse::Incomplete));
        line.push(b'a');
        let too_long = Err(ProxyError::TooLong { limit: V1_MAX_LEN });
        assert_eq!(parse(&line), too_long);
        line.extend_from_slice(b"\r\n");
        assert_eq!(parse(&line), too_long);

        let most = v2(0x21, 0x11, &vec![0; MAX_HEADER_LEN - 16]);
        assert!(
            matches!(parse(&most), Ok(ProxyParse::Done { consumed, .. }) if consumed == MAX_HEADER_LEN)
        );
        let over = v2(0x21, 0x11, &vec![0; MAX_HEADER_LEN - 15]);
        let too_long = Err(ProxyError::TooLong {
            limit: MAX_HEADER_LEN,
        });
        assert_eq!(parse(&over[..16]), too_long);
        let max_len = v2(0x21, 0x11, &vec![0; 65535]);
        assert_eq!(parse(&max_len[..16]), too_long);
    }

    #[test]
    fn garbage_is_refused_at_the_first_wrong_byte() {
        // RTMP C0 straight away, HTTP, TLS.
        for bytes in [
            &[0x03, 0, 0, 0][..],
            b"GET / HTTP/1.1\r\n",
            &[0x16, 0x03, 0x01],
        ] {
            assert_eq!(parse(bytes), Err(ProxyError::NotProxy), "{bytes:?}");
        }
        assert_eq!(parse(b""), Ok(ProxyParse::Incomplete));
        assert_eq!(parse(b"PROX"), Ok(ProxyParse::Incomplete));
        assert_eq!(parse(b"PROXZ"), Err(ProxyError::NotProxy));
        assert_eq!(parse(b"PROXY\r\n"), Err(ProxyError::NotProxy));
        assert_eq!(parse(b"\r\n\r\n\0\r\nQ"), Ok(ProxyParse::Incomplete));
        assert_eq!(parse(b"\r\n\r\n\0\r\nX"), Err(ProxyError::NotProxy));
    }

    #[test]
    fn bad_v1_lines() {
        let bad = [
            "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
            "PROXY \r\n",
            "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
            "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
            "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
            "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            "PROXY TCP4 ::1 ::1 1 2\r\n",
            "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
            "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n",
        ];
        for line in bad {
            assert!(
                matches!(parse(line.as_bytes()), Err(ProxyError::V1Syntax(_))),
                "{line:?} gave {:?}",
                parse(line.as_bytes())
            );
        }
        assert!(matches!(
            parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 \xff 2\r\n"),
            Err(ProxyError::V1Syntax(_))
        ));
        // Port 0 is a plain zero, not a leading one.
        assert_eq!(
            parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 0 0\r\n"),
            Ok(done(32, "1.2.3.4:0", "5.6.7.8:0"))
        );
    }

    #[test]
    fn bad_v2_fixed_bytes_fail_as_soon_as_seen() {
        let mut bytes = v2(0x11, 0x11, &[0; 12]);
        assert_eq!(parse(&bytes[..13]), Err(ProxyError::BadVersion(1)));
        bytes[12] = 0x22;
        assert_eq!(parse(&bytes[..13]), Err(ProxyError::BadCommand(2)));
        bytes[12] = 0x21;
        bytes[13] = 0x41;
        assert_eq!(parse(&bytes[..14]), Err(ProxyError::BadFamily(0x41)));
        bytes[13] = 0x13;
        assert_eq!(parse(&bytes[..14]), Err(ProxyError::BadFamily(0x13)));
        let short4 = v2(0x21, 0x11, &[0; 8]);
        assert_eq!(
            parse(&short4),
            Err(ProxyError::ShortAddresses { need: 12, got: 8 })
        );
        let short6 = v2(0x21, 0x21, &[0; 12]);
        assert_eq!(
            parse(&short6),
            Err(ProxyError::ShortAddresses { need: 36, got: 12 })
        );
    }

    #[test]
    fn random_input_never_panics_and_stays_within_the_limit() {
        let mut rng = fastrand::Rng::with_seed(7);
        for round in 0..20_000 {
            let mut bytes: Vec<u8> = match round % 3 {
                0 => V2_SIGNATURE.to_vec(),
                1 => b"PROXY ".to_vec(),
                _ => Vec::new(),
            };
            let len = rng.usize(0..300);
            bytes.extend((0..len).map(|_| match round % 4 {
                0 => rng.u8(..),
                _ => *rng.choice(b"0123456789.: abcdefTCP46UNKOW\r\n").unwrap(),
            }));
            match parse(&bytes) {
                Ok(ProxyParse::Incomplete) => assert!(bytes.len() < MAX_HEADER_LEN),
                Ok(ProxyParse::Done { consumed, .. }) => assert!(consumed <= bytes.len()),
                Err(_) => {}
            }
        }
    }
}
