//! `AsyncRunner`: at most `running_capacity` of its tasks run at once, at most
//! `waiting_capacity` wait; when the waiting queue is full the oldest waiting task is discarded
//! (ArkTS `taskpool.AsyncRunner`).

use std::collections::HashSet;
use std::fmt;
use std::sync::{OnceLock, Weak};

use crate::error::{Error, Result};
use crate::handle::TaskHandle;
use crate::pool::{PoolShared, TaskPool};
use crate::priority::Priority;
use crate::run::{Holder, Run, RunHeader, RunHooks};
use crate::sync::{Arc, Mutex, lock};
use crate::task::Task;

use super::NamedRunners;
use super::serial::Waiting;

/// Runs tasks with a bound on how many run at once and how many wait (ArkTS
/// `taskpool.AsyncRunner`).
///
/// A task given to [`execute`](AsyncRunner::execute) starts at once if fewer than
/// `running_capacity` of the runner's tasks are running; otherwise it waits, in submission
/// order. With a `waiting_capacity` (0 means unbounded), a task that arrives when the waiting
/// queue is full pushes out the **oldest** waiting task, whose handle fails with
/// [`Error::AsyncRunnerDiscarded`] (10200054). A waiting task that is canceled fails with
/// [`Error::AsyncRunnerCanceled`] (10200055) and never runs; a running one is flagged as usual
/// ([`is_canceled`](crate::is_canceled)), and an `async` one suspended at an `.await` is
/// dropped there: both fail with [`Error::Canceled`], as outside a runner.
///
/// A running task that waits for (or awaits) a waiting task of its own runner gets
/// [`Error::WaitsForItself`] at once when every running slot is held by the waiting thread's
/// own runs (a running capacity of 1): no slot can free up for the task it waits for. With a
/// slot held elsewhere, the wait goes on until that slot frees up.
///
/// The task moves into the runner, so it cannot also be executed by another API, and tasks of a
/// group, a sequence runner or a periodic execution cannot be given to it (all compile-time
/// errors). A task already executed by another API gives [`Error::ExecutedByAnotherApi`]
/// (10200057); a task with dependencies gives [`Error::AsyncRunnerDependentTask`] (10200025, as
/// ArkTS, which checks it first: a task with dependencies executed before gets 10200025). A task
/// that another task depends on is accepted (ArkTS refuses it too; see the README).
///
/// ```
/// use taskpool::{concurrent, AsyncRunner, Priority, Task};
///
/// #[concurrent]
/// fn double(x: u32) -> u32 {
///     x * 2
/// }
///
/// let runner = AsyncRunner::new(2, 0).unwrap(); // 2 at once, unbounded waiting
/// let handles: Vec<_> = (1..=4)
///     .map(|x| runner.execute(Task::new(double, (x,)), Priority::Medium))
///     .collect();
/// let results: Vec<u32> = handles.into_iter().map(|h| h.wait().unwrap()).collect();
/// assert_eq!(results, [2, 4, 6, 8]);
/// assert_eq!(AsyncRunner::new(0, 0).unwrap_err().code(), Some(401));
/// ```
#[derive(Clone)]
pub struct AsyncRunner {
    inner: Arc<Inner>,
}

struct Inner {
    name: Option<String>,
    running_capacity: usize,
    waiting_capacity: usize,
    pool: Weak<PoolShared>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The runs that were queued in the pool and have not settled (by header address).
    running: HashSet<usize>,
    /// Held runs, oldest first.
    waiting: Waiting,
}

fn key(run: &RunHeader) -> usize {
    std::ptr::from_ref(run) as usize
}

/// What `execute` does with a prepared run.
struct Admitted {
    /// Queue it now (it counts as running).
    start: bool,
    /// The oldest waiting run, pushed out of a full queue: to discard (10200054).
    discarded: Option<Arc<Run>>,
}

impl State {
    /// A prepared run arrives. Checked under the lock the hook takes: a cancel that landed
    /// before is seen here, one that lands after finds the run running or waiting.
    fn admit(
        &mut self,
        run: &Arc<Run>,
        running_capacity: usize,
        waiting_capacity: usize,
    ) -> Admitted {
        if !run.is_waiting() {
            // Canceled already: its settle has run, nothing to track.
            return Admitted {
                start: false,
                discarded: None,
            };
        }
        if self.running.len() < running_capacity {
            self.running.insert(key(run));
            return Admitted {
                start: true,
                discarded: None,
            };
        }
        let discarded = if waiting_capacity > 0 && self.waiting.len() >= waiting_capacity {
            self.waiting.pop_front()
        } else {
            None
        };
        self.waiting.push_back(Arc::clone(run));
        Admitted {
            start: false,
            discarded,
        }
    }

    /// `run` ended (no code of it runs any more: see `RunHooks::on_ended`). If it was running,
    /// its slot goes to the oldest waiting run (skipping those canceled meanwhile), returned to
    /// be queued; a waiting run that ended (canceled, discarded, shut down) just leaves the
    /// queue.
    fn ended(&mut self, run: &RunHeader) -> Option<Arc<Run>> {
        if !self.running.remove(&key(run)) {
            self.waiting.remove(run);
            return None;
        }
        while let Some(candidate) = self.waiting.pop_front() {
            if candidate.is_waiting() {
                self.running.insert(key(&candidate));
                return Some(candidate);
            }
        }
        None
    }

    /// If `run` waits here, what it waits behind (see `RunHooks::held_behind`): the one
    /// running slot's run; with several slots, the first when the calling thread executes
    /// every one (no slot frees up while it waits), else any of them, which the walk cannot
    /// name: a slot held elsewhere may free up, so no cycle runs through it, but the runs
    /// holding the slots may be waiting for a thread of the waiting one's pool.
    fn held_behind(&self, run: &RunHeader, holders: &mut Vec<Holder>) {
        if !self.waiting.contains(run) {
            return;
        }
        let mut running = self.running.iter().copied();
        match (running.next(), running.next()) {
            (Some(only), None) => holders.push(Holder::Executing(only)),
            (Some(first), Some(_))
                if self
                    .running
                    .iter()
                    .all(|&running| crate::context::is_executing_at(running)) =>
            {
                holders.push(Holder::Executing(first));
            }
            (Some(_), Some(_)) => holders.push(Holder::AnyOf),
            (None, _) => {}
        }
    }

    /// Nothing will run any more (the pool is gone or shutting down): the waiting runs, to be
    /// canceled by the caller, who leaves the queue empty so their hooks find nothing to do.
    fn abandon(&mut self) -> Vec<Arc<Run>> {
        self.waiting.drain()
    }
}

/// The runner's hook on each of its runs.
struct Member(Arc<Inner>);

impl RunHooks for Member {
    // A run that timed out keeps its turn until its call returns.
    fn on_ended(&self, run: &RunHeader) {
        let next = lock(&self.0.state).ended(run);
        if let Some(next) = next {
            crate::compose::hand_over(next, || {
                crate::compose::Abandoned::all(lock(&self.0.state).abandon())
            });
        }
    }

    fn canceled_error(&self, run: &RunHeader) -> Option<Error> {
        Some(Error::AsyncRunnerCanceled(run.id))
    }

    fn held_behind(&self, run: &RunHeader, holders: &mut Vec<Holder>) {
        lock(&self.0.state).held_behind(run, holders);
    }
}

impl AsyncRunner {
    /// A runner on the global pool (ArkTS `new AsyncRunner(runningCapacity, waitingCapacity)`):
    /// at most `running_capacity` tasks at once (more than 0, else 401), at most
    /// `waiting_capacity` waiting (0: unbounded).
    pub fn new(running_capacity: usize, waiting_capacity: usize) -> Result<AsyncRunner> {
        TaskPool::global().async_runner(running_capacity, waiting_capacity)
    }

    /// The process-wide runner called `name` on the global pool, created on first use with
    /// these capacities (ArkTS `new AsyncRunner(name, runningCapacity, waitingCapacity)`).
    /// Later calls with the same name return that runner while it lives — while a handle to it
    /// or a task in it does — and the capacities of its creation stand. Once the last handle
    /// and task are gone, the name makes a new runner (as ArkTS destroys a global runner with
    /// its last reference), so short-lived names do not accumulate. 401 if `running_capacity`
    /// is 0.
    ///
    /// ```
    /// let a = taskpool::AsyncRunner::named("uploads", 1, 8).unwrap();
    /// let b = taskpool::AsyncRunner::named("uploads", 4, 0).unwrap();
    /// assert_eq!(b.running_capacity(), 1);
    /// assert_eq!(a.name(), Some("uploads"));
    /// ```
    pub fn named(
        name: &str,
        running_capacity: usize,
        waiting_capacity: usize,
    ) -> Result<AsyncRunner> {
        static NAMED: OnceLock<std::sync::Mutex<NamedRunners<Inner>>> = OnceLock::new();
        // The parameters first, as documented: a running capacity of 0 is 401 even when the
        // name is already in use (the existing runner is not returned for it).
        check_running_capacity(running_capacity)?;
        let mut named = NAMED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let inner = super::find_or_create_runner(&mut named, name, || {
            AsyncRunner::build(
                Some(name.to_owned()),
                TaskPool::global(),
                running_capacity,
                waiting_capacity,
            )
            .map(|runner| runner.inner)
        })?;
        Ok(AsyncRunner { inner })
    }

    fn build(
        name: Option<String>,
        pool: &TaskPool,
        running_capacity: usize,
        waiting_capacity: usize,
    ) -> Result<AsyncRunner> {
        check_running_capacity(running_capacity)?;
        Ok(AsyncRunner {
            inner: Arc::new(Inner {
                name,
                running_capacity,
                waiting_capacity,
                pool: Arc::downgrade(pool.shared()),
                state: Mutex::new(State::default()),
            }),
        })
    }

    /// The runner's name, if it is a named runner.
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// How many of its tasks may run at once.
    pub fn running_capacity(&self) -> usize {
        self.inner.running_capacity
    }

    /// How many of its tasks may wait (0: unbounded).
    pub fn waiting_capacity(&self) -> usize {
        self.inner.waiting_capacity
    }

    /// Executes `task` in lane `priority` once fewer than `running_capacity` of the runner's
    /// tasks run (ArkTS `runner.execute(task, priority)`). See the type's documentation for the
    /// waiting queue and the errors.
    pub fn execute<T: Send + 'static>(&self, task: Task<T>, priority: Priority) -> TaskHandle<T> {
        let Some(pool) = self.inner.pool.upgrade() else {
            return crate::compose::refused(None, task, Error::PoolShutDown);
        };
        // ArkTS's order (`CanForAsyncRunner`): the dependencies first, then an earlier execution.
        if task.has_dependencies() {
            let error = Error::AsyncRunnerDependentTask(task.id());
            return crate::compose::refused(Some(&pool), task, error);
        }
        if task
            .record()
            .executed
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            let error = Error::ExecutedByAnotherApi(task.id());
            return crate::compose::refused(Some(&pool), task, error);
        }
        let hooks: Arc<dyn RunHooks> = Arc::new(Member(Arc::clone(&self.inner)));
        let prepared = pool.prepare(task, Some(priority), Some(hooks));
        let Some(run) = prepared.run else {
            return prepared.handle;
        };
        let Admitted { start, discarded } = lock(&self.inner.state).admit(
            &run,
            self.inner.running_capacity,
            self.inner.waiting_capacity,
        );
        if let Some(oldest) = discarded {
            let error = Error::AsyncRunnerDiscarded(oldest.id);
            pool.discard(&oldest, error);
        }
        if start {
            pool.enqueue(run);
        }
        prepared.handle
    }
}

/// 401 for a running capacity of 0: such a runner could never run a task.
fn check_running_capacity(running_capacity: usize) -> Result<()> {
    if running_capacity == 0 {
        return Err(Error::InvalidConfig {
            setting: "running_capacity",
            reason: "must be greater than 0".to_owned(),
        });
    }
    Ok(())
}

impl TaskPool {
    /// An [`AsyncRunner`] on this pool; 401 if `running_capacity` is 0.
    pub fn async_runner(
        &self,
        running_capacity: usize,
        waiting_capacity: usize,
    ) -> Result<AsyncRunner> {
        AsyncRunner::build(None, self, running_capacity, waiting_capacity)
    }
}

impl fmt::Debug for AsyncRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.inner.state);
        f.debug_struct("AsyncRunner")
            .field("name", &self.inner.name)
            .field("running_capacity", &self.inner.running_capacity)
            .field("waiting_capacity", &self.inner.waiting_capacity)
            .field("running", &state.running.len())
            .field("waiting", &state.waiting.len())
            .finish()
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;
    use crate::function::Invocation;
    use crate::run::TypedRun;
    use crate::task::Call;

    fn run() -> Arc<Run> {
        let record = crate::task::Owner::anonymous(&"loom::member");
        let call: Call<u32> = Box::new(|| Invocation::Ready(Ok(0)));
        TypedRun::new(record, Priority::Medium, call, Weak::new(), None)
    }

    /// Capacities 1 and 1: the running run settles (thread A) while a new run arrives (B) and
    /// finds the waiting queue full or not. Never more than one run handed out and unsettled;
    /// the oldest waiting run is discarded exactly once, or runs — never both, never lost.
    #[test]
    fn settle_versus_execute_keeps_the_bounds() {
        loom::model(|| {
            let runs: Vec<Arc<Run>> = (0..3).map(|_| run()).collect();
            let state = Arc::new(Mutex::new(State {
                running: HashSet::from([key(&runs[0])]),
                waiting: Waiting::from_iter([Arc::clone(&runs[1])]),
            }));
            // Per run: handed out (queued) / discarded, counted under the state's lock.
            let handed = Arc::new(Mutex::new(vec![Arc::clone(&runs[0])]));
            let discarded = Arc::new(Mutex::new(Vec::<Arc<Run>>::new()));
            let hand_out = {
                let handed = Arc::clone(&handed);
                move |state: &State, run: Option<&Arc<Run>>| {
                    assert!(state.running.len() <= 1, "over the running capacity");
                    if let Some(run) = run {
                        let mut handed = lock(&handed);
                        let unsettled = handed.iter().filter(|r| r.is_waiting()).count();
                        assert_eq!(unsettled, 0, "a second run handed out while one runs");
                        handed.push(Arc::clone(run));
                    }
                }
            };
            let settle = {
                let (state, hand_out) = (Arc::clone(&state), hand_out.clone());
                move |run: &Arc<Run>, discard: bool| {
                    if discard {
                        run.discard(Error::AsyncRunnerDiscarded(run.id));
                    } else {
                        run.cancel();
                    }
                    let mut state = lock(&state);
                    let next = state.ended(run);
                    hand_out(&state, next.as_ref());
                }
            };
            let a = {
                let (first, settle) = (Arc::clone(&runs[0]), settle.clone());
                loom::thread::spawn(move || settle(&first, false))
            };
            let admitted = {
                let mut state = lock(&state);
                let admitted = state.admit(&runs[2], 1, 1);
                hand_out(&state, admitted.start.then_some(&runs[2]));
                admitted
            };
            if let Some(oldest) = &admitted.discarded {
                assert!(Arc::ptr_eq(oldest, &runs[1]), "the oldest waiting run goes");
                lock(&discarded).push(Arc::clone(oldest));
                settle(oldest, true);
            }
            a.join().unwrap();
            loop {
                let current = lock(&state).running.iter().next().copied();
                let Some(current) = current else { break };
                let run = lock(&handed)
                    .iter()
                    .find(|r| key(r) == current)
                    .cloned()
                    .expect("a running run was handed out");
                settle(&run, false);
            }
            let handed = lock(&handed);
            let discarded = lock(&discarded);
            for (index, run) in runs.iter().enumerate() {
                let times = handed.iter().filter(|r| Arc::ptr_eq(r, run)).count()
                    + discarded.iter().filter(|r| Arc::ptr_eq(r, run)).count();
                assert_eq!(times, 1, "run {index} handed out or discarded exactly once");
            }
            let state = lock(&state);
            assert!(state.running.is_empty() && state.waiting.len() == 0);
        });
    }
}
