//! Messages between shards. A shard collects what it has for each other shard during one
//! event-loop pass and sends it as one batch with one wake-up per shard per pass.
use crate::media::frame::Frame;
use std::sync::mpsc::Sender;
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
    },
    /// From a home: the frames of one pass.
    Frames {
        key: StreamKey,
        generation: u64,
        frames: Vec<Frame>,
    },
    /// From a home: publisher `generation` left.
    Stop { key: StreamKey, generation: u64 },
    /// From the shard of a newer publisher (takeover): close publisher `generation` of `key`.
    Evict { key: StreamKey, generation: u64 },
}

/// How to reach one shard.
#[derive(Clone)]
pub(crate) struct Mailbox {
    pub sender: Sender<Vec<ShardMsg>>,
    pub waker: Arc<mio::Waker>,
}

/// What one shard has for the others during the current pass.
pub(crate) struct Outbox {
    pending: Vec<Vec<ShardMsg>>,
}

impl Outbox {
    pub(crate) fn new(shards: usize) -> Self {
        Outbox {
            pending: (0..shards).map(|_| Vec::new()).collect(),
        }
    }

    pub(crate) fn push(&mut self, shard: usize, msg: ShardMsg) {
        if let Some(queue) = self.pending.get_mut(shard) {
            queue.push(msg);
        }
    }

    /// Sends every non-empty batch and wakes its shard once.
    pub(crate) fn send_all(&mut self, mailboxes: &[Mailbox]) {
        for (shard, queue) in self.pending.iter_mut().enumerate() {
            if queue.is_empty() {
                continue;
            }
            let batch = std::mem::take(queue);
            if let Some(mailbox) = mailboxes.get(shard) {
                // A shard that has stopped drops its receiver; nothing to do then.
                if mailbox.sender.send(batch).is_ok() {
                    let _ = mailbox.waker.wake();
                }
            }
        }
    }
}
