//! The runs that are waiting or running, by task id: what `cancel(id)` and pool info look up.
//!
//! Every submission inserts here and every finish removes, so the map is on the hot path: it is
//! sharded by id (submitters and finishing workers rarely meet on one lock), hashes ids with a
//! multiply instead of SipHash (ids are sequential, not attacker-chosen), and stores a task's
//! single run inline (a task executed several times at once is the rare case).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::run::Run;
use crate::sync::{Arc, Mutex, lock};
use crate::task::TaskId;

const SHARDS: usize = 16;

/// Fibonacci hashing of a task id.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The runs of one task: almost always exactly one.
enum Runs {
    One(Arc<Run>),
    Many(Vec<Arc<Run>>),
}

type Shard = HashMap<TaskId, Runs, BuildHasherDefault<IdHasher>>;

#[derive(Default)]
pub(crate) struct LiveRuns {
    shards: [Mutex<Shard>; SHARDS],
}

impl LiveRuns {
    fn shard(&self, id: TaskId) -> &Mutex<Shard> {
        &self.shards[id.into_raw() as usize % SHARDS]
    }

    pub(crate) fn insert(&self, run: &Arc<Run>) {
        let id = run.record.id;
        let mut shard = lock(self.shard(id));
        match shard.remove(&id) {
            None => shard.insert(id, Runs::One(Arc::clone(run))),
            Some(Runs::One(first)) => shard.insert(id, Runs::Many(vec![first, Arc::clone(run)])),
            Some(Runs::Many(mut runs)) => {
                runs.push(Arc::clone(run));
                shard.insert(id, Runs::Many(runs))
            }
        };
    }

    pub(crate) fn remove(&self, run: &Arc<Run>) {
        let id = run.record.id;
        let mut shard = lock(self.shard(id));
        match shard.get_mut(&id) {
            Some(Runs::One(only)) if Arc::ptr_eq(only, run) => {
                shard.remove(&id);
            }
            Some(Runs::Many(runs)) => {
                runs.retain(|r| !Arc::ptr_eq(r, run));
                if runs.is_empty() {
                    shard.remove(&id);
                }
            }
            _ => {}
        }
    }

    /// The runs of task `id` that are still tracked.
    pub(crate) fn runs_of(&self, id: TaskId) -> Vec<Arc<Run>> {
        match lock(self.shard(id)).get(&id) {
            None => Vec::new(),
            Some(Runs::One(run)) => vec![Arc::clone(run)],
            Some(Runs::Many(runs)) => runs.clone(),
        }
    }

    /// Every tracked run.
    pub(crate) fn all(&self) -> Vec<Arc<Run>> {
        let mut all = Vec::new();
        for shard in &self.shards {
            for runs in lock(shard).values() {
                match runs {
                    Runs::One(run) => all.push(Arc::clone(run)),
                    Runs::Many(runs) => all.extend(runs.iter().cloned()),
                }
            }
        }
        all
    }
}
