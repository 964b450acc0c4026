//! The last runs canceled before they started, which `info()` keeps listing as `Canceled` (as
//! ArkTS shows a canceled task as `CANCELED` rather than dropping it from the list at once).
//!
//! ArkTS keeps one state per task, so a task is listed once: a task executed again leaves the
//! list when its new run is queued (that run is what `info()` shows, then nothing once it ended),
//! and an entry whose task the snapshot lists already is left out. The latter also covers a
//! cancel that lands between the core's snapshot and the read of this list (they are taken
//! under different locks): the snapshot's entry stands for the run, which was waiting when the
//! snapshot looked.

use std::collections::VecDeque;

use crate::info::TaskInfo;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{Mutex, lock};
use crate::task::TaskId;

/// How many runs canceled while waiting `info()` keeps listing.
pub(crate) const RECENTLY_CANCELED: usize = 16;

#[derive(Default)]
pub(crate) struct RecentlyCanceled {
    /// Oldest first.
    list: Mutex<VecDeque<TaskInfo>>,
    /// Whether the list may hold entries: a queued run of a task (which may be listed) reads
    /// this instead of taking the lock, so a pool that never cancels pays a load per run.
    any: AtomicBool,
}

impl RecentlyCanceled {
    /// Records a run canceled before it started, pushing the oldest out when full; an older
    /// entry of the same task leaves (one state per task).
    pub(crate) fn push(&self, info: TaskInfo) {
        let mut list = lock(&self.list);
        list.retain(|listed| listed.task_id != info.task_id);
        if list.len() == RECENTLY_CANCELED {
            list.pop_front();
        }
        list.push_back(info);
        self.any.store(true, Ordering::Release);
    }

    /// A new run of task `id` is queued: its state is the new run's now.
    pub(crate) fn forget(&self, id: TaskId) {
        // A push racing this load (an earlier run of the task canceled at this very moment)
        // may stay listed: `append_to` leaves it out while the new run is live, but it shows
        // again once that run ended, until newer cancels push it out. A rare, bounded
        // staleness, against a lock taken by every queued run of a task with a record.
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        let mut list = lock(&self.list);
        list.retain(|listed| listed.task_id != id);
        self.any.store(!list.is_empty(), Ordering::Release);
    }

    /// Adds the entries to `tasks`, a snapshot of the waiting and running runs, except those of
    /// a task the snapshot lists already (see the module documentation).
    pub(crate) fn append_to(&self, tasks: &mut Vec<TaskInfo>) {
        let list = lock(&self.list);
        let snapshot = tasks.len();
        for info in list.iter() {
            if !tasks[..snapshot].iter().any(|t| t.task_id == info.task_id) {
                tasks.push(info.clone());
            }
        }
    }
}

#[cfg(all(test, not(taskpool_loom)))]
mod tests {
    use super::*;
    use crate::info::TaskState;
    use crate::priority::Priority;
    use std::time::Duration;

    fn info(id: u64, state: TaskState) -> TaskInfo {
        TaskInfo {
            task_id: TaskId::from_raw(id),
            name: "t".to_owned(),
            function: "t",
            state,
            priority: Priority::Medium,
            duration: Duration::ZERO,
        }
    }

    fn listed(tasks: &[TaskInfo]) -> Vec<(u64, TaskState)> {
        tasks
            .iter()
            .map(|t| (t.task_id.into_raw(), t.state))
            .collect()
    }

    #[test]
    fn a_task_the_snapshot_lists_is_listed_once() {
        let recent = RecentlyCanceled::default();
        recent.push(info(1, TaskState::Canceled));
        // The snapshot saw run 2 waiting; it was canceled right after.
        let mut tasks = vec![info(2, TaskState::Waiting)];
        recent.push(info(2, TaskState::Canceled));
        // Run 3 was canceled before the snapshot reached it: only this list has it.
        recent.push(info(3, TaskState::Canceled));
        recent.append_to(&mut tasks);
        assert_eq!(
            listed(&tasks),
            [
                (2, TaskState::Waiting),
                (1, TaskState::Canceled),
                (3, TaskState::Canceled)
            ]
        );
    }

    #[test]
    fn a_task_canceled_twice_or_queued_again_keeps_one_state() {
        let recent = RecentlyCanceled::default();
        recent.push(info(1, TaskState::Canceled));
        recent.push(info(2, TaskState::Canceled));
        recent.push(info(1, TaskState::Canceled));
        let mut tasks = Vec::new();
        recent.append_to(&mut tasks);
        assert_eq!(
            listed(&tasks),
            [(2, TaskState::Canceled), (1, TaskState::Canceled)]
        );
        recent.forget(TaskId::from_raw(1));
        recent.forget(TaskId::from_raw(2));
        let mut tasks = Vec::new();
        recent.append_to(&mut tasks);
        assert!(tasks.is_empty());
        assert!(!recent.any.load(Ordering::Acquire));
    }

    #[test]
    fn only_the_newest_entries_are_kept() {
        let recent = RecentlyCanceled::default();
        for id in 0..(RECENTLY_CANCELED as u64 + 5) {
            recent.push(info(id, TaskState::Canceled));
        }
        let mut tasks = Vec::new();
        recent.append_to(&mut tasks);
        assert_eq!(tasks.len(), RECENTLY_CANCELED);
        assert_eq!(tasks[0].task_id.into_raw(), 5);
    }
}
