//! Can this process use io_uring the way [`super::UringIo`] does? Answered once, at start.
//!
//! [`probe`] builds a small ring with the same setup as the layer, asks the kernel which opcodes
//! it knows (`IORING_REGISTER_PROBE`), registers and unregisters a one-entry provided-buffer ring,
//! and runs one multishot receive on a Unix socket pair. Multishot receive (Linux 6.0) is the
//! newest thing the layer needs; multishot accept and buffer rings (5.19) come with it. It takes
//! well under a millisecond and leaves nothing behind.

use super::bufring::BufRing;
use super::ring::build_ring;
use io_uring::{cqueue, opcode, types, IoUring, Probe};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Why io_uring cannot be used here; `Display` is one line for the log.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UringUnavailable {
    #[error("io_uring is disabled by sysctl kernel.io_uring_disabled={0}")]
    DisabledBySysctl(u8),
    #[error(
        "io_uring_setup was refused with EPERM (a seccomp filter or security module blocks it)"
    )]
    PermissionDenied,
    #[error(
        "io_uring_setup is not implemented (ENOSYS: kernel without io_uring, or a seccomp filter)"
    )]
    NotImplemented,
    #[error("io_uring_setup failed: {0}")]
    Setup(io::Error),
    #[error("the kernel lacks io_uring opcode {0}")]
    MissingOpcode(&'static str),
    #[error("the kernel lacks io_uring feature {0}")]
    MissingFeature(&'static str),
    #[error("provided-buffer rings are unavailable (IORING_REGISTER_PBUF_RING, Linux 5.19): {0}")]
    NoBufferRing(io::Error),
    #[error("multishot receive is unavailable (Linux 6.0): {0}")]
    NoMultishotRecv(String),
}

const PROBE_BGID: u16 = 0;
const PROBE_TAG: u64 = 1;
const WAIT: Duration = Duration::from_secs(1);

/// Checks everything [`super::UringIo`] relies on; `Ok` means it will work on this kernel.
pub(crate) fn probe() -> Result<(), UringUnavailable> {
    let (ring, _mode) = build_ring(8).map_err(setup_error)?;
    check_opcodes(&ring)?;
    if !ring.params().is_feature_ext_arg() {
        return Err(UringUnavailable::MissingFeature(
            "IORING_FEAT_EXT_ARG (Linux 5.11)",
        ));
    }
    if !ring.params().is_feature_nodrop() {
        return Err(UringUnavailable::MissingFeature(
            "IORING_FEAT_NODROP (Linux 5.5)",
        ));
    }
    check_multishot_recv(ring)
}

fn setup_error(e: io::Error) -> UringUnavailable {
    match e.raw_os_error() {
        Some(libc::EPERM) => match std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled") {
            Ok(v) => match v.trim().parse::<u8>() {
                Ok(n) if n > 0 => UringUnavailable::DisabledBySysctl(n),
                _ => UringUnavailable::PermissionDenied,
            },
            Err(_) => UringUnavailable::PermissionDenied,
        },
        Some(libc::ENOSYS) => UringUnavailable::NotImplemented,
        _ => UringUnavailable::Setup(e),
    }
}

fn check_opcodes(ring: &IoUring) -> Result<(), UringUnavailable> {
    let mut probe = Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|_| UringUnavailable::MissingFeature("IORING_REGISTER_PROBE (Linux 5.6)"))?;
    let needed = [
        (opcode::AcceptMulti::CODE, "ACCEPT"),
        (opcode::RecvMulti::CODE, "RECV"),
        (opcode::SendMsg::CODE, "SENDMSG"),
        (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
        (opcode::Timeout::CODE, "TIMEOUT"),
        (opcode::Read::CODE, "READ"),
    ];
    for (code, name) in needed {
        if !probe.is_supported(code) {
            return Err(UringUnavailable::MissingOpcode(name));
        }
    }
    Ok(())
}

/// One byte through a multishot receive into a one-entry buffer ring; the completion must carry
/// the byte, a buffer id and `IORING_CQE_F_MORE`. Then the writer closes, which ends the receive,
/// and the ring is unregistered before its memory goes.
fn check_multishot_recv(mut ring: IoUring) -> Result<(), UringUnavailable> {
    let local = |e: io::Error| UringUnavailable::NoMultishotRecv(format!("local setup: {e}"));
    let mut bufs = BufRing::new(1, 64).map_err(local)?;
    // SAFETY: the entry ring lives in `bufs`, which outlives its registration: it is
    // unregistered below before `bufs` is dropped, or leaked if that is not certain.
    unsafe {
        ring.submitter().register_buf_ring_with_flags(
            bufs.ring_addr(),
            bufs.entries(),
            PROBE_BGID,
            0,
        )
    }
    .map_err(UringUnavailable::NoBufferRing)?;
    bufs.fill();

    let result = run_one_recv(&mut ring);
    // A receive still armed could write into `bufs` after we free it: only free after its last
    // completion, or after unregistering succeeded with nothing pending.
    let finished = matches!(result, Ok(true));
    if !finished || ring.submitter().unregister_buf_ring(PROBE_BGID).is_err() {
        bufs.leak_on_drop();
    }
    result.map(drop)
}

/// `Ok(true)`: the check passed and the receive has ended; `Ok(false)`: passed, but the
/// receive's end was not seen in time.
fn run_one_recv(ring: &mut IoUring) -> Result<bool, UringUnavailable> {
    let fail = UringUnavailable::NoMultishotRecv;
    let (mut writer, reader) = UnixStream::pair().map_err(|e| fail(format!("socketpair: {e}")))?;
    writer
        .write_all(b"x")
        .map_err(|e| fail(format!("write: {e}")))?;
    let recv = opcode::RecvMulti::new(types::Fd(reader.as_raw_fd()), PROBE_BGID)
        .build()
        .user_data(PROBE_TAG);
    // SAFETY: the entry references no memory but the registered buffer ring, which the caller
    // keeps alive until this receive has ended.
    unsafe { ring.submission().push(&recv) }.map_err(|_| fail("submission queue full".into()))?;
    let first = wait_one(ring).map_err(|e| fail(format!("wait: {e}")))?;
    let Some(first) = first else {
        return Err(fail("no completion within 1 s".into()));
    };
    let flags = first.flags();
    if first.result() < 0 {
        return Err(fail(
            io::Error::from_raw_os_error(-first.result()).to_string(),
        ));
    }
    if first.result() != 1 || cqueue::buffer_select(flags).is_none() || !cqueue::more(flags) {
        return Err(fail(format!(
            "unexpected completion: result {} flags {flags:#x}",
            first.result()
        )));
    }
    // End the receive: EOF is its final completion (no IORING_CQE_F_MORE).
    drop(writer);
    for _ in 0..4 {
        match wait_one(ring) {
            Ok(Some(cqe)) if !cqueue::more(cqe.flags()) => return Ok(true),
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    Ok(false)
}

fn wait_one(ring: &mut IoUring) -> io::Result<Option<cqueue::Entry>> {
    let ts = types::Timespec::from(WAIT);
    let args = types::SubmitArgs::new().timespec(&ts);
    match ring.submitter().submit_with_args(1, &args) {
        Ok(_) => {}
        Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR)) => {}
        Err(e) => return Err(e),
    }
    Ok(ring.completion().next())
}
