//! A pool thread: asks the core for its next job and executes it — a new run's call, or one poll
//! of a woken `async` run. A suspended run belongs to no thread: its waker queues it for any
//! free thread of its lane (`run/suspension.rs` says who may touch its future when).
//!
//! Also here: what a blocking wait inside a pool task does ([`block_in_place`], [`run_inline`]),
//! since both need to know which pool thread, if any, the caller is.

use std::cell::RefCell;
use std::pin::Pin;
use std::sync::Weak;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::context;
use crate::error::Error;
use crate::panic::{self, drop_quietly};
use crate::pool::{Ask, NewWorker, Next, Outer, PoolShared, WorkerId};
use crate::run::{Run, RunHeader, Step, Suspended};
use crate::scheduler::parker::Parker;
use crate::sync::Arc;
use crate::sync::atomic::Ordering;

/// How many times a thread that ran out of work looks again, yielding in between, before it
/// parks.
const SEARCHES_BEFORE_SLEEP: u32 = 32;

thread_local! {
    /// The pool this thread belongs to, and its id there; `None` outside pool threads.
    static CURRENT: RefCell<Option<(Weak<PoolShared>, WorkerId)>> = const { RefCell::new(None) };
}

/// The pool thread's main loop.
pub(crate) fn main(pool: Arc<PoolShared>, worker: NewWorker) {
    CURRENT.with(|current| *current.borrow_mut() = Some((Arc::downgrade(&pool), worker.id)));
    let _leaving = Leaving {
        pool: Arc::clone(&pool),
        id: worker.id,
    };
    let _observed = crate::observe::thread_running(&pool, worker.id);
    let mut finished = None;
    // The run this thread executed last, kept until the core's lock is released: the core
    // lets go of its own references under that lock, and the last one may drop user values
    // (listeners, arguments), whose `Drop` must never run under the pool's lock.
    let mut last: Option<Arc<Run>> = None;
    let mut searches = 0;
    loop {
        if let Some(run) = &finished {
            pool.live.remove(run);
        }
        let ask = Ask {
            finished: finished.take(),
            was_searching: searches > 0,
            may_sleep: searches >= SEARCHES_BEFORE_SLEEP,
        };
        let (next, grow, pruned) = {
            let mut core = pool.core();
            let (next, grow) = core.next_for(&pool.intake, worker.id, ask);
            pool.answer_supervisor_call(&mut core);
            (next, grow, core.take_pruned())
        };
        drop(pruned);
        drop(last.take());
        if let Some(new) = grow {
            pool.spawn_worker(new);
        }
        match next {
            Next::Run {
                run,
                picked_at,
                resumed,
            } => {
                searches = 0;
                last = Some(Arc::clone(&run));
                finished = if resumed {
                    resume(&pool, run, picked_at)
                } else {
                    start(&pool, run, picked_at)
                };
            }
            Next::Search => {
                // Sleeping and being woken costs two system calls and a context switch; a
                // burst of submissions usually refills the queue within a few yields.
                searches += 1;
                std::thread::yield_now();
            }
            Next::Park { epoch } => {
                searches = 0;
                park(&pool, &worker, epoch);
            }
            Next::Exit => break,
        }
    }
}

/// Runs when a pool thread leaves, normally or not: the core forgets it, whatever it would have
/// picked up next goes to another thread, and a shutdown waiting for it is told.
struct Leaving {
    pool: Arc<PoolShared>,
    id: WorkerId,
}

impl Drop for Leaving {
    fn drop(&mut self) {
        let shutting_down = self.pool.is_shutting_down();
        self.pool.core().remove_worker(&self.pool.intake, self.id);
        if !shutting_down {
            self.pool.sleepers.wake_one();
        }
        self.pool.threads.exited(Some(self.id));
        self.pool.supervisor_wakeup.notify_all();
    }
}

/// Parks the thread unless something arrived since it last looked (`epoch`, checked after
/// registering as a sleeper: see the handshake in `scheduler/README.md`).
fn park(pool: &PoolShared, worker: &NewWorker, epoch: u64) {
    pool.sleepers.register(worker.id, &worker.parker);
    let arrived = pool.intake.epoch.load(Ordering::SeqCst) != epoch;
    if !arrived && !pool.is_shutting_down() {
        worker.parker.park();
    }
    pool.sleepers.unregister(worker.id);
}

/// Starts a run: makes its call and, for an `async fn`, polls its future at once. Returns the
/// run if it ended.
fn start(pool: &Arc<PoolShared>, run: Arc<Run>, picked_at: Instant) -> Option<Arc<Run>> {
    if let Some(hooks) = run.hooks() {
        let _ = panic::catch(|| hooks.on_start(&run));
    }
    let slice = crate::observe::started(pool, &run, picked_at);
    run.begin_slice(picked_at);
    let step = {
        let _entered = context::enter(&run);
        let _span = crate::observe::enter(&run);
        panic::catch(|| Arc::clone(&run).start(Some(pool)))
    };
    crate::observe::slice_end(pool, &run, slice, crate::observe::SliceKind::Call);
    match step {
        // The call was already taken: nothing of this run is left to do here.
        Ok(None) => None,
        Ok(Some(Step::Done)) => Some(run),
        Ok(Some(Step::Suspended(future))) => {
            // Once suspended it is in no lane and on no thread: tracked until its future ends.
            pool.live.insert_once(&run);
            poll(pool, run, future)
        }
        Err(payload) => {
            run.fail(panicked(&run, payload));
            Some(run)
        }
    }
}

/// Polls a woken run this thread took from the lanes (its poll state is `POLLING`).
fn resume(pool: &Arc<PoolShared>, run: Arc<Run>, picked_at: Instant) -> Option<Arc<Run>> {
    let Some(future) = run.take_future() else {
        leave_idle_lane(pool, &run);
        return None;
    };
    crate::observe::resumed(pool, &run);
    if run.is_cancel_requested() || pool.is_shutting_down() {
        // Not polled again: dropped where it waited.
        end_future(pool, &run, future);
        run.end_suspended();
        return Some(run);
    }
    run.begin_slice(picked_at);
    poll(pool, run, future)
}

/// One poll of a run's future; returns the run if it ended.
fn poll(pool: &Arc<PoolShared>, run: Arc<Run>, mut future: Suspended) -> Option<Arc<Run>> {
    let waker = Arc::clone(&run).waker();
    let mut cx = Context::from_waker(&waker);
    let slice = crate::observe::slice_begin(pool);
    let polled = {
        let _entered = context::enter(&run);
        let _span = crate::observe::enter(&run);
        panic::catch(|| Pin::as_mut(&mut *future).poll(&mut cx))
    };
    crate::observe::slice_end(pool, &run, slice, crate::observe::SliceKind::Poll);
    let cpu = run.end_slice();
    let limit = pool.config.time_limit;
    let over_budget = !run.long && cpu >= limit;
    match polled {
        Ok(Poll::Pending) if !over_budget => {
            suspend(pool, run, future);
            None
        }
        outcome => {
            end_future(pool, &run, future);
            match outcome {
                Ok(Poll::Ready(())) => {}
                Ok(Poll::Pending) => run.fail(Error::TimedOut {
                    task: run.id,
                    limit,
                }),
                Err(payload) => run.fail(panicked(&run, payload)),
            }
            Some(run)
        }
    }
}

/// Parks a future that returned `Pending` in its run until its waker fires.
fn suspend(pool: &Arc<PoolShared>, run: Arc<Run>, future: Suspended) {
    crate::observe::suspended(pool, &run);
    // Before it can be woken and picked again: the pick of a woken IDLE task waits for the lane.
    // Not if its outcome was claimed during the poll: a time-out, which gave the lane back
    // already (`Core::expire_overdue`; another IDLE task may hold it by now), or a shutdown.
    if !run.is_claimed() {
        leave_idle_lane(pool, &run);
    }
    run.put_future(future);
    let after = run.suspension.end_poll();
    // Checked after letting go (see `run/suspension.rs`): a cancel or shutdown that came
    // during the poll could not claim the future then.
    if run.is_cancel_requested() || pool.is_shutting_down() {
        pool.abandon_suspended(&run);
    } else if after == crate::run::AfterPending::Requeue {
        pool.push_resumed(run);
    }
}

/// An IDLE run that stops executing without ending (suspended at an `.await`) lets other IDLE
/// work go: it holds no thread, and it may be awaiting that work. Its next poll takes the lane
/// again (see `Core::idle_gate`). This thread asks for its next job right after, and that
/// pick sees the lane free: no wake-up needed.
fn leave_idle_lane(pool: &PoolShared, run: &RunHeader) {
    if run.priority == crate::Priority::Idle {
        pool.intake.idle_in_flight.store(false, Ordering::SeqCst);
    }
}

/// Drops a run's future for good (it completed, failed, timed out or was abandoned), inside the
/// run's context so that its `Drop` code sees `is_canceled()`.
pub(crate) fn end_future(pool: &PoolShared, run: &Arc<Run>, future: Suspended) {
    run.suspension.finish();
    {
        let _entered = context::enter(run);
        drop_quietly(future);
    }
    pool.live.remove(run);
}

fn panicked(run: &RunHeader, payload: panic::Payload) -> Error {
    Error::Panicked {
        task: run.id,
        message: panic::message(payload),
    }
}

/// The pool of the calling thread and its id there, if it is a pool thread.
fn current() -> Option<(Arc<PoolShared>, WorkerId)> {
    // `None` too while the thread's thread-locals are destroyed: a destructor that blocks (in
    // a lock, a handle's wait) then waits as on any other thread.
    CURRENT
        .try_with(|current| {
            let current = current.borrow();
            let (pool, id) = current.as_ref()?;
            Some((pool.upgrade()?, *id))
        })
        .ok()
        .flatten()
}

/// The calling thread's id in `pool`, if it is one of `pool`'s threads.
pub(crate) fn caller_in(pool: &PoolShared) -> Option<WorkerId> {
    // `None` while the thread's thread-locals are destroyed, as in `current`: a pool dropped
    // by a thread-local's destructor is then shut down as from any other thread.
    CURRENT
        .try_with(|current| {
            let current = current.borrow();
            let (mine, id) = current.as_ref()?;
            std::ptr::eq(mine.as_ptr(), pool).then_some(*id)
        })
        .ok()
        .flatten()
}

/// Whether the calling thread is a thread of a live pool.
pub(crate) fn on_pool_thread() -> bool {
    current().is_some()
}

/// A hold on a pool thread: while it exists the pool never releases that thread as idle.
/// Dropping it (on any thread) lets go; a hold on a pool that is gone does nothing.
pub(crate) struct ThreadHold {
    pool: Weak<PoolShared>,
    id: WorkerId,
}

impl std::fmt::Debug for ThreadHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadHold")
            .field("thread", &self.id)
            .finish()
    }
}

/// Holds the calling pool thread until the returned guard is dropped; `None` outside pool
/// threads. A [`Worker`](crate::Worker) created inside a pool task keeps it for its lifetime,
/// as ArkTS does not shrink away a pool thread that created a Worker still alive.
pub(crate) fn hold_current_thread() -> Option<ThreadHold> {
    let (pool, id) = current()?;
    pool.core().hold(id, true);
    Some(ThreadHold {
        pool: Arc::downgrade(&pool),
        id,
    })
}

impl Drop for ThreadHold {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.upgrade() {
            pool.core().hold(self.id, false);
        }
    }
}

/// Runs `wait`, a call that blocks the thread. On a pool thread, the thread is counted as
/// blocked meanwhile, so the pool may add a thread in its place (within its hard ceiling) for
/// the work it would otherwise hold up — such as the very task being waited for.
pub(crate) fn block_in_place<R>(wait: impl FnOnce() -> R) -> R {
    let _unblocked = current().map(|(pool, me)| enter_blocked(pool, me).0);
    wait()
}

/// Counts pool thread `me` as blocked in a wait until the returned guard goes, adding a thread
/// or waking one for the work this leaves waiting; also returns the thread's parker.
fn enter_blocked(pool: Arc<PoolShared>, me: WorkerId) -> (Unblock, Option<Arc<Parker>>) {
    let mut core = pool.core();
    let grow = core.set_blocked(&pool.intake, me, true);
    let wake_idle = grow.is_none() && core.idle_startable(&pool.intake);
    let parker = core.parker_of(me);
    drop(core);
    if let Some(new) = grow {
        pool.spawn_worker(new);
    }
    if wake_idle {
        // A sleeping thread looked at that IDLE work while this one was busy, and left it.
        pool.sleepers.wake_one();
    }
    (Unblock { pool, me }, parker)
}

/// Blocks the calling thread until `attempt` returns a value, or until `deadline` passes (then
/// `None`). `attempt` gets the waker that whatever it waits for must wake.
///
/// On a pool thread the thread counts as blocked meanwhile, as in [`block_in_place`]. When that
/// strands the pool's waiting work — no thread takes work and the hard ceiling forbids adding
/// one — the pool wakes the thread, and (unless the wait has a deadline) it executes that work
/// in its wait, standing in for the thread the ceiling forbids. Without it, a pool at its
/// ceiling whose threads all wait for its own queued or suspended runs would wait forever.
pub(crate) fn block_until<R>(
    deadline: Option<Instant>,
    mut attempt: impl FnMut(&Waker) -> Option<R>,
) -> Option<R> {
    let standing_by = current().map(|(pool, me)| enter_blocked(pool, me));
    // Without a parker (a slot the core no longer knows), the thread is not counted as blocked
    // either: it waits as any other thread.
    let (blocked, parker) = match standing_by {
        Some((blocked, Some(parker))) => (Some(blocked), Some(parker)),
        _ => (None, None),
    };
    let waker = parker
        .as_ref()
        .map_or_else(thread_waker, |parker| parker.waker());
    loop {
        if let Some(value) = attempt(&waker) {
            return Some(value);
        }
        // A wait with a deadline does not stand in: the job could outlast it. When it ends, the
        // thread goes back to work anyway.
        let stood_in = deadline.is_none()
            && blocked
                .as_ref()
                .is_some_and(|blocked| stand_in(&blocked.pool, blocked.me));
        if !stood_in && !park_waiting(parker.as_deref(), deadline) {
            // One last look: the outcome may have landed as the deadline passed.
            return attempt(&waker);
        }
    }
}

/// Parks the calling thread — on `parker`, a pool thread's, or else on its own — until it is
/// woken (or spuriously) or until `deadline`; false if the deadline has passed.
fn park_waiting(parker: Option<&Parker>, deadline: Option<Instant>) -> bool {
    match (parker, deadline) {
        (Some(parker), None) => parker.park(),
        (Some(parker), Some(deadline)) => return parker.park_until(deadline),
        (None, None) => std::thread::park(),
        (None, Some(deadline)) => match deadline.checked_duration_since(Instant::now()) {
            Some(left) => std::thread::park_timeout(left),
            None => return false,
        },
    }
    true
}

/// Executes one job of stranded work on a thread blocked in a wait (see [`block_until`]);
/// false if there is none for it.
fn stand_in(pool: &Arc<PoolShared>, me: WorkerId) -> bool {
    let mut looks = 0;
    let job = loop {
        // Looked up before the core's lock (the registry's lock is never taken under it).
        let mut needs = crate::run::waits::needs();
        needs.keep_jobs_of(Arc::as_ptr(pool));
        if looks == STAND_IN_LOOKS {
            // The registry kept changing under every look (waits of other pools coming and
            // going): stand in as if the wait could not tell what it needs, rather than
            // never.
            needs.assume_any_job();
        }
        let (job, pruned) = {
            let mut core = pool.core();
            let job = core.stand_in(&pool.intake, me, &needs);
            pool.answer_supervisor_call(&mut core);
            (job, core.take_pruned())
        };
        // After the lock: see `Core::take_pruned`.
        drop(pruned);
        // A look the registry outdated may have refused a job the wait needs, and nothing
        // else would wake this thread to look again (the change may be another pool's).
        if job.is_some() || !needs.is_outdated() || looks == STAND_IN_LOOKS {
            break job;
        }
        looks += 1;
    };
    let Some(job) = job else {
        return false;
    };
    let (run, picked_at, resumed, outer) = job.split();
    // Kept until the core's lock is released below, as in `main`: the core lets go of its
    // references to the run under that lock.
    let picked = Arc::clone(&run);
    // Deeper on this thread's stack, as an inline run (see `run_inline`).
    let finished = with_a_full_stack(pool, || {
        if resumed {
            resume(pool, run, picked_at)
        } else {
            start(pool, run, picked_at)
        }
    });
    if let Some(run) = &finished {
        pool.live.remove(run);
    }
    pool.core().stood_in(&pool.intake, me, finished, outer);
    drop(picked);
    true
}

/// How many times a thread woken to stand in looks again at what its wait needs when the wait
/// registry changed during its look (see `waits::Needs::is_outdated`).
const STAND_IN_LOOKS: u32 = 16;

/// Unparks the thread it was made on: the waker a thread blocked outside the pool leaves.
struct Unparker(std::thread::Thread);

impl std::task::Wake for Unparker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    /// This thread's [`Unparker`], made once: a blocking wait clones it instead of allocating.
    static THREAD_WAKER: Waker = unparker();
}

fn unparker() -> Waker {
    Waker::from(std::sync::Arc::new(Unparker(std::thread::current())))
}

/// A waker that unparks the calling thread.
fn thread_waker() -> Waker {
    // Thread-local storage is gone while a thread exits: a waiter in a destructor makes one.
    THREAD_WAKER
        .try_with(Waker::clone)
        .unwrap_or_else(|_| unparker())
}

/// Ends a [`block_in_place`] or [`block_until`], even if the wait unwinds.
struct Unblock {
    pool: Arc<PoolShared>,
    me: WorkerId,
}

impl Drop for Unblock {
    fn drop(&mut self) {
        self.pool
            .core()
            .set_blocked(&self.pool.intake, self.me, false);
    }
}

/// A pool thread about to wait for `run` of its own pool may run it right here instead, if it
/// has not started: the thread would sit idle otherwise, and with every thread waiting nothing
/// else would ever run it. Long runs keep their own rules and are not taken, nor are IDLE
/// runs — unless the waiting task is IDLE itself: it holds the IDLE lane (one IDLE task at a
/// time), so the awaited one could never start elsewhere, and here it still runs alone.
/// Returns whether the run was executed here.
pub(crate) fn run_inline(run: &Arc<Run>) -> bool {
    let Some((pool, me)) = current() else {
        return false;
    };
    let same_pool = run.pool.upgrade().is_some_and(|p| Arc::ptr_eq(&p, &pool));
    let idle_allowed = run.priority != crate::Priority::Idle
        || context::current_run().is_some_and(|waiting| waiting.priority == crate::Priority::Idle);
    let eligible = same_pool && idle_allowed && !run.long && run.may_run_inline();
    // Only a run in the queues: one a composer holds (its dependencies, its runner's turn, its
    // delay) must not start early because somebody waits for it.
    if !eligible || !run.try_start_queued() {
        return false;
    }
    let now = Instant::now();
    let waited = run.start_clock(now);
    // Tracked until it ends: once it suspends, it is on no thread.
    pool.live.insert_once(run);
    // Still in its lane: the thread that reaches it there sees it started and drops it.
    let started = with_a_full_stack(&pool, || {
        let _executing = InlineRun::begin(&pool, me, run, (now, waited));
        start(&pool, Arc::clone(run), now)
    });
    if let Some(run) = started {
        pool.live.remove(&run);
    }
    true
}

/// A run executing inline on thread `me`, in its slot above the waiting run (see
/// [`Core::inline_began`]) until it returns or suspends — or unwinds.
struct InlineRun<'a> {
    pool: &'a PoolShared,
    me: WorkerId,
    outer: Option<Outer>,
}

impl<'a> InlineRun<'a> {
    /// `started`: when it started, and how long it had waited in its lane.
    fn begin(
        pool: &'a PoolShared,
        me: WorkerId,
        run: &Arc<Run>,
        started: (Instant, Duration),
    ) -> InlineRun<'a> {
        let outer = {
            let mut core = pool.core();
            let outer = core.inline_began(me, run, started);
            pool.answer_supervisor_call(&mut core);
            outer
        };
        InlineRun { pool, me, outer }
    }
}

impl Drop for InlineRun<'_> {
    fn drop(&mut self) {
        if let Some(outer) = self.outer.take() {
            self.pool.core().inline_ended(self.me, outer);
        }
    }
}

/// Runs `f`, a run executing on this thread inside the wait of another (inline, or standing
/// in), with at least the pool's stack size left, as a run on a thread of its own has: on this
/// stack while that much is left — a pool thread reserves twice the size for it
/// ([`thread_stack_size`]) — else on a fresh segment ([`crate::deep_drop::with_room`]). A
/// chain of tasks each waiting for the next nests one run per link: a segment holds links
/// until they used half of it, so the segments are few, and a link at any depth may still drop
/// a value as deep as a task on its own thread could.
fn with_a_full_stack<R>(pool: &PoolShared, f: impl FnOnce() -> R) -> R {
    crate::deep_drop::with_room(pool.config.stack_size, f)
}

/// The stack a pool thread reserves for a configured `stack_size`: twice it, so that a run
/// executed inline in a wait still has `stack_size` left (see [`with_a_full_stack`]). Only
/// the pages a thread touches take memory.
pub(crate) fn thread_stack_size(stack_size: usize) -> usize {
    stack_size.saturating_mul(2)
}
