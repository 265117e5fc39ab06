//! rtmp-loadtest: fan-out latency load tester (see issue #3).
fn main() {}
