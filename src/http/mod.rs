//! HTTP delivery: CMAF segmenting of live streams and the HLS / DASH manifests over them.
pub mod cmaf;
pub mod dash;
pub mod hls;
