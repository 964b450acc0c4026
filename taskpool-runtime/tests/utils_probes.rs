//! Probes of the ArkTSUtils side (`SendableLruCache`, sendable values through serialization,
//! observability) against the ArkTS documentation and against bad input: user `Hash`, `Clone`
//! and `Drop` that panic, values the serializer cannot represent, degenerate capacities.

#[path = "support/wire.rs"]
mod wire;

use std::hash::{Hash, Hasher};
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};
use taskpool::{SendableLruCache, Shared, TaskPool, concurrent, sendable};

/// A key whose `Hash` panics on one chosen call (counted from 1; 0 never panics): a transient
/// failure in user code, which the cache runs before taking its lock.
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

/// A cache evicts without hashing: `old`'s `Hash`, which would panic now, is never called by
/// the eviction (nor by anything under the lock: keys are hashed once per call, before it).
#[test]
fn an_eviction_never_hashes_the_evicted_key() {
    let cache = SendableLruCache::with_capacity(capacity(1));
    let old = Fragile::new(1);
    cache.put(old.clone(), 10);
    old.panic_on_next(1);
    cache.put(Fragile::new(2), 20);
    assert_eq!(ids(&cache), [2]);
    assert_eq!(cache.remove_count(), 1);
    panics(|| {
        cache.get(&old);
    });
    assert_eq!(cache.len(), 1);
}

/// A key whose `Hash` panics when it is put leaves no trace: the panic comes before the cache
/// is touched.
#[test]
fn a_key_whose_hash_panics_while_it_is_put_leaves_no_trace() {
    let cache = SendableLruCache::with_capacity(capacity(1));
    cache.put(Fragile::new(0), 0);
    let fragile = Fragile::new(1);
    fragile.panic_on_next(1);
    panics(|| {
        cache.put(fragile.clone(), 10);
    });
    assert!(!cache.contains(&fragile));
    assert_eq!((cache.put_count(), cache.len()), (1, 1));
    cache.put(Fragile::new(2), 20);
    cache.put(Fragile::new(3), 30);
    assert_eq!(ids(&cache), [3]);
    assert_eq!(
        cache.remove_count(),
        2,
        "0 and 2 were evicted, nothing else"
    );
}

/// Keys that can be hashed once only, put until the table has grown and been tidied many
/// times (growth and removals rehash): the table rehashes from the hashes it kept. Before, a
/// rehash called `Hash` under the lock; a panic there lost entries (dropping their values,
/// whose panicking `Drop` then aborted the process).
#[test]
fn growing_and_tidying_the_table_never_hashes_a_key_again() {
    let cache = SendableLruCache::with_capacity(capacity(64));
    for id in 0..2_000 {
        let key = Fragile::new(id);
        cache.put(key.clone(), id);
        key.panic_on_next(1); // any later hash of this key panics
    }
    assert_eq!(cache.len(), 64);
    assert_eq!(cache.remove_count(), 2_000 - 64);
    let expected: Vec<u32> = (2_000 - 64..2_000).collect();
    assert_eq!(ids(&cache), expected);
    assert_eq!(cache.values(), expected);
}

#[test]
fn to_string_prints_the_hit_rate_as_arkts_computes_it() {
    // ArkTS: `hitRate = 100 * hitCount / (hitCount + missCount)`, a JS number (not rounded).
    let cache = SendableLruCache::new();
    cache.put(1, 1);
    cache.get(&1);
    cache.get(&1);
    cache.get(&2);
    assert_eq!(
        cache.to_string(),
        "SendableLruCache[ maxSize = 64, hits = 2, misses = 1, hitRate = 66.66666666666667% ]"
    );
    let fresh = SendableLruCache::<u8, u8>::with_capacity(capacity(1));
    assert_eq!(
        fresh.to_string(),
        "SendableLruCache[ maxSize = 1, hits = 0, misses = 0, hitRate = 0% ]"
    );
}

#[test]
fn the_documented_counter_examples_hold() {
    // getCreateCount: put(2, 10), then two lookups that createDefault fills.
    let cache = SendableLruCache::new();
    cache.put(2, 10);
    assert_eq!(cache.get_or_create(3, |key| Some(*key)), Some(3));
    assert_eq!(cache.get_or_create(5, |key| Some(*key)), Some(5));
    assert_eq!(cache.create_count(), 2);
    assert_eq!(cache.miss_count(), 2, "a created value was still a miss");
    // getRemoveCount: shrinking to a capacity the cache fits in evicts nothing.
    let cache = SendableLruCache::new();
    cache.put(2, 10);
    cache.update_capacity(capacity(2));
    cache.put(50, 22);
    assert_eq!(cache.remove_count(), 0);
    // updateCapacity below the length evicts the least recently used, counted as removals.
    cache.get(&2);
    cache.update_capacity(capacity(1));
    assert_eq!(cache.keys(), [2]);
    assert_eq!(cache.remove_count(), 1);
}

#[test]
fn a_value_put_while_get_or_create_creates_one_wins() {
    // ArkTS's `get` keeps a value that appeared while `createDefault` ran and returns it; here
    // `create` runs outside the lock, so another thread can put the key meanwhile (simulated by
    // `create` itself).
    let cache = SendableLruCache::new();
    let got = cache.get_or_create(1, |key| {
        cache.put(*key, 100);
        Some(0)
    });
    assert_eq!(got, Some(100), "the value put meanwhile is returned");
    assert_eq!(cache.get(&1), Some(100), "and kept");
    assert_eq!(cache.create_count(), 1);
}

#[test]
fn a_cache_of_capacity_one_or_of_a_huge_capacity_works() {
    let one = SendableLruCache::with_capacity(capacity(1));
    for key in 0..100u32 {
        one.put(key, key);
        assert_eq!(one.entries(), [(key, key)]);
    }
    assert_eq!(one.remove_count(), 99);
    // A huge capacity allocates nothing up front.
    let huge = SendableLruCache::with_capacity(NonZeroUsize::MAX);
    huge.put("k", 1);
    assert_eq!((huge.len(), huge.capacity()), (1, NonZeroUsize::MAX));
    huge.update_capacity(capacity(1));
    huge.put("j", 2);
    assert_eq!(huge.keys(), ["j"]);
    let json = serde_json::to_string(&SendableLruCache::<u8, u8>::with_capacity(
        NonZeroUsize::MAX,
    ));
    let back: SendableLruCache<u8, u8> = serde_json::from_str(&json.unwrap()).unwrap();
    assert_eq!(back.capacity(), NonZeroUsize::MAX);
}

/// A value whose `Clone` panics for some numbers and whose `Drop` panics for others (unless
/// already unwinding, which would abort the process).
#[derive(Debug, Serialize, Deserialize)]
struct Touchy(u32);

impl Touchy {
    fn clone_panics(&self) -> bool {
        self.0 % 7 == 3
    }
}

impl Clone for Touchy {
    fn clone(&self) -> Touchy {
        assert!(!self.clone_panics(), "clone of {} refused", self.0);
        Touchy(self.0)
    }
}

impl Drop for Touchy {
    fn drop(&mut self) {
        if self.0 % 5 == 4 && !std::thread::panicking() {
            panic!("drop of {} refused", self.0);
        }
    }
}

#[sendable]
struct Holder {
    cache: SendableLruCache<u32, Touchy>,
}

/// What one `churn` task did: how many lookups it made (each counts one match or miss).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Churned {
    lookups: u64,
    panics: u64,
}

impl Churned {
    /// Runs one cache call, counting its panic (a user `Clone` or `Drop`) instead of dying.
    fn call(&mut self, f: impl FnOnce()) {
        if catch_unwind(AssertUnwindSafe(f)).is_err() {
            self.panics += 1;
        }
    }
}

#[concurrent]
fn churn(holder: Shared<Holder>, seed: u32) -> Churned {
    let cache = &holder.cache;
    let mut done = Churned::default();
    for i in 0..200 {
        let (key, value) = ((seed * 31 + i) % 40, seed * 1000 + i);
        done.call(|| drop(cache.put(key, Touchy(value))));
        done.call(|| drop(cache.get(&(key / 2))));
        done.call(|| drop(cache.get_or_create(key + 40, |k| Some(Touchy(*k)))));
        done.lookups += 2;
        if i % 5 == 0 {
            done.call(|| drop(cache.remove(&key)));
        }
        if i % 50 == 0 {
            done.call(|| cache.update_capacity(capacity(8 + (i as usize % 3) * 8)));
        }
    }
    done
}

#[test]
fn a_cache_churned_by_many_tasks_with_panicking_clones_and_drops_stays_consistent() {
    let pool = TaskPool::builder().max_threads(4).build().unwrap();
    let holder = Shared::new(Holder {
        cache: SendableLruCache::with_capacity(capacity(16)),
    });
    let handles: Vec<_> = (0..32)
        .map(|seed| pool.execute(taskpool::Task::new(churn, (Shared::clone(&holder), seed))))
        .collect();
    let mut lookups = 0;
    let mut panics = 0;
    for handle in handles {
        let done = handle.wait().unwrap();
        lookups += done.lookups;
        panics += done.panics;
    }
    pool.shutdown();
    assert!(panics > 0, "the user code did panic");
    let cache = &holder.cache;
    assert_eq!(cache.match_count() + cache.miss_count(), lookups);
    assert_eq!(cache.len(), cache.keys().len());
    assert!(cache.len() <= cache.capacity().get());
    // Still fully usable: no poisoned state.
    cache.clear();
    cache.update_capacity(capacity(2));
    cache.put(1, Touchy(1));
    assert_eq!(cache.get(&1).map(|t| t.0), Some(1));
    assert!(
        cache
            .to_string()
            .starts_with("SendableLruCache[ maxSize = 2,")
    );
    cache.clear();
}

#[sendable]
struct Grid {
    cells: std::collections::HashMap<(u32, u32), f64>,
}

#[concurrent]
fn cell_count(grid: Shared<Grid>) -> usize {
    grid.cells.len()
}

fn assert_serialization(error: taskpool::Error) {
    assert_eq!(error.code(), Some(10200006), "{error}");
}

#[test]
fn maps_with_keys_json_cannot_name_are_refused_as_json_and_kept_as_bytes() {
    use taskpool::{Encoding, Payload};
    let grid = Grid {
        cells: [((1, 2), 0.5)].into_iter().collect(),
    };
    assert_serialization(Payload::encode(&grid, Encoding::Json).unwrap_err());
    let bytes = Payload::encode(&grid, Encoding::Postcard).unwrap();
    assert_eq!(bytes.decode::<Grid>().unwrap().cells[&(1, 2)], 0.5);
    // Integer keys are written as strings and read back.
    let numbered: std::collections::HashMap<u32, u8> = [(7, 1)].into_iter().collect();
    let json = Payload::encode(&numbered, Encoding::Json).unwrap();
    assert_eq!(json, Payload::Json(r#"{"7":1}"#.to_owned()));
    assert_eq!(
        json.decode::<std::collections::HashMap<u32, u8>>().unwrap(),
        numbered
    );
    // Through a task: shared, it is never serialized; its JSON descriptor is refused.
    let shared = Shared::new(grid);
    let task = taskpool::Task::new(cell_count, (Shared::clone(&shared),));
    let descriptor = task.descriptor().unwrap();
    assert_serialization(descriptor.to_json().unwrap_err());
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    assert_eq!(pool.execute(task).wait().unwrap(), 1);
    pool.shutdown();
}

#[test]
fn a_cache_of_nan_values_is_refused_as_json_and_round_trips_as_bytes() {
    use taskpool::{Encoding, Payload};
    let cache = SendableLruCache::with_capacity(capacity(4));
    cache.put((1u8, 2u8), f64::NAN);
    cache.put((3, 4), f64::INFINITY);
    assert_serialization(Payload::encode(&cache, Encoding::Json).unwrap_err());
    let back: SendableLruCache<(u8, u8), f64> = Payload::encode(&cache, Encoding::Postcard)
        .unwrap()
        .decode()
        .unwrap();
    assert!(back.get(&(1, 2)).unwrap().is_nan());
    assert_eq!(back.keys(), [(3, 4), (1, 2)]);
}

#[test]
fn a_cache_claiming_2_pow_60_zero_sized_entries_is_refused_not_replayed() {
    use taskpool::Payload;
    // The capacity, then a length prefix for entries that take no bytes at all.
    let mut bytes = wire::varint(1);
    bytes.extend(wire::varint(1 << 60));
    let error = Payload::Postcard(bytes)
        .decode::<SendableLruCache<(), ()>>()
        .unwrap_err();
    assert_serialization(error);
}

/// A list as deep as a hostile input would make it.
#[sendable]
#[derive(Clone)]
enum Chain {
    End,
    Link(Box<Chain>),
}

fn chain(depth: usize) -> Chain {
    (0..depth).fold(Chain::End, |inner, _| Chain::Link(Box::new(inner)))
}

/// Unlinks a chain iteratively: the derived drop recurses once per link.
fn unlink(mut chain: Chain) {
    while let Chain::Link(next) = chain {
        chain = *next;
    }
}

#[test]
fn a_cache_holding_a_100_000_deep_value_is_refused_when_encoded_not_overflowed() {
    use taskpool::{Encoding, Payload};
    let cache = SendableLruCache::with_capacity(capacity(2));
    cache.put(1u8, chain(100_000));
    for encoding in [Encoding::Postcard, Encoding::Json] {
        assert_serialization(Payload::encode(&cache, encoding).unwrap_err());
    }
    // The cache's only handle: taken out without a clone, then unlinked.
    unlink(cache.remove(&1).unwrap());
}

/// What a cache read from `(capacity, entries)` must hold: each entry put in turn, the least
/// recently used evicted beyond the capacity (a plain list as the model).
fn model(capacity: usize, entries: &[(u8, u8)]) -> Vec<(u8, u8)> {
    let mut kept: Vec<(u8, u8)> = Vec::new();
    for &(key, value) in entries {
        kept.retain(|&(k, _)| k != key);
        kept.push((key, value));
        if kept.len() > capacity {
            kept.remove(0);
        }
    }
    kept
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 500, ..Default::default() })]

    /// Serialized caches from elsewhere may repeat keys or exceed their capacity: the cache read
    /// back is what putting the entries in turn gives, and a zero capacity is refused.
    #[test]
    fn a_cache_read_from_any_entries_is_what_putting_them_gives(
        capacity in 0usize..6,
        entries in proptest::collection::vec((0u8..8, proptest::prelude::any::<u8>()), 0..24),
    ) {
        use taskpool::{Encoding, Payload};
        #[derive(Serialize)]
        struct Wire<'a> {
            capacity: usize,
            entries: &'a [(u8, u8)],
        }
        let wire = Wire { capacity, entries: &entries };
        for encoding in [Encoding::Postcard, Encoding::Json] {
            let read = Payload::encode(&wire, encoding).unwrap().decode::<SendableLruCache<u8, u8>>();
            match read {
                Err(error) => {
                    proptest::prop_assert_eq!(capacity, 0);
                    proptest::prop_assert_eq!(error.code(), Some(10200006));
                }
                Ok(cache) => {
                    proptest::prop_assert_eq!(cache.entries(), model(capacity, &entries));
                    proptest::prop_assert_eq!(cache.len(), cache.keys().len());
                    proptest::prop_assert_eq!(cache.remove_count(), 0, "statistics start afresh");
                }
            }
        }
    }

    /// Random bytes read as a cache give a cache or a 10200006, never a panic.
    #[test]
    fn random_bytes_read_as_a_cache_never_panic(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
    ) {
        match taskpool::Payload::Postcard(bytes).decode::<SendableLruCache<u16, String>>() {
            Ok(cache) => proptest::prop_assert!(cache.len() <= cache.capacity().get()),
            Err(error) => proptest::prop_assert_eq!(error.code(), Some(10200006)),
        }
    }
}

#[sendable]
struct Pages {
    cache: SendableLruCache<u32, String>,
}

#[concurrent]
fn page_bytes(pages: Shared<Pages>) -> usize {
    pages.cache.values().iter().map(String::len).sum()
}

#[test]
fn a_cache_over_the_size_cap_is_refused_when_encoded_and_shared_without_encoding() {
    use taskpool::{DEFAULT_MAX_SERIALIZED_BYTES, Encoding, Payload};
    let pages = Shared::new(Pages {
        cache: SendableLruCache::with_capacity(capacity(32)),
    });
    let page = 1 << 20;
    let count = DEFAULT_MAX_SERIALIZED_BYTES / page + 1;
    for key in 0..count as u32 {
        pages.cache.put(key, "x".repeat(page));
    }
    for encoding in [Encoding::Postcard, Encoding::Json] {
        assert_serialization(Payload::encode(&pages.cache, encoding).unwrap_err());
    }
    // Shared, it is never serialized: the cap does not apply.
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = taskpool::Task::new(page_bytes, (Shared::clone(&pages),));
    assert_eq!(pool.execute(task).wait().unwrap(), count * page);
    pool.shutdown();
}

#[sendable]
struct Shelf {
    cache: SendableLruCache<String, u32>,
    ratio: f64,
}

#[concurrent]
fn shelf_total(shelf: Shared<Shelf>) -> u64 {
    let total: u64 = shelf.cache.values().into_iter().map(u64::from).sum();
    total + shelf.ratio as u64
}

/// A descriptor of a task whose argument is a shared cache: as bytes and as JSON.
fn shelf_descriptor() -> (Vec<u8>, String) {
    let cache = SendableLruCache::with_capacity(capacity(3));
    for (key, value) in [("a", 1), ("b", 2), ("c", 3), ("d", 4)] {
        cache.put(key.to_owned(), value);
    }
    let shelf = Shared::new(Shelf { cache, ratio: 0.5 });
    let descriptor = taskpool::Task::new(shelf_total, (shelf,))
        .descriptor()
        .unwrap();
    (
        descriptor.to_bytes().unwrap(),
        descriptor.to_json().unwrap(),
    )
}

/// Writes each `(position, byte)` over `data` (positions wrap), then cuts it at `cut` (wraps).
fn damage(mut data: Vec<u8>, writes: &[(usize, u8)], cut: usize) -> Vec<u8> {
    for &(at, byte) in writes {
        let len = data.len();
        data[at % len] = byte;
    }
    let keep = cut % (data.len() + 1);
    data.truncate(keep.max(data.len() / 2));
    data
}

/// A decoded descriptor runs to an outcome; a refused one gives its ArkTS code.
fn decoded_cleanly(decoded: Result<taskpool::TaskDescriptor, taskpool::Error>) {
    match decoded {
        Ok(descriptor) => {
            let mut handle = TaskPool::global().execute_descriptor(&descriptor);
            assert!(
                handle
                    .wait_timeout(std::time::Duration::from_secs(20))
                    .is_some()
            );
        }
        Err(error) => assert!(
            matches!(error.code(), Some(10200006) | Some(10200014)),
            "{error:?}"
        ),
    }
}

#[test]
fn the_shelf_descriptor_runs_as_written_in_both_forms() {
    let (bytes, json) = shelf_descriptor();
    for decoded in [
        taskpool::TaskDescriptor::from_bytes(&bytes),
        taskpool::TaskDescriptor::from_json(&json),
    ] {
        let handle = TaskPool::global().execute_descriptor(&decoded.unwrap());
        let total: u64 = handle.wait().unwrap().decode().unwrap();
        assert_eq!(total, 2 + 3 + 4, "\"a\" was evicted; 0.5 truncates");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 500, ..Default::default() })]

    /// Damaged descriptors of a shared cache argument never panic, as bytes or as JSON.
    #[test]
    fn damaged_shelf_descriptors_are_refused_or_run(
        writes in proptest::collection::vec((0usize..4096, proptest::prelude::any::<u8>()), 1..4),
        cut in proptest::prelude::any::<usize>(),
    ) {
        let (bytes, json) = shelf_descriptor();
        decoded_cleanly(taskpool::TaskDescriptor::from_bytes(&damage(bytes, &writes, cut)));
        let json = String::from_utf8_lossy(&damage(json.into_bytes(), &writes, cut)).into_owned();
        decoded_cleanly(taskpool::TaskDescriptor::from_json(&json));
    }
}
