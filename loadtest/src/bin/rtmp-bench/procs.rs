//! Child processes that cannot outlive the benchmark, CPU pinning, Ctrl-C, and loopback ports.
//!
//! Every child is started through [`spawn`], which pins it to one core (sched_setaffinity in
//! the child before exec), optionally raises its priority, and asks the kernel to kill it if
//! the benchmark dies (PR_SET_PDEATHSIG); the returned [`Guard`] kills and reaps it when
//! dropped, so an error, a panic or Ctrl-C ([`install_interrupt_handler`], then
//! [`check_interrupt`] in every wait loop) never leaves a server running. Nothing here talks
//! to anything but 127.0.0.1.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// SIGINT and SIGTERM set a flag that the wait loops check, so the benchmark unwinds through
/// its guards instead of dying with children left behind.
pub fn install_interrupt_handler() {
    let handler: extern "C" fn(libc::c_int) = on_signal;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
    }
}

pub fn check_interrupt() -> Result<(), String> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

/// Sleeps until `deadline`, waking every 50 ms to notice Ctrl-C and, if given, the exit of a
/// child that must keep running.
pub fn sleep_until(deadline: Instant, watch: &mut [&mut Guard]) -> Result<(), String> {
    loop {
        check_interrupt()?;
        for guard in watch.iter_mut() {
            if let Some(status) = guard.try_wait()? {
                return Err(format!("{} exited early ({status})", guard.name));
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(());
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
    }
}

/// Raises the soft open-file limit to the hard one (children inherit it): thousands of
/// players need thousands of sockets in the server and in the load tester. Returns the limit.
pub fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    lim.rlim_cur
}

/// A child process that is killed (SIGTERM, then SIGKILL after a grace time) and reaped when
/// the guard is dropped.
pub struct Guard {
    pub name: String,
    child: Child,
    exited: Option<ExitStatus>,
}

impl Guard {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, String> {
        if self.exited.is_none() {
            self.exited = self
                .child
                .try_wait()
                .map_err(|e| format!("{}: wait: {e}", self.name))?;
        }
        Ok(self.exited)
    }

    /// Waits for the child to exit by itself until `deadline`; past it the child is killed
    /// and that is an error.
    pub fn wait_until(&mut self, deadline: Instant) -> Result<ExitStatus, String> {
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            check_interrupt()?;
            if Instant::now() >= deadline {
                self.stop();
                return Err(format!("{} did not finish in time; killed", self.name));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, up to 3 s to exit, then SIGKILL; always reaps.
    pub fn stop(&mut self) {
        if self.exited.is_some() {
            return;
        }
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child, which has not been reaped, so the pid is still ours.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = Some(status);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        self.exited = self.child.wait().ok();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where and how eagerly a child runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Placement {
    /// The one core it may run on.
    pub core: Option<usize>,
    /// Its nice value: below 0 it wins the core against other users' builds on a shared
    /// machine (root only; ignored when not permitted).
    pub nice: Option<i32>,
}

/// Starts `cmd` placed as `place` says, stdout and stderr to `log`, and guarded.
pub fn spawn(name: &str, mut cmd: Command, place: Placement, log: &Path) -> Result<Guard, String> {
    let Placement { core, nice } = place;
    let out = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    // SAFETY: between fork and exec the closure only makes async-signal-safe syscalls
    // (prctl, setpriority, sched_setaffinity) on stack data; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(nice) = nice {
                // Best effort: without the privilege the child runs at the default priority.
                libc::setpriority(libc::PRIO_PROCESS, 0, nice);
            }
            if let Some(core) = core {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(core, &mut set);
                if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {name} ({:?}): {e}", cmd.get_program()))?;
    Ok(Guard {
        name: name.to_string(),
        child,
        exited: None,
    })
}

/// A port on 127.0.0.1 that was free a moment ago (bound, read, released).
pub fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// Waits until 127.0.0.1:`port` accepts connections, or `guard`'s process exits, or 10 s.
pub fn wait_for_port(port: u16, guard: &mut Guard) -> Result<(), String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        check_interrupt()?;
        if let Some(status) = guard.try_wait()? {
            return Err(format!("{} exited at startup ({status})", guard.name));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{} is not listening on {addr} after 10 s",
                guard.name
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last `max` bytes of a log file, to show why a child failed.
pub fn log_tail(path: &Path, max: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(max);
    String::from_utf8_lossy(&text[start..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_kills_a_child_on_drop() {
        let dir = std::env::temp_dir().join(format!("rtmp-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let place = Placement {
            core: Some(0),
            nice: Some(-1),
        };
        let guard = spawn("sleep", cmd, place, &dir.join("sleep.log")).unwrap();
        let pid = guard.pid();
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        let started = Instant::now();
        drop(guard);
        assert!(started.elapsed() < Duration::from_secs(5));
        // Reaped: the pid no longer names our child (it may be reused, but not this fast).
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(!stat.contains("(sleep)"), "{stat}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn wait_until_kills_past_the_deadline() {
        let dir = std::env::temp_dir().join(format!("rtmp-bench-test2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let mut guard = spawn("sleep", cmd, Placement::default(), &dir.join("sleep.log")).unwrap();
        let err = guard
            .wait_until(Instant::now() + Duration::from_millis(100))
            .unwrap_err();
        assert!(err.contains("killed"), "{err}");
        assert!(guard.try_wait().unwrap().is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn free_port_is_bindable() {
        let port = free_port().unwrap();
        assert!(port > 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    }
}
