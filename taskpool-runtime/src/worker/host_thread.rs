//! The worker's host thread: where the host's callbacks and global call objects run.
//!
//! ArkTS runs a worker's `onmessage`, `onerror`, `onexit`… and the methods of its global call
//! objects on the host's event loop. A Rust program has no such loop, so each worker that needs
//! one gets a thread of its own, `<worker name>-host`, started when the first callback or call
//! object is registered. It takes its jobs in order, so callbacks of one worker never run
//! concurrently, never on the worker thread, and `on_exit` comes last. A panic in a callback is
//! contained there. A worker used only through `recv` and its stream never starts it.

use std::collections::HashMap;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use crate::bounded_join::JoinableThread;
use crate::error::Error;
use crate::panic;
use crate::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use crate::sync::{Arc, Condvar, Mutex, lock};
use crate::worker::call_object::{self, CallRequest, Registered};
use crate::worker::inbox::Route;
use crate::worker::link::Link;

/// The kinds of event a callback can be registered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Message = 1,
    MessageError = 2,
    Error = 4,
    AllErrors = 8,
    Exit = 16,
}

/// One job for the host thread.
pub(crate) enum HostJob {
    /// A message waits for `on_message` in the link's inbox (`worker/inbox.rs`): the job is
    /// its token, and it takes the first message of that route when it runs, so that a message
    /// sent later at the front goes first.
    Message,
    MessageError(Error),
    /// An error that destroyed the worker.
    Error(Error),
    /// An error the worker survived (`on_all_errors` mode).
    AllErrors(Error),
    Exit(i32),
    /// The worker ended while messages still waited in this queue (for an `on_message` that
    /// may have been cleared since, so bound for the receivers): the end of the messages goes
    /// to the receivers behind them, never ahead.
    End,
    Call(CallRequest),
    /// The `Worker` was dropped: leave.
    Stop,
}

type Callback<T> = Box<dyn FnMut(T) + Send>;

/// The callbacks registered by the host, each replacing the previous one of its kind.
pub(crate) struct Callbacks<Out> {
    pub(crate) on_message: Option<Callback<Out>>,
    pub(crate) on_message_error: Option<Callback<Error>>,
    pub(crate) on_error: Option<Callback<Error>>,
    pub(crate) on_all_errors: Option<Callback<Error>>,
    pub(crate) on_exit: Option<Box<dyn FnOnce(i32) + Send>>,
    /// `on_exit` ran: it runs at most once, even when registered again.
    exit_delivered: bool,
    /// Bits of [`Kind`] whose callback was registered after the worker's exit was published:
    /// kept when the exit releases the others, since their event (an `on_error` receiving the
    /// error that destroyed the worker) may still be queued behind the exit.
    late: u8,
    /// Bumped by `clear_callbacks`. A callback is taken out of its slot while it runs; it goes
    /// back only if no clear happened meanwhile, so that clearing from inside a callback (ArkTS
    /// `off` in a listener) removes it for the jobs already queued too.
    epoch: u64,
}

pub(crate) struct HostThread<Out> {
    tx: Sender<HostJob>,
    rx: Receiver<HostJob>,
    /// Bits of [`Kind`] with a callback, read by the worker thread to route each event.
    wanted: AtomicU8,
    /// Messages queued for this thread and not yet delivered (to `on_message`, or to the
    /// receivers if it was cleared meanwhile). While there are any, later messages take the same
    /// queue even without a callback, so that the receivers get them in send order.
    queued_messages: AtomicUsize,
    pub(crate) callbacks: Mutex<Callbacks<Out>>,
    pub(crate) objects: Mutex<HashMap<String, Registered>>,
    started: AtomicBool,
    thread: Mutex<Option<JoinableThread<()>>>,
    done: Mutex<bool>,
    done_changed: Condvar,
}

impl<Out> HostThread<Out> {
    pub(crate) fn new() -> HostThread<Out> {
        let (tx, rx) = crossbeam_channel::unbounded();
        HostThread {
            tx,
            rx,
            wanted: AtomicU8::new(0),
            queued_messages: AtomicUsize::new(0),
            callbacks: Mutex::new(Callbacks {
                on_message: None,
                on_message_error: None,
                on_error: None,
                on_all_errors: None,
                on_exit: None,
                exit_delivered: false,
                late: 0,
                epoch: 0,
            }),
            objects: Mutex::new(HashMap::new()),
            started: AtomicBool::new(false),
            thread: Mutex::new(None),
            done: Mutex::new(false),
            done_changed: Condvar::new(),
        }
    }

    pub(crate) fn wants(&self, kind: Kind) -> bool {
        self.wanted.load(Ordering::Acquire) & kind as u8 != 0
    }

    /// Which error callbacks are registered, in one look: a worker routing an error must not
    /// see `on_all_errors` missing and then `on_error` present when both were registered in
    /// between (two looks would send the error to `on_error` with `on_all_errors` registered
    /// first).
    pub(crate) fn error_callbacks(&self) -> ErrorCallbacks {
        let wanted = self.wanted.load(Ordering::Acquire);
        if wanted & Kind::AllErrors as u8 != 0 {
            ErrorCallbacks::AllErrors
        } else if wanted & Kind::Error as u8 != 0 {
            ErrorCallbacks::OnErrorOnly
        } else {
            ErrorCallbacks::None
        }
    }

    pub(crate) fn set_wanted(&self, kind: Kind) {
        self.wanted.fetch_or(kind as u8, Ordering::AcqRel);
    }

    pub(crate) fn clear_wanted(&self) {
        self.wanted.store(0, Ordering::Release);
    }

    /// Whether a message must go through this thread: `on_message` is registered, or messages
    /// sent earlier still wait in this thread's queue (a later message must not overtake them
    /// on its way to the receivers). Only the worker thread sends messages, so this check and
    /// [`send_message`](HostThread::send_message) cannot race another sender.
    pub(crate) fn routes_messages(&self) -> bool {
        self.wants(Kind::Message) || self.has_queued_messages()
    }

    /// Whether messages sent earlier still wait in this thread's queue. Read by the worker
    /// thread, the only one that queues them; the host thread decrements the count only after
    /// it handed a message on, so a zero means every message sent so far has been delivered.
    pub(crate) fn has_queued_messages(&self) -> bool {
        self.queued_messages.load(Ordering::Acquire) > 0
    }

    /// Queues the token of a message from the worker, already in the inbox, for `on_message`
    /// (or, if it is cleared by then, for the receivers, in order).
    pub(crate) fn send_message(&self) {
        self.queued_messages.fetch_add(1, Ordering::AcqRel);
        self.send(HostJob::Message);
    }

    /// Queues a job (kept until the thread starts, if it has not).
    pub(crate) fn send(&self, job: HostJob) {
        // Never fails: this struct holds the receiver.
        let _ = self.tx.send(job);
    }

    pub(crate) fn is_started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }

    /// Drops the queued jobs, the callbacks and the call objects, containing panics of their
    /// `Drop` (the link is going away).
    pub(crate) fn drop_user_values(&self) {
        while let Ok(job) = self.rx.try_recv() {
            panic::drop_quietly(job);
        }
        self.release_all();
    }

    /// Drops every registered global call object (on the host thread, where they live), their
    /// `Drop` contained.
    pub(crate) fn release_objects(&self) {
        let objects = std::mem::take(&mut *lock(&self.objects));
        panic::drop_each_quietly(objects.into_values());
    }

    /// Drops the callbacks registered before the exit (on the host thread, after `on_exit`),
    /// their `Drop` contained; one registered after the exit is kept as usual.
    pub(crate) fn release_callbacks(&self) {
        let released = {
            let mut callbacks = lock(&self.callbacks);
            let late = callbacks.late;
            self.wanted.fetch_and(late, Ordering::AcqRel);
            callbacks.take_all_but(late)
        };
        drop(released);
    }

    /// Whether the calling thread is this host thread (a callback or call object is calling).
    pub(crate) fn is_current(&self) -> bool {
        lock(&self.thread)
            .as_ref()
            .is_some_and(|handle| handle.thread().id() == std::thread::current().id())
    }

    /// Asks the thread to leave once the jobs queued so far are done, and waits for it at most
    /// until `deadline`; a thread stuck in a user callback past it is detached. Never waits for
    /// the calling thread itself. Says which of the three happened.
    pub(crate) fn stop(&self, deadline: Option<Instant>) -> Stopped {
        self.send(HostJob::Stop);
        let Some(handle) = lock(&self.thread).take() else {
            return Stopped::Ended;
        };
        if handle.thread().id() == std::thread::current().id() {
            return Stopped::Later;
        }
        let mut done = lock(&self.done);
        while !*done {
            done = match deadline {
                None => self
                    .done_changed
                    .wait(done)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                        return Stopped::Detached;
                    };
                    self.done_changed
                        .wait_timeout(done, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
        drop(done);
        // Its loop is over; its thread-local destructors (user code) may still run: joined
        // within the same deadline, else left detached, ending by itself.
        handle.join_until(deadline);
        Stopped::Ended
    }

    /// Drops every callback and call object left (the `Worker` is dropped and the thread that
    /// would run them is gone, or leaving), their `Drop` contained. Without this, one registered
    /// after the exit — which the exit does not release — stayed until the link was dropped,
    /// which never happens if it holds the link itself (the worker's message stream).
    pub(crate) fn release_all(&self) {
        let callbacks = {
            let mut callbacks = lock(&self.callbacks);
            // No callback is there any more: a worker still running (detached) keeps its
            // events rather than queue them for a thread that no longer serves them.
            self.clear_wanted();
            callbacks.take_all()
        };
        drop(callbacks);
        self.release_objects();
    }
}

/// Which error callbacks a worker routing an error found ([`HostThread::error_callbacks`]).
pub(crate) enum ErrorCallbacks {
    /// `on_all_errors` (with or without `on_error`): the worker lives on.
    AllErrors,
    /// `on_error` alone: the worker is destroyed.
    OnErrorOnly,
    /// Neither: the worker is destroyed and the error kept.
    None,
}

/// What [`HostThread::stop`] found.
pub(crate) enum Stopped {
    /// The thread ended (or never started): no job will run any more.
    Ended,
    /// Stuck in a user callback past the deadline, it is detached: the jobs queued so far (an
    /// end of the messages among them) wait for that callback to return.
    Detached,
    /// Called from the thread itself (a callback dropped its own `Worker`): its loop serves the
    /// jobs queued so far, `on_exit` among them, and leaves after the callback returns.
    Later,
}

/// Starts the host thread of `link` if it is not running yet.
///
/// `started` turns true only once the thread exists, and only under the `thread` lock, so a
/// registration that finds it true (under the callbacks lock, where it sets its wanted bit) has
/// a thread to serve its events. Before, it turned true ahead of the spawn and went back to
/// false if the system refused the thread: a second registration could see it true in between
/// and set its bit after the first one's rollback cleared them, routing events to a thread that
/// did not exist (loom model `a_refused_start_leaves_no_event_routed_to_a_missing_thread`).
pub(crate) fn ensure_started<In, Out>(link: &Arc<Link<In, Out>>)
where
    In: Send + 'static,
    Out: Send + 'static,
{
    let host = &link.host;
    if host.is_started() {
        return;
    }
    let mut thread = lock(&host.thread);
    if host.is_started() {
        return;
    }
    let for_thread = Arc::clone(link);
    let builder = std::thread::Builder::new()
        .name(format!("{}-host", link.name))
        .stack_size(crate::pool::host_code_stack_size(link.stack_size));
    let spawned = JoinableThread::spawn(builder, move || run(for_thread));
    // Refused: callbacks cannot run and events keep going to the receivers; the next
    // registration tries again.
    if let Ok(handle) = spawned {
        *thread = Some(handle);
        host.started.store(true, Ordering::Release);
    }
}

/// Marks the host thread done when it leaves, however it leaves.
struct Done<'a, Out>(&'a HostThread<Out>);

impl<Out> Drop for Done<'_, Out> {
    fn drop(&mut self) {
        *lock(&self.0.done) = true;
        self.0.done_changed.notify_all();
    }
}

fn run<In, Out>(link: Arc<Link<In, Out>>) {
    let host = &link.host;
    let _done = Done(host);
    while let Ok(job) = host.rx.recv() {
        match job {
            HostJob::Stop => break,
            HostJob::Message => deliver_message(&link),
            HostJob::MessageError(error) => {
                let unwanted = dispatch(host, |c| &mut c.on_message_error, error);
                panic::drop_quietly(unwanted);
            }
            // `on_error` is ignored while `on_all_errors` is registered, whatever was registered
            // when the worker routed the error or kept it: the callbacks registered now decide.
            HostJob::Error(error) => {
                let unwanted = dispatch(host, |c| &mut c.on_all_errors, error)
                    .and_then(|error| dispatch(host, |c| &mut c.on_error, error));
                if let Some(error) = unwanted {
                    link.keep_exit_error(error);
                }
            }
            // Cleared since the error was routed here: nobody wants it (the worker lived on, so
            // it is no error for `on_error`). It holds the handler's own error value, whose
            // `Drop` may panic; unwinding here would end this thread, and with it `on_exit`,
            // the global calls and every later callback.
            HostJob::AllErrors(error) => {
                let unwanted = dispatch(host, |c| &mut c.on_all_errors, error);
                panic::drop_quietly(unwanted);
            }
            HostJob::Exit(code) => deliver_exit(host, code),
            HostJob::End => link.end_receivers(),
            HostJob::Call(request) => call_object::serve(&host.objects, request),
        }
    }
    // `Stop`: the `Worker` is dropped, so nothing can register or run a callback any more.
    // Released here, by the thread itself, whether the drop waited for it or not: a thread the
    // drop detached (stuck in a callback past the join timeout) or could not wait for (a
    // callback dropped its own `Worker`) leaves later, and one registered after the exit (which
    // the exit keeps) holding the worker's stream would otherwise keep the link alive for good.
    host.release_all();
}

/// Gives the first message of the callback route to `on_message`, or, if that was cleared
/// since the message was routed here, to the receivers, at its place.
fn deliver_message<In, Out>(link: &Link<In, Out>) {
    let host = &link.host;
    // The first message of this route, not necessarily the one this token was sent with: one
    // sent later at the front may go first (`worker/inbox.rs`). Its token was sent after it was
    // pushed, so it is there.
    let (place, message) = link
        .inbox
        .take(Route::Callback)
        .expect("a message token without its message");
    if let Some(message) = dispatch(host, |c| &mut c.on_message, message) {
        link.hand_over(place, message);
    }
    // Delivered: from now on a message sent without a callback may go straight to the
    // receivers (after this one).
    host.queued_messages.fetch_sub(1, Ordering::AcqRel);
}

/// The worker exited with `code`: runs `on_exit` once, then lets go of the host's objects and
/// callbacks.
fn deliver_exit<Out>(host: &HostThread<Out>, code: i32) {
    let callback = {
        let mut callbacks = lock(&host.callbacks);
        // One exit, one `on_exit`: each registration after the end queues an exit job of its
        // own, so a later job must not run a callback registered while an earlier one ran (it
        // stays unused, as a replaced callback does).
        let callback = if callbacks.exit_delivered {
            None
        } else {
            callbacks.on_exit.take()
        };
        if callback.is_some() {
            callbacks.exit_delivered = true;
        }
        callback
    };
    if let Some(callback) = callback {
        if let Err(payload) = panic::catch(move || callback(code)) {
            panic::message(payload);
        }
    }
    // The worker ended: no call can come any more, and `unregister` answers 10200004 now, so
    // the host lets go of its objects here, as ArkTS does when it destroys the worker after
    // `onexit` — not when the `Worker` value is dropped, which may be much later.
    host.release_objects();
    // The callbacks too: no event can come any more, and a callback holding its own `Worker`
    // (ArkTS's `onmessage` that calls `workerInstance.terminate()`) would otherwise keep the
    // worker, and this thread, alive for ever.
    host.release_callbacks();
}

/// Calls the callback in `slot` with `value` (out of the lock, put back after); gives `value`
/// back if there is none.
fn dispatch<Out, T>(
    host: &HostThread<Out>,
    slot: impl Fn(&mut Callbacks<Out>) -> &mut Option<Callback<T>>,
    value: T,
) -> Option<T> {
    let Some((callback, epoch)) = take(host, &slot) else {
        return Some(value);
    };
    let callback = call(callback, value);
    put_back(host, epoch, slot, callback);
    None
}

/// Takes a callback out of its slot for a call (the lock is not held while user code runs),
/// with the clear epoch it was taken in.
fn take<Out, T>(
    host: &HostThread<Out>,
    slot: impl FnOnce(&mut Callbacks<Out>) -> &mut Option<T>,
) -> Option<(T, u64)> {
    let mut callbacks = lock(&host.callbacks);
    let epoch = callbacks.epoch;
    slot(&mut callbacks)
        .take()
        .map(|callback| (callback, epoch))
}

/// Puts a callback back after its call, unless it was replaced (the new one stays) or the
/// callbacks were cleared meanwhile; then it is dropped, outside the lock, its panics contained.
fn put_back<Out, T>(
    host: &HostThread<Out>,
    epoch: u64,
    slot: impl FnOnce(&mut Callbacks<Out>) -> &mut Option<T>,
    callback: T,
) {
    let unused = {
        let mut callbacks = lock(&host.callbacks);
        let current = callbacks.epoch == epoch;
        let slot = slot(&mut callbacks);
        if current && slot.is_none() {
            *slot = Some(callback);
            None
        } else {
            Some(callback)
        }
    };
    panic::drop_quietly(unused);
}

/// Calls a callback, containing a panic; gives the callback back for the next event.
fn call<T>(mut callback: Callback<T>, value: T) -> Callback<T> {
    if let Err(payload) = panic::catch(|| callback(value)) {
        panic::message(payload);
    }
    callback
}

/// Callbacks taken out of their slots. Their captures are user values whose `Drop` may panic:
/// each callback is dropped on its own, since two panicking at once would abort the process.
pub(crate) struct Cleared<Out>(
    Option<Callback<Out>>,
    Option<Callback<Error>>,
    Option<Callback<Error>>,
    Option<Callback<Error>>,
    Option<Box<dyn FnOnce(i32) + Send>>,
);

impl<Out> Drop for Cleared<Out> {
    fn drop(&mut self) {
        panic::drop_quietly(self.0.take());
        panic::drop_quietly(self.1.take());
        panic::drop_quietly(self.2.take());
        panic::drop_quietly(self.3.take());
        panic::drop_quietly(self.4.take());
    }
}

impl<Out> Callbacks<Out> {
    /// Removes every callback and returns them, for the caller to drop outside the lock (their
    /// `Drop` is user code). A callback running now is not put back when it returns. `on_exit`'s
    /// once-only record stays.
    pub(crate) fn clear(&mut self) -> Cleared<Out> {
        self.epoch = self.epoch.wrapping_add(1);
        self.take_all()
    }

    /// Takes every callback out, for the caller to drop outside the lock.
    fn take_all(&mut self) -> Cleared<Out> {
        Cleared(
            self.on_message.take(),
            self.on_message_error.take(),
            self.on_error.take(),
            self.on_all_errors.take(),
            self.on_exit.take(),
        )
    }

    /// Takes every callback out but those of the kinds in `keep`, for the caller to drop
    /// outside the lock.
    fn take_all_but(&mut self, keep: u8) -> Cleared<Out> {
        let unless = |kind: Kind| keep & kind as u8 == 0;
        Cleared(
            self.on_message.take_if(|_| unless(Kind::Message)),
            self.on_message_error
                .take_if(|_| unless(Kind::MessageError)),
            self.on_error.take_if(|_| unless(Kind::Error)),
            self.on_all_errors.take_if(|_| unless(Kind::AllErrors)),
            self.on_exit.take_if(|_| unless(Kind::Exit)),
        )
    }

    /// Records that the callback of `kind` was registered after the worker's exit.
    pub(crate) fn mark_late(&mut self, kind: Kind) {
        self.late |= kind as u8;
    }

    /// Whether `on_exit` must be queued now: the worker already ended and no `on_exit` ran.
    pub(crate) fn exit_pending(&self) -> bool {
        !self.exit_delivered
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::{Arc, Mutex};
    use std::collections::VecDeque;

    /// A registration racing the worker's end (`Worker::register_global_call_object` against
    /// `Link::finish` and the host thread's exit job, in miniature): the exit sets the code,
    /// then the host thread releases the objects; the registration inserts, then looks at the
    /// code and takes its own object back if the worker ended. Whatever the interleaving, no
    /// object is left registered once both are done.
    #[test]
    fn an_object_registered_as_the_worker_ends_is_released_too() {
        loom::model(|| {
            let code = Arc::new(Mutex::new(None::<i32>));
            let objects = Arc::new(Mutex::new(Vec::<u32>::new()));
            let exit = {
                let (code, objects) = (code.clone(), objects.clone());
                loom::thread::spawn(move || {
                    *code.lock().unwrap() = Some(0);
                    // The exit job, on the host thread.
                    objects.lock().unwrap().clear();
                })
            };
            objects.lock().unwrap().push(1);
            if code.lock().unwrap().is_some() {
                objects.lock().unwrap().retain(|&object| object != 1);
            }
            exit.join().unwrap();
            assert!(
                objects.lock().unwrap().is_empty(),
                "an object outlived the exit"
            );
        });
    }

    /// An error callback registered as the worker's error is kept (`Worker::register` against
    /// `Link::deliver_error` and `keep_exit_error`, in miniature): the registration sets the
    /// wanted bit, then takes the kept error; the worker finds no callback, keeps the error,
    /// then looks at the bit again and takes it back if a callback came. Whatever the
    /// interleaving, the error is handed to the callback exactly once and not left kept.
    #[test]
    fn an_error_kept_as_its_callback_is_registered_reaches_it_once() {
        loom::model(|| {
            let wanted = Arc::new(AtomicUsize::new(0));
            let kept = Arc::new(Mutex::new(None::<u32>));
            let handed = Arc::new(AtomicUsize::new(0));
            let worker = {
                let (wanted, kept, handed) = (wanted.clone(), kept.clone(), handed.clone());
                loom::thread::spawn(move || {
                    if wanted.load(Ordering::Acquire) != 0 {
                        handed.fetch_add(1, Ordering::AcqRel); // routed to the callback
                        return;
                    }
                    *kept.lock().unwrap() = Some(7);
                    if wanted.load(Ordering::Acquire) != 0 && kept.lock().unwrap().take().is_some()
                    {
                        handed.fetch_add(1, Ordering::AcqRel);
                    }
                })
            };
            wanted.fetch_or(1, Ordering::AcqRel);
            if kept.lock().unwrap().take().is_some() {
                handed.fetch_add(1, Ordering::AcqRel);
            }
            worker.join().unwrap();
            assert_eq!(handed.load(Ordering::Acquire), 1);
            assert!(kept.lock().unwrap().is_none(), "the error was left kept");
        });
    }

    /// The host thread's error jobs, in miniature: what an `Error` job (an error that destroyed
    /// the worker) and an `AllErrors` job (one it survived) reach once both error callbacks are
    /// registered — `on_all_errors` for either (`host_thread::run`).
    #[derive(Clone, Copy, PartialEq)]
    enum ErrorJob {
        Error,
        AllErrors,
    }

    const ON_ERROR: usize = 4;
    const ON_ALL_ERRORS: usize = 8;

    /// The callback the host thread gives a job's error to, of those `registered`.
    fn recipient(job: ErrorJob, registered: usize) -> Option<usize> {
        if registered & ON_ALL_ERRORS != 0 {
            Some(ON_ALL_ERRORS)
        } else if job == ErrorJob::Error && registered & ON_ERROR != 0 {
            Some(ON_ERROR)
        } else {
            None
        }
    }

    /// Both error callbacks registered, in either order, while the worker routes an error
    /// (`Link::deliver_error`, `keep_exit_error` and `offer_exit_error` against
    /// `Worker::register`, in miniature): the worker looks at both bits in one load, keeps the
    /// error if it found neither and offers it again; each registration sets its bit and offers
    /// the kept error; the host thread, which runs the jobs once both are registered, gives an
    /// error to `on_all_errors` when it is registered. Whatever the interleaving and the order,
    /// the error reaches `on_all_errors` exactly once and `on_error` never — before, the worker
    /// looked at the bits one at a time and the hand-over at `on_error` first, so `on_error`
    /// could take it with `on_all_errors` registered.
    #[test]
    fn an_error_routed_as_both_error_callbacks_are_registered_reaches_on_all_errors_once() {
        for order in [[ON_ERROR, ON_ALL_ERRORS], [ON_ALL_ERRORS, ON_ERROR]] {
            loom::model(move || {
                let wanted = Arc::new(AtomicUsize::new(0));
                let kept = Arc::new(Mutex::new(None::<u32>));
                let jobs = Arc::new(Mutex::new(VecDeque::new()));
                // `offer_exit_error`: the kept error goes to the host thread if a bit is set.
                let offer = |wanted: &AtomicUsize,
                             kept: &Mutex<Option<u32>>,
                             jobs: &Mutex<VecDeque<ErrorJob>>| {
                    if wanted.load(Ordering::Acquire) != 0 && kept.lock().unwrap().take().is_some()
                    {
                        jobs.lock().unwrap().push_back(ErrorJob::Error);
                    }
                };
                let worker = {
                    let (wanted, kept, jobs) = (wanted.clone(), kept.clone(), jobs.clone());
                    loom::thread::spawn(move || {
                        let seen = wanted.load(Ordering::Acquire);
                        if seen & ON_ALL_ERRORS != 0 {
                            jobs.lock().unwrap().push_back(ErrorJob::AllErrors);
                        } else if seen & ON_ERROR != 0 {
                            jobs.lock().unwrap().push_back(ErrorJob::Error);
                        } else {
                            *kept.lock().unwrap() = Some(7);
                            offer(&wanted, &kept, &jobs);
                        }
                    })
                };
                for bit in order {
                    wanted.fetch_or(bit, Ordering::AcqRel);
                    offer(&wanted, &kept, &jobs);
                }
                worker.join().unwrap();
                // The host thread runs the jobs with both callbacks registered.
                let registered = wanted.load(Ordering::Acquire);
                let reached: Vec<usize> = jobs
                    .lock()
                    .unwrap()
                    .drain(..)
                    .filter_map(|job| recipient(job, registered))
                    .collect();
                assert_eq!(reached, [ON_ALL_ERRORS], "once, to on_all_errors");
                assert!(kept.lock().unwrap().is_none(), "the error was left kept");
            });
        }
    }

    /// A late error callback against the exit's release (`Worker::register` against
    /// `Link::finish` and the host thread's exit job, in miniature): the registration queues the
    /// hand-over of the kept error, then marks the callback late if the exit code is set; the
    /// exit sets the code, then queues its job, which releases the callbacks not marked late.
    /// Whatever the interleaving, the callback is still registered when its hand-over runs.
    #[test]
    fn a_late_error_callback_outlives_the_exit_s_release_until_its_error_is_handed_over() {
        loom::model(|| {
            let code = Arc::new(Mutex::new(None::<i32>));
            let queue = Arc::new(Mutex::new(VecDeque::new()));
            let exit = {
                let (code, queue) = (code.clone(), queue.clone());
                loom::thread::spawn(move || {
                    *code.lock().unwrap() = Some(1);
                    queue.lock().unwrap().push_back("exit");
                })
            };
            // The registration (under the callbacks lock, which the host thread's jobs take).
            let registered = true;
            queue.lock().unwrap().push_back("hand-over");
            let late = code.lock().unwrap().is_some();
            exit.join().unwrap();
            // The host thread runs the jobs in order.
            let mut callback = registered;
            while let Some(job) = queue.lock().unwrap().pop_front() {
                match job {
                    "exit" if !late => callback = false,
                    "hand-over" => assert!(callback, "the callback was released before its error"),
                    _ => {}
                }
            }
        });
    }

    /// Two registrations starting the host thread while the system refuses the first spawn
    /// (`ensure_started` then `Worker::register`, in miniature): each starts the thread if
    /// `started` is false — under the `thread` lock, setting `started` only once the thread
    /// exists — then, under the callbacks lock, sets its wanted bit if `started` is true.
    /// Whatever the interleaving, and whether the second spawn is refused too, a bit is set
    /// only when a thread exists to serve its events. Before, `started` was set ahead of the
    /// spawn and rolled back after a refusal, with the bits cleared outside the callbacks lock:
    /// the second registration could set its bit after that clear.
    #[test]
    fn a_refused_start_leaves_no_event_routed_to_a_missing_thread() {
        for refused in [1, 2] {
            loom::model(move || {
                let started = Arc::new(AtomicUsize::new(0));
                let thread = Arc::new(Mutex::new(false));
                let callbacks = Arc::new(Mutex::new(()));
                let wanted = Arc::new(AtomicUsize::new(0));
                let attempts = Arc::new(AtomicUsize::new(0));
                let register = {
                    let (started, thread, callbacks, wanted, attempts) = (
                        started.clone(),
                        thread.clone(),
                        callbacks.clone(),
                        wanted.clone(),
                        attempts.clone(),
                    );
                    move |bit: usize| {
                        if started.load(Ordering::Acquire) == 0 {
                            let mut exists = thread.lock().unwrap();
                            if started.load(Ordering::Acquire) == 0
                                && attempts.fetch_add(1, Ordering::AcqRel) >= refused
                            {
                                *exists = true;
                                started.store(1, Ordering::Release);
                            }
                        }
                        let _callbacks = callbacks.lock().unwrap();
                        if started.load(Ordering::Acquire) != 0 {
                            wanted.fetch_or(bit, Ordering::AcqRel);
                        }
                    }
                };
                let other = {
                    let register = register.clone();
                    loom::thread::spawn(move || register(1))
                };
                register(2);
                other.join().unwrap();
                if wanted.load(Ordering::Acquire) != 0 {
                    assert!(*thread.lock().unwrap(), "events routed to a missing thread");
                }
            });
        }
    }

    /// The host thread's queue in miniature: how many messages wait in it, the queue, and what
    /// the receivers got.
    struct Host {
        queued: Arc<AtomicUsize>,
        queue: Arc<Mutex<VecDeque<u32>>>,
        receivers: Arc<Mutex<Vec<u32>>>,
    }

    impl Host {
        /// Message 1 was queued for a callback, since cleared; a host thread hands it to the
        /// receivers while the caller goes on.
        fn delivering_one() -> (Host, loom::thread::JoinHandle<()>) {
            let host = Host {
                queued: Arc::new(AtomicUsize::new(1)),
                queue: Arc::new(Mutex::new(VecDeque::from([1]))),
                receivers: Arc::new(Mutex::new(Vec::new())),
            };
            let (queued, queue, receivers) = (
                host.queued.clone(),
                host.queue.clone(),
                host.receivers.clone(),
            );
            let thread = loom::thread::spawn(move || {
                let message = queue.lock().unwrap().pop_front();
                if let Some(message) = message {
                    receivers.lock().unwrap().push(message);
                    queued.fetch_sub(1, Ordering::AcqRel);
                }
            });
            (host, thread)
        }

        /// Joins the host thread, which goes on with what is left in its queue, in order;
        /// returns what the receivers got.
        fn finish(self, thread: loom::thread::JoinHandle<()>) -> Vec<u32> {
            thread.join().unwrap();
            while let Some(message) = self.queue.lock().unwrap().pop_front() {
                self.receivers.lock().unwrap().push(message);
            }
            self.receivers.lock().unwrap().clone()
        }
    }

    /// The routing of `Link::deliver_message` in miniature: message 1 goes through the host
    /// thread's queue (a callback was set, then cleared), message 2 is routed by the count of
    /// messages still queued there. Whatever the interleaving with the host thread delivering
    /// message 1, the receivers get 1 then 2.
    #[test]
    fn a_message_never_overtakes_one_still_queued_for_the_host_thread() {
        loom::model(|| {
            let (host, thread) = Host::delivering_one();
            // Message 2, with no callback: through the queue while anything waits there.
            if host.queued.load(Ordering::Acquire) > 0 {
                host.queued.fetch_add(1, Ordering::AcqRel);
                host.queue.lock().unwrap().push_back(2);
            } else {
                host.receivers.lock().unwrap().push(2);
            }
            assert_eq!(host.finish(thread), vec![1, 2]);
        });
    }

    /// The end of the messages against a message still queued for the host thread
    /// (`Link::finish` against the host thread handing a message to the receivers, in
    /// miniature): the exit puts the end straight on the receivers' channel only when nothing
    /// waits in the host thread's queue, and queues it there otherwise. Whatever the
    /// interleaving, the receivers get the message, then the end — before, the end was always
    /// put straight on the channel and could come first.
    #[test]
    fn the_end_of_the_messages_never_overtakes_one_still_queued_for_the_host_thread() {
        const END: u32 = 0;
        loom::model(|| {
            let (host, thread) = Host::delivering_one();
            // The worker's exit.
            if host.queued.load(Ordering::Acquire) > 0 {
                host.queue.lock().unwrap().push_back(END);
            } else {
                host.receivers.lock().unwrap().push(END);
            }
            assert_eq!(host.finish(thread), vec![1, END]);
        });
    }
}
