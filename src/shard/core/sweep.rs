//! The core's periodic sweep (every 500 ms of the driver's clock): handshake and PROXY header
//! deadlines (each its own), idle publishers, players whose socket stalled or who lag beyond
//! the kick limit while the socket keeps them from being written, the publisher timestamps a
//! takeover continues from, relay connections' connect/handshake/play timeouts and pulls'
//! idle close.
use super::conn::{Kind, Phase, Role, WriteState};
use super::http::{self, HttpSweep};
use super::upstream::phase_timeout;
use super::{CloseReason, ShardCore};
use crate::media::queue::Verdict;
use std::time::Instant;
use tracing::info;

impl ShardCore {
    pub(super) fn sweep(&mut self, now: Instant) {
        // The safety net of HLS/DASH waits (and their bounds): a wake may have been missed.
        self.cmaf_recheck(now);
        self.sweep_holds(now);
        self.registry.cmaf.sweep(self.settings.hls_ended_keep, now);
        let s = &self.settings;
        let mut missing = Vec::new();
        for (id, c) in self.conns.iter_mut() {
            let waiting_on_socket = matches!(c.write, WriteState::InFlight | WriteState::Blocked);
            let log = c.player_log(&self.streams);
            if self.ops.draining && http::idle_between_requests(c) {
                self.closing.push((id, CloseReason::Shutdown));
                continue;
            }
            let rtmp = match &mut c.kind {
                Kind::Rtmp(rtmp) => rtmp,
                Kind::Http(_) => {
                    let peer = c.peer();
                    match http::sweep(c, log, s, now, &mut self.stats.frames_dropped) {
                        HttpSweep::Keep => {}
                        HttpSweep::StreamMissing => missing.push(id),
                        HttpSweep::Kick => {
                            info!(shard = self.index, %peer, "HTTP player too slow: disconnecting");
                            self.stats.players_kicked += 1;
                            self.closing.push((id, CloseReason::PlayerTooSlow));
                        }
                        HttpSweep::Close(why) => {
                            self.stats.timeouts += 1;
                            self.closing.push((id, why));
                        }
                    }
                    continue;
                }
                Kind::Upstream(up) => {
                    let mut why = phase_timeout(&s.relay, up, now);
                    if waiting_on_socket {
                        if now.duration_since(c.last_write) > s.write_stall_timeout {
                            why = Some(CloseReason::WriteStalled);
                        } else if up.phase == Phase::Live {
                            // A push lags like a player: the same policy.
                            match c.queue.check_lag(log) {
                                Verdict::Kick => why = Some(CloseReason::PlayerTooSlow),
                                Verdict::Keep { dropped } => self.stats.frames_dropped += dropped,
                            }
                        }
                    }
                    if let Some(why) = why {
                        info!(shard = self.index, peer = %up.peer, stream = %up.key, %why, "closing relay connection");
                        self.closing.push((id, why));
                    }
                    continue;
                }
            };
            let why = match &mut rtmp.role {
                // HAProxy's rule: the whole PROXY header first, within its own (short) timeout.
                Role::Pending
                    if rtmp.proxy.is_some()
                        && now.duration_since(c.created) > s.proxy_header_timeout =>
                {
                    Some(CloseReason::ProxyTimeout)
                }
                // After the handshake the command timeout (`limits`) takes over.
                Role::Pending
                    if !rtmp.session.handshake_complete()
                        && now.duration_since(c.created) > s.handshake_timeout =>
                {
                    Some(CloseReason::HandshakeTimeout)
                }
                Role::Publisher {
                    last_media,
                    stream,
                    generation,
                    builder,
                    noted_timestamp,
                } => {
                    if now.duration_since(*last_media) > s.publisher_idle_timeout {
                        Some(CloseReason::PublisherIdle)
                    } else {
                        let last = builder.last_timestamp();
                        if last.is_some() && last != *noted_timestamp {
                            *noted_timestamp = last;
                            if let (Some(ts), Some(st)) = (last, self.streams.get(*stream)) {
                                self.registry.note_timestamp(&st.key, *generation, ts);
                            }
                        }
                        None
                    }
                }
                _ if waiting_on_socket
                    && now.duration_since(c.last_write) > s.write_stall_timeout =>
                {
                    Some(CloseReason::WriteStalled)
                }
                Role::Player { .. } if waiting_on_socket => match c.queue.check_lag(log) {
                    Verdict::Kick => {
                        info!(shard = self.index, peer = %rtmp.peer, "player too slow: disconnecting");
                        self.stats.players_kicked += 1;
                        Some(CloseReason::PlayerTooSlow)
                    }
                    Verdict::Keep { dropped } => {
                        self.stats.frames_dropped += dropped;
                        None
                    }
                },
                _ => None,
            };
            if let Some(why) = why {
                if why != CloseReason::PlayerTooSlow {
                    self.stats.timeouts += 1;
                }
                self.closing.push((id, why));
            }
        }
        for id in missing {
            self.http_not_found(id);
        }
        self.sweep_pulls(now);
    }
}
