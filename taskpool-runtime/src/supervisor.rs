//! The supervisor thread: enforces the time limit and releases idle threads.
//!
//! It sleeps until the next idle check or the earliest moment a running task could exhaust its
//! time budget, whichever comes first (see `scheduler/README.md` for why it never needs to be told
//! when a task starts). It keeps enforcing the time limit while the pool shuts down — that is
//! what lets a shutdown stop waiting for a stuck call — and leaves with the last pool thread.

use std::time::{Duration, Instant};

use crate::error::Error;
use crate::pool::PoolShared;
use crate::sync::Arc;
use crate::sync::atomic::Ordering;

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
        let (expired, next_deadline) = core.expire_overdue(now, config.time_limit);
        // A retired thread no longer counts: replace it if work is waiting.
        let replacement = if expired.is_empty() || shutting_down {
            None
        } else {
            let demand = pool.intake.waiting_foreground.load(Ordering::SeqCst);
            core.grow_if_needed(&pool.intake, demand, false)
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

        settle_expired(&pool, expired, config.time_limit);
        for parker in released {
            parker.unpark();
        }
        if let Some(worker) = replacement {
            pool.spawn_worker(worker);
        }
        pool.threads.reap();

        let wake_at = [
            next_check,
            next_deadline,
            now.checked_add(config.time_limit),
        ]
        .into_iter()
        .flatten()
        .min();
        core = pool.core();
        if pool.is_shutting_down() && core.thread_count() == 0 {
            break;
        }
        core = match wake_at {
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
        };
    }
}

/// Resolves the handles of runs over their time limit; their threads were retired, which a
/// shutdown waiting for them must hear about.
///
/// Each run is also flagged as canceled: Rust cannot kill its thread as ArkTS does, so the
/// function learns through `is_canceled()` that nobody waits for it any more and can return,
/// giving its thread back (an `async fn` stops at its next `.await`). The handle is resolved
/// first, so a function returning at that very moment is still reported as timed out, and
/// its late outcome is dropped with the completion's claim.
fn settle_expired(pool: &PoolShared, expired: Vec<Arc<crate::run::Run>>, limit: Duration) {
    if expired.is_empty() {
        return;
    }
    for run in expired {
        run.resolve_error(Error::TimedOut {
            task: run.id,
            limit,
        });
        let _ = pool.cancel_run(&run);
    }
    pool.threads.notify();
}

/// Tells a shutdown waiting for the supervisor that it left.
struct Leaving(Arc<PoolShared>);

impl Drop for Leaving {
    fn drop(&mut self) {
        self.0.threads.exited(None);
    }
}
