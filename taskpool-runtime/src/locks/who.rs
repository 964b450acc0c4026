//! Who made a lock request: the task (if any) and the thread, for diagnosis.

use std::fmt;
use std::thread::ThreadId;

use crate::sync::Arc;
use crate::task::TaskId;

/// The caller of a lock request: recorded with every holder and waiter so that a snapshot
/// ([`AsyncLock::query`](crate::AsyncLock::query)) and a timeout message can name them.
#[derive(Clone, Debug)]
pub(crate) struct Who {
    /// The pool task that asked, if the request came from inside a task.
    pub(crate) task: Option<TaskId>,
    /// The thread that asked (an `async` task may since have moved to another one).
    pub(crate) thread: Arc<ThreadTag>,
}

/// A thread's identity, built once per thread.
#[derive(Debug)]
pub(crate) struct ThreadTag {
    pub(crate) id: ThreadId,
    pub(crate) name: Option<String>,
}

impl ThreadTag {
    /// The calling thread's tag.
    fn of_current() -> Arc<ThreadTag> {
        let thread = std::thread::current();
        Arc::new(ThreadTag {
            id: thread.id(),
            name: thread.name().map(str::to_owned),
        })
    }
}

/// Who waits for whom, as a node of the wait-for graph: a task while one runs (an `async` task
/// moves between threads), the thread otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Party {
    Task(TaskId),
    Thread(ThreadId),
}

impl Who {
    /// The caller on this thread now.
    pub(crate) fn current() -> Who {
        thread_local! {
            static TAG: Arc<ThreadTag> = ThreadTag::of_current();
        }
        Who {
            task: crate::context::current_task_id(),
            // A destructor of a thread-local may take a lock after `TAG` is gone: make a tag.
            thread: TAG
                .try_with(Arc::clone)
                .unwrap_or_else(|_| ThreadTag::of_current()),
        }
    }

    /// This caller as a node of the wait-for graph.
    pub(crate) fn party(&self) -> Party {
        match self.task {
            Some(task) => Party::Task(task),
            None => Party::Thread(self.thread.id),
        }
    }
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Party::Task(task) => write!(f, "task {task}"),
            Party::Thread(thread) => write!(f, "thread {thread:?}"),
        }
    }
}
