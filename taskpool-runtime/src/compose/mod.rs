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

use crate::run::Run;
use crate::sync::Arc;

use crate::error::Error;
use crate::handle::TaskHandle;
use crate::run::TypedRun;
use crate::task::Executable;

/// A handle already resolved with `error`, for a task refused before it reached a pool.
pub(crate) fn refused<T: Send + 'static>(task: impl Executable<T>, error: Error) -> TaskHandle<T> {
    let submission = task.into_submission();
    crate::panic::drop_quietly(submission.call);
    let priority = submission.owner.priority;
    TaskHandle::new(TypedRun::refused(
        submission.owner,
        priority,
        error,
        Weak::new(),
        None,
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
