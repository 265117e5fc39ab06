#!/usr/bin/env bash
# The long fuzz run: every target one after another (the machine is shared), each until
# 10 million executions (-runs) or its time bound, niced, with libFuzzer's final stats. Prints
# one summary line per target: executions, cov, ft, exec/s, corpus size, result.
#
# Usage: fuzz/long-run.sh [TARGET...]   (default: every target, fastest first)
# Env:   RUNS (10000000), SECONDS_FAST (360), SECONDS_SLOW (900: sessions and shard core),
#        SANITIZER (none: the fuzzed code has no unsafe; `address` is about 2-3x slower),
#        OUT (/tmp/rtmp-edge-fuzz-long: corpora, logs, crash artifacts, the target dir),
#        NO_BUILD (set: use the binaries already in $OUT/target).
#
# Inputs are capped per target (`max_len_of`): libFuzzer would otherwise take the largest
# seed (48 KiB) as its length limit, and each run of a target that feeds its input again in
# small pieces would then cost milliseconds.
#
# Each target's corpus starts from fuzz/seeds/TARGET and grows in $OUT/corpus/TARGET (not
# committed). A crash stops that target: its input is in $OUT/artifacts/TARGET/.
set -uo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-10000000}
SECONDS_FAST=${SECONDS_FAST:-360}
SECONDS_SLOW=${SECONDS_SLOW:-900}
SANITIZER=${SANITIZER:-none}
OUT=${OUT:-/tmp/rtmp-edge-fuzz-long}
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=(proxy flv amf0 amf3 chunk handshake_server handshake_client server_session
        client_session shard_core)
fi
mkdir -p "$OUT/logs"

# Built once, then the binaries run directly: a source change during the run does not
# rebuild in the middle of it (NO_BUILD=1 keeps the binaries there are).
if [ -z "${NO_BUILD:-}" ]; then
    nice -n 15 cargo +nightly fuzz build -s "$SANITIZER" --target-dir "$OUT/target" >"$OUT/logs/build.log" 2>&1 ||
        { echo "long-run: build failed, see $OUT/logs/build.log" >&2; exit 1; }
fi
bin=$OUT/target/x86_64-unknown-linux-gnu/release
# shellcheck source=fuzz/max-len.sh
. fuzz/max-len.sh

for t in "${TARGETS[@]}"; do
    case "$t" in
        server_session | client_session | shard_core) secs=$SECONDS_SLOW ;;
        *) secs=$SECONDS_FAST ;;
    esac
    mkdir -p "$OUT/corpus/$t" "$OUT/artifacts/$t"
    seeds=fuzz/seeds/$t
    [ -d "$seeds" ] || seeds=
    log=$OUT/logs/$t.log
    nice -n 15 "$bin/$t" "$OUT/corpus/$t" $seeds -runs="$RUNS" -max_total_time="$secs" \
        -max_len="$(max_len_of "$t")" -print_final_stats=1 \
        -rss_limit_mb=2048 -timeout=20 -artifact_prefix="$OUT/artifacts/$t/" >"$log" 2>&1
    rc=$?
    # libFuzzer's final stats: stat::number_of_executed_units, stat::average_exec_per_sec, ...
    execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
    speed=$(awk '/stat::average_exec_per_sec/ { print $2 }' "$log")
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corpus=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
    if [ "$rc" -ne 0 ]; then
        result="CRASH (exit $rc; see $log and $OUT/artifacts/$t/)"
    elif [ "${execs:-0}" -ge "$RUNS" ]; then
        result="reached $RUNS"
    else
        result="missed: ${execs:-0} of $RUNS in ${secs}s"
    fi
    echo "$t: execs=${execs:-?} cov=${cov:-?} ft=${ft:-?} exec/s=${speed:-?} corpus=${corpus:-?} $result" |
        tee -a "$OUT/summary.txt"
done
