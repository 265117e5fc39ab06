//! HTTP delivery from the shards: the sans-IO HTTP/1.1 side of a shard connection (request
//! heads read with `httparse` as a push parser, response heads written, the router), used by
//! the shard core's HTTP connection kind (`shard::core::http`); HTTP-FLV streams a stream as
//! an FLV file; the CMAF segmenter (`cmaf`) and the HLS / DASH manifests over its segments
//! (`hls`, `dash`) serve the segment routes of [`route::Route`].
//!
//! Never does I/O, never reads a clock. Call order per connection: [`RequestReader::push`]
//! for bytes read, [`RequestReader::poll_request`] while the connection may start a new
//! response, [`route::route`] on its target, then the response bytes from [`response`].
pub mod cmaf;
pub mod dash;
pub mod hls;
pub mod response;
pub mod route;

mod request;

pub use request::{Method, Request, RequestError, RequestLimits, RequestReader};
pub use route::{route, Route, SegmentFile};
