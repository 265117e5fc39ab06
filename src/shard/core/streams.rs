//! The streams of one shard core: for each stream with local players or a local publisher,
//! its frame logs (one per encoded variant, see `StreamLogs`) with their header caches, players, caught-up list and (on its home shard) the shards it
//! feeds.
//!
//! A stream is addressed by a [`StreamId`] (a slab key) inside the core and by its
//! [`StreamKey`] ("app/name") across shards. No I/O, no clock.
use super::health::Health;
use super::schedule::Wake;
use crate::media::frame::Frame;
use crate::media::log::LogLimits;
use crate::media::variants::{Built, StreamLogs};
use crate::shard::mailbox::StreamKey;
use slab::Slab;
use std::collections::HashMap;

/// A stream inside one core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct StreamId(pub usize);

/// The home part of a stream: present on the shard of its live publisher.
pub(crate) struct Home {
    pub publisher: usize,
    pub generation: u64,
    /// Other shards with players for this stream.
    pub remote: Vec<usize>,
    /// Frames of this pass not yet handed to `remote`.
    pub pending: Vec<Built>,
    pub health: Health,
    /// The push targets this stream is forwarded to (local publishers only).
    pub pushes: Vec<super::push::PushTarget>,
    /// The HLS/DASH segmenter (when the node serves HTTP and HLS is on), with the arrival of
    /// the oldest message not yet in a published part (the part latency metric).
    pub segmenter: Option<(crate::http::cmaf::Segmenter, Option<std::time::Instant>)>,
}

pub(crate) struct Stream {
    pub key: StreamKey,
    /// The recent frames, and the latest metadata and sequence headers, per variant.
    pub logs: StreamLogs,
    pub players: Vec<usize>,
    /// Players that are caught up (wakes valid while their epoch holds): a new frame hands
    /// this list to the flush schedule whole.
    pub caught_up: Vec<Wake>,
    /// Generation of the publisher feeding this shard, if one is live.
    pub source: Option<u64>,
    pub home: Option<Home>,
}

impl Stream {
    fn new(key: StreamKey, limits: LogLimits) -> Self {
        Stream {
            key,
            logs: StreamLogs::new(limits),
            players: Vec::new(),
            caught_up: Vec::new(),
            source: None,
            home: None,
        }
    }

    /// Records one message in every variant. The caller schedules the caught-up players.
    pub(crate) fn append(&mut self, built: Built) {
        self.logs.push(built);
    }

    /// Forgets the media of a publisher that left or was replaced.
    pub(crate) fn clear_media(&mut self) {
        self.logs.clear();
    }

    /// What a shard that starts feeding players of this stream needs, per variant: headers,
    /// then the log from the last keyframe (nothing without one).
    pub(crate) fn startup_snapshot(&self) -> (Vec<Frame>, Option<Vec<Frame>>) {
        self.logs.snapshot()
    }

    fn is_unused(&self) -> bool {
        self.players.is_empty() && self.home.is_none()
    }
}

/// Every stream of one core.
pub(crate) struct Streams {
    limits: LogLimits,
    slab: Slab<Stream>,
    by_key: HashMap<StreamKey, StreamId>,
}

impl Streams {
    /// New limits for every stream's log, and for the streams created from now on.
    pub(crate) fn set_limits(&mut self, limits: LogLimits) {
        self.limits = limits;
        for (_, stream) in self.slab.iter_mut() {
            stream.logs.set_limits(limits);
        }
    }

    pub(crate) fn new(limits: LogLimits) -> Self {
        Streams {
            limits,
            slab: Slab::new(),
            by_key: HashMap::new(),
        }
    }

    pub(crate) fn find(&self, key: &str) -> Option<StreamId> {
        self.by_key.get(key).copied()
    }

    /// The stream of `key` if publisher `generation` is what feeds it here (stale mailbox
    /// messages after a takeover carry an older one).
    pub(crate) fn fed_by(&self, key: &str, generation: u64) -> Option<StreamId> {
        self.find(key)
            .filter(|&sid| self.get(sid).is_some_and(|s| s.source == Some(generation)))
    }

    /// The stream of `key`, created empty if needed.
    pub(crate) fn get_or_create(&mut self, key: &StreamKey) -> StreamId {
        if let Some(&id) = self.by_key.get(key) {
            return id;
        }
        let id = StreamId(self.slab.insert(Stream::new(key.clone(), self.limits)));
        self.by_key.insert(key.clone(), id);
        id
    }

    pub(crate) fn get(&self, id: StreamId) -> Option<&Stream> {
        self.slab.get(id.0)
    }

    pub(crate) fn get_mut(&mut self, id: StreamId) -> Option<&mut Stream> {
        self.slab.get_mut(id.0)
    }

    /// Removes the stream once nothing on this shard uses it.
    pub(crate) fn remove_if_unused(&mut self, id: StreamId) {
        if self.slab.get(id.0).is_some_and(Stream::is_unused) {
            let stream = self.slab.remove(id.0);
            self.by_key.remove(&stream.key);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }

    pub(crate) fn iter_ids(&self) -> impl Iterator<Item = (StreamId, &Stream)> {
        self.slab.iter().map(|(id, s)| (StreamId(id), s))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Stream> {
        self.slab.iter().map(|(_, s)| s)
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Stream> {
        self.slab.iter_mut().map(|(_, s)| s)
    }
}
