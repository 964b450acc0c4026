//! Submissions on their way in: pushed without the core lock, moved into the lanes by workers.
//!
//! The counters here are what submitters read instead of taking the lock: how much is waiting,
//! how many workers are free or searching, and an epoch that changes with every submission.

use crossbeam_queue::SegQueue;

use crate::priority::Priority;
use crate::run::Run;
use crate::scheduler::dispatch::Lanes;
use crate::sync::Arc;
use crate::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

#[derive(Default)]
pub(crate) struct Intake {
    queues: [SegQueue<Arc<Run>>; 4],
    /// Non-IDLE runs submitted and not yet started or discarded: the demand that grows the pool.
    pub(crate) waiting_foreground: AtomicUsize,
    /// Bumped by every submission, so a worker about to park can tell whether anything arrived
    /// since it last looked (see `scheduler/README.md`).
    pub(crate) epoch: AtomicU64,
    /// Workers between two looks for work; they need no wake-up.
    pub(crate) searching: AtomicUsize,
    /// Workers that are not executing and not retiring (kept up to date under the core lock).
    pub(crate) free_workers: AtomicUsize,
    /// Workers that are not retiring (kept up to date under the core lock).
    pub(crate) active_workers: AtomicUsize,
    /// Set once, under the core lock, when the pool starts shutting down.
    pub(crate) shutting_down: AtomicBool,
}

impl Intake {
    /// Queues a run; returns how many non-IDLE runs now wait.
    pub(crate) fn push(&self, run: Arc<Run>) -> usize {
        let priority = run.priority;
        self.queues[priority.lane()].push(run);
        let waiting = if priority == Priority::Idle {
            self.waiting_foreground.load(Ordering::SeqCst)
        } else {
            self.waiting_foreground.fetch_add(1, Ordering::SeqCst) + 1
        };
        self.epoch.fetch_add(1, Ordering::SeqCst);
        waiting
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Moves every pushed run into `lanes`, keeping each lane's order.
    pub(crate) fn drain_into(&self, lanes: &mut Lanes<Arc<Run>>) {
        for (queue, priority) in self.queues.iter().zip(Priority::ALL) {
            while let Some(run) = queue.pop() {
                lanes.push(priority, run);
            }
        }
    }

    /// Records that a waiting run left the lanes (started or discarded).
    pub(crate) fn left_lanes(&self, priority: Priority) {
        if priority != Priority::Idle {
            self.waiting_foreground.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
