//! Lifecycle listeners on a task (ArkTS `task.onEnqueued`, `onStartExecution`,
//! `onExecutionSucceeded`, `onExecutionFailed`), and the task's data receiver registration.
//!
//! Built on the run hooks: the first listener puts one [`Listeners`] hook on the task's record,
//! which every run of the task then carries. Each event posts the user's callback to the run's
//! pool callback thread, so listeners never run on the thread executing the task, never run
//! concurrently for one task, and run in the order the events happened.

use std::fmt;
use std::sync::atomic::Ordering;

use crate::data::DataStream;
use crate::error::{Error, Result};
use crate::handle::TaskHandle;
use crate::panic::drop_quietly;
use crate::run::{RunHeader, RunHooks, Settled};
use crate::sync::{Arc, Mutex, lock};
use crate::task::{Task, TaskRecord};

type Plain = Arc<dyn Fn() + Send + Sync>;
type WithError = Arc<dyn Fn(&Error) + Send + Sync>;

#[derive(Default)]
struct Set {
    enqueued: Option<Plain>,
    started: Option<Plain>,
    succeeded: Option<Plain>,
    failed: Option<WithError>,
}

impl Drop for Set {
    fn drop(&mut self) {
        // User closures: their captures' `Drop` may panic, on whatever thread lets go of the
        // task's record last. One at a time, so that one panic never meets another.
        drop_quietly(self.enqueued.take());
        drop_quietly(self.started.take());
        drop_quietly(self.succeeded.take());
        drop_quietly(self.failed.take());
    }
}

/// The listeners of one task: the hook its runs carry.
#[derive(Default)]
pub(crate) struct Listeners {
    set: Mutex<Set>,
}

fn post_plain(run: &RunHeader, listener: Option<Plain>) {
    if let Some(listener) = listener {
        post(run, Box::new(move || listener()));
    }
}

/// Posts `job`, a listener call of `run`, to the callback thread that runs its task's
/// callbacks (see `TaskRecord::post_callback`); dropped if the run's pool is gone.
fn post(run: &RunHeader, job: crate::pool::Job) {
    let Some(pool) = run.pool.upgrade() else {
        drop_quietly(job);
        return;
    };
    match run.record() {
        Some(record) => record.post_callback(pool, job),
        None => pool.post_callback(job),
    }
}

impl RunHooks for Listeners {
    fn on_enqueued(&self, run: &RunHeader) {
        post_plain(run, lock(&self.set).enqueued.clone());
    }

    fn on_start(&self, run: &RunHeader) {
        post_plain(run, lock(&self.set).started.clone());
    }

    fn on_settle(&self, run: &RunHeader, settled: Settled<'_>) {
        match settled.error() {
            None => post_plain(run, lock(&self.set).succeeded.clone()),
            // ArkTS does not call the failure listener of a task past its `Configs` timeout; nor
            // is it called here for the tasks of a group past its timeout.
            Some(Error::TimeoutElapsed { .. } | Error::GroupTimedOut { .. }) => {}
            Some(error) => {
                let listener = lock(&self.set).failed.clone();
                if let Some(listener) = listener {
                    let error = error.detached_copy();
                    post(run, Box::new(move || listener(&error)));
                }
            }
        }
    }
}

/// The task's listener hook, created on first use; refused once the task was executed.
fn listeners(record: &TaskRecord) -> Result<&Listeners> {
    if record.executed.load(Ordering::Relaxed) {
        return Err(Error::ListenerAfterExecution(record.id));
    }
    Ok(record.listeners.get_or_init(|| {
        let listeners = Arc::new(Listeners::default());
        lock(&record.hooks).push(Arc::clone(&listeners) as Arc<dyn RunHooks>);
        listeners
    }))
}

impl<T> Task<T> {
    /// Calls `listener` each time a run of this task is queued in its lane (ArkTS
    /// `task.onEnqueued`). A run held by a dependency, a delay or a runner is queued when it is
    /// released.
    ///
    /// Listeners run on the pool's callback thread, never on the thread executing the task,
    /// one at a time, in the order of the events: enqueued, started, then succeeded or failed
    /// (a run canceled while waiting only reports the failure). A listener registered again
    /// replaces the previous one. A panicking listener is contained, and so is a panicking
    /// `Drop` of a listener (replaced, or dropped with the task).
    ///
    /// Fails with [`Error::ListenerAfterExecution`] (10200034) once the task was executed.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use taskpool::{concurrent, Task, TaskPool};
    ///
    /// #[concurrent]
    /// fn two() -> u8 {
    ///     2
    /// }
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let task = Task::new(two, ());
    /// let events = [("enqueued", tx.clone()), ("started", tx.clone()), ("succeeded", tx)];
    /// let [(_, a), (_, b), (_, c)] = events;
    /// task.on_enqueued(move || a.send("enqueued").unwrap()).unwrap();
    /// task.on_start_execution(move || b.send("started").unwrap()).unwrap();
    /// task.on_execution_succeeded(move || c.send("succeeded").unwrap()).unwrap();
    /// let handle = TaskPool::global().execute(&task);
    /// assert_eq!(handle.wait().unwrap(), 2);
    /// let seen: Vec<_> = rx.iter().take(3).collect();
    /// assert_eq!(seen, ["enqueued", "started", "succeeded"]);
    /// assert_eq!(task.on_enqueued(|| {}).unwrap_err().code(), Some(10200034));
    /// ```
    pub fn on_enqueued(&self, listener: impl Fn() + Send + Sync + 'static) -> Result<()> {
        let old = lock(&listeners(self.record())?.set)
            .enqueued
            .replace(Arc::new(listener));
        drop_quietly(old);
        Ok(())
    }

    /// Calls `listener` each time a run of this task starts executing (ArkTS
    /// `task.onStartExecution`). See [`on_enqueued`](Task::on_enqueued) for where and in which
    /// order listeners run; 10200034 once the task was executed.
    pub fn on_start_execution(&self, listener: impl Fn() + Send + Sync + 'static) -> Result<()> {
        let old = lock(&listeners(self.record())?.set)
            .started
            .replace(Arc::new(listener));
        drop_quietly(old);
        Ok(())
    }

    /// Calls `listener` each time a run of this task succeeds (ArkTS
    /// `task.onExecutionSucceeded`). See [`on_enqueued`](Task::on_enqueued); 10200034 once the
    /// task was executed.
    pub fn on_execution_succeeded(
        &self,
        listener: impl Fn() + Send + Sync + 'static,
    ) -> Result<()> {
        let old = lock(&listeners(self.record())?.set)
            .succeeded
            .replace(Arc::new(listener));
        drop_quietly(old);
        Ok(())
    }

    /// Calls `listener` with the error each time a run of this task fails: returns `Err`,
    /// panics, times out, is canceled or never runs (ArkTS `task.onExecutionFailed`). The
    /// error is a copy: a task's own error is passed as its message, and of a run canceled
    /// while running the copy keeps the late error, while a late value stays with the handle
    /// (`late.into_value()` is `None`). See [`on_enqueued`](Task::on_enqueued); 10200034 once
    /// the task was executed.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use taskpool::{concurrent, Task, TaskPool};
    ///
    /// #[concurrent]
    /// fn refuse() -> Result<u8, String> {
    ///     Err("no".into())
    /// }
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let task = Task::new(refuse, ());
    /// task.on_execution_failed(move |error| tx.send(error.to_string()).unwrap()).unwrap();
    /// assert!(TaskPool::global().execute(task).wait().is_err());
    /// assert!(rx.recv().unwrap().contains("no"));
    /// ```
    pub fn on_execution_failed(
        &self,
        listener: impl Fn(&Error) + Send + Sync + 'static,
    ) -> Result<()> {
        let old = lock(&listeners(self.record())?.set)
            .failed
            .replace(Arc::new(listener));
        drop_quietly(old);
        Ok(())
    }

    /// Registers `callback` as the receiver of the values this task sends with
    /// [`send_data`](crate::send_data) (ArkTS `task.onReceiveData`). It replaces any previous
    /// receiver (callback or stream): the last registration wins.
    ///
    /// The callback runs on the pool's callback thread, one value at a time, in the order the
    /// values were sent; a panic in it is contained. A task sending another type than `V` gets
    /// [`Error::DataTypeMismatch`] from `send_data`.
    ///
    /// See [`send_data`](crate::send_data) for an example.
    pub fn on_receive_data<V, F>(&self, callback: F)
    where
        V: Send + 'static,
        F: Fn(V) + Send + Sync + 'static,
    {
        crate::data::register_callback(self.record(), callback);
    }

    /// Registers a [`DataStream`] of the values of type `V` this task sends, replacing any
    /// previous receiver. It ends when another receiver is registered, or when the task and
    /// all its runs are gone. See [`DataStream`] for an example.
    pub fn data_stream<V: Send + 'static>(&self) -> DataStream<V> {
        crate::data::register_stream(self.record(), None)
    }

    /// Unregisters this task's receiver, callback or stream (ArkTS `task.onReceiveData()`
    /// without a callback: "all the registered callbacks are canceled"). A value sent after
    /// this has no receiver: `send_data` fails with 10200024, as before any registration. A
    /// stream ends after the values already sent to it; a callback still runs for those. No
    /// error if nothing is registered.
    ///
    /// ```
    /// use taskpool::{concurrent, send_data, Task, TaskPool};
    ///
    /// #[concurrent]
    /// fn report() -> Option<u32> {
    ///     send_data(1u32).err().and_then(|error| error.code())
    /// }
    ///
    /// let task = Task::new(report, ());
    /// task.on_receive_data(|_: u32| {});
    /// task.clear_receive_data();
    /// assert_eq!(TaskPool::global().execute(task).wait().unwrap(), Some(10200024));
    /// ```
    pub fn clear_receive_data(&self) {
        // Only a task that ever had a receiver has one to remove; the others keep no record.
        if let Some(record) = self.existing_record() {
            crate::data::close(record);
        }
    }
}

impl<T: Send + 'static> TaskHandle<T> {
    /// Registers a [`DataStream`] of the values of type `V` the task sends, replacing any
    /// previous receiver of the task; it ends when this run ends. Values sent before this call
    /// had no receiver (the task got 10200024): register on the [`Task`] before executing it
    /// to miss nothing.
    ///
    /// ```
    /// use taskpool::{concurrent, send_data, Task, TaskPool};
    ///
    /// #[concurrent]
    /// fn steps() -> u32 {
    ///     let mut sent = 0;
    ///     for step in 0..3u32 {
    ///         // Until the host registered, there is no receiver: keep going.
    ///         if send_data(step).is_ok() {
    ///             sent += 1;
    ///         }
    ///     }
    ///     sent
    /// }
    ///
    /// let handle = TaskPool::global().execute(Task::new(steps, ()));
    /// let stream = handle.data_stream::<u32>();
    /// let sent = handle.wait().unwrap();
    /// assert_eq!(stream.into_iter().count() as u32, sent); // blocking iteration ends with the run
    /// ```
    pub fn data_stream<V: Send + 'static>(&self) -> DataStream<V> {
        let header = self.header();
        let stream = crate::data::register_stream(header.shared_record(), Some(header));
        if self.is_finished() {
            // Settled before the stream was bound: nothing more will come.
            crate::data::end_bound_stream(header.shared_record(), header);
        }
        stream
    }
}

impl fmt::Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = lock(&self.set);
        f.debug_struct("Listeners")
            .field("enqueued", &set.enqueued.is_some())
            .field("started", &set.started.is_some())
            .field("succeeded", &set.succeeded.is_some())
            .field("failed", &set.failed.is_some())
            .finish()
    }
}
