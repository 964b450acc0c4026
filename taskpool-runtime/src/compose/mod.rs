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
pub(crate) mod timeout;

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
    crate::deep_drop::drop_quietly(submission.call);
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

/// Queues `next`, the run a settling one handed its lane's turn to (sequence and async
/// runners, a task's runs) — or, when its pool is gone or shutting down, gives it up with the
/// runs `abandon` takes out of the lane, here, in a loop, and goes on with the run `abandon`
/// made current instead, if any. (Queuing into a pool that shuts down cancels the run, whose
/// hook would hand the lane on again: one level of recursion per waiting run, enough to
/// overflow a worker's stack behind a long queue.) Each run given up is canceled through its
/// own pool, which then stops tracking it.
pub(crate) fn hand_over(mut next: Arc<Run>, abandon: impl Fn() -> Abandoned) {
    loop {
        if let Some(pool) = live_pool(&next) {
            pool.enqueue(next);
            return;
        }
        let Abandoned {
            given_up,
            next: following,
            pools,
        } = abandon();
        // Released outside the lane's lock: one may be the last reference to its pool.
        drop(pools);
        // `abandon` left the lane without them: their hooks find nothing to hand on.
        for run in std::iter::once(next).chain(given_up) {
            match run.pool.upgrade() {
                Some(pool) => {
                    let _ = pool.cancel_run(&run);
                }
                None => {
                    run.cancel();
                }
            }
        }
        match following {
            Some(run) => next = run,
            None => return,
        }
    }
}

/// The pool of `run`, if it is alive and not shutting down.
fn live_pool(run: &Arc<Run>) -> Option<Arc<PoolShared>> {
    run.pool.upgrade().filter(|pool| !pool.is_shutting_down())
}

/// What a lane gives up when the run its turn went to cannot be queued (see [`hand_over`]).
pub(crate) struct Abandoned {
    /// The waiting runs taken out of the lane, to cancel.
    pub(crate) given_up: Vec<Arc<Run>>,
    /// The run the lane made current instead (its pool is alive), to queue.
    pub(crate) next: Option<Arc<Run>>,
    /// The pools looked at under the lane's lock, released after it.
    pub(crate) pools: Vec<Arc<PoolShared>>,
}

impl Abandoned {
    /// Every waiting run of a lane whose runs all belong to one pool (a runner's): that pool
    /// is gone or shutting down for good, so none of them can run.
    pub(crate) fn all(given_up: Vec<Arc<Run>>) -> Abandoned {
        Abandoned {
            given_up,
            next: None,
            pools: Vec::new(),
        }
    }
}

/// The process-wide registry of one kind of named runner (`SequenceRunner::named`,
/// `AsyncRunner::named`). It holds its runners weakly: a named runner lives while a handle to
/// it or a run in it does (each run's hook holds the runner), as ArkTS reference-counts its
/// global runners and destroys one with its last reference. A name released and requested
/// again makes a new runner — indistinguishable, since nothing of the old one was left — and
/// short-lived names do not pile up (a strong map grew by one runner per name forever).
pub(crate) type NamedRunners<T> = crate::weakly::Weakly<std::collections::HashMap<String, Weak<T>>>;

/// The live runner called `name` in `named`, or a new one from `create` (its error returned as
/// is).
pub(crate) fn find_or_create_runner<T, E>(
    named: &mut NamedRunners<T>,
    name: &str,
    create: impl FnOnce() -> std::result::Result<Arc<T>, E>,
) -> std::result::Result<Arc<T>, E> {
    named.find_or_create(name, Weak::upgrade, Arc::downgrade, create)
}

#[cfg(all(test, not(taskpool_loom)))]
mod tests {
    use super::*;

    /// 10 000 names each released before the next is requested leave a bounded registry, and
    /// the names still held keep their runners.
    #[test]
    fn named_runner_churn_leaves_a_bounded_registry_and_live_names_keep_their_runner() {
        let mut named: NamedRunners<u32> = NamedRunners::default();
        let create = |n: u32| move || Ok::<_, ()>(Arc::new(n));
        let kept: Vec<Arc<u32>> = (0..10)
            .map(|n| find_or_create_runner(&mut named, &format!("kept-{n}"), create(n)).unwrap())
            .collect();
        for n in 0..10_000u32 {
            drop(find_or_create_runner(
                &mut named,
                &format!("churn-{n}"),
                create(n),
            ));
        }
        assert!(
            named.entries.len() <= 2 * kept.len() + 32,
            "{} entries",
            named.entries.len()
        );
        for (n, runner) in kept.iter().enumerate() {
            let again = find_or_create_runner(&mut named, &format!("kept-{n}"), create(99));
            assert!(
                Arc::ptr_eq(runner, &again.unwrap()),
                "a live name lost its runner"
            );
        }
        // A released name gets a new runner; a failed creation registers nothing.
        let fresh = find_or_create_runner(&mut named, "churn-0", create(7)).unwrap();
        assert_eq!(*fresh, 7);
        let refused = find_or_create_runner(&mut named, "refused", || Err::<Arc<u32>, _>(()));
        assert!(refused.is_err());
        assert!(!named.entries.contains_key("refused"));
    }
}
