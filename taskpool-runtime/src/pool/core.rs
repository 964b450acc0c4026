//! The workers' side of the pool: lanes, worker slots and every decision a worker takes, under
//! one lock that only workers, the supervisor and rare administrative calls take. Submitters
//! never take it: they push into the [`Intake`] and read its counters.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::info::{TaskInfo, TaskPoolInfo, TaskState, ThreadInfo};
use crate::pool::intake::Intake;
use crate::pool::live::LiveRuns;
use crate::priority::Priority;
use crate::run::Run;
use crate::scheduler::dispatch::Lanes;
use crate::scheduler::parker::Parker;
use crate::sync::Arc;
use crate::sync::atomic::Ordering;
use crate::task::TaskId;

/// A worker's id, unique within its pool.
pub(crate) type WorkerId = u64;

/// What the core knows of one worker thread.
pub(crate) struct WorkerSlot {
    id: WorkerId,
    parker: Arc<Parker>,
    executing: Option<Executing>,
    suspended: Vec<TaskId>,
    idle_since: Instant,
    long_tasks_held: usize,
    retiring: bool,
}

impl WorkerSlot {
    /// Executing nothing and holding no suspended task.
    fn is_idle(&self) -> bool {
        self.executing.is_none() && self.suspended.is_empty()
    }
}

/// The call or poll a worker is inside, for the time limit and pool info.
struct Executing {
    run: Arc<Run>,
    since: Instant,
    cpu_before: Duration,
    timed_out: bool,
}

/// What a worker tells the core when it asks for its next job.
#[derive(Default)]
pub(crate) struct Report {
    /// A run that ended (by value, error, panic or time-out).
    pub(crate) finished: Option<Arc<Run>>,
    /// A run that is now suspended in an `.await` on this worker.
    pub(crate) suspended: Option<TaskId>,
}

/// A worker asking for its next job.
pub(crate) struct Ask {
    /// What it just did.
    pub(crate) report: Report,
    /// Whether its own suspended tasks were woken.
    pub(crate) local_ready: bool,
    /// Whether it was searching (told [`Next::Search`] last time).
    pub(crate) was_searching: bool,
    /// Whether it may park if there is nothing to do.
    pub(crate) may_sleep: bool,
}

/// What a worker does next.
pub(crate) enum Next {
    /// Start this run; it was picked at this instant.
    Run(Arc<Run>, Instant),
    /// Poll a suspended task of its own that was woken.
    Local,
    /// Nothing to do right now: look again shortly (the worker counts as searching, so
    /// submitters need not wake anyone for it).
    Search,
    /// Nothing to do: park until unparked, unless a submission arrived after `epoch`.
    Park {
        /// The submission epoch the worker saw before it last looked at the lanes; `None` for
        /// a retiring worker, which waits only for its own suspended tasks.
        epoch: Option<u64>,
    },
    /// Leave: the pool shut down, or this worker was released or retired.
    Exit,
}

/// A worker the pool decided to start; the thread is spawned outside the lock.
pub(crate) struct NewWorker {
    pub(crate) id: WorkerId,
    pub(crate) parker: Arc<Parker>,
}

pub(crate) struct Core {
    lanes: Lanes<Arc<Run>>,
    workers: Vec<WorkerSlot>,
    idle_task_in_flight: bool,
    long_holders: HashMap<TaskId, WorkerId>,
    max_threads: usize,
    next_worker_id: WorkerId,
}

impl Core {
    pub(crate) fn new(max_threads: usize) -> Core {
        Core {
            lanes: Lanes::new(),
            workers: Vec::new(),
            idle_task_in_flight: false,
            long_holders: HashMap::new(),
            max_threads,
            next_worker_id: 1,
        }
    }

    /// Reserves a new worker if `demand` waiting runs exceed the workers free to take them.
    /// An IDLE submission (`idle_only`) only ensures that one worker exists.
    pub(crate) fn grow_if_needed(
        &mut self,
        intake: &Intake,
        demand: usize,
        idle_only: bool,
    ) -> Option<NewWorker> {
        let active = self.active_workers();
        let wanted = if idle_only {
            active == 0
        } else {
            demand > self.free_workers()
        };
        let worker = (wanted && active < self.max_threads).then(|| self.reserve_worker());
        self.publish_counts(intake);
        worker
    }

    /// Refreshes the worker counts submitters read without the lock.
    pub(crate) fn publish_counts(&self, intake: &Intake) {
        intake
            .free_workers
            .store(self.free_workers(), Ordering::SeqCst);
        intake
            .active_workers
            .store(self.active_workers(), Ordering::SeqCst);
    }

    fn reserve_worker(&mut self) -> NewWorker {
        let id = self.next_worker_id;
        self.next_worker_id += 1;
        let parker = Arc::new(Parker::default());
        self.workers.push(WorkerSlot {
            id,
            parker: Arc::clone(&parker),
            executing: None,
            suspended: Vec::new(),
            idle_since: Instant::now(),
            long_tasks_held: 0,
            retiring: false,
        });
        NewWorker { id, parker }
    }

    /// Forgets a worker whose thread could not be spawned.
    pub(crate) fn unreserve_worker(&mut self, intake: &Intake, id: WorkerId) {
        self.workers.retain(|w| w.id != id);
        self.publish_counts(intake);
    }

    /// Workers neither executing nor retiring.
    fn free_workers(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| !w.retiring && w.executing.is_none())
            .count()
    }

    fn active_workers(&self) -> usize {
        self.workers.iter().filter(|w| !w.retiring).count()
    }

    /// Worker threads that are not retiring.
    pub(crate) fn thread_count(&self) -> usize {
        self.active_workers()
    }

    fn slot_mut(&mut self, id: WorkerId) -> Option<&mut WorkerSlot> {
        self.workers.iter_mut().find(|w| w.id == id)
    }

    fn slot_index(&self, id: WorkerId) -> usize {
        self.workers
            .iter()
            .position(|w| w.id == id)
            .expect("a worker asks for work only while its slot exists")
    }

    /// Records what worker `me` just did and decides what it does next. A worker that was told
    /// to [`Next::Search`] calls again with `was_searching`; it may park only when `may_sleep`.
    pub(crate) fn next_for(&mut self, intake: &Intake, me: WorkerId, mut ask: Ask) -> Next {
        if ask.was_searching {
            intake.searching.fetch_sub(1, Ordering::SeqCst);
        }
        // Read before looking at the lanes: any submission after this changes the epoch.
        let epoch = intake.epoch.load(Ordering::SeqCst);
        let now = Instant::now();
        let index = self.slot_index(me);
        self.apply(index, std::mem::take(&mut ask.report), now);
        let next = self.decide(intake, index, &ask, epoch, now);
        if matches!(next, Next::Exit) {
            self.workers.swap_remove(index);
        }
        self.publish_counts(intake);
        next
    }

    fn decide(
        &mut self,
        intake: &Intake,
        index: usize,
        ask: &Ask,
        epoch: u64,
        now: Instant,
    ) -> Next {
        if intake.is_shutting_down() {
            return Next::Exit;
        }
        if ask.local_ready {
            return Next::Local;
        }
        let slot = &self.workers[index];
        if slot.retiring {
            return if slot.suspended.is_empty() {
                Next::Exit
            } else {
                Next::Park { epoch: None }
            };
        }
        intake.drain_into(&mut self.lanes);
        if let Some(run) = self.pick(intake, index, now) {
            return Next::Run(run, now);
        }
        if ask.may_sleep {
            Next::Park { epoch: Some(epoch) }
        } else {
            intake.searching.fetch_add(1, Ordering::SeqCst);
            Next::Search
        }
    }

    fn apply(&mut self, index: usize, report: Report, now: Instant) {
        let slot = &mut self.workers[index];
        if slot.executing.take().is_some() {
            slot.idle_since = now;
        }
        if let Some(id) = report.suspended {
            slot.suspended.push(id);
        }
        if let Some(run) = report.finished {
            slot.suspended.retain(|&id| id != run.record.id);
            if run.priority == Priority::Idle {
                self.idle_task_in_flight = false;
            }
        }
    }

    fn pick(&mut self, intake: &Intake, index: usize, now: Instant) -> Option<Arc<Run>> {
        let idle_allowed = !self.idle_task_in_flight && self.workers.iter().all(|w| w.is_idle());
        let mut keep = |run: &Arc<Run>| {
            let waiting = run.is_waiting();
            if !waiting {
                intake.left_lanes(run.priority);
            }
            waiting
        };
        loop {
            let (run, priority) = self.lanes.pick(&mut keep, idle_allowed)?;
            intake.left_lanes(priority);
            if !run.try_start() {
                continue;
            }
            if priority == Priority::Idle {
                self.idle_task_in_flight = true;
            }
            if run.record.long {
                // A long task holds its thread from its start until `terminate_task`.
                self.workers[index].long_tasks_held += 1;
                self.long_holders
                    .insert(run.record.id, self.workers[index].id);
            }
            self.workers[index].executing = Some(Executing {
                run: Arc::clone(&run),
                since: now,
                cpu_before: Duration::ZERO,
                timed_out: false,
            });
            return Some(run);
        }
    }

    /// Marks worker `me` as polling a suspended run that has used `cpu_before` so far.
    pub(crate) fn begin_poll(
        &mut self,
        me: WorkerId,
        run: &Arc<Run>,
        cpu_before: Duration,
        now: Instant,
    ) {
        let index = self.slot_index(me);
        self.workers[index].executing = Some(Executing {
            run: Arc::clone(run),
            since: now,
            cpu_before,
            timed_out: false,
        });
    }

    /// Lets the thread that finished long task `id` be released again (ArkTS `terminateTask`).
    pub(crate) fn terminate_long(&mut self, id: TaskId) -> Result<(), crate::Error> {
        let worker = self
            .long_holders
            .remove(&id)
            .ok_or(crate::Error::TaskNotFound(id))?;
        if let Some(slot) = self.slot_mut(worker) {
            slot.long_tasks_held -= 1;
        }
        Ok(())
    }

    /// Finds non-long runs that have used up their time budget. They are marked, their workers
    /// retire when the call returns, and the earliest budget still running out is returned.
    pub(crate) fn expire_overdue(
        &mut self,
        now: Instant,
        limit: Duration,
    ) -> (Vec<Arc<Run>>, Option<Instant>) {
        let mut expired = Vec::new();
        let mut next_deadline: Option<Instant> = None;
        for slot in &mut self.workers {
            let Some(executing) = &mut slot.executing else {
                continue;
            };
            if executing.timed_out || executing.run.record.long {
                continue;
            }
            let budget_left = limit.saturating_sub(executing.cpu_before);
            let deadline = executing.since + budget_left;
            if now >= deadline {
                executing.timed_out = true;
                slot.retiring = true;
                expired.push(Arc::clone(&executing.run));
            } else {
                next_deadline = Some(next_deadline.map_or(deadline, |d| d.min(deadline)));
            }
        }
        (expired, next_deadline)
    }

    /// Retires workers idle for at least `idle_timeout` that hold nothing, keeping one.
    pub(crate) fn release_idle(
        &mut self,
        now: Instant,
        idle_timeout: Duration,
    ) -> Vec<Arc<Parker>> {
        let mut released = Vec::new();
        let mut active = self.active_workers();
        for slot in &mut self.workers {
            if active <= 1 {
                break;
            }
            let releasable = !slot.retiring
                && slot.is_idle()
                && slot.long_tasks_held == 0
                && now.duration_since(slot.idle_since) >= idle_timeout;
            if releasable {
                slot.retiring = true;
                active -= 1;
                released.push(Arc::clone(&slot.parker));
            }
        }
        released
    }

    /// Starts shutting down: returns the waiting runs to cancel and every worker to wake.
    pub(crate) fn begin_shutdown(&mut self, intake: &Intake) -> (Vec<Arc<Run>>, Vec<Arc<Parker>>) {
        intake.shutting_down.store(true, Ordering::SeqCst);
        intake.drain_into(&mut self.lanes);
        let waiting = self.lanes.drain();
        let parkers = self.workers.iter().map(|w| Arc::clone(&w.parker)).collect();
        (waiting, parkers)
    }

    pub(crate) fn info(&self, live: &LiveRuns, now: Instant) -> TaskPoolInfo {
        let threads = self
            .workers
            .iter()
            .filter(|w| !w.retiring)
            .map(|w| ThreadInfo {
                id: w.id,
                task_ids: w
                    .executing
                    .iter()
                    .map(|e| e.run.record.id)
                    .chain(w.suspended.iter().copied())
                    .collect(),
                priority: w.executing.as_ref().map(|e| e.run.priority),
            })
            .collect();
        let tasks = live
            .all()
            .iter()
            .filter_map(|run| {
                let state = if run.is_waiting() {
                    TaskState::Waiting
                } else if run.is_cancel_requested() {
                    TaskState::Canceled
                } else if run.is_running() {
                    TaskState::Running
                } else {
                    return None;
                };
                Some(TaskInfo {
                    task_id: run.record.id,
                    name: run.record.name.clone(),
                    function: run.record.function,
                    state,
                    priority: run.priority,
                    duration: run.running_for(now),
                })
            })
            .collect();
        TaskPoolInfo { threads, tasks }
    }
}
