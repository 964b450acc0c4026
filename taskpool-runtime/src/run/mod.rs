//! `Run`: one execution of a task, and the state machine that settles cancel against start.
//!
//! A run moves `WAITING → QUEUED → RUNNING → FINISHED`: WAITING while a composer may hold it (a
//! dependency, a runner, a delay), QUEUED once it was released into its pool's queues. A cancel
//! moves `WAITING` or `QUEUED → CANCELED` (the run never starts) or `RUNNING → RUNNING_CANCELED`
//! (it keeps running, and its outcome is reported as canceled). Each move is one
//! compare-and-swap, so a cancel racing a start or a finish has exactly one winner; `loom`
//! explores those races in the tests below.
//!
//! An `async fn` run also has a poll state ([`Suspension`], in `suspension.rs`): who may poll or
//! drop its future while it is suspended, so that any pool thread can resume it.

mod links;
mod suspension;
mod timing;
pub(crate) mod waits;

pub(crate) use suspension::{AfterPending, Suspension};
pub(crate) use waits::Holder;

use std::any::Any;
use std::fmt;
use std::sync::Weak;
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use crate::error::{Error, LateOutcome, Result};
use crate::function::{BoxFuture, Invocation};
use crate::handle::Completion;
use crate::pool::PoolShared;
use crate::priority::Priority;
use crate::sync::atomic::{AtomicU8, Ordering};
use crate::sync::{Arc, lock};
use crate::task::{Call, Owner, TaskDurations, TaskId, TaskRecord};

const WAITING: u8 = 0;
const RUNNING: u8 = 1;
const RUNNING_CANCELED: u8 = 2;
const CANCELED: u8 = 3;
const FINISHED: u8 = 4;
/// Released into the pool's queues: only such a run may be started by a thread that waits for
/// it (`pool::run_inline`), since a WAITING one may be held back on purpose.
const QUEUED: u8 = 5;
/// A flag beside the state: the run's settle hooks have run (its handle is, or is about to be,
/// resolved). With [`RunHooks::on_ended`] it makes the end-of-call handshake: see
/// [`RunHeader::settle_seen`].
const SETTLED: u8 = 0x80;

/// The state without the [`SETTLED`] flag.
fn base(state: u8) -> u8 {
    state & !SETTLED
}

/// Whether no code of the run executes in `state` any more, nor ever will.
fn is_terminal(state: u8) -> bool {
    matches!(base(state), FINISHED | CANCELED)
}

/// Where a run is (see [`RunHeader::phase`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not released yet: a composer holds it (its runner's turn, its dependencies, its delay).
    Held,
    /// In its pool's lanes, not started.
    Queued,
    /// An `async` run whose waker fired: in its pool's lanes, waiting for a thread to poll it.
    Woken,
    /// An `async` run suspended at an `.await`, waiting for its waker.
    Suspended,
    /// Its call or a poll of its future executes on a thread.
    Executing,
    /// Its code executes no more.
    Ended,
}

/// How a run ended, without its value: what a [`RunHooks::on_settle`] sees.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Settled<'a> {
    /// The function returned a value.
    Succeeded,
    /// The function returned `Err`, panicked, or the run was refused or shut down.
    Failed(&'a Error),
    /// The run was canceled (before or after it started).
    Canceled(&'a Error),
    /// The run exceeded the pool's time limit, or the timeout of its `Configs` (its own or
    /// its group's).
    TimedOut(&'a Error),
}

impl<'a> Settled<'a> {
    fn of<T>(outcome: &'a Result<T>) -> Settled<'a> {
        match outcome {
            Ok(_) => Settled::Succeeded,
            Err(error @ (Error::Canceled { .. } | Error::AsyncRunnerCanceled(_))) => {
                Settled::Canceled(error)
            }
            Err(
                error @ (Error::TimedOut { .. }
                | Error::TimeoutElapsed { .. }
                | Error::GroupTimedOut { .. }),
            ) => Settled::TimedOut(error),
            Err(error) => Settled::Failed(error),
        }
    }

    /// The error, unless the run succeeded.
    pub(crate) fn error(self) -> Option<&'a Error> {
        match self {
            Settled::Succeeded => None,
            Settled::Failed(error) | Settled::Canceled(error) | Settled::TimedOut(error) => {
                Some(error)
            }
        }
    }
}

/// A generic hook on a run's life, for code outside the scheduler (task groups, runners,
/// dependencies, listeners). The pool calls `on_enqueued` when the run is pushed into its lane,
/// `on_start` on the worker right before the call, and `on_settle` exactly once, right before the
/// handle resolves (whoever resolves it: a worker, a cancel, a time-out, a shutdown). A panic in
/// a hook is contained. Hooks must not block.
pub(crate) trait RunHooks: Send + Sync {
    /// The run is about to be queued. Returning true *holds* it: the hook takes the run and
    /// queues it later with `PoolShared::release` (or discards it). A held run is WAITING.
    fn hold(&self, _run: &Arc<Run>) -> bool {
        false
    }
    /// The run was pushed into its lane.
    fn on_enqueued(&self, _run: &RunHeader) {}
    /// The run is about to make its call.
    fn on_start(&self, _run: &RunHeader) {}
    /// The run has its outcome; its handle resolves right after this returns.
    fn on_settle(&self, _run: &RunHeader, _settled: Settled<'_>) {}
    /// No code of the run executes any more: called exactly once, after `on_settle`. Usually
    /// right after it; but a run settled while its call still executes (it timed out, or a
    /// shutdown stopped waiting for it) ends only when that call returns, on the thread that
    /// made it — possibly never. What keeps a task's runs one at a time (a by-reference task's
    /// turns, a runner's slots, a periodic task's ticks) waits for this, not for the outcome.
    fn on_ended(&self, _run: &RunHeader) {}
    /// The error a cancel that stopped the run before it started resolves it with, instead of
    /// [`Error::Canceled`] (an `AsyncRunner` reports 10200055). Not asked for a run that
    /// started, even one dropped while suspended at an `.await`.
    fn canceled_error(&self, _run: &RunHeader) -> Option<Error> {
        None
    }
    /// What the run, held (it waits in a runner's or a task's lane, or for its dependencies),
    /// waits for before it can start or succeed: pushed onto `holders`. A wait that follows
    /// this back to its own thread could never end (see `waits.rs`).
    fn held_behind(&self, _run: &RunHeader, _holders: &mut Vec<Holder>) {}
    /// Whether a pool thread about to wait for the run may execute it inline instead (see
    /// `thread::run_inline`). Not a run with a timeout: its waiter must hear of the timeout
    /// when it passes, not when the call returns; another thread takes it. (A waiter stranded
    /// at the pool's thread ceiling still stands in for it: else nothing would run it.)
    fn may_run_inline(&self) -> bool {
        true
    }
}

/// Several hooks on one run, called in order (a task's own hooks, then its composer's).
pub(crate) struct HookList(pub(crate) Vec<Arc<dyn RunHooks>>);

impl RunHooks for HookList {
    fn hold(&self, run: &Arc<Run>) -> bool {
        self.0.iter().any(|hooks| hooks.hold(run))
    }
    fn on_enqueued(&self, run: &RunHeader) {
        for hooks in &self.0 {
            let _ = crate::panic::catch(|| hooks.on_enqueued(run));
        }
    }
    fn on_start(&self, run: &RunHeader) {
        for hooks in &self.0 {
            let _ = crate::panic::catch(|| hooks.on_start(run));
        }
    }
    fn on_settle(&self, run: &RunHeader, settled: Settled<'_>) {
        for hooks in &self.0 {
            let _ = crate::panic::catch(|| hooks.on_settle(run, settled));
        }
    }
    fn on_ended(&self, run: &RunHeader) {
        for hooks in &self.0 {
            let _ = crate::panic::catch(|| hooks.on_ended(run));
        }
    }
    fn canceled_error(&self, run: &RunHeader) -> Option<Error> {
        self.0.iter().find_map(|hooks| hooks.canceled_error(run))
    }
    fn held_behind(&self, run: &RunHeader, holders: &mut Vec<Holder>) {
        for hooks in &self.0 {
            hooks.held_behind(run, holders);
        }
    }
    fn may_run_inline(&self) -> bool {
        self.0.iter().all(|hooks| hooks.may_run_inline())
    }
}

/// What starting a run's body produced.
pub(crate) enum Step {
    /// The body ran to the end and settled the run.
    Done,
    /// The body is an `async fn`; this future settles the run when it completes. The caller
    /// polls it and, while it is pending, keeps it in the run ([`RunOps::put_future`]).
    Suspended(Suspended),
}

/// The future of an `async fn` run, boxed once more: a thin pointer, so that the run's body —
/// a call or what is left of it — is two words, not three (`scheduler/README.md`, memory). It
/// costs an `async` run one small allocation, made when it starts and kept across its polls.
pub(crate) type Suspended = Box<BoxFuture<()>>;

/// How a cancel request landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cancel {
    /// The run had not started; it never will.
    Dequeued,
    /// The run is executing; it was flagged and will report canceled.
    Flagged,
    /// The run's call still executes but its handle was resolved before the cancel came (a
    /// time-out, or a shutdown that gave up on it): flagged all the same, so that the call
    /// learns to stop, but for the API the run was over.
    FlaggedAfterSettle,
    /// The run had already finished or been canceled.
    TooLate,
}

/// One execution of a task, as the scheduler sees it: without its value type.
///
/// A run is one allocation, a [`TypedRun<T>`]: the untyped [`RunHeader`] (identity, lane, state,
/// timing), the call to make and the typed completion its handle reads. `dyn RunOps` derefs to
/// the header, so the scheduler reads `run.record` or calls `run.try_start()` directly.
pub(crate) trait RunOps: Send + Sync {
    /// The untyped part.
    fn header(&self) -> &RunHeader;
    /// Makes the call (the run's first execution slice), on a thread of `pool` if given. `None`
    /// if the call was already taken.
    fn start(self: Arc<Self>, pool: Option<&PoolShared>) -> Option<Step>;
    /// Drops the call or future of a run that will not go on, releasing its arguments or the
    /// future's state. A panicking `Drop` is contained.
    fn drop_body(&self);
    /// Takes the suspended future out of the run, to poll or drop it.
    fn take_future(&self) -> Option<Suspended>;
    /// Puts a future that returned `Pending` back, until it is woken.
    fn put_future(&self, future: Suspended);
    /// The waker of this run's future: it queues the run for any free pool thread.
    fn waker(self: Arc<Self>) -> Waker;
    /// Resolves the handle with `error` if nothing is resolved yet.
    fn resolve_error(&self, error: Error) -> bool;
    /// Resolves the handle with `error` (a time-out) if nothing is resolved yet, flagging the
    /// run canceled as it claims the outcome: before the settle hooks run, so the call reads
    /// `is_canceled()` at once even if a hook's user code (a dropped argument) blocks: the two
    /// steps below, one after the other.
    fn time_out(&self, error: Error) -> bool {
        let claimed = self.claim_time_out();
        if claimed {
            self.timed_out(error);
        }
        claimed
    }
    /// Claims the handle for a time-out found by the pool's check, flagging the run canceled;
    /// `true` if it won, and must then call [`RunOps::timed_out`]. Claimed where the check
    /// finds the run overdue, its outcome is the time-out whatever the call does until its
    /// settler resolves it.
    fn claim_time_out(&self) -> bool;
    /// Resolves the handle a [`RunOps::claim_time_out`] won with `error`.
    fn timed_out(&self, error: Error);
    /// Whether the handle has its outcome (while the call may still run: a time-out).
    fn is_resolved(&self) -> bool;
    /// Whether the handle has its outcome or a resolver is storing it (a time-out flags the
    /// run, then runs its settle hooks): either way it will have it, whatever the call does.
    fn is_claimed(&self) -> bool;
}

/// A run, type-erased.
pub(crate) type Run = dyn RunOps;

/// Who resolves a run's handle, which says what the winner does first.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Resolver {
    /// Anyone: the first to claim the handle stores its outcome.
    First,
    /// A time-out that already claimed the handle and flagged the run
    /// ([`RunOps::claim_time_out`]).
    Claimed,
}

impl std::ops::Deref for Run {
    type Target = RunHeader;

    fn deref(&self) -> &RunHeader {
        self.header()
    }
}

/// What every run has, whatever its value type.
pub(crate) struct RunHeader {
    /// The task's id (what `cancel(id)` and `info()` name).
    pub(crate) id: TaskId,
    /// The task's function, by its stable name (see [`RunHeader::function`]).
    function: &'static &'static str,
    /// Whether the task is a `LongTask` (no time limit, holds its thread).
    pub(crate) long: bool,
    /// The task's shared record (the task's own when it has one, else made on first use: a
    /// handle's data stream) and the run's hooks: code outside the scheduler that follows it
    /// (see [`RunHooks`]). One thin pointer, empty in a one-shot run.
    links: links::Links,
    pub(crate) priority: Priority,
    state: AtomicU8,
    /// Who may poll or drop the future of an `async fn` run.
    pub(crate) suspension: Suspension,
    /// The pool the run was submitted to: where its waker queues it, and what `cancel` reaches.
    pub(crate) pool: Weak<PoolShared>,
    timing: timing::Timing,
    /// Its span, enqueue stamp and run number (see `observe/`).
    pub(crate) observe: crate::observe::RunObs,
}

/// What a run still has to execute: its call, then (for an `async fn`) its suspended future.
/// Two variants, so that the call's pointer doubles as the tag.
pub(crate) enum Work<T> {
    Call(Call<T>),
    /// After the call: the suspended future, if there is one (none: nothing left to execute).
    Left(Option<Suspended>),
}

/// Nothing left to execute.
const fn spent<T>() -> Work<T> {
    Work::Left(None)
}

/// A run whose function yields `T`.
pub(crate) struct TypedRun<T> {
    header: RunHeader,
    /// The handle's outcome, with the run's body under the same lock (one lock less per run).
    pub(crate) completion: Completion<T, Work<T>>,
}

impl<T: Send + 'static> TypedRun<T> {
    /// A run of pool `pool` that will make `call`.
    pub(crate) fn new(
        owner: Owner,
        priority: Priority,
        call: Call<T>,
        pool: Weak<PoolShared>,
        hooks: Option<Arc<dyn RunHooks>>,
    ) -> Arc<Self> {
        Arc::new(TypedRun {
            header: RunHeader::new(owner, priority, WAITING, pool, hooks),
            completion: Completion::with_side(Work::Call(call)),
        })
    }

    /// A run refused before it was queued: its handle is already resolved with `error`.
    pub(crate) fn refused(
        owner: Owner,
        priority: Priority,
        error: Error,
        pool: Weak<PoolShared>,
        hooks: Option<Arc<dyn RunHooks>>,
    ) -> Arc<Self> {
        let run = Arc::new(TypedRun {
            header: RunHeader::new(owner, priority, FINISHED, pool, hooks),
            completion: Completion::with_side(spent()),
        });
        // Not through `resolve`: the task is not done (ArkTS `isDone`), it never ran. In ArkTS
        // such a refusal is thrown by `execute` itself, before anything is queued.
        run.settle_outcome(Err(error), None, Resolver::First);
        run
    }

    /// Resolves the handle, after the settle hook (if any) has seen the outcome.
    fn resolve(&self, outcome: Result<T>) -> bool {
        self.resolve_in(outcome, None, Resolver::First)
    }

    /// [`resolve`](Self::resolve) on a thread that knows the run's pool (`None`: look it up).
    /// A pool thread passes it: upgrading the run's weak reference on every run would make
    /// all threads write the pool's reference count.
    fn resolve_in(&self, outcome: Result<T>, pool: Option<&PoolShared>, by: Resolver) -> bool {
        // Before the handle can see the outcome (`Task::is_done`).
        if let Some(record) = self.header.record() {
            record
                .done
                .store(true, std::sync::atomic::Ordering::Release);
        }
        self.settle_outcome(outcome, pool, by)
    }

    /// Stores the outcome for the handle, counted and seen by the hooks: the part of
    /// [`resolve_in`](Self::resolve_in) that a refused run, which never ran, shares.
    fn settle_outcome(&self, outcome: Result<T>, pool: Option<&PoolShared>, by: Resolver) -> bool {
        // Counted by the resolver that wins, before the handle can see the outcome.
        let upgraded = match pool {
            Some(_) => None,
            None => self.header.pool.upgrade(),
        };
        let pool = pool.or(upgraded.as_deref());
        let count = crate::observe::outcome_of(Settled::of(&outcome));
        let count = || {
            // This run no longer waits or runs: its task is done unless another run of it
            // does (`Task::is_done`). Once, by the winner, before the handle sees the outcome.
            if let Some(record) = self.header.record() {
                record.run_settled();
            }
            crate::observe::count(pool, count);
        };
        let hooks = self.header.hooks();
        let before = |outcome: &Result<T>| {
            count();
            let settled = Settled::of(outcome);
            crate::observe::settled(&self.header, settled);
            if let Some(hooks) = hooks {
                let _ = crate::panic::catch(|| hooks.on_settle(&self.header, settled));
                self.header.settle_seen();
            }
        };
        let resolved = match by {
            Resolver::Claimed => {
                self.completion.store_claimed(outcome, before);
                true
            }
            _ if hooks.is_none() && !crate::observe::TRACING => {
                self.completion.resolve_and(outcome, count)
            }
            _ => self.completion.resolve_with(outcome, before),
        };
        if resolved {
            // After the outcome is stored: a stream bound to this run registered meanwhile
            // sees the run resolved and ends by itself (see `data::register_stream`).
            if let Some(record) = self.header.record() {
                crate::data::run_settled(record, &self.header);
            }
        }
        resolved
    }

    fn take_body(&self) -> Work<T> {
        self.completion
            .with_side_locked(|body| std::mem::replace(body, spent()))
    }
}

impl<T: Send + 'static> RunOps for TypedRun<T> {
    fn header(&self) -> &RunHeader {
        &self.header
    }

    fn start(self: Arc<Self>, pool: Option<&PoolShared>) -> Option<Step> {
        let Work::Call(call) = self.take_body() else {
            return None;
        };
        Some(match call() {
            Invocation::Ready(outcome) => {
                self.resolve_in(self.header.settle(outcome), pool, Resolver::First);
                Step::Done
            }
            Invocation::Pending(future) => Step::Suspended(Box::new(Box::pin(async move {
                let outcome = future.await;
                self.resolve(self.header.settle(outcome));
            }))),
        })
    }

    fn drop_body(&self) {
        // Taken out of the lock first: a panicking `Drop` must not poison it. Dropped where
        // the run ends unrun — the thread that canceled it, often not a pool thread — with
        // enough stack for what a task could drop (`deep_drop`).
        crate::deep_drop::drop_quietly(self.take_body());
    }

    fn take_future(&self) -> Option<Suspended> {
        self.completion.with_side_locked(|body| match body {
            Work::Left(future) => future.take(),
            // A call not made yet stays for whoever starts the run.
            Work::Call(_) => None,
        })
    }

    fn put_future(&self, future: Suspended) {
        let left = self
            .completion
            .with_side_locked(|body| std::mem::replace(body, Work::Left(Some(future))));
        debug_assert!(matches!(left, Work::Left(None)), "one future at a time");
    }

    fn waker(self: Arc<Self>) -> Waker {
        Waker::from(self)
    }

    fn resolve_error(&self, error: Error) -> bool {
        self.resolve(Err(error))
    }

    fn claim_time_out(&self) -> bool {
        let claimed = self.completion.claim();
        if claimed {
            self.header.request_cancel();
        }
        claimed
    }

    fn timed_out(&self, error: Error) {
        self.resolve_in(Err(error), None, Resolver::Claimed);
    }

    fn is_resolved(&self) -> bool {
        self.completion.is_resolved()
    }

    fn is_claimed(&self) -> bool {
        self.completion.is_claimed()
    }
}

impl<T: Send + 'static> Wake for TypedRun<T> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.header.suspension.wake() {
            return;
        }
        // With the pool gone, its shutdown has dropped (or will drop) the scheduled future.
        if let Some(pool) = self.header.pool.upgrade() {
            pool.push_resumed(Arc::clone(self) as Arc<Run>);
        }
    }
}

impl<T> Drop for TypedRun<T> {
    fn drop(&mut self) {
        // The last reference may go on a pool thread or in `cancel`: user `Drop`s must not
        // unwind there.
        match self
            .completion
            .side_mut(|body| std::mem::replace(body, spent()))
        {
            Work::Left(None) => {}
            // A call or future left in a run resolved without running it (a time-out on the
            // timer thread leaves it to whoever lets go of the run last, maybe a small thread).
            left => crate::deep_drop::drop_quietly(left),
        }
    }
}

impl Run {
    /// Requests cancellation. A dequeued run is resolved as canceled here.
    pub(crate) fn cancel(&self) -> Cancel {
        // Read before flagging: once flagged, the run's poller (or its call returning) may
        // resolve the handle as canceled by this very cancel, which must not then look like a
        // run that was over before it came.
        let settled_before = self.is_resolved();
        match self.header().request_cancel() {
            Cancel::Dequeued => {
                // Resolved first: the arguments' `Drop` is user code.
                self.resolve_error(self.canceled(None, false));
                self.drop_body();
                Cancel::Dequeued
            }
            Cancel::Flagged if settled_before => Cancel::FlaggedAfterSettle,
            outcome => outcome,
        }
    }

    /// Cancels the run only if it has not started (a shutdown's sweep of the lanes, where a run
    /// a thread took inline may still be listed): a started one is not flagged. True if it was
    /// canceled here; its call is then left for the caller to drop ([`RunOps::drop_body`]):
    /// a shutdown resolves every handle before it drops any argument, user code that may block.
    pub(crate) fn cancel_unstarted(&self) -> bool {
        self.resolve_unrun_keeping_body(self.header().withdraw(), || self.canceled(None, false))
    }

    /// Resolves a run that has not started with `error` instead of running it (a held run
    /// whose dependency failed, a discarded one). False if it already started or ended.
    pub(crate) fn discard(&self, error: Error) -> bool {
        let dequeued = self.header().request_cancel() == Cancel::Dequeued;
        self.resolve_unrun(dequeued, || error)
    }

    /// Resolves a run that has not started with `error`, like `discard`, but
    /// leaves a started one alone: it is not flagged (a shutdown resolving the runs a composer
    /// still holds, whose calls that already execute it waits for). True if it was resolved
    /// here.
    pub(crate) fn discard_unstarted(&self, error: Error) -> bool {
        self.resolve_unrun(self.header().withdraw(), || error)
    }

    /// Resolves a run that has not started with `error`, like `discard_unstarted`, but leaves
    /// its call in place, dropped with the run by whoever lets go of it last (a pool thread
    /// pruning it from its lane): for a resolver that must not run user code, such as the timer
    /// thread. True if it was resolved here.
    pub(crate) fn withdraw_with(&self, error: Error) -> bool {
        self.resolve_unrun_keeping_body(self.header().withdraw(), || error)
    }

    /// Resolves a run a composer still holds (it was never queued) with `error`; one that was
    /// queued, started or ended is left alone. True if it was resolved here; its call is then
    /// left for the caller to drop, as after `cancel_unstarted` (above).
    pub(crate) fn discard_held(&self, error: Error) -> bool {
        self.resolve_unrun_keeping_body(self.header().withdraw_held(), || error)
    }

    /// If `withdrawn`, resolves the run with `error`, leaving its call in place; returns
    /// `withdrawn`.
    fn resolve_unrun_keeping_body(&self, withdrawn: bool, error: impl FnOnce() -> Error) -> bool {
        if withdrawn {
            self.resolve_error(error());
        }
        withdrawn
    }

    /// If `withdrawn` (the run was taken back before it started), resolves it with `error` and
    /// drops its call; returns `withdrawn`.
    fn resolve_unrun(&self, withdrawn: bool, error: impl FnOnce() -> Error) -> bool {
        if withdrawn {
            self.resolve_error(error());
            self.drop_body();
        }
        withdrawn
    }

    /// Settles a run whose future was dropped while suspended (a cancel, a shutdown): the
    /// handle reports canceled, after it started.
    pub(crate) fn end_suspended(&self) {
        self.finish();
        self.resolve_error(self.canceled(None, true));
    }

    /// Settles the run with an error the scheduler produced (a panic, a shutdown).
    pub(crate) fn fail(&self, error: Error) {
        let error = if self.finish() {
            self.canceled(Some(LateOutcome(Err(Box::new(error)))), true)
        } else {
            error
        };
        self.resolve_error(error);
    }
}

impl RunHeader {
    fn new(
        owner: Owner,
        priority: Priority,
        state: u8,
        pool: Weak<PoolShared>,
        hooks: Option<Arc<dyn RunHooks>>,
    ) -> RunHeader {
        if let Some(shared) = &owner.record {
            // One more run of the task that has not settled (`Task::is_done`); every run is
            // resolved exactly once, which counts it down.
            shared
                .unsettled_runs
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        let observe =
            crate::observe::RunObs::new(&owner.id, owner.function, owner.record.as_ref(), priority);
        RunHeader {
            observe,
            id: owner.id,
            function: owner.function,
            long: owner.long,
            links: links::Links::new(owner.record, hooks),
            priority,
            state: AtomicU8::new(state),
            suspension: Suspension::default(),
            pool,
            timing: timing::Timing::default(),
        }
    }

    /// Whether a waiter may execute this run on its own thread (see
    /// [`RunHooks::may_run_inline`]).
    pub(crate) fn may_run_inline(&self) -> bool {
        self.hooks().is_none_or(|hooks| hooks.may_run_inline())
    }

    /// What this run, if held, waits for (see [`RunHooks::held_behind`]).
    pub(crate) fn held_behind(&self, holders: &mut Vec<Holder>) {
        if let Some(hooks) = self.hooks() {
            hooks.held_behind(self, holders);
        }
    }

    /// The stable name of the task's function.
    pub(crate) fn function(&self) -> &'static str {
        self.function
    }

    /// The task's shared record, if it has one yet.
    pub(crate) fn record(&self) -> Option<&Arc<TaskRecord>> {
        self.links.record()
    }

    /// The task's shared record, made now if the task had none (it then belongs to this run
    /// alone, which counts as its one owner until it settles).
    pub(crate) fn shared_record(&self) -> &Arc<TaskRecord> {
        self.links
            .record_or(|| Arc::new(TaskRecord::of(self.id, self.function())))
    }

    /// Code outside the scheduler that follows this run, if any (see [`RunHooks`]).
    pub(crate) fn hooks(&self) -> Option<&Arc<dyn RunHooks>> {
        self.links.hooks()
    }

    /// The task's name, or else its function's bare name.
    pub(crate) fn display_name(&self) -> &str {
        match self.record() {
            Some(record) => record.display_name(),
            None => crate::task::bare_name(self.function()),
        }
    }

    /// `QUEUED` (or a `WAITING` run started directly) `→ RUNNING`. False if the run was
    /// canceled or started first.
    pub(crate) fn try_start(&self) -> bool {
        self.try_start_queued() || self.move_state(WAITING, RUNNING)
    }

    /// `QUEUED → RUNNING` only: a run still held by a composer is not started.
    pub(crate) fn try_start_queued(&self) -> bool {
        self.move_state(QUEUED, RUNNING)
    }

    /// `WAITING → QUEUED`, when the run is released into its pool's queues. False if it was
    /// canceled, or released already.
    pub(crate) fn mark_queued(&self) -> bool {
        self.move_state(WAITING, QUEUED)
    }

    fn move_state(&self, from: u8, to: u8) -> bool {
        self.state
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// `WAITING → CANCELED` only: a run a composer holds (never queued); false if it was
    /// queued, started or ended first.
    fn withdraw_held(&self) -> bool {
        self.move_state(WAITING, CANCELED)
    }

    /// `WAITING` or `QUEUED → CANCELED`; false if the run started or ended first.
    fn withdraw(&self) -> bool {
        self.move_state(WAITING, CANCELED) || self.move_state(QUEUED, CANCELED)
    }

    /// `WAITING → CANCELED` or `RUNNING → RUNNING_CANCELED`, whichever applies (a run that
    /// timed out keeps its [`SETTLED`] flag: its call still runs, and learns it should stop).
    fn request_cancel(&self) -> Cancel {
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            // A run not started yet is never flagged: `settle_seen` withdraws it.
            let flag = current & SETTLED;
            let (next, outcome) = match base(current) {
                WAITING | QUEUED => (CANCELED, Cancel::Dequeued),
                RUNNING => (RUNNING_CANCELED, Cancel::Flagged),
                RUNNING_CANCELED => return Cancel::Flagged,
                _ => return Cancel::TooLate,
            };
            match self.state.compare_exchange_weak(
                current,
                next | flag,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return outcome,
                Err(actual) => current = actual,
            }
        }
    }

    /// Whether the function has been asked to stop (what `is_canceled()` reports inside it).
    pub(crate) fn is_cancel_requested(&self) -> bool {
        base(self.state.load(Ordering::Acquire)) == RUNNING_CANCELED
    }

    /// Where the run is, as a blocked wait that waits for it sees it (see `waits::needs`).
    pub(crate) fn phase(&self) -> Phase {
        match base(self.state.load(Ordering::Acquire)) {
            WAITING => Phase::Held,
            QUEUED => Phase::Queued,
            RUNNING | RUNNING_CANCELED if self.suspension.is_scheduled() => Phase::Woken,
            RUNNING | RUNNING_CANCELED if self.suspension.is_suspended() => Phase::Suspended,
            RUNNING | RUNNING_CANCELED => Phase::Executing,
            _ => Phase::Ended,
        }
    }

    /// Whether the run has not started: held by a composer, or waiting in its pool's queues.
    pub(crate) fn is_waiting(&self) -> bool {
        matches!(base(self.state.load(Ordering::Acquire)), WAITING | QUEUED)
    }

    /// What `info()` lists for the run — its state, and whether its code is executing — read
    /// from one load of the state, so that a thread's list and the task list of one snapshot
    /// agree even while the run moves on; `None` once it ended.
    pub(crate) fn listed_state(&self) -> Option<(crate::info::TaskState, bool)> {
        use crate::info::TaskState;
        match base(self.state.load(Ordering::Acquire)) {
            WAITING | QUEUED => Some((TaskState::Waiting, false)),
            RUNNING_CANCELED => Some((TaskState::Canceled, true)),
            RUNNING => Some((TaskState::Running, true)),
            _ => None,
        }
    }

    /// The run was queued at `now`.
    pub(crate) fn queued(&self, now: Instant) {
        self.timing.queued(now);
    }

    /// The run leaves its lane to start at `now` (right after `try_start` won); returns how long
    /// it waited there.
    pub(crate) fn start_clock(&self, now: Instant) -> Duration {
        self.timing.start(now)
    }

    /// Marks the start of an execution slice at `now`; returns the execution time used before.
    pub(crate) fn begin_slice(&self, now: Instant) -> Duration {
        self.timing.begin_slice(now)
    }

    /// Closes the current execution slice; returns the execution time used so far.
    pub(crate) fn end_slice(&self) -> Duration {
        self.timing.end_slice()
    }

    /// How long ago the run started (ArkTS `TaskInfo.duration`); zero if it has not.
    pub(crate) fn running_for(&self, now: Instant) -> Duration {
        match base(self.state.load(Ordering::Acquire)) {
            RUNNING | RUNNING_CANCELED | FINISHED => self.timing.running_for(now),
            _ => Duration::ZERO,
        }
    }

    /// The execution time used so far, not counting an open slice.
    pub(crate) fn cpu_used(&self) -> Duration {
        self.timing.cpu_used()
    }

    /// Its task's durations once this run's call ended (its last finished run's: runs of one
    /// task take turns); `None` before, and for a run whose task keeps no record to hold them.
    pub(crate) fn task_durations(&self) -> Option<TaskDurations> {
        if base(self.state.load(Ordering::Acquire)) != FINISHED {
            return None;
        }
        self.record()?.last_durations()
    }

    /// Stores the run's durations in its task, before the handle can observe the outcome.
    fn record_durations(&self) {
        // Only a task's own record can be read back (`Task::durations`).
        if let Some(record) = self.record() {
            let (total, cpu) = self.timing.totals();
            *lock(&record.durations) = Some(TaskDurations {
                total,
                cpu,
                io: total - cpu,
            });
        }
    }

    /// `RUNNING → FINISHED`, once the call returned or the future was dropped; true if a cancel
    /// was requested while it ran. Ends the run for its hooks if it was settled meanwhile (see
    /// [`settle_seen`](Self::settle_seen)).
    fn finish(&self) -> bool {
        self.record_durations();
        // One swap, as before the handshake: the flag need not survive it. Only the one
        // resolver sets it, and it either has (seen here) or will find the run ended. Only the
        // first move to an end state counts: a suspended run's end may be settled by two
        // parties (see `PoolShared::shutdown`).
        let before = self.state.swap(FINISHED, Ordering::AcqRel);
        if before & SETTLED != 0 && !is_terminal(before) {
            self.ended();
        }
        base(before) == RUNNING_CANCELED
    }

    /// The settle hooks have run: the end-of-call handshake. A run's hooks hear `on_ended` once
    /// no code of it runs any more, which for a run settled while its call executes (a time-out,
    /// a shutdown that stopped waiting) is when that call returns. Two parties, one flag: the
    /// resolver sets [`SETTLED`] here, the executing thread moves the run to an end state in
    /// [`finish`](Self::finish), and whichever comes second — each reads what the other left,
    /// in one read-modify-write of the state — calls the hook. A run not started yet never
    /// will be: it is withdrawn here.
    pub(crate) fn settle_seen(&self) {
        let before = self.update_state(|state| match base(state) {
            WAITING | QUEUED => CANCELED | SETTLED,
            _ => state | SETTLED,
        });
        if !matches!(base(before), RUNNING | RUNNING_CANCELED) {
            self.ended();
        }
    }

    /// Replaces the state with `next(state)` in one read-modify-write; returns the old state.
    fn update_state(&self, next: impl Fn(u8) -> u8) -> u8 {
        self.state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
                Some(next(state))
            })
            .unwrap_or_else(|state| state)
    }

    fn ended(&self) {
        if let Some(hooks) = self.hooks() {
            let _ = crate::panic::catch(|| hooks.on_ended(self));
        }
    }

    /// Finishes the run with the function's typed outcome; returns what its handle gets.
    fn settle<T: Send + 'static>(&self, outcome: Result<T>) -> Result<T> {
        if self.finish() {
            let late = outcome
                .map(|value| std::sync::Mutex::new(Box::new(value) as Box<dyn Any + Send>))
                .map_err(Box::new);
            Err(self.canceled(Some(LateOutcome(late)), true))
        } else {
            outcome
        }
    }

    fn canceled(&self, late: Option<LateOutcome>, started: bool) -> Error {
        // A hook's own error (an `AsyncRunner`'s 10200055) says the run never started: a run
        // dropped while suspended at an `.await` had started, and is `Canceled` like any other.
        if !started && late.is_none() {
            if let Some(error) = self.hooks().and_then(|h| h.canceled_error(self)) {
                return error;
            }
        }
        Error::Canceled {
            task: self.id,
            started,
            late,
        }
    }
}

impl fmt::Debug for RunHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("task", &self.id)
            .field("priority", &self.priority)
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish()
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;

    fn run_returning(value: u32) -> Arc<TypedRun<u32>> {
        let call: Call<u32> = Box::new(move || Invocation::Ready(Ok(value)));
        TypedRun::new(
            Owner::anonymous(&"loom::value"),
            Priority::Medium,
            call,
            Weak::new(),
            None,
        )
    }

    /// Whatever the interleaving, a cancel racing a start has exactly one winner.
    #[test]
    fn cancel_versus_start_has_one_winner() {
        loom::model(|| {
            let run = run_returning(5);
            let canceller = {
                let run: Arc<Run> = run.clone();
                loom::thread::spawn(move || run.cancel())
            };
            let started = run.header.try_start();
            let cancel = canceller.join().unwrap();
            match (started, cancel) {
                (true, Cancel::Flagged) => assert!(run.header.is_cancel_requested()),
                (false, Cancel::Dequeued) => {
                    assert!(matches!(
                        run.completion.try_take(),
                        Some(Err(Error::Canceled { late: None, .. }))
                    ));
                }
                other => panic!("impossible outcome {other:?}"),
            }
        });
    }

    /// A release and an inline start racing a cancel: a run starts only once it was queued, is
    /// queued at most once, and a cancel that dequeued it wins over any start.
    #[test]
    fn a_queued_run_starts_or_is_canceled_never_both() {
        loom::model(|| {
            let run = run_returning(3);
            let canceller = {
                let run: Arc<Run> = run.clone();
                loom::thread::spawn(move || run.cancel())
            };
            assert!(!run.header.try_start_queued(), "not queued yet");
            let queued = run.header.mark_queued();
            let started = queued && run.header.try_start_queued();
            assert!(!run.header.mark_queued(), "queued at most once");
            match (started, canceller.join().unwrap()) {
                (true, Cancel::Flagged) | (false, Cancel::Dequeued) => {}
                other => panic!("impossible outcome {other:?}"),
            }
        });
    }

    /// A shutdown's sweep racing an inline start: the run is canceled unstarted, or it runs
    /// unflagged — a started run is never reported canceled by the sweep.
    #[test]
    fn a_sweep_cancels_only_an_unstarted_run() {
        loom::model(|| {
            let run = run_returning(4);
            assert!(run.header.mark_queued());
            let sweeper = {
                let run: Arc<Run> = run.clone();
                loom::thread::spawn(move || run.cancel_unstarted())
            };
            let started = run.header.try_start_queued();
            let canceled = sweeper.join().unwrap();
            assert!(started != canceled, "exactly one wins");
            assert!(
                !run.header.is_cancel_requested(),
                "a started run is not flagged"
            );
        });
    }

    /// Counts a run's hook calls, and checks that `on_ended` comes after the call returned.
    #[derive(Default)]
    struct Ends {
        /// Set once the call started: `on_ended` must then see `returned`.
        started: loom::sync::atomic::AtomicBool,
        returned: loom::sync::atomic::AtomicBool,
        settles: loom::sync::atomic::AtomicUsize,
        ends: loom::sync::atomic::AtomicUsize,
    }

    impl RunHooks for Ends {
        fn on_settle(&self, _run: &RunHeader, _settled: Settled<'_>) {
            self.settles.fetch_add(1, Ordering::SeqCst);
        }
        fn on_ended(&self, _run: &RunHeader) {
            assert_eq!(self.settles.load(Ordering::SeqCst), 1, "after on_settle");
            if self.started.load(Ordering::SeqCst) {
                assert!(
                    self.returned.load(Ordering::SeqCst),
                    "not while the call runs"
                );
            }
            self.ends.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A run whose call marks `ends.returned` as it returns.
    fn followed_run(ends: &std::sync::Arc<Ends>) -> Arc<TypedRun<u32>> {
        let returned = std::sync::Arc::clone(ends);
        let call: Call<u32> = Box::new(move || {
            returned.returned.store(true, Ordering::SeqCst);
            Invocation::Ready(Ok(1))
        });
        let hooks: Arc<dyn RunHooks> = ends.clone();
        TypedRun::new(
            Owner::anonymous(&"loom::followed"),
            Priority::Medium,
            call,
            Weak::new(),
            Some(hooks),
        )
    }

    /// A time-out (another thread resolving the run, flagging it as it claims) racing the end
    /// of its call: the handle gets the value or the time-out, never a cancel; the hooks hear
    /// `on_ended` exactly once, and never while the call still executes.
    #[test]
    fn a_run_settled_while_its_call_executes_ends_once_when_the_call_returns() {
        loom::model(|| {
            let ends = std::sync::Arc::new(Ends::default());
            let run = followed_run(&ends);
            assert!(run.header.try_start());
            ends.started.store(true, Ordering::SeqCst);
            let supervisor = {
                let run: Arc<Run> = run.clone();
                loom::thread::spawn(move || run.time_out(Error::PoolShutDown))
            };
            assert!(matches!(Arc::clone(&run).start(None), Some(Step::Done)));
            let timed_out = supervisor.join().unwrap();
            match run.completion.try_take() {
                Some(Ok(1)) => assert!(!timed_out),
                Some(Err(Error::PoolShutDown)) => assert!(timed_out),
                other => panic!("impossible outcome {other:?}"),
            }
            assert_eq!(ends.settles.load(Ordering::SeqCst), 1);
            assert_eq!(ends.ends.load(Ordering::SeqCst), 1, "ended exactly once");
        });
    }

    /// The check's claim (`claim_time_out`, then `timed_out` later on a settler) racing the
    /// end of the call: a claim that wins makes the time-out the outcome even though the call
    /// returns before the settler resolves, and flags the run if its call still executes; one
    /// that loses leaves the value. The hooks hear the settle and the end exactly once either way.
    #[test]
    fn a_time_out_claimed_by_the_check_wins_over_a_call_returning_before_its_settler() {
        loom::model(|| {
            let ends = std::sync::Arc::new(Ends::default());
            let run = followed_run(&ends);
            assert!(run.header.try_start());
            ends.started.store(true, Ordering::SeqCst);
            let check = {
                let run: Arc<Run> = run.clone();
                loom::thread::spawn(move || run.claim_time_out())
            };
            assert!(matches!(Arc::clone(&run).start(None), Some(Step::Done)));
            let claimed = check.join().unwrap();
            if claimed {
                let returned = ends.returned.load(Ordering::SeqCst);
                assert!(
                    run.header.is_cancel_requested() || returned,
                    "flagged by the claim, unless the call had returned"
                );
                run.timed_out(Error::PoolShutDown);
            }
            match run.completion.try_take() {
                Some(Ok(1)) => assert!(!claimed),
                Some(Err(Error::PoolShutDown)) => assert!(claimed),
                other => panic!("impossible outcome {other:?}"),
            }
            assert_eq!(ends.settles.load(Ordering::SeqCst), 1);
            assert_eq!(ends.ends.load(Ordering::SeqCst), 1, "ended exactly once");
        });
    }

    /// A cancel racing a start, with hooks: a run canceled before it started ends at once; one
    /// that started ends when its call returns. Exactly once either way.
    #[test]
    fn a_canceled_run_ends_once_whether_or_not_it_started() {
        loom::model(|| {
            let ends = std::sync::Arc::new(Ends::default());
            let run = followed_run(&ends);
            let canceller = {
                let run: Arc<Run> = run.clone();
                loom::thread::spawn(move || run.cancel())
            };
            if run.header.try_start() {
                ends.started.store(true, Ordering::SeqCst);
                assert!(matches!(Arc::clone(&run).start(None), Some(Step::Done)));
            }
            let _ = canceller.join().unwrap();
            assert_eq!(ends.settles.load(Ordering::SeqCst), 1);
            assert_eq!(ends.ends.load(Ordering::SeqCst), 1, "ended exactly once");
        });
    }

    /// A run of `record`'s task returning `value`.
    fn run_of(record: &Arc<TaskRecord>, value: u32) -> Arc<TypedRun<u32>> {
        let call: Call<u32> = Box::new(move || Invocation::Ready(Ok(value)));
        let owner = Owner {
            id: record.id,
            function: &"loom::again",
            long: false,
            priority: Priority::Medium,
            record: Some(Arc::clone(record)),
        };
        TypedRun::new(owner, Priority::Medium, call, Weak::new(), None)
    }

    /// A task executed again while its first run settles — a cancel racing the end of that
    /// run's call: the first run counts down exactly once, whoever resolves it, so the new
    /// run keeps the task from being done (`Task::is_done`) until it settles too.
    #[test]
    fn a_task_run_again_is_done_only_once_every_run_settled() {
        loom::model(|| {
            let record = Arc::new(TaskRecord::of(TaskId::next(), "loom::again"));
            let first = run_of(&record, 1);
            assert!(first.header.try_start());
            let canceller = {
                let run: Arc<Run> = first.clone();
                loom::thread::spawn(move || run.cancel())
            };
            let again = {
                let record = Arc::clone(&record);
                loom::thread::spawn(move || run_of(&record, 2))
            };
            assert!(matches!(Arc::clone(&first).start(None), Some(Step::Done)));
            let _ = canceller.join().unwrap();
            let again: Arc<Run> = again.join().unwrap();
            assert_eq!(record.unsettled_runs.load(Ordering::SeqCst), 1);
            assert!(matches!(again.cancel(), Cancel::Dequeued));
            assert_eq!(record.unsettled_runs.load(Ordering::SeqCst), 0);
        });
    }

    /// A cancel racing the end of a run: the handle gets the value, or a cancel carrying it,
    /// and is resolved exactly once.
    #[test]
    fn cancel_versus_finish_resolves_once() {
        loom::model(|| {
            let run = run_returning(7);
            assert!(run.header.try_start());
            let canceller = {
                let run: Arc<Run> = run.clone();
                loom::thread::spawn(move || run.cancel())
            };
            assert!(matches!(Arc::clone(&run).start(None), Some(Step::Done)));
            let cancel = canceller.join().unwrap();
            match (cancel, run.completion.try_take()) {
                (Cancel::TooLate, Some(Ok(7))) => {}
                (
                    Cancel::Flagged,
                    Some(Err(Error::Canceled {
                        late: Some(late), ..
                    })),
                ) => {
                    assert_eq!(late.into_value::<u32>(), Some(7));
                }
                (cancel, outcome) => panic!("impossible: {cancel:?} with {outcome:?}"),
            }
            assert!(!run.completion.resolve(Ok(0)), "resolved exactly once");
        });
    }

    /// A cancel racing a time-out and the end of the call: the handle reports canceled only if
    /// the cancel reported that it landed, and the cancel reports the run over only if a time-out
    /// resolved it first. (`PoolShared::cancel_run` turns `FlaggedAfterSettle` into 10200015.)
    #[test]
    fn a_cancel_reports_the_run_over_only_if_it_was_settled_before() {
        loom::model(|| {
            let run = run_returning(7);
            assert!(run.header.try_start());
            let supervisor = {
                let run: Arc<Run> = run.clone();
                loom::thread::spawn(move || run.time_out(Error::PoolShutDown))
            };
            let canceller = {
                let run: Arc<Run> = run.clone();
                loom::thread::spawn(move || run.cancel())
            };
            assert!(matches!(Arc::clone(&run).start(None), Some(Step::Done)));
            let timed_out = supervisor.join().unwrap();
            let cancel = canceller.join().unwrap();
            match (cancel, run.completion.try_take()) {
                (Cancel::Flagged, Some(Err(Error::Canceled { late: Some(_), .. }))) => {}
                (Cancel::Flagged | Cancel::FlaggedAfterSettle, Some(Err(Error::PoolShutDown))) => {
                    assert!(timed_out)
                }
                (Cancel::TooLate, Some(Ok(7))) => assert!(!timed_out),
                (Cancel::TooLate, Some(Err(Error::PoolShutDown))) => assert!(timed_out),
                (cancel, outcome) => panic!("impossible: {cancel:?} with {outcome:?}"),
            }
        });
    }
}
