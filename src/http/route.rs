//! The router: one place that turns a request target into what the shard serves, with the
//! stream's app, name and query string.
//!
//! Routes (`APP` may hold slashes, `STREAM` is one path segment):
//! - `/APP/STREAM.flv`: HTTP-FLV, the live stream as an FLV file.
//! - `/APP/STREAM/index.m3u8`, `/APP/STREAM/index.mpd` and other files under
//!   `/APP/STREAM/`: HLS / DASH over CMAF ([`Route::Segment`]; answered 404 until the CMAF
//!   integration serves them).
//!
//! Pure: no I/O, no state.

/// What a request target asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET /APP/STREAM.flv`.
    Flv(StreamPath<'a>),
    /// A file of a segmented stream under `/APP/STREAM/`.
    Segment {
        stream: StreamPath<'a>,
        file: SegmentFile<'a>,
    },
    /// Nothing here.
    NotFound,
}

/// The stream a route names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPath<'a> {
    pub app: &'a str,
    pub stream: &'a str,
    /// The query string without `?` (empty when none).
    pub query: &'a str,
}

impl StreamPath<'_> {
    /// The stream key the shards use (`app/stream`).
    pub fn key(&self) -> String {
        format!("{}/{}", self.app, self.stream)
    }
}

/// Which file of a segmented stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentFile<'a> {
    /// `index.m3u8`: the HLS (LL-HLS) playlist.
    HlsPlaylist,
    /// `index.mpd`: the DASH manifest.
    DashManifest,
    /// Any other file name (init segment, segment, part), for the CMAF side to interpret.
    Other(&'a str),
}

/// Routes a request target (origin form: `/path?query`).
pub fn route(target: &str) -> Route<'_> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let Some(path) = path.strip_prefix('/') else {
        return Route::NotFound;
    };
    if path.split('/').any(|s| !valid_segment(s)) {
        return Route::NotFound;
    }
    let Some((dir, last)) = path.rsplit_once('/') else {
        return Route::NotFound;
    };
    if let Some(stream) = last.strip_suffix(".flv") {
        if stream.is_empty() {
            return Route::NotFound;
        }
        return Route::Flv(StreamPath {
            app: dir,
            stream,
            query,
        });
    }
    let Some((app, stream)) = dir.rsplit_once('/') else {
        return Route::NotFound;
    };
    let file = match last {
        "index.m3u8" => SegmentFile::HlsPlaylist,
        "index.mpd" => SegmentFile::DashManifest,
        other => SegmentFile::Other(other),
    };
    Route::Segment {
        stream: StreamPath { app, stream, query },
        file,
    }
}

/// A path segment a stream route may carry: not empty, no dot segments, printable ASCII
/// without percent escapes (stream keys are sent as they are published).
fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'%' && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp<'a>(app: &'a str, stream: &'a str, query: &'a str) -> StreamPath<'a> {
        StreamPath { app, stream, query }
    }

    #[test]
    fn flv_routes_carry_app_stream_and_query() {
        assert_eq!(route("/live/s.flv"), Route::Flv(sp("live", "s", "")));
        assert_eq!(
            route("/live/sub/cam1.flv?token=abc&x=1"),
            Route::Flv(sp("live/sub", "cam1", "token=abc&x=1"))
        );
        assert_eq!(sp("live", "s", "").key(), "live/s");
    }

    #[test]
    fn segment_routes_are_one_plug() {
        assert_eq!(
            route("/live/s/index.m3u8?t=1"),
            Route::Segment {
                stream: sp("live", "s", "t=1"),
                file: SegmentFile::HlsPlaylist
            }
        );
        assert_eq!(
            route("/live/s/index.mpd"),
            Route::Segment {
                stream: sp("live", "s", ""),
                file: SegmentFile::DashManifest
            }
        );
        assert_eq!(
            route("/live/s/seg-12.m4s"),
            Route::Segment {
                stream: sp("live", "s", ""),
                file: SegmentFile::Other("seg-12.m4s")
            }
        );
    }

    #[test]
    fn everything_else_is_not_found() {
        for t in [
            "",
            "/",
            "/s.flv",
            "/live/.flv",
            "/live//s.flv",
            "/../s.flv",
            "/live/../s.flv",
            "/live/s%20x.flv",
            "*",
            "http://h/live/s.flv",
            "/live/s",
            "/live/s/",
        ] {
            assert_eq!(route(t), Route::NotFound, "{t}");
        }
    }
}
