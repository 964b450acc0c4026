//! What a worker does: the [`WorkerHandler`] trait the user implements.

use std::future::Future;

use crate::error::{BoxError, Error};
use crate::worker::port::WorkerPort;

/// What a message handler returns: `Ok(())`, or an error the host hears about through
/// `on_error` (the worker is then destroyed) or `on_all_errors` (it lives on).
///
/// Any error type converts with `?`, [`taskpool::Error`](crate::Error) included.
pub type HandlerResult = Result<(), BoxError>;

/// The behaviour of a worker: the Rust form of an ArkTS worker file's `workerPort.onmessage`.
///
/// The handler is built **on the worker thread** by the `Send` constructor given to
/// [`Worker::new`](crate::Worker::new), and never leaves that thread. So its state may hold
/// values that are not `Send` — `Rc`, `RefCell`, a thread-bound client — which an ArkTS worker
/// cannot share with anything and a Rust thread pool cannot hold at all.
///
/// `on_message` may be written `async fn`: the worker thread runs a small single-threaded
/// executor, so the handler can `.await` a [`TaskHandle`](crate::TaskHandle) (a task on the
/// TaskPool), a timer or any waker-based future without blocking the thread. Messages are
/// handled **one at a time, in order**: the next message waits until this call returns, which
/// is what makes `&mut self` possible. To overlap work, start it with
/// [`WorkerPort::spawn_local`] and return.
///
/// A handler that never awaits is an `async fn` without `.await` (polled once, no overhead
/// worth counting), or a plain `fn` returning [`std::future::ready`].
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use taskpool::{HandlerResult, Worker, WorkerHandler, WorkerPort};
///
/// /// Counts the words it has seen; the history is an `Rc<RefCell<..>>`, never `Send`.
/// struct WordCounter {
///     history: Rc<RefCell<Vec<usize>>>,
/// }
///
/// impl WorkerHandler for WordCounter {
///     type In = String;
///     type Out = usize;
///
///     async fn on_message(&mut self, text: String, port: &WorkerPort<usize>) -> HandlerResult {
///         let words = text.split_whitespace().count();
///         self.history.borrow_mut().push(words);
///         port.post_message(self.history.borrow().iter().sum())?;
///         Ok(())
///     }
/// }
///
/// let worker = Worker::new(|| WordCounter { history: Rc::default() }).unwrap();
/// worker.post_message("one two three".to_owned()).unwrap();
/// worker.post_message("four five".to_owned()).unwrap();
/// assert_eq!(worker.recv(), Some(3));
/// assert_eq!(worker.recv(), Some(5));
/// ```
pub trait WorkerHandler: 'static {
    /// What the host sends. It must be [`Transferable`](crate::Transferable): [`Worker::new`](crate::Worker::new)
    /// requires it, so a type that cannot cross threads is a compile error there, with the
    /// `Transferable` message ("… cannot cross threads as a task argument, a task result or a
    /// worker message").
    type In;
    /// What the worker sends back; [`Transferable`](crate::Transferable) too.
    type Out;

    /// Handles one message from the host (ArkTS `workerPort.onmessage`). Reply with
    /// `port.post_message`. An `Err` or a panic is reported to the host.
    fn on_message(
        &mut self,
        message: Self::In,
        port: &WorkerPort<Self::Out>,
    ) -> impl Future<Output = HandlerResult>;

    /// A serialized message from the host could not be decoded as [`Self::In`]
    /// (ArkTS `workerPort.onmessageerror`). The host's `on_message_error` hears about it too.
    /// The default does nothing; an `Err` is reported like one from `on_message`.
    fn on_message_error(&mut self, error: Error, port: &WorkerPort<Self::Out>) -> HandlerResult {
        let _ = (error, port);
        Ok(())
    }
}
