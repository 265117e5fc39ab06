//! The HAProxy agent-check listener: HAProxy connects to `agent.listen` every `agent-inter`,
//! reads one line and closes. The line is `up <weight>%` while serving, the weight falling as
//! the node fills (so `balance leastconn` plus agent weights spreads a fleet by real load),
//! and `drain` while the node drains (HAProxy stops sending new connections but keeps the
//! ones it has).
//!
//! The load is the larger of players against `agent.max_players` and outgoing megabits per
//! second against `agent.max_mbps`, from the snapshots the shards publish on their sweep
//! (the same the HTTP side reads). Nothing here can slow a shard: one accept thread,
//! blocking `std::net`, a line of a few bytes per connection, a short write timeout.
//!
//! [`weight`] and [`LoadMeter`] are pure (time is an argument); [`Agent::start`] owns the
//! thread. Call order: [`Agent::start`] after the shards, with the control side's
//! [`ControlState`]; [`Agent::set_capacity`] on a reload.
use crate::control::config::AgentConfig;
use crate::control::http::ControlState;
use crate::shard::snapshot::ShardSnapshot;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

const WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// Shortest interval a bandwidth figure is measured over; closer queries reuse the last one.
const MIN_RATE_INTERVAL: Duration = Duration::from_millis(500);

/// Capacity at full load (weight 0%).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub max_players: u64,
    pub max_mbps: u64,
}

impl From<&AgentConfig> for Capacity {
    fn from(c: &AgentConfig) -> Self {
        Capacity {
            max_players: c.max_players,
            max_mbps: c.max_mbps,
        }
    }
}

/// The weight percentage (0..=100) for `players` and `mbps` against `capacity`: 100 when
/// idle, 0 at or beyond capacity, the more loaded of the two resources deciding.
pub fn weight(players: u64, mbps: f64, capacity: Capacity) -> u8 {
    let share = |used: f64, max: u64| if max == 0 { 1.0 } else { used / max as f64 };
    let load = share(players as f64, capacity.max_players).max(share(mbps, capacity.max_mbps));
    let free = (1.0 - load).clamp(0.0, 1.0);
    (free * 100.0).round() as u8
}

/// The agent's reply line (with its newline).
pub fn reply(draining: bool, weight: u8) -> String {
    if draining {
        "drain\n".to_owned()
    } else {
        format!("up {weight}%\n")
    }
}

/// Outgoing bit rate from the shards' cumulative byte counters, measured between queries.
#[derive(Debug, Default)]
pub struct LoadMeter {
    last: Option<(Instant, u64)>,
    bps: f64,
}

impl LoadMeter {
    /// Takes the total bytes written by every shard at `now`; returns bits per second since
    /// the previous sample (or the last figure, when that was too recent to measure).
    pub fn observe(&mut self, bytes_out: u64, now: Instant) -> f64 {
        match self.last {
            Some((at, before)) if now.saturating_duration_since(at) >= MIN_RATE_INTERVAL => {
                let secs = now.saturating_duration_since(at).as_secs_f64();
                // A counter that went back (a shard restarted its count) measures nothing.
                self.bps = bytes_out.saturating_sub(before) as f64 * 8.0 / secs;
                self.last = Some((now, bytes_out));
            }
            Some(_) => {}
            None => self.last = Some((now, bytes_out)),
        }
        self.bps
    }
}

/// Players and bytes written, over every shard's latest snapshot.
pub fn totals(snapshots: &[Option<Arc<ShardSnapshot>>]) -> (u64, u64) {
    snapshots
        .iter()
        .flatten()
        .fold((0, 0), |(players, bytes), s| {
            let p: u64 = s.listeners.iter().map(|l| l.players).sum();
            (players + p, bytes + s.stats.bytes_out)
        })
}

/// A running agent listener.
pub struct Agent {
    addr: SocketAddr,
    capacity: Arc<(AtomicU64, AtomicU64)>,
}

impl Agent {
    /// Binds `addr` and answers on its own thread for the life of the process.
    pub fn start(
        addr: SocketAddr,
        state: Arc<ControlState>,
        capacity: Capacity,
    ) -> io::Result<Agent> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new((
            AtomicU64::new(capacity.max_players),
            AtomicU64::new(capacity.max_mbps),
        ));
        let cap = shared.clone();
        std::thread::Builder::new()
            .name("agent".to_owned())
            .spawn(move || serve(listener, &state, &cap))?;
        info!(%addr, "HAProxy agent listening");
        Ok(Agent {
            addr,
            capacity: shared,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// New capacity figures (a reload).
    pub fn set_capacity(&self, capacity: Capacity) {
        self.capacity
            .0
            .store(capacity.max_players, Ordering::Relaxed);
        self.capacity.1.store(capacity.max_mbps, Ordering::Relaxed);
    }
}

fn serve(listener: TcpListener, state: &ControlState, capacity: &(AtomicU64, AtomicU64)) {
    let meter = Mutex::new(LoadMeter::default());
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                debug!(error = %e, "agent accept failed");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let draining = state.draining.load(Ordering::Relaxed);
        let (players, bytes_out) = totals(&state.shards.snapshots());
        let bps = meter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observe(bytes_out, Instant::now());
        let cap = Capacity {
            max_players: capacity.0.load(Ordering::Relaxed),
            max_mbps: capacity.1.load(Ordering::Relaxed),
        };
        let line = reply(draining, weight(players, bps / 1e6, cap));
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        if let Err(e) = stream.write_all(line.as_bytes()) {
            warn!(error = %e, "agent reply failed");
        }
        debug!(
            players,
            mbps = bps / 1e6,
            reply = line.trim_end(),
            "agent check"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: Capacity = Capacity {
        max_players: 1000,
        max_mbps: 100,
    };

    #[test]
    fn weight_falls_with_the_more_loaded_resource() {
        assert_eq!(weight(0, 0.0, CAP), 100);
        assert_eq!(weight(250, 0.0, CAP), 75);
        assert_eq!(weight(250, 50.0, CAP), 50);
        assert_eq!(weight(999, 0.0, CAP), 0);
        assert_eq!(weight(5000, 500.0, CAP), 0);
        let none = Capacity {
            max_players: 0,
            max_mbps: 0,
        };
        assert_eq!(weight(0, 0.0, none), 0);
        let mut last = 100;
        for players in (0..=1000).step_by(50) {
            let w = weight(players, 0.0, CAP);
            assert!(w <= last);
            last = w;
        }
    }

    #[test]
    fn replies_follow_the_agent_protocol() {
        assert_eq!(reply(false, 73), "up 73%\n");
        assert_eq!(reply(true, 73), "drain\n");
    }

    #[test]
    fn meter_measures_between_samples() {
        let t0 = Instant::now();
        let mut m = LoadMeter::default();
        assert_eq!(m.observe(1_000, t0), 0.0);
        // Too soon: the previous figure stands.
        assert_eq!(m.observe(2_000, t0 + Duration::from_millis(100)), 0.0);
        let bps = m.observe(1_000 + 125_000, t0 + Duration::from_secs(1));
        assert!((bps - 1_000_000.0).abs() < 1.0, "{bps}");
        // A counter going back measures nothing rather than something huge.
        assert_eq!(m.observe(0, t0 + Duration::from_secs(2)), 0.0);
    }
}
