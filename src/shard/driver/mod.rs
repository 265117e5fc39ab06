//! The event-loop drivers: they move bytes between sockets and a [`ShardCore`] and carry
//! mailbox batches between shards. Nothing here decides anything about RTMP or streams.
//!
//! - `mio`: epoll through mio; edge-triggered readiness, synchronous `sendmsg`.
//! - `uring`: io_uring; multishot accept and receive (into a provided buffer ring), one
//!   vectored send per connection in flight, an eventfd as the mailbox waker, one submit per
//!   pass.
//!
//! Both take a [`ShardCore`] and the shard's listeners, and run until the stop flag is set.
use super::callbacks::CallbackSink;
use super::core::{MailBatch, ShardCore};
use super::snapshot::SnapshotSlot;
use super::{IoMode, ServerError, ShardStats};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

pub(crate) mod mio;
pub(crate) mod uring;

/// Ends a shard's wait for events from another thread.
#[derive(Clone)]
pub(crate) enum ShardWaker {
    Mio(Arc<::mio::Waker>),
    EventFd(Arc<uring::EventFdWaker>),
}

impl ShardWaker {
    pub(crate) fn wake(&self) {
        // A shard that has stopped cannot be woken; nothing to do then.
        match self {
            ShardWaker::Mio(w) => {
                let _ = w.wake();
            }
            ShardWaker::EventFd(w) => w.wake(),
        }
    }
}

/// How to reach one shard: its inbox and its waker.
#[derive(Clone)]
pub(crate) struct Mailbox {
    pub sender: Sender<MailBatch>,
    pub waker: ShardWaker,
}

/// Sends every batch the core has for other shards, waking each shard once.
pub(crate) fn send_mail(core: &mut ShardCore, mailboxes: &[Mailbox]) {
    while let Some((shard, batch)) = core.poll_mailbox() {
        if let Some(mailbox) = mailboxes.get(shard) {
            // A shard that has stopped dropped its receiver; nothing to do then.
            if mailbox.sender.send(batch).is_ok() {
                mailbox.waker.wake();
            }
        }
    }
}

/// The driver `mode` resolves to here: `Auto` becomes the best one that works.
pub(crate) fn choose(mode: IoMode) -> Result<IoMode, ServerError> {
    match mode {
        IoMode::Epoll => Ok(IoMode::Epoll),
        // Measured with rtmp-bench (the issue 6 note in the README's benchmark section): epoll
        // used as little or less CPU per delivered Gbps than io_uring at 1,000 to 12,000
        // players, with lower p99 and RSS, so `auto` is epoll until io_uring wins.
        IoMode::Auto => {
            tracing::info!(
                "io auto: epoll (measured faster than io_uring here; --io uring selects it)"
            );
            Ok(IoMode::Epoll)
        }
        IoMode::Uring => uring::probe()
            .map(|()| IoMode::Uring)
            .map_err(|why| ServerError::UringUnavailable(why.to_string())),
    }
}

/// A shard's driver, set up on the starting thread (so set-up errors fail the start) and run
/// on its own thread.
pub(crate) enum Prepared {
    Mio {
        core: ShardCore,
        poll: ::mio::Poll,
        waker: Arc<::mio::Waker>,
        listeners: Vec<::mio::net::TcpListener>,
        inbox: Receiver<MailBatch>,
    },
    Uring(uring::driver::UringParts),
}

pub(crate) fn prepare(
    io: IoMode,
    core: ShardCore,
    listeners: Vec<std::net::TcpListener>,
    inbox: Receiver<MailBatch>,
) -> std::io::Result<Prepared> {
    match io {
        IoMode::Uring => {
            let (waker, waker_fd) = uring::EventFdWaker::new()?;
            Ok(Prepared::Uring(uring::driver::UringParts {
                core,
                listeners,
                inbox,
                waker: Arc::new(waker),
                waker_fd,
            }))
        }
        IoMode::Epoll | IoMode::Auto => {
            let poll = ::mio::Poll::new()?;
            let waker = Arc::new(::mio::Waker::new(poll.registry(), mio::WAKER_TOKEN)?);
            let listeners = listeners
                .into_iter()
                .map(::mio::net::TcpListener::from_std)
                .collect();
            Ok(Prepared::Mio {
                core,
                poll,
                waker,
                listeners,
                inbox,
            })
        }
    }
}

impl Prepared {
    pub(crate) fn waker(&self) -> ShardWaker {
        match self {
            Prepared::Mio { waker, .. } => ShardWaker::Mio(waker.clone()),
            Prepared::Uring(parts) => ShardWaker::EventFd(parts.waker.clone()),
        }
    }

    /// Runs the shard until `stop` is set, publishing its snapshots into `slot`; returns its
    /// final counters.
    pub(crate) fn run(
        self,
        mailboxes: Arc<Vec<Mailbox>>,
        callbacks: Option<CallbackSink>,
        stop: Arc<AtomicBool>,
        slot: Arc<SnapshotSlot>,
    ) -> ShardStats {
        match self {
            Prepared::Mio {
                core,
                poll,
                listeners,
                inbox,
                waker: _,
            } => match mio::MioDriver::new(core, poll, listeners, inbox, mailboxes, stop, slot) {
                Ok(driver) => driver.with_callbacks(callbacks).run(),
                Err(e) => {
                    tracing::error!(error = %e, "shard could not start");
                    ShardStats::default()
                }
            },
            Prepared::Uring(parts) => uring::driver::run(parts, mailboxes, callbacks, stop, slot),
        }
    }
}
