//! The last runs canceled before they started, which `info()` keeps listing as `Canceled` (as
//! ArkTS shows a canceled task as `CANCELED` rather than dropping it from the list at once).
//!
//! `info()` takes the core's snapshot and this list under different locks, so a cancel may land
//! between the two: the snapshot then lists the run as waiting and this list as canceled. Each
//! entry carries a sequence number, so `info()` can tell the cancels that raced its snapshot
//! and keep one entry per run.

use std::collections::VecDeque;

use crate::info::{TaskInfo, TaskState};
use crate::sync::{Mutex, lock};

/// How many runs canceled while waiting `info()` keeps listing.
pub(crate) const RECENTLY_CANCELED: usize = 16;

#[derive(Default)]
pub(crate) struct RecentlyCanceled(Mutex<Entries>);

#[derive(Default)]
struct Entries {
    /// The sequence number of the next entry.
    next: u64,
    /// Newest last, with their sequence numbers.
    list: VecDeque<(u64, TaskInfo)>,
}

/// Where the list stood when a snapshot began (see [`RecentlyCanceled::mark`]).
#[derive(Clone, Copy)]
pub(crate) struct Mark(u64);

impl RecentlyCanceled {
    /// Records a run canceled before it started, pushing the oldest out when full.
    pub(crate) fn push(&self, info: TaskInfo) {
        let mut entries = lock(&self.0);
        if entries.list.len() == RECENTLY_CANCELED {
            entries.list.pop_front();
        }
        let sequence = entries.next;
        entries.next += 1;
        entries.list.push_back((sequence, info));
    }

    /// Where the list stands now: taken before a snapshot of the waiting runs.
    pub(crate) fn mark(&self) -> Mark {
        Mark(lock(&self.0).next)
    }

    /// Adds the entries to `tasks`, a snapshot taken after `mark`. A run canceled after the
    /// mark may be in the snapshot as waiting: then the snapshot's entry stands for it (it was
    /// waiting when the snapshot looked), and its canceled entry is left out.
    pub(crate) fn append_to(&self, tasks: &mut Vec<TaskInfo>, mark: Mark) {
        let entries = lock(&self.0);
        for (sequence, info) in &entries.list {
            let raced = *sequence >= mark.0
                && tasks
                    .iter()
                    .any(|t| t.task_id == info.task_id && t.state == TaskState::Waiting);
            if !raced {
                tasks.push(info.clone());
            }
        }
    }
}

#[cfg(all(test, not(taskpool_loom)))]
mod tests {
    use super::*;
    use crate::priority::Priority;
    use crate::task::TaskId;
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

    #[test]
    fn a_cancel_racing_the_snapshot_is_listed_once_and_older_ones_stay() {
        let recent = RecentlyCanceled::default();
        recent.push(info(1, TaskState::Canceled));
        let mark = recent.mark();
        // The snapshot saw run 2 waiting; it was canceled right after.
        let mut tasks = vec![info(2, TaskState::Waiting)];
        recent.push(info(2, TaskState::Canceled));
        // Run 3 was canceled before the snapshot reached it: only this list has it.
        recent.push(info(3, TaskState::Canceled));
        recent.append_to(&mut tasks, mark);
        let listed: Vec<_> = tasks
            .iter()
            .map(|t| (t.task_id.into_raw(), t.state))
            .collect();
        assert_eq!(
            listed,
            [
                (2, TaskState::Waiting),
                (1, TaskState::Canceled),
                (3, TaskState::Canceled)
            ]
        );
    }

    #[test]
    fn only_the_newest_entries_are_kept() {
        let recent = RecentlyCanceled::default();
        for id in 0..(RECENTLY_CANCELED as u64 + 5) {
            recent.push(info(id, TaskState::Canceled));
        }
        let mut tasks = Vec::new();
        recent.append_to(&mut tasks, recent.mark());
        assert_eq!(tasks.len(), RECENTLY_CANCELED);
        assert_eq!(tasks[0].task_id.into_raw(), 5);
    }
}
