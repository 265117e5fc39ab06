//! Players joining and leaving a stream: an RTMP play (after its checks) and an HTTP-FLV
//! play share [`ShardCore::join_stream`]: the registry (which may start a pull on demand),
//! the subscription to the publisher's shard, the startup headers and the keyframe start
//! position. [`ShardCore::end_play`] undoes it for every kind of player.
use super::authorize::Held;
use super::conn::{Role, WriteState};
use super::streams::StreamId;
use super::ShardCore;
use crate::auth::Action;
use crate::media::variants::Variant;
use crate::session::{PlayRequest, MEDIA_STREAM_ID};
use crate::shard::mailbox::{ShardMsg, StreamKey};
use crate::shard::snapshot::ClientRole;
use std::time::Instant;
use tracing::info;

/// What a play asks for: the stream `key` of `app`, named `name` there (a pull asks its
/// origin for `name` with `hops` + 1), in `variant`.
pub(super) struct Join<'a> {
    pub key: &'a StreamKey,
    pub app: &'a str,
    pub name: &'a str,
    pub hops: u32,
    pub variant: Variant,
}

impl ShardCore {
    pub(super) fn on_play(&mut self, id: usize, req: PlayRequest, now: Instant) {
        let key: StreamKey = format!("{}/{}", req.app, req.name).into();
        let Some(hops) = self.check_hops(id, &req.query, req.stream_id, &key, false) else {
            return;
        };
        if self.authorize(id, Held::Play(req.clone()), now) {
            self.play_allowed(id, req, hops, now);
        }
    }

    /// Starts a play that access control allowed.
    pub(super) fn play_allowed(&mut self, id: usize, req: PlayRequest, hops: u32, now: Instant) {
        let key: StreamKey = format!("{}/{}", req.app, req.name).into();
        if !self.admit_stream(id, &key, req.stream_id, false) {
            return;
        }
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        let Some(rtmp) = c.rtmp_mut() else {
            return;
        };
        if req.stream_id != MEDIA_STREAM_ID {
            rtmp.session
                .reject_play(req.stream_id, "play on an unknown stream id");
            return;
        }
        info!(shard = self.index, peer = %rtmp.peer, stream = %key, "play started");
        rtmp.session.accept_play(req.stream_id, req.reset);
        // A player that announced Enhanced RTMP gets every track; any other the legacy form.
        let variant = if rtmp.session.client_caps().is_enhanced() {
            Variant::Enhanced
        } else {
            Variant::Legacy
        };
        self.stats.plays += 1;
        c.last_session = Some((ClientRole::Player, key.clone()));
        // The play replies go out before any media.
        c.take_session_output();
        self.note_started(id, Action::Play, &req.app, &req.name, &req.query);
        let join = Join {
            key: &key,
            app: &req.app,
            name: &req.name,
            hops,
            variant,
        };
        if let Some(sid) = self.join_stream(id, join, now) {
            if let Some(rtmp) = self.conns.get_mut(id).and_then(|c| c.rtmp_mut()) {
                rtmp.role = Role::Player {
                    stream: sid,
                    variant,
                    since: now,
                };
            }
        }
    }

    /// Adds player `id` to a stream: the registry (which may start a pull), the publisher's
    /// shard, the startup headers and the start position. Returns the stream; the caller
    /// records the play in its connection.
    pub(super) fn join_stream(
        &mut self,
        id: usize,
        join: Join<'_>,
        now: Instant,
    ) -> Option<StreamId> {
        let Join {
            key,
            app,
            name,
            hops,
            variant,
        } = join;
        let can_pull = self.can_pull(app);
        let added = self.registry.add_player_or_pull(key, self.index, can_pull);
        let (publisher, first_on_shard) = (added.publisher, added.first_on_shard);
        if let Some(generation) = added.pull {
            self.start_pull(key, name, hops, generation, now);
        }
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
        let sid = self.streams.get_or_create(key);
        let (Some(c), Some(stream)) = (self.conns.get_mut(id), self.streams.get_mut(sid)) else {
            return None;
        };
        stream.players.push(id);
        let log = stream.logs.get(variant);
        if stream.source.is_some() {
            for frame in log.headers().frames() {
                c.queue.push_frame(frame);
            }
        }
        // Start on a keyframe: at the GOP cache's, or wait for the next one (GOP cache off,
        // or the stream has not sent its first keyframe yet): inter frames before it are
        // undecodable.
        match log.gop_start() {
            Some(start) if stream.source.is_some() => c.queue.follow(start, false),
            _ => c.queue.follow(log.end(), true),
        }
        self.schedule_now(id);
        Some(sid)
    }

    /// The player on `id` stops (closeStream, deleteStream or close). No-op for others.
    pub(super) fn end_play(&mut self, id: usize) {
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        let Some(sid) = c.playing() else {
            return;
        };
        c.leave_stream();
        c.queue.unfollow();
        // Its caught-up entry (if any) goes stale.
        if c.write == WriteState::Parked {
            c.wake(id, WriteState::Parked);
        }
        let Some(stream) = self.streams.get_mut(sid) else {
            return;
        };
        if let Some(i) = stream.players.iter().position(|&p| p == id) {
            stream.players.swap_remove(i);
        }
        let key = stream.key.clone();
        self.streams.remove_if_unused(sid);
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
}
