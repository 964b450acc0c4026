//! `SequenceRunner`: tasks executed strictly one after another, in submission order (ArkTS
//! `taskpool.SequenceRunner`).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{OnceLock, Weak};

use crate::error::Error;
use crate::handle::TaskHandle;
use crate::pool::{PoolShared, TaskPool};
use crate::priority::Priority;
use crate::run::{Run, RunHeader, RunHooks, Settled};
use crate::sync::{Arc, Mutex, lock};
use crate::task::Task;

/// Executes tasks one after another, in the order they were given, in one lane (ArkTS
/// `taskpool.SequenceRunner`).
///
/// A task starts only once the previous one has ended (returned, failed, panicked, timed out
/// or been canceled); a failure or a cancel does not stop the tasks after it. Canceling a task
/// that waits in the runner resolves its handle as canceled at once, and it never runs. The
/// tasks run on the pool's threads, at the runner's priority.
///
/// A task moves into the runner, so it cannot also be executed elsewhere (ArkTS reports that
/// at run time). A task with dependencies is refused with [`Error::DependentTaskInRunner`]
/// (10200025).
///
/// Named runners ([`SequenceRunner::named`]) are process-wide singletons on the global pool:
/// the same name gives the same runner, and the priority of its first creation stands.
///
/// ```
/// use taskpool::{concurrent, Priority, SequenceRunner, Task};
///
/// #[concurrent]
/// fn step(n: u32) -> u32 {
///     n * 10
/// }
///
/// let runner = SequenceRunner::new(Priority::High);
/// let handles: Vec<_> = (1..=3).map(|n| runner.execute(Task::new(step, (n,)))).collect();
/// let results: Vec<u32> = handles.into_iter().map(|h| h.wait().unwrap()).collect();
/// assert_eq!(results, [10, 20, 30]);
/// ```
#[derive(Clone)]
pub struct SequenceRunner {
    inner: Arc<Inner>,
}

struct Inner {
    name: Option<String>,
    priority: Priority,
    pool: Weak<PoolShared>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The run that was queued and has not settled yet.
    current: Option<Arc<Run>>,
    /// Held runs, in submission order.
    waiting: VecDeque<Arc<Run>>,
}

impl State {
    /// A prepared run joins the lane: true when it became the current run and is to be queued
    /// now, false when it waits (or was canceled already: nothing to track).
    ///
    /// Checked under the lock the hook takes: a cancel that landed before is seen here, one that
    /// lands after finds the run waiting or current.
    fn admit(&mut self, run: &Arc<Run>) -> bool {
        if !run.is_waiting() {
            false
        } else if self.current.is_none() {
            self.current = Some(Arc::clone(run));
            true
        } else {
            self.waiting.push_back(Arc::clone(run));
            false
        }
    }

    /// `run` settled. If it was the current run, the next waiting one (skipping those canceled
    /// meanwhile) becomes current and is returned, to be queued; a waiting run that settled
    /// (canceled, shut down) just leaves the queue.
    fn settled(&mut self, run: &RunHeader) -> Option<Arc<Run>> {
        let is_current = self
            .current
            .as_ref()
            .is_some_and(|current| std::ptr::eq(&**current as &RunHeader, run));
        if !is_current {
            self.waiting
                .retain(|waiting| !std::ptr::eq(&**waiting as &RunHeader, run));
            return None;
        }
        self.current = None;
        while let Some(candidate) = self.waiting.pop_front() {
            if candidate.is_waiting() {
                self.current = Some(Arc::clone(&candidate));
                return Some(candidate);
            }
        }
        None
    }

    /// Nothing will run any more (the pool is gone or shutting down): the waiting runs, to be
    /// canceled by the caller. The lane is left empty, so their hooks find nothing to do.
    fn abandon(&mut self) -> Vec<Arc<Run>> {
        self.current = None;
        self.waiting.drain(..).collect()
    }
}

/// The runner's hook on each of its runs.
struct Follow(Arc<Inner>);

impl RunHooks for Follow {
    fn on_settle(&self, run: &RunHeader, _settled: Settled<'_>) {
        let inner = &self.0;
        let next = lock(&inner.state).settled(run);
        if let Some(next) = next {
            crate::compose::hand_over(next, || lock(&inner.state).abandon());
        }
    }
}

impl SequenceRunner {
    /// A runner on the global pool whose tasks run in lane `priority` (ArkTS
    /// `new SequenceRunner(priority)`).
    pub fn new(priority: Priority) -> SequenceRunner {
        TaskPool::global().sequence_runner(priority)
    }

    /// The process-wide runner called `name` on the global pool, created on first use with
    /// `priority` (ArkTS `new SequenceRunner(name, priority)`). Later calls with the same name
    /// return that runner; the priority of the first creation stands.
    pub fn named(name: &str, priority: Priority) -> SequenceRunner {
        static NAMED: OnceLock<std::sync::Mutex<HashMap<String, SequenceRunner>>> = OnceLock::new();
        let mut named = NAMED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        named
            .entry(name.to_owned())
            .or_insert_with(|| {
                SequenceRunner::build(Some(name.to_owned()), TaskPool::global(), priority)
            })
            .clone()
    }

    fn build(name: Option<String>, pool: &TaskPool, priority: Priority) -> SequenceRunner {
        SequenceRunner {
            inner: Arc::new(Inner {
                name,
                priority,
                pool: Arc::downgrade(pool.shared()),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The runner's name, if it is a named runner.
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// The lane its tasks run in.
    pub fn priority(&self) -> Priority {
        self.inner.priority
    }

    /// Queues `task` behind the runner's other tasks (ArkTS `runner.execute(task)`). The
    /// handle is the usual one: `wait`, `.await`, `cancel`.
    ///
    /// A task with dependencies resolves at once with [`Error::DependentTaskInRunner`]
    /// (10200025); a runner whose pool is gone gives [`Error::PoolShutDown`].
    pub fn execute<T: Send + 'static>(&self, task: Task<T>) -> TaskHandle<T> {
        let Some(pool) = self.inner.pool.upgrade() else {
            return crate::compose::refused(task, Error::PoolShutDown);
        };
        if crate::compose::dependency::has_dependencies(task.id()) {
            let error = Error::DependentTaskInRunner(task.id());
            return crate::compose::refused(task, error);
        }
        let hooks: Arc<dyn RunHooks> = Arc::new(Follow(Arc::clone(&self.inner)));
        let prepared = pool.prepare(task, Some(self.inner.priority), Some(hooks));
        let Some(run) = prepared.run else {
            return prepared.handle;
        };
        let start = lock(&self.inner.state).admit(&run);
        if start {
            pool.enqueue(run);
        }
        prepared.handle
    }
}

impl TaskPool {
    /// A [`SequenceRunner`] on this pool whose tasks run in lane `priority`.
    pub fn sequence_runner(&self, priority: Priority) -> SequenceRunner {
        SequenceRunner::build(None, self, priority)
    }
}

impl fmt::Debug for SequenceRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.inner.state);
        f.debug_struct("SequenceRunner")
            .field("name", &self.inner.name)
            .field("priority", &self.inner.priority)
            .field("running", &state.current.is_some())
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
        let record = crate::task::Owner::anonymous(&"loom::step");
        let call: Call<u32> = Box::new(|| Invocation::Ready(Ok(0)));
        TypedRun::new(record, Priority::Medium, call, Weak::new(), None)
    }

    fn index(runs: &[Arc<Run>], run: &Arc<Run>) -> usize {
        runs.iter().position(|r| Arc::ptr_eq(r, run)).unwrap()
    }

    /// The current run settles (thread A) while a new run is executed (B) and the waiting one
    /// is canceled (C): the lane hands a run out (to be queued) only once every run handed out
    /// before has settled, never hands one out twice, loses none, and keeps submission order.
    /// (A run handed out and canceled before it is queued is ignored by `enqueue`.)
    #[test]
    fn the_hand_off_keeps_one_run_active_in_order() {
        loom::model(|| {
            let runs: Vec<Arc<Run>> = (0..3).map(|_| run()).collect();
            let state = Arc::new(Mutex::new(State {
                current: Some(Arc::clone(&runs[0])),
                waiting: VecDeque::from([Arc::clone(&runs[1])]),
            }));
            // The runs handed out, in the order the lane decided it.
            let handed = Arc::new(Mutex::new(vec![Arc::clone(&runs[0])]));
            let hand_out = {
                let handed = Arc::clone(&handed);
                move |run: Option<&Arc<Run>>| {
                    if let Some(run) = run {
                        let mut handed = lock(&handed);
                        for earlier in handed.iter() {
                            assert!(!earlier.is_waiting(), "handed out before the last settled");
                        }
                        handed.push(Arc::clone(run));
                    }
                }
            };
            // A run settles: canceled here (it ends without running), then the hook.
            let settle = {
                let (state, hand_out) = (Arc::clone(&state), hand_out.clone());
                move |run: &Arc<Run>| {
                    run.cancel();
                    let mut state = lock(&state);
                    let next = state.settled(run);
                    hand_out(next.as_ref());
                }
            };
            let a = {
                let (first, settle) = (Arc::clone(&runs[0]), settle.clone());
                loom::thread::spawn(move || settle(&first))
            };
            let b = {
                let (third, state) = (Arc::clone(&runs[2]), Arc::clone(&state));
                loom::thread::spawn(move || {
                    let mut state = lock(&state);
                    if state.admit(&third) {
                        hand_out(Some(&third));
                    }
                })
            };
            settle(&runs[1]);
            a.join().unwrap();
            b.join().unwrap();
            // The pool runs what is left to the end.
            loop {
                let current = lock(&state).current.clone();
                let Some(current) = current else { break };
                settle(&current);
            }
            let order: Vec<usize> = lock(&handed).iter().map(|r| index(&runs, r)).collect();
            assert!(order.windows(2).all(|w| w[0] < w[1]), "order {order:?}");
            assert_eq!(
                order.last(),
                Some(&2),
                "the new run was never lost: {order:?}"
            );
            let state = lock(&state);
            assert!(state.current.is_none() && state.waiting.is_empty());
        });
    }
}
