//! Messages between shards. A shard core collects what it has for each other shard during one
//! event-loop pass; its driver sends each as one batch with one wake-up per shard per pass.
//! Sans-IO: the transport (a channel and a waker) belongs to the drivers.
use crate::media::frame::Frame;
use crate::media::variants::Built;
use crate::shard::ShardSettings;
use std::sync::Arc;

/// Stream keys are shared strings: cloning one is a reference count.
pub(crate) type StreamKey = Arc<str>;

#[derive(Debug)]
pub(crate) enum ShardMsg {
    /// To a stream's home: shard `from` has players for `key`; start sending it frames.
    Subscribe { key: StreamKey, from: usize },
    /// To a stream's home: shard `from` has no players for `key` any more.
    Unsubscribe { key: StreamKey, from: usize },
    /// From a home: publisher `generation` is live; `startup` is what joining players need
    /// (metadata, sequence headers, GOP) as of now; frames that follow continue from it.
    Start {
        key: StreamKey,
        generation: u64,
        startup: Vec<Frame>,
        /// The legacy variant's startup, when it has a log of its own.
        legacy_startup: Option<Vec<Frame>>,
    },
    /// From a home: the frames of one pass.
    Frames {
        key: StreamKey,
        generation: u64,
        frames: Vec<Built>,
    },
    /// From a home: the segmenter of `key` published a part; re-check the HLS/DASH requests
    /// waiting for it.
    CmafPublished { key: StreamKey },
    /// From a home: publisher `generation` left.
    Stop { key: StreamKey, generation: u64 },
    /// To every shard: the pull `generation` of `key` found the stream on no origin; its
    /// players get NetStream.Play.StreamNotFound.
    NotFound { key: StreamKey, generation: u64 },
    /// From the shard of a newer publisher (takeover): close publisher `generation` of `key`.
    Evict { key: StreamKey, generation: u64 },
    /// From the control side: close connection `conn` if it is still `generation`.
    Kick { conn: usize, generation: u64 },
    /// From the control side: the server drains; accept no more connections and ask the
    /// clients that can reconnect to do so.
    Drain,
    /// From the control side: run with these settings from now on (what can change at
    /// runtime; see `ShardCore`'s `reload`).
    Reload(Arc<ShardSettings>),
    /// From the callback worker pool: callback `ticket` of `conn` ended with `outcome`.
    Callback {
        conn: super::core::ConnId,
        ticket: u64,
        outcome: crate::auth::callback::CallbackOutcome,
    },
}

/// What one shard has for the others during the current pass.
pub(crate) struct Outbox {
    pending: Vec<Vec<ShardMsg>>,
    /// Where `pop` looks next.
    next: usize,
}

impl Outbox {
    pub(crate) fn new(shards: usize) -> Self {
        Outbox {
            pending: (0..shards).map(|_| Vec::new()).collect(),
            next: 0,
        }
    }

    pub(crate) fn push(&mut self, shard: usize, msg: ShardMsg) {
        if let Some(queue) = self.pending.get_mut(shard) {
            queue.push(msg);
        }
    }

    /// The next non-empty batch, one per shard per pass.
    pub(crate) fn pop(&mut self) -> Option<(usize, Vec<ShardMsg>)> {
        while self.next < self.pending.len() {
            let shard = self.next;
            self.next += 1;
            if !self.pending[shard].is_empty() {
                return Some((shard, std::mem::take(&mut self.pending[shard])));
            }
        }
        self.next = 0;
        None
    }
}
