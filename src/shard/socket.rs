//! Socket set-up: SO_REUSEPORT listeners (one per shard, the kernel spreads connections),
//! tuning of accepted sockets, and pinning of shard threads to CPUs.
use super::ShardSettings;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;

/// Binds a non-blocking listener on `addr` with SO_REUSEPORT so every shard can bind the same
/// address.
pub(crate) fn bind_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

/// Applies TCP_NODELAY and buffer sizes to an accepted socket.
pub(crate) fn tune_accepted(stream: &impl AsFd, settings: &ShardSettings) -> io::Result<()> {
    let sock = SockRef::from(stream);
    sock.set_tcp_nodelay(settings.nodelay)?;
    if settings.send_buffer > 0 {
        sock.set_send_buffer_size(settings.send_buffer)?;
    }
    if settings.recv_buffer > 0 {
        sock.set_recv_buffer_size(settings.recv_buffer)?;
    }
    Ok(())
}

/// Pins the calling thread to the `index`-th CPU of those this process may run on.
pub(crate) fn pin_current_thread(index: usize) -> io::Result<usize> {
    // SAFETY: cpu_set_t is plain data; sched_{get,set}affinity only read/write the given set.
    unsafe {
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut allowed) != 0 {
            return Err(io::Error::last_os_error());
        }
        let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &allowed))
            .collect();
        let Some(&cpu) = cpus.get(index % cpus.len().max(1)) else {
            return Err(io::Error::other("no CPU available"));
        };
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(cpu)
    }
}
