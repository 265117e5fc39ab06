//! The command line: flags (clap), unit parsing (`600k`, `2s`) and validation into the
//! [`Settings`] the run uses.
//!
//! No I/O beyond what clap prints for `--help`; resolving the host and opening the source
//! file happen later, in `main`.
use clap::Parser;
use rtmp_edge::relay::url::RtmpUrl;
use std::path::PathBuf;

/// rtmp-loadtest: publishes a stream and plays it back with many players, measuring
/// end-to-end latency per frame (SEI stamps), first-frame time and loss against any RTMP
/// server.
#[derive(Debug, Clone, Parser)]
#[command(name = "rtmp-loadtest", version, about)]
pub struct Cli {
    /// Stream URL: rtmp://HOST[:PORT]/APP/STREAM
    #[arg(long)]
    pub url: String,

    /// Number of players (0 = publish only).
    #[arg(long)]
    pub players: usize,

    /// Length of the measured run in seconds (from the moment players start).
    #[arg(long, value_parser = parse_seconds)]
    pub duration: f64,

    /// Event-loop threads (default: available cores). The publisher lives on thread 0.
    #[arg(long)]
    pub threads: Option<usize>,

    /// Player connections started per second, spread over the threads.
    #[arg(long, default_value_t = 1000.0)]
    pub ramp: f64,

    /// `synthetic` or the path of an FLV file to replay in a loop.
    #[arg(long, default_value = "synthetic")]
    pub source: String,

    /// Video bitrate of the synthetic source (k/M suffixes). Audio adds 128 kbps.
    #[arg(long, default_value = "600k", value_parser = parse_bitrate)]
    pub bitrate: u64,

    /// Frame rate of the synthetic source.
    #[arg(long, default_value_t = 25.0)]
    pub fps: f64,

    /// Keyframe interval of the synthetic source (`2s`, `500ms`, or seconds).
    #[arg(long, default_value = "2s", value_parser = parse_seconds)]
    pub gop: f64,

    /// Write the summary as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Do not publish: play a stream someone else publishes.
    #[arg(long)]
    pub no_publish: bool,

    /// Wait this long after the publish is accepted before players start.
    #[arg(long, default_value_t = 0)]
    pub publish_delay_ms: u64,

    /// Shortest time between two wake-ups of a thread, in microseconds (0: wake on every
    /// event). Arrival times come from kernel receive timestamps, so batching wake-ups saves
    /// CPU without adding to the measured latency.
    #[arg(long, default_value_t = 1000)]
    pub batch_us: u64,

    /// Bursty players: once playing, a player reads everything its socket holds, then leaves
    /// the socket unread for this many milliseconds (as players with large buffers and mobile
    /// clients do). 0: read continuously. Latency still comes from kernel receive timestamps.
    #[arg(long, default_value_t = 0)]
    pub read_interval_ms: u64,

    /// The first N players announce Enhanced RTMP (fourCcList and capsEx in their connect),
    /// the others are legacy players (what a relay that keeps a legacy variant must serve).
    #[arg(long, default_value_t = 0)]
    pub enhanced_players: usize,

    /// Players play this HTTP-FLV URL (http://HOST[:PORT]/APP/STREAM.flv) instead of the RTMP
    /// URL; the publisher still publishes to --url. Same measurements (SEI latency, gaps).
    #[arg(long, value_name = "URL")]
    pub http_flv: Option<String>,
    /// RTMPS players: play over TLS from this port of the --url host (the publisher stays
    /// plain on --url). The server's certificate must name the --url host.
    #[arg(long, value_name = "PORT")]
    pub tls_port: Option<u16>,

    /// With --tls-port: PEM CA certificates to verify the server with (default: the system
    /// roots).
    #[arg(long, value_name = "PEM")]
    pub tls_ca: Option<PathBuf>,
}

/// Longest `--read-interval-ms`: a minute unread would only measure the socket buffer.
pub const MAX_READ_INTERVAL_MS: u64 = 60_000;

/// Where the published media comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceKind {
    Synthetic,
    File(PathBuf),
}

/// Validated run settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub url: RtmpUrl,
    pub players: usize,
    pub duration_s: f64,
    pub threads: usize,
    pub ramp: f64,
    pub source: SourceKind,
    pub bitrate: u64,
    pub fps: f64,
    pub gop_s: f64,
    pub json: Option<PathBuf>,
    pub publish: bool,
    pub publish_delay_ms: u64,
    pub batch_us: u64,
    /// 0: players read continuously.
    pub read_interval_ms: u64,
    /// Players (the first ones) that announce Enhanced RTMP.
    pub enhanced_players: usize,
    /// `(authority, path)` of the HTTP-FLV URL players play instead of RTMP.
    pub http_flv: Option<(String, String)>,
    /// RTMPS players on this port of the --url host.
    pub tls_port: Option<u16>,
    pub tls_ca: Option<PathBuf>,
}

impl Cli {
    /// Checks the values clap cannot and settles defaults.
    pub fn into_settings(self) -> Result<Settings, String> {
        let url = RtmpUrl::parse(&self.url).map_err(|e| format!("--url: {e}"))?;
        let http_flv = self
            .http_flv
            .as_deref()
            .map(parse_http_url)
            .transpose()
            .map_err(|e| format!("--http-flv: {e}"))?;
        if !(self.duration > 0.0 && self.duration.is_finite()) {
            return Err("--duration must be above 0".into());
        }
        if !(self.ramp > 0.0 && self.ramp.is_finite()) {
            return Err("--ramp must be above 0".into());
        }
        if !(self.fps > 0.0 && self.fps <= 1000.0) {
            return Err("--fps must be in (0, 1000]".into());
        }
        if !(self.gop > 0.0 && self.gop.is_finite()) {
            return Err("--gop must be above 0".into());
        }
        if self.bitrate == 0 {
            return Err("--bitrate must be above 0".into());
        }
        if self.read_interval_ms > MAX_READ_INTERVAL_MS {
            return Err(format!(
                "--read-interval-ms must be at most {MAX_READ_INTERVAL_MS}"
            ));
        }
        if url.tls {
            return Err(
                "--url: the publisher speaks plain RTMP; use --tls-port for RTMPS players".into(),
            );
        }
        if self.tls_port.is_some() && self.read_interval_ms > 0 {
            // Arrival marks count socket bytes, which TLS makes differ from the session's.
            return Err("--read-interval-ms does not combine with --tls-port".into());
        }
        if self.tls_port.is_some() && self.http_flv.is_some() {
            return Err("--http-flv players speak plain HTTP: not with --tls-port".into());
        }
        if self.tls_ca.is_some() && self.tls_port.is_none() {
            return Err("--tls-ca needs --tls-port".into());
        }
        if self.no_publish && self.players == 0 {
            return Err("--no-publish with --players 0 has nothing to do".into());
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = self.threads.unwrap_or(cores);
        if threads == 0 {
            return Err("--threads must be at least 1".into());
        }
        // More threads than players would only idle.
        let threads = threads.min(self.players.max(1));
        let source = if self.source == "synthetic" {
            SourceKind::Synthetic
        } else {
            SourceKind::File(PathBuf::from(&self.source))
        };
        Ok(Settings {
            url,
            players: self.players,
            duration_s: self.duration,
            threads,
            ramp: self.ramp,
            source,
            bitrate: self.bitrate,
            fps: self.fps,
            gop_s: self.gop,
            json: self.json,
            publish: !self.no_publish,
            publish_delay_ms: self.publish_delay_ms,
            batch_us: self.batch_us.min(100_000),
            read_interval_ms: self.read_interval_ms,
            enhanced_players: self.enhanced_players,
            http_flv,
            tls_port: self.tls_port,
            tls_ca: self.tls_ca,
        })
    }
}

/// `http://HOST[:PORT]/PATH` -> (`HOST:PORT`, `/PATH`); the port defaults to 80.
pub fn parse_http_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?} is not an http:// URL"))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    let authority = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, format!("/{path}")))
}

/// `600k`, `1.5M`, `2500000`, `800kbps` -> bits per second.
pub fn parse_bitrate(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix("bps")
        .or_else(|| t.strip_suffix("b"))
        .unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1e3),
        Some('m') => (&t[..t.len() - 1], 1e6),
        Some('g') => (&t[..t.len() - 1], 1e9),
        _ => (t, 1.0),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("bad bitrate {s:?} (e.g. 600k, 2M)"))?;
    let bps = v * mult;
    if !(1.0..1e12).contains(&bps) {
        return Err(format!("bitrate {s:?} out of range"));
    }
    Ok(bps.round() as u64)
}

/// `2s`, `500ms`, `1.5`, `1m` -> seconds.
pub fn parse_seconds(s: &str) -> Result<f64, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix("min").or_else(|| t.strip_suffix('m')) {
        (n, 60.0)
    } else {
        (t.as_str(), 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("bad duration {s:?} (e.g. 2s, 500ms)"))?;
    let secs = v * mult;
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(format!("duration {s:?} out of range"));
    }
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitrates() {
        assert_eq!(parse_bitrate("600k"), Ok(600_000));
        assert_eq!(parse_bitrate("1.5M"), Ok(1_500_000));
        assert_eq!(parse_bitrate("800kbps"), Ok(800_000));
        assert_eq!(parse_bitrate("2500000"), Ok(2_500_000));
        assert!(parse_bitrate("fast").is_err());
        assert!(parse_bitrate("0").is_err());
        assert!(parse_bitrate("-5k").is_err());
        assert!(parse_bitrate("").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_seconds("2s"), Ok(2.0));
        assert_eq!(parse_seconds("500ms"), Ok(0.5));
        assert_eq!(parse_seconds("1.5"), Ok(1.5));
        assert_eq!(parse_seconds("2m"), Ok(120.0));
        assert!(parse_seconds("soon").is_err());
        assert!(parse_seconds("-1").is_err());
    }

    #[test]
    fn cli_to_settings() {
        let cli = Cli::try_parse_from([
            "rtmp-loadtest",
            "--url",
            "rtmp://127.0.0.1:1935/live/s",
            "--players",
            "10",
            "--duration",
            "5",
            "--threads",
            "4",
            "--gop",
            "1s",
            "--bitrate",
            "1M",
        ])
        .unwrap();
        let s = cli.into_settings().unwrap();
        assert_eq!(s.players, 10);
        assert_eq!(s.threads, 4);
        assert_eq!(s.bitrate, 1_000_000);
        assert_eq!(s.gop_s, 1.0);
        assert_eq!(s.source, SourceKind::Synthetic);
        assert!(s.publish);
        assert_eq!(s.read_interval_ms, 0);

        let cli = Cli::try_parse_from([
            "rtmp-loadtest",
            "--url",
            "rtmp://h/live/s",
            "--players",
            "0",
            "--duration",
            "5",
            "--threads",
            "8",
            "--source",
            "x.flv",
        ])
        .unwrap();
        let s = cli.into_settings().unwrap();
        assert_eq!(s.threads, 1);
        assert_eq!(s.source, SourceKind::File("x.flv".into()));

        let bad = Cli::try_parse_from([
            "rtmp-loadtest",
            "--url",
            "rtmp://h/live",
            "--players",
            "1",
            "--duration",
            "5",
        ])
        .unwrap();
        assert!(bad.into_settings().is_err());
        assert!(Cli::try_parse_from(["rtmp-loadtest", "--players", "1"]).is_err());

        let bursty = |ms: &str| {
            Cli::try_parse_from([
                "rtmp-loadtest",
                "--url",
                "rtmp://h/live/s",
                "--players",
                "1",
                "--duration",
                "5",
                "--read-interval-ms",
                ms,
            ])
            .unwrap()
            .into_settings()
        };
        assert_eq!(bursty("200").unwrap().read_interval_ms, 200);
        assert!(bursty("60001").is_err());
    }
}
