//! The commented default configuration that `--print-default-config` prints; a test in
//! `config` keeps it equal to `Config::default()`.

/// The default configuration, commented; printed by `--print-default-config`.
/// A test keeps it equal to `Config::default()`.
pub const DEFAULT_CONFIG_TOML: &str = r#"# rtmp-edge configuration. Every key is optional; the values below are the defaults.
# Durations are integer milliseconds (keys end in _ms), sizes are bytes.

[server]
listen = ["0.0.0.0:1935"]   # one or more ADDR:PORT (IPv4 or [IPv6]:port)
shards = 0                  # 0 = one per online CPU
pin_shards = false          # pin shard i to CPU i % ncpu
max_connections = 20000     # per shard; beyond it, accepts wait
chunk_size = 4096           # outgoing chunk size (128..=65536), same for every player (encode-once)
window_ack_size = 2500000
proxy_protocol = false      # expect a PROXY v1/v2 header (HAProxy send-proxy[-v2]) on every connection
trusted_proxies = []        # with proxy_protocol: CIDRs/IPs allowed to connect; [] = any source
drain_timeout_ms = 30000    # SIGTERM: serve connected clients this long (no new ones), then exit
io = "auto"                 # event loop: auto (the faster one measured: epoll), epoll, uring

[socket]
nodelay = true
send_buffer = 0             # SO_SNDBUF bytes, 0 = kernel default
recv_buffer = 0             # SO_RCVBUF bytes, 0 = kernel default

[publish]
takeover = false            # a newer publisher of a live stream replaces the older one (else BadName)
max_message_size = 16777215 # largest message accepted (<= 16 MiB - 1)
idle_timeout_ms = 30000     # publisher with no media for this long is closed

[play]
write_merge_ms = 0          # longest a player's frames may wait to be sent together (SRS mw_latency)
adaptive_merge_max_ms = 20  # with write_merge_ms = 0: wait up to the last flush's duration, at most this
queue_max_ms = 5000         # player queue span beyond which it drops to the next keyframe
queue_max_bytes = 16777216  # same, in bytes
kick_after_ms = 15000       # a player behind continuously for this long is disconnected
gop_cache = true            # keep frames since the last keyframe for instant start
write_stall_timeout_ms = 30000  # a player whose socket accepts nothing for this long is closed

[timeouts]
handshake_ms = 10000        # TCP accept -> RTMP handshake complete (then limits.command_timeout_ms)
proxy_header_ms = 3000      # TCP accept -> PROXY header complete (proxy_protocol listeners)

[log]
level = "info"              # error|warn|info|debug|trace; RUST_LOG overrides
format = "text"             # text | json (one JSON object per line, for ELK)

[http]
listen = ""                 # ADDR:PORT for /metrics, /healthz, /readyz, /api; "" = off
api_token = ""              # when set, /api/* needs "Authorization: Bearer TOKEN"
stream_labels = false       # per-stream metrics with a stream label
max_labelled_streams = 100  # at most this many streams labelled (most players first)

[agent]
listen = ""                 # ADDR:PORT for the HAProxy agent-check ("up 73%" / "drain"); "" = off
max_players = 20000         # players at full load (weight falls to 0% there)
max_mbps = 10000            # outgoing Mbit/s at full load

[hls]                       # the CMAF segmenter behind HLS (index.m3u8) and DASH (index.mpd)
enabled = true              # segment streams for HLS/DASH (only with an HTTP listener)
segment_target_ms = 2000    # cut at the first keyframe at or past this (audio only: at this)
part_target_ms = 500        # LL-HLS parts / DASH chunks last at most this (< segment_target_ms)
window_segments = 6         # complete segments kept per stream
max_bytes_per_stream = 33554432  # media bytes kept per stream; the oldest segments go first
ended_keep_ms = 10000       # an ended stream's last window (EXT-X-ENDLIST) is served this long
[http_play]
listen = []                 # ADDR:PORTs the shards serve HTTP-FLV on (GET /APP/STREAM.flv)
max_head_bytes = 8192       # largest request head; bigger: 431
keepalive_timeout_ms = 15000 # kept-alive connection without a request: closed
head_timeout_ms = 10000     # a request head must be complete within this
stream_wait_ms = 5000       # a stream without media this long after the request: 404
[tls]
listen = []                 # ADDR:PORT of RTMPS listeners (RTMP inside TLS), e.g. ["0.0.0.0:443"]
cert = ""                   # PEM certificate chain of the TLS listeners (read again on SIGHUP)
key = ""                    # PEM private key of cert
ca_file = ""                # PEM CAs that rtmps:// upstreams and https:// callbacks must chain to; "" = system roots

[relay]
hop_limit = 8               # a publish or play named NAME?hops=N with N above this is refused

[limits]                    # refusals are counted (rtmp_edge_limit_refused_total) and logged, rate-limited
max_connections = 100000    # connections on the whole node; more are closed at accept
max_connections_per_ip = 1000   # per source IP, node-wide; 0 = no limit
handshakes_per_ip_per_s = 50    # new connections per second per IP (token bucket); 0 = no limit
handshake_burst_per_ip = 200    # burst above that rate
exempt = ["127.0.0.0/8", "::1"] # sources the per-IP limits skip (CIDRs/IPs)
max_streams = 10000         # streams on the node; a publish or play of one more is refused
max_players_per_stream = 100000 # players of one stream, node-wide
max_chunk_streams = 64      # chunk streams one peer may keep open
max_reassembly_bytes = 33554432 # bytes all partial messages of one peer may hold (>= publish.max_message_size)
command_timeout_ms = 10000  # after the handshake: no publish/play within this long closes the connection
amf_max_depth = 32          # deepest AMF object/array nesting in a command or data message
amf_max_elements = 65536    # most elements in one AMF object/array
max_name_bytes = 1024       # longest stream or app name (without ?query)
log_refusals_per_s = 5      # refusal log lines per second per shard; the rest are counted and summarized

# Pull on demand and push, per app ("*" = every app without its own table):
# [[app]]
# name = "live"
# origins = ["rtmp://10.0.0.1:1935/live"]  # a play for a stream not published here pulls it
# origin_choice = "ordered"                # ordered (fail over in order) | hash (rendezvous)
# push = ["rtmp://10.0.0.9:1935/live"]     # every stream published here is forwarded
# idle_close_ms = 5000         # upstream closes this long after the last player left
# connect_timeout_ms = 3000
# handshake_timeout_ms = 5000  # TCP connect until connect is answered
# play_timeout_ms = 5000       # connect answered until first media / Publish.Start
# hls = true                  # segment for HLS/DASH; unset: the "*" table's, else hls.enabled
# Recording (off unless set): DIR/APP/STREAM/STREAM-YYYYMMDD-HHMMSS.flv|.mp4 (UTC)
# record = { dir = "/var/lib/rtmp-edge/rec", format = "flv", split_after_s = 600, max_queue_bytes = 67108864 }
# (or the flat keys record_dir, record_format, record_split_s, record_max_queue_bytes;
#  split_after_s: a new file at the first keyframe after this many seconds, 0 = never;
#  max_queue_bytes: per stream, not yet written; beyond it the recording stops, the stream goes on;
#  format: "flv", or "mp4" (fragmented MP4: one init, then a fragment per keyframe interval))
#
# Access control of the app (see the README's "Access control"; the same keys under
# [app.access.play] for players). Named apps without a "*" table: other apps are refused.
# [app.access]
# on_done = ""                 # http(s):// URL told (JSON POST) when an allowed publish/play ends
# callback_timeout_ms = 3000   # a callback slower than this decides as a failure
# callback_fail_open = false   # failures and timeouts allow (default: refuse)
# callback_cache_ms = 30000    # an HTTP play's callback allow is remembered this long per
#                              # client IP/app/stream/credentials (HLS/DASH reloads, segments)
# [app.access.publish]
# allow = []                   # CIDRs/IPs allowed; [] = every address not denied
# deny = []                    # CIDRs/IPs refused (checked first)
# secrets = []                 # signed URLs ?expires=..&token=.. (several: rotation)
# jwt_secrets = []             # ?jwt= HS256 secrets
# jwt_public_keys = []         # ?jwt= RS256/ES256 PEM public key files
# jwt_jwks = []                # ?jwt= JWKS files (RSA/EC keys by kid)
# stream_keys = []             # ?key= values accepted
# stream_keys_file = ""        # more keys, one per line
# callback = ""                # http:// URL POSTed last; 2xx allows (on_publish / on_play)
"#;
