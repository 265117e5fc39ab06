//! The node-wide directory of segmented (HLS/DASH) streams: stream key to the home shard's
//! [`SharedStream`], with a bitmask of the shards holding requests that wait for its next
//! part. Touched at stream start and stop, at request time, once per published part (never
//! per frame), and by each shard's sweep. An ended stream's entry stays (its last window,
//! marked ended) until the sweep drops it or a new publisher replaces it.
use crate::http::cmaf::SharedStream;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

struct Entry {
    shared: Arc<SharedStream>,
    /// Bit `i`: shard `i` has requests waiting for this stream's next version.
    waiters: u64,
    /// When the stream ended (its window is then served as ended until the sweep drops it).
    ended_at: Option<Instant>,
}

#[derive(Default)]
pub struct CmafDirectory {
    streams: Mutex<HashMap<String, Entry>>,
}

impl CmafDirectory {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // A poisoned map is still a whole map (every update is one insert or remove).
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The home shard's segmenter of `key` started.
    pub fn register(&self, key: &str, shared: Arc<SharedStream>) {
        let entry = Entry {
            shared,
            waiters: 0,
            ended_at: None,
        };
        self.lock().insert(key.to_owned(), entry);
    }

    /// The segmenter of `key` finished at `now` (its window is marked ended); returns the
    /// shards that had waiters. With `keep` zero the entry goes at once, else it stays until
    /// [`CmafDirectory::sweep`] finds it older than `keep`. Only `shared`'s own entry is
    /// touched (a newer publisher may have registered since).
    pub fn finish(
        &self,
        key: &str,
        shared: &Arc<SharedStream>,
        keep: Duration,
        now: Instant,
    ) -> u64 {
        let mut map = self.lock();
        match map.get_mut(key) {
            Some(e) if Arc::ptr_eq(&e.shared, shared) => {
                let waiters = std::mem::take(&mut e.waiters);
                if keep.is_zero() {
                    map.remove(key);
                } else {
                    e.ended_at = Some(now);
                }
                waiters
            }
            _ => 0,
        }
    }

    /// Drops the ended streams older than `keep` at `now`.
    pub fn sweep(&self, keep: Duration, now: Instant) {
        self.lock().retain(|_, e| {
            e.ended_at
                .is_none_or(|at| now.saturating_duration_since(at) <= keep)
        });
    }

    pub fn get(&self, key: &str) -> Option<Arc<SharedStream>> {
        self.lock().get(key).map(|e| e.shared.clone())
    }

    /// Shard `shard` holds a request waiting for `key`'s next version.
    pub fn wait(&self, key: &str, shard: usize) {
        if let Some(e) = self.lock().get_mut(key) {
            e.waiters |= 1u64 << (shard % 64);
        }
    }

    /// The shards with waiters for `key` (cleared: they register again if still waiting).
    pub fn take_waiters(&self, key: &str) -> u64 {
        self.lock()
            .get_mut(key)
            .map_or(0, |e| std::mem::take(&mut e.waiters))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::cmaf::fixtures::settings;
    use crate::http::cmaf::Segmenter;
    use crate::http::cmaf::WallClock;
    use std::time::UNIX_EPOCH;

    fn stream(now: Instant) -> Arc<SharedStream> {
        let clock = WallClock {
            instant: now,
            system: UNIX_EPOCH,
        };
        Segmenter::new(settings(), clock).shared().clone()
    }

    #[test]
    fn an_ended_stream_stays_until_the_sweep_finds_it_old() {
        let t0 = Instant::now();
        let dir = CmafDirectory::default();
        let a = stream(t0);
        dir.register("live/a", a.clone());
        dir.wait("live/a", 1);
        let keep = Duration::from_secs(10);
        assert_eq!(dir.finish("live/a", &a, keep, t0), 0b10);
        dir.sweep(keep, t0 + keep);
        assert!(dir.get("live/a").is_some(), "kept for `keep`");
        dir.sweep(keep, t0 + keep + Duration::from_millis(1));
        assert!(dir.get("live/a").is_none());
    }

    #[test]
    fn a_new_publisher_replaces_an_ended_window_and_is_not_swept() {
        let t0 = Instant::now();
        let dir = CmafDirectory::default();
        let (old, new) = (stream(t0), stream(t0));
        let keep = Duration::from_secs(1);
        dir.register("live/a", old.clone());
        dir.finish("live/a", &old, keep, t0);
        dir.register("live/a", new.clone());
        // The old segmenter finishing again (or late) does not touch the new entry.
        assert_eq!(dir.finish("live/a", &old, keep, t0), 0);
        dir.sweep(keep, t0 + Duration::from_secs(60));
        let got = dir.get("live/a").expect("the live stream stays");
        assert!(Arc::ptr_eq(&got, &new));
    }

    #[test]
    fn without_keep_an_ended_stream_goes_at_once() {
        let t0 = Instant::now();
        let dir = CmafDirectory::default();
        let a = stream(t0);
        dir.register("live/a", a.clone());
        dir.finish("live/a", &a, Duration::ZERO, t0);
        assert!(dir.get("live/a").is_none());
    }
}
