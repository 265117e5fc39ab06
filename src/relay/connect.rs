//! Non-blocking outgoing TCP connections for drivers: start a connect, then tell, when the
//! socket becomes writable (or on any later check), whether it completed.
//!
//! The only socket code of `relay/`; it is called by the shard drivers (and the load tester),
//! never by the sans-IO core. No clock.
use std::io;
use std::net::SocketAddr;

/// Outcome of a non-blocking connect when its socket became ready.
#[derive(Debug)]
pub enum ConnectState {
    Connected,
    Pending,
    Failed(io::Error),
}

/// Starts a non-blocking connect to `addr` (close-on-exec, `TCP_NODELAY` when `nodelay`).
/// The connect completes later: check with [`connect_state`] once the socket is writable.
pub fn start_connect(addr: SocketAddr, nodelay: bool) -> io::Result<std::net::TcpStream> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(nodelay)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(socket.into())
}

/// Whether the non-blocking connect of `sock` has completed (works on any `AsFd` socket).
pub fn connect_state(sock: &impl std::os::fd::AsFd) -> ConnectState {
    let sock = socket2::SockRef::from(sock);
    match sock.take_error() {
        Ok(Some(e)) | Err(e) => return ConnectState::Failed(e),
        Ok(None) => {}
    }
    match sock.peer_addr() {
        Ok(_) => ConnectState::Connected,
        Err(e) if e.kind() == io::ErrorKind::NotConnected => ConnectState::Pending,
        Err(e) => ConnectState::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connects_on_loopback_and_fails_on_a_closed_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let s = start_connect(addr, true).unwrap();
        let mut state = connect_state(&s);
        for _ in 0..200 {
            if !matches!(state, ConnectState::Pending) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
            state = connect_state(&s);
        }
        assert!(matches!(state, ConnectState::Connected), "{state:?}");
        drop(listener);
        let failed = match start_connect(addr, true) {
            Err(_) => true,
            Ok(s) => (0..200).any(|_| {
                std::thread::sleep(std::time::Duration::from_millis(5));
                matches!(connect_state(&s), ConnectState::Failed(_))
            }),
        };
        assert!(failed);
    }
}
