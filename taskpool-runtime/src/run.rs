//! `Run`: one execution of a task, and the state machine that settles cancel against start.
//!
//! A run moves `WAITING → RUNNING → FINISHED`. A cancel moves `WAITING → CANCELED` (the run never
//! starts) or `RUNNING → RUNNING_CANCELED` (it keeps running, and its outcome is reported as
//! canceled). Each move is one compare-and-swap, so a cancel racing a start or a finish has exactly
//! one winner; `loom` explores those races in the tests below.

use std::any::Any;
use std::fmt;
use std::time::{Duration, Instant};

use crate::error::{Error, LateOutcome, Result};
use crate::function::BoxFuture;
use crate::handle::{Completion, Resolve};
use crate::priority::Priority;
use crate::sync::atomic::{AtomicU8, Ordering};
use crate::sync::{Arc, Mutex, lock};
use crate::task::{TaskDurations, TaskRecord};

const WAITING: u8 = 0;
const RUNNING: u8 = 1;
const RUNNING_CANCELED: u8 = 2;
const CANCELED: u8 = 3;
const FINISHED: u8 = 4;

/// What starting a run's body produced.
pub(crate) enum Step {
    /// The body ran to the end and settled the run.
    Done,
    /// The body is an `async fn`; this future settles the run when it completes.
    Suspended(BoxFuture<()>),
}

/// The type-erased body of a run: calls the function and settles the typed completion.
pub(crate) type RunBody = Box<dyn FnOnce(&Arc<Run>) -> Step + Send>;

/// How a cancel request landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cancel {
    /// The run had not started; it never will.
    Dequeued,
    /// The run is executing; it was flagged and will report canceled.
    Flagged,
    /// The run had already finished or been canceled.
    TooLate,
}

/// One execution of a task.
pub(crate) struct Run {
    pub(crate) record: Arc<TaskRecord>,
    pub(crate) priority: Priority,
    state: AtomicU8,
    body: Mutex<Option<RunBody>>,
    completion: Arc<dyn Resolve>,
    timing: Mutex<Timing>,
}

/// When the run started and how much time it spent executing, slice by slice (a slice is the
/// first call, or one poll of an `async fn`).
#[derive(Default)]
struct Timing {
    started: Option<Instant>,
    cpu: Duration,
    slice_started: Option<Instant>,
}

impl Run {
    pub(crate) fn new(
        record: Arc<TaskRecord>,
        priority: Priority,
        body: RunBody,
        completion: Arc<dyn Resolve>,
    ) -> Run {
        Run {
            record,
            priority,
            state: AtomicU8::new(WAITING),
            body: Mutex::new(Some(body)),
            completion,
            timing: Mutex::new(Timing::default()),
        }
    }

    /// A run that failed before it could be queued; its handle is already resolved.
    pub(crate) fn settled(
        record: Arc<TaskRecord>,
        priority: Priority,
        completion: Arc<dyn Resolve>,
    ) -> Run {
        let run = Run::new(
            record,
            priority,
            Box::new(|_: &Arc<Run>| Step::Done),
            completion,
        );
        run.state.store(FINISHED, Ordering::Release);
        run.drop_body();
        run
    }

    /// Builds the body that calls `call` and settles `completion` with its outcome.
    pub(crate) fn body<T: Send + 'static>(
        call: crate::task::Call<T>,
        completion: Arc<Completion<T>>,
    ) -> RunBody {
        Box::new(move |run: &Arc<Run>| match call() {
            crate::function::Invocation::Ready(outcome) => {
                run.settle(&completion, outcome);
                Step::Done
            }
            crate::function::Invocation::Pending(future) => {
                let run = Arc::clone(run);
                Step::Suspended(Box::pin(async move {
                    let outcome = future.await;
                    run.settle(&completion, outcome);
                }))
            }
        })
    }

    /// `WAITING → RUNNING`. False if the run was canceled first.
    pub(crate) fn try_start(&self) -> bool {
        self.state
            .compare_exchange(WAITING, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Takes the body to execute; called once, by the worker that started the run.
    pub(crate) fn take_body(&self) -> Option<RunBody> {
        lock(&self.body).take()
    }

    /// Requests cancellation. A dequeued run is resolved as canceled here.
    pub(crate) fn cancel(&self) -> Cancel {
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let (next, outcome) = match current {
                WAITING => (CANCELED, Cancel::Dequeued),
                RUNNING => (RUNNING_CANCELED, Cancel::Flagged),
                RUNNING_CANCELED => return Cancel::Flagged,
                _ => return Cancel::TooLate,
            };
            match self.state.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if outcome == Cancel::Dequeued {
                        self.drop_body();
                        self.completion.resolve_error(self.canceled(None));
                    }
                    return outcome;
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Whether the function has been asked to stop (what `is_canceled()` reports inside it).
    pub(crate) fn is_cancel_requested(&self) -> bool {
        self.state.load(Ordering::Acquire) == RUNNING_CANCELED
    }

    /// Whether the run still waits in a lane.
    pub(crate) fn is_waiting(&self) -> bool {
        self.state.load(Ordering::Acquire) == WAITING
    }

    /// Whether the run is executing (possibly flagged as canceled).
    pub(crate) fn is_running(&self) -> bool {
        matches!(
            self.state.load(Ordering::Acquire),
            RUNNING | RUNNING_CANCELED
        )
    }

    /// Marks the start of an execution slice at `now`; returns the execution time used before.
    pub(crate) fn begin_slice(&self, now: Instant) -> Duration {
        let mut timing = lock(&self.timing);
        timing.started.get_or_insert(now);
        timing.slice_started = Some(now);
        timing.cpu
    }

    /// Closes the current execution slice; returns the execution time used so far.
    pub(crate) fn end_slice(&self) -> Duration {
        let mut timing = lock(&self.timing);
        if let Some(slice_started) = timing.slice_started.take() {
            timing.cpu += slice_started.elapsed();
        }
        timing.cpu
    }

    /// How long ago the run started (ArkTS `TaskInfo.duration`); zero if it has not.
    pub(crate) fn running_for(&self, now: Instant) -> Duration {
        lock(&self.timing)
            .started
            .map_or(Duration::ZERO, |started| {
                now.saturating_duration_since(started)
            })
    }

    /// The execution time used so far, not counting an open slice.
    pub(crate) fn cpu_used(&self) -> Duration {
        lock(&self.timing).cpu
    }

    /// Stores the run's durations in its task, before the handle can observe the outcome.
    fn record_durations(&self) {
        let timing = lock(&self.timing);
        let now = Instant::now();
        let open_slice = timing.slice_started.map_or(Duration::ZERO, |s| now - s);
        let cpu = timing.cpu + open_slice;
        let total = timing
            .started
            .map_or(cpu, |started| (now - started).max(cpu));
        *lock(&self.record.durations) = Some(TaskDurations {
            total,
            cpu,
            io: total - cpu,
        });
    }

    /// `RUNNING → FINISHED`; true if a cancel was requested while it ran.
    fn finish(&self) -> bool {
        self.record_durations();
        self.state.swap(FINISHED, Ordering::AcqRel) == RUNNING_CANCELED
    }

    /// Settles the run with the function's typed outcome.
    fn settle<T: Send + 'static>(&self, completion: &Completion<T>, outcome: Result<T>) {
        if self.finish() {
            let late = outcome
                .map(|value| Box::new(value) as Box<dyn Any + Send>)
                .map_err(Box::new);
            completion.resolve(Err(self.canceled(Some(LateOutcome(late)))));
        } else {
            completion.resolve(outcome);
        }
    }

    /// Settles the run with an error the scheduler produced (a panic, a shutdown).
    pub(crate) fn fail(&self, error: Error) {
        let error = if self.finish() {
            self.canceled(Some(LateOutcome(Err(Box::new(error)))))
        } else {
            error
        };
        self.completion.resolve_error(error);
    }

    /// Resolves the handle with `error` now, whatever the function does later (a timeout).
    pub(crate) fn resolve_early(&self, error: Error) {
        self.completion.resolve_error(error);
    }

    /// Drops the body of a run that will never start, releasing its arguments.
    pub(crate) fn drop_body(&self) {
        drop(self.take_body());
    }

    fn canceled(&self, late: Option<LateOutcome>) -> Error {
        Error::Canceled {
            task: self.record.id,
            late,
        }
    }
}

impl fmt::Debug for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("task", &self.record.id)
            .field("priority", &self.priority)
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish()
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;
    use crate::function::Invocation;

    fn run_returning(value: u32) -> (Arc<Run>, Arc<Completion<u32>>) {
        let record = Arc::new(TaskRecord::new("loom::value", false));
        let completion = Completion::new();
        let call: crate::task::Call<u32> = Box::new(move || Invocation::Ready(Ok(value)));
        let body = Run::body(call, Arc::clone(&completion));
        let run = Run::new(record, Priority::Medium, body, completion.clone());
        (Arc::new(run), completion)
    }

    /// Whatever the interleaving, a cancel racing a start has exactly one winner.
    #[test]
    fn cancel_versus_start_has_one_winner() {
        loom::model(|| {
            let (run, completion) = run_returning(5);
            let canceller = {
                let run = Arc::clone(&run);
                loom::thread::spawn(move || run.cancel())
            };
            let started = run.try_start();
            let cancel = canceller.join().unwrap();
            match (started, cancel) {
                (true, Cancel::Flagged) => assert!(run.is_cancel_requested()),
                (false, Cancel::Dequeued) => {
                    assert!(matches!(
                        completion.try_take(),
                        Some(Err(Error::Canceled { late: None, .. }))
                    ));
                }
                other => panic!("impossible outcome {other:?}"),
            }
        });
    }

    /// A cancel racing the end of a run: the handle gets the value, or a cancel carrying it,
    /// and is resolved exactly once.
    #[test]
    fn cancel_versus_finish_resolves_once() {
        loom::model(|| {
            let (run, completion) = run_returning(7);
            assert!(run.try_start());
            let canceller = {
                let run = Arc::clone(&run);
                loom::thread::spawn(move || run.cancel())
            };
            let body = run.take_body().unwrap();
            assert!(matches!(body(&run), Step::Done));
            let cancel = canceller.join().unwrap();
            match (cancel, completion.try_take()) {
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
            assert!(!completion.resolve(Ok(0)), "resolved exactly once");
        });
    }
}
