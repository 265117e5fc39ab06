//! Starting and stopping the shards: bind every shard's listeners up front (so a bad address
//! fails the start, not a thread), build the mailboxes, spawn one thread per shard.
use super::event_loop::{Shard, WAKER_TOKEN};
use super::mailbox::Mailbox;
use super::socket;
use super::stats::ShardStats;
use super::ShardSettings;
use crate::media::registry::Registry;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
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
}

/// A running server: its shard threads and how to stop them.
pub struct Server {
    threads: Vec<JoinHandle<ShardStats>>,
    stop: Arc<AtomicBool>,
    wakers: Vec<Arc<mio::Waker>>,
    local_addrs: Vec<SocketAddr>,
}

impl Server {
    pub fn start(settings: ShardSettings) -> Result<Server, ServerError> {
        if settings.listen.is_empty() {
            return Err(ServerError::NoListenAddress);
        }
        let shards = settings.shards.max(1);
        // Port 0 resolves on the first bind; the other shards join that port.
        let mut addrs = settings.listen.clone();
        let mut listeners_per_shard: Vec<Vec<mio::net::TcpListener>> =
            (0..shards).map(|_| Vec::new()).collect();
        for addr in addrs.iter_mut() {
            for listeners in listeners_per_shard.iter_mut() {
                let listener =
                    socket::bind_listener(*addr).map_err(|source| ServerError::Bind {
                        addr: *addr,
                        source,
                    })?;
                if addr.port() == 0 {
                    *addr = listener.local_addr().map_err(|source| ServerError::Bind {
                        addr: *addr,
                        source,
                    })?;
                }
                listeners.push(listener);
            }
        }
        let mut polls = Vec::with_capacity(shards);
        let mut mailboxes = Vec::with_capacity(shards);
        let mut inboxes = Vec::with_capacity(shards);
        for shard in 0..shards {
            let poll = mio::Poll::new().map_err(|source| ServerError::Setup { shard, source })?;
            let waker = mio::Waker::new(poll.registry(), WAKER_TOKEN)
                .map_err(|source| ServerError::Setup { shard, source })?;
            let (sender, receiver) = mpsc::channel();
            mailboxes.push(Mailbox {
                sender,
                waker: Arc::new(waker),
            });
            inboxes.push(receiver);
            polls.push(poll);
        }
        let wakers = mailboxes.iter().map(|m| m.waker.clone()).collect();
        let mailboxes = Arc::new(mailboxes);
        let registry = Arc::new(Registry::new(shards));
        let stop = Arc::new(AtomicBool::new(false));
        let mut settings = settings;
        settings.listen = addrs.clone();
        let settings = Arc::new(settings);
        let mut threads = Vec::with_capacity(shards);
        for (index, ((poll, listeners), inbox)) in polls
            .into_iter()
            .zip(listeners_per_shard)
            .zip(inboxes)
            .enumerate()
        {
            let shard = Shard::new(
                index,
                settings.clone(),
                poll,
                listeners,
                registry.clone(),
                mailboxes.clone(),
                inbox,
                stop.clone(),
            )
            .map_err(|source| ServerError::Setup {
                shard: index,
                source,
            })?;
            let pin = settings.pin_shards;
            let thread = std::thread::Builder::new()
                .name(format!("shard-{index}"))
                .spawn(move || {
                    if pin {
                        if let Err(e) = socket::pin_current_thread(index) {
                            warn!(shard = index, error = %e, "could not pin shard thread");
                        }
                    }
                    shard.run()
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
            local_addrs: addrs,
        })
    }

    /// The addresses listened on (with port 0 resolved).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
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

    /// Waits for every shard to stop; returns their final counters.
    pub fn join(self) -> Vec<ShardStats> {
        self.threads
            .into_iter()
            .filter_map(|t| t.join().ok())
            .collect()
    }
}

/// Stops a [`Server`] from any thread.
#[derive(Clone)]
pub struct Stopper {
    stop: Arc<AtomicBool>,
    wakers: Vec<Arc<mio::Waker>>,
}

impl Stopper {
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for waker in &self.wakers {
            let _ = waker.wake();
        }
    }
}
