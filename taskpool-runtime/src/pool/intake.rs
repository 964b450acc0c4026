//! Work on its way in: submissions and woken `async` tasks, pushed without the core lock and
//! moved into the lanes by pool threads.
//!
//! The pushed jobs wait in plain vectors behind a lock of their own, held for one push or one
//! drain. A lock-free segmented queue did the same job, but it allocates a segment on the
//! submitting thread and frees it on the pool thread that empties it: under a stream of
//! submissions that free contended with the submitter's own allocations for the allocator's
//! lock. A vector keeps its capacity, and a queued job costs one pointer in it.
//!
//! The counters here are what submitters and wakers read instead of taking the lock: how much
//! is waiting, how many threads are free or searching, and an epoch that changes with every push.
//!
//! Each counter that one side writes on every job sits on its own cache line: a submitter bumps
//! the demand and the epoch on every push while pool threads take jobs and publish their counts,
//! and on one shared line every such write stalls every other thread that reads a counter.

use crossbeam_utils::CachePadded;

use crate::priority::Priority;
use crate::run::Run;
use crate::scheduler::dispatch::{Lanes, queue_bit};
use crate::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use crate::sync::{Arc, Mutex, lock};

/// Jobs pushed and not yet moved into the lanes.
#[derive(Default)]
struct Pending {
    /// New runs, per lane.
    fresh: [Vec<Arc<Run>>; 4],
    /// Suspended `async` runs whose waker fired, per lane.
    resumed: [Vec<Arc<Run>>; 4],
}

/// Empty buffers that a drain swaps with the intake's (it holds the intake's lock only for the
/// swap, and the buffers keep their capacity from one drain to the next).
#[derive(Default)]
pub(crate) struct Spare(Pending);

/// A drained vector keeps at most this capacity, so one burst does not pin its memory.
const KEPT_CAPACITY: usize = 4096;

#[derive(Default)]
pub(crate) struct Intake {
    pending: CachePadded<Mutex<Pending>>,
    /// Which of the pending queues hold jobs (a mask of [`queue_bit`]s), kept under the
    /// pending lock: what a pool thread reads to tell whether a drain could change its pick.
    pending_queues: CachePadded<AtomicU8>,
    /// Non-IDLE jobs (fresh or resumed) pushed and not yet taken or discarded: the demand that
    /// grows the pool. Incremented *before* the push, so a thread that takes the job always
    /// decrements after the increment and the count never goes below zero.
    pub(crate) waiting_foreground: CachePadded<AtomicUsize>,
    /// Bumped by every push, so a thread about to park can tell whether anything arrived since
    /// it last looked (see `scheduler/README.md`).
    pub(crate) epoch: CachePadded<AtomicU64>,
    /// Threads between two looks for work; they need no wake-up.
    pub(crate) searching: CachePadded<AtomicUsize>,
    /// Threads that are not executing, blocked or retiring (kept up to date under the core lock).
    pub(crate) free_workers: CachePadded<AtomicUsize>,
    /// Threads that count toward `max_threads` (kept up to date under the core lock).
    pub(crate) active_workers: AtomicUsize,
    /// Whether an IDLE task is in flight (at most one is).
    pub(crate) idle_in_flight: AtomicBool,
    /// Set once, under the core lock, when the pool starts shutting down.
    pub(crate) shutting_down: AtomicBool,
}

impl Intake {
    /// Queues a new run; returns how many non-IDLE jobs now wait.
    pub(crate) fn push(&self, run: Arc<Run>) -> usize {
        self.push_into(false, run)
    }

    /// Queues a woken `async` run; returns how many non-IDLE jobs now wait.
    pub(crate) fn push_resumed(&self, run: Arc<Run>) -> usize {
        self.push_into(true, run)
    }

    fn push_into(&self, resumed: bool, run: Arc<Run>) -> usize {
        let priority = run.priority;
        let waiting = if priority == Priority::Idle {
            self.waiting_foreground.load(Ordering::SeqCst)
        } else {
            self.waiting_foreground.fetch_add(1, Ordering::SeqCst) + 1
        };
        {
            let mut pending = lock(&self.pending);
            let queues = if resumed {
                &mut pending.resumed
            } else {
                &mut pending.fresh
            };
            queues[priority.lane()].push(run);
            // Written only when the queue was empty: a stream of pushes into one queue leaves
            // the line alone.
            let bit = queue_bit(priority, resumed);
            if self.pending_queues.load(Ordering::Relaxed) & bit == 0 {
                self.pending_queues.fetch_or(bit, Ordering::Release);
            }
        }
        self.epoch.fetch_add(1, Ordering::SeqCst);
        waiting
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// [`drain_into_noting`](Intake::drain_into_noting) with nobody to tell (the tests'
    /// shorthand).
    #[cfg(all(test, taskpool_loom))]
    pub(crate) fn drain_into(&self, lanes: &mut Lanes<Arc<Run>>, spare: &mut Spare) {
        self.drain_into_noting(lanes, spare, |_| {});
    }

    /// Moves every pushed job into `lanes`, keeping each lane's order, and tells `note` of each
    /// (the core's [`LaneIndex`](super::lane_index::LaneIndex)).
    pub(crate) fn drain_into_noting(
        &self,
        lanes: &mut Lanes<Arc<Run>>,
        spare: &mut Spare,
        mut note: impl FnMut(&Arc<Run>),
    ) {
        {
            let mut pending = lock(&self.pending);
            std::mem::swap(&mut *pending, &mut spare.0);
            self.pending_queues.store(0, Ordering::Release);
        }
        let Pending { fresh, resumed } = &mut spare.0;
        for (lane, priority) in Priority::ALL.into_iter().enumerate() {
            drain(&mut fresh[lane], |run| {
                note(&run);
                lanes.push(priority, run);
            });
            drain(&mut resumed[lane], |run| {
                note(&run);
                lanes.push_resumed(priority, run);
            });
        }
    }

    /// [`refresh_noting`](Intake::refresh_noting) with nobody to tell (the tests' shorthand).
    #[cfg(test)]
    pub(crate) fn refresh(&self, lanes: &mut Lanes<Arc<Run>>, spare: &mut Spare, all: bool) {
        self.refresh_noting(lanes, spare, all, |_| {});
    }

    /// Moves the pending jobs into `lanes` if that could change the next pick — a pending queue
    /// is one the lanes lack (see [`queue_bit`]) — or in any case with `all`, telling `note` of
    /// each. The mask read may miss a push under way: a thread that finds nothing reads the
    /// epoch, then refreshes with `all` before it parks, so a push completed before that read is
    /// always seen.
    pub(crate) fn refresh_noting(
        &self,
        lanes: &mut Lanes<Arc<Run>>,
        spare: &mut Spare,
        all: bool,
        note: impl FnMut(&Arc<Run>),
    ) {
        if all || self.pending_queues() & !lanes.occupied() != 0 {
            self.drain_into_noting(lanes, spare, note);
        }
    }

    /// Which pending queues hold jobs, as a mask of [`queue_bit`]s. May miss a push under way,
    /// as [`refresh_noting`](Intake::refresh_noting)'s read does.
    pub(crate) fn pending_queues(&self) -> u8 {
        self.pending_queues.load(Ordering::Acquire)
    }

    /// How many new and woken jobs of lane `priority` were pushed and not yet moved into the
    /// lanes.
    pub(crate) fn len(&self, priority: Priority) -> (usize, usize) {
        let lane = priority.lane();
        let pending = lock(&self.pending);
        (pending.fresh[lane].len(), pending.resumed[lane].len())
    }

    /// Records that a job left the lanes (taken or discarded).
    pub(crate) fn left_lanes(&self, priority: Priority) {
        if priority != Priority::Idle {
            self.waiting_foreground.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Moves every job of `queue` into `lanes` with `push`, in order. The queue keeps its buffer
/// for the next pushes, unless a burst left it large.
fn drain(queue: &mut Vec<Arc<Run>>, mut push: impl FnMut(Arc<Run>)) {
    queue.drain(..).for_each(&mut push);
    if queue.capacity() > KEPT_CAPACITY {
        *queue = Vec::new();
    }
}

#[cfg(all(test, not(taskpool_loom)))]
mod tests {
    use super::*;
    use crate::run::TypedRun;
    use crate::task::Owner;

    fn run(priority: Priority) -> Arc<Run> {
        let call: crate::task::Call<()> = Box::new(|| crate::function::Invocation::Ready(Ok(())));
        TypedRun::new(
            Owner::anonymous(&"test::intake"),
            priority,
            call,
            std::sync::Weak::new(),
            None,
        )
    }

    /// A job behind jobs of its own queue cannot change the next pick: the intake stays where
    /// it is. One in a queue the lanes lack (another lane, or a woken job of the same lane) is
    /// moved in, and so is everything when asked.
    #[test]
    fn a_refresh_moves_the_intake_only_when_it_could_change_the_pick() {
        let intake = Intake::default();
        let mut lanes = Lanes::new();
        let mut spare = Spare::default();
        intake.push(run(Priority::Medium));
        intake.refresh(&mut lanes, &mut spare, false);
        assert_eq!(
            lanes.len(Priority::Medium),
            (1, 0),
            "an empty queue is filled"
        );

        intake.push(run(Priority::Medium));
        intake.refresh(&mut lanes, &mut spare, false);
        assert_eq!(
            intake.len(Priority::Medium),
            (1, 0),
            "behind the lane's own job"
        );
        assert_eq!(lanes.len(Priority::Medium), (1, 0));

        intake.push_resumed(run(Priority::Medium));
        intake.refresh(&mut lanes, &mut spare, false);
        assert_eq!(
            lanes.len(Priority::Medium),
            (2, 1),
            "a woken job goes first: moved"
        );
        assert_eq!(intake.len(Priority::Medium), (0, 0));

        intake.push(run(Priority::Low));
        intake.push(run(Priority::Medium));
        intake.refresh(&mut lanes, &mut spare, false);
        assert_eq!(lanes.len(Priority::Low), (1, 0), "a lane the lanes lack");

        intake.push(run(Priority::Low));
        intake.refresh(&mut lanes, &mut spare, true);
        assert_eq!(lanes.len(Priority::Low), (2, 0), "everything, when asked");
        assert_eq!(intake.pending_queues.load(Ordering::SeqCst), 0);
    }

    /// A burst leaves no large buffer behind once drained.
    #[test]
    fn a_drained_burst_gives_its_buffer_back() {
        let mut queue: Vec<Arc<Run>> = Vec::with_capacity(KEPT_CAPACITY + 1);
        queue.push(run(Priority::Low));
        let mut moved = 0;
        drain(&mut queue, |_| moved += 1);
        assert_eq!((moved, queue.capacity()), (1, 0));
        let mut small: Vec<Arc<Run>> = Vec::with_capacity(8);
        small.push(run(Priority::Low));
        drain(&mut small, |_| {});
        assert_eq!(
            small.capacity(),
            8,
            "a small buffer is kept for the next pushes"
        );
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;
    use crate::run::TypedRun;
    use crate::sync::atomic::fence;

    fn run() -> Arc<Run> {
        let owner = crate::task::Owner::anonymous(&"loom::intake");
        let call: crate::task::Call<()> = Box::new(|| crate::function::Invocation::Ready(Ok(())));
        TypedRun::new(owner, Priority::Medium, call, std::sync::Weak::new(), None)
    }

    /// A submitter racing a thread that drains and takes the run: the waiting count never goes
    /// below zero (the old order, push then count, let the taker decrement first).
    #[test]
    fn the_waiting_count_never_underflows() {
        loom::model(|| {
            let intake = loom::sync::Arc::new(Intake::default());
            let submitter = {
                let intake = intake.clone();
                loom::thread::spawn(move || {
                    intake.push(run());
                })
            };
            let mut lanes = Lanes::new();
            intake.drain_into(&mut lanes, &mut Spare::default());
            if let Some((_, priority, _)) = lanes.pick(
                |_, _| true,
                crate::scheduler::dispatch::IdleGate::RESUMED_ONLY,
            ) {
                let before = intake.waiting_foreground.load(Ordering::SeqCst);
                assert!(before > 0, "a taken run was counted first");
                intake.left_lanes(priority);
            }
            submitter.join().unwrap();
        });
    }

    /// A submitter racing a thread that just became busy (the missed-growth bug): the
    /// submitter bumps the demand then reads the free threads; the thread publishes that it is
    /// no longer free then, in its decision's re-check, reads the demand. One of them always
    /// sees the shortage, so one of them adds a thread.
    #[test]
    fn a_shortage_of_workers_is_always_seen() {
        loom::model(|| {
            let intake = loom::sync::Arc::new(Intake::default());
            intake.free_workers.store(1, Ordering::SeqCst);
            let submitter = {
                let intake = intake.clone();
                loom::thread::spawn(move || {
                    let demand = intake.push(run());
                    fence(Ordering::SeqCst);
                    demand > intake.free_workers.load(Ordering::SeqCst)
                })
            };
            // The only thread takes earlier work: it is not free any more.
            intake.free_workers.store(0, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let thread_sees = intake.waiting_foreground.load(Ordering::SeqCst) > 0;
            let submitter_sees = submitter.join().unwrap();
            assert!(thread_sees || submitter_sees, "nobody noticed the shortage");
        });
    }

    /// A push racing a pool thread's decision: the thread looks (moving the intake only if the
    /// mask says it matters), finds nothing, reads the epoch, looks again moving everything. If
    /// the push had completed by that read, the second look finds the job; whatever happens,
    /// the job is taken exactly once.
    #[test]
    fn a_push_completed_before_the_epoch_read_is_found_before_parking() {
        loom::model(|| {
            let intake = loom::sync::Arc::new(Intake::default());
            let pusher = {
                let intake = intake.clone();
                loom::thread::spawn(move || {
                    intake.push(run());
                })
            };
            let mut lanes = Lanes::new();
            let mut spare = Spare::default();
            let mut taken = 0;
            intake.refresh(&mut lanes, &mut spare, false);
            if lanes
                .pick(
                    |_, _| true,
                    crate::scheduler::dispatch::IdleGate::RESUMED_ONLY,
                )
                .is_some()
            {
                taken += 1;
            } else {
                let epoch = intake.epoch.load(Ordering::SeqCst);
                intake.refresh(&mut lanes, &mut spare, true);
                let found = lanes
                    .pick(
                        |_, _| true,
                        crate::scheduler::dispatch::IdleGate::RESUMED_ONLY,
                    )
                    .is_some();
                assert!(
                    found || epoch == 0,
                    "a completed push was missed before parking"
                );
                taken += usize::from(found);
            }
            pusher.join().unwrap();
            intake.refresh(&mut lanes, &mut spare, false);
            while lanes
                .pick(
                    |_, _| true,
                    crate::scheduler::dispatch::IdleGate::RESUMED_ONLY,
                )
                .is_some()
            {
                taken += 1;
            }
            assert_eq!(taken, 1, "the job is taken exactly once");
        });
    }

    /// IDLE lane hand-off (`pool::thread::leave_idle_lane`, `Core::idle_gate`): run A holds
    /// the lane and suspends; B, a new IDLE run, may start once A let the lane go, and wakes
    /// A; a woken IDLE run resumes only while the lane is free. Picks are serialized (the core
    /// lock). Never two IDLE runs execute at once, and A is not left stranded: once everything
    /// stopped, either it resumed or the lane is free for the pick that will resume it.
    #[test]
    fn a_suspended_idle_run_lets_the_lane_go_and_never_resumes_beside_another() {
        use crate::run::{AfterPending, Suspension};
        use crate::sync::atomic::{AtomicBool, AtomicUsize};
        loom::model(|| {
            let intake = Arc::new(Intake::default());
            let core = Arc::new(loom::sync::Mutex::new(()));
            let a = Arc::new(Suspension::default());
            let a_queued = Arc::new(AtomicBool::new(false));
            let executing = Arc::new(AtomicUsize::new(0));
            let execute = {
                let executing = executing.clone();
                move |also: &dyn Fn()| {
                    let now = executing.fetch_add(1, Ordering::SeqCst) + 1;
                    assert_eq!(now, 1, "two IDLE runs executing at once");
                    also();
                    executing.fetch_sub(1, Ordering::SeqCst);
                }
            };
            // Under the core lock: takes the lane if it is free and `may` says so.
            let pick = {
                let (intake, core) = (intake.clone(), core.clone());
                move |may: &dyn Fn() -> bool| {
                    let _core = core.lock().unwrap();
                    let free = !intake.idle_in_flight.load(Ordering::SeqCst);
                    let take = free && may();
                    if take {
                        intake.idle_in_flight.store(true, Ordering::SeqCst);
                    }
                    take
                }
            };
            let finish = {
                let (intake, core) = (intake.clone(), core.clone());
                move || {
                    let _core = core.lock().unwrap();
                    intake.idle_in_flight.store(false, Ordering::SeqCst);
                }
            };
            // A was picked: it holds the lane while its first poll executes.
            intake.idle_in_flight.store(true, Ordering::SeqCst);
            let b_thread = {
                let (a, a_queued) = (a.clone(), a_queued.clone());
                let (pick, execute, finish) = (pick.clone(), execute.clone(), finish.clone());
                loom::thread::spawn(move || {
                    if pick(&|| true) {
                        // B completes what A awaits: wakes A while it still executes.
                        execute(&|| {
                            if a.wake() {
                                a_queued.store(true, Ordering::SeqCst);
                            }
                        });
                        finish();
                    }
                })
            };
            let a_resumer = {
                let (a, a_queued) = (a.clone(), a_queued.clone());
                let (pick, execute, finish) = (pick.clone(), execute.clone(), finish.clone());
                loom::thread::spawn(move || {
                    if pick(&|| a_queued.swap(false, Ordering::SeqCst)) {
                        assert!(a.begin_poll(), "a queued run can be polled");
                        execute(&|| {});
                        finish();
                        true
                    } else {
                        false
                    }
                })
            };
            // A's poller: the poll returns Pending; A lets the lane go, then suspends.
            execute(&|| {});
            intake.idle_in_flight.store(false, Ordering::SeqCst);
            if a.end_poll() == AfterPending::Requeue {
                a_queued.store(true, Ordering::SeqCst);
            }
            b_thread.join().unwrap();
            let resumed = a_resumer.join().unwrap();
            let lane_free = !intake.idle_in_flight.load(Ordering::SeqCst);
            assert!(resumed || lane_free, "A is stranded behind a held lane");
        });
    }
}
