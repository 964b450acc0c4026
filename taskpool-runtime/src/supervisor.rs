//! The supervisor thread: enforces the time limit and releases idle threads.
//!
//! It sleeps until the next idle check or the earliest moment a running task could exhaust its
//! time budget, whichever comes first (see `scheduler/README.md` for why it never needs to be told
//! when a task starts). It keeps enforcing the time limit while the pool shuts down — that is
//! what lets a shutdown stop waiting for a stuck call — and leaves with the last pool thread.

use std::time::{Duration, Instant};

use crate::error::Error;
use crate::pool::{Core, NewWorker, Overdue, PoolShared};
use crate::sync::atomic::Ordering;
use crate::sync::{Arc, Mutex, MutexGuard, lock};

pub(crate) fn run(pool: Arc<PoolShared>) {
    let _leaving = Leaving(Arc::clone(&pool));
    let config = pool.config.clone();
    let mut next_check = Instant::now().checked_add(config.check_interval);
    let mut core = pool.core();
    loop {
        let shutting_down = pool.is_shutting_down();
        if shutting_down && core.thread_count() == 0 {
            break;
        }
        let now = Instant::now();
        let (expired, next_deadline) = core.expire_overdue(&pool.intake, now, config.time_limit);
        let (replacement, wake_for_idle) = if expired.is_empty() || shutting_down {
            (None, false)
        } else {
            replace_retired(&pool, &mut core)
        };
        let released = match next_check {
            Some(check) if now >= check && !shutting_down => {
                next_check = now.checked_add(config.check_interval);
                core.release_idle(&pool.intake, now, config.idle_timeout)
            }
            _ => Vec::new(),
        };
        core.publish_counts(&pool.intake);
        drop(core);

        settle_elsewhere(&pool, expired, config.time_limit);
        if wake_for_idle {
            pool.sleepers.wake_one();
        }
        for parker in released {
            parker.unpark();
        }
        if let Some(worker) = replacement {
            pool.spawn_worker(worker);
        }
        pool.threads.reap();

        core = pool.core();
        if pool.is_shutting_down() && core.thread_count() == 0 {
            break;
        }
        // With no run under the time limit, only the periodic check is due: a run that begins
        // meanwhile wakes the supervisor (`Core::supervisor_may_rest`). Otherwise a run may
        // begin unannounced, and be due one limit from now at the latest.
        let wake_at = if core.supervisor_may_rest() {
            next_check
        } else {
            [
                next_check,
                next_deadline,
                now.checked_add(config.time_limit),
            ]
            .into_iter()
            .flatten()
            .min()
        };
        core = rest_until(&pool, core, wake_at);
        core.supervisor_woke();
    }
}

/// The thread to start after time-outs retired threads, and whether a parked thread must be
/// woken instead. A retired thread no longer counts: it is replaced if work is waiting. An
/// IDLE run that timed out let the IDLE lane go: the IDLE work waiting behind it needs a thread
/// too, a new one if none is left that takes work, else a parked one woken (freeing the lane
/// moved no epoch, so nothing else wakes it).
fn replace_retired(pool: &PoolShared, core: &mut Core) -> (Option<NewWorker>, bool) {
    let demand = pool.intake.waiting_foreground.load(Ordering::SeqCst);
    let grown = core.grow_if_needed(&pool.intake, demand, false);
    let idle_work = grown.is_none() && core.idle_startable(&pool.intake);
    let grown = grown.or_else(|| idle_work.then(|| core.grow_if_needed(&pool.intake, 0, true))?);
    let wake_for_idle = idle_work && grown.is_none();
    (grown, wake_for_idle)
}

/// Waits on the supervisor's condition until `wake_at` (for ever if `None`), or until it is
/// woken early.
fn rest_until<'a>(
    pool: &'a PoolShared,
    core: MutexGuard<'a, Core>,
    wake_at: Option<Instant>,
) -> MutexGuard<'a, Core> {
    match wake_at {
        Some(at) => {
            let timeout = at.saturating_duration_since(Instant::now());
            pool.supervisor_wakeup
                .wait_timeout(core, timeout.max(Duration::from_micros(1)))
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0
        }
        None => pool
            .supervisor_wakeup
            .wait(core)
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    }
}

/// Settles the runs over their time limit (see [`settle`]), each on a thread of its own, never
/// on the supervisor.
///
/// Settling a run executes user code: its composers' settle hooks cancel the other members of
/// its group or fail its dependents, dropping their arguments and futures, and the last
/// reference to a run may go there, with its listeners. A `Drop` that blocked on the
/// supervisor would freeze it: no other time limit enforced, no idle thread released, no
/// thread replaced. Time-outs are rare and each one already retires a thread, so a short-lived
/// thread per timed-out run costs little, and a `Drop` that never returns holds up the
/// settling of that one run only (its call is flagged before the hooks run: see
/// `RunOps::claim_time_out`). A settler is one of the pool's threads, as the supervisor is, so a
/// shutdown waits for it as it waits for the supervisor: the run resolves as timed out, not as
/// shut down. If no thread can be started, the supervisor settles the run itself.
fn settle_elsewhere(pool: &Arc<PoolShared>, expired: Vec<Overdue>, limit: Duration) {
    if expired.is_empty() {
        return;
    }
    for overdue in expired {
        // Shared, so that a refused spawn (which drops the closure) leaves the run here.
        let slot = Arc::new(Mutex::new(Some(overdue)));
        let settler = {
            let pool = Arc::clone(pool);
            let slot = Arc::clone(&slot);
            move || {
                let _leaving = Leaving(Arc::clone(&pool));
                let overdue = lock(&slot).take();
                if let Some(overdue) = overdue {
                    settle(&pool, &overdue, limit);
                }
            }
        };
        let name = format!("{}-superv-settle", pool.config.thread_name);
        let spawned = pool
            .threads
            .spawn(None, name, pool.config.stack_size, settler)
            .is_ok();
        let left = if spawned { None } else { lock(&slot).take() };
        if let Some(overdue) = left {
            settle(pool, &overdue, limit);
        }
    }
    // Their threads were retired, which a shutdown waiting for them must hear about.
    pool.threads.notify();
}

/// Resolves the handle of a run over its time limit, if the check that found it claimed it.
///
/// The run is also flagged as canceled: Rust cannot kill its thread as ArkTS does, so the
/// function learns through `is_canceled()` that nobody waits for it any more and can return,
/// giving its thread back (an `async fn` stops at its next `.await`). The handle is claimed and
/// the flag set by the check that found the run overdue (`RunOps::claim_time_out`), so a
/// function returning before its settler runs is still reported as timed out, and a hook's user
/// code that blocks does not keep the function from learning it. `cancel_run` then drops a
/// future suspended meanwhile.
fn settle(pool: &PoolShared, Overdue { run, claimed }: &Overdue, limit: Duration) {
    if *claimed {
        run.timed_out(Error::TimedOut {
            task: run.id,
            limit,
        });
    }
    let _ = pool.cancel_run(run);
    pool.threads.notify();
}

/// Tells a shutdown waiting for the supervisor (or one of its settlers) that it left.
struct Leaving(Arc<PoolShared>);

impl Drop for Leaving {
    fn drop(&mut self) {
        self.0.threads.exited(None);
    }
}
