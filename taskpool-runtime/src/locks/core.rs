//! `LockCore`: one lock's state machine under a mutex, and the two ways to wait for it — a
//! blocked thread (parked, inside `block_in_place`) and a future (woken through its waker).
//!
//! The core is not generic: [`AsyncLock<T>`](super::AsyncLock) keeps its value beside it, and
//! the registry of live locks (`named.rs`) keeps weak references to cores of every type.

use std::future::Future;
use std::pin::Pin;
use std::sync::Weak;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use super::abort::{AbortSignal, Withdrawal};
use super::deadline::{Deadline, Withdraw};
use super::diagnosis::{self, AsyncLockState};
use super::options::{AsyncLockMode, AsyncLockOptions};
use super::state::{LockState, Policy, Polled, RequestId, Requested};
use super::who::Who;
use crate::error::{Error, Result};
use crate::panic;
use crate::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use crate::sync::{Arc, Condvar, Mutex, lock};
use crate::time::deadline_after;
use crate::waker_offer::with_offer;

/// One lock: its identity and its state machine.
pub(crate) struct LockCore {
    /// Process-unique, for anonymous names and the registry.
    id: u64,
    /// The name given to [`AsyncLock::request`](super::AsyncLock::request); `None` for a lock
    /// made with `new`, which is called `anonymous#<id>`.
    name: Option<Arc<str>>,
    state: Mutex<LockState>,
}

/// How a request waits: as a try, or until an optional deadline.
#[derive(Clone, Copy, Debug)]
struct Plan {
    policy: Policy,
    /// `None`: no deadline (no timeout, or one too long to represent).
    deadline: Option<Instant>,
}

impl Plan {
    fn of(options: &AsyncLockOptions) -> Plan {
        let try_only = options.is_available || options.timeout == Some(Duration::ZERO);
        Plan {
            policy: if try_only { Policy::Try } else { Policy::Wait },
            deadline: options
                .timeout
                .filter(|timeout| !timeout.is_zero())
                .and_then(|timeout| deadline_after(Instant::now(), timeout)),
        }
    }
}

impl LockCore {
    /// A new, free lock; `name` for a named lock.
    pub(crate) fn new(name: Option<Arc<str>>) -> LockCore {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        LockCore {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            name,
            state: Mutex::new(LockState::default()),
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The lock's name: the requested one, or `anonymous#<id>`.
    pub(crate) fn name(&self) -> String {
        match &self.name {
            Some(name) => name.to_string(),
            None => format!("anonymous#{}", self.id),
        }
    }

    /// A try: granted now or never.
    pub(crate) fn try_acquire(&self, mode: AsyncLockMode) -> Option<RequestId> {
        match lock(&self.state).request(mode, Who::current(), Policy::Try, noop_waker) {
            Requested::Granted(id) => Some(id),
            Requested::Queued(_) | Requested::Refused => None,
        }
    }

    /// Takes the lock in `mode`, blocking the thread while it waits. Inside a pool task the wait
    /// counts the thread as blocked (`block_in_place`), so the pool may add a thread meanwhile.
    pub(crate) fn acquire_blocking(
        self: &Arc<Self>,
        mode: AsyncLockMode,
        options: &AsyncLockOptions,
    ) -> Result<RequestId> {
        let signal = options.signal.as_ref();
        if let Some(signal) = signal.filter(|signal| signal.is_aborted()) {
            return Err(self.aborted(signal));
        }
        let plan = Plan::of(options);
        let who = Who::current();
        let mut parker = None;
        let requested = lock(&self.state).request(mode, who.clone(), plan.policy, || {
            let new = Arc::new(Parker::default());
            parker = Some(Arc::clone(&new));
            Waker::from(new)
        });
        let id = match requested {
            Requested::Granted(id) => return Ok(id),
            Requested::Refused => return Err(self.refused(mode, options)),
            Requested::Queued(id) => id,
        };
        let parker = parker.expect("a queued request made its parker");
        let waker = Waker::from(Arc::clone(&parker));
        let key = signal.and_then(|signal| signal.register(&waker, self.withdrawal(id)));
        let outcome = crate::pool::block_in_place(|| {
            loop {
                if signal.is_some_and(AbortSignal::is_aborted) {
                    return Outcome::Aborted;
                }
                // With its waker: a release takes a woken waiter's waker, and one overtaken
                // after its wake-up must be woken again.
                let polled = with_offer(&waker, |offer| {
                    self.with_state(|state| state.poll(id, offer, who.clone()))
                });
                match polled {
                    Polled::Granted => return Outcome::Granted,
                    Polled::Waiting => {}
                    // Its waker (a parker) never panics, so only an abort withdrew it.
                    Polled::Unknown => {
                        assert!(
                            signal.is_some_and(AbortSignal::is_aborted),
                            "a blocked waiter leaves the queue by itself or by an abort"
                        );
                        return Outcome::Aborted;
                    }
                }
                match plan.deadline {
                    None => parker.park(None),
                    Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                        Some(left) if !left.is_zero() => parker.park(Some(left)),
                        _ => return Outcome::TimedOut,
                    },
                }
            }
        });
        if let (Some(signal), Some(key)) = (signal, key) {
            signal.unregister(key);
        }
        self.settle(id, mode, options, outcome)
    }

    /// Takes the lock in `mode` asynchronously.
    pub(crate) fn acquire(
        self: &Arc<Self>,
        mode: AsyncLockMode,
        options: AsyncLockOptions,
    ) -> Acquire<'_> {
        Acquire {
            core: self,
            mode,
            options,
            step: Step::Start,
        }
    }

    /// The end of a wait: `Ok` if granted; otherwise the request leaves the queue (waking whom
    /// its departure lets go) and the error says why.
    fn settle(
        &self,
        id: RequestId,
        mode: AsyncLockMode,
        options: &AsyncLockOptions,
        outcome: Outcome,
    ) -> Result<RequestId> {
        let error = match outcome {
            Outcome::Granted => return Ok(id),
            // The report is made while this request still waits, so it names it too.
            Outcome::TimedOut => self.timed_out(mode, options.timeout.unwrap_or_default()),
            Outcome::Aborted => self.aborted(
                options
                    .signal
                    .as_ref()
                    .expect("only a request with a signal is aborted"),
            ),
        };
        self.cancel(id);
        Err(error)
    }

    /// Polls the waiting async request `id`: granted, still waiting (`None`), or withdrawn by its
    /// signal or at its deadline. Gone for neither reason, its waker panicked when its turn
    /// came, so it gave up its place (`LockCore::wake`); polled after all, it asks anew, keeping
    /// its deadline and signal, and `id` becomes the new request's.
    fn poll_queued(
        &self,
        id: &mut RequestId,
        mode: AsyncLockMode,
        waker: &Waker,
        signal: Option<&AbortSignal>,
        timeout: Option<&Timeout>,
    ) -> Option<Outcome> {
        if let Some(outcome) = withdrawn(signal, timeout) {
            return Some(outcome);
        }
        // The waker is offered (see `waker_offer`): the executor's code runs outside the lock,
        // as it may call back into this lock.
        let polled = with_offer(waker, |offer| {
            self.with_state(|state| state.poll(*id, offer, Who::current()))
        });
        match polled {
            Polled::Granted => Some(Outcome::Granted),
            Polled::Waiting => None,
            // Withdrawn since the check above: each sets its flag before it withdraws.
            Polled::Unknown => withdrawn(signal, timeout).or_else(|| {
                match self.request_async(mode, Policy::Wait, waker) {
                    Requested::Granted(new) => {
                        *id = new;
                        Some(Outcome::Granted)
                    }
                    Requested::Queued(new) => {
                        *id = new;
                        None
                    }
                    Requested::Refused => unreachable!("a request that may wait is never refused"),
                }
            }),
        }
    }

    /// A new request in `mode` from an async task polled with `waker`. The waker is cloned
    /// before locking, if the request may wait, and dropped after unlocking if it did not: the
    /// executor's code may call back into this lock.
    fn request_async(&self, mode: AsyncLockMode, policy: Policy, waker: &Waker) -> Requested {
        let mut offered = (policy == Policy::Wait).then(|| waker.clone());
        let requested = self.with_state(|state| {
            let waker = || {
                offered
                    .take()
                    .expect("a request that may wait offers a waker")
            };
            state.request(mode, Who::current(), policy, waker)
        });
        panic::drop_quietly(offered);
        requested
    }

    /// The holder `id` releases the lock.
    pub(crate) fn release(&self, id: RequestId) {
        let woken = lock(&self.state).release(id);
        self.wake(woken);
    }

    /// What an abort signal needs to withdraw the waiter `id` (see [`AbortSignal::abort`]).
    fn withdrawal(self: &Arc<Self>, id: RequestId) -> Withdrawal {
        Withdrawal {
            lock: Arc::downgrade(self),
            id,
        }
    }

    /// The waiter `id` leaves the queue, waking whom its departure lets go; nothing happens if
    /// it is not waiting (it took the lock, or left already).
    pub(crate) fn cancel(&self, id: RequestId) {
        let woken = self.with_state(|state| state.cancel(id));
        self.wake(woken);
    }

    /// Runs `f` on the state under its mutex, then drops the wakers the state let go of
    /// (departed waiters', granted waiters', replaced ones) after unlocking, each on its own
    /// with its panic contained. Dropping a user waker is user code: it may be the last
    /// reference to a task whose `Drop` panics. Under the mutex, that panic cut a departure
    /// short before the waiters it let go were woken (they waited forever), and a poll that
    /// had just been granted the lock unwound instead of returning it, leaving a holder that
    /// nobody would ever release.
    fn with_state<R>(&self, f: impl FnOnce(&mut LockState) -> R) -> R {
        let (result, discarded) = {
            let mut state = lock(&self.state);
            let result = f(&mut state);
            (result, state.take_discarded())
        };
        discarded.drop_quietly();
        result
    }

    /// Wakes the waiters that may now take the lock, outside the state's mutex.
    ///
    /// A user waker may panic (a broken executor). The panic must not reach the releasing
    /// caller (a guard's `Drop`, perhaps while unwinding already), and the waiters after it must
    /// still be woken. The waiter whose waker panicked gives up its place, as a dropped future
    /// would: its task cannot be told its turn came, and the lock must not stay reserved for it
    /// while others wait. The waiters its departure lets go are woken in turn. If its future is
    /// polled again after all, it asks anew at the back of the queue.
    fn wake(&self, mut woken: Vec<(RequestId, Waker)>) {
        while !woken.is_empty() {
            let failed: Vec<RequestId> = woken
                .into_iter()
                .filter_map(|(id, waker)| (!panic::wake_quietly(waker)).then_some(id))
                .collect();
            if failed.is_empty() {
                return;
            }
            // Each round removes waiters from the queue, so the loop ends.
            woken = self
                .with_state(|state| failed.into_iter().flat_map(|id| state.cancel(id)).collect());
        }
    }

    /// Whether the caller (its task, or its thread outside tasks) is among the holders now.
    pub(crate) fn held_by_caller(&self) -> bool {
        let caller = Who::current().party();
        lock(&self.state)
            .holders()
            .iter()
            .any(|holder| holder.who.party() == caller)
    }

    /// Whether a request waits for the lock, now.
    pub(crate) fn has_waiters(&self) -> bool {
        lock(&self.state).waiters().next().is_some()
    }

    /// Who holds the lock and who waits for it, now.
    pub(crate) fn snapshot(&self) -> AsyncLockState {
        let name = self.name();
        let state = lock(&self.state);
        diagnosis::state_of(name, state.holders(), state.waiters())
    }

    fn refused(&self, mode: AsyncLockMode, options: &AsyncLockOptions) -> Error {
        if options.is_available {
            Error::LockUnavailable {
                name: self.name(),
                mode,
            }
        } else {
            self.timed_out(mode, Duration::ZERO)
        }
    }

    fn timed_out(&self, mode: AsyncLockMode, timeout: Duration) -> Error {
        Error::LockTimedOut {
            name: self.name(),
            mode,
            timeout,
            diagnosis: diagnosis::timeout_report(self, &Who::current(), mode),
        }
    }

    fn aborted(&self, signal: &AbortSignal) -> Error {
        Error::LockAborted {
            name: self.name(),
            reason: signal.reason_or_default(),
        }
    }

    /// The state machine, for the model checks.
    #[cfg(all(test, taskpool_loom))]
    pub(crate) fn state(&self) -> crate::sync::MutexGuard<'_, LockState> {
        lock(&self.state)
    }
}

/// How a blocking wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Granted,
    TimedOut,
    Aborted,
}

/// Wakes one blocked thread: the waker of a blocking request. A wake that comes before the
/// park is kept, so none is lost.
///
/// Before it sleeps, `park` spins briefly on an atomic hint of the flag (and yields a few
/// times): under contention the turn often comes within a few hundred nanoseconds, and sleeping
/// on the condition variable would cost two system calls and a context switch per hand-over.
pub(crate) struct Parker {
    notified: Mutex<bool>,
    wakeup: Condvar,
    /// Set by `wake` before it takes the mutex: what the spin watches.
    hint: AtomicBool,
}

/// Rounds of spinning (doubling each round) and then yielding before a parker sleeps.
#[cfg(not(taskpool_loom))]
const SPIN_ROUNDS: u32 = 6;
#[cfg(not(taskpool_loom))]
const YIELD_ROUNDS: u32 = 4;

impl Default for Parker {
    fn default() -> Parker {
        Parker {
            notified: Mutex::new(false),
            wakeup: Condvar::new(),
            hint: AtomicBool::new(false),
        }
    }
}

impl Parker {
    /// Sleeps until woken, or for at most `timeout`; consumes the wake.
    pub(crate) fn park(&self, timeout: Option<Duration>) {
        self.spin();
        let mut notified = lock(&self.notified);
        if !*notified {
            notified = match timeout {
                None => self
                    .wakeup
                    .wait(notified)
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(timeout) => match self.wakeup.wait_timeout(notified, timeout) {
                    Ok((guard, _)) => guard,
                    Err(poisoned) => poisoned.into_inner().0,
                },
            };
        }
        *notified = false;
        self.hint.store(false, Ordering::Relaxed);
    }

    /// Waits briefly for the hint, without sleeping.
    #[cfg(not(taskpool_loom))]
    fn spin(&self) {
        for round in 0..SPIN_ROUNDS + YIELD_ROUNDS {
            if self.hint.load(Ordering::Acquire) {
                return;
            }
            if round < SPIN_ROUNDS {
                for _ in 0..1u32 << round {
                    std::hint::spin_loop();
                }
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// The model checks explore every interleaving instead.
    #[cfg(taskpool_loom)]
    fn spin(&self) {}
}

impl Wake for Parker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.hint.store(true, Ordering::Release);
        *lock(&self.notified) = true;
        self.wakeup.notify_one();
    }
}

/// Why a waiting request is gone from its lock's queue without taking the lock: its signal
/// aborted or its time ran out, each withdrawing it itself; `None` if neither happened.
fn withdrawn(signal: Option<&AbortSignal>, timeout: Option<&Timeout>) -> Option<Outcome> {
    if signal.is_some_and(AbortSignal::is_aborted) {
        Some(Outcome::Aborted)
    } else if timeout.is_some_and(Timeout::expired) {
        Some(Outcome::TimedOut)
    } else {
        None
    }
}

/// How the deadline of a waiting async request withdraws it from the lock, as an abort does
/// (see [`Deadline`]); the request's task then fails with `LockTimedOut`.
struct Timeout {
    lock: Weak<LockCore>,
    /// The request's id (one that asks anew gets a new id: see `poll_timeout`).
    id: AtomicU64,
    /// Set before the withdrawal, so a waiter that finds its request gone knows why.
    expired: AtomicBool,
}

impl Timeout {
    /// The timeout of the waiting request `id` of `core`, not yet expired.
    fn new(core: &Arc<LockCore>, id: RequestId) -> Timeout {
        Timeout {
            lock: Arc::downgrade(core),
            id: AtomicU64::new(id),
            expired: AtomicBool::new(false),
        }
    }

    /// Whether it has withdrawn (or is withdrawing) the request.
    fn expired(&self) -> bool {
        self.expired.load(Ordering::SeqCst)
    }
}

impl Withdraw for Timeout {
    fn withdraw(&self) {
        self.expired.store(true, Ordering::SeqCst);
        // Nothing happens if the request took the lock or left already.
        if let Some(core) = self.lock.upgrade() {
            core.cancel(self.id.load(Ordering::SeqCst));
        }
    }
}

/// The deadline of a waiting async request `id`: whether it has passed. Otherwise `id` is the
/// one withdrawn at the deadline (recorded before the timer is looked at, so an expiry that
/// comes meanwhile withdraws this id).
fn poll_timeout(timer: &mut Deadline<Timeout>, id: RequestId, task: &Waker) -> bool {
    timer.withdrawal().id.store(id, Ordering::SeqCst);
    timer.poll(task)
}

/// A waker that does nothing, for requests that never queue (tries).
fn noop_waker() -> Waker {
    Waker::noop().clone()
}

/// The future of an asynchronous request: resolves to the request id once granted, or to the
/// error of a refusal, a timeout or an abort. Dropping it while it waits gives up its place and
/// wakes whom that lets go.
pub(crate) struct Acquire<'a> {
    core: &'a Arc<LockCore>,
    mode: AsyncLockMode,
    options: AsyncLockOptions,
    step: Step,
}

enum Step {
    /// Not polled yet: the request is made at the first poll.
    Start,
    Waiting {
        id: RequestId,
        /// The waker registered with the abort signal.
        signal_key: Option<u64>,
        /// The timeout, if any.
        timer: Option<Deadline<Timeout>>,
    },
    Done,
}

impl Future for Acquire<'_> {
    type Output = Result<RequestId>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<RequestId>> {
        let this = self.get_mut();
        loop {
            let polled = match this.step {
                Step::Start => this.start(cx),
                Step::Waiting { .. } => this.poll_waiting(cx),
                Step::Done => panic!("a lock future was polled after it completed"),
            };
            if let Some(polled) = polled {
                return polled;
            }
        }
    }
}

impl Acquire<'_> {
    /// The first poll: makes the request. `None` once it is queued (the step is `Waiting`, to be
    /// polled at once).
    fn start(&mut self, cx: &Context<'_>) -> Option<Poll<Result<RequestId>>> {
        let core = self.core;
        let signal = self.options.signal.as_ref();
        if let Some(signal) = signal.filter(|signal| signal.is_aborted()) {
            self.step = Step::Done;
            return Some(Poll::Ready(Err(core.aborted(signal))));
        }
        let plan = Plan::of(&self.options);
        let id = match core.request_async(self.mode, plan.policy, cx.waker()) {
            Requested::Granted(id) => {
                self.step = Step::Done;
                return Some(Poll::Ready(Ok(id)));
            }
            Requested::Refused => {
                self.step = Step::Done;
                return Some(Poll::Ready(Err(core.refused(self.mode, &self.options))));
            }
            Requested::Queued(id) => id,
        };
        // Waiting before the signal clones the waker: if that clone panics (a broken
        // executor), dropping this future still withdraws the request.
        self.step = Step::Waiting {
            id,
            signal_key: None,
            timer: None,
        };
        let signal_key = signal.and_then(|signal| signal.register(cx.waker(), core.withdrawal(id)));
        let timer = plan.deadline.map(|deadline| {
            Deadline::new(
                Timeout::new(core, id),
                deadline.saturating_duration_since(Instant::now()),
            )
        });
        self.step = Step::Waiting {
            id,
            signal_key,
            timer,
        };
        None
    }

    /// A poll while the request waits: its outcome if it has one (granted, aborted, timed
    /// out). `None` if an abort may have been missed: poll again.
    fn poll_waiting(&mut self, cx: &Context<'_>) -> Option<Poll<Result<RequestId>>> {
        let core = self.core;
        let Step::Waiting {
            id,
            signal_key,
            timer,
        } = &mut self.step
        else {
            unreachable!("polled as waiting in another step")
        };
        let signal = self.options.signal.as_ref();
        let timeout = timer.as_ref().map(Deadline::withdrawal);
        // The request may be made anew (its id changes): the step keeps the new id.
        let outcome = core.poll_queued(id, self.mode, cx.waker(), signal, timeout);
        let (id, signal_key) = (*id, *signal_key);
        let outcome = outcome.or_else(|| {
            let fired = timer
                .as_mut()
                .is_some_and(|timer| poll_timeout(timer, id, cx.waker()));
            fired.then_some(Outcome::TimedOut)
        });
        let Some(outcome) = outcome else {
            if let (Some(signal), Some(key)) = (signal, signal_key) {
                signal.update(key, cx.waker(), id);
                // An abort between the check above and this update woke the waker it had (the
                // previous poll's, perhaps another task's): look again, or this poll's waker
                // would never hear of it.
                if signal.is_aborted() {
                    return None;
                }
            }
            return Some(Poll::Pending);
        };
        if let (Some(signal), Some(key)) = (signal, signal_key) {
            signal.unregister(key);
        }
        self.step = Step::Done;
        let settled = core.settle(id, self.mode, &self.options, outcome);
        Some(Poll::Ready(settled))
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        if let Step::Waiting { id, signal_key, .. } = self.step {
            if let (Some(signal), Some(key)) = (self.options.signal.as_ref(), signal_key) {
                signal.unregister(key);
            }
            // Woken for a lock it will never take, perhaps: the departure wakes whom it lets go.
            self.core.cancel(id);
        }
    }
}

/// Model checks of the timeout's expiry (the timer thread withdrawing a waiting async request)
/// racing the release, the waiter's own poll and a reader behind it. The timer is played by a
/// thread that wakes the expiry, as the timer thread does at the deadline. Run with
/// `RUSTFLAGS="--cfg taskpool_loom" cargo test -p taskpool-runtime --lib --release loom_tests`.
#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use std::sync::Arc;
    use std::task::Waker;

    use loom::sync::atomic::{AtomicBool, Ordering};

    use super::super::deadline::Expiry;
    use super::super::state::loom_tests::{Flag, assert_free, core, reader};
    use super::*;

    /// A writer queued behind a reader, with its expiry, and the flag its waker sets.
    fn queued_writer(core: &Arc<LockCore>) -> (RequestId, Arc<Expiry<Timeout>>, Arc<Flag>) {
        let woken = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(woken.clone());
        let requested = lock(&core.state).request(
            AsyncLockMode::Exclusive,
            Who::current(),
            Policy::Wait,
            || waker.clone(),
        );
        let Requested::Queued(id) = requested else {
            panic!("the writer must queue behind the reader");
        };
        let expiry = Expiry::new(Timeout::new(core, id));
        expiry.task.register(&waker);
        (id, expiry, woken)
    }

    fn timer(expiry: &Arc<Expiry<Timeout>>) -> loom::thread::JoinHandle<()> {
        let waker = Waker::from(expiry.clone());
        loom::thread::spawn(move || waker.wake())
    }

    /// The writer's time runs out while the reader holding the lock releases it and another
    /// reader queues behind the writer (or comes after the expiry). The writer's waiter never
    /// runs until the reader is through: the expiry alone withdraws it. Polled at last, it
    /// finds itself timed out, its task woken, and the lock ends free.
    #[test]
    fn an_expiry_withdraws_a_request_whose_waiter_never_runs() {
        loom::model(|| {
            let core = core();
            let held = core.try_acquire(AsyncLockMode::Shared).unwrap();
            let (mut id, expiry, woken) = queued_writer(&core);
            let reader = reader(&core, &Arc::new(AtomicBool::new(false)));
            let timer = timer(&expiry);
            core.release(held);
            reader.join().unwrap();
            timer.join().unwrap();
            assert!(
                woken.0.load(Ordering::SeqCst),
                "the timed-out waiter was not told"
            );
            let outcome = core.poll_queued(
                &mut id,
                AsyncLockMode::Exclusive,
                Waker::noop(),
                None,
                Some(&expiry.withdrawal),
            );
            assert_eq!(outcome, Some(Outcome::TimedOut));
            assert_free(&core);
        });
    }

    /// The expiry races the writer's own poll after the release made it eligible: the writer
    /// ends with the lock (and no reader gets in until it releases) or timed out, never both
    /// and never still waiting, and the reader behind it always gets through.
    #[test]
    fn an_expiry_racing_the_waiters_grant_settles_once() {
        loom::model(|| {
            let core = core();
            let held = core.try_acquire(AsyncLockMode::Exclusive).unwrap();
            let (mut id, expiry, _) = queued_writer(&core);
            let writing = Arc::new(AtomicBool::new(false));
            let reader = reader(&core, &writing);
            let timer = timer(&expiry);
            core.release(held);
            match core.poll_queued(
                &mut id,
                AsyncLockMode::Exclusive,
                Waker::noop(),
                None,
                Some(&expiry.withdrawal),
            ) {
                Some(Outcome::Granted) => {
                    writing.store(true, Ordering::SeqCst);
                    writing.store(false, Ordering::SeqCst);
                    core.release(id);
                }
                // What `settle` does for a timed-out request.
                Some(Outcome::TimedOut) => core.cancel(id),
                other => panic!("an eligible or timed-out request ended with {other:?}"),
            }
            reader.join().unwrap();
            timer.join().unwrap();
            assert_free(&core);
        });
    }
}
