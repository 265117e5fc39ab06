//! The cross-shard stream registry: which shard is a stream's home (its publisher's shard) and
//! which shards have players for it.
//!
//! Touched only when a publish or play starts or stops, never per message, so one mutex is
//! enough. Every decision that must be atomic across shards (who publishes, who must be told)
//! is made under it, so a publisher and a first player arriving at once on two shards can
//! never miss each other: exactly one of them learns about the other.
//!
//! Pulls (a stream fetched from an origin on demand) are decided here too: the first player
//! of a stream nobody publishes, on whatever shard, claims the publisher slot for a pull
//! ([`Registry::add_player_or_pull`]), so a node opens one upstream per stream; the pull
//! gives it back with [`Registry::release_pull`], which refuses while players remain.
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// The live publisher of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublisherRef {
    pub shard: usize,
    /// The connection's slab key on that shard.
    pub token: usize,
    /// Increases with every publisher the stream has had; stale messages carry an old one.
    pub generation: u64,
}

/// The answer to a publisher's claim on a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    Granted {
        generation: u64,
        /// Where the previous publisher's timeline ended, if players may have stayed.
        continue_after: Option<u32>,
        /// Every shard with players for the stream (may include the claiming shard).
        player_shards: Vec<usize>,
        /// The publisher replaced by a takeover; its shard must close it.
        evicted: Option<PublisherRef>,
    },
    /// The stream is live and takeover is off.
    Busy,
}

/// What [`Registry::add_player_or_pull`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayerAdded {
    /// The stream's source: a live publisher, or a pull (possibly the caller's own claim).
    pub publisher: Option<PublisherRef>,
    /// The caller's shard had no player of the stream before (subscribe to the source).
    pub first_on_shard: bool,
    /// The caller must start pulling the stream as this publisher generation.
    pub pull: Option<u64>,
}

/// The token of a publisher slot held by a pull rather than a connection.
pub const PULL_TOKEN: usize = usize::MAX;

#[derive(Debug, Default)]
struct Entry {
    publisher: Option<PublisherRef>,
    /// Players per shard.
    players: Vec<u32>,
    last_timestamp: Option<u32>,
}

impl Entry {
    fn is_unused(&self) -> bool {
        self.publisher.is_none() && self.players.iter().all(|&n| n == 0)
    }
}

pub struct Registry {
    shards: usize,
    streams: Mutex<HashMap<String, Entry>>,
    next_generation: Mutex<u64>,
    /// The segmented (HLS/DASH) streams of the node.
    pub cmaf: super::cmaf_directory::CmafDirectory,
}

impl Registry {
    pub fn new(shards: usize) -> Self {
        Registry {
            shards,
            streams: Mutex::new(HashMap::new()),
            next_generation: Mutex::new(1),
            cmaf: Default::default(),
        }
    }

    /// The number of shards the registry was made for.
    pub fn shards(&self) -> usize {
        self.shards
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn generation(&self) -> u64 {
        let mut next = self
            .next_generation
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let g = *next;
        *next += 1;
        g
    }

    /// A publisher on `shard` (connection `token`) wants `key`.
    pub fn claim_publisher(&self, key: &str, shard: usize, token: usize, takeover: bool) -> Claim {
        let mut streams = self.lock();
        let entry = streams.entry(key.to_string()).or_default();
        if entry.publisher.is_some() && !takeover {
            return Claim::Busy;
        }
        let generation = self.generation();
        let evicted = entry.publisher.replace(PublisherRef {
            shard,
            token,
            generation,
        });
        // A replaced publisher's last timestamp is noted at keyframes and sweeps (never per
        // message), so step a second past it: a small jump forward, never a jump back.
        let continue_after = match evicted {
            Some(_) => entry.last_timestamp.map(|t| t.wrapping_add(1000)),
            None => entry.last_timestamp,
        };
        let player_shards = entry
            .players
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(s, _)| s)
            .collect();
        Claim::Granted {
            generation,
            continue_after,
            player_shards,
            evicted,
        }
    }

    /// Records how far the current publisher's timeline got, for a successor.
    pub fn note_timestamp(&self, key: &str, generation: u64, timestamp: u32) {
        if let Some(entry) = self.lock().get_mut(key) {
            if entry.publisher.is_some_and(|p| p.generation == generation) {
                entry.last_timestamp = Some(timestamp);
            }
        }
    }

    /// The publisher of `generation` left. Returns false if it had already been replaced.
    pub fn release_publisher(
        &self,
        key: &str,
        generation: u64,
        last_timestamp: Option<u32>,
    ) -> bool {
        let mut streams = self.lock();
        let Some(entry) = streams.get_mut(key) else {
            return false;
        };
        if entry.publisher.is_none_or(|p| p.generation != generation) {
            return false;
        }
        entry.publisher = None;
        if last_timestamp.is_some() {
            entry.last_timestamp = last_timestamp;
        }
        if entry.is_unused() {
            streams.remove(key);
        }
        true
    }

    /// A player on `shard` starts playing `key`. Returns the live publisher, if any; the
    /// caller subscribes to its shard only when `first_on_shard` is true.
    pub fn add_player(&self, key: &str, shard: usize) -> (Option<PublisherRef>, bool) {
        let mut streams = self.lock();
        let entry = streams.entry(key.to_string()).or_default();
        if entry.players.len() < self.shards {
            entry.players.resize(self.shards, 0);
        }
        let first_on_shard = entry.players[shard % self.shards] == 0;
        entry.players[shard % self.shards] += 1;
        (entry.publisher, first_on_shard)
    }

    /// Like [`Registry::add_player`]; in addition, when `may_pull` and nobody publishes
    /// `key`, the caller's shard claims the publisher slot for a pull (token [`PULL_TOKEN`]).
    /// Atomic: of players arriving at once on several shards, exactly one pulls and the
    /// others see its claim as the publisher.
    pub fn add_player_or_pull(&self, key: &str, shard: usize, may_pull: bool) -> PlayerAdded {
        let mut streams = self.lock();
        let entry = streams.entry(key.to_string()).or_default();
        if entry.players.len() < self.shards {
            entry.players.resize(self.shards, 0);
        }
        let first_on_shard = entry.players[shard % self.shards] == 0;
        entry.players[shard % self.shards] += 1;
        let mut pull = None;
        if may_pull && entry.publisher.is_none() {
            let generation = self.generation();
            entry.publisher = Some(PublisherRef {
                shard,
                token: PULL_TOKEN,
                generation,
            });
            pull = Some(generation);
        }
        PlayerAdded {
            publisher: entry.publisher,
            first_on_shard,
            pull,
        }
    }

    /// The pull `generation` of `key` gives its publisher slot back: always when `force`
    /// (the stream was not found), otherwise only if no shard has players for it (idle
    /// close; a player that arrived meanwhile keeps the pull alive). Returns whether it did.
    pub fn release_pull(&self, key: &str, generation: u64, force: bool) -> bool {
        let mut streams = self.lock();
        let Some(entry) = streams.get_mut(key) else {
            return false;
        };
        if entry.publisher.is_none_or(|p| p.generation != generation) {
            return false;
        }
        if !force && entry.players.iter().any(|&n| n > 0) {
            return false;
        }
        entry.publisher = None;
        if entry.is_unused() {
            streams.remove(key);
        }
        true
    }

    /// A player on `shard` stopped. Returns the live publisher and whether that was the
    /// shard's last player of `key` (then it unsubscribes).
    pub fn remove_player(&self, key: &str, shard: usize) -> (Option<PublisherRef>, bool) {
        let mut streams = self.lock();
        let Some(entry) = streams.get_mut(key) else {
            return (None, false);
        };
        let Some(count) = entry.players.get_mut(shard % self.shards) else {
            return (None, false);
        };
        *count = count.saturating_sub(1);
        let last_on_shard = *count == 0;
        let publisher = entry.publisher;
        if entry.is_unused() {
            streams.remove(key);
        }
        (publisher, last_on_shard)
    }

    /// The live publisher of `key`, if any.
    pub fn publisher(&self, key: &str) -> Option<PublisherRef> {
        self.lock().get(key).and_then(|e| e.publisher)
    }

    /// Players of `key` on all shards, or None for a stream the registry does not know.
    pub fn players(&self, key: &str) -> Option<u32> {
        self.lock().get(key).map(|e| e.players.iter().sum())
    }

    /// Number of streams known (with a publisher or players).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_publisher_is_busy_unless_takeover() {
        let r = Registry::new(2);
        assert!(matches!(
            r.claim_publisher("live/a", 0, 7, false),
            Claim::Granted { .. }
        ));
        assert_eq!(r.claim_publisher("live/a", 1, 3, false), Claim::Busy);
        match r.claim_publisher("live/a", 1, 3, true) {
            Claim::Granted {
                evicted: Some(old), ..
            } => assert_eq!((old.shard, old.token), (0, 7)),
            other => panic!("{other:?}"),
        }
        assert_eq!(r.publisher("live/a").map(|p| p.shard), Some(1));
    }

    #[test]
    fn player_first_then_publisher_sees_player_shards() {
        let r = Registry::new(2);
        assert_eq!(r.add_player("live/a", 1), (None, true));
        assert_eq!(r.add_player("live/a", 1), (None, false));
        match r.claim_publisher("live/a", 0, 1, false) {
            Claim::Granted {
                player_shards,
                continue_after: None,
                ..
            } => assert_eq!(player_shards, vec![1]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn republish_continues_the_timeline_while_players_stay() {
        let r = Registry::new(1);
        r.add_player("live/a", 0);
        let Claim::Granted { generation, .. } = r.claim_publisher("live/a", 0, 1, false) else {
            panic!()
        };
        assert!(r.release_publisher("live/a", generation, Some(9000)));
        let Claim::Granted { continue_after, .. } = r.claim_publisher("live/a", 0, 2, false) else {
            panic!()
        };
        assert_eq!(continue_after, Some(9000));
    }

    #[test]
    fn stale_release_after_takeover_is_ignored_and_entries_are_dropped_when_unused() {
        let r = Registry::new(1);
        let Claim::Granted { generation: g1, .. } = r.claim_publisher("k", 0, 1, true) else {
            panic!()
        };
        let Claim::Granted { generation: g2, .. } = r.claim_publisher("k", 0, 2, true) else {
            panic!()
        };
        assert!(!r.release_publisher("k", g1, None));
        assert!(r.release_publisher("k", g2, None));
        assert!(r.is_empty());
    }

    #[test]
    fn one_pull_per_stream_and_idle_release_waits_for_players() {
        let r = Registry::new(2);
        let a = r.add_player_or_pull("live/p", 0, true);
        let Some(g) = a.pull else { panic!("{a:?}") };
        let b = r.add_player_or_pull("live/p", 1, true);
        assert_eq!(b.pull, None);
        assert_eq!(
            b.publisher.map(|p| (p.shard, p.token)),
            Some((0, PULL_TOKEN))
        );
        // Players remain: an idle release is refused, a forced one is not.
        assert!(!r.release_pull("live/p", g, false));
        r.remove_player("live/p", 0);
        r.remove_player("live/p", 1);
        assert!(!r.release_pull("live/p", g + 1, false));
        assert!(r.release_pull("live/p", g, false));
        assert!(r.is_empty());
        let c = r.add_player_or_pull("live/p", 1, true);
        assert!(c.pull.is_some_and(|g2| g2 > g));
        assert!(r.release_pull("live/p", c.pull.unwrap(), true));
        // A publisher may take the slot now; without origins nobody pulls.
        assert_eq!(r.add_player_or_pull("live/q", 0, false).pull, None);
    }

    #[test]
    fn last_player_leaving_reports_it() {
        let r = Registry::new(2);
        r.add_player("k", 1);
        r.add_player("k", 1);
        assert_eq!(r.remove_player("k", 1), (None, false));
        assert_eq!(r.remove_player("k", 1), (None, true));
        assert!(r.is_empty());
    }
}
