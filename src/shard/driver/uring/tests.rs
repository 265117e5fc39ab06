//! Loopback tests of the io_uring layer: real sockets on 127.0.0.1, bounded in bytes and passes.

use super::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Instant;

/// A completion with the borrowed data copied out, so that tests can collect them.
#[derive(Debug)]
enum Ev {
    Accepted(usize, OwnedFd, SocketAddr),
    AcceptFailed(usize, io::ErrorKind),
    Received(usize, Vec<u8>),
    RecvClosed(usize, Option<io::ErrorKind>),
    Sent(usize, Result<usize, io::ErrorKind>),
    Woken,
}

fn own(c: Completion<'_>) -> Ev {
    match c {
        Completion::Accepted { listener, fd, peer } => Ev::Accepted(listener, fd, peer),
        Completion::AcceptFailed { listener, error } => Ev::AcceptFailed(listener, error.kind()),
        Completion::Received { conn, data } => Ev::Received(conn, data.to_vec()),
        Completion::RecvClosed { conn, error } => Ev::RecvClosed(conn, error.map(|e| e.kind())),
        Completion::Sent { conn, result } => Ev::Sent(conn, result.map_err(|e| e.kind())),
        Completion::Woken => Ev::Woken,
    }
}

/// One pass: submit, wait up to `timeout`, drain.
fn pass(io: &mut UringIo, timeout: Duration) -> Vec<Ev> {
    io.submit_and_wait(Some(timeout)).expect("submit_and_wait");
    let mut evs = Vec::new();
    io.drain(|c| evs.push(own(c)));
    evs
}

/// Runs passes until `done` says so, for at most 5 s; panics on timeout.
fn pump(io: &mut UringIo, mut done: impl FnMut(Ev) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        for ev in pass(io, Duration::from_millis(100)) {
            if done(ev) {
                return;
            }
        }
    }
    panic!("no expected completion within 5 s");
}

fn new_io() -> UringIo {
    UringIo::new(64, 16, 4096).expect("UringIo::new")
}

fn listen(io: &mut UringIo, id: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    io.add_listener(id, OwnedFd::from(listener))
        .expect("add_listener");
    addr
}

/// Connects a client and returns it with the server side of the connection.
fn accept_one(io: &mut UringIo, id: usize, addr: SocketAddr) -> (TcpStream, OwnedFd) {
    let client = TcpStream::connect(addr).expect("connect");
    let me = client.local_addr().expect("client addr");
    let mut got = None;
    pump(io, |ev| match ev {
        Ev::Accepted(l, fd, peer) => {
            assert_eq!(l, id);
            assert_eq!(peer, me);
            got = Some(fd);
            true
        }
        other => panic!("unexpected {other:?}"),
    });
    (client, got.expect("accepted"))
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn probe_works_here() {
    if let Err(e) = probe() {
        panic!("io_uring probe failed: {e}");
    }
    let io = new_io();
    eprintln!("io_uring setup mode: {}", io.setup_mode());
}

#[test]
fn accepts_a_loopback_client() {
    let mut io = new_io();
    let addr = listen(&mut io, 7);
    let (_c1, _s1) = accept_one(&mut io, 7, addr);
    // The multishot accept stays armed: a second client needs no new add.
    let (_c2, _s2) = accept_one(&mut io, 7, addr);
    // A non-blocking listener (as mio leaves it) works the same.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("local_addr");
    io.add_listener(8, OwnedFd::from(listener))
        .expect("add_listener");
    let (_c3, _s3) = accept_one(&mut io, 8, addr);
}

#[test]
fn receives_a_mebibyte_in_order_across_buffers() {
    let mut io = new_io(); // 16 x 4 KiB buffers: 1 MiB needs each many times over
    let addr = listen(&mut io, 0);
    let (mut client, server) = accept_one(&mut io, 0, addr);
    io.add_conn(3, server).expect("add_conn");
    let sent = pattern(1 << 20);
    let to_send = sent.clone();
    let writer = std::thread::spawn(move || {
        client.write_all(&to_send).expect("client write");
        client.shutdown(Shutdown::Write).expect("shutdown");
        client
    });
    let mut got = Vec::with_capacity(sent.len());
    pump(&mut io, |ev| match ev {
        Ev::Received(3, data) => {
            assert!(data.len() <= 4096);
            got.extend_from_slice(&data);
            false
        }
        Ev::RecvClosed(3, None) => true,
        other => panic!("unexpected {other:?}"),
    });
    let _client = writer.join().expect("writer");
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "bytes arrived out of order or changed");
}

#[test]
fn vectored_send_arrives_intact() {
    let mut io = new_io();
    let addr = listen(&mut io, 0);
    let (mut client, server) = accept_one(&mut io, 0, addr);
    // A non-blocking socket (as mio leaves it) works the same.
    socket2::SockRef::from(&server)
        .set_nonblocking(true)
        .expect("nonblocking");
    io.add_conn(0, server).expect("add_conn");
    let parts = [
        &b"hello "[..],
        b"",
        b"vectored ",
        b"world",
        &pattern(10_000),
    ];
    let bufs: Vec<Bytes> = parts.iter().map(|p| Bytes::copy_from_slice(p)).collect();
    let expected: Vec<u8> = parts.concat();
    io.send(0, bufs).expect("send");
    pump(&mut io, |ev| match ev {
        Ev::Sent(0, result) => {
            assert_eq!(result, Ok(expected.len()));
            true
        }
        other => panic!("unexpected {other:?}"),
    });
    let mut got = vec![0; expected.len()];
    client.read_exact(&mut got).expect("client read");
    assert_eq!(got, expected);
}

#[test]
fn sent_reports_a_partial_count() {
    let mut io = new_io();
    let addr = listen(&mut io, 0);
    let (mut client, server) = accept_one(&mut io, 0, addr);
    socket2::SockRef::from(&server)
        .set_send_buffer_size(16 * 1024)
        .expect("SO_SNDBUF");
    socket2::SockRef::from(&client)
        .set_recv_buffer_size(16 * 1024)
        .expect("SO_RCVBUF");
    io.add_conn(0, server).expect("add_conn");
    let data = pattern(8 << 20);
    let bufs = data.chunks(1 << 20).map(Bytes::copy_from_slice).collect();
    io.send(0, bufs).expect("send");
    let mut taken = 0;
    pump(&mut io, |ev| match ev {
        Ev::Sent(0, Ok(n)) => {
            taken = n;
            true
        }
        other => panic!("unexpected {other:?}"),
    });
    // The client reads nothing until the send completes, so the kernel cannot take 8 MiB.
    assert!(taken > 0 && taken < data.len(), "took {taken}");
    let mut got = vec![0; taken];
    client.read_exact(&mut got).expect("client read");
    assert!(got[..] == data[..taken]);
}

#[test]
fn closed_conn_id_reused_gets_no_stray_completion() {
    let mut io = new_io();
    let addr = listen(&mut io, 0);
    let (mut old_client, old_server) = accept_one(&mut io, 0, addr);
    io.add_conn(5, old_server).expect("add_conn");
    // Let the old receive be armed in the kernel, then close with it outstanding.
    assert!(pass(&mut io, Duration::from_millis(20)).is_empty());
    io.close(5);
    let (mut new_client, new_server) = accept_one(&mut io, 0, addr);
    io.add_conn(5, new_server).expect("add_conn again");
    // The old peer's bytes and EOF must not surface as conn 5.
    let _ = old_client.write_all(b"OLD");
    let _ = old_client.shutdown(Shutdown::Write);
    for _ in 0..3 {
        let evs = pass(&mut io, Duration::from_millis(30));
        assert!(evs.is_empty(), "stray completions {evs:?}");
    }
    new_client.write_all(b"NEW").expect("new write");
    pump(&mut io, |ev| match ev {
        Ev::Received(5, data) => {
            assert_eq!(data, b"NEW");
            true
        }
        other => panic!("unexpected {other:?}"),
    });
    // The old socket really was closed: its peer reads EOF (or a reset).
    old_client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = [0; 8];
    match old_client.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        other => panic!("old socket still open: {other:?}"),
    }
}

#[test]
fn close_with_send_outstanding_frees_the_slot() {
    let mut io = new_io();
    let addr = listen(&mut io, 0);
    let (_client, server) = accept_one(&mut io, 0, addr);
    socket2::SockRef::from(&server)
        .set_send_buffer_size(16 * 1024)
        .expect("SO_SNDBUF");
    io.add_conn(1, server).expect("add_conn");
    io.send(1, vec![Bytes::from(pattern(8 << 20))])
        .expect("send");
    io.close(1);
    for _ in 0..5 {
        let evs = pass(&mut io, Duration::from_millis(20));
        assert!(evs.is_empty(), "stray completions {evs:?}");
        if io.conns.is_empty() {
            return;
        }
    }
    panic!("closed conn still holds its slot");
}

#[test]
fn waker_ends_a_long_wait_from_another_thread() {
    let mut io = new_io();
    let (waker, reader) = EventFdWaker::new().expect("eventfd");
    io.set_waker(reader).expect("set_waker");
    let waker = std::sync::Arc::new(waker);
    for _ in 0..2 {
        // Twice: the read is re-armed after the first wake.
        let w = std::sync::Arc::clone(&waker);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            w.wake();
        });
        let start = Instant::now();
        io.submit_and_wait(Some(Duration::from_secs(10)))
            .expect("wait");
        let mut evs = Vec::new();
        io.drain(|c| evs.push(own(c)));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "wake did not end the wait"
        );
        assert!(matches!(evs[..], [Ev::Woken]), "{evs:?}");
        t.join().expect("waker thread");
    }
}

#[test]
fn a_short_timeout_returns_without_completions() {
    let mut io = new_io();
    let start = Instant::now();
    io.submit_and_wait(Some(Duration::from_millis(50)))
        .expect("wait");
    assert_eq!(io.drain(|c| panic!("unexpected {:?}", own(c))), 0);
    assert!(start.elapsed() >= Duration::from_millis(40));
}

#[test]
fn accept_errors_back_off_instead_of_spinning() {
    let mut io = new_io();
    // Bound but not listening: every accept fails with EINVAL.
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().expect("addr").into())
        .expect("bind");
    io.add_listener(2, OwnedFd::from(socket))
        .expect("add_listener");
    let mut failures = 0;
    let start = Instant::now();
    for _ in 0..10 {
        for ev in pass(&mut io, Duration::from_millis(25)) {
            match ev {
                Ev::AcceptFailed(2, io::ErrorKind::InvalidInput) => failures += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    // A 100 ms rest after each failure: at most one failure per rest, plus the first.
    let most = start.elapsed().as_millis() / 100 + 2;
    assert!(
        failures >= 1 && failures as u128 <= most,
        "{failures} failures, at most {most}"
    );
}

#[test]
fn send_to_unknown_conn_is_refused() {
    let mut io = new_io();
    let err = io
        .send(9, vec![Bytes::from_static(b"x")])
        .expect_err("no such conn");
    assert_eq!(err.kind(), io::ErrorKind::NotConnected);
}
