//! `SendableLruCache` with keys whose `Eq` panics: what a panic under the cache's lock unwinds
//! through is dropped after the lock is released, each key and value quietly, and evictions
//! never run `Eq`. Regression tests: each failed before (a deadlock, a cache growing past its
//! capacity, an abort in a child process).

mod support;

use std::hash::{Hash, Hasher};
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use support::bounded;
use taskpool::SendableLruCache;

fn cap(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

/// A key whose `Eq` panics while `PANICS[id]` is set.
#[derive(Clone, Debug)]
struct Key(usize);

static PANICS: [AtomicBool; 16] = [const { AtomicBool::new(false) }; 16];

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}
impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        if PANICS[self.0].load(Ordering::SeqCst) || PANICS[other.0].load(Ordering::SeqCst) {
            panic!("eq of key {} refused", self.0);
        }
        self.0 == other.0
    }
}
impl Eq for Key {}

type Cache = SendableLruCache<Key, UsesCache>;

/// A value whose Drop calls into its cache (allowed by the docs: "a value's Drop may use the
/// cache"), once armed.
#[derive(Clone, Debug)]
struct UsesCache {
    cache: &'static OnceLock<Cache>,
    armed: Arc<AtomicBool>,
    saw: Arc<AtomicUsize>,
}

impl UsesCache {
    fn new(cache: &'static OnceLock<Cache>, armed: bool) -> UsesCache {
        UsesCache {
            cache,
            armed: Arc::new(AtomicBool::new(armed)),
            saw: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl Drop for UsesCache {
    fn drop(&mut self) {
        if self.armed.swap(false, Ordering::SeqCst) {
            let len = self.cache.get().unwrap().len();
            self.saw.store(len + 1, Ordering::SeqCst);
        }
    }
}

/// Once the least recently used, a key whose `Eq` panics is evicted like any other (an
/// eviction finds its entry by identity): the cache stays within its capacity — it used to
/// grow by one entry with every `put`, each of which panicked — and the evicted value, whose
/// `Drop` uses the cache, is dropped after the lock is released.
#[test]
fn a_key_whose_eq_panics_is_evicted_like_any_other() {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| SendableLruCache::with_capacity(cap(2)));
    let first_value = UsesCache::new(&CACHE, true);
    let saw = first_value.saw.clone();
    cache.put(Key(1), first_value);
    PANICS[1].store(true, Ordering::SeqCst);
    let puts = bounded("puts evicting a key whose Eq panics", || {
        for key in 2..6 {
            CACHE
                .get()
                .unwrap()
                .put(Key(key), UsesCache::new(&CACHE, false));
        }
        CACHE.get().unwrap().len()
    });
    PANICS[1].store(false, Ordering::SeqCst);
    assert_eq!(puts, 2);
    assert_eq!(cache.keys().iter().map(|k| k.0).collect::<Vec<_>>(), [4, 5]);
    assert!(
        saw.load(Ordering::SeqCst) > 0,
        "the evicted value was dropped"
    );
}

/// The new key's `Eq` panics while `put` looks for the entry it replaces: the value being put
/// is dropped by the unwind, after the lock is released (it used to be dropped under it, and
/// its `Drop`, using the cache, deadlocked).
#[test]
fn an_eq_panic_in_put_drops_the_new_value_outside_the_lock() {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| SendableLruCache::with_capacity(cap(4)));
    cache.put(Key(5), UsesCache::new(&CACHE, false));
    PANICS[5].store(true, Ordering::SeqCst);
    let value = UsesCache::new(&CACHE, true);
    let saw = value.saw.clone();
    let panicked = bounded("a put whose Eq panics", move || {
        catch_unwind(AssertUnwindSafe(|| {
            CACHE.get().unwrap().put(Key(5), value);
        }))
        .is_err()
    });
    PANICS[5].store(false, Ordering::SeqCst);
    assert!(panicked, "Eq panicked");
    assert_eq!(
        saw.load(Ordering::SeqCst),
        2,
        "the refused value's Drop saw the cache"
    );
    assert_eq!(cache.len(), 1);
}

/// A value whose Drop panics unconditionally (not only when not unwinding).
#[derive(Clone, Debug)]
struct AlwaysPanicsOnDrop(Arc<AtomicBool>);

impl Drop for AlwaysPanicsOnDrop {
    fn drop(&mut self) {
        if self.0.swap(false, Ordering::SeqCst) {
            panic!("drop refused");
        }
    }
}

/// `update_capacity` evicts an entry whose `Drop` panics and one whose key's `Eq` panics: both
/// go, quietly (an `Eq` panic in the middle of the evictions used to unwind through the first,
/// whose `Drop` panicking then aborted the process).
#[test]
fn update_capacity_evicts_through_a_panicking_drop_and_a_panicking_eq() {
    support::in_child_process(
        "update_capacity_evicts_through_a_panicking_drop_and_a_panicking_eq",
        || {
            let cache: SendableLruCache<Key, AlwaysPanicsOnDrop> =
                SendableLruCache::with_capacity(cap(3));
            let bomb = Arc::new(AtomicBool::new(true));
            cache.put(Key(8), AlwaysPanicsOnDrop(bomb.clone()));
            cache.put(Key(9), AlwaysPanicsOnDrop(Arc::new(AtomicBool::new(false))));
            cache.put(
                Key(10),
                AlwaysPanicsOnDrop(Arc::new(AtomicBool::new(false))),
            );
            PANICS[9].store(true, Ordering::SeqCst);
            cache.update_capacity(cap(1));
            PANICS[9].store(false, Ordering::SeqCst);
            assert!(!bomb.load(Ordering::SeqCst), "the bomb was dropped");
            assert_eq!(cache.keys().iter().map(|k| k.0).collect::<Vec<_>>(), [10]);
        },
    );
}
