//! Starting and stopping the shards: bind every shard's listeners up front (so a bad address
//! fails the start, not a thread), choose the event-loop driver, build the mailboxes, spawn
//! one thread per shard, each running a [`ShardCore`] behind its driver. [`ShardControl`] is
//! the control side's handle: the shards' published snapshots, and kicks through the mailbox.
use super::callbacks::CallbackSink;
use super::core::{MailBatch, ShardCore};
use super::driver::{Mailbox, ShardWaker};
use super::mailbox::ShardMsg;
use super::snapshot::{ClientId, ShardSnapshot, SnapshotSlot};
use super::socket;
use super::stats::ShardStats;
use super::{IoMode, ShardSettings};
use crate::media::registry::Registry;
use crate::record::{Recorder, RecorderStats};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Instant;
use tracing::warn;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot set up shard {shard}: {source}")]
    Setup {
        shard: usize,
        source: std::io::Error,
    },
    #[error("no listen address configured")]
    NoListenAddress,
    #[error("io_uring cannot run here: {0}")]
    UringUnavailable(String),
    #[error("cannot start the recorder thread: {0}")]
    Recorder(std::io::Error),
}

/// A running server: its shard threads and how to stop them.
pub struct Server {
    threads: Vec<JoinHandle<ShardStats>>,
    stop: Arc<AtomicBool>,
    wakers: Vec<ShardWaker>,
    local_addrs: Vec<SocketAddr>,
    io: IoMode,
    control: ShardControl,
    /// The one recorder thread; it ends after the shards (their sinks) are gone.
    recorder: Recorder,
}

impl Server {
    /// Starts the shards without a callback worker pool: access callbacks fail at once.
    pub fn start(settings: ShardSettings) -> Result<Server, ServerError> {
        Self::start_with_callbacks(settings, None)
    }

    /// Starts the shards; their access callbacks go to `callbacks` (the worker pool).
    pub fn start_with_callbacks(
        settings: ShardSettings,
        callbacks: Option<CallbackSink>,
    ) -> Result<Server, ServerError> {
        if settings.listeners.is_empty() {
            return Err(ServerError::NoListenAddress);
        }
        let io = super::driver::choose(settings.io)?;
        let shards = settings.shards.max(1);
        // Port 0 resolves on the first bind; the other shards join that port.
        let mut settings = settings;
        let mut listeners_per_shard: Vec<Vec<std::net::TcpListener>> =
            (0..shards).map(|_| Vec::new()).collect();
        for listener in settings.listeners.iter_mut() {
            for listeners in listeners_per_shard.iter_mut() {
                let addr = listener.addr;
                let bound = socket::bind_listener(addr)
                    .map_err(|source| ServerError::Bind { addr, source })?;
                if addr.port() == 0 {
                    listener.addr = bound
                        .local_addr()
                        .map_err(|source| ServerError::Bind { addr, source })?;
                }
                listeners.push(bound);
            }
        }
        let local_addrs: Vec<SocketAddr> = settings.listeners.iter().map(|l| l.addr).collect();
        let settings = Arc::new(settings);
        let registry = Arc::new(Registry::new(shards));
        let peers = Arc::new(super::PeerTable::default());
        let stop = Arc::new(AtomicBool::new(false));
        let now = Instant::now();
        // Always running (idle unless an app records), so a reload can turn recording on.
        let (record_sink, recorder) = Recorder::spawn().map_err(ServerError::Recorder)?;
        // The cores read no clock: expiries are judged from this reading and `now`.
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut drivers = Vec::with_capacity(shards);
        let mut mailboxes = Vec::with_capacity(shards);
        for (index, listeners) in listeners_per_shard.into_iter().enumerate() {
            let setup = |source| ServerError::Setup {
                shard: index,
                source,
            };
            let (sender, inbox) = mpsc::channel();
            let mut core = ShardCore::new(
                index,
                settings.clone(),
                registry.clone(),
                now,
                fastrand::u64(..),
            )
            .with_peer_table(peers.clone());
            core.set_record_sink(record_sink.clone());
            core.handle_wall_clock(now, unix);
            let prepared = super::driver::prepare(io, core, listeners, inbox).map_err(setup)?;
            mailboxes.push(Mailbox {
                sender,
                waker: prepared.waker(),
            });
            drivers.push(prepared);
        }
        drop(record_sink);
        let wakers = mailboxes.iter().map(|m| m.waker.clone()).collect();
        let mailboxes = Arc::new(mailboxes);
        let slots: Arc<Vec<Arc<SnapshotSlot>>> =
            Arc::new((0..shards).map(|_| Arc::default()).collect());
        let mut threads = Vec::with_capacity(shards);
        for (index, prepared) in drivers.into_iter().enumerate() {
            let pin = settings.pin_shards;
            let mailboxes = mailboxes.clone();
            let stop = stop.clone();
            let slot = slots[index].clone();
            let callbacks = callbacks.clone();
            let thread = std::thread::Builder::new()
                .name(format!("shard-{index}"))
                .spawn(move || {
                    if pin {
                        if let Err(e) = socket::pin_current_thread(index) {
                            warn!(shard = index, error = %e, "could not pin shard thread");
                        }
                    }
                    prepared.run(mailboxes, callbacks, stop, slot)
                })
                .map_err(|source| ServerError::Setup {
                    shard: index,
                    source,
                })?;
            threads.push(thread);
        }
        Ok(Server {
            threads,
            stop,
            wakers,
            local_addrs,
            io,
            control: ShardControl {
                mailboxes,
                slots,
                recording: recorder.stats(),
            },
            recorder,
        })
    }

    /// The addresses listened on (with port 0 resolved).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// The driver the shards run (`Epoll` or `Uring`, never `Auto`).
    pub fn io(&self) -> IoMode {
        self.io
    }

    /// The control side's handle on the shards (snapshots, kicks).
    pub fn control(&self) -> ShardControl {
        self.control.clone()
    }

    /// A handle that stops the server from another thread (a signal handler thread).
    pub fn stopper(&self) -> Stopper {
        Stopper {
            stop: self.stop.clone(),
            wakers: self.wakers.clone(),
        }
    }

    pub fn stop(&self) {
        self.stopper().stop();
    }

    /// Waits for every shard to stop, then for the recorder to close its files; returns
    /// the shards' final counters.
    pub fn join(self) -> Vec<ShardStats> {
        let stats = self
            .threads
            .into_iter()
            .filter_map(|t| t.join().ok())
            .collect();
        self.recorder.join();
        stats
    }
}

/// Stops a [`Server`] from any thread.
#[derive(Clone)]
pub struct Stopper {
    stop: Arc<AtomicBool>,
    wakers: Vec<ShardWaker>,
}

impl Stopper {
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for waker in &self.wakers {
            waker.wake();
        }
    }
}

/// What the control side may do with the shards: read their latest snapshots and send a
/// kick through a shard's mailbox. Nothing here is on a shard's hot path.
#[derive(Clone)]
pub struct ShardControl {
    mailboxes: Arc<Vec<Mailbox>>,
    slots: Arc<Vec<Arc<SnapshotSlot>>>,
    recording: Arc<RecorderStats>,
}

impl ShardControl {
    pub fn shards(&self) -> usize {
        self.slots.len()
    }

    /// What the recorder thread has done so far.
    pub fn recording(&self) -> crate::record::RecorderTotals {
        self.recording.totals()
    }

    /// The latest snapshot of every shard (None for a shard that has not published yet).
    pub fn snapshots(&self) -> Vec<Option<Arc<ShardSnapshot>>> {
        self.slots.iter().map(|slot| slot.latest()).collect()
    }

    /// Every shard starts draining: it closes its listeners and asks the clients that can
    /// reconnect to do so; connected clients go on being served. Returns the shards reached.
    pub fn drain(&self) -> usize {
        self.broadcast(|| ShardMsg::Drain)
    }

    /// Every shard runs with `settings` from now on, as far as they can change at runtime
    /// (see the shard core's reload). Returns the shards reached.
    pub fn reload(&self, settings: ShardSettings) -> usize {
        let settings = Arc::new(settings);
        self.broadcast(|| ShardMsg::Reload(settings.clone()))
    }

    fn broadcast(&self, msg: impl Fn() -> ShardMsg) -> usize {
        let mut reached = 0;
        for mailbox in self.mailboxes.iter() {
            if mailbox.sender.send(MailBatch(vec![msg()])).is_ok() {
                mailbox.waker.wake();
                reached += 1;
            }
        }
        reached
    }

    /// Asks the client's shard to close it (if it is still that connection). Returns false
    /// when the shard does not exist or has stopped.
    pub fn kick(&self, id: ClientId) -> bool {
        let Some(mailbox) = self.mailboxes.get(id.shard) else {
            return false;
        };
        let msg = ShardMsg::Kick {
            conn: id.conn,
            generation: id.generation,
        };
        if mailbox.sender.send(MailBatch(vec![msg])).is_err() {
            return false;
        }
        mailbox.waker.wake();
        true
    }
}
