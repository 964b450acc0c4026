//! A one-token parker: how a worker sleeps until there is something for it.

use crate::sync::{Condvar, Mutex, lock};

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

    /// Makes the token available and wakes the parked thread, if any.
    pub(crate) fn unpark(&self) {
        *lock(&self.notified) = true;
        self.wakeup.notify_one();
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
}
