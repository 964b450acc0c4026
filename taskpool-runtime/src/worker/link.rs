//! What the host and the worker thread share: the two message channels, the worker's state,
//! its exit, and the host thread that runs callbacks.
//!
//! Host → worker: a `crossbeam-channel` of [`Envelope`]s plus an `AtomicWaker`, so the worker's
//! event loop (an async executor) sleeps until a message or a stop request arrives.
//! Worker → host: the messages wait in the [`Inbox`], most urgent first (`post_message_at_front`
//! may put one ahead of those waiting), and a `crossbeam-channel` of [`ToHost`] tokens, one per
//! message, tells the receivers — the blocking `recv`, `recv_timeout` and the `Stream` (whose
//! wakers are kept here) — that one is there; each message is pushed before its token is sent,
//! so a receiver that takes a token always finds a message (the first one then). The worker's
//! end is an explicit [`ToHost::End`] token rather than a disconnection, so that a port the
//! handler leaked can never keep a receiver waiting; the first receiver to see `End` puts it
//! back, so every receiver, now or later, sees it.

use std::task::Waker;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use futures::task::AtomicWaker;

use crate::codec::Payload;
use crate::error::{Error, Result};
use crate::panic::{drop_each_quietly, drop_quietly};
use crate::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering, fence};
use crate::sync::{Mutex, lock};
use crate::waker_offer::with_offer;
use crate::worker::exit::ExitRecord;
use crate::worker::host_thread::{ErrorCallbacks, HostJob, HostThread, Kind};
use crate::worker::inbox::{Inbox, Place, Position, Route};

/// A message in flight: moved (no copy), or serialized (copied, within the size cap).
pub(crate) enum Envelope<M> {
    Moved(M),
    Serialized(Payload),
}

/// What the worker sends to the host's receivers: tokens, the messages themselves wait in the
/// [`Inbox`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToHost {
    /// A message waits in the inbox for the receivers: the one who takes this token takes the
    /// first of them.
    Message,
    /// The worker ended: no message follows.
    End,
}

/// The worker runs and takes messages.
const RUNNING: u8 = 0;
/// The handler called `close()`: the current message is finished, no other is taken.
const CLOSING: u8 = 1;
/// The host called `terminate()` (or dropped the `Worker`), or the handler failed: the worker
/// stops at its next `.await` or when its synchronous code returns.
const TERMINATING: u8 = 2;
/// The worker thread ended.
const EXITED: u8 = 3;

pub(crate) struct Link<In, Out> {
    pub(crate) name: String,
    pub(crate) max_serialized_bytes: usize,
    /// The stack size of the worker's thread; its host thread, which runs the host's
    /// callbacks, takes at least the default (`pool::host_code_stack_size`).
    pub(crate) stack_size: usize,
    /// Only ever increases: RUNNING → CLOSING → TERMINATING → EXITED. `terminate()` and
    /// `close()` move it only from RUNNING ([`request`]); a drop, a failure and the exit move it
    /// up from anywhere (`fetch_max`).
    state: AtomicU8,
    /// Dropped when the state reaches TERMINATING, so that `stop_rx` disconnects.
    stop_tx: Mutex<Option<Sender<()>>>,
    stop_rx: Receiver<()>,
    to_worker: Sender<Envelope<In>>,
    from_host: Receiver<Envelope<In>>,
    /// The worker loop's waker: woken by stop requests, failures of spawned tasks, and by a
    /// message when `worker_waiting` says the loop found none.
    worker_waker: AtomicWaker,
    worker_waiting: AtomicBool,
    to_host: Sender<ToHost>,
    from_worker: Receiver<ToHost>,
    /// The messages sent to the host and not taken yet, each at its place; the tokens of the
    /// receivers' route travel on `to_host`, those of the callback's route on the host thread's
    /// queue.
    pub(crate) inbox: Inbox<Out>,
    /// Wakers of host-side streams waiting for a message, one per stream (by its id), so that
    /// a stream dropped while it waited takes its waker back; `stream_waiting` mirrors whether
    /// there are any, so that the worker skips the lock when nobody streams.
    stream_wakers: Mutex<Vec<(usize, Waker)>>,
    stream_waiting: AtomicBool,
    /// The `Worker` was dropped without waiting for one of its threads, and ended the receivers
    /// at once: the messages its host thread hands over later would land behind that end, and
    /// be received after it. Held while the host thread hands a message over, so that each
    /// either lands before the end or is dropped.
    ended_early: Mutex<bool>,
    /// The id of the next stream (or pool-thread receive) that registers wakers.
    next_stream: AtomicUsize,
    exit: ExitRecord,
    pub(crate) host: HostThread<Out>,
    /// Undecodable messages seen (both directions), for tests and diagnostics.
    pub(crate) message_errors: AtomicUsize,
}

impl<In, Out> Link<In, Out> {
    pub(crate) fn new(
        name: String,
        max_serialized_bytes: usize,
        stack_size: usize,
    ) -> Link<In, Out> {
        let (to_worker, from_host) = crossbeam_channel::unbounded();
        let (to_host, from_worker) = crossbeam_channel::unbounded();
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(0);
        Link {
            name,
            max_serialized_bytes,
            stack_size,
            state: AtomicU8::new(RUNNING),
            stop_tx: Mutex::new(Some(stop_tx)),
            stop_rx,
            to_worker,
            from_host,
            worker_waker: AtomicWaker::new(),
            worker_waiting: AtomicBool::new(false),
            to_host,
            from_worker,
            inbox: Inbox::new(),
            stream_wakers: Mutex::new(Vec::new()),
            stream_waiting: AtomicBool::new(false),
            ended_early: Mutex::new(false),
            next_stream: AtomicUsize::new(0),
            exit: ExitRecord::default(),
            host: HostThread::new(),
            message_errors: AtomicUsize::new(0),
        }
    }

    fn not_running(&self) -> Error {
        Error::WorkerNotRunning(self.name.clone())
    }

    // ---- the worker's state -------------------------------------------------------------

    /// Running and taking messages (not closing, terminating or exited).
    pub(crate) fn is_running(&self) -> bool {
        self.state.load(Ordering::Acquire) == RUNNING
    }

    /// The worker must stop at its next `.await` (terminated, or failed).
    pub(crate) fn is_terminating(&self) -> bool {
        self.state.load(Ordering::Acquire) >= TERMINATING
    }

    /// The worker takes no further message (closing, terminating or exited).
    pub(crate) fn is_closing(&self) -> bool {
        self.state.load(Ordering::Acquire) >= CLOSING
    }

    /// The host's `terminate()`: asks a *running* worker to stop at its next `.await`.
    /// 10200004 if it was not running, and then nothing changes: a worker that closed itself
    /// finishes its current message as `close()` promised (ArkTS: `terminate` on a worker that
    /// is not running throws 10200004, and a throwing call has no effect).
    pub(crate) fn terminate(&self) -> Result<()> {
        if request(&self.state, TERMINATING) {
            self.stopping();
            Ok(())
        } else {
            Err(self.not_running())
        }
    }

    /// Stops the worker at its next `.await` whatever its state, a closing one included: the
    /// `Worker` is being dropped, and its threads must end.
    pub(crate) fn force_stop(&self) {
        self.state.fetch_max(TERMINATING, Ordering::AcqRel);
        self.stopping();
    }

    /// The state just reached TERMINATING: wake whatever the worker thread waits on — its event
    /// loop, and a global call it is blocked in (the call's `select` sees the disconnection).
    fn stopping(&self) {
        drop(lock(&self.stop_tx).take());
        self.worker_waker.wake();
    }

    /// The handler closes its own worker: the current message is finished, no other is taken.
    pub(crate) fn close(&self) -> Result<()> {
        if request(&self.state, CLOSING) {
            self.worker_waker.wake();
            Ok(())
        } else {
            Err(self.not_running())
        }
    }

    /// Disconnected once the worker is terminating: a global call waits on it beside its reply.
    pub(crate) fn stop_signal(&self) -> &Receiver<()> {
        &self.stop_rx
    }

    // ---- host → worker ------------------------------------------------------------------

    /// Queues a message for the worker; 10200004 unless it is running.
    pub(crate) fn send_to_worker(&self, envelope: Envelope<In>) -> Result<()> {
        if !self.is_running() {
            // Refused: the sender gets 10200004, not the panic of the message's `Drop`.
            drop_quietly(envelope);
            return Err(self.not_running());
        }
        // Never fails: this link holds the receiver.
        let _ = self.to_worker.send(envelope);
        // Pairs with the fence in `next_from_host`: either the worker's second look finds this
        // message, or this sees that it waits. A busy worker costs a load, not a wake-up.
        fence(Ordering::SeqCst);
        if self.worker_waiting.load(Ordering::SeqCst)
            && self.worker_waiting.swap(false, Ordering::SeqCst)
        {
            self.worker_waker.wake();
        }
        // Accepted just as the worker ended (the state was checked before the push): its exit
        // has drained the queue already, so this message is dropped here. With the fence in
        // `finish`: either that drain saw this message, or this load sees EXITED.
        if self.state.load(Ordering::SeqCst) == EXITED {
            self.drop_queued();
        }
        Ok(())
    }

    /// Drops the messages no handler will take (the worker stopped taking them), their `Drop`
    /// contained: ArkTS's `terminate()` and `close()` discard the pending messages too, and a
    /// message may hold what someone else waits for (a channel's sender, a buffer).
    fn drop_queued(&self) {
        while let Ok(envelope) = self.from_host.try_recv() {
            drop_quietly(envelope);
        }
    }

    /// The next message for the worker. With none queued, `waker` is registered (for a
    /// message, a stop request or a failure of a spawned task) and `None` is returned.
    pub(crate) fn next_from_host(&self, waker: &Waker) -> Option<Envelope<In>> {
        if let Ok(envelope) = self.from_host.try_recv() {
            return Some(envelope);
        }
        self.worker_waker.register(waker);
        self.worker_waiting.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        self.from_host.try_recv().ok()
    }

    /// Wakes the worker's event loop (a spawned task failed, or a stop was requested).
    pub(crate) fn wake_worker(&self) {
        self.worker_waker.wake();
    }

    /// Registers the worker loop's waker for stop requests.
    pub(crate) fn register_worker_waker(&self, waker: &Waker) {
        self.worker_waker.register(waker);
    }

    // ---- worker → host ------------------------------------------------------------------

    /// Delivers a message from the worker, joining the messages waiting at `position`: to the
    /// host's `on_message` callback if one is set, otherwise to the receivers (`recv`, the
    /// stream) — through the host thread while messages sent to a callback that has since been
    /// cleared still wait there, to keep the send order. The message goes into the inbox first,
    /// then its token is sent: whoever takes the token finds a message.
    pub(crate) fn deliver_message(&self, message: Out, position: Position) {
        if self.host.routes_messages() {
            self.inbox.push(Route::Callback, position, message);
            self.host.send_message();
        } else {
            self.inbox.push(Route::Receivers, position, message);
            let _ = self.to_host.send(ToHost::Message);
            self.wake_streams();
        }
    }

    /// A message (either way) that could not be decoded: to the host's `on_message_error`
    /// callback if one is set, otherwise dropped (as in ArkTS without `onmessageerror`).
    pub(crate) fn deliver_message_error(&self, error: Error) {
        self.message_errors.fetch_add(1, Ordering::Relaxed);
        if self.host.wants(Kind::MessageError) {
            self.host.send(HostJob::MessageError(error));
        }
    }

    /// An error the handler did not handle. With `on_all_errors` registered it goes there and
    /// the worker lives on (returns true); otherwise it goes to `on_error` (or is kept for
    /// [`take_exit_error`](Link::take_exit_error)) and the worker must end (returns false).
    /// Which callback finally receives it is decided on the host thread when it runs the job:
    /// `on_all_errors` if registered by then (see `host_thread::run`).
    pub(crate) fn deliver_error(&self, error: Error) -> bool {
        match self.host.error_callbacks() {
            ErrorCallbacks::AllErrors => {
                self.host.send(HostJob::AllErrors(error));
                true
            }
            ErrorCallbacks::OnErrorOnly => {
                self.force_stop();
                self.host.send(HostJob::Error(error));
                false
            }
            ErrorCallbacks::None => {
                self.force_stop();
                self.keep_exit_error(error);
                false
            }
        }
    }

    /// Keeps the error that destroyed the worker (the first one) for `take_exit_error`.
    pub(crate) fn keep_exit_error(&self, error: Error) {
        // A user error whose `Drop` may panic: outside the lock, contained.
        drop_quietly(self.exit.keep_error(error));
        // An error callback registered since the routing looked (it found none) would wait
        // forever: it takes the error now. With `Worker::register`, which sets the wanted bit
        // and then takes the kept error, one of the two hands it over (the exit lock orders
        // them; model-checked in `host_thread.rs`).
        self.offer_exit_error();
    }

    /// Hands the kept error, if any, to the host thread when an error callback is registered
    /// now. It destroyed the worker: the host thread gives it to `on_all_errors` if registered
    /// when it runs the job, else to `on_error` — not to whichever this looked at first.
    pub(crate) fn offer_exit_error(&self) {
        if let ErrorCallbacks::None = self.host.error_callbacks() {
            return;
        }
        if let Some(error) = self.take_exit_error() {
            self.host.send(HostJob::Error(error));
        }
    }

    fn wake_streams(&self) {
        // Pairs with the fence in `poll_message`: either this sees the registered waker, or
        // the stream's second look sees the message.
        fence(Ordering::SeqCst);
        if self.stream_waiting.load(Ordering::SeqCst) {
            let wakers = {
                let mut wakers = lock(&self.stream_wakers);
                self.stream_waiting.store(false, Ordering::SeqCst);
                std::mem::take(&mut *wakers)
            };
            // Each stream's executor is user code: one whose `wake` panics must neither fail
            // the handler that posted nor leave the streams after it unwoken.
            for (_, waker) in wakers {
                crate::panic::wake_quietly(waker);
            }
        }
    }

    /// Turns a received token into a message — the first one waiting, not necessarily the one
    /// the token was sent with — or `None` for the end (put back for the others). Every receive
    /// (`recv`, `recv_timeout`, the streams) goes through here.
    fn settle(&self, token: ToHost) -> Option<Out> {
        match token {
            ToHost::Message => {
                let (_, message) = self
                    .inbox
                    .take(Route::Receivers)
                    .expect("a message token without its message");
                Some(message)
            }
            ToHost::End => {
                let _ = self.to_host.send(ToHost::End);
                // A stream that looked while this receiver held the end is waiting for it.
                self.wake_streams();
                None
            }
        }
    }

    /// Blocks for the next message; `None` once the worker ended and every message was taken.
    pub(crate) fn recv(&self) -> Option<Out> {
        // No deadline: never a time-out.
        self.recv_timeout(Duration::MAX).unwrap_or(None)
    }

    /// Like [`recv`](Link::recv), for at most `timeout` (`Duration::MAX`, or any wait past the
    /// clock's range: no bound); `Err(())` on a time-out.
    pub(crate) fn recv_timeout(&self, timeout: Duration) -> std::result::Result<Option<Out>, ()> {
        let token = match Instant::now().checked_add(timeout) {
            Some(deadline) => self.from_worker.recv_deadline(deadline),
            None => self
                .from_worker
                .recv()
                .map_err(|_| RecvTimeoutError::Disconnected),
        };
        match token {
            Ok(token) => Ok(self.settle(token)),
            Err(RecvTimeoutError::Timeout) => Err(()),
            // Never: this link holds a sender.
            Err(RecvTimeoutError::Disconnected) => Ok(None),
        }
    }

    /// A new id for a stream (or a pool-thread receive) that registers wakers with
    /// [`poll_message`](Link::poll_message); give it back with
    /// [`forget_stream`](Link::forget_stream).
    pub(crate) fn new_stream_id(&self) -> usize {
        self.next_stream.fetch_add(1, Ordering::Relaxed)
    }

    /// The stream `id`'s poll: `Some(Some(m))` a message, `Some(None)` the end, `None` pending
    /// (`waker` registered for `id`, in place of the one it registered before).
    pub(crate) fn poll_message(&self, id: usize, waker: &Waker) -> Option<Option<Out>> {
        match self.from_worker.try_recv() {
            Ok(item) => return Some(self.settle(item)),
            Err(TryRecvError::Disconnected) => return Some(None),
            Err(TryRecvError::Empty) => {}
        }
        // Offered (see `waker_offer`): the executor's clone and `Drop` run outside the lock.
        with_offer(waker, |offer| {
            let mut wakers = lock(&self.stream_wakers);
            let stored = match wakers.iter_mut().find(|(owner, _)| *owner == id) {
                Some((_, registered)) => offer.replace(registered),
                None => offer.take().map(|clone| wakers.push((id, clone))).is_some(),
            };
            stored.then(|| self.stream_waiting.store(true, Ordering::SeqCst))
        });
        fence(Ordering::SeqCst);
        match self.from_worker.try_recv() {
            Ok(item) => Some(self.settle(item)),
            Err(TryRecvError::Disconnected) => Some(None),
            Err(TryRecvError::Empty) => None,
        }
    }

    /// The stream `id` is dropped (or the receive that used it is over): its waker, if still
    /// registered, is let go — otherwise it stayed until the worker's next message, and a host
    /// that made a stream per wait piled them up while the worker was quiet.
    pub(crate) fn forget_stream(&self, id: usize) {
        let forgotten = {
            let mut wakers = lock(&self.stream_wakers);
            wakers
                .iter()
                .position(|(owner, _)| *owner == id)
                .map(|at| wakers.swap_remove(at))
        };
        // The executor's waker: its `Drop` is user code, run outside the lock.
        drop_quietly(forgotten);
    }

    /// Ends the receivers' side: every pending and later receive sees the end once the
    /// messages already sent are taken.
    pub(crate) fn end_receivers(&self) {
        let _ = self.to_host.send(ToHost::End);
        self.wake_streams();
    }

    /// Ends the receivers' side now, for a dropped `Worker` that did not wait for one of its
    /// threads: a message the host thread hands over later is dropped
    /// ([`hand_over`](Link::hand_over)), never received after the end.
    pub(crate) fn end_receivers_early(&self) {
        {
            let mut ended = lock(&self.ended_early);
            *ended = true;
            let _ = self.to_host.send(ToHost::End);
        }
        // The streams' wakers are user code: woken outside the lock.
        self.wake_streams();
    }

    /// The host thread hands `message` (queued for an `on_message` cleared since) to the
    /// receivers, at the `place` it had — or drops it, its `Drop` contained, if they were ended
    /// early.
    pub(crate) fn hand_over(&self, place: Place, message: Out) {
        let refused = {
            let ended = lock(&self.ended_early);
            if *ended {
                Some(message)
            } else {
                // The message first, then its token: whoever takes the token finds a message.
                self.inbox.put(Route::Receivers, place, message);
                let _ = self.to_host.send(ToHost::Message);
                None
            }
        };
        // User code (the message's `Drop`, the streams' wakers): outside the lock.
        match refused {
            Some(message) => drop_quietly(message),
            None => self.wake_streams(),
        }
    }

    // ---- exit ---------------------------------------------------------------------------

    /// The worker thread ends with `code`: its state, the messages it never took (dropped),
    /// the exit code, exit waiters, the receivers and the host's `on_exit`, in that order.
    pub(crate) fn finish(&self, code: i32) {
        self.state.fetch_max(EXITED, Ordering::SeqCst);
        // The messages still queued are never handled: dropped now, on the worker thread, before
        // the exit is published — not when the last handle to the link goes, which may be much
        // later (a `Worker` kept to read its exit code). Pairs with the fence in `send_to_worker`:
        // a post that raced the end is drained here or by its sender.
        fence(Ordering::SeqCst);
        self.drop_queued();
        drop(lock(&self.stop_tx).take());
        self.exit.publish(code);
        // Messages still queued on the host thread (for an `on_message` cleared since) go to
        // the receivers when it reaches them: the end must follow them there, not overtake them.
        if self.host.has_queued_messages() {
            self.host.send(HostJob::End);
        } else {
            self.end_receivers();
        }
        self.host.send(HostJob::Exit(code));
    }

    pub(crate) fn exit_code(&self) -> Option<i32> {
        self.exit.code()
    }

    /// Waits until the worker thread ended, at most until `deadline` (`None`: no bound).
    pub(crate) fn wait_exit(&self, deadline: Option<Instant>) -> Option<i32> {
        self.exit.wait(deadline)
    }

    /// The exit code, or `None` with `waker` kept to be woken once the worker thread ended.
    pub(crate) fn poll_exit(&self, waker: &Waker) -> Option<i32> {
        self.exit.poll(waker)
    }

    pub(crate) fn take_exit_error(&self) -> Option<Error> {
        self.exit.take_error()
    }
}

/// A serialized copy of a message or a global call argument, within `cap` (10200006 above it).
/// `Serialize` is user code run on the sender's thread: a panic there is that value failing to
/// serialize (10200006, with the panic's message), never a panic of the host or the worker.
pub(crate) fn encode_message<T>(value: &T, cap: usize) -> Result<Payload>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    crate::panic::catch(|| crate::codec::encode_copy(value, cap)).unwrap_or_else(|payload| {
        Err(Error::Serialization(format!(
            "serializing the value panicked: {}",
            crate::panic::message(payload)
        )))
    })
}

/// Moves `state` from RUNNING to `to` (CLOSING or TERMINATING); false, and no change, if it was
/// not running. One compare-and-swap: of a `close()` and a `terminate()` racing, exactly one
/// wins and the other is refused (model-checked below).
fn request(state: &AtomicU8, to: u8) -> bool {
    state
        .compare_exchange(RUNNING, to, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

impl<In, Out> Drop for Link<In, Out> {
    /// Messages nobody took, callbacks, call objects and the exit error nobody took are user
    /// values whose `Drop` may panic, on whatever thread lets go of the link last (the one
    /// dropping the `Worker`, often): contained here, and given enough stack for what a task
    /// could drop (`deep_drop`), whatever that thread's own stack.
    fn drop(&mut self) {
        crate::deep_drop::with_stack(|| {
            while let Ok(envelope) = self.from_host.try_recv() {
                drop_quietly(envelope);
            }
            // The receivers' channel holds tokens only: the messages are in the inbox.
            drop_each_quietly(self.inbox.take_all());
            self.host.drop_user_values();
            // The error nobody took holds the handler's own error value, whose `Drop` may panic.
            drop_quietly(self.exit.take_error());
        });
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;
    use crate::sync::Arc;

    /// `close()` (worker thread), `terminate()` (host) and a drop's forced stop race: exactly one
    /// of close and terminate is accepted, the forced stop always reaches TERMINATING, and a
    /// refused request never moved the state.
    #[test]
    fn close_terminate_and_a_forced_stop_race_to_one_consistent_state() {
        loom::model(|| {
            let state = Arc::new(AtomicU8::new(RUNNING));
            let closer = {
                let state = Arc::clone(&state);
                loom::thread::spawn(move || request(&state, CLOSING))
            };
            let terminator = {
                let state = Arc::clone(&state);
                loom::thread::spawn(move || request(&state, TERMINATING))
            };
            let closed = closer.join().unwrap();
            let terminated = terminator.join().unwrap();
            assert!(closed ^ terminated, "exactly one request wins");
            let settled = state.load(Ordering::Acquire);
            assert_eq!(settled, if terminated { TERMINATING } else { CLOSING });
            state.fetch_max(TERMINATING, Ordering::AcqRel);
            assert_eq!(state.load(Ordering::Acquire), TERMINATING);
        });
    }

    /// A post racing the worker's end (`send_to_worker` against `finish`, in miniature: the
    /// queue is a locked vector, the post checks RUNNING first as the real one does): whatever
    /// the interleaving, no accepted message is left in the queue once both are done — the
    /// exit's drain takes it, or the sender sees EXITED and drains it itself.
    #[test]
    fn a_post_racing_the_exit_never_leaves_a_message_queued() {
        loom::model(|| {
            let state = Arc::new(AtomicU8::new(RUNNING));
            let queue = Arc::new(Mutex::new(Vec::new()));
            let sender = {
                let (state, queue) = (Arc::clone(&state), Arc::clone(&queue));
                loom::thread::spawn(move || {
                    if state.load(Ordering::Acquire) != RUNNING {
                        return false; // refused: 10200004
                    }
                    lock(&queue).push(1);
                    fence(Ordering::SeqCst);
                    if state.load(Ordering::SeqCst) == EXITED {
                        lock(&queue).clear();
                    }
                    true
                })
            };
            // The worker: terminated, then its thread ends.
            state.fetch_max(TERMINATING, Ordering::AcqRel);
            state.fetch_max(EXITED, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            lock(&queue).clear();
            sender.join().unwrap();
            assert!(
                lock(&queue).is_empty(),
                "an accepted message outlived the exit"
            );
        });
    }

    /// `Link::wake_streams` in miniature: once a stream waits, every registered waker (a
    /// counter, found in each entry by `counter`) is taken and woken.
    fn wake_streams<W>(
        waiting: &AtomicBool,
        wakers: &Mutex<Vec<W>>,
        counter: impl Fn(W) -> Arc<AtomicUsize>,
    ) {
        fence(Ordering::SeqCst);
        if waiting.load(Ordering::SeqCst) {
            let wakers = {
                let mut wakers = lock(wakers);
                waiting.store(false, Ordering::SeqCst);
                std::mem::take(&mut *wakers)
            };
            for waker in wakers {
                counter(waker).fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    /// The end of the messages is one item each receiver takes and puts back (`settle`), and
    /// a stream that finds nothing registers its waker, then looks again (`poll_message`), in
    /// miniature: the channel is a locked slot, the waker a counter. A stream that looked while
    /// a blocking receiver held the end either finds it on its second look or is woken by the
    /// put-back — before, only the exit woke streams, and such a stream slept for good.
    #[test]
    fn a_stream_that_missed_the_end_held_by_a_receiver_is_woken_by_its_put_back() {
        loom::model(|| {
            let channel = Arc::new(Mutex::new(Some(ToHost::End)));
            let waiting = Arc::new(AtomicBool::new(false));
            let wakers: Arc<Mutex<Vec<Arc<AtomicUsize>>>> = Arc::default();
            let receiver = {
                let (channel, waiting, wakers) = (
                    Arc::clone(&channel),
                    Arc::clone(&waiting),
                    Arc::clone(&wakers),
                );
                loom::thread::spawn(move || {
                    let end = lock(&channel).take().expect("the end is there");
                    *lock(&channel) = Some(end);
                    wake_streams(&waiting, &wakers, |waker| waker);
                })
            };
            let woken = Arc::new(AtomicUsize::new(0));
            let found = lock(&channel).is_some() || {
                lock(&wakers).push(Arc::clone(&woken));
                waiting.store(true, Ordering::SeqCst);
                fence(Ordering::SeqCst);
                lock(&channel).is_some()
            };
            receiver.join().unwrap();
            assert!(
                found || woken.load(Ordering::SeqCst) == 1,
                "a stream waits for an end that came back without waking it"
            );
        });
    }

    /// A stream dropped while another waits (`forget_stream` against `poll_message` and
    /// `wake_streams`, in miniature: the channel is a locked slot, each waker a counter, the
    /// wakers a locked list of `(stream id, waker)`): the dropped stream takes back only its own
    /// entry, so the waiting stream either finds the message on its second look or is woken by
    /// the push, whatever the interleaving.
    #[test]
    fn a_stream_dropped_while_another_waits_never_takes_its_wake_up() {
        loom::model(|| {
            let channel = Arc::new(Mutex::new(None::<u8>));
            let waiting = Arc::new(AtomicBool::new(false));
            let wakers: Arc<Mutex<Vec<(usize, Arc<AtomicUsize>)>>> = Arc::default();
            // Stream 1 waited, and is being dropped.
            lock(&wakers).push((1, Arc::new(AtomicUsize::new(0))));
            waiting.store(true, Ordering::SeqCst);
            let dropper = {
                let wakers = Arc::clone(&wakers);
                loom::thread::spawn(move || {
                    let mut wakers = lock(&wakers);
                    if let Some(at) = wakers.iter().position(|(owner, _)| *owner == 1) {
                        wakers.swap_remove(at);
                    }
                })
            };
            let worker = {
                let (channel, waiting, wakers) = (
                    Arc::clone(&channel),
                    Arc::clone(&waiting),
                    Arc::clone(&wakers),
                );
                loom::thread::spawn(move || {
                    *lock(&channel) = Some(7);
                    wake_streams(&waiting, &wakers, |(_, waker)| waker);
                })
            };
            // Stream 2 polls: a look, then its waker, then a second look.
            let woken = Arc::new(AtomicUsize::new(0));
            let found = lock(&channel).is_some() || {
                {
                    let mut list = lock(&wakers);
                    list.push((2, Arc::clone(&woken)));
                    waiting.store(true, Ordering::SeqCst);
                }
                fence(Ordering::SeqCst);
                lock(&channel).is_some()
            };
            dropper.join().unwrap();
            worker.join().unwrap();
            assert!(
                found || woken.load(Ordering::SeqCst) == 1,
                "the waiting stream lost its wake-up to a dropped one"
            );
        });
    }

    /// A `Worker` dropped without waiting for its stuck host thread ends the receivers at once
    /// while that thread hands a message over (`end_receivers_early` against `hand_over`, in
    /// miniature: the channel is a locked queue). Whatever the interleaving, no message lands
    /// behind the end — before, one that did was received after it (each receiver puts the end
    /// back, behind it).
    #[test]
    fn a_message_handed_over_as_the_receivers_end_early_never_lands_behind_the_end() {
        loom::model(|| {
            let channel = Arc::new(Mutex::new(Vec::<ToHost>::new()));
            let ended_early = Arc::new(Mutex::new(false));
            let host = {
                let (channel, ended_early) = (Arc::clone(&channel), Arc::clone(&ended_early));
                loom::thread::spawn(move || {
                    let ended = lock(&ended_early);
                    if !*ended {
                        lock(&channel).push(ToHost::Message);
                    }
                })
            };
            {
                let mut ended = lock(&ended_early);
                *ended = true;
                lock(&channel).push(ToHost::End);
            }
            host.join().unwrap();
            let channel = lock(&channel);
            let end = channel
                .iter()
                .position(|item| matches!(item, ToHost::End))
                .expect("the end is there");
            assert_eq!(end, channel.len() - 1, "a message landed behind the end");
        });
    }

    /// A terminate after a close is refused and leaves CLOSING; after a forced stop, both are
    /// refused.
    #[test]
    fn requests_after_the_worker_stopped_running_change_nothing() {
        loom::model(|| {
            let state = Arc::new(AtomicU8::new(RUNNING));
            assert!(request(&state, CLOSING));
            let terminator = {
                let state = Arc::clone(&state);
                loom::thread::spawn(move || request(&state, TERMINATING))
            };
            let dropper = {
                let state = Arc::clone(&state);
                loom::thread::spawn(move || {
                    state.fetch_max(TERMINATING, Ordering::AcqRel);
                })
            };
            assert!(!terminator.join().unwrap());
            dropper.join().unwrap();
            assert_eq!(state.load(Ordering::Acquire), TERMINATING);
            assert!(!request(&state, CLOSING));
        });
    }
}
