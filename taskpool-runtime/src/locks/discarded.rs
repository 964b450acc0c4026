//! [`Discarded`]: the user wakers a lock or condition variable let go of under its mutex, kept
//! to be dropped after unlocking; [`TaskWaker`]: a task's waker that a timer wakes.
//!
//! Dropping a user waker is user code: it may be the last reference to a task whose `Drop`
//! panics. Under the mutex, that panic would cut the bookkeeping around it short (a departure
//! before the waiters it lets go are woken, a grant before its guard is returned).

use std::task::Waker;

use crate::sync::{Mutex, lock};
use crate::waker_offer::with_offer;

/// Wakers let go of under a mutex, to drop after unlocking.
#[derive(Debug, Default)]
pub(crate) struct Discarded(Vec<Waker>);

impl Discarded {
    /// Keeps `waker` (one that left the state) to drop later.
    pub(crate) fn push(&mut self, waker: Waker) {
        self.0.push(waker);
    }

    /// Takes the wakers kept so far, to drop with [`Taken::drop_quietly`] once unlocked. One at
    /// a time, the usual case, is popped: the buffer keeps its room, and a contended hand-over
    /// allocates nothing.
    pub(crate) fn take(&mut self) -> Taken {
        let last = self.0.pop();
        let rest = if self.0.is_empty() {
            Vec::new()
        } else {
            std::mem::take(&mut self.0)
        };
        Taken(last, rest)
    }
}

/// Wakers taken out of a [`Discarded`], to drop outside the mutex.
#[must_use = "drop them with drop_quietly once the mutex is released"]
pub(crate) struct Taken(Option<Waker>, Vec<Waker>);

impl Taken {
    /// Drops each waker with its panic contained.
    pub(crate) fn drop_quietly(self) {
        crate::panic::drop_quietly(self.0);
        crate::panic::drop_each_quietly(self.1);
    }
}

/// The waker of a task that another thread (a timer) wakes: the one of the task's latest poll.
/// Every user-code step — replacing, waking, letting go — happens outside its mutex, its panic
/// contained.
pub(crate) struct TaskWaker(Mutex<Option<Waker>>);

impl Default for TaskWaker {
    /// No waker recorded yet.
    fn default() -> TaskWaker {
        TaskWaker(Mutex::new(None))
    }
}

impl TaskWaker {
    /// Records `waker` (the task was polled with it), unless it wakes the same task already.
    pub(crate) fn register(&self, waker: &Waker) {
        // Offered (see `waker_offer`): the executor's clone may call back (into the lock this
        // task waits for, whose timer wakes through here).
        with_offer(waker, |offer| offer.store(&mut lock(&self.0)).then_some(()));
    }

    /// Wakes the recorded waker, if any, and lets go of it.
    pub(crate) fn wake(&self) {
        let waker = lock(&self.0).take();
        if let Some(waker) = waker {
            crate::panic::wake_quietly(waker);
        }
    }

    /// Lets go of the recorded waker (the wait ended): here, not wherever the last reference to
    /// its owner goes (a timer thread, or a poll that must still return what it was granted).
    pub(crate) fn clear(&self) {
        let waker = lock(&self.0).take();
        crate::panic::drop_quietly(waker);
    }
}
