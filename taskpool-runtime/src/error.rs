//! The one error type of the runtime, with the ArkTS error code of each variant.

use std::any::Any;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use crate::locks::AsyncLockMode;
use crate::task::TaskId;

/// A boxed error from a task function, kept as the source of [`Error::TaskFailed`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Shorthand for `Result<T, taskpool::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the runtime.
///
/// [`Error::code`] gives the ArkTS error code where ArkTS has one; each message says what happened
/// and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The task was canceled. If its function was executing when canceled, it ran to the end
    /// and `late` carries what it produced (see [`LateOutcome`]). An `async fn` task canceled
    /// (or abandoned by a pool shutting down) while suspended at an `.await` was dropped there:
    /// `started` is true and `late` is `None`.
    #[error(
        "task {task} was canceled{}; resubmit it if you still need its result",
        if .late.is_some() {
            " while running (its late outcome is attached)"
        } else if *.started {
            " after it started (it was stopped where it waited)"
        } else {
            " before it started"
        }
    )]
    Canceled {
        /// The canceled task.
        task: TaskId,
        /// Whether the task had started when it was canceled.
        started: bool,
        /// What a running task produced after it was canceled.
        late: Option<LateOutcome>,
    },
    /// `cancel` named a task that is not waiting or running (10200015).
    #[error(
        "task {0} does not exist or has already finished (10200015); cancel only a task that is still waiting or running"
    )]
    TaskNotFound(TaskId),
    /// `terminate_task` named no long task that holds a thread of this pool: an ordinary task,
    /// an unknown one, or a long task already terminated. A parameter error (401), the one
    /// error ArkTS's `terminateTask(longTask)` documents.
    #[error(
        "task {0} is not a long task holding a thread of this pool (401): terminate_task takes the id of an executed LongTask, once"
    )]
    NotALongTask(TaskId),
    /// A task waited, from inside its own run, for an outcome that only that run's end can
    /// produce: its own handle, the group it belongs to, a run queued behind its own (a later
    /// task of its `SequenceRunner`, of its full `AsyncRunner`, another run of the same task
    /// executed by reference, a task that depends on it, directly or through a chain), or a
    /// task that is itself blocked waiting for it, directly or through other blocked tasks on
    /// any threads (a wait cycle: the wait that closes it gets this error). The wait could
    /// never end, so it fails at once instead. No ArkTS code: ArkTS cannot block inside a
    /// task (a sequence runner task awaiting a later task of its runner never settles there).
    #[error(
        "task {0} waited from inside its run for something that waits for that run to end (its own outcome or group, a run queued behind it in a runner, in its task's turns or as a dependent, or a task blocked waiting for it, directly or through others), which could never end; return the value instead of waiting for it"
    )]
    WaitsForItself(TaskId),
    /// A non-long task ran synchronously longer than the pool's time limit. Code 10200058
    /// ("Task timed out", the code ArkTS gives a task past the timeout of its `Configs`).
    #[error(
        "task {task} ran synchronously for longer than the time limit of {limit:?}; split the work into smaller tasks, or run it as a LongTask"
    )]
    TimedOut {
        /// The task that ran too long.
        task: TaskId,
        /// The limit it exceeded.
        limit: Duration,
    },
    /// The task did not finish within the timeout of its [`Configs`](crate::Configs) (ArkTS
    /// `execute(task, configs)`, 10200058 "Task timed out"), counted from its execution. A
    /// task still waiting never runs; a running one is flagged
    /// ([`is_canceled`](crate::is_canceled)) and its call goes on, but what it returns (or
    /// sends with [`send_data`](crate::send_data)) is dropped. Its failure listener is not
    /// called (as in ArkTS).
    #[error(
        "task {task} timed out (10200058): it did not finish within the timeout of {timeout:?} of its Configs"
    )]
    TimeoutElapsed {
        /// The task that did not finish in time.
        task: TaskId,
        /// The timeout it was given.
        timeout: Duration,
    },
    /// A group did not finish within the timeout of its [`Configs`](crate::Configs) (ArkTS
    /// `execute(group, configs)`, 10200070 "TaskGroup timed out"): its tasks that have not
    /// started never run, running ones are flagged and their results dropped.
    #[error(
        "task group timed out (10200070): it did not finish within the timeout of {timeout:?} of its Configs"
    )]
    GroupTimedOut {
        /// The timeout the group was given.
        timeout: Duration,
    },
    /// A group executed with a timeout cannot be executed again, and a group already executed
    /// cannot be executed with a timeout (ArkTS 10200059 "TaskGroup cannot be re-executed").
    #[error(
        "task group cannot be re-executed (10200059): a group executed with a timeout runs once; build a new TaskGroup"
    )]
    GroupReexecuted,
    /// The task function panicked. The worker survived.
    #[error("task {task} panicked: {message}; fix the panic or return a `Result` instead")]
    Panicked {
        /// The task that panicked.
        task: TaskId,
        /// The panic payload, if it was a string.
        message: String,
    },
    /// The task function returned `Err`; the original error is the source.
    #[error("the task function returned an error: {0}")]
    TaskFailed(#[source] BoxError),
    /// A value could not be serialized or deserialized, or is larger than the cap (10200006).
    #[error("serialization failed (10200006): {0}")]
    Serialization(String),
    /// A function name is not registered by `#[concurrent]` in this program (10200014).
    #[error(
        "`{0}` is not a #[concurrent] function of this program (10200014); mark it `#[taskpool::concurrent]` and make sure both processes run the same build"
    )]
    NotConcurrent(String),
    /// Two `#[concurrent]` functions of this program registered the same stable name, so a
    /// descriptor naming it is ambiguous: two linked versions of one crate, or two task
    /// functions of the same name declared inside function bodies of one module (the stable name
    /// is the module path and the function name). Running them in process is unaffected.
    #[error(
        "`{name}` is registered by {count} #[concurrent] functions, so a descriptor naming it is ambiguous; link only one version of the crate that defines it, or rename one of the task functions declared inside function bodies of the same module (they share its path)"
    )]
    DuplicateFunction {
        /// The ambiguous name.
        name: String,
        /// How many functions registered it.
        count: usize,
    },
    /// The pool was shut down before the task could run (it was submitted meanwhile, or still
    /// held for its delay, its dependencies, its runner's or its task's turn when the shutdown
    /// began), or before its call returned (a call still executing when
    /// [`TaskPool::shutdown_timeout`](crate::TaskPool::shutdown_timeout) gave up on it).
    #[error(
        "the task pool shut down before the task could finish; submit to a live pool (or the global one)"
    )]
    PoolShutDown,
    /// [`AsyncLock::query`](crate::AsyncLock::query) named no live lock (10200030).
    #[error(
        "the lock `{0}` does not exist (10200030); query only a name passed to `AsyncLock::request` whose lock is still alive, and check the spelling"
    )]
    LockNotFound(String),
    /// A lock request was not granted within its timeout (10200031). `diagnosis` names the
    /// lock's holders and waiters (mode, task, thread) and reports any cycle of waits among the
    /// live locks: a possible deadlock.
    #[error(
        "timeout exceeded (10200031): the {mode} lock `{name}` was not granted within {timeout:?}; {diagnosis}"
    )]
    LockTimedOut {
        /// The lock's name.
        name: String,
        /// The mode requested.
        mode: AsyncLockMode,
        /// The timeout that passed.
        timeout: Duration,
        /// Holders, waiters and any deadlock found, in words.
        diagnosis: String,
    },
    /// A lock request with `is_available` found the lock held in a conflicting mode (ArkTS
    /// rejects it with "The lock is acquired", without a code).
    #[error(
        "the lock `{name}` is not available for a {mode} request now, and the request asked for it only if available; retry later, or wait for it (without `is_available`, perhaps with a timeout)"
    )]
    LockUnavailable {
        /// The lock's name.
        name: String,
        /// The mode requested.
        mode: AsyncLockMode,
    },
    /// A lock request was withdrawn by its [`AbortSignal`](crate::AbortSignal) (ArkTS rejects it
    /// with the signal's reason, without a code).
    #[error("the request for the lock `{name}` was aborted: {reason}; the lock was not taken")]
    LockAborted {
        /// The lock's name.
        name: String,
        /// The reason given to [`AbortSignal::abort`](crate::AbortSignal::abort).
        reason: String,
    },
    /// `cancel` named a task group execution that is neither waiting nor running (10200018).
    #[error(
        "the task group is not waiting or running (10200018); cancel a group only between its execution and its end"
    )]
    GroupNotFound,
    /// A task was added to a group that has already been executed. A parameter error (401), as
    /// ArkTS's `addTask` reports it ("executed taskGroup cannot addTask").
    #[error(
        "the task group has already been executed, so no task can be added to it (401); build a new TaskGroup for more tasks"
    )]
    GroupExecuted,
    /// A task with dependencies was given to a `SequenceRunner` (10200025).
    #[error(
        "task {0} has dependencies and cannot join a SequenceRunner (10200025); remove its dependencies first"
    )]
    DependentTaskInRunner(TaskId),
    /// Adding this dependency would create a cycle (10200026).
    #[error(
        "making task {task} depend on task {dependency} would create a circular dependency (10200026); remove a dependency first"
    )]
    CircularDependency {
        /// The task that would depend.
        task: TaskId,
        /// The dependency that closes the cycle.
        dependency: TaskId,
    },
    /// `remove_dependency` named a dependency that was never added (10200027).
    #[error(
        "task {task} does not depend on task {dependency} (10200027); remove only a dependency added with add_dependency"
    )]
    DependencyNotFound {
        /// The task whose dependency was to be removed.
        task: TaskId,
        /// The dependency that does not exist.
        dependency: TaskId,
    },
    /// `add_dependency` named a task that has already been executed, as the dependent task or
    /// as the dependency (ArkTS: "the task and its dependent tasks cannot be ... a task that has
    /// been executed", a parameter error, 401). A dependency on a task whose runs are over
    /// would never be satisfied.
    #[error(
        "task {0} has already been executed, so it cannot take part in a new dependency (401); add dependencies before executing either task, or create a new Task"
    )]
    ExecutedTaskDependency(TaskId),
    /// A dependency of the task failed, was canceled or timed out, so the task did not run.
    #[error(
        "task {task} did not run because its dependency {dependency} did not succeed: {reason}; fix the dependency or remove it"
    )]
    DependencyFailed {
        /// The task that did not run.
        task: TaskId,
        /// The dependency that did not succeed.
        dependency: TaskId,
        /// What happened to the dependency: its error's message (cut at 1 KiB: the
        /// dependency's own handle has the whole error), or, if it did not run for want of its
        /// own dependency, which one.
        reason: String,
    },
    /// A task that was already executed cannot become periodic (10200050).
    #[error(
        "task {0} has already been executed and cannot be executed periodically (10200050); create a new Task for the periodic work"
    )]
    ExecutedTaskNotPeriodic(TaskId),
    /// A periodic task cannot have a dependency relationship: depend on a task, or be one a
    /// task depends on. A parameter error (401), as ArkTS's `executePeriodically` reports it;
    /// its 10200052 is `addDependency` / `removeDependency` on a task already periodic, which
    /// a task moved into its periodic execution rules out here.
    #[error(
        "task {0} has a dependency relationship (it depends on a task, or a task depends on it) and cannot be executed periodically (401); remove the dependency first"
    )]
    PeriodicWithDependencies(TaskId),
    /// `send_data` was called on a thread that is not a task pool thread (10200022).
    #[error(
        "send_data was called outside a task pool thread (10200022); call it only from a #[concurrent] function that a pool is executing"
    )]
    NotInPoolThread,
    /// `send_data` was called on a pool thread, but not from the run of a concurrent function
    /// (for example from a host-side callback) (10200023).
    #[error(
        "send_data was called outside the run of a concurrent function (10200023); call it from the task's own function, not from a callback"
    )]
    NotInConcurrentFunction,
    /// `send_data` was called by a task that has no receiver registered (10200024).
    #[error(
        "task {0} sent data but no receiver is registered on the host side (10200024); register one with on_receive_data or data_stream before executing the task"
    )]
    NoDataReceiver(TaskId),
    /// `send_data` sent a value of another type than the registered receiver takes.
    #[error(
        "task {task} sent a `{sent}` but its receiver takes `{expected}`; send the type the receiver was registered for, or register a receiver for `{sent}`"
    )]
    DataTypeMismatch {
        /// The sending task.
        task: TaskId,
        /// The type the receiver takes.
        expected: &'static str,
        /// The type that was sent.
        sent: &'static str,
    },
    /// A listener was registered on a task that has already been executed (10200034).
    #[error(
        "task {0} has already been executed, so listeners can no longer be registered on it (10200034); register listeners before executing the task"
    )]
    ListenerAfterExecution(TaskId),
    /// An `AsyncRunner`'s waiting queue was full, so its oldest waiting task was discarded
    /// (10200054).
    #[error(
        "task {0} was discarded because its AsyncRunner's waiting queue was full (10200054); raise the runner's waiting capacity or submit fewer tasks at once"
    )]
    AsyncRunnerDiscarded(TaskId),
    /// A task of an `AsyncRunner` was canceled while waiting, or (an `async fn`) while
    /// suspended at an `.await` (10200055). One canceled during a synchronous call gets
    /// [`Error::Canceled`] with its late outcome.
    #[error(
        "task {0} of an AsyncRunner was canceled (10200055); resubmit it if you still need its result"
    )]
    AsyncRunnerCanceled(TaskId),
    /// A task with dependencies cannot be executed by an `AsyncRunner` (10200025: ArkTS's
    /// `AsyncRunner.execute` refuses it with the code `SequenceRunner.execute` uses, "dependent
    /// task not allowed"; its 10200056 is `addDependency` on a task an async runner holds, which
    /// a moved task rules out here).
    #[error(
        "task {0} has dependencies and cannot be executed by an AsyncRunner (10200025); remove its dependencies first"
    )]
    AsyncRunnerDependentTask(TaskId),
    /// A task already executed by another API cannot be executed by an `AsyncRunner`, nor with a
    /// timeout; and a task executed with a timeout cannot be executed again (10200057).
    #[error(
        "task {0} cannot be executed by two APIs (10200057): it was already executed by another API, or with a timeout (which runs a task once); create a new Task"
    )]
    ExecutedByAnotherApi(TaskId),
    /// A task with a timeout can neither depend on other tasks nor be depended on (ArkTS
    /// `execute(task, configs)`; 10200057, the code of a task executed by two APIs).
    #[error(
        "task {0} takes part in dependencies and cannot be executed with a timeout (10200057); execute it without a timeout, or without dependencies"
    )]
    TimeoutWithDependencies(TaskId),
    /// A configuration value is out of range (ArkTS parameter error 401).
    #[error("invalid pool configuration (401): `{setting}` {reason}")]
    InvalidConfig {
        /// The builder method whose value was refused.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A [`Worker`](crate::Worker) could not be started (10200003): the process already has the
    /// maximum number of live workers, its name contains a NUL byte, or the system refused a
    /// thread. Also the outcome of a task waiting in a [`TaskPool`](crate::TaskPool) that has no
    /// thread and whose new thread the system refused (too large a stack for the address space,
    /// out of threads): nothing would ever run it.
    #[error("worker initialization failed (10200003): {0}")]
    WorkerInitialization(String),
    /// The [`Worker`](crate::Worker) is terminated, closing or has exited (10200004).
    #[error(
        "worker `{0}` is not running (10200004); it was terminated, closed itself or failed: create a new one"
    )]
    WorkerNotRunning(String),
    /// A worker's message handler returned `Err`; the original error is the source. It is
    /// reported to the host's `on_error` (the worker is destroyed) or `on_all_errors` (it lives on).
    #[error("the message handler of worker `{worker}` returned an error: {source}")]
    WorkerFailed {
        /// The worker's name.
        worker: String,
        /// What the handler returned.
        #[source]
        source: BoxError,
    },
    /// A worker's handler (its constructor, `on_message`, or a task it spawned) panicked; the
    /// panic was contained on the worker thread.
    #[error("the handler of worker `{worker}` panicked: {message}")]
    WorkerPanicked {
        /// The worker's name.
        worker: String,
        /// The panic payload, if it was a string.
        message: String,
    },
    /// A worker called a global call object that its host has not registered (10200019).
    #[error(
        "the global call object `{0}` is not registered (10200019); register it with `Worker::register_global_call_object` first"
    )]
    CallObjectNotRegistered(String),
    /// A worker called a method its host's global call object does not have (10200020).
    #[error(
        "the global call object `{object}` has no method `{method}` (10200020); add it with `CallObject::method`"
    )]
    CallObjectMethodNotFound {
        /// The registered object.
        object: String,
        /// The method that was asked for.
        method: String,
    },
    /// A global call was not answered within its timeout (10200021): the host thread was busy,
    /// or the method ran too long (its late result is dropped).
    #[error(
        "the global call `{object}.{method}` was not answered within {timeout:?} (10200021); keep the host's callbacks short"
    )]
    CallObjectTimedOut {
        /// The registered object.
        object: String,
        /// The method that was called.
        method: String,
        /// How long the worker waited.
        timeout: Duration,
    },
}

impl Error {
    /// The ArkTS error code of this error, where ArkTS has one.
    ///
    /// ArkTS rejects a canceled, failed, panicking ("thrown") or forcibly terminated task without
    /// a dedicated code, and reports an exception in a worker as an `ErrorEvent` without one;
    /// those variants return `None`.
    ///
    /// ```
    /// use taskpool::{Error, TaskId};
    /// assert_eq!(Error::TaskNotFound(TaskId::from_raw(7)).code(), Some(10200015));
    /// ```
    pub fn code(&self) -> Option<u32> {
        match self {
            Error::TaskNotFound(_) => Some(10200015),
            Error::Serialization(_) => Some(10200006),
            Error::NotConcurrent(_) => Some(10200014),
            Error::InvalidConfig { .. } => Some(401),
            Error::LockNotFound(_) => Some(10200030),
            Error::LockTimedOut { .. } => Some(10200031),
            Error::WorkerInitialization(_) => Some(10200003),
            Error::WorkerNotRunning(_) => Some(10200004),
            Error::CallObjectNotRegistered(_) => Some(10200019),
            Error::CallObjectMethodNotFound { .. } => Some(10200020),
            Error::CallObjectTimedOut { .. } => Some(10200021),
            Error::GroupNotFound => Some(10200018),
            Error::DependentTaskInRunner(_) => Some(10200025),
            Error::ExecutedTaskDependency(_)
            | Error::GroupExecuted
            | Error::PeriodicWithDependencies(_)
            | Error::NotALongTask(_) => Some(401),
            Error::CircularDependency { .. } => Some(10200026),
            Error::DependencyNotFound { .. } => Some(10200027),
            Error::ExecutedTaskNotPeriodic(_) => Some(10200050),
            Error::NotInPoolThread => Some(10200022),
            Error::NotInConcurrentFunction => Some(10200023),
            Error::NoDataReceiver(_) => Some(10200024),
            Error::ListenerAfterExecution(_) => Some(10200034),
            Error::AsyncRunnerDiscarded(_) => Some(10200054),
            Error::AsyncRunnerCanceled(_) => Some(10200055),
            Error::AsyncRunnerDependentTask(_) => Some(10200025),
            Error::ExecutedByAnotherApi(_) => Some(10200057),
            Error::TimedOut { .. } => Some(10200058),
            Error::TimeoutElapsed { .. } => Some(10200058),
            Error::GroupTimedOut { .. } => Some(10200070),
            Error::GroupReexecuted => Some(10200059),
            Error::TimeoutWithDependencies(_) => Some(10200057),
            Error::Canceled { .. }
            | Error::Panicked { .. }
            | Error::TaskFailed(_)
            | Error::DuplicateFunction { .. }
            | Error::DependencyFailed { .. }
            | Error::DataTypeMismatch { .. }
            | Error::PoolShutDown
            | Error::LockUnavailable { .. }
            | Error::LockAborted { .. }
            | Error::WorkerFailed { .. }
            | Error::WorkerPanicked { .. }
            | Error::WaitsForItself(_) => None,
        }
    }

    /// True for [`Error::Canceled`] and [`Error::AsyncRunnerCanceled`].
    pub fn is_canceled(&self) -> bool {
        matches!(self, Error::Canceled { .. } | Error::AsyncRunnerCanceled(_))
    }

    /// A copy for a listener: the same variant and message, with what cannot be copied
    /// replaced (a task's own error becomes its message; a late value stays with the handle).
    pub(crate) fn detached_copy(&self) -> Error {
        match self {
            Error::Canceled {
                task,
                started,
                late,
            } => Error::Canceled {
                task: *task,
                started: *started,
                // Kept as `Some`, so the copy still says the task was canceled while running
                // rather than "stopped where it waited".
                late: late.as_ref().map(LateOutcome::detached_copy),
            },
            Error::TaskNotFound(id) => Error::TaskNotFound(*id),
            Error::TimedOut { task, limit } => Error::TimedOut {
                task: *task,
                limit: *limit,
            },
            Error::Panicked { task, message } => Error::Panicked {
                task: *task,
                message: message.clone(),
            },
            // The task's own error: its `Display` is user code, and may panic.
            Error::TaskFailed(source) => {
                Error::TaskFailed(crate::panic::display_quietly(source).into())
            }
            Error::Serialization(message) => Error::Serialization(message.clone()),
            Error::NotConcurrent(name) => Error::NotConcurrent(name.clone()),
            Error::DependencyFailed {
                task,
                dependency,
                reason,
            } => Error::DependencyFailed {
                task: *task,
                dependency: *dependency,
                reason: reason.clone(),
            },
            Error::PoolShutDown => Error::PoolShutDown,
            // A sequence runner's refusal, which the task's failure listener hears of.
            Error::DependentTaskInRunner(id) => Error::DependentTaskInRunner(*id),
            Error::AsyncRunnerDiscarded(id) => Error::AsyncRunnerDiscarded(*id),
            Error::AsyncRunnerCanceled(id) => Error::AsyncRunnerCanceled(*id),
            Error::AsyncRunnerDependentTask(id) => Error::AsyncRunnerDependentTask(*id),
            Error::ExecutedByAnotherApi(id) => Error::ExecutedByAnotherApi(*id),
            Error::TimeoutWithDependencies(id) => Error::TimeoutWithDependencies(*id),
            Error::TimeoutElapsed { task, timeout } => Error::TimeoutElapsed {
                task: *task,
                timeout: *timeout,
            },
            Error::WaitsForItself(id) => Error::WaitsForItself(*id),
            other => Error::TaskFailed(crate::panic::display_quietly(other).into()),
        }
    }
}

/// What a task that was canceled while running produced when it finally returned.
///
/// The value sits behind a mutex only so that [`Error`] is `Sync` (and so converts into a
/// [`BoxError`] with `?`); it is never locked while shared.
pub struct LateOutcome(pub(crate) std::result::Result<Mutex<Box<dyn Any + Send>>, Box<Error>>);

/// Stands in, in a listener's copy of a late outcome, for the value the task returned: the
/// value itself stays with the handle (it cannot be copied), so `into_value` yields `None`.
struct ValueKeptByHandle;

impl LateOutcome {
    /// A listener's copy: the late error copied, a late value replaced by a stand-in.
    fn detached_copy(&self) -> LateOutcome {
        LateOutcome(match &self.0 {
            Ok(_) => Ok(Mutex::new(Box::new(ValueKeptByHandle))),
            Err(error) => Err(Box::new(error.detached_copy())),
        })
    }

    /// The value the task returned, if it succeeded and `T` is its result type. In the copy
    /// an `on_execution_failed` listener receives, always `None`: the value stays with the
    /// handle.
    pub fn into_value<T: 'static>(self) -> Option<T> {
        let value = self.0.ok()?;
        let value = value.into_inner().unwrap_or_else(|e| e.into_inner());
        value.downcast::<T>().ok().map(|value| *value)
    }

    /// The error the task ended with, if it failed.
    pub fn error(&self) -> Option<&Error> {
        self.0.as_ref().err().map(|error| &**error)
    }
}

impl fmt::Debug for LateOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Ok(_) => f.write_str("LateOutcome(Ok(..))"),
            Err(error) => f.debug_tuple("LateOutcome").field(error).finish(),
        }
    }
}
