//! [`Deadline`]: the timeout of a waiting future, which withdraws its waiter at the deadline.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use super::discarded::TaskWaker;
use crate::sync::Arc;
use crate::time::{Sleep, sleep};

/// How a waiter leaves its queue when its time runs out. Called on the timer thread, outside
/// the caller's mutexes; the user wakers it lets go of must be dropped or woken with their
/// panics contained, or a panic would stop the task's wake-up that follows.
pub(crate) trait Withdraw: Send + Sync + 'static {
    fn withdraw(&self);
}

/// The timeout of a waiting future: a timer that wakes its [`Expiry`] at the deadline.
pub(crate) struct Deadline<W: Withdraw> {
    sleep: Sleep,
    expiry: Arc<Expiry<W>>,
    /// A waker of `expiry`, made once: each poll hands the timer this one, with no new waker
    /// to build (the timer keeps its entry's waker when the new one wakes the same).
    waker: Waker,
}

/// What a [`Deadline`]'s timer wakes. It withdraws the waiter then and there: the waiter's task
/// may not run for a while, and must not keep its place meanwhile (a lock's readers behind a
/// timed-out writer waiting, a `notify_one` going to a waiter whose time has run out). Then it
/// wakes the task, which finds its time out.
pub(super) struct Expiry<W> {
    pub(super) withdrawal: W,
    /// The waker of the task's latest poll.
    pub(super) task: TaskWaker,
}

impl<W: Withdraw> Expiry<W> {
    /// An expiry that has not run: the timer wakes it (or a model does).
    pub(super) fn new(withdrawal: W) -> Arc<Expiry<W>> {
        Arc::new(Expiry {
            withdrawal,
            task: TaskWaker::default(),
        })
    }
}

impl<W: Withdraw> Wake for Expiry<W> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.withdrawal.withdraw();
        self.task.wake();
    }
}

impl<W: Withdraw> Deadline<W> {
    /// A deadline `timeout` from now, withdrawing through `withdrawal`.
    pub(crate) fn new(withdrawal: W, timeout: Duration) -> Deadline<W> {
        let expiry = Expiry::new(withdrawal);
        Deadline {
            sleep: sleep(timeout),
            waker: Waker::from(Arc::clone(&expiry)),
            expiry,
        }
    }

    /// What withdraws the waiter: the caller updates it before [`poll`](Deadline::poll) (a
    /// lock request's new id) and reads it to learn whether it ran (a lock's `expired` flag).
    pub(crate) fn withdrawal(&self) -> &W {
        &self.expiry.withdrawal
    }

    /// Whether the deadline has passed. Otherwise `task` is woken at the deadline: recorded
    /// before the timer is looked at, so an expiry that comes meanwhile wakes it.
    pub(crate) fn poll(&mut self, task: &Waker) -> bool {
        self.expiry.task.register(task);
        Pin::new(&mut self.sleep)
            .poll(&mut Context::from_waker(&self.waker))
            .is_ready()
    }
}

impl<W: Withdraw> Drop for Deadline<W> {
    /// Lets go of the task's waker here, its panic contained, not wherever the last reference
    /// to the expiry goes (the timer thread, or a granted poll that must return its grant). An
    /// expiry that runs later finds no task to wake (one already running may wake it once
    /// more, harmlessly), and nothing to withdraw: the waiter was granted, or has left or is
    /// leaving by itself (a completed or dropped future).
    fn drop(&mut self) {
        self.expiry.task.clear();
    }
}
