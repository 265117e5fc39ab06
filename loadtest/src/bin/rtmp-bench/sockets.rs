//! What a server delivered over TCP: the kernel's per-socket `bytes_acked` counters of every
//! established connection on the server's port (bytes the peer acknowledged), read with
//! `ss -tin` (iproute2). A kernel that does not report `bytes_acked` for a connection gives
//! its `bytes_sent` instead (which also counts retransmissions and bytes still in flight).
//!
//! Servers send with different syscalls (rtmp-edge writev, nginx-rtmp send), and only some of
//! them show in /proc/PID/io, so the socket counters are the one measure that is the same for
//! both: RTMP bytes, chunk headers included, TCP/IP headers not. Acked rather than sent bytes
//! count what reached the players, not what a server pushed into a full pipe or sent twice.
//! Runs `ss` and parses its text;
//! [`parse`] is pure and tested on a captured sample. Call order: [`SocketSample::take`] at the
//! start and end of a window, then [`SocketSample::mbps_since`].

use std::collections::HashMap;
use std::process::Command;
use std::time::Instant;

/// Bytes delivered so far per connection (keyed by peer address) of one listening port.
#[derive(Debug, Clone)]
pub struct SocketSample {
    pub at: Instant,
    /// `bytes_acked`, or `bytes_sent` where the kernel did not say `bytes_acked`.
    pub delivered: HashMap<String, u64>,
    /// Connections counted by `bytes_sent` for want of `bytes_acked`.
    pub sent_fallbacks: usize,
}

impl SocketSample {
    /// Runs `ss` for the established connections whose local port is `port`.
    pub fn take(port: u16) -> Result<SocketSample, String> {
        let output = Command::new("ss")
            .args(["-tinH", "state", "established"])
            .arg(format!("( sport = :{port} )"))
            .output()
            .map_err(|e| format!("ss (iproute2): {e}"))?;
        let at = Instant::now();
        if !output.status.success() {
            return Err(format!(
                "ss: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let (delivered, sent_fallbacks) = parse(&String::from_utf8_lossy(&output.stdout));
        Ok(SocketSample {
            at,
            delivered,
            sent_fallbacks,
        })
    }

    /// Megabits per second delivered since `earlier`, over connections alive at this sample
    /// (a connection opened meanwhile counts from 0; one closed meanwhile is not counted).
    pub fn mbps_since(&self, earlier: &SocketSample) -> Option<f64> {
        let wall = self.at.duration_since(earlier.at).as_secs_f64();
        let bytes: u64 = self
            .delivered
            .iter()
            .map(|(peer, &now)| {
                now.saturating_sub(earlier.delivered.get(peer).copied().unwrap_or(0))
            })
            .sum();
        (wall > 0.0).then(|| bytes as f64 * 8.0 / wall / 1e6)
    }
}

/// `ss -tinH` output: a line per connection (`Recv-Q Send-Q Local Peer`, the state column is
/// left out when filtering by state), then an indented line of TCP info with `bytes_acked:N`
/// (and `bytes_sent:N` once anything was sent). Returns the bytes per peer, `bytes_acked`
/// where present, else `bytes_sent`, and how many connections had only `bytes_sent`. A
/// connection with neither is left out.
pub fn parse(text: &str) -> (HashMap<String, u64>, usize) {
    let mut delivered = HashMap::new();
    let mut fallbacks = 0;
    let mut peer: Option<String> = None;
    for line in text.lines() {
        if !line.starts_with([' ', '\t']) {
            peer = line.split_whitespace().nth(3).map(str::to_string);
            continue;
        }
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(name))
                .and_then(|n| n.parse::<u64>().ok())
        };
        let bytes = match (field("bytes_acked:"), field("bytes_sent:")) {
            (Some(acked), _) => Some(acked),
            (None, Some(sent)) => {
                fallbacks += 1;
                Some(sent)
            }
            (None, None) => None,
        };
        if let (Some(p), Some(b)) = (peer.take(), bytes) {
            delivered.insert(p, b);
        }
    }
    (delivered, fallbacks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const SAMPLE: &str = "0      0      127.0.0.1:44381 127.0.0.1:40366\n\
\t bbr wscale:10,10 rto:204 mss:47616 bytes_sent:100000 bytes_acked:100000 segs_out:3\n\
0      0      127.0.0.1:44381 127.0.0.1:40368\n\
\t cubic wscale:7,7 rto:204 rtt:0.05/0.02 bytes_acked:1 segs_out:1\n\
0      4096   127.0.0.1:44381 127.0.0.1:40370\n\
\t cubic bytes_sent:2500 bytes_acked:2000\n\
0      0      127.0.0.1:44381 127.0.0.1:40372\n\
\t cubic bytes_sent:700 segs_out:2\n\
0      0      127.0.0.1:44381 127.0.0.1:40374\n\
\t cubic segs_out:1\n";

    #[test]
    fn parses_bytes_acked_per_peer_with_bytes_sent_as_fallback() {
        let (delivered, fallbacks) = parse(SAMPLE);
        assert_eq!(delivered.len(), 4, "{delivered:?}");
        assert_eq!(delivered["127.0.0.1:40366"], 100_000);
        assert_eq!(delivered["127.0.0.1:40368"], 1);
        // Acked, not sent: 500 bytes were still in flight.
        assert_eq!(delivered["127.0.0.1:40370"], 2000);
        assert_eq!(delivered["127.0.0.1:40372"], 700);
        assert_eq!(fallbacks, 1);
        assert!(parse("").0.is_empty());
    }

    #[test]
    fn rate_counts_new_connections_from_zero() {
        let t0 = Instant::now();
        let a = SocketSample {
            at: t0,
            delivered: HashMap::from([("p1".to_string(), 1_000_000)]),
            sent_fallbacks: 0,
        };
        let b = SocketSample {
            at: t0 + Duration::from_secs(2),
            delivered: HashMap::from([("p1".to_string(), 2_000_000), ("p2".to_string(), 500_000)]),
            sent_fallbacks: 0,
        };
        assert!((b.mbps_since(&a).unwrap() - 6.0).abs() < 1e-9);
    }

    #[test]
    fn reads_a_live_connection() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        server.write_all(&[7u8; 5000]).unwrap();
        client.read_exact(&mut [0u8; 5000]).unwrap();
        // The client's ACK may trail its read by a moment: wait for it (bounded).
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let Ok(sample) = SocketSample::take(port) else {
                eprintln!("skipped: ss is not installed");
                return;
            };
            // The kernel's bytes_acked may also count the SYN (+1) on some versions.
            let bytes: Vec<u64> = sample.delivered.values().copied().collect();
            if bytes.len() == 1 && (5000..=5001).contains(&bytes[0]) {
                return;
            }
            assert!(Instant::now() < deadline, "{bytes:?} in {sample:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
