//! [`PeerTable`]: the node-wide connection counts every shard of a server shares, in total
//! and per source IP, with each source's handshake token bucket. One mutex, touched only when
//! a connection is admitted or forgotten, never per message; idle sources are pruned as the
//! table grows. Time comes in as `now`.
use super::{LimitKind, LimitSettings};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One source address: its open connections and its handshake token bucket.
#[derive(Debug)]
struct PeerEntry {
    open: u32,
    tokens: f64,
    refilled: Instant,
}

#[derive(Debug, Default)]
struct PeerState {
    /// Connections admitted on the whole node and not yet forgotten.
    open: usize,
    peers: HashMap<IpAddr, PeerEntry>,
    /// Entry count at which idle entries (no connection, bucket full) are dropped next.
    prune_at: usize,
}

impl PeerState {
    /// The per-IP part of an admission: the limits checked, `ip` counted.
    fn admit_ip(&mut self, ip: IpAddr, now: Instant, s: &LimitSettings) -> Result<(), LimitKind> {
        let burst = f64::from(s.handshake_burst_per_ip.max(1));
        let rate = f64::from(s.handshakes_per_ip_per_s);
        let exempt = s.is_exempt(ip);
        let e = self.peers.entry(ip).or_insert(PeerEntry {
            open: 0,
            tokens: burst,
            refilled: now,
        });
        let elapsed = now.saturating_duration_since(e.refilled).as_secs_f64();
        e.tokens = (e.tokens + elapsed * rate).min(burst);
        e.refilled = now;
        if !exempt {
            if s.max_connections_per_ip > 0 && e.open as usize >= s.max_connections_per_ip {
                return Err(LimitKind::ConnectionsPerIp);
            }
            if s.handshakes_per_ip_per_s > 0 {
                if e.tokens < 1.0 {
                    return Err(LimitKind::HandshakeRate);
                }
                e.tokens -= 1.0;
            }
        }
        e.open += 1;
        if self.peers.len() >= self.prune_at.max(PRUNE_FLOOR) {
            // Sources with nothing open whose bucket has refilled carry no state worth
            // keeping; a flood of one-off sources then costs one sweep per doubling.
            let full_after = Duration::from_secs_f64(if rate > 0.0 { burst / rate } else { 0.0 });
            self.peers.retain(|_, e| {
                e.open > 0 || now.saturating_duration_since(e.refilled) < full_after
            });
            self.prune_at = self.peers.len() * 2;
        }
        Ok(())
    }
}

/// Node-wide connection counts, shared by the shards of one server (see the module doc).
#[derive(Debug, Default)]
pub struct PeerTable {
    state: Mutex<PeerState>,
}

/// Entries kept before idle ones are pruned.
const PRUNE_FLOOR: usize = 1024;

impl PeerTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, PeerState> {
        // Plain counters: a panic elsewhere leaves them usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a new connection from `ip` (None: a source the per-IP limits cannot see, like
    /// a PROXY listener's proxy), or says which limit refuses it.
    pub fn admit(
        &self,
        ip: Option<IpAddr>,
        now: Instant,
        s: &LimitSettings,
    ) -> Result<(), LimitKind> {
        let mut st = self.lock();
        if st.open >= s.max_connections {
            return Err(LimitKind::Connections);
        }
        if let Some(ip) = ip {
            st.admit_ip(ip, now, s)?;
        }
        st.open += 1;
        Ok(())
    }

    /// Counts `ip` for a connection already counted node-wide without a source (a PROXY
    /// listener's, once its header named the client), or says which limit refuses it.
    pub fn admit_source(
        &self,
        ip: IpAddr,
        now: Instant,
        s: &LimitSettings,
    ) -> Result<(), LimitKind> {
        self.lock().admit_ip(ip, now, s)
    }

    /// Gives back what [`PeerTable::admit`] counted for `ip`.
    pub fn release(&self, ip: Option<IpAddr>) {
        let mut st = self.lock();
        st.open = st.open.saturating_sub(1);
        if let Some(e) = ip.and_then(|ip| st.peers.get_mut(&ip)) {
            e.open = e.open.saturating_sub(1);
        }
    }

    /// Connections admitted on the node and still open.
    pub fn open(&self) -> usize {
        self.lock().open
    }

    /// Connections open from `ip`.
    pub fn open_from(&self, ip: IpAddr) -> u32 {
        self.lock().peers.get(&ip).map_or(0, |e| e.open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LimitSettings {
        LimitSettings {
            max_connections: 5,
            max_connections_per_ip: 2,
            handshakes_per_ip_per_s: 1,
            handshake_burst_per_ip: 3,
            exempt: vec!["127.0.0.0/8".parse().unwrap()],
            max_streams: 10,
            max_players_per_stream: 10,
            command_timeout: Duration::from_secs(1),
            log_refusals_per_s: 2,
        }
    }

    #[test]
    fn per_ip_total_and_rate() {
        let t = PeerTable::default();
        let s = settings();
        let now = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(t.admit(Some(a), now, &s), Ok(()));
        assert_eq!(t.admit(Some(a), now, &s), Ok(()));
        assert_eq!(t.admit(Some(a), now, &s), Err(LimitKind::ConnectionsPerIp));
        t.release(Some(a));
        // Three of the burst are spent now (one refused take does not count).
        assert_eq!(t.admit(Some(a), now, &s), Ok(()));
        t.release(Some(a));
        t.release(Some(a));
        assert_eq!(t.admit(Some(a), now, &s), Err(LimitKind::HandshakeRate));
        // A second later one token is back.
        let later = now + Duration::from_secs(1);
        assert_eq!(t.admit(Some(a), later, &s), Ok(()));
        assert_eq!(t.open_from(a), 1);
        // Exempt sources skip the per-IP limits, not the node-wide one.
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(t.admit(Some(b), now, &s), Ok(()));
        assert_eq!(t.admit(Some(local), now, &s), Ok(()));
        assert_eq!(t.admit(Some(local), now, &s), Ok(()));
        assert_eq!(t.open(), 4);
        assert_eq!(t.admit(Some(local), now, &s), Ok(()));
        assert_eq!(t.admit(Some(local), now, &s), Err(LimitKind::Connections));
        assert_eq!(t.admit(None, now, &s), Err(LimitKind::Connections));
    }

    #[test]
    fn idle_sources_are_pruned() {
        let t = PeerTable::default();
        let s = settings();
        let now = Instant::now();
        let later = now + Duration::from_secs(10);
        let many = LimitSettings {
            max_connections: 1 << 20,
            ..s
        };
        for i in 0..5000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0A00_0000 + i));
            t.admit(Some(ip), now, &many).unwrap();
            t.release(Some(ip));
        }
        // All were idle with full buckets by `later`: the next prune drops them.
        for i in 0..4000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0B00_0000 + i));
            t.admit(Some(ip), later, &many).unwrap();
        }
        assert!(t.lock().peers.len() < 5000, "{}", t.lock().peers.len());
        assert_eq!(t.open(), 4000);
    }
}
