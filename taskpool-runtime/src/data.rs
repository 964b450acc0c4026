//! `send_data` / `on_receive_data`: values a running task sends to the host, in order (ArkTS
//! `Task.sendData` / `task.onReceiveData`).
//!
//! A task has at most one receiver (the last registration wins): a callback, run on its pool's
//! callback thread (`pool/callbacks.rs`), or a [`DataStream`] fed directly by the sender. The
//! receiver's value type is checked when a value is sent, so a wrong type is an error for the
//! sender ([`Error::DataTypeMismatch`]), never a panic on the host.

use std::any::{Any, TypeId};
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::error::{Error, Result};
use crate::panic::drop_quietly;
use crate::run::RunHeader;
use crate::sync::{Arc, Condvar, Mutex, lock};
use crate::task::TaskRecord;
use crate::waker_offer::with_offer;

type Value = Box<dyn Any + Send>;
type Callback = Arc<dyn Fn(Value) + Send + Sync>;

/// A task's receiver.
pub(crate) struct Sink {
    type_id: TypeId,
    type_name: &'static str,
    kind: SinkKind,
}

enum SinkKind {
    /// Left behind by `Sink::drop`.
    Gone,
    Callback(Callback),
    Channel {
        channel: Arc<Channel>,
        /// The run (its header's address) whose end closes the channel, if any.
        until_run: Option<usize>,
    },
}

impl Drop for Sink {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.kind, SinkKind::Gone) {
            // Replaced, or its task is gone: the stream ends once drained.
            SinkKind::Channel { channel, .. } => {
                channel.close();
                drop_quietly(channel);
            }
            // A user closure: its captures' `Drop` may panic, wherever the record goes.
            SinkKind::Callback(callback) => drop_quietly(callback),
            SinkKind::Gone => {}
        }
    }
}

fn run_key(run: &RunHeader) -> usize {
    std::ptr::from_ref(run) as usize
}

/// Registers `sink` on `record`, replacing (and closing) the previous receiver.
fn register(record: &TaskRecord, sink: Sink) {
    let old = lock(&record.sink).replace(sink);
    record
        .has_sink
        .store(true, std::sync::atomic::Ordering::Release);
    drop_quietly(old);
}

/// Registers a callback receiver for values of type `V`.
pub(crate) fn register_callback<V, F>(record: &TaskRecord, callback: F)
where
    V: Send + 'static,
    F: Fn(V) + Send + Sync + 'static,
{
    let call: Callback = Arc::new(move |value: Value| {
        if let Ok(value) = value.downcast::<V>() {
            callback(*value);
        }
    });
    register(
        record,
        Sink {
            type_id: TypeId::of::<V>(),
            type_name: std::any::type_name::<V>(),
            kind: SinkKind::Callback(call),
        },
    );
}

/// Registers a stream receiver for values of type `V`; it ends when `until_run` settles (if
/// given), when another receiver is registered, or when the task is gone.
pub(crate) fn register_stream<V: Send + 'static>(
    record: &TaskRecord,
    until_run: Option<&RunHeader>,
) -> DataStream<V> {
    let channel = Arc::new(Channel::default());
    register(
        record,
        Sink {
            type_id: TypeId::of::<V>(),
            type_name: std::any::type_name::<V>(),
            kind: SinkKind::Channel {
                channel: Arc::clone(&channel),
                until_run: until_run.map(run_key),
            },
        },
    );
    DataStream {
        channel,
        _type: PhantomData,
    }
}

/// One owner of `record` (the task value, or a run that settled) let go; with none left,
/// nothing can send any more and a receiver ends.
pub(crate) fn release_owner(record: &TaskRecord) {
    let last = record
        .owners
        .fetch_sub(1, std::sync::atomic::Ordering::AcqRel)
        == 1;
    if last && record.has_sink.load(std::sync::atomic::Ordering::Acquire) {
        close(record);
    }
    if last && record.in_graph.load(std::sync::atomic::Ordering::Acquire) {
        // Nothing can run the task again: its node leaves the dependency graph.
        crate::compose::dependency::record_gone(record.id);
    }
}

/// Ends the receiver if it is a stream bound to `run`, then lets go of the run's ownership
/// of the task (called once per run, when it settled).
pub(crate) fn run_settled(record: &TaskRecord, run: &RunHeader) {
    end_bound_stream(record, run);
    release_owner(record);
}

/// Ends the receiver if it is a stream bound to `run`.
pub(crate) fn end_bound_stream(record: &TaskRecord, run: &RunHeader) {
    if !record.has_sink.load(std::sync::atomic::Ordering::Acquire) {
        return;
    }
    let key = run_key(run);
    let mut sink = lock(&record.sink);
    let bound = matches!(
        sink.as_ref(),
        Some(Sink { kind: SinkKind::Channel { until_run: Some(k), .. }, .. }) if *k == key
    );
    if bound {
        let old = sink.take();
        drop(sink);
        drop_quietly(old);
    }
}

/// Ends (and removes) the task's receiver, whatever it is.
pub(crate) fn close(record: &TaskRecord) {
    let old = lock(&record.sink).take();
    drop_quietly(old);
}

/// Sends `value` from the run `run` to its task's receiver.
pub(crate) fn deliver(run: &RunHeader, value: Value, sent: &'static str) -> Result<()> {
    let Some(record) = run.record() else {
        drop_quietly(value);
        return Err(Error::NoDataReceiver(run.id));
    };
    let sink = lock(&record.sink);
    let Some(sink_ref) = sink.as_ref() else {
        drop(sink);
        drop_quietly(value);
        return Err(Error::NoDataReceiver(record.id));
    };
    if (*value).type_id() != sink_ref.type_id {
        let expected = sink_ref.type_name;
        drop(sink);
        drop_quietly(value);
        return Err(Error::DataTypeMismatch {
            task: record.id,
            expected,
            sent,
        });
    }
    match &sink_ref.kind {
        SinkKind::Channel { channel, .. } => {
            // Pushed under the sink's lock: a receiver replaced meanwhile is closed only after
            // the value is in, so a reader that saw its stream end saw this value first.
            let pushed = channel.push(value);
            drop(sink);
            match pushed {
                // The reader's executor: a panicking `wake` is not the sender's failure.
                Ok(Some(waker)) => {
                    crate::panic::wake_quietly(waker);
                }
                Ok(None) => {}
                // The stream was dropped: nobody will read it. Dropped here, outside the
                // locks (user code), instead of piling up for as long as the task lives.
                Err(unread) => drop_quietly(unread),
            }
            Ok(())
        }
        SinkKind::Callback(callback) => {
            let callback = Arc::clone(callback);
            drop(sink);
            let Some(pool) = run.pool.upgrade() else {
                drop_quietly(value);
                // Replaced meanwhile, this may be the last reference to the user's closure.
                drop_quietly(callback);
                return Err(Error::PoolShutDown);
            };
            record.post_callback(pool, Box::new(move || callback(value)));
            Ok(())
        }
        SinkKind::Gone => {
            // Only a sink being dropped is gone; never one that is registered.
            drop(sink);
            drop_quietly(value);
            Err(Error::NoDataReceiver(record.id))
        }
    }
}

#[derive(Default)]
struct ChannelState {
    queue: VecDeque<Value>,
    closed: bool,
    waker: Option<Waker>,
    /// The [`DataStream`] was dropped: values sent from now on are not kept.
    reader_gone: bool,
}

impl Drop for ChannelState {
    fn drop(&mut self) {
        // Values nobody read: user data whose `Drop` may panic, dropped one at a time (two
        // panics at once would abort), wherever the last of the stream and the sink goes.
        self.queue.drain(..).for_each(drop_quietly);
        drop_quietly(self.waker.take());
    }
}

/// The queue between a sending task and a [`DataStream`].
#[derive(Default)]
struct Channel {
    state: Mutex<ChannelState>,
    changed: Condvar,
}

impl Channel {
    /// Queues `value`; returns the reader's waker, to be woken by the caller (outside its
    /// locks). With the reader gone, the value comes back (`Err`) for the caller to drop
    /// outside its locks.
    fn push(&self, value: Value) -> std::result::Result<Option<Waker>, Value> {
        let waker = {
            let mut state = lock(&self.state);
            if state.reader_gone {
                return Err(value);
            }
            state.queue.push_back(value);
            state.waker.take()
        };
        self.changed.notify_all();
        Ok(waker)
    }

    fn close(&self) {
        let waker = {
            let mut state = lock(&self.state);
            state.closed = true;
            state.waker.take()
        };
        self.changed.notify_all();
        if let Some(waker) = waker {
            // Called where a run settles or a receiver is replaced: a reader's broken executor
            // must not unwind through that bookkeeping.
            crate::panic::wake_quietly(waker);
        }
    }
}

/// The values a task sends with [`send_data`], in the order it sent them: a
/// [`futures::Stream`] for async code, and blocking for threads
/// ([`next_blocking`](DataStream::next_blocking), [`blocking_iter`](DataStream::blocking_iter),
/// or `for value in stream`).
///
/// Get one from [`Task::data_stream`](crate::Task::data_stream) (ends when the task and its
/// runs are gone), [`TaskHandle::data_stream`](crate::TaskHandle::data_stream) (ends when that
/// run ends) or [`PeriodicHandle::data_stream`](crate::PeriodicHandle::data_stream) (ends when
/// the periodic task stops). Registering another receiver on the task ends it too (the last
/// registration wins). The values already sent are still yielded before the end.
///
/// ```
/// use futures::StreamExt;
/// use taskpool::{concurrent, send_data, Task, TaskPool};
///
/// #[concurrent]
/// fn count_to(n: u32) -> u32 {
///     for i in 1..=n {
///         send_data(i).unwrap();
///     }
///     n
/// }
///
/// let task = Task::new(count_to, (3,));
/// let progress = task.data_stream::<u32>();
/// let handle = TaskPool::global().execute(task);
/// assert_eq!(handle.wait().unwrap(), 3);
/// // The task is gone (moved into the run, which ended): the stream ends after its values.
/// let sent: Vec<u32> = futures::executor::block_on(progress.collect());
/// assert_eq!(sent, [1, 2, 3]);
/// ```
#[must_use = "streams do nothing unless polled; dropping one discards what the task sends it"]
pub struct DataStream<V> {
    channel: Arc<Channel>,
    _type: PhantomData<fn() -> V>,
}

impl<V: 'static> DataStream<V> {
    fn take(state: &mut ChannelState) -> Option<Option<V>> {
        while let Some(value) = state.queue.pop_front() {
            // The type was checked when the value was sent.
            if let Ok(value) = value.downcast::<V>() {
                return Some(Some(*value));
            }
        }
        state.closed.then_some(None)
    }

    /// The next value if one is there, without waiting; `None` if none is there yet or the
    /// stream has ended.
    pub fn try_next(&mut self) -> Option<V> {
        Self::take(&mut lock(&self.channel.state)).flatten()
    }

    /// Whether the stream has ended and every value was taken.
    pub fn is_terminated(&self) -> bool {
        let state = lock(&self.channel.state);
        state.closed && state.queue.is_empty()
    }
}

impl<V: 'static> futures::Stream for DataStream<V> {
    type Item = V;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<V>> {
        // The waker is offered (see `waker_offer`): the executor's code runs outside the lock,
        // as it may call back into the sending task (cancel it, which ends this stream).
        with_offer(cx.waker(), |offer| {
            let mut state = lock(&self.channel.state);
            match Self::take(&mut state) {
                Some(next) => Some(Poll::Ready(next)),
                None => offer.store(&mut state.waker).then_some(Poll::Pending),
            }
        })
    }
}

impl<V: 'static> DataStream<V> {
    /// Blocks until the task sends a value (`Some`) or the stream ends (`None`). Inside a pool
    /// task the thread counts as blocked meanwhile.
    pub fn next_blocking(&mut self) -> Option<V> {
        let channel = &self.channel;
        crate::pool::block_in_place(|| {
            let mut state = lock(&channel.state);
            loop {
                if let Some(next) = Self::take(&mut state) {
                    return next;
                }
                state = channel
                    .changed
                    .wait(state)
                    .unwrap_or_else(|e| e.into_inner());
            }
        })
    }
}

impl<V: 'static> DataStream<V> {
    /// A blocking iterator over the values, borrowing the stream (see
    /// [`next_blocking`](DataStream::next_blocking)); `for value in stream` consumes it.
    pub fn blocking_iter(&mut self) -> impl Iterator<Item = V> + '_ {
        std::iter::from_fn(|| self.next_blocking())
    }
}

/// The values of a [`DataStream`] as a blocking iterator (`for value in stream { .. }`).
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct BlockingIter<V>(DataStream<V>);

impl<V: 'static> Iterator for BlockingIter<V> {
    type Item = V;

    fn next(&mut self) -> Option<V> {
        self.0.next_blocking()
    }
}

impl<V> fmt::Debug for BlockingIter<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BlockingIter").field(&self.0).finish()
    }
}

impl<V: 'static> IntoIterator for DataStream<V> {
    type Item = V;
    type IntoIter = BlockingIter<V>;

    fn into_iter(self) -> BlockingIter<V> {
        BlockingIter(self)
    }
}

impl<V> Unpin for DataStream<V> {}

impl<V> Drop for DataStream<V> {
    /// Nobody reads the stream any more: the values queued go now, and those sent later are
    /// dropped as they arrive, instead of piling up for as long as the task lives (a periodic
    /// task's for ever); the waker of its last poll goes too (a `select!` that dropped the
    /// stream, an executor's waker).
    fn drop(&mut self) {
        let (queue, waker) = {
            let mut state = lock(&self.channel.state);
            state.reader_gone = true;
            (std::mem::take(&mut state.queue), state.waker.take())
        };
        // User values, outside the lock, one at a time (a panicking `Drop` is contained).
        queue.into_iter().for_each(drop_quietly);
        drop_quietly(waker);
    }
}

impl<V> fmt::Debug for DataStream<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.channel.state);
        f.debug_struct("DataStream")
            .field("buffered", &state.queue.len())
            .field("ended", &state.closed)
            .finish()
    }
}

/// Sends `value` to the host from the task that is running on this thread (ArkTS
/// `taskpool.Task.sendData`): to the task's callback ([`Task::on_receive_data`](crate::Task::on_receive_data),
/// run on the pool's callback thread) or its [`DataStream`]. Values arrive in the order they
/// were sent.
///
/// Fails with [`Error::NotInPoolThread`] (10200022) outside a pool thread,
/// [`Error::NotInConcurrentFunction`] (10200023) on a pool thread outside a task's run (such
/// as in a host-side callback), [`Error::NoDataReceiver`] (10200024) when the task has no
/// receiver, and [`Error::DataTypeMismatch`] when the receiver takes another type. The value is
/// dropped on failure. A run whose handle already resolved while it still runs (it timed out)
/// sends nothing more: the value is dropped and `Ok(())` returned, as ArkTS's host stops
/// receiving after a timeout.
///
/// ```
/// use std::sync::mpsc;
/// use taskpool::{concurrent, send_data, Task, TaskPool};
///
/// #[concurrent]
/// fn work() -> u32 {
///     send_data(String::from("half way")).unwrap();
///     100
/// }
///
/// let (tx, rx) = mpsc::channel();
/// let task = Task::new(work, ());
/// task.on_receive_data(move |note: String| tx.send(note).unwrap());
/// assert_eq!(TaskPool::global().execute(task).wait().unwrap(), 100);
/// assert_eq!(rx.recv().unwrap(), "half way");
/// // Outside a task:
/// assert_eq!(send_data(1u8).unwrap_err().code(), Some(10200022));
/// ```
pub fn send_data<V: Send + 'static>(value: V) -> Result<()> {
    let on_pool = crate::pool::on_pool_thread();
    match crate::context::current_run() {
        // Resolved while its call still runs (it timed out): over for the host, which
        // receives nothing more from it (ArkTS, after a `Configs` timeout).
        Some(run) if on_pool && run.is_claimed() => {
            drop_quietly(value);
            Ok(())
        }
        Some(run) if on_pool => deliver(&run, Box::new(value), std::any::type_name::<V>()),
        _ => {
            drop_quietly(value);
            if on_pool || crate::pool::on_callback_thread() {
                Err(Error::NotInConcurrentFunction)
            } else {
                Err(Error::NotInPoolThread)
            }
        }
    }
}
