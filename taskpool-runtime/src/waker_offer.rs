//! Registering a poller's waker with shared state without running the executor's code under
//! the state's lock.
//!
//! A `Waker`'s clone and drop are the executor's code, which may call back into the very object
//! being polled (cancel its task, notify the condition, look at the lock) and so take the same
//! lock again: run under it, they deadlock. A poll therefore makes passes: under the lock, it
//! keeps the waker registered when that one wakes the same task already (the common case, no
//! clone at all); otherwise the pass asks for a clone and gives up, the clone is made with the
//! lock let go, and the next pass stores it. Wakers a pass replaces leave with it and are
//! dropped after the lock, their panics contained.

use std::task::Waker;

/// What a pass may store: the poller's waker, cloned only once a pass asked for it.
pub(crate) struct Offer<'a> {
    waker: &'a Waker,
    clone: Option<Waker>,
    let_go: Vec<Waker>,
}

impl Offer<'_> {
    /// Keeps the poller's waker in `slot`; `false` if the pass must end first, to clone it.
    pub(crate) fn store(&mut self, slot: &mut Option<Waker>) -> bool {
        match slot {
            Some(registered) => self.replace(registered),
            None => match self.clone.take() {
                Some(clone) => {
                    *slot = Some(clone);
                    true
                }
                None => false,
            },
        }
    }

    /// Keeps the poller's waker in `registered` unless it wakes the same task already; `false`
    /// if the pass must end first, to clone it.
    pub(crate) fn replace(&mut self, registered: &mut Waker) -> bool {
        if registered.will_wake(self.waker) {
            return true;
        }
        match self.clone.take() {
            Some(clone) => {
                self.let_go.push(std::mem::replace(registered, clone));
                true
            }
            None => false,
        }
    }

    /// A clone of the poller's waker for a new registration; `None` if the pass must end
    /// first, to clone it.
    pub(crate) fn take(&mut self) -> Option<Waker> {
        self.clone.take()
    }
}

/// Runs `pass` with an offer of `waker` until it completes (`Some`), cloning the waker between
/// passes when one returned `None` (it asked for the clone). `pass` takes and lets go of the
/// lock itself; a pass that returns `None` must have changed nothing a new pass would redo
/// wrongly.
pub(crate) fn with_offer<R>(waker: &Waker, mut pass: impl FnMut(&mut Offer<'_>) -> Option<R>) -> R {
    let mut offer = Offer {
        waker,
        clone: None,
        let_go: Vec::new(),
    };
    loop {
        let done = pass(&mut offer);
        offer.let_go.drain(..).for_each(crate::panic::drop_quietly);
        match done {
            Some(done) => {
                crate::panic::drop_quietly(offer.clone.take());
                return done;
            }
            // A pass that already had the clone and still gave up did not need it (the state
            // changed under it): the same clone serves the next pass.
            None if offer.clone.is_none() => offer.clone = Some(waker.clone()),
            None => {}
        }
    }
}

#[cfg(all(test, not(taskpool_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Counted(AtomicUsize);

    impl Wake for Counted {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_registered_waker_that_wakes_the_same_task_is_not_cloned_again() {
        let waker = Waker::from(Arc::new(Counted(AtomicUsize::new(0))));
        let mut slot = None;
        let passes = AtomicUsize::new(0);
        let stored = |slot: &mut Option<Waker>| {
            with_offer(&waker, |offer| {
                passes.fetch_add(1, Ordering::SeqCst);
                offer.store(slot).then_some(())
            })
        };
        stored(&mut slot);
        assert_eq!(
            passes.load(Ordering::SeqCst),
            2,
            "the first pass asks for a clone"
        );
        stored(&mut slot);
        assert_eq!(
            passes.load(Ordering::SeqCst),
            3,
            "the same task: one pass, no clone"
        );
        assert!(slot.is_some_and(|registered| registered.will_wake(&waker)));
    }

    #[test]
    fn a_waker_for_another_task_replaces_the_registered_one() {
        let first = Arc::new(Counted(AtomicUsize::new(0)));
        let mut registered = Waker::from(Arc::clone(&first));
        let second = Waker::from(Arc::new(Counted(AtomicUsize::new(0))));
        with_offer(&second, |offer| {
            offer.replace(&mut registered).then_some(())
        });
        assert!(registered.will_wake(&second));
        assert_eq!(
            Arc::strong_count(&first),
            1,
            "the replaced waker was dropped"
        );
    }
}
