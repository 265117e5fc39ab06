//! The standard Prometheus process metrics, read from `/proc/self` (Linux): CPU seconds,
//! resident and virtual memory, open and maximum file descriptors, start time. Runs on the
//! HTTP thread for each scrape; a file that cannot be read leaves its metrics out.
use super::text::{Kind, PromText};

/// What one scrape read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<f64>,
    pub virtual_bytes: Option<f64>,
    pub start_time_seconds: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
}

impl ProcessStats {
    /// Reads `/proc/self` now.
    pub fn read() -> Self {
        // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        let btime = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| parse_btime(&s));
        let mut stats = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .map(|s| parse_stat(&s, ticks as f64, page as f64, btime))
            .unwrap_or_default();
        stats.open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as f64);
        stats.max_fds = max_fds();
        stats
    }

    pub fn write(&self, p: &mut PromText) {
        let metrics = [
            (
                "process_cpu_seconds_total",
                Kind::Counter,
                "Total user and system CPU time spent in seconds.",
                self.cpu_seconds,
            ),
            (
                "process_resident_memory_bytes",
                Kind::Gauge,
                "Resident memory size in bytes.",
                self.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                Kind::Gauge,
                "Virtual memory size in bytes.",
                self.virtual_bytes,
            ),
            (
                "process_start_time_seconds",
                Kind::Gauge,
                "Start time of the process since unix epoch in seconds.",
                self.start_time_seconds,
            ),
            (
                "process_open_fds",
                Kind::Gauge,
                "Number of open file descriptors.",
                self.open_fds,
            ),
            (
                "process_max_fds",
                Kind::Gauge,
                "Maximum number of open file descriptors.",
                self.max_fds,
            ),
        ];
        for (name, kind, help, value) in metrics {
            if let Some(v) = value {
                p.single(name, kind, help, v);
            }
        }
    }
}

fn max_fds() -> Option<f64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (rc == 0).then_some(limit.rlim_cur as f64)
}

/// `btime` (boot time, seconds since the epoch) from `/proc/stat`.
fn parse_btime(stat: &str) -> Option<f64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// Fields of `/proc/self/stat` (see proc(5)); the command name may hold spaces and
/// parentheses, so fields are counted from the last `)`.
fn parse_stat(stat: &str, ticks: f64, page: f64, btime: Option<f64>) -> ProcessStats {
    let Some(rest) = stat.rfind(')').and_then(|i| stat.get(i + 1..)) else {
        return ProcessStats::default();
    };
    // rest starts at field 3 (state).
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> Option<f64> { fields.get(n - 3)?.parse().ok() };
    let ticks = (ticks > 0.0).then_some(ticks);
    let cpu = match (field(14), field(15), ticks) {
        (Some(u), Some(s), Some(t)) => Some((u + s) / t),
        _ => None,
    };
    let start = match (field(22), ticks, btime) {
        (Some(st), Some(t), Some(b)) => Some(b + st / t),
        _ => None,
    };
    ProcessStats {
        cpu_seconds: cpu,
        virtual_bytes: field(23),
        resident_bytes: field(24).filter(|_| page > 0.0).map(|r| r * page),
        start_time_seconds: start,
        open_fds: None,
        max_fds: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let stat = "1234 (rtmp (edge) x) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 9 0 1000 \
                    4096000 300 18446744073709551615";
        let s = parse_stat(stat, 100.0, 4096.0, Some(1_700_000_000.0));
        assert_eq!(s.cpu_seconds, Some(3.0));
        assert_eq!(s.start_time_seconds, Some(1_700_000_010.0));
        assert_eq!(s.virtual_bytes, Some(4_096_000.0));
        assert_eq!(s.resident_bytes, Some(300.0 * 4096.0));
        assert_eq!(
            parse_stat("garbage", 100.0, 4096.0, None),
            ProcessStats::default()
        );
        assert_eq!(parse_btime("cpu 1 2\nbtime 1700000000\n"), Some(1.7e9));
    }

    #[test]
    fn this_process_has_all_of_them() {
        let s = ProcessStats::read();
        assert!(s.cpu_seconds.is_some() && s.resident_bytes.unwrap_or(0.0) > 0.0);
        assert!(s.open_fds.unwrap_or(0.0) >= 3.0 && s.max_fds.is_some());
        assert!(s.start_time_seconds.unwrap_or(0.0) > 1e9);
    }
}
