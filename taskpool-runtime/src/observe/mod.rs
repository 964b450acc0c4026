//! Observability: `tracing` spans per run (`spans.rs`, behind the `tracing` feature), a
//! timeline of which run executed on which thread (`timeline.rs`), and the counters and
//! wait-time histograms of [`TaskPool::info`](crate::TaskPool::info) (`stats.rs`).
//!
//! The scheduler calls in here at a handful of points, one line each: a run is built
//! ([`RunObs::new`]), queued ([`enqueued`]), picked (the core records its wait), started and
//! polled ([`started`], [`slice_begin`], [`slice_end`], [`enter`]), suspended and resumed
//! ([`suspended`], [`resumed`]), and resolved (`TypedRun::resolve` calls [`settled`] and
//! [`count`]); a thread is added ([`thread_added`]) or runs ([`thread_running`]).

mod spans;
mod stats;
mod timeline;

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

pub(crate) use self::spans::ENABLED as TRACING;
#[cfg(all(test, not(taskpool_loom)))]
pub(crate) use self::spans::RunSpan;
pub(crate) use self::stats::{CounterCells, LaneWaits, Outcome};
pub use self::stats::{Counters, LaneInfo, WaitStats};
pub use self::timeline::{SliceKind, Timeline, TimelineSlice};

use crate::pool::{PoolShared, WorkerId};
use crate::priority::Priority;
use crate::run::{RunHeader, Settled};
use crate::task::{TaskId, TaskRecord};

/// The instant every stamp counts from (process-wide, set on first use).
fn epoch() -> Instant {
    // Read by every stamp on every thread: on a cache line no writer shares.
    static EPOCH: CachePadded<OnceLock<Instant>> = CachePadded::new(OnceLock::new());
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since [`epoch`], saturating.
pub(crate) fn stamp(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch()).as_nanos()).unwrap_or(u64::MAX)
}

/// What a run carries for observation, in its header (its queue stamp is in its timing).
pub(crate) struct RunObs {
    /// Which run of its task this is (1 for the first; saturates).
    pub(crate) run_number: u32,
    /// Its `tracing` span (zero-sized without the feature).
    pub(crate) span: spans::RunSpan,
}

impl RunObs {
    /// What run `id` of `function` carries; `record` counts the runs of a task that has one
    /// (a task without one runs once).
    pub(crate) fn new(
        id: &TaskId,
        function: &'static str,
        record: Option<&std::sync::Arc<TaskRecord>>,
        priority: Priority,
    ) -> RunObs {
        let run_number = record.map_or(1, |record| {
            let before = record
                .runs
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            u32::try_from(before.saturating_add(1)).unwrap_or(u32::MAX)
        });
        let name = record.and_then(|record| record.name.as_deref());
        RunObs {
            run_number,
            span: spans::RunSpan::new(*id, name, function, priority, u64::from(run_number)),
        }
    }
}

/// What a pool keeps for observation.
pub(crate) struct PoolObserver {
    pub(crate) counters: CounterCells,
    timeline: Option<timeline::Recorder>,
    /// When the pool was built: timeline instants count from here.
    origin: Instant,
}

impl PoolObserver {
    /// An observer recording a timeline of `timeline` entries, if set.
    pub(crate) fn new(timeline: Option<usize>) -> PoolObserver {
        PoolObserver {
            counters: CounterCells::default(),
            timeline: timeline.map(timeline::Recorder::new),
            origin: Instant::now(),
        }
    }

    fn since_origin(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.origin)
    }
}

thread_local! {
    /// The id of the pool thread running here (0 outside pool threads), for timeline tracks.
    static WORKER: Cell<WorkerId> = const { Cell::new(0) };
}

/// A run was submitted (accepted or refused).
pub(crate) fn submitted(pool: &PoolShared) {
    pool.observe.counters.submitted();
}

/// A run is being pushed into its lane.
pub(crate) fn enqueued(run: &RunHeader) {
    run.queued(Instant::now());
    spans::enqueued(run);
}

/// A run's outcome, before its handle resolves (called once, by the resolver that won).
pub(crate) fn settled(run: &RunHeader, settled: Settled<'_>) {
    spans::settled(run, settled);
}

/// Counts the outcome of a run of `pool` whose handle this caller resolves (the pool is gone
/// if `None`), before the handle can see it.
pub(crate) fn count(pool: Option<&PoolShared>, outcome: Outcome) {
    if let Some(pool) = pool {
        pool.observe.counters.settled(outcome);
    }
}

/// How a resolved outcome is counted.
pub(crate) fn outcome_of(settled: Settled<'_>) -> Outcome {
    match settled {
        Settled::Succeeded => Outcome::Completed,
        Settled::Failed(_) => Outcome::Failed,
        Settled::Canceled(_) => Outcome::Canceled,
        Settled::TimedOut(_) => Outcome::TimedOut,
    }
}

/// Enters the run's span on this thread, around a call or a poll.
pub(crate) fn enter(run: &RunHeader) -> spans::Entered<'_> {
    run.observe.span.enter()
}

/// The start of a call or poll, when a timeline is recorded.
pub(crate) struct SliceStart(Option<Instant>);

/// A run's call begins (picked at `picked_at`).
pub(crate) fn started(pool: &PoolShared, run: &RunHeader, picked_at: Instant) -> SliceStart {
    spans::started(run);
    SliceStart(pool.observe.timeline.as_ref().map(|_| picked_at))
}

/// A poll begins.
pub(crate) fn slice_begin(pool: &PoolShared) -> SliceStart {
    SliceStart(pool.observe.timeline.as_ref().map(|_| Instant::now()))
}

/// A call or poll that began at `start` ended.
pub(crate) fn slice_end(pool: &PoolShared, run: &RunHeader, start: SliceStart, kind: SliceKind) {
    if let (Some(recorder), Some(start)) = (&pool.observe.timeline, start.0) {
        let observe = &pool.observe;
        let thread = WORKER.with(Cell::get);
        let end = observe.since_origin(Instant::now());
        recorder.slice(thread, run, kind, observe.since_origin(start), end);
    }
}

/// A run's future returned `Pending` and goes to sleep.
pub(crate) fn suspended(pool: &PoolShared, run: &RunHeader) {
    spans::suspended(run);
    mark(pool, run, true);
}

/// A woken run's future is picked up again.
pub(crate) fn resumed(pool: &PoolShared, run: &RunHeader) {
    spans::resumed(run);
    mark(pool, run, false);
}

fn mark(pool: &PoolShared, run: &RunHeader, suspend: bool) {
    if let Some(recorder) = &pool.observe.timeline {
        let at = pool.observe.since_origin(Instant::now());
        recorder.mark(suspend, WORKER.with(Cell::get), run, at);
    }
}

/// A pool thread was started.
pub(crate) fn thread_added(pool: &PoolShared, worker: WorkerId) {
    if TRACING {
        spans::thread_added(&thread_name(pool, worker), worker);
    }
}

/// Marks this thread as pool thread `worker` until the guard drops (when the thread leaves).
pub(crate) fn thread_running(pool: &std::sync::Arc<PoolShared>, worker: WorkerId) -> ThreadGuard {
    WORKER.with(|current| current.set(worker));
    ThreadGuard {
        pool: std::sync::Arc::downgrade(pool),
        worker,
    }
}

/// Reports a pool thread leaving.
pub(crate) struct ThreadGuard {
    pool: std::sync::Weak<PoolShared>,
    worker: WorkerId,
}

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        WORKER.with(|current| current.set(0));
        if TRACING {
            if let Some(pool) = self.pool.upgrade() {
                spans::thread_released(&thread_name(&pool, self.worker), self.worker);
            }
        }
    }
}

fn thread_name(pool: &PoolShared, worker: WorkerId) -> String {
    format!("{}-{worker}", pool.config.thread_name)
}

/// The pool's lanes for [`TaskPool::info`](crate::TaskPool::info): `lengths(lane)` gives the
/// queued and woken runs of a lane.
pub(crate) fn lanes(
    waits: &LaneWaits,
    mut lengths: impl FnMut(Priority) -> (usize, usize),
) -> Vec<LaneInfo> {
    Priority::ALL
        .into_iter()
        .map(|priority| {
            let (queued, woken) = lengths(priority);
            LaneInfo {
                priority,
                queued,
                woken,
                waits: waits.stats(priority),
            }
        })
        .collect()
}

impl crate::TaskPool {
    /// A snapshot of the pool's timeline, if it was built with
    /// [`record_timeline`](crate::TaskPoolBuilder::record_timeline); `None` otherwise.
    ///
    /// ```
    /// let pool = taskpool::TaskPool::builder().build().unwrap();
    /// assert!(pool.timeline().is_none());
    /// ```
    pub fn timeline(&self) -> Option<Timeline> {
        let shared = self.shared();
        let recorder = shared.observe.timeline.as_ref()?;
        Some(recorder.snapshot(&shared.config.thread_name))
    }
}
