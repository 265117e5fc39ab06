//! Child processes that cannot outlive their test.
//!
//! What it does: spawns a command with stdin closed and stdout+stderr appended to a log file,
//! waits for it with a deadline, and kills it on Drop. The child also gets SIGKILL from the
//! kernel when the spawning thread dies (PR_SET_PDEATHSIG), so an aborted test run leaves no
//! nginx or ffmpeg behind; spawn from the test's own thread, not from a short-lived helper one.
//!
//! What it never does: wait without a bound, or hide a failing child's output (the log tail is
//! printed when a wait fails or when the test panics while the Process is alive).
//!
//! Call order: [`Process::spawn`], then any of [`Process::wait_timeout`] /
//! [`Process::wait_success`] / [`Process::interrupt`] / [`Process::stop`]; Drop cleans up.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How much of a log is shown in failure messages.
const LOG_TAIL_BYTES: u64 = 6000;

/// A running child with its log; killed on Drop.
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
    /// Remove the log on Drop (it was made by us in the temp dir, not given by the caller).
    own_log: bool,
    status: Option<ExitStatus>,
}

impl Process {
    /// Spawns `cmd` with its output appended to `log`.
    pub fn spawn_logged(name: &str, mut cmd: Command, log: &Path) -> Process {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("open log {}: {e}", log.display()));
        let err = out.try_clone().expect("clone log handle");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name} ({cmd:?}): {e}"));
        Process {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
            own_log: false,
            status: None,
        }
    }

    /// Spawns `cmd` with its output in a fresh log file under the temp dir (removed on Drop
    /// unless the test fails).
    pub fn spawn(name: &str, cmd: Command) -> Process {
        let dir = std::env::temp_dir().join("rtmp-edge-tests");
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let log = dir.join(format!("{}.log", super::unique_name(name)));
        let mut process = Process::spawn_logged(name, cmd, &log);
        process.own_log = true;
        process
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last few KB of the log (lossy UTF-8).
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }

    /// The exit status if the child has ended, without blocking.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self
                .child
                .try_wait()
                .unwrap_or_else(|e| panic!("wait for {}: {e}", self.name));
        }
        self.status
    }

    /// Waits at most `limit` for the child to end; on timeout kills it and panics with its log.
    pub fn wait_timeout(&mut self, limit: Duration) -> ExitStatus {
        match self.wait_until(Instant::now() + limit) {
            Some(status) => status,
            None => {
                self.kill();
                panic!(
                    "{} did not finish within {limit:?}; killed. Log tail:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
        }
    }

    /// Waits at most `limit` and panics (with the log) unless the child exited with status 0.
    pub fn wait_success(&mut self, limit: Duration) {
        let status = self.wait_timeout(limit);
        assert!(
            status.success(),
            "{} failed: {status}. Log tail:\n{}",
            self.name,
            self.log_tail()
        );
    }

    /// Sends SIGINT (the graceful stop for ffmpeg, rtmpdump and gst-launch -e).
    pub fn interrupt(&mut self) {
        if self.try_wait().is_none() {
            // SAFETY: plain kill(2) on our own child's pid, which has not been reaped yet.
            unsafe {
                libc::kill(self.child.id() as libc::pid_t, libc::SIGINT);
            }
        }
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`, `libc::SIGHUP`) if the child still runs.
    pub fn signal(&mut self, signal: libc::c_int) {
        if self.try_wait().is_none() {
            // SAFETY: plain kill(2) on our own child's pid, which has not been reaped yet.
            unsafe {
                libc::kill(self.child.id() as libc::pid_t, signal);
            }
        }
    }

    /// SIGINT, then up to `grace` for a clean exit, then SIGKILL. Returns the exit status.
    pub fn stop(&mut self, grace: Duration) -> ExitStatus {
        self.interrupt();
        if let Some(status) = self.wait_until(Instant::now() + grace) {
            return status;
        }
        self.kill();
        self.status.expect("status after kill")
    }

    /// SIGKILL and reap (no-op if already ended).
    pub fn kill(&mut self) {
        if self.try_wait().is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let was_running = self.try_wait().is_none();
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "---- {} ({}; log {}) ----\n{}\n---- end {} ----",
                self.name,
                if was_running {
                    "killed at test end".to_string()
                } else {
                    format!("exited: {:?}", self.status)
                },
                self.log.display(),
                self.log_tail(),
                self.name
            );
        } else if self.own_log {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// Waits for a bare `Child` at most `limit`; kills it and panics on timeout.
pub fn wait_with_timeout(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "child {} did not finish within {limit:?}; killed",
                child.id()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The last few KB of a file (lossy UTF-8); empty if unreadable.
pub fn log_tail(path: &Path) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}
