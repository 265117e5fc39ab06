//! Signals and what they do to a running relay:
//!
//! - SIGTERM: graceful drain. The shards close their listeners (no new connections) and ask
//!   the clients that announced the Enhanced RTMP reconnect capability to reconnect;
//!   [`ControlState::draining`] turns on (the agent answers `drain`, `/healthz` and `/readyz`
//!   503). Connected players and publishers go on being served until `server.drain_timeout_ms`
//!   has passed or none is left, then the shards stop and the process exits 0.
//! - A second SIGTERM, or SIGINT at any time: stop at once.
//! - SIGHUP: reload. The config file is read again with the same command-line flags over it;
//!   a config that fails validation is refused (its diagnostics, with file:line:col, go to
//!   the log) and the running one stays; otherwise the runtime settings go to every shard
//!   through its mailbox and to the agent, and keys that need a restart are logged (see
//!   [`reload`](super::reload)). No connection is dropped.
//!
//! Runs on its own thread ([`Lifecycle::spawn`]); it never touches a shard other than
//! through [`ShardControl`] and [`Stopper`].
use super::agent::{Agent, Capacity};
use super::http::ControlState;
use super::reload::restart_needed;
use super::{Cli, Config};
use crate::shard::{ShardControl, Stopper};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

/// How often a drain looks whether any connection is left.
const DRAIN_POLL: Duration = Duration::from_millis(250);
/// Snapshots are published every sweep (500 ms): a drain trusts an empty count only after
/// this long, and only when two looks in a row agree.
const DRAIN_SETTLE: Duration = Duration::from_secs(1);

/// What the signal thread acts on.
pub struct Lifecycle {
    pub cli: Cli,
    /// The configuration as started (restart-only keys are compared against it).
    pub started: Config,
    pub shards: ShardControl,
    pub stopper: Stopper,
    pub state: Arc<ControlState>,
    pub agent: Option<Agent>,
}

impl Lifecycle {
    /// Installs the handlers for SIGTERM, SIGINT and SIGHUP and serves them on a thread.
    pub fn spawn(self) -> io::Result<()> {
        let signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
        std::thread::Builder::new()
            .name("signals".to_owned())
            .spawn(move || self.run(signals))?;
        Ok(())
    }

    fn run(self, mut signals: Signals) {
        let mut drain_timeout = self.started.server.drain_timeout();
        for signal in signals.forever() {
            match signal {
                SIGHUP => {
                    if let Some(new) = self.reload() {
                        drain_timeout = new.server.drain_timeout();
                    }
                }
                SIGTERM if !self.state.draining.load(Ordering::Relaxed) => {
                    self.drain(drain_timeout);
                }
                _ => {
                    info!(signal, "stopping now");
                    self.stopper.stop();
                }
            }
        }
    }

    fn drain(&self, timeout: Duration) {
        self.state.draining.store(true, Ordering::Relaxed);
        let shards = self.shards.drain();
        info!(
            shards,
            timeout_ms = timeout.as_millis() as u64,
            "SIGTERM: draining (no new connections; connected clients are served until the \
             drain timeout); a second SIGTERM or SIGINT stops at once"
        );
        let (shards, stopper) = (self.shards.clone(), self.stopper.clone());
        let watcher = std::thread::Builder::new()
            .name("drain".to_owned())
            .spawn(move || {
                watch_drain(&shards, timeout);
                stopper.stop();
            });
        if let Err(e) = watcher {
            error!("cannot start the drain timer ({e}): stopping now");
            self.stopper.stop();
        }
    }

    /// Reads the config again; returns it when it was taken.
    fn reload(&self) -> Option<Config> {
        let new = match self.cli.load_config() {
            Ok(c) => c,
            Err(e) => {
                error!("SIGHUP: configuration refused, the running one stays: {e}");
                return None;
            }
        };
        for key in restart_needed(&self.started, &new) {
            warn!(
                key,
                "SIGHUP: this key changed; it takes effect only after a restart"
            );
        }
        let settings = match new.shard_settings_with_tls() {
            Ok(s) => s,
            Err(e) => {
                error!("SIGHUP: TLS files refused, the running configuration stays: {e}");
                return None;
            }
        };
        let shards = self.shards.reload(settings);
        if let Some(agent) = &self.agent {
            agent.set_capacity(Capacity::from(&new.agent));
        }
        info!(shards, "SIGHUP: configuration reloaded");
        Some(new)
    }
}

/// Returns when `timeout` has passed or no connection is left on any shard.
fn watch_drain(shards: &ShardControl, timeout: Duration) {
    let started = Instant::now();
    let mut empty_before = false;
    while started.elapsed() < timeout {
        std::thread::sleep(DRAIN_POLL.min(timeout.saturating_sub(started.elapsed())));
        let open: u64 = shards
            .snapshots()
            .iter()
            .flatten()
            .flat_map(|s| s.listeners.iter())
            .map(|l| l.pending + l.publishers + l.players)
            .sum();
        let empty = open == 0 && started.elapsed() >= DRAIN_SETTLE;
        if empty && empty_before {
            info!("drain: no connection left");
            return;
        }
        empty_before = empty;
    }
    info!("drain: timeout reached; closing the remaining connections");
}
