//! `SendableLruCache<K, V>`: a thread-safe, serializable least-recently-used cache (ArkTS
//! `ArkTSUtils.SendableLruCache`).

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, RandomState};
use std::num::NonZeroUsize;
use std::sync::Arc;

use hashbrown::HashTable;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::function::Transferable;
use crate::panic::{drop_each_quietly, drop_quietly};
use crate::sendable::Sendable;
use crate::sync::{Mutex, lock};

/// The capacity of [`SendableLruCache::new`], as in ArkTS.
pub const DEFAULT_LRU_CAPACITY: NonZeroUsize = NonZeroUsize::new(64).expect("64 is not zero");

/// A cache that keeps at most `capacity` entries and evicts the least recently used one to make
/// room (ArkTS `SendableLruCache`). It is thread-safe (methods take `&self`; a short internal
/// mutex guards each call, never across an `.await`) and [`Sendable`], so it can be shared with
/// [`Shared`](crate::Shared) or be a field of a `#[sendable]` type and cross into tasks.
///
/// Keys and values are kept behind `Arc`s, so that their `Clone`, `Drop`, `Serialize` and
/// `Debug` run after the internal lock is released: a value whose `Drop` (or `Clone`…) uses this
/// very cache works. A key is hashed once per call, before the lock is taken (the table keeps
/// the hash and never rehashes a key), so a `Hash` that panics or uses the cache is harmless.
/// Only the keys' `Eq` runs under the lock, to find the key a call names (an eviction finds its
/// entry by identity, and never runs it): one that calls into the same cache deadlocks, and one
/// that panics reaches the caller with the cache still consistent — the entry being put is
/// wholly in or wholly out, and what the panic unwinds through (the entry being put, one it
/// replaced) is dropped after the lock is released. A `Drop` that panics
/// while the cache drops an entry (replaced, removed, evicted, cleared) is contained. Being
/// shared this way, the cache is `Send` and `Sync` when `K` and `V` are both.
///
/// `get` and `put` make an entry the most recently used; `contains` does not. The statistics
/// ArkTS keeps are here too, and `Display` prints ArkTS's `toString()` form. Values are
/// returned by clone (`V: Clone`): keep large values in a [`Shared`](crate::Shared).
///
/// A capacity is a [`NonZeroUsize`], so ArkTS's 401 for a capacity of zero cannot happen. It
/// serializes as its capacity and its entries from least to most recently used (statistics are
/// not serialized); a deserialized cache is a new one with those entries.
///
/// ```
/// use std::num::NonZeroUsize;
/// use taskpool::SendableLruCache;
///
/// let cache = SendableLruCache::with_capacity(NonZeroUsize::new(2).unwrap());
/// cache.put("a", 1);
/// cache.put("b", 2);
/// assert_eq!(cache.get(&"a"), Some(1)); // "a" is now the most recently used
/// cache.put("c", 3); // evicts "b"
/// assert_eq!(cache.keys(), ["a", "c"]);
/// assert_eq!(cache.remove_count(), 1);
/// assert_eq!(
///     cache.to_string(),
///     "SendableLruCache[ maxSize = 2, hits = 1, misses = 0, hitRate = 100% ]"
/// );
/// ```
pub struct SendableLruCache<K, V> {
    /// Hashes keys outside the lock (see [`Lru::entries`]).
    hasher: RandomState,
    inner: Mutex<Lru<K, V>>,
}

/// Keys and values on their way into the cache (`entering`) or out of it (`leaving`: replaced,
/// evicted, cleared), held by a caller outside the lock. Their `Drop` is user code, which may
/// use this very cache or panic: a caller declares this before it takes the lock, so that
/// whatever is still here is dropped after the lock is released — on an `Eq` panic under the
/// lock too, as the unwind drops the guard first — each key and value on its own, quietly.
struct Outside<K, V> {
    entering: Option<Pair<K, V>>,
    leaving: Vec<Pair<K, V>>,
}

/// A key and its value, as the cache holds them.
type Pair<K, V> = (Arc<K>, Arc<V>);

impl<K, V> Outside<K, V> {
    fn empty() -> Outside<K, V> {
        Outside {
            entering: None,
            leaving: Vec::new(),
        }
    }

    fn entering(key: K, value: V) -> Outside<K, V> {
        Outside {
            entering: Some((Arc::new(key), Arc::new(value))),
            leaving: Vec::new(),
        }
    }

    /// The key on its way in.
    fn key(&self) -> &K {
        &self.entering.as_ref().expect("an entry on its way in").0
    }
}

impl<K, V> Drop for Outside<K, V> {
    fn drop(&mut self) {
        for (key, value) in self
            .entering
            .take()
            .into_iter()
            .chain(self.leaving.drain(..))
        {
            drop_quietly(key);
            drop_quietly(value);
        }
    }
}

struct Lru<K, V> {
    capacity: NonZeroUsize,
    /// The entries, found by their key's hash, computed before the lock is taken and kept:
    /// growing or tidying the table rehashes from the kept hashes, so the keys' `Hash` (user
    /// code that may panic) never runs under the lock, where a panic in the middle of a rehash
    /// would lose entries.
    entries: HashTable<Entry<K, V>>,
    order: Order<K>,
    next_stamp: u64,
    stats: Stats,
}

/// Keys (with their hashes) by last-use stamp: the first is the least recently used.
type Order<K> = BTreeMap<u64, (u64, Arc<K>)>;

/// One entry of the table. Keys and values are behind `Arc`s so that cloning, dropping and
/// serializing them happen outside the lock; only `K`'s `Eq` runs under it.
struct Entry<K, V> {
    hash: u64,
    key: Arc<K>,
    value: Arc<V>,
    /// When it was last used (its key in the order).
    stamp: u64,
}

#[derive(Clone, Copy, Default)]
struct Stats {
    created: u64,
    misses: u64,
    removed: u64,
    matched: u64,
    puts: u64,
}

/// Whether `entry` holds `key` (hashed to `hash`): the hash first, so that user `Eq` runs only
/// for a likely match.
fn holds<K: Eq, V>(entry: &Entry<K, V>, hash: u64, key: &K) -> bool {
    entry.hash == hash && *entry.key == *key
}

impl<K: Eq, V> Lru<K, V> {
    fn new(capacity: NonZeroUsize) -> Lru<K, V> {
        Lru {
            capacity,
            entries: HashTable::new(),
            order: BTreeMap::new(),
            next_stamp: 0,
            stats: Stats::default(),
        }
    }

    fn stamp(&mut self) -> u64 {
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        stamp
    }

    fn contains(&self, hash: u64, key: &K) -> bool {
        self.entries.find(hash, |e| holds(e, hash, key)).is_some()
    }

    /// Makes `key` the most recently used; its value.
    fn touch(&mut self, hash: u64, key: &K) -> Option<Arc<V>> {
        let stamp = self.stamp();
        let entry = self.entries.find_mut(hash, |e| holds(e, hash, key))?;
        let old = std::mem::replace(&mut entry.stamp, stamp);
        let value = Arc::clone(&entry.value);
        if let Some(key) = self.order.remove(&old) {
            self.order.insert(stamp, key);
        }
        Some(value)
    }

    /// Puts the entry `outside` has on its way in (its key hashed to `hash`); returns the value
    /// it replaced. The entry it replaced goes first into `outside`'s leaving ones, then the
    /// evicted ones. The keys' `Eq` may panic on the way: the entry then stays `outside`'s.
    fn put(&mut self, hash: u64, outside: &mut Outside<K, V>) -> Option<Arc<V>> {
        self.stats.puts += 1;
        let replaced = self.remove(hash, outside.key());
        let previous = replaced.map(|(old_key, old_value)| {
            outside.leaving.push((old_key, Arc::clone(&old_value)));
            old_value
        });
        // No user code from here until the entry is in.
        let (key, value) = outside.entering.take().expect("an entry on its way in");
        let stamp = self.stamp();
        self.order.insert(stamp, (hash, Arc::clone(&key)));
        let entry = Entry {
            hash,
            key,
            value,
            stamp,
        };
        self.entries.insert_unique(hash, entry, |e| e.hash);
        self.shrink_to_capacity(&mut outside.leaving);
        previous
    }

    fn remove(&mut self, hash: u64, key: &K) -> Option<(Arc<K>, Arc<V>)> {
        let found = self
            .entries
            .find_entry(hash, |e| holds(e, hash, key))
            .ok()?;
        let (entry, _) = found.remove();
        self.order.remove(&entry.stamp);
        Some((entry.key, entry.value))
    }

    /// Evicts the least recently used entries beyond the capacity. Each is found in the table
    /// by identity — the order holds the very key the entry holds — so no user code runs: a
    /// key whose `Eq` panics is evicted like any other.
    fn shrink_to_capacity(&mut self, evicted: &mut Vec<Pair<K, V>>) {
        while self.entries.len() > self.capacity.get() {
            let Some((_, (hash, oldest))) = self.order.pop_first() else {
                break;
            };
            let found = self
                .entries
                .find_entry(hash, |e| Arc::ptr_eq(&e.key, &oldest))
                .ok();
            // Always found (the two change together, with no user code in between).
            if let Some(found) = found {
                let (entry, _) = found.remove();
                evicted.push((entry.key, entry.value));
                self.stats.removed += 1;
            }
            // The order's copy of the key: the entry's own is in `evicted`.
            drop(oldest);
        }
    }

    /// Entries from least to most recently used.
    fn in_order(&self) -> Vec<Pair<K, V>> {
        self.order
            .values()
            .filter_map(|(hash, key)| {
                let entry = self.entries.find(*hash, |e| Arc::ptr_eq(&e.key, key))?;
                Some((Arc::clone(&entry.key), Arc::clone(&entry.value)))
            })
            .collect()
    }

    /// Takes every entry out, for the caller to drop once the lock is released.
    fn take_all(&mut self) -> (Vec<Pair<K, V>>, Order<K>) {
        let entries = std::mem::take(&mut self.entries)
            .into_iter()
            .map(|entry| (entry.key, entry.value))
            .collect();
        (entries, std::mem::take(&mut self.order))
    }
}

/// The value itself if nobody else holds it, a clone otherwise (a reader cloning it right now).
fn unwrap_or_clone<V: Clone>(value: Arc<V>) -> V {
    Arc::try_unwrap(value).unwrap_or_else(|shared| V::clone(&shared))
}

impl<K: Eq + Hash + Clone, V: Clone> SendableLruCache<K, V> {
    /// An empty cache of capacity 64 (ArkTS `new SendableLruCache()`).
    ///
    /// ```
    /// let cache = taskpool::SendableLruCache::<u32, u32>::new();
    /// assert_eq!(cache.capacity().get(), 64);
    /// ```
    pub fn new() -> SendableLruCache<K, V> {
        SendableLruCache::with_capacity(DEFAULT_LRU_CAPACITY)
    }

    /// An empty cache of `capacity` (ArkTS `new SendableLruCache(capacity)`).
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// let cache = taskpool::SendableLruCache::<u32, u32>::with_capacity(NonZeroUsize::MIN);
    /// assert_eq!(cache.capacity(), NonZeroUsize::MIN);
    /// ```
    pub fn with_capacity(capacity: NonZeroUsize) -> SendableLruCache<K, V> {
        SendableLruCache::from_lru(Lru::new(capacity))
    }

    /// The value of `key`, making it the most recently used (ArkTS `get`); counts a match or a
    /// miss.
    ///
    /// ```
    /// let cache = taskpool::SendableLruCache::new();
    /// cache.put(2, 10);
    /// assert_eq!(cache.get(&2), Some(10));
    /// assert_eq!(cache.get(&3), None);
    /// assert_eq!((cache.match_count(), cache.miss_count()), (1, 1));
    /// ```
    pub fn get(&self, key: &K) -> Option<V> {
        let found = {
            let hash = self.hash(key);
            let mut lru = lock(&self.inner);
            let found = lru.touch(hash, key);
            match found {
                Some(_) => lru.stats.matched += 1,
                None => lru.stats.misses += 1,
            }
            found
        };
        found.map(|value| V::clone(&value))
    }

    /// The value of `key`; on a miss, `create(key)` may make one, which is put in the cache and
    /// counted as created (ArkTS's `createDefault` override). `create` runs without the lock:
    /// if another call puts `key` meanwhile, that value is kept and returned, as in ArkTS.
    ///
    /// ```
    /// let cache = taskpool::SendableLruCache::new();
    /// assert_eq!(cache.get_or_create(3, |key| Some(key * 2)), Some(6));
    /// assert_eq!(cache.get_or_create(4, |_| None), None);
    /// assert_eq!(cache.create_count(), 1);
    /// assert_eq!(cache.get(&3), Some(6));
    /// ```
    pub fn get_or_create(&self, key: K, create: impl FnOnce(&K) -> Option<V>) -> Option<V> {
        if let Some(value) = self.get(&key) {
            return Some(value);
        }
        let created = create(&key)?;
        let returned = created.clone();
        // `create` ran outside the lock: a value put meanwhile wins, as in ArkTS's `get`. What
        // is not kept is dropped once the lock is released.
        let hash = self.hash(&key);
        let mut outside = Outside::entering(key, created);
        let current = {
            let mut lru = lock(&self.inner);
            lru.stats.created += 1;
            match lru.touch(hash, outside.key()) {
                Some(current) => Some(current),
                None => {
                    lru.put(hash, &mut outside);
                    None
                }
            }
        };
        drop(outside);
        match current {
            Some(current) => {
                drop_quietly(returned);
                Some(V::clone(&current))
            }
            None => Some(returned),
        }
    }

    /// Puts `key` → `value` as the most recently used entry, evicting the least recently used
    /// ones beyond the capacity; returns the value `key` had (ArkTS `put` returns the new one).
    ///
    /// ```
    /// let cache = taskpool::SendableLruCache::new();
    /// assert_eq!(cache.put(2, 10), None);
    /// assert_eq!(cache.put(2, 11), Some(10));
    /// assert_eq!(cache.put_count(), 2);
    /// ```
    pub fn put(&self, key: K, value: V) -> Option<V> {
        self.put_entry(key, value).map(unwrap_or_clone)
    }

    /// Puts `key` → `value`; the value it replaced, its other owners dropped, outside the
    /// lock (see [`Outside`]).
    fn put_entry(&self, key: K, value: V) -> Option<Arc<V>> {
        let hash = self.hash(&key);
        let mut outside = Outside::entering(key, value);
        let previous = lock(&self.inner).put(hash, &mut outside);
        drop(outside);
        previous
    }

    /// Removes `key`; its value, if it was there (ArkTS `remove`).
    ///
    /// ```
    /// let cache = taskpool::SendableLruCache::new();
    /// cache.put(2, 10);
    /// assert_eq!(cache.remove(&2), Some(10));
    /// assert_eq!(cache.remove(&20), None);
    /// ```
    pub fn remove(&self, key: &K) -> Option<V> {
        let hash = self.hash(key);
        let removed = lock(&self.inner).remove(hash, key);
        removed.map(|(key, value)| {
            drop_quietly(key);
            unwrap_or_clone(value)
        })
    }

    /// Whether `key` is in the cache; does not change the order (ArkTS `contains`).
    ///
    /// ```
    /// let cache = taskpool::SendableLruCache::new();
    /// cache.put("k", 1);
    /// assert!(cache.contains(&"k"));
    /// ```
    pub fn contains(&self, key: &K) -> bool {
        let hash = self.hash(key);
        lock(&self.inner).contains(hash, key)
    }

    /// How many entries the cache holds (ArkTS `length`).
    ///
    /// ```
    /// let cache = taskpool::SendableLruCache::new();
    /// cache.put(2, 10);
    /// cache.put(1, 8);
    /// assert_eq!(cache.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        lock(&self.inner).entries.len()
    }

    /// Whether the cache is empty (ArkTS `isEmpty`).
    ///
    /// ```
    /// assert!(taskpool::SendableLruCache::<u8, u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Changes the capacity, evicting the least recently used entries beyond it (ArkTS
    /// `updateCapacity`).
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// let cache = taskpool::SendableLruCache::new();
    /// cache.put(1, 1);
    /// cache.put(2, 2);
    /// cache.update_capacity(NonZeroUsize::MIN);
    /// assert_eq!(cache.keys(), [2]);
    /// ```
    pub fn update_capacity(&self, capacity: NonZeroUsize) {
        let mut outside = Outside::empty();
        let mut lru = lock(&self.inner);
        lru.capacity = capacity;
        lru.shrink_to_capacity(&mut outside.leaving);
        drop(lru);
    }

    /// Removes every entry (ArkTS `clear`); the statistics stay.
    ///
    /// ```
    /// let cache = taskpool::SendableLruCache::new();
    /// cache.put(2, 10);
    /// cache.clear();
    /// assert!(cache.is_empty());
    /// ```
    pub fn clear(&self) {
        let (entries, order) = lock(&self.inner).take_all();
        // The order's keys first: the entries hold the same keys, so none is dropped here.
        drop_each_quietly(order.into_values());
        drop(Outside {
            entering: None,
            leaving: entries,
        });
    }

    /// The keys, from the least to the most recently used (ArkTS `keys`).
    ///
    /// ```
    /// let cache = taskpool::SendableLruCache::new();
    /// cache.put(2, 10);
    /// cache.put(3, 1);
    /// assert_eq!(cache.keys(), [2, 3]);
    /// ```
    pub fn keys(&self) -> Vec<K> {
        self.snapshot()
            .into_iter()
            .map(|(k, _)| K::clone(&k))
            .collect()
    }

    /// The values, from the least to the most recently used (ArkTS `values`).
    ///
    /// ```
    /// let cache = taskpool::SendableLruCache::new();
    /// cache.put(2, "x");
    /// cache.put(2, "anhu");
    /// cache.put(5, "grfb");
    /// assert_eq!(cache.values(), ["anhu", "grfb"]);
    /// ```
    pub fn values(&self) -> Vec<V> {
        self.snapshot()
            .into_iter()
            .map(|(_, v)| V::clone(&v))
            .collect()
    }

    /// The entries, from the least to the most recently used (ArkTS `entries`).
    ///
    /// ```
    /// let cache = taskpool::SendableLruCache::new();
    /// cache.put('a', 1);
    /// assert_eq!(cache.entries(), [('a', 1)]);
    /// ```
    pub fn entries(&self) -> Vec<(K, V)> {
        self.snapshot()
            .into_iter()
            .map(|(k, v)| (K::clone(&k), V::clone(&v)))
            .collect()
    }

    /// How many values [`get_or_create`](SendableLruCache::get_or_create) created (ArkTS
    /// `getCreateCount`).
    ///
    /// ```
    /// assert_eq!(taskpool::SendableLruCache::<u8, u8>::new().create_count(), 0);
    /// ```
    pub fn create_count(&self) -> u64 {
        lock(&self.inner).stats.created
    }

    /// How many lookups missed (ArkTS `getMissCount`).
    ///
    /// ```
    /// let cache = taskpool::SendableLruCache::<u8, u8>::new();
    /// cache.get(&1);
    /// assert_eq!(cache.miss_count(), 1);
    /// ```
    pub fn miss_count(&self) -> u64 {
        lock(&self.inner).stats.misses
    }

    /// How many entries were evicted to respect the capacity (ArkTS `getRemoveCount`).
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// let cache = taskpool::SendableLruCache::with_capacity(NonZeroUsize::MIN);
    /// cache.put(1, 1);
    /// cache.put(2, 2);
    /// assert_eq!(cache.remove_count(), 1);
    /// ```
    pub fn remove_count(&self) -> u64 {
        lock(&self.inner).stats.removed
    }

    /// How many lookups found their key (ArkTS `getMatchCount`).
    ///
    /// ```
    /// let cache = taskpool::SendableLruCache::new();
    /// cache.put(2, 10);
    /// cache.get(&2);
    /// assert_eq!(cache.match_count(), 1);
    /// ```
    pub fn match_count(&self) -> u64 {
        lock(&self.inner).stats.matched
    }

    /// How many times [`put`](SendableLruCache::put) was called (ArkTS `getPutCount`).
    ///
    /// ```
    /// let cache = taskpool::SendableLruCache::new();
    /// cache.put(2, 10);
    /// assert_eq!(cache.put_count(), 1);
    /// ```
    pub fn put_count(&self) -> u64 {
        lock(&self.inner).stats.puts
    }
}

impl<K: Eq + Hash, V> SendableLruCache<K, V> {
    fn from_lru(lru: Lru<K, V>) -> SendableLruCache<K, V> {
        SendableLruCache {
            hasher: RandomState::new(),
            inner: Mutex::new(lru),
        }
    }

    /// `key`'s hash: user code, run before the lock is taken.
    fn hash(&self, key: &K) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The entries from least to most recently used, shared with the cache: the caller clones,
    /// formats or serializes them after the lock is released.
    fn snapshot(&self) -> Vec<Pair<K, V>> {
        lock(&self.inner).in_order()
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Default for SendableLruCache<K, V> {
    fn default() -> SendableLruCache<K, V> {
        SendableLruCache::new()
    }
}

impl<K, V> fmt::Display for SendableLruCache<K, V> {
    /// ArkTS's `toString()`: `SendableLruCache[ maxSize = 64, hits = 1, misses = 1, hitRate = 50% ]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (capacity, stats) = {
            let lru = lock(&self.inner);
            (lru.capacity, lru.stats)
        };
        let (hits, misses) = (stats.matched, stats.misses);
        // As ArkTS computes it: a JS number, unrounded.
        let lookups = hits.saturating_add(misses);
        let rate = if lookups == 0 {
            0.0
        } else {
            100.0 * hits as f64 / lookups as f64
        };
        let rate = js_number(rate);
        write!(
            f,
            "SendableLruCache[ maxSize = {capacity}, hits = {hits}, misses = {misses}, hitRate = {rate}% ]"
        )
    }
}

/// A rate between 0 and 100 as JavaScript prints a number: the shortest form that reads back
/// the same (`50`, `66.66666666666667`), as Rust prints an `f64`, except below 10^-6, where
/// JavaScript switches to an exponent (`5e-7`), as Rust's `{:e}` writes it.
fn js_number(rate: f64) -> String {
    if rate != 0.0 && rate < 1e-6 {
        format!("{rate:e}")
    } else {
        format!("{rate}")
    }
}

impl<K: fmt::Debug + Eq + Hash, V: fmt::Debug> fmt::Debug for SendableLruCache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let capacity = self.capacity();
        let entries = self.snapshot();
        let entries: Vec<(&K, &V)> = entries.iter().map(|(k, v)| (&**k, &**v)).collect();
        f.debug_struct("SendableLruCache")
            .field("capacity", &capacity)
            .field("entries", &entries)
            .finish()
    }
}

impl<K, V> SendableLruCache<K, V> {
    /// The capacity (ArkTS `getCapacity`).
    ///
    /// ```
    /// assert_eq!(taskpool::SendableLruCache::<u8, u8>::new().capacity().get(), 64);
    /// ```
    pub fn capacity(&self) -> NonZeroUsize {
        lock(&self.inner).capacity
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename = "SendableLruCache")]
struct Wire<K, V> {
    capacity: usize,
    /// From the least to the most recently used.
    entries: Vec<(K, V)>,
}

/// Serialized from a snapshot taken under the lock: the keys' and values' `Serialize` run
/// after it is released (they may use this cache).
impl<K: Serialize + Eq + Hash, V: Serialize> Serialize for SendableLruCache<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (capacity, entries) = {
            let lru = lock(&self.inner);
            (lru.capacity.get(), lru.in_order())
        };
        Wire {
            capacity,
            entries: entries.iter().map(|(k, v)| (&**k, &**v)).collect(),
        }
        .serialize(serializer)
    }
}

impl<'de, K, V> Deserialize<'de> for SendableLruCache<K, V>
where
    K: Deserialize<'de> + Eq + Hash + Clone,
    V: Deserialize<'de> + Clone,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = Wire::<K, V>::deserialize(deserializer)?;
        let capacity = NonZeroUsize::new(wire.capacity)
            .ok_or_else(|| D::Error::custom("a SendableLruCache capacity must not be zero"))?;
        let cache = SendableLruCache::from_lru(Lru::new(capacity));
        // No lock is shared yet: what a put replaces or evicts is dropped here, as it comes,
        // each value on its own.
        for (key, value) in wire.entries {
            drop_quietly(cache.put_entry(key, value));
        }
        lock(&cache.inner).stats = Stats::default();
        Ok(cache)
    }
}

impl<K, V> Sendable for SendableLruCache<K, V>
where
    K: Transferable + Sync + Eq + Hash + Clone,
    V: Transferable + Sync + Clone,
{
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_follows_use_not_insertion() {
        let cache = SendableLruCache::with_capacity(NonZeroUsize::new(3).unwrap());
        for key in 1..=3 {
            cache.put(key, key * 10);
        }
        cache.get(&1);
        cache.put(4, 40); // evicts 2, the least recently used
        assert_eq!(cache.keys(), [3, 1, 4]);
        assert!(!cache.contains(&2));
        cache.put(3, 31); // an update makes 3 the most recent
        cache.put(5, 50); // evicts 1
        assert_eq!(cache.entries(), [(4, 40), (3, 31), (5, 50)]);
        assert_eq!(cache.remove_count(), 2);
    }

    #[test]
    fn it_round_trips_through_serde_in_order() {
        let cache = SendableLruCache::with_capacity(NonZeroUsize::new(4).unwrap());
        cache.put("b", 2);
        cache.put("a", 1);
        let json = serde_json::to_string(&cache).unwrap();
        assert_eq!(json, r#"{"capacity":4,"entries":[["b",2],["a",1]]}"#);
        let back: SendableLruCache<String, u32> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.keys(), ["b", "a"]);
        assert_eq!(back.put_count(), 0, "statistics start afresh");
        let zero =
            serde_json::from_str::<SendableLruCache<String, u32>>(r#"{"capacity":0,"entries":[]}"#);
        assert!(zero.is_err());
    }

    #[test]
    fn rates_print_as_javascript_prints_numbers() {
        let cases = [
            (0.0, "0"),
            (100.0, "100"),
            (50.0, "50"),
            (200.0 / 3.0, "66.66666666666667"),
            (1e-6, "0.000001"),
            (100.0 / 200_000_001.0, "4.999999975e-7"),
            (5e-18, "5e-18"),
        ];
        for (rate, printed) in cases {
            assert_eq!(js_number(rate), printed, "{rate}");
        }
    }

    #[test]
    fn it_is_shared_between_threads() {
        let cache = std::sync::Arc::new(SendableLruCache::new());
        let threads: Vec<_> = (0..4u32)
            .map(|t| {
                let cache = cache.clone();
                std::thread::spawn(move || {
                    for i in 0..100u32 {
                        cache.put(t * 1000 + i, i);
                        cache.get(&(t * 1000 + i / 2));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(cache.len(), 64);
        assert_eq!(cache.put_count(), 400);
        assert_eq!(cache.match_count() + cache.miss_count(), 400);
    }
}
