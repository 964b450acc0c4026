//! `TaskHandle`: the receiving end of one run, blocking and `Future` at once.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::panic::drop_quietly;
use crate::run::{Run, RunOps, TypedRun, waits};
use crate::sync::atomic::{AtomicU8, Ordering};
use crate::sync::{Arc, Mutex, lock, with_mut};
use crate::task::TaskId;
use crate::waker_offer::with_offer;

/// Where a run's outcome lands. It is resolved at most once; later attempts are ignored, which
/// is how a timeout or a cancel "wins" over a result that arrives afterwards.
///
/// Small on purpose (it is part of every queued run): one lock around the slot, and a state
/// byte a waiter spins on. A blocked waiter parks its thread and leaves a waker that unparks
/// it, so no condition variable is needed; an error is boxed, and whether a resolver claimed
/// the slot or the handle let go lives in the state byte, so a slot is two words.
///
/// `S` is a value of the owner's kept under the same lock (a run keeps its body there): one
/// lock for both makes every queued run a lock smaller. Code that holds it must not resolve,
/// wait on or detach the completion.
pub(crate) struct Completion<T, S = ()> {
    cell: Mutex<Cell<T, S>>,
    /// [`PENDING`], [`CLAIMED`] while a resolver that won is on its way, then [`READY`] once
    /// an outcome is stored (written after the slot: what a waiter spins on before it parks),
    /// then [`TAKEN`] once the slot is empty for good; with [`DETACHED`] while pending or
    /// claimed once the handle is gone. Written under the lock only. [`TAKEN`] lets the usual
    /// end of a handle — `wait`, then drop — skip the lock twice: a spent slot needs no
    /// detaching, and nothing is left in it to drop.
    state: AtomicU8,
}

/// What the completion's lock guards.
struct Cell<T, S> {
    slot: Slot<T>,
    side: S,
}

/// No outcome yet.
const PENDING: u8 = 0;
/// An outcome is stored, or was (see [`TAKEN`]).
const READY: u8 = 1;
/// The slot is empty and stays so: the outcome was handed out or dropped.
const TAKEN: u8 = 2;
/// No outcome yet, but a resolver won the right to store it and is on its way (flagging a
/// timed-out run canceled, running the settle hooks): it will be stored whatever the run's
/// call does. Written before the flag, so a run that sees itself flagged sees this too.
const CLAIMED: u8 = 3;
/// Beside [`PENDING`] or [`CLAIMED`]: the handle was dropped, so nobody will take the outcome;
/// its resolver drops it at once (see [`Completion::detach`]).
const DETACHED: u8 = 4;
/// The bits of the state other than [`DETACHED`].
const PHASE: u8 = 3;

/// How many times a blocking wait checks for the outcome, with a spin hint in between, before
/// it yields; then how many times it yields before it parks. A short task's outcome usually
/// lands within a few microseconds, and parking then waking costs a system call on each side
/// and a context switch. Bounded (a few microseconds), so a long wait burns nothing.
const WAIT_SPINS: u32 = 64;
const WAIT_YIELDS: u32 = 8;

enum Slot<T> {
    /// No outcome: none yet, or none any more (the state tells which). The waker is whoever
    /// waits (an `.await`, or a parked thread); a no-op waker when nobody does, which keeps
    /// the slot two words (an `Option` around the waker would need a tag beside the outcome).
    Empty(Waker),
    Ready(std::result::Result<T, Box<Error>>),
}

/// The waker of an empty slot that nobody waits on.
fn nobody() -> Waker {
    Waker::noop().clone()
}

/// The waker a slot held, `None` if nobody waited.
fn waiting(waker: Waker) -> Option<Waker> {
    (!waker.will_wake(Waker::noop())).then_some(waker)
}

impl<T> Completion<T> {
    pub(crate) fn new() -> Completion<T> {
        Completion::with_side(())
    }
}

impl<T, S> Completion<T, S> {
    /// A pending completion that keeps `side` under its lock.
    pub(crate) fn with_side(side: S) -> Completion<T, S> {
        Completion {
            cell: Mutex::new(Cell {
                slot: Slot::Empty(nobody()),
                side,
            }),
            state: AtomicU8::new(PENDING),
        }
    }

    /// Runs `f` on the side value, under the lock (see [`Completion`] for what `f` must not do).
    pub(crate) fn with_side_locked<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        f(&mut lock(&self.cell).side)
    }

    /// Runs `f` on the side value of a completion owned exclusively.
    pub(crate) fn side_mut<R>(&mut self, f: impl FnOnce(&mut S) -> R) -> R {
        with_mut(&mut self.cell, |cell| f(&mut cell.side))
    }

    /// The state's phase (`PENDING`, `CLAIMED`, `READY`, `TAKEN`), without [`DETACHED`].
    fn phase(&self) -> u8 {
        self.state.load(Ordering::Acquire) & PHASE
    }

    /// Moves to `phase`, keeping [`DETACHED`]. Under the lock.
    fn enter(&self, phase: u8) {
        let detached = self.state.load(Ordering::Relaxed) & DETACHED;
        self.state.store(phase | detached, Ordering::Release);
    }

    /// Stores the outcome if none is stored yet; returns whether this call stored it.
    pub(crate) fn resolve(&self, outcome: Result<T>) -> bool {
        self.resolve_and(outcome, || {})
    }

    /// Like [`resolve`](Completion::resolve), running `won` (which must be short and must not
    /// block: the slot is locked) only if this call stores the outcome, before any waiter can
    /// see it.
    pub(crate) fn resolve_and(&self, outcome: Result<T>, won: impl FnOnce()) -> bool {
        let outcome = outcome.map_err(Box::new);
        // One lock: the common path has no hook to run between claiming and storing.
        let (waker, unclaimed) = {
            let mut cell = lock(&self.cell);
            if self.phase() != PENDING {
                return false;
            }
            self.enter(CLAIMED);
            won();
            self.store(&mut cell.slot, outcome)
        };
        wake(waker);
        drop_quietly(unclaimed);
        true
    }

    /// Like [`resolve`](Completion::resolve), but first claims the right to resolve, then runs
    /// `before` with the outcome (no lock held), then stores it. Exactly one resolver ever runs
    /// `before`, and it runs before any waiter can see the outcome.
    pub(crate) fn resolve_with(&self, outcome: Result<T>, before: impl FnOnce(&Result<T>)) -> bool {
        let claimed = self.claim();
        if claimed {
            self.store_claimed(outcome, before);
        }
        claimed
    }

    /// Claims the right to resolve; `true` if this call won it, and must then resolve with
    /// [`store_claimed`](Completion::store_claimed). Waiters keep waiting meanwhile, and every
    /// other resolver loses.
    pub(crate) fn claim(&self) -> bool {
        let _cell = lock(&self.cell);
        if self.phase() != PENDING {
            return false;
        }
        self.enter(CLAIMED);
        true
    }

    /// The resolution of a [`claim`](Completion::claim) that won: runs `before` with the
    /// outcome (no lock held), then stores it.
    pub(crate) fn store_claimed(&self, outcome: Result<T>, before: impl FnOnce(&Result<T>)) {
        before(&outcome);
        let outcome = outcome.map_err(Box::new);
        let (waker, unclaimed) = self.store(&mut lock(&self.cell).slot, outcome);
        wake(waker);
        drop_quietly(unclaimed);
    }

    /// Stores the outcome in a claimed slot; returns the waker to wake once the lock is gone,
    /// and the outcome itself if the handle was dropped (nobody will take it): the resolver
    /// drops it once the lock is gone. The resolver is the thread that ended the run, which
    /// still counts as executing it, so a `Drop` of the outcome that blocks is under the time
    /// limit like the function, instead of stalling the thread later where the pool cannot see.
    #[allow(clippy::type_complexity)]
    fn store(
        &self,
        slot: &mut Slot<T>,
        outcome: std::result::Result<T, Box<Error>>,
    ) -> (Option<Waker>, Option<std::result::Result<T, Box<Error>>>) {
        let detached = self.state.load(Ordering::Relaxed) & DETACHED != 0;
        let (stored, unclaimed, state) = if detached {
            (Slot::Empty(nobody()), Some(outcome), TAKEN)
        } else {
            (Slot::Ready(outcome), None, READY)
        };
        let Slot::Empty(waker) = std::mem::replace(slot, stored) else {
            unreachable!("only an empty slot is resolved");
        };
        self.state.store(state, Ordering::Release);
        (waiting(waker), unclaimed)
    }

    /// The handle is gone: an outcome already stored is returned (for the caller to drop once
    /// the lock is gone), and one stored later is dropped by its resolver. Either way the
    /// outcome is dropped on a thread that is known to be busy with it, never by whoever lets
    /// go of the run last (which may be a pool thread holding the pool's lock).
    ///
    /// The waker of whoever polled the handle last goes now too: nobody awaits the outcome any
    /// more. Kept, it would hold that waiter — a `select!` that dropped the handle, an
    /// executor's waker, the run of a task that already ended — until this run ends, maybe
    /// never, and then wake it for nothing.
    #[allow(clippy::type_complexity)]
    pub(crate) fn detach(&self) -> Option<std::result::Result<T, Box<Error>>> {
        if self.phase() == TAKEN {
            return None;
        }
        let mut cell = lock(&self.cell);
        match self.phase() {
            PENDING | CLAIMED => {
                let state = self.state.load(Ordering::Relaxed);
                self.state.store(state | DETACHED, Ordering::Release);
                let Slot::Empty(waker) = &mut cell.slot else {
                    unreachable!("an unresolved slot is empty");
                };
                let waker = std::mem::replace(waker, nobody());
                drop(cell);
                // User code (its executor's `Drop`), outside the lock.
                drop_quietly(waker);
                None
            }
            READY => Some(self.take_ready(&mut cell.slot)),
            _ => None,
        }
    }

    /// Takes the outcome out of a ready slot, which stays empty for good.
    fn take_ready(&self, slot: &mut Slot<T>) -> std::result::Result<T, Box<Error>> {
        self.state.store(TAKEN, Ordering::Release);
        match std::mem::replace(slot, Slot::Empty(nobody())) {
            Slot::Ready(outcome) => outcome,
            Slot::Empty(_) => unreachable!("only a ready slot is taken"),
        }
    }

    /// Spins, then yields, for a short while until an outcome is stored; true if one is.
    fn spin_until_ready(&self) -> bool {
        for _ in 0..WAIT_SPINS {
            if self.is_resolved() {
                return true;
            }
            crate::sync::spin_loop();
        }
        for _ in 0..WAIT_YIELDS {
            if self.is_resolved() {
                return true;
            }
            crate::sync::yield_now();
        }
        self.is_resolved()
    }

    /// Takes the outcome if there is one; otherwise leaves `waker` to be woken by it.
    ///
    /// The waker is offered (see `waker_offer`): cloned and dropped outside the lock, as the
    /// executor's code may call back into this very run (cancel it, which resolves this slot).
    fn take_or_register(&self, waker: &Waker) -> Option<Result<T>> {
        with_offer(waker, |offer| {
            let mut cell = lock(&self.cell);
            if self.phase() == TAKEN {
                panic!("a TaskHandle was used after it returned its outcome");
            }
            match &mut cell.slot {
                Slot::Ready(_) => Some(Some(
                    self.take_ready(&mut cell.slot).map_err(|error| *error),
                )),
                Slot::Empty(left) => offer.replace(left).then_some(None),
            }
        })
    }

    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Result<T>> {
        match self.take_or_register(cx.waker()) {
            Some(outcome) => Poll::Ready(outcome),
            None => Poll::Pending,
        }
    }

    /// Blocks until resolved or until `deadline`; takes the outcome if there is one. On a pool
    /// thread, the thread counts as blocked meanwhile (see `pool::block_until`).
    pub(crate) fn wait_take(&self, deadline: Option<Instant>) -> Option<Result<T>> {
        if deadline.is_none_or(|deadline| deadline > Instant::now()) && self.spin_until_ready() {
            return self.take_or_register(Waker::noop());
        }
        // Woken by the resolver, or spuriously (a stale unpark): either way, look again.
        crate::pool::block_until(deadline, |waker| self.take_or_register(waker))
    }

    /// Takes the outcome if there is one, without waiting (for model checks).
    #[cfg(taskpool_loom)]
    pub(crate) fn try_take(&self) -> Option<Result<T>> {
        self.wait_take(Some(Instant::now()))
    }

    pub(crate) fn is_resolved(&self) -> bool {
        matches!(self.phase(), READY | TAKEN)
    }

    /// Whether the outcome is stored, or a resolver has claimed the right to store it and will
    /// (see [`CLAIMED`]).
    pub(crate) fn is_claimed(&self) -> bool {
        self.phase() != PENDING
    }
}

/// Wakes whoever waits for an outcome just stored. A user's `wake` that panics (a broken
/// executor) is contained: the resolver — a pool thread ending the run, a canceller, a group
/// failing its other members — has more to do after this.
fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        crate::panic::wake_quietly(waker);
    }
}

impl<T, S> Drop for Completion<T, S> {
    fn drop(&mut self) {
        // An outcome nobody took is user data whose `Drop` may panic, on whatever thread lets
        // go of the run last: a pool thread, a canceller, a pool being dropped.
        let slot = with_mut(&mut self.cell, |cell| {
            std::mem::replace(&mut cell.slot, Slot::Empty(nobody()))
        });
        drop_quietly(slot);
    }
}

/// The handle of one execution of a task (the Rust form of the promise ArkTS `execute` returns).
///
/// It resolves exactly once, with the task's value, the error it returned
/// ([`Error::TaskFailed`]), a panic ([`Error::Panicked`]), a cancel ([`Error::Canceled`]) or a
/// timeout ([`Error::TimedOut`]). Get the outcome by blocking ([`wait`](TaskHandle::wait),
/// [`wait_timeout`](TaskHandle::wait_timeout)) or by `.await`ing the handle on any executor.
///
/// **Dropping a handle detaches the run**: the task still runs to the end (or is canceled by
/// other means) and its outcome is discarded — dropped at once on the dropping thread if it is
/// already there, otherwise by the pool thread that ends the run, still under the time limit
/// (a `Drop` that blocks times the task out and retires that thread). To stop it, call
/// [`cancel`](TaskHandle::cancel) first.
///
/// **Blocking inside a task is safe**: [`wait`](TaskHandle::wait) called from a task of the
/// same pool first runs the awaited task right there if it has not started (as rayon's `join`
/// does); otherwise the thread counts as blocked while it waits, and the pool may add a thread
/// in its place, up to `max_threads + extra_threads` (as tokio's `block_in_place` does). Past
/// that ceiling, with no thread left to take work, a `wait` executes the pool's waiting work
/// itself (such as the woken `async` task it waits for); a `wait_timeout` does not, so as to
/// keep its deadline. Like rayon's `join`, a `wait` that stands in may run any waiting task
/// of the pool under the waiting one: do not hold a lock that such a task may block on while
/// you `wait`. An `async fn` task that `.await`s the handle frees its thread instead, which is
/// cheaper.
pub struct TaskHandle<T> {
    run: Arc<TypedRun<T>>,
}

impl<T: Send + 'static> TaskHandle<T> {
    pub(crate) fn new(run: Arc<TypedRun<T>>) -> TaskHandle<T> {
        TaskHandle { run }
    }

    pub(crate) fn header(&self) -> &crate::run::RunHeader {
        self.run.header()
    }

    /// The id of the task this run belongs to.
    pub fn id(&self) -> TaskId {
        self.run.header().id
    }

    /// Blocks the calling thread until the run's outcome is known. Inside a pool task, see
    /// the type's documentation for how the pool keeps going meanwhile.
    ///
    /// A run that waits for its own handle (passed to it through a static or a channel) gets
    /// [`Error::WaitsForItself`] at once instead of waiting forever; so does awaiting it. So
    /// does a run that waits for a run queued behind itself: a later task of its own
    /// [`SequenceRunner`](crate::SequenceRunner), of its own
    /// [`AsyncRunner`](crate::AsyncRunner) when its own run takes the runner's last free
    /// running slot, a second run of its own task executed by reference (runs of one task
    /// take turns), or a task that depends on it (directly or through a chain). And so does
    /// the wait that closes a cycle of blocking waits across threads — A waits for B while B
    /// waits for A, or through any number of tasks, runners and groups: the last of them to
    /// wait is told, and its error, returned as its value, ends the others' waits in turn.
    /// The error names the task of the calling thread that would have waited for itself.
    pub fn wait(self) -> Result<T> {
        let completion = &self.run.completion;
        if !completion.is_resolved() {
            crate::pool::run_inline(&self.target());
        }
        let _blocked = self.block()?;
        completion
            .wait_take(None)
            .expect("waiting without a deadline returns an outcome")
    }

    /// The run, type-erased.
    pub(crate) fn target(&self) -> Arc<Run> {
        self.run.clone()
    }

    /// Registers this thread's blocking wait for the run (see `run/waits.rs`), or fails with
    /// [`Error::WaitsForItself`] if it could never end: the outcome is unknown, and the run
    /// waits — itself, or through runners, dependencies and other blocked tasks — for a run
    /// this thread executes (whose task the error names).
    fn block(&self) -> Result<Option<waits::Registered<'static>>> {
        if self.run.completion.is_resolved() {
            return Ok(None);
        }
        waits::block_on(|| vec![self.target()]).map_err(Error::WaitsForItself)
    }

    /// What [`block`](Self::block) checks, registering nothing: for an `.await`, which holds
    /// no thread.
    fn endless_wait(&self) -> Option<Error> {
        if self.run.completion.is_resolved() {
            return None;
        }
        waits::waits_for_itself(|| vec![self.target()]).map(Error::WaitsForItself)
    }

    /// Blocks for at most `timeout` (a timeout too long to represent waits without bound).
    /// Returns `None` if the outcome is still unknown; the handle stays usable. After it
    /// returned `Some`, the handle is spent: waiting or polling it again panics.
    ///
    /// A wait that could never end — where [`wait`](TaskHandle::wait) gives
    /// [`Error::WaitsForItself`] — returns `Some(Err(Error::WaitsForItself(..)))` at once
    /// instead of waiting the timeout out; that answer does not spend the handle.
    #[must_use = "the outcome is taken out of the handle: dropping it loses it"]
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Result<T>> {
        let _blocked = match self.block() {
            Ok(blocked) => blocked,
            Err(error) => return Some(Err(error)),
        };
        let deadline = Instant::now().checked_add(timeout);
        self.run.completion.wait_take(deadline)
    }

    /// Whether the outcome is known (a `wait` would not block).
    pub fn is_finished(&self) -> bool {
        self.run.completion.is_resolved()
    }

    /// How long the task took (ArkTS `totalDuration`, `cpuDuration`, `ioDuration`), once this
    /// run's call has ended: the figures [`Task::durations`](crate::Task::durations) gives, here
    /// for a task whose execution consumed it, such as a [`LongTask`](crate::LongTask). Read it
    /// once [`wait_timeout`](Self::wait_timeout) returned the outcome, after
    /// `(&mut handle).await`, or once [`is_finished`](Self::is_finished).
    ///
    /// `None` while the run waits or executes (a run that timed out is resolved before its call
    /// returns), for a run that never executed, and for a one-shot task executed by value that
    /// keeps no record (no name, no listeners, data receiver or dependencies): keeping the
    /// figures would cost every such task an allocation. Execute it by reference and read
    /// `Task::durations`, or name it.
    pub fn durations(&self) -> Option<crate::TaskDurations> {
        self.run.header().task_durations()
    }

    /// Cancels the run (ArkTS `taskpool.cancel(task)` for this execution).
    ///
    /// A waiting run is removed and its handle resolves as canceled at once. An `async fn` run
    /// suspended at an `.await` is not polled again: its future is dropped there and its
    /// handle resolves as canceled at once (like aborting a tokio task). A run whose call or
    /// poll is executing keeps running to the end of it (the function can check
    /// [`is_canceled`](crate::is_canceled)), an `async fn` stops at its next `.await`, and the
    /// handle resolves as canceled then. A finished run gives [`Error::TaskNotFound`].
    pub fn cancel(&self) -> Result<()> {
        let run: Arc<Run> = self.run.clone();
        match run.pool.upgrade() {
            Some(pool) => pool.cancel_run(&run),
            None => Err(Error::TaskNotFound(self.id())),
        }
    }
}

impl<T> Drop for TaskHandle<T> {
    /// Detaches the run: an outcome nobody will take is dropped now (on this thread, if it is
    /// already there) or by the thread that ends the run, never later by whichever thread
    /// happens to let go of the run last (a pool thread, under the pool's lock).
    fn drop(&mut self) {
        // An outcome nobody read ends on this thread, with enough stack for what a task could
        // drop (`deep_drop`); split, so that an `Ok` of a type without drop glue costs nothing.
        match self.run.completion.detach() {
            Some(Ok(value)) => crate::deep_drop::drop_quietly(value),
            Some(Err(error)) => crate::deep_drop::drop_quietly(error),
            None => {}
        }
    }
}

/// Awaiting the handle yields the run's outcome once. Polling it again after that (or after
/// [`wait_timeout`](TaskHandle::wait_timeout) returned `Some`) panics: the outcome was handed
/// out already. A handle polled with a different waker each time wakes the latest one.
impl<T: Send + 'static> Future for TaskHandle<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        match self.run.completion.poll_take(cx) {
            // Resolved meanwhile, the check answers `None`: the waker just registered is woken.
            Poll::Pending => self
                .endless_wait()
                .map_or(Poll::Pending, |e| Poll::Ready(Err(e))),
            polled => polled,
        }
    }
}

impl<T: Send + 'static> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("task", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;
    use crate::sync::atomic::{AtomicUsize, Ordering};

    /// An outcome that counts its drops.
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A resolver's claim is visible before what it does once it won (a time-out's flag): a
    /// run that sees itself flagged sees its handle claimed, whichever resolve path flagged it,
    /// so its wait-for walk never takes the handle for one nobody will resolve.
    #[test]
    fn a_claim_is_seen_by_whoever_sees_the_resolver_s_flag() {
        for with_hooks in [false, true] {
            loom::model(move || {
                let completion: Arc<Completion<u32>> = Arc::new(Completion::new());
                let flag = Arc::new(crate::sync::atomic::AtomicBool::new(false));
                let resolver = {
                    let (completion, flag) = (Arc::clone(&completion), Arc::clone(&flag));
                    loom::thread::spawn(move || {
                        let raise = || flag.store(true, Ordering::Release);
                        if with_hooks {
                            completion.resolve_with(Ok(1), |_| raise());
                        } else {
                            completion.resolve_and(Ok(1), raise);
                        }
                    })
                };
                if flag.load(Ordering::Acquire) {
                    assert!(completion.is_claimed());
                }
                resolver.join().unwrap();
                assert!(completion.is_claimed() && completion.is_resolved());
            });
        }
    }

    /// Two resolvers race through the claim-then-store handshake: exactly one runs its hook,
    /// the hook runs before any waiter can see the outcome, and the outcome is the hook
    /// runner's.
    #[test]
    fn claim_then_store_runs_one_hook_before_the_outcome_is_seen() {
        loom::model(|| {
            let completion: Arc<Completion<u32>> = Arc::new(Completion::new());
            let hooks = Arc::new(AtomicUsize::new(0));
            let resolver = |value: u32| {
                let completion = Arc::clone(&completion);
                let hooks = Arc::clone(&hooks);
                loom::thread::spawn(move || {
                    completion.resolve_with(Ok(value), |_| {
                        hooks.fetch_add(1, Ordering::SeqCst);
                    })
                })
            };
            let a = resolver(1);
            let b = resolver(2);
            // A third party may look at any time: once resolved, the hook has run.
            if completion.is_resolved() {
                assert_eq!(hooks.load(Ordering::SeqCst), 1);
            }
            let (won_a, won_b) = (a.join().unwrap(), b.join().unwrap());
            assert!(won_a ^ won_b, "exactly one resolver stores");
            assert_eq!(hooks.load(Ordering::SeqCst), 1);
            let value = completion.try_take().unwrap().unwrap();
            assert_eq!(value, if won_a { 1 } else { 2 });
        });
    }

    /// The handle dropped (detach) while the run resolves, plainly or through the claim:
    /// the outcome is dropped exactly once — by the detach if it was stored first, by the
    /// resolver otherwise — and never left in the slot for whoever lets go of the run last.
    #[test]
    fn a_detach_racing_a_resolve_drops_the_outcome_exactly_once_before_either_returns() {
        for claimed in [false, true] {
            loom::model(move || {
                let completion: Arc<Completion<Counted>> = Arc::new(Completion::new());
                let drops = Arc::new(AtomicUsize::new(0));
                let resolver = {
                    let completion = Arc::clone(&completion);
                    let outcome = Ok(Counted(Arc::clone(&drops)));
                    loom::thread::spawn(move || {
                        if claimed {
                            completion.resolve_with(outcome, |_| {})
                        } else {
                            completion.resolve(outcome)
                        }
                    })
                };
                drop(completion.detach());
                assert!(resolver.join().unwrap(), "the only resolver stores");
                assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped once, already");
                assert!(completion.is_resolved());
                assert!(matches!(lock(&completion.cell).slot, Slot::Empty(_)));
            });
        }
    }

    /// The usual end of a handle — take the outcome, then drop (detach) — racing the resolve:
    /// whether the take finds the outcome or not, it is dropped exactly once, a detach after
    /// the take skips the lock (the slot is spent) and returns nothing, and the slot ends
    /// spent.
    #[test]
    fn a_detach_after_a_take_racing_the_resolve_drops_the_outcome_exactly_once() {
        loom::model(|| {
            let completion: Arc<Completion<Counted>> = Arc::new(Completion::new());
            let drops = Arc::new(AtomicUsize::new(0));
            let resolver = {
                let completion = Arc::clone(&completion);
                let outcome = Ok(Counted(Arc::clone(&drops)));
                loom::thread::spawn(move || completion.resolve(outcome))
            };
            let taken = completion.try_take();
            let took = taken.is_some();
            drop(taken);
            let detached = completion.detach();
            assert!(
                !took || detached.is_none(),
                "a spent slot gives nothing twice"
            );
            drop(detached);
            assert!(resolver.join().unwrap(), "the only resolver stores");
            assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped once");
            assert!(completion.is_resolved());
            assert_eq!(completion.state.load(Ordering::SeqCst), TAKEN);
            assert!(matches!(lock(&completion.cell).slot, Slot::Empty(_)));
        });
    }

    /// A waiter polled the handle, then the handle is dropped while the run resolves: the
    /// waiter's waker is woken by the resolver or let go by the detach — never left in the
    /// slot until the run goes.
    #[test]
    fn a_detached_handle_keeps_no_waker() {
        struct Waiter(AtomicUsize);
        impl std::task::Wake for Waiter {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        loom::model(|| {
            let completion: Arc<Completion<u32>> = Arc::new(Completion::new());
            let waiter = std::sync::Arc::new(Waiter(AtomicUsize::new(0)));
            let waker = Waker::from(std::sync::Arc::clone(&waiter));
            assert!(
                completion
                    .poll_take(&mut Context::from_waker(&waker))
                    .is_pending()
            );
            drop(waker);
            let resolver = {
                let completion = Arc::clone(&completion);
                loom::thread::spawn(move || completion.resolve(Ok(1)))
            };
            drop(completion.detach());
            assert!(resolver.join().unwrap());
            assert!(waiter.0.load(Ordering::SeqCst) <= 1, "woken at most once");
            assert_eq!(std::sync::Arc::strong_count(&waiter), 1, "no waker kept");
        });
    }

    /// A plain resolve racing a claimed one: still exactly one outcome.
    #[test]
    fn plain_resolve_versus_claimed_resolve() {
        loom::model(|| {
            let completion: Arc<Completion<u32>> = Arc::new(Completion::new());
            let other = {
                let completion = Arc::clone(&completion);
                loom::thread::spawn(move || completion.resolve(Ok(1)))
            };
            let mine = completion.resolve_with(Ok(2), |_| {});
            let theirs = other.join().unwrap();
            assert!(mine ^ theirs);
            let value = completion.try_take().unwrap().unwrap();
            assert_eq!(value, if mine { 2 } else { 1 });
        });
    }
}
