//! Reading a process's resource use from /proc: CPU time (utime + stime of all its threads),
//! resident memory and open file descriptors; and the machine's busy time.
//!
//! Only reads /proc; the parsers are pure functions over the file text so they are tested on
//! fixed samples. Call order: [`Sample::take`] at the start and at the end of a measuring
//! window, then [`Sample::cpu_percent_since`] on the later one.

use std::fs;
use std::time::Instant;

/// A snapshot of one process.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Instant,
    /// utime + stime, in clock ticks, over all threads.
    pub cpu_ticks: u64,
    pub rss_kib: Option<u64>,
    pub fds: Option<usize>,
}

impl Sample {
    /// Reads /proc/`pid`; fails only if the process is gone (its stat cannot be read).
    pub fn take(pid: u32) -> Result<Sample, String> {
        let at = Instant::now();
        let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
        let cpu_ticks =
            parse_stat_cpu_ticks(&stat).ok_or_else(|| format!("/proc/{pid}/stat: unparsable"))?;
        let rss_kib = fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|t| parse_field(&t, "VmRSS:"));
        let fds = fs::read_dir(format!("/proc/{pid}/fd"))
            .ok()
            .map(|d| d.count());
        Ok(Sample {
            at,
            cpu_ticks,
            rss_kib,
            fds,
        })
    }

    /// CPU use between `earlier` and this sample, in percent of one core.
    pub fn cpu_percent_since(&self, earlier: &Sample) -> f64 {
        let wall = self.at.duration_since(earlier.at).as_secs_f64();
        let ticks = self.cpu_ticks.saturating_sub(earlier.cpu_ticks) as f64;
        if wall <= 0.0 {
            return 0.0;
        }
        100.0 * ticks / clock_ticks_per_second() / wall
    }
}

/// Busy time of all CPUs together (user, nice, system, irq, softirq, steal), in clock ticks,
/// from /proc/stat: what else ran on the machine shows as busy time no process of ours used.
pub fn system_busy_ticks() -> Option<u64> {
    parse_system_busy(&fs::read_to_string("/proc/stat").ok()?)
}

/// The busy ticks of the aggregate `cpu` line of /proc/stat (idle and iowait left out;
/// guest time is already inside user and nice).
pub fn parse_system_busy(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    Some(at(0) + at(1) + at(2) + at(5) + at(6) + at(7))
}

/// Busy CPU over the next `window`, in % of one core summed over all cores.
pub fn busy_percent_over(window: std::time::Duration) -> Option<f64> {
    let b0 = system_busy_ticks()?;
    let t0 = Instant::now();
    std::thread::sleep(window);
    let b1 = system_busy_ticks()?;
    let secs = t0.elapsed().as_secs_f64();
    Some(100.0 * b1.saturating_sub(b0) as f64 / clock_ticks_per_second() / secs)
}

/// `sysconf(_SC_CLK_TCK)`, the unit of the times in /proc/PID/stat (100 on Linux).
pub fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// utime + stime from the text of /proc/PID/stat. The command name (field 2) is in
/// parentheses and may hold spaces and parentheses itself, so fields are counted after the
/// last `)`: there, field 3 (state) is index 0, utime (14) index 11, stime (15) index 12.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The number after `key` on its line, e.g. `VmRSS:  1234 kB`.
pub fn parse_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stat_fields_after_the_command_name() {
        let stat = "4830 (ng) x (y)) S 1 4830 4830 0 -1 4194560 120 0 0 0 \
                    250 75 0 0 20 0 1 0 123 4096 300 18446744073709551615";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(325));
        assert_eq!(parse_stat_cpu_ticks("12 (short) S 1 2"), None);
        assert_eq!(parse_stat_cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn status_and_io_fields() {
        let status = "Name:\tnginx\nVmPeak:\t  9000 kB\nVmRSS:\t   5120 kB\nThreads:\t1\n";
        assert_eq!(parse_field(status, "VmRSS:"), Some(5120));
        assert_eq!(parse_field(status, "Missing:"), None);
    }

    #[test]
    fn system_busy_leaves_idle_out() {
        let stat = "cpu  100 5 50 9000 20 3 2 1 0 0\ncpu0 50 2 25 4500 10 1 1 0 0 0\n";
        assert_eq!(parse_system_busy(stat), Some(161));
        assert!(system_busy_ticks().is_some());
    }

    #[test]
    fn rates_between_samples() {
        let t0 = Instant::now();
        let a = Sample {
            at: t0,
            cpu_ticks: 1000,
            rss_kib: None,
            fds: None,
        };
        let b = Sample {
            at: t0 + Duration::from_secs(10),
            cpu_ticks: 1000 + (5.0 * clock_ticks_per_second()) as u64,
            ..a
        };
        assert!((b.cpu_percent_since(&a) - 50.0).abs() < 1e-9);
        assert_eq!(a.cpu_percent_since(&b), 0.0);
    }

    #[test]
    fn samples_this_process() {
        let s = Sample::take(std::process::id()).unwrap();
        assert!(s.rss_kib.unwrap_or(0) > 0);
        assert!(s.fds.unwrap_or(0) >= 3);
    }
}
