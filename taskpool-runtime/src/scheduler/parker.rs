//! A one-token parker: how a worker sleeps until there is something for it.

use std::task::{Wake, Waker};
use std::time::Instant;

use crate::sync::{Arc, Condvar, Mutex, lock};

/// Blocks one thread until another unparks it. An `unpark` that comes before `park` is kept as
/// a token, so a wake-up is never lost between "nothing to do" and going to sleep.
#[derive(Default)]
pub(crate) struct Parker {
    notified: Mutex<bool>,
    wakeup: Condvar,
}

impl Parker {
    /// Sleeps until the token is available, then consumes it.
    pub(crate) fn park(&self) {
        let mut notified = lock(&self.notified);
        while !*notified {
            notified = self
                .wakeup
                .wait(notified)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        *notified = false;
    }

    /// Like [`park`](Parker::park), but gives up at `deadline`; false if it passed without a
    /// token.
    pub(crate) fn park_until(&self, deadline: Instant) -> bool {
        let mut notified = lock(&self.notified);
        while !*notified {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            notified = match self.wakeup.wait_timeout(notified, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        *notified = false;
        true
    }

    /// Makes the token available and wakes the parked thread, if any.
    pub(crate) fn unpark(&self) {
        *lock(&self.notified) = true;
        self.wakeup.notify_one();
    }

    /// A waker that unparks this parker: what a pool thread blocked in a wait leaves for the
    /// outcome it waits for, so that the pool can wake it through the same parker.
    pub(crate) fn waker(self: &Arc<Self>) -> Waker {
        Waker::from(Arc::clone(self))
    }
}

impl Wake for Parker {
    fn wake(self: Arc<Self>) {
        self.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.unpark();
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicBool, Ordering};

    /// The submit/park protocol in miniature: whatever the interleaving, a worker that parks
    /// after checking for work is woken by the submitter that published the work.
    #[test]
    fn an_unpark_is_never_lost() {
        loom::model(|| {
            let parker = Arc::new(Parker::default());
            let work = Arc::new(AtomicBool::new(false));
            let submitter = {
                let (parker, work) = (parker.clone(), work.clone());
                loom::thread::spawn(move || {
                    work.store(true, Ordering::Release);
                    parker.unpark();
                })
            };
            while !work.load(Ordering::Acquire) {
                parker.park();
            }
            submitter.join().unwrap();
        });
    }

    /// The stand-in handshake of `pool::block_until` in miniature: a pool thread blocked in a
    /// wait whose outcome needs stranded work — pushed under the core lock, which then
    /// unparks the blocked thread — runs that work, and the outcome it lets another thread
    /// store wakes it, whatever the interleaving: neither wake-up (both through one parker)
    /// is slept through.
    #[test]
    fn a_blocked_wait_runs_the_stranded_work_it_waits_for() {
        use crate::handle::Completion;
        use crate::sync::Mutex;
        use std::task::{Context, Poll};

        loom::model(|| {
            let parker = std::sync::Arc::new(Parker::default());
            let outcome = std::sync::Arc::new(Completion::<u32>::new());
            let stranded = std::sync::Arc::new(Mutex::new(Vec::<u32>::new()));
            // The awaited run, stuck until the stranded job runs.
            let go = std::sync::Arc::new(Parker::default());
            let resolver = {
                let (go, outcome) = (go.clone(), outcome.clone());
                loom::thread::spawn(move || {
                    go.park();
                    assert!(outcome.resolve(Ok(7)));
                })
            };
            let submitter = {
                let (parker, stranded) = (parker.clone(), stranded.clone());
                loom::thread::spawn(move || {
                    let mut core = lock(&stranded);
                    core.push(1);
                    parker.unpark();
                })
            };
            let waker = parker.waker();
            let mut cx = Context::from_waker(&waker);
            let value = loop {
                if let Poll::Ready(value) = outcome.poll_take(&mut cx) {
                    break value.unwrap();
                }
                let job = lock(&stranded).pop();
                match job {
                    Some(_) => go.unpark(),
                    None => parker.park(),
                }
            };
            assert_eq!(value, 7);
            submitter.join().unwrap();
            resolver.join().unwrap();
        });
    }
}
