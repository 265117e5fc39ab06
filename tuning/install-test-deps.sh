#!/usr/bin/env bash
# Installs the real RTMP peers the test suite drives (Debian/Ubuntu packages): FFmpeg, rtmpdump
# (librtmp), GStreamer with rtmp2sink/rtmp2src, nginx with the rtmp module, HAProxy, and
# promtool (Debian's prometheus package) to validate the /metrics output; and, from PyPI,
# imageio-ffmpeg (pinned), whose static FFmpeg 9 build publishes and plays Enhanced RTMP v2
# (HEVC/AV1/VP9 + Opus, multitrack) for tests/interop_enhanced.rs. For the real-browser tests
# (tests/browser_playback.rs): Debian's chromium (with its H.264/AAC decoders), node + npm, and
# `npm ci` in tests/browser (hls.js, dash.js, mpegts.js, puppeteer-core, pinned by its
# package-lock.json; PUPPETEER_SKIP_DOWNLOAD: no browser download, it drives /usr/bin/chromium).
# For the short fuzz run (fuzz/ci-short-run.sh): the Rust nightly toolchain (rustup) and
# cargo-fuzz (pinned, `cargo install --locked`).
#
# Idempotent and fast when everything is present: it checks the binaries, the nginx rtmp module,
# the GStreamer elements and the installed npm packages (against the lockfile) first, and only
# runs apt-get (as root) or npm ci when something is missing.
#
# Usage: tuning/install-test-deps.sh [--check] [--bench] [--force]
#   --check   only report what is missing (exit 1 if anything is); never installs
#   --force   run apt-get even when everything is present
#   --bench   also install linux-perf (profiling for benchmarks; the tests do not need it)
#
# Package names verified on Debian 12 (bookworm): in bookworm `nginx` is the server itself
# (nginx-light is a thin add-on over it) and libnginx-mod-rtmp matches its module ABI; rtmp2sink,
# rtmp2src and voaacenc are in gstreamer1.0-plugins-bad, x264enc in -ugly, avenc_aac and
# avdec_h264 in gstreamer1.0-libav.
set -euo pipefail

PACKAGES=(
    ffmpeg
    rtmpdump
    gstreamer1.0-tools
    gstreamer1.0-plugins-base
    gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad
    gstreamer1.0-plugins-ugly
    gstreamer1.0-libav
    nginx
    libnginx-mod-rtmp
    haproxy
    procps
    prometheus
    systemd
    chromium
)
BENCH_PACKAGES=(linux-perf)
BINARIES=(ffmpeg ffprobe rtmpdump gst-launch-1.0 gst-inspect-1.0 nginx haproxy ps promtool systemd-analyze
    chromium node npm)
BENCH_BINARIES=(perf)
# What the GStreamer tests build their pipelines from.
GST_ELEMENTS=(
    rtmp2sink rtmp2src flvmux flvdemux x264enc h264parse aacparse avenc_aac
    videotestsrc audiotestsrc audioconvert queue filesink
)
# FFmpeg 9.0.2 with Enhanced RTMP v2 (keep in step with tests/support/enhanced.rs).
IMAGEIO_FFMPEG_VERSION=0.8.1
# cargo-fuzz for fuzz/ (keep in step with fuzz/README.md).
CARGO_FUZZ_VERSION=0.13.2
NGINX_MODULE_DIRS=(/usr/lib/nginx/modules /usr/lib64/nginx/modules /usr/share/nginx/modules)
BROWSER_DIR="$(cd "$(dirname "$0")/../tests/browser" && pwd)"
npm_line="npm packages of tests/browser"

check_only=0
bench=0
force=0
for arg in "$@"; do
    case "$arg" in
        --check) check_only=1 ;;
        --bench) bench=1 ;;
        --force) force=1 ;;
        -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "install-test-deps.sh: unknown argument: $arg" >&2; exit 2 ;;
    esac
done
if [ "$bench" = 1 ]; then
    PACKAGES+=("${BENCH_PACKAGES[@]}")
    BINARIES+=("${BENCH_BINARIES[@]}")
fi

# Like `command -v`, but also looks in the sbin dirs: Debian keeps nginx in /usr/sbin, which is
# not on a normal user's PATH.
find_bin() {
    command -v "$1" 2>/dev/null && return 0
    local dir
    for dir in /usr/local/sbin /usr/sbin /sbin; do
        if [ -x "$dir/$1" ]; then echo "$dir/$1"; return 0; fi
    done
    return 1
}

nginx_rtmp_module() {
    local dir so
    for dir in "${NGINX_MODULE_DIRS[@]}"; do
        for so in "$dir"/*rtmp*.so; do
            if [ -f "$so" ]; then echo "$so"; return 0; fi
        done
    done
    return 1
}

# The FFmpeg binary inside the pinned imageio-ffmpeg, if that version is installed and runs.
ffmpeg9() {
    local exe
    exe="$(python3 -c "import importlib.metadata as m, imageio_ffmpeg as f
assert m.version('imageio-ffmpeg') == '$IMAGEIO_FFMPEG_VERSION'
print(f.get_ffmpeg_exe())" 2>/dev/null)" || return 1
    [ -x "$exe" ] && "$exe" -hide_banner -version >/dev/null 2>&1 && echo "$exe"
}

# True when every package in tests/browser/package-lock.json is installed at its locked version.
npm_packages_current() {
    command -v node >/dev/null 2>&1 || return 1
    (cd "$BROWSER_DIR" && node -e '
const fs = require("fs");
const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
for (const [path, meta] of Object.entries(lock.packages)) {
  if (!path) continue;
  const manifest = JSON.parse(fs.readFileSync(path + "/package.json", "utf8"));
  if (manifest.version !== meta.version) process.exit(1);
}' 2>/dev/null)
}

# The fuzz tools: prints one line per missing piece.
missing_fuzz() {
    command -v rustup >/dev/null || { echo "rustup (to install the nightly toolchain)"; return; }
    rustup toolchain list 2>/dev/null | grep -q '^nightly' || echo "Rust nightly toolchain"
    [ "$(cargo fuzz --version 2>/dev/null)" = "cargo-fuzz $CARGO_FUZZ_VERSION" ] ||
        echo "cargo-fuzz $CARGO_FUZZ_VERSION"
}

# Installs what missing_fuzz reports (rustup and cargo are the caller's, not apt's).
install_fuzz() {
    local todo
    todo="$(missing_fuzz)"
    [ -z "$todo" ] && return 0
    if ! command -v rustup >/dev/null; then
        echo "install-test-deps: rustup not found; install the Rust toolchain with rustup" >&2
        return 1
    fi
    rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
    if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
        cargo install --locked --force "cargo-fuzz@$CARGO_FUZZ_VERSION"
    fi
}

# Prints one line per missing piece; empty output means all present.
missing() {
    local bin element
    missing_fuzz
    ffmpeg9 >/dev/null || echo "python3 package imageio-ffmpeg==$IMAGEIO_FFMPEG_VERSION (FFmpeg 9)"
    for bin in "${BINARIES[@]}"; do
        find_bin "$bin" >/dev/null || echo "binary $bin"
    done
    npm_packages_current || echo "$npm_line (npm ci, pinned by package-lock.json)"
    nginx_rtmp_module >/dev/null || echo "nginx rtmp module (*rtmp*.so in ${NGINX_MODULE_DIRS[*]})"
    if find_bin gst-inspect-1.0 >/dev/null; then
        for element in "${GST_ELEMENTS[@]}"; do
            "$(find_bin gst-inspect-1.0)" --exists "$element" 2>/dev/null ||
                echo "GStreamer element $element"
        done
    fi
}

todo="$(missing)"
if [ -z "$todo" ] && [ "$force" = 0 ]; then
    echo "install-test-deps: all test dependencies present (nginx rtmp module: $(nginx_rtmp_module);" \
        "$(chromium --version 2>/dev/null); node $(node --version))"
    exit 0
fi
if [ -n "$todo" ]; then
    echo "install-test-deps: missing:"
    echo "$todo" | sed 's/^/  - /'
fi
if [ "$check_only" = 1 ]; then
    exit 1
fi

install_npm_packages() {
    (cd "$BROWSER_DIR" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund)
}

# Exits: 1 listing what is still missing after installing $1, else 0.
finish() {
    todo="$(missing)"
    if [ -n "$todo" ]; then
        echo "install-test-deps: still missing after installing $1:" >&2
        echo "$todo" | sed 's/^/  - /' >&2
        exit 1
    fi
    echo "install-test-deps: all test dependencies installed (nginx rtmp module: $(nginx_rtmp_module))"
    exit 0
}

# The fuzz tools come from rustup and crates.io, not apt: install them first, and stop here
# if they were all that was missing.
if [ -n "$(missing_fuzz)" ]; then
    install_fuzz || exit 1
    todo="$(missing)"
    if [ -z "$todo" ] && [ "$force" = 0 ]; then
        finish "the fuzz tools"
    fi
fi

# Only the npm packages missing: no apt-get and no root needed.
if [ "$force" = 0 ] && [ -z "$(echo "$todo" | grep -v "^$npm_line")" ]; then
    install_npm_packages
    finish "the npm packages"
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-test-deps: must run as root to install packages (try: sudo $0 $*)" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null; then
    echo "install-test-deps: apt-get not found; install these packages (or your distro's" \
        "equivalents) by hand: ${PACKAGES[*]}" >&2
    exit 1
fi

# Keep package scripts from starting system nginx/haproxy services (nginx's would take port 80,
# and its postinst fails when port 80 is busy). Only when no policy is in place already.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# temporary, from tuning/install-test-deps.sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${PACKAGES[@]}"
# node from Debian only when there is none: a NodeSource nodejs (which bundles npm) conflicts
# with Debian's npm package.
command -v node >/dev/null || apt-get install -y --no-install-recommends nodejs
command -v npm >/dev/null || apt-get install -y --no-install-recommends npm
if ! npm_packages_current || [ "$force" = 1 ]; then
    install_npm_packages
fi
if ! ffmpeg9 >/dev/null; then
    python3 -m pip --version >/dev/null 2>&1 ||
        apt-get install -y --no-install-recommends python3 python3-pip
    # Debian's python3 is "externally managed" (PEP 668); the package only ships a binary.
    python3 -m pip install --quiet "imageio-ffmpeg==$IMAGEIO_FFMPEG_VERSION" ||
        python3 -m pip install --quiet --break-system-packages "imageio-ffmpeg==$IMAGEIO_FFMPEG_VERSION"
fi

finish "${PACKAGES[*]}"
