//! Probes of the ArkTSUtils side (`SendableLruCache`, sendable values through serialization,
//! observability) against the ArkTS documentation and against bad input: user `Hash`, `Clone`
//! and `Drop` that panic, values the serializer cannot represent, degenerate capacities.

use std::hash::{Hash, Hasher};
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};
use taskpool::{SendableLruCache, Shared, TaskPool, concurrent, sendable};

/// A key whose `Hash` panics on one chosen call (counted from 1; 0 never panics): a transient
/// failure in user code that runs under the cache's lock.
#[derive(Clone)]
struct Fragile {
    id: u32,
    hashes: Arc<AtomicU32>,
    panics_on: Arc<AtomicU32>,
}

impl Fragile {
    fn new(id: u32) -> Fragile {
        Fragile {
            id,
            hashes: Arc::new(AtomicU32::new(0)),
            panics_on: Arc::new(AtomicU32::new(0)),
        }
    }

    /// Makes the `nth` next hash of this key (and of its clones) panic.
    fn panic_on_next(&self, nth: u32) {
        let done = self.hashes.load(Ordering::SeqCst);
        self.panics_on.store(done + nth, Ordering::SeqCst);
    }
}

impl Hash for Fragile {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let call = self.hashes.fetch_add(1, Ordering::SeqCst) + 1;
        assert_ne!(
            call,
            self.panics_on.load(Ordering::SeqCst),
            "hash of {} refused",
            self.id
        );
        self.id.hash(state);
    }
}

impl PartialEq for Fragile {
    fn eq(&self, other: &Fragile) -> bool {
        self.id == other.id
    }
}

impl Eq for Fragile {}

fn ids(cache: &SendableLruCache<Fragile, u32>) -> Vec<u32> {
    cache.keys().iter().map(|key| key.id).collect()
}

fn capacity(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

/// Runs `f`, which must panic.
fn panics(f: impl FnOnce()) {
    assert!(
        catch_unwind(AssertUnwindSafe(f)).is_err(),
        "expected a panic"
    );
}

#[test]
fn a_key_whose_hash_panics_during_an_eviction_stays_evictable() {
    let cache = SendableLruCache::with_capacity(capacity(1));
    let old = Fragile::new(1);
    cache.put(old.clone(), 10);
    old.panic_on_next(1); // the eviction's lookup of `old`
    panics(|| {
        cache.put(Fragile::new(2), 20);
    });
    // Whatever the panic left, the listing and the count agree.
    assert_eq!(cache.len(), cache.keys().len(), "keys {:?}", ids(&cache));
    cache.put(Fragile::new(3), 30);
    assert_eq!(
        ids(&cache),
        [3],
        "the newest entry stays, the older ones go"
    );
    assert_eq!(cache.len(), 1);
    assert_eq!(cache.get(&Fragile::new(3)), Some(30));
    assert_eq!(cache.remove_count(), 2, "1 and 2 were evicted");
}

#[test]
fn a_key_whose_hash_panics_while_it_is_put_leaves_no_trace() {
    let cache = SendableLruCache::with_capacity(capacity(1));
    cache.put(Fragile::new(0), 0);
    let fragile = Fragile::new(1);
    fragile.panic_on_next(2); // the first hash looks for a previous value, the second inserts
    panics(|| {
        cache.put(fragile.clone(), 10);
    });
    assert!(!cache.contains(&fragile));
    cache.put(Fragile::new(2), 20);
    cache.put(Fragile::new(3), 30);
    assert_eq!(ids(&cache), [3]);
    assert_eq!(
        cache.remove_count(),
        2,
        "0 and 2 were evicted, nothing else"
    );
}
