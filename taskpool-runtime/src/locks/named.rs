//! The process-wide registry: named locks and condition variables
//! ([`AsyncLock::request`](super::AsyncLock::request),
//! [`ConditionVariable::request`](super::ConditionVariable::request)), and weak references to
//! every live lock, for [`AsyncLock::query_all`](super::AsyncLock::query_all) and the deadlock
//! check of a timed-out request.
//!
//! The registry never keeps a lock alive: a named lock lives as long as some handle to it does
//! (as in ArkTS, where it lives until collected), and requesting the name again afterwards makes
//! a new, free lock — indistinguishable, since nobody could hold or wait for the old one.

use std::collections::HashMap;
use std::sync::{OnceLock, Weak};

use super::async_lock::AsyncLock;
use super::condvar::ConditionVariable;
use super::core::LockCore;
use super::diagnosis::AsyncLockState;
use crate::error::{Error, Result};
use crate::shared::Shared;
use crate::sync::{Arc, Mutex, lock};
#[cfg(all(test, not(taskpool_loom)))]
use crate::weakly::WeakEntries;
use crate::weakly::Weakly;

/// Shards of the list of live locks, so that creating locks on many threads does not contend.
const SHARDS: usize = 8;

struct Registry {
    /// Every live lock (anonymous and named), by id modulo `SHARDS`.
    cores: [Mutex<Weakly<Vec<Weak<LockCore>>>>; SHARDS],
    locks: Mutex<Weakly<HashMap<String, Weak<AsyncLock>>>>,
    condvars: Mutex<Weakly<HashMap<String, Weak<ConditionVariable>>>>,
}

impl Registry {
    fn new() -> Registry {
        Registry {
            cores: std::array::from_fn(|_| Mutex::new(Weakly::default())),
            locks: Mutex::new(Weakly::default()),
            condvars: Mutex::new(Weakly::default()),
        }
    }

    fn register(&self, core: &Arc<LockCore>) {
        let shard = (core.id() % SHARDS as u64) as usize;
        let mut cores = lock(&self.cores[shard]);
        cores.make_room();
        cores.entries.push(Arc::downgrade(core));
    }

    fn live_cores(&self) -> Vec<Arc<LockCore>> {
        let mut live: Vec<Arc<LockCore>> = self
            .cores
            .iter()
            .flat_map(|shard| {
                lock(shard)
                    .entries
                    .iter()
                    .filter_map(Weak::upgrade)
                    .collect::<Vec<_>>()
            })
            .collect();
        live.sort_by_key(|core| core.id());
        live
    }
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::new)
}

/// Records a new lock as live.
pub(crate) fn register(core: &Arc<LockCore>) {
    registry().register(core);
}

/// Every live lock, oldest first.
pub(crate) fn live_cores() -> Vec<Arc<LockCore>> {
    registry().live_cores()
}

/// Finds or creates the named entry `name` of `map`.
fn find_or_create<T>(
    map: &Mutex<Weakly<HashMap<String, Weak<T>>>>,
    name: &str,
    create: impl FnOnce() -> Shared<T>,
) -> Shared<T> {
    let found = lock(map).find_or_create(name, Shared::upgrade, Shared::downgrade, || {
        Ok::<_, std::convert::Infallible>(create())
    });
    let Ok(found) = found;
    found
}

/// The named lock `name`, created if no live one has that name.
pub(crate) fn request_lock(name: &str) -> Shared<AsyncLock> {
    find_or_create(&registry().locks, name, || {
        Shared::new(AsyncLock::with_core(LockCore::new(Some(name.into())), ()))
    })
}

/// The state of the live named lock `name`, or 10200030.
pub(crate) fn query(name: &str) -> Result<AsyncLockState> {
    let found = lock(&registry().locks)
        .entries
        .get(name)
        .and_then(Shared::upgrade)
        .ok_or_else(|| Error::LockNotFound(name.to_owned()))?;
    Ok(found.state())
}

/// The states of every live lock, oldest first.
pub(crate) fn query_all() -> Vec<AsyncLockState> {
    live_cores().iter().map(|core| core.snapshot()).collect()
}

/// The named condition variable `name`, created if no live one has that name.
pub(crate) fn request_condvar(name: &str) -> Shared<ConditionVariable> {
    find_or_create(&registry().condvars, name, || {
        Shared::new(ConditionVariable::new())
    })
}

#[cfg(all(test, not(taskpool_loom)))]
mod tests {
    use super::*;

    /// Entries that stay alive throughout: one below a power of two, where the old rules (prune
    /// when the `Vec` is full; when the map's length is a power of two ≥ 64) pruned at every
    /// addition once the churn began.
    const LIVE: usize = 63;
    /// Short-lived entries added one at a time, each dead before the next comes.
    const CHURN: usize = 10_000;

    /// Pruning visits at most a constant number of entries per addition, and keeps the dead
    /// entries in check.
    fn assert_amortized<C: WeakEntries>(registry: &Weakly<C>) {
        let added = LIVE + CHURN;
        assert!(
            registry.visited <= 4 * added,
            "{} entries visited by prunes for {added} additions",
            registry.visited
        );
        assert!(
            registry.entries.len() <= 2 * LIVE + Weakly::<C>::MIN_PRUNE,
            "dead entries were not pruned: {} entries for {LIVE} live ones",
            registry.entries.len()
        );
    }

    #[test]
    fn the_list_of_live_locks_prunes_in_amortized_constant_time_under_churn() {
        let mut cores: Weakly<Vec<Weak<u32>>> = Weakly::default();
        let kept: Vec<Arc<u32>> = (0..LIVE as u32).map(Arc::new).collect();
        for value in &kept {
            cores.make_room();
            cores.entries.push(Arc::downgrade(value));
        }
        for round in 0..CHURN as u32 {
            let short_lived = Arc::new(round);
            cores.make_room();
            cores.entries.push(Arc::downgrade(&short_lived));
        }
        assert_amortized(&cores);
        let live = cores.entries.iter().filter(|weak| weak.strong_count() > 0);
        assert_eq!(live.count(), LIVE, "a live entry was pruned");
    }

    #[test]
    fn named_entries_prune_in_amortized_constant_time_and_a_live_name_keeps_its_object() {
        let map: Mutex<Weakly<HashMap<String, Weak<ConditionVariable>>>> =
            Mutex::new(Weakly::default());
        let request =
            |name: &str| find_or_create(&map, name, || Shared::new(ConditionVariable::new()));
        let kept: Vec<_> = (0..LIVE).map(|at| request(&format!("kept-{at}"))).collect();
        for round in 0..CHURN {
            drop(request(&format!("churn-{round}")));
        }
        assert_amortized(&lock(&map));
        for (at, object) in kept.iter().enumerate() {
            assert!(
                Shared::ptr_eq(object, &request(&format!("kept-{at}"))),
                "the live name kept-{at} found another object after the prunes"
            );
        }
    }
}
