//! `[agent]`: the HAProxy agent-check table of the configuration, with its defaults (the
//! agent itself is `control::agent`). No I/O.
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// `[agent]`: the HAProxy agent-check listener (off unless `listen` is set). It answers each
/// connection with one line: `up <weight>%` from the load against the capacity below, or
/// `drain` while draining.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// `ADDR:PORT` of the agent listener; empty = no agent.
    pub listen: String,
    /// Players this node serves at full load (weight 0% there).
    pub max_players: u64,
    /// Outgoing megabits per second at full load.
    pub max_mbps: u64,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            listen: String::new(),
            max_players: 20_000,
            max_mbps: 10_000,
        }
    }
}

impl AgentConfig {
    /// The agent listener's address, when one is configured (call on a validated config).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen.trim().parse().ok()
    }
}
