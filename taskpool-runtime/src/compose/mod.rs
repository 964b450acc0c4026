//! Composition: what ArkTS builds on top of single tasks — groups, runners, dependencies,
//! delayed execution.
//!
//! None of this is known to the scheduler. Each capability uses generic seams of the pool:
//! *held runs* (`PoolShared::prepare` builds a run and registers it as waiting, so cancel and
//! `info()` see it, and `PoolShared::enqueue` queues it later — when its dependencies,
//! its runner or its delay allow), *run hooks* (`RunHooks`: enqueued, started, settled) and
//! *shutdown hooks* (`ShutdownHook`: a periodic task stops when its pool shuts down).

pub(crate) mod async_runner;
pub(crate) mod delayed;
pub(crate) mod dependency;
pub(crate) mod group;
pub(crate) mod listeners;
pub(crate) mod periodic;
pub(crate) mod sequence;
pub(crate) mod serial;

use std::sync::Weak;

use crate::pool::PoolShared;
use crate::run::{Run, RunHooks};
use crate::sync::Arc;

use crate::error::Error;
use crate::handle::TaskHandle;
use crate::run::TypedRun;
use crate::task::Executable;

/// A handle already resolved with `error`, for a task a runner refused before it reached
/// `pool` (`None`: the pool is gone).
///
/// The task's lifecycle listeners hear of the refusal, as they do of a run `prepare` refuses
/// (ArkTS calls `onExecutionFailed` when a task fails to be enqueued); they are posted to
/// `pool`'s callback thread, so with no pool there is no one to tell. Only the listeners: the
/// refused attempt is no run of the task, so its other hooks (dependencies, its one-run-at-a-
/// time lane) are left out of it.
pub(crate) fn refused<T: Send + 'static>(
    pool: Option<&Arc<PoolShared>>,
    task: impl Executable<T>,
    error: Error,
) -> TaskHandle<T> {
    if let Some(pool) = pool {
        // Counted like a run `prepare` refuses: submitted, then failed when it resolves.
        crate::observe::submitted(pool);
    }
    let submission = task.into_submission();
    crate::panic::drop_quietly(submission.call);
    let priority = submission.owner.priority;
    let listeners = submission
        .owner
        .record
        .as_ref()
        .and_then(|record| record.listeners.get())
        .map(|listeners| Arc::clone(listeners) as Arc<dyn RunHooks>);
    TaskHandle::new(TypedRun::refused(
        submission.owner,
        priority,
        error,
        pool.map_or_else(Weak::new, Arc::downgrade),
        listeners,
    ))
}

/// Queues `next`, the run a settling one handed its runner's slot to (sequence and async
/// runners) — or, when its pool is gone or
/// shutting down, cancels it and everything behind it here, in a loop. (Queuing into a pool
/// that shuts down cancels the run, whose hook would hand the lane on again: one level of
/// recursion per waiting run, enough to overflow a worker's stack behind a long queue.)
pub(crate) fn hand_over(next: Arc<Run>, abandon: impl FnOnce() -> Vec<Arc<Run>>) {
    match next.pool.upgrade() {
        Some(pool) if !pool.is_shutting_down() => pool.enqueue(next),
        pool => {
            let rest = abandon();
            for run in std::iter::once(next).chain(rest) {
                match &pool {
                    Some(pool) => {
                        let _ = pool.cancel_run(&run);
                    }
                    None => {
                        run.cancel();
                    }
                }
            }
        }
    }
}
