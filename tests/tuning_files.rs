//! The tuning kit's files that a test cannot start for real: the systemd unit (checked by
//! `systemd-analyze verify` with its paths pointed at the built binary and the shipped
//! config, and against the drain timeout) and the sysctl profile (every key must exist on
//! this kernel; nothing is applied). `tuning/haproxy.cfg` is started by
//! `interop_haproxy_agent.rs`; `tuning/rtmp-edge.toml` is validated by the config tests.
mod support;

use rtmp_edge::control::Config;
use std::process::Command;
use support::*;

fn tuning(name: &str) -> String {
    let path = format!("{}/tuning/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

#[test]
fn systemd_unit_verifies_and_outlasts_the_drain() {
    let unit = tuning("rtmp-edge.service");
    for needed in [
        "ExecReload=/bin/kill -HUP $MAINPID",
        "KillSignal=SIGTERM",
        "LimitNOFILE=",
    ] {
        assert!(unit.contains(needed), "the unit lost {needed:?}");
    }
    let stop_secs: u64 = unit
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .and_then(|v| v.trim().trim_end_matches('s').parse().ok())
        .expect("TimeoutStopSec=Ns");
    let drain = Config::default().server.drain_timeout();
    assert!(
        stop_secs > drain.as_secs(),
        "TimeoutStopSec {stop_secs}s <= drain {drain:?}"
    );

    let dir = TempDir::new("systemd");
    let bin = rtmp_edge_binary();
    let config = format!("{}/tuning/rtmp-edge.toml", env!("CARGO_MANIFEST_DIR"));
    let text = unit
        .replace("/usr/local/bin/rtmp-edge", &bin.display().to_string())
        .replace("/etc/rtmp-edge/rtmp-edge.toml", &config);
    let path = dir.join("rtmp-edge.service");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(tool("systemd-analyze"))
        .arg("verify")
        .arg(&path)
        .output()
        .expect("run systemd-analyze");
    let report =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    // Only complaints about this unit count (not about the host's other units).
    let ours: Vec<&str> = report
        .lines()
        .filter(|l| l.contains("rtmp-edge.service"))
        .collect();
    assert!(out.status.success() && ours.is_empty(), "{report}");

    // ExecStartPre's check passes on the shipped config.
    let check = Command::new(&bin)
        .arg("--check-config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
}

#[test]
fn sysctl_profile_names_only_keys_this_kernel_has() {
    let profile = tuning("sysctl-rtmp-edge.conf");
    let mut keys = 0;
    for line in profile.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once('=').expect("key = value");
        let (key, value) = (key.trim(), value.trim());
        assert!(!value.is_empty(), "{key} has no value");
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        assert!(
            std::path::Path::new(&path).exists(),
            "{key} is not a sysctl here ({path})"
        );
        keys += 1;
    }
    assert!(keys >= 20, "only {keys} keys");
    for needed in [
        "net.core.somaxconn",
        "net.ipv4.tcp_notsent_lowat",
        "net.core.default_qdisc = fq",
        "net.ipv4.tcp_congestion_control = bbr",
        "fs.nr_open",
        "net.ipv4.tcp_wmem",
    ] {
        assert!(profile.contains(needed), "the profile lost {needed:?}");
    }
}
