//! Pull on demand: a play for a stream nobody publishes on this node (and whose app has
//! origins) makes this shard the stream's home and opens one upstream play connection, which
//! feeds the stream like a local publisher (metadata, sequence headers, GOP cache, fan-out to
//! every shard).
//!
//! The registry decides which shard pulls (one per node). The state machine per stream:
//! try the origins in their order (`ordered`, or rendezvous `hash`) once each; the first
//! that sends media makes the stream live. No origin has it and it never was live: every
//! player gets NetStream.Play.StreamNotFound (logged once). Lost while live: reconnect with
//! capped, jittered exponential backoff (seeded rng, no clock reads) while players remain;
//! they stay connected, get no UnpublishNotify, and continue from the next keyframe on the
//! same timeline (a live upstream silent for the publisher idle timeout counts as lost). No
//! players left: the upstream closes after `idle_close`; a player who arrives inside the
//! window reuses it at once.
use super::conn::{Job, Phase, UpstreamConn};
use super::health::Health;
use super::streams::{Home, StreamId};
use super::upstream::{app_of, Request};
use super::{CloseReason, ShardCore};
use crate::media::ingest::{FrameBuilder, Timeline};
use crate::media::registry::PULL_TOKEN;
use crate::protocol::message;
use crate::relay::{self, origin};
use crate::session::{ClientEvent, MEDIA_STREAM_ID};
use crate::shard::mailbox::{ShardMsg, StreamKey};
use std::time::Instant;
use tracing::{info, warn};

/// A live upstream lost after running this long is replaced at once, without backoff.
const STABLE_RUN: std::time::Duration = std::time::Duration::from_secs(5);

/// `Home::publisher` of a pulled stream: no local connection publishes it.
pub(super) const PULL_SOURCE: usize = PULL_TOKEN;

/// One stream this shard pulls.
pub(crate) struct Pull {
    pub generation: u64,
    pub sid: StreamId,
    /// The stream name at the origin, with the next hop count.
    name: String,
    /// Origin indices (into the app's list) in the order to try.
    order: Vec<usize>,
    /// Position in `order` of the current or next attempt.
    next: usize,
    /// Attempts in this round that failed before media.
    tried: usize,
    pub conn: Option<usize>,
    builder: FrameBuilder,
    /// The current connection sent media.
    live: bool,
    /// Some connection ever sent media.
    ever_live: bool,
    /// Backoff rounds since the stream was last live.
    round: u32,
    pub retry_at: Option<Instant>,
    idle_since: Option<Instant>,
    /// The last media from the current upstream (a live upstream that goes silent for the
    /// publisher idle timeout is dropped and reconnected).
    last_media: Instant,
}

impl ShardCore {
    /// This shard won the registry's pull claim for `key` as publisher `generation`.
    pub(super) fn start_pull(
        &mut self,
        key: &StreamKey,
        name: &str,
        hops: u32,
        generation: u64,
        now: Instant,
    ) {
        let Some(app) = app_of(&self.settings.relay, key) else {
            return;
        };
        let ids: Vec<String> = app.origins.iter().map(relay::Upstream::identity).collect();
        let order = origin::origin_order(app.origin_choice, key, &ids);
        let sid = self.streams.get_or_create(key);
        let segmenter = self.new_segmenter(key, now);
        if let Some(stream) = self.streams.get_mut(sid) {
            stream.clear_media();
            stream.source = Some(generation);
            stream.home = Some(Home {
                publisher: PULL_SOURCE,
                generation,
                remote: Vec::new(),
                pending: Vec::new(),
                health: Health::new(now),
                pushes: Vec::new(),
                segmenter,
            });
        }
        info!(shard = self.index, stream = %key, generation, "pull started");
        let app_name = key.split_once('/').map_or("", |(a, _)| a);
        self.start_recording(sid, key, app_name, name);
        let builder = self.frame_builder(Timeline::Publisher);
        self.pulls.insert(
            key.clone(),
            Pull {
                generation,
                sid,
                name: relay::name_with_hops(name, hops + 1),
                order,
                next: 0,
                tried: 0,
                conn: None,
                builder,
                live: false,
                ever_live: false,
                round: 0,
                retry_at: Some(now),
                idle_since: None,
                last_media: now,
            },
        );
    }

    /// Opens the upstream of every pull whose retry time has come.
    pub(super) fn pull_timers(&mut self, now: Instant) {
        let due: Vec<StreamKey> = self
            .pulls
            .iter()
            .filter(|(_, p)| p.conn.is_none() && p.retry_at.is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            let Some(pull) = self.pulls.get_mut(&key) else {
                continue;
            };
            pull.retry_at = None;
            // A new upstream session continues the timeline the players saw (a builder that
            // built nothing yet already does).
            let continued = pull
                .builder
                .last_timestamp()
                .map(|last| self.frame_builder(Timeline::ContinueAfter(last)));
            let Some(pull) = self.pulls.get_mut(&key) else {
                continue;
            };
            if let Some(builder) = continued {
                pull.builder = builder;
            }
            let (sid, name) = (pull.sid, pull.name.clone());
            let index = pull.order.get(pull.next).copied();
            let origin = app_of(&self.settings.relay, &key)
                .and_then(|a| index.and_then(|i| a.origins.get(i)))
                .cloned();
            let Some(origin) = origin else {
                // The app lost its origins (a reload): nothing left to try.
                let generation = pull.generation;
                warn!(shard = self.index, stream = %key, "no origin configured any more");
                self.end_pull(&key, generation, true, CloseReason::UpstreamFailed);
                continue;
            };
            let job = Job::Pull { stream: sid };
            let conn = self.open_upstream(&key, job, &origin, Request::Play(name), now);
            if let Some(pull) = self.pulls.get_mut(&key) {
                pull.conn = conn;
                pull.live = false;
                if conn.is_none() {
                    // The shard is full: try again later.
                    pull.retry_at = Some(now + origin::backoff(pull.round, &mut self.rng));
                }
            }
        }
    }

    /// An event of the upstream play connection `id` of `key`.
    pub(super) fn pull_event(
        &mut self,
        id: usize,
        key: &StreamKey,
        event: ClientEvent,
        now: Instant,
    ) {
        let (type_id, timestamp, payload, metadata) = match event {
            ClientEvent::Media {
                type_id,
                timestamp,
                payload,
            } => (type_id, timestamp, payload, false),
            ClientEvent::Metadata { timestamp, payload } => {
                (message::DATA_AMF0, timestamp, payload, true)
            }
            ClientEvent::Status { level, code, .. } => {
                if level == "error" {
                    info!(shard = self.index, stream = %key, code, "upstream refused the play");
                    self.close_later(id, CloseReason::UpstreamFailed);
                }
                return;
            }
            _ => return,
        };
        let Some(pull) = self.pulls.get_mut(key).filter(|p| p.conn == Some(id)) else {
            return;
        };
        pull.last_media = now;
        let resumed = !pull.live && pull.ever_live;
        if !pull.live {
            pull.live = true;
            pull.ever_live = true;
            pull.round = 0;
            pull.tried = 0;
            if let Some(up) = self.conns.get_mut(id).and_then(|c| c.upstream_mut()) {
                up.phase = Phase::Live;
                up.phase_since = now;
                info!(shard = self.index, stream = %key, origin = %up.peer, "pull live");
            }
        }
        let Some(pull) = self.pulls.get_mut(key) else {
            return;
        };
        let (sid, generation) = (pull.sid, pull.generation);
        let mut frame = pull.builder.build(type_id, timestamp, &payload, metadata);
        frame.set_arrival(now);
        if resumed {
            self.resume_players(key, sid, generation);
        }
        self.ingest(sid, generation, frame, &payload, now);
    }

    /// A new upstream feeds the stream after a loss: players continue from its next keyframe
    /// (here, and on the other shards through a fresh Start of the same generation).
    fn resume_players(&mut self, key: &StreamKey, sid: StreamId, generation: u64) {
        let Some(stream) = self.streams.get(sid) else {
            return;
        };
        for &player in &stream.players {
            if let Some(c) = self.conns.get_mut(player) {
                let end = c.player_log(&self.streams).map_or(0, |log| log.end());
                c.queue.follow(end, true);
            }
        }
        let remote = stream
            .home
            .as_ref()
            .map(|h| h.remote.clone())
            .unwrap_or_default();
        for shard in remote {
            let msg = ShardMsg::Start {
                key: key.clone(),
                generation,
                startup: Vec::new(),
                legacy_startup: None,
            };
            self.outbox.push(shard, msg);
        }
    }

    /// The upstream `up` of `key` is gone: fail over, back off, or give up.
    pub(super) fn pull_lost(
        &mut self,
        key: &StreamKey,
        id: usize,
        up: &UpstreamConn,
        reason: CloseReason,
        now: Instant,
    ) {
        // Not this pull's connection: an idle close or a stop already detached it.
        let Some(pull) = self.pulls.get_mut(key).filter(|p| p.conn == Some(id)) else {
            return;
        };
        pull.conn = None;
        let origins = pull.order.len().max(1);
        if pull.live || up.phase == Phase::Live {
            info!(shard = self.index, stream = %key, origin = %up.peer, %reason, "pull lost its upstream; reconnecting");
            pull.live = false;
            pull.next = 0;
            pull.tried = 0;
            // After a long live run, fail over at once (players are waiting); an upstream that
            // keeps dropping soon after it starts backs off.
            let long_run = now.saturating_duration_since(up.phase_since) >= STABLE_RUN;
            pull.retry_at = Some(if long_run {
                pull.round = 0;
                now
            } else {
                now + origin::backoff(pull.round, &mut self.rng)
            });
            pull.round += 1;
            return;
        }
        pull.tried += 1;
        pull.next = (pull.next + 1) % origins;
        if pull.tried < origins {
            // Fail over to the next origin at once.
            pull.retry_at = Some(now);
        } else if !pull.ever_live {
            let generation = pull.generation;
            warn!(shard = self.index, stream = %key, origins, "stream found on no origin");
            self.end_pull(key, generation, true, CloseReason::UpstreamFailed);
        } else {
            pull.tried = 0;
            pull.next = 0;
            pull.retry_at = Some(now + origin::backoff(pull.round, &mut self.rng));
            pull.round += 1;
        }
    }

    /// Ends the pull of `key` (`not_found`: tell every player of every shard).
    fn end_pull(&mut self, key: &StreamKey, generation: u64, not_found: bool, why: CloseReason) {
        let Some(pull) = self.pulls.remove(key) else {
            return;
        };
        self.stop_recording(pull.sid);
        if let Some(conn) = pull.conn {
            // Detached first: its close is not a loss.
            self.closing.push((conn, why));
        }
        if let Some(stream) = self.streams.get_mut(pull.sid) {
            if stream
                .home
                .as_ref()
                .is_some_and(|h| h.generation == generation)
            {
                let seg = stream.home.take().and_then(|h| h.segmenter);
                self.finish_segmenter(key, seg);
            }
        }
        if not_found {
            self.registry.release_pull(key, generation, true);
            for shard in (0..self.registry.shards()).filter(|&s| s != self.index) {
                let msg = ShardMsg::NotFound {
                    key: key.clone(),
                    generation,
                };
                self.outbox.push(shard, msg);
            }
            self.pull_not_found(key, generation);
        } else {
            if let Some(stream) = self.streams.get_mut(pull.sid) {
                if stream.source == Some(generation) {
                    stream.source = None;
                    stream.clear_media();
                }
            }
            self.streams.remove_if_unused(pull.sid);
        }
    }

    /// A newer local publisher took over the stream a pull fed (takeover).
    pub(super) fn stop_pull(&mut self, key: &str, generation: u64) {
        let Some(key) = self.pulls.get_key_value(key).map(|(k, _)| k.clone()) else {
            return;
        };
        if self
            .pulls
            .get(&key)
            .is_some_and(|p| p.generation == generation)
        {
            self.end_pull(
                &key,
                generation,
                false,
                CloseReason::ReplacedByNewerPublisher,
            );
        }
    }

    /// Pull `generation` of `key` found no origin with the stream: this shard's players of it
    /// get NetStream.Play.StreamNotFound and stop playing.
    pub(super) fn pull_not_found(&mut self, key: &str, generation: u64) {
        let Some(sid) = self.streams.find(key) else {
            return;
        };
        let Some(stream) = self.streams.get_mut(sid) else {
            return;
        };
        if stream.source.is_some_and(|g| g != generation) {
            return;
        }
        stream.source = None;
        let players = stream.players.clone();
        for player in players {
            if let Some(rtmp) = self.conns.get_mut(player).and_then(|c| c.rtmp_mut()) {
                rtmp.session
                    .reject_play(MEDIA_STREAM_ID, "stream not found on any origin");
            }
            self.http_not_found(player);
            self.end_play(player);
            self.collect_output(player);
        }
        self.streams.remove_if_unused(sid);
    }

    /// Idle close: pulls without players anywhere close `idle_close` after the last left.
    pub(super) fn sweep_pulls(&mut self, now: Instant) {
        let mut expired = Vec::new();
        let silent_after = self.settings.publisher_idle_timeout;
        for (key, pull) in self.pulls.iter_mut() {
            if let Some(conn) = pull.conn.filter(|_| pull.live) {
                if now.saturating_duration_since(pull.last_media) > silent_after {
                    info!(shard = self.index, stream = %key, "upstream went silent; reconnecting");
                    self.closing.push((conn, CloseReason::UpstreamFailed));
                }
            }
            let idle = self.streams.get(pull.sid).is_none_or(|s| {
                s.players.is_empty() && s.home.as_ref().is_none_or(|h| h.remote.is_empty())
            });
            if !idle {
                pull.idle_since = None;
                continue;
            }
            let since = *pull.idle_since.get_or_insert(now);
            let limit = app_of(&self.settings.relay, key).map(|a| a.idle_close);
            if limit.is_some_and(|l| now.saturating_duration_since(since) >= l) {
                expired.push((key.clone(), pull.generation));
            }
        }
        for (key, generation) in expired {
            if self.registry.release_pull(&key, generation, false) {
                info!(shard = self.index, stream = %key, "pull idle: closing its upstream");
                self.end_pull(&key, generation, false, CloseReason::UpstreamIdle);
            } else if let Some(pull) = self.pulls.get_mut(&key) {
                // A player arrived on another shard meanwhile.
                pull.idle_since = None;
            }
        }
    }

    /// The earliest retry of any pull.
    pub(super) fn pull_deadline(&self) -> Option<Instant> {
        self.pulls
            .values()
            .filter(|p| p.conn.is_none())
            .filter_map(|p| p.retry_at)
            .min()
    }
}
