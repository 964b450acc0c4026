//! `SendableLruCache` under a key `Eq` that panics while the cache's lock is held: whatever
//! the unwind drops — the entry on its way in, entries already replaced or evicted by the same
//! call — is dropped after the lock is released, each key and value quietly. Regression tests:
//! each failed before (a deadlock, or an abort in a child process).

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

/// A panic of `Eq` during an eviction unwinds through the entries already evicted by the same
/// call: they are dropped outside the lock (they used to be dropped under it, and a `Drop`
/// using the cache deadlocked).
#[test]
fn an_eq_panic_mid_eviction_drops_earlier_evictions_outside_the_lock() {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| SendableLruCache::with_capacity(cap(1)));
    let first_value = UsesCache::new(&CACHE, false);
    let (armed, saw) = (first_value.armed.clone(), first_value.saw.clone());
    cache.put(Key(1), first_value);
    // Make the eviction of key 1 fail once, so that the cache holds two entries.
    PANICS[1].store(true, Ordering::SeqCst);
    let first = catch_unwind(AssertUnwindSafe(|| {
        cache.put(Key(2), UsesCache::new(&CACHE, false));
    }));
    PANICS[1].store(false, Ordering::SeqCst);
    assert!(first.is_err(), "the eviction of key 1 panicked");
    assert_eq!(cache.len(), 2, "key 1 stayed, over capacity");
    // Now: evicting key 1 works (its value's Drop uses the cache), evicting key 2 panics.
    armed.store(true, Ordering::SeqCst);
    PANICS[2].store(true, Ordering::SeqCst);
    let outcome = bounded("a put whose second eviction panics", || {
        catch_unwind(|| {
            CACHE
                .get()
                .unwrap()
                .put(Key(3), UsesCache::new(&CACHE, false));
        })
        .is_err()
    });
    PANICS[2].store(false, Ordering::SeqCst);
    assert!(outcome);
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

/// `update_capacity` evicts an entry whose `Drop` panics, then meets an `Eq` that panics: the
/// evicted entry is dropped quietly (its panic during the unwind used to abort the process).
#[test]
fn update_capacity_with_a_panicking_eq_after_a_panicking_drop_does_not_abort() {
    support::in_child_process(
        "update_capacity_with_a_panicking_eq_after_a_panicking_drop_does_not_abort",
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
            let result = catch_unwind(AssertUnwindSafe(|| cache.update_capacity(cap(1))));
            PANICS[9].store(false, Ordering::SeqCst);
            assert!(result.is_err(), "Eq panicked");
            assert!(!bomb.load(Ordering::SeqCst), "the bomb was dropped");
        },
    );
}
