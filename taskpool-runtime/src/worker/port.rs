//! The worker side: [`WorkerPort`], the handler's way to reply (at the front of the host's
//! queue too), close, call the host and spawn local tasks (ArkTS `workerPort`).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::executor::LocalSpawner;
use futures::task::LocalSpawnExt;

use crate::codec::Payload;
use crate::error::{Error, Result};
use crate::function::Transferable;
use crate::panic;
use crate::sync::Arc;
use crate::worker::call_object;
use crate::worker::handler::HandlerResult;
use crate::worker::inbox::{MessagePriority, Position};
use crate::worker::link::Link;

/// The worker thread's view of its link, with the host's message type erased (a port only
/// knows what it sends).
pub(crate) trait WorkerSide<Out>: Send + Sync {
    fn name(&self) -> &str;
    fn max_serialized_bytes(&self) -> usize;
    fn is_closing(&self) -> bool;
    fn is_terminating(&self) -> bool;
    fn close(&self) -> Result<()>;
    fn deliver_message(&self, message: Out, position: Position);
    fn deliver_message_error(&self, error: Error);
    fn wake_loop(&self);
    fn call(&self, object: &str, method: &str, timeout: Duration, args: Payload)
    -> Result<Payload>;
}

impl<In: Send, Out: Send> WorkerSide<Out> for Link<In, Out> {
    fn name(&self) -> &str {
        &self.name
    }
    fn max_serialized_bytes(&self) -> usize {
        self.max_serialized_bytes
    }
    fn is_closing(&self) -> bool {
        Link::is_closing(self)
    }
    fn is_terminating(&self) -> bool {
        Link::is_terminating(self)
    }
    fn close(&self) -> Result<()> {
        Link::close(self)
    }
    fn deliver_message(&self, message: Out, position: Position) {
        Link::deliver_message(self, message, position)
    }
    fn deliver_message_error(&self, error: Error) {
        Link::deliver_message_error(self, error)
    }
    fn wake_loop(&self) {
        Link::wake_worker(self)
    }
    fn call(
        &self,
        object: &str,
        method: &str,
        timeout: Duration,
        args: Payload,
    ) -> Result<Payload> {
        call_object::call(self, object, method, timeout, args)
    }
}

/// A task from [`WorkerPort::spawn_local`] on the worker's executor: its `Err`, its panic, and
/// a panic of its `Drop` (user code: when it completes, or when the executor is dropped with
/// it at the worker's end) become failures for the event loop to report. Dropped by the
/// executor as one batch, an escaping `Drop` panic left every task after it undropped for good
/// (whatever they held: a channel's sender, a buffer), and one of a completed task ended the
/// whole loop.
struct Spawned<F, Out> {
    task: Option<std::pin::Pin<Box<F>>>,
    failures: Rc<Failures>,
    link: Arc<dyn WorkerSide<Out>>,
}

impl<F, Out> Spawned<F, Out> {
    /// Queues `error` for the event loop and wakes it.
    fn report(&self, error: Error) {
        self.failures.0.borrow_mut().push_back(error);
        self.link.wake_loop();
    }

    /// Drops the task, if still there; a panic of its `Drop` as an error.
    fn drop_task(&mut self) -> Option<Error> {
        let task = self.task.take()?;
        let payload = panic::catch(move || drop(task)).err()?;
        Some(Error::WorkerPanicked {
            worker: self.link.name().to_owned(),
            message: format!(
                "a task from spawn_local panicked when dropped: {}",
                panic::message(payload)
            ),
        })
    }
}

impl<F: Future<Output = HandlerResult>, Out> Future for Spawned<F, Out> {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Every field is `Unpin` (the task is boxed).
        let this = self.get_mut();
        let Some(task) = this.task.as_mut() else {
            return Poll::Ready(());
        };
        let failed = match panic::catch(|| task.as_mut().poll(cx)) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Ok(()))) => None,
            Ok(Poll::Ready(Err(source))) => Some(Error::WorkerFailed {
                worker: this.link.name().to_owned(),
                source,
            }),
            Err(payload) => Some(Error::WorkerPanicked {
                worker: this.link.name().to_owned(),
                message: panic::message(payload),
            }),
        };
        let dropped = this.drop_task();
        for error in failed.into_iter().chain(dropped) {
            this.report(error);
        }
        Poll::Ready(())
    }
}

impl<F, Out> Drop for Spawned<F, Out> {
    fn drop(&mut self) {
        if let Some(error) = self.drop_task() {
            self.report(error);
        }
    }
}

/// Errors of tasks spawned with [`WorkerPort::spawn_local`], for the event loop to report.
#[derive(Default)]
pub(crate) struct Failures(RefCell<VecDeque<Error>>);

impl Failures {
    pub(crate) fn take(&self) -> Option<Error> {
        self.0.borrow_mut().pop_front()
    }
}

struct PortInner<Out> {
    link: Arc<dyn WorkerSide<Out>>,
    spawner: LocalSpawner,
    failures: Rc<Failures>,
}

/// The worker's end of the link (ArkTS `workerPort`): reply to the host, close the worker,
/// call the host's global call objects, and spawn local tasks.
///
/// A port belongs to its worker thread (it is `!Send`); clone it into the tasks you
/// [`spawn_local`](WorkerPort::spawn_local).
///
/// ```
/// use taskpool::{HandlerResult, Worker, WorkerHandler, WorkerPort};
///
/// struct Once;
///
/// impl WorkerHandler for Once {
///     type In = u32;
///     type Out = u32;
///
///     async fn on_message(&mut self, n: u32, port: &WorkerPort<u32>) -> HandlerResult {
///         port.post_message(n + 1)?;
///         port.close()?; // one message, then the worker ends (exit code 0)
///         Ok(())
///     }
/// }
///
/// let worker = Worker::new(|| Once).unwrap();
/// worker.post_message(41).unwrap();
/// assert_eq!(worker.recv(), Some(42));
/// assert_eq!(worker.recv(), None); // closed
/// assert_eq!(worker.wait_for_exit(), 0);
/// ```
pub struct WorkerPort<Out> {
    inner: Rc<PortInner<Out>>,
}

impl<Out> Clone for WorkerPort<Out> {
    fn clone(&self) -> WorkerPort<Out> {
        WorkerPort {
            inner: Rc::clone(&self.inner),
        }
    }
}

impl<Out> fmt::Debug for WorkerPort<Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerPort")
            .field("worker", &self.inner.link.name())
            .field("closing", &self.inner.link.is_closing())
            .finish()
    }
}

impl<Out: Transferable> WorkerPort<Out> {
    pub(crate) fn new(
        link: Arc<dyn WorkerSide<Out>>,
        spawner: LocalSpawner,
        failures: Rc<Failures>,
    ) -> WorkerPort<Out> {
        WorkerPort {
            inner: Rc::new(PortInner {
                link,
                spawner,
                failures,
            }),
        }
    }

    fn link(&self) -> &dyn WorkerSide<Out> {
        &*self.inner.link
    }

    fn check_open(&self) -> Result<()> {
        if self.link().is_terminating() {
            Err(Error::WorkerNotRunning(self.link().name().to_owned()))
        } else {
            Ok(())
        }
    }

    /// The worker's name.
    pub fn name(&self) -> &str {
        self.link().name()
    }

    /// Sends `message` to the host, **moved**: no copy, no serialization, no size cap. A
    /// [`Shared<T>`](crate::Shared) inside it stays shared (ArkTS
    /// `postMessageWithSharedSendable`). It joins the back of the host's queue, in the
    /// [`High`](MessagePriority::High) class (ArkTS: a normal `postMessage` has the priority
    /// HIGH); see [`post_message_at_front`](WorkerPort::post_message_at_front).
    ///
    /// Fails with 10200004 once the host terminated the worker (or dropped its `Worker`). A
    /// worker that closed itself may still reply until its handler returns.
    pub fn post_message(&self, message: Out) -> Result<()> {
        self.post(message, Position::Back)
    }

    /// Sends `message` to the host, **moved**, at the **front** of the messages of class
    /// `priority` still waiting for it (ArkTS `workerPort.postMessageAtFront(message,
    /// priority)`, API 26): the host takes it before them — before an at-front message of that
    /// class sent earlier too — though never before one it is already handling.
    ///
    /// The classes go [`Immediate`](MessagePriority::Immediate) first, then
    /// [`High`](MessagePriority::High) — where every plain
    /// [`post_message`](WorkerPort::post_message) waits, behind the at-front ones —, then
    /// [`Low`](MessagePriority::Low), then [`Idle`](MessagePriority::Idle), taken only once no
    /// other message waits. This holds for the host's `on_message` callback as for
    /// [`recv`](crate::Worker::recv) and the [stream](crate::Worker::messages): whoever takes
    /// the next message gets the first one waiting. The host's other events (errors, the exit)
    /// keep their place among its messages: an error reported between two messages is still
    /// heard after the first message taken and before the second, whichever messages those are
    /// then, and every message is taken before the exit.
    ///
    /// Fails as [`post_message`](WorkerPort::post_message) does: 10200004 once the host
    /// terminated the worker; a worker that closed itself may still post until its handler
    /// returns. The priority is a type, so ArkTS's parameter error (401) cannot occur.
    ///
    /// ```
    /// use taskpool::{HandlerResult, MessagePriority, Worker, WorkerHandler, WorkerPort};
    ///
    /// struct Progress;
    ///
    /// impl WorkerHandler for Progress {
    ///     type In = ();
    ///     type Out = String;
    ///
    ///     async fn on_message(&mut self, (): (), port: &WorkerPort<String>) -> HandlerResult {
    ///         port.post_message("step 1".into())?;
    ///         port.post_message("step 2".into())?;
    ///         port.post_message_at_front("cancel requested".into(), MessagePriority::High)?;
    ///         port.post_message_at_front("log".into(), MessagePriority::Idle)?;
    ///         port.close()?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let worker = Worker::new(|| Progress).unwrap();
    /// worker.post_message(()).unwrap();
    /// worker.wait_for_exit(); // every message is waiting now: the host was not taking any
    /// let order: Vec<_> = std::iter::from_fn(|| worker.recv()).collect();
    /// assert_eq!(order, ["cancel requested", "step 1", "step 2", "log"]);
    /// ```
    pub fn post_message_at_front(&self, message: Out, priority: MessagePriority) -> Result<()> {
        self.post(message, Position::Front(priority))
    }

    fn post(&self, message: Out, position: Position) -> Result<()> {
        if let Err(error) = self.check_open() {
            // Refused: the handler gets 10200004, not the panic of the message's `Drop` (which
            // would turn the terminated worker's normal exit into a failure).
            panic::drop_quietly(message);
            return Err(error);
        }
        self.link().deliver_message(message, position);
        Ok(())
    }

    /// Sends a serialized **copy** of `message` (ArkTS `postMessage` without a transfer list).
    /// Fails with 10200006 if it cannot be serialized or is over the worker's
    /// [`max_serialized_bytes`](crate::WorkerBuilder::max_serialized_bytes) (16 MiB by default).
    pub fn post_message_serialized(&self, message: &Out) -> Result<()> {
        self.post_serialized(message, Position::Back)
    }

    /// Sends a serialized **copy** of `message` at the front of the messages of class
    /// `priority` waiting for the host (ArkTS `postMessageAtFront` without a transfer list): the
    /// order of [`post_message_at_front`](WorkerPort::post_message_at_front), the errors of
    /// [`post_message_serialized`](WorkerPort::post_message_serialized) (10200006, and nothing
    /// is sent).
    pub fn post_message_serialized_at_front(
        &self,
        message: &Out,
        priority: MessagePriority,
    ) -> Result<()> {
        self.post_serialized(message, Position::Front(priority))
    }

    fn post_serialized(&self, message: &Out, position: Position) -> Result<()> {
        self.check_open()?;
        let payload =
            crate::worker::link::encode_message(message, self.link().max_serialized_bytes())?;
        self.deliver_payload(payload, position);
        Ok(())
    }

    /// Sends a message that is already serialized (bytes from elsewhere, a log, another
    /// process). Over the cap: 10200006. If it does not decode as `Out`, the host's
    /// `on_message_error` hears about it instead of a message arriving.
    pub fn post_payload(&self, payload: Payload) -> Result<()> {
        self.post_payload_to(payload, Position::Back)
    }

    /// [`post_payload`](WorkerPort::post_payload) at the front of the messages of class
    /// `priority` waiting for the host (see
    /// [`post_message_at_front`](WorkerPort::post_message_at_front)). A payload that does not
    /// decode is reported to `on_message_error` at once, as with `post_payload`: it never waits
    /// in the queue.
    pub fn post_payload_at_front(&self, payload: Payload, priority: MessagePriority) -> Result<()> {
        self.post_payload_to(payload, Position::Front(priority))
    }

    fn post_payload_to(&self, payload: Payload, position: Position) -> Result<()> {
        self.check_open()?;
        payload.check_size(self.link().max_serialized_bytes())?;
        self.deliver_payload(payload, position);
        Ok(())
    }

    fn deliver_payload(&self, payload: Payload, position: Position) {
        match payload.decode() {
            Ok(message) => self.link().deliver_message(message, position),
            Err(error) => self.link().deliver_message_error(error),
        }
    }

    /// Closes the worker from inside (ArkTS `workerPort.close()`): the current message is
    /// handled to the end (awaits included), no other is taken, and the worker exits with
    /// code 0. Tasks spawned with [`spawn_local`](WorkerPort::spawn_local) are dropped then, and
    /// so are the messages still queued for the worker (before its exit is published).
    /// 10200004 if it is already closing or terminated.
    pub fn close(&self) -> Result<()> {
        self.link().close()
    }

    /// Whether the worker takes no further message: it closed itself, or the host terminated it.
    pub fn is_closing(&self) -> bool {
        self.link().is_closing()
    }

    /// Whether the host terminated the worker. The handler is stopped at its next `.await`;
    /// long synchronous code can check this and return early (Rust cannot stop a thread).
    pub fn is_terminating(&self) -> bool {
        self.link().is_terminating()
    }

    /// Runs `task` on the worker thread, beside the handler, until it completes or the worker
    /// ends. It may hold `Rc`s and the port itself. An `Err` or a panic — of its `Drop` too —
    /// is reported to the host like one from `on_message` (and destroys the worker unless the
    /// host registered `on_all_errors`); at the worker's end, each task left is dropped on its
    /// own, and a panic of its `Drop` is not reported, as any failure the end cut short. This is how a handler overlaps work: messages are otherwise handled
    /// one at a time.
    ///
    /// ```
    /// use taskpool::{HandlerResult, Worker, WorkerHandler, WorkerPort};
    ///
    /// struct Later;
    ///
    /// impl WorkerHandler for Later {
    ///     type In = u8;
    ///     type Out = u8;
    ///
    ///     async fn on_message(&mut self, n: u8, port: &WorkerPort<u8>) -> HandlerResult {
    ///         let port2 = port.clone();
    ///         port.spawn_local(async move {
    ///             port2.post_message(n * 2)?;
    ///             Ok(())
    ///         });
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let worker = Worker::new(|| Later).unwrap();
    /// worker.post_message(21).unwrap();
    /// assert_eq!(worker.recv(), Some(42));
    /// ```
    pub fn spawn_local(&self, task: impl Future<Output = HandlerResult> + 'static) {
        let task = Spawned {
            task: Some(Box::pin(task)),
            failures: Rc::clone(&self.inner.failures),
            link: Arc::clone(&self.inner.link),
        };
        // Fails only once the worker's executor is gone: the worker is ending anyway (the task
        // is dropped here, its `Drop` contained by `Spawned`).
        let _ = self.inner.spawner.spawn_local(task);
    }

    /// Calls method `method` of the host's global call object `object` and waits for its
    /// result (ArkTS `workerPort.callGlobalCallObjectMethod`). The call runs on the worker's host
    /// thread; this thread waits at most `timeout` (zero means the maximum,
    /// [`MAX_GLOBAL_CALL_TIMEOUT`](crate::MAX_GLOBAL_CALL_TIMEOUT), 5 s; longer is capped).
    ///
    /// `args` is one value (a tuple for several, `()` for none); it and the result cross as
    /// serialized copies. Errors: 10200019 (no such object), 10200020 (no such method),
    /// 10200021 (no answer in time), 10200006 (a value that does not serialize, decode or fit
    /// the cap), 10200004 (the host terminated the worker or dropped its `Worker`, before or during
    /// the call: the wait ends then, it does not sit out the timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskpool::{CallObject, HandlerResult, Worker, WorkerHandler, WorkerPort};
    ///
    /// struct AskHost;
    ///
    /// impl WorkerHandler for AskHost {
    ///     type In = String;
    ///     type Out = String;
    ///
    ///     async fn on_message(&mut self, name: String, port: &WorkerPort<String>) -> HandlerResult {
    ///         let reply: String =
    ///             port.call_global_object_method("greeter", "greet", Duration::ZERO, name)?;
    ///         port.post_message(reply)?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let worker = Worker::new(|| AskHost).unwrap();
    /// let greeter = CallObject::new("hello".to_owned())
    ///     .method("greet", |greeting: &mut String, name: String| format!("{greeting} {name}"));
    /// worker.register_global_call_object("greeter", greeter).unwrap();
    /// worker.post_message("world".to_owned()).unwrap();
    /// assert_eq!(worker.recv().as_deref(), Some("hello world"));
    /// ```
    pub fn call_global_object_method<A: Transferable, R: Transferable>(
        &self,
        object: &str,
        method: &str,
        timeout: Duration,
        args: A,
    ) -> Result<R> {
        self.check_open()?;
        let args = crate::worker::link::encode_message(&args, self.link().max_serialized_bytes())?;
        self.link().call(object, method, timeout, args)?.decode()
    }
}
