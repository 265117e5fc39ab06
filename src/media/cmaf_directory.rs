//! The node-wide directory of segmented (HLS/DASH) streams: stream key to the home shard's
//! [`SharedStream`], with a bitmask of the shards holding requests that wait for its next
//! part. Touched at stream start and stop, at request time, and once per published part
//! (never per frame).
use crate::http::cmaf::SharedStream;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

struct Entry {
    shared: Arc<SharedStream>,
    /// Bit `i`: shard `i` has requests waiting for this stream's next version.
    waiters: u64,
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
        self.lock()
            .insert(key.to_owned(), Entry { shared, waiters: 0 });
    }

    /// The segmenter of `key` stopped; returns the shards that had waiters. Only `shared`'s
    /// own entry goes (a newer publisher may have registered since).
    pub fn unregister(&self, key: &str, shared: &Arc<SharedStream>) -> u64 {
        let mut map = self.lock();
        match map.get(key) {
            Some(e) if Arc::ptr_eq(&e.shared, shared) => map.remove(key).map_or(0, |e| e.waiters),
            _ => 0,
        }
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
