//! A waker whose `wake` panics (a broken executor): what the containment tests poll with.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

/// A waker whose `wake` panics, counting the attempts.
#[derive(Default)]
pub struct PanickingWaker(AtomicUsize);

impl PanickingWaker {
    /// How many times it was woken.
    pub fn woken(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// A fresh one, and a `Waker` of it.
    pub fn new_waker() -> (Arc<PanickingWaker>, Waker) {
        let counter = Arc::new(PanickingWaker::default());
        let waker = Waker::from(Arc::clone(&counter));
        (counter, waker)
    }
}

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("this waker panics");
    }
}

/// Polls `future` once with a waker that panics when woken.
pub fn poll_with_panicking_waker<F: Future + Unpin>(
    future: &mut F,
) -> (Poll<F::Output>, Arc<PanickingWaker>) {
    let (counter, waker) = PanickingWaker::new_waker();
    let poll = Pin::new(future).poll(&mut Context::from_waker(&waker));
    (poll, counter)
}

/// A waker whose task panics when its last reference is dropped (a broken executor whose
/// task asserts in `Drop`); waking it does nothing.
pub struct PanicsWhenDropped;

impl PanicsWhenDropped {
    /// A `Waker` of a fresh one: the caller's copy is the only reference until it is cloned.
    pub fn waker() -> Waker {
        Waker::from(Arc::new(PanicsWhenDropped))
    }
}

impl Wake for PanicsWhenDropped {
    fn wake(self: Arc<Self>) {}
}

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        panic!("this waker's task panics when dropped");
    }
}
