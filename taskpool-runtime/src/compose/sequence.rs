//! `SequenceRunner`: tasks executed strictly one after another, in submission order (ArkTS
//! `taskpool.SequenceRunner`).

use std::fmt;
use std::sync::{OnceLock, Weak};

use crate::error::Error;
use crate::handle::TaskHandle;
use crate::pool::{PoolShared, TaskPool};
use crate::priority::Priority;
use crate::run::{Holder, RunHeader, RunHooks};
use crate::sync::{Arc, Mutex, lock};
use crate::task::Task;

use super::NamedRunners;
use super::serial::Serial;

/// Executes tasks one after another, in the order they were given, in one lane (ArkTS
/// `taskpool.SequenceRunner`).
///
/// A task starts only once the previous one has ended (returned, failed, panicked, timed out
/// or been canceled); a failure or a cancel does not stop the tasks after it. Canceling a task
/// that waits in the runner resolves its handle as canceled at once, and it never runs. The
/// tasks run on the pool's threads, at the runner's priority.
///
/// A task of the runner that waits for (or awaits) a later task of the same runner gets
/// [`Error::WaitsForItself`] at once: that task cannot start before the waiting one returns
/// (ArkTS leaves such a wait pending forever).
///
/// A task moves into the runner, so it cannot also be executed elsewhere (ArkTS reports that
/// at run time). A task with dependencies is refused with [`Error::DependentTaskInRunner`]
/// (10200025).
///
/// Named runners ([`SequenceRunner::named`]) are process-wide singletons on the global pool:
/// the same name gives the same runner while a handle to it or a task in it lives, and the
/// priority of its creation stands.
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
    state: Mutex<Serial>,
}

/// The runner's hook on each of its runs.
struct Follow(Arc<Inner>);

impl RunHooks for Follow {
    // A run that timed out keeps its turn until its call returns.
    fn on_ended(&self, run: &RunHeader) {
        let inner = &self.0;
        let next = lock(&inner.state).ended(run);
        if let Some(next) = next {
            crate::compose::hand_over(next, || {
                crate::compose::Abandoned::all(lock(&inner.state).abandon())
            });
        }
    }

    fn held_behind(&self, run: &RunHeader, holders: &mut Vec<Holder>) {
        lock(&self.0.state).held_behind(run, holders);
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
    /// return that runner while it lives — while a handle to it or a task in it does — and the
    /// priority of its creation stands. Once the last handle and task are gone, the name makes a
    /// new runner (as ArkTS destroys a global runner with its last reference), so short-lived
    /// names do not accumulate.
    pub fn named(name: &str, priority: Priority) -> SequenceRunner {
        static NAMED: OnceLock<std::sync::Mutex<NamedRunners<Inner>>> = OnceLock::new();
        let mut named = NAMED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let inner = super::find_or_create_runner(&mut named, name, || {
            Ok::<_, std::convert::Infallible>(
                SequenceRunner::build(Some(name.to_owned()), TaskPool::global(), priority).inner,
            )
        });
        let Ok(inner) = inner;
        SequenceRunner { inner }
    }

    fn build(name: Option<String>, pool: &TaskPool, priority: Priority) -> SequenceRunner {
        SequenceRunner {
            inner: Arc::new(Inner {
                name,
                priority,
                pool: Arc::downgrade(pool.shared()),
                state: Mutex::new(Serial::default()),
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
            return crate::compose::refused(None, task, Error::PoolShutDown);
        };
        if crate::compose::dependency::has_dependencies(task.id()) {
            let error = Error::DependentTaskInRunner(task.id());
            return crate::compose::refused(Some(&pool), task, error);
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
