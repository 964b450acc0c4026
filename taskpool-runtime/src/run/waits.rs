//! Who waits for whom: a blocking wait that could never end fails at once.
//!
//! A thread executing runs that blocks on a handle registers what it waits for and which of
//! its runs are stuck meanwhile — all of them: an outer run cannot return before the inner one
//! that waits. Before it blocks, the wait follows what its targets wait for in turn: a target
//! executing on a thread blocked in a registered wait waits for that wait's targets, and a
//! target a runner or a dependency holds waits for what holds it ([`RunHooks::held_behind`]).
//! If that reaches a run of the waiting thread's own, the wait would wait for itself, through
//! the others: it fails with `WaitsForItself` instead of blocking until a time limit ends the
//! cycle. Looking and registering happen under one lock, so of the waits that close a cycle
//! between them, the last to register sees the others'.
//!
//! A wait's target already resolved (a run that timed out, its call still executing) leads
//! nowhere, even while its waiting thread has not noticed yet (busy standing in for other
//! work). An `.await` holds up only the run polled and the runs beneath it on its thread that
//! wait for it (running it inline), not one blocked in a wait for something else that the
//! thread stands in on top of: the `.await` gives the thread back.
//!
//! Not seen: a thread blocked elsewhere (a lock, a channel), and `async` runs suspended at an
//! `.await`, which hold no thread (their poll looks, but registers nothing); an `AsyncRunner`
//! with several running slots holds its waiting runs behind the caller only when every slot is
//! the calling thread's own (otherwise behind [`Holder::AnyOf`]: no cycle, but what a wait
//! needs is then unknown).
//!
//! The same walk answers a second question: what a blocked wait *needs* ([`needs`]). A pool
//! at its ceiling whose threads all wait lets a waiting thread execute a job on top of its
//! waiting task; a job the wait leads to cannot come to wait for that task unless the program
//! itself made a cycle, while any other job may (the pool would then have made the cycle).
//!
//! [`RunHooks::held_behind`]: super::RunHooks::held_behind

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use super::{Phase, Run, RunHeader};
use crate::pool::PoolShared;
use crate::priority::Priority;
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::{Arc, Mutex, lock};
use crate::task::TaskId;

/// What a held run waits for (see [`RunHooks::held_behind`](super::RunHooks::held_behind)).
pub(crate) enum Holder {
    /// A run, which may itself be held, executing, or blocked in a wait.
    Run(Arc<Run>),
    /// A run executing somewhere, known by its header's address (how runners track theirs).
    Executing(usize),
    /// A run of this task (a dependency: the held run needs one of them to succeed).
    Task(TaskId),
    /// Any of several runs the walk cannot name (a runner with several running slots: the
    /// first of its running runs to end frees one). No cycle runs through it, and any waiting
    /// job may be what frees it.
    AnyOf,
}

/// The address that identifies a run while it lives.
pub(crate) fn address(run: &RunHeader) -> usize {
    std::ptr::from_ref(run) as usize
}

/// One blocking wait in progress.
struct Blocked {
    /// The runs of the waiting thread, each stuck until the wait ends.
    stuck: Vec<Arc<Run>>,
    /// What it waits for (a group waits for all its members).
    targets: Vec<Arc<Run>>,
}

#[derive(Default)]
struct Registry {
    next_key: u64,
    blocked: HashMap<u64, Blocked>,
    /// The waits each stuck run is stuck in, by the run's address and by its task: a walk
    /// looks up what a run waits for instead of scanning every wait (a chain of N blocked
    /// threads, each new wait walking it, cost N² per wait under the lock).
    by_run: HashMap<usize, Vec<u64>>,
    by_task: HashMap<TaskId, Vec<u64>>,
}

impl Registry {
    /// Registers a wait; its key.
    fn insert(&mut self, stuck: Vec<Arc<Run>>, targets: Vec<Arc<Run>>) -> u64 {
        let key = self.next_key;
        self.next_key = key.wrapping_add(1);
        for run in &stuck {
            self.by_run.entry(address(run)).or_default().push(key);
            self.by_task.entry(run.id).or_default().push(key);
        }
        self.blocked.insert(key, Blocked { stuck, targets });
        key
    }

    /// Unregisters a wait; what it held, to drop after the lock.
    fn remove(&mut self, key: u64) -> Option<Blocked> {
        let removed = self.blocked.remove(&key)?;
        for run in &removed.stuck {
            unindex(&mut self.by_run, address(run), key);
            unindex(&mut self.by_task, run.id, key);
        }
        Some(removed)
    }

    /// The runs of `entered` (a thread's, innermost last) held up by an `.await` of the
    /// innermost one: it, and each run beneath that waits for the one above it — executing it
    /// inline (not registered yet), or blocked in a wait for it — down to the first one blocked
    /// in a wait for something else: its thread stands in for unrelated work on top of it, and
    /// the `.await`, which gives the thread back, does not hold it up.
    fn awaiting<'a>(&self, entered: &'a [Arc<Run>]) -> &'a [Arc<Run>] {
        let mut from = entered.len().saturating_sub(1);
        while from > 0 {
            let (below, above) = (&entered[from - 1], &entered[from]);
            let keys = self.by_run.get(&address(below)).into_iter().flatten();
            let own_wait = keys.filter_map(|key| self.blocked.get(key)).find(|wait| {
                wait.stuck
                    .last()
                    .is_some_and(|last| Arc::ptr_eq(last, below))
            });
            let waits_for_above = own_wait
                .is_none_or(|wait| wait.targets.iter().any(|target| Arc::ptr_eq(target, above)));
            if !waits_for_above {
                break;
            }
            from -= 1;
        }
        &entered[from..]
    }

    /// Queues the targets of every wait in `keys` (those a run, or a task's runs, are stuck in).
    fn follow(&self, keys: Option<&Vec<u64>>, todo: &mut Vec<Holder>) {
        for key in keys.into_iter().flatten() {
            if let Some(wait) = self.blocked.get(key) {
                todo.extend(waited_for(&wait.targets));
            }
        }
    }
}

fn unindex<K: std::hash::Hash + Eq>(index: &mut HashMap<K, Vec<u64>>, at: K, key: u64) {
    if let std::collections::hash_map::Entry::Occupied(mut entry) = index.entry(at) {
        entry.get_mut().retain(|&k| k != key);
        if entry.get().is_empty() {
            entry.remove();
        }
    }
}

/// The blocking waits in progress, in the whole process (a cycle may cross pools).
#[derive(Default)]
pub(crate) struct Waits {
    registry: Mutex<Registry>,
    /// Bumped (under the lock) whenever a wait registers or ends: tells a reader outside the
    /// lock whether what it saw under it is still the picture (see [`Needs::executing`]).
    generation: AtomicU64,
}

/// A registered wait, removed when dropped.
pub(crate) struct Registered<'a> {
    waits: &'a Waits,
    key: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        let removed = {
            let mut registry = lock(&self.waits.registry);
            self.waits.generation.fetch_add(1, Ordering::SeqCst);
            registry.remove(self.key)
        };
        // After the lock: a run's last reference may go with it, and its outcome's `Drop`
        // is user code.
        drop(removed);
    }
}

impl Waits {
    /// The process's registry.
    pub(crate) fn global() -> &'static Waits {
        static WAITS: OnceLock<Waits> = OnceLock::new();
        WAITS.get_or_init(Waits::default)
    }

    /// Registers the wait of a thread executing `stuck` for `targets`, unless waiting could
    /// never end: then the id of the task among `stuck` that it would wait for.
    pub(crate) fn enter(
        &self,
        stuck: Vec<Arc<Run>>,
        targets: Vec<Arc<Run>>,
    ) -> Result<Registered<'_>, TaskId> {
        let mut registry = lock(&self.registry);
        if let Some(id) = reaches(&registry, &stuck, &targets, true) {
            drop(registry);
            return Err(id);
        }
        let key = registry.insert(stuck, targets);
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(Registered { waits: self, key })
    }

    /// The task among the runs of a thread executing `entered` (innermost last) that an
    /// `.await` of the innermost one for `targets` would wait for, if any, without registering
    /// a wait (an `.await` holds no thread).
    pub(crate) fn cycle(&self, entered: &[Arc<Run>], targets: &[Arc<Run>]) -> Option<TaskId> {
        let registry = lock(&self.registry);
        let stuck = registry.awaiting(entered);
        reaches(&registry, stuck, targets, false)
    }
}

/// Follows what `targets` wait for; the first run of `stuck` reached, by its task's id.
/// `blocking`: the calling thread is about to block (an `.await` suspends instead, and an
/// IDLE run suspended lets its pool's IDLE lane go).
fn reaches(
    registry: &Registry,
    stuck: &[Arc<Run>],
    targets: &[Arc<Run>],
    blocking: bool,
) -> Option<TaskId> {
    let stuck_at = |at: usize| stuck.iter().find(|run| address(run) == at).map(|r| r.id);
    let mine = if blocking { stuck } else { &[] };
    walk(registry, targets, mine, |holder, _| match holder {
        Holder::Run(run) => stuck_at(address(run)),
        Holder::Executing(at) => stuck_at(*at),
        Holder::Task(id) => stuck.iter().any(|run| run.id == *id).then_some(*id),
        Holder::AnyOf => None,
    })
}

/// Visits, once each, what `targets` wait for, and what those wait for in turn: the targets
/// of the registered waits they are stuck in, what holds them back (runners, dependencies) and,
/// for an IDLE run not started, the IDLE runs executing on blocked threads (`mine`: the
/// caller's own, if it blocks). `visit` also learns whether the holder is stuck in a
/// registered wait (then followed); the first value it returns ends the walk.
fn walk<R>(
    registry: &Registry,
    targets: &[Arc<Run>],
    mine: &[Arc<Run>],
    mut visit: impl FnMut(&Holder, bool) -> Option<R>,
) -> Option<R> {
    let mut todo: Vec<Holder> = waited_for(targets).collect();
    let mut seen_runs = HashSet::new();
    let mut seen_tasks = HashSet::new();
    while let Some(holder) = todo.pop() {
        // Followed even if resolved: resolved targets of waits are left out already
        // (`waited_for`), and a run a runner holds behind one that timed out waits for that
        // one's call to return, which may itself be blocked in a wait.
        let (fresh, keys) = match &holder {
            Holder::Run(run) => (
                seen_runs.insert(address(run)),
                registry.by_run.get(&address(run)),
            ),
            Holder::Executing(at) => (seen_runs.insert(*at), registry.by_run.get(at)),
            Holder::Task(id) => (seen_tasks.insert(*id), registry.by_task.get(id)),
            Holder::AnyOf => (true, None),
        };
        if !fresh {
            continue;
        }
        if let Some(found) = visit(&holder, keys.is_some()) {
            return Some(found);
        }
        registry.follow(keys, &mut todo);
        if let Holder::Run(run) = &holder {
            run.held_behind(&mut todo);
            if run.priority == Priority::Idle && run.is_waiting() {
                let theirs = registry.blocked.values().flat_map(|wait| &wait.stuck);
                todo.extend(idle_lane_holders(&**run, mine.iter().chain(theirs)));
            }
        }
    }
    None
}

/// What the blocked wait of a pool thread needs done before it can end, as far as the
/// registry sees: what a thread of a pool at its ceiling, all of whose threads wait, may
/// execute in its wait (see `Core::stand_in`) without stacking a job on top of its own run
/// that could come to wait for that run — a cycle made by the pool, not by the program.
#[derive(Default)]
pub(crate) struct Needs {
    /// Runs waiting in their pool's lanes (queued, or woken `async` runs) that the wait
    /// waits for, directly or through other blocked waits, runners and dependencies.
    pub(crate) jobs: Vec<Arc<Run>>,
    /// The wait leads somewhere the registry cannot follow: an `async` run suspended at an
    /// `.await`, the runs of a task (a dependency), a slot of a runner with several. Any
    /// waiting job may be the one it needs.
    unknown: bool,
    /// The wait leads to a run executing outside a registered wait. With every thread of the
    /// pool blocked, its thread blocks elsewhere (a lock, a channel) — unknown, as above —
    /// if the registry has not changed since: otherwise the run may have blocked in a wait
    /// registered since, which a fresh look would follow ([`is_outdated`](Needs::is_outdated):
    /// the waiting thread looks again).
    executing: bool,
    /// The registry's generation when it was looked at.
    generation: u64,
}

impl Needs {
    /// Nothing the registry can see: any job may be needed (the thread waits outside a
    /// registered wait).
    fn unknown() -> Needs {
        Needs {
            unknown: true,
            ..Needs::default()
        }
    }

    /// Whether the wait may need any job: it cannot tell which (see the fields).
    pub(crate) fn any_job(&self) -> bool {
        self.any_job_in(Waits::global())
    }

    fn any_job_in(&self, waits: &Waits) -> bool {
        self.unknown || (self.executing && !self.is_outdated_in(waits))
    }

    /// Whether a run seen executing may have blocked in a wait registered since the look: a
    /// fresh look could tell more.
    pub(crate) fn is_outdated(&self) -> bool {
        self.is_outdated_in(Waits::global())
    }

    fn is_outdated_in(&self, waits: &Waits) -> bool {
        self.executing && waits.generation.load(Ordering::SeqCst) != self.generation
    }

    /// Treats the wait as one that cannot tell what it needs.
    pub(crate) fn assume_any_job(&mut self) {
        self.unknown = true;
    }

    /// Keeps the jobs of `pool` only, what a thread of it may execute. A job of another pool
    /// waits for a thread of that pool, which may be blocked in turn on a job waiting here:
    /// this pool's work may be what the wait needs, and the walk does not follow the other
    /// pool's threads to tell, so the wait then cannot tell what it needs.
    pub(crate) fn keep_jobs_of(&mut self, pool: *const PoolShared) {
        let needed = self.jobs.len();
        self.jobs
            .retain(|run| std::ptr::eq(run.pool.as_ptr(), pool));
        if self.jobs.len() < needed {
            self.assume_any_job();
        }
    }

    /// Adds what `holder`, not stuck in a registered wait, stands for.
    fn note(&mut self, holder: &Holder) {
        match holder {
            Holder::Run(run) => match run.phase() {
                Phase::Queued | Phase::Woken => self.jobs.push(Arc::clone(run)),
                Phase::Suspended => self.unknown = true,
                Phase::Executing => self.executing = true,
                // A held run's holders are followed; one held by nothing waits for its delay
                // or its release, which comes by itself.
                Phase::Held | Phase::Ended => {}
            },
            Holder::Executing(_) => self.executing = true,
            Holder::Task(_) | Holder::AnyOf => self.unknown = true,
        }
    }
}

/// What the calling thread's registered blocking wait needs (see [`Needs`]); unknown when it
/// has none (it blocks in another kind of wait).
pub(crate) fn needs() -> Needs {
    Waits::global().needs_of(&crate::context::entered_runs())
}

impl Waits {
    /// What the registered wait of a thread executing `entered` (innermost last) needs.
    fn needs_of(&self, entered: &[Arc<Run>]) -> Needs {
        let Some(innermost) = entered.last() else {
            return Needs::unknown();
        };
        let registry = lock(&self.registry);
        let keys = registry
            .by_run
            .get(&address(innermost))
            .into_iter()
            .flatten();
        let own = keys
            .filter_map(|key| registry.blocked.get(key))
            .find(|wait| {
                wait.stuck
                    .last()
                    .is_some_and(|last| Arc::ptr_eq(last, innermost))
            });
        let Some(own) = own else {
            return Needs::unknown();
        };
        let mut needs = Needs {
            generation: self.generation.load(Ordering::SeqCst),
            ..Needs::default()
        };
        // Its own stuck runs are among the registered waits' already: no `mine` to add.
        walk(&registry, &own.targets, &[], |holder, in_a_wait| {
            if !in_a_wait {
                needs.note(holder);
            }
            None::<()>
        });
        drop(registry);
        needs
    }
}

/// What an IDLE run not started yet waits for besides its holds: the IDLE runs of its pool
/// executing on threads that block (one IDLE task executes at a time, and a blocked one keeps
/// the lane; only a suspended `async` one lets it go).
fn idle_lane_holders<'a>(
    run: &'a Run,
    executing: impl Iterator<Item = &'a Arc<Run>> + 'a,
) -> impl Iterator<Item = Holder> + 'a {
    executing
        .filter(move |other| {
            other.priority == Priority::Idle
                && !other.is_waiting()
                && std::sync::Weak::ptr_eq(&other.pool, &run.pool)
        })
        .map(|other| Holder::Executing(address(other)))
}

/// The targets of a wait still waited for. A target resolved — a run that timed out, its call
/// still executing, maybe on the walking thread — ends the wait, even if the waiting thread
/// has not noticed yet (it may be standing in for another job): it leads nowhere. So does one
/// whose resolver is on its way (`is_claimed`): a timed-out run is flagged before its outcome
/// is stored, and its call, seeing the flag, may walk before the store.
fn waited_for(targets: &[Arc<Run>]) -> impl Iterator<Item = Holder> + '_ {
    targets
        .iter()
        .filter(|target| !target.is_claimed())
        .cloned()
        .map(Holder::Run)
}

/// Registers a blocking wait of the calling thread for `targets` (see [`Waits::enter`]);
/// nothing to register on a thread that executes no run, which nothing can wait for.
pub(crate) fn block_on(
    targets: impl FnOnce() -> Vec<Arc<Run>>,
) -> Result<Option<Registered<'static>>, TaskId> {
    let stuck = crate::context::entered_runs();
    if stuck.is_empty() {
        return Ok(None);
    }
    Waits::global().enter(stuck, targets()).map(Some)
}

/// The task of the calling thread that waiting for `targets` would wait for, if any (see
/// [`Waits::cycle`]).
pub(crate) fn waits_for_itself(targets: impl FnOnce() -> Vec<Arc<Run>>) -> Option<TaskId> {
    let stuck = crate::context::entered_runs();
    if stuck.is_empty() {
        return None;
    }
    Waits::global().cycle(&stuck, &targets())
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;
    use crate::function::Invocation;
    use crate::priority::Priority;
    use crate::run::TypedRun;
    use crate::sync::atomic::{AtomicUsize, Ordering};
    use crate::task::Call;
    use std::sync::Weak;

    fn run() -> Arc<Run> {
        let owner = crate::task::Owner::anonymous(&"loom::wait");
        let call: Call<u32> = Box::new(|| Invocation::Ready(Ok(0)));
        TypedRun::new(owner, Priority::Medium, call, Weak::new(), None)
    }

    /// Two threads, each executing a run, start waiting for the other's run at once: at
    /// least one of the two waits is told, naming its own run's task (a cycle closed by two
    /// waits at once never goes unseen), while both stay registered until both decided.
    #[test]
    fn of_two_waits_closing_a_cycle_at_once_one_is_told() {
        loom::model(|| {
            let waits = Arc::new(Waits::default());
            let decided = Arc::new(AtomicUsize::new(0));
            let (a, b) = (run(), run());
            let wait = |mine: &Arc<Run>, other: &Arc<Run>| {
                let (waits, decided) = (Arc::clone(&waits), Arc::clone(&decided));
                let (mine, other) = (Arc::clone(mine), Arc::clone(other));
                loom::thread::spawn(move || {
                    let entered = waits.enter(vec![Arc::clone(&mine)], vec![other]);
                    decided.fetch_add(1, Ordering::SeqCst);
                    while decided.load(Ordering::SeqCst) < 2 {
                        loom::thread::yield_now();
                    }
                    match entered {
                        Ok(_registered) => None,
                        Err(id) => Some((id, mine.id)),
                    }
                })
            };
            let told: Vec<_> = [wait(&a, &b), wait(&b, &a)]
                .into_iter()
                .filter_map(|thread| thread.join().unwrap())
                .collect();
            assert!(!told.is_empty(), "the cycle went unseen");
            for (named, own) in told {
                assert_eq!(named, own);
            }
            assert!(lock(&waits.registry).blocked.is_empty());
        });
    }

    /// A waiting thread looks at what its wait needs while the thread executing its target
    /// blocks in a wait of its own for a queued run. The look sees that wait and needs the
    /// queued run, or sees the target executing outside any wait and may take any job only
    /// while no wait registered since: whenever the registry holds the target's wait at the
    /// moment of the check, "any job" is refused.
    #[test]
    fn a_target_seen_executing_is_blocked_elsewhere_only_while_no_wait_registered_since() {
        loom::model(|| {
            let waits = Arc::new(Waits::default());
            let (waiter, target, queued) = (run(), run(), run());
            assert!(target.try_start(), "executing");
            assert!(queued.mark_queued(), "in the lanes");
            let _waiting = waits
                .enter(vec![Arc::clone(&waiter)], vec![Arc::clone(&target)])
                .map_err(|_| ())
                .expect("no cycle");
            let blocking = {
                let (waits, target, queued) =
                    (Arc::clone(&waits), Arc::clone(&target), Arc::clone(&queued));
                loom::thread::spawn(move || {
                    let registered = waits.enter(vec![target], vec![queued]).is_ok();
                    assert!(registered, "no cycle");
                })
            };
            let needs = waits.needs_of(&[Arc::clone(&waiter)]);
            let any_job = needs.any_job_in(&waits);
            let target_waits_now = {
                let registry = lock(&waits.registry);
                let unchanged = waits.generation.load(Ordering::SeqCst) == needs.generation;
                unchanged && registry.by_run.contains_key(&address(&target))
            };
            blocking.join().unwrap();
            let needs_queued = needs.jobs.iter().any(|job| Arc::ptr_eq(job, &queued));
            assert!(
                needs_queued || needs.executing,
                "the walk saw one or the other"
            );
            assert!(!(needs_queued && needs.executing));
            assert!(
                !(any_job && target_waits_now),
                "took any job past a registered wait"
            );
            assert!(!needs.unknown);
        });
    }
}
