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
handshake_ms = 10000        # TCP accept -> connect command done
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

[tls]
listen = []                 # ADDR:PORT of RTMPS listeners (RTMP inside TLS), e.g. ["0.0.0.0:443"]
cert = ""                   # PEM certificate chain of the TLS listeners (read again on SIGHUP)
key = ""                    # PEM private key of cert
ca_file = ""                # PEM CAs that rtmps:// origins and push targets must chain to; "" = system roots

[relay]
hop_limit = 8               # a publish or play named NAME?hops=N with N above this is refused

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
"#;
