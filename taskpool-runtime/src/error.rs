//! The one error type of the runtime, with the ArkTS error code of each variant.

use std::any::Any;
use std::fmt;
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
    /// `cancel` or `terminate_task` named a task that is not waiting or running (10200015).
    #[error(
        "task {0} does not exist or has already finished (10200015); cancel only a task that is still waiting or running"
    )]
    TaskNotFound(TaskId),
    /// A non-long task ran synchronously longer than the pool's time limit.
    #[error(
        "task {task} ran synchronously for longer than the time limit of {limit:?}; split the work into smaller tasks, or run it as a LongTask"
    )]
    TimedOut {
        /// The task that ran too long.
        task: TaskId,
        /// The limit it exceeded.
        limit: Duration,
    },
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
    /// descriptor naming it is ambiguous.
    #[error(
        "`{name}` is registered by {count} #[concurrent] functions, so a descriptor naming it is ambiguous; link only one version of the crate that defines it"
    )]
    DuplicateFunction {
        /// The ambiguous name.
        name: String,
        /// How many functions registered it.
        count: usize,
    },
    /// The pool was shut down before the task could run, or before its call returned (a call
    /// still executing when [`TaskPool::shutdown_timeout`](crate::TaskPool::shutdown_timeout)
    /// gave up on it).
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
    /// A configuration value is out of range (ArkTS parameter error 401).
    #[error("invalid pool configuration (401): `{setting}` {reason}")]
    InvalidConfig {
        /// The builder method whose value was refused.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    /// The ArkTS error code of this error, where ArkTS has one.
    ///
    /// ArkTS rejects a canceled, failed, panicking ("thrown") or forcibly terminated task without
    /// a dedicated code; those variants return `None`.
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
            Error::Canceled { .. }
            | Error::TimedOut { .. }
            | Error::Panicked { .. }
            | Error::TaskFailed(_)
            | Error::DuplicateFunction { .. }
            | Error::PoolShutDown
            | Error::LockUnavailable { .. }
            | Error::LockAborted { .. } => None,
        }
    }

    /// True for [`Error::Canceled`].
    pub fn is_canceled(&self) -> bool {
        matches!(self, Error::Canceled { .. })
    }
}

/// What a task that was canceled while running produced when it finally returned.
pub struct LateOutcome(pub(crate) std::result::Result<Box<dyn Any + Send>, Box<Error>>);

impl LateOutcome {
    /// The value the task returned, if it succeeded and `T` is its result type.
    pub fn into_value<T: 'static>(self) -> Option<T> {
        self.0.ok()?.downcast::<T>().ok().map(|value| *value)
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
