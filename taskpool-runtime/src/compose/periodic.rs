//! `execute_periodically`: a task run once per period until canceled (ArkTS
//! `taskpool.executePeriodically`).

use std::fmt;
use std::sync::Weak;
use std::time::Duration;

use crate::compose::delayed::Alarm;
use crate::data::DataStream;
use crate::error::{Error, Result};
use crate::panic::drop_quietly;
use crate::pool::{CancelHook, Leftover, PoolShared, ShutdownHook, TaskPool};
use crate::priority::Priority;
use crate::run::{Run, RunHeader, RunHooks, Settled};
use crate::sync::{Arc, Mutex, lock};
use crate::task::{Task, TaskId, TaskRecord};

/// The shortest period: a shorter one (zero) would keep the timer thread ticking without a
/// pause. ArkTS periods are whole milliseconds.
const MIN_PERIOD: Duration = Duration::from_millis(1);

struct Periodic<T> {
    /// Behind a lock only because a `Task` is `Send` but not `Sync`. `None` once the periodic
    /// execution ended (stopped, its last run over: no run copies the arguments any more) or
    /// its pool began shutting down, and while it is dropped (see its `Drop`).
    task: Mutex<Option<Task<T>>>,
    id: TaskId,
    record: Arc<TaskRecord>,
    period: Duration,
    priority: Priority,
    pool: Weak<PoolShared>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    stopped: bool,
    /// The run of the last tick, until it ended (see `RunHooks::on_ended`).
    current: Option<Arc<Run>>,
    alarm: Option<Arc<Alarm>>,
    started: u64,
    skipped: u64,
}

/// Follows each tick's run: a cancel by id stops the task; the slot frees when the run ended.
struct Tick<T>(Weak<Periodic<T>>);

impl<T: Send + 'static> RunHooks for Tick<T> {
    // Counted here, not when the tick queues the run: a run canceled while it waits (a stop,
    // a shutdown) never starts.
    fn on_start(&self, _run: &RunHeader) {
        if let Some(periodic) = self.0.upgrade() {
            lock(&periodic.state).started += 1;
        }
    }

    fn on_settle(&self, _run: &RunHeader, settled: Settled<'_>) {
        let Some(periodic) = self.0.upgrade() else {
            return;
        };
        if !matches!(settled, Settled::Canceled(_)) {
            return;
        }
        let alarm = {
            let mut state = lock(&periodic.state);
            state.stopped = true;
            state.alarm.take()
        };
        if let Some(alarm) = alarm {
            alarm.cancel();
        }
    }

    // Not at `on_settle`: a run that timed out still executes until its call returns, and
    // the next tick must not overlap it.
    fn on_ended(&self, run: &RunHeader) {
        let Some(periodic) = self.0.upgrade() else {
            return;
        };
        let (ended, was_current) = {
            let mut state = lock(&periodic.state);
            let is_current = state
                .current
                .as_ref()
                .is_some_and(|current| std::ptr::eq(&**current as &RunHeader, run));
            if is_current {
                state.current = None;
            }
            (state.stopped && state.current.is_none(), is_current)
        };
        if ended {
            // Stopped, and its last run is over: its data stream ends.
            crate::data::close(&periodic.record);
        }
        if ended && was_current {
            // Not for a run that never became current: one refused inside `tick`'s `prepare`
            // ends there, under the lock of the arguments it was made from.
            periodic.release_task();
        }
    }
}

impl<T: Send + 'static> Periodic<T> {
    fn arm(self: &Arc<Self>, state: &mut State) {
        if crate::time::deadline_after(std::time::Instant::now(), self.period).is_none() {
            // Never ticks: no alarm, which would hold the task (and its receiver) forever.
            return;
        }
        let me = Arc::clone(self);
        // Fires on the timer thread, never here (under `state`'s lock), even when due at once.
        state.alarm = Some(Alarm::after(self.period, move || me.tick()));
    }

    fn tick(self: &Arc<Self>) {
        let live = self.pool.upgrade().filter(|pool| !pool.is_shutting_down());
        let Some(pool) = live else {
            // The pool is gone or shutting down: nothing will run any more. As the shutdown
            // hook does (this tick may come before it), the current run is the shutdown's:
            // not flagged canceled.
            self.halt(false);
            return;
        };
        {
            let mut state = lock(&self.state);
            if state.stopped {
                return;
            }
            if state.current.is_some() {
                // The previous run is still going: this tick is skipped (as in ArkTS).
                state.skipped += 1;
                self.arm(&mut state);
                return;
            }
        }
        // Prepared without the state's lock: a refused run (the pool began shutting down) is
        // settled inside `prepare`, and its hook (`Tick`) takes that lock. Ticks never overlap:
        // the next alarm is armed below.
        let hooks: Arc<dyn RunHooks> = Arc::new(Tick(Arc::downgrade(self)));
        // A run by reference: it copies the arguments when it starts, on the pool thread
        // executing it, never here on the runtime's timer thread, which must run no user code
        // (a `Clone` that blocked here would stall every delay, periodic task and `sleep`).
        let prepared = {
            let task = lock(&self.task);
            let Some(task) = task.as_ref() else {
                return;
            };
            pool.prepare(task, Some(self.priority), Some(hooks))
        };
        let run = prepared.run;
        drop(prepared.handle);
        let mut state = lock(&self.state);
        if state.stopped {
            // Stopped meanwhile (a cancel by id lands in the run's hook).
            drop(state);
            if let Some(run) = run {
                let _ = pool.cancel_run(&run);
            }
            return;
        }
        if let Some(run) = &run {
            state.current = Some(Arc::clone(run));
        }
        self.arm(&mut state);
        drop(state);
        if let Some(run) = run {
            pool.enqueue(run);
        }
    }

    /// Stops the task (no further tick) and cancels its current run; false if it was stopped
    /// already.
    fn stop(&self) -> bool {
        let was_running = self.halt(true);
        if self.ended() {
            self.release_task();
        }
        was_running
    }

    /// Drops the task's arguments, once the execution ended: not kept until the handle goes
    /// (they may hold resources). Here, on the thread that ended it — the canceling one, or the
    /// pool thread that ran its last run — with enough stack for what a task could drop
    /// (`deep_drop`).
    fn release_task(&self) {
        let task = lock(&self.task).take();
        crate::deep_drop::drop_quietly(task);
    }

    fn ended(&self) -> bool {
        let state = lock(&self.state);
        state.stopped && state.current.is_none()
    }

    /// No further tick. With `cancel_current`, the current run is canceled too (a waiting one
    /// never starts, an executing one is flagged); otherwise it is left to end as it will.
    /// Either way it stays the current run until it ended (`Tick::on_ended`), which ends the
    /// data stream: a flagged run still executes and may still send data, to a stream
    /// registered after the cancel too. False if the task was stopped already.
    fn halt(&self, cancel_current: bool) -> bool {
        let (alarm, current, was_running) = {
            let mut state = lock(&self.state);
            let was_running = !state.stopped;
            state.stopped = true;
            (state.alarm.take(), state.current.clone(), was_running)
        };
        if let Some(alarm) = alarm {
            alarm.cancel();
        }
        let Some(run) = current else {
            crate::data::close(&self.record);
            return was_running;
        };
        if cancel_current {
            match run.pool.upgrade() {
                Some(pool) => {
                    let _ = pool.cancel_run(&run);
                }
                // Its pool is gone, and with it whoever would end the run.
                None => self.forget_current(&run),
            }
        }
        was_running
    }

    /// `run` will never end through its hooks: it stops being the current run, and the data
    /// stream ends.
    fn forget_current(&self, run: &Arc<Run>) {
        {
            let mut state = lock(&self.state);
            if state.current.as_ref().is_some_and(|c| Arc::ptr_eq(c, run)) {
                state.current = None;
            }
        }
        crate::data::close(&self.record);
        self.release_task();
    }
}

/// The task's arguments are user values, and the periodic execution may end anywhere once its
/// handle is gone: in `pool.cancel(id)` (the cancel hook held the last reference), in a
/// shutdown (the shutdown hook did), on the timer thread. A panicking `Drop` of theirs must not
/// reach that caller (a `cancel` that panicked; a shutdown that unwound half done, its threads
/// unjoined and handles unresolved).
impl<T> Drop for Periodic<T> {
    fn drop(&mut self) {
        let task = crate::sync::with_mut(&mut self.task, Option::take);
        crate::deep_drop::drop_quietly(task);
    }
}

/// A shutdown stops the ticks; the current run is the shutdown's, as any run of the pool: one
/// waiting is resolved, one executing is waited for (and not flagged canceled). The arguments
/// go with the shutdown's sweep, as those of the runs that never ran.
impl<T: Send + 'static> ShutdownHook for Periodic<T> {
    fn pool_shutting_down(&self) -> Option<Leftover> {
        self.halt(false);
        let task = lock(&self.task).take()?;
        Some(Box::new(task))
    }
}

/// `pool.cancel(id)` stops the task at any time, between ticks too (ArkTS `taskpool.cancel`).
/// Race-free against a tick: `stop` and `tick` settle under `state`'s lock, so a tick either
/// made its run before (`stop` cancels it: a waiting run never starts, a running one is
/// flagged) or sees `stopped` and makes none.
impl<T: Send + 'static> CancelHook for Periodic<T> {
    fn cancel_by_id(&self) -> bool {
        self.stop()
    }
}

trait Control: Send + Sync {
    fn stop(&self) -> bool;
    fn counts(&self) -> (u64, u64, bool);
    fn id(&self) -> TaskId;
    fn record(&self) -> &TaskRecord;
    fn ended(&self) -> bool;
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

    fn record(&self) -> &TaskRecord {
        &self.record
    }

    fn ended(&self) -> bool {
        Periodic::ended(self)
    }
}

/// Controls a task executed periodically: [`cancel`](PeriodicHandle::cancel) stops it.
///
/// Dropping the handle does not stop the task (as in ArkTS, it runs until canceled or until
/// its pool shuts down); `pool.cancel(id)` stops it too, at any time (between ticks as well).
/// Clones control the same execution.
#[derive(Clone)]
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

    /// Registers a [`DataStream`] of the values of type `V` the task sends with
    /// [`send_data`](crate::send_data), replacing any receiver registered on the task; it ends
    /// once the task is stopped and its last run is over. This is how a periodic task reports
    /// its results: see [`TaskPool::execute_periodically`].
    pub fn data_stream<V: Send + 'static>(&self) -> DataStream<V> {
        let stream = crate::data::register_stream(self.control.record(), None);
        if self.control.ended() {
            // Already over (otherwise the last run's settle or the stop ends it).
            crate::data::close(self.control.record());
        }
        stream
    }

    /// Unregisters the task's receiver, callback or stream (ArkTS
    /// `periodicTask.onReceiveData()` without a callback): the values its later runs send have
    /// no receiver (`send_data` fails with 10200024); a stream ends after the values already
    /// sent. The task keeps ticking. No error if nothing is registered.
    pub fn clear_receive_data(&self) {
        crate::data::close(self.control.record());
    }

    /// How many runs have started executing so far (a run canceled while it waited for a
    /// thread is not counted).
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
    /// 10200051 becomes a use-after-move). Results are not collected: a periodic task streams
    /// them with [`send_data`](crate::send_data) to a receiver registered on the task or on
    /// the returned handle ([`PeriodicHandle::data_stream`]).
    ///
    /// Fails with [`Error::ExecutedTaskNotPeriodic`] (10200050) for a task that was already
    /// executed, and [`Error::PeriodicWithDependencies`] (401) for one in a dependency
    /// relationship (it depends on a task, or a task depends on it); the refused task is
    /// dropped, a panic in its arguments' `Drop` contained.
    /// A period too long to represent never ticks; a period shorter than a millisecond (zero)
    /// is a millisecond. A task whose pool shuts down stops there: no further tick, and a run
    /// executing then is waited for by the shutdown, as any other (not flagged canceled).
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use taskpool::{concurrent, send_data, Priority, Task, TaskPool};
    ///
    /// #[concurrent]
    /// fn sample() {
    ///     // Each run reports its result to the host.
    ///     let reading = SystemTime::now().elapsed().is_ok() as u32;
    ///     send_data(reading).unwrap();
    /// }
    ///
    /// let task = Task::new(sample, ());
    /// // Registered before the first tick, so no value is missed (`ticker.data_stream()`
    /// // registers one later).
    /// let mut readings = task.data_stream::<u32>();
    /// let pool = TaskPool::global();
    /// let ticker = pool
    ///     .execute_periodically(Duration::from_millis(1), task, Priority::Low)
    ///     .unwrap();
    /// // Blocking iteration: take three results, then stop the task.
    /// let first: Vec<u32> = readings.blocking_iter().take(3).collect();
    /// assert_eq!(first, [1, 1, 1]);
    /// ticker.cancel().unwrap();
    /// // The stream ends once the last run is over.
    /// for _late in readings {}
    /// ```
    pub fn execute_periodically<T: Send + 'static>(
        &self,
        period: Duration,
        task: Task<T>,
        priority: Priority,
    ) -> Result<PeriodicHandle> {
        let refusal = if task
            .record()
            .executed
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            Some(Error::ExecutedTaskNotPeriodic(task.id()))
        } else if crate::compose::dependency::in_dependency_relationship(task.id()) {
            // Depending on a task or being depended on: ArkTS allows neither for a periodic
            // task.
            Some(Error::PeriodicWithDependencies(task.id()))
        } else {
            None
        };
        if let Some(error) = refusal {
            // The task was handed over: its arguments' `Drop` (user code) must not turn the
            // refusal into a panic, as for a runner's refusal (`compose::refused`).
            drop_quietly(task);
            return Err(error);
        }
        let periodic = Arc::new(Periodic {
            id: task.id(),
            record: Arc::clone(task.record()),
            task: Mutex::new(Some(task)),
            period: period.max(MIN_PERIOD),
            priority,
            pool: Arc::downgrade(self.shared()),
            state: Mutex::new(State::default()),
        });
        self.shared().on_cancel(
            periodic.id,
            Arc::downgrade(&periodic) as Weak<dyn CancelHook>,
        );
        let hook = Arc::downgrade(&periodic) as Weak<dyn ShutdownHook>;
        if self.shared().on_shutdown(hook) {
            let mut state = lock(&periodic.state);
            periodic.arm(&mut state);
        } else {
            // The pool is shutting down already: it never ticks.
            periodic.stop();
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
