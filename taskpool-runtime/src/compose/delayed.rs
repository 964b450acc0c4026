//! `execute_delayed`: a run held until its delay has passed (ArkTS `taskpool.executeDelayed`),
//! and [`Alarm`], the one-shot timer callback it is built on.

use std::task::{Context, Wake, Waker};
use std::time::Duration;

use crate::error::Error;
use crate::handle::TaskHandle;
use crate::panic::drop_quietly;
use crate::pool::{PoolShared, TaskPool};
use crate::priority::Priority;
use crate::run::{Run, RunHeader, RunHooks, Settled};
use crate::sync::{Arc, Mutex, lock};
use crate::task::Executable;
use crate::time::{Sleep, sleep};

type Callback = Box<dyn FnOnce() + Send>;

/// Calls a function once a duration has passed, on the runtime's timer thread (even for a zero
/// duration: never inside [`after`](Alarm::after), so it may be armed under a lock the function
/// takes); no thread of its own. [`cancel`](Alarm::cancel) drops the timer entry and the function.
pub(crate) struct Alarm {
    armed: Mutex<Option<(Sleep, Callback)>>,
}

impl Alarm {
    /// Arms an alarm; a duration too long to represent never fires.
    pub(crate) fn after(
        duration: Duration,
        callback: impl FnOnce() + Send + 'static,
    ) -> Arc<Alarm> {
        let alarm = Arc::new(Alarm {
            armed: Mutex::new(Some((sleep(duration), Box::new(callback)))),
        });
        alarm.check();
        alarm
    }

    /// Polls the sleep (registering this alarm as its waker); calls the function once due.
    fn check(self: &Arc<Self>) {
        let due = {
            let mut armed = lock(&self.armed);
            let Some((sleep, _)) = armed.as_mut() else {
                return;
            };
            // The timer wakes from its own thread, never inside this poll; and the function
            // runs there even when due at once (a zero delay): never on the arming thread.
            let waker = Waker::from(Arc::clone(self));
            if sleep
                .poll_on_timer(&mut Context::from_waker(&waker))
                .is_pending()
            {
                return;
            }
            armed.take()
        };
        if let Some((sleep, callback)) = due {
            drop(sleep);
            let _ = crate::panic::catch(callback);
        }
    }

    /// Disarms the alarm: the function is dropped without being called.
    pub(crate) fn cancel(&self) {
        let armed = lock(&self.armed).take();
        drop_quietly(armed);
    }
}

impl Wake for Alarm {
    fn wake(self: Arc<Self>) {
        self.check();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.check();
    }
}

/// The hook that disarms a run's alarm when the run settles first: the alarm of a delayed run
/// that ended before its delay passed (a cancel, or a shutdown: the pool resolves the runs
/// composers hold, this one among them, as it begins, and drops their arguments where it drops
/// those of queued runs, within its deadline), or of a run that ended within its timeout.
pub(crate) struct Disarm {
    alarm: Mutex<Option<Arc<Alarm>>>,
    /// The alarm is the run's timeout: no waiter may execute the run inline (see
    /// [`RunHooks::may_run_inline`]).
    deadline: bool,
}

impl Disarm {
    /// For a run whose alarm starts it (a delay).
    pub(crate) fn new() -> Arc<Disarm> {
        Arc::new(Disarm {
            alarm: Mutex::new(None),
            deadline: false,
        })
    }

    /// For a run or an execution whose alarm ends it (a timeout).
    pub(crate) fn deadline() -> Arc<Disarm> {
        Arc::new(Disarm {
            alarm: Mutex::new(None),
            deadline: true,
        })
    }

    /// Keeps `alarm` until the run settles; `over` says whether it already has (checked after
    /// storing: a settle before that found nothing to disarm).
    pub(crate) fn keep(&self, alarm: Arc<Alarm>, over: impl FnOnce() -> bool) {
        *lock(&self.alarm) = Some(alarm);
        if over() {
            self.disarm();
        }
    }

    /// Disarms the alarm kept, if any.
    pub(crate) fn disarm(&self) {
        if let Some(alarm) = lock(&self.alarm).take() {
            alarm.cancel();
        }
    }
}

impl RunHooks for Disarm {
    fn on_settle(&self, _run: &RunHeader, _settled: Settled<'_>) {
        self.disarm();
    }

    fn may_run_inline(&self) -> bool {
        !self.deadline
    }
}

impl TaskPool {
    /// Executes `task` in lane `priority` once `delay` has passed (ArkTS
    /// `taskpool.executeDelayed(delayTime, task, priority)`).
    ///
    /// Until then the task is WAITING: it shows in [`info`](TaskPool::info) and
    /// [`cancel`](TaskPool::cancel) (or the handle's `cancel`) resolves it as canceled at once
    /// and releases its timer. A delay too long to represent (`Duration::MAX`) never elapses:
    /// the task waits until it is canceled or the pool shuts down. A task with dependencies
    /// also waits for them once the delay has passed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskpool::{concurrent, Priority, Task, TaskPool};
    ///
    /// #[concurrent]
    /// fn ping() -> String {
    ///     "pong".to_owned()
    /// }
    ///
    /// let pool = TaskPool::global();
    /// let handle = pool.execute_delayed(Duration::from_millis(1), Task::new(ping, ()), Priority::Medium);
    /// assert_eq!(handle.wait().unwrap(), "pong");
    /// ```
    pub fn execute_delayed<T: Send + 'static>(
        &self,
        delay: Duration,
        task: impl Executable<T>,
        priority: Priority,
    ) -> TaskHandle<T> {
        let hook = Disarm::new();
        let shared = self.shared();
        let prepared = shared.prepare(
            task,
            Some(priority),
            Some(Arc::clone(&hook) as Arc<dyn RunHooks>),
        );
        if let Some(run) = prepared.run {
            let pool = Arc::downgrade(shared);
            let waiting = Arc::clone(&run);
            let alarm = Alarm::after(delay, move || {
                if let Some(pool) = pool.upgrade() {
                    release_after_delay(pool, waiting);
                }
            });
            hook.keep(alarm, || {
                if shared.is_shutting_down() {
                    // Since it was prepared: the shutdown may have looked for held runs before
                    // this one was tracked. Either it resolves it or this does; this caller
                    // then drops the arguments, as for a task refused outright.
                    shared.discard_unstarted(&run, Error::PoolShutDown);
                }
                // Canceled before the alarm was stored: nobody else disarms it.
                !run.is_waiting()
            });
        }
        prepared.handle
    }
}

/// Queues a delayed run whose delay has passed, from the alarm, on the runtime's timer thread.
///
/// That thread is shared by every delay, periodic task and `sleep` of the process, so nothing
/// it does may run user code that could block it. Queuing a run that has dependencies may fail
/// it at once (a dependency was dropped without succeeding), which drops its arguments: a user
/// `Drop`. Such a run (rare: a delayed task with dependencies) is queued from a short-lived
/// thread of its own instead, as is one whose pool is shutting down (queuing it cancels it).
/// If no thread can be started, it is queued here.
fn release_after_delay(pool: Arc<PoolShared>, run: Arc<Run>) {
    if !crate::compose::dependency::has_dependencies(run.id) && !pool.is_shutting_down() {
        pool.enqueue(run);
        return;
    }
    // A pool thread's stack: failing the run drops its arguments, which may be deep.
    let stack_size = pool.config.stack_size;
    // Shared, so that a refused spawn (which drops the closure) leaves the run here.
    let slot = Arc::new(Mutex::new(Some((pool, run))));
    let elsewhere = Arc::clone(&slot);
    let spawned = std::thread::Builder::new()
        .name("taskpool-delayed".to_owned())
        .stack_size(stack_size)
        .spawn(move || {
            let taken = lock(&elsewhere).take();
            if let Some((pool, run)) = taken {
                pool.enqueue(run);
            }
        })
        .is_ok();
    let left = if spawned { None } else { lock(&slot).take() };
    if let Some((pool, run)) = left {
        pool.enqueue(run);
    }
}

/// Executes `task` on the global pool once `delay` has passed (shorthand for
/// [`TaskPool::execute_delayed`]).
pub fn execute_delayed<T: Send + 'static>(
    delay: Duration,
    task: impl Executable<T>,
    priority: Priority,
) -> TaskHandle<T> {
    TaskPool::global().execute_delayed(delay, task, priority)
}
