//! The streams of one shard: publishers claiming streams, players joining them, and the
//! encode-once fan-out of frames to local players and to other shards.
//!
//! A shard keeps a [`LocalStream`] for every stream it has players or the publisher of. The
//! stream's home (its publisher's shard) builds each frame once; every shard (home included)
//! hands the same frames to its local players and keeps its own startup cache, so a joining
//! player never waits on another shard.
use super::conn::Role;
use super::event_loop::Shard;
use super::mailbox::{ShardMsg, StreamKey};
use crate::media::cache::StartupCache;
use crate::media::frame::{Frame, MediaKind};
use crate::media::ingest::{FrameBuilder, Timeline};
use crate::media::queue::Push;
use crate::media::registry::Claim;
use crate::session::{PlayRequest, PublishRequest, MEDIA_STREAM_ID};
use tracing::{debug, info};

/// A player with this much queued is flushed even inside its write-merge window.
const MERGE_FLUSH_BYTES: usize = 256 * 1024;

/// The home part of a stream: present on the shard of its live publisher.
pub(crate) struct Home {
    pub publisher: usize,
    pub generation: u64,
    /// Other shards with players for this stream.
    pub remote: Vec<usize>,
    /// Frames of this pass not yet handed to `remote`.
    pub pending: Vec<Frame>,
}

pub(crate) struct LocalStream {
    pub cache: StartupCache,
    pub players: Vec<usize>,
    /// Generation of the publisher feeding this shard, if one is live.
    pub source: Option<u64>,
    pub home: Option<Home>,
}

impl LocalStream {
    fn is_unused(&self) -> bool {
        self.players.is_empty() && self.home.is_none()
    }
}

impl Shard {
    fn new_stream(&self) -> LocalStream {
        LocalStream {
            cache: StartupCache::new(self.settings.gop_cache, self.settings.max_gop_bytes),
            players: Vec::new(),
            source: None,
            home: None,
        }
    }

    pub(crate) fn on_publish(&mut self, token: usize, req: PublishRequest) {
        let key: StreamKey = format!("{}/{}", req.app, req.name).into();
        let claim = self
            .registry
            .claim_publisher(&key, self.index, token, self.settings.takeover);
        let Claim::Granted {
            generation,
            continue_after,
            player_shards,
            evicted,
        } = claim
        else {
            self.stats.publishes_refused += 1;
            if let Some(conn) = self.conns.get_mut(token) {
                info!(shard = self.index, peer = %conn.peer, stream = %key, "publish refused: stream is live");
                conn.session
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
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        info!(shard = self.index, peer = %conn.peer, stream = %key, generation, "publish started");
        self.stats.publishes += 1;
        conn.session.accept_publish(req.stream_id);
        let timeline = continue_after.map_or(Timeline::Publisher, Timeline::ContinueAfter);
        conn.role = Role::Publisher {
            key: key.clone(),
            generation,
            builder: FrameBuilder::new(self.settings.session.chunk_size, timeline),
            last_media: self.now,
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
                },
            );
        }
        let mut stream = self
            .streams
            .remove(&key)
            .unwrap_or_else(|| self.new_stream());
        stream.cache.clear();
        stream.source = Some(generation);
        stream.home = Some(Home {
            publisher: token,
            generation,
            remote,
            pending: Vec::new(),
        });
        for &player in &stream.players {
            if let Some(conn) = self.conns.get_mut(player) {
                conn.session.notify_publish(MEDIA_STREAM_ID);
                conn.queue.reset_wait_keyframe();
            }
            self.collect_output(player);
        }
        self.streams.insert(key, stream);
    }

    /// A publisher's media message: build the frame once, deliver it everywhere.
    pub(crate) fn on_media(
        &mut self,
        token: usize,
        type_id: u8,
        timestamp: u32,
        payload: &[u8],
        metadata: bool,
    ) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let Role::Publisher {
            key,
            builder,
            last_media,
            ..
        } = &mut conn.role
        else {
            // Media from a refused or not-yet-accepted publisher is dropped.
            return;
        };
        *last_media = self.now;
        let frame = builder.build(type_id, timestamp, payload, metadata);
        let key = key.clone();
        if frame.keyframe {
            // Once per GOP, so a takeover can continue this timeline (see Registry).
            if let Role::Publisher {
                generation,
                noted_timestamp,
                ..
            } = &mut conn.role
            {
                *noted_timestamp = Some(frame.timestamp);
                self.registry
                    .note_timestamp(&key, *generation, frame.timestamp);
            }
        }
        self.stats.frames_in += 1;
        let Some(stream) = self.streams.get_mut(&key) else {
            return;
        };
        if let Some(home) = &mut stream.home {
            if !home.remote.is_empty() {
                if home.pending.is_empty() {
                    self.pending_remote.push(key.clone());
                }
                home.pending.push(frame.clone());
            }
        }
        self.deliver(&key, std::slice::from_ref(&frame));
    }

    /// Hands frames to the stream's local players and its startup cache.
    fn deliver(&mut self, key: &StreamKey, frames: &[Frame]) {
        let merge = self.merge_window();
        let Some(stream) = self.streams.get_mut(key) else {
            return;
        };
        for frame in frames {
            stream.cache.on_frame(frame);
            for &player in &stream.players {
                let Some(conn) = self.conns.get_mut(player) else {
                    continue;
                };
                let Role::Player { audio, video, .. } = conn.role else {
                    continue;
                };
                let wanted = match frame.kind {
                    MediaKind::Audio => audio,
                    MediaKind::Video => video,
                    MediaKind::Data => true,
                };
                if !wanted {
                    continue;
                }
                match conn.queue.push_frame(frame) {
                    Push::Kick => {
                        self.stats.players_kicked += 1;
                        self.to_close.push((player, "player too slow"));
                        continue;
                    }
                    Push::Dropped => self.stats.frames_dropped += 1,
                    Push::Trimmed { frames } => self.stats.frames_dropped += frames as u64,
                    Push::Queued => {}
                }
                if conn.queue.queued_bytes() >= MERGE_FLUSH_BYTES {
                    self.flushes.now(conn, player);
                } else {
                    self.flushes.within(conn, player, merge, self.now);
                }
            }
        }
    }

    /// Once per pass: hand each home stream's new frames to the shards that play it.
    pub(crate) fn send_remote_frames(&mut self) {
        for key in std::mem::take(&mut self.pending_remote) {
            self.flush_remote(&key);
        }
    }

    fn flush_remote(&mut self, key: &StreamKey) {
        let Some(home) = self.streams.get_mut(key).and_then(|s| s.home.as_mut()) else {
            return;
        };
        if home.pending.is_empty() {
            return;
        }
        let frames = std::mem::take(&mut home.pending);
        let generation = home.generation;
        for &shard in &home.remote {
            let msg = ShardMsg::Frames {
                key: key.clone(),
                generation,
                frames: frames.clone(),
            };
            self.outbox.push(shard, msg);
        }
    }

    /// The publisher on `token` stops (unpublish, close or eviction). No-op for others.
    pub(crate) fn end_publish(&mut self, token: usize) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let Role::Publisher {
            key,
            generation,
            builder,
            ..
        } = &conn.role
        else {
            return;
        };
        let (key, generation, last) = (key.clone(), *generation, builder.last_timestamp());
        conn.role = Role::Pending;
        let current = self.registry.release_publisher(&key, generation, last);
        info!(shard = self.index, stream = %key, generation, "publish ended");
        self.flush_remote(&key);
        let Some(mut stream) = self.streams.remove(&key) else {
            return;
        };
        if stream
            .home
            .as_ref()
            .is_some_and(|h| h.generation == generation)
        {
            let home = stream.home.take();
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
        if current && stream.source == Some(generation) {
            self.source_stopped(&mut stream);
        }
        if !stream.is_unused() {
            self.streams.insert(key, stream);
        }
    }

    fn source_stopped(&mut self, stream: &mut LocalStream) {
        stream.source = None;
        stream.cache.clear();
        for &player in &stream.players {
            if let Some(conn) = self.conns.get_mut(player) {
                conn.session.notify_unpublish(MEDIA_STREAM_ID);
            }
            self.collect_output(player);
        }
    }

    /// Closes this shard's publisher of `key` if it is still `generation` (a takeover).
    fn evict_local(&mut self, key: &StreamKey, generation: u64) {
        let Some(home) = self.streams.get(key).and_then(|s| s.home.as_ref()) else {
            return;
        };
        if home.generation == generation {
            self.to_close
                .push((home.publisher, "replaced by a newer publisher"));
        }
    }

    pub(crate) fn on_play(&mut self, token: usize, req: PlayRequest) {
        let key: StreamKey = format!("{}/{}", req.app, req.name).into();
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if req.stream_id != MEDIA_STREAM_ID {
            conn.session
                .reject_play(req.stream_id, "play on an unknown stream id");
            return;
        }
        info!(shard = self.index, peer = %conn.peer, stream = %key, "play started");
        self.stats.plays += 1;
        conn.session.accept_play(req.stream_id, req.reset);
        conn.role = Role::Player {
            key: key.clone(),
            audio: true,
            video: true,
        };
        conn.take_session_output();
        let (publisher, first_on_shard) = self.registry.add_player(&key, self.index);
        if first_on_shard {
            if let Some(p) = publisher.filter(|p| p.shard != self.index) {
                self.outbox.push(
                    p.shard,
                    ShardMsg::Subscribe {
                        key: key.clone(),
                        from: self.index,
                    },
                );
            }
        }
        let mut stream = self
            .streams
            .remove(&key)
            .unwrap_or_else(|| self.new_stream());
        stream.players.push(token);
        if let Some(conn) = self.conns.get_mut(token) {
            // Start on a keyframe even when the cache has none (GOP cache off, or the stream
            // has not sent its first keyframe yet): inter frames before it are undecodable.
            conn.queue.reset_wait_keyframe();
        }
        if stream.source.is_some() {
            if let Some(conn) = self.conns.get_mut(token) {
                for frame in stream.cache.startup_frames() {
                    let _ = conn.queue.push_frame(frame);
                }
            }
        }
        self.streams.insert(key, stream);
        if let Some(conn) = self.conns.get_mut(token) {
            self.flushes.now(conn, token);
        }
    }

    /// The player on `token` stops (closeStream, deleteStream or close). No-op for others.
    pub(crate) fn end_play(&mut self, token: usize) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let Role::Player { key, .. } = &conn.role else {
            return;
        };
        let key = key.clone();
        conn.role = Role::Pending;
        if let Some(stream) = self.streams.get_mut(&key) {
            if let Some(i) = stream.players.iter().position(|&p| p == token) {
                stream.players.swap_remove(i);
            }
            if stream.is_unused() {
                self.streams.remove(&key);
            }
        }
        let (publisher, last_on_shard) = self.registry.remove_player(&key, self.index);
        if last_on_shard {
            if let Some(p) = publisher.filter(|p| p.shard != self.index) {
                self.outbox.push(
                    p.shard,
                    ShardMsg::Unsubscribe {
                        key,
                        from: self.index,
                    },
                );
            }
        }
    }

    pub(crate) fn handle_shard_msg(&mut self, msg: ShardMsg) {
        match msg {
            ShardMsg::Subscribe { key, from } => {
                // Frames this pass already queued for the others go out before the snapshot,
                // which includes them: the new shard must not get them twice.
                self.flush_remote(&key);
                let Some(stream) = self.streams.get_mut(&key) else {
                    return;
                };
                let Some(home) = &mut stream.home else { return };
                if !home.remote.contains(&from) {
                    home.remote.push(from);
                }
                let startup = stream.cache.snapshot();
                let generation = home.generation;
                debug!(shard = self.index, stream = %key, to = from, "subscribed");
                self.outbox.push(
                    from,
                    ShardMsg::Start {
                        key,
                        generation,
                        startup,
                    },
                );
            }
            ShardMsg::Unsubscribe { key, from } => {
                self.flush_remote(&key);
                if let Some(home) = self.streams.get_mut(&key).and_then(|s| s.home.as_mut()) {
                    home.remote.retain(|&s| s != from);
                }
            }
            ShardMsg::Start {
                key,
                generation,
                startup,
            } => self.remote_start(key, generation, startup),
            ShardMsg::Frames {
                key,
                generation,
                frames,
            } => {
                if self
                    .streams
                    .get(&key)
                    .is_some_and(|s| s.source == Some(generation))
                {
                    self.deliver(&key, &frames);
                }
            }
            ShardMsg::Stop { key, generation } => {
                let Some(mut stream) = self.streams.remove(&key) else {
                    return;
                };
                if stream.source == Some(generation) {
                    self.source_stopped(&mut stream);
                }
                if !stream.is_unused() {
                    self.streams.insert(key, stream);
                }
            }
            ShardMsg::Evict { key, generation } => self.evict_local(&key, generation),
        }
    }

    /// Another shard's publisher now feeds our players of `key`.
    fn remote_start(&mut self, key: StreamKey, generation: u64, startup: Vec<Frame>) {
        let Some(mut stream) = self.streams.remove(&key) else {
            return;
        };
        if let Some(home) = &stream.home {
            // Our own publisher was replaced by a newer one elsewhere.
            if home.generation < generation {
                self.to_close
                    .push((home.publisher, "replaced by a newer publisher"));
            }
        }
        if stream.source.is_some_and(|g| g > generation) {
            self.streams.insert(key, stream);
            return;
        }
        stream.source = Some(generation);
        stream.cache.clear();
        for frame in &startup {
            stream.cache.on_frame(frame);
        }
        for &player in &stream.players {
            if let Some(conn) = self.conns.get_mut(player) {
                conn.session.notify_publish(MEDIA_STREAM_ID);
                conn.take_session_output();
                conn.queue.reset_wait_keyframe();
                for frame in stream.cache.startup_frames() {
                    let _ = conn.queue.push_frame(frame);
                }
                self.flushes.now(conn, player);
            }
        }
        if !stream.is_unused() {
            self.streams.insert(key, stream);
        }
    }
}
