//! The pool's shared state and every scheduling decision, taken under one lock.
//!
//! Keeping lanes, workers, sleepers and live tasks behind a single mutex makes each decision
//! ("start this", "sleep", "grow", "release that thread") atomic with respect to all the others;
//! see `scheduler/README.md` for why that rules out lost wake-ups.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::info::{TaskInfo, TaskPoolInfo, TaskState, ThreadInfo};
use crate::priority::Priority;
use crate::run::{Cancel, Run};
use crate::scheduler::dispatch::Lanes;
use crate::scheduler::parker::Parker;
use crate::sync::Arc;
use crate::task::TaskId;

/// A worker's id, unique within its pool.
pub(crate) type WorkerId = u64;

/// What the core knows of one worker thread.
pub(crate) struct WorkerSlot {
    id: WorkerId,
    parker: Arc<Parker>,
    executing: Option<Executing>,
    suspended: Vec<TaskId>,
    sleeping: bool,
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

/// What a worker does next.
pub(crate) enum Next {
    /// Start this run.
    Run(Arc<Run>),
    /// Poll a suspended task of its own that was woken.
    Local,
    /// Nothing to do right now: look again shortly (the worker counts as searching, so
    /// submitters need not wake anyone for it).
    Search,
    /// Nothing to do: park until unparked.
    Park,
    /// Leave: the pool shut down, or this worker was released or retired.
    Exit,
}

/// A worker the pool decided to start; the thread is spawned outside the lock.
pub(crate) struct NewWorker {
    pub(crate) id: WorkerId,
    pub(crate) parker: Arc<Parker>,
}

/// The effects of a submission, to carry out after the lock is released.
#[derive(Default)]
pub(crate) struct Wake {
    pub(crate) unpark: Option<Arc<Parker>>,
    pub(crate) spawn: Option<NewWorker>,
}

pub(crate) struct Core {
    lanes: Lanes<Arc<Run>>,
    workers: Vec<WorkerSlot>,
    sleepers: Vec<WorkerId>,
    /// Workers between two looks for work, who will look again before they sleep.
    searching: usize,
    live: HashMap<TaskId, Vec<Arc<Run>>>,
    idle_task_in_flight: bool,
    long_holders: HashMap<TaskId, WorkerId>,
    max_threads: usize,
    next_worker_id: WorkerId,
    pub(crate) shutdown: bool,
    pub(crate) supervisor_started: bool,
}

impl Core {
    pub(crate) fn new(max_threads: usize) -> Core {
        Core {
            lanes: Lanes::new(),
            workers: Vec::new(),
            sleepers: Vec::new(),
            searching: 0,
            live: HashMap::new(),
            idle_task_in_flight: false,
            long_holders: HashMap::new(),
            max_threads,
            next_worker_id: 1,
            shutdown: false,
            supervisor_started: false,
        }
    }

    /// Queues a run and decides whom to wake and whether to grow.
    pub(crate) fn enqueue(&mut self, run: Arc<Run>) -> Wake {
        let priority = run.priority;
        self.live
            .entry(run.record.id)
            .or_default()
            .push(Arc::clone(&run));
        self.lanes.push(priority, run);
        // A searching worker will find this job itself; wake a sleeper only for the surplus.
        let unpark = if self.lanes.len() > self.searching {
            self.pop_sleeper()
        } else {
            None
        };
        Wake {
            unpark,
            spawn: self.grow_if_needed(priority == Priority::Idle),
        }
    }

    /// Reserves a new worker if waiting work exceeds the workers free to take it. An IDLE
    /// submission only ensures that one worker exists.
    pub(crate) fn grow_if_needed(&mut self, idle_only: bool) -> Option<NewWorker> {
        let active = self.active_workers();
        let free = self
            .workers
            .iter()
            .filter(|w| !w.retiring && w.executing.is_none())
            .count();
        let wanted = if idle_only {
            active == 0
        } else {
            self.lanes.growth_demand() > free
        };
        (wanted && active < self.max_threads).then(|| self.reserve_worker())
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
            sleeping: false,
            idle_since: Instant::now(),
            long_tasks_held: 0,
            retiring: false,
        });
        NewWorker { id, parker }
    }

    /// Forgets a worker whose thread could not be spawned.
    pub(crate) fn unreserve_worker(&mut self, id: WorkerId) {
        self.workers.retain(|w| w.id != id);
    }

    fn active_workers(&self) -> usize {
        self.workers.iter().filter(|w| !w.retiring).count()
    }

    /// Worker threads that are not retiring.
    pub(crate) fn thread_count(&self) -> usize {
        self.active_workers()
    }

    fn pop_sleeper(&mut self) -> Option<Arc<Parker>> {
        let id = self.sleepers.pop()?;
        let slot = self.slot_mut(id)?;
        slot.sleeping = false;
        Some(Arc::clone(&slot.parker))
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
    /// to [`Next::Search`] calls again with `was_searching`; it may sleep only when `may_sleep`.
    pub(crate) fn next_for(
        &mut self,
        me: WorkerId,
        report: Report,
        local_ready: bool,
        was_searching: bool,
        may_sleep: bool,
    ) -> Next {
        if was_searching {
            self.searching -= 1;
        }
        let index = self.slot_index(me);
        self.apply(index, report);
        if self.shutdown {
            self.workers.swap_remove(index);
            return Next::Exit;
        }
        if local_ready {
            return Next::Local;
        }
        let slot = &mut self.workers[index];
        if slot.retiring {
            if slot.suspended.is_empty() {
                self.workers.swap_remove(index);
                return Next::Exit;
            }
            return Next::Park;
        }
        if let Some(run) = self.pick(index) {
            return Next::Run(run);
        }
        if !may_sleep {
            self.searching += 1;
            return Next::Search;
        }
        let slot = &mut self.workers[index];
        if !slot.sleeping {
            slot.sleeping = true;
            self.sleepers.push(me);
        }
        Next::Park
    }

    fn apply(&mut self, index: usize, report: Report) {
        let now = Instant::now();
        let slot = &mut self.workers[index];
        if slot.sleeping {
            slot.sleeping = false;
            let id = slot.id;
            self.sleepers.retain(|&s| s != id);
        }
        let slot = &mut self.workers[index];
        if slot.executing.take().is_some() {
            slot.idle_since = now;
        }
        if let Some(id) = report.suspended {
            slot.suspended.push(id);
        }
        if let Some(run) = report.finished {
            slot.suspended.retain(|&id| id != run.record.id);
            self.finish(&run);
        }
    }

    fn finish(&mut self, run: &Arc<Run>) {
        let task = run.record.id;
        if let Some(runs) = self.live.get_mut(&task) {
            runs.retain(|r| !Arc::ptr_eq(r, run));
            if runs.is_empty() {
                self.live.remove(&task);
            }
        }
        if run.priority == Priority::Idle {
            self.idle_task_in_flight = false;
        }
    }

    fn pick(&mut self, index: usize) -> Option<Arc<Run>> {
        let idle_allowed = !self.idle_task_in_flight && self.workers.iter().all(|w| w.is_idle());
        loop {
            let (run, priority) = self.lanes.pick(|run| run.is_waiting(), idle_allowed)?;
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
                since: Instant::now(),
                cpu_before: Duration::ZERO,
                timed_out: false,
            });
            return Some(run);
        }
    }

    /// Marks worker `me` as polling a suspended run that has used `cpu_before` so far.
    pub(crate) fn begin_poll(&mut self, me: WorkerId, run: &Arc<Run>, cpu_before: Duration) {
        let index = self.slot_index(me);
        self.workers[index].executing = Some(Executing {
            run: Arc::clone(run),
            since: Instant::now(),
            cpu_before,
            timed_out: false,
        });
    }

    /// Cancels every run of task `id`. The dequeued ones are already resolved as canceled.
    pub(crate) fn cancel_task(&mut self, id: TaskId) -> Result<(), crate::Error> {
        let runs = self.live.get(&id).cloned().unwrap_or_default();
        let mut landed = false;
        for run in runs {
            landed |= self.cancel_run(&run);
        }
        if landed {
            Ok(())
        } else {
            Err(crate::Error::TaskNotFound(id))
        }
    }

    /// Cancels one run; false if it had already finished.
    pub(crate) fn cancel_run(&mut self, run: &Arc<Run>) -> bool {
        match run.cancel() {
            Cancel::Dequeued => {
                let task = run.record.id;
                if let Some(runs) = self.live.get_mut(&task) {
                    runs.retain(|r| !Arc::ptr_eq(r, run));
                    if runs.is_empty() {
                        self.live.remove(&task);
                    }
                }
                true
            }
            Cancel::Flagged => true,
            Cancel::TooLate => false,
        }
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
                && slot.sleeping
                && slot.is_idle()
                && slot.long_tasks_held == 0
                && now.duration_since(slot.idle_since) >= idle_timeout;
            if releasable {
                slot.retiring = true;
                active -= 1;
                released.push(Arc::clone(&slot.parker));
            }
        }
        self.sleepers
            .retain(|id| self.workers.iter().any(|w| w.id == *id && !w.retiring));
        released
    }

    /// Starts shutting down: returns the waiting runs to cancel and every worker to wake.
    pub(crate) fn begin_shutdown(&mut self) -> (Vec<Arc<Run>>, Vec<Arc<Parker>>) {
        self.shutdown = true;
        self.sleepers.clear();
        let waiting = self.lanes.drain();
        let parkers = self.workers.iter().map(|w| Arc::clone(&w.parker)).collect();
        (waiting, parkers)
    }

    /// Wakes a sleeper if work is waiting; used when a worker leaves.
    pub(crate) fn wake_for_leftover_work(&mut self) -> Option<Arc<Parker>> {
        if self.lanes.is_empty() {
            None
        } else {
            self.pop_sleeper()
        }
    }

    pub(crate) fn info(&self, now: Instant) -> TaskPoolInfo {
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
        let tasks = self
            .live
            .values()
            .flatten()
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
                    duration: now.duration_since(run.submitted),
                })
            })
            .collect();
        TaskPoolInfo { threads, tasks }
    }
}
