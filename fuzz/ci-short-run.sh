#!/usr/bin/env bash
# The short fuzz run CI makes (tuning/test-all.sh calls it): builds every target once, then
# runs each for FUZZ_SECONDS (10) from its committed seeds, in a scratch corpus. One line per
# target, "fuzz TARGET: ok" or "fuzz TARGET: FAILED ..." (a crash, a leak of memory past the
# RSS limit, a timeout, or a build failure fails it), then "== fuzz targets: P passed, F failed".
# Exits 1 if any target failed. Needs the nightly toolchain and cargo-fuzz
# (tuning/install-test-deps.sh installs both).
#
# Env: FUZZ_SECONDS (10), SANITIZER (none: the fuzzed code has no unsafe; `address` builds
# and runs slower), FUZZ_OUT (a temporary dir: corpora, logs, crash inputs, kept on failure).
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-10}
sanitizer=${SANITIZER:-none}
out=${FUZZ_OUT:-$(mktemp -d /tmp/rtmp-edge-fuzz-ci.XXXXXX)}
mkdir -p "$out"
targets=$(cargo +nightly fuzz list) || { echo "fuzz: cargo +nightly fuzz list failed" >&2; exit 1; }
# More codegen units than cargo-fuzz's default of 1: a faster build for a short run.
build=(cargo +nightly fuzz build -s "$sanitizer" --codegen-units 16 --target-dir "$out/target")

# shellcheck source=fuzz/max-len.sh
. fuzz/max-len.sh
passed=0
failed=0
echo "== fuzz: ${build[*]}"
if ! nice -n 15 "${build[@]}" >"$out/build.log" 2>&1; then
    tail -30 "$out/build.log"
    for t in $targets; do
        echo "fuzz $t: FAILED (the fuzz crate did not build; $out/build.log)"
        failed=$((failed + 1))
    done
else
    for t in $targets; do
        mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
        log=$out/$t.log
        if nice -n 15 cargo +nightly fuzz run -s "$sanitizer" --codegen-units 16 \
            --target-dir "$out/target" "$t" "$out/corpus/$t" "fuzz/seeds/$t" -- \
            -max_total_time="$seconds" -max_len="$(max_len_of "$t")" -rss_limit_mb=2048 \
            -timeout=20 -print_final_stats=1 -artifact_prefix="$out/artifacts/$t/" >"$log" 2>&1; then
            execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
            echo "fuzz $t: ok (${execs:-?} executions)"
            passed=$((passed + 1))
        else
            grep -E -m 20 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written' "$log"
            echo "fuzz $t: FAILED (see $log and $out/artifacts/$t/)"
            failed=$((failed + 1))
        fi
    done
fi
echo "== fuzz targets: $passed passed, $failed failed"
if [ "$failed" -eq 0 ] && [ -z "${FUZZ_OUT:-}" ]; then
    rm -rf "$out"
fi
[ "$failed" -eq 0 ]
