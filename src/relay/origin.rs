//! Which origin to try, and when: the origin order for a stream (`ordered`, or rendezvous
//! hashing of the stream key over the origin list) and the capped, jittered exponential
//! backoff between rounds.
//!
//! Pure functions: no clock (delays are durations the caller adds to its `now`), no
//! randomness of its own (the caller passes its seeded generator).
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a stream's origin is chosen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OriginChoice {
    /// Try the origins in the configured order, failing over to the next.
    #[default]
    Ordered,
    /// Rendezvous (highest random weight) hashing of the stream key: every edge of a fleet
    /// tries a given stream's origins in the same order, and a dead origin only moves its own
    /// streams.
    Hash,
}

/// The order in which to try `origins` (given by their identities, e.g. `host:port/app`) for
/// `stream`: indices into `origins`.
pub fn origin_order(choice: OriginChoice, stream: &str, origins: &[String]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..origins.len()).collect();
    if choice == OriginChoice::Hash {
        // Highest score first; ties (equal hashes) by index, so the order is total.
        order.sort_by_key(|&i| (std::cmp::Reverse(rendezvous(stream, &origins[i])), i));
    }
    order
}

/// The rendezvous score of `origin` for `stream`: FNV-1a 64 of both, then a mix, stable
/// across processes and builds.
fn rendezvous(stream: &str, origin: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in stream.bytes().chain([0xff]).chain(origin.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // splitmix64's finalizer: FNV's low bits are weak for similar inputs.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The first delay of a backoff, and its cap.
pub const BACKOFF_BASE: Duration = Duration::from_millis(250);
pub const BACKOFF_CAP: Duration = Duration::from_secs(5);

/// The delay before retry round `round` (0 = the first retry): `BACKOFF_BASE * 2^round`,
/// capped at `BACKOFF_CAP`, then jittered to between half and all of it.
pub fn backoff(round: u32, rng: &mut fastrand::Rng) -> Duration {
    let full = BACKOFF_BASE
        .saturating_mul(1u32 << round.min(16))
        .min(BACKOFF_CAP);
    full.mul_f64(0.5 + 0.5 * rng.f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("10.0.0.{i}:1935/live")).collect()
    }

    #[test]
    fn ordered_keeps_the_configured_order() {
        assert_eq!(
            origin_order(OriginChoice::Ordered, "live/a", &origins(3)),
            vec![0, 1, 2]
        );
    }

    #[test]
    fn hash_is_stable_and_a_dead_origin_moves_only_its_streams() {
        let all = origins(4);
        let streams: Vec<String> = (0..400).map(|i| format!("live/s{i}")).collect();
        let first =
            |list: &[String], s: &str| list[origin_order(OriginChoice::Hash, s, list)[0]].clone();
        let mut per_origin = [0usize; 4];
        for s in &streams {
            let f = first(&all, s);
            assert_eq!(f, first(&all, s));
            per_origin[all.iter().position(|o| *o == f).unwrap()] += 1;
        }
        // Roughly even: every origin gets a fair share.
        assert!(per_origin.iter().all(|&n| n > 50), "{per_origin:?}");
        // Origin 2 dies: streams that were elsewhere stay where they were.
        let without: Vec<String> = all.iter().filter(|o| **o != all[2]).cloned().collect();
        for s in &streams {
            let before = first(&all, s);
            if before != all[2] {
                assert_eq!(first(&without, s), before);
            }
        }
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let mut rng = fastrand::Rng::with_seed(7);
        for round in 0..40 {
            let d = backoff(round, &mut rng);
            let full = BACKOFF_BASE
                .saturating_mul(1 << round.min(16))
                .min(BACKOFF_CAP);
            assert!(d >= full / 2 && d <= full, "{round}: {d:?}");
        }
    }
}
