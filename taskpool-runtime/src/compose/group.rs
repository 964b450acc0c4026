//! `TaskGroup`: tasks executed together, whose results come back in the order they were added
//! (ArkTS `taskpool.TaskGroup`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::function::ConcurrentFunction;
use crate::handle::{Completion, TaskHandle};
use crate::pool::TaskPool;
use crate::priority::Priority;
use crate::run::{Run, RunHeader, RunHooks, Settled, waits};
use crate::sync::{Arc, Mutex, lock};
use crate::task::{Task, TaskId};

use super::delayed::{Alarm, Disarm};
use super::timeout::Configs;

/// Tasks executed together; executing the group yields every result, in the order the tasks
/// were added (ArkTS `taskpool.TaskGroup`).
///
/// A group of `Task<T>` yields `Vec<T>`. For tasks of different result types, make their
/// functions return one enum (`enum Out { Count(u64), Text(String) }`), or group tasks rebuilt
/// from descriptors (`TaskGroup<Payload>`) and decode each result.
///
/// A task added to a group is moved into it, so it cannot also be executed alone (ArkTS
/// reports that at run time; here it is a use-after-move). A group can be executed again: each
/// execution runs every task with its own copy of the arguments — unless it was executed with
/// a timeout ([`TaskPool::execute_group_with_configs`]), which runs a group once. Once
/// executed, no task can be added ([`Error::GroupExecuted`]).
///
/// **The first failure fails the group**: as soon as one task fails (returns `Err`, panics, is
/// canceled or times out), the tasks of that execution that have not started are canceled
/// (they never run), and then the group's handle resolves with that task's error: a waiter never
/// sees a task start after it heard of the failure. Tasks already running finish (one that a
/// free thread starts while the others are being canceled, one by one, too); their results are
/// dropped. ArkTS lets the other tasks run to the end and discards their results; not starting
/// them is the improvement.
///
/// Like a [`Task`], a group is `Send` but not `Sync`: it owns its tasks' arguments.
///
/// ```
/// use taskpool::{concurrent, Priority, TaskGroup, TaskPool};
///
/// #[concurrent]
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let mut group = TaskGroup::with_name("squares");
/// for x in 1..=3 {
///     group.add(square, (x,)).unwrap();
/// }
/// let pool = TaskPool::global();
/// assert_eq!(pool.execute_group(&group, Priority::High).wait().unwrap(), vec![1, 4, 9]);
/// // Executed again: every task runs again.
/// assert_eq!(pool.execute_group(&group, Priority::Medium).wait().unwrap(), vec![1, 4, 9]);
/// ```
pub struct TaskGroup<T> {
    name: Option<String>,
    tasks: Vec<Task<T>>,
    executed: AtomicBool,
    /// Executed with a timeout: that was its one execution (ArkTS 10200059).
    timed: AtomicBool,
}

impl<T: Send + 'static> TaskGroup<T> {
    /// An empty group without a name (ArkTS `new taskpool.TaskGroup()`).
    pub fn new() -> TaskGroup<T> {
        TaskGroup {
            name: None,
            tasks: Vec::new(),
            executed: AtomicBool::new(false),
            timed: AtomicBool::new(false),
        }
    }

    /// An empty group with a name (ArkTS `new taskpool.TaskGroup(name)`).
    pub fn with_name(name: impl Into<String>) -> TaskGroup<T> {
        TaskGroup {
            name: Some(name.into()),
            ..TaskGroup::new()
        }
    }

    /// Adds a task at the end (ArkTS `addTask(task)`). The task moves into the group.
    ///
    /// Fails with [`Error::GroupExecuted`] (401, as ArkTS) once the group has been executed;
    /// the refused task is dropped, a panic in its arguments' `Drop` contained.
    pub fn add_task(&mut self, task: Task<T>) -> Result<()> {
        if self.executed.load(Ordering::Acquire) {
            // The task was handed over: its arguments' `Drop` (user code) must not turn the
            // refusal into a panic, as for a runner's refusal (`compose::refused`).
            crate::panic::drop_quietly(task);
            return Err(Error::GroupExecuted);
        }
        self.tasks.push(task);
        Ok(())
    }

    /// Adds `function` bound to `args` at the end (ArkTS `addTask(func, ...args)`).
    pub fn add<F>(&mut self, function: F, args: F::Args) -> Result<()>
    where
        F: ConcurrentFunction<Output = T>,
    {
        self.add_task(Task::new(function, args))
    }
}

impl<T> TaskGroup<T> {
    /// The group's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Renames the group (ArkTS's `taskGroup.name` is writable). The name is the group's
    /// label only: its executions do not depend on it.
    pub fn set_name(&mut self, name: impl Into<String>) {
        self.name = Some(name.into());
    }

    /// How many tasks the group holds.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the group holds no task.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Whether the group has been executed at least once.
    pub fn is_executed(&self) -> bool {
        self.executed.load(Ordering::Acquire)
    }
}

impl<T: Send + 'static> Default for TaskGroup<T> {
    fn default() -> TaskGroup<T> {
        TaskGroup::new()
    }
}

impl<T> fmt::Debug for TaskGroup<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("name", &self.name)
            .field("tasks", &self.tasks.len())
            .field("executed", &self.is_executed())
            .finish()
    }
}

/// One execution of a group: counts its members down and notes the first failure.
struct GroupRun {
    state: Mutex<GroupState>,
    /// `None`: every member succeeded; `Some(i)`: member `i` failed first; an error: the
    /// execution was refused or timed out.
    done: Completion<Option<usize>>,
    /// The alarm of its timeout, if it has one, until the execution ends.
    deadline: Arc<Disarm>,
}

impl GroupRun {
    /// An execution of `members` tasks; `deadline` keeps the alarm of its timeout, if any.
    fn new(members: usize, deadline: Arc<Disarm>) -> Arc<GroupRun> {
        Arc::new(GroupRun {
            state: Mutex::new(GroupState {
                remaining: members,
                failed: false,
                runs: Vec::with_capacity(members),
            }),
            done: Completion::new(),
            deadline,
        })
    }

    /// The execution ended with `end`; its timeout, if any, is disarmed.
    fn end(&self, end: Result<Option<usize>>) {
        self.done.resolve(end);
        self.deadline.disarm();
    }

    /// The timeout passed (on the timer thread): unless the execution ended, it fails with
    /// [`Error::GroupTimedOut`], and every member that has not ended is resolved so (see
    /// `timeout.rs` for what that does to a waiting, running or suspended run).
    fn time_out(&self, timeout: Duration) {
        let members = {
            let mut state = lock(&self.state);
            if state.failed || state.remaining == 0 {
                return;
            }
            state.failed = true;
            std::mem::take(&mut state.runs)
        };
        let error = || Error::GroupTimedOut { timeout };
        // The members first: once the handle resolves, its waiter may act on "the tasks that
        // had not started never run" (a thread it frees could otherwise still start one).
        for run in members {
            super::timeout::expire(run, error);
        }
        self.end(Err(error()));
    }
}

struct GroupState {
    remaining: usize,
    failed: bool,
    /// The members, to cancel; emptied when the execution ends (this breaks the cycle
    /// run → hook → group → run).
    runs: Vec<Arc<Run>>,
}

struct Member {
    group: Arc<GroupRun>,
    index: usize,
}

impl RunHooks for Member {
    fn may_run_inline(&self) -> bool {
        self.group.deadline.may_run_inline()
    }

    fn on_settle(&self, _run: &RunHeader, settled: Settled<'_>) {
        let to_cancel = {
            let mut state = lock(&self.group.state);
            state.remaining -= 1;
            match settled {
                Settled::Succeeded => {
                    if state.remaining == 0 && !state.failed {
                        state.runs.clear();
                        drop(state);
                        self.group.end(Ok(None));
                    } else if state.remaining == 0 {
                        state.runs.clear();
                    }
                    return;
                }
                _ if state.failed => {
                    if state.remaining == 0 {
                        state.runs.clear();
                    }
                    return;
                }
                _ => {
                    state.failed = true;
                    std::mem::take(&mut state.runs)
                }
            }
        };
        // The others first, as for a timeout: what has not started never starts, even for a
        // waiter that acts at once on the group's failure.
        cancel_all(&to_cancel);
        self.group.end(Ok(Some(self.index)));
    }
}

fn cancel_all(runs: &[Arc<Run>]) {
    for run in runs {
        if let Some(pool) = run.pool.upgrade() {
            let _ = pool.cancel_run(run);
        }
    }
}

impl TaskPool {
    /// Executes every task of `group` in lane `priority` (ArkTS `taskpool.execute(group,
    /// priority)`); the handle yields the results in the order the tasks were added.
    ///
    /// See [`TaskGroup`] for what a failure does. An empty group yields an empty `Vec`. A group
    /// executed with a timeout
    /// ([`execute_group_with_configs`](TaskPool::execute_group_with_configs)) is not executed
    /// again: the handle fails with [`Error::GroupReexecuted`] (10200059).
    pub fn execute_group<T: Send + 'static>(
        &self,
        group: &TaskGroup<T>,
        priority: Priority,
    ) -> GroupHandle<T> {
        if group.timed.load(Ordering::Acquire) {
            return GroupHandle::refused(Error::GroupReexecuted);
        }
        self.start_group(group, priority, Disarm::new())
    }

    /// Executes `group` with [`Configs`] (ArkTS `taskpool.execute(group, configs)`): in the lane
    /// they name (MEDIUM if none), and within their timeout, if any.
    ///
    /// If the execution has not ended when the timeout has passed since this call, the handle
    /// fails with [`Error::GroupTimedOut`] (10200070): the tasks that have not started never
    /// run, running ones are flagged ([`is_canceled`](crate::is_canceled)) and go on to their
    /// end on their threads, their results dropped. A group executed with a timeout runs that
    /// once, and a group executed before cannot take a timeout: either way the handle fails
    /// with [`Error::GroupReexecuted`] (10200059).
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskpool::{concurrent, Configs, Error, TaskGroup, TaskPool};
    ///
    /// #[concurrent]
    /// fn double(x: u32) -> u32 {
    ///     x * 2
    /// }
    ///
    /// let mut group = TaskGroup::new();
    /// group.add(double, (1,)).unwrap();
    /// group.add(double, (2,)).unwrap();
    /// let configs = Configs::new().with_timeout(Duration::from_secs(10));
    /// let pool = TaskPool::global();
    /// assert_eq!(pool.execute_group_with_configs(&group, configs).wait().unwrap(), vec![2, 4]);
    /// let again = pool.execute_group_with_configs(&group, configs).wait().unwrap_err();
    /// assert!(matches!(again, Error::GroupReexecuted));
    /// assert_eq!(again.code(), Some(10200059));
    /// ```
    pub fn execute_group_with_configs<T: Send + 'static>(
        &self,
        group: &TaskGroup<T>,
        configs: Configs,
    ) -> GroupHandle<T> {
        let priority = configs.priority().unwrap_or(Priority::Medium);
        let Some(timeout) = configs.timeout() else {
            return self.execute_group(group, priority);
        };
        if group.timed.load(Ordering::Acquire) || group.is_executed() {
            return GroupHandle::refused(Error::GroupReexecuted);
        }
        group.timed.store(true, Ordering::Release);
        let handle = self.start_group(group, priority, Disarm::deadline());
        let execution = Arc::downgrade(&handle.execution);
        let alarm = Alarm::after(timeout, move || {
            if let Some(execution) = execution.upgrade() {
                execution.time_out(timeout);
            }
        });
        let done = &handle.execution.done;
        handle.execution.deadline.keep(alarm, || done.is_claimed());
        handle
    }

    /// Starts one execution of `group`, whose `deadline` will keep its timeout's alarm.
    fn start_group<T: Send + 'static>(
        &self,
        group: &TaskGroup<T>,
        priority: Priority,
        deadline: Arc<Disarm>,
    ) -> GroupHandle<T> {
        group.executed.store(true, Ordering::Release);
        let execution = GroupRun::new(group.tasks.len(), deadline);
        if group.tasks.is_empty() {
            execution.end(Ok(None));
        }
        let shared = self.shared();
        let mut handles = Vec::with_capacity(group.tasks.len());
        let mut runs = Vec::with_capacity(group.tasks.len());
        for (index, task) in group.tasks.iter().enumerate() {
            let hooks: Arc<dyn RunHooks> = Arc::new(Member {
                group: Arc::clone(&execution),
                index,
            });
            let prepared = shared.prepare(task, Some(priority), Some(hooks));
            handles.push(prepared.handle);
            runs.extend(prepared.run);
        }
        let failed_already = {
            let mut state = lock(&execution.state);
            if !state.failed && state.remaining > 0 {
                state.runs.extend(runs.iter().cloned());
            }
            state.failed
        };
        if failed_already {
            // A member was refused (or canceled by id) before the others were queued.
            cancel_all(&runs);
        } else {
            for run in runs {
                shared.enqueue(run);
            }
        }
        GroupHandle {
            execution,
            handles,
            end: None,
            values: Vec::new(),
            spent: false,
        }
    }
}

/// Executes a group on the global pool (shorthand for
/// [`TaskPool::global().execute_group(group, priority)`](TaskPool::execute_group)).
pub fn execute_group<T: Send + 'static>(
    group: &TaskGroup<T>,
    priority: Priority,
) -> GroupHandle<T> {
    TaskPool::global().execute_group(group, priority)
}

/// Executes a group on the global pool with [`Configs`] (shorthand for
/// [`TaskPool::global().execute_group_with_configs(group, configs)`](TaskPool::execute_group_with_configs)).
pub fn execute_group_with_configs<T: Send + 'static>(
    group: &TaskGroup<T>,
    configs: Configs,
) -> GroupHandle<T> {
    TaskPool::global().execute_group_with_configs(group, configs)
}

/// The handle of one execution of a [`TaskGroup`]: blocking ([`wait`](GroupHandle::wait)) and a
/// `Future`, yielding every result in add order, or the first failure.
///
/// Dropping it detaches the execution: its tasks still run (to stop them, call
/// [`cancel`](GroupHandle::cancel) first), and each result nobody will take is dropped as it
/// comes — on the dropping thread if it is already there, otherwise by the pool thread that
/// ends that task's run, under the time limit, never under a pool lock — as for a dropped
/// [`TaskHandle`].
pub struct GroupHandle<T> {
    execution: Arc<GroupRun>,
    handles: Vec<TaskHandle<T>>,
    /// How the execution ended, once known.
    end: Option<Option<usize>>,
    /// The results collected so far (by `poll`).
    values: Vec<T>,
    /// `poll` returned the outcome: polling again is a caller's bug.
    spent: bool,
}

impl<T: Send + 'static> GroupHandle<T> {
    /// A handle already failed with `error`: the execution was refused.
    fn refused(error: Error) -> GroupHandle<T> {
        let execution = GroupRun::new(0, Disarm::new());
        execution.end(Err(error));
        GroupHandle {
            execution,
            handles: Vec::new(),
            end: None,
            values: Vec::new(),
            spent: false,
        }
    }

    /// Blocks until every task succeeded (their results, in add order) or one failed (its
    /// error). Inside a pool task the thread counts as blocked meanwhile.
    ///
    /// A member of this execution that waits for it from inside its own run gets
    /// [`Error::WaitsForItself`] (with its own id) at once instead of waiting forever — the
    /// group cannot succeed before that member returns; so does awaiting it, and so does a
    /// wait that closes a cycle through other blocked tasks (see [`TaskHandle::wait`]).
    pub fn wait(mut self) -> Result<Vec<T>> {
        self.wait_until(None)
            .expect("waiting without a deadline returns an outcome")
    }

    /// Blocks for at most `timeout` (a timeout too long to represent waits without bound).
    /// Returns `None` if the outcome is still unknown; the handle stays usable, and keeps the
    /// results it collected. After it returned `Some`, the handle is spent: waiting or
    /// polling it again panics.
    ///
    /// A wait that could never end — where [`wait`](GroupHandle::wait) gives
    /// [`Error::WaitsForItself`] — returns `Some(Err(Error::WaitsForItself(..)))` at once
    /// instead of waiting the timeout out; that answer does not spend the handle.
    #[must_use = "the outcome is taken out of the handle: dropping it loses it"]
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Result<Vec<T>>> {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    /// [`wait_timeout`](Self::wait_timeout) until `deadline` (`None`: without bound).
    fn wait_until(&mut self, deadline: Option<Instant>) -> Option<Result<Vec<T>>> {
        assert!(
            !self.spent,
            "a GroupHandle was waited for after it returned its outcome"
        );
        let end = match self.end {
            Some(end) => end,
            None => {
                let done = &self.execution.done;
                let _blocked = if done.is_resolved() {
                    None
                } else {
                    match waits::block_on(|| self.members()) {
                        Ok(blocked) => blocked,
                        Err(member) => return Some(Err(Error::WaitsForItself(member))),
                    }
                };
                match done.wait_take(deadline)? {
                    Ok(end) => *self.end.insert(end),
                    Err(error) => return Some(self.spend(Err(error))),
                }
            }
        };
        // The members' handles are resolved, or about to be (right after their settle hook).
        let left = || {
            deadline.map_or(Duration::MAX, |at| {
                at.saturating_duration_since(Instant::now())
            })
        };
        if let Some(failed) = end {
            return match self.handles[failed].wait_timeout(left())? {
                Err(error) => Some(self.spend(Err(error))),
                Ok(_) => unreachable!("the member reported a failure"),
            };
        }
        while self.values.len() < self.handles.len() {
            let next = self.values.len();
            match self.handles[next].wait_timeout(left())? {
                Ok(value) => self.values.push(value),
                Err(error) => return Some(self.spend(Err(error))),
            }
        }
        let values = std::mem::take(&mut self.values);
        Some(self.spend(Ok(values)))
    }

    /// Marks the handle spent as it hands out `outcome`.
    fn spend(&mut self, outcome: Result<Vec<T>>) -> Result<Vec<T>> {
        self.spent = true;
        outcome
    }

    /// Cancels this execution (ArkTS `taskpool.cancel(group)`): its tasks that have not
    /// started never run, running ones are flagged ([`is_canceled`](crate::is_canceled)), and
    /// the handle resolves with the first canceled task's [`Error::Canceled`].
    ///
    /// Fails with [`Error::GroupNotFound`] (10200018) if the execution already ended.
    pub fn cancel(&self) -> Result<()> {
        let runs = {
            let state = lock(&self.execution.state);
            if state.failed || state.remaining == 0 {
                return Err(Error::GroupNotFound);
            }
            state.runs.clone()
        };
        let landed = runs
            .iter()
            .filter(|run| {
                run.pool
                    .upgrade()
                    .is_some_and(|pool| pool.cancel_run(run).is_ok())
            })
            .count();
        if landed == 0 {
            return Err(Error::GroupNotFound);
        }
        Ok(())
    }

    /// Whether the outcome is known.
    pub fn is_finished(&self) -> bool {
        self.execution.done.is_resolved()
    }

    /// How many tasks this execution runs.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Whether this execution runs no task.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }
}

/// Polling the handle again after it returned its outcome panics (as a spent [`TaskHandle`]
/// does), whatever the group's size or outcome: the results were handed out once.
impl<T: Send + 'static> Future for GroupHandle<T> {
    type Output = Result<Vec<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Vec<T>>> {
        let this = self.get_mut();
        assert!(
            !this.spent,
            "a GroupHandle was polled after it returned its outcome"
        );
        let polled = this.poll_outcome(cx);
        this.spent = polled.is_ready();
        polled
    }
}

impl<T: Send + 'static> GroupHandle<T> {
    /// The members' runs: what waiting for the execution waits for.
    fn members(&self) -> Vec<Arc<Run>> {
        self.handles.iter().map(TaskHandle::target).collect()
    }

    /// The member run of the calling thread that waiting for the execution would wait for,
    /// if any (see `run/waits.rs`).
    fn waits_for_itself(&self) -> Option<TaskId> {
        if self.execution.done.is_resolved() {
            return None;
        }
        waits::waits_for_itself(|| self.members())
    }

    fn poll_outcome(&mut self, cx: &mut Context<'_>) -> Poll<Result<Vec<T>>> {
        let this = self;
        let end = match this.end {
            Some(end) => end,
            None => match this.execution.done.poll_take(cx) {
                Poll::Pending => {
                    return match this.waits_for_itself() {
                        Some(member) => Poll::Ready(Err(Error::WaitsForItself(member))),
                        None => Poll::Pending,
                    };
                }
                Poll::Ready(end) => {
                    let end = end?;
                    this.end = Some(end);
                    end
                }
            },
        };
        if let Some(failed) = end {
            return match Pin::new(&mut this.handles[failed]).poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
                Poll::Ready(Ok(_)) => unreachable!("the member reported a failure"),
            };
        }
        // Every member succeeded; each handle is resolved or about to be (right after its hook).
        while this.values.len() < this.handles.len() {
            let next = this.values.len();
            match Pin::new(&mut this.handles[next]).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(value)) => this.values.push(value),
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            }
        }
        Poll::Ready(Ok(std::mem::take(&mut this.values)))
    }
}

impl<T> Drop for GroupHandle<T> {
    fn drop(&mut self) {
        // Results collected by `poll` but never returned (the handle was dropped in between):
        // user values whose `Drop` may panic, dropped one at a time.
        self.values.drain(..).for_each(crate::panic::drop_quietly);
        // Nobody awaits the execution any more: the waker of its last poll goes now, not when
        // the last member ends (maybe never). The members' handles let go of theirs as they
        // drop.
        drop(self.execution.done.detach());
    }
}

// Nothing in a handle is structurally pinned: the values are moved out by value.
impl<T> Unpin for GroupHandle<T> {}

impl<T> fmt::Debug for GroupHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupHandle")
            .field("tasks", &self.handles.len())
            .field("finished", &self.execution.done.is_resolved())
            .finish()
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;
    use crate::error::Error;
    use crate::function::Invocation;
    use crate::run::TypedRun;
    use crate::task::Call;

    fn header() -> Arc<TypedRun<u32>> {
        let record = crate::task::Owner::anonymous(&"loom::member");
        let call: Call<u32> = Box::new(|| Invocation::Ready(Ok(0)));
        TypedRun::new(record, Priority::Medium, call, std::sync::Weak::new(), None)
    }

    /// Two members settle at once: the countdown reaches zero exactly once, and the group
    /// resolves with "all succeeded" or with the failing member, never twice.
    #[test]
    fn the_countdown_resolves_the_group_once() {
        loom::model(|| {
            let group = GroupRun::new(2, Disarm::new());
            let settle = |index: usize, fail: bool| {
                let member = Member {
                    group: Arc::clone(&group),
                    index,
                };
                loom::thread::spawn(move || {
                    let run = header();
                    let error = Error::PoolShutDown;
                    let settled = if fail {
                        Settled::Failed(&error)
                    } else {
                        Settled::Succeeded
                    };
                    member.on_settle(crate::run::RunOps::header(&*run), settled);
                })
            };
            let a = settle(0, false);
            let b = settle(1, true);
            a.join().unwrap();
            b.join().unwrap();
            assert_eq!(lock(&group.state).remaining, 0);
            assert!(matches!(group.done.try_take(), Some(Ok(Some(1)))));
        });
    }

    /// The timeout fires as the last member succeeds: the execution ends once, with every
    /// result or with the timeout, and the member is counted down either way.
    #[test]
    fn a_timeout_racing_the_last_member_ends_the_group_once() {
        loom::model(|| {
            let group = GroupRun::new(1, Disarm::deadline());
            let member = Member {
                group: Arc::clone(&group),
                index: 0,
            };
            let settles = loom::thread::spawn(move || {
                let run = header();
                member.on_settle(crate::run::RunOps::header(&*run), Settled::Succeeded);
            });
            let timeout = Duration::from_millis(1);
            group.time_out(timeout);
            settles.join().unwrap();
            assert_eq!(lock(&group.state).remaining, 0);
            let end = group.done.try_take();
            let timed_out = matches!(&end, Some(Err(Error::GroupTimedOut { .. })));
            assert!(timed_out || matches!(end, Some(Ok(None))), "{end:?}");
            assert_eq!(lock(&group.state).failed, timed_out);
        });
    }
}
