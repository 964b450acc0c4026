//! The last runs canceled before they started, which `info()` keeps listing as `Canceled` (as
//! ArkTS shows a canceled task as `CANCELED` rather than dropping it from the list at once).
//!
//! ArkTS keeps one state per task, so a task is listed once: a task executed again leaves the
//! list when its new run is queued (that run is what `info()` shows, then nothing once it ended),
//! and an entry whose task the snapshot lists already is left out. The latter also covers a
//! cancel that lands between the core's snapshot and the read of this list (they are taken
//! under different locks): the snapshot's entry stands for the run, which was waiting when the
//! snapshot looked.
//!
//! A cancel and a new run of the same task may race: the cancel of an earlier run records its
//! entry while the new run is queued. Each side writes, issues a `SeqCst` fence, then reads
//! the other's write — the new run its task's latest queued run number then this list's `any`
//! flag, the cancel the flag then that number — so one of them sees the other and the entry
//! leaves (model-checked below). A cancel of an earlier run that lands after the new run was
//! queued is not listed either: the new run is the task's state.

use std::collections::VecDeque;

use crate::info::TaskInfo;
use crate::sync::atomic::{AtomicBool, Ordering, fence};
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
    /// entry of the same task leaves (one state per task). `superseded` tells whether a later
    /// run of the task was queued: asked after the entry is visible, so that a new run queued
    /// meanwhile either finds the entry (in [`forget`](Self::forget)) or is seen here.
    pub(crate) fn push(&self, info: TaskInfo, superseded: impl FnOnce() -> bool) {
        let id = info.task_id;
        let mut list = lock(&self.list);
        list.retain(|listed| listed.task_id != id);
        if list.len() == RECENTLY_CANCELED {
            list.pop_front();
        }
        list.push_back(info);
        self.any.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if superseded() {
            list.retain(|listed| listed.task_id != id);
            self.any.store(!list.is_empty(), Ordering::SeqCst);
        }
    }

    /// A new run of task `id` is queued, its number already published where `push`'s
    /// `superseded` reads it: its state is the new run's now.
    pub(crate) fn forget(&self, id: TaskId) {
        // Pairs with the fence in `push`. Without an entry the lock is skipped: a pool that
        // never cancels pays a fence and a load per queued run of a task with a record.
        fence(Ordering::SeqCst);
        if !self.any.load(Ordering::SeqCst) {
            return;
        }
        let mut list = lock(&self.list);
        list.retain(|listed| listed.task_id != id);
        self.any.store(!list.is_empty(), Ordering::SeqCst);
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
        recent.push(info(1, TaskState::Canceled), || false);
        // The snapshot saw run 2 waiting; it was canceled right after.
        let mut tasks = vec![info(2, TaskState::Waiting)];
        recent.push(info(2, TaskState::Canceled), || false);
        // Run 3 was canceled before the snapshot reached it: only this list has it.
        recent.push(info(3, TaskState::Canceled), || false);
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
        recent.push(info(1, TaskState::Canceled), || false);
        recent.push(info(2, TaskState::Canceled), || false);
        recent.push(info(1, TaskState::Canceled), || false);
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
    fn a_cancel_superseded_by_a_queued_run_is_not_listed() {
        let recent = RecentlyCanceled::default();
        recent.push(info(1, TaskState::Canceled), || false);
        recent.push(info(2, TaskState::Canceled), || true);
        let mut tasks = Vec::new();
        recent.append_to(&mut tasks);
        assert_eq!(listed(&tasks), [(1, TaskState::Canceled)]);
        recent.push(info(1, TaskState::Canceled), || true);
        assert!(!recent.any.load(Ordering::Acquire));
    }

    #[test]
    fn only_the_newest_entries_are_kept() {
        let recent = RecentlyCanceled::default();
        for id in 0..(RECENTLY_CANCELED as u64 + 5) {
            recent.push(info(id, TaskState::Canceled), || false);
        }
        let mut tasks = Vec::new();
        recent.append_to(&mut tasks);
        assert_eq!(tasks.len(), RECENTLY_CANCELED);
        assert_eq!(tasks[0].task_id.into_raw(), 5);
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;
    use crate::info::TaskState;
    use crate::priority::Priority;
    use crate::sync::Arc;
    use crate::sync::atomic::AtomicU32;
    use std::time::Duration;

    /// An earlier run of a task canceled while a new run of it is queued
    /// (`PoolShared::cancel_run` against `PoolShared::release`, in miniature): whatever the
    /// interleaving, the task is not left listed as canceled behind its new run. Without the
    /// fences (or the `superseded` check) the entry can land after the new run's `forget`
    /// looked, and stay.
    #[test]
    fn a_cancel_racing_a_new_run_of_its_task_leaves_no_entry() {
        loom::model(|| {
            let recent = Arc::new(RecentlyCanceled::default());
            let latest_queued = Arc::new(AtomicU32::new(1));
            let canceler = {
                let (recent, latest_queued) = (recent.clone(), latest_queued.clone());
                loom::thread::spawn(move || {
                    let entry = TaskInfo {
                        task_id: TaskId::from_raw(7),
                        name: String::new(),
                        function: "t",
                        state: TaskState::Canceled,
                        priority: Priority::Medium,
                        duration: Duration::ZERO,
                    };
                    recent.push(entry, || latest_queued.load(Ordering::SeqCst) > 1);
                })
            };
            latest_queued.fetch_max(2, Ordering::SeqCst);
            recent.forget(TaskId::from_raw(7));
            canceler.join().unwrap();
            let mut tasks = Vec::new();
            recent.append_to(&mut tasks);
            assert!(tasks.is_empty());
        });
    }
}
