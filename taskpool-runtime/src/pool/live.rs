//! The runs `cancel(id)` and pool info cannot find where the scheduler keeps them, by task id.
//!
//! A plain run is always somewhere the core can scan under its lock: the intake or a lane while
//! it waits, a thread's slot while it executes. So it is *not* tracked here: a per-task insert
//! and remove was the largest cost of an empty task, paid for `cancel(id)` and `info()`, which
//! are rare; those now scan the lanes and slots instead (see `scheduler/README.md`; a burst of
//! `cancel(id)` over a long queue uses the core's `lane_index.rs` rather than a scan each). Tracked
//! here are only the runs that live elsewhere for a while: runs with hooks (a composer may hold
//! them before they are queued), `async` runs from their first poll until their future ends
//! (a suspended future is in no lane and on no thread), and runs executed inline by a waiting
//! thread. A count of entries lets the finish path skip the lock when nothing is tracked.
//!
//! The map is sharded by id, hashes ids with a multiply instead of SipHash (ids are sequential,
//! not attacker-chosen), and stores a task's single run inline.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::run::Run;
use crate::sync::atomic::{AtomicUsize, Ordering};
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

/// The runs of one task: almost always exactly one. Many (a task executed by reference again
/// and again, its runs held in turn) are keyed by address, so that tracking and forgetting
/// each stays O(1) however many wait: a list made draining N runs O(N²).
enum Runs {
    One(Arc<Run>),
    Many(HashMap<usize, Arc<Run>>),
}

/// The key of a run among the many of its task.
fn address(run: &Arc<Run>) -> usize {
    Arc::as_ptr(run).cast::<()>() as usize
}

type Shard = HashMap<TaskId, Runs, BuildHasherDefault<IdHasher>>;

#[derive(Default)]
pub(crate) struct LiveRuns {
    shards: [Mutex<Shard>; SHARDS],
    /// Entries inserted and not yet removed (an upper bound while a remove is under way). A run
    /// is inserted before anything can remove it, by the same thread or one that received the
    /// run from it, so a remover that reads zero knows the run is not here.
    count: AtomicUsize,
}

impl LiveRuns {
    fn shard(&self, id: TaskId) -> &Mutex<Shard> {
        &self.shards[id.into_raw() as usize % SHARDS]
    }

    pub(crate) fn insert(&self, run: &Arc<Run>) {
        self.count.fetch_add(1, Ordering::SeqCst);
        Self::insert_in(&mut lock(self.shard(run.id)), run);
    }

    fn insert_in(shard: &mut Shard, run: &Arc<Run>) {
        let id = run.id;
        match shard.remove(&id) {
            None => shard.insert(id, Runs::One(Arc::clone(run))),
            Some(Runs::One(first)) => {
                let both = [first, Arc::clone(run)].map(|run| (address(&run), run));
                shard.insert(id, Runs::Many(HashMap::from(both)))
            }
            Some(Runs::Many(mut runs)) => {
                runs.insert(address(run), Arc::clone(run));
                shard.insert(id, Runs::Many(runs))
            }
        };
    }

    pub(crate) fn remove(&self, run: &Arc<Run>) {
        if self.count.load(Ordering::SeqCst) == 0 {
            return;
        }
        let id = run.id;
        let mut shard = lock(self.shard(id));
        let removed = match shard.get_mut(&id) {
            Some(Runs::One(only)) if Arc::ptr_eq(only, run) => {
                shard.remove(&id);
                1
            }
            Some(Runs::Many(runs)) => {
                let removed = usize::from(runs.remove(&address(run)).is_some());
                if runs.is_empty() {
                    shard.remove(&id);
                }
                removed
            }
            _ => 0,
        };
        drop(shard);
        if removed > 0 {
            self.count.fetch_sub(removed, Ordering::SeqCst);
        }
    }

    /// Tracks `run` unless it is tracked already.
    pub(crate) fn insert_once(&self, run: &Arc<Run>) {
        let mut shard = lock(self.shard(run.id));
        let tracked = match shard.get(&run.id) {
            None => false,
            Some(Runs::One(only)) => Arc::ptr_eq(only, run),
            Some(Runs::Many(runs)) => runs.contains_key(&address(run)),
        };
        if !tracked {
            // Counted before it can be seen (see `count`).
            self.count.fetch_add(1, Ordering::SeqCst);
            Self::insert_in(&mut shard, run);
        }
    }

    /// The runs of task `id` that are still tracked.
    pub(crate) fn runs_of(&self, id: TaskId) -> Vec<Arc<Run>> {
        match lock(self.shard(id)).get(&id) {
            None => Vec::new(),
            Some(Runs::One(run)) => vec![Arc::clone(run)],
            Some(Runs::Many(runs)) => runs.values().cloned().collect(),
        }
    }

    /// Every tracked run.
    pub(crate) fn all(&self) -> Vec<Arc<Run>> {
        let mut all = Vec::new();
        for shard in &self.shards {
            for runs in lock(shard).values() {
                match runs {
                    Runs::One(run) => all.push(Arc::clone(run)),
                    Runs::Many(runs) => all.extend(runs.values().cloned()),
                }
            }
        }
        all
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;
    use crate::priority::Priority;
    use crate::run::TypedRun;
    use crate::task::Owner;

    fn run(name: &'static &'static str) -> Arc<Run> {
        let call: crate::task::Call<()> = Box::new(|| crate::function::Invocation::Ready(Ok(())));
        TypedRun::new(
            Owner::anonymous(name),
            Priority::Medium,
            call,
            std::sync::Weak::new(),
            None,
        )
    }

    /// One run is inserted, handed to another thread and removed there, while a third thread
    /// tracks and forgets a run of its own: the count's fast path (a remover that reads zero
    /// skips the lock) never leaves an entry behind, and the count ends at zero.
    #[test]
    fn a_handed_over_run_is_removed_and_the_count_returns_to_zero() {
        loom::model(|| {
            let live = loom::sync::Arc::new(LiveRuns::default());
            let first = run(&"loom::first");
            live.insert(&first);
            let remover = {
                let live = live.clone();
                loom::thread::spawn(move || live.remove(&first))
            };
            let other = {
                let live = live.clone();
                loom::thread::spawn(move || {
                    let second = run(&"loom::second");
                    live.insert_once(&second);
                    live.insert_once(&second);
                    live.remove(&second);
                })
            };
            remover.join().unwrap();
            other.join().unwrap();
            assert!(live.all().is_empty(), "an entry was left behind");
            assert_eq!(live.count.load(Ordering::SeqCst), 0);
        });
    }
}
