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

/// Shards of the list of live locks, so that creating locks on many threads does not contend.
const SHARDS: usize = 8;

struct Registry {
    /// Every live lock (anonymous and named), by id modulo `SHARDS`; dead entries are pruned
    /// when a shard's vector is full.
    cores: [Mutex<Vec<Weak<LockCore>>>; SHARDS],
    locks: Mutex<HashMap<String, Weak<AsyncLock>>>,
    condvars: Mutex<HashMap<String, Weak<ConditionVariable>>>,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry {
        cores: std::array::from_fn(|_| Mutex::new(Vec::new())),
        locks: Mutex::new(HashMap::new()),
        condvars: Mutex::new(HashMap::new()),
    })
}

/// Records a new lock as live.
pub(crate) fn register(core: &Arc<LockCore>) {
    let shard = (core.id() % SHARDS as u64) as usize;
    let mut cores = lock(&registry().cores[shard]);
    if cores.len() == cores.capacity() {
        cores.retain(|weak| weak.strong_count() > 0);
    }
    cores.push(Arc::downgrade(core));
}

/// Every live lock, oldest first.
pub(crate) fn live_cores() -> Vec<Arc<LockCore>> {
    let mut live: Vec<Arc<LockCore>> = registry()
        .cores
        .iter()
        .flat_map(|shard| {
            lock(shard)
                .iter()
                .filter_map(Weak::upgrade)
                .collect::<Vec<_>>()
        })
        .collect();
    live.sort_by_key(|core| core.id());
    live
}

/// Finds or creates the named entry `name` of `map`.
fn find_or_create<T>(
    map: &Mutex<HashMap<String, Weak<T>>>,
    name: &str,
    create: impl FnOnce() -> Shared<T>,
) -> Shared<T> {
    let mut map = lock(map);
    if let Some(live) = map.get(name).and_then(Shared::upgrade) {
        return live;
    }
    let new = create();
    if map.len() >= 64 && map.len().is_power_of_two() {
        map.retain(|_, weak| weak.strong_count() > 0);
    }
    map.insert(name.to_owned(), Shared::downgrade(&new));
    new
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
