//! The limit refusals of `/metrics`: `rtmp_edge_limit_refused_total{limit=...}`, one series
//! per [`LimitKind`] (a fixed, small set), summed over the shards. Pure function.
use super::text::{Kind, PromText};
use crate::shard::snapshot::ShardSnapshot;
use crate::shard::LimitKind;
use std::sync::Arc;

pub(super) fn write(p: &mut PromText, snapshots: &[Arc<ShardSnapshot>]) {
    const NAME: &str = "rtmp_edge_limit_refused_total";
    p.family(
        NAME,
        Kind::Counter,
        "Connections, requests and messages refused by a limit ([limits], \
         publish.max_message_size), by limit.",
    );
    for kind in LimitKind::ALL {
        let n: u64 = snapshots
            .iter()
            .map(|s| s.stats.limit_refused[kind.index()])
            .sum();
        p.sample(NAME, &[("limit", kind.as_str())], n as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_has_a_series() {
        let mut snap = super::super::tests::sample(0);
        snap.stats.limit_refused[LimitKind::AmfDepth.index()] = 3;
        let snap = Arc::new(snap);
        let mut p = PromText::new();
        write(&mut p, &[snap.clone(), snap]);
        let text = p.finish();
        assert!(
            text.contains("rtmp_edge_limit_refused_total{limit=\"amf_depth\"} 6"),
            "{text}"
        );
        assert!(text.contains("rtmp_edge_limit_refused_total{limit=\"connections_per_ip\"} 0"));
    }
}
