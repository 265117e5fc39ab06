//! The access-control families: `rtmp_edge_auth_refused_total{action,reason}` (publish and
//! play by `DenyReason`, and `connect` refused for an unknown app).
use super::text::{Kind, PromText};
use crate::auth::{Action, DenyReason};
use crate::shard::snapshot::ShardSnapshot;
use std::sync::Arc;

const NAME: &str = "rtmp_edge_auth_refused_total";

pub(super) fn refusals(p: &mut PromText, snapshots: &[Arc<ShardSnapshot>]) {
    p.family(
        NAME,
        Kind::Counter,
        "Requests refused by access control, by action and reason.",
    );
    for action in Action::ALL {
        for reason in DenyReason::ALL {
            let n: u64 = snapshots
                .iter()
                .map(|s| s.stats.auth_refused[action.index()][reason.index()])
                .sum();
            p.sample(
                NAME,
                &[("action", action.as_str()), ("reason", reason.as_str())],
                n as f64,
            );
        }
    }
    let connects: u64 = snapshots.iter().map(|s| s.stats.connects_refused).sum();
    p.sample(
        NAME,
        &[
            ("action", "connect"),
            ("reason", DenyReason::UnknownApp.as_str()),
        ],
        connects as f64,
    );
}
