//! The supervisor thread: enforces the time limit and releases idle threads.
//!
//! It sleeps until the next idle check or the earliest moment a running task could exhaust its
//! time budget, whichever comes first (see `scheduler/README.md` for why it never needs to be told
//! when a task starts).

use std::time::Instant;

use crate::error::Error;
use crate::pool::PoolShared;
use crate::sync::Arc;
use crate::sync::atomic::Ordering;

pub(crate) fn run(pool: Arc<PoolShared>) {
    let config = pool.config.clone();
    let mut next_check = Instant::now() + config.check_interval;
    let mut core = pool.core();
    while !pool.is_shutting_down() {
        let now = Instant::now();
        let (expired, next_deadline) = core.expire_overdue(now, config.time_limit);
        // A retired worker no longer counts: replace it if work is waiting.
        let replacement = if expired.is_empty() {
            None
        } else {
            let demand = pool.intake.waiting_foreground.load(Ordering::SeqCst);
            core.grow_if_needed(&pool.intake, demand, false)
        };
        let released = if now >= next_check {
            next_check = now + config.check_interval;
            core.release_idle(now, config.idle_timeout)
        } else {
            Vec::new()
        };
        core.publish_counts(&pool.intake);
        drop(core);

        for run in expired {
            run.resolve_error(Error::TimedOut {
                task: run.record.id,
                limit: config.time_limit,
            });
        }
        for parker in released {
            parker.unpark();
        }
        if let Some(worker) = replacement {
            pool.spawn_worker(worker);
        }
        pool.reap_exited_threads();

        let wake_at = [
            Some(next_check),
            next_deadline,
            Some(now + config.time_limit),
        ]
        .into_iter()
        .flatten()
        .min()
        .expect("the next check is always set");
        core = pool.core();
        if pool.is_shutting_down() {
            break;
        }
        let timeout = wake_at.saturating_duration_since(Instant::now());
        core = pool
            .supervisor_wakeup
            .wait_timeout(core, timeout)
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .0;
    }
}
