//! Push (forward): every stream published on this node by a local publisher is forwarded to
//! each push target of its app by an outbound publish connection. Each target has its own
//! reconnect with capped, jittered backoff, and, once publishing, follows the stream's frame
//! log exactly like a player: the same bounded `SendQueue` policy (skip to the next keyframe,
//! then kick and reconnect), so a slow target never slows the stream.
//!
//! Loops: pulled streams are never pushed (so a stream is never forwarded back to the server
//! it came from), and the stream name carries a hop count (`name?hops=N`) that servers of
//! this kind refuse beyond their `hop_limit`.
use super::conn::{Job, Phase};
use super::streams::StreamId;
use super::upstream::{app_of, Request};
use super::{CloseReason, ShardCore};
use crate::media::variants::Variant;
use crate::relay::{self, origin};
use crate::session::{ClientEvent, MEDIA_STREAM_ID};
use std::time::Instant;
use tracing::{info, warn};

/// One push target of a live local stream.
pub(crate) struct PushTarget {
    /// Index into the app's push list.
    pub target: usize,
    /// The stream name at the target, with the next hop count.
    pub name: String,
    pub conn: Option<usize>,
    /// Backoff rounds since it last published.
    pub round: u32,
    pub retry_at: Option<Instant>,
}

impl ShardCore {
    /// A local publisher of `sid` started: plan its pushes.
    pub(super) fn start_pushes(
        &mut self,
        sid: StreamId,
        app: &str,
        name: &str,
        hops: u32,
        now: Instant,
    ) {
        let Some(relay) = self.settings.relay.app(app) else {
            return;
        };
        if relay.push.is_empty() {
            return;
        }
        if hops + 1 > self.settings.relay.hop_limit {
            warn!(shard = self.index, stream = %name, hops, "not forwarding: hop limit reached");
            return;
        }
        let targets = (0..relay.push.len())
            .map(|target| PushTarget {
                target,
                name: relay::name_with_hops(name, hops + 1),
                conn: None,
                round: 0,
                retry_at: Some(now),
            })
            .collect();
        if let Some(home) = self.streams.get_mut(sid).and_then(|s| s.home.as_mut()) {
            home.pushes = targets;
        }
    }

    /// Opens the push connections whose retry time has come.
    pub(super) fn push_timers(&mut self, now: Instant) {
        let mut due = Vec::new();
        for (sid, stream) in self.streams.iter_ids() {
            for p in stream.home.iter().flat_map(|h| h.pushes.iter()) {
                if p.conn.is_none() && p.retry_at.is_some_and(|t| t <= now) {
                    due.push((sid, stream.key.clone(), p.target, p.name.clone()));
                }
            }
        }
        for (sid, key, target, name) in due {
            let to = app_of(&self.settings.relay, &key).and_then(|a| a.push.get(target).cloned());
            let Some(to) = to else { continue };
            let job = Job::Push {
                stream: sid,
                target,
            };
            let conn = self.open_upstream(&key, job, &to, Request::Publish(name), now);
            let backoff = origin::backoff(0, &mut self.rng);
            if let Some(p) = self.push_target(sid, target) {
                p.conn = conn;
                // The shard is full: try again later.
                p.retry_at = conn.is_none().then_some(now + backoff);
            }
        }
    }

    fn push_target(&mut self, sid: StreamId, target: usize) -> Option<&mut PushTarget> {
        let home = self.streams.get_mut(sid)?.home.as_mut()?;
        home.pushes.iter_mut().find(|p| p.target == target)
    }

    /// An event of push connection `id`.
    pub(super) fn push_event(
        &mut self,
        id: usize,
        sid: StreamId,
        target: usize,
        event: ClientEvent,
        now: Instant,
    ) {
        match event {
            ClientEvent::PublishStarted => {}
            ClientEvent::Status { level, code, .. } if level == "error" => {
                info!(
                    shard = self.index,
                    conn = id,
                    code,
                    "push target refused the publish"
                );
                return self.close_later(id, CloseReason::UpstreamFailed);
            }
            _ => return,
        }
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        let Some(up) = c.upstream_mut() else { return };
        // Frames are encoded once for message stream 1; a target that gave another id would
        // need them re-encoded.
        if up.session.stream_id() != Some(MEDIA_STREAM_ID) {
            warn!(shard = self.index, peer = %up.peer, id = ?up.session.stream_id(), "push target gave an unexpected stream id");
            return self.close_later(id, CloseReason::UpstreamFailed);
        }
        up.phase = Phase::Live;
        up.phase_since = now;
        info!(shard = self.index, stream = %up.key, target = %up.peer, "push live");
        if let Some(p) = self.push_target(sid, target) {
            p.round = 0;
        }
        let (Some(c), Some(stream)) = (self.conns.get_mut(id), self.streams.get(sid)) else {
            return;
        };
        // A push forwards the stream as published (every track).
        let log = stream.logs.get(Variant::Enhanced);
        for frame in log.headers().frames() {
            c.queue.push_frame(frame);
        }
        match log.gop_start() {
            Some(start) => c.queue.follow(start, false),
            None => c.queue.follow(log.end(), true),
        }
        self.schedule_now(id);
    }

    /// Push connection `id` of `sid` is gone: retry after a backoff while the stream lives.
    pub(super) fn push_lost(&mut self, id: usize, sid: StreamId, target: usize, now: Instant) {
        let backoff_round = self
            .push_target(sid, target)
            .filter(|p| p.conn == Some(id))
            .map(|p| p.round);
        let Some(round) = backoff_round else {
            return;
        };
        let delay = origin::backoff(round, &mut self.rng);
        if let Some(p) = self.push_target(sid, target) {
            p.conn = None;
            p.round += 1;
            p.retry_at = Some(now + delay);
        }
    }

    /// The earliest retry of any push.
    pub(super) fn push_deadline(&self) -> Option<Instant> {
        self.streams
            .iter()
            .filter_map(|s| s.home.as_ref())
            .flat_map(|h| h.pushes.iter())
            .filter(|p| p.conn.is_none())
            .filter_map(|p| p.retry_at)
            .min()
    }

    /// Relay timers due at `now` (called on every `handle_timeout`).
    pub(super) fn relay_timers(&mut self, now: Instant) {
        self.pull_timers(now);
        self.push_timers(now);
    }

    /// The earliest relay timer.
    pub(super) fn relay_deadline(&self) -> Option<Instant> {
        match (self.pull_deadline(), self.push_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
