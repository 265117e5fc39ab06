//! Parsing of `rtmp://HOST[:PORT]/APP/STREAM[?QUERY]` into what a client session needs, and
//! of `rtmp://HOST[:PORT]/APP` (an origin or push target, the stream left to the caller).
//! `rtmps://` (RTMP over TLS, default port 443) parses the same way with `tls` set.
//!
//! The first path segment is the application, everything after it (slashes and query
//! included) is the stream name, as FFmpeg and OBS split it. Pure string work: no name
//! resolution here (the caller resolves `host` once at start). Shared by the relay and the
//! load tester.
use std::fmt;

pub const DEFAULT_PORT: u16 = 1935;
/// The port of `rtmps://` URLs without one (what FFmpeg and the CDNs use).
pub const DEFAULT_TLS_PORT: u16 = 443;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmpUrl {
    /// Host name or address, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    pub app: String,
    /// Stream name, with its `?query` if any.
    pub stream: String,
    /// `rtmps://`: RTMP inside TLS; `host` is the name the server's certificate must carry.
    pub tls: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("URL must start with rtmp:// or rtmps://")]
    Scheme,
    #[error("URL has no host")]
    NoHost,
    #[error("bad port {0:?}")]
    BadPort(String),
    #[error("URL needs an application and a stream: rtmp://HOST[:PORT]/APP/STREAM")]
    NoPath,
    #[error("URL needs exactly an application: rtmp://HOST[:PORT]/APP")]
    NoApp,
}

impl RtmpUrl {
    pub fn parse(url: &str) -> Result<RtmpUrl, UrlError> {
        let (rest, tls) = strip_scheme(url).ok_or(UrlError::Scheme)?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = split_host_port(authority, tls)?;
        if host.is_empty() {
            return Err(UrlError::NoHost);
        }
        let (app, stream) = path.split_once('/').ok_or(UrlError::NoPath)?;
        if app.is_empty() || stream.is_empty() {
            return Err(UrlError::NoPath);
        }
        Ok(RtmpUrl {
            host: host.to_string(),
            port,
            app: app.to_string(),
            stream: stream.to_string(),
            tls,
        })
    }

    /// Parses `rtmp://HOST[:PORT]/APP` (a trailing slash allowed); `stream` is left empty.
    pub fn parse_app(url: &str) -> Result<RtmpUrl, UrlError> {
        let (rest, tls) = strip_scheme(url).ok_or(UrlError::Scheme)?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = split_host_port(authority, tls)?;
        if host.is_empty() {
            return Err(UrlError::NoHost);
        }
        let app = path.strip_suffix('/').unwrap_or(path);
        if app.is_empty() || app.contains('/') {
            return Err(UrlError::NoApp);
        }
        Ok(RtmpUrl {
            host: host.to_string(),
            port,
            app: app.to_string(),
            stream: String::new(),
            tls,
        })
    }

    /// The `tcUrl` sent in connect: everything up to and including the application.
    pub fn tc_url(&self) -> String {
        let scheme = if self.tls { "rtmps" } else { "rtmp" };
        format!("{scheme}://{}/{}", self.authority(), self.app)
    }

    /// `host:port` as a socket address string (IPv6 hosts bracketed).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for RtmpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tc_url(), self.stream)
    }
}

/// The rest after `rtmp://` or `rtmps://`, and whether it was `rtmps`.
fn strip_scheme(url: &str) -> Option<(&str, bool)> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.eq_ignore_ascii_case("rtmp") {
        Some((rest, false))
    } else if scheme.eq_ignore_ascii_case("rtmps") {
        Some((rest, true))
    } else {
        None
    }
}

fn split_host_port(authority: &str, tls: bool) -> Result<(&str, u16), UrlError> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or(UrlError::NoHost)?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(UrlError::BadPort(after.to_string())),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None if tls => DEFAULT_TLS_PORT,
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ => return Err(UrlError::BadPort(p.to_string())),
        },
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_url() {
        let u = RtmpUrl::parse("rtmp://127.0.0.1:1936/live/s").unwrap();
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(u.port, 1936);
        assert_eq!(u.app, "live");
        assert_eq!(u.stream, "s");
        assert_eq!(u.tc_url(), "rtmp://127.0.0.1:1936/live");
        assert_eq!(u.authority(), "127.0.0.1:1936");
        assert_eq!(u.to_string(), "rtmp://127.0.0.1:1936/live/s");
    }

    #[test]
    fn default_port_and_query() {
        let u = RtmpUrl::parse("RTMP://example.com/app/a/b?key=1").unwrap();
        assert_eq!(u.port, 1935);
        assert_eq!(u.app, "app");
        assert_eq!(u.stream, "a/b?key=1");
    }

    #[test]
    fn rtmps() {
        let u = RtmpUrl::parse("rtmps://live.example.com/app/key").unwrap();
        assert!(u.tls);
        assert_eq!(u.port, 443);
        assert_eq!(u.tc_url(), "rtmps://live.example.com:443/app");
        let u = RtmpUrl::parse_app("RTMPS://127.0.0.1:1936/live").unwrap();
        assert!(u.tls);
        assert_eq!(u.port, 1936);
        assert!(!RtmpUrl::parse("rtmp://h/a/s").unwrap().tls);
        assert_eq!(RtmpUrl::parse("rtmpt://h/a/s"), Err(UrlError::Scheme));
    }

    #[test]
    fn ipv6() {
        let u = RtmpUrl::parse("rtmp://[::1]:2000/live/x").unwrap();
        assert_eq!(u.host, "::1");
        assert_eq!(u.port, 2000);
        assert_eq!(u.authority(), "[::1]:2000");
        let u = RtmpUrl::parse("rtmp://[::1]/live/x").unwrap();
        assert_eq!(u.port, 1935);
    }

    #[test]
    fn app_only() {
        let u = RtmpUrl::parse_app("rtmp://127.0.0.1:1936/live/").unwrap();
        assert_eq!(
            (u.port, u.app.as_str(), u.stream.as_str()),
            (1936, "live", "")
        );
        assert_eq!(RtmpUrl::parse_app("rtmp://h"), Err(UrlError::NoApp));
        assert_eq!(RtmpUrl::parse_app("rtmp://h/a/b"), Err(UrlError::NoApp));
    }

    #[test]
    fn errors() {
        assert_eq!(RtmpUrl::parse("http://h/a/s"), Err(UrlError::Scheme));
        assert_eq!(RtmpUrl::parse("h/a/s"), Err(UrlError::Scheme));
        assert_eq!(RtmpUrl::parse("rtmp:///a/s"), Err(UrlError::NoHost));
        assert_eq!(
            RtmpUrl::parse("rtmp://h:x/a/s"),
            Err(UrlError::BadPort("x".into()))
        );
        assert_eq!(
            RtmpUrl::parse("rtmp://h:0/a/s"),
            Err(UrlError::BadPort("0".into()))
        );
        assert_eq!(
            RtmpUrl::parse("rtmp://h:99999/a/s"),
            Err(UrlError::BadPort("99999".into()))
        );
        assert_eq!(RtmpUrl::parse("rtmp://h/a"), Err(UrlError::NoPath));
        assert_eq!(RtmpUrl::parse("rtmp://h/a/"), Err(UrlError::NoPath));
        assert_eq!(RtmpUrl::parse("rtmp://h//s"), Err(UrlError::NoPath));
        assert_eq!(RtmpUrl::parse("rtmp://h"), Err(UrlError::NoPath));
    }
}
