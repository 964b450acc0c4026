//! `TaskPool`: the public face of a pool, its configuration, and the global pool.

mod builder;
mod callbacks;
mod cancel_hooks;
mod core;
mod intake;
mod lane_index;
mod live;
mod recently_canceled;
mod shutdown_hooks;
mod thread;
mod threads;

use std::sync::{OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::codec::Payload;
use crate::deep_drop::drop_quietly;
use crate::descriptor::TaskDescriptor;
use crate::error::{Error, Result};
use crate::function::ConcurrentFunction;
use crate::handle::TaskHandle;
use crate::info::{TaskInfo, TaskPoolInfo};
use crate::priority::Priority;
use crate::run::{Cancel, HookList, Run, RunHooks, Suspended, TypedRun};
use crate::scheduler::sleepers::Sleepers;
use crate::sync::atomic::{AtomicBool, Ordering, fence};
use crate::sync::{Arc, Condvar, Mutex, MutexGuard, lock};
use crate::task::{Executable, Owner, Submission, Task, TaskId, TaskRecord};

pub(crate) use self::builder::Config;
pub use self::builder::{
    DEFAULT_STACK_SIZE, MAX_STACK_SIZE, MAX_TIMELINE_ENTRIES, MIN_STACK_SIZE, TaskPoolBuilder,
    default_max_threads,
};
pub(crate) use self::builder::{host_code_stack_size, valid_stack_size};
use self::callbacks::Callbacks;
pub(crate) use self::callbacks::{Job, on_callback_thread};
pub(crate) use self::cancel_hooks::CancelHook;
use self::cancel_hooks::CancelHooks;
pub(crate) use self::core::{Ask, Core, Limits, NewWorker, Next, Outer, Overdue, WorkerId};
pub(crate) use self::intake::Intake;
pub(crate) use self::live::LiveRuns;
use self::recently_canceled::RecentlyCanceled;
pub(crate) use self::shutdown_hooks::{Leftover, ShutdownHook, ShutdownHooks};
pub(crate) use self::thread::{
    ThreadHold, block_in_place, block_until, hold_current_thread, on_pool_thread, run_inline,
};
use self::threads::ThreadSet;

/// A run built but not queued yet (see [`PoolShared::prepare`]).
pub(crate) struct Prepared<T> {
    pub(crate) handle: TaskHandle<T>,
    pub(crate) run: Option<Arc<Run>>,
}

/// State shared by a pool's handle, its threads and its supervisor.
pub(crate) struct PoolShared {
    pub(crate) config: Config,
    core: Mutex<Core>,
    pub(crate) intake: Intake,
    pub(crate) live: LiveRuns,
    pub(crate) sleepers: Sleepers,
    supervisor_started: AtomicBool,
    /// Wakes the supervisor early (shutdown, a thread leaving).
    pub(crate) supervisor_wakeup: Condvar,
    pub(crate) threads: ThreadSet,
    /// Where host-side callbacks run (`callbacks.rs`).
    callbacks: Arc<Callbacks>,
    /// The last runs canceled before they started: `info()` keeps showing them as `Canceled`
    /// (as ArkTS does) until newer ones push them out.
    canceled: RecentlyCanceled,
    /// Counters and the timeline (see `observe/`).
    pub(crate) observe: crate::observe::PoolObserver,
    /// Told when the pool starts shutting down (`shutdown_hooks.rs`).
    shutdown_hooks: ShutdownHooks,
    /// Told when `cancel(id)` names a task a composer owns between runs (`cancel_hooks.rs`).
    cancel_hooks: CancelHooks,
}

/// A run's hooks: its task's own (dependencies, listeners), then `extra` (its composer's).
fn with_task_hooks(
    record: &TaskRecord,
    extra: Option<Arc<dyn RunHooks>>,
) -> Option<Arc<dyn RunHooks>> {
    let own = lock(&record.hooks);
    match (own.is_empty(), extra) {
        (true, extra) => extra,
        (false, None) if own.len() == 1 => Some(Arc::clone(&own[0])),
        (false, extra) => {
            let mut all = own.clone();
            all.extend(extra);
            Some(Arc::new(HookList(all)) as Arc<dyn RunHooks>)
        }
    }
}

/// `first` then the runs of `more` not in it, each run once.
pub(crate) fn unique(mut first: Vec<Arc<Run>>, more: Vec<Arc<Run>>) -> Vec<Arc<Run>> {
    let mut seen = std::collections::HashSet::new();
    first.retain(|run| seen.insert(run_key(run)));
    for run in more {
        if seen.insert(run_key(&run)) {
            first.push(run);
        }
    }
    first
}

/// A run's identity: its allocation (the data pointer of the `dyn` reference).
fn run_key(run: &Arc<Run>) -> usize {
    Arc::as_ptr(run).cast::<()>() as usize
}

fn same_run(a: &Arc<Run>, b: &Arc<Run>) -> bool {
    run_key(a) == run_key(b)
}

impl PoolShared {
    pub(crate) fn core(&self) -> MutexGuard<'_, Core> {
        lock(&self.core)
    }

    /// Wakes the supervisor if a run under the time limit began while it rested (see
    /// `Core::take_supervisor_call`). Under the core's lock, which the supervisor's wait
    /// releases atomically: the call cannot slip between its look and its sleep.
    pub(crate) fn answer_supervisor_call(&self, core: &mut Core) {
        if core.take_supervisor_call() {
            self.supervisor_wakeup.notify_all();
        }
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.intake.is_shutting_down()
    }

    fn thread_name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.config.thread_name)
    }

    pub(crate) fn spawn_worker(self: &Arc<Self>, worker: NewWorker) {
        let id = worker.id;
        let spawn = |stack_size| {
            let (pool, worker) = (Arc::clone(self), worker.clone());
            let name = self.thread_name(&id.to_string());
            let main = move || thread::main(pool, worker);
            self.threads.spawn(Some(id), name, stack_size, main)
        };
        // Twice the stack size first, for runs executed inline in a wait (see
        // `thread::thread_stack_size`); the size itself where the system refuses that much
        // address space (inline runs then move to fresh segments sooner).
        let stack_size = self.config.stack_size;
        let spawned = spawn(thread::thread_stack_size(stack_size)).or_else(|_| spawn(stack_size));
        match spawned {
            Ok(()) => crate::observe::thread_added(self, id),
            Err(error) => {
                // Out of threads: the work waits for the threads that exist — unless there is
                // none, when nothing would ever take it.
                let (stranded, woken) = {
                    let mut core = self.core();
                    core.remove_worker(&self.intake, id);
                    core.take_stranded(&self.intake)
                };
                let why = format!("the task pool could not start a thread: {error}");
                for run in stranded {
                    self.discard(&run, Error::WorkerInitialization(why.clone()));
                }
                // A woken `async` run waits for a thread as a new one does: its future, which
                // nobody will poll, is dropped where it waited (unless a cancel or a shutdown
                // claimed it first, and settles it), and its handle says why.
                for run in woken.into_iter().filter(|run| run.suspension.claim()) {
                    if let Some(future) = run.take_future() {
                        thread::end_future(self, &run, future);
                    }
                    run.fail(Error::WorkerInitialization(why.clone()));
                    self.live.remove(&run);
                }
            }
        }
    }

    /// Runs `job` (a user callback) on the pool's callback thread, after the ones posted
    /// before it. Dropped once no thread will run it: the pool shut down, and its callback
    /// thread is gone (one still running takes it).
    pub(crate) fn post_callback(&self, job: Job) {
        if let Err(job) = self.try_post_callback(job) {
            drop_quietly(job);
        }
    }

    /// Like [`post_callback`](PoolShared::post_callback), but a callback the pool's callback
    /// thread will not run (the pool shut down and that thread is gone) is handed back.
    pub(crate) fn try_post_callback(&self, job: Job) -> std::result::Result<(), Job> {
        let thread = || {
            std::thread::Builder::new()
                .name(self.thread_name("callbacks"))
                .stack_size(host_code_stack_size(self.config.stack_size))
        };
        self.callbacks.try_post(thread, job)
    }

    fn ensure_supervisor(self: &Arc<Self>) {
        if self.supervisor_started.load(Ordering::Acquire)
            || self.supervisor_started.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let pool = Arc::clone(self);
        let name = self.thread_name("supervisor");
        if self
            .threads
            // Its own stack is the pool threads' size: settling a run may drop user values.
            .spawn(None, name, self.config.stack_size, move || {
                crate::supervisor::run(pool)
            })
            .is_err()
        {
            self.supervisor_started.store(false, Ordering::Release);
        }
    }

    fn submit<T: Send + 'static>(
        self: &Arc<Self>,
        task: impl Executable<T>,
        priority: Option<Priority>,
    ) -> TaskHandle<T> {
        let prepared = self.prepare(task, priority, None);
        if let Some(run) = prepared.run {
            self.enqueue(run);
        }
        prepared.handle
    }

    /// Builds a run of `task` and registers it as waiting (so `cancel(id)` and `info()` see it)
    /// without queuing it: the caller holds it until [`enqueue`](PoolShared::enqueue). A held
    /// run is WAITING; a cancel resolves it at once, and `enqueue` then ignores it. `run` is
    /// `None` when the task was refused (its handle is already resolved, and `hooks` saw it).
    pub(crate) fn prepare<T: Send + 'static>(
        self: &Arc<Self>,
        task: impl Executable<T>,
        priority: Option<Priority>,
        hooks: Option<Arc<dyn RunHooks>>,
    ) -> Prepared<T> {
        crate::observe::submitted(self);
        let Submission {
            owner,
            call,
            serialized_size,
        } = task.into_submission();
        if let Some(record) = &owner.record {
            record
                .executed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let priority = priority.unwrap_or(owner.priority);
        // The task's own hooks too for a refused run: its listeners hear of the failure.
        let hooks = match &owner.record {
            Some(record) => with_task_hooks(record, hooks),
            None => hooks,
        };
        if let Some(error) = self.refusal(&owner, serialized_size) {
            drop_quietly(call);
            return self.refused(owner, priority, error, hooks);
        }
        let typed = TypedRun::new(owner, priority, call, Arc::downgrade(self), hooks);
        let handle = TaskHandle::new(Arc::clone(&typed));
        let run: Arc<Run> = typed;
        if run.hooks().is_some() {
            // A composer may hold it before it is queued: tracked until it ends (`live.rs`).
            self.live.insert(&run);
        }
        Prepared {
            handle,
            run: Some(run),
        }
    }

    /// Why this pool refuses a submission of `owner`'s task, if it does.
    fn refusal(&self, owner: &Owner, serialized_size: Option<usize>) -> Option<Error> {
        if let Some(size) = serialized_size {
            // A task rebuilt from a descriptor is held to this pool's cap, as by
            // `execute_descriptor`.
            if let Err(error) = crate::codec::check_size(size, self.config.max_serialized_bytes) {
                return Some(error);
            }
        }
        let timed = owner
            .record
            .as_ref()
            .is_some_and(|record| record.timed.load(std::sync::atomic::Ordering::Relaxed));
        if timed {
            // Executed with a timeout before: that was its one run (ArkTS 10200057).
            return Some(Error::ExecutedByAnotherApi(owner.id));
        }
        self.is_shutting_down().then_some(Error::PoolShutDown)
    }

    /// Queues a run made by [`prepare`](PoolShared::prepare), unless one of its hooks holds
    /// it (see `RunHooks::hold`). A run canceled while held is dropped here.
    pub(crate) fn enqueue(self: &Arc<Self>, run: Arc<Run>) {
        if let Some(hooks) = run.hooks() {
            if hooks.hold(&run) {
                return;
            }
        }
        self.release(run);
    }

    /// Queues a run, whatever its hooks say (a hook that held it lets it go).
    pub(crate) fn release(self: &Arc<Self>, run: Arc<Run>) {
        // Once: a run canceled meanwhile, or released already, is not queued (again).
        if !run.mark_queued() {
            return;
        }
        if let Some(hooks) = run.hooks() {
            let _ = crate::panic::catch(|| hooks.on_enqueued(&run));
        }
        // Only a task with a record runs more than once under its id. The number first: a
        // cancel of an earlier run reads it after making its entry visible (see
        // `recently_canceled.rs`).
        if let Some(record) = run.record() {
            record
                .latest_queued
                .fetch_max(run.observe.run_number, std::sync::atomic::Ordering::SeqCst);
            self.canceled.forget(run.id);
        }
        crate::observe::enqueued(&run);
        let priority = run.priority;
        self.ensure_supervisor();
        let demand = self.intake.push(Arc::clone(&run));
        if self.is_shutting_down() {
            // Raced a shutdown that may already have drained the intake.
            let _ = self.cancel_run(&run);
            return;
        }
        self.after_push(demand, priority);
    }

    /// Queues a suspended `async` run whose waker fired, for any free thread of its lane.
    pub(crate) fn push_resumed(self: &Arc<Self>, run: Arc<Run>) {
        let priority = run.priority;
        let demand = self.intake.push_resumed(Arc::clone(&run));
        if self.is_shutting_down() {
            // No thread will take it: drop it here (shutdown may have swept already).
            self.abandon_suspended(&run);
            return;
        }
        self.after_push(demand, priority);
    }

    /// Wakes a thread unless a searching one will find the new job, and grows the pool when
    /// waiting work exceeds the free threads. Takes the core lock only to add a thread.
    fn after_push(self: &Arc<Self>, demand: usize, priority: Priority) {
        // The push, then the counts: pairs with the fence in `Core::grow_for_backlog`, so either
        // this reads the thread that just became busy, or that thread's re-check sees the push.
        fence(Ordering::SeqCst);
        let searching = self.intake.searching.load(Ordering::SeqCst);
        if searching == 0 || demand > searching {
            self.sleepers.wake_one();
        }
        let idle_only = priority == Priority::Idle;
        let active = self.intake.active_workers.load(Ordering::SeqCst);
        let may_need_worker = active == 0
            || (!idle_only
                && active < self.config.max_threads
                && demand > self.intake.free_workers.load(Ordering::SeqCst));
        if may_need_worker {
            let demand = self.intake.waiting_foreground.load(Ordering::SeqCst);
            let worker = self.core().grow_if_needed(&self.intake, demand, idle_only);
            if let Some(worker) = worker {
                self.spawn_worker(worker);
            }
        }
    }

    /// A refused task: its handle is already resolved with `error`, and nothing runs.
    fn refused<T: Send + 'static>(
        self: &Arc<Self>,
        owner: Owner,
        priority: Priority,
        error: Error,
        hooks: Option<Arc<dyn RunHooks>>,
    ) -> Prepared<T> {
        let run = TypedRun::refused(owner, priority, error, Arc::downgrade(self), hooks);
        Prepared {
            handle: TaskHandle::new(run),
            run: None,
        }
    }

    /// Resolves a run that has not started with `error`; it never runs. False if it started.
    pub(crate) fn discard(&self, run: &Arc<Run>, error: Error) -> bool {
        self.forget_if(run, run.discard(error))
    }

    /// Resolves a run that has not started with `error`; it never runs. A started one is left
    /// alone (not flagged, unlike [`discard`](PoolShared::discard)). False if it started.
    pub(crate) fn discard_unstarted(&self, run: &Arc<Run>, error: Error) -> bool {
        self.forget_if(run, run.discard_unstarted(error))
    }

    /// Resolves a run that has not started with `error`, leaving its call for whoever lets go
    /// of the run last (see `Run::withdraw_with`). False if it started.
    pub(crate) fn withdraw(&self, run: &Arc<Run>, error: Error) -> bool {
        self.forget_if(run, run.withdraw_with(error))
    }

    /// Takes `run` out of the live set if it was `resolved` (it will never execute); returns
    /// `resolved`.
    fn forget_if(&self, run: &Arc<Run>, resolved: bool) -> bool {
        if resolved {
            self.live.remove(run);
        }
        resolved
    }

    /// Cancels one run. A run that never started leaves the live set at once; an `async` run
    /// suspended at an `.await` is dropped there and resolves at once; a run being executed is
    /// flagged and resolves when its call or poll returns.
    pub(crate) fn cancel_run(&self, run: &Arc<Run>) -> Result<()> {
        match run.cancel() {
            Cancel::Dequeued => {
                self.live.remove(run);
                if !self.is_shutting_down() {
                    let entry = crate::info::TaskInfo {
                        task_id: run.id,
                        name: run.display_name().to_owned(),
                        function: run.function(),
                        state: crate::info::TaskState::Canceled,
                        priority: run.priority,
                        duration: Duration::ZERO,
                    };
                    // A later run of the task queued is the task's state, not this cancel.
                    self.canceled.push(entry, || {
                        run.record().is_some_and(|record| {
                            record
                                .latest_queued
                                .load(std::sync::atomic::Ordering::SeqCst)
                                > run.observe.run_number
                        })
                    });
                }
                Ok(())
            }
            Cancel::Flagged => {
                self.abandon_suspended(run);
                Ok(())
            }
            Cancel::FlaggedAfterSettle => {
                // Its handle resolved while its call still runs: it timed out (or a shutdown
                // gave up on it). For the API that run is over — `info()` lists it as
                // canceled, ArkTS would have killed its thread — so, as for a finished run,
                // 10200015. It is flagged and abandoned all the same (`is_canceled()` tells the
                // call to return; a future suspended meanwhile is dropped).
                self.abandon_suspended(run);
                Err(Error::TaskNotFound(run.id))
            }
            Cancel::TooLate => Err(Error::TaskNotFound(run.id)),
        }
    }

    /// Drops the future of `run` if it is suspended (not being polled), and resolves its handle
    /// as canceled. False if the run is not suspended: its poller settles it.
    pub(crate) fn abandon_suspended(&self, run: &Arc<Run>) -> bool {
        if !run.suspension.claim() {
            return false;
        }
        if let Some(future) = run.take_future() {
            // On the canceling thread: the future holds the task's state.
            crate::deep_drop::with_stack(|| thread::end_future(self, run, future));
        }
        run.end_suspended();
        self.live.remove(run);
        true
    }

    /// Claims every suspended future (a shutdown) and resolves their handles as canceled;
    /// returns the futures, for [`PoolShared::drop_bodies`] to drop once every handle of the
    /// shutdown is resolved. A future's `Drop` may wait for another suspended task of this
    /// pool (a guard that joins a sibling): dropped one run at a time, the first such drop
    /// would wait for a sibling that only this very loop settles, later, and the shutdown
    /// would hang.
    fn abandon_all_suspended(&self) -> Vec<(Arc<Run>, Option<Suspended>)> {
        let claimed: Vec<_> = (self.live.all().into_iter())
            .filter(|run| run.suspension.claim())
            .map(|run| {
                let future = run.take_future();
                (run, future)
            })
            .collect();
        for (run, _) in &claimed {
            run.end_suspended();
        }
        claimed
    }

    /// Drops what a shutdown took from runs that will never go on — the calls of `unrun`
    /// runs (their arguments), the futures of `suspended` ones, what the shutdown hooks left
    /// (a periodic task's arguments) — once all their handles are
    /// resolved. That is user code, which may block: with a `deadline` (`shutdown_timeout`)
    /// it runs on a thread of its own, which the shutdown waits for only until the deadline
    /// (as it waits for the calls still executing); a `Drop` that never returns then holds up
    /// nothing but that thread. Without a deadline (or if no thread can be started), here.
    fn drop_bodies(
        self: &Arc<Self>,
        unrun: Vec<Arc<Run>>,
        suspended: Vec<(Arc<Run>, Option<Suspended>)>,
        leftovers: Vec<Leftover>,
        deadline: Option<Instant>,
    ) {
        if unrun.is_empty() && suspended.is_empty() && leftovers.is_empty() {
            return;
        }
        let drop_all = {
            let pool = Arc::clone(self);
            // One stack segment for the whole sweep, if this thread needs one at all.
            move || {
                crate::deep_drop::with_stack(|| {
                    for run in unrun {
                        run.drop_body();
                    }
                    for (run, future) in suspended {
                        if let Some(future) = future {
                            thread::end_future(&pool, &run, future);
                        }
                        pool.live.remove(&run);
                    }
                    for leftover in leftovers {
                        crate::panic::drop_quietly(leftover);
                    }
                })
            }
        };
        if deadline.is_none() {
            return drop_all();
        }
        // Shared, so that a refused spawn (which drops the closure) leaves it here.
        let slot = Arc::new(Mutex::new(Some(drop_all)));
        let sweeper = {
            let (pool, slot) = (Arc::clone(self), Arc::clone(&slot));
            move || {
                let _leaving = SweeperLeaving(pool);
                let drop_all = lock(&slot).take();
                if let Some(drop_all) = drop_all {
                    drop_all();
                }
            }
        };
        let name = self.thread_name("shutdown-sweep");
        let spawned = (self.threads)
            .spawn(None, name, self.config.stack_size, sweeper)
            .is_ok();
        let left = if spawned { None } else { lock(&slot).take() };
        if let Some(drop_all) = left {
            drop_all();
        }
    }

    /// Cancels every waiting or running run of task `id`.
    fn cancel_task(&self, id: TaskId) -> Result<()> {
        // The core's scan first, then the tracked runs: a run moves from the latter to the
        // former only by being queued, which happens before it can leave the tracked set.
        let held = self.core().runs(&self.intake, Some(id));
        let landed = unique(held, self.live.runs_of(id))
            .iter()
            .filter(|run| self.cancel_run(run).is_ok())
            .count();
        // Then the composer that owns the task, which may have no run at the moment (a
        // periodic task between ticks) or be about to make one: it stops making them. Asked
        // even when a run was found, so that the task is stopped when `cancel` returns, not
        // when that run settles.
        let stopped = self.cancel_hooks.cancel(id);
        if landed > 0 || stopped {
            Ok(())
        } else {
            Err(Error::TaskNotFound(id))
        }
    }

    /// Registers `hook` to be told when `cancel(id)` names task `id` (see `cancel_hooks.rs`).
    pub(crate) fn on_cancel(&self, id: TaskId, hook: Weak<dyn CancelHook>) {
        self.cancel_hooks.register(id, hook);
    }

    /// Registers `hook` to be told when the pool starts shutting down. False if it already has
    /// (the caller stops by itself).
    pub(crate) fn on_shutdown(&self, hook: Weak<dyn ShutdownHook>) -> bool {
        self.shutdown_hooks
            .register(hook, &self.intake.shutting_down)
    }

    /// Shuts down: waiting runs are canceled, suspended `async` runs dropped, and the calls
    /// that are executing are waited for — except calls already timed out, and, with a
    /// `timeout`, not beyond it. Handles of calls still running then resolve as
    /// [`Error::PoolShutDown`]; their threads are detached.
    fn shutdown(self: &Arc<Self>, timeout: Option<Duration>) {
        // From the start: the sweep below runs user code (`Drop`s) that counts against it.
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        let (waiting, parkers) = self.core().begin_shutdown(&self.intake);
        // Every handle is resolved before any argument or future is dropped (`drop_bodies`).
        let mut unrun: Vec<Arc<Run>> = (waiting.into_iter())
            .filter(|run| run.cancel_unstarted())
            .collect();
        for run in &unrun {
            self.live.remove(run);
        }
        // After `begin_shutdown` set the flag a registration reads.
        let leftovers = self.shutdown_hooks.notify();
        // The runs composers still hold (for their dependencies, their runner's or their
        // task's turn) can never be queued now: resolved at once, not after the wait for the
        // executing calls below, one of which may be blocked waiting for one of them.
        for run in self.live.all() {
            if self.forget_if(&run, run.discard_held(Error::PoolShutDown)) {
                unrun.push(run);
            }
        }
        let suspended = self.abandon_all_suspended();
        self.drop_bodies(unrun, suspended, leftovers, deadline);
        self.sleepers.wake_all();
        for parker in parkers {
            parker.unpark();
        }
        self.supervisor_wakeup.notify_all();
        // Shut down from one of its own tasks: the calling thread is busy right here, so it is
        // not waited for (`ThreadSet::join` skips it), and neither is the supervisor, which
        // leaves with the last pool thread — this one, once its task returns. What this thread
        // executes is not given up on either: it settles as usual when it returns.
        let caller = thread::caller_in(self);
        // Lock order: the thread set, then the core (see `threads.rs`).
        let must_wait = |worker: Option<WorkerId>| match worker {
            None => caller.is_none(),
            Some(id) => self.core().must_join(id),
        };
        self.threads.join(must_wait, deadline);
        // Every run executing on the calling thread, not just the innermost: those it executes
        // inside (inline, or standing in) resume on this very thread once it returns.
        let on_caller: Vec<Arc<Run>> = caller
            .and_then(|id| self.core().executing_on(id))
            .into_iter()
            .chain(crate::context::entered_runs())
            .collect();
        let executing = self.core().runs(&self.intake, None);
        for run in unique(executing, self.live.all()) {
            if on_caller.iter().any(|mine| same_run(mine, &run)) {
                continue;
            }
            if run.suspension.is_done() {
                // Another thread (a waker that found the pool shutting down) claimed its
                // suspended future and is settling it: the same outcome, whoever wins.
                run.end_suspended();
            } else {
                run.resolve_error(Error::PoolShutDown);
            }
            self.live.remove(&run);
        }
        // Last: the settles above post callbacks too. Bounded like the threads' wait.
        let deadline = deadline.unwrap_or_else(|| {
            let now = Instant::now();
            now.checked_add(self.config.callback_timeout)
                .unwrap_or_else(|| now + Duration::from_secs(3600 * 24 * 365))
        });
        self.callbacks.shutdown(deadline);
    }
}

/// Tells a shutdown waiting for its sweeper thread (see [`PoolShared::drop_bodies`]) that it
/// left, however it leaves.
struct SweeperLeaving(Arc<PoolShared>);

impl Drop for SweeperLeaving {
    fn drop(&mut self) {
        self.0.threads.exited(None);
    }
}

/// A pool of worker threads that runs tasks by priority (ArkTS `taskpool`).
///
/// Use [`TaskPool::global`] (created on first use) or build an isolated pool with
/// [`TaskPool::builder`]. The pool starts with no thread, grows on submission while waiting work
/// exceeds the free workers (up to [`max_threads`](TaskPoolBuilder::max_threads)), and releases
/// threads that sat idle for [`idle_timeout`](TaskPoolBuilder::idle_timeout), keeping one.
///
/// Dropping an isolated pool (or calling [`shutdown`](TaskPool::shutdown)) resolves every waiting
/// handle as canceled (a run still held for its delay, its dependencies or its turn in a runner
/// with [`Error::PoolShutDown`]), drops suspended `async` tasks where they wait (their handles
/// resolve as canceled), waits for the calls that are executing to return (not flagging them
/// canceled, whatever executed them: a delay, a periodic task, a runner), and joins every thread.
/// It does not wait for a call that already timed out (its thread is detached), and the time limit
/// still applies while it waits; a [`LongTask`](crate::LongTask) that never returns is waited for,
/// so use [`shutdown_timeout`](TaskPool::shutdown_timeout) to bound the wait. Dropped inside one of
/// its own tasks, it does not wait for that task, which returns its own outcome.
///
/// ```
/// use std::time::Duration;
/// use taskpool::{concurrent, Priority, TaskPool};
///
/// #[concurrent]
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let pool = TaskPool::builder()
///     .max_threads(2)
///     .idle_timeout(Duration::from_millis(50))
///     .build()
///     .unwrap();
/// let handles: Vec<_> = (0..10).map(|x| pool.run(square, (x,))).collect();
/// let total: u64 = handles.into_iter().map(|h| h.wait().unwrap()).sum();
/// assert_eq!(total, 285);
/// ```
pub struct TaskPool {
    shared: Arc<PoolShared>,
}

impl TaskPool {
    /// A pool with the default configuration.
    pub fn new() -> TaskPool {
        TaskPool::with_config(Config::default())
    }

    pub(crate) fn with_config(config: Config) -> TaskPool {
        let limits = Limits {
            max_threads: config.max_threads,
            extra_threads: config.extra_threads,
        };
        let observe = crate::observe::PoolObserver::new(config.timeline);
        TaskPool {
            shared: Arc::new(PoolShared {
                observe,
                config,
                core: Mutex::new(Core::new(limits)),
                intake: Intake::default(),
                live: LiveRuns::default(),
                sleepers: Sleepers::default(),
                supervisor_started: AtomicBool::new(false),
                supervisor_wakeup: Condvar::new(),
                threads: ThreadSet::default(),
                callbacks: Arc::default(),
                canceled: RecentlyCanceled::default(),
                shutdown_hooks: ShutdownHooks::default(),
                cancel_hooks: CancelHooks::default(),
            }),
        }
    }

    /// The shared state, for the composition layer (`compose/`).
    pub(crate) fn shared(&self) -> &Arc<PoolShared> {
        &self.shared
    }

    /// Starts configuring an isolated pool.
    pub fn builder() -> TaskPoolBuilder {
        TaskPoolBuilder::default()
    }

    /// The process-wide pool, created on first use with the default configuration.
    pub fn global() -> &'static TaskPool {
        static GLOBAL: OnceLock<TaskPool> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            TaskPool::with_config(Config {
                thread_name: "taskpool-global".to_owned(),
                ..Config::default()
            })
        })
    }

    /// Executes a task at MEDIUM priority (ArkTS `taskpool.execute(task)`).
    ///
    /// Pass the [`Task`] by value for a one-shot run (its arguments move in, no copy), `&task` to
    /// keep it for more runs (each run gets its own copy of the arguments), or a
    /// [`LongTask`](crate::LongTask).
    pub fn execute<T: Send + 'static>(&self, task: impl Executable<T>) -> TaskHandle<T> {
        self.shared.submit(task, None)
    }

    /// Executes a task in the given lane (ArkTS `taskpool.execute(task, priority)`).
    pub fn execute_with_priority<T: Send + 'static>(
        &self,
        task: impl Executable<T>,
        priority: Priority,
    ) -> TaskHandle<T> {
        self.shared.submit(task, Some(priority))
    }

    /// Executes a task described by a [`TaskDescriptor`] (built here or in another process of
    /// the same program), in the descriptor's lane. The result comes back serialized, in the
    /// encoding of the descriptor's arguments (in JSON if its type needs a self-describing
    /// format, such as `serde_json::Value`); decode it with [`Payload::decode`].
    ///
    /// A function this program does not have (10200014), arguments that do not decode or data
    /// over the pool's cap (10200006) resolve the handle with the error; nothing runs.
    ///
    /// ```
    /// use taskpool::{concurrent, Task, TaskDescriptor, TaskPool};
    ///
    /// #[concurrent]
    /// fn add(a: i32, b: i32) -> i32 {
    ///     a + b
    /// }
    ///
    /// let bytes = Task::new(add, (2, 3)).descriptor().unwrap().to_bytes().unwrap();
    /// let descriptor = TaskDescriptor::from_bytes(&bytes).unwrap();
    /// let result = TaskPool::global().execute_descriptor(&descriptor).wait().unwrap();
    /// assert_eq!(result.decode::<i32>().unwrap(), 5);
    /// ```
    pub fn execute_descriptor(&self, descriptor: &TaskDescriptor) -> TaskHandle<Payload> {
        let limit = self.shared.config.max_serialized_bytes;
        match Task::from_descriptor_capped(descriptor, limit) {
            Ok(task) => self.execute(task),
            Err(error) => {
                crate::observe::submitted(&self.shared);
                let owner = Owner::anonymous(&"<refused descriptor>");
                self.shared
                    .refused(owner, descriptor.priority, error, None)
                    .handle
            }
        }
    }

    /// Runs `function` with `args` at MEDIUM priority (ArkTS `taskpool.execute(func, ...args)`).
    pub fn run<F: ConcurrentFunction>(&self, function: F, args: F::Args) -> TaskHandle<F::Output> {
        self.execute(Task::new(function, args))
    }

    /// Cancels every waiting or running execution of task `id` (ArkTS `taskpool.cancel`).
    ///
    /// Fails with [`Error::TaskNotFound`] (10200015) if the task is neither waiting nor running
    /// in this pool. Callable from any thread.
    pub fn cancel(&self, id: TaskId) -> Result<()> {
        self.shared.cancel_task(id)
    }

    /// Releases the thread held by a long task (ArkTS `taskpool.terminateTask`), so the pool may
    /// shrink it away. Fails with [`Error::NotALongTask`] (401) for an id that names no long
    /// task holding a thread of this pool: an ordinary task, an unknown one, or a long task
    /// already terminated.
    pub fn terminate_task(&self, id: TaskId) -> Result<()> {
        self.shared.core().terminate_long(id)
    }

    /// A snapshot of the pool's threads and tasks (ArkTS `taskpool.getTaskPoolInfo`).
    ///
    /// Besides the waiting and running tasks, it lists the last 16 tasks whose run was
    /// canceled before it started, as [`TaskState::Canceled`](crate::TaskState::Canceled) with
    /// a zero duration (ArkTS shows a canceled task as `CANCELED` rather than dropping it from
    /// the list at once; its reference sets no duration, so here the retention is bounded by
    /// count: newer cancels push older ones out). Such an entry gives way to the task's live
    /// runs, as ArkTS keeps one state per task: a canceled task executed again is listed by
    /// its new run (and not at all once that run ended), and a task canceled twice is listed
    /// once. (A task run by reference may have several live runs at once; each is listed.)
    pub fn info(&self) -> TaskPoolInfo {
        let (mut info, listed) = self.shared.core().info(&self.shared, Instant::now());
        // Out of the core lock: copying names is the slow part, and dropping these copies
        // may drop a run (see `Core::info`).
        info.tasks = listed
            .iter()
            .map(|listed| TaskInfo {
                task_id: listed.run.id,
                name: listed.run.display_name().to_owned(),
                function: listed.run.function(),
                state: listed.state,
                priority: listed.run.priority,
                duration: listed.duration,
            })
            .collect();
        drop(listed);
        self.shared.canceled.append_to(&mut info.tasks);
        info
    }

    /// The number of worker threads (not counting threads retired after a time-out).
    pub fn thread_count(&self) -> usize {
        self.shared.core().thread_count()
    }

    /// The maximum number of worker threads of this pool.
    pub fn max_threads(&self) -> usize {
        self.shared.config.max_threads
    }

    /// Shuts the pool down: see the type's documentation. Same as dropping it.
    pub fn shutdown(self) {
        drop(self);
    }

    /// Shuts the pool down like [`shutdown`](TaskPool::shutdown), but waits at most `timeout`
    /// for the calls still executing. Threads stuck in a call after that are detached (they end
    /// when the call returns), as are threads still dropping a value a task left in a
    /// `thread_local!`, and the handles of those calls resolve as
    /// [`Error::PoolShutDown`], so no handle is left unresolved. The arguments of the tasks
    /// that never ran and the futures of suspended `async` tasks are dropped on a thread of
    /// their own, after every handle resolved, within the same bound: a `Drop` that blocks
    /// does not hold the shutdown up beyond `timeout`.
    pub fn shutdown_timeout(self, timeout: Duration) {
        self.shared.shutdown(Some(timeout));
        // Already shut down: the `Drop` below finds nothing left to wait for.
    }
}

impl Default for TaskPool {
    fn default() -> TaskPool {
        TaskPool::new()
    }
}

impl Drop for TaskPool {
    fn drop(&mut self) {
        self.shared.shutdown(None);
    }
}

impl std::fmt::Debug for TaskPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskPool")
            .field("config", &self.shared.config)
            .field("threads", &self.thread_count())
            .finish()
    }
}
