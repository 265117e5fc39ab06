# The input length cap (libFuzzer's -max_len) of each fuzz target, sourced by ci-short-run.sh
# and long-run.sh. Without a cap libFuzzer takes the largest seed (48 KiB) as the limit, and
# a target that feeds its input a second time in pieces of 1 to 61 bytes then spends
# milliseconds on each run, most of it in the per-call cost of the instrumented code.
#
# - handshake_*: the first byte, C0/S0 and two 1536-byte blocks (3074 bytes), and 126 bytes
#   after them, so that "never consumes past C2/S2" is still checked.
# - chunk: 4 KiB is 30 chunks of the default 128 bytes: every header form, interleaved chunk
#   streams, Set Chunk Size and Abort; the size limits are reached by the lengths headers
#   claim, not by sending that many bytes.
# - server_session, client_session: the handshake (3073 bytes), then 3 KiB of chunk stream:
#   connect, createStream, publish or play, and the first media messages.
# - shard_core: 16 KiB of ops, room for the handshakes and commands of several connections.
# - the others: 0, libFuzzer's default (the largest seed, at least 4096): they are fast
#   enough with it.
max_len_of() {
    case "$1" in
        handshake_server | handshake_client) echo 3200 ;;
        chunk) echo 4096 ;;
        server_session | client_session) echo 6144 ;;
        shard_core) echo 16384 ;;
        *) echo 0 ;;
    esac
}
