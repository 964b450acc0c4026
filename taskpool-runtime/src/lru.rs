//! `SendableLruCache<K, V>`: a thread-safe, serializable least-recently-used cache (ArkTS
//! `ArkTSUtils.SendableLruCache`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::Hash;
use std::num::NonZeroUsize;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::function::Transferable;
use crate::sendable::Sendable;
use crate::sync::{Mutex, lock};

/// The capacity of [`SendableLruCache::new`], as in ArkTS.
pub const DEFAULT_LRU_CAPACITY: NonZeroUsize = NonZeroUsize::new(64).expect("64 is not zero");

/// A cache that keeps at most `capacity` entries and evicts the least recently used one to make
/// room (ArkTS `SendableLruCache`). It is thread-safe (methods take `&self`; a short internal
/// mutex guards each call, never across an `.await`) and [`Sendable`], so it can be shared with
/// [`Shared`](crate::Shared) or be a field of a `#[sendable]` type and cross into tasks.
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
    inner: Mutex<Lru<K, V>>,
}

struct Lru<K, V> {
    capacity: NonZeroUsize,
    /// Each entry with its last-use stamp.
    entries: HashMap<K, (V, u64)>,
    /// Keys by last-use stamp: the first is the least recently used.
    order: BTreeMap<u64, K>,
    next_stamp: u64,
    stats: Stats,
}

#[derive(Clone, Copy, Default)]
struct Stats {
    created: u64,
    misses: u64,
    removed: u64,
    matched: u64,
    puts: u64,
}

impl<K: Eq + Hash + Clone, V: Clone> Lru<K, V> {
    fn new(capacity: NonZeroUsize) -> Lru<K, V> {
        Lru {
            capacity,
            entries: HashMap::new(),
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

    /// Makes `key` the most recently used; its value.
    fn touch(&mut self, key: &K) -> Option<V> {
        let stamp = self.stamp();
        let (value, used) = self.entries.get_mut(key)?;
        let old = std::mem::replace(used, stamp);
        let value = value.clone();
        if let Some(key) = self.order.remove(&old) {
            self.order.insert(stamp, key);
        }
        Some(value)
    }

    fn put(&mut self, key: K, value: V) -> Option<V> {
        self.stats.puts += 1;
        let stamp = self.stamp();
        let previous = self.entries.insert(key.clone(), (value, stamp));
        if let Some((_, old)) = &previous {
            self.order.remove(old);
        }
        self.order.insert(stamp, key);
        self.shrink_to_capacity();
        previous.map(|(value, _)| value)
    }

    fn remove(&mut self, key: &K) -> Option<V> {
        let (value, stamp) = self.entries.remove(key)?;
        self.order.remove(&stamp);
        Some(value)
    }

    fn shrink_to_capacity(&mut self) {
        while self.entries.len() > self.capacity.get() {
            let Some((_, key)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&key);
            self.stats.removed += 1;
        }
    }

    /// Entries from least to most recently used.
    fn in_order(&self) -> impl Iterator<Item = (&K, &V)> {
        self.order
            .values()
            .filter_map(|key| self.entries.get(key).map(|(value, _)| (key, value)))
    }
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
        SendableLruCache {
            inner: Mutex::new(Lru::new(capacity)),
        }
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
        let mut lru = lock(&self.inner);
        let found = lru.touch(key);
        match found {
            Some(_) => lru.stats.matched += 1,
            None => lru.stats.misses += 1,
        }
        found
    }

    /// The value of `key`; on a miss, `create(key)` may make one, which is put in the cache and
    /// counted as created (ArkTS's `createDefault` override).
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
        let value = create(&key)?;
        let mut lru = lock(&self.inner);
        lru.stats.created += 1;
        lru.put(key, value.clone());
        Some(value)
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
        lock(&self.inner).put(key, value)
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
        lock(&self.inner).remove(key)
    }

    /// Whether `key` is in the cache; does not change the order (ArkTS `contains`).
    ///
    /// ```
    /// let cache = taskpool::SendableLruCache::new();
    /// cache.put("k", 1);
    /// assert!(cache.contains(&"k"));
    /// ```
    pub fn contains(&self, key: &K) -> bool {
        lock(&self.inner).entries.contains_key(key)
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

    /// The capacity (ArkTS `getCapacity`).
    ///
    /// ```
    /// assert_eq!(taskpool::SendableLruCache::<u8, u8>::new().capacity().get(), 64);
    /// ```
    pub fn capacity(&self) -> NonZeroUsize {
        lock(&self.inner).capacity
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
        let mut lru = lock(&self.inner);
        lru.capacity = capacity;
        lru.shrink_to_capacity();
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
        let mut lru = lock(&self.inner);
        lru.entries.clear();
        lru.order.clear();
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
        lock(&self.inner)
            .in_order()
            .map(|(k, _)| k.clone())
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
        lock(&self.inner)
            .in_order()
            .map(|(_, v)| v.clone())
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
        lock(&self.inner)
            .in_order()
            .map(|(k, v)| (k.clone(), v.clone()))
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

impl<K: Eq + Hash + Clone, V: Clone> Default for SendableLruCache<K, V> {
    fn default() -> SendableLruCache<K, V> {
        SendableLruCache::new()
    }
}

impl<K, V> fmt::Display for SendableLruCache<K, V> {
    /// ArkTS's `toString()`: `SendableLruCache[ maxSize = 64, hits = 1, misses = 1, hitRate = 50% ]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lru = lock(&self.inner);
        let (hits, misses) = (lru.stats.matched, lru.stats.misses);
        let lookups = hits + misses;
        let rate = (hits * 100).checked_div(lookups).unwrap_or(0);
        write!(
            f,
            "SendableLruCache[ maxSize = {}, hits = {hits}, misses = {misses}, hitRate = {rate}% ]",
            lru.capacity
        )
    }
}

impl<K: fmt::Debug + Eq + Hash + Clone, V: fmt::Debug + Clone> fmt::Debug
    for SendableLruCache<K, V>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lru = lock(&self.inner);
        f.debug_struct("SendableLruCache")
            .field("capacity", &lru.capacity)
            .field("entries", &lru.in_order().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename = "SendableLruCache")]
struct Wire<K, V> {
    capacity: usize,
    /// From the least to the most recently used.
    entries: Vec<(K, V)>,
}

impl<K: Serialize + Eq + Hash + Clone, V: Serialize + Clone> Serialize for SendableLruCache<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let lru = lock(&self.inner);
        Wire {
            capacity: lru.capacity.get(),
            entries: lru.in_order().collect(),
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
        let mut lru = Lru::new(capacity);
        for (key, value) in wire.entries {
            lru.put(key, value);
        }
        lru.stats = Stats::default();
        Ok(SendableLruCache {
            inner: Mutex::new(lru),
        })
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
