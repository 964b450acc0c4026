//! The host side: [`Worker`] (the handle that owns a worker), [`WorkerRef`] (a cloneable way
//! to post to it and terminate it), and [`WorkerBuilder`].

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use crate::bounded_join::JoinableThread;
use crate::codec::{DEFAULT_MAX_SERIALIZED_BYTES, Payload};
use crate::error::{Error, Result};
use crate::function::Transferable;
use crate::sync::atomic::Ordering;
use crate::sync::{Arc, Mutex, lock};
use crate::worker::call_object::{CallObject, Callable};
use crate::worker::event_loop;
use crate::worker::handler::WorkerHandler;
use crate::worker::host_thread::{self, Callbacks, HostJob, Kind, Stopped};
use crate::worker::limit::Slot;
use crate::worker::link::{Envelope, Link};
use crate::worker::stream::Messages;

/// How long dropping a [`Worker`] waits for its thread by default before detaching it.
pub const DEFAULT_JOIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why [`Worker::recv_timeout`] returned no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecvTimeoutError {
    /// No message arrived in time; the worker may still send one.
    Timeout,
    /// The worker ended and every message it sent has been taken.
    Exited,
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecvTimeoutError::Timeout => "no message from the worker within the timeout",
            RecvTimeoutError::Exited => "the worker ended and sent no further message",
        })
    }
}

impl std::error::Error for RecvTimeoutError {}

/// Configures a [`Worker`] before it starts (ArkTS `WorkerOptions`).
///
/// ```
/// use std::time::Duration;
/// use taskpool::{HandlerResult, Worker, WorkerHandler, WorkerPort};
///
/// struct Echo;
///
/// impl WorkerHandler for Echo {
///     type In = String;
///     type Out = String;
///
///     async fn on_message(&mut self, text: String, port: &WorkerPort<String>) -> HandlerResult {
///         port.post_message(text)?;
///         Ok(())
///     }
/// }
///
/// let worker = Worker::builder()
///     .name("echo")
///     .max_serialized_bytes(1024)
///     .join_timeout(Duration::from_secs(1))
///     .spawn(|| Echo)
///     .unwrap();
/// assert_eq!(worker.name(), "echo");
/// let too_big = "x".repeat(2048);
/// assert_eq!(worker.post_message_serialized(&too_big).unwrap_err().code(), Some(10200006));
/// worker.post_message(too_big).unwrap(); // moved: no serialization, no cap
/// assert_eq!(worker.recv().map(|s| s.len()), Some(2048));
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder starts no worker until `spawn` is called"]
pub struct WorkerBuilder {
    name: Option<String>,
    max_serialized_bytes: usize,
    join_timeout: Duration,
    stack_size: usize,
}

impl Default for WorkerBuilder {
    fn default() -> WorkerBuilder {
        WorkerBuilder {
            name: None,
            max_serialized_bytes: DEFAULT_MAX_SERIALIZED_BYTES,
            join_timeout: DEFAULT_JOIN_TIMEOUT,
            stack_size: crate::pool::DEFAULT_STACK_SIZE,
        }
    }
}

impl WorkerBuilder {
    /// The worker's name, also its thread's name (ArkTS `WorkerOptions.name`); the host thread
    /// is `<name>-host`. Default: `worker-<n>`. A name with a NUL byte fails with 10200003.
    pub fn name(mut self, name: impl Into<String>) -> WorkerBuilder {
        self.name = Some(name.into());
        self
    }

    /// The cap on serialized messages, both ways, and on global call arguments and results
    /// (default 16 MiB, as in ArkTS; above it: 10200006). Moved messages have no cap. A cap of
    /// 0 makes `spawn` fail with 10200003.
    pub fn max_serialized_bytes(mut self, bytes: usize) -> WorkerBuilder {
        self.max_serialized_bytes = bytes;
        self
    }

    /// How long dropping the [`Worker`] waits for its thread (and for its host thread) before
    /// detaching it (default [`DEFAULT_JOIN_TIMEOUT`], 5 s). See [`Worker`]'s `Drop`.
    pub fn join_timeout(mut self, timeout: Duration) -> WorkerBuilder {
        self.join_timeout = timeout;
        self
    }

    /// The stack size of the worker's thread, in bytes (default
    /// [`DEFAULT_STACK_SIZE`](crate::DEFAULT_STACK_SIZE), 16 MiB, as a pool thread's): what its
    /// handler may use for recursion and for dropping deeply nested values. The host thread
    /// that runs this worker's callbacks and call objects gets the larger of this size and the
    /// default: a small worker stack does not shrink the host's code's stack. Between
    /// [`MIN_STACK_SIZE`](crate::MIN_STACK_SIZE) (64 KiB) and
    /// [`MAX_STACK_SIZE`](crate::MAX_STACK_SIZE) (1 GiB); `spawn` fails with 10200003
    /// otherwise.
    pub fn stack_size(mut self, bytes: usize) -> WorkerBuilder {
        self.stack_size = bytes;
        self
    }

    /// Starts the worker: its thread calls `constructor` and then handles messages.
    ///
    /// Fails with 10200003 if the process already has [`max_workers`](crate::max_workers) live
    /// workers (64 by default), if the name, the stack size or the serialized cap is invalid,
    /// or if the system refuses a thread.
    /// Called on a pool thread (inside a task), the new worker keeps that thread in the pool
    /// until the worker ends.
    pub fn spawn<H, F>(self, constructor: F) -> Result<Worker<H::In, H::Out>>
    where
        H: WorkerHandler,
        H::In: Transferable,
        H::Out: Transferable,
        F: FnOnce() -> H + Send + 'static,
    {
        // Refused, the constructor is dropped here: its captures are user values whose `Drop`
        // may panic, and the caller must get the error, not that panic.
        let (name, slot) = match self
            .checked_name()
            .and_then(|name| Ok((name, Slot::acquire()?)))
        {
            Ok(started) => started,
            Err(error) => {
                crate::panic::drop_quietly(constructor);
                return Err(error);
            }
        };
        let link = Arc::new(Link::new(
            name.clone(),
            self.max_serialized_bytes,
            self.stack_size,
        ));
        let hold = crate::pool::hold_current_thread();
        let for_thread = Arc::clone(&link);
        // If the thread cannot start, the closure (slot and hold inside) is dropped: both go back.
        // So is the constructor, inside `spawn`, where a panic of its captures' `Drop` would
        // unwind into the caller: contained.
        let constructor = crate::panic::DropQuietly::new(constructor);
        let builder = std::thread::Builder::new()
            .name(name)
            .stack_size(self.stack_size);
        let thread = JoinableThread::spawn(builder, move || {
            event_loop::run(for_thread, constructor.into_inner(), slot, hold)
        })
        .map_err(|error| {
            Error::WorkerInitialization(format!("the system refused a thread: {error}"))
        })?;
        Ok(Worker {
            link,
            thread: Some(thread),
            join_timeout: self.join_timeout,
        })
    }
}

impl WorkerBuilder {
    /// The worker's name, once the options are checked (10200003 if one is invalid).
    fn checked_name(&self) -> Result<String> {
        let name = self.name.clone().unwrap_or_else(default_name);
        if name.contains('\0') {
            return Err(Error::WorkerInitialization(
                "the worker's name contains a NUL byte; choose another name".to_owned(),
            ));
        }
        if !crate::pool::valid_stack_size(self.stack_size) {
            return Err(Error::WorkerInitialization(format!(
                "a stack of {} bytes is out of range: give the worker between 64 KiB and 1 GiB",
                self.stack_size
            )));
        }
        if self.max_serialized_bytes == 0 {
            return Err(Error::WorkerInitialization(
                "max_serialized_bytes of 0 refuses every serialized message: give at least 1"
                    .to_owned(),
            ));
        }
        Ok(name)
    }
}

fn default_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "worker-{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// A worker: a dedicated, named thread with its own message loop (ArkTS `worker.ThreadWorker`).
///
/// The worker's behaviour is a [`WorkerHandler`], built on the worker thread by the `Send`
/// constructor you pass to [`Worker::new`] — so the handler's state may hold `Rc`, `RefCell`
/// and other values that are not `Send`; they never leave that thread. ArkTS cannot offer this:
/// its workers share nothing but serialized or `@Sendable` data.
///
/// **Messages** are typed both ways (`In` to the worker, `Out` back), checked at compile time
/// ([`Transferable`]). [`post_message`](Worker::post_message) *moves* the message (no copy, no
/// serialization; a [`Shared<T>`](crate::Shared) stays shared, as with ArkTS
/// `postMessageWithSharedSendable`). [`post_message_serialized`](Worker::post_message_serialized)
/// sends a serialized copy and [`post_payload`](Worker::post_payload) ready-made bytes; those are
/// capped at 16 MiB (10200006). Posting to a worker that is not running fails with 10200004.
///
/// **Receiving**: [`recv`](Worker::recv), [`recv_timeout`](Worker::recv_timeout), the
/// [`messages`](Worker::messages) stream, or the ArkTS-style callbacks
/// ([`on_message`](Worker::on_message), [`on_message_error`](Worker::on_message_error),
/// [`on_error`](Worker::on_error), [`on_all_errors`](Worker::on_all_errors),
/// [`on_exit`](Worker::on_exit)). Callbacks run in order on the worker's *host thread*
/// (`<name>-host`, started with the first callback): Rust has no host event loop, and a
/// callback must never run on the worker thread it reports on. A message goes to `on_message`
/// if it is registered when the message is sent, otherwise to the receivers; register callbacks
/// before the first post.
///
/// **Errors**: an `Err` or a panic from the handler the handler did not handle is reported to
/// `on_error` and destroys the worker (exit code 1), as in ArkTS; with `on_all_errors`
/// registered it is reported there instead and the worker lives on. With neither, the worker
/// is destroyed and [`take_exit_error`](Worker::take_exit_error) returns the error.
///
/// **Ending**: [`terminate`](Worker::terminate) (exit code 0) stops the handler at its next
/// `.await` (synchronous code cannot be interrupted; it can check
/// [`WorkerPort::is_terminating`](crate::WorkerPort::is_terminating)); queued messages are
/// dropped. The handler may also [`close`](crate::WorkerPort::close) its worker. When the
/// worker ends, every pending and later receive returns `None` once the messages already sent
/// are taken.
///
/// **Dropping a `Worker` terminates it** — one that closed itself too, stopped at its next
/// `.await` — and waits for its thread, at most
/// [`join_timeout`](WorkerBuilder::join_timeout) (5 s by default); a handler still running then
/// is detached: its thread ends when the handler returns and counts toward the 64 workers until
/// then. So is a thread still dropping, at that time, a value the handler left in a
/// `thread_local!`. The host thread is stopped the same way, after `on_exit` ran. No thread is
/// left behind otherwise.
///
/// ```
/// use taskpool::{HandlerResult, Worker, WorkerHandler, WorkerPort};
///
/// struct Doubler;
///
/// impl WorkerHandler for Doubler {
///     type In = u64;
///     type Out = u64;
///
///     async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
///         port.post_message(n * 2)?;
///         Ok(())
///     }
/// }
///
/// let worker = Worker::new(|| Doubler).unwrap();
/// worker.post_message(21).unwrap();
/// assert_eq!(worker.recv(), Some(42));
/// worker.terminate().unwrap();
/// assert_eq!(worker.wait_for_exit(), 0);
/// assert_eq!(worker.post_message(1).unwrap_err().code(), Some(10200004));
/// ```
pub struct Worker<In, Out> {
    link: Arc<Link<In, Out>>,
    thread: Option<JoinableThread<()>>,
    join_timeout: Duration,
}

impl Worker<(), ()> {
    /// Starts configuring a worker (name, size cap, drop timeout).
    pub fn builder() -> WorkerBuilder {
        WorkerBuilder::default()
    }
}

impl<In: Transferable, Out: Transferable> Worker<In, Out> {
    /// Starts a worker with the default options (ArkTS `new worker.ThreadWorker(...)`): its
    /// thread calls `constructor` and then handles messages. See [`WorkerBuilder::spawn`].
    pub fn new<H, F>(constructor: F) -> Result<Worker<In, Out>>
    where
        H: WorkerHandler<In = In, Out = Out>,
        F: FnOnce() -> H + Send + 'static,
    {
        WorkerBuilder::default().spawn(constructor)
    }

    /// The worker's name (also its thread's).
    pub fn name(&self) -> &str {
        &self.link.name
    }

    /// Sends `message` to the worker, moved (ArkTS `postMessage` with a transfer list, or
    /// `postMessageWithSharedSendable` for `Shared<T>`): no copy, no serialization, no cap.
    /// 10200004 if the worker is not running.
    pub fn post_message(&self, message: In) -> Result<()> {
        self.link.send_to_worker(Envelope::Moved(message))
    }

    /// Sends a serialized copy of `message` (ArkTS `postMessage`); it is decoded on the worker
    /// thread. 10200006 if it does not serialize (its `Serialize` failing or panicking) or is
    /// over the cap; 10200004 if not running (checked first).
    pub fn post_message_serialized(&self, message: &In) -> Result<()> {
        if !self.link.is_running() {
            return Err(Error::WorkerNotRunning(self.link.name.clone()));
        }
        let payload = crate::worker::link::encode_message(message, self.link.max_serialized_bytes)?;
        self.link.send_to_worker(Envelope::Serialized(payload))
    }

    /// Sends an already serialized message. It is decoded on the worker thread; if it does not
    /// decode as `In`, the worker's [`on_message_error`](WorkerHandler::on_message_error) and
    /// the host's [`on_message_error`](Worker::on_message_error) hear about it.
    /// 10200006 if over the cap; 10200004 if not running.
    pub fn post_payload(&self, payload: Payload) -> Result<()> {
        // The state first: to a worker that ended, every post is 10200004, whatever its size.
        if !self.link.is_running() {
            return Err(Error::WorkerNotRunning(self.link.name.clone()));
        }
        payload.check_size(self.link.max_serialized_bytes)?;
        self.link.send_to_worker(Envelope::Serialized(payload))
    }

    /// Blocks until the worker sends a message; `None` once it ended and every message it
    /// sent was taken.
    ///
    /// Called on a pool thread (inside a task), the thread counts as blocked meanwhile, as in
    /// [`TaskHandle::wait`](crate::TaskHandle::wait): the pool adds a thread, or this one runs
    /// the pool's stranded work while it waits — the worker may be awaiting a task of that very
    /// pool. [`recv_timeout`](Worker::recv_timeout) and [`wait_for_exit`](Worker::wait_for_exit)
    /// count as blocked too.
    ///
    /// # Panics
    ///
    /// Called from the worker's own thread (its handler holding its own `Worker`) when no
    /// message is queued: only that thread could send one, so the wait could never end. As
    /// with [`wait_for_exit`](Worker::wait_for_exit), it panics at once instead of hanging,
    /// and the panic is contained as any handler panic is. A message the handler posted
    /// earlier is returned. The same holds on the worker's host thread (in one of its
    /// callbacks or global call objects): the messages it could wait for may be queued behind
    /// that very callback, so it never waits there either.
    pub fn recv(&self) -> Option<Out> {
        if let Some(own) = self.own_thread() {
            return match self.link.recv_timeout(Duration::ZERO) {
                Ok(received) => received,
                Err(()) => panic!(
                    "worker {:?}: {own} called recv on its own worker with no message ready, which could only come once it returns; return instead",
                    self.link.name
                ),
            };
        }
        if crate::pool::on_pool_thread() {
            // No deadline: `block_until` always answers.
            let id = self.link.new_stream_id();
            let received =
                crate::pool::block_until(None, |waker| self.link.poll_message(id, waker));
            self.link.forget_stream(id);
            return received.flatten();
        }
        self.link.recv()
    }

    /// Like [`recv`](Worker::recv), waiting at most `timeout`. Called from the worker's own
    /// thread or its host thread, it does not wait: it returns a queued message or
    /// [`Timeout`](RecvTimeoutError::Timeout) at once (see [`recv`](Worker::recv)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskpool::{HandlerResult, RecvTimeoutError, Worker, WorkerHandler, WorkerPort};
    ///
    /// struct Quiet;
    ///
    /// impl WorkerHandler for Quiet {
    ///     type In = ();
    ///     type Out = ();
    ///
    ///     async fn on_message(&mut self, (): (), _port: &WorkerPort<()>) -> HandlerResult {
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let worker = Worker::new(|| Quiet).unwrap();
    /// let waited = worker.recv_timeout(Duration::from_millis(1));
    /// assert_eq!(waited, Err(RecvTimeoutError::Timeout));
    /// worker.terminate().unwrap();
    /// assert_eq!(worker.recv_timeout(Duration::MAX), Err(RecvTimeoutError::Exited));
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> std::result::Result<Out, RecvTimeoutError> {
        let received = if self.own_thread().is_some() {
            // Nothing can arrive while the thread it would come from waits: see `recv`.
            self.link.recv_timeout(Duration::ZERO)
        } else if crate::pool::on_pool_thread() {
            // See `recv`: a pool thread waits as blocked, through the stream's waker.
            let deadline = Instant::now().checked_add(timeout);
            let id = self.link.new_stream_id();
            let received =
                crate::pool::block_until(deadline, |waker| self.link.poll_message(id, waker));
            self.link.forget_stream(id);
            received.ok_or(())
        } else {
            self.link.recv_timeout(timeout)
        };
        match received {
            Ok(Some(message)) => Ok(message),
            Ok(None) => Err(RecvTimeoutError::Exited),
            Err(()) => Err(RecvTimeoutError::Timeout),
        }
    }

    /// The worker's messages as a [`futures::Stream`], for async hosts; it ends when the worker
    /// ends. It may outlive the `Worker` (it then ends once the worker has).
    ///
    /// ```
    /// use futures::StreamExt;
    /// use taskpool::{HandlerResult, Worker, WorkerHandler, WorkerPort};
    ///
    /// struct Countdown;
    ///
    /// impl WorkerHandler for Countdown {
    ///     type In = u32;
    ///     type Out = u32;
    ///
    ///     async fn on_message(&mut self, from: u32, port: &WorkerPort<u32>) -> HandlerResult {
    ///         for n in (1..=from).rev() {
    ///             port.post_message(n)?;
    ///         }
    ///         port.close()?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let worker = Worker::new(|| Countdown).unwrap();
    /// worker.post_message(3).unwrap();
    /// let all: Vec<u32> = futures::executor::block_on(worker.messages().collect());
    /// assert_eq!(all, [3, 2, 1]);
    /// ```
    pub fn messages(&self) -> Messages<Out> {
        Messages::new(Arc::clone(&self.link) as Arc<_>)
    }

    /// Installs a callback; `install` returns the one it replaced, which is dropped after the
    /// lock is released (its `Drop` is user code: it may touch this very worker, or panic).
    fn register<R>(&self, kind: Kind, install: impl FnOnce(&mut Callbacks<Out>) -> R) {
        host_thread::ensure_started(&self.link);
        let host = &self.link.host;
        let mut callbacks = lock(&host.callbacks);
        let replaced = install(&mut callbacks);
        if host.is_started() {
            host.set_wanted(kind);
        }
        if kind == Kind::Exit && callbacks.exit_pending() {
            if let Some(code) = self.link.exit_code() {
                host.send(HostJob::Exit(code));
            }
        }
        // An error callback registered after the error that destroyed the worker was kept (its
        // constructor may panic before `spawn` returns) receives that error, as ArkTS's
        // `onerror` set right after `new ThreadWorker` hears of the script's failure.
        if host.is_started() && matches!(kind, Kind::Error | Kind::AllErrors) {
            self.link.offer_exit_error();
        }
        // Looked at after the hand-over was queued: if the exit was not published yet, its job
        // comes behind that hand-over; if it was, the exit must not release this callback
        // before its event.
        if self.link.exit_code().is_some() {
            callbacks.mark_late(kind);
        }
        drop(callbacks);
        crate::panic::drop_quietly(replaced);
    }

    /// Calls `callback` on the host thread for each message the worker sends from now on
    /// (ArkTS `onmessage`); those messages no longer reach [`recv`](Worker::recv) and the
    /// stream. Replaces an earlier `on_message`.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use taskpool::{HandlerResult, Worker, WorkerHandler, WorkerPort};
    ///
    /// struct Echo;
    ///
    /// impl WorkerHandler for Echo {
    ///     type In = u8;
    ///     type Out = u8;
    ///
    ///     async fn on_message(&mut self, n: u8, port: &WorkerPort<u8>) -> HandlerResult {
    ///         port.post_message(n)?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let worker = Worker::new(|| Echo).unwrap();
    /// let (seen, replies) = mpsc::channel();
    /// let control = worker.worker_ref();
    /// worker.on_message(move |n| {
    ///     seen.send(n).unwrap();
    ///     let _ = control.terminate(); // as the guide's host does
    /// });
    /// worker.post_message(7).unwrap();
    /// assert_eq!(replies.recv().unwrap(), 7);
    /// assert_eq!(worker.wait_for_exit(), 0);
    /// ```
    pub fn on_message(&self, callback: impl FnMut(Out) + Send + 'static) {
        self.register(Kind::Message, |c| c.on_message.replace(Box::new(callback)));
    }

    /// Calls `callback` on the host thread for each message that could not be decoded (ArkTS
    /// `onmessageerror`): a serialized message from the host the worker could not decode as
    /// `In`, or one from the worker the host could not decode as `Out`. Without it they are
    /// dropped.
    pub fn on_message_error(&self, callback: impl FnMut(Error) + Send + 'static) {
        self.register(Kind::MessageError, |c| {
            c.on_message_error.replace(Box::new(callback))
        });
    }

    /// Calls `callback` on the host thread with an error or panic the handler did not handle
    /// (ArkTS `onerror`); the worker is then destroyed (exit code 1). Ignored while
    /// [`on_all_errors`](Worker::on_all_errors) is registered — also for an error that
    /// destroyed the worker before `on_all_errors` came, if it reaches the host thread after:
    /// `on_all_errors` receives it. Registered after the worker was
    /// destroyed (its constructor may panic before `spawn` returns), it receives the error that
    /// destroyed it, unless [`take_exit_error`](Worker::take_exit_error) took it.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use taskpool::{HandlerResult, Worker, WorkerHandler, WorkerPort};
    ///
    /// struct Picky;
    ///
    /// impl WorkerHandler for Picky {
    ///     type In = i32;
    ///     type Out = i32;
    ///
    ///     async fn on_message(&mut self, n: i32, port: &WorkerPort<i32>) -> HandlerResult {
    ///         if n < 0 {
    ///             return Err(format!("{n} is negative").into());
    ///         }
    ///         port.post_message(n)?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let worker = Worker::new(|| Picky).unwrap();
    /// let (errors, error) = mpsc::channel();
    /// worker.on_error(move |e| errors.send(e.to_string()).unwrap());
    /// worker.post_message(-1).unwrap();
    /// assert!(error.recv().unwrap().contains("-1 is negative"));
    /// assert_eq!(worker.wait_for_exit(), 1); // destroyed, as in ArkTS
    /// ```
    pub fn on_error(&self, callback: impl FnMut(Error) + Send + 'static) {
        self.register(Kind::Error, |c| c.on_error.replace(Box::new(callback)));
    }

    /// Calls `callback` on the host thread with every error or panic of the worker — from
    /// `on_message`, `on_message_error` or a task from
    /// [`spawn_local`](crate::WorkerPort::spawn_local) — and keeps the worker alive (ArkTS
    /// `onAllErrors`). Only a panic in the handler's constructor still ends it (there is no
    /// handler to go on with); registered after that, it receives that error as
    /// [`on_error`](Worker::on_error) would. Registered after any error destroyed the worker,
    /// it receives that error in `on_error`'s place if `on_error` has not received it yet.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use taskpool::{HandlerResult, Worker, WorkerHandler, WorkerPort};
    ///
    /// struct Fragile;
    ///
    /// impl WorkerHandler for Fragile {
    ///     type In = u8;
    ///     type Out = u8;
    ///
    ///     async fn on_message(&mut self, n: u8, port: &WorkerPort<u8>) -> HandlerResult {
    ///         assert!(n != 0, "zero is not allowed");
    ///         port.post_message(n)?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let worker = Worker::new(|| Fragile).unwrap();
    /// let (errors, error) = mpsc::channel();
    /// worker.on_all_errors(move |e| errors.send(e.to_string()).unwrap());
    /// worker.post_message(0).unwrap(); // panics: reported, and the worker lives on
    /// worker.post_message(5).unwrap();
    /// assert!(error.recv().unwrap().contains("zero is not allowed"));
    /// assert_eq!(worker.recv(), Some(5));
    /// ```
    pub fn on_all_errors(&self, callback: impl FnMut(Error) + Send + 'static) {
        self.register(Kind::AllErrors, |c| {
            c.on_all_errors.replace(Box::new(callback))
        });
    }

    /// Calls `callback` on the host thread once the worker thread ended (ArkTS `onexit`), with
    /// 0 for a normal end (terminated, closed, dropped) and 1 for an abnormal one (an error or
    /// panic destroyed it). Registered after the end, it is called at once (on the host
    /// thread). It runs at most once, and not for a worker detached by `Drop`. After it, the
    /// callbacks registered before the end are released (on the host thread): one may hold
    /// its own `Worker` without keeping the worker's threads alive.
    pub fn on_exit(&self, callback: impl FnOnce(i32) + Send + 'static) {
        self.register(Kind::Exit, |c| c.on_exit.replace(Box::new(callback)));
    }

    /// Removes every callback (ArkTS `off` / `removeAllListener`); later messages go to the
    /// receivers again and errors destroy the worker.
    pub fn clear_callbacks(&self) {
        let host = &self.link.host;
        let removed = {
            let mut callbacks = lock(&host.callbacks);
            host.clear_wanted();
            callbacks.clear()
        };
        // User closures whose `Drop` may panic: dropped outside the lock, one at a time.
        drop(removed);
    }

    /// Registers `object` under `name` so the worker can call its methods (ArkTS
    /// `registerGlobalCallObject`); replaces an object of the same name. The object and its
    /// methods live on the worker's host thread. The worker holds it until it is unregistered
    /// or the worker ends (released on the host thread after `on_exit`). 10200004 if the
    /// worker is not running.
    /// See [`WorkerPort::call_global_object_method`](crate::WorkerPort::call_global_object_method).
    pub fn register_global_call_object<S: Send + 'static>(
        &self,
        name: impl Into<String>,
        object: CallObject<S>,
    ) -> Result<()> {
        let refused = if !self.link.is_running() {
            Some(Error::WorkerNotRunning(self.link.name.clone()))
        } else {
            host_thread::ensure_started(&self.link);
            (!self.link.host.is_started()).then(|| {
                Error::WorkerInitialization(
                    "the system refused the worker's host thread".to_owned(),
                )
            })
        };
        if let Some(error) = refused {
            // Refused: the caller gets the error, not the panic of the object's `Drop`.
            crate::panic::drop_quietly(object);
            return Err(error);
        }
        let object: Box<dyn Callable> = Box::new(object);
        let name = name.into();
        let object = Arc::new(Mutex::new(object));
        let replaced = lock(&self.link.host.objects).insert(name.clone(), Arc::clone(&object));
        // User state whose `Drop` may panic: dropped outside the registry's lock.
        crate::panic::drop_quietly(replaced);
        // The worker may have ended since the check above, and its host thread released the
        // objects already (at the exit, which comes after the exit code is set): this one
        // would then be held until the `Worker` is dropped. Registered while the worker ran,
        // it is released as the exit releases the others.
        if self.link.exit_code().is_some() {
            let mut objects = lock(&self.link.host.objects);
            let ours = objects
                .get(&name)
                .is_some_and(|current| Arc::ptr_eq(current, &object));
            let taken = if ours { objects.remove(&name) } else { None };
            drop(objects);
            crate::panic::drop_quietly((object, taken));
        } else {
            drop(object); // the registry holds it
        }
        Ok(())
    }

    /// Unregisters the global call object `name`, or every one with `None` (ArkTS
    /// `unregisterGlobalCallObject`); no error if there is none. 10200004 if the worker is not
    /// running.
    pub fn unregister_global_call_object(&self, name: Option<&str>) -> Result<()> {
        if !self.link.is_running() {
            return Err(Error::WorkerNotRunning(self.link.name.clone()));
        }
        let removed: Vec<_> = {
            let mut objects = lock(&self.link.host.objects);
            match name {
                Some(name) => objects.remove(name).into_iter().collect(),
                None => objects.drain().map(|(_, object)| object).collect(),
            }
        };
        // User state whose `Drop` may panic: dropped outside the registry's lock, one at a
        // time. An object in use by a call right now is dropped when that call returns.
        crate::panic::drop_each_quietly(removed);
        Ok(())
    }

    /// Terminates the worker (ArkTS `terminate()`): it takes no further message, its handler
    /// is stopped at its next `.await` (or when its synchronous code returns), a global call it
    /// waits for returns 10200004, and it exits with code 0. The messages still queued for it
    /// are dropped by its exit (before [`wait_for_exit`](Worker::wait_for_exit) returns), and
    /// its global call objects are released after `on_exit`.
    ///
    /// 10200004 if it was not running — already terminated, failed, or closed by its handler —
    /// and then it **changes nothing**: a worker that called
    /// [`close`](crate::WorkerPort::close) finishes its current message, awaits included, as
    /// `close` promised (ArkTS: `terminate` on a worker that is not running throws 10200004).
    /// Only dropping the `Worker` stops a closing handler at its next `.await`.
    pub fn terminate(&self) -> Result<()> {
        self.link.terminate()
    }

    /// Whether the worker takes messages (not terminated, closing or ended).
    pub fn is_running(&self) -> bool {
        self.link.is_running()
    }

    /// The exit code once the worker thread ended: 0 normal, 1 abnormal.
    pub fn exit_code(&self) -> Option<i32> {
        self.link.exit_code()
    }

    /// Blocks until the worker thread ended and returns its exit code.
    /// On a pool thread, the thread counts as blocked meanwhile, and runs the pool's stranded
    /// work if no thread may be added for it (see [`recv`](Worker::recv)).
    ///
    /// # Panics
    ///
    /// Called from the worker's own thread (its handler holding its own `Worker`), which could
    /// never end while it waits: that is a bug of the handler, so it panics at once instead of
    /// hanging, and the panic is contained as any handler panic is (reported to `on_error`, the
    /// worker ends with exit code 1). [`wait_for_exit_timeout`](Worker::wait_for_exit_timeout)
    /// returns `None` there instead.
    pub fn wait_for_exit(&self) -> i32 {
        assert!(
            !self.on_worker_thread(),
            "worker {:?}: its handler called wait_for_exit on its own worker, which cannot exit while its thread waits; return from the handler (or call port.close()) instead",
            self.link.name
        );
        let code = if crate::pool::on_pool_thread() {
            // As `recv`: the wait may stand in for the pool's stranded work, which the worker
            // may be waiting for (a handler awaiting a task of this pool).
            crate::pool::block_until(None, |waker| self.link.poll_exit(waker))
        } else {
            self.link.wait_exit(None)
        };
        code.expect("waiting without a deadline returns the exit code")
    }

    /// Like [`wait_for_exit`](Worker::wait_for_exit), waiting at most `timeout`. Called from
    /// the worker's own thread, it returns `None` at once (the worker cannot exit while its
    /// thread waits) — or the code, if the worker had ended already.
    pub fn wait_for_exit_timeout(&self, timeout: Duration) -> Option<i32> {
        if self.on_worker_thread() {
            return self.link.exit_code();
        }
        crate::pool::block_in_place(|| self.link.wait_exit(Instant::now().checked_add(timeout)))
    }

    /// The error that destroyed the worker, if no `on_error` (or `on_all_errors`) callback took
    /// it. An error already on its way to an error callback that was then removed is kept when
    /// the host thread reaches it, after the callbacks queued before it: until then this
    /// returns `None`, even after [`wait_for_exit`](Worker::wait_for_exit).
    pub fn take_exit_error(&self) -> Option<Error> {
        self.link.take_exit_error()
    }

    /// How many messages could not be decoded so far, both ways (reported to
    /// [`on_message_error`](Worker::on_message_error) when registered).
    pub fn message_errors(&self) -> usize {
        self.link.message_errors.load(Ordering::Relaxed)
    }

    /// A cloneable, `Send + Sync` reference to post to this worker and terminate it from
    /// anywhere — a callback, another thread. It does not keep the worker alive.
    pub fn worker_ref(&self) -> WorkerRef<In> {
        WorkerRef {
            link: Arc::downgrade(&(Arc::clone(&self.link) as Arc<dyn HostSide<In>>)),
            name: self.link.name.clone(),
        }
    }
}

impl<In, Out> Worker<In, Out> {
    /// Whether the calling thread is this worker's own thread (its handler is calling).
    fn on_worker_thread(&self) -> bool {
        self.thread
            .as_ref()
            .is_some_and(|thread| thread.thread().id() == std::thread::current().id())
    }

    /// Who is calling, if it is one of this worker's own threads, where a wait for its
    /// messages could never end: its handler (only it sends them), or a callback on its host
    /// thread (the messages may be queued behind it).
    fn own_thread(&self) -> Option<&'static str> {
        if self.on_worker_thread() {
            Some("its handler")
        } else if self.link.host.is_current() {
            Some("a callback on its host thread")
        } else {
            None
        }
    }
}

impl<In, Out> Drop for Worker<In, Out> {
    /// Terminates the worker and joins its thread and its host thread, each within the join
    /// timeout (see the type's documentation). The callbacks and global call objects still
    /// registered (one registered after the worker's end, which the end does not release) are
    /// released as the host thread leaves — later, if the drop detached it or runs on it — or
    /// here if it never started, their `Drop` contained.
    fn drop(&mut self) {
        // Stronger than `terminate()`: a worker that closed itself is stopped at its next
        // `.await` too, so that its threads end.
        self.link.force_stop();
        let deadline = Instant::now().checked_add(self.join_timeout);
        // Inside a pool task the thread counts as blocked while it waits for the worker's
        // threads, so the pool may add one for the work behind it (which the handler may be
        // waiting for).
        crate::pool::block_in_place(|| {
            let on_own_thread = self.on_worker_thread();
            if let Some(thread) = self.thread.take() {
                if !on_own_thread && self.link.wait_exit(deadline).is_some() {
                    // Its exit is published, but its thread-local destructors (user code)
                    // may still run: joined within the same deadline, else left detached.
                    thread.join_until(deadline);
                } else {
                    // Detached: it ends when its handler returns. Receivers must not wait.
                    self.link.end_receivers_early();
                }
            }
            match self.link.host.stop(deadline) {
                // A host thread releases what is left as it leaves; one that never started
                // cannot: released now, not with the link (which one of them may hold).
                Stopped::Ended => self.link.host.release_all(),
                // The host thread is stuck in a callback, with the end of the messages maybe
                // queued behind it: the receivers (a stream may outlive the `Worker`) must not
                // wait for that callback.
                Stopped::Detached => self.link.end_receivers_early(),
                Stopped::Later => {}
            }
        });
    }
}

impl<In, Out> fmt::Debug for Worker<In, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("name", &self.link.name)
            .field("running", &self.link.is_running())
            .field("exit_code", &self.link.exit_code())
            .finish()
    }
}

/// The host's sending side of a link, with the worker's reply type erased.
trait HostSide<In>: Send + Sync {
    fn send(&self, envelope: Envelope<In>) -> Result<()>;
    fn terminate(&self) -> Result<()>;
    fn is_running(&self) -> bool;
    fn max_serialized_bytes(&self) -> usize;
}

impl<In: Send, Out: Send> HostSide<In> for Link<In, Out> {
    fn send(&self, envelope: Envelope<In>) -> Result<()> {
        self.send_to_worker(envelope)
    }
    fn terminate(&self) -> Result<()> {
        Link::terminate(self)
    }
    fn is_running(&self) -> bool {
        Link::is_running(self)
    }
    fn max_serialized_bytes(&self) -> usize {
        self.max_serialized_bytes
    }
}

/// A cloneable reference to a [`Worker`]'s inbound side: post messages to it and terminate it
/// from any thread, a callback included. It does not keep the worker alive: once the `Worker`
/// is dropped, every call fails with 10200004.
///
/// ```
/// use taskpool::{HandlerResult, Worker, WorkerHandler, WorkerPort};
///
/// struct Sum(u64);
///
/// impl WorkerHandler for Sum {
///     type In = u64;
///     type Out = u64;
///
///     async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
///         self.0 += n;
///         if n == 0 {
///             port.post_message(self.0)?;
///         }
///         Ok(())
///     }
/// }
///
/// let worker = Worker::new(|| Sum(0)).unwrap();
/// let senders: Vec<_> = (1..=4)
///     .map(|n| {
///         let to_worker = worker.worker_ref();
///         std::thread::spawn(move || to_worker.post_message(n).unwrap())
///     })
///     .collect();
/// senders.into_iter().for_each(|s| s.join().unwrap());
/// worker.post_message(0).unwrap();
/// assert_eq!(worker.recv(), Some(10));
/// let to_worker = worker.worker_ref();
/// drop(worker);
/// assert_eq!(to_worker.post_message(1).unwrap_err().code(), Some(10200004));
/// ```
pub struct WorkerRef<In> {
    link: std::sync::Weak<dyn HostSide<In>>,
    name: String,
}

impl<In> Clone for WorkerRef<In> {
    fn clone(&self) -> WorkerRef<In> {
        WorkerRef {
            link: self.link.clone(),
            name: self.name.clone(),
        }
    }
}

impl<In> fmt::Debug for WorkerRef<In> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerRef")
            .field("name", &self.name)
            .finish()
    }
}

impl<In: Transferable> WorkerRef<In> {
    fn link(&self) -> Result<Arc<dyn HostSide<In>>> {
        self.link
            .upgrade()
            .ok_or_else(|| Error::WorkerNotRunning(self.name.clone()))
    }

    /// The worker's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// As [`Worker::post_message`].
    pub fn post_message(&self, message: In) -> Result<()> {
        match self.link() {
            Ok(link) => link.send(Envelope::Moved(message)),
            Err(error) => {
                // Refused: the sender gets 10200004, not the panic of the message's `Drop`.
                crate::panic::drop_quietly(message);
                Err(error)
            }
        }
    }

    /// As [`Worker::post_message_serialized`].
    pub fn post_message_serialized(&self, message: &In) -> Result<()> {
        let link = self.link()?;
        if !link.is_running() {
            return Err(Error::WorkerNotRunning(self.name.clone()));
        }
        let payload = crate::worker::link::encode_message(message, link.max_serialized_bytes())?;
        link.send(Envelope::Serialized(payload))
    }

    /// As [`Worker::terminate`].
    pub fn terminate(&self) -> Result<()> {
        self.link()?.terminate()
    }

    /// As [`Worker::is_running`].
    pub fn is_running(&self) -> bool {
        self.link().is_ok_and(|link| link.is_running())
    }
}
