//! The `rtmp-edge` binary.
fn main() {}
