//! `Task`: a concurrent function bound to its arguments, with an identity and a name.

mod body;

use body::{Bound, Encoded, TaskBody};

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use serde::{Deserialize, Serialize};

use crate::codec::{Encoding, Payload};
use crate::descriptor::TaskDescriptor;
use crate::error::Error;
use crate::function::{ConcurrentFunction, Invocation};
use crate::priority::Priority;
use crate::run::RunHooks;
use crate::sync::{Arc, Mutex};

/// The process-unique identity of a task.
///
/// Ids are never reused within a process; they are how `cancel`, `terminate_task` and
/// [`TaskPool::info`](crate::TaskPool::info) name a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskId(u64);

impl TaskId {
    pub(crate) fn next() -> TaskId {
        // Written by every submission, from any thread: on a cache line of its own, or every
        // reader of a static beside it (the stamps' epoch, read at every start) misses.
        static NEXT: CachePadded<AtomicU64> = CachePadded::new(AtomicU64::new(1));
        TaskId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// Rebuilds an id from [`TaskId::into_raw`] (for example one read from a log).
    pub fn from_raw(raw: u64) -> TaskId {
        TaskId(raw)
    }

    /// The number behind the id.
    pub fn into_raw(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// How long the last run of a task took (ArkTS `totalDuration`, `cpuDuration`, `ioDuration`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskDurations {
    /// From the moment the task started to the moment it finished.
    pub total: Duration,
    /// Time spent executing the function (calls and polls) on a worker.
    pub cpu: Duration,
    /// Time an `async fn` task spent suspended, awaiting (`total - cpu`).
    pub io: Duration,
}

/// What every run of one task shares: identity, name, kind, and the task's state
/// ([`TaskCommon`], through `Deref`).
///
/// A task renamed while runs of it are alive gets a record of its own, so that those runs keep
/// the name they were submitted with; the two records share one [`TaskCommon`], so the task's
/// receiver, listeners, turns, dependencies, `is_done` and durations stay those of one task.
pub(crate) struct TaskRecord {
    pub(crate) id: TaskId,
    pub(crate) name: Option<String>,
    pub(crate) function: &'static str,
    common: Arc<TaskCommon>,
}

/// The state of a task that every record of it shares (see [`TaskRecord`]).
pub(crate) struct TaskCommon {
    pub(crate) durations: Mutex<Option<TaskDurations>>,
    /// Whether a run of this task was ever submitted.
    pub(crate) executed: std::sync::atomic::AtomicBool,
    /// Hooks every run of this task gets (dependencies, listeners: see `compose/`).
    pub(crate) hooks: Mutex<Vec<Arc<dyn RunHooks>>>,
    /// How many runs of this task were built (numbers runs in spans and timelines).
    pub(crate) runs: std::sync::atomic::AtomicU64,
    /// The receiver of the values the task sends (`data.rs`); `has_sink` says whether one was
    /// ever registered, so runs of tasks without one skip the lock.
    pub(crate) sink: Mutex<Option<crate::data::Sink>>,
    pub(crate) has_sink: std::sync::atomic::AtomicBool,
    /// The `Task` value (1 while it exists) plus its runs that have not settled: when it drops
    /// to zero nothing can send any more, and a stream receiver ends.
    pub(crate) owners: std::sync::atomic::AtomicUsize,
    /// A run of the task has settled (`Task::is_done`).
    pub(crate) done: std::sync::atomic::AtomicBool,
    /// The runs of this task that were made and have not settled yet (waiting, held, running):
    /// while one is, the task is not done (ArkTS's `isDone()` reads the task's state, which a
    /// new execution sets back to WAITING, so a task executed again is not done until that
    /// run ends). Counted up when a run is made with the record, down by the resolver that
    /// wins, before the handle can see the outcome (see `run/mod.rs`).
    pub(crate) unsettled_runs: crate::sync::atomic::AtomicUsize,
    /// The number of the latest run of this task queued (0: none yet), published before the
    /// run's `recently_canceled` entry is forgotten (see `pool/recently_canceled.rs`): a cancel
    /// of an earlier run is not listed behind it.
    pub(crate) latest_queued: crate::sync::atomic::AtomicU32,
    /// The task carries the dependency graph's hook and is counted in the graph
    /// (`compose/dependency.rs`): when its last owner goes, the graph is told.
    pub(crate) in_graph: std::sync::atomic::AtomicBool,
    /// The task was executed with a timeout (`compose/timeout.rs`): it runs that once, and any
    /// later execution is refused (ArkTS 10200057).
    pub(crate) timed: std::sync::atomic::AtomicBool,
    /// The task carries the hook that keeps its runs one at a time (`compose/serial.rs`),
    /// installed by its first execution by reference.
    pub(crate) serial: std::sync::atomic::AtomicBool,
    /// The pool whose callback thread runs this task's host callbacks (see
    /// [`TaskRecord::post_callback`]).
    pub(crate) callback_home: Mutex<std::sync::Weak<crate::pool::PoolShared>>,
    /// The lifecycle listeners, once one was registered (`compose/listeners.rs`).
    pub(crate) listeners: std::sync::OnceLock<Arc<crate::compose::listeners::Listeners>>,
}

impl std::ops::Deref for TaskRecord {
    type Target = TaskCommon;

    fn deref(&self) -> &TaskCommon {
        &self.common
    }
}

impl TaskRecord {
    /// The durations of the task's last finished run (`None` before one finished).
    pub(crate) fn last_durations(&self) -> Option<TaskDurations> {
        *crate::sync::lock(&self.durations)
    }

    /// Posts `job`, a callback of a run of this task on `pool`, to the callback thread of the
    /// pool that ran the task's callbacks so far, as long as that thread takes it (its pool is
    /// alive, and not shut down with its callback thread gone: a pool shutting down still runs
    /// what is posted to its running callback thread); otherwise to `pool`'s, from now on. A
    /// pool's callback thread runs its callbacks one at a time in posting order, so the
    /// callbacks of a task whose runs are on several pools still never overlap and keep their
    /// order (DESIGN: "never run concurrently for one task"): the task moves to another
    /// thread only once the one it had runs none of its callbacks any more.
    pub(crate) fn post_callback(&self, pool: Arc<crate::pool::PoolShared>, job: crate::pool::Job) {
        let refused = {
            let mut home = crate::sync::lock(&self.callback_home);
            let job = match home.upgrade() {
                Some(home) => match home.try_post_callback(job) {
                    Ok(()) => return,
                    Err(job) => job,
                },
                None => job,
            };
            *home = Arc::downgrade(&pool);
            pool.try_post_callback(job).err()
        };
        crate::panic::drop_quietly(refused);
    }

    /// A record for the task renamed while runs of it are alive (they keep this one, and
    /// their name): same identity, same state.
    fn renamed_copy(&self) -> TaskRecord {
        TaskRecord {
            id: self.id,
            name: self.name.clone(),
            function: self.function,
            common: Arc::clone(&self.common),
        }
    }

    /// A run of this task settled: one run fewer that keeps it from being done. Saturating:
    /// a record a run made for itself after it was built (`RunHeader::shared_record`) never
    /// counted that run up.
    pub(crate) fn run_settled(&self) {
        let _ = self.unsettled_runs.fetch_update(
            std::sync::atomic::Ordering::AcqRel,
            std::sync::atomic::Ordering::Acquire,
            |n| n.checked_sub(1),
        );
    }

    /// The given name, or else the function's bare name.
    pub(crate) fn display_name(&self) -> &str {
        match &self.name {
            Some(name) => name,
            None => bare_name(self.function),
        }
    }

    /// The record of task `id`, made when the task first needs state shared with its runs.
    pub(crate) fn of(id: TaskId, function: &'static str) -> TaskRecord {
        TaskRecord {
            id,
            name: None,
            function,
            common: Arc::new(TaskCommon {
                durations: Mutex::new(None),
                executed: std::sync::atomic::AtomicBool::new(false),
                hooks: Mutex::new(Vec::new()),
                runs: std::sync::atomic::AtomicU64::new(0),
                sink: Mutex::new(None),
                has_sink: std::sync::atomic::AtomicBool::new(false),
                owners: std::sync::atomic::AtomicUsize::new(1),
                done: std::sync::atomic::AtomicBool::new(false),
                unsettled_runs: crate::sync::atomic::AtomicUsize::new(0),
                latest_queued: crate::sync::atomic::AtomicU32::new(0),
                in_graph: std::sync::atomic::AtomicBool::new(false),
                timed: std::sync::atomic::AtomicBool::new(false),
                serial: std::sync::atomic::AtomicBool::new(false),
                callback_home: Mutex::new(std::sync::Weak::new()),
                listeners: std::sync::OnceLock::new(),
            }),
        }
    }
}

/// A function's name without its module path: what a task without a name is called.
pub(crate) fn bare_name(function: &'static str) -> &'static str {
    function.rsplit("::").next().unwrap_or(function)
}

/// Who a run belongs to: its task's identity, and the task's shared record if it has one.
///
/// Most tasks run once and share nothing with their run, so they never get a record: a one-shot
/// run is then a single allocation (see `scheduler/README.md`, "Memory per task").
pub(crate) struct Owner {
    pub(crate) id: TaskId,
    pub(crate) function: &'static &'static str,
    pub(crate) long: bool,
    pub(crate) priority: Priority,
    pub(crate) record: Option<Arc<TaskRecord>>,
}

impl Owner {
    /// An owner with no record (model tests, refused descriptors).
    pub(crate) fn anonymous(function: &'static &'static str) -> Owner {
        Owner {
            id: TaskId::next(),
            function,
            long: false,
            priority: Priority::Medium,
            record: None,
        }
    }
}

/// One call of a task function, ready to run on a worker.
pub(crate) type Call<T> = Box<dyn FnOnce() -> Invocation<T> + Send>;

/// A concurrent function bound to its arguments (ArkTS `taskpool.Task`).
///
/// Build one with [`Task::new`] (or `my_fn::task(args…)`, which `#[concurrent]` generates), then
/// hand it to a pool. Executing the `Task` by value moves its arguments into the run without any
/// copy; executing `&task` keeps the task and gives each run its own copy of the arguments, so the
/// task can run again. That copy is made when the run starts, on the pool thread executing it
/// (whose stack is the pool's), not by `execute`: a copy that fails or panics fails that run.
///
/// A `Task` is `Send` but not `Sync`: it owns its arguments, which need only be `Send`. To
/// execute one task by reference from several threads, keep it behind a `Mutex`.
///
/// ```
/// use taskpool::{concurrent, Task, TaskPool};
///
/// #[concurrent]
/// fn add(a: i32, b: i32) -> i32 {
///     a + b
/// }
///
/// let task = Task::new(add, (1, 2)).with_name("sum");
/// assert_eq!(task.name(), "sum");
/// // Without a name, a task is named after its function (as ArkTS does).
/// assert_eq!(Task::new(add, (1, 2)).name(), "add");
/// assert_eq!(TaskPool::global().execute(task).wait().unwrap(), 3);
/// ```
#[must_use = "a task does nothing until it is executed"]
pub struct Task<T> {
    id: TaskId,
    function: &'static &'static str,
    priority: Priority,
    long: bool,
    /// Made when the task first needs state shared with its runs (a name, a run by reference,
    /// listeners, a data receiver, dependencies); a task executed once by value never has one.
    record: std::sync::OnceLock<Arc<TaskRecord>>,
    body: TaskBody<T>,
}

impl<T: Send + 'static> Task<T> {
    /// Binds `function` to `args`, given as a tuple (`(a, b)`, `(a,)` or `()`).
    ///
    /// The argument types are checked against the function's parameters at compile time.
    pub fn new<F>(function: F, args: F::Args) -> Task<T>
    where
        F: ConcurrentFunction<Output = T>,
    {
        let _ = function;
        Task::with_body(F::NAME_REF, TaskBody::new(Box::new(Bound::<F> { args })))
    }

    fn with_body(function: &'static &'static str, body: TaskBody<T>) -> Task<T> {
        Task {
            id: TaskId::next(),
            function,
            priority: Priority::Medium,
            long: false,
            record: std::sync::OnceLock::new(),
            body,
        }
    }

    /// Names the task (ArkTS `new Task(name, func, args)`); the name shows in pool info. Runs
    /// already submitted keep the name they were submitted with; everything else stays the
    /// task's own (its receiver, listeners, dependencies, [`is_done`](Task::is_done) and
    /// [`durations`](Task::durations), which those runs update).
    pub fn with_name(mut self, name: impl Into<String>) -> Task<T> {
        self.record_mut().name = Some(name.into());
        self
    }

    /// Sets the lane [`TaskPool::execute`](crate::TaskPool::execute) puts the task in (default
    /// MEDIUM); it is also part of the task's descriptor. Runs already submitted keep their lane.
    pub fn with_priority(mut self, priority: Priority) -> Task<T> {
        self.priority = priority;
        self
    }

    /// The record to configure. A run already submitted shares the record; it keeps the name
    /// it was submitted with, and this task gets its own record (same id, same state: the
    /// task's share of its owners count stays as it was).
    fn record_mut(&mut self) -> &mut TaskRecord {
        self.record();
        let record = self.record.get_mut().expect("the record was just made");
        if Arc::get_mut(record).is_none() {
            *record = Arc::new(record.renamed_copy());
        }
        Arc::get_mut(record).expect("the record was just made unique")
    }
}

impl Task<Payload> {
    /// Rebuilds a task from a descriptor, looking its function up in the registry. Its result
    /// comes back serialized, in the encoding of the descriptor's arguments (in JSON if its type
    /// needs a self-describing format, such as `serde_json::Value`).
    ///
    /// Fails with 10200014 for a function this program does not have, and 10200006 if the
    /// arguments do not decode as that function's parameters.
    pub fn from_descriptor(descriptor: &TaskDescriptor) -> Result<Task<Payload>, Error> {
        Task::from_descriptor_capped(descriptor, crate::codec::DEFAULT_MAX_SERIALIZED_BYTES)
    }

    pub(crate) fn from_descriptor_capped(
        descriptor: &TaskDescriptor,
        limit: usize,
    ) -> Result<Task<Payload>, Error> {
        descriptor.args.check_size(limit)?;
        let entry = crate::registry::lookup(&descriptor.function)?;
        // Decoding now means bad arguments are reported before anything is queued.
        let decoded = entry.call(&descriptor.args, limit)?;
        let body = Encoded {
            entry,
            args: descriptor.args.clone(),
            limit,
            decoded: Some(decoded),
        };
        let mut task = Task::with_body(entry.name_ref(), TaskBody::new(Box::new(body)));
        task.priority = descriptor.priority;
        if let Some(name) = &descriptor.name {
            task.record_mut().name = Some(name.clone());
        }
        Ok(task)
    }
}

impl<T> Task<T> {
    /// The task's shared record, made on first use.
    pub(crate) fn record(&self) -> &Arc<TaskRecord> {
        self.record
            .get_or_init(|| Arc::new(TaskRecord::of(self.id, self.function)))
    }

    /// The task's shared record, if one was made.
    pub(crate) fn existing_record(&self) -> Option<&Arc<TaskRecord>> {
        self.record.get()
    }

    /// The task's process-unique id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The task's name: the one it was given, or else its function's bare name (ArkTS names
    /// a task `Sum` after its function `Sum`).
    pub fn name(&self) -> &str {
        match self.record.get() {
            Some(record) => record.display_name(),
            None => bare_name(self.function),
        }
    }

    /// Whether a run of this task has ended (ArkTS `task.isDone()`): it returned, failed,
    /// panicked, timed out or was canceled — and no later run of it is waiting or running.
    /// A task executed again is not done until that run ends too, as in ArkTS, whose
    /// `isDone()` is the task's state, set back to WAITING by each execution.
    ///
    /// ```
    /// use taskpool::{concurrent, Task, TaskPool};
    ///
    /// #[concurrent]
    /// fn one() -> u8 {
    ///     1
    /// }
    ///
    /// let task = Task::new(one, ());
    /// assert!(!task.is_done());
    /// TaskPool::global().execute(&task).wait().unwrap();
    /// assert!(task.is_done());
    /// ```
    pub fn is_done(&self) -> bool {
        // Only a run by reference can settle while the task exists, and it shares the record.
        self.record.get().is_some_and(|record| {
            record.unsettled_runs.load(Ordering::Acquire) == 0
                && record.done.load(Ordering::Acquire)
        })
    }

    /// The stable name of the function the task runs (module path and function name).
    pub fn function_name(&self) -> &'static str {
        self.function
    }

    /// The lane the task runs in unless the pool is told otherwise.
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// The task as a serializable descriptor: function name, arguments (compact bytes), name
    /// and priority. Serializing the arguments, and reading them back once, is the only cost;
    /// the task stays usable. Fails with 10200006 for arguments the compact form cannot carry
    /// (types only a self-describing format reads back, such as `serde_json::Value`). While a
    /// run of the task by reference copies the arguments (as it starts, on its pool thread),
    /// this waits for that copy to end.
    ///
    /// ```
    /// use taskpool::{concurrent, Priority, Task, TaskDescriptor};
    ///
    /// #[concurrent]
    /// fn add(a: i32, b: i32) -> i32 {
    ///     a + b
    /// }
    ///
    /// let task = Task::new(add, (1, 2)).with_priority(Priority::High);
    /// let json = task.descriptor().unwrap().to_json().unwrap();
    /// let back = TaskDescriptor::from_json(&json).unwrap();
    /// assert_eq!(back.priority, Priority::High);
    /// assert!(json.contains(r#""args":[1,2]"#));
    /// ```
    pub fn descriptor(&self) -> Result<TaskDescriptor, Error> {
        Ok(TaskDescriptor {
            function: (*self.function).to_owned(),
            name: self.record.get().and_then(|record| record.name.clone()),
            priority: self.priority,
            args: self.body.encode_args(Encoding::Postcard)?,
        })
    }

    /// How long the last finished run took, or `None` if no run has finished yet.
    pub fn durations(&self) -> Option<TaskDurations> {
        self.record.get()?.last_durations()
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("name", &self.name())
            .field("function", self.function)
            .finish_non_exhaustive()
    }
}

/// A task that may run for as long as it likes (ArkTS `taskpool.LongTask`).
///
/// A long task has no time limit, runs once (executing it consumes it) and keeps its thread from
/// being released until [`TaskPool::terminate_task`](crate::TaskPool::terminate_task) is called
/// with its id.
#[must_use = "a task does nothing until it is executed"]
pub struct LongTask<T>(Task<T>);

impl<T: Send + 'static> LongTask<T> {
    /// Binds `function` to `args`, like [`Task::new`].
    pub fn new<F>(function: F, args: F::Args) -> LongTask<T>
    where
        F: ConcurrentFunction<Output = T>,
    {
        let mut task = Task::new(function, args);
        task.long = true;
        LongTask(task)
    }

    /// Names the task.
    pub fn with_name(self, name: impl Into<String>) -> LongTask<T> {
        LongTask(self.0.with_name(name))
    }
}

impl<T> LongTask<T> {
    /// The task inside (a `LongTask` is a `Task` that runs once, without a time limit).
    pub(crate) fn as_task(&self) -> &Task<T> {
        &self.0
    }

    /// The task's process-unique id, to pass to `terminate_task` later.
    pub fn id(&self) -> TaskId {
        self.0.id()
    }

    /// The task's name (its function's name unless [`with_name`](LongTask::with_name) gave one).
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// Registers `callback` as the receiver of the values the long task sends with
    /// [`send_data`](crate::send_data), before it is executed (ArkTS: `LongTask` is a `Task`,
    /// so `longTask.onReceiveData(callback)`). See [`Task::on_receive_data`].
    pub fn on_receive_data<V, F>(&self, callback: F)
    where
        V: Send + 'static,
        F: Fn(V) + Send + Sync + 'static,
    {
        self.0.on_receive_data(callback);
    }

    /// A [`DataStream`](crate::DataStream) of the values of type `V` the long task sends,
    /// registered before it is executed. See [`Task::data_stream`].
    pub fn data_stream<V: Send + 'static>(&self) -> crate::DataStream<V> {
        self.0.data_stream()
    }

    /// Unregisters the long task's receiver (ArkTS `longTask.onReceiveData()` without a
    /// callback). See [`Task::clear_receive_data`].
    pub fn clear_receive_data(&self) {
        self.0.clear_receive_data();
    }

    /// Calls `listener` when the long task is queued (ArkTS: a `LongTask` is a `Task`, so
    /// `longTask.onEnqueued(callback)`). See [`Task::on_enqueued`]; executing a long task
    /// consumes it, so the registration always comes before the execution.
    pub fn on_enqueued(&self, listener: impl Fn() + Send + Sync + 'static) -> crate::Result<()> {
        self.0.on_enqueued(listener)
    }

    /// Calls `listener` when the long task starts executing (ArkTS
    /// `longTask.onStartExecution`). See [`Task::on_start_execution`].
    pub fn on_start_execution(
        &self,
        listener: impl Fn() + Send + Sync + 'static,
    ) -> crate::Result<()> {
        self.0.on_start_execution(listener)
    }

    /// Calls `listener` when the long task succeeds (ArkTS `longTask.onExecutionSucceeded`).
    /// See [`Task::on_execution_succeeded`].
    pub fn on_execution_succeeded(
        &self,
        listener: impl Fn() + Send + Sync + 'static,
    ) -> crate::Result<()> {
        self.0.on_execution_succeeded(listener)
    }

    /// Calls `listener` with the error when the long task fails (ArkTS
    /// `longTask.onExecutionFailed`). See [`Task::on_execution_failed`].
    pub fn on_execution_failed(
        &self,
        listener: impl Fn(&Error) + Send + Sync + 'static,
    ) -> crate::Result<()> {
        self.0.on_execution_failed(listener)
    }
}

impl<T> fmt::Debug for LongTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LongTask").field(&self.0).finish()
    }
}

/// A task ready to be queued: whose it is and the call to make.
pub(crate) struct Submission<T> {
    pub(crate) owner: Owner,
    pub(crate) call: Call<T>,
    /// The size of the serialized arguments the task was rebuilt from (a descriptor), which
    /// the pool's `max_serialized_bytes` caps; `None` for arguments that were never serialized.
    pub(crate) serialized_size: Option<usize>,
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// Something a pool can execute: a [`Task`] (one-shot, arguments moved), a `&Task` (the task
/// stays usable, each run copies its arguments) or a [`LongTask`].
pub trait Executable<T>: sealed::Sealed {
    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn into_submission(self) -> Submission<T>;
}

impl<T> sealed::Sealed for Task<T> {}
impl<T> sealed::Sealed for &Task<T> {}
impl<T> sealed::Sealed for LongTask<T> {}
impl<T> sealed::Sealed for Submission<T> {}

/// A submission already taken out of its task, for an API that looks at it before the pool
/// builds its run (`execute_with_configs` checks the task's record).
impl<T> Executable<T> for Submission<T> {
    #[allow(private_interfaces)]
    fn into_submission(self) -> Submission<T> {
        self
    }
}

impl<T: 'static> Executable<T> for Task<T> {
    #[allow(private_interfaces)]
    fn into_submission(mut self) -> Submission<T> {
        // The task's share of its record (if any) passes to the run: the task's `Drop` below
        // no longer sees the record.
        let record = self.record.take();
        Submission {
            owner: self.owner(record),
            serialized_size: self.body.serialized_size(),
            call: self.body.take_call(self.id),
        }
    }
}

impl<T> Task<T> {
    fn owner(&self, record: Option<Arc<TaskRecord>>) -> Owner {
        Owner {
            id: self.id,
            function: self.function,
            long: self.long,
            priority: self.priority,
            record,
        }
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        if let Some(record) = self.record.get() {
            crate::data::release_owner(record);
        }
    }
}

impl<T> Task<T> {
    /// The task's share of its record for one more run by reference: the task stays usable,
    /// so a second run may come while this one runs, and they take turns (DESIGN: a task
    /// never runs concurrently with itself).
    fn owner_of_run_by_reference(&self) -> Owner {
        let record = Arc::clone(self.record());
        crate::compose::serial::one_run_at_a_time(&record);
        record
            .owners
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.owner(Some(record))
    }
}

impl<T: 'static> Executable<T> for &Task<T> {
    #[allow(private_interfaces)]
    fn into_submission(self) -> Submission<T> {
        Submission {
            owner: self.owner_of_run_by_reference(),
            call: self.body.copied_at_start(self.id),
            serialized_size: self.body.serialized_size(),
        }
    }
}

impl<T: 'static> Executable<T> for LongTask<T> {
    #[allow(private_interfaces)]
    fn into_submission(self) -> Submission<T> {
        // Executing consumes a long task, so its durations are read from its handle: its run
        // keeps them in a record (one allocation per long task, which holds a thread anyway).
        self.0.record();
        self.0.into_submission()
    }
}

#[cfg(all(test, not(taskpool_loom)))]
mod tests {
    use super::*;

    #[crate::concurrent]
    fn twice(n: u32) -> u32 {
        n * 2
    }

    /// A task executed once by value shares nothing with its run: no record is made, so the
    /// run is the only allocation (see `scheduler/README.md`, "Memory per task").
    #[test]
    fn a_one_shot_task_hands_its_run_no_record() {
        let submission = Task::new(twice, (1,)).into_submission();
        assert!(submission.owner.record.is_none());
        assert_eq!(*submission.owner.function, twice::NAME);
    }

    /// Whatever needs state shared with the runs makes the record: a name (info shows it),
    /// a run by reference (`is_done`, `durations` read it back).
    #[test]
    fn a_named_task_or_a_run_by_reference_shares_the_record() {
        let named = Task::new(twice, (1,)).with_name("named");
        let id = named.id();
        let submission = named.into_submission();
        let record = submission.owner.record.expect("a named task has a record");
        assert_eq!((record.id, record.display_name()), (id, "named"));

        let task = Task::new(twice, (2,));
        let by_reference = (&task).into_submission();
        let shared = by_reference
            .owner
            .record
            .expect("a run by reference shares it");
        assert!(Arc::ptr_eq(&shared, task.record()));
        assert_eq!(task.name(), "twice");
    }

    /// The run of a one-shot empty task is one allocation of this size or less (it was 240
    /// bytes plus a 240-byte record before): a regression guard for the memory per queued task.
    /// The `tracing` feature's span comes on top (and costs the run number its packing).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_one_shot_run_stays_small() {
        let span = std::mem::size_of::<crate::observe::RunSpan>();
        let size = std::mem::size_of::<crate::run::TypedRun<()>>() - span;
        let budget = if span == 0 { 104 } else { 112 };
        assert!(
            size <= budget,
            "a run of `()` takes {size} bytes besides its span"
        );
    }
}
