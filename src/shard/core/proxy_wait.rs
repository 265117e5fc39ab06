//! Waiting for a PROXY protocol header before the RTMP bytes: behind a load balancer that
//! speaks it, only the bytes after the header reach the session, and the header's source
//! becomes the connection's peer. A v2 LOCAL header (the proxy's own health check) closes the
//! connection quietly; a malformed one closes it as a protocol error. Sans-IO.
use super::{CloseReason, ShardCore};
use crate::protocol::proxy::{self, ProxyError, ProxyParse, MAX_HEADER_LEN};
use crate::shard::ProtocolErrorKind;
use std::net::SocketAddr;
use tracing::{debug, info};

/// A complete PROXY header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProxyDone {
    /// Offset in the last input where the bytes after the header start.
    pub start: usize,
    /// The client the proxy relays, if the header names one.
    pub source: Option<SocketAddr>,
    /// A v2 LOCAL command (a health check of the proxy itself).
    pub local: bool,
}

/// The start of a connection whose PROXY header is not complete yet.
#[derive(Default)]
pub(crate) struct ProxyWait {
    /// What arrived so far: all of it header, never more than `MAX_HEADER_LEN` bytes.
    received: Vec<u8>,
}

impl ProxyWait {
    /// Takes the next input. Once the header is complete: where the bytes after it start in
    /// `input`, the header's source address if it has one, and whether it is a LOCAL command.
    pub(crate) fn handle_input(&mut self, input: &[u8]) -> Result<Option<ProxyDone>, ProxyError> {
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
            } => Ok(Some(ProxyDone {
                start: consumed.saturating_sub(before),
                source,
                local: proxy::is_v2_local(&self.received),
            })),
        }
    }
}

impl ShardCore {
    /// Feeds `input` to the PROXY header wait of `id`: where in `input` the session's bytes
    /// start once the header is complete, or None when all of it was header (or the
    /// connection was closed: a health check, a bad header).
    pub(super) fn proxy_input(&mut self, id: usize, input: &[u8]) -> Option<usize> {
        let rtmp = self.conns.get_mut(id)?.rtmp_mut()?;
        let via = rtmp.peer;
        match rtmp.proxy.as_mut()?.handle_input(input) {
            Ok(None) => None,
            Ok(Some(done)) if done.local => {
                // Nothing to relay and nothing to log (see `forget`).
                self.close_now(id, CloseReason::ProxyHealthCheck);
                None
            }
            Ok(Some(done)) => {
                if let Some(source) = done.source {
                    rtmp.peer = source;
                }
                rtmp.proxy = None;
                debug!(shard = self.index, peer = %rtmp.peer, %via, "PROXY header");
                let now = self.last_now;
                match done.source {
                    Some(source) if !self.admit_proxied(id, source, now) => None,
                    _ => Some(done.start),
                }
            }
            Err(e) => {
                info!(shard = self.index, peer = %via, error = %e, "closing connection after PROXY protocol error");
                self.stats.protocol_errors += 1;
                self.stats.protocol_errors_by_kind[ProtocolErrorKind::Proxy.index()] += 1;
                self.close_now(id, CloseReason::ProxyError);
                None
            }
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
            let rest = match wait
                .handle_input(first)
                .unwrap()
                .map(|d| (d.start, d.source))
            {
                Some((start, src)) => {
                    assert!(cut >= HEADER.len(), "cut {cut}");
                    assert_eq!(src, source());
                    &first[start..]
                }
                None => {
                    assert!(cut < HEADER.len(), "cut {cut}");
                    let done = wait.handle_input(second).unwrap().expect("complete");
                    let (start, src) = (done.start, done.source);
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
        let done = ProxyDone {
            start: 1,
            source: source(),
            local: false,
        };
        assert_eq!(wait.handle_input(&input), Ok(Some(done)));
        assert!(wait.received.len() <= MAX_HEADER_LEN);
    }

    #[test]
    fn v2_local_is_reported() {
        // LOCAL, AF_UNSPEC, no address block: what HAProxy's check-send-proxy sends.
        let mut local = proxy::V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
        let mut wait = ProxyWait::default();
        let done = wait.handle_input(&local).unwrap().expect("complete");
        assert!(done.local);
        assert_eq!((done.start, done.source), (local.len(), None));
        // A PROXY command is not LOCAL.
        let mut relayed = proxy::V2_SIGNATURE.to_vec();
        relayed.extend_from_slice(&[
            0x21, 0x11, 0x00, 0x0c, 10, 0, 0, 1, 127, 0, 0, 1, 1, 2, 3, 4,
        ]);
        let done = ProxyWait::default()
            .handle_input(&relayed)
            .unwrap()
            .unwrap();
        assert!(!done.local);
        assert_eq!(done.source, Some("10.0.0.1:258".parse().unwrap()));
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
