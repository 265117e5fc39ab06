//! The core's stream logic: publishers claiming streams (and taking them over), the players
//! of a stream told of its sources (joining and leaving is `play`), the encode-once fan-out into the stream's frame log, and the messages that carry
//! a stream between its home shard and the shards that play it.
//!
//! A new frame costs O(1) here: it is appended to the log, and the stream's list of caught-up
//! players is handed to the flush schedule whole; no player is touched until it is written.
use super::authorize::Held;
use super::conn::Role;
use super::health::Health;
use super::pull::PULL_SOURCE;
use super::streams::{Home, StreamId};
use super::{CloseReason, ShardCore};
use crate::auth::Action;
use crate::media::frame::{Frame, MediaKind};
use crate::media::ingest::Timeline;
use crate::media::registry::Claim;
use crate::media::variants::Built;
use crate::protocol::message;
use crate::session::{PublishRequest, ServerEvent, MEDIA_STREAM_ID};
use crate::shard::mailbox::{ShardMsg, StreamKey};
use crate::shard::snapshot::ClientRole;
use bytes::Bytes;
use std::time::Instant;
use tracing::{debug, info};

impl ShardCore {
    pub(super) fn handle_session_event(&mut self, id: usize, event: ServerEvent, now: Instant) {
        if self.is_authorizing(id) {
            return self.hold_event(id, event, now);
        }
        match event {
            ServerEvent::Media {
                type_id,
                timestamp,
                payload,
            } => self.on_media(id, type_id, timestamp, &payload, false, now),
            ServerEvent::Metadata { timestamp, payload } => {
                self.on_media(id, message::DATA_AMF0, timestamp, &payload, true, now)
            }
            ServerEvent::Connected { app, .. } => {
                if let Some(c) = self.conns.get(id) {
                    debug!(shard = self.index, peer = %c.peer(), app, "connected");
                }
            }
            ServerEvent::Publish(req) => self.on_publish(id, req, now),
            ServerEvent::Play(req) => self.on_play(id, req, now),
            ServerEvent::Unpublish { .. } => {
                self.end_publish(id);
                self.note_ended(id);
            }
            ServerEvent::PlayStop { .. } => {
                self.end_play(id);
                self.note_ended(id);
            }
            ServerEvent::ReceiveAudio(on) => self.set_wanted(id, MediaKind::Audio, on),
            ServerEvent::ReceiveVideo(on) => self.set_wanted(id, MediaKind::Video, on),
            ServerEvent::Refused(why) => self.session_refused(id, why, now),
        }
    }

    fn set_wanted(&mut self, id: usize, kind: MediaKind, on: bool) {
        if let Some(c) = self.conns.get_mut(id) {
            c.queue.set_wanted(kind, on);
        }
    }

    fn on_publish(&mut self, id: usize, req: PublishRequest, now: Instant) {
        let key: StreamKey = format!("{}/{}", req.app, req.name).into();
        let Some(hops) = self.check_hops(id, &req.query, req.stream_id, &key, true) else {
            return;
        };
        if self.authorize(id, Held::Publish(req.clone()), now) {
            self.publish_allowed(id, req, hops, now);
        }
    }

    /// Starts a publish that access control allowed.
    pub(super) fn publish_allowed(
        &mut self,
        id: usize,
        req: PublishRequest,
        hops: u32,
        now: Instant,
    ) {
        let key: StreamKey = format!("{}/{}", req.app, req.name).into();
        if !self.admit_stream(id, &key, req.stream_id, true) {
            return;
        }
        let claim = self
            .registry
            .claim_publisher(&key, self.index, id, self.settings.takeover);
        let Claim::Granted {
            generation,
            continue_after,
            player_shards,
            evicted,
        } = claim
        else {
            self.stats.publishes_refused += 1;
            if let Some(rtmp) = self.conns.get_mut(id).and_then(|c| c.rtmp_mut()) {
                info!(shard = self.index, peer = %rtmp.peer, stream = %key, "publish refused: stream is live");
                rtmp.session
                    .reject_publish(req.stream_id, "stream is already being published");
            }
            return;
        };
        if let Some(old) = evicted {
            info!(stream = %key, old_shard = old.shard, "publisher taken over by a newer one");
            if old.shard == self.index {
                self.evict_local(&key, old.generation);
                self.close_pending();
            } else {
                self.outbox.push(
                    old.shard,
                    ShardMsg::Evict {
                        key: key.clone(),
                        generation: old.generation,
                    },
                );
            }
        }
        let sid = self.streams.get_or_create(&key);
        let timeline = continue_after.map_or(Timeline::Publisher, Timeline::ContinueAfter);
        let builder = self.frame_builder(timeline);
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        c.last_session = Some((ClientRole::Publisher, key.clone()));
        let Some(rtmp) = c.rtmp_mut() else {
            return;
        };
        info!(shard = self.index, peer = %rtmp.peer, stream = %key, generation, "publish started");
        self.stats.publishes += 1;
        rtmp.session.accept_publish(req.stream_id);
        rtmp.role = Role::Publisher {
            stream: sid,
            generation,
            builder,
            last_media: now,
            noted_timestamp: None,
        };
        let remote: Vec<usize> = player_shards
            .into_iter()
            .filter(|&s| s != self.index)
            .collect();
        for &shard in &remote {
            self.outbox.push(
                shard,
                ShardMsg::Start {
                    key: key.clone(),
                    generation,
                    startup: Vec::new(),
                    legacy_startup: None,
                },
            );
        }
        let segmenter = self.new_segmenter(&key, now);
        let Some(stream) = self.streams.get_mut(sid) else {
            return;
        };
        stream.clear_media();
        stream.source = Some(generation);
        stream.home = Some(Home {
            publisher: id,
            generation,
            remote,
            pending: Vec::new(),
            health: Health::new(now),
            pushes: Vec::new(),
            segmenter,
        });
        self.note_started(id, Action::Publish, &req.app, &req.name, &req.query);
        self.restart_players(sid);
        self.start_pushes(sid, &req.app, &req.name, hops, now);
        self.start_recording(sid, &key, &req.app, &req.name);
    }

    /// A new publisher feeds `sid`: every player is told and waits for its first keyframe.
    fn restart_players(&mut self, sid: StreamId) {
        let Some(stream) = self.streams.get(sid) else {
            return;
        };
        let players = stream.players.clone();
        for player in players {
            if let Some(c) = self.conns.get_mut(player) {
                if let Some(rtmp) = c.rtmp_mut() {
                    rtmp.session.notify_publish(MEDIA_STREAM_ID);
                }
                if let Some(log) = c.player_log(&self.streams) {
                    for frame in log.headers().frames() {
                        c.queue.push_frame(frame);
                    }
                    c.queue.follow(log.end(), true);
                }
            }
            self.collect_output(player);
        }
    }

    /// A publisher's media message: build the frame once, deliver it everywhere.
    fn on_media(
        &mut self,
        id: usize,
        type_id: u8,
        timestamp: u32,
        payload: &Bytes,
        metadata: bool,
        now: Instant,
    ) {
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        let Some(Role::Publisher {
            stream: sid,
            generation,
            builder,
            last_media,
            noted_timestamp,
        }) = c.rtmp_mut().map(|r| &mut r.role)
        else {
            // Media from a refused or not-yet-accepted publisher is dropped.
            return;
        };
        *last_media = now;
        let (sid, generation) = (*sid, *generation);
        let mut built = builder.build(type_id, timestamp, payload, metadata);
        if built.frame.keyframe {
            *noted_timestamp = Some(built.frame.timestamp);
        }
        built.set_arrival(now);
        self.ingest(sid, generation, built, payload, now);
    }

    /// A message from the stream's source (a local publisher or a pull's upstream), in every
    /// variant: health, the takeover timeline, the other shards, then this shard's players.
    pub(super) fn ingest(
        &mut self,
        sid: StreamId,
        generation: u64,
        built: Built,
        payload: &Bytes,
        now: Instant,
    ) {
        let frame = &built.frame;
        self.stats.frames_in += 1;
        self.record_frame(sid, frame, payload);
        let (kind, timestamp) = (frame.kind, frame.timestamp);
        self.segment_message(sid, kind, timestamp, payload, now, now);
        let frame = &built.frame;
        let Some(stream) = self.streams.get_mut(sid) else {
            return;
        };
        if let Some(home) = &mut stream.home {
            home.health.on_frame(frame, payload, now);
        }
        if frame.keyframe {
            // Once per GOP, so a takeover can continue this timeline (see Registry).
            self.registry
                .note_timestamp(&stream.key, generation, frame.timestamp);
        }
        if let Some(home) = &mut stream.home {
            if !home.remote.is_empty() {
                if home.pending.is_empty() {
                    self.pending_remote.push(sid);
                }
                home.pending.push(built.clone());
            }
        }
        self.deliver(sid, std::iter::once(built), now);
    }

    /// Appends messages to the stream's logs (every variant) and hands its caught-up players
    /// to the schedule.
    fn deliver(&mut self, sid: StreamId, frames: impl IntoIterator<Item = Built>, now: Instant) {
        let merge = self.merge_window();
        let Some(stream) = self.streams.get_mut(sid) else {
            return;
        };
        for frame in frames {
            stream.append(frame);
        }
        if stream.caught_up.is_empty() {
            return;
        }
        let fresh = self.schedule.new_list();
        let due = std::mem::replace(&mut stream.caught_up, fresh);
        let at = (!merge.is_zero()).then(|| now + merge);
        self.schedule.batch(due, at);
    }

    /// Once per pass: hand each home stream's new frames to the shards that play it.
    pub(super) fn send_remote_frames(&mut self) {
        for sid in std::mem::take(&mut self.pending_remote) {
            self.flush_remote(sid);
        }
    }

    fn flush_remote(&mut self, sid: StreamId) {
        let Some(stream) = self.streams.get_mut(sid) else {
            return;
        };
        let Some(home) = stream.home.as_mut() else {
            return;
        };
        if home.pending.is_empty() {
            return;
        }
        let frames = std::mem::take(&mut home.pending);
        for &shard in &home.remote {
            self.outbox.push(
                shard,
                ShardMsg::Frames {
                    key: stream.key.clone(),
                    generation: home.generation,
                    frames: frames.clone(),
                },
            );
        }
    }

    /// The publisher on `id` stops (unpublish, close or eviction). No-op for others.
    pub(super) fn end_publish(&mut self, id: usize) {
        let Some(rtmp) = self.conns.get_mut(id).and_then(|c| c.rtmp_mut()) else {
            return;
        };
        let Role::Publisher {
            stream: sid,
            generation,
            builder,
            ..
        } = &rtmp.role
        else {
            return;
        };
        let (sid, generation, last) = (*sid, *generation, builder.last_timestamp());
        rtmp.role = Role::Pending;
        self.flush_remote(sid);
        self.stop_recording(sid);
        let Some(stream) = self.streams.get_mut(sid) else {
            return;
        };
        let key = stream.key.clone();
        let mut seg = None;
        let current = self.registry.release_publisher(&key, generation, last);
        info!(shard = self.index, stream = %key, generation, "publish ended");
        if stream
            .home
            .as_ref()
            .is_some_and(|h| h.generation == generation)
        {
            let mut home = stream.home.take();
            seg = home.as_mut().and_then(|h| h.segmenter.take());
            for push in home.iter().flat_map(|h| &h.pushes) {
                if let Some(conn) = push.conn {
                    self.closing.push((conn, CloseReason::PushEnded));
                }
            }
            if current {
                for shard in home.map(|h| h.remote).unwrap_or_default() {
                    self.outbox.push(
                        shard,
                        ShardMsg::Stop {
                            key: key.clone(),
                            generation,
                        },
                    );
                }
            }
        }
        // A publisher replaced by a takeover is not an unpublish for the players: the new
        // publisher's Start is on its way, and FFmpeg's player would quit on UnpublishNotify.
        let stopped = current && stream.source == Some(generation);
        self.finish_segmenter(&key, seg);
        if stopped {
            self.source_stopped(sid);
        }
        self.streams.remove_if_unused(sid);
    }

    fn source_stopped(&mut self, sid: StreamId) {
        let Some(stream) = self.streams.get_mut(sid) else {
            return;
        };
        stream.source = None;
        stream.clear_media();
        let players = stream.players.clone();
        for player in players {
            if let Some(rtmp) = self.conns.get_mut(player).and_then(|c| c.rtmp_mut()) {
                rtmp.session.notify_unpublish(MEDIA_STREAM_ID);
            }
            self.http_stream_ended(player);
            self.collect_output(player);
        }
    }

    /// Closes this shard's publisher of `key` if it is still `generation` (a takeover).
    fn evict_local(&mut self, key: &str, generation: u64) {
        let Some(home) = self
            .streams
            .find(key)
            .and_then(|sid| self.streams.get(sid))
            .and_then(|s| s.home.as_ref())
        else {
            return;
        };
        if home.generation == generation {
            let publisher = home.publisher;
            if publisher == PULL_SOURCE {
                self.stop_pull(key, generation);
            } else {
                self.close_later(publisher, CloseReason::ReplacedByNewerPublisher);
            }
        }
    }

    pub(super) fn handle_shard_msg(&mut self, msg: ShardMsg, now: Instant) {
        match msg {
            ShardMsg::Subscribe { key, from } => {
                let Some(sid) = self.streams.find(&key) else {
                    return;
                };
                // Frames this pass already queued for the others go out before the snapshot,
                // which includes them: the new shard must not get them twice.
                self.flush_remote(sid);
                let Some(stream) = self.streams.get_mut(sid) else {
                    return;
                };
                let (startup, legacy_startup) = stream.startup_snapshot();
                let Some(home) = &mut stream.home else { return };
                if !home.remote.contains(&from) {
                    home.remote.push(from);
                }
                let generation = home.generation;
                debug!(shard = self.index, stream = %key, to = from, "subscribed");
                self.outbox.push(
                    from,
                    ShardMsg::Start {
                        key,
                        generation,
                        startup,
                        legacy_startup,
                    },
                );
            }
            ShardMsg::Unsubscribe { key, from } => {
                let Some(sid) = self.streams.find(&key) else {
                    return;
                };
                self.flush_remote(sid);
                if let Some(home) = self.streams.get_mut(sid).and_then(|s| s.home.as_mut()) {
                    home.remote.retain(|&s| s != from);
                }
            }
            ShardMsg::Start {
                key,
                generation,
                startup,
                legacy_startup,
            } => self.remote_start(&key, generation, startup, legacy_startup),
            ShardMsg::Frames {
                key,
                generation,
                frames,
            } => {
                if let Some(sid) = self.streams.fed_by(&key, generation) {
                    self.deliver(sid, frames, now);
                }
            }
            ShardMsg::Stop { key, generation } => {
                let Some(sid) = self.streams.find(&key) else {
                    return;
                };
                if self.streams.fed_by(&key, generation).is_some() {
                    self.source_stopped(sid);
                }
                self.streams.remove_if_unused(sid);
            }
            ShardMsg::Evict { key, generation } => self.evict_local(&key, generation),
            ShardMsg::CmafPublished { key } => self.cmaf_recheck_stream(&key, now),
            ShardMsg::NotFound { key, generation } => self.pull_not_found(&key, generation),
            ShardMsg::Kick { conn, generation } => self.kick(conn, generation),
            ShardMsg::Drain => self.start_drain(),
            ShardMsg::Reload(settings) => self.reload(settings),
            ShardMsg::Callback {
                conn,
                ticket,
                outcome,
            } => self.handle_callback(conn, ticket, outcome, now),
        }
    }

    /// Another shard's publisher now feeds our players of `key`.
    fn remote_start(
        &mut self,
        key: &str,
        generation: u64,
        startup: Vec<Frame>,
        legacy_startup: Option<Vec<Frame>>,
    ) {
        let Some(sid) = self.streams.find(key) else {
            return;
        };
        let Some(stream) = self.streams.get_mut(sid) else {
            return;
        };
        // Our own publisher was replaced by a newer one elsewhere.
        let replaced = stream
            .home
            .as_ref()
            .filter(|home| home.generation < generation)
            .map(|home| home.publisher);
        if stream.source.is_some_and(|g| g > generation) {
            return;
        }
        stream.source = Some(generation);
        stream.logs.start(startup, legacy_startup);
        let players = stream.players.clone();
        for player in players {
            if let Some(c) = self.conns.get_mut(player) {
                if let Some(rtmp) = c.rtmp_mut() {
                    rtmp.session.notify_publish(MEDIA_STREAM_ID);
                }
                c.take_session_output();
                // Headers first (also when the log has evicted them), then the GOP from its
                // keyframe, or wait for the next keyframe.
                if let Some(log) = c.player_log(&self.streams) {
                    for frame in log.headers().frames() {
                        c.queue.push_frame(frame);
                    }
                    match log.gop_start() {
                        Some(start) => c.queue.follow(start, false),
                        None => c.queue.follow(log.end(), true),
                    }
                }
            }
            self.schedule_now(player);
        }
        if let Some(publisher) = replaced {
            self.close_later(publisher, CloseReason::ReplacedByNewerPublisher);
        }
    }
}
