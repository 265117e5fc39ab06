#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the real RTMP peers the interop tests
# drive and promtool (tuning/install-test-deps.sh, via sudo when not root), then
# `cargo test --workspace` in the debug profile, once per event-loop driver (epoll, io_uring)
# for the end-to-end and interop tests, then a short run of every fuzz target (fuzz/ci-short-run.sh,
# each target counted as one test). Extra arguments go to cargo test (e.g. `-- --test-threads 1`).
#
# RTMP_EDGE_REQUIRE_INTEROP=1 is exported so that an interop test whose tool is missing fails
# loudly (the tests never skip silently anyway).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ./tuning/install-test-deps.sh --check >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        ./tuning/install-test-deps.sh
    elif command -v sudo >/dev/null; then
        sudo ./tuning/install-test-deps.sh
    else
        ./tuning/install-test-deps.sh # reports what is missing and why it cannot install it
    fi
fi

if ! command -v cargo >/dev/null; then
    echo "test-all: cargo not found; install the Rust toolchain with rustup" >&2
    exit 1
fi

# `-version` output is long; keep one line per peer. sed reads all input, so no SIGPIPE.
echo "== test peers"
ffmpeg -hide_banner -version 2>&1 | sed -n 1p
rtmpdump -h 2>&1 | sed -n 1p
gst-launch-1.0 --version 2>&1 | sed -n 2p
"$(command -v nginx || echo /usr/sbin/nginx)" -v 2>&1 | sed -n 1p
"$(command -v haproxy || echo /usr/sbin/haproxy)" -v 2>&1 | sed -n 1p
promtool --version 2>&1 | sed -n 1p
cargo +nightly fuzz --version 2>&1 | sed -n 1p

export RTMP_EDGE_REQUIRE_INTEROP=1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# Every end-to-end and interop test runs against both event-loop drivers: the whole suite
# with epoll, then the test binaries of tests/ (not the unit tests again) with io_uring.
# `--io uring` fails loudly where io_uring cannot run, so a machine without it fails here.
echo "== RTMP_EDGE_TEST_IO=epoll cargo test --workspace $*"
RTMP_EDGE_TEST_IO=epoll cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
echo "== RTMP_EDGE_TEST_IO=uring cargo test --workspace --test '*' $*"
RTMP_EDGE_TEST_IO=uring cargo test --workspace --no-fail-fast --test '*' "$@" 2>&1 | tee -a "$log" || status=$?
# A short run of every fuzz target (nightly + cargo-fuzz); each target is one test, and a
# crash fails it. Its "fuzz TARGET: ok|FAILED" lines are counted below.
echo "== fuzz/ci-short-run.sh (FUZZ_SECONDS=${FUZZ_SECONDS:-10} per target)"
./fuzz/ci-short-run.sh 2>&1 | tee -a "$log" || status=1
# One closing line for the whole workspace (cargo prints one per test binary, the last of
# which is often an empty doc-test run), the fuzz targets included.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     /^fuzz [a-z0-9_]+: ok/ { p++ } /^fuzz [a-z0-9_]+: FAILED/ { f++ }
     END { printf "== all test binaries and fuzz targets\ntests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
