//! A snapshot of a pool: its threads and its tasks (ArkTS `taskpool.getTaskPoolInfo()`).

use std::time::Duration;

use crate::observe::{Counters, LaneInfo};
use crate::priority::Priority;
use crate::task::TaskId;

/// What a pool was doing at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskPoolInfo {
    /// Every live worker thread.
    pub threads: Vec<ThreadInfo>,
    /// Every task that is waiting or running, then the runs recently canceled while waiting.
    pub tasks: Vec<TaskInfo>,
    /// The four lanes, most urgent first: queue lengths and wait times since the pool started.
    pub lanes: Vec<LaneInfo>,
    /// How many runs were submitted and how they ended, since the pool started.
    pub counters: Counters,
}

/// One worker thread (ArkTS `ThreadInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ThreadInfo {
    /// The worker's id, unique within its pool.
    pub id: u64,
    /// The thread's name (`<thread_name prefix>-<id>`).
    pub name: String,
    /// The task it is executing. More than one while a task blocked in a wait lets the thread
    /// execute other work of the pool: waiting work the pool could add no thread for, or the
    /// very run it waits for, executed right there (inline) since it had not started. The
    /// blocked tasks first, then that work, outermost first.
    pub task_ids: Vec<TaskId>,
    /// The priority of the task it is executing, if any.
    pub priority: Option<Priority>,
}

/// The state of a task in a pool snapshot (ArkTS `State`). The discriminants are ArkTS's
/// numeric values (`TaskState::Waiting as u8 == 1`, as `State.WAITING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Queued, not started yet.
    Waiting = 1,
    /// Started: executing, or suspended in an `.await`.
    Running = 2,
    /// Canceled while running (it will report canceled when it returns), or one of the last
    /// runs canceled before they started (see [`TaskPool::info`](crate::TaskPool::info)).
    Canceled = 3,
}

/// One task (ArkTS `TaskInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The task's id.
    pub task_id: TaskId,
    /// The task's name: the one it was given, or else its function's bare name.
    pub name: String,
    /// The function it runs.
    pub function: &'static str,
    /// Where it is in its life.
    pub state: TaskState,
    /// The lane it was submitted to.
    pub priority: Priority,
    /// How long it has been running (ArkTS `TaskInfo.duration`); zero while it waits.
    pub duration: Duration,
}
