//! What a task function can ask about the run it is part of.

use std::cell::RefCell;

use crate::run::Run;
use crate::sync::Arc;
use crate::task::TaskId;

thread_local! {
    /// The run the current worker thread is executing, if any.
    static CURRENT: RefCell<Option<Arc<Run>>> = const { RefCell::new(None) };
}

/// Marks `run` as the current one until the guard is dropped.
pub(crate) fn enter(run: &Arc<Run>) -> Entered {
    let previous = CURRENT.with(|current| current.replace(Some(Arc::clone(run))));
    Entered { previous }
}

pub(crate) struct Entered {
    previous: Option<Arc<Run>>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

/// The run this thread is executing, if any.
pub(crate) fn current_run() -> Option<Arc<Run>> {
    CURRENT.with(|current| current.borrow().clone())
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
    CURRENT.with(|current| {
        current
            .borrow()
            .as_ref()
            .is_some_and(|run| run.is_cancel_requested())
    })
}

/// The id of the task running on this thread, or `None` outside a task.
pub fn current_task_id() -> Option<TaskId> {
    CURRENT.with(|current| current.borrow().as_ref().map(|run| run.id))
}
