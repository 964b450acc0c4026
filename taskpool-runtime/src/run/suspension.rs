//! Who may touch a suspended `async fn` task's future: the poll-state machine.
//!
//! A suspended task belongs to no pool thread. Its waker queues it for *any* free thread of its
//! lane, and a cancel may drop it where it waits. Three parties race for the future — the waker,
//! the thread polling it and a canceller (or shutdown) — and this state machine gives each move
//! exactly one winner:
//!
//! ```text
//!            wake                 picked                  Pending
//!   IDLE ──────────▶ SCHEDULED ──────────▶ POLLING ──────────────────▶ IDLE
//!    │                  │                   │  ▲ wake          Pending   ▲
//!    │ claim            │ claim        wake ▼  │ ─────────▶ NOTIFIED ──▶ SCHEDULED (queued again)
//!    ▼                  ▼                    Ready / dropped by its poller
//!   DONE ◀──────────── DONE                 DONE
//! ```
//!
//! * Only the thread that moved the state to `POLLING` polls or drops the future; a wake during
//!   the poll is remembered (`NOTIFIED`) and the poller queues the task again itself.
//! * A canceller claims the future only from `IDLE` or `SCHEDULED` (`claim`); a task being polled
//!   is only flagged, and its poller settles it after the poll (see `pool::thread`).
//! * Every run starts in `POLLING`: the thread that starts the run owns it until its first poll
//!   returns, and a synchronous run never leaves that state, so nothing can claim it.
//!
//! The poller's "back to `IDLE`, then re-check the cancel flag" and the canceller's "set the
//! cancel flag, then try to claim" are both sequentially consistent, so at least one of them sees
//! the other: a cancel is never lost between a poll and the next wake. `loom_tests` below checks
//! it.

use crate::sync::atomic::{AtomicU8, Ordering, fence};

const IDLE: u8 = 0;
const SCHEDULED: u8 = 1;
const POLLING: u8 = 2;
const NOTIFIED: u8 = 3;
const DONE: u8 = 4;

/// What the poller does after a poll that returned `Pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterPending {
    /// The task waits for its waker (and may be claimed by a cancel from now on).
    Suspended,
    /// It was woken during the poll: queue it again.
    Requeue,
}

/// The poll state of one run (see the module documentation).
#[derive(Debug)]
pub(crate) struct Suspension(AtomicU8);

impl Default for Suspension {
    fn default() -> Self {
        Suspension(AtomicU8::new(POLLING))
    }
}

impl Suspension {
    /// A waker fired. True if the caller must queue the task (it was waiting, now scheduled).
    pub(crate) fn wake(&self) -> bool {
        let mut current = self.0.load(Ordering::SeqCst);
        loop {
            let next = match current {
                IDLE => SCHEDULED,
                POLLING => NOTIFIED,
                _ => return false,
            };
            match self
                .0
                .compare_exchange_weak(current, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return next == SCHEDULED,
                Err(actual) => current = actual,
            }
        }
    }

    /// A thread took the queued task: `SCHEDULED → POLLING`. False if a cancel claimed it first.
    pub(crate) fn begin_poll(&self) -> bool {
        self.0
            .compare_exchange(SCHEDULED, POLLING, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// The poll returned `Pending` and the future is back in its slot. The caller then checks
    /// the cancel and shutdown flags: the fence orders that read after this write, pairing
    /// with the fence in [`claim`](Suspension::claim).
    pub(crate) fn end_poll(&self) -> AfterPending {
        let after = match self
            .0
            .compare_exchange(POLLING, IDLE, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => AfterPending::Suspended,
            Err(_) => {
                // Only a wake moves POLLING on, to NOTIFIED; nobody else touches it meanwhile.
                self.0.store(SCHEDULED, Ordering::SeqCst);
                AfterPending::Requeue
            }
        };
        fence(Ordering::SeqCst);
        after
    }

    /// Takes the future away from the scheduler (a cancel, a shutdown): `IDLE` or `SCHEDULED`
    /// to `DONE`. True if the caller now owns the future and must drop it.
    pub(crate) fn claim(&self) -> bool {
        // Orders the caller's cancel or shutdown flag before this read (see `end_poll`).
        fence(Ordering::SeqCst);
        let mut current = self.0.load(Ordering::SeqCst);
        loop {
            if current != IDLE && current != SCHEDULED {
                return false;
            }
            match self
                .0
                .compare_exchange_weak(current, DONE, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// Whether the task was woken and waits in its lane for a thread to poll it.
    pub(crate) fn is_scheduled(&self) -> bool {
        self.0.load(Ordering::SeqCst) == SCHEDULED
    }

    /// Whether the task is suspended at an `.await`, waiting for its waker.
    pub(crate) fn is_suspended(&self) -> bool {
        self.0.load(Ordering::SeqCst) == IDLE
    }

    /// Whether the future is gone (completed, dropped or claimed).
    pub(crate) fn is_done(&self) -> bool {
        self.0.load(Ordering::SeqCst) == DONE
    }

    /// The poller is done with the future for good (it completed or was dropped).
    pub(crate) fn finish(&self) {
        self.0.store(DONE, Ordering::SeqCst);
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;
    use crate::sync::atomic::{AtomicBool, AtomicUsize};
    use loom::sync::Arc;

    /// A suspended task, its waker on another thread, and a poller: the wake is never lost (the
    /// task is queued again or re-polled) and never queues it twice.
    #[test]
    fn a_wake_racing_a_poll_is_never_lost() {
        loom::model(|| {
            let state = Arc::new(Suspension::default());
            let queued = Arc::new(AtomicUsize::new(0));
            let waker = {
                let (state, queued) = (state.clone(), queued.clone());
                loom::thread::spawn(move || {
                    if state.wake() {
                        queued.fetch_add(1, Ordering::SeqCst);
                    }
                })
            };
            // The first poll returns Pending.
            let requeued = state.end_poll() == AfterPending::Requeue;
            waker.join().unwrap();
            let queued = queued.load(Ordering::SeqCst) + usize::from(requeued);
            assert_eq!(queued, 1, "woken exactly once");
            assert!(state.begin_poll(), "the queued task can be polled");
        });
    }

    /// Wake, poll and cancel of one task race: the future is dropped or polled by exactly one
    /// party, and a cancel that lands is always acted on.
    #[test]
    fn wake_poll_and_cancel_settle_exactly_once() {
        loom::model(|| {
            let state = Arc::new(Suspension::default());
            let canceled = Arc::new(AtomicBool::new(false));
            let owners = Arc::new(AtomicUsize::new(0));
            let canceller = {
                let (state, canceled, owners) = (state.clone(), canceled.clone(), owners.clone());
                loom::thread::spawn(move || {
                    canceled.store(true, Ordering::Release);
                    if state.claim() {
                        owners.fetch_add(1, Ordering::SeqCst);
                    }
                })
            };
            let waker = {
                let state = state.clone();
                loom::thread::spawn(move || state.wake())
            };
            // The poller: the first poll returned Pending.
            let mut poller_owns = match state.end_poll() {
                AfterPending::Suspended => canceled.load(Ordering::SeqCst) && state.claim(),
                AfterPending::Requeue => state.begin_poll(),
            };
            let queued = waker.join().unwrap();
            if queued {
                // Another pool thread picks the queued task.
                poller_owns |= state.begin_poll();
            }
            canceller.join().unwrap();
            let claimed = owners.load(Ordering::SeqCst);
            assert!(
                usize::from(poller_owns) + claimed <= 1,
                "one owner at a time"
            );
            // The cancel is never lost: either someone claimed the future, or a poller owns it
            // and sees the flag before polling again.
            assert!(claimed == 1 || poller_owns);
        });
    }

    /// A task suspended by one thread is resumed by another: the second thread owns it after
    /// the first let go, and they never own it at once.
    #[test]
    fn a_woken_future_resumes_on_another_thread() {
        loom::model(|| {
            let state = Arc::new(Suspension::default());
            let polls = Arc::new(AtomicUsize::new(0));
            let first = {
                let (state, polls) = (state.clone(), polls.clone());
                loom::thread::spawn(move || {
                    polls.fetch_add(1, Ordering::SeqCst);
                    state.end_poll()
                })
            };
            let queued = state.wake();
            let after = first.join().unwrap();
            let resumed = (queued || after == AfterPending::Requeue) && state.begin_poll();
            assert!(resumed, "the woken task is polled again");
            assert_eq!(polls.load(Ordering::SeqCst), 1);
        });
    }
}
