//! The workers' side of the pool: lanes, worker slots and every decision a worker takes, under
//! one lock that only workers, the supervisor and rare administrative calls take. Submitters
//! never take it: they push into the [`Intake`] and read its counters.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::info::{TaskPoolInfo, TaskState, ThreadInfo};
use crate::pool::PoolShared;
use crate::pool::intake::{Intake, Spare};
use crate::pool::lane_index::{INDEX_FROM, LaneIndex};
use crate::priority::Priority;
use crate::run::waits::Needs;
use crate::run::{Phase, Run};
use crate::scheduler::dispatch::{IdleGate, Lanes};
use crate::scheduler::parker::Parker;
use crate::sync::Arc;
use crate::sync::atomic::{Ordering, fence};
use crate::task::TaskId;

/// A worker's id, unique within its pool.
pub(crate) type WorkerId = u64;

/// What the core knows of one pool thread.
pub(crate) struct WorkerSlot {
    id: WorkerId,
    parker: Arc<Parker>,
    executing: Option<Executing>,
    /// What the thread executed before it stood in for a thread the pool may not add, while
    /// blocked in a wait, innermost last (see [`Core::stand_in`]): still executing, and still
    /// found by `cancel(id)`, `info()` and shutdown.
    set_aside: Vec<Executing>,
    /// Nested blocking waits the thread is in (see [`Core::set_blocked`]).
    blocked: u32,
    idle_since: Instant,
    long_tasks_held: usize,
    /// Holds taken by code running on the thread that must outlive the task that took them:
    /// a [`Worker`](crate::Worker) created on a pool thread holds it until the worker ends
    /// (see [`Core::hold`]). A held thread is never released as idle.
    holds: usize,
    retiring: bool,
}

/// The call or poll a thread is inside, for the time limit and pool info.
struct Executing {
    run: Arc<Run>,
    since: Instant,
    cpu_before: Duration,
    timed_out: bool,
    /// An IDLE run whose time-out gave the IDLE lane back (see [`Core::expire_overdue`]):
    /// its end must leave the lane alone.
    gave_lane_back: bool,
    /// Executed inline, inside the wait of the run set aside beneath it
    /// ([`Core::inline_began`]): it never took the IDLE lane, which stays that run's.
    inline: bool,
}

impl Executing {
    fn new(run: &Arc<Run>, since: Instant, inline: bool) -> Executing {
        Executing {
            run: Arc::clone(run),
            since,
            cpu_before: run.cpu_used(),
            timed_out: false,
            gave_lane_back: false,
            inline,
        }
    }
}

/// A job a thread blocked in a wait took from stranded work (see [`Core::stand_in`]).
pub(crate) struct StandIn {
    run: Arc<Run>,
    picked_at: Instant,
    resumed: bool,
    outer: Outer,
}

impl StandIn {
    /// The run; when it was picked; whether it is a woken `async` run (to poll) rather than a
    /// new one (to start); and what the thread executed before (for [`Core::stood_in`]).
    pub(crate) fn split(self) -> (Arc<Run>, Instant, bool, Outer) {
        (self.run, self.picked_at, self.resumed, self.outer)
    }
}

/// A run found over its time limit (see [`Core::expire_overdue`]).
pub(crate) struct Overdue {
    pub(crate) run: Arc<Run>,
    /// Whether its handle was claimed for the time-out ([`RunOps::claim_time_out`]): then the
    /// time-out is its outcome, stored by its settler. Not if the run resolved already.
    pub(crate) claimed: bool,
}

/// How a thread that stands in was blocked: in how many waits, and whether what it executed
/// was set aside (see [`WorkerSlot::set_aside`]).
pub(crate) struct Outer {
    set_aside: bool,
    blocked: u32,
}

/// How many threads a pool may have.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Threads that take work, not counting blocked or retired ones.
    pub(crate) max_threads: usize,
    /// Extra threads allowed beyond `max_threads` to stand in for blocked threads and for
    /// retired ones whose call has not returned: the hard ceiling is the sum.
    pub(crate) extra_threads: usize,
}

/// A thread asking for its next job.
pub(crate) struct Ask {
    /// The run it just ended (by value, error, panic or time-out), if any.
    pub(crate) finished: Option<Arc<Run>>,
    /// Whether it was searching (told [`Next::Search`] last time).
    pub(crate) was_searching: bool,
    /// Whether it may park if there is nothing to do.
    pub(crate) may_sleep: bool,
}

/// What a thread does next.
pub(crate) enum Next {
    /// Execute this run, picked at this instant: start it, or (`resumed`) poll its woken future.
    Run {
        /// The run.
        run: Arc<Run>,
        /// When it was picked.
        picked_at: Instant,
        /// Whether it is a woken `async` run rather than a new one.
        resumed: bool,
    },
    /// Nothing to do right now: look again shortly (the thread counts as searching, so
    /// submitters need not wake anyone for it).
    Search,
    /// Nothing to do: park until unparked, unless something was pushed after `epoch`.
    Park {
        /// The push epoch the thread saw before it last looked at the lanes.
        epoch: u64,
    },
    /// Leave: the pool shut down, or this thread was released or retired.
    Exit,
}

/// A pool thread the core decided to start; the thread is spawned outside the lock.
#[derive(Clone)]
pub(crate) struct NewWorker {
    pub(crate) id: WorkerId,
    pub(crate) parker: Arc<Parker>,
}

pub(crate) struct Core {
    lanes: Lanes<Arc<Run>>,
    /// Empty buffers swapped with the intake's on a drain, so the intake's lock is held only
    /// for the swap.
    spare: Spare,
    workers: Vec<WorkerSlot>,
    long_holders: HashMap<TaskId, WorkerId>,
    limits: Limits,
    next_worker_id: WorkerId,
    /// How long runs waited in each lane before they started (see `observe/`).
    waits: crate::observe::LaneWaits,
    /// Runs a pick took out of the lanes without starting them (canceled while waiting, or
    /// started elsewhere): let go of by the pool thread once the lock is released
    /// ([`Core::take_pruned`]), since the last reference to a run may drop user values (its
    /// listeners' captures) whose `Drop` may use the pool.
    pruned: Vec<Arc<Run>>,
    /// The lanes' runs by task id, while a burst of `cancel(id)` makes it worth keeping.
    index: Option<LaneIndex>,
    /// The supervisor rests: it found no run under the time limit, so it sleeps until its
    /// next periodic check instead of one time limit from now (which, for a limit of a few
    /// microseconds, would keep an idle pool's supervisor spinning). The first such run to
    /// begin ends the rest and asks its thread to wake the supervisor
    /// ([`Core::take_supervisor_call`]), so its limit is still kept to the instant.
    supervisor_rests: bool,
    /// A run under the time limit began while the supervisor rested: it must be woken.
    supervisor_called: bool,
}

impl Core {
    pub(crate) fn new(limits: Limits) -> Core {
        Core {
            lanes: Lanes::new(),
            spare: Spare::default(),
            workers: Vec::new(),
            long_holders: HashMap::new(),
            limits,
            next_worker_id: 1,
            waits: crate::observe::LaneWaits::default(),
            pruned: Vec::new(),
            index: None,
            supervisor_rests: false,
            supervisor_called: false,
        }
    }

    /// Whether a run executes under the time limit (not a long task's, not timed out yet).
    fn times_a_run(&self) -> bool {
        self.workers.iter().any(|slot| {
            (slot.set_aside.iter().chain(&slot.executing)).any(|e| !e.timed_out && !e.run.long)
        })
    }

    /// The supervisor is about to sleep: it rests if no run executes under the time limit
    /// (see `supervisor_rests`). Whether it does.
    pub(crate) fn supervisor_may_rest(&mut self) -> bool {
        self.supervisor_rests = !self.times_a_run();
        self.supervisor_rests
    }

    /// The supervisor woke, for whatever reason: it rests no more.
    pub(crate) fn supervisor_woke(&mut self) {
        self.supervisor_rests = false;
    }

    /// `run` began on a thread: a run under the time limit ends the supervisor's rest.
    fn timed_run_began(&mut self, run: &Arc<Run>) {
        if self.supervisor_rests && !run.long {
            self.supervisor_rests = false;
            self.supervisor_called = true;
        }
    }

    /// Whether a run that began must wake the resting supervisor; asked by the pool thread
    /// that began it, under this lock, after each call that may begin one.
    pub(crate) fn take_supervisor_call(&mut self) -> bool {
        std::mem::take(&mut self.supervisor_called)
    }

    /// Moves the intake's jobs into the lanes, indexing them if the index is kept.
    fn drain_intake(&mut self, intake: &Intake) {
        let index = &mut self.index;
        intake.drain_into_noting(&mut self.lanes, &mut self.spare, |run| {
            if let Some(index) = index {
                index.insert(run);
            }
        });
    }

    /// How many jobs wait in the lanes (not counting the intake's).
    fn lanes_len(&self) -> usize {
        Priority::ALL
            .into_iter()
            .map(|priority| {
                let (fresh, resumed) = self.lanes.len(priority);
                fresh + resumed
            })
            .sum()
    }

    /// The runs the picks took out of the lanes without starting them, for the caller to drop
    /// once the lock is released (see [`Core::pruned`]).
    pub(crate) fn take_pruned(&mut self) -> Vec<Arc<Run>> {
        std::mem::take(&mut self.pruned)
    }

    /// Reserves a new thread if `demand` waiting jobs exceed the threads free to take them and
    /// the limits allow. An IDLE submission (`idle_only`) only ensures that one thread exists.
    pub(crate) fn grow_if_needed(
        &mut self,
        intake: &Intake,
        demand: usize,
        idle_only: bool,
    ) -> Option<NewWorker> {
        // Growth is decided under the core lock, where the shutdown flag is set: no thread is
        // added once a shutdown has taken the list of threads to wait for.
        let wanted = !intake.is_shutting_down()
            && if idle_only {
                self.active_workers() == 0
            } else {
                demand > self.free_workers()
            };
        let may_grow = self.may_grow();
        if wanted && !may_grow && self.active_workers() == 0 {
            self.wake_blocked();
        }
        let worker = (wanted && may_grow).then(|| self.reserve_worker());
        self.publish_counts(intake);
        worker
    }

    /// Wakes the threads blocked in a wait: the pool may add no thread for the work that
    /// waits, and none takes work, so they stand in (see [`Core::stand_in`]).
    fn wake_blocked(&self) {
        for slot in self.workers.iter().filter(|w| w.blocked > 0) {
            slot.parker.unpark();
        }
    }

    /// Below `max_threads` threads that take work, and below the hard ceiling of OS threads.
    fn may_grow(&self) -> bool {
        self.active_workers() < self.limits.max_threads
            && self.workers.len() < self.limits.max_threads + self.limits.extra_threads
    }

    /// Refreshes the thread counts submitters read without the lock.
    pub(crate) fn publish_counts(&self, intake: &Intake) {
        // Stored only when they changed: submitters read these lines on every push.
        let publish = |counter: &crate::sync::atomic::AtomicUsize, value: usize| {
            if counter.load(Ordering::Relaxed) != value {
                counter.store(value, Ordering::SeqCst);
            }
        };
        publish(&intake.free_workers, self.free_workers());
        publish(&intake.active_workers, self.active_workers());
    }

    fn reserve_worker(&mut self) -> NewWorker {
        let id = self.next_worker_id;
        self.next_worker_id += 1;
        let parker = Arc::new(Parker::default());
        self.workers.push(WorkerSlot {
            id,
            parker: Arc::clone(&parker),
            executing: None,
            set_aside: Vec::new(),
            blocked: 0,
            idle_since: Instant::now(),
            long_tasks_held: 0,
            holds: 0,
            retiring: false,
        });
        NewWorker { id, parker }
    }

    /// Forgets a thread that could not be spawned, or that left.
    pub(crate) fn remove_worker(&mut self, intake: &Intake, id: WorkerId) {
        self.workers.retain(|w| w.id != id);
        self.publish_counts(intake);
    }

    /// Threads neither executing nor retiring.
    fn free_workers(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| !w.retiring && w.executing.is_none())
            .count()
    }

    /// Threads that count toward `max_threads`: not retiring, not blocked in a wait.
    fn active_workers(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| !w.retiring && w.blocked == 0)
            .count()
    }

    /// Pool threads that are not retiring.
    pub(crate) fn thread_count(&self) -> usize {
        self.workers.iter().filter(|w| !w.retiring).count()
    }

    /// Whether thread `id` still has to be waited for at shutdown: any thread but one retired
    /// in a call that timed out (it leaves when that call returns, maybe never). A thread the
    /// core has already let go of is on its way out — told to exit, or released as idle — and
    /// is waited for: otherwise a shutdown looking before it marked itself exited would return
    /// while it still runs, without joining it.
    pub(crate) fn must_join(&self, id: WorkerId) -> bool {
        !self
            .workers
            .iter()
            .any(|w| w.id == id && w.set_aside.iter().chain(&w.executing).any(|e| e.timed_out))
    }

    /// The parker thread `id` sleeps on (in its loop, or blocked in a wait).
    pub(crate) fn parker_of(&self, id: WorkerId) -> Option<Arc<Parker>> {
        let slot = &self.workers[self.slot_index(id)?];
        Some(Arc::clone(&slot.parker))
    }

    /// The run thread `id` is executing (a call or a poll), if any.
    pub(crate) fn executing_on(&self, id: WorkerId) -> Option<Arc<Run>> {
        let slot = &self.workers[self.slot_index(id)?];
        slot.executing.as_ref().map(|e| Arc::clone(&e.run))
    }

    fn slot_index(&self, id: WorkerId) -> Option<usize> {
        self.workers.iter().position(|w| w.id == id)
    }

    /// Records what thread `me` just did and decides what it does next, and whether a thread
    /// must be added for the work still waiting. A thread told to [`Next::Search`] calls again
    /// with `was_searching`; it may park only when `may_sleep`.
    pub(crate) fn next_for(
        &mut self,
        intake: &Intake,
        me: WorkerId,
        ask: Ask,
    ) -> (Next, Option<NewWorker>) {
        if ask.was_searching {
            intake.searching.fetch_sub(1, Ordering::SeqCst);
        }
        let now = Instant::now();
        let Some(index) = self.slot_index(me) else {
            return (Next::Exit, None);
        };
        let stays_busy = self.workers[index].executing.is_some()
            && (ask.finished.as_ref()).is_none_or(|run| run.priority != Priority::Idle);
        self.apply(intake, index, ask.finished, now);
        if stays_busy && let Some((run, resumed)) = self.pick_while_busy(intake, index, now) {
            // Busy before and after: no submitter can have missed a thread becoming busy, so
            // no growth re-check. Only a resumed run can change the counts (its last poller's
            // slot lets go of it).
            if resumed {
                self.publish_counts(intake);
            }
            let next = Next::Run {
                run,
                picked_at: now,
                resumed,
            };
            return (next, None);
        }
        let next = self.decide(intake, index, ask.may_sleep, now);
        let leaving = matches!(next, Next::Exit);
        if leaving {
            self.workers.swap_remove(index);
        }
        self.publish_counts(intake);
        let grow = self.grow_for_backlog(intake);
        // The re-check above adds threads for foreground work only. A leaving thread (retired
        // after a time-out, released) may be the last that takes work, and IDLE work waiting
        // asks for one thread only when it is submitted: without this it would wait for the
        // next submission. Only when a thread leaves, so no cost per task.
        let grow = grow.or_else(|| {
            let idle_work = leaving && !intake.is_shutting_down() && self.idle_startable(intake);
            idle_work.then(|| self.grow_if_needed(intake, 0, true))?
        });
        (next, grow)
    }

    /// The re-check that makes growth reliable: submitters decide from counters read without
    /// the lock, and may miss a thread that just became busy. Every decision ends here, after
    /// publishing the counts; with `SeqCst` on both sides either the submitter saw the new
    /// counts or this check sees its job.
    fn grow_for_backlog(&mut self, intake: &Intake) -> Option<NewWorker> {
        if intake.is_shutting_down() {
            return None;
        }
        // Pairs with the fence in `PoolShared::after_push` (a store-then-load on each side).
        fence(Ordering::SeqCst);
        let demand = intake.waiting_foreground.load(Ordering::SeqCst);
        self.grow_if_needed(intake, demand, false)
    }

    fn decide(&mut self, intake: &Intake, index: usize, may_sleep: bool, now: Instant) -> Next {
        if intake.is_shutting_down() || self.workers[index].retiring {
            return Next::Exit;
        }
        if let Some((run, resumed)) = self.pick(intake, index, now, false) {
            return Next::Run {
                run,
                picked_at: now,
                resumed,
            };
        }
        // Nothing to do: read the epoch, then look again after moving the whole intake. A push
        // that completes after this read changes the epoch, which the parking check sees (see
        // `scheduler/README.md`).
        let epoch = intake.epoch.load(Ordering::SeqCst);
        if let Some((run, resumed)) = self.pick(intake, index, now, true) {
            return Next::Run {
                run,
                picked_at: now,
                resumed,
            };
        }
        if may_sleep {
            Next::Park { epoch }
        } else {
            intake.searching.fetch_add(1, Ordering::SeqCst);
            Next::Search
        }
    }

    fn apply(&mut self, intake: &Intake, index: usize, finished: Option<Arc<Run>>, now: Instant) {
        let slot = &mut self.workers[index];
        let executed = slot.executing.take();
        if executed.is_some() {
            slot.idle_since = now;
        }
        let gave_lane_back = executed.is_some_and(|e| e.gave_lane_back);
        self.idle_finished(intake, finished, gave_lane_back);
    }

    /// After `finished` ended: an IDLE run frees the IDLE lane — unless its time-out
    /// `gave_lane_back` already ([`Core::expire_overdue`]): another IDLE task may hold it by
    /// now.
    fn idle_finished(&self, intake: &Intake, finished: Option<Arc<Run>>, gave_lane_back: bool) {
        if !gave_lane_back && finished.is_some_and(|run| run.priority == Priority::Idle) {
            intake.idle_in_flight.store(false, Ordering::SeqCst);
        }
    }

    /// Which IDLE work may go now. A new IDLE task may start when no IDLE task executes and
    /// every thread that takes work is quiet: idle, or blocked in a wait (it uses no CPU, and it
    /// may be waiting for that very IDLE task). A woken IDLE task may resume when no IDLE task
    /// executes. "Executes" means on a thread: an IDLE `async` task suspended at an `.await`
    /// holds no thread and does not hold the IDLE lane either — it may be awaiting IDLE work.
    fn idle_gate(&self, intake: &Intake) -> IdleGate {
        let lane_free = !intake.idle_in_flight.load(Ordering::SeqCst);
        let quiet = || {
            self.workers
                .iter()
                .filter(|w| !w.retiring)
                .all(|w| w.executing.is_none() || w.blocked > 0)
        };
        IdleGate {
            fresh: lane_free && quiet(),
            resumed: lane_free,
        }
    }

    /// The short decision of a thread that stays busy: when the intake holds nothing that
    /// could change the pick, the lanes' next foreground job. IDLE work is left to the full
    /// decision, which follows when this finds nothing: only it reads the IDLE gate.
    fn pick_while_busy(
        &mut self,
        intake: &Intake,
        index: usize,
        now: Instant,
    ) -> Option<(Arc<Run>, bool)> {
        let plain =
            !intake.is_shutting_down() && !self.workers[index].retiring && self.index.is_none();
        if !plain {
            return None;
        }
        let mut pruned = std::mem::take(&mut self.pruned);
        // Pruned before the intake's mask is compared with the lanes, as in the full pick: a
        // queue whose runs were all canceled (or taken inline) is empty, and a new run pushed
        // into the intake's matching queue may be the next pick.
        (self.lanes).prune(|run, resumed| keep_live(intake, &mut pruned, run, resumed));
        let picked = (intake.pending_queues() & !self.lanes.occupied() == 0)
            .then(|| self.take_next(intake, index, now, IdleGate::CLOSED, &mut pruned))
            .flatten();
        self.pruned = pruned;
        picked
    }

    /// Picks the next run for thread `index`. The intake is moved into the lanes first if it
    /// could change the pick (`drain`: in any case).
    fn pick(
        &mut self,
        intake: &Intake,
        index: usize,
        now: Instant,
        drain: bool,
    ) -> Option<(Arc<Run>, bool)> {
        let idle_gate = self.idle_gate(intake);
        // Not dropped here, under the lock: see `pruned`.
        let mut pruned = std::mem::take(&mut self.pruned);
        let pruned_before = pruned.len();
        // Pruned first: a queue whose jobs were all canceled is empty for the pick.
        (self.lanes).prune(|run, resumed| keep_live(intake, &mut pruned, run, resumed));
        let by_id = &mut self.index;
        intake.refresh_noting(&mut self.lanes, &mut self.spare, drain, |run| {
            if let Some(by_id) = by_id {
                by_id.insert(run);
            }
        });
        let picked = self.take_next(intake, index, now, idle_gate, &mut pruned);
        if let Some(by_id) = &mut self.index {
            // What left the lanes leaves the index; an empty queue needs no index.
            let left = pruned[pruned_before..].iter();
            for run in left.chain(picked.as_ref().map(|(run, _)| run)) {
                by_id.remove(run);
            }
            if self.lanes.occupied() == 0 {
                self.index = None;
            }
        }
        self.pruned = pruned;
        picked
    }

    /// Takes the lanes' next job that is still to be executed for thread `index`, putting the
    /// ones that are not (canceled while waiting, or started elsewhere) in `pruned`.
    fn take_next(
        &mut self,
        intake: &Intake,
        index: usize,
        now: Instant,
        idle_gate: IdleGate,
        pruned: &mut Vec<Arc<Run>>,
    ) -> Option<(Arc<Run>, bool)> {
        loop {
            let keep = |run: &Arc<Run>, resumed| keep_live(intake, pruned, run, resumed);
            let (run, priority, resumed) = self.lanes.pick(keep, idle_gate)?;
            intake.left_lanes(priority);
            let taken = if resumed {
                run.suspension.begin_poll()
            } else {
                run.try_start()
            };
            if taken {
                self.begin(intake, index, &run, resumed, now);
                return Some((run, resumed));
            }
            pruned.push(run);
        }
    }

    /// Thread `index` took `run` (started it, or began a poll of it if `resumed`) at `now`:
    /// the run is the thread's, for `info()`, the time limit and the IDLE rules.
    fn begin(
        &mut self,
        intake: &Intake,
        index: usize,
        run: &Arc<Run>,
        resumed: bool,
        now: Instant,
    ) {
        if !resumed {
            self.waits.record(run.priority, run.start_clock(now));
        }
        if run.priority == Priority::Idle {
            intake.idle_in_flight.store(true, Ordering::SeqCst);
        }
        if resumed {
            // Its last poller may not have asked for its next job yet, and still has it in
            // its slot: the run is this thread's now, for `info()` and the time limit.
            for (i, worker) in self.workers.iter_mut().enumerate() {
                let stale =
                    (worker.executing.as_ref()).is_some_and(|e| super::same_run(&e.run, run));
                if i != index && stale {
                    worker.executing = None;
                    worker.idle_since = now;
                }
            }
        }
        if run.long && !resumed {
            // A long task holds its thread from its start until `terminate_task`.
            self.workers[index].long_tasks_held += 1;
            self.long_holders.insert(run.id, self.workers[index].id);
        }
        self.workers[index].executing = Some(Executing::new(run, now, false));
        self.timed_run_began(run);
    }

    /// Thread `me` executes `run` inline, inside the wait of the run it was executing (see
    /// `thread::run_inline`): `run` is now what the thread executes, for the time limit and
    /// `info()`, and the waiting run is set aside beneath it, still executing (its wait counts
    /// against its own limit, as any wait does) until [`Core::inline_ended`] puts it back.
    /// `None` if the thread has no slot. `started`: when it started, and how long it had waited
    /// in its lane (counted in the lane's waits, as for a run a thread picks).
    pub(crate) fn inline_began(
        &mut self,
        me: WorkerId,
        run: &Arc<Run>,
        (now, waited): (Instant, Duration),
    ) -> Option<Outer> {
        self.waits.record(run.priority, waited);
        let index = self.slot_index(me)?;
        let slot = &mut self.workers[index];
        let set_aside = slot.executing.take();
        let outer = Outer {
            set_aside: set_aside.is_some(),
            blocked: slot.blocked,
        };
        slot.set_aside.extend(set_aside);
        slot.executing = Some(Executing::new(run, now, true));
        self.timed_run_began(run);
        Some(outer)
    }

    /// The run of [`Core::inline_began`] returned on thread `me` (or suspended): what it set
    /// aside executes again.
    pub(crate) fn inline_ended(&mut self, me: WorkerId, outer: Outer) {
        if let Some(index) = self.slot_index(me) {
            self.restore(index, outer);
        }
    }

    /// Takes one of `jobs` — runs of this pool waiting in its lanes that a blocked wait needs
    /// — for thread `index`, out of turn, if the IDLE rules let it go. Its lane entry stays
    /// and is dropped by whoever reaches it, as after an inline run.
    fn take_needed(
        &mut self,
        intake: &Intake,
        index: usize,
        jobs: &[Arc<Run>],
        now: Instant,
    ) -> Option<(Arc<Run>, bool)> {
        let gate = self.idle_gate(intake);
        for run in jobs {
            let resumed = match run.phase() {
                Phase::Queued => false,
                Phase::Woken => true,
                _ => continue,
            };
            let lane_open = if resumed { gate.resumed } else { gate.fresh };
            if run.priority == Priority::Idle && !lane_open {
                continue;
            }
            let taken = if resumed {
                run.suspension.begin_poll()
            } else {
                run.try_start_queued()
            };
            if taken {
                self.begin(intake, index, run, resumed, now);
                return Some((Arc::clone(run), resumed));
            }
        }
        None
    }

    /// Picks a job for thread `me`, blocked in a wait, if the work waiting in the lanes is
    /// stranded: no thread takes work (all blocked or retired) and the hard ceiling forbids
    /// adding one. The blocked thread then executes it in its wait, standing in for the thread
    /// the ceiling forbids (the pool wakes it for that: [`Core::grow_if_needed`]). What the
    /// thread was executing is kept aside until [`Core::stood_in`] puts it back. The job is
    /// one its wait `needs`, taken out of turn; any job, in turn, only if the wait cannot
    /// tell what it needs; none if it needs nothing a thread could do.
    pub(crate) fn stand_in(
        &mut self,
        intake: &Intake,
        me: WorkerId,
        needs: &Needs,
    ) -> Option<StandIn> {
        if intake.is_shutting_down() || self.active_workers() > 0 || self.may_grow() {
            return None;
        }
        // A job its wait does not need could come to wait for the run beneath it on this
        // thread (a chain of tasks each blocking on the one before): only what it needs, or
        // any job if it cannot tell.
        let any_job = needs.any_job();
        if needs.jobs.is_empty() && !any_job {
            return None;
        }
        let index = self.slot_index(me)?;
        let slot = &mut self.workers[index];
        // While it stands in, the thread is not blocked: it takes work, and what it executes
        // is what the time limit, the IDLE rules and pool info see. (If the waiting task is
        // the IDLE task in flight, no other IDLE task starts: the lane stays its own.)
        let set_aside = slot.executing.take();
        let outer = Outer {
            set_aside: set_aside.is_some(),
            blocked: std::mem::take(&mut slot.blocked),
        };
        slot.set_aside.extend(set_aside);
        let now = Instant::now();
        let picked = match self.take_needed(intake, index, &needs.jobs, now) {
            Some(needed) => Some(needed),
            None if any_job => self.pick(intake, index, now, true),
            None => None,
        };
        match picked {
            Some((run, resumed)) => Some(StandIn {
                run,
                picked_at: now,
                resumed,
                outer,
            }),
            None => {
                self.restore(index, outer);
                None
            }
        }
    }

    /// Thread `me` ended the job of a [`Core::stand_in`] (`finished`: the run, if it ended) and
    /// goes back to its wait.
    pub(crate) fn stood_in(
        &mut self,
        intake: &Intake,
        me: WorkerId,
        finished: Option<Arc<Run>>,
        outer: Outer,
    ) {
        let mut gave_lane_back = false;
        if let Some(index) = self.slot_index(me) {
            let executing = self.workers[index].executing.as_ref();
            gave_lane_back = executing.is_some_and(|e| e.gave_lane_back);
            self.restore(index, outer);
        }
        self.idle_finished(intake, finished, gave_lane_back);
        self.publish_counts(intake);
    }

    fn restore(&mut self, index: usize, outer: Outer) {
        let slot = &mut self.workers[index];
        slot.executing = if outer.set_aside {
            slot.set_aside.pop()
        } else {
            None
        };
        slot.blocked = outer.blocked;
    }

    /// Counts thread `me` as blocked in a wait (or no longer): a blocked thread does not count
    /// toward `max_threads`, so the pool may add one in its place, within the hard ceiling.
    /// Returns the thread to start, if one is needed for waiting work.
    pub(crate) fn set_blocked(
        &mut self,
        intake: &Intake,
        me: WorkerId,
        blocked: bool,
    ) -> Option<NewWorker> {
        if let Some(index) = self.slot_index(me) {
            let slot = &mut self.workers[index];
            if blocked {
                slot.blocked += 1;
            } else {
                slot.blocked = slot.blocked.saturating_sub(1);
            }
        }
        self.publish_counts(intake);
        if !blocked {
            return None;
        }
        // IDLE work it held back may start now (a blocked thread is quiet): a thread must take
        // it. With none taking work, one is added, or the blocked threads stand in.
        let idle_work = self.idle_startable(intake);
        self.grow_for_backlog(intake)
            .or_else(|| idle_work.then(|| self.grow_if_needed(intake, 0, true))?)
    }

    /// Whether IDLE work waits and may go now (see [`Core::idle_gate`]).
    pub(crate) fn idle_startable(&self, intake: &Intake) -> bool {
        let gate = self.idle_gate(intake);
        let (lanes, queued) = (self.lanes.len(Priority::Idle), intake.len(Priority::Idle));
        (gate.fresh && lanes.0 + queued.0 > 0) || (gate.resumed && lanes.1 + queued.1 > 0)
    }

    /// Adds (`held`) or removes a hold on thread `id`, so that [`Core::release_idle`] keeps it
    /// while anything holds it. ArkTS keeps a pool thread that created a Worker alive for as long
    /// as the Worker lives; `pool::hold_current_thread` is how the Worker asks for that.
    pub(crate) fn hold(&mut self, id: WorkerId, held: bool) {
        if let Some(slot) = self.workers.iter_mut().find(|w| w.id == id) {
            if held {
                slot.holds += 1;
            } else {
                slot.holds = slot.holds.saturating_sub(1);
            }
        }
    }

    /// Lets the thread that finished long task `id` be released again (ArkTS `terminateTask`).
    pub(crate) fn terminate_long(&mut self, id: TaskId) -> Result<(), crate::Error> {
        let worker = self
            .long_holders
            .remove(&id)
            .ok_or(crate::Error::NotALongTask(id))?;
        if let Some(slot) = self.workers.iter_mut().find(|w| w.id == worker) {
            slot.long_tasks_held = slot.long_tasks_held.saturating_sub(1);
        }
        Ok(())
    }

    /// Finds non-long runs that have used up their time budget. They are marked, their workers
    /// retire when the call returns, and the earliest budget still running out is returned.
    ///
    /// An IDLE run that times out gives the IDLE lane back at once: its handle is resolved and
    /// its thread retired, as a foreground run's is, and its call may never return — other IDLE
    /// work must not wait for it (the caller then finds a thread for that work: see
    /// `supervisor::run`). Its late end leaves the lane alone ([`Core::idle_finished`]).
    pub(crate) fn expire_overdue(
        &mut self,
        intake: &Intake,
        now: Instant,
        limit: Duration,
    ) -> (Vec<Overdue>, Option<Instant>) {
        let mut expired = Vec::new();
        let mut next_deadline: Option<Instant> = None;
        for slot in &mut self.workers {
            // A task set aside while its thread stands in is still in its blocked wait, which
            // counts against its budget as any wait does: it must not outlive its limit just
            // because the job on top of it runs long.
            let mut overdue = false;
            for executing in slot.set_aside.iter_mut().chain(&mut slot.executing) {
                if executing.timed_out || executing.run.long {
                    continue;
                }
                let budget_left = limit.saturating_sub(executing.cpu_before);
                // A limit too far away to represent is never reached.
                let Some(deadline) = executing.since.checked_add(budget_left) else {
                    continue;
                };
                if now >= deadline {
                    executing.timed_out = true;
                    overdue = true;
                    // Executing, an IDLE run in a thread's slot is the one holding the lane. Not
                    // once its code ended (its thread frees the lane when it asks for its next
                    // job, as after any IDLE run) or while it is suspended (it let the lane go,
                    // and another IDLE run may hold it): exactly one side gives it back.
                    let holds_lane = executing.run.priority == Priority::Idle
                        && !executing.inline
                        && executing.run.phase() == Phase::Executing;
                    if holds_lane {
                        intake.idle_in_flight.store(false, Ordering::SeqCst);
                        executing.gave_lane_back = true;
                    }
                    // Claimed here, under the lock that found it overdue: settled later on a
                    // thread of its own, it would lose to a call that returns meanwhile.
                    expired.push(Overdue {
                        claimed: executing.run.claim_time_out(),
                        run: Arc::clone(&executing.run),
                    });
                } else {
                    next_deadline = Some(next_deadline.map_or(deadline, |d| d.min(deadline)));
                }
            }
            if overdue {
                slot.retiring = true;
            }
        }
        (expired, next_deadline)
    }

    /// Retires threads idle for at least `idle_timeout` that hold no long task and are not held
    /// (by a Worker they created), keeping one.
    /// Nothing is released while work waits: a thread started for it may not have taken it yet.
    pub(crate) fn release_idle(
        &mut self,
        intake: &Intake,
        now: Instant,
        idle_timeout: Duration,
    ) -> Vec<Arc<Parker>> {
        let mut released = Vec::new();
        if intake.waiting_foreground.load(Ordering::SeqCst) > 0 {
            return released;
        }
        let mut active = self.active_workers();
        for slot in &mut self.workers {
            if active <= 1 {
                break;
            }
            let releasable = !slot.retiring
                && slot.executing.is_none()
                && slot.long_tasks_held == 0
                && slot.holds == 0
                && now.saturating_duration_since(slot.idle_since) >= idle_timeout;
            if releasable {
                slot.retiring = true;
                active -= 1;
                released.push(Arc::clone(&slot.parker));
            }
        }
        released
    }

    /// The waiting runs no thread will ever take, taken out of the lanes: all of them when the
    /// pool has no thread left that takes work (the system refused to start one), else none.
    /// A thread being started, or one blocked in a wait, still counts: it will take them.
    /// Returns the new runs that have not started, and the woken `async` runs (whose futures
    /// nobody will poll: the caller claims and settles them).
    pub(crate) fn take_stranded(&mut self, intake: &Intake) -> (Vec<Arc<Run>>, Vec<Arc<Run>>) {
        if self.thread_count() > 0 {
            return (Vec::new(), Vec::new());
        }
        self.drain_intake(intake);
        self.index = None;
        let (fresh, woken) = (self.lanes.drain(), self.lanes.drain_resumed());
        for run in fresh.iter().chain(&woken) {
            intake.left_lanes(run.priority);
        }
        let fresh = fresh.into_iter().filter(|run| run.is_waiting()).collect();
        let woken = woken.into_iter().filter(|run| !run.suspension.is_done());
        (fresh, woken.collect())
    }

    /// Starts shutting down: returns the waiting runs to cancel and every worker to wake.
    pub(crate) fn begin_shutdown(&mut self, intake: &Intake) -> (Vec<Arc<Run>>, Vec<Arc<Parker>>) {
        intake.shutting_down.store(true, Ordering::SeqCst);
        self.drain_intake(intake);
        self.index = None;
        // Not a run taken inline from its lane (`pool::run_inline`): its entry stays there
        // until a thread reaches it, but it executes, and is waited for like any call.
        let waiting = self
            .lanes
            .drain()
            .into_iter()
            .filter(|run| run.is_waiting());
        let parkers = self.workers.iter().map(|w| Arc::clone(&w.parker)).collect();
        (waiting.collect(), parkers)
    }

    /// The runs the core holds — queued in the lanes (the intake is moved into them first) or
    /// executing on a thread — of task `id`, or all of them. `cancel(id)` and pool info scan
    /// here instead of keeping a per-task index (see `pool/live.rs` for the runs held elsewhere).
    pub(crate) fn runs(&mut self, intake: &Intake, id: Option<TaskId>) -> Vec<Arc<Run>> {
        self.drain_intake(intake);
        // One scan builds the index when many runs wait, instead of one scan per cancel: a
        // burst of `cancel(id)` over a long queue would otherwise be quadratic, under the lock
        // every worker needs.
        if id.is_some() && self.index.is_none() && self.lanes_len() >= INDEX_FROM {
            self.index = Some(LaneIndex::build(&self.lanes));
        }
        let executing = self
            .workers
            .iter()
            .flat_map(|w| w.set_aside.iter().chain(&w.executing).map(|e| &e.run));
        let queued: Box<dyn Iterator<Item = &Arc<Run>>> = match (id, &self.index) {
            (Some(id), Some(index)) => Box::new(index.runs_of(id).iter()),
            _ => Box::new(self.lanes.iter()),
        };
        queued
            .chain(executing)
            .filter(|run| id.is_none_or(|id| run.id == id))
            .cloned()
            .collect()
    }

    /// The snapshot of [`TaskPool::info`](crate::TaskPool::info), its task list left empty:
    /// the listed runs come with their states, for the caller to describe and drop after the
    /// lock (a copy may be a run's last reference, whose unread result's `Drop` is user code,
    /// and describing them copies every name).
    pub(crate) fn info(
        &mut self,
        pool: &PoolShared,
        now: Instant,
    ) -> (TaskPoolInfo, Vec<ListedRun>) {
        let runs = super::unique(self.runs(&pool.intake, None), pool.live.all());
        // Each run's state is read once: a run may finish (outside this lock) while the
        // snapshot is taken, and a thread must not list a task the task list then lacks.
        let states: HashMap<usize, (TaskState, bool)> = runs
            .iter()
            .filter_map(|run| Some((super::run_key(run), run.listed_state()?)))
            .collect();
        let executing_now = |run: &Arc<Run>| {
            states
                .get(&super::run_key(run))
                .is_some_and(|&(_, executing)| executing)
        };
        // A retired thread is not the pool's any more, unless it stands in for one: the job it
        // executes then is live work of the pool.
        let listed =
            |w: &&WorkerSlot| !w.retiring || w.executing.as_ref().is_some_and(|e| !e.timed_out);
        let threads = self
            .workers
            .iter()
            .filter(listed)
            .map(|w| {
                // A run that ended stays in its thread's slot until the thread asks for its
                // next job; meanwhile the next run of its task may have started elsewhere.
                let running = |e: &&Executing| executing_now(&e.run);
                let executing = w.executing.as_ref().filter(running);
                // Outermost first: a task blocked in a wait, the job the thread stands in for or
                // the run it executes inline in that wait, and so on.
                let on_thread: Vec<&Arc<Run>> = (w.set_aside.iter().filter(running))
                    .chain(executing)
                    .map(|e| &e.run)
                    .collect();
                ThreadInfo {
                    id: w.id,
                    name: format!("{}-{}", pool.config.thread_name, w.id),
                    task_ids: on_thread.iter().map(|run| run.id).collect(),
                    priority: executing.map(|e| e.run.priority),
                }
            })
            .collect();
        let listed = runs
            .into_iter()
            .filter_map(|run| {
                let &(state, _) = states.get(&super::run_key(&run))?;
                // Read with the state: a run listed waiting has not run for any time.
                let duration = run.running_for(now);
                Some(ListedRun {
                    run,
                    state,
                    duration,
                })
            })
            .collect();
        let lanes = crate::observe::lanes(&self.waits, |priority| {
            let (queued, woken) = self.lanes.len(priority);
            let (pushed, pushed_woken) = pool.intake.len(priority);
            (queued + pushed, woken + pushed_woken)
        });
        let info = TaskPoolInfo {
            threads,
            tasks: Vec::new(),
            lanes,
            counters: pool.observe.counters.snapshot(),
        };
        (info, listed)
    }
}

/// Whether a job at the front of a queue is still to be executed: a fresh run canceled while
/// it waited, or a woken one a cancel claimed, is not; it leaves the lanes into `pruned`.
fn keep_live(intake: &Intake, pruned: &mut Vec<Arc<Run>>, run: &Arc<Run>, resumed: bool) -> bool {
    let live = if resumed {
        !run.suspension.is_done()
    } else {
        run.is_waiting()
    };
    if !live {
        intake.left_lanes(run.priority);
        pruned.push(Arc::clone(run));
    }
    live
}

/// A run `info()` lists, with its state and how long it has been running, read together
/// under the core lock.
pub(crate) struct ListedRun {
    pub(crate) run: Arc<Run>,
    pub(crate) state: TaskState,
    pub(crate) duration: std::time::Duration,
}

#[cfg(all(test, not(taskpool_loom)))]
mod tests {
    use super::*;

    fn core_with_threads(count: usize) -> (Core, Vec<WorkerId>) {
        let mut core = Core::new(Limits {
            max_threads: count,
            extra_threads: 0,
        });
        let ids = (0..count).map(|_| core.reserve_worker().id).collect();
        (core, ids)
    }

    fn queued_run(priority: Priority) -> Arc<Run> {
        use crate::function::Invocation;
        use crate::run::TypedRun;
        use crate::task::{Call, Owner};

        let call: Call<()> = Box::new(|| Invocation::Ready(Ok(())));
        let run: Arc<Run> = TypedRun::new(
            Owner::anonymous(&"core::queued"),
            priority,
            call,
            std::sync::Weak::new(),
            None,
        );
        assert!(run.mark_queued());
        run
    }

    fn ask_after(finished: Option<Arc<Run>>) -> Ask {
        Ask {
            finished,
            was_searching: false,
            may_sleep: false,
        }
    }

    /// The run a decision told the thread to start.
    fn started(next: Next) -> Arc<Run> {
        match next {
            Next::Run {
                run,
                resumed: false,
                ..
            } => run,
            _ => panic!("the thread was told to start a run"),
        }
    }

    /// A thread that goes from one run to the next takes it with the short decision
    /// (`pick_while_busy`): it still skips a run canceled while it waited, and still sees more
    /// urgent work arrive, in the intake or moved into the lanes by another thread.
    #[test]
    fn a_busy_thread_skips_canceled_runs_and_sees_more_urgent_work() {
        let intake = Intake::default();
        let (mut core, ids) = core_with_threads(2);
        let mediums: Vec<_> = (0..5).map(|_| queued_run(Priority::Medium)).collect();
        for run in &mediums {
            intake.push(Arc::clone(run));
        }
        let first = started(core.next_for(&intake, ids[0], ask_after(None)).0);
        assert!(Arc::ptr_eq(&first, &mediums[0]));
        // Canceled while it waited: skipped.
        assert!(mediums[1].cancel_unstarted());
        let second = started(core.next_for(&intake, ids[0], ask_after(Some(first))).0);
        assert!(Arc::ptr_eq(&second, &mediums[2]));
        // HIGH work pushed meanwhile starts next.
        let high = queued_run(Priority::High);
        intake.push(Arc::clone(&high));
        let third = started(core.next_for(&intake, ids[0], ask_after(Some(second))).0);
        assert!(Arc::ptr_eq(&third, &high));
        // Another HIGH run, moved into the lanes by the other thread (which then ran out of
        // HIGH work to take): the busy thread takes it before the MEDIUM runs.
        let high = queued_run(Priority::High);
        intake.push(Arc::clone(&high));
        core.drain_intake(&intake);
        let fourth = started(core.next_for(&intake, ids[0], ask_after(Some(third))).0);
        assert!(Arc::ptr_eq(&fourth, &high));
        let fifth = started(core.next_for(&intake, ids[0], ask_after(Some(fourth))).0);
        assert!(Arc::ptr_eq(&fifth, &mediums[3]));
    }

    /// Found by a scheduler probe: the short decision compared the intake's queues with the
    /// lanes before dropping the canceled runs at their fronts, so a HIGH lane holding only a
    /// canceled run hid a new HIGH run in the intake, and a LOW run started before it.
    #[test]
    fn a_busy_thread_sees_a_high_run_behind_a_lane_of_canceled_ones() {
        let intake = Intake::default();
        let (mut core, ids) = core_with_threads(1);
        let first = queued_run(Priority::Low);
        intake.push(Arc::clone(&first));
        assert!(Arc::ptr_eq(
            &started(core.next_for(&intake, ids[0], ask_after(None)).0),
            &first
        ));
        let (canceled, low) = (queued_run(Priority::High), queued_run(Priority::Low));
        intake.push(Arc::clone(&canceled));
        intake.push(Arc::clone(&low));
        // `cancel(id)` moves the intake into the lanes; the canceled run stays in its lane.
        core.drain_intake(&intake);
        assert!(canceled.cancel_unstarted());
        let high = queued_run(Priority::High);
        intake.push(Arc::clone(&high));
        let next = started(core.next_for(&intake, ids[0], ask_after(Some(first))).0);
        assert!(Arc::ptr_eq(&next, &high), "the new HIGH run starts first");
    }

    /// IDLE work waiting is not started by the short decision of a thread going from one
    /// foreground run to the next: it starts once the foreground work is done.
    #[test]
    fn idle_work_waits_until_a_busy_thread_runs_out_of_foreground_work() {
        let intake = Intake::default();
        let (mut core, ids) = core_with_threads(1);
        let low = [queued_run(Priority::Low), queued_run(Priority::Low)];
        for run in &low {
            intake.push(Arc::clone(run));
        }
        let first = started(core.next_for(&intake, ids[0], ask_after(None)).0);
        let idle = queued_run(Priority::Idle);
        intake.push(Arc::clone(&idle));
        core.drain_intake(&intake);
        let second = started(core.next_for(&intake, ids[0], ask_after(Some(first))).0);
        assert!(Arc::ptr_eq(&second, &low[1]));
        let third = started(core.next_for(&intake, ids[0], ask_after(Some(second))).0);
        assert!(Arc::ptr_eq(&third, &idle));
    }

    /// Found by `stress_mixed` (`info()` listed one task on two threads): a suspended run that
    /// was woken and picked by another thread before its last poller asked for its next job was
    /// in both threads' slots — for `info()`, but also for the time limit, which would measure
    /// the next poll from the first one's start.
    #[test]
    fn a_resumed_run_is_in_the_slot_of_the_thread_that_polls_it_only() {
        use crate::function::Invocation;
        use crate::run::{AfterPending, TypedRun};
        use crate::task::{Call, Owner};

        let intake = Intake::default();
        let (mut core, ids) = core_with_threads(2);
        let call: Call<u32> = Box::new(|| Invocation::Ready(Ok(1)));
        let run: Arc<Run> = TypedRun::new(
            Owner::anonymous(&"core::resumed"),
            Priority::Medium,
            call,
            std::sync::Weak::new(),
            None,
        );
        intake.push(Arc::clone(&run));
        let ask = || Ask {
            finished: None,
            was_searching: false,
            may_sleep: false,
        };
        let in_slots = |core: &Core| {
            (core.workers.iter())
                .filter(|w| {
                    w.executing
                        .as_ref()
                        .is_some_and(|e| Arc::ptr_eq(&e.run, &run))
                })
                .map(|w| w.id)
                .collect::<Vec<_>>()
        };
        let (next, _) = core.next_for(&intake, ids[0], ask());
        assert!(matches!(next, Next::Run { resumed: false, .. }));
        assert_eq!(in_slots(&core), [ids[0]]);
        // Its first poll returns `Pending`; a waker queues it again at once, and the other
        // thread takes it before the first one asks for its next job.
        assert_eq!(run.suspension.end_poll(), AfterPending::Suspended);
        assert!(run.suspension.wake());
        intake.push_resumed(Arc::clone(&run));
        let (next, _) = core.next_for(&intake, ids[1], ask());
        assert!(matches!(next, Next::Run { resumed: true, .. }));
        assert_eq!(in_slots(&core), [ids[1]]);
        // The first thread then asks for its next job: the run stays with the second.
        let (next, _) = core.next_for(&intake, ids[0], ask());
        assert!(!matches!(next, Next::Run { .. }));
        assert_eq!(in_slots(&core), [ids[1]]);
    }

    /// A run executed inline is timed out like any run, but never gives the IDLE lane back:
    /// it did not take it; the IDLE run waiting for it, set aside beneath it, holds it.
    #[test]
    fn an_inline_run_times_out_without_giving_the_idle_lane_back() {
        use crate::function::Invocation;
        use crate::run::TypedRun;
        use crate::task::{Call, Owner};

        let idle_run = |name: &'static &'static str| -> Arc<Run> {
            let call: Call<u32> = Box::new(|| Invocation::Ready(Ok(1)));
            TypedRun::new(
                Owner::anonymous(name),
                Priority::Idle,
                call,
                std::sync::Weak::new(),
                None,
            )
        };
        let (outer, inner) = (idle_run(&"core::outer"), idle_run(&"core::inner"));
        let intake = Intake::default();
        let (mut core, ids) = core_with_threads(1);
        intake.push(Arc::clone(&outer));
        let ask = Ask {
            finished: None,
            was_searching: false,
            may_sleep: false,
        };
        let (next, _) = core.next_for(&intake, ids[0], ask);
        assert!(matches!(next, Next::Run { .. }));
        assert!(intake.idle_in_flight.load(Ordering::SeqCst));
        let start = Instant::now();
        let later = start + Duration::from_secs(1);
        // Queued, then taken by a thread waiting for it (`thread::run_inline`).
        assert!(inner.mark_queued() && inner.try_start_queued());
        let outer_slot = core
            .inline_began(ids[0], &inner, (later, Duration::ZERO))
            .unwrap();
        // At `later + 1 s`: the inner run is 1 s into a 1.5 s limit, the outer 2 s.
        let limit = Duration::from_millis(1500);
        let (expired, _) = core.expire_overdue(&intake, later + Duration::from_secs(1), limit);
        assert_eq!(expired.len(), 1);
        assert!(Arc::ptr_eq(&expired[0].run, &outer));
        // The outer gave the lane back: taken again, as by another IDLE task meanwhile.
        intake.idle_in_flight.store(true, Ordering::SeqCst);
        let (expired, _) = core.expire_overdue(&intake, later + Duration::from_secs(2), limit);
        assert_eq!(expired.len(), 1);
        assert!(Arc::ptr_eq(&expired[0].run, &inner));
        assert!(
            intake.idle_in_flight.load(Ordering::SeqCst),
            "the lane is not the inner's"
        );
        core.inline_ended(ids[0], outer_slot);
        let slot = &core.workers[0];
        let back = slot.executing.as_ref().unwrap();
        assert!(Arc::ptr_eq(&back.run, &outer) && back.timed_out && slot.set_aside.is_empty());
    }

    /// The check that finds a run over its limit claims its handle for the time-out at once:
    /// the call returning before the run's settler thread gets to it loses. (The settler
    /// claimed it, so a call returning meanwhile was reported a success although its thread was
    /// retired for the time-out.)
    #[test]
    fn a_run_found_overdue_is_claimed_by_the_check() {
        use crate::function::Invocation;
        use crate::run::TypedRun;
        use crate::task::{Call, Owner};

        let call: Call<u32> = Box::new(|| Invocation::Ready(Ok(1)));
        let owner = Owner::anonymous(&"core::overdue");
        let run: Arc<Run> =
            TypedRun::new(owner, Priority::Medium, call, std::sync::Weak::new(), None);
        let intake = Intake::default();
        let (mut core, ids) = core_with_threads(1);
        intake.push(Arc::clone(&run));
        let ask = Ask {
            finished: None,
            was_searching: false,
            may_sleep: false,
        };
        assert!(matches!(
            core.next_for(&intake, ids[0], ask).0,
            Next::Run { .. }
        ));
        let later = Instant::now() + Duration::from_secs(2);
        let (expired, _) = core.expire_overdue(&intake, later, Duration::from_secs(1));
        assert_eq!(expired.len(), 1);
        assert!(expired[0].claimed && run.is_claimed() && !run.is_resolved());
        assert!(
            !run.resolve_error(crate::Error::PoolShutDown),
            "the call lost"
        );
        expired[0].run.timed_out(crate::Error::TimedOut {
            task: run.id,
            limit: Duration::from_secs(1),
        });
        assert!(run.is_resolved());
        assert!(run.is_cancel_requested(), "the call was told");
    }

    #[test]
    fn a_held_thread_is_not_released_until_its_holds_are_gone() {
        let intake = Intake::default();
        let (mut core, ids) = core_with_threads(3);
        core.hold(ids[0], true);
        core.hold(ids[0], true);
        let later = Instant::now() + Duration::from_secs(1);
        // Two idle threads could go, keeping one; the held one must be the one kept.
        let released = core.release_idle(&intake, later, Duration::ZERO);
        assert_eq!(released.len(), 2);
        let kept: Vec<_> = core.workers.iter().filter(|w| !w.retiring).collect();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].id, ids[0]);

        // One hold left: still kept, even beside a fresh idle thread.
        core.hold(ids[0], false);
        let fresh = core.reserve_worker().id;
        let released = core.release_idle(&intake, later, Duration::ZERO);
        assert_eq!(released.len(), 1);
        assert!(core.workers.iter().any(|w| w.id == fresh && w.retiring));

        // No hold: an idle thread like any other (kept here only as the last one).
        core.hold(ids[0], false);
        core.hold(ids[0], false); // one release too many is ignored
        let _other = core.reserve_worker().id;
        let released = core.release_idle(&intake, later, Duration::ZERO);
        assert_eq!(released.len(), 1);
        assert!(core.workers.iter().any(|w| w.id == ids[0] && w.retiring));
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;
    use crate::run::TypedRun;
    use crate::sync::atomic::fence;

    fn run_of(priority: Priority) -> Arc<Run> {
        let owner = crate::task::Owner::anonymous(&"loom::core");
        let call: crate::task::Call<()> = Box::new(|| crate::function::Invocation::Ready(Ok(())));
        TypedRun::new(owner, priority, call, std::sync::Weak::new(), None)
    }

    fn idle_run() -> Arc<Run> {
        run_of(Priority::Idle)
    }

    fn ask(finished: Option<Arc<Run>>) -> Ask {
        Ask {
            finished,
            was_searching: false,
            may_sleep: true,
        }
    }

    /// The supervisor looks and rests (no run under the time limit), waiting on its condition
    /// variable under the core's lock, while a pool thread begins a run and answers the call
    /// as `PoolShared::answer_supervisor_call` does. Whatever the order, the supervisor ends
    /// up awake with the run to time: a lost call would leave it waiting forever, which the
    /// model reports as a deadlock.
    #[test]
    fn a_run_that_begins_while_the_supervisor_rests_wakes_it() {
        loom::model(|| {
            let intake = Arc::new(Intake::default());
            let mut core = Core::new(Limits {
                max_threads: 1,
                extra_threads: 0,
            });
            let thread = core.reserve_worker().id;
            intake.push(run_of(Priority::Medium));
            let shared = Arc::new((loom::sync::Mutex::new(core), loom::sync::Condvar::new()));
            let supervisor = {
                let shared = Arc::clone(&shared);
                loom::thread::spawn(move || {
                    let (core, woken) = &*shared;
                    let mut core = core.lock().unwrap();
                    while core.supervisor_may_rest() {
                        core = woken.wait(core).unwrap();
                        core.supervisor_woke();
                    }
                })
            };
            let (core, woken) = &*shared;
            let mut guard = core.lock().unwrap();
            let (next, _) = guard.next_for(&intake, thread, ask(None));
            assert!(matches!(next, Next::Run { .. }), "the run begins");
            if guard.take_supervisor_call() {
                woken.notify_all();
            }
            drop(guard);
            supervisor.join().unwrap();
            assert!(!core.lock().unwrap().supervisor_rests);
        });
    }

    /// The last thread that takes work leaves (retired after a time-out, its call returned)
    /// while an IDLE task is submitted, on a pool whose ceiling is that one thread. The
    /// submitter, as `PoolShared::after_push` does, reads the published count of threads that
    /// take work after its push and asks the core for a thread only if it reads none; the
    /// leaving thread's last decision looks for IDLE work after it left. Whatever the order,
    /// one of them adds the thread the IDLE task needs (the leaving thread used to look for
    /// foreground work only, and the submitter's request came while the ceiling was full).
    #[test]
    fn a_leaving_thread_or_an_idle_submitter_adds_the_thread_idle_work_needs() {
        loom::model(|| {
            let intake = Arc::new(Intake::default());
            let mut core = Core::new(Limits {
                max_threads: 1,
                extra_threads: 0,
            });
            let leaving = core.reserve_worker().id;
            let slot = core.slot_index(leaving).unwrap();
            core.workers[slot].retiring = true;
            core.publish_counts(&intake);
            let core = Arc::new(loom::sync::Mutex::new(core));
            let submitter = {
                let (intake, core) = (intake.clone(), core.clone());
                loom::thread::spawn(move || {
                    let demand = intake.push(idle_run());
                    fence(Ordering::SeqCst);
                    let active = intake.active_workers.load(Ordering::SeqCst);
                    let mut core = core.lock().unwrap();
                    (active == 0)
                        .then(|| core.grow_if_needed(&intake, demand, true))
                        .flatten()
                        .is_some()
                })
            };
            let (next, grown) = {
                let mut core = core.lock().unwrap();
                core.next_for(&intake, leaving, ask(None))
            };
            assert!(matches!(next, Next::Exit), "a retired thread leaves");
            let submitter_grew = submitter.join().unwrap();
            assert!(
                grown.is_some() || submitter_grew,
                "nobody added a thread for the IDLE task"
            );
            assert!(
                !(grown.is_some() && submitter_grew),
                "two threads added past the ceiling"
            );
        });
    }

    /// A thread goes from one run to the next with the short decision, which skips the growth
    /// re-check, while a run is submitted. The submitter, as `PoolShared::after_push` does,
    /// reads the published counts after its push and asks the core for a thread if more runs
    /// wait than threads are free. The busy thread was published busy by the full decision
    /// that made it busy, so whatever the order, every run left waiting has a free thread (or
    /// the pool is at its maximum).
    #[test]
    fn a_run_submitted_while_a_busy_thread_moves_on_gets_a_thread() {
        loom::model(|| {
            let intake = Arc::new(Intake::default());
            let mut core = Core::new(Limits {
                max_threads: 3,
                extra_threads: 0,
            });
            let busy = core.reserve_worker().id;
            let runs = [medium_run(), medium_run()];
            for run in &runs {
                intake.push(Arc::clone(run));
            }
            // It takes the first run and adds a thread for the second.
            let (first, grown) = core.next_for(&intake, busy, ask(None));
            assert!(matches!(first, Next::Run { .. }) && grown.is_some());
            let core = Arc::new(loom::sync::Mutex::new(core));
            let submitter = {
                let (intake, core) = (intake.clone(), core.clone());
                loom::thread::spawn(move || {
                    let demand = intake.push(medium_run());
                    fence(Ordering::SeqCst);
                    let free = intake.free_workers.load(Ordering::SeqCst);
                    if demand > free {
                        let mut core = core.lock().unwrap();
                        core.grow_if_needed(&intake, demand, false);
                    }
                })
            };
            let (next, grown) = {
                let mut core = core.lock().unwrap();
                core.next_for(&intake, busy, ask(Some(Arc::clone(&runs[0]))))
            };
            assert!(
                matches!(next, Next::Run { run, .. } if Arc::ptr_eq(&run, &runs[1])),
                "the busy thread moves on to the next run"
            );
            assert!(grown.is_none(), "the short decision adds no thread");
            submitter.join().unwrap();
            let core = core.lock().unwrap();
            let waiting = intake.waiting_foreground.load(Ordering::SeqCst);
            assert!(
                waiting <= core.free_workers() || !core.may_grow(),
                "a run waits with no free thread, below the maximum"
            );
        });
    }

    fn medium_run() -> Arc<Run> {
        let run = run_of(Priority::Medium);
        assert!(run.mark_queued());
        run
    }

    /// IDLE runs in threads' slots that hold the lane: executing, and not given back by a
    /// time-out.
    fn lane_holders(core: &Core) -> usize {
        (core.workers.iter())
            .flat_map(|w| &w.executing)
            .filter(|e| {
                e.run.priority == Priority::Idle
                    && !e.gave_lane_back
                    && e.run.phase() == Phase::Executing
            })
            .count()
    }

    /// An IDLE run A that holds the lane overruns its time limit. Three things race: the
    /// supervisor's look (which times A out), A's call returning (its code ends, then its
    /// thread asks for its next job) — or never returning — and another thread looking for
    /// work while IDLE run B waits. Whatever the order: never two IDLE runs hold the lane; the
    /// lane is marked held exactly while one does; and B is never stranded (started, or the
    /// lane free for the next look). A time-out used to leave the lane held until A's thread
    /// asked again (forever for a call that never returns); with the lane given back by the
    /// time-out, a late end must not free it a second time under B, nor a time-out that comes
    /// after A's code ended leave it held.
    #[test]
    fn a_timed_out_idle_run_gives_the_lane_to_the_next_one_once() {
        loom::model(|| {
            let intake = Arc::new(Intake::default());
            let mut core = Core::new(Limits {
                max_threads: 3,
                extra_threads: 0,
            });
            let a_thread = core.reserve_worker().id;
            let b_thread = core.reserve_worker().id;
            let spare_thread = core.reserve_worker().id;
            intake.push(idle_run());
            let (next, _) = core.next_for(&intake, a_thread, ask(None));
            let Next::Run { run: a, .. } = next else {
                panic!("A starts")
            };
            // A started two hours ago: over a one-hour limit, which B, started now, is not.
            let a_slot = core.slot_index(a_thread).unwrap();
            let executing = core.workers[a_slot].executing.as_mut().unwrap();
            executing.since -= Duration::from_secs(7200);
            intake.push(idle_run());
            let core = Arc::new(loom::sync::Mutex::new(core));
            let check = |core: &Core| {
                assert!(lane_holders(core) <= 1, "two IDLE runs hold the lane");
            };
            let supervisor = {
                let (intake, core) = (intake.clone(), core.clone());
                loom::thread::spawn(move || {
                    let mut core = core.lock().unwrap();
                    let limit = Duration::from_secs(3600);
                    core.expire_overdue(&intake, Instant::now(), limit);
                    check(&core);
                })
            };
            let looker = {
                let (intake, core) = (intake.clone(), core.clone());
                loom::thread::spawn(move || {
                    let mut core = core.lock().unwrap();
                    core.next_for(&intake, b_thread, ask(None));
                    check(&core);
                })
            };
            // A's call returns: its code ends, then its thread asks for its next job.
            a.fail(crate::Error::PoolShutDown);
            {
                let mut core = core.lock().unwrap();
                core.next_for(&intake, a_thread, ask(Some(a)));
                check(&core);
            }
            supervisor.join().unwrap();
            looker.join().unwrap();
            let mut core = core.lock().unwrap();
            let held = intake.idle_in_flight.load(Ordering::SeqCst);
            assert_eq!(held, lane_holders(&core) == 1, "the lane's mark is wrong");
            if !held {
                let (next, _) = core.next_for(&intake, spare_thread, ask(None));
                let b_waits = core.lanes.len(Priority::Idle).0 + intake.len(Priority::Idle).0 > 0;
                let started = matches!(next, Next::Run { .. });
                assert!(started || !b_waits, "B is stranded behind a free lane");
            }
        });
    }

    /// The same with A's call never returning: the time-out alone lets B start.
    #[test]
    fn a_stuck_timed_out_idle_run_lets_the_next_one_start() {
        loom::model(|| {
            let intake = Arc::new(Intake::default());
            let mut core = Core::new(Limits {
                max_threads: 2,
                extra_threads: 0,
            });
            let (a_thread, b_thread) = (core.reserve_worker().id, core.reserve_worker().id);
            intake.push(idle_run());
            let (next, _) = core.next_for(&intake, a_thread, ask(None));
            assert!(matches!(next, Next::Run { .. }), "A starts");
            intake.push(idle_run());
            let core = Arc::new(loom::sync::Mutex::new((core, false)));
            let supervisor = {
                let (intake, core) = (intake.clone(), core.clone());
                loom::thread::spawn(move || {
                    let mut guard = core.lock().unwrap();
                    let later = Instant::now() + Duration::from_secs(7200);
                    let limit = Duration::from_secs(3600);
                    let (expired, _) = guard.0.expire_overdue(&intake, later, limit);
                    assert_eq!(expired.len(), 1);
                    guard.1 = true;
                })
            };
            let mut guard = core.lock().unwrap();
            let timed_out = guard.1;
            let (next, _) = guard.0.next_for(&intake, b_thread, ask(None));
            assert_eq!(
                matches!(next, Next::Run { .. }),
                timed_out,
                "B starts exactly after A's time-out"
            );
            drop(guard);
            supervisor.join().unwrap();
            let mut guard = core.lock().unwrap();
            if !timed_out {
                let (next, _) = guard.0.next_for(&intake, b_thread, ask(None));
                assert!(matches!(next, Next::Run { .. }), "B is stranded");
            }
        });
    }
}
