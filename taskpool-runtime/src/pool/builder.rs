//! `TaskPoolBuilder`: the configuration of an isolated pool, validated when the pool is built.

use std::time::Duration;

use crate::codec::DEFAULT_MAX_SERIALIZED_BYTES;
use crate::error::{Error, Result};
use crate::pool::TaskPool;

/// How a pool behaves; set through [`TaskPool::builder`].
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) max_threads: usize,
    pub(crate) extra_threads: usize,
    pub(crate) idle_timeout: Duration,
    pub(crate) check_interval: Duration,
    pub(crate) time_limit: Duration,
    pub(crate) thread_name: String,
    pub(crate) max_serialized_bytes: usize,
    pub(crate) callback_timeout: Duration,
    /// The stack size of each pool thread, in bytes.
    pub(crate) stack_size: usize,
    /// Timeline ring-buffer capacity in entries, if a timeline is recorded.
    pub(crate) timeline: Option<usize>,
}

/// The default maximum number of worker threads: `max(cores - 1, 3)`, as in ArkTS.
pub fn default_max_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(1).max(3)
}

/// The largest timeline ring buffer: 16 Mi entries (about 1.3 GiB at 80 bytes an entry).
pub const MAX_TIMELINE_ENTRIES: usize = 1 << 24;

/// The default stack size of pool and worker threads: 16 MiB on 64-bit targets (2 MiB, Rust's
/// default for spawned threads, elsewhere). A task may receive a deeply nested value and drop
/// it there: a linked list 100 000 nodes long needs about 10 MiB of stack to drop in a debug
/// build (a few in release), and a Linux main thread has 8 MiB. Only the pages a thread touches
/// take memory; the rest is address space, which 64-bit targets have plenty of.
pub const DEFAULT_STACK_SIZE: usize = if cfg!(target_pointer_width = "64") {
    16 << 20
} else {
    2 << 20
};

/// The smallest stack size a pool or worker thread may be given: 64 KiB.
pub const MIN_STACK_SIZE: usize = 64 << 10;

/// The largest stack size a pool or worker thread may be given: 1 GiB.
pub const MAX_STACK_SIZE: usize = 1 << 30;

/// The stack of a thread that runs the host's code — the callbacks of a pool or of a worker,
/// a worker's call objects — for a pool or worker configured with `configured` bytes: never
/// less than the default, since a small pool or worker stack says nothing about the host's
/// code; more with a larger setting, since that thread also drops what the tasks or the worker
/// send (values as deep as they could build).
pub(crate) fn host_code_stack_size(configured: usize) -> usize {
    configured.max(DEFAULT_STACK_SIZE)
}

/// Whether `size` is a stack size threads may be given (see [`MIN_STACK_SIZE`]).
pub(crate) fn valid_stack_size(size: usize) -> bool {
    (MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&size)
}

/// The most threads a pool may have: far beyond any machine, low enough that the thread
/// bookkeeping never overflows.
const THREAD_LIMIT: usize = 1 << 16;

impl Default for Config {
    fn default() -> Config {
        Config {
            max_threads: default_max_threads(),
            extra_threads: 2,
            idle_timeout: Duration::from_secs(30),
            check_interval: Duration::from_secs(30),
            time_limit: Duration::from_secs(180),
            thread_name: "taskpool-worker".to_owned(),
            max_serialized_bytes: DEFAULT_MAX_SERIALIZED_BYTES,
            callback_timeout: Duration::from_secs(5),
            stack_size: DEFAULT_STACK_SIZE,
            timeline: None,
        }
    }
}

impl Config {
    /// Refuses settings the pool cannot honour, naming the setting (ArkTS code 401).
    fn validate(&self) -> Result<()> {
        let invalid = |setting, reason: &str| {
            Err(Error::InvalidConfig {
                setting,
                reason: reason.to_owned(),
            })
        };
        if self.max_threads == 0 || self.max_threads > THREAD_LIMIT {
            return invalid("max_threads", "must be between 1 and 65536");
        }
        if self.extra_threads > THREAD_LIMIT {
            return invalid("extra_threads", "must be at most 65536");
        }
        if self.check_interval.is_zero() {
            return invalid("check_interval", "must be longer than zero");
        }
        if self.time_limit.is_zero() {
            return invalid("time_limit", "must be longer than zero");
        }
        if self.thread_name.contains('\0') {
            return invalid("thread_name", "must not contain a NUL byte");
        }
        if !valid_stack_size(self.stack_size) {
            return invalid("stack_size", "must be between 64 KiB and 1 GiB");
        }
        if self.max_serialized_bytes == 0 {
            return invalid("max_serialized_bytes", "must be at least 1");
        }
        if self
            .timeline
            .is_some_and(|capacity| capacity == 0 || capacity > MAX_TIMELINE_ENTRIES)
        {
            return invalid("record_timeline", "must be between 1 and 16777216 entries");
        }
        Ok(())
    }
}

/// Configures an isolated [`TaskPool`]; [`build`](TaskPoolBuilder::build) validates it.
///
/// Every interval is configurable so tests can run the pool's timers in milliseconds. An
/// interval too long to represent as a point in time (such as `Duration::MAX`) means "never".
/// [`TaskPoolBuilder::default()`] is [`TaskPool::builder()`]: every setting at its default.
#[derive(Debug, Clone, Default)]
#[must_use = "a builder configures nothing until `build` is called"]
pub struct TaskPoolBuilder {
    pub(crate) config: Config,
}

impl TaskPoolBuilder {
    /// The most threads that take work at once (default [`default_max_threads`]:
    /// `max(cores - 1, 3)`). Between 1 and 65 536.
    pub fn max_threads(mut self, max: usize) -> Self {
        self.config.max_threads = max;
        self
    }

    /// How many threads the pool may add beyond `max_threads` (default 2, as ArkTS adds 2):
    /// they stand in for threads blocked in a wait inside a task and for threads retired after
    /// a time-out whose call has not returned. `max_threads + extra_threads` is a hard ceiling
    /// on the pool's threads; past it, work waits.
    pub fn extra_threads(mut self, extra: usize) -> Self {
        self.config.extra_threads = extra;
        self
    }

    /// How long a worker must sit idle before the periodic check may release it (default 30 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// How often the pool looks for idle threads to release (default 30 s). Longer than zero.
    pub fn check_interval(mut self, interval: Duration) -> Self {
        self.config.check_interval = interval;
        self
    }

    /// How long a non-long task may run synchronously (default 3 min). Time an `async fn` task
    /// spends awaiting does not count. Longer than zero.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.config.time_limit = limit;
        self
    }

    /// The prefix of worker thread names (default `taskpool-worker`); workers are named
    /// `<prefix>-<id>`. No NUL byte.
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.config.thread_name = prefix.into();
        self
    }

    /// The cap on serialized data (descriptor arguments and results), default 16 MiB; larger
    /// data is refused with 10200006. At least 1.
    pub fn max_serialized_bytes(mut self, limit: usize) -> Self {
        self.config.max_serialized_bytes = limit;
        self
    }

    /// How long a shutdown without [`shutdown_timeout`](TaskPool::shutdown_timeout) waits for
    /// the pool's callback thread to run the callbacks already posted (default 5 s). A callback
    /// still running then is no longer waited for (its thread is detached), so a callback that
    /// never returns cannot hang the shutdown; the callbacks behind it still run after it, on
    /// that thread, which ends once they are done.
    pub fn callback_timeout(mut self, timeout: Duration) -> Self {
        self.config.callback_timeout = timeout;
        self
    }

    /// The stack size of each pool thread, in bytes (default [`DEFAULT_STACK_SIZE`], 16 MiB):
    /// what a task may use for its own recursion and for dropping deeply nested values. Between
    /// [`MIN_STACK_SIZE`] (64 KiB) and [`MAX_STACK_SIZE`] (1 GiB). Every task has this much
    /// when it starts, one run inline in another's wait too: a pool thread reserves twice the
    /// size (only the pages it touches take memory; the size itself where the system refuses
    /// that much address space), and an inline run continues on a fresh segment when less than
    /// this is left.
    /// The thread that runs the pool's callbacks (`on_receive_data`, the listeners) gets the
    /// larger of this size and the default: they are the host's code.
    ///
    /// ```
    /// let pool = taskpool::TaskPool::builder().stack_size(32 << 20).build().unwrap();
    /// # drop(pool);
    /// let error = taskpool::TaskPool::builder().stack_size(4096).build().unwrap_err();
    /// assert_eq!(error.code(), Some(401));
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.config.stack_size = bytes;
        self
    }

    /// Records a timeline of the pool's work — which run executed on which thread, and when —
    /// in a ring buffer of `capacity` entries (1 to [`MAX_TIMELINE_ENTRIES`]; an entry is about
    /// 100 bytes, plus a copy of the task's name if it has one). Each call or poll of a run
    /// takes one entry (an `async fn`'s call, which builds its future, and its first poll are
    /// two), each suspension of an `async fn` two more; the oldest entries go first when it
    /// is full. Read it with [`TaskPool::timeline`] and write it for Perfetto or
    /// `chrome://tracing` with [`Timeline::write_chrome_trace`](crate::Timeline::write_chrome_trace).
    /// Off by default.
    ///
    /// ```
    /// let pool = taskpool::TaskPool::builder().record_timeline(100_000).build().unwrap();
    /// assert!(pool.timeline().unwrap().slices().is_empty());
    /// let error = taskpool::TaskPool::builder().record_timeline(0).build().unwrap_err();
    /// assert_eq!(error.code(), Some(401));
    /// ```
    pub fn record_timeline(mut self, capacity: usize) -> Self {
        self.config.timeline = Some(capacity);
        self
    }

    /// Builds the pool. No thread starts until the first submission.
    ///
    /// Fails with [`Error::InvalidConfig`] (401), naming the setting, if a value is out of
    /// range.
    ///
    /// ```
    /// let error = taskpool::TaskPool::builder().max_threads(0).build().unwrap_err();
    /// assert_eq!(error.code(), Some(401));
    /// ```
    pub fn build(self) -> Result<TaskPool> {
        self.config.validate()?;
        Ok(TaskPool::with_config(self.config))
    }
}
