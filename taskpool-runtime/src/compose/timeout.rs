//! `execute(task, configs)`: a task executed with [`Configs`] — a lane and a timeout (ArkTS API
//! 24 `taskpool.execute(task, configs)`). The group form is in `group.rs`.
//!
//! The timeout counts from the execution. An [`Alarm`] armed then (on the runtime's timer
//! thread; disarmed by the run's hook when it settles first) resolves the handle with
//! [`Error::TimeoutElapsed`] when it fires: a run still waiting is withdrawn and never runs; a
//! running one is flagged and its call goes on, its outcome dropped; a future suspended at an
//! `.await` is woken, so that a pool thread (not the timer thread) drops it.
//!
//! The timer thread serves every sleep, delay and periodic task of the process, so the expiry
//! runs no user code of the task there: a withdrawn run keeps its arguments (dropped with the
//! run), and the alarm's reference to the run, which may be its last, is let go on the pool's
//! callback thread. What it cannot avoid is waking the handle's waiter — an executor's `wake`,
//! which the timer thread's standby covers (see `time.rs`).
//!
//! A pool thread about to wait for a timed run does not execute it inline first
//! ([`RunHooks::may_run_inline`](crate::run::RunHooks)): its wait would last until the call
//! returned, past the timeout. Only a thread stranded in its wait at the pool's thread ceiling
//! still stands in for it, since nothing else could run it.

use std::time::Duration;

use crate::error::Error;
use crate::handle::TaskHandle;
use crate::pool::TaskPool;
use crate::priority::Priority;
use crate::run::{Run, RunHooks};
use crate::sync::Arc;
use crate::task::{Executable, Owner};

use super::delayed::{Alarm, Disarm};

/// How to execute a task or a group (ArkTS `Configs`, API 24): its lane and its timeout.
///
/// ```
/// use std::time::Duration;
/// use taskpool::{concurrent, Configs, Priority, TaskPool};
///
/// #[concurrent]
/// fn add(a: u32, b: u32) -> u32 {
///     a + b
/// }
///
/// let configs = Configs::new()
///     .with_priority(Priority::High)
///     .with_timeout(Duration::from_secs(5));
/// let handle = TaskPool::global().execute_with_configs(taskpool::Task::new(add, (2, 3)), configs);
/// assert_eq!(handle.wait().unwrap(), 5);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Configs {
    priority: Option<Priority>,
    timeout: Option<Duration>,
}

impl Configs {
    /// The longest timeout (ArkTS's limit, 2³¹ − 1 ms): a longer one means no timeout.
    pub const MAX_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

    /// No lane (the task's own, MEDIUM unless it chose one; a group's MEDIUM) and no timeout.
    pub fn new() -> Configs {
        Configs::default()
    }

    /// Executes in lane `priority` (ArkTS `Configs.priority`).
    #[must_use]
    pub fn with_priority(mut self, priority: Priority) -> Configs {
        self.priority = Some(priority);
        self
    }

    /// Gives the execution at most `timeout`, counted from the execution (ArkTS
    /// `Configs.timeout`). As in ArkTS, the timeout is whole milliseconds (a fraction is
    /// dropped), and one below 1 ms or above 2³¹ − 1 ms ([`Configs::MAX_TIMEOUT`], about 24.8
    /// days) means no timeout — as `Duration::ZERO` does.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskpool::Configs;
    ///
    /// let timeout = |d| Configs::new().with_timeout(d).timeout();
    /// assert_eq!(timeout(Duration::from_micros(2_500)), Some(Duration::from_millis(2)));
    /// assert_eq!(timeout(Duration::from_micros(999)), None);
    /// assert_eq!(timeout(Configs::MAX_TIMEOUT), Some(Configs::MAX_TIMEOUT));
    /// assert_eq!(timeout(Configs::MAX_TIMEOUT + Duration::from_millis(1)), None);
    /// ```
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Configs {
        let fraction = Duration::from_nanos(u64::from(timeout.subsec_nanos() % 1_000_000));
        let whole = timeout - fraction;
        self.timeout = (Duration::from_millis(1)..=Configs::MAX_TIMEOUT)
            .contains(&whole)
            .then_some(whole);
        self
    }

    /// The lane set with [`with_priority`](Configs::with_priority), if any.
    pub fn priority(&self) -> Option<Priority> {
        self.priority
    }

    /// The timeout set with [`with_timeout`](Configs::with_timeout), if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
}

impl TaskPool {
    /// Executes a task with [`Configs`] (ArkTS `taskpool.execute(task, configs)`): in the lane
    /// they name (else the task's own), and within their timeout, if any.
    ///
    /// If the run has not finished when the timeout has passed since this call, its handle
    /// resolves with [`Error::TimeoutElapsed`] (10200058): a run still waiting never runs; a
    /// running one is flagged ([`is_canceled`](crate::is_canceled)) and its call goes on to its
    /// end on its thread, but its result and the data it sends are dropped; an `async` run
    /// suspended at an `.await` is dropped there. Its failure listener is not called (as in
    /// ArkTS).
    ///
    /// A task executed with a timeout runs that once: executing it (by reference) again is
    /// refused with [`Error::ExecutedByAnotherApi`] (10200057), and so is a timeout for a task
    /// executed before. A task with dependencies, or that another task depends on, is refused
    /// with [`Error::TimeoutWithDependencies`] (10200057). Tasks of groups and runners are moved
    /// into them, so they cannot come here.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskpool::{concurrent, is_canceled, Configs, Error, Task, TaskPool};
    ///
    /// #[concurrent]
    /// fn slow() -> u32 {
    ///     while !is_canceled() {
    ///         std::thread::sleep(Duration::from_millis(1));
    ///     }
    ///     7
    /// }
    ///
    /// let configs = Configs::new().with_timeout(Duration::from_millis(20));
    /// let handle = TaskPool::global().execute_with_configs(Task::new(slow, ()), configs);
    /// let error = handle.wait().unwrap_err();
    /// assert!(matches!(error, Error::TimeoutElapsed { .. }));
    /// assert_eq!(error.code(), Some(10200058));
    /// ```
    pub fn execute_with_configs<T: Send + 'static>(
        &self,
        task: impl Executable<T>,
        configs: Configs,
    ) -> TaskHandle<T> {
        let Some(timeout) = configs.timeout else {
            return self.execute_in(task, configs.priority);
        };
        let shared = self.shared();
        let submission = task.into_submission();
        if let Some(error) = refusal(&submission.owner) {
            return super::refused(Some(shared), submission, error);
        }
        let record = submission.owner.record.clone();
        let hook = Disarm::deadline();
        let hooks = Some(Arc::clone(&hook) as Arc<dyn RunHooks>);
        let prepared = shared.prepare(submission, configs.priority, hooks);
        if let Some(record) = record {
            // After `prepare`, which refuses a task marked so: this was its one run.
            record
                .timed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(run) = prepared.run {
            let expiring = Arc::downgrade(&run);
            let alarm = Alarm::after(timeout, move || {
                if let Some(run) = expiring.upgrade() {
                    let task = run.id;
                    expire(run, || Error::TimeoutElapsed { task, timeout });
                }
            });
            hook.keep(alarm, || run.is_claimed());
            shared.enqueue(run);
        }
        prepared.handle
    }

    /// Executes `task` in `priority`'s lane, or the task's own.
    fn execute_in<T: Send + 'static>(
        &self,
        task: impl Executable<T>,
        priority: Option<Priority>,
    ) -> TaskHandle<T> {
        match priority {
            Some(priority) => self.execute_with_priority(task, priority),
            None => self.execute(task),
        }
    }
}

/// Why a task cannot be executed with a timeout, if it cannot: it takes part in dependencies,
/// or it was executed before (by reference). Only a task with a record can be either.
fn refusal(owner: &Owner) -> Option<Error> {
    let record = owner.record.as_ref()?;
    if crate::compose::dependency::in_dependency_relationship(owner.id) {
        Some(Error::TimeoutWithDependencies(owner.id))
    } else if record.executed.load(std::sync::atomic::Ordering::Relaxed) {
        Some(Error::ExecutedByAnotherApi(owner.id))
    } else {
        None
    }
}

/// Executes a task on the global pool with [`Configs`] (shorthand for
/// [`TaskPool::execute_with_configs`]).
pub fn execute_with_configs<T: Send + 'static>(
    task: impl Executable<T>,
    configs: Configs,
) -> TaskHandle<T> {
    TaskPool::global().execute_with_configs(task, configs)
}

/// The timeout of `run` passed (on the timer thread): `run` resolves with `error` unless it
/// ended (see the module documentation). Takes the caller's reference: that may be the last.
pub(crate) fn expire(run: Arc<Run>, error: impl Fn() -> Error) {
    // With its pool gone, the pool's shutdown resolved the run already.
    let Some(pool) = run.pool.upgrade() else {
        return;
    };
    if !pool.withdraw(&run, error()) && run.time_out(error()) {
        // Suspended at an `.await`, its future is dropped by the pool thread this wake sends
        // it to (a flagged run is not polled again); running, or not `async`, nothing happens.
        Arc::clone(&run).waker().wake();
    }
    // This reference may be the run's last (its lane, its thread and its handle may let go of
    // it meanwhile), and the run may still hold its arguments and its task's listeners: it is
    // let go on the callback thread, not here.
    pool.post_callback(Box::new(move || drop(run)));
}
