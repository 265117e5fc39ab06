//! The recorder's metrics: recordings running, stopped by errors (by kind), bytes written
//! and files opened, read from the recorder thread's counters. Pure text building.
use super::text::{Kind, PromText};
use crate::record::RecorderTotals;

/// The recording families, as exposition text to append after the others.
pub fn text(t: &RecorderTotals) -> String {
    let mut p = PromText::new();
    p.single(
        "rtmp_edge_recordings_active",
        Kind::Gauge,
        "Streams being recorded to files now.",
        t.active as f64,
    );
    p.family(
        "rtmp_edge_recording_errors_total",
        Kind::Counter,
        "Recordings stopped by an error, by kind (write: a failed open, write or close, \
         e.g. ENOSPC; queue_full: the disk could not keep up). The streams went on.",
    );
    for (kind, n) in [("write", t.write_errors), ("queue_full", t.queue_full)] {
        p.sample(
            "rtmp_edge_recording_errors_total",
            &[("kind", kind)],
            n as f64,
        );
    }
    p.single(
        "rtmp_edge_recording_written_bytes_total",
        Kind::Counter,
        "Bytes written to recording files.",
        t.bytes_written as f64,
    );
    p.single(
        "rtmp_edge_recording_files_total",
        Kind::Counter,
        "Recording files opened (one per split).",
        t.files_opened as f64,
    );
    p.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_values() {
        let t = RecorderTotals {
            active: 2,
            write_errors: 1,
            queue_full: 3,
            bytes_written: 4096,
            files_opened: 5,
        };
        let s = text(&t);
        for line in [
            "# TYPE rtmp_edge_recordings_active gauge",
            "rtmp_edge_recordings_active 2",
            "rtmp_edge_recording_errors_total{kind=\"write\"} 1",
            "rtmp_edge_recording_errors_total{kind=\"queue_full\"} 3",
            "rtmp_edge_recording_written_bytes_total 4096",
            "rtmp_edge_recording_files_total 5",
        ] {
            assert!(s.lines().any(|l| l == line), "{line} missing in\n{s}");
        }
    }
}
