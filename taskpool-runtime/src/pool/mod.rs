//! `TaskPool`: the public face of a pool, its configuration, and the global pool.

mod core;
mod intake;
mod live;

use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::codec::{DEFAULT_MAX_SERIALIZED_BYTES, Payload};
use crate::descriptor::TaskDescriptor;
use crate::error::{Error, Result};
use crate::function::ConcurrentFunction;
use crate::handle::TaskHandle;
use crate::info::TaskPoolInfo;
use crate::priority::Priority;
use crate::run::{Run, TypedRun};
use crate::sync::{Arc, Condvar, Mutex, MutexGuard, lock};
use crate::task::{Executable, Task, TaskId, TaskRecord};

pub(crate) use self::core::{Ask, Core, NewWorker, Next, Report, WorkerId};
pub(crate) use self::intake::Intake;
pub(crate) use self::live::LiveRuns;

use crate::run::Cancel;
use crate::scheduler::sleepers::Sleepers;
use crate::sync::atomic::{AtomicBool, Ordering};

/// How a pool behaves; set through [`TaskPool::builder`].
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) max_threads: usize,
    pub(crate) idle_timeout: Duration,
    pub(crate) check_interval: Duration,
    pub(crate) time_limit: Duration,
    pub(crate) thread_name: String,
    pub(crate) max_serialized_bytes: usize,
}

/// The default maximum number of worker threads: `max(cores - 1, 3)`, as in ArkTS.
pub fn default_max_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(1).max(3)
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_threads: default_max_threads(),
            idle_timeout: Duration::from_secs(30),
            check_interval: Duration::from_secs(30),
            time_limit: Duration::from_secs(180),
            thread_name: "taskpool-worker".to_owned(),
            max_serialized_bytes: DEFAULT_MAX_SERIALIZED_BYTES,
        }
    }
}

/// State shared by a pool's handle, its workers and its supervisor.
pub(crate) struct PoolShared {
    pub(crate) config: Config,
    core: Mutex<Core>,
    pub(crate) intake: Intake,
    pub(crate) live: LiveRuns,
    pub(crate) sleepers: Sleepers,
    supervisor_started: AtomicBool,
    /// Wakes the supervisor early (shutdown).
    pub(crate) supervisor_wakeup: Condvar,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl PoolShared {
    pub(crate) fn core(&self) -> MutexGuard<'_, Core> {
        lock(&self.core)
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.intake.is_shutting_down()
    }

    /// Starts a pool thread named `<prefix>-<suffix>` and keeps its handle for shutdown;
    /// false if the system refused a thread.
    fn spawn_thread(&self, suffix: &str, body: impl FnOnce() + Send + 'static) -> bool {
        let spawned = std::thread::Builder::new()
            .name(format!("{}-{suffix}", self.config.thread_name))
            .spawn(body);
        spawned
            .map(|thread| lock(&self.threads).push(thread))
            .is_ok()
    }

    pub(crate) fn spawn_worker(self: &Arc<Self>, worker: NewWorker) {
        let pool = Arc::clone(self);
        let id = worker.id;
        if !self.spawn_thread(&id.to_string(), move || crate::worker::run(pool, worker)) {
            // Out of threads: the work waits for the workers that exist.
            self.core().unreserve_worker(&self.intake, id);
        }
    }

    fn ensure_supervisor(self: &Arc<Self>) {
        if self.supervisor_started.load(Ordering::Acquire)
            || self.supervisor_started.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let pool = Arc::clone(self);
        if !self.spawn_thread("supervisor", move || crate::supervisor::run(pool)) {
            self.supervisor_started.store(false, Ordering::Release);
        }
    }

    fn submit<T: Send + 'static>(
        self: &Arc<Self>,
        task: impl Executable<T>,
        priority: Option<Priority>,
    ) -> TaskHandle<T> {
        let submission = task.into_submission();
        let priority = priority.unwrap_or(submission.record.priority);
        let call = match submission.call {
            Ok(call) => call,
            Err(error) => return self.refused(submission.record, priority, error),
        };
        if self.is_shutting_down() {
            return self.refused(submission.record, priority, Error::PoolShutDown);
        }
        let typed = TypedRun::new(submission.record, priority, call);
        let handle = TaskHandle::new(Arc::clone(&typed), Arc::downgrade(self));
        let run: Arc<Run> = typed;
        self.ensure_supervisor();
        self.live.insert(&run);
        let demand = self.intake.push(Arc::clone(&run));
        if self.is_shutting_down() {
            // Raced a shutdown that may already have drained the intake.
            let _ = self.cancel_run(&run);
            return handle;
        }
        self.after_push(demand, priority);
        handle
    }

    /// Wakes a worker unless a searching one will find the new run, and grows the pool when
    /// waiting work exceeds the free workers. Takes the core lock only to add a worker.
    fn after_push(self: &Arc<Self>, demand: usize, priority: Priority) {
        let searching = self.intake.searching.load(Ordering::SeqCst);
        if searching == 0 || demand > searching {
            self.sleepers.wake_one();
        }
        let idle_only = priority == Priority::Idle;
        let active = self.intake.active_workers.load(Ordering::SeqCst);
        let may_need_worker = active == 0
            || (!idle_only
                && active < self.config.max_threads
                && demand > self.intake.free_workers.load(Ordering::SeqCst));
        if may_need_worker {
            let demand = self.intake.waiting_foreground.load(Ordering::SeqCst);
            let worker = self.core().grow_if_needed(&self.intake, demand, idle_only);
            if let Some(worker) = worker {
                self.spawn_worker(worker);
            }
        }
    }

    /// A handle already resolved with `error`: the task was refused and nothing runs.
    fn refused<T: Send + 'static>(
        self: &Arc<Self>,
        record: Arc<TaskRecord>,
        priority: Priority,
        error: Error,
    ) -> TaskHandle<T> {
        TaskHandle::new(
            TypedRun::refused(record, priority, error),
            Arc::downgrade(self),
        )
    }

    /// Cancels one run; a run that never started leaves the live set at once.
    pub(crate) fn cancel_run(&self, run: &Arc<Run>) -> Result<()> {
        match run.cancel() {
            Cancel::Dequeued => {
                self.live.remove(run);
                Ok(())
            }
            Cancel::Flagged => Ok(()),
            Cancel::TooLate => Err(Error::TaskNotFound(run.record.id)),
        }
    }

    /// Cancels every waiting or running run of task `id`.
    fn cancel_task(&self, id: TaskId) -> Result<()> {
        let landed = self
            .live
            .runs_of(id)
            .iter()
            .filter(|run| self.cancel_run(run).is_ok())
            .count();
        if landed > 0 {
            Ok(())
        } else {
            Err(Error::TaskNotFound(id))
        }
    }

    fn shutdown(&self) {
        let (waiting, parkers) = {
            let mut core = self.core();
            core.begin_shutdown(&self.intake)
        };
        for run in waiting {
            let _ = self.cancel_run(&run);
        }
        self.sleepers.wake_all();
        for parker in parkers {
            parker.unpark();
        }
        self.supervisor_wakeup.notify_all();
        let current = std::thread::current().id();
        let threads = std::mem::take(&mut *lock(&self.threads));
        for thread in threads {
            if thread.thread().id() != current {
                // A panic inside a worker is already reported through the task's handle.
                let _ = thread.join();
            }
        }
    }

    /// Joins threads that have exited (released or retired workers).
    pub(crate) fn reap_exited_threads(&self) {
        let mut threads = lock(&self.threads);
        let (exited, running): (Vec<_>, Vec<_>) =
            threads.drain(..).partition(JoinHandle::is_finished);
        *threads = running;
        drop(threads);
        for thread in exited {
            let _ = thread.join();
        }
    }
}

/// A pool of worker threads that runs tasks by priority (ArkTS `taskpool`).
///
/// Use [`TaskPool::global`] (created on first use) or build an isolated pool with
/// [`TaskPool::builder`]. The pool starts with no thread, grows on submission while waiting work
/// exceeds the free workers (up to [`max_threads`](TaskPoolBuilder::max_threads)), and releases
/// threads that sat idle for [`idle_timeout`](TaskPoolBuilder::idle_timeout), keeping one.
///
/// Dropping an isolated pool (or calling [`shutdown`](TaskPool::shutdown)) resolves every waiting
/// handle as canceled, drops suspended `async` tasks (their handles resolve as canceled), waits
/// for the tasks that are executing to return, and joins every thread.
///
/// ```
/// use std::time::Duration;
/// use taskpool::{concurrent, Priority, TaskPool};
///
/// #[concurrent]
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let pool = TaskPool::builder()
///     .max_threads(2)
///     .idle_timeout(Duration::from_millis(50))
///     .build();
/// let handles: Vec<_> = (0..10).map(|x| pool.run(square, (x,))).collect();
/// let total: u64 = handles.into_iter().map(|h| h.wait().unwrap()).sum();
/// assert_eq!(total, 285);
/// ```
pub struct TaskPool {
    shared: Arc<PoolShared>,
}

impl TaskPool {
    /// A pool with the default configuration.
    pub fn new() -> TaskPool {
        TaskPool::builder().build()
    }

    /// Starts configuring an isolated pool.
    pub fn builder() -> TaskPoolBuilder {
        TaskPoolBuilder {
            config: Config::default(),
        }
    }

    /// The process-wide pool, created on first use with the default configuration.
    pub fn global() -> &'static TaskPool {
        static GLOBAL: OnceLock<TaskPool> = OnceLock::new();
        GLOBAL.get_or_init(|| TaskPool::builder().thread_name("taskpool-global").build())
    }

    /// Executes a task at MEDIUM priority (ArkTS `taskpool.execute(task)`).
    ///
    /// Pass the [`Task`] by value for a one-shot run (its arguments move in, no copy), `&task` to
    /// keep it for more runs (each run gets its own copy of the arguments), or a
    /// [`LongTask`](crate::LongTask).
    pub fn execute<T: Send + 'static>(&self, task: impl Executable<T>) -> TaskHandle<T> {
        self.shared.submit(task, None)
    }

    /// Executes a task in the given lane (ArkTS `taskpool.execute(task, priority)`).
    pub fn execute_with_priority<T: Send + 'static>(
        &self,
        task: impl Executable<T>,
        priority: Priority,
    ) -> TaskHandle<T> {
        self.shared.submit(task, Some(priority))
    }

    /// Executes a task described by a [`TaskDescriptor`] (built here or in another process of
    /// the same program), in the descriptor's lane. The result comes back serialized, in the
    /// encoding of the descriptor's arguments; decode it with [`Payload::decode`].
    ///
    /// A function this program does not have (10200014), arguments that do not decode or data
    /// over the pool's cap (10200006) resolve the handle with the error; nothing runs.
    ///
    /// ```
    /// use taskpool::{concurrent, Task, TaskDescriptor, TaskPool};
    ///
    /// #[concurrent]
    /// fn add(a: i32, b: i32) -> i32 {
    ///     a + b
    /// }
    ///
    /// let bytes = Task::new(add, (2, 3)).descriptor().unwrap().to_bytes().unwrap();
    /// let descriptor = TaskDescriptor::from_bytes(&bytes).unwrap();
    /// let result = TaskPool::global().execute_descriptor(&descriptor).wait().unwrap();
    /// assert_eq!(result.decode::<i32>().unwrap(), 5);
    /// ```
    pub fn execute_descriptor(&self, descriptor: &TaskDescriptor) -> TaskHandle<Payload> {
        let limit = self.shared.config.max_serialized_bytes;
        match Task::from_descriptor_capped(descriptor, limit) {
            Ok(task) => self.execute(task),
            Err(error) => {
                let record = Arc::new(TaskRecord::refused());
                self.shared.refused(record, descriptor.priority, error)
            }
        }
    }

    /// Runs `function` with `args` at MEDIUM priority (ArkTS `taskpool.execute(func, ...args)`).
    pub fn run<F: ConcurrentFunction>(&self, function: F, args: F::Args) -> TaskHandle<F::Output> {
        self.execute(Task::new(function, args))
    }

    /// Cancels every waiting or running execution of task `id` (ArkTS `taskpool.cancel`).
    ///
    /// Fails with [`Error::TaskNotFound`] (10200015) if the task is neither waiting nor running
    /// in this pool. Callable from any thread.
    pub fn cancel(&self, id: TaskId) -> Result<()> {
        self.shared.cancel_task(id)
    }

    /// Releases the thread held by a long task (ArkTS `taskpool.terminateTask`), so the pool may
    /// shrink it away. Fails with [`Error::TaskNotFound`] for an unknown or already terminated
    /// long task.
    pub fn terminate_task(&self, id: TaskId) -> Result<()> {
        self.shared.core().terminate_long(id)
    }

    /// A snapshot of the pool's threads and tasks (ArkTS `taskpool.getTaskPoolInfo`).
    pub fn info(&self) -> TaskPoolInfo {
        self.shared.core().info(&self.shared.live, Instant::now())
    }

    /// The number of worker threads (not counting threads retired after a time-out).
    pub fn thread_count(&self) -> usize {
        self.shared.core().thread_count()
    }

    /// The maximum number of worker threads of this pool.
    pub fn max_threads(&self) -> usize {
        self.shared.config.max_threads
    }

    /// Shuts the pool down: see the type's documentation. Same as dropping it.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Default for TaskPool {
    fn default() -> TaskPool {
        TaskPool::new()
    }
}

impl Drop for TaskPool {
    fn drop(&mut self) {
        self.shared.shutdown();
    }
}

impl std::fmt::Debug for TaskPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskPool")
            .field("config", &self.shared.config)
            .field("threads", &self.thread_count())
            .finish()
    }
}

/// Configures an isolated [`TaskPool`].
///
/// Every interval is configurable so tests can run the pool's timers in milliseconds.
#[derive(Debug, Clone)]
pub struct TaskPoolBuilder {
    config: Config,
}

impl TaskPoolBuilder {
    /// The most worker threads the pool may have (default [`default_max_threads`]:
    /// `max(cores - 1, 3)`). At least 1.
    pub fn max_threads(mut self, max: usize) -> Self {
        self.config.max_threads = max.max(1);
        self
    }

    /// How long a worker must sit idle before the periodic check may release it (default 30 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// How often the pool looks for idle threads to release (default 30 s).
    pub fn check_interval(mut self, interval: Duration) -> Self {
        self.config.check_interval = interval.max(Duration::from_micros(100));
        self
    }

    /// How long a non-long task may run synchronously (default 3 min). Time an `async fn` task
    /// spends awaiting does not count.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.config.time_limit = limit.max(Duration::from_micros(100));
        self
    }

    /// The prefix of worker thread names (default `taskpool-worker`); workers are named
    /// `<prefix>-<id>`.
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.config.thread_name = prefix.into();
        self
    }

    /// The cap on serialized data (descriptor arguments and results), default 16 MiB; larger
    /// data is refused with 10200006.
    pub fn max_serialized_bytes(mut self, limit: usize) -> Self {
        self.config.max_serialized_bytes = limit;
        self
    }

    /// Builds the pool. No thread starts until the first submission.
    pub fn build(self) -> TaskPool {
        let core = Core::new(self.config.max_threads);
        TaskPool {
            shared: Arc::new(PoolShared {
                config: self.config,
                core: Mutex::new(core),
                intake: Intake::default(),
                live: LiveRuns::default(),
                sleepers: Sleepers::default(),
                supervisor_started: AtomicBool::new(false),
                supervisor_wakeup: Condvar::new(),
                threads: Mutex::new(Vec::new()),
            }),
        }
    }
}
