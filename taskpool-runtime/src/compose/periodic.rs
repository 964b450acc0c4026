//! `execute_periodically`: a task run once per period until canceled (ArkTS
//! `taskpool.executePeriodically`).

use std::fmt;
use std::sync::Weak;
use std::time::Duration;

use crate::compose::delayed::Alarm;
use crate::error::{Error, Result};
use crate::pool::{PoolShared, TaskPool};
use crate::priority::Priority;
use crate::run::{Run, RunHeader, RunHooks, Settled};
use crate::sync::{Arc, Mutex, lock};
use crate::task::{Task, TaskId};

struct Periodic<T> {
    /// Behind a lock only because a `Task` is `Send` but not `Sync`.
    task: Mutex<Task<T>>,
    id: TaskId,
    period: Duration,
    priority: Priority,
    pool: Weak<PoolShared>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    stopped: bool,
    /// The run of the last tick, until it settles.
    current: Option<Arc<Run>>,
    alarm: Option<Arc<Alarm>>,
    started: u64,
    skipped: u64,
}

/// Follows each tick's run: frees the slot when it settles; a cancel by id stops the task.
struct Tick<T>(Weak<Periodic<T>>);

impl<T: Send + 'static> RunHooks for Tick<T> {
    fn on_settle(&self, run: &RunHeader, settled: Settled<'_>) {
        let Some(periodic) = self.0.upgrade() else {
            return;
        };
        let alarm = {
            let mut state = lock(&periodic.state);
            let is_current = state
                .current
                .as_ref()
                .is_some_and(|current| std::ptr::eq(&**current as &RunHeader, run));
            if is_current {
                state.current = None;
            }
            if matches!(settled, Settled::Canceled(_)) {
                state.stopped = true;
                state.alarm.take()
            } else {
                None
            }
        };
        if let Some(alarm) = alarm {
            alarm.cancel();
        }
    }
}

impl<T: Send + 'static> Periodic<T> {
    fn arm(self: &Arc<Self>, state: &mut State) {
        let me = Arc::clone(self);
        state.alarm = Some(Alarm::after(self.period, move || me.tick()));
    }

    fn tick(self: &Arc<Self>) {
        let Some(pool) = self.pool.upgrade() else {
            self.stop();
            return;
        };
        let run = {
            let mut state = lock(&self.state);
            if state.stopped {
                return;
            }
            let run = if state.current.is_some() {
                // The previous run is still going: this tick is skipped (as in ArkTS).
                state.skipped += 1;
                None
            } else {
                let hooks: Arc<dyn RunHooks> = Arc::new(Tick(Arc::downgrade(self)));
                let task = lock(&self.task);
                let prepared = pool.prepare(&*task, Some(self.priority), Some(hooks));
                if let Some(run) = &prepared.run {
                    state.current = Some(Arc::clone(run));
                    state.started += 1;
                }
                prepared.run
            };
            self.arm(&mut state);
            run
        };
        if let Some(run) = run {
            pool.enqueue(run);
        }
    }

    fn stop(&self) -> bool {
        let (alarm, current, was_running) = {
            let mut state = lock(&self.state);
            let was_running = !state.stopped;
            state.stopped = true;
            (state.alarm.take(), state.current.take(), was_running)
        };
        if let Some(alarm) = alarm {
            alarm.cancel();
        }
        if let Some(run) = current {
            if let Some(pool) = run.pool.upgrade() {
                let _ = pool.cancel_run(&run);
            }
        }
        was_running
    }
}

trait Control: Send + Sync {
    fn stop(&self) -> bool;
    fn counts(&self) -> (u64, u64, bool);
    fn id(&self) -> TaskId;
}

impl<T: Send + 'static> Control for Periodic<T> {
    fn stop(&self) -> bool {
        Periodic::stop(self)
    }

    fn counts(&self) -> (u64, u64, bool) {
        let state = lock(&self.state);
        (state.started, state.skipped, state.stopped)
    }

    fn id(&self) -> TaskId {
        self.id
    }
}

/// Controls a task executed periodically: [`cancel`](PeriodicHandle::cancel) stops it.
///
/// Dropping the handle does not stop the task (as in ArkTS, it runs until canceled or until
/// its pool shuts down); `pool.cancel(id)` while a run of it waits or runs stops it too.
pub struct PeriodicHandle {
    control: Arc<dyn Control>,
}

impl PeriodicHandle {
    /// The id of the periodic task.
    pub fn id(&self) -> TaskId {
        self.control.id()
    }

    /// Stops the task: no further tick, and a run that waits is canceled (one that runs is
    /// flagged, see [`is_canceled`](crate::is_canceled)). Fails with [`Error::TaskNotFound`]
    /// (10200015) if it was already stopped.
    pub fn cancel(&self) -> Result<()> {
        if self.control.stop() {
            Ok(())
        } else {
            Err(Error::TaskNotFound(self.id()))
        }
    }

    /// How many runs have been started so far.
    pub fn runs_started(&self) -> u64 {
        self.control.counts().0
    }

    /// How many ticks were skipped because the previous run was still going.
    pub fn ticks_skipped(&self) -> u64 {
        self.control.counts().1
    }

    /// Whether the task has been stopped.
    pub fn is_stopped(&self) -> bool {
        self.control.counts().2
    }
}

impl fmt::Debug for PeriodicHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (started, skipped, stopped) = self.control.counts();
        f.debug_struct("PeriodicHandle")
            .field("task", &self.id())
            .field("runs_started", &started)
            .field("ticks_skipped", &skipped)
            .field("stopped", &stopped)
            .finish()
    }
}

impl TaskPool {
    /// Executes `task` in lane `priority` once every `period`, the first time after one
    /// period, until the returned handle cancels it (ArkTS `taskpool.executePeriodically`).
    ///
    /// A tick never overlaps the previous run of the task: a tick that comes while the
    /// previous run still waits or runs is skipped (as in ArkTS). Each run gets its own copy of
    /// the arguments. The task moves in, so it cannot be executed again elsewhere (ArkTS
    /// 10200051 becomes a use-after-move). Results are not collected: a periodic task reports
    /// through side effects (or `send_data`, once available).
    ///
    /// Fails with [`Error::ExecutedTaskNotPeriodic`] (10200050) for a task that was already
    /// executed, and [`Error::PeriodicWithDependencies`] (10200052) for one with dependencies.
    /// A period too long to represent never ticks.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::time::Duration;
    /// use taskpool::{concurrent, Priority, Task, TaskPool};
    ///
    /// static BEATS: AtomicU32 = AtomicU32::new(0);
    ///
    /// #[concurrent]
    /// fn beat() {
    ///     BEATS.fetch_add(1, Ordering::SeqCst);
    /// }
    ///
    /// let pool = TaskPool::global();
    /// let ticker = pool
    ///     .execute_periodically(Duration::from_millis(1), Task::new(beat, ()), Priority::Low)
    ///     .unwrap();
    /// while BEATS.load(Ordering::SeqCst) < 3 {
    ///     std::thread::yield_now();
    /// }
    /// ticker.cancel().unwrap();
    /// ```
    pub fn execute_periodically<T: Send + 'static>(
        &self,
        period: Duration,
        task: Task<T>,
        priority: Priority,
    ) -> Result<PeriodicHandle> {
        if task
            .record()
            .executed
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Err(Error::ExecutedTaskNotPeriodic(task.id()));
        }
        if task.has_dependencies() {
            return Err(Error::PeriodicWithDependencies(task.id()));
        }
        let periodic = Arc::new(Periodic {
            id: task.id(),
            task: Mutex::new(task),
            period,
            priority,
            pool: Arc::downgrade(self.shared()),
            state: Mutex::new(State::default()),
        });
        {
            let mut state = lock(&periodic.state);
            periodic.arm(&mut state);
        }
        Ok(PeriodicHandle { control: periodic })
    }
}

/// Executes `task` periodically on the global pool (shorthand for
/// [`TaskPool::execute_periodically`]).
pub fn execute_periodically<T: Send + 'static>(
    period: Duration,
    task: Task<T>,
    priority: Priority,
) -> Result<PeriodicHandle> {
    TaskPool::global().execute_periodically(period, task, priority)
}
