//! The worker thread: builds the handler, then runs its message loop on a single-threaded
//! executor (`futures`' `LocalPool`), so that an `async` handler can `.await` — a TaskPool
//! task, a timer — without blocking the thread, and tasks it spawns may hold `!Send` values.
//!
//! The loop takes one message at a time. While the handler is suspended, the executor parks
//! the thread; it is woken by the awaited future, by a new message, or by a stop request. A
//! `terminate()` drops the handler's future at its `.await` (Rust's cancellation) and ends the
//! loop; `close()` from inside lets the current message finish first. Every call into user code
//! is wrapped in `catch_unwind`: a panic becomes an error event, never a lost thread.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use futures::executor::LocalPool;

use crate::error::Error;
use crate::function::Transferable;
use crate::panic;
use crate::pool::ThreadHold;
use crate::sync::Arc;
use crate::worker::handler::{HandlerResult, WorkerHandler};
use crate::worker::limit::Slot;
use crate::worker::link::{Envelope, Link};
use crate::worker::port::{Failures, WorkerPort};

/// Exit code of a worker that ended normally (terminated, closed, its `Worker` dropped).
pub(crate) const EXIT_NORMAL: i32 = 0;
/// Exit code of a worker destroyed by an error or a panic.
pub(crate) const EXIT_ABNORMAL: i32 = 1;

/// The body of a worker thread. The live-worker slot and the pool-thread hold are given back
/// before the exit is published, so that a host that saw the exit can start another worker.
pub(crate) fn run<H, F>(
    link: Arc<Link<H::In, H::Out>>,
    constructor: F,
    slot: Slot,
    hold: Option<ThreadHold>,
) where
    H: WorkerHandler<In: Transferable, Out: Transferable>,
    F: FnOnce() -> H,
{
    // Declared first, dropped last: whatever happens, the exit is published after the slot and
    // the hold are given back, and receivers never wait for a thread that is gone.
    let mut finish = Finish {
        link: &link,
        code: EXIT_ABNORMAL,
    };
    let slot = slot;
    let hold = hold;
    finish.code = serve(&link, constructor);
    drop(hold);
    drop(slot);
}

/// Publishes the worker's exit when the thread's body ends, normally or not.
struct Finish<'a, In, Out> {
    link: &'a Link<In, Out>,
    code: i32,
}

impl<In, Out> Drop for Finish<'_, In, Out> {
    fn drop(&mut self) {
        self.link.finish(self.code);
    }
}

fn serve<H, F>(link: &Arc<Link<H::In, H::Out>>, constructor: F) -> i32
where
    H: WorkerHandler<In: Transferable, Out: Transferable>,
    F: FnOnce() -> H,
{
    let mut executor = LocalPool::new();
    let failures = Rc::new(Failures::default());
    let port = WorkerPort::new(
        Arc::clone(link) as Arc<_>,
        executor.spawner(),
        Rc::clone(&failures),
    );
    let code = match panic::catch(constructor) {
        Ok(mut handler) => {
            // The loop contains the handler's panics; this catches the rest (a `Drop` of the
            // handler's future that panics when it is dropped).
            let looped = panic::catch(|| {
                executor.run_until(message_loop(&mut handler, &port, link, &failures))
            });
            let code = match looped {
                Ok(code) => code,
                Err(payload) => {
                    link.deliver_error(panicked(link, payload));
                    EXIT_ABNORMAL
                }
            };
            match panic::catch(move || drop(handler)) {
                Ok(()) => code,
                Err(payload) => {
                    link.deliver_error(panicked(link, payload));
                    EXIT_ABNORMAL
                }
            }
        }
        Err(payload) => {
            // No handler: the worker cannot go on, whatever the error mode.
            link.deliver_error(panicked(link, payload));
            EXIT_ABNORMAL
        }
    };
    drop(port);
    // Tasks still spawned are dropped here, where they wait, each on its own: a panic of one's
    // `Drop` is a failure (`port::Spawned`), left unreported below as any failure of a task the
    // end of the worker cut short.
    panic::drop_quietly(executor);
    // Failures of spawned tasks never reported (the worker was terminated meanwhile) hold the
    // tasks' own error values, whose `Drop` may panic: one at a time, contained — dropped with
    // the queue, such a panic escaped the worker thread and made a normal exit abnormal.
    while let Some(unreported) = failures.take() {
        panic::drop_quietly(unreported);
    }
    code
}

fn panicked<In, Out>(link: &Link<In, Out>, payload: panic::Payload) -> Error {
    Error::WorkerPanicked {
        worker: link.name.clone(),
        message: panic::message(payload),
    }
}

fn failed<In, Out>(link: &Link<In, Out>, source: crate::BoxError) -> Error {
    Error::WorkerFailed {
        worker: link.name.clone(),
        source,
    }
}

/// What woke the idle loop.
enum Next<In> {
    Message(Envelope<In>),
    /// A task spawned with `spawn_local` failed.
    Failure(Error),
    /// Closed or terminated: take no further message.
    Stop,
}

/// How one `on_message` call ended.
enum Handled {
    Returned(HandlerResult),
    Panicked(panic::Payload),
    /// Terminated while it ran: its future was dropped.
    Terminated,
    /// A spawned task failed meanwhile and the worker must be destroyed.
    Destroyed,
}

/// Takes messages one at a time until the worker is closed, terminated or destroyed; returns
/// the exit code.
async fn message_loop<H: WorkerHandler<In: Transferable, Out: Transferable>>(
    handler: &mut H,
    port: &WorkerPort<H::Out>,
    link: &Link<H::In, H::Out>,
    failures: &Failures,
) -> i32 {
    loop {
        let next = poll_fn(|cx| {
            // Terminated: a spawned task that failed meanwhile (typically because its reply was
            // refused with 10200004) is not reported; the worker ends normally.
            if link.is_terminating() {
                return Poll::Ready(Next::Stop);
            }
            if let Some(error) = failures.take() {
                return Poll::Ready(Next::Failure(error));
            }
            // A stop request wins over queued messages (they are dropped with the link).
            if link.is_closing() {
                return Poll::Ready(Next::Stop);
            }
            // `next_from_host` registers the waker before its last look, and the state is read
            // again after that: a request or a message that lands later wakes the loop.
            let envelope = link.next_from_host(cx.waker());
            if link.is_closing() {
                // Taken after all: a user value whose `Drop` may panic.
                panic::drop_quietly(envelope);
                return Poll::Ready(Next::Stop);
            }
            match envelope {
                Some(envelope) => Poll::Ready(Next::Message(envelope)),
                None => Poll::Pending,
            }
        })
        .await;
        let message = match next {
            Next::Stop => return EXIT_NORMAL,
            Next::Failure(error) => {
                if link.deliver_error(error) {
                    continue;
                }
                return EXIT_ABNORMAL;
            }
            Next::Message(Envelope::Moved(message)) => message,
            // Decoding runs the message type's `Deserialize`: user code, whose panic is a
            // message that does not decode (10200006, naming the panic), as a malformed one is.
            Next::Message(Envelope::Serialized(payload)) => match payload.decode() {
                Ok(message) => message,
                Err(error) => {
                    link.deliver_message_error(duplicate(&error));
                    let outcome = match panic::catch(|| handler.on_message_error(error, port)) {
                        Ok(result) => Handled::Returned(result),
                        Err(payload) => Handled::Panicked(payload),
                    };
                    if !settle(link, outcome) {
                        return EXIT_ABNORMAL;
                    }
                    continue;
                }
            },
        };
        let outcome = handle(handler, message, port, link, failures).await;
        if matches!(outcome, Handled::Terminated) {
            return EXIT_NORMAL;
        }
        if !settle(link, outcome) {
            return EXIT_ABNORMAL;
        }
    }
}

/// Runs one `on_message` call to its end, unless the worker is terminated meanwhile.
async fn handle<H: WorkerHandler<In: Transferable, Out: Transferable>>(
    handler: &mut H,
    message: H::In,
    port: &WorkerPort<H::Out>,
    link: &Link<H::In, H::Out>,
    failures: &Failures,
) -> Handled {
    // A handler written as a plain `fn` runs its body here: it is user code too.
    let future = match panic::catch(|| handler.on_message(message, port)) {
        Ok(future) => future,
        Err(payload) => return Handled::Panicked(payload),
    };
    // In an `Option`, so that a terminated call's future can be dropped where it waits with
    // its `Drop` contained (`stop`), rather than at the end of this function.
    let mut future = pin!(Some(future));
    let handled = poll_fn(|cx| {
        if link.is_terminating() {
            return Poll::Ready(Handled::Terminated);
        }
        while let Some(error) = failures.take() {
            if !link.deliver_error(error) {
                return Poll::Ready(Handled::Destroyed);
            }
        }
        let Some(running) = future.as_mut().as_pin_mut() else {
            // Never: the future is only taken out once this `poll_fn` is ready.
            return Poll::Ready(Handled::Terminated);
        };
        match panic::catch(|| running.poll(cx)) {
            // Terminated while this poll ran: its outcome is dropped, as the future would have
            // been at its next `.await` — an `Err` is most likely the reply `?` refused with
            // 10200004, and a terminated worker ends normally (exit code 0), not with an error.
            // The outcome is a user value (the handler's own error) whose `Drop` may panic:
            // contained, as a refused reply's is, so that the exit stays normal.
            Ok(Poll::Ready(outcome)) if link.is_terminating() => {
                panic::drop_quietly(outcome);
                Poll::Ready(Handled::Terminated)
            }
            Ok(Poll::Ready(result)) => Poll::Ready(Handled::Returned(result)),
            Ok(Poll::Pending) => {
                // Suspended: a stop request or a failing spawned task must wake the loop.
                // Registered, then checked (the request stores the state, then wakes).
                link.register_worker_waker(cx.waker());
                if link.is_terminating() {
                    Poll::Ready(Handled::Terminated)
                } else {
                    Poll::Pending
                }
            }
            Err(payload) => Poll::Ready(Handled::Panicked(payload)),
        }
    })
    .await;
    if let Handled::Terminated = handled {
        // What the handler holds at its `.await` is user code too: a panic of its `Drop` is no
        // error of a terminated worker (exit code 0), as for an outcome `terminate()` made moot.
        if let Err(payload) = panic::catch(|| future.as_mut().set(None)) {
            panic::message(payload);
        }
    }
    handled
}

/// Reports a failed call; false if the worker must now end (no `on_all_errors`).
fn settle<In, Out>(link: &Link<In, Out>, outcome: Handled) -> bool {
    match outcome {
        Handled::Returned(Ok(())) => true,
        Handled::Returned(Err(source)) => link.deliver_error(failed(link, source)),
        Handled::Panicked(payload) => link.deliver_error(panicked(link, payload)),
        Handled::Terminated => true,
        Handled::Destroyed => false,
    }
}

/// A second copy of a decoding error, for the host and the handler (decoding only fails with
/// serialization errors).
fn duplicate(error: &Error) -> Error {
    Error::Serialization(match error {
        Error::Serialization(reason) => reason.clone(),
        other => other.to_string(),
    })
}
