//! Waiting for a PROXY protocol header before the RTMP bytes: behind a load balancer that
//! speaks it, only the bytes after the header reach the session, and the header's source
//! becomes the connection's peer. Sans-IO.
use crate::protocol::proxy::{self, ProxyError, ProxyParse, MAX_HEADER_LEN};
use std::net::SocketAddr;

/// The start of a connection whose PROXY header is not complete yet.
#[derive(Default)]
pub(crate) struct ProxyWait {
    /// What arrived so far: all of it header, never more than `MAX_HEADER_LEN` bytes.
    received: Vec<u8>,
}

impl ProxyWait {
    /// Takes the next input. Once the header is complete: the offset in `input` where the bytes
    /// after it start, and the header's source address if it has one.
    pub(crate) fn handle_input(
        &mut self,
        input: &[u8],
    ) -> Result<Option<(usize, Option<SocketAddr>)>, ProxyError> {
        let before = self.received.len();
        let room = MAX_HEADER_LEN.saturating_sub(before);
        self.received
            .extend_from_slice(input.get(..room).unwrap_or(input));
        match proxy::parse(&self.received)? {
            ProxyParse::Incomplete if self.received.len() >= MAX_HEADER_LEN => {
                // parse() never asks for this much; refuse rather than trust that.
                Err(ProxyError::TooLong {
                    limit: MAX_HEADER_LEN,
                })
            }
            ProxyParse::Incomplete => Ok(None),
            // The earlier bytes parsed as Incomplete, so they were all header: the header
            // ends inside `input`.
            ProxyParse::Done {
                consumed, source, ..
            } => Ok(Some((consumed.saturating_sub(before), source))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &[u8] = b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 1935\r\n";
    const RTMP: &[u8] = &[0x03, 0, 0, 0, 0, 9, 9, 9];

    fn source() -> Option<SocketAddr> {
        Some("203.0.113.7:40000".parse().unwrap())
    }

    #[test]
    fn header_split_over_two_reads_at_every_point() {
        let all = [HEADER, RTMP].concat();
        for cut in 0..=all.len() {
            let mut wait = ProxyWait::default();
            let (first, second) = all.split_at(cut);
            let rest = match wait.handle_input(first).unwrap() {
                Some((start, src)) => {
                    assert!(cut >= HEADER.len(), "cut {cut}");
                    assert_eq!(src, source());
                    &first[start..]
                }
                None => {
                    assert!(cut < HEADER.len(), "cut {cut}");
                    let (start, src) = wait.handle_input(second).unwrap().expect("complete");
                    assert_eq!(src, source());
                    &second[start..]
                }
            };
            let expected = if cut >= HEADER.len() {
                &all[HEADER.len()..cut]
            } else {
                RTMP
            };
            assert_eq!(rest, expected, "cut {cut}");
        }
    }

    #[test]
    fn header_one_byte_at_a_time() {
        let mut wait = ProxyWait::default();
        let (last, head) = HEADER.split_last().unwrap();
        for b in head {
            assert_eq!(wait.handle_input(std::slice::from_ref(b)), Ok(None));
        }
        let input = [&[*last][..], RTMP].concat();
        assert_eq!(wait.handle_input(&input), Ok(Some((1, source()))));
        assert!(wait.received.len() <= MAX_HEADER_LEN);
    }

    #[test]
    fn garbage_and_oversized_headers_fail() {
        let mut wait = ProxyWait::default();
        assert_eq!(wait.handle_input(RTMP), Err(ProxyError::NotProxy));
        // A v2 header announcing 60000 bytes of TLVs, sent in one big read.
        let mut big = proxy::V2_SIGNATURE.to_vec();
        big.extend_from_slice(&[0x21, 0x11, 0xea, 0x60]);
        big.resize(64 * 1024, 0);
        let mut wait = ProxyWait::default();
        assert!(matches!(
            wait.handle_input(&big),
            Err(ProxyError::TooLong { .. })
        ));
        assert!(wait.received.len() <= MAX_HEADER_LEN);
    }
}
