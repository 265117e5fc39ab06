//! What a process's TCP sockets are connected to, read from /proc (no `ss` needed): used to
//! check that a relay opens exactly one upstream connection per stream.
//!
//! What it does: maps the socket inodes of `/proc/PID/fd` onto the rows of `/proc/net/tcp`
//! (and `tcp6`) and counts the ESTABLISHED ones whose remote port is the one asked for. Read
//! only; nothing here opens a socket.
use std::collections::HashSet;

/// ESTABLISHED TCP connections of process `pid` whose remote port is `port`.
pub fn established_to(pid: u32, port: u16) -> usize {
    established(pid, port, 2)
}

/// ESTABLISHED TCP connections of process `pid` accepted on its local port `port`.
pub fn established_on(pid: u32, port: u16) -> usize {
    established(pid, port, 1)
}

/// ESTABLISHED sockets of `pid` whose address in column `column` of /proc/net/tcp (1 local,
/// 2 remote) has port `port`.
fn established(pid: u32, port: u16, column: usize) -> usize {
    let mut inodes = HashSet::new();
    if let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for fd in fds.filter_map(Result::ok) {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy().into_owned();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
            {
                inodes.insert(inode.to_string());
            }
        }
    }
    let mut count = 0;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (Some(remote), Some(state), Some(inode)) =
                (cols.get(column), cols.get(3), cols.get(9))
            else {
                continue;
            };
            let remote_port = remote
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if *state == "01" && remote_port == Some(port) && inodes.contains(*inode) {
                count += 1;
            }
        }
    }
    count
}
