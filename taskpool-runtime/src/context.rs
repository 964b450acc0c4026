//! What a task function can ask about the run it is part of.

use std::cell::RefCell;

use crate::run::Run;
use crate::sync::Arc;
use crate::task::TaskId;

thread_local! {
    /// The runs the current worker thread is executing, innermost last: a run that blocks in
    /// a wait may execute another inside it (inline, or standing in for a thread the pool may
    /// not add), and both are executing on this thread until the inner one returns.
    static CURRENT: RefCell<Vec<Arc<Run>>> = const { RefCell::new(Vec::new()) };
}

/// Marks `run` as the current one until the guard is dropped.
pub(crate) fn enter(run: &Arc<Run>) -> Entered {
    CURRENT.with(|current| current.borrow_mut().push(Arc::clone(run)));
    Entered { _private: () }
}

/// Makes the run entered before it current again when dropped (guards are scoped, so they
/// drop in the reverse order of their `enter`).
pub(crate) struct Entered {
    _private: (),
}

impl Drop for Entered {
    fn drop(&mut self) {
        let left = CURRENT.with(|current| current.borrow_mut().pop());
        drop(left);
    }
}

/// The run this thread is executing, if any.
pub(crate) fn current_run() -> Option<Arc<Run>> {
    // `None` too while the thread's thread-locals are destroyed (a destructor may ask).
    CURRENT
        .try_with(|current| current.borrow().last().cloned())
        .ok()
        .flatten()
}

/// Every run this thread is executing: the current one and those it executes inside.
pub(crate) fn entered_runs() -> Vec<Arc<Run>> {
    CURRENT
        .try_with(|current| current.borrow().clone())
        .unwrap_or_default()
}

/// Whether this thread is executing the run whose header is at `header` (how runners track
/// their runs).
pub(crate) fn is_executing_at(header: usize) -> bool {
    CURRENT
        .try_with(|current| {
            current
                .borrow()
                .iter()
                .any(|run| std::ptr::from_ref(run.header()) as usize == header)
        })
        .unwrap_or(false)
}

/// Whether the task that is running on this thread has been canceled (ArkTS `Task.isCanceled()`).
///
/// A canceled task keeps running until it returns; long computations should check this now and
/// then and return early. A task that ran past the pool's time limit reads `true` too: its
/// handle already resolved with [`Error::TimedOut`](crate::Error::TimedOut), and returning
/// gives its thread back (ArkTS kills such a thread; Rust cannot). Outside a task it is
/// `false`.
///
/// ```
/// use taskpool::{concurrent, is_canceled};
///
/// #[concurrent]
/// fn count_up(limit: u64) -> u64 {
///     let mut done = 0;
///     while done < limit && !is_canceled() {
///         done += 1;
///     }
///     done
/// }
/// # assert_eq!(count_up(10), 10);
/// ```
pub fn is_canceled() -> bool {
    // `false` also in a destructor of a thread-local run as the thread exits (no task runs).
    CURRENT
        .try_with(|current| {
            current
                .borrow()
                .last()
                .is_some_and(|run| run.is_cancel_requested())
        })
        .unwrap_or(false)
}

/// The id of the task running on this thread, or `None` outside a task.
pub fn current_task_id() -> Option<TaskId> {
    // While a thread exits its thread-locals are destroyed, and a destructor may still ask
    // (one that takes a lock records who asked): no task runs then.
    CURRENT
        .try_with(|current| current.borrow().last().map(|run| run.id))
        .ok()
        .flatten()
}
